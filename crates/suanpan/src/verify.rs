//! `suanpan verify --data DIR`.

use std::path::PathBuf;

use lexopt::prelude::*;

use crate::json::JsonLine;

const HELP: &str =
    "usage: suanpan verify (--data DIR | --postgres URL) [--anchor SEQ:HASH]... [--json]
       suanpan verify --period FILE [--data DIR] [--json]

Checks the journal's hash chain, replays it from the beginning through the ledger, compares
the result with the newest snapshot and the query tables, and prints the state hash. The
journal is also checked against its anchor (the head file journal.head beside it, or the lease
row on PostgreSQL) and against each --anchor given (a day-end report's `journal_head`): a
journal that ends before an anchor's batch, or has another hash there, fails. Exits non-zero
with one line naming the first mismatch.

Archived periods (`suanpan archive`) are part of the chain: their files are read in turn.
With --period, one period file is proved on its own: its chain from the hash before it to its
head hash (the one the journal in DIR recorded, or without --data the one the file keeps), and
each transfer record against the digest taken when it was archived; a changed transfer is
named.";

pub fn main(args: &[String]) -> Result<(), String> {
    let (mut data, mut json): (Option<PathBuf>, bool) = (None, false);
    let mut postgres: Option<String> = None;
    let mut anchors = Vec::new();
    let mut period: Option<PathBuf> = None;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("data") => data = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("json") => json = true,
            Long("period") => period = Some(parser.value().map_err(|e| e.to_string())?.into()),
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
    if let Some(file) = period {
        if postgres.is_some() || !anchors.is_empty() {
            return Err("verify --period takes only --data DIR and --json besides".into());
        }
        return verify_period(&file, data, json);
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
            .num("periods", report.periods.len() as u64)
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
        let periods = match report.periods.len() {
            0 => String::new(),
            n => format!(
                " through {n} archived period{} ({})",
                if n == 1 { "" } else { "s" },
                report.periods.join(", ")
            ),
        };
        println!(
            "ok: {} batches, {} commands, {} transfers, {} accounts; hash chain intact{periods}; {anchors}; {snapshot}; query tables match",
            report.batches, report.commands, report.transfers, report.accounts
        );
        println!("state hash {}", report.state_hash);
        println!("journal head {}", report.head);
    }
    Ok(())
}

/// `verify --period FILE`: one archived period's file on its own.
fn verify_period(file: &std::path::Path, data: Option<PathBuf>, json: bool) -> Result<(), String> {
    let failed = |e: suanpan_journal::JournalError| format!("verify failed: {e}");
    let recorded = match &data {
        Some(dir) => {
            let journal = suanpan_journal::read_connection(dir).map_err(failed)?;
            let periods = suanpan_journal::recorded_periods(&journal).map_err(failed)?;
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let period = periods
                .into_iter()
                .find(|p| p.name == name)
                .ok_or_else(|| {
                    format!(
                        "verify failed: the journal in {} records no archived period {name:?}",
                        dir.display()
                    )
                })?;
            Some(period)
        }
        None => None,
    };
    let report = suanpan_journal::verify_period(file, recorded.as_ref()).map_err(failed)?;
    let head = suanpan_journal::Head {
        seq: report.period.last_seq,
        hash: report.period.head_hash,
    }
    .to_text();
    if json {
        let line = JsonLine::default()
            .bool("ok", true)
            .str("period", &report.period.name)
            .num("batches", report.batches)
            .num("transfers", report.period.transfers)
            .str("period_head", &head)
            .bool("against_journal", data.is_some());
        println!("{}", line.finish());
    } else {
        println!(
            "ok: period {}: {} batches ({} to {}), {} transfers; hash chain intact to {}; every transfer as archived",
            report.period.name,
            report.batches,
            report.period.first_seq,
            report.period.last_seq,
            report.period.transfers,
            report.against
        );
        println!("period head {head}");
    }
    Ok(())
}
