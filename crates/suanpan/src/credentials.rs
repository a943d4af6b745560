//! `suanpan credentials ...`: participants, their API keys, operator tokens. Secrets and
//! tokens are printed once, here, and stored only as digests (see `suanpan_access`).

use std::path::PathBuf;

use suanpan_access::{Access, ParticipantRole, Role};

use crate::json::JsonLine;

const USAGE: &str = "usage:
  suanpan credentials participant (--data DIR | --postgres URL) --code CODE --name NAME [--owner N] [--role member|third_party]
  suanpan credentials key         (--data DIR | --postgres URL) --participant CODE
  suanpan credentials operator    (--data DIR | --postgres URL) --name NAME --role viewer|operator|admin
  suanpan credentials revoke      (--data DIR | --postgres URL) --key KEY_ID | --operator NAME

With --postgres the credentials are those of the nodes whose journal is in that database (every
node honours them; a revocation takes effect within 5 seconds); else those in DIR's access.db.";

pub fn main(args: &[String]) -> Result<(), String> {
    use lexopt::prelude::*;
    let Some(what) = args.first() else {
        return Err(format!("which credentials?\n{USAGE}"));
    };
    if what == "--help" || what == "-h" {
        println!("{USAGE}");
        return Ok(());
    }
    let mut parser = lexopt::Parser::from_args(args[1..].iter().cloned());
    let mut data = PathBuf::from("data");
    let mut postgres: Option<String> = None;
    let (mut code, mut name, mut owner, mut participant, mut role, mut key, mut operator) =
        (None, None, None, None, None, None, None);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        let flag = match arg {
            Long(flag) => flag.to_string(),
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        };
        let value = parser
            .value()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        match flag.as_str() {
            "data" => data = PathBuf::from(value),
            "postgres" => postgres = Some(value),
            "code" => code = Some(value),
            "name" => name = Some(value),
            "owner" => {
                owner = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| format!("--owner {value:?} is not a number"))?,
                );
            }
            "participant" => participant = Some(value),
            "role" => role = Some(value),
            "key" => key = Some(value),
            "operator" => operator = Some(value),
            other => return Err(format!("unknown flag --{other}\n{USAGE}")),
        }
    }
    let need =
        |v: Option<String>, flag: &str| v.ok_or_else(|| format!("{flag} is required\n{USAGE}"));
    let access = match &postgres {
        Some(url) => Access::open_postgres(
            suanpan_store::postgres::PgDb::open(url).map_err(|e| e.to_string())?,
        )?,
        None => Access::open(&data)?,
    };
    let line = match what.as_str() {
        "participant" => {
            let role = match role.as_deref() {
                None => ParticipantRole::Member,
                Some(text) => ParticipantRole::parse(text)
                    .ok_or_else(|| format!("--role {text:?} is not member or third_party"))?,
            };
            let p = access.add_participant(
                &need(code, "--code")?,
                &need(name, "--name")?,
                owner,
                role,
            )?;
            JsonLine::default()
                .str("code", &p.code)
                .str("name", &p.name)
                .num("owner", p.owner)
                .str("role", p.role.as_str())
        }
        "key" => {
            let participant = need(participant, "--participant")?;
            let k = access.create_key(&participant)?;
            JsonLine::default()
                .str("participant", &participant)
                .str("key_id", &k.key_id)
                .str("secret", &k.secret)
        }
        "operator" => {
            let role_text = need(role, "--role")?;
            let role = Role::parse(&role_text)
                .ok_or_else(|| format!("--role {role_text:?} is not viewer, operator or admin"))?;
            let name = need(name, "--name")?;
            let token = access.create_operator(&name, role)?;
            JsonLine::default()
                .str("name", &name)
                .str("role", role.as_str())
                .str("token", &token)
        }
        "revoke" => match (key, operator) {
            (Some(key), None) => {
                access.revoke_key(&key)?;
                JsonLine::default().str("revoked_key", &key)
            }
            (None, Some(name)) => {
                access.revoke_operator(&name)?;
                JsonLine::default().str("revoked_operator", &name)
            }
            _ => {
                return Err(format!(
                    "revoke takes --key KEY_ID or --operator NAME\n{USAGE}"
                ))
            }
        },
        other => return Err(format!("unknown credentials command {other:?}\n{USAGE}")),
    };
    println!("{}", line.finish());
    Ok(())
}
