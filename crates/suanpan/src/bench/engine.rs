//! `suanpan bench engine`: durable throughput through the engine and its journal (the SQLite
//! file, or PostgreSQL with `--postgres`), with concurrent submitters, every batch durable
//! before it is answered.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lexopt::prelude::*;
use suanpan_engine::{Engine, EngineConfig, EngineError, Histogram, Ticket};
use suanpan_ledger::{Command, ResultCode, BATCH_COMMANDS_MAX};

use crate::json::JsonLine;
use crate::parse_value;
use crate::workload::{fund_accounts, open_accounts, random_transfer, Rng};

const HELP: &str = "usage: suanpan bench engine [--data DIR | --postgres URL] [--accounts N]
                            [--transfers N] [--submitters N] [--request-size N] [--seed N]
                            [--json]

Opens a journal in DIR (default: a fresh temporary directory, removed afterwards), opens and
funds the accounts (with --postgres: the journal in that database, whose URL's search_path
names an empty or new schema), then times the transfers: each submitter thread keeps two requests of
--request-size transfers in flight. Afterwards a sample of the transfers is resubmitted to
check that every one answers `exists` (idempotency over the whole history).";

type Answer = Result<Vec<ResultCode>, EngineError>;

struct Options {
    data: Option<PathBuf>,
    postgres: Option<String>,
    accounts: u64,
    transfers: u64,
    submitters: u64,
    request_size: u64,
    seed: u64,
    json: bool,
}

pub fn main(args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args)? else { return Ok(()) };
    let dir = crate::system::BenchDir::new(o.data.as_deref(), "suanpan-bench")?;
    let outcome = run(&o, dir.path());
    drop(dir);
    let line = outcome?;
    println!("{line}");
    Ok(())
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        data: None,
        postgres: None,
        accounts: 10_000,
        transfers: 5_000_000,
        submitters: 16,
        request_size: 1_000,
        seed: 1,
        json: false,
    };
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("data") => o.data = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("postgres") => {
                o.postgres = Some(
                    parser
                        .value()
                        .map_err(|e| e.to_string())?
                        .string()
                        .map_err(|e| format!("--postgres: not UTF-8: {e:?}"))?,
                )
            }
            Long("accounts") => o.accounts = parse_value(&mut parser, "--accounts")?,
            Long("transfers") => o.transfers = parse_value(&mut parser, "--transfers")?,
            Long("submitters") => o.submitters = parse_value(&mut parser, "--submitters")?,
            Long("request-size") => o.request_size = parse_value(&mut parser, "--request-size")?,
            Long("seed") => o.seed = parse_value(&mut parser, "--seed")?,
            Long("json") => o.json = true,
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(None);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    if o.accounts < 2 {
        return Err(format!(
            "--accounts {} is too few: transfers need two accounts",
            o.accounts
        ));
    }
    if o.submitters == 0 || o.submitters > 1_024 {
        return Err(format!(
            "--submitters {} must be between 1 and 1024",
            o.submitters
        ));
    }
    if o.request_size == 0 || o.request_size > BATCH_COMMANDS_MAX as u64 {
        return Err(format!(
            "--request-size {} must be between 1 and {BATCH_COMMANDS_MAX}",
            o.request_size
        ));
    }
    Ok(Some(o))
}

fn run(o: &Options, dir: &std::path::Path) -> Result<String, String> {
    let mut config = EngineConfig::new(dir);
    let db = match &o.postgres {
        Some(url) => {
            let db = suanpan_journal::postgres::connect(url).map_err(|e| e.to_string())?;
            config.postgres = Some(suanpan_engine::PostgresConfig {
                db: db.clone(),
                node: "bench".into(),
                standby: false,
                lease_ttl: suanpan_engine::LEASE_TTL_DEFAULT,
            });
            Some(db)
        }
        None => None,
    };
    let engine = Engine::start(config).map_err(|e| e.to_string())?;
    if engine.recovery().seq > 0 {
        return Err("the journal is not empty: bench engine needs a fresh one".into());
    }
    let setup = Instant::now();
    for commands in [open_accounts(o.accounts), fund_accounts(o.accounts)] {
        for chunk in commands.chunks(BATCH_COMMANDS_MAX) {
            let results = engine.execute(chunk.to_vec()).map_err(|e| e.to_string())?;
            if let Some(bad) = results.iter().find(|r| !r.is_success()) {
                return Err(format!("setting up the accounts failed: {bad}"));
            }
        }
    }
    if !o.json {
        println!(
            "opened and funded {} accounts in {:.1} s",
            o.accounts,
            setup.elapsed().as_secs_f64()
        );
    }

    let commits_before = engine.metrics().commits.load(Ordering::Relaxed);
    let batches_before = engine.metrics().batches.load(Ordering::Relaxed);
    let started = Instant::now();
    let outcomes: Vec<Result<Submitted, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..o.submitters)
            .map(|s| {
                let quota = o.transfers / o.submitters + u64::from(s < o.transfers % o.submitters);
                let engine = &engine;
                scope.spawn(move || submit(engine, o, s, quota))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a submitter panicked".into()))
            })
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let submitted: Vec<Submitted> = outcomes.into_iter().collect::<Result<_, _>>()?;
    let metrics = engine.metrics();
    let commits = metrics.commits.load(Ordering::Relaxed) - commits_before;
    let batches = metrics.batches.load(Ordering::Relaxed) - batches_before;
    let rejected: u64 = submitted.iter().map(|s| s.rejected.len() as u64).sum();
    let overloaded: u64 = submitted.iter().map(|s| s.overloaded).sum();
    let request_latency = Histogram::default();
    for s in &submitted {
        for &us in &s.latencies_us {
            request_latency.record(us);
        }
    }
    let (checked, mismatches) = check_idempotency(&engine, o, &submitted)?;
    let p50_commit_ms = metrics.commit_us.quantile(0.50) as f64 / 1000.0;
    let p99_commit_ms = metrics.commit_us.quantile(0.99) as f64 / 1000.0;
    let snapshots = metrics.snapshots.load(Ordering::Relaxed);
    engine.shutdown().map_err(|e| e.to_string())?;
    let journal_bytes = match &db {
        None => std::fs::metadata(suanpan_journal::db_path(dir)).map_or(0, |m| m.len()),
        Some(db) => suanpan_journal::postgres::journal_bytes(db).map_err(|e| e.to_string())?,
    };
    let per_sec = o.transfers as f64 / seconds;
    if !o.json {
        println!(
            "{} transfers in {seconds:.2} s: {per_sec:.0}/s durable, {batches} batches in {commits} commits, p99 commit {p99_commit_ms:.2} ms",
            o.transfers
        );
    }
    Ok(JsonLine::default()
        .str("bench", "engine")
        .str("journal", if db.is_some() { "postgres" } else { "sqlite" })
        .num("accounts", o.accounts)
        .num("transfers", o.transfers)
        .num("submitters", o.submitters)
        .num("request_size", o.request_size)
        .fixed("seconds", seconds, 3)
        .fixed("transfers_per_sec", per_sec, 0)
        .num("rejected", rejected)
        .num("batches", batches)
        .num("commits", commits)
        .fixed(
            "commands_per_commit",
            o.transfers as f64 / commits.max(1) as f64,
            0,
        )
        .fixed("p50_commit_ms", p50_commit_ms, 2)
        .fixed("p99_commit_ms", p99_commit_ms, 2)
        .fixed(
            "p99_request_ms",
            request_latency.quantile(0.99) as f64 / 1000.0,
            2,
        )
        .num("snapshots", snapshots)
        .num("overloaded", overloaded)
        .num("idempotency_checked", checked)
        .bool("idempotency_exact", mismatches == 0)
        .num("journal_mib", journal_bytes >> 20)
        .num("max_rss_mib", crate::system::max_rss_mib())
        .finish())
}

struct Submitted {
    submitter: u64,
    count: u64,
    rejected: HashSet<u128>,
    overloaded: u64,
    latencies_us: Vec<u64>,
}

fn transfer_id(submitter: u64, n: u64) -> u128 {
    u128::from(submitter + 1) << 64 | u128::from(n + 1)
}

fn rng_for(o: &Options, submitter: u64) -> Rng {
    Rng::new(o.seed ^ (submitter + 1).wrapping_mul(0x1000_0000_01B3))
}

/// One submitter: keeps two requests in flight until it has sent `quota` transfers.
fn submit(engine: &Engine, o: &Options, s: u64, quota: u64) -> Result<Submitted, String> {
    let mut rng = rng_for(o, s);
    let mut out = Submitted {
        submitter: s,
        count: quota,
        rejected: HashSet::new(),
        overloaded: 0,
        latencies_us: Vec::new(),
    };
    let mut in_flight: VecDeque<(Instant, u64, Ticket<Answer>)> = VecDeque::new();
    let mut sent = 0;
    while sent < quota || !in_flight.is_empty() {
        if sent < quota && in_flight.len() < 2 {
            let n = (quota - sent).min(o.request_size);
            // The submitters share the cores with the engine: no copy of the request is kept
            // for a retry; on overload the same transfers are generated again from the seed.
            let before = rng.clone();
            let ticket = loop {
                let commands: Vec<Command> = (sent..sent + n)
                    .map(|i| random_transfer(&mut rng, transfer_id(s, i), o.accounts))
                    .collect();
                match engine.submit(commands) {
                    Ok(ticket) => break ticket,
                    Err(EngineError::Overloaded) => {
                        out.overloaded += 1;
                        rng = before.clone();
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    Err(e) => return Err(e.to_string()),
                }
            };
            in_flight.push_back((Instant::now(), sent, ticket));
            sent += n;
            continue;
        }
        if let Some((at, first, ticket)) = in_flight.pop_front() {
            let results = ticket
                .wait()
                .ok_or("the engine stopped")?
                .map_err(|e| e.to_string())?;
            out.latencies_us.push(at.elapsed().as_micros() as u64);
            for (i, r) in results.iter().enumerate() {
                if !r.is_ok() {
                    out.rejected.insert(transfer_id(s, first + i as u64));
                }
            }
        }
    }
    Ok(out)
}

/// Resubmits every k-th transfer (regenerated from the same seeds): each committed one must
/// answer `exists`, however old. Returns (checked, mismatches).
fn check_idempotency(
    engine: &Engine,
    o: &Options,
    submitted: &[Submitted],
) -> Result<(u64, u64), String> {
    let sample_max = 200_000u64;
    let stride = (o.transfers / sample_max).max(1);
    let (mut checked, mut mismatches) = (0u64, 0u64);
    for s in submitted {
        let mut rng = rng_for(o, s.submitter);
        let mut sample = Vec::new();
        for i in 0..s.count {
            let id = transfer_id(s.submitter, i);
            let command = random_transfer(&mut rng, id, o.accounts);
            if i % stride == 0 && !s.rejected.contains(&id) {
                sample.push(command);
            }
        }
        for chunk in sample.chunks(BATCH_COMMANDS_MAX) {
            let results = engine.execute(chunk.to_vec()).map_err(|e| e.to_string())?;
            checked += results.len() as u64;
            mismatches += results.iter().filter(|&&r| r != ResultCode::Exists).count() as u64;
        }
    }
    Ok((checked, mismatches))
}
