//! What the gateway's end-to-end tests share: a simulated channel as a real process
//! (`suanpan channel-sim`), scripted over its control endpoints; a merchant's notification
//! endpoint as a real HTTP server that records what it receives and can be taken down; and a
//! shop: a `suanpan serve` with the gateway configured against the channels and a merchant
//! registered by the real `suanpan gateway merchant` command.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::client::{ApiKey, Request, Response};
use crate::support::server::{suanpan, DataDir, Server};

/// A wait for something the system does by itself (a query, a notification) gives up after
/// this: a failed test, not a hung one. It bounds the wait; it asserts nothing about time.
pub const WAIT_MAX: Duration = Duration::from_secs(60);

pub const ALIPAY_KEY: &str = "alipay-key-for-tests";
pub const WECHAT_KEY: &str = "wechat-key-for-tests";

/// A simulated channel process.
pub struct Sim {
    child: Child,
    pub addr: SocketAddr,
    pub kind: &'static str,
}

impl Sim {
    pub fn start(kind: &'static str, extra: &[&str]) -> Sim {
        let key = if kind == "alipay" {
            ALIPAY_KEY
        } else {
            WECHAT_KEY
        };
        let mut args = vec![kind, "--listen", "127.0.0.1:0", "--key", key];
        args.extend_from_slice(extra);
        let (child, addr) = crate::support::server::channel_sim(&args);
        Sim { child, addr, kind }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn control(&self, path: &str, body: Value) -> Value {
        let r = Request::post(path, &body.to_string()).send(self.addr);
        assert!(r.status == 200, "{path}: {} {}", r.status, r.text());
        r.json()
    }

    /// The payer pays; then the listed callbacks go out (the channel's own state names).
    pub fn pay(&self, order_id: &str, callbacks: &[&str]) -> Value {
        self.control(
            &format!("/sim/trades/{order_id}/pay"),
            json!({ "callbacks": callbacks }),
        )
    }

    /// The payer pays even though the trade was closed (a payment that raced the close).
    pub fn pay_late(&self, order_id: &str, callbacks: &[&str]) -> Value {
        self.control(
            &format!("/sim/trades/{order_id}/pay"),
            json!({ "callbacks": callbacks, "force": true }),
        )
    }

    /// One callback as given, the trade unchanged.
    pub fn callback(&self, order_id: &str, state: &str, amount_fen: Option<u64>) -> Value {
        self.control(
            &format!("/sim/trades/{order_id}/callback"),
            json!({ "state": state, "amount_fen": amount_fen }),
        )
    }

    /// Answers this late from now on (beyond the gateway's timeout: a channel timing out).
    pub fn slow(&self, create_ms: u64, query_ms: u64) -> Value {
        self.control(
            "/sim/behaviour",
            json!({ "create_delay_ms": create_ms, "query_delay_ms": query_ms }),
        )
    }

    pub fn trade(&self, order_id: &str) -> Value {
        Request::get(&format!("/sim/trades/{order_id}"))
            .send(self.addr)
            .json()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One notification as the merchant received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    /// The status the merchant answered.
    pub answered: u16,
}

/// The merchant's notification endpoint: answers 200 while up, 503 while down.
pub struct MerchantEndpoint {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<AtomicU16>,
    stop: Arc<AtomicBool>,
}

/// A request's lowercase header names and values.
type Headers = Vec<(String, String)>;

fn read_request(stream: &mut TcpStream) -> Option<(Headers, Vec<u8>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if line.is_empty() {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':')?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some((headers, body))
}

impl MerchantEndpoint {
    pub fn start() -> MerchantEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(AtomicU16::new(200));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, a, s) = (received.clone(), answer.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::Acquire) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let (r, a) = (r.clone(), a.clone());
                std::thread::spawn(move || {
                    // Keep-alive: serve requests on this connection until it closes.
                    while let Some((headers, body)) = read_request(&mut stream) {
                        let status = a.load(Ordering::Acquire);
                        let get = |n: &str| {
                            headers
                                .iter()
                                .find(|(k, _)| k == n)
                                .map(|(_, v)| v.clone())
                                .unwrap_or_default()
                        };
                        r.lock().unwrap_or_else(|p| p.into_inner()).push(Received {
                            id: get("x-suanpan-notify-id"),
                            timestamp: get("x-suanpan-notify-timestamp"),
                            signature: get("x-suanpan-notify-signature"),
                            body: String::from_utf8_lossy(&body).into_owned(),
                            answered: status,
                        });
                        let text = if status == 200 { "success" } else { "down" };
                        let answer = format!(
                            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n{text}",
                            text.len()
                        );
                        if stream.write_all(answer.as_bytes()).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        MerchantEndpoint {
            addr,
            received,
            answer,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/notify", self.addr)
    }

    pub fn set_up(&self, up: bool) {
        self.answer
            .store(if up { 200 } else { 503 }, Ordering::Release);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for MerchantEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Timings of the gateway for a shop.
pub struct Timings {
    pub query_schedule_ms: &'static str,
    pub tick_ms: u64,
    pub status_query_interval_ms: u64,
    pub result_poll_ms: u64,
    pub result_wait_ms: u64,
    pub notify_schedule_s: &'static str,
    pub channel_timeout_ms: u64,
}

impl Default for Timings {
    /// Queries far in the future: a test that wants one asks for it.
    fn default() -> Timings {
        Timings {
            query_schedule_ms: "[3600000]",
            tick_ms: 50,
            status_query_interval_ms: 3_600_000,
            result_poll_ms: 5_000,
            result_wait_ms: 30_000,
            notify_schedule_s: "[240, 600, 600, 3600, 7200, 21600, 54000]",
            channel_timeout_ms: 5_000,
        }
    }
}

/// A gateway with both channels and one merchant.
pub struct Shop {
    // Fields drop in order: the server stops before its data directory (and, on PostgreSQL,
    // its schema) is removed under it.
    pub server: Option<Server>,
    pub dir: DataDir,
    pub key: ApiKey,
    pub operator: String,
    pub alipay: Sim,
    pub wechat: Sim,
    pub merchant: MerchantEndpoint,
    pub notify_secret: String,
    config: PathBuf,
}

/// `suanpan gateway merchant --participant PARTICIPANT --notify-url URL PLACE...` must succeed;
/// its JSON line.
pub fn register_merchant(
    participant: &str,
    merchant: &MerchantEndpoint,
    place: &[String],
) -> Value {
    let registered = suanpan()
        .args([
            "gateway",
            "merchant",
            "--participant",
            participant,
            "--notify-url",
        ])
        .arg(merchant.url())
        .args(place)
        .output()
        .unwrap_or_else(|e| panic!("cannot run suanpan gateway: {e}"));
    assert!(
        registered.status.success(),
        "{}",
        String::from_utf8_lossy(&registered.stderr)
    );
    serde_json::from_slice(&registered.stdout).unwrap_or(Value::Null)
}

impl Shop {
    pub fn new(name: &str, timings: Timings) -> Shop {
        let dir = DataDir::new(name);
        let key = dir.participant("shop-1");
        let operator = dir.operator("ops-1", "operator");
        let (alipay, wechat) = (Sim::start("alipay", &[]), Sim::start("wechat", &[]));
        let merchant = MerchantEndpoint::start();
        let mut place = vec!["--data".to_string(), dir.path().display().to_string()];
        place.extend(dir.postgres_args());
        let line = register_merchant("shop-1", &merchant, &place);
        let notify_secret = line["notify_secret"].as_str().unwrap_or("").to_string();
        assert!(notify_secret.starts_with("ns_"), "{line}");
        let config = dir.path().join("gateway.toml");
        let t = &timings;
        let text = format!(
            "allow_plain_http = true\nchannel_timeout_ms = {}\ntick_ms = {}\nstatus_query_interval_ms = {}\nresult_poll_ms = {}\nresult_wait_ms = {}\nnotify_schedule_s = {}\n\
             [channels.alipay]\nurl = \"{}\"\nkey = \"{ALIPAY_KEY}\"\nquery_schedule_ms = {}\n\
             [channels.wechat]\nurl = \"{}\"\nkey = \"{WECHAT_KEY}\"\nquery_schedule_ms = {}\n",
            t.channel_timeout_ms,
            t.tick_ms,
            t.status_query_interval_ms,
            t.result_poll_ms,
            t.result_wait_ms,
            t.notify_schedule_s,
            alipay.url(),
            t.query_schedule_ms,
            wechat.url(),
            t.query_schedule_ms,
        );
        std::fs::write(&config, text).unwrap_or_else(|e| panic!("{e}"));
        let mut shop = Shop {
            dir,
            server: None,
            key,
            operator,
            alipay,
            wechat,
            merchant,
            notify_secret,
            config,
        };
        shop.start();
        shop
    }

    pub fn start(&mut self) {
        self.start_with(&[]);
    }

    /// (Re)starts the server with more flags.
    pub fn start_with(&mut self, extra: &[&str]) {
        self.start_env(extra, &[]);
    }

    /// (Re)starts the server with its log (stderr) written to `log`.
    pub fn start_logged(&mut self, log: &std::path::Path) {
        if let Some(mut running) = self.server.take() {
            running.stop();
        }
        let config = self.config.to_string_lossy().into_owned();
        self.server = Some(Server::start_logged(
            &self.dir,
            &["--gateway-config", &config],
            log,
        ));
    }

    /// (Re)starts the server with more flags and environment variables.
    pub fn start_env(&mut self, extra: &[&str], env: &[(&str, &str)]) {
        // The running one stops first (gracefully): one process per data directory.
        if let Some(mut running) = self.server.take() {
            running.stop();
        }
        let config = self.config.to_string_lossy().into_owned();
        let mut flags = vec!["--gateway-config", &config];
        flags.extend_from_slice(extra);
        self.server = Some(Server::start_env(&self.dir, &flags, env));
    }

    pub fn addr(&self) -> SocketAddr {
        self.server
            .as_ref()
            .map(|s| s.addr)
            .unwrap_or_else(|| panic!("the server is not running"))
    }

    pub fn sim(&self, channel: &str) -> &Sim {
        if channel == "alipay" {
            &self.alipay
        } else {
            &self.wechat
        }
    }

    pub fn create(&self, no: &str, amount_fen: u64, channel: &str, extra: &str) -> Response {
        let body = format!(
            r#"{{"merchant_order_no":"{no}","amount":"{amount_fen}","currency":"CNY","subject":"order {no}","channel":"{channel}"{extra}}}"#
        );
        Request::post("/v1/orders", &body)
            .signed(&self.key)
            .send(self.addr())
    }

    /// Creates an order that must be taken (201) and handed to the channel (`paying`).
    pub fn order(&self, no: &str, amount_fen: u64, channel: &str) -> String {
        let r = self.create(no, amount_fen, channel, "");
        assert_eq!(r.status, 201, "{}", r.text());
        let v = r.json();
        assert_eq!(v["state"], "paying", "{v}");
        v["id"].as_str().unwrap_or_default().to_string()
    }

    pub fn get(&self, target: &str) -> Response {
        Request::get(target).signed(&self.key).send(self.addr())
    }

    pub fn status(&self, id: &str) -> Value {
        let r = self.get(&format!("/v1/orders/{id}"));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// Reads the order until `done` holds (the gateway acts by itself), bounded by WAIT_MAX.
    pub fn wait_for(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let v = self.status(id);
            if done(&v) {
                return v;
            }
            assert!(started.elapsed() < WAIT_MAX, "never {what}: {v}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn notifications(&self, id: &str) -> Value {
        let r = self.get(&format!("/v1/orders/{id}/notifications"));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// An account's posted totals, as an operator reads them.
    pub fn account(&self, id: u128) -> Value {
        let r = Request::get(&format!("/v1/accounts/{id}"))
            .header("authorization", &format!("Bearer {}", self.operator))
            .send(self.addr());
        assert_eq!(r.status, 200, "account {id}: {}", r.text());
        r.json()
    }

    /// How many times a transfer is in the journal (0 or 1: ids are unique).
    pub fn booked(&self, transfer_id: u128) -> i64 {
        if self.dir.postgres().is_some() {
            return self.dir.booked().get(&transfer_id).map_or(0, |&n| n as i64);
        }
        let conn = rusqlite::Connection::open_with_flags(
            self.dir.path().join("suanpan.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        conn.query_row(
            "SELECT count(*) FROM transfers WHERE id = ?1",
            [transfer_id.to_string()],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// The id of the payment transfer an order is booked under.
pub fn payment_transfer(order_id: &str) -> u128 {
    suanpan_gateway::booking::payment_transfer_id(order_id.parse().unwrap_or(0))
}

pub fn fen(v: &Value) -> u128 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(u128::MAX)
}

impl Shop {
    pub fn post_refund(&self, id: &str, refund_no: &str, amount_fen: u64) -> Response {
        Request::post(
            &format!("/v1/orders/{id}/refunds"),
            &format!(r#"{{"refund_no":"{refund_no}","amount":"{amount_fen}"}}"#),
        )
        .signed(&self.key)
        .send(self.addr())
    }
}
