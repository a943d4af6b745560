//! `suanpan bench payouts`: payouts end to end through a real `suanpan serve` and the four
//! simulated interbank channels (each its own process). A payout counts as done when its
//! channel has settled it: created over signed HTTP (routed, recorded, the amount held),
//! sent in the background, settled at the channel, the settlement booked. `payouts_per_sec`
//! is payouts over the time from the first create until the channels report every one
//! settled; `p99_ms` is the bank's wait for `POST /v1/payouts`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lexopt::prelude::*;
use suanpan_gateway::http::{HttpClient, Url};

use super::open_loop::Client;
use super::process::{cpu_s, spawn, Process};
use crate::json::JsonLine;
use crate::parse_value;

const HELP: &str = "usage: suanpan bench payouts [--payouts N] [--concurrency N] [--json]

Starts `suanpan serve` with the payouts room and the four simulated channels (HVPS and IBPS
settle at once, BEPS in batches every 200 ms, UnionPay payout 200 ms after it accepts) on a
fresh temporary directory. --concurrency clients (default 64) create --payouts payouts
(default 50000) in a closed loop, a mix that routes to every channel: 3,000.00 in real time
(IBPS), 3,000.00 not urgent (BEPS), 80,000.00 in real time (UnionPay payout), 2,000,000.00
(HVPS, open at every hour in this run's rules so the mix does not depend on the time of
day). Prints payouts_per_sec (created to settled at the channel) and p50/p99 of creation.";

/// The whole run gives up after this.
const RUN_MAX: Duration = Duration::from_secs(600);
const CUSTOMERS: u64 = 1_000;

struct Options {
    payouts: u64,
    concurrency: u64,
    json: bool,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        payouts: 50_000,
        concurrency: 64,
        json: false,
    };
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("payouts") => o.payouts = parse_value(&mut parser, "--payouts")?,
            Long("concurrency") => o.concurrency = parse_value(&mut parser, "--concurrency")?,
            Long("json") => o.json = true,
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(None);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    if o.payouts == 0 || o.concurrency == 0 {
        return Err("--payouts and --concurrency must be at least 1".into());
    }
    Ok(Some(o))
}

/// The n-th payout of the mix: (amount in fen, real time).
fn mix(n: u64) -> (u64, bool) {
    match n % 10 {
        0..=3 => (300_000, true),
        4..=7 => (300_000, false),
        8 => (8_000_000, true),
        _ => (200_000_000, false),
    }
}

async fn settled_at_channels(http: &HttpClient, channels: &[Url]) -> u64 {
    let mut settled = 0;
    for url in channels {
        if let Ok(a) = http
            .send("GET", url, &[], Vec::new(), Duration::from_secs(10))
            .await
        {
            settled += serde_json::from_slice::<serde_json::Value>(&a.body)
                .ok()
                .and_then(|v| v["settled"].as_u64())
                .unwrap_or(0);
        }
    }
    settled
}

pub fn main(args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args)? else { return Ok(()) };
    let dir = crate::system::BenchDir::new(None, "suanpan-bench-payouts")?;
    let mut sims: Vec<(Process, std::net::SocketAddr)> = Vec::new();
    for (system, extra) in [
        ("hvps", None),
        ("beps", Some(("--batch-ms", "200"))),
        ("ibps", None),
        ("unionpay", Some(("--settle-ms", "200"))),
    ] {
        let mut args = vec!["channel-sim", system, "--listen", "127.0.0.1:0"];
        if let Some((flag, value)) = extra {
            args.extend([flag, value]);
        }
        sims.push(spawn(&args)?);
    }
    let config = format!(
        "timeout_ms = 5000\nquery_interval_ms = 100\ntick_ms = 50\n\
         [channels.hvps]\nurl = \"http://{}\"\n[channels.beps]\nurl = \"http://{}\"\n\
         [channels.ibps]\nurl = \"http://{}\"\n[channels.unionpay_payout]\nurl = \"http://{}\"\n\
         [rules.hvps]\nhours = \"always\"\n",
        sims[0].1, sims[1].1, sims[2].1, sims[3].1
    );
    let config_path = dir.path().join("payouts.toml");
    std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
    let access = suanpan_access::Access::open(dir.path())?;
    access.add_participant(
        "BANK",
        "bench bank",
        None,
        suanpan_access::ParticipantRole::Member,
    )?;
    let key = access.create_key("BANK")?;
    drop(access);
    let data = dir.path().to_string_lossy().into_owned();
    let config_arg = config_path.to_string_lossy().into_owned();
    let (server, server_addr) = spawn(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--log-level",
        "warn",
        "--data-dir",
        &data,
        "--payouts-config",
        &config_arg,
    ])?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let client = Arc::new(Client::new(
        server_addr,
        key.key_id,
        &key.secret,
        o.concurrency as usize,
    ));
    runtime.block_on(fund(&client))?;

    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(Mutex::new(std::collections::BTreeMap::<String, u64>::new()));
    let histogram = Arc::new(Mutex::new(
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
            .map_err(|e| e.to_string())?,
    ));
    let started = Instant::now();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..o.concurrency {
            let (client, next, errors, histogram) =
                (client.clone(), next.clone(), errors.clone(), histogram.clone());
            let total = o.payouts;
            tasks.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return;
                    }
                    let (amount, real_time) = mix(n);
                    let body = format!(
                        r#"{{"id":"{}","debit_account_id":"{}","amount":"{amount}","currency":"CNY","beneficiary":{{"bank":"BANK-Z","account":"62220000{n:08}","name":"Beneficiary"}},"real_time":{real_time}}}"#,
                        n + 1,
                        1 + n % CUSTOMERS
                    );
                    let sent = Instant::now();
                    let answer = client.send("POST", "/v1/payouts", body.into(), &[]).await;
                    let us = sent.elapsed().as_micros() as u64;
                    match answer {
                        Ok(a) if a.status == 201 => {
                            let _ = histogram.lock().unwrap_or_else(|p| p.into_inner()).record(us.max(1));
                        }
                        Ok(a) => {
                            let code = super::open_loop::error_code(a.status, &a.body);
                            *errors.lock().unwrap_or_else(|p| p.into_inner()).entry(code).or_default() += 1;
                        }
                        Err(code) => {
                            *errors.lock().unwrap_or_else(|p| p.into_inner()).entry(code).or_default() += 1;
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let created_s = started.elapsed().as_secs_f64();
    let refused: u64 = errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .sum();
    let expected = o.payouts - refused;
    let http = HttpClient::default();
    let stats: Vec<Url> = sims
        .iter()
        .filter_map(|(_, addr)| Url::parse(&format!("http://{addr}/sim/stats")).ok())
        .collect();
    let seconds = runtime.block_on(async {
        loop {
            let settled = settled_at_channels(&http, &stats).await;
            if settled >= expected {
                return Ok(started.elapsed().as_secs_f64());
            }
            if started.elapsed() > RUN_MAX {
                return Err(format!(
                    "only {settled} of {expected} payouts settled within {RUN_MAX:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })?;
    let h = histogram.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let per_sec = expected as f64 / seconds;
    let cpu_ms = |s: f64| s * 1000.0 / expected.max(1) as f64;
    let sims_cpu: f64 = sims.iter().map(|(p, _)| cpu_s(p.0.id())).sum();
    let error_text = {
        let e = errors.lock().unwrap_or_else(|p| p.into_inner());
        let parts: Vec<String> = e.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", parts.join(","))
    };
    if !o.json {
        eprintln!(
            "{expected} payouts ({refused} refused) by {} clients: created in {created_s:.2} s, all settled after {seconds:.2} s: {per_sec:.0} payouts/s end to end; create p50 {:.2} ms, p99 {:.2} ms",
            o.concurrency, ms(0.5), ms(0.99)
        );
    }
    println!(
        "{}",
        JsonLine::default()
            .str("bench", "payouts")
            .num("payouts", expected)
            .num("concurrency", o.concurrency)
            .fixed("seconds", seconds, 3)
            .fixed("payouts_per_sec", per_sec, 0)
            .fixed("p50_ms", ms(0.5), 3)
            .fixed("p99_ms", ms(0.99), 3)
            .fixed("serve_cpu_ms_per_payout", cpu_ms(cpu_s(server.0.id())), 3)
            .fixed("sims_cpu_ms_per_payout", cpu_ms(sims_cpu), 3)
            .fixed(
                "client_cpu_ms_per_payout",
                cpu_ms(cpu_s(std::process::id())),
                3
            )
            .num("errors", error_text)
            .finish()
    );
    Ok(())
}

/// Opens the funding account and the customers' accounts, and funds each customer.
async fn fund(client: &Arc<Client>) -> Result<(), String> {
    let funding: u128 = 900_000_000;
    let open = |id: u128, flags: &'static str| {
        // The funding account is the bank's own deposit (an asset); the customers' hold
        // their money (2241.01, not to be overdrawn).
        let subject = if id == funding { "1002" } else { "2241.01" };
        let body = format!(
            r#"{{"id":"{id}","currency":"CNY","subject_code":"{subject}","flags":[{flags}]}}"#
        );
        let client = client.clone();
        async move {
            let a = client
                .send("POST", "/v1/accounts", body.into(), &[])
                .await?;
            if a.status >= 300 {
                return Err(format!(
                    "opening account {id}: {}",
                    String::from_utf8_lossy(&a.body)
                ));
            }
            Ok(())
        }
    };
    open(funding, "").await?;
    let mut body = String::from("{\"transfers\":[");
    for c in 1..=CUSTOMERS {
        open(u128::from(c), "\"debits_must_not_exceed_credits\"").await?;
        if c > 1 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"id":"{}","debit_account_id":"{funding}","credit_account_id":"{c}","amount":"100000000000000","currency":"CNY"}}"#,
            (1u128 << 100) | u128::from(c)
        ));
    }
    body.push_str("]}");
    let a = client
        .send("POST", "/v1/transfers/batch", body.into(), &[])
        .await?;
    if a.status != 200 {
        return Err(format!("funding: {}", String::from_utf8_lossy(&a.body)));
    }
    Ok(())
}
