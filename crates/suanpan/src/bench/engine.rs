//! `suanpan bench engine`: durable throughput through the engine and its journal (the SQLite
//! file, or PostgreSQL with `--postgres`), with concurrent submitters, every batch durable
//! before it is answered.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lexopt::prelude::*;
use suanpan_engine::{Engine, EngineConfig, EngineError, Histogram, Ticket};
use suanpan_ledger::{Command, ResultCode, BATCH_COMMANDS_MAX};

use crate::json::JsonLine;
use crate::parse_value;
use crate::workload::{fund_accounts, open_accounts, random_transfer, Rng};

const HELP: &str = "usage: suanpan bench engine [--data DIR | --postgres URL] [--accounts N]
                            [--transfers N] [--submitters N] [--request-size N] [--seed N]
                            [--window N] [--pending N] [--cutover-every N] [--json]

Opens a journal in DIR (default: a fresh temporary directory, removed afterwards), opens and
funds the accounts (with --postgres: the journal in that database, whose URL's search_path
names an empty or new schema), then times the transfers: each submitter thread keeps two requests of
--request-size transfers in flight. Before them it makes --pending pending transfers (default
10,000), and posts them after (by then, with a --window smaller than the run, they have left
memory). Afterwards a sample of the transfers, oldest first, is resubmitted to check that
every one answers `exists` (idempotency over the whole history). The resident set is read as
each quarter of the transfers is reached. With --cutover-every N the books move on one
accounting date each time about N more transfers are in, so that the journal spans months
(for `suanpan archive`).";

type Answer = Result<Vec<ResultCode>, EngineError>;

struct Options {
    data: Option<PathBuf>,
    postgres: Option<String>,
    accounts: u64,
    transfers: u64,
    submitters: u64,
    request_size: u64,
    seed: u64,
    window: Option<usize>,
    pending: u64,
    /// Transfers between two cutovers (0: none).
    cutover_every: u64,
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
        window: None,
        pending: 10_000,
        cutover_every: 0,
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
            Long("window") => o.window = Some(crate::parse_window(&mut parser)?),
            Long("pending") => o.pending = parse_value(&mut parser, "--pending")?,
            Long("cutover-every") => o.cutover_every = parse_value(&mut parser, "--cutover-every")?,
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
    if let Some(window) = o.window {
        config.window = window;
    }
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
    let pendings = make_pending(&engine, o)?;
    if !o.json {
        println!(
            "opened and funded {} accounts and made {} pending transfers in {:.1} s",
            o.accounts,
            o.pending,
            setup.elapsed().as_secs_f64()
        );
    }

    let commits_before = engine.metrics().commits.load(Ordering::Relaxed);
    let batches_before = engine.metrics().batches.load(Ordering::Relaxed);
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let (outcomes, rss_at_quarters) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| sample_rss(&engine, o.transfers, &done));
        let calendar = scope.spawn(|| cut_over(&engine, o.cutover_every, &done));
        let handles: Vec<_> = (0..o.submitters)
            .map(|s| {
                let quota = o.transfers / o.submitters + u64::from(s < o.transfers % o.submitters);
                let engine = &engine;
                scope.spawn(move || submit(engine, o, s, quota))
            })
            .collect();
        let outcomes: Vec<Result<Submitted, String>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a submitter panicked".into()))
            })
            .collect();
        done.store(true, Ordering::Relaxed);
        let cutovers = calendar
            .join()
            .unwrap_or_else(|_| Err("the calendar thread panicked".into()));
        (
            outcomes
                .into_iter()
                .chain(cutovers.err().map(Err))
                .collect::<Vec<Result<Submitted, String>>>(),
            sampler.join().unwrap_or_default(),
        )
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
    let recall_started = Instant::now();
    let (checked, mismatches) = check_idempotency(&engine, o, &submitted)?;
    let (pending_checked, pending_mismatches) = post_pending(&engine, &pendings)?;
    let recall_seconds = recall_started.elapsed().as_secs_f64();
    let p50_commit_ms = metrics.commit_us.quantile(0.50) as f64 / 1000.0;
    let p99_commit_ms = metrics.commit_us.quantile(0.99) as f64 / 1000.0;
    let snapshots = metrics.snapshots.load(Ordering::Relaxed);
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let in_memory = load(&metrics.ledger_transfers);
    let window = load(&metrics.ledger_window);
    let past_entries = load(&metrics.past_index_entries);
    let past_bytes = load(&metrics.past_index_bytes);
    let past_runs = load(&metrics.past_index_runs);
    let past_batches_read = load(&metrics.past_batches_read);
    let filter_ids = load(&metrics.past_filter_ids);
    let filter_bytes = load(&metrics.past_filter_bytes);
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
        .num("pending_posted_checked", pending_checked)
        .bool(
            "idempotency_exact",
            mismatches == 0 && pending_mismatches == 0,
        )
        .fixed("recall_seconds", recall_seconds, 2)
        .num("journal_mib", journal_bytes >> 20)
        .fixed(
            "journal_bytes_per_transfer",
            journal_bytes as f64 / (o.transfers + 2 * o.pending).max(1) as f64,
            1,
        )
        .num("window", window)
        .num("transfers_in_memory", in_memory)
        .num("past_filter_mib", filter_bytes >> 20)
        .num("past_filter_ids", filter_ids)
        .num("past_index_entries", past_entries)
        .num("past_index_mib", past_bytes >> 20)
        .num("past_index_runs", past_runs)
        .num("past_batches_read", past_batches_read)
        .list("rss_mib_at_quarters", &rss_at_quarters)
        .fixed(
            "rss_growth_pct_after_window",
            rss_growth_pct(&rss_at_quarters, o, window),
            1,
        )
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

/// Resubmits every k-th transfer (regenerated from the same seeds), oldest first across the
/// submitters: each committed one must answer `exists`, however old. Returns (checked,
/// mismatches).
fn check_idempotency(
    engine: &Engine,
    o: &Options,
    submitted: &[Submitted],
) -> Result<(u64, u64), String> {
    let sample_max = 200_000u64;
    let stride = (o.transfers / sample_max).max(1);
    let mut samples: Vec<Vec<Command>> = Vec::new();
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
        samples.push(sample);
    }
    // The submitters ran side by side: their n-th transfers are of about the same age.
    let longest = samples.iter().map(Vec::len).max().unwrap_or(0);
    let oldest_first: Vec<Command> = (0..longest)
        .flat_map(|i| samples.iter().filter_map(move |s| s.get(i).cloned()))
        .collect();
    let (mut checked, mut mismatches) = (0u64, 0u64);
    for chunk in oldest_first.chunks(BATCH_COMMANDS_MAX) {
        let results = engine.execute(chunk.to_vec()).map_err(|e| e.to_string())?;
        checked += results.len() as u64;
        mismatches += results.iter().filter(|&&r| r != ResultCode::Exists).count() as u64;
    }
    Ok((checked, mismatches))
}

/// Ids of the pending transfers made before the run, and of the posts after it: a space of
/// their own above the submitters'.
fn pending_id(n: u64) -> u128 {
    (u128::from(u32::MAX) + 1) << 64 | u128::from(n + 1)
}

fn post_id(n: u64) -> u128 {
    (u128::from(u32::MAX) + 2) << 64 | u128::from(n + 1)
}

/// Makes `--pending` pending transfers (no timeout) before the run.
fn make_pending(engine: &Engine, o: &Options) -> Result<Vec<Command>, String> {
    let mut rng = Rng::new(o.seed ^ 0x5EED_9E4D);
    let commands: Vec<Command> = (0..o.pending)
        .map(
            |n| match random_transfer(&mut rng, pending_id(n), o.accounts) {
                Command::CreateTransfer(mut t) => {
                    t.flags = suanpan_ledger::TransferFlags(suanpan_ledger::TransferFlags::PENDING);
                    Command::CreateTransfer(t)
                }
                other => other,
            },
        )
        .collect();
    for chunk in commands.chunks(BATCH_COMMANDS_MAX) {
        let results = engine.execute(chunk.to_vec()).map_err(|e| e.to_string())?;
        if let Some(bad) = results.iter().find(|r| !r.is_ok()) {
            return Err(format!("making the pending transfers failed: {bad}"));
        }
    }
    Ok(commands)
}

/// Posts every pending transfer made before the run (long out of memory with a small
/// window): each post must go through; each post resubmitted must answer `exists`; a second
/// post must be refused as already posted; and the pending transfer itself, resubmitted,
/// `exists`. Returns (checked, mismatches).
fn post_pending(engine: &Engine, pendings: &[Command]) -> Result<(u64, u64), String> {
    let (mut checked, mut mismatches) = (0u64, 0u64);
    let post = |n: u64, id: u128| {
        Command::CreateTransfer(suanpan_ledger::Transfer {
            pending_id: pending_id(n),
            flags: suanpan_ledger::TransferFlags(suanpan_ledger::TransferFlags::POST_PENDING),
            ..suanpan_ledger::Transfer::new(id, 0, 0, 0, suanpan_ledger::Currency::CNY)
        })
    };
    let posts: Vec<Command> = (0..pendings.len() as u64)
        .map(|n| post(n, post_id(n)))
        .collect();
    let again: Vec<Command> = (0..pendings.len() as u64)
        .map(|n| post(n, post_id(n) | 1 << 100))
        .collect();
    let rounds: [(&[Command], ResultCode); 4] = [
        (&posts, ResultCode::Ok),
        (&posts, ResultCode::Exists),
        (&again, ResultCode::PendingTransferAlreadyPosted),
        (pendings, ResultCode::Exists),
    ];
    for (commands, expected) in rounds {
        for chunk in commands.chunks(BATCH_COMMANDS_MAX) {
            let results = engine.execute(chunk.to_vec()).map_err(|e| e.to_string())?;
            checked += results.len() as u64;
            mismatches += results.iter().filter(|&&r| r != expected).count() as u64;
        }
    }
    Ok((checked, mismatches))
}

/// Reads the resident set as the ledger reaches each quarter of the run's `transfers`, until
/// `done`.
/// Moves the books on one accounting date each time `every` more transfers are in (never
/// when `every` is 0), until `done`.
fn cut_over(engine: &Engine, every: u64, done: &AtomicBool) -> Result<(), String> {
    if every == 0 {
        return Ok(());
    }
    let total = &engine.metrics().ledger_transfers_total;
    let mut next = total.load(Ordering::Relaxed) + every;
    while !done.load(Ordering::Relaxed) {
        if total.load(Ordering::Relaxed) < next {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let date = engine
            .read(|ledger| ledger.accounting_date())
            .map_err(|e| e.to_string())?
            .wait()
            .ok_or("the engine stopped")?;
        let results = engine
            .execute(vec![Command::Cutover { date: date.next() }])
            .map_err(|e| e.to_string())?;
        if results.first().is_none_or(|r| !r.is_success()) {
            return Err(format!("the cutover after {date} failed: {results:?}"));
        }
        next += every;
    }
    Ok(())
}

fn sample_rss(engine: &Engine, transfers: u64, done: &AtomicBool) -> Vec<u64> {
    let total = &engine.metrics().ledger_transfers_total;
    let base = total.load(Ordering::Relaxed);
    let mut out = Vec::new();
    let mut next = 1u64;
    while next <= 4 {
        let made = total.load(Ordering::Relaxed).saturating_sub(base);
        if made >= transfers * next / 4 {
            out.push(crate::system::rss_mib());
            next += 1;
            continue;
        }
        if done.load(Ordering::Relaxed) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    out
}

/// How much the resident set grew from the first quarter reached after the window filled to
/// the last, in percent (0 when no quarter came after it).
fn rss_growth_pct(quarters: &[u64], o: &Options, window: u64) -> f64 {
    let first_full = (1..=4u64).find(|q| o.transfers * q / 4 >= window);
    let Some(q) = first_full else { return 0.0 };
    let (Some(&from), Some(&to)) = (quarters.get(q as usize - 1), quarters.last()) else {
        return 0.0;
    };
    (to as f64 - from as f64) * 100.0 / from.max(1) as f64
}
