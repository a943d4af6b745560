//! A leader and a standby on the PostgreSQL at 127.0.0.1:5432 (or `SUANPAN_TEST_POSTGRES`; database `test`, a schema of
//! this test's own), as real `suanpan serve` processes under concurrent load over HTTP.
//!
//! Failover: the leader is killed with SIGKILL; the standby takes the lease within its bound,
//! every transfer either node acknowledged is in the books exactly once, and `verify` passes.
//! Fencing: the leader is paused with SIGSTOP until the standby has taken over, then resumed;
//! it commits nothing more, steps down (exits non-zero), and its waiting callers get an error,
//! never a false success.

// Each test file uses part of the shared support.
#[allow(dead_code)]
mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::books::{account, fen, open_account, transfer_json};
use support::client::{ApiKey, Request};
use support::server::{suanpan, DataDir, Server};

const LEASE_TTL_MS: u64 = 1_500;

/// A schema of the test's own, dropped afterwards.
struct Schema {
    name: String,
}

impl Schema {
    fn new(test: &str) -> Schema {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Schema {
            name: format!("t_{test}_{}_{nanos}", std::process::id()),
        }
    }

    fn url(&self) -> String {
        suanpan_journal::postgres::test_schema_url(&self.name)
    }

    /// `suanpan credentials ARGS --postgres URL`: its one JSON line.
    fn credentials(&self, args: &[&str]) -> serde_json::Value {
        support::server::credentials(args, &["--postgres".into(), self.url()])
    }

    fn key(&self, participant: &str) -> ApiKey {
        let made = self.credentials(&["key", "--participant", participant]);
        let text = |name: &str| made[name].as_str().unwrap_or_default().to_string();
        ApiKey {
            key_id: text("key_id"),
            secret: text("secret"),
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = suanpan_journal::postgres::run_sql(
            &suanpan_journal::postgres::test_database_url(),
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
    }
}

/// Two nodes' data directories on one database, whose credentials both honour: made once,
/// with `suanpan credentials --postgres`, as an operator would.
struct Pair {
    schema: Schema,
    leader_dir: DataDir,
    standby_dir: DataDir,
    key: ApiKey,
    /// A second key of the same participant, for revoking.
    other_key: ApiKey,
}

impl Pair {
    fn new(test: &str) -> Pair {
        let schema = Schema::new(test);
        let leader_dir = DataDir::new(&format!("{test}-a"));
        let standby_dir = DataDir::new(&format!("{test}-b"));
        schema.credentials(&["participant", "--code", "bank-a", "--name", "Bank A"]);
        let key = schema.key("bank-a");
        let other_key = schema.key("bank-a");
        Pair {
            schema,
            leader_dir,
            standby_dir,
            key,
            other_key,
        }
    }

    fn start(&self, dir: &DataDir, node: &str, standby: bool) -> Server {
        let url = self.schema.url();
        let ttl = LEASE_TTL_MS.to_string();
        let mut args = vec![
            "--postgres",
            url.as_str(),
            "--node",
            node,
            "--lease-ttl-ms",
            ttl.as_str(),
        ];
        if standby {
            args.push("--standby");
        }
        Server::start_with(dir, &args)
    }

    fn verify(&self) {
        let output = suanpan()
            .args(["verify", "--postgres", &self.schema.url()])
            .output()
            .unwrap_or_else(|e| panic!("cannot run suanpan verify: {e}"));
        assert!(
            output.status.success(),
            "suanpan verify --postgres failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// What the clients were told.
#[derive(Default)]
struct Told {
    /// Acknowledged (2xx, result ok): id, amount.
    acknowledged: Vec<(u128, u64)>,
    /// Sent but answered with an error status or not at all: may or may not be in the books.
    uncertain: Vec<(u128, u64)>,
}

/// Clients sending transfers from account 1 to account 2, each to whichever node it is told.
struct Load {
    stop: Arc<AtomicBool>,
    target: Arc<Mutex<SocketAddr>>,
    acks: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<Told>>,
}

impl Load {
    fn start(addr: SocketAddr, key: &ApiKey, clients: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let target = Arc::new(Mutex::new(addr));
        let acks = Arc::new(AtomicU64::new(0));
        let threads = (0..clients)
            .map(|client| {
                let (stop, target, acks, key) =
                    (stop.clone(), target.clone(), acks.clone(), key.clone());
                std::thread::spawn(move || {
                    let mut told = Told::default();
                    let mut n = 0u128;
                    while !stop.load(Ordering::Acquire) {
                        n += 1;
                        let id = 1_000_000 * (u128::from(client) + 1) + n;
                        let amount = 1 + (n as u64 % 7);
                        let addr = *target.lock().unwrap_or_else(|p| p.into_inner());
                        let r = Request::post("/v1/transfers", &transfer_json(id, 1, 2, amount))
                            .signed(&key)
                            .try_send(addr);
                        match r {
                            Ok(r) if r.status == 201 || r.status == 200 => {
                                if r.json()["result"] == "ok" {
                                    told.acknowledged.push((id, amount));
                                    acks.fetch_add(1, Ordering::Relaxed);
                                } else {
                                    told.uncertain.push((id, amount));
                                }
                            }
                            _ => {
                                told.uncertain.push((id, amount));
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                    }
                    told
                })
            })
            .collect();
        Load {
            stop,
            target,
            acks,
            threads,
        }
    }

    fn redirect(&self, addr: SocketAddr) {
        *self.target.lock().unwrap_or_else(|p| p.into_inner()) = addr;
    }

    fn wait_for_acks(&self, at_least: u64) {
        let started = Instant::now();
        while self.acks.load(Ordering::Relaxed) < at_least {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "fewer than {at_least} transfers acknowledged in 120 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn finish(self) -> Told {
        self.stop.store(true, Ordering::Release);
        let mut all = Told::default();
        for thread in self.threads {
            let told = thread
                .join()
                .unwrap_or_else(|_| panic!("a client panicked"));
            all.acknowledged.extend(told.acknowledged);
            all.uncertain.extend(told.uncertain);
        }
        all
    }
}

/// Waits until `addr` takes a write (the standby has taken over); returns how long it took
/// and the transfer that went in (1 fen).
fn wait_for_takeover(addr: SocketAddr, key: &ApiKey, since: Instant) -> (Duration, u128) {
    let mut probe = 9_000_000_000u128;
    loop {
        probe += 1;
        let r = Request::post("/v1/transfers", &transfer_json(probe, 1, 2, 1))
            .signed(key)
            .try_send(addr);
        if let Ok(r) = r {
            if r.status == 201 || r.status == 200 {
                return (since.elapsed(), probe);
            }
            // A probe signed in the second before the takeover, answered after it: signed
            // again at the next try.
            let signed_before = r.status == 401 && r.error().0 == "timestamp_out_of_window";
            if !signed_before {
                assert_eq!(r.status, 503, "the standby answered {}", r.text());
                assert_eq!(r.error().0, "not_leader", "{}", r.text());
            }
        }
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "the standby never took over"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every acknowledged transfer is in the books exactly once: each is found by id, and the
/// credited account holds exactly the sum of every transfer found (acknowledged, probes and
/// those whose answer was lost), so none counts twice.
fn check_books(addr: SocketAddr, key: &ApiKey, told: &Told) {
    let found = |id: u128| -> Option<u64> {
        let r = Request::get(&format!("/v1/transfers/{id}"))
            .signed(key)
            .send(addr);
        match r.status {
            200 => Some(fen(&r.json(), "amount") as u64),
            404 => None,
            other => panic!("reading transfer {id}: {other} {}", r.text()),
        }
    };
    let mut seen = HashSet::new();
    let mut total: u64 = 0;
    for &(id, amount) in &told.acknowledged {
        assert_eq!(
            found(id),
            Some(amount),
            "acknowledged transfer {id} is not in the books"
        );
        assert!(seen.insert(id), "transfer {id} acknowledged twice");
        total += amount;
    }
    for &(id, amount) in &told.uncertain {
        if let Some(stored) = found(id) {
            assert_eq!(stored, amount);
            total += amount;
        }
    }
    let credited = account(addr, key, 2);
    assert_eq!(
        fen(&credited, "credits_posted") as u64,
        total,
        "the credited account does not hold exactly the transfers in the books"
    );
}

fn open_accounts(addr: SocketAddr, key: &ApiKey) {
    open_account(addr, key, 1, &[]);
    open_account(addr, key, 2, &[]);
}

#[test]
fn the_standby_takes_over_after_sigkill_and_nothing_acknowledged_is_lost() {
    let pair = Pair::new("failover");
    let mut leader = pair.start(&pair.leader_dir, "a", false);
    let standby = pair.start(&pair.standby_dir, "b", true);
    open_accounts(leader.addr, &pair.key);
    // The standby serves reads of what it has replayed, and refuses commands.
    let started = Instant::now();
    loop {
        let r = Request::get("/v1/accounts/2")
            .signed(&pair.key)
            .send(standby.addr);
        if r.status == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{}", r.text());
        std::thread::sleep(Duration::from_millis(20));
    }
    let refused = Request::post("/v1/transfers", &transfer_json(5, 1, 2, 1))
        .signed(&pair.key)
        .send(standby.addr);
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.error().0, "not_leader");
    assert!(leader_gauge(standby.addr, 0));
    assert!(leader_gauge(leader.addr, 1));
    // Both nodes honour the second key (the standby now has it cached); then it is revoked.
    for addr in [leader.addr, standby.addr] {
        let read = Request::get("/v1/accounts/2")
            .signed(&pair.other_key)
            .send(addr);
        assert_eq!(read.status, 200, "{}", read.text());
    }
    pair.schema
        .credentials(&["revoke", "--key", &pair.other_key.key_id]);

    let load = Load::start(leader.addr, &pair.key, 4);
    load.wait_for_acks(300);
    // A signed request the leader takes: its nonce is spent there, and only there.
    let captured =
        Request::post("/v1/transfers", &transfer_json(8_000_000_001, 1, 2, 1)).signed(&pair.key);
    let first = captured.send(leader.addr);
    assert_eq!(first.status, 201, "{}", first.text());
    leader.kill();
    let killed_at = Instant::now();
    load.redirect(standby.addr);
    let (took, probe) = wait_for_takeover(standby.addr, &pair.key, killed_at);
    // Replayed to the new leader, it is refused: signed before the takeover (which comes at
    // least the lease's time to live after the kill, so in a later second).
    let replayed = captured.send(standby.addr);
    assert_eq!(
        replayed.status,
        401,
        "a replayed request: {}",
        replayed.text()
    );
    assert_eq!(replayed.error().0, "timestamp_out_of_window");
    // The key revoked before the takeover is refused by the new leader at once.
    let revoked = Request::get("/v1/accounts/2")
        .signed(&pair.other_key)
        .send(standby.addr);
    assert_eq!(revoked.status, 401, "a revoked key: {}", revoked.text());
    assert_eq!(revoked.error().0, "unknown_key");
    let before = load.acks.load(Ordering::Relaxed);
    load.wait_for_acks(before + 300);
    let mut told = load.finish();
    told.acknowledged.push((probe, 1));
    told.acknowledged.push((8_000_000_001, 1));
    eprintln!(
        "failover: standby took over {} ms after SIGKILL (lease {LEASE_TTL_MS} ms); {} acknowledged, {} uncertain",
        took.as_millis(),
        told.acknowledged.len(),
        told.uncertain.len()
    );
    // The bound: the lease's time to live after the last renewal, one poll, and the replay
    // of the tail; generous for a debug build on a busy machine.
    assert!(
        took <= Duration::from_millis(LEASE_TTL_MS) + Duration::from_secs(5),
        "takeover took {took:?}"
    );
    check_books(standby.addr, &pair.key, &told);
    assert!(leader_gauge(standby.addr, 1));
    standby.terminate();
    let mut standby = standby;
    assert!(standby.wait_exit().success());
    pair.verify();
}

/// Whether the node's /metrics says `suanpan_engine_leader` is `value`.
fn leader_gauge(addr: SocketAddr, value: u8) -> bool {
    let metrics = Request::get("/metrics").send(addr).text();
    metrics
        .lines()
        .any(|l| l == format!("suanpan_engine_leader {value}"))
}

#[test]
fn a_paused_leader_commits_nothing_after_takeover_and_steps_down() {
    let pair = Pair::new("fencing");
    let mut leader = pair.start(&pair.leader_dir, "a", false);
    let standby = pair.start(&pair.standby_dir, "b", true);
    open_accounts(leader.addr, &pair.key);
    let load = Load::start(leader.addr, &pair.key, 4);
    load.wait_for_acks(300);
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    assert_eq!(unsafe { libc::kill(leader.pid(), libc::SIGSTOP) }, 0);
    let paused_at = Instant::now();
    // The paused leader's clients wait; the standby takes over once the lease runs out.
    let probe_key = pair.key.clone();
    let (took, probe) = wait_for_takeover(standby.addr, &probe_key, paused_at);
    // Writes to the new leader while the old one is still frozen.
    for id in 8_000_000_001u128..8_000_000_051 {
        let r = Request::post("/v1/transfers", &transfer_json(id, 1, 2, 3))
            .signed(&pair.key)
            .send(standby.addr);
        assert_eq!(r.status, 201, "{}", r.text());
    }
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(leader.pid(), libc::SIGCONT) }, 0);
    let status = leader.wait_exit();
    assert!(
        !status.success(),
        "the deposed leader must step down with a non-zero exit, got {status}"
    );
    let told = load.finish();
    eprintln!(
        "fencing: standby took over {} ms after SIGSTOP; old leader exited {status}; {} acknowledged, {} errors or unanswered",
        took.as_millis(),
        told.acknowledged.len(),
        told.uncertain.len()
    );
    // Every success the old leader gave is in the new leader's books (so none was false), and
    // the books hold exactly what was found: nothing the old leader had in flight was written
    // after the takeover behind the new leader's back.
    let extra: Vec<(u128, u64)> = (8_000_000_001u128..8_000_000_051)
        .map(|id| (id, 3))
        .collect();
    let mut all = told;
    all.acknowledged.extend(extra);
    all.acknowledged.push((probe, 1));
    check_books(standby.addr, &pair.key, &all);
    standby.terminate();
    let mut standby = standby;
    assert!(standby.wait_exit().success());
    pair.verify();
}
