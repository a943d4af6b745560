//! `suanpan verify --data DIR`.

use std::path::PathBuf;

use lexopt::prelude::*;

use crate::json::JsonLine;

const HELP: &str = "usage: suanpan verify (--data DIR | --postgres URL) [--json]

Checks the journal's hash chain, replays it from the beginning through the ledger, compares
the result with the newest snapshot and the query tables, and prints the state hash. Exits
non-zero with one line naming the first mismatch.";

pub fn main(args: &[String]) -> Result<(), String> {
    let (mut data, mut json): (Option<PathBuf>, bool) = (None, false);
    let mut postgres: Option<String> = None;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("data") => data = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("json") => json = true,
            Long("postgres") => {
                postgres = Some(
                    parser
                        .value()
                        .map_err(|e| e.to_string())?
                        .string()
                        .map_err(|e| e.to_string())?,
                )
            }
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(());
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let location = match (data, postgres) {
        (Some(dir), None) => suanpan_journal::JournalLocation::Sqlite(dir),
        (None, Some(url)) => suanpan_journal::JournalLocation::Postgres(
            suanpan_journal::PgDb::connect(&url).map_err(|e| format!("verify failed: {e}"))?,
        ),
        _ => return Err("verify needs one of --data DIR or --postgres URL".into()),
    };
    let report =
        suanpan_journal::verify_at(&location).map_err(|e| format!("verify failed: {e}"))?;
    if json {
        let line = JsonLine::default()
            .bool("ok", true)
            .num("batches", report.batches)
            .num("commands", report.commands)
            .num("transfers", report.transfers)
            .num("accounts", report.accounts)
            .num("snapshot_seq", report.snapshot_seq)
            .str("state_hash", &report.state_hash);
        println!("{}", line.finish());
    } else {
        let snapshot = match report.snapshot_seq {
            0 => "no snapshot yet".to_string(),
            seq => format!("snapshot after batch {seq} matches"),
        };
        println!(
            "ok: {} batches, {} commands, {} transfers, {} accounts; hash chain intact; {snapshot}; query tables match",
            report.batches, report.commands, report.transfers, report.accounts
        );
        println!("state hash {}", report.state_hash);
    }
    Ok(())
}
