//! `suanpan`: the one binary. A thin shell: each command parses its flags and calls the rooms.

/// mimalloc rather than glibc's malloc: under load the server spent about a tenth of its CPU
/// in malloc, free and their consolidation (docs/benchmarks.md, the gateway's profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod archive;
mod bench;
mod call;
mod channel_sim;
mod clear;
mod credentials;
mod day_end;
mod demo;
mod gateway;
mod interbank_sim;
mod json;
mod load;
mod openapi;
mod recon;
mod route;
mod serve;
mod system;
mod verify;
mod workload;

use std::process::ExitCode;

const USAGE: &str = "usage: suanpan <command> [flags]

commands:
  serve          the HTTP API (the main job); `suanpan serve --help` lists its settings
  demo           a whole business day on this machine, to watch in the console
  credentials    participants, API keys and operator tokens for `serve`
  call           one signed request to a running server, its answer printed
  openapi        print the API's OpenAPI 3.1 document
  bench ledger   in-memory apply throughput of the ledger
  bench engine   durable throughput through the engine and the SQLite journal
  bench http     open-loop load on the HTTP API (starts its own `suanpan serve`)
  bench clearing closing and clearing one batch; bench statements: writing its statements
  bench day-end  the day-end of a date holding the transfers written, step by step
  bench gateway  payment orders end to end through the gateway and a simulated channel
  bench consent  consented balance reads over HTTP, open loop
  bench routing  interbank routing decisions a second on one core
  bench payouts  payouts end to end through `serve` and the simulated interbank channels
  bench recon    a channel's bill read and matched three ways against orders and bookings
  bench console  the console's pages timed on the books of a `bench engine` run
  clear          participants, payments, clearing batches, settlement, statement files
  day-end        close the books of an accounting date; status, reports, suspense, write-off
  recon          reconcile a channel's bill of a date; a date's report; resolve a difference
  verify         check a data directory's hash chain, replay, snapshot and query tables
  archive        move a closed accounting month of the journal into a file of its own
  load           drive a data directory with transfers, printing each acknowledged one
  gateway        register a participant as a merchant of the payment gateway
  channel-sim    a simulated channel over HTTP: payment (alipay, wechat) or interbank
                 (hvps, beps, ibps, unionpay)
  route explain  which interbank channel a payout takes, and why not the others

Run `suanpan <command> --help` for its flags; `suanpan --version` for the version.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve::main(&args[1..]),
        Some("demo") => demo::main(&args[1..]),
        Some("credentials") => credentials::main(&args[1..]),
        Some("call") => call::main(&args[1..]),
        Some("openapi") => openapi::main(&args[1..]),
        Some("bench") => bench::main(&args[1..]),
        Some("clear") => clear::main(&args[1..]),
        Some("day-end") => day_end::main(&args[1..]),
        Some("recon") => recon::main(&args[1..]),
        Some("verify") => verify::main(&args[1..]),
        Some("archive") => archive::main(&args[1..]),
        Some("load") => load::main(&args[1..]),
        Some("gateway") => gateway::main(&args[1..]),
        Some("channel-sim") => channel_sim::main(&args[1..]),
        Some("route") => route::main(&args[1..]),
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some("--version" | "-V" | "version") => {
            println!("suanpan {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        // Nothing asked is not a success: say what there is, and fail.
        None => Err(format!("which command?\n{USAGE}")),
        Some(other) => Err(format!("unknown command {other:?}; run `suanpan --help`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("suanpan: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Parses a flag's value, naming the flag and the value when it does not parse.
pub(crate) fn parse_value<T: std::str::FromStr>(
    parser: &mut lexopt::Parser,
    flag: &str,
) -> Result<T, String> {
    let value = parser.value().map_err(|e| e.to_string())?;
    let text = value.to_string_lossy().into_owned();
    text.parse()
        .map_err(|_| format!("{flag} {text:?} is not valid"))
}

/// Parses `--window`: transfers the ledger keeps in memory.
pub(crate) fn parse_window(parser: &mut lexopt::Parser) -> Result<usize, String> {
    let window: usize = parse_value(parser, "--window")?;
    if window == 0 || window > suanpan_ledger::WINDOW_MAX {
        return Err(format!(
            "--window {window} must be between 1 and {}",
            suanpan_ledger::WINDOW_MAX
        ));
    }
    Ok(window)
}

/// Where an operator's command finds a room's state: the data directory, or beside the journal
/// on PostgreSQL, where its writes are the operator's, not the leader's, so not fenced by the
/// writer's lease.
pub(crate) fn operator_home(
    journal: &suanpan_journal::JournalLocation,
    data: &std::path::Path,
) -> suanpan_store::room::Home {
    match journal {
        suanpan_journal::JournalLocation::Postgres(db) => suanpan_store::room::Home::Postgres {
            db: db.clone(),
            fence: suanpan_store::postgres::Fence::Operator,
        },
        suanpan_journal::JournalLocation::Sqlite(_) => suanpan_store::room::Home::sqlite(data),
    }
}
