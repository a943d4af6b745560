//! `suanpan channel-sim hvps|beps|ibps|unionpay --listen ADDR`: an interbank channel as a
//! real HTTP server, for the payouts' tests, the demo and `bench payouts`. Each behaves as
//! its system does:
//!
//! - HVPS and IBPS settle an instruction at once (PR05);
//! - BEPS accepts it at once (PR03) and settles it with its batch, every `--batch-ms`
//!   (PR04 from then on);
//! - UnionPay payout accepts it (PR03) and settles it `--settle-ms` later (PR05).
//!
//! `POST /instructions` takes an instruction (`suanpan_payouts::Instruction`); the same
//! instruction id again answers what the first did (and is counted, so a test sees a
//! resend); one older than `--ttl-ms` is refused (PR32): a lost instruction can never arrive
//! late. `GET /instructions/{id}` answers its status, 404 when the channel never received it.
//!
//! Scripted by tests through `POST /sim/script {"next": [B, ...]}`: each new instruction
//! takes the next behaviour: `normal`, `reject` (PR09), `timeout` (processed, answered only
//! after `--slow-ms`, past the client's deadline), `lost` (never received: the connection is
//! held past the deadline and nothing is recorded), `reject_later` (accepted, then PR09 on
//! the next query). `POST /sim/outage {"down": true}` answers 503 to every instruction until
//! lifted. `GET /sim/stats` counts what was received, settled and received more than once.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use suanpan_payouts::{Instruction, StatusAnswer};

const USAGE: &str = "usage: suanpan channel-sim hvps|beps|ibps|unionpay --listen ADDR [--ttl-ms N] [--batch-ms N] [--settle-ms N] [--slow-ms N]";
/// Instructions the simulator remembers at most.
const INSTRUCTIONS_MAX: usize = 4_000_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum System {
    Hvps,
    Beps,
    Ibps,
    UnionPay,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Behaviour {
    Normal,
    Reject,
    Timeout,
    Lost,
    RejectLater,
}

impl Behaviour {
    fn parse(text: &str) -> Option<Behaviour> {
        match text {
            "normal" => Some(Behaviour::Normal),
            "reject" => Some(Behaviour::Reject),
            "timeout" => Some(Behaviour::Timeout),
            "lost" => Some(Behaviour::Lost),
            "reject_later" => Some(Behaviour::RejectLater),
            _ => None,
        }
    }
}

struct Received {
    amount_fen: u64,
    /// The status once `settle_at_ms` has passed (and before it, `status`).
    status: &'static str,
    settle_at_ms: Option<u64>,
    final_status: &'static str,
    times_received: u32,
}

struct Settings {
    ttl_ms: u64,
    batch_ms: u64,
    settle_ms: u64,
    slow_ms: u64,
}

pub struct InterbankSim {
    system: System,
    settings: Settings,
    received: Mutex<HashMap<String, Received>>,
    script: Mutex<VecDeque<Behaviour>>,
    outage: Mutex<bool>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn json_reply(status: u16, value: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(value.to_string())));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn status_reply(id: &str, status: &str) -> Response<Full<Bytes>> {
    let answer = StatusAnswer {
        instruction_id: id.to_string(),
        status: status.to_string(),
        reason: None,
    };
    json_reply(200, serde_json::to_value(answer).unwrap_or(Value::Null))
}

impl InterbankSim {
    fn received(&self) -> std::sync::MutexGuard<'_, HashMap<String, Received>> {
        self.received.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What the system does with a new instruction that behaves normally.
    fn normal(&self, now: u64) -> (&'static str, Option<u64>, &'static str) {
        let s = &self.settings;
        match self.system {
            System::Hvps | System::Ibps => {
                (suanpan_payouts::SUCCEEDED, None, suanpan_payouts::SUCCEEDED)
            }
            System::Beps => {
                let batch = s.batch_ms.max(1);
                let next_batch = (now / batch + 1) * batch;
                (
                    suanpan_payouts::ACCEPTED,
                    Some(next_batch),
                    suanpan_payouts::SETTLED,
                )
            }
            System::UnionPay => (
                suanpan_payouts::ACCEPTED,
                Some(now + s.settle_ms),
                suanpan_payouts::SUCCEEDED,
            ),
        }
    }

    async fn instruction(&self, body: &[u8]) -> Response<Full<Bytes>> {
        let Ok(ins) = serde_json::from_slice::<Instruction>(body) else {
            return json_reply(400, json!({"error": "not an instruction"}));
        };
        if *self.outage.lock().unwrap_or_else(|p| p.into_inner()) {
            return json_reply(503, json!({"error": "out of service"}));
        }
        let now = now_ms();
        {
            let mut received = self.received();
            if let Some(r) = received.get_mut(&ins.instruction_id) {
                r.times_received += 1;
                let status = if r.settle_at_ms.is_some_and(|t| now >= t) {
                    r.final_status
                } else {
                    r.status
                };
                return status_reply(&ins.instruction_id, status);
            }
        }
        if now.saturating_sub(ins.created_at_ms) > self.settings.ttl_ms {
            return status_reply(&ins.instruction_id, suanpan_payouts::EXPIRED);
        }
        let behaviour = self
            .script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
            .unwrap_or(Behaviour::Normal);
        if behaviour == Behaviour::Lost {
            // Held past the client's deadline, then dropped: nothing was received.
            tokio::time::sleep(Duration::from_millis(self.settings.slow_ms)).await;
            return json_reply(500, json!({"error": "lost"}));
        }
        let (status, settle_at_ms, final_status) = match behaviour {
            Behaviour::Reject => (suanpan_payouts::REJECTED, None, suanpan_payouts::REJECTED),
            Behaviour::RejectLater => (
                suanpan_payouts::ACCEPTED,
                Some(now),
                suanpan_payouts::REJECTED,
            ),
            _ => self.normal(now),
        };
        {
            let mut received = self.received();
            if received.len() >= INSTRUCTIONS_MAX {
                return json_reply(503, json!({"error": "the simulator is full"}));
            }
            received.insert(
                ins.instruction_id.clone(),
                Received {
                    amount_fen: ins.amount_fen,
                    status,
                    settle_at_ms,
                    final_status,
                    times_received: 1,
                },
            );
        }
        if behaviour == Behaviour::Timeout {
            tokio::time::sleep(Duration::from_millis(self.settings.slow_ms)).await;
        }
        status_reply(&ins.instruction_id, status)
    }

    fn query(&self, id: &str) -> Response<Full<Bytes>> {
        let now = now_ms();
        match self.received().get(id) {
            None => json_reply(404, json!({"error": "no such instruction"})),
            Some(r) => {
                let status = if r.settle_at_ms.is_some_and(|t| now >= t) {
                    r.final_status
                } else {
                    r.status
                };
                status_reply(id, status)
            }
        }
    }

    fn stats(&self) -> Value {
        let now = now_ms();
        let received = self.received();
        let (mut settled, mut settled_fen, mut twice) = (0u64, 0u64, Vec::new());
        for (id, r) in received.iter() {
            let status = if r.settle_at_ms.is_some_and(|t| now >= t) {
                r.final_status
            } else {
                r.status
            };
            if status == suanpan_payouts::SUCCEEDED || status == suanpan_payouts::SETTLED {
                settled += 1;
                settled_fen += r.amount_fen;
            }
            if r.times_received > 1 {
                twice.push(id.clone());
            }
        }
        json!({
            "received": received.len(),
            "settled": settled,
            "settled_fen": settled_fen,
            "received_more_than_once": twice,
        })
    }

    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return json_reply(400, json!({"error": "unreadable body"})),
        };
        match (method.as_str(), path.as_str()) {
            ("POST", "/instructions") => self.instruction(&body).await,
            ("GET", p) if p.starts_with("/instructions/") => {
                self.query(&p["/instructions/".len()..])
            }
            ("POST", "/sim/script") => {
                let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                    return json_reply(400, json!({"error": "not JSON"}));
                };
                let mut next = Vec::new();
                for b in v["next"].as_array().into_iter().flatten() {
                    match b.as_str().and_then(Behaviour::parse) {
                        Some(b) => next.push(b),
                        None => {
                            return json_reply(
                                400,
                                json!({"error": format!("unknown behaviour {b}")}),
                            )
                        }
                    }
                }
                self.script
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(next);
                json_reply(200, json!({"ok": true}))
            }
            ("POST", "/sim/outage") => {
                let down = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["down"].as_bool())
                    .unwrap_or(true);
                *self.outage.lock().unwrap_or_else(|p| p.into_inner()) = down;
                json_reply(200, json!({"down": down}))
            }
            ("GET", "/sim/stats") => json_reply(200, self.stats()),
            _ => json_reply(404, json!({"error": "no such endpoint"})),
        }
    }
}

async fn serve(sim: Arc<InterbankSim>, listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let sim = sim.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let sim = sim.clone();
                async move { Ok::<_, Infallible>(sim.handle(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

pub fn main(system: System, args: &[String]) -> Result<(), String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    let mut listen = "127.0.0.1:0".to_string();
    let mut settings = Settings {
        ttl_ms: 30_000,
        batch_ms: 1_000,
        settle_ms: 500,
        slow_ms: 5_000,
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("listen") => listen = crate::parse_value(&mut parser, "--listen")?,
            Long("ttl-ms") => settings.ttl_ms = crate::parse_value(&mut parser, "--ttl-ms")?,
            Long("batch-ms") => settings.batch_ms = crate::parse_value(&mut parser, "--batch-ms")?,
            Long("settle-ms") => {
                settings.settle_ms = crate::parse_value(&mut parser, "--settle-ms")?
            }
            Long("slow-ms") => settings.slow_ms = crate::parse_value(&mut parser, "--slow-ms")?,
            Long("help") | Short('h') => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("{}; {USAGE}", other.unexpected())),
        }
    }
    let sim = Arc::new(InterbankSim {
        system,
        settings,
        received: Mutex::new(HashMap::new()),
        script: Mutex::new(VecDeque::new()),
        outage: Mutex::new(false),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("suanpan-interbank-sim")
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        println!("{{\"listening\":\"{address}\"}}");
        serve(sim, listener).await;
        Ok(())
    })
}
