//! `suanpan archive --data DIR --period YYYY-MM`: moves a closed accounting month of the
//! journal into a file of its own (see the journal's period.rs).

use std::path::PathBuf;

use lexopt::prelude::*;

use crate::json::JsonLine;

const HELP: &str = "usage: suanpan archive --data DIR --period YYYY-MM [--json]

Moves the batches of accounting month YYYY-MM out of the journal's file into
DIR/periods/YYYY-MM.db, a SQLite file of their own (its `transfers` view reads them with the
sqlite3 tool), to be archived and backed up whole. The journal records the period's head
hash: `suanpan verify --data DIR` proves the chain through every period file, and
`suanpan verify --period FILE` proves one file on its own.

Run with the server stopped, one month at a time, oldest first, for a month that is over (a
later accounting date is in force) and that the newest snapshot is past. SQLite journals only.";

pub fn main(args: &[String]) -> Result<(), String> {
    let (mut data, mut period, mut json): (Option<PathBuf>, Option<String>, bool) =
        (None, None, false);
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("data") => data = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("period") => {
                period = Some(
                    parser
                        .value()
                        .map_err(|e| e.to_string())?
                        .string()
                        .map_err(|e| e.to_string())?,
                )
            }
            Long("json") => json = true,
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(());
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let (Some(data), Some(period)) = (data, period) else {
        return Err("archive needs --data DIR and --period YYYY-MM".into());
    };
    let archived =
        suanpan_journal::archive(&data, &period).map_err(|e| format!("archive failed: {e}"))?;
    let file = archived.file(&data);
    let head = suanpan_journal::Head {
        seq: archived.last_seq,
        hash: archived.head_hash,
    }
    .to_text();
    if json {
        let line = JsonLine::default()
            .bool("ok", true)
            .str("period", &archived.name)
            .str("file", &file.display().to_string())
            .num("first_batch", archived.first_seq)
            .num("last_batch", archived.last_seq)
            .num("transfers", archived.transfers)
            .num("bytes", archived.bytes)
            .str("period_head", &head);
        println!("{}", line.finish());
    } else {
        println!(
            "archived period {}: batches {} to {} ({} transfers) in {}, {} bytes",
            archived.name,
            archived.first_seq,
            archived.last_seq,
            archived.transfers,
            file.display(),
            archived.bytes
        );
        println!("period head {head}");
    }
    Ok(())
}
