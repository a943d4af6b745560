//! `suanpan gateway merchant --data DIR --participant CODE --notify-url URL`: makes a
//! participant a merchant of the payment gateway, with where its notifications go. Prints the
//! notification secret (for checking the signature of each notification) once.

use std::path::PathBuf;

use suanpan_access::Access;
use suanpan_gateway::store::{self, Merchant};

use crate::json::JsonLine;

const USAGE: &str = "usage: suanpan gateway merchant --data DIR [--postgres URL] --participant CODE --notify-url http://HOST:PORT/PATH

The merchant is kept in DIR's gateway.db; with --postgres the participant is looked up in that
database and the merchant kept there (where the nodes whose journal is there keep their
credentials and the gateway's state).";

pub fn main(args: &[String]) -> Result<(), String> {
    use lexopt::prelude::*;
    match args.first().map(String::as_str) {
        Some("merchant") => {}
        Some("--help" | "-h") => {
            println!("{USAGE}");
            return Ok(());
        }
        _ => return Err(format!("which gateway command?\n{USAGE}")),
    }
    let mut parser = lexopt::Parser::from_args(args[1..].iter().cloned());
    let (mut data, mut participant, mut url) = (PathBuf::from("data"), None, None);
    let mut postgres: Option<String> = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("data") => data = crate::parse_value(&mut parser, "--data")?,
            Long("participant") => {
                participant = Some(crate::parse_value::<String>(&mut parser, "--participant")?)
            }
            Long("postgres") => {
                postgres = Some(crate::parse_value::<String>(&mut parser, "--postgres")?)
            }
            Long("notify-url") => {
                url = Some(crate::parse_value::<String>(&mut parser, "--notify-url")?)
            }
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    let code = participant.ok_or_else(|| format!("--participant is required\n{USAGE}"))?;
    let url = url.ok_or_else(|| format!("--notify-url is required\n{USAGE}"))?;
    suanpan_gateway::http::Url::parse(&url).map_err(|e| format!("--notify-url: {e}"))?;
    // With --postgres the participant and the merchant are both in that database; an
    // operator's change, not the leader's, so not fenced by the writer's lease.
    let (access, home) = match &postgres {
        Some(url) => {
            let db = suanpan_store::postgres::PgDb::open(url).map_err(|e| e.to_string())?;
            (
                Access::open_postgres(db.clone())?,
                store::Home::Postgres {
                    db,
                    fence: suanpan_store::postgres::Fence::Operator,
                },
            )
        }
        None => (Access::open(&data)?, store::Home::sqlite(&data)),
    };
    let found = access
        .participant(&code)?
        .ok_or_else(|| format!("no participant {code:?} (suanpan credentials participant)"))?;
    let mut secret = [0u8; 32];
    getrandom(&mut secret)?;
    let merchant = Merchant {
        participant: found.code.clone(),
        owner: found.owner,
        notify_url: url,
        notify_secret: format!("ns_{}", suanpan_gateway::hex(&secret)),
    };
    let store = store::open(&home).map_err(|e| e.to_string())?;
    let saved = merchant.clone();
    store
        .write_blocking(move |c| store::upsert_merchant(c, &saved))
        .map_err(|e| e.to_string())?;
    println!(
        "{}",
        JsonLine::default()
            .str("participant", &merchant.participant)
            .num("owner", merchant.owner)
            .str("notify_url", &merchant.notify_url)
            .str("notify_secret", &merchant.notify_secret)
            .finish()
    );
    Ok(())
}

fn getrandom(buf: &mut [u8]) -> Result<(), String> {
    // The same source as API secrets: the system's.
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, buf))
        .map_err(|e| format!("no randomness from the system: {e}"))
}
