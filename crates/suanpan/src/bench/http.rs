//! `suanpan bench http`: open-loop load of signed transfers on the HTTP API (the generator
//! itself is `open_loop.rs`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lexopt::prelude::*;

use super::open_loop::{self, Answer, Client, Shot, Tally};
use crate::json::JsonLine;
use crate::parse_value;
use crate::workload::{Rng, FUNDING_ACCOUNT, FUNDING_FEN};

const HELP: &str = "usage: suanpan bench http [--rate N] [--duration S] [--batch N] [--accounts N]
                          [--connections N] [--url http://HOST:PORT --credentials FILE]
                          [--seed N] [--json]

Offers --rate requests a second (default 5300) for --duration seconds (default 60), open
loop, each a signed single transfer, or with --batch N a batch of N transfers. By default it
starts its own `suanpan serve` on a fresh temporary data directory with generated
credentials, opens and funds --accounts accounts (default 10000) through the API, and stops
the server afterwards. --url and --credentials (the JSON printed by `suanpan credentials key`)
aim it at a running server instead. The last line is one JSON object: offered_rps,
achieved_rps, p50_ms, p99_ms, p999_ms, max_ms, errors (by code).";

struct Options {
    rate: u64,
    duration_s: u64,
    batch: u64,
    accounts: u64,
    connections: usize,
    url: Option<String>,
    credentials: Option<PathBuf>,
    seed: u64,
    json: bool,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        rate: 5_300,
        duration_s: 60,
        batch: 0,
        accounts: 10_000,
        connections: 512,
        url: None,
        credentials: None,
        seed: 1,
        json: false,
    };
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("rate") => o.rate = parse_value(&mut parser, "--rate")?,
            Long("duration") => o.duration_s = parse_value(&mut parser, "--duration")?,
            Long("batch") => o.batch = parse_value(&mut parser, "--batch")?,
            Long("accounts") => o.accounts = parse_value(&mut parser, "--accounts")?,
            Long("connections") => o.connections = parse_value(&mut parser, "--connections")?,
            Long("url") => o.url = Some(parse_value(&mut parser, "--url")?),
            Long("credentials") => {
                o.credentials = Some(parse_value::<String>(&mut parser, "--credentials")?.into())
            }
            Long("seed") => o.seed = parse_value(&mut parser, "--seed")?,
            Long("json") => o.json = true,
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(None);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    if o.rate == 0 || o.duration_s == 0 || o.accounts < 2 || o.connections == 0 {
        return Err(
            "--rate, --duration and --connections must be at least 1, --accounts at least 2".into(),
        );
    }
    if o.batch > suanpan_ledger::BATCH_COMMANDS_MAX as u64 {
        return Err(format!(
            "--batch is at most {}",
            suanpan_ledger::BATCH_COMMANDS_MAX
        ));
    }
    if o.url.is_some() != o.credentials.is_some() {
        return Err("--url and --credentials go together".into());
    }
    Ok(Some(o))
}

pub fn main(args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args)? else { return Ok(()) };
    let (_server, address, (key_id, secret)) = match (&o.url, &o.credentials) {
        (Some(url), Some(path)) => (
            None,
            open_loop::address_of(url)?,
            open_loop::read_credentials(path)?,
        ),
        _ => {
            let (server, address, key) = open_loop::start_server("suanpan-bench-http", |access| {
                access.add_participant(
                    "BENCH",
                    "load generator",
                    None,
                    suanpan_access::ParticipantRole::Member,
                )?;
                let key = access.create_key("BENCH")?;
                Ok((key.key_id, key.secret))
            })?;
            (Some(server), address, key)
        }
    };
    // One worker thread for the connections, and this thread for the schedule: the generator
    // should take as little of the machine as it can.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let client = Arc::new(Client::new(address, key_id, &secret, o.connections));
    runtime.block_on(setup(&client, o.accounts))?;
    let line = run(&runtime, &client, &o)?;
    println!("{line}");
    Ok(())
}

fn transfer_json(out: &mut String, id: u128, debit: u128, credit: u128, amount: u64) {
    use std::fmt::Write;
    let _ = write!(
        out,
        r#"{{"id":"{id}","debit_account_id":"{debit}","credit_account_id":"{credit}","amount":"{amount}","currency":"CNY","code":1}}"#
    );
}

/// Opens the funding account and the accounts 1..=n, and funds each with 1,000,000.
async fn setup(client: &Arc<Client>, accounts: u64) -> Result<(), String> {
    let open = |id: u128, flags: &'static str| {
        let client = client.clone();
        async move {
            let subject = if id == FUNDING_ACCOUNT {
                "1002"
            } else {
                "2241.01"
            };
            let body = format!(
                r#"{{"id":"{id}","currency":"CNY","subject_code":"{subject}","flags":[{flags}]}}"#
            );
            let answer = client
                .send("POST", "/v1/accounts", body.into(), &[])
                .await?;
            if answer.status >= 300 {
                return Err(format!(
                    "opening account {id} answered {}: {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                ));
            }
            Ok(())
        }
    };
    open(FUNDING_ACCOUNT, "").await?;
    let ids: Vec<u64> = (1..=accounts).collect();
    for chunk in ids.chunks(256) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|&id| tokio::spawn(open(u128::from(id), "\"debits_must_not_exceed_credits\"")))
            .collect();
        for t in tasks {
            t.await.map_err(|e| e.to_string())??;
        }
    }
    let run_base = run_base();
    for chunk in ids.chunks(suanpan_ledger::BATCH_COMMANDS_MAX) {
        let mut body = String::from("{\"transfers\":[");
        for (i, &id) in chunk.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            transfer_json(
                &mut body,
                run_base | (1 << 40) | u128::from(id),
                FUNDING_ACCOUNT,
                u128::from(id),
                FUNDING_FEN,
            );
        }
        body.push_str("]}");
        let answer = client
            .send("POST", "/v1/transfers/batch", body.into(), &[])
            .await?;
        if answer.status != 200 {
            return Err(format!(
                "funding answered {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ));
        }
    }
    Ok(())
}

/// Transfer ids of this run: the start time in the high bits, so runs never collide.
fn run_base() -> u128 {
    static BASE: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        u128::from(s) << 64
    })
}

fn run(
    runtime: &tokio::runtime::Runtime,
    client: &Arc<Client>,
    o: &Options,
) -> Result<String, String> {
    let per_request = o.batch.max(1);
    let path = if o.batch > 0 {
        "/v1/transfers/batch"
    } else {
        "/v1/transfers"
    };
    let mut rng = Rng::new(o.seed);
    let base = run_base() | (2 << 40);
    let mut next_id: u128 = 0;
    let next = || {
        let mut body = String::with_capacity(160 * per_request as usize + 16);
        if o.batch > 0 {
            body.push_str("{\"transfers\":[");
        }
        for i in 0..per_request {
            if i > 0 {
                body.push(',');
            }
            let debit = 1 + rng.below(o.accounts);
            let credit = 1 + (debit + rng.below(o.accounts - 1)) % o.accounts;
            next_id += 1;
            transfer_json(
                &mut body,
                base | next_id,
                u128::from(debit),
                u128::from(credit),
                1 + rng.below(100),
            );
        }
        if o.batch > 0 {
            body.push_str("]}");
        }
        Shot {
            client: client.clone(),
            method: "POST",
            path: path.to_string(),
            body: body.into(),
            headers: Vec::new(),
        }
    };
    let count = if o.batch > 0 {
        count_batch_results
    } else {
        count_one
    };
    let f = open_loop::run(runtime, o.rate, o.duration_s, next, count)?;
    let errors = f.errors_json();
    let summary = format!(
        "offered {:.0} req/s for {:.1} s ({} per request): achieved {:.0} req/s, {:.0} transfers/s; latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms; errors {errors}",
        f.offered_rps(), f.offered_s, per_request,
        f.achieved_rps(), f.ok_items as f64 / f.active_s,
        f.p50_ms, f.p99_ms, f.p999_ms, f.max_ms
    );
    if !o.json {
        eprintln!("{summary}");
    }
    Ok(JsonLine::default()
        .str("bench", "http")
        .str("endpoint", path)
        .num("batch", per_request)
        .num("requests", f.requests)
        .fixed("duration_s", f.offered_s, 3)
        .fixed("offered_rps", f.offered_rps(), 1)
        .fixed("achieved_rps", f.achieved_rps(), 1)
        .fixed("transfers_per_sec", f.ok_items as f64 / f.active_s, 1)
        .fixed("p50_ms", f.p50_ms, 3)
        .fixed("p99_ms", f.p99_ms, 3)
        .fixed("p999_ms", f.p999_ms, 3)
        .fixed("max_ms", f.max_ms, 3)
        .num("errors", errors)
        .finish())
}

fn count_one(_: &Answer, t: &mut Tally) {
    t.ok_items += 1;
}

/// Counts a batch's accepted transfers; refused items count as errors by their result code.
/// The response's own `accepted` and `rejected` counts are read first: with nothing
/// rejected, the thousands of items need not be parsed (the generator shares the machine).
fn count_batch_results(answer: &Answer, t: &mut Tally) {
    let body = &answer.body[..];
    #[derive(serde::Deserialize)]
    struct Counts {
        accepted: u64,
        rejected: u64,
    }
    let tail = body.len().saturating_sub(64);
    let counts = std::str::from_utf8(&body[tail..])
        .ok()
        .and_then(|text| {
            text.find("\"accepted\"")
                .map(|at| format!("{{{}", &text[at..]))
        })
        .and_then(|json| serde_json::from_str::<Counts>(&json).ok());
    if let Some(Counts {
        accepted,
        rejected: 0,
    }) = counts
    {
        t.ok_items += accepted;
        return;
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        *t.errors.entry("bad_response".into()).or_default() += 1;
        return;
    };
    for item in value["results"].as_array().into_iter().flatten() {
        match item["result"].as_str() {
            Some("ok") | Some("exists") => t.ok_items += 1,
            Some(code) => *t.errors.entry(format!("item_{code}")).or_default() += 1,
            None => *t.errors.entry("bad_response".into()).or_default() += 1,
        }
    }
}
