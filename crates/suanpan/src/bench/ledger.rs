//! `suanpan bench ledger`: how fast the pure state machine applies transfers in memory.

use std::time::{Duration, Instant};

use lexopt::prelude::*;
use suanpan_ledger::{Command, Ledger, ResultCode, Stamped, TierLimits, BATCH_COMMANDS_MAX};

use crate::json::JsonLine;
use crate::parse_value;
use crate::workload::{fund_accounts, open_accounts, random_transfer, Rng};

const HELP: &str = "usage: suanpan bench ledger [--accounts N] [--transfers N] [--seed N] [--json]

Applies the workload to an in-memory ledger in batches of 8,190 and times the apply alone
(generating the commands is not timed).";

pub fn main(args: &[String]) -> Result<(), String> {
    let (mut accounts, mut transfers, mut seed, mut json) = (10_000u64, 10_000_000u64, 1u64, false);
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("accounts") => accounts = parse_value(&mut parser, "--accounts")?,
            Long("transfers") => transfers = parse_value(&mut parser, "--transfers")?,
            Long("seed") => seed = parse_value(&mut parser, "--seed")?,
            Long("json") => json = true,
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(());
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    if accounts < 2 {
        return Err(format!(
            "--accounts {accounts} is too few: transfers need two accounts"
        ));
    }

    let mut ledger = Ledger::new(TierLimits::default());
    let mut now = 1u64;
    let mut results = Vec::with_capacity(BATCH_COMMANDS_MAX);
    let mut apply =
        |ledger: &mut Ledger, commands: Vec<Command>, results: &mut Vec<ResultCode>| -> Duration {
            let batch: Vec<Stamped> = commands
                .into_iter()
                .map(|command| {
                    now += 1;
                    Stamped {
                        timestamp: now,
                        command,
                    }
                })
                .collect();
            results.clear();
            let started = Instant::now();
            ledger.apply(&batch, results);
            started.elapsed()
        };
    for chunk in open_accounts(accounts)
        .chunks(BATCH_COMMANDS_MAX)
        .chain(fund_accounts(accounts).chunks(BATCH_COMMANDS_MAX))
    {
        apply(&mut ledger, chunk.to_vec(), &mut results);
    }

    let mut rng = Rng::new(seed);
    let (mut elapsed, mut done, mut rejected) = (Duration::ZERO, 0u64, 0u64);
    while done < transfers {
        let n = (transfers - done).min(BATCH_COMMANDS_MAX as u64);
        let batch: Vec<Command> = (0..n)
            .map(|i| random_transfer(&mut rng, u128::from(done + i + 1), accounts))
            .collect();
        elapsed += apply(&mut ledger, batch, &mut results);
        rejected += results.iter().filter(|r| !r.is_ok()).count() as u64;
        done += n;
    }
    let seconds = elapsed.as_secs_f64();
    let per_sec = done as f64 / seconds.max(1e-9);
    let totals = ledger.totals();
    assert_eq!(totals.debits_posted, totals.credits_posted);
    if !json {
        println!("applied {done} transfers ({rejected} rejected) in {seconds:.3} s of apply time");
    }
    let line = JsonLine::default()
        .str("bench", "ledger")
        .num("accounts", accounts)
        .num("transfers", done)
        .num("rejected", rejected)
        .fixed("seconds", seconds, 3)
        .fixed("transfers_per_sec", per_sec, 0)
        .num("max_rss_mib", crate::system::max_rss_mib());
    println!("{}", line.finish());
    Ok(())
}
