//! `suanpan bench gateway`: payment orders end to end through a real `suanpan serve` and a
//! real simulated channel (`suanpan channel-sim alipay --auto-pay-ms 0`), each its own
//! process. An order counts as done when the merchant endpoint (served here) has received its
//! signed `succeeded` notification: created over signed HTTP, handed to the channel, paid,
//! called back, booked in the ledger (two linked transfers), recorded with its event and
//! outbox row, notified. `orders_per_sec` is orders over the time from the first create to
//! the last notification; `p99_create_ms` is the merchant's wait for `POST /v1/orders`.

use std::collections::HashSet;
use std::convert::Infallible;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use lexopt::prelude::*;
use suanpan_gateway::http::{HttpClient, Url};
use suanpan_gateway::store::{self, Merchant};

use super::process::{cpu_s, spawn};
use crate::json::JsonLine;
use crate::parse_value;

const HELP: &str = "usage: suanpan bench gateway [--orders N] [--concurrency N] [--json]

Starts `suanpan serve` with the payment gateway and an Alipay-style simulated channel that
pays every order at once and calls back, on a fresh temporary directory; N merchants' orders
are created by --concurrency clients in a closed loop (default 20,000 orders, 64 clients).
Prints orders_per_sec (created to merchant notified) and p50/p99 of order creation.";

const KEY: &str = "bench-channel-key";
/// The whole run gives up after this.
const RUN_MAX: Duration = Duration::from_secs(600);

struct Options {
    orders: u64,
    concurrency: u64,
    json: bool,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        orders: 20_000,
        concurrency: 64,
        json: false,
    };
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("orders") => o.orders = parse_value(&mut parser, "--orders")?,
            Long("concurrency") => o.concurrency = parse_value(&mut parser, "--concurrency")?,
            Long("json") => o.json = true,
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(None);
            }
            other => return Err(format!("{}\n{HELP}", other.unexpected())),
        }
    }
    if o.orders == 0 || o.concurrency == 0 {
        return Err("--orders and --concurrency must be at least 1".into());
    }
    Ok(Some(o))
}

/// The merchant's notification endpoint: acknowledges everything and notes which orders it
/// has been told succeeded.
pub(crate) async fn merchant_endpoint(
    listener: tokio::net::TcpListener,
    told: Arc<Mutex<HashSet<String>>>,
    last_ns: Arc<AtomicU64>,
) {
    let started = Instant::now();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (told, last_ns) = (told.clone(), last_ns.clone());
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (told, last_ns) = (told.clone(), last_ns.clone());
                    async move {
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let v: serde_json::Value =
                            serde_json::from_slice(&body).unwrap_or_default();
                        if v["state"] == "succeeded" {
                            if let Some(id) = v["order_id"].as_str() {
                                told.lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .insert(id.to_string());
                                last_ns
                                    .store(started.elapsed().as_nanos() as u64, Ordering::Release);
                            }
                        }
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            b"success",
                        ))))
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

pub fn main(args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args)? else { return Ok(()) };
    let dir = crate::system::BenchDir::new(None, "suanpan-bench-gateway")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let told = Arc::new(Mutex::new(HashSet::new()));
    let last_ns = Arc::new(AtomicU64::new(0));
    let merchant_addr = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(merchant_endpoint(listener, told.clone(), last_ns.clone()));
        Ok::<_, String>(addr)
    })?;
    let (_sim, sim_addr) = spawn(&[
        "channel-sim",
        "alipay",
        "--listen",
        "127.0.0.1:0",
        "--key",
        KEY,
        "--auto-pay-ms",
        "0",
    ])?;
    let access = suanpan_access::Access::open(dir.path())?;
    let participant = access.add_participant(
        "SHOP",
        "bench merchant",
        None,
        suanpan_access::ParticipantRole::Member,
    )?;
    let key = access.create_key("SHOP")?;
    drop(access);
    {
        let store = store::open(&store::Home::sqlite(dir.path())).map_err(|e| e.to_string())?;
        let m = Merchant {
            participant: "SHOP".into(),
            owner: participant.owner,
            notify_url: format!("http://{merchant_addr}/notify"),
            notify_secret: "bench".into(),
        };
        store
            .write_blocking(move |c| store::upsert_merchant(c, &m))
            .map_err(|e| e.to_string())?;
    }
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!("tick_ms = 100\nallow_plain_http = true\n[channels.alipay]\nurl = \"http://{sim_addr}\"\nkey = \"{KEY}\"\nquery_schedule_ms = [60000]\n"),
    )
    .map_err(|e| e.to_string())?;
    let data = dir.path().to_string_lossy().into_owned();
    let config = config.to_string_lossy().into_owned();
    let (_server, server_addr) = spawn(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--log-level",
        "warn",
        "--data-dir",
        &data,
        "--gateway-config",
        &config,
    ])?;

    let client = Arc::new(HttpClient::default());
    let signer = suanpan_api::auth::Signer::new(&key.secret);
    let url = Url::parse(&format!("http://{server_addr}/v1/orders")).map_err(|e| e.to_string())?;
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let histogram = Arc::new(Mutex::new(
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
            .map_err(|e| e.to_string())?,
    ));
    let started = Instant::now();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..o.concurrency {
            let (client, signer, url, next, errors, histogram, key_id) = (
                client.clone(), signer.clone(), url.clone(), next.clone(), errors.clone(),
                histogram.clone(), key.key_id.clone(),
            );
            let orders = o.orders;
            tasks.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= orders {
                        return;
                    }
                    let body = format!(
                        r#"{{"merchant_order_no":"b{n}","amount":"{}","currency":"CNY","subject":"bench","channel":"alipay"}}"#,
                        100 + n % 10_000
                    );
                    let ts = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0).to_string();
                    let nonce = format!("bench-nonce-{n:012}");
                    let sig = signer.sign("POST", "/v1/orders", &ts, &nonce, body.as_bytes());
                    let headers = [
                        ("content-type", "application/json".to_string()),
                        (suanpan_api::auth::KEY_HEADER, key_id.clone()),
                        (suanpan_api::auth::TIMESTAMP_HEADER, ts),
                        (suanpan_api::auth::NONCE_HEADER, nonce),
                        (suanpan_api::auth::SIGNATURE_HEADER, sig),
                    ];
                    let sent = Instant::now();
                    let answer = client.send("POST", &url, &headers, body.into_bytes(), Duration::from_secs(30)).await;
                    let us = sent.elapsed().as_micros() as u64;
                    match answer {
                        Ok(a) if a.status == 201 => {
                            let _ = histogram.lock().unwrap_or_else(|p| p.into_inner()).record(us.max(1));
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
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
    let expected = o.orders - errors.load(Ordering::Relaxed);
    loop {
        let n = told.lock().unwrap_or_else(|p| p.into_inner()).len() as u64;
        if n >= expected {
            break;
        }
        if started.elapsed() > RUN_MAX {
            return Err(format!(
                "only {n} of {expected} orders were notified within {RUN_MAX:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // The merchant endpoint's clock started just before `started`: close enough for seconds.
    let seconds = (last_ns.load(Ordering::Acquire) as f64 / 1e9).max(created_s);
    let cpu_per_order_ms = |s: f64| s * 1000.0 / expected.max(1) as f64;
    let (serve_ms, sim_ms, client_ms) = (
        cpu_per_order_ms(cpu_s(_server.0.id())),
        cpu_per_order_ms(cpu_s(_sim.0.id())),
        cpu_per_order_ms(cpu_s(std::process::id())),
    );
    let h = histogram.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let per_sec = expected as f64 / seconds;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    if !o.json {
        println!(
            "orders {} ({} refused), concurrency {}",
            o.orders,
            o.orders - expected,
            o.concurrency
        );
        println!("created in {created_s:.2} s; all notified after {seconds:.2} s: {per_sec:.0} orders/s end to end");
        println!(
            "create latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(0.5),
            ms(0.99),
            ms(1.0)
        );
    }
    println!(
        "{}",
        JsonLine::default()
            .str("bench", "gateway")
            .num("orders", expected)
            .num("errors", o.orders - expected)
            .num("concurrency", o.concurrency)
            .fixed("seconds", seconds, 3)
            .fixed("orders_per_sec", per_sec, 0)
            .fixed("p50_create_ms", ms(0.5), 3)
            .fixed("p99_create_ms", ms(0.99), 3)
            .fixed("serve_cpu_ms_per_order", serve_ms, 3)
            .fixed("sim_cpu_ms_per_order", sim_ms, 3)
            .fixed("client_cpu_ms_per_order", client_ms, 3)
            .finish()
    );
    Ok(())
}
