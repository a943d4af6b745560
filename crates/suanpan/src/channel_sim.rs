//! `suanpan channel-sim alipay|wechat --listen ADDR --key KEY`: a payment channel that behaves
//! like the real ones, as a real HTTP server, for the tests, the demo and the gateway
//! benchmark. It speaks the channel's protocol (see `suanpan_gateway::alipay` and `wechat`),
//! checks the signature of every request, answers a new payment with nowhere but a pay URL
//! (never a status), answers queries with the channel's own states, and sends its results as
//! signed callbacks: late, twice, out of order or never, as it is told.
//!
//! Told how: `--auto-pay-ms N` pays every payment N ms after it is created and sends
//! `--auto-callbacks` callbacks (default 1); without it, payments wait for the control
//! endpoints, which tests call to script each case:
//!
//! - `POST /sim/trades/{no}/pay` `{"callbacks": [STATE, ...], "force": false}`: the payer
//!   pays (with `force`, even after the trade was closed: a payment that raced the close),
//!   then each listed callback is sent in order; answers with what the merchant answered.
//! - `POST /sim/trades/{no}/fail` `{"callbacks": [...]}`: the payment fails or is closed.
//! - `POST /sim/trades/{no}/callback` `{"state": S, "amount_fen": N}`: one callback as
//!   given, the trade unchanged (stale, out-of-order or wrong-amount messages).
//! - `POST /sim/behaviour` `{"create_delay_ms", "query_delay_ms", "close_delay_ms"}`: answer
//!   that late (beyond the client's timeout: a channel that times out); `"refund_processing":
//!   N`: WeChat answers the next N refund requests "processing" (an asynchronous refund).
//! - `GET /sim/trades/{no}`: the trade as the channel sees it.
//!
//! It also publishes each date's bill through the channel's bill API, with differences
//! scripted in (`bills.rs`): `POST /sim/bills/{date}`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use suanpan_gateway::channel::hmac_hex;
use suanpan_gateway::http::{HttpClient, Url};
use suanpan_gateway::money::{fen_to_yuan, yuan_to_fen};
use suanpan_gateway::{alipay, form, wechat};

const USAGE: &str = "usage: suanpan channel-sim alipay|wechat --listen ADDR --key KEY [--auto-pay-ms N] [--auto-callbacks N] [--fee-bp N] [--tls-cert PEM --tls-key PEM]
       suanpan channel-sim hvps|beps|ibps|unionpay --listen ADDR [...]   (an interbank channel; --help there)";
/// A callback the merchant does not answer within this has failed.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Trades the simulator remembers at most.
const TRADES_MAX: usize = 4_000_000;
/// The fee a simulated channel charges unless told (0.60 %, as the gateway books by default).
const DEFAULT_FEE_BP: u32 = 60;

mod bills;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Alipay,
    Wechat,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TradeState {
    Waiting,
    Paid,
    Closed,
    Failed,
}

#[derive(Clone, Debug)]
struct Trade {
    amount_fen: u64,
    notify_url: String,
    state: TradeState,
    trade_no: String,
    /// When the payer paid, Unix ms (0: not paid).
    paid_ms: u64,
    /// By the merchant's refund number: the amount and when it was refunded, Unix ms.
    refunds: HashMap<String, (u64, u64)>,
}

#[derive(Default, Clone, Copy)]
struct Slow {
    create_ms: u64,
    query_ms: u64,
    close_ms: u64,
    /// Refund requests answered "processing" before one succeeds (WeChat's asynchronous
    /// refunds), counted over all refunds.
    refund_processing: u64,
}

pub struct Sim {
    kind: Kind,
    key: Vec<u8>,
    auto: Option<(u64, u32)>,
    trades: Mutex<HashMap<String, Trade>>,
    slow: Mutex<Slow>,
    http: HttpClient,
    next_trade: AtomicU64,
    /// The channel's fee on a payment, basis points (returned in proportion on a refund).
    fee_bp: u32,
    /// Each date's bill script (`bills.rs`), by `yyyy-MM-dd`.
    bill_scripts: Mutex<HashMap<String, bills::Script>>,
    /// Refund requests received (each ask, the repeats too).
    refund_calls: AtomicU64,
    /// `https` when it serves TLS: the scheme of the URLs it hands out.
    scheme: &'static str,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn reply(status: u16, content_type: &'static str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn json_reply(status: u16, value: Value) -> Response<Full<Bytes>> {
    reply(status, "application/json", value.to_string().into_bytes())
}

impl Sim {
    pub fn new(kind: Kind, key: &str, auto: Option<(u64, u32)>) -> Sim {
        Sim {
            kind,
            key: key.as_bytes().to_vec(),
            auto,
            trades: Mutex::new(HashMap::new()),
            slow: Mutex::new(Slow::default()),
            http: HttpClient::default(),
            next_trade: AtomicU64::new(1),
            fee_bp: DEFAULT_FEE_BP,
            bill_scripts: Mutex::new(HashMap::new()),
            refund_calls: AtomicU64::new(0),
            scheme: "http",
        }
    }

    /// The fee this channel charges, basis points of each payment.
    pub fn with_fee_bp(mut self, fee_bp: u32) -> Sim {
        self.fee_bp = fee_bp;
        self
    }

    /// It serves TLS: the download URLs it hands out are `https://`.
    pub fn with_tls(mut self) -> Sim {
        self.scheme = "https";
        self
    }

    fn trades(&self) -> std::sync::MutexGuard<'_, HashMap<String, Trade>> {
        self.trades.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn slow(&self) -> Slow {
        *self.slow.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The channel's own name for a trade's state.
    fn state_name(&self, trade: &Trade) -> &'static str {
        match (self.kind, trade.state) {
            (Kind::Alipay, TradeState::Waiting) => "WAIT_BUYER_PAY",
            (Kind::Alipay, TradeState::Paid) => "TRADE_SUCCESS",
            (Kind::Alipay, _) => "TRADE_CLOSED",
            (Kind::Wechat, TradeState::Waiting) => "NOTPAY",
            (Kind::Wechat, TradeState::Paid) if !trade.refunds.is_empty() => "REFUND",
            (Kind::Wechat, TradeState::Paid) => "SUCCESS",
            (Kind::Wechat, TradeState::Closed) => "CLOSED",
            (Kind::Wechat, TradeState::Failed) => "PAYERROR",
        }
    }

    /// A new payment: remembered as waiting; the answer carries no status.
    fn create(
        self: &Arc<Self>,
        no: &str,
        amount_fen: u64,
        notify_url: &str,
    ) -> Result<(), &'static str> {
        let mut trades = self.trades();
        if let Some(t) = trades.get(no) {
            return if t.amount_fen == amount_fen {
                Ok(())
            } else {
                Err("CONTEXT_INCONSISTENT")
            };
        }
        if trades.len() >= TRADES_MAX {
            return Err("SYSTEM_ERROR");
        }
        let n = self.next_trade.fetch_add(1, Ordering::Relaxed);
        trades.insert(
            no.to_string(),
            Trade {
                amount_fen,
                notify_url: notify_url.to_string(),
                state: TradeState::Waiting,
                trade_no: format!("2026{n:016}"),
                paid_ms: 0,
                refunds: HashMap::new(),
            },
        );
        drop(trades);
        if let Some((delay_ms, callbacks)) = self.auto {
            let (sim, no) = (self.clone(), no.to_string());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                if sim.set_state(&no, TradeState::Paid, false).is_ok() {
                    for _ in 0..callbacks {
                        sim.deliver_with_retries(&no).await;
                    }
                }
            });
        }
        Ok(())
    }

    fn set_state(&self, no: &str, to: TradeState, force: bool) -> Result<Trade, &'static str> {
        let mut trades = self.trades();
        let trade = trades.get_mut(no).ok_or("TRADE_NOT_EXIST")?;
        match (trade.state, to) {
            (TradeState::Waiting, _) => trade.state = to,
            (TradeState::Closed | TradeState::Failed, TradeState::Paid) if force => {
                trade.state = to
            }
            (from, to) if from == to => {}
            _ => return Err("TRADE_STATUS_ERROR"),
        }
        if trade.state == TradeState::Paid && trade.paid_ms == 0 {
            trade.paid_ms = now_ms();
        }
        Ok(trade.clone())
    }

    /// An automatic result is resent a few times until acknowledged, as channels do.
    async fn deliver_with_retries(&self, no: &str) {
        for attempt in 0..3 {
            let Some(trade) = self.trades().get(no).cloned() else {
                return;
            };
            let state = self.state_name(&trade);
            if let Ok((status, body)) = self.send_callback(no, &trade, state, None).await {
                if self.acknowledged(status, &body) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
    }

    fn acknowledged(&self, status: u16, body: &str) -> bool {
        match self.kind {
            Kind::Alipay => status == 200 && body.trim() == "success",
            Kind::Wechat => (200..300).contains(&status),
        }
    }

    /// Sends one signed callback saying `state` for the trade.
    async fn send_callback(
        &self,
        no: &str,
        trade: &Trade,
        state: &str,
        amount_fen: Option<u64>,
    ) -> Result<(u16, String), String> {
        let url = Url::parse(&trade.notify_url)?;
        let amount = amount_fen.unwrap_or(trade.amount_fen);
        let (headers, body) = match self.kind {
            Kind::Alipay => {
                let mut pairs: Vec<(String, String)> = vec![
                    ("notify_time".into(), now_s().to_string()),
                    (
                        "notify_id".into(),
                        format!("n{}", self.next_trade.fetch_add(1, Ordering::Relaxed)),
                    ),
                    ("out_trade_no".into(), no.to_string()),
                    ("trade_no".into(), trade.trade_no.clone()),
                    ("trade_status".into(), state.to_string()),
                    ("total_amount".into(), fen_to_yuan(amount)),
                ];
                let sign = hmac_hex(&self.key, alipay::signing_string(&pairs).as_bytes());
                pairs.push(("sign_type".into(), "HMAC-SHA256".into()));
                pairs.push(("sign".into(), sign));
                let borrowed: Vec<(&str, String)> =
                    pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                (
                    vec![(
                        "content-type",
                        "application/x-www-form-urlencoded".to_string(),
                    )],
                    form::encode(&borrowed).into_bytes(),
                )
            }
            Kind::Wechat => {
                let event = if state == "SUCCESS" {
                    "TRANSACTION.SUCCESS"
                } else {
                    "TRANSACTION.CLOSED"
                };
                let body = json!({
                    "id": format!("evt-{}", self.next_trade.fetch_add(1, Ordering::Relaxed)),
                    "event_type": event,
                    "resource": {
                        "out_trade_no": no,
                        "transaction_id": trade.trade_no,
                        "trade_state": state,
                        "amount": {"total": amount, "currency": "CNY"},
                    },
                })
                .to_string()
                .into_bytes();
                let (ts, nonce) = (
                    now_s().to_string(),
                    format!("sim{}", self.next_trade.fetch_add(1, Ordering::Relaxed)),
                );
                let signature = hmac_hex(
                    &self.key,
                    &wechat::callback_signing_string(&ts, &nonce, &body),
                );
                (
                    vec![
                        ("content-type", "application/json".to_string()),
                        ("wechatpay-timestamp", ts),
                        ("wechatpay-nonce", nonce),
                        ("wechatpay-signature", signature),
                    ],
                    body,
                )
            }
        };
        let answer = self
            .http
            .send("POST", &url, &headers, body, CALLBACK_TIMEOUT)
            .await?;
        Ok((
            answer.status,
            String::from_utf8_lossy(&answer.body).into_owned(),
        ))
    }

    fn refund(&self, no: &str, refund_no: &str, amount_fen: u64) -> Result<(), &'static str> {
        let mut trades = self.trades();
        let trade = trades.get_mut(no).ok_or("TRADE_NOT_EXIST")?;
        if trade.state != TradeState::Paid {
            return Err("TRADE_STATUS_ERROR");
        }
        if let Some(&(done, _)) = trade.refunds.get(refund_no) {
            return if done == amount_fen {
                Ok(())
            } else {
                Err("REFUND_AMOUNT_MISMATCH")
            };
        }
        let refunded: u64 = trade.refunds.values().map(|r| r.0).sum();
        if refunded + amount_fen > trade.amount_fen {
            return Err("REFUND_AMT_NOT_EQUAL_TOTAL");
        }
        trade
            .refunds
            .insert(refund_no.to_string(), (amount_fen, now_ms()));
        Ok(())
    }
}

async fn handle(sim: Arc<Sim>, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return json_reply(400, json!({"code": "PARAM_ERROR"}));
    };
    let path = parts.uri.path().to_string();
    if let Some(rest) = path.strip_prefix("/sim/") {
        return control(&sim, parts.method.as_str(), rest, &body).await;
    }
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    match sim.kind {
        Kind::Wechat if path.starts_with("/v3/bill") => {
            let path_and_query = parts
                .uri
                .path_and_query()
                .map_or(path.clone(), |p| p.to_string());
            wechat_bill(
                &sim,
                parts.method.as_str(),
                &path,
                &path_and_query,
                &query,
                &host,
                &parts.headers,
                &body,
            )
        }
        Kind::Alipay if path.starts_with("/alipay/bill/") => {
            // The download URL is its own credential, as Alipay's are.
            let date = path
                .trim_start_matches("/alipay/bill/")
                .trim_end_matches(".zip");
            match bills::file(&sim, date, false) {
                Ok(zip) => reply(200, "application/zip", zip),
                Err(e) => json_reply(404, json!({"error": e})),
            }
        }
        Kind::Alipay => alipay_api(&sim, &path, &host, &body).await,
        Kind::Wechat => wechat_api(&sim, parts.method.as_str(), &path, &parts.headers, &body).await,
    }
}

fn alipay_answer(code: &str, sub_code: &str, extra: Value) -> Response<Full<Bytes>> {
    let mut v =
        json!({"code": code, "msg": if code == "10000" { "Success" } else { "Business Failed" }});
    if !sub_code.is_empty() {
        v["sub_code"] = json!(format!("ACQ.{sub_code}"));
    }
    if let (Some(map), Value::Object(more)) = (v.as_object_mut(), extra) {
        map.extend(more);
    }
    json_reply(200, v)
}

async fn alipay_api(sim: &Arc<Sim>, path: &str, host: &str, body: &[u8]) -> Response<Full<Bytes>> {
    if path != "/gateway.do" {
        return json_reply(
            404,
            json!({"code": "40004", "sub_code": "ACQ.INVALID_METHOD"}),
        );
    }
    let Some(pairs) = form::decode(body) else {
        return alipay_answer("40000", "INVALID_PARAMETER", json!({}));
    };
    let sign = form::get(&pairs, "sign").unwrap_or("");
    if hmac_hex(&sim.key, alipay::signing_string(&pairs).as_bytes()) != sign {
        return alipay_answer("40002", "INVALID_SIGNATURE", json!({}));
    }
    let get = |k: &str| form::get(&pairs, k).unwrap_or("").to_string();
    let no = get("out_trade_no");
    let slow = sim.slow();
    match get("method").as_str() {
        "alipay.trade.precreate" => {
            tokio::time::sleep(Duration::from_millis(slow.create_ms)).await;
            let Some(fen) = yuan_to_fen(&get("total_amount")) else {
                return alipay_answer("40004", "INVALID_PARAMETER", json!({}));
            };
            match sim.create(&no, fen, &get("notify_url")) {
                Ok(()) => alipay_answer(
                    "10000",
                    "",
                    json!({"out_trade_no": no, "qr_code": format!("https://qr.alipay.sim/{no}")}),
                ),
                Err(sub) => alipay_answer("40004", sub, json!({})),
            }
        }
        "alipay.trade.query" => {
            tokio::time::sleep(Duration::from_millis(slow.query_ms)).await;
            let trade = sim.trades().get(&no).cloned();
            match trade {
                None => alipay_answer("40004", "TRADE_NOT_EXIST", json!({})),
                Some(t) => alipay_answer(
                    "10000",
                    "",
                    json!({
                        "out_trade_no": no,
                        "trade_no": t.trade_no,
                        "trade_status": sim.state_name(&t),
                        "total_amount": fen_to_yuan(t.amount_fen),
                    }),
                ),
            }
        }
        "alipay.trade.close" => {
            tokio::time::sleep(Duration::from_millis(slow.close_ms)).await;
            match sim.set_state(&no, TradeState::Closed, false) {
                Ok(_) => alipay_answer("10000", "", json!({"out_trade_no": no})),
                Err(sub) => alipay_answer("40004", sub, json!({})),
            }
        }
        "alipay.trade.refund" => {
            let Some(fen) = yuan_to_fen(&get("refund_amount")) else {
                return alipay_answer("40004", "INVALID_PARAMETER", json!({}));
            };
            match sim.refund(&no, &get("out_request_no"), fen) {
                Ok(()) => alipay_answer("10000", "", json!({"fund_change": "Y"})),
                Err(sub) => alipay_answer("40004", sub, json!({})),
            }
        }
        "alipay.data.dataservice.bill.downloadurl.query" => {
            let date = get("bill_date");
            if get("bill_type") != "trade" {
                return alipay_answer("40004", "INVALID_BILL_TYPE", json!({}));
            }
            match suanpan_recon::time::beijing_date_end(&date) {
                Some(_) if bills::withheld(sim, &date) => json_reply(
                    200,
                    json!({"code": "40004", "msg": "Business Failed",
                           "sub_code": "isp.bill_not_exist", "sub_msg": "账单不存在"}),
                ),
                Some(_) => alipay_answer(
                    "10000",
                    "",
                    json!({"bill_download_url": format!("{}://{host}/alipay/bill/{date}.zip", sim.scheme)}),
                ),
                None => alipay_answer("40004", "INVALID_BILL_DATE", json!({})),
            }
        }
        _ => alipay_answer("40004", "INVALID_METHOD", json!({})),
    }
}

/// Checks a WeChat-style `Authorization` header over the request.
fn wechat_signed(
    sim: &Sim,
    method: &str,
    path: &str,
    headers: &hyper::HeaderMap,
    body: &[u8],
) -> bool {
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(params) = auth.strip_prefix("WECHATPAY2-HMAC-SHA256 ") else {
        return false;
    };
    let field = |name: &str| {
        params.split(',').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            (k == name).then(|| v.trim_matches('"').to_string())
        })
    };
    let (Some(nonce), Some(ts), Some(signature)) =
        (field("nonce_str"), field("timestamp"), field("signature"))
    else {
        return false;
    };
    hmac_hex(
        &sim.key,
        &wechat::request_signing_string(method, path, &ts, &nonce, body),
    ) == signature
}

/// WeChat's bill API: where to download a date's bill, and the download itself; both signed
/// over the path with its query, as WeChat signs every URL.
#[allow(clippy::too_many_arguments)]
fn wechat_bill(
    sim: &Sim,
    method: &str,
    path: &str,
    path_and_query: &str,
    query: &str,
    host: &str,
    headers: &hyper::HeaderMap,
    body: &[u8],
) -> Response<Full<Bytes>> {
    if !wechat_signed(sim, method, path_and_query, headers, body) {
        return json_reply(
            401,
            json!({"code": "SIGN_ERROR", "message": "signature does not verify"}),
        );
    }
    let param = |name: &str| {
        query.split('&').find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k == name).then(|| v.to_string())
        })
    };
    let date = param("bill_date").unwrap_or_default();
    let gzip = param("tar_type").as_deref() == Some("GZIP");
    if suanpan_recon::time::beijing_date_end(&date).is_none() {
        return json_reply(400, json!({"code": "PARAM_ERROR", "message": "bill_date"}));
    }
    if bills::withheld(sim, &date) {
        return json_reply(
            400,
            json!({"code": "NO_STATEMENT_EXIST", "message": "the bill of this date does not exist yet"}),
        );
    }
    match (method, path) {
        ("GET", "/v3/bill/tradebill") => {
            if param("bill_type").as_deref().unwrap_or("ALL") != "ALL" {
                return json_reply(400, json!({"code": "PARAM_ERROR", "message": "bill_type"}));
            }
            let tar = if gzip { "&tar_type=GZIP" } else { "" };
            json_reply(
                200,
                json!({"download_url": format!("{}://{host}/v3/billdownload/file?bill_date={date}{tar}", sim.scheme)}),
            )
        }
        ("GET", "/v3/billdownload/file") => match bills::file(sim, &date, gzip) {
            Ok(bytes) => reply(
                200,
                if gzip {
                    "application/gzip"
                } else {
                    "text/csv; charset=utf-8"
                },
                bytes,
            ),
            Err(e) => json_reply(400, json!({"code": "PARAM_ERROR", "message": e})),
        },
        _ => json_reply(404, json!({"code": "NOT_FOUND"})),
    }
}

async fn wechat_api(
    sim: &Arc<Sim>,
    method: &str,
    path: &str,
    headers: &hyper::HeaderMap,
    body: &[u8],
) -> Response<Full<Bytes>> {
    if !wechat_signed(sim, method, path, headers, body) {
        return json_reply(
            401,
            json!({"code": "SIGN_ERROR", "message": "signature does not verify"}),
        );
    }
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let slow = sim.slow();
    let by_no = path.strip_prefix("/v3/pay/transactions/out-trade-no/");
    match (method, path, by_no) {
        ("POST", "/v3/pay/transactions/native", _) => {
            tokio::time::sleep(Duration::from_millis(slow.create_ms)).await;
            let (Some(no), Some(total), Some(url)) = (
                v["out_trade_no"].as_str(),
                v["amount"]["total"].as_u64(),
                v["notify_url"].as_str(),
            ) else {
                return json_reply(400, json!({"code": "PARAM_ERROR"}));
            };
            match sim.create(no, total, url) {
                Ok(()) => json_reply(
                    200,
                    json!({"code_url": format!("weixin://wxpay/bizpayurl?pr={no}")}),
                ),
                Err(code) => json_reply(400, json!({"code": code})),
            }
        }
        ("POST", "/v3/refund/domestic/refunds", _) => {
            let (Some(no), Some(refund_no), Some(fen)) = (
                v["out_trade_no"].as_str(),
                v["out_refund_no"].as_str(),
                v["amount"]["refund"].as_u64(),
            ) else {
                return json_reply(400, json!({"code": "PARAM_ERROR"}));
            };
            let calls = sim.refund_calls.fetch_add(1, Ordering::Relaxed) + 1;
            if calls <= slow.refund_processing {
                return json_reply(
                    200,
                    json!({"status": "PROCESSING", "out_refund_no": refund_no}),
                );
            }
            match sim.refund(no, refund_no, fen) {
                Ok(()) => json_reply(
                    200,
                    json!({"status": "SUCCESS", "out_refund_no": refund_no}),
                ),
                Err(code) => json_reply(400, json!({"code": code})),
            }
        }
        ("POST", _, Some(rest)) if rest.ends_with("/close") => {
            tokio::time::sleep(Duration::from_millis(slow.close_ms)).await;
            let no = rest.trim_end_matches("/close");
            match sim.set_state(no, TradeState::Closed, false) {
                Ok(_) => reply(204, "application/json", Vec::new()),
                Err("TRADE_NOT_EXIST") => json_reply(404, json!({"code": "ORDER_NOT_EXIST"})),
                Err(_) => json_reply(400, json!({"code": "ORDERPAID"})),
            }
        }
        ("GET", _, Some(no)) => {
            tokio::time::sleep(Duration::from_millis(slow.query_ms)).await;
            let trade = sim.trades().get(no).cloned();
            match trade {
                None => json_reply(404, json!({"code": "ORDER_NOT_EXIST"})),
                Some(t) => json_reply(
                    200,
                    json!({
                        "out_trade_no": no,
                        "transaction_id": t.trade_no,
                        "trade_state": sim.state_name(&t),
                        "amount": {"total": t.amount_fen, "currency": "CNY"},
                    }),
                ),
            }
        }
        _ => json_reply(404, json!({"code": "NOT_FOUND"})),
    }
}

async fn control(sim: &Arc<Sim>, method: &str, rest: &str, body: &[u8]) -> Response<Full<Bytes>> {
    let v: Value = serde_json::from_slice(body).unwrap_or(json!({}));
    if let Some(date) = rest.strip_prefix("bills/") {
        if suanpan_recon::time::beijing_date_end(date).is_none() {
            return json_reply(
                400,
                json!({"error": format!("{date:?} is not a date yyyy-MM-dd")}),
            );
        }
        return match method {
            "POST" => match bills::Script::from_json(&v) {
                Ok(script) => {
                    sim.bill_scripts
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(date.to_string(), script);
                    json_reply(200, json!({"ok": true}))
                }
                Err(e) => json_reply(400, json!({"error": e})),
            },
            "GET" => match bills::file(sim, date, false) {
                Ok(bytes) => reply(
                    200,
                    if sim.kind == Kind::Alipay {
                        "application/zip"
                    } else {
                        "text/csv; charset=utf-8"
                    },
                    bytes,
                ),
                Err(e) => json_reply(400, json!({"error": e})),
            },
            _ => json_reply(405, json!({"error": "GET or POST"})),
        };
    }
    if rest == "behaviour" && method == "POST" {
        let ms = |k: &str| v[k].as_u64().unwrap_or(0);
        *sim.slow.lock().unwrap_or_else(|p| p.into_inner()) = Slow {
            create_ms: ms("create_delay_ms"),
            query_ms: ms("query_delay_ms"),
            close_ms: ms("close_delay_ms"),
            refund_processing: ms("refund_processing"),
        };
        return json_reply(200, json!({"ok": true}));
    }
    let Some(rest) = rest.strip_prefix("trades/") else {
        return json_reply(404, json!({"error": "no such control"}));
    };
    let (no, action) = rest.split_once('/').unwrap_or((rest, ""));
    let states = |trade: &Trade| -> Vec<String> {
        match v["callbacks"].as_array() {
            Some(list) => list
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            None => vec![sim.state_name(trade).to_string()],
        }
    };
    let result = match (method, action) {
        ("GET", "") => {
            let trade = sim.trades().get(no).cloned();
            return match trade {
                None => json_reply(404, json!({"error": "TRADE_NOT_EXIST"})),
                Some(t) => json_reply(
                    200,
                    json!({
                        "state": sim.state_name(&t),
                        "amount_fen": t.amount_fen,
                        "refunded_fen": t.refunds.values().map(|r| r.0).sum::<u64>(),
                        "refund_calls": sim.refund_calls.load(Ordering::Relaxed),
                    }),
                ),
            };
        }
        ("POST", "pay") => {
            sim.set_state(no, TradeState::Paid, v["force"].as_bool().unwrap_or(false))
        }
        ("POST", "fail") => sim.set_state(
            no,
            if sim.kind == Kind::Wechat {
                TradeState::Failed
            } else {
                TradeState::Closed
            },
            false,
        ),
        ("POST", "callback") => sim.trades().get(no).cloned().ok_or("TRADE_NOT_EXIST"),
        _ => return json_reply(404, json!({"error": "no such control"})),
    };
    let trade = match result {
        Ok(t) => t,
        Err(e) => return json_reply(409, json!({"error": e})),
    };
    let (list, amount) = if action == "callback" {
        (
            vec![v["state"].as_str().unwrap_or("").to_string()],
            v["amount_fen"].as_u64(),
        )
    } else {
        (states(&trade), None)
    };
    let mut answers = Vec::new();
    for state in list {
        match sim.send_callback(no, &trade, &state, amount).await {
            Ok((status, body)) => {
                answers.push(json!({"state": state, "status": status, "body": body}))
            }
            Err(e) => answers.push(json!({"state": state, "status": 0, "body": e})),
        }
    }
    json_reply(200, json!({"answers": answers}))
}

/// Serves until the process is killed, over TLS when given an acceptor.
pub async fn serve(
    sim: Arc<Sim>,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let sim = sim.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let sim = sim.clone();
                async move { Ok::<_, Infallible>(handle(sim, req).await) }
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            match tls {
                None => {
                    let _ = http
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                Some(acceptor) => {
                    // A client that does not trust the certificate ends it here.
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = http
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            }
        });
    }
}

pub fn main(args: &[String]) -> Result<(), String> {
    use lexopt::prelude::*;
    let kind = match args.first().map(String::as_str) {
        Some("alipay") => Kind::Alipay,
        Some("wechat") => Kind::Wechat,
        Some("hvps") => {
            return crate::interbank_sim::main(crate::interbank_sim::System::Hvps, &args[1..])
        }
        Some("beps") => {
            return crate::interbank_sim::main(crate::interbank_sim::System::Beps, &args[1..])
        }
        Some("ibps") => {
            return crate::interbank_sim::main(crate::interbank_sim::System::Ibps, &args[1..])
        }
        Some("unionpay") => {
            return crate::interbank_sim::main(crate::interbank_sim::System::UnionPay, &args[1..])
        }
        Some("--help" | "-h") => {
            println!("{USAGE}");
            return Ok(());
        }
        _ => return Err("which channel? alipay, wechat, hvps, beps, ibps or unionpay".into()),
    };
    let mut parser = lexopt::Parser::from_args(args[1..].iter().cloned());
    let (mut listen, mut key, mut auto_pay_ms, mut auto_callbacks) =
        ("127.0.0.1:0".to_string(), None, None, 1u32);
    let mut fee_bp = DEFAULT_FEE_BP;
    let (mut tls_cert, mut tls_key) = (None::<String>, None::<String>);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("tls-cert") => tls_cert = Some(crate::parse_value(&mut parser, "--tls-cert")?),
            Long("tls-key") => tls_key = Some(crate::parse_value(&mut parser, "--tls-key")?),
            Long("listen") => listen = crate::parse_value(&mut parser, "--listen")?,
            Long("key") => key = Some(crate::parse_value::<String>(&mut parser, "--key")?),
            Long("auto-pay-ms") => {
                auto_pay_ms = Some(crate::parse_value(&mut parser, "--auto-pay-ms")?)
            }
            Long("auto-callbacks") => {
                auto_callbacks = crate::parse_value(&mut parser, "--auto-callbacks")?
            }
            Long("fee-bp") => fee_bp = crate::parse_value(&mut parser, "--fee-bp")?,
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    let key = key.ok_or_else(|| format!("--key is required\n{USAGE}"))?;
    if fee_bp > 10_000 {
        return Err(format!(
            "--fee-bp {fee_bp} is more than the whole payment (10000)"
        ));
    }
    let tls = match (&tls_cert, &tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(suanpan_api::tls_acceptor(
            std::path::Path::new(cert),
            std::path::Path::new(key),
        )?),
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let mut sim =
        Sim::new(kind, &key, auto_pay_ms.map(|ms| (ms, auto_callbacks))).with_fee_bp(fee_bp);
    if tls.is_some() {
        sim = sim.with_tls();
    }
    let sim = Arc::new(sim);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("suanpan-channel-sim")
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        println!("{{\"listening\":\"{address}\"}}");
        serve(sim, listener, tls).await;
        Ok(())
    })
}
