//! `suanpan load`: drives a data directory with a steady mix of transfers and prints every
//! acknowledged one. Used to soak a journal and, in the crash test, as the process that is
//! killed: a line is printed only after the engine has answered, so every printed `ok` is a
//! promise that the transfer survives whatever happens next.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use lexopt::prelude::*;
use suanpan_engine::{Engine, EngineConfig, EngineError};
use suanpan_ledger::{Command, TransferFlags, BATCH_COMMANDS_MAX};

use crate::parse_value;
use crate::workload::{fund_accounts, open_accounts, random_transfer, Rng};

const HELP: &str =
    "usage: suanpan load --data DIR [--postgres URL [--lease-ttl-ms N]] [--accounts N]
                   [--submitters N] [--request-size N] [--transfers N] [--run N]
                   [--snapshot-every N] [--window N] [--past-filter-kib N]

Opens (or recovers) the journal in DIR, opens and funds the accounts if they are not there,
prints `ready`, then submits transfers (one in seven a pending transfer that expires after
20 ms) until --transfers have been sent (0: for ever). --window: transfers the ledger keeps
in memory (older ones are read back from the journal when named); --past-filter-kib: the
filter of their ids (default 1024 KiB: a soak's history, not a server's). For each answered transfer it prints
`ack <id> <result>`. Transfer ids carry --run so that runs on one directory never collide.
With --postgres the journal is in that database (DIR holds nothing of it), and the node takes
the writer's lease first: after a crash it waits for the old lease to expire.";

pub fn main(args: &[String]) -> Result<(), String> {
    let mut data: Option<PathBuf> = None;
    let mut postgres: Option<String> = None;
    let mut lease_ttl_ms = suanpan_engine::LEASE_TTL_DEFAULT.as_millis() as u64;
    let (
        mut accounts,
        mut submitters,
        mut request_size,
        mut transfers,
        mut run,
        mut snapshot_every,
    ) = (100u64, 4u64, 100u64, 0u64, 1u64, 1_000_000u64);
    let mut window: Option<usize> = None;
    let mut past_filter_kib: usize = 1024;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("data") => data = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("postgres") => {
                postgres = Some(
                    parser
                        .value()
                        .map_err(|e| e.to_string())?
                        .string()
                        .map_err(|e| format!("--postgres: not UTF-8: {e:?}"))?,
                )
            }
            Long("lease-ttl-ms") => lease_ttl_ms = parse_value(&mut parser, "--lease-ttl-ms")?,
            Long("accounts") => accounts = parse_value(&mut parser, "--accounts")?,
            Long("submitters") => submitters = parse_value(&mut parser, "--submitters")?,
            Long("request-size") => request_size = parse_value(&mut parser, "--request-size")?,
            Long("transfers") => transfers = parse_value(&mut parser, "--transfers")?,
            Long("run") => run = parse_value(&mut parser, "--run")?,
            Long("snapshot-every") => {
                snapshot_every = parse_value(&mut parser, "--snapshot-every")?
            }
            Long("window") => window = Some(crate::parse_window(&mut parser)?),
            Long("past-filter-kib") => {
                past_filter_kib = parse_value(&mut parser, "--past-filter-kib")?
            }
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(());
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let data = data.ok_or("load needs --data DIR")?;
    if accounts < 2
        || submitters == 0
        || request_size == 0
        || request_size > BATCH_COMMANDS_MAX as u64
        || run >= 1 << 32
    {
        return Err("--accounts must be at least 2, --submitters and --request-size at least 1, --request-size at most 8190, --run below 2^32".into());
    }
    let mut config = EngineConfig::new(&data);
    if let Some(window) = window {
        config.window = window;
    }
    if past_filter_kib > 16 << 20 {
        return Err("--past-filter-kib must be at most 16777216".into());
    }
    config.past_filter_bytes = past_filter_kib << 10;
    config.snapshot_commands_min = snapshot_every;
    config.snapshot_growth_factor = 1;
    if let Some(url) = &postgres {
        config.postgres = Some(suanpan_engine::PostgresConfig {
            db: suanpan_journal::postgres::connect(url).map_err(|e| e.to_string())?,
            node: "load".into(),
            standby: false,
            lease_ttl: Duration::from_millis(lease_ttl_ms.max(100)),
        });
    }
    let engine = Engine::start(config).map_err(|e| e.to_string())?;
    for commands in [open_accounts(accounts), fund_accounts(accounts)] {
        for chunk in commands.chunks(BATCH_COMMANDS_MAX) {
            let results = engine.execute(chunk.to_vec()).map_err(|e| e.to_string())?;
            if let Some(bad) = results.iter().find(|r| !r.is_success()) {
                return Err(format!("setting up the accounts failed: {bad}"));
            }
        }
    }
    let out = Mutex::new(std::io::stdout());
    writeln!(out.lock().map_err(|_| "stdout lock")?, "ready").map_err(|e| e.to_string())?;
    let quota = if transfers == 0 {
        u64::MAX
    } else {
        transfers.div_ceil(submitters)
    };
    std::thread::scope(|scope| {
        for s in 0..submitters {
            let (engine, out) = (&engine, &out);
            scope.spawn(move || drive(engine, out, run, s, accounts, request_size, quota));
        }
    });
    engine.shutdown().map_err(|e| e.to_string())
}

fn drive(
    engine: &Engine,
    out: &Mutex<std::io::Stdout>,
    run: u64,
    s: u64,
    accounts: u64,
    request_size: u64,
    quota: u64,
) {
    let mut rng = Rng::new(run << 16 | s);
    let mut sent = 0u64;
    while sent < quota {
        let commands: Vec<Command> = (0..request_size.min(quota - sent))
            .map(|i| {
                let id = u128::from(run) << 96 | u128::from(s + 1) << 64 | u128::from(sent + i + 1);
                let mut command = random_transfer(&mut rng, id, accounts);
                if let Command::CreateTransfer(t) = &mut command {
                    if rng.below(7) == 0 {
                        t.flags = TransferFlags(TransferFlags::PENDING);
                        t.timeout_ms = 20;
                    }
                }
                command
            })
            .collect();
        sent += commands.len() as u64;
        let results = match engine.execute(commands.clone()) {
            Ok(results) => results,
            Err(EngineError::Overloaded) => {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            Err(_) => return,
        };
        let mut text = String::with_capacity(results.len() * 48);
        for (command, result) in commands.iter().zip(&results) {
            if let Command::CreateTransfer(t) = command {
                text.push_str(&format!("ack {} {}\n", t.id, result));
            }
        }
        let Ok(mut out) = out.lock() else { return };
        if out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
    }
}
