//! A leader and a standby on the PostgreSQL at 127.0.0.1:5432 (or `SUANPAN_TEST_POSTGRES`; database `test`, a schema of
//! this test's own), as real `suanpan serve` processes under concurrent load over HTTP.
//!
//! Failover: the leader is killed with SIGKILL; the standby takes the lease within its bound,
//! every transfer either node acknowledged is in the books exactly once, and `verify` passes.
//! The whole business on it: orders whose callbacks come late or never, merchant notifications
//! owed while the merchant is down, and interbank payouts in flight, all continued by the new
//! leader from the shared database.
//! Fencing: the leader is paused with SIGSTOP until the standby has taken over, then resumed;
//! it commits nothing more, steps down (exits non-zero), and its waiting callers get an error,
//! never a false success.

// Each test file uses part of the shared support.
#[allow(dead_code)]
mod gateway_support;
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
        self.start_with(dir, node, standby, &[])
    }

    fn start_with(&self, dir: &DataDir, node: &str, standby: bool, extra: &[&str]) -> Server {
        self.start_env(dir, node, standby, extra, &[])
    }

    /// Starts a node with environment variables (the test hooks of the server).
    fn start_env(
        &self,
        dir: &DataDir,
        node: &str,
        standby: bool,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
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
        args.extend_from_slice(extra);
        Server::start_env(dir, &args, env)
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

/// The address the outside world calls (a channel's callbacks, the merchants): a TCP relay
/// to whichever node leads now, as a load balancer in front of a leader and its standby is.
struct Front {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
}

impl Front {
    fn start(to: SocketAddr) -> Front {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let target = Arc::new(Mutex::new(to));
        let current = target.clone();
        std::thread::spawn(move || {
            for inbound in listener.incoming() {
                let Ok(inbound) = inbound else { continue };
                let to = *current.lock().unwrap_or_else(|p| p.into_inner());
                let Ok(outbound) = std::net::TcpStream::connect(to) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (inbound.try_clone(), outbound.try_clone()),
                    (outbound.try_clone(), inbound.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        Front { addr, target }
    }

    fn point(&self, to: SocketAddr) {
        *self.target.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// An order as the shop reads it through `addr`.
fn order(addr: SocketAddr, key: &ApiKey, id: &str) -> serde_json::Value {
    let r = Request::get(&format!("/v1/orders/{id}"))
        .signed(key)
        .send(addr);
    assert_eq!(r.status, 200, "order {id}: {}", r.text());
    r.json()
}

/// The interbank channels and the payouts' configuration pointing at them.
struct Interbank {
    channels: [support::interbank::Channel; 4],
    config: String,
}

impl Interbank {
    fn start(dir: &DataDir) -> Interbank {
        use support::interbank::Channel;
        let channels = [
            Channel::start("hvps", &[]),
            Channel::start("beps", &["--batch-ms", "300"]),
            Channel::start("ibps", &[]),
            Channel::start("unionpay", &["--settle-ms", "300"]),
        ];
        let [hvps, beps, ibps, unionpay] = &channels;
        let text = format!(
            "timeout_ms = 500\nquery_interval_ms = 100\ninstruction_ttl_ms = 1500\ndown_ms = 600000\ntick_ms = 50\n\
             [channels.hvps]\nurl = \"http://{}\"\n[channels.beps]\nurl = \"http://{}\"\n\
             [channels.ibps]\nurl = \"http://{}\"\n[channels.unionpay_payout]\nurl = \"http://{}\"\n\
             [rules.hvps]\nhours = \"always\"\n",
            hvps.addr, beps.addr, ibps.addr, unionpay.addr
        );
        let path = dir.path().join("payouts.toml");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        Interbank {
            channels,
            config: path.to_string_lossy().into_owned(),
        }
    }

    fn settled_fen(&self) -> u64 {
        self.channels
            .iter()
            .map(|c| c.stats()["settled_fen"].as_u64().unwrap_or(0))
            .sum()
    }

    fn none_received_twice(&self) {
        for c in &self.channels {
            let stats = c.stats();
            assert_eq!(
                stats["received_more_than_once"],
                serde_json::json!([]),
                "{stats}"
            );
        }
    }
}

const CUSTOMER: u128 = 1001;
const FUNDING: u128 = 9000;
const FUNDED_FEN: u64 = 1_000_000_000;

fn payout_body(id: u128, amount_fen: u64) -> String {
    format!(
        r#"{{"id":"{id}","debit_account_id":"{CUSTOMER}","amount":"{amount_fen}","currency":"CNY","beneficiary":{{"bank":"BANK-Z","account":"6222000011112222","name":"Zhang San"}},"real_time":true}}"#
    )
}

/// A leader and its standby running the whole business through one front address: a shop's
/// orders (paid with a callback, paid with none, not yet paid) and its notifications owed
/// while the merchant is down, interbank payouts in flight, and clearing participants with a
/// closed batch whose statements the old leader issued.
struct Business {
    pair: Pair,
    shop: ApiKey,
    operator: String,
    admin: String,
    /// The clearing batch closed on the old leader, and participant 1's statement of it as
    /// that leader wrote it.
    cleared: (u64, Vec<u8>),
    merchant: gateway_support::MerchantEndpoint,
    alipay: gateway_support::Sim,
    front: Front,
    interbank: Interbank,
    leader: Server,
    standby: Server,
    /// (id, amount)
    orders: Vec<(String, u64)>,
    payouts: Vec<(u128, u64)>,
    /// Notification attempts the merchant saw before the leader was stopped.
    told_before: usize,
    in_flight: usize,
}

impl Business {
    /// `leader_env`: the first leader's test hooks.
    fn start(name: &str, leader_env: &[(&str, &str)]) -> Business {
        use gateway_support::{MerchantEndpoint, Sim, ALIPAY_KEY, WAIT_MAX};
        let pair = Pair::new(name);
        pair.schema
            .credentials(&["participant", "--code", "shop-1", "--name", "Shop One"]);
        let shop = pair.schema.key("shop-1");
        let merchant = MerchantEndpoint::start();
        gateway_support::register_merchant(
            "shop-1",
            &merchant,
            &["--postgres".to_string(), pair.schema.url()],
        );
        let token = |name: &str, role: &str| {
            pair.schema
                .credentials(&["operator", "--name", name, "--role", role])["token"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let (operator, admin) = (token("ops", "operator"), token("ops-admin", "admin"));
        let alipay = Sim::start("alipay", &[]);
        // Both nodes are reached through the front; they share one configuration.
        let front = Front::start("127.0.0.1:9".parse().unwrap_or_else(|e| panic!("{e}")));
        let config = pair.leader_dir.path().join("gateway.toml");
        std::fs::write(
        &config,
        format!(
            "allow_plain_http = true\ntick_ms = 50\npublic_url = \"{}\"\nnotify_schedule_s = [1, 1, 1, 1, 1, 1, 1, 1]\n\
             [channels.alipay]\nurl = \"{}\"\nkey = \"{ALIPAY_KEY}\"\nquery_schedule_ms = [500, 500, 1000]\n",
            front.url(),
            alipay.url()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
        let config = config.to_string_lossy().into_owned();
        let interbank = Interbank::start(&pair.leader_dir);
        // A channel's bill is not there at the day-end: reconciliation says so and goes on.
        let gateway = [
            "--gateway-config",
            config.as_str(),
            "--payouts-config",
            interbank.config.as_str(),
            "--recon-missing-bill",
            "warn",
        ];
        let leader = pair.start_env(&pair.leader_dir, "a", false, &gateway, leader_env);
        let standby = pair.start_with(&pair.standby_dir, "b", true, &gateway);
        front.point(leader.addr);
        open_accounts(leader.addr, &pair.key);
        open_account(leader.addr, &pair.key, FUNDING, &[]);
        open_account(
            leader.addr,
            &pair.key,
            CUSTOMER,
            &["debits_must_not_exceed_credits"],
        );
        let funded = Request::post(
            "/v1/transfers",
            &transfer_json(7_000_000_001, FUNDING, CUSTOMER, FUNDED_FEN),
        )
        .signed(&pair.key)
        .send(leader.addr);
        assert_eq!(funded.status, 201, "{}", funded.text());
        let cleared = clear_one_batch(leader.addr, &operator, &pair.leader_dir);
        // Interbank payouts in flight when the leader dies: answers slow, instructions lost.
        let [_, _, ibps, unionpay] = &interbank.channels;
        unionpay.script(&["timeout"; 6]);
        ibps.script(&["lost", "lost", "normal", "lost"]);
        let mut payouts = Vec::new();
        for id in 100..116u128 {
            let amount = if id % 2 == 0 { 8_000_000 } else { 300_000 };
            let r = Request::post("/v1/payouts", &payout_body(id, amount))
                .signed(&pair.key)
                .send(front.addr);
            assert_eq!(r.status, 201, "payout {id}: {}", r.text());
            payouts.push((id, amount));
        }
        // The merchant is down: every notification is still owed when the leader dies.
        merchant.set_up(false);
        let mut orders = Vec::new();
        for n in 0..12u64 {
            let body = format!(
                r#"{{"merchant_order_no":"m{n}","amount":"{}","currency":"CNY","subject":"order {n}","channel":"alipay"}}"#,
                1_000 + n
            );
            let r = Request::post("/v1/orders", &body)
                .signed(&shop)
                .send(front.addr);
            assert_eq!(r.status, 201, "{}", r.text());
            orders.push((
                r.json()["id"].as_str().unwrap_or_default().to_string(),
                1_000 + n,
            ));
        }
        // Paid, and the channel says so at once.
        for (id, _) in &orders[0..4] {
            alipay.pay(id, &["TRADE_SUCCESS"]);
        }
        // Paid, and the channel's callback never comes: only a query finds them.
        for (id, _) in &orders[4..8] {
            alipay.pay(id, &[]);
        }
        for (id, _) in &orders[0..4] {
            let started = Instant::now();
            while order(leader.addr, &shop, id)["state"] != "succeeded" {
                assert!(started.elapsed() < WAIT_MAX, "order {id} never succeeded");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let told_before = merchant.received().len();
        assert!(told_before > 0, "the leader never tried the merchant");
        let in_flight = payouts
            .iter()
            .filter(|(id, _)| {
                let r = Request::get(&format!("/v1/payouts/{id}"))
                    .signed(&pair.key)
                    .send(leader.addr);
                r.json()["state"] != "settled"
            })
            .count();
        assert!(
            in_flight > 0,
            "every payout settled before the kill: nothing was in flight"
        );
        Business {
            pair,
            shop,
            operator,
            admin,
            cleared,
            merchant,
            alipay,
            front,
            interbank,
            leader,
            standby,
            orders,
            payouts,
            told_before,
            in_flight,
        }
    }

    /// After the takeover: the orders not yet paid are paid (their callbacks reach the new
    /// leader, which never saw them created) and the merchant comes back; every order ends
    /// succeeded and booked once, every merchant is told, every payout settles once. Returns
    /// the new leader's time to take over.
    fn finish_on_new_leader(&self, stopped_at: Instant) -> Duration {
        use gateway_support::{payment_transfer, WAIT_MAX};
        let (pair, standby, merchant, shop) =
            (&self.pair, &self.standby, &self.merchant, &self.shop);
        let (orders, payouts, interbank) = (&self.orders, &self.payouts, &self.interbank);
        self.front.point(standby.addr);
        let (took, _) = wait_for_takeover(standby.addr, &pair.key, stopped_at);
        for (id, _) in &orders[8..12] {
            self.alipay.pay(id, &["TRADE_SUCCESS"]);
        }
        merchant.set_up(true);
        for (id, amount) in orders {
            let started = Instant::now();
            loop {
                let o = order(standby.addr, shop, id);
                if o["state"] == "succeeded" {
                    assert_eq!(o["amount"], amount.to_string(), "{o}");
                    break;
                }
                assert!(
                    started.elapsed() < WAIT_MAX,
                    "order {id} never succeeded: {o}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            // Booked once: the payment's transfer, under the order's own id.
            let t = Request::get(&format!("/v1/transfers/{}", payment_transfer(id)))
                .signed(shop)
                .send(standby.addr);
            assert_eq!(
                t.status,
                200,
                "order {id}'s payment is not booked: {}",
                t.text()
            );
            assert_eq!(fen(&t.json(), "amount") as u64, *amount);
            // Its notification, owed by whichever node, is delivered.
            let started = Instant::now();
            let needle = format!("\"order_id\":\"{id}\"");
            while !merchant.received().iter().any(|r| {
                r.answered == 200 && r.body.contains(&needle) && r.body.contains("succeeded")
            }) {
                assert!(
                    started.elapsed() < WAIT_MAX,
                    "the merchant was never told of order {id}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Every payout the old leader took is settled exactly once, by one channel, and the
        // channels paid out exactly what the books say.
        let mut settled_fen = 0;
        for (id, amount) in payouts {
            let started = Instant::now();
            let p = loop {
                let r = Request::get(&format!("/v1/payouts/{id}"))
                    .signed(&pair.key)
                    .send(standby.addr);
                assert_eq!(r.status, 200, "payout {id}: {}", r.text());
                let p = r.json();
                if matches!(
                    p["state"].as_str(),
                    Some("settled" | "rejected" | "returned")
                ) {
                    break p;
                }
                assert!(started.elapsed() < WAIT_MAX, "payout {id} never ended: {p}");
                std::thread::sleep(Duration::from_millis(50));
            };
            assert_eq!(p["state"], "settled", "{p}");
            let settled_attempts = p["attempts"]
                .as_array()
                .map_or(0, |a| a.iter().filter(|t| t["state"] == "settled").count());
            assert_eq!(settled_attempts, 1, "{p}");
            settled_fen += amount;
        }
        assert_eq!(interbank.settled_fen(), settled_fen);
        interbank.none_received_twice();
        self.check_clearing(standby.addr);
        let customer = account(standby.addr, &pair.key, CUSTOMER);
        assert_eq!(
            customer["credit_balance"].as_str(),
            Some((FUNDED_FEN - settled_fen).to_string().as_str()),
            "{customer}"
        );
        took
    }
}

/// Registers two clearing participants, has one pay the other, closes the batch and issues
/// its statements. Returns the batch and participant 1's statement as written.
fn clear_one_batch(addr: SocketAddr, operator: &str, dir: &DataDir) -> (u64, Vec<u8>) {
    let post = |target: &str, json: &str| {
        let request = if json.is_empty() {
            Request::new("POST", target)
        } else {
            Request::post(target, json)
        };
        request.bearer(operator).send(addr)
    };
    for (number, code) in [(1u16, "B001"), (2, "B002")] {
        let body = format!(
            r#"{{"number":{number},"code":"{code}","name":"Bank {code}","kind":"bank","net_debit_cap":"500000"}}"#
        );
        let r = post("/v1/clearing/participants", &body);
        assert_eq!(r.status, 201, "participant {number}: {}", r.text());
    }
    let paid = format!(
        r#"{{"id":"7100000001","debit_account_id":"{}","credit_account_id":"{}","amount":"12345","currency":"CNY","code":6001}}"#,
        suanpan_clearing::position_account_id(1),
        suanpan_clearing::position_account_id(2)
    );
    let r = post("/v1/transfers", &paid);
    assert_eq!(r.status, 201, "interbank payment: {}", r.text());
    let r = post("/v1/clearing/batches", "");
    assert_eq!(r.status, 201, "close: {}", r.text());
    let batch = r.json()["batch"].as_u64().unwrap_or_default();
    let r = post(&format!("/v1/clearing/batches/{batch}/statements"), "");
    assert_eq!(r.status, 201, "statements: {}", r.text());
    let file = dir
        .path()
        .join(suanpan_clearing::STATEMENTS_DIR)
        .join(suanpan_clearing::statement_file_name(batch, 1));
    let written = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    (batch, written)
}

impl Business {
    /// The new leader knows the participants the old one registered and hands out the
    /// statement the old one issued, byte for byte, though its own directory never held it.
    fn check_clearing(&self, addr: SocketAddr) {
        let get = |target: &str| Request::get(target).bearer(&self.operator).send(addr);
        let r = get("/v1/clearing/participants");
        assert_eq!(r.status, 200, "{}", r.text());
        let codes: Vec<String> = r.json()["participants"]
            .as_array()
            .map(|a| a.iter().map(|p| p["code"].to_string()).collect())
            .unwrap_or_default();
        assert_eq!(codes, ["\"B001\"", "\"B002\""], "{}", r.text());
        let (batch, written) = &self.cleared;
        let r = get("/v1/clearing/statements");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.json()["statements"].as_array().map(Vec::len),
            Some(2),
            "{}",
            r.text()
        );
        let cached = self
            .pair
            .standby_dir
            .path()
            .join(suanpan_clearing::STATEMENTS_DIR)
            .join(suanpan_clearing::statement_file_name(*batch, 1));
        assert!(!cached.exists(), "the standby wrote statements of its own");
        let r = get(&format!("/v1/clearing/statements/{batch}?participant=1"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            r.body == *written,
            "the statement differs from the one issued"
        );
    }
}

impl Business {
    /// Cuts the books over to the next date on the leader; returns the date closed.
    fn close_the_day(&self) -> String {
        let r = Request::new("POST", "/v1/accounting/cutover")
            .bearer(&self.admin)
            .send(self.leader.addr);
        assert_eq!(r.status, 200, "cutover: {}", r.text());
        r.json()["closed_date"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn day_end_status(&self, addr: SocketAddr, date: &str) -> serde_json::Value {
        let r = Request::get(&format!("/v1/accounting/dates/{date}/day-end"))
            .bearer(&self.operator)
            .send(addr);
        assert_eq!(r.status, 200, "day-end status: {}", r.text());
        r.json()
    }

    fn start_day_end(&self, addr: SocketAddr, date: &str) {
        let r = Request::new("POST", &format!("/v1/accounting/dates/{date}/day-end"))
            .bearer(&self.operator)
            .send(addr);
        assert_eq!(r.status, 202, "start the day-end: {}", r.text());
    }

    /// Starts the date's day-end on `addr` again and waits for it to complete.
    fn finish_day_end(&self, addr: SocketAddr, date: &str) -> serde_json::Value {
        use gateway_support::WAIT_MAX;
        self.start_day_end(addr, date);
        let started = Instant::now();
        loop {
            let status = self.day_end_status(addr, date);
            if status["state"] == "complete" {
                return status;
            }
            assert!(
                status["last_error"].is_null(),
                "the day-end of {date} failed: {status}"
            );
            assert!(
                started.elapsed() < WAIT_MAX,
                "the day-end of {date} did not complete: {status}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The steps of a day-end status that are done.
fn steps_done(status: &serde_json::Value) -> Vec<String> {
    status["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .filter(|s| s["done"] == true)
                .filter_map(|s| s["step"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The books of `date` as a day-end run without a break makes them: a fresh accounting
/// store beside the test, reading the same journal.
fn uninterrupted_books(url: &str, date: &str) -> BooksOfADay {
    use suanpan_accounting::{Accounting, DayEndOptions};
    let dir = DataDir::new("uninterrupted-books");
    let db = suanpan_journal::postgres::connect(url).unwrap_or_else(|e| panic!("{e}"));
    let mut books = Accounting::open_in(
        dir.path(),
        &suanpan_store::room::Home::sqlite(dir.path()),
        &suanpan_journal::JournalLocation::Postgres(db),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let day = suanpan_ledger::AccountingDate::parse(date).unwrap_or_else(|| panic!("{date}"));
    let report = books
        .day_end(day, DayEndOptions::default(), &mut |_| {})
        .unwrap_or_else(|e| panic!("the uninterrupted day-end: {e}"));
    assert!(report.complete);
    BooksOfADay::read(&books, day)
}

/// What a day-end makes of one date, to compare two runs by.
#[derive(Debug, PartialEq, Eq)]
struct BooksOfADay {
    general_ledger: Vec<suanpan_accounting::GlRow>,
    gl_check: Vec<suanpan_accounting::GlCheckRow>,
    daily_balances: Vec<(u128, suanpan_accounting::DailyBalance)>,
    vouchers: Vec<suanpan_accounting::Voucher>,
}

impl BooksOfADay {
    fn read(books: &suanpan_accounting::Accounting, day: suanpan_ledger::AccountingDate) -> Self {
        fn fail<T>(r: Result<T, suanpan_accounting::AccountingError>) -> T {
            r.unwrap_or_else(|e| panic!("{e}"))
        }
        BooksOfADay {
            general_ledger: fail(books.general_ledger(day)),
            gl_check: fail(books.gl_check(day)),
            daily_balances: fail(books.daily_balances(day)),
            vouchers: fail(books.vouchers(day, 1, 100_000)),
        }
    }
}

#[test]
fn after_sigkill_the_new_leader_finishes_every_order_and_payout_and_tells_every_merchant() {
    // The leader dies by SIGKILL in the middle of the day-end, right after its general
    // ledger step commits, with orders, notifications and payouts in flight.
    let mut b = Business::start(
        "gwfailover",
        &[("SUANPAN_DAY_END_KILL_AFTER", "general_ledger")],
    );
    let date = b.close_the_day();
    b.start_day_end(b.leader.addr, &date);
    let died = b.leader.wait_exit();
    assert!(!died.success(), "the leader was to die mid-day-end: {died}");
    let took = b.finish_on_new_leader(Instant::now());
    // The new leader continues the day-end from its first unfinished step, with the same
    // figures as a day-end run without a break.
    let before = b.day_end_status(b.standby.addr, &date);
    assert_eq!(
        steps_done(&before),
        ["reconcile", "catch_up", "supplement", "general_ledger"],
        "{before}"
    );
    let finished = b.finish_day_end(b.standby.addr, &date);
    for (step, was) in finished["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .zip(before["steps"].as_array().into_iter().flatten())
    {
        if was["done"] == true {
            assert_eq!(step["summary"], was["summary"], "{finished}");
        }
    }

    eprintln!(
        "business failover: took over {} ms after SIGKILL; {} payouts settled, {} of them in flight at the kill; {} notifications tried before, {} in all",
        took.as_millis(),
        b.payouts.len(),
        b.in_flight,
        b.told_before,
        b.merchant.received().len(),
    );
    b.standby.terminate();
    assert!(b.standby.wait_exit().success());
    let url = b.pair.schema.url();
    let expected = uninterrupted_books(&url, &date);
    let kept = {
        let db = suanpan_journal::postgres::connect(&url).unwrap_or_else(|e| panic!("{e}"));
        let books = suanpan_accounting::Accounting::open_in(
            b.pair.standby_dir.path(),
            &suanpan_store::room::Home::Postgres {
                db: db.clone(),
                fence: suanpan_store::postgres::Fence::Operator,
            },
            &suanpan_journal::JournalLocation::Postgres(db),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let day = suanpan_ledger::AccountingDate::parse(&date).unwrap_or_else(|| panic!("{date}"));
        BooksOfADay::read(&books, day)
    };
    assert!(!expected.vouchers.is_empty() && !expected.general_ledger.is_empty());
    assert_eq!(
        kept, expected,
        "the books of {date} differ from an uninterrupted day-end"
    );
    b.pair.verify();
}

/// What the rooms and the journal hold, in a form two readings can be compared by: the
/// gateway's orders, events, outbox and attempts, the payouts and their events, clearing's
/// participants and statements, the accounting books' day-end steps, position, vouchers and
/// audit, the journal's last batch.
fn business_state(url: &str) -> Vec<Vec<String>> {
    suanpan_journal::postgres::query_text(
        url,
        "SELECT (SELECT string_agg(id || ':' || state, ',' ORDER BY id) FROM gateway_orders),
                (SELECT count(*) FROM gateway_events),
                (SELECT string_agg(id || ':' || state || ':' || round, ',' ORDER BY id) FROM gateway_outbox),
                (SELECT count(*) FROM gateway_notify_attempts),
                (SELECT string_agg(id || ':' || state, ',' ORDER BY id) FROM payouts_payouts),
                (SELECT count(*) FROM payouts_events),
                (SELECT count(*) FROM payouts_attempts),
                (SELECT string_agg(number || ':' || status || ':' || cap_revision, ',' ORDER BY number)
                    FROM clearing_participants),
                (SELECT count(*) FROM clearing_statements),
                (SELECT string_agg(accounting_date || ':' || step, ',' ORDER BY accounting_date, ordinal)
                    FROM accounting_day_end_steps),
                (SELECT value FROM accounting_meta WHERE key = 'journal_batch'),
                (SELECT count(*) FROM accounting_voucher_batches),
                (SELECT count(*) FROM accounting_audit),
                (SELECT max(seq) FROM batches)",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_paused_leader_resumed_after_the_takeover_changes_nothing_in_any_room() {
    // The old leader's day-end is started and held (by the test hook) until after the
    // takeover: when it wakes, it works on books another node has since closed.
    let hold = DataDir::new("gwfencing-hold");
    let hold_file = hold.path().join("hold");
    std::fs::write(&hold_file, b"").unwrap_or_else(|e| panic!("{e}"));
    let hold_text = hold_file.to_string_lossy().into_owned();
    let mut b = Business::start(
        "gwfencing",
        &[("SUANPAN_DAY_END_HOLD_FILE", hold_text.as_str())],
    );
    let date = b.close_the_day();
    b.start_day_end(b.leader.addr, &date);
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    assert_eq!(unsafe { libc::kill(b.leader.pid(), libc::SIGSTOP) }, 0);
    let took = b.finish_on_new_leader(Instant::now());
    let closed = b.finish_day_end(b.standby.addr, &date);
    assert_eq!(steps_done(&closed).len(), 10, "{closed}");
    // The new leader stops cleanly (its lease given up), so nothing else writes while the old
    // one wakes: whatever it was doing when it was paused (a scheduler's pass, a payout's
    // answer), it meets the fence.
    b.standby.terminate();
    assert!(b.standby.wait_exit().success());
    let url = b.pair.schema.url();
    // Work for the old leader to find when it wakes: every notification owed again, now, as
    // an operator's re-send would make it.
    suanpan_journal::postgres::run_sql(
        &url,
        "UPDATE gateway_outbox SET state = 'pending', round = 0, next_at_ms = 0",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let before = business_state(&url);
    let told = b.merchant.received().len();
    std::fs::remove_file(&hold_file).unwrap_or_else(|e| panic!("{e}"));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(b.leader.pid(), libc::SIGCONT) }, 0);
    let status = b.leader.wait_exit();
    assert!(
        !status.success(),
        "the deposed leader must step down with a non-zero exit, got {status}"
    );
    let after = business_state(&url);
    assert_eq!(
        before, after,
        "the old leader changed the rooms after it was deposed"
    );
    eprintln!(
        "business fencing: took over {} ms after SIGSTOP; {} payouts, {} in flight at the pause; old leader exited {status} after {} deliveries it could not record",
        took.as_millis(),
        b.payouts.len(),
        b.in_flight,
        b.merchant.received().len() - told
    );
    b.pair.verify();
}
