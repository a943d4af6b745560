//! The open-loop load generator the HTTP benchmarks share (`bench http`, `bench consent`).
//!
//! Open loop: request i is due at start + i / rate and is sent then, whether or not earlier
//! ones have come back, and its latency counts from when it was due. A server that stalls
//! therefore shows its stall in every request that waited behind it, instead of the
//! generator politely slowing down and hiding it (coordinated omission). Latencies go into an
//! HDR histogram (microseconds, 3 significant digits).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use suanpan_access::Access;
pub use suanpan_client::{Answer, Client};

/// A `suanpan serve` started for the run; stopped (SIGTERM, then waited for) on drop.
pub struct Server {
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

/// Starts `suanpan serve` on a fresh temporary data directory, after `setup` has made the
/// credentials the run needs in its `access.db`.
pub fn start_server<T>(
    prefix: &str,
    setup: impl FnOnce(&Access) -> Result<T, String>,
) -> Result<(Server, SocketAddr, T), String> {
    let dir = crate::system::fresh_temp_dir(prefix)?;
    let access = Access::open(&dir)?;
    let made = setup(&access)?;
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
    Ok((server, address, made))
}

/// The key id and secret in a file `suanpan credentials key` printed.
pub fn read_credentials(path: &Path) -> Result<(String, String), String> {
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

/// The address behind `--url http://HOST:PORT`.
pub fn address_of(url: &str) -> Result<SocketAddr, String> {
    let host = url
        .strip_prefix("http://")
        .ok_or("--url must start with http://")?;
    std::net::ToSocketAddrs::to_socket_addrs(host.trim_end_matches('/'))
        .map_err(|e| format!("--url {url:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("--url {url:?} resolves to nothing"))
}

/// The error code of an answer that is not a success.
pub fn error_code(status: u16, body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("http_{status}"))
}

/// What came back, counted as the answers arrive.
#[derive(Default)]
pub struct Tally {
    pub ok_requests: u64,
    /// What a successful request carried (transfers of a batch, one read).
    pub ok_items: u64,
    pub errors: BTreeMap<String, u64>,
    last_done: Option<Instant>,
}

/// One request of the run.
pub struct Shot {
    pub client: Arc<Client>,
    pub method: &'static str,
    pub path: String,
    pub body: Bytes,
    pub headers: Vec<(&'static str, String)>,
}

pub struct Figures {
    pub requests: u64,
    pub offered_s: f64,
    /// From the start to the last answer (at least `offered_s`).
    pub active_s: f64,
    pub ok_requests: u64,
    pub ok_items: u64,
    pub errors: BTreeMap<String, u64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Figures {
    pub fn offered_rps(&self) -> f64 {
        self.requests as f64 / self.offered_s
    }

    pub fn achieved_rps(&self) -> f64 {
        self.ok_requests as f64 / self.active_s
    }

    /// The errors by code as a JSON object.
    pub fn errors_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (code, n)) in self.errors.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("\"{code}\":{n}"));
        }
        out.push('}');
        out
    }
}

/// Offers `rate` requests a second for `duration_s` seconds, each made by `next`, and counts
/// each successful answer with `count`.
pub fn run(
    runtime: &tokio::runtime::Runtime,
    rate: u64,
    duration_s: u64,
    mut next: impl FnMut() -> Shot,
    count: fn(&Answer, &mut Tally),
) -> Result<Figures, String> {
    let histogram = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).map_err(|e| e.to_string())?,
    ));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let total = rate * duration_s;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    let mut sent: u64 = 0;
    while sent < total {
        // Everything due by now goes out now; then sleep until the next one is due. The
        // schedule is kept by the operating system's sleep (tens of microseconds late), not
        // tokio's timer (a millisecond's grain), so the generator's own lateness hardly
        // shows in the latencies it reports.
        let elapsed = started.elapsed();
        let due = ((elapsed.as_nanos() * u128::from(rate)) / 1_000_000_000) as u64 + 1;
        while sent < due.min(total) {
            let scheduled = started + Duration::from_nanos(sent * 1_000_000_000 / rate);
            let shot = next();
            let (histogram, tally) = (histogram.clone(), tally.clone());
            tasks.push(runtime.spawn(async move {
                let answer = shot
                    .client
                    .send(shot.method, &shot.path, shot.body, &shot.headers)
                    .await;
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
                        count(&a, &mut t);
                    }
                    Ok(a) => *t.errors.entry(error_code(a.status, &a.body)).or_default() += 1,
                    Err(code) => *t.errors.entry(code).or_default() += 1,
                }
            }));
            sent += 1;
        }
        if sent < total {
            let next = started + Duration::from_nanos(sent * 1_000_000_000 / rate);
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
    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
    let active_s = t
        .last_done
        .map(|d| d.saturating_duration_since(started).as_secs_f64())
        .unwrap_or(offered_s)
        .max(offered_s);
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Ok(Figures {
        requests: total,
        offered_s,
        active_s,
        ok_requests: t.ok_requests,
        ok_items: t.ok_items,
        errors: std::mem::take(&mut t.errors),
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: h.max() as f64 / 1000.0,
    })
}
