//! `suanpan bench clearing` and `suanpan bench statements`: one clearing batch of many
//! transactions between many participants, posted through the engine (not timed), then the
//! close and clearing of the batch, or the writing of every participant's statement, timed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use lexopt::prelude::*;
use suanpan_clearing::{
    clear_batch, close_batch, payment_transfer, settlement_instructions, write_statements,
    FeeSchedule, ParticipantKind, Payment, Registry, TransactionKind, PARTICIPANTS_MAX,
};
use suanpan_engine::{Engine, EngineConfig, EngineError};
use suanpan_ledger::{Command, Reference, BATCH_COMMANDS_MAX};

use crate::json::JsonLine;
use crate::parse_value;
use crate::workload::Rng;

const HELP: &str = "usage: suanpan bench clearing|statements [--data DIR] [--participants N]
                                     [--transactions N] [--seed N] [--json]

Registers the participants, posts the transactions between uniform random pairs of them
through the engine (amounts 1..=100,000 fen, the three payment kinds in turn), then times:
  clearing    closing the batch (a cut in the sequence) and clearing it: reading it back from
              the journal, gross and net positions, the zero-sum check, settlement instructions;
  statements  reading the closed batch and writing every participant's statement file
              (`seconds` is both; `read_seconds` and `write_seconds` split it).
DIR defaults to a fresh temporary directory, removed afterwards.";

/// Each participant's cap: large enough that no payment of the workload is refused.
const CAP_FEN: u64 = 1 << 56;

struct Options {
    data: Option<PathBuf>,
    participants: u16,
    transactions: u64,
    seed: u64,
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Clearing,
    Statements,
}

pub fn main(measure: Measure, args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args)? else { return Ok(()) };
    let dir = crate::system::BenchDir::new(o.data.as_deref(), "suanpan-bench-clearing")?;
    let outcome = run(measure, &o, dir.path());
    drop(dir);
    println!("{}", outcome?);
    Ok(())
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        data: None,
        participants: 200,
        transactions: 10_000_000,
        seed: 1,
        json: false,
    };
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("data") => o.data = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("participants") => o.participants = parse_value(&mut parser, "--participants")?,
            Long("transactions") => o.transactions = parse_value(&mut parser, "--transactions")?,
            Long("seed") => o.seed = parse_value(&mut parser, "--seed")?,
            Long("json") => o.json = true,
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(None);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    if o.participants < 2 || o.participants > PARTICIPANTS_MAX {
        return Err(format!(
            "--participants {} must be between 2 and {PARTICIPANTS_MAX}",
            o.participants
        ));
    }
    if o.transactions > suanpan_clearing::BATCH_TRANSACTIONS_MAX as u64 {
        return Err(format!(
            "--transactions {} is more than one batch may hold ({})",
            o.transactions,
            suanpan_clearing::BATCH_TRANSACTIONS_MAX
        ));
    }
    Ok(Some(o))
}

fn run(measure: Measure, o: &Options, dir: &Path) -> Result<String, String> {
    let engine = Engine::start(EngineConfig::new(dir)).map_err(|e| e.to_string())?;
    let setup = Instant::now();
    let store = suanpan_clearing::store::open(&suanpan_store::room::Home::sqlite(dir), dir)
        .map_err(|e| e.to_string())?;
    let mut registry = Registry::load(&store).map_err(|e| e.to_string())?;
    for n in 1..=o.participants {
        let (code, name) = (format!("P{n:04}"), format!("Participant {n}"));
        registry
            .register(
                &store,
                &engine,
                n,
                &code,
                &name,
                ParticipantKind::Bank,
                CAP_FEN,
            )
            .map_err(|e| e.to_string())?;
    }
    post_transactions(&engine, o)?;
    let setup_seconds = setup.elapsed().as_secs_f64();
    if !o.json {
        println!(
            "registered {} participants and posted {} transactions in {setup_seconds:.1} s",
            o.participants, o.transactions
        );
    }
    let fees = FeeSchedule::default();
    let line = JsonLine::default()
        .str(
            "bench",
            match measure {
                Measure::Clearing => "clearing",
                Measure::Statements => "statements",
            },
        )
        .num("participants", o.participants)
        .num("transactions", o.transactions)
        .fixed("setup_seconds", setup_seconds, 1);
    let line = match measure {
        Measure::Clearing => {
            let started = Instant::now();
            let batch = close_batch(&engine).map_err(|e| e.to_string())?;
            let closed = started.elapsed().as_secs_f64();
            let cleared = clear_batch(dir, batch, fees).map_err(|e| e.to_string())?;
            let instructions = settlement_instructions(&cleared.netting);
            let seconds = started.elapsed().as_secs_f64();
            if cleared.netting.transactions() != o.transactions {
                return Err(format!(
                    "cleared {} transactions, posted {}",
                    cleared.netting.transactions(),
                    o.transactions
                ));
            }
            let net_sum: i128 = instructions.iter().map(|s| s.net_fen).sum();
            if !o.json {
                println!(
                    "closed and cleared batch {batch} of {} transactions in {seconds:.2} s",
                    o.transactions
                );
            }
            line.fixed("seconds", seconds, 3)
                .fixed("close_seconds", closed, 3)
                .fixed("transactions_per_sec", o.transactions as f64 / seconds, 0)
                .num("amount_fen", cleared.netting.amount_fen())
                .num("settlement_instructions", instructions.len())
                .num("net_sum_fen", net_sum)
        }
        Measure::Statements => {
            let batch = close_batch(&engine).map_err(|e| e.to_string())?;
            let out = dir.join("statements");
            let started = Instant::now();
            let cleared = clear_batch(dir, batch, fees).map_err(|e| e.to_string())?;
            let read = started.elapsed().as_secs_f64();
            let trailers = write_statements(&out, &cleared, &registry, &|_, _| {})
                .map_err(|e| e.to_string())?;
            let seconds = started.elapsed().as_secs_f64();
            let lines: u64 = trailers.iter().map(|t| t.lines).sum();
            let bytes: u64 = trailers
                .iter()
                .map(|t| std::fs::metadata(&t.path).map_or(0, |m| m.len()))
                .sum();
            if !o.json {
                println!(
                    "read batch {batch} and wrote {} statements ({lines} lines) in {seconds:.2} s",
                    trailers.len()
                );
            }
            line.fixed("seconds", seconds, 3)
                .fixed("read_seconds", read, 3)
                .fixed("write_seconds", seconds - read, 3)
                .num("statements", trailers.len())
                .num("statement_lines", lines)
                .num("statement_mib", bytes >> 20)
        }
    };
    engine.shutdown().map_err(|e| e.to_string())?;
    Ok(line
        .num("max_rss_mib", crate::system::max_rss_mib())
        .finish())
}

/// Posts the transactions from two submitter threads, each keeping two full requests in flight.
fn post_transactions(engine: &Engine, o: &Options) -> Result<(), String> {
    let submitters = 2u64;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..submitters)
            .map(|s| {
                let quota =
                    o.transactions / submitters + u64::from(s < o.transactions % submitters);
                scope.spawn(move || submit(engine, o, s, quota))
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err("a submitter panicked".into()))
        })
    })
}

fn submit(engine: &Engine, o: &Options, s: u64, quota: u64) -> Result<(), String> {
    let mut rng = Rng::new(o.seed ^ (s + 1).wrapping_mul(0x1000_0000_01B3));
    let kinds = [
        TransactionKind::AgreementPayment,
        TransactionKind::Payout,
        TransactionKind::GatewayPayment,
    ];
    let participants = u64::from(o.participants);
    let mut in_flight = std::collections::VecDeque::new();
    let mut sent = 0u64;
    while sent < quota || !in_flight.is_empty() {
        if sent < quota && in_flight.len() < 2 {
            let n = (quota - sent).min(BATCH_COMMANDS_MAX as u64);
            let mut commands = Vec::with_capacity(n as usize);
            for i in sent..sent + n {
                let payer = 1 + rng.below(participants);
                let payee = 1 + (payer + rng.below(participants - 1)) % participants;
                let payment = Payment {
                    id: u128::from(s + 1) << 64 | u128::from(i + 1),
                    payer: payer as u16,
                    payee: payee as u16,
                    amount_fen: 1 + rng.below(100_000),
                    kind: kinds[(i % 3) as usize],
                    reference: Reference::EMPTY,
                };
                let transfer = payment_transfer(&payment).map_err(|e| e.to_string())?;
                commands.push(Command::CreateTransfer(transfer));
            }
            let ticket = loop {
                match engine.submit(commands.clone()) {
                    Ok(ticket) => break ticket,
                    Err(EngineError::Overloaded) => {
                        std::thread::sleep(std::time::Duration::from_micros(200))
                    }
                    Err(e) => return Err(e.to_string()),
                }
            };
            in_flight.push_back(ticket);
            sent += n;
            continue;
        }
        if let Some(ticket) = in_flight.pop_front() {
            let results = ticket
                .wait()
                .ok_or("the engine stopped")?
                .map_err(|e| e.to_string())?;
            if let Some(bad) = results.iter().find(|r| !r.is_ok()) {
                return Err(format!("a transaction of the workload was refused: {bad}"));
            }
        }
    }
    Ok(())
}
