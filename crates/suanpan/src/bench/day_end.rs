//! `suanpan bench day-end`: the day-end of one accounting date holding N transfers over M
//! accounts, from a journal the engine wrote, timed step by step.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Instant;

use lexopt::prelude::*;
use suanpan_accounting::{Accounting, DayEndOptions};
use suanpan_engine::{Engine, EngineConfig, EngineError, Ticket};
use suanpan_ledger::{AccountingDate, Command, ResultCode, BATCH_COMMANDS_MAX};

use crate::json::JsonLine;
use crate::parse_value;
use crate::workload::{fund_accounts, open_accounts, random_transfer, Rng};

const HELP: &str =
    "usage: suanpan bench day-end [--data DIR] [--accounts N] [--transfers N] [--seed N] [--json]

Writes a journal through the engine (default: in a fresh temporary directory, removed
afterwards): the accounts are opened and funded on one date, the books cut over, the
transfers made on the next date, and the books cut over again. Then the day-end of the
first date runs untimed, and the day-end of the transfers' date is timed, from reading the
journal to the reports. `seconds` is that time; each step's time is beside it.";

/// Requests in flight while writing the journal.
const IN_FLIGHT_MAX: usize = 8;

struct Options {
    data: Option<std::path::PathBuf>,
    accounts: u64,
    transfers: u64,
    seed: u64,
    json: bool,
}

pub fn main(args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args)? else { return Ok(()) };
    let dir = crate::system::BenchDir::new(o.data.as_deref(), "suanpan-bench-day-end")?;
    let outcome = run(&o, dir.path());
    drop(dir);
    println!("{}", outcome?);
    Ok(())
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        data: None,
        accounts: 10_000,
        transfers: 1_000_000,
        seed: 1,
        json: false,
    };
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("data") => o.data = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("accounts") => o.accounts = parse_value(&mut parser, "--accounts")?,
            Long("transfers") => o.transfers = parse_value(&mut parser, "--transfers")?,
            Long("seed") => o.seed = parse_value(&mut parser, "--seed")?,
            Long("json") => o.json = true,
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(None);
            }
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    if !(2..=50_000_000).contains(&o.accounts) {
        return Err(format!(
            "--accounts {} must be between 2 and 50,000,000",
            o.accounts
        ));
    }
    if o.transfers > 100_000_000 {
        return Err(format!(
            "--transfers {} must be at most 100,000,000",
            o.transfers
        ));
    }
    Ok(Some(o))
}

fn run(o: &Options, dir: &Path) -> Result<String, String> {
    let setup = Instant::now();
    let funding_date = write_journal(o, dir)?;
    let setup_seconds = setup.elapsed().as_secs_f64();
    if !o.json {
        println!("journal written in {setup_seconds:.1} s");
    }
    let mut accounting = Accounting::open(dir).map_err(|e| e.to_string())?;
    let date = funding_date.next();
    let started = Instant::now();
    let report = accounting
        .day_end(date, DayEndOptions::default(), &mut |_| {})
        .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    let status = accounting.status(Some(date)).map_err(|e| e.to_string())?;
    let vouchers = status.first().map_or(0, |s| s.vouchers);
    let db_bytes =
        std::fs::metadata(suanpan_accounting::accounting_db_path(dir)).map_or(0, |m| m.len());
    if !o.json {
        for s in &report.steps {
            println!(
                "{:<15} {:>8} ms  {}",
                s.step.as_str(),
                s.elapsed_ms,
                s.summary
            );
        }
        println!("day-end of {date}: {vouchers} vouchers in {seconds:.2} s");
    }
    let mut line = JsonLine::default()
        .str("bench", "day_end")
        .num("accounts", o.accounts)
        .num("transfers", o.transfers)
        .num("vouchers", vouchers)
        .fixed("setup_seconds", setup_seconds, 1)
        .fixed("seconds", seconds, 3)
        .bool("complete", report.complete)
        .num("differences", report.differences.len());
    for s in &report.steps {
        line = line.num(&format!("{}_ms", s.step.as_str()), s.elapsed_ms);
    }
    Ok(line
        .num("accounting_db_mib", db_bytes >> 20)
        .num("max_rss_mib", crate::system::max_rss_mib())
        .finish())
}

/// Opens and funds the accounts on the first date, cuts over and closes that date's books,
/// makes the transfers on the next date and cuts over again. Returns the first date.
fn write_journal(o: &Options, dir: &Path) -> Result<AccountingDate, String> {
    let config = EngineConfig {
        auto_cutover: false,
        ..EngineConfig::new(dir)
    };
    let first_date = suanpan_engine::today(suanpan_engine::SHANGHAI_UTC_OFFSET_S);
    let engine = Engine::start(config).map_err(|e| e.to_string())?;
    if suanpan_engine::today(suanpan_engine::SHANGHAI_UTC_OFFSET_S) != first_date {
        return Err("midnight passed while the engine started; run the benchmark again".into());
    }
    for commands in [open_accounts(o.accounts), fund_accounts(o.accounts)] {
        for chunk in commands.chunks(BATCH_COMMANDS_MAX) {
            let results = engine.execute(chunk.to_vec()).map_err(|e| e.to_string())?;
            if let Some(bad) = results.iter().find(|r| !r.is_success()) {
                return Err(format!("setting up the accounts failed: {bad}"));
            }
        }
    }
    cut_over(&engine, first_date.next())?;
    // The funding date is closed before the transfers are made, so the timed day-end makes
    // every voucher of its date itself (accounting reads the journal while the engine writes).
    Accounting::open(dir)
        .and_then(|mut a| a.day_end(first_date, DayEndOptions::default(), &mut |_| {}))
        .map_err(|e| format!("the funding date's day-end: {e}"))?;
    let mut rng = Rng::new(o.seed);
    let mut in_flight: VecDeque<Ticket<Result<Vec<ResultCode>, EngineError>>> = VecDeque::new();
    let mut made = 0u64;
    while made < o.transfers {
        let count = (o.transfers - made).min(BATCH_COMMANDS_MAX as u64);
        let commands: Vec<Command> = (made..made + count)
            .map(|i| random_transfer(&mut rng, (1u128 << 80) + u128::from(i), o.accounts))
            .collect();
        made += count;
        if in_flight.len() >= IN_FLIGHT_MAX {
            wait(in_flight.pop_front())?;
        }
        in_flight.push_back(engine.submit(commands).map_err(|e| e.to_string())?);
    }
    while let Some(ticket) = in_flight.pop_front() {
        wait(Some(ticket))?;
    }
    cut_over(&engine, first_date.next().next())?;
    engine.shutdown().map_err(|e| e.to_string())?;
    Ok(first_date)
}

fn wait(ticket: Option<Ticket<Result<Vec<ResultCode>, EngineError>>>) -> Result<(), String> {
    match ticket.and_then(|t| t.wait()) {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("the engine stopped".into()),
    }
}

fn cut_over(engine: &Engine, date: AccountingDate) -> Result<(), String> {
    let results = engine
        .execute(vec![Command::Cutover { date }])
        .map_err(|e| e.to_string())?;
    match results.first() {
        Some(ResultCode::Ok) => Ok(()),
        other => Err(format!("the cutover to {date} answered {other:?}")),
    }
}
