//! `suanpan bench http`: an open-loop load generator for the HTTP API.
//!
//! Open loop: request i is due at start + i / rate and is sent then, whether or not earlier
//! ones have come back, and its latency counts from when it was due. A server that stalls
//! therefore shows its stall in every request that waited behind it, instead of the
//! generator politely slowing down and hiding it (coordinated omission). Latencies go into an
//! HDR histogram (microseconds, 3 significant digits).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use lexopt::prelude::*;
use tokio::sync::Semaphore;

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

/// A `suanpan serve` started for the run; stopped (SIGTERM, then waited for) on drop.
struct Server {
    child: Child,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_server() -> Result<(Server, SocketAddr, String, String), String> {
    let dir = crate::system::fresh_temp_dir("suanpan-bench-http")?;
    let access = suanpan_api::access::Access::open(&dir)?;
    access.add_participant(
        "BENCH",
        "load generator",
        None,
        suanpan_api::access::ParticipantRole::Member,
    )?;
    let key = access.create_key("BENCH")?;
    drop(access);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "warn",
            "--data-dir",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start suanpan serve: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout from suanpan serve")?;
    let server = Server { child, dir };
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("suanpan serve: {e}"))?;
    let address = line
        .trim()
        .strip_prefix("{\"listening\":\"")
        .and_then(|rest| rest.strip_suffix("\"}"))
        .ok_or_else(|| format!("suanpan serve did not say where it listens: {line:?}"))?
        .parse()
        .map_err(|e| format!("suanpan serve's address: {e}"))?;
    Ok((server, address, key.key_id, key.secret))
}

fn read_credentials(path: &PathBuf) -> Result<(String, String), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let field = |k: &str| {
        value[k]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{} has no {k}", path.display()))
    };
    Ok((field("key_id")?, field("secret")?))
}

pub fn main(args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args)? else { return Ok(()) };
    let (_server, address, key_id, secret) = match (&o.url, &o.credentials) {
        (Some(url), Some(path)) => {
            let host = url
                .strip_prefix("http://")
                .ok_or("--url must start with http://")?;
            let address = std::net::ToSocketAddrs::to_socket_addrs(host.trim_end_matches('/'))
                .map_err(|e| format!("--url {url:?}: {e}"))?
                .next()
                .ok_or_else(|| format!("--url {url:?} resolves to nothing"))?;
            let (key_id, secret) = read_credentials(path)?;
            (None, address, key_id, secret)
        }
        _ => {
            let (server, address, key_id, secret) = start_server()?;
            (Some(server), address, key_id, secret)
        }
    };
    // One worker thread for the connections, and this thread for the schedule: the generator
    // should take as little of the machine as it can. The schedule is kept by the operating
    // system's sleep (tens of microseconds late), not tokio's timer (a millisecond's grain),
    // so the generator's own lateness hardly shows in the latencies it reports.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let client = Arc::new(Client {
        address,
        key_id,
        signer: suanpan_api::auth::Signer::new(&secret),
        idle: Mutex::new(Vec::new()),
        in_use: Arc::new(Semaphore::new(o.connections)),
    });
    runtime.block_on(setup(&client, o.accounts))?;
    let line = run(&runtime, &client, &o)?;
    println!("{line}");
    Ok(())
}

struct Client {
    address: SocketAddr,
    key_id: String,
    signer: suanpan_api::auth::Signer,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    /// One permit per connection in use, so at most --connections are open.
    in_use: Arc<Semaphore>,
}

struct Answer {
    status: u16,
    body: Bytes,
}

impl Client {
    async fn connection(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some(mut sender) => {
                    if sender.ready().await.is_ok() {
                        return Ok(sender);
                    }
                }
                None => break,
            }
        }
        let stream = tokio::net::TcpStream::connect(self.address)
            .await
            .map_err(|_| "connect_error".to_string())?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| "connect_error".to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends one signed request; the error is a short code for the report.
    async fn send(&self, method: &str, path: &str, body: Bytes) -> Result<Answer, String> {
        let _permit = self
            .in_use
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let mut sender = self.connection().await?;
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .to_string();
        let nonce = next_nonce();
        let signature = self.signer.sign(method, path, &ts, &nonce, &body);
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.address.to_string())
            .header("content-type", "application/json")
            .header(suanpan_api::auth::KEY_HEADER, &self.key_id)
            .header(suanpan_api::auth::TIMESTAMP_HEADER, ts)
            .header(suanpan_api::auth::NONCE_HEADER, nonce)
            .header(suanpan_api::auth::SIGNATURE_HEADER, signature)
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|_| "io_error".to_string())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|_| "io_error".to_string())?
            .to_bytes();
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sender);
        Ok(Answer { status, body })
    }
}

fn next_nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    let start = START.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    });
    format!("{start:x}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
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
            let answer = client.send("POST", "/v1/accounts", body.into()).await?;
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
            .send("POST", "/v1/transfers/batch", body.into())
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

#[derive(Default)]
struct Tally {
    ok_requests: u64,
    ok_transfers: u64,
    errors: BTreeMap<String, u64>,
    last_done: Option<Instant>,
}

fn run(
    runtime: &tokio::runtime::Runtime,
    client: &Arc<Client>,
    o: &Options,
) -> Result<String, String> {
    let histogram = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).map_err(|e| e.to_string())?,
    ));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let total = o.rate * o.duration_s;
    let per_request = o.batch.max(1);
    let path = if o.batch > 0 {
        "/v1/transfers/batch"
    } else {
        "/v1/transfers"
    };
    let mut rng = Rng::new(o.seed);
    let base = run_base() | (2 << 40);
    let mut next_id: u128 = 0;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    let mut sent: u64 = 0;
    while sent < total {
        // Everything due by now goes out now; then sleep until the next one is due.
        let elapsed = started.elapsed();
        let due = ((elapsed.as_nanos() * u128::from(o.rate)) / 1_000_000_000) as u64 + 1;
        while sent < due.min(total) {
            let scheduled = started + Duration::from_nanos(sent * 1_000_000_000 / o.rate);
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
            let (client, histogram, tally) = (client.clone(), histogram.clone(), tally.clone());
            let batch = o.batch > 0;
            tasks.push(runtime.spawn(async move {
                let answer = client.send("POST", path, body.into()).await;
                let done = Instant::now();
                let latency_us = done.saturating_duration_since(scheduled).as_micros() as u64;
                let _ = histogram
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .record(latency_us.max(1));
                let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                t.last_done = Some(done);
                match answer {
                    Ok(a) if a.status < 300 => {
                        t.ok_requests += 1;
                        if batch {
                            count_batch_results(&a.body, &mut t);
                        } else {
                            t.ok_transfers += 1;
                        }
                    }
                    Ok(a) => *t.errors.entry(error_code(a.status, &a.body)).or_default() += 1,
                    Err(code) => *t.errors.entry(code).or_default() += 1,
                }
            }));
            sent += 1;
        }
        if sent < total {
            let next = started + Duration::from_nanos(sent * 1_000_000_000 / o.rate);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    }
    let offered_s = started.elapsed().as_secs_f64();
    runtime.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    let h = histogram.lock().unwrap_or_else(|p| p.into_inner());
    let t = tally.lock().unwrap_or_else(|p| p.into_inner());
    let active_s = t
        .last_done
        .map(|d| d.saturating_duration_since(started).as_secs_f64())
        .unwrap_or(offered_s)
        .max(offered_s);
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let mut errors = String::from("{");
    for (i, (code, n)) in t.errors.iter().enumerate() {
        if i > 0 {
            errors.push(',');
        }
        errors.push_str(&format!("\"{code}\":{n}"));
    }
    errors.push('}');
    let summary = format!(
        "offered {:.0} req/s for {:.1} s ({} per request): achieved {:.0} req/s, {:.0} transfers/s; latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms; errors {errors}",
        total as f64 / offered_s, offered_s, per_request,
        t.ok_requests as f64 / active_s, t.ok_transfers as f64 / active_s,
        ms(0.5), ms(0.99), ms(0.999), h.max() as f64 / 1000.0
    );
    if !o.json {
        eprintln!("{summary}");
    }
    Ok(JsonLine::default()
        .str("bench", "http")
        .str("endpoint", path)
        .num("batch", per_request)
        .num("requests", total)
        .fixed("duration_s", offered_s, 3)
        .fixed("offered_rps", total as f64 / offered_s, 1)
        .fixed("achieved_rps", t.ok_requests as f64 / active_s, 1)
        .fixed("transfers_per_sec", t.ok_transfers as f64 / active_s, 1)
        .fixed("p50_ms", ms(0.5), 3)
        .fixed("p99_ms", ms(0.99), 3)
        .fixed("p999_ms", ms(0.999), 3)
        .fixed("max_ms", h.max() as f64 / 1000.0, 3)
        .num("errors", errors)
        .finish())
}

/// Counts a batch's accepted transfers; refused items count as errors by their result code.
/// The response's own `accepted` and `rejected` counts are read first: with nothing
/// rejected, the thousands of items need not be parsed (the generator shares the machine).
fn count_batch_results(body: &[u8], t: &mut Tally) {
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
        t.ok_transfers += accepted;
        return;
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        *t.errors.entry("bad_response".into()).or_default() += 1;
        return;
    };
    for item in value["results"].as_array().into_iter().flatten() {
        match item["result"].as_str() {
            Some("ok") | Some("exists") => t.ok_transfers += 1,
            Some(code) => *t.errors.entry(format!("item_{code}")).or_default() += 1,
            None => *t.errors.entry("bad_response".into()).or_default() += 1,
        }
    }
}

fn error_code(status: u16, body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("http_{status}"))
}
