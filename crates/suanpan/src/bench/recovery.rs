//! `suanpan bench recovery`: how long the engine takes to start on an existing data directory
//! (the newest snapshot, then the journal after it), and what it then holds in memory.

use std::path::PathBuf;
use std::time::Instant;

use lexopt::prelude::*;
use suanpan_engine::{Engine, EngineConfig};

use crate::json::JsonLine;

const HELP: &str = "usage: suanpan bench recovery --data DIR [--window N] [--json]

Starts the engine on the journal in DIR (left by `bench engine --data DIR`, or by a process
killed with SIGKILL), times its recovery (the newest snapshot, then every batch after it,
reading transfers that left memory back through the index of past transfers), prints what
it found and stops it again. --window: the window it recovers with (default the engine's).";

pub fn main(args: &[String]) -> Result<(), String> {
    let mut data: Option<PathBuf> = None;
    let mut window: Option<usize> = None;
    let mut json = false;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("data") => data = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("window") => window = Some(crate::parse_window(&mut parser)?),
            Long("json") => json = true,
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(());
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let data = data.ok_or("bench recovery needs --data DIR")?;
    if !suanpan_journal::db_path(&data).exists() {
        return Err(format!("no journal in {}", data.display()));
    }
    let mut config = EngineConfig::new(&data);
    config.auto_cutover = false;
    if let Some(window) = window {
        config.window = window;
    }
    let started = Instant::now();
    let engine = Engine::start(config).map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    let recovery = engine.recovery().clone();
    let rss_mib = crate::system::rss_mib();
    engine.shutdown().map_err(|e| e.to_string())?;
    if !json {
        println!(
            "recovered {} transfers ({} batches replayed after the snapshot of batch {}) in {seconds:.2} s",
            recovery.transfers, recovery.replayed_batches, recovery.snapshot_seq
        );
    }
    println!(
        "{}",
        JsonLine::default()
            .str("bench", "recovery")
            .fixed("seconds", seconds, 3)
            .num("batches", recovery.seq)
            .num("snapshot_seq", recovery.snapshot_seq)
            .num("replayed_batches", recovery.replayed_batches)
            .num("accounts", recovery.accounts)
            .num("transfers", recovery.transfers)
            .num("rss_mib", rss_mib)
            .finish()
    );
    Ok(())
}
