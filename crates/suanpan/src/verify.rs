//! `suanpan verify --data DIR`.

use std::path::PathBuf;

use lexopt::prelude::*;

use crate::json::JsonLine;

const HELP: &str =
    "usage: suanpan verify (--data DIR | --postgres URL) [--anchor SEQ:HASH]... [--json]

Checks the journal's hash chain, replays it from the beginning through the ledger, compares
the result with the newest snapshot and the query tables, and prints the state hash. The
journal is also checked against its anchor (the head file journal.head beside it, or the lease
row on PostgreSQL) and against each --anchor given (a day-end report's `journal_head`): a
journal that ends before an anchor's batch, or has another hash there, fails. Exits non-zero
with one line naming the first mismatch.";

pub fn main(args: &[String]) -> Result<(), String> {
    let (mut data, mut json): (Option<PathBuf>, bool) = (None, false);
    let mut postgres: Option<String> = None;
    let mut anchors = Vec::new();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("data") => data = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("json") => json = true,
            Long("anchor") => {
                let text = parser.value().map_err(|e| e.to_string())?;
                let text = text.to_string_lossy();
                let head =
                    suanpan_journal::Head::parse(&text).map_err(|e| format!("--anchor: {e}"))?;
                anchors.push(suanpan_journal::Anchor {
                    head,
                    source: format!("the anchor {}", head.to_text()),
                });
            }
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
            suanpan_journal::postgres::connect(&url).map_err(|e| format!("verify failed: {e}"))?,
        ),
        _ => return Err("verify needs one of --data DIR or --postgres URL".into()),
    };
    let report = suanpan_journal::verify_at(&location, &anchors)
        .map_err(|e| format!("verify failed: {e}"))?;
    if json {
        let line = JsonLine::default()
            .bool("ok", true)
            .num("batches", report.batches)
            .num("commands", report.commands)
            .num("transfers", report.transfers)
            .num("accounts", report.accounts)
            .num("snapshot_seq", report.snapshot_seq)
            .num("anchors", report.anchors.len() as u64)
            .str("journal_head", &report.head)
            .str("state_hash", &report.state_hash);
        println!("{}", line.finish());
    } else {
        let snapshot = match report.snapshot_seq {
            0 => "no snapshot yet".to_string(),
            seq => format!("snapshot after batch {seq} matches"),
        };
        let anchors = match report.anchors.len() {
            0 => "no anchor recorded".to_string(),
            _ => format!("in line with {}", report.anchors.join(" and ")),
        };
        println!(
            "ok: {} batches, {} commands, {} transfers, {} accounts; hash chain intact; {anchors}; {snapshot}; query tables match",
            report.batches, report.commands, report.transfers, report.accounts
        );
        println!("state hash {}", report.state_hash);
        println!("journal head {}", report.head);
    }
    Ok(())
}
