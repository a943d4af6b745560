//! `suanpan bench consent`: consented balance reads over HTTP, open loop (`open_loop.rs`).
//! A third party reads a customer's balance under the customer's consent: each read is
//! checked against the consent, the balance read through the engine, and the access recorded
//! durably before the answer.

use std::path::PathBuf;
use std::sync::Arc;

use lexopt::prelude::*;

use super::open_loop::{self, Answer, Client, Shot, Tally};
use crate::json::JsonLine;
use crate::parse_value;
use crate::workload::Rng;

const HELP: &str =
    "usage: suanpan bench consent [--rate N] [--duration S] [--customers N] [--unattended]
                             [--connections N] [--url http://HOST:PORT --credentials FILE
                              --bank-credentials FILE] [--seed N] [--json]

Offers --rate consented balance reads a second (default 5000) for --duration seconds (default
20), open loop. First it opens one account for each of --customers customers (default 1000)
at a bank, and has a third party ask for a consent to read it and the bank authorise each.
Reads are made with the customer present (X-Customer-IP-Address) unless --unattended, when
each counts against the account's four a day (so --customers must be at least rate x
duration / 4). By default it starts its own `suanpan serve` on a fresh temporary data
directory with a bank (BANK) and a third party (SEC); --url with --credentials (the third
party's key, as `suanpan credentials key` prints it) and --bank-credentials (the bank's) aim
it at a running server. The last line is one JSON object: offered_rps, achieved_rps, p50_ms,
p99_ms, p999_ms, max_ms, errors (by code).";

struct Options {
    rate: u64,
    duration_s: u64,
    customers: u64,
    unattended: bool,
    connections: usize,
    url: Option<String>,
    credentials: Option<PathBuf>,
    bank_credentials: Option<PathBuf>,
    seed: u64,
    json: bool,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        rate: 5_000,
        duration_s: 20,
        customers: 1_000,
        unattended: false,
        connections: 256,
        url: None,
        credentials: None,
        bank_credentials: None,
        seed: 1,
        json: false,
    };
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("rate") => o.rate = parse_value(&mut parser, "--rate")?,
            Long("duration") => o.duration_s = parse_value(&mut parser, "--duration")?,
            Long("customers") => o.customers = parse_value(&mut parser, "--customers")?,
            Long("unattended") => o.unattended = true,
            Long("connections") => o.connections = parse_value(&mut parser, "--connections")?,
            Long("url") => o.url = Some(parse_value(&mut parser, "--url")?),
            Long("credentials") => {
                o.credentials = Some(parse_value::<String>(&mut parser, "--credentials")?.into())
            }
            Long("bank-credentials") => {
                o.bank_credentials =
                    Some(parse_value::<String>(&mut parser, "--bank-credentials")?.into())
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
    if o.rate == 0 || o.duration_s == 0 || o.customers == 0 || o.connections == 0 {
        return Err("--rate, --duration, --customers and --connections must be at least 1".into());
    }
    if o.unattended && o.customers * 4 < o.rate * o.duration_s {
        return Err(format!(
            "--unattended reads count four a day per account: --customers must be at least {}",
            (o.rate * o.duration_s).div_ceil(4)
        ));
    }
    let given = [
        o.url.is_some(),
        o.credentials.is_some(),
        o.bank_credentials.is_some(),
    ];
    if given.iter().any(|g| *g) && !given.iter().all(|g| *g) {
        return Err("--url, --credentials and --bank-credentials go together".into());
    }
    Ok(Some(o))
}

type Keys = ((String, String), (String, String));

pub fn main(args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args)? else { return Ok(()) };
    let (_server, address, ((bank_id, bank_secret), (tp_id, tp_secret)), bank_code) =
        match (&o.url, &o.credentials, &o.bank_credentials) {
            (Some(url), Some(tp), Some(bank)) => {
                let bank_key = open_loop::read_credentials(bank)?;
                let code = participant_of(bank)?;
                let keys: Keys = (bank_key, open_loop::read_credentials(tp)?);
                (None, open_loop::address_of(url)?, keys, code)
            }
            _ => {
                let (server, address, keys) =
                    open_loop::start_server("suanpan-bench-consent", |access| {
                        use suanpan_access::ParticipantRole;
                        access.add_participant("BANK", "bank", None, ParticipantRole::Member)?;
                        access.add_participant(
                            "SEC",
                            "securities firm",
                            None,
                            ParticipantRole::ThirdParty,
                        )?;
                        let bank = access.create_key("BANK")?;
                        let tp = access.create_key("SEC")?;
                        Ok(((bank.key_id, bank.secret), (tp.key_id, tp.secret)))
                    })?;
                (Some(server), address, keys, "BANK".to_string())
            }
        };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let bank = Arc::new(Client::new(address, bank_id, &bank_secret, o.connections));
    let tp = Arc::new(Client::new(address, tp_id, &tp_secret, o.connections));
    let consents = runtime.block_on(setup(&bank, &tp, &bank_code, o.customers, o.seed))?;
    let line = run(&runtime, &tp, &consents, &o)?;
    println!("{line}");
    Ok(())
}

/// The participant code in a credentials file (`suanpan credentials key` prints it).
fn participant_of(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    value["participant"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{} has no participant", path.display()))
}

fn check(answer: &Answer, want: u16, what: &str) -> Result<serde_json::Value, String> {
    if answer.status != want {
        return Err(format!(
            "{what} answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ));
    }
    serde_json::from_slice(&answer.body).map_err(|e| format!("{what}: {e}"))
}

/// Opens each customer's account, has the third party ask for a consent to it and the bank
/// authorise it. The (consent, account) pairs to read.
async fn setup(
    bank: &Arc<Client>,
    tp: &Arc<Client>,
    bank_code: &str,
    customers: u64,
    seed: u64,
) -> Result<Vec<(String, u128)>, String> {
    // Ids of this run, so runs against one server never collide.
    let base = (u128::from(seed) << 96)
        | (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u128::from(d.as_secs()))
            << 40);
    let valid_until = shanghai_day_in(90);
    let mut out = Vec::with_capacity(customers as usize);
    let ids: Vec<u64> = (1..=customers).collect();
    for chunk in ids.chunks(128) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|&n| {
                let (bank, tp) = (bank.clone(), tp.clone());
                let account = base | u128::from(n);
                let body = format!(
                    r#"{{"request_id":"b{account:x}","bank":"{bank_code}","customer":"c{account:x}","accounts":["{account}"],"access":{{"balances":true}},"valid_until":"{valid_until}","frequency_per_day":4,"recurring":true}}"#
                );
                tokio::spawn(async move {
                    let open = format!(
                        r#"{{"id":"{account}","currency":"CNY","subject_code":"2241.01"}}"#
                    );
                    check(&bank.send("POST", "/v1/accounts", open.into(), &[]).await?, 201, "opening an account")?;
                    let made = check(&tp.send("POST", "/v1/consents", body.into(), &[]).await?, 201, "a consent request")?;
                    let id = made["id"].as_str().unwrap_or_default().to_string();
                    let path = format!("/v1/consents/{id}/authorise");
                    check(&bank.send("POST", &path, bytes::Bytes::new(), &[]).await?, 200, "authorising")?;
                    Ok::<_, String>((id, account))
                })
            })
            .collect();
        for t in tasks {
            out.push(t.await.map_err(|e| e.to_string())??);
        }
    }
    Ok(out)
}

fn shanghai_day_in(days: i64) -> String {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let day = (s + 8 * 3600).div_euclid(86_400) + days;
    suanpan_consent::Day(day as i32).to_string()
}

fn count_read(_: &Answer, t: &mut Tally) {
    t.ok_items += 1;
}

fn run(
    runtime: &tokio::runtime::Runtime,
    tp: &Arc<Client>,
    consents: &[(String, u128)],
    o: &Options,
) -> Result<String, String> {
    let mut rng = Rng::new(o.seed);
    let mut next_unattended = 0usize;
    let next = || {
        let (id, account) = if o.unattended {
            // Each account in turn: four reads a day each at most.
            next_unattended += 1;
            &consents[(next_unattended - 1) % consents.len()]
        } else {
            &consents[rng.below(consents.len() as u64) as usize]
        };
        let headers = if o.unattended {
            Vec::new()
        } else {
            vec![("x-customer-ip-address", "203.0.113.7".to_string())]
        };
        Shot {
            client: tp.clone(),
            method: "GET",
            path: format!("/v1/consents/{id}/balances?account={account}"),
            body: bytes::Bytes::new(),
            headers,
        }
    };
    let f = open_loop::run(runtime, o.rate, o.duration_s, next, count_read)?;
    let errors = f.errors_json();
    if !o.json {
        eprintln!(
            "offered {:.0} reads/s for {:.1} s over {} consents: achieved {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms; errors {errors}",
            f.offered_rps(), f.offered_s, consents.len(), f.achieved_rps(),
            f.p50_ms, f.p99_ms, f.p999_ms, f.max_ms
        );
    }
    Ok(JsonLine::default()
        .str("bench", "consent")
        .num("consents", consents.len() as u64)
        .str(
            "reads",
            if o.unattended {
                "unattended"
            } else {
                "customer_present"
            },
        )
        .num("requests", f.requests)
        .fixed("duration_s", f.offered_s, 3)
        .fixed("offered_rps", f.offered_rps(), 1)
        .fixed("achieved_rps", f.achieved_rps(), 1)
        .fixed("p50_ms", f.p50_ms, 3)
        .fixed("p99_ms", f.p99_ms, 3)
        .fixed("p999_ms", f.p999_ms, 3)
        .fixed("max_ms", f.max_ms, 3)
        .num("errors", errors)
        .finish())
}
