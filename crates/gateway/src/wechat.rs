//! A WeChat Pay-style channel (API v3 shape): JSON requests to REST paths, each signed in an
//! `Authorization` header; amounts in integer fen; queries by merchant trade number with the
//! channel's own states; results later by a signed JSON POST to the notify URL, which the
//! merchant must answer within 5 s with HTTP 200.
//!
//! Signing: HMAC-SHA256 under the key shared with the channel, lowercase hex, over
//! `METHOD\nPATH\nTIMESTAMP\nNONCE\nBODY\n` for requests and `TIMESTAMP\nNONCE\nBODY\n` for
//! callbacks (headers `Wechatpay-Timestamp`, `-Nonce`, `-Signature`). (WeChat itself signs
//! with RSA and encrypts the resource; the shape of the protocol is what matters here.)

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::channel::*;
use crate::error::GatewayError;
use crate::http::{HttpClient, Url};

pub struct Wechat {
    base: Url,
    key: Vec<u8>,
    http: HttpClient,
    timeout: Duration,
}

pub fn request_signing_string(
    method: &str,
    path: &str,
    ts: &str,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut s = format!("{method}\n{path}\n{ts}\n{nonce}\n").into_bytes();
    s.extend_from_slice(body);
    s.push(b'\n');
    s
}

pub fn callback_signing_string(ts: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut s = format!("{ts}\n{nonce}\n").into_bytes();
    s.extend_from_slice(body);
    s.push(b'\n');
    s
}

fn nonce() -> String {
    let mut bytes = [0u8; 12];
    let _ = getrandom::fill(&mut bytes);
    crate::hex(&bytes)
}

impl Wechat {
    pub fn new(
        base_url: &str,
        key: &str,
        timeout: Duration,
        http: HttpClient,
    ) -> Result<Wechat, String> {
        Ok(Wechat {
            base: Url::parse(base_url)?,
            key: key.as_bytes().to_vec(),
            http,
            timeout,
        })
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), GatewayError> {
        let url = self.base.join(path);
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let auth = self.authorization(method, &url, &body);
        let answer = self
            .http
            .send(
                method,
                &url,
                &[
                    ("authorization", auth),
                    ("content-type", "application/json".to_string()),
                    ("accept", "application/json".to_string()),
                ],
                body,
                self.timeout,
            )
            .await
            .map_err(GatewayError::ChannelUnavailable)?;
        if answer.status >= 500 {
            return Err(GatewayError::ChannelUnavailable(format!(
                "wechat {path} answered HTTP {}",
                answer.status
            )));
        }
        let value = if answer.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&answer.body).map_err(|e| {
                GatewayError::ChannelUnavailable(format!("wechat {path} answered no JSON: {e}"))
            })?
        };
        Ok((answer.status, value))
    }
}

impl Wechat {
    /// The `Authorization` header of a request: signed over method, path (with its query),
    /// time, a fresh nonce and the body.
    fn authorization(&self, method: &str, url: &Url, body: &[u8]) -> String {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .to_string();
        let nonce = nonce();
        let signature = hmac_hex(
            &self.key,
            &request_signing_string(method, &url.path, &ts, &nonce, body),
        );
        format!(
            "WECHATPAY2-HMAC-SHA256 nonce_str=\"{nonce}\",timestamp=\"{ts}\",signature=\"{signature}\""
        )
    }

    /// A signed GET of a URL the channel gave (its download URL), answered in raw bytes.
    async fn get_raw(&self, url: &Url) -> Result<(u16, Vec<u8>), GatewayError> {
        let auth = self.authorization("GET", url, b"");
        let answer = self
            .http
            .send(
                "GET",
                url,
                &[("authorization", auth)],
                Vec::new(),
                self.timeout,
            )
            .await
            .map_err(GatewayError::ChannelUnavailable)?;
        Ok((answer.status, answer.body.to_vec()))
    }
}

fn unexpected(what: &str, status: u16, v: &Value) -> GatewayError {
    GatewayError::ChannelUnavailable(format!("wechat {what} answered {status} {v}"))
}

/// WeChat's trade states. REFUND means it was paid (and then refunded, in part or whole).
fn status_of(v: &Value) -> Option<PaymentStatus> {
    Some(match v["trade_state"].as_str()? {
        "NOTPAY" | "USERPAYING" => PaymentStatus::Waiting,
        "CLOSED" | "REVOKED" => PaymentStatus::Closed,
        "PAYERROR" => PaymentStatus::Failed,
        "SUCCESS" | "REFUND" => PaymentStatus::Paid {
            amount_minor: v["amount"]["total"].as_u64()?,
            channel_trade_no: v["transaction_id"].as_str()?.to_string(),
        },
        _ => return None,
    })
}

impl Channel for Wechat {
    fn name(&self) -> &'static str {
        "wechat"
    }

    fn create_payment<'a>(
        &'a self,
        p: &'a PaymentRequest,
    ) -> BoxFuture<'a, Result<Created, GatewayError>> {
        Box::pin(async move {
            let body = json!({
                "out_trade_no": p.order_id.to_string(),
                "description": p.subject,
                "notify_url": p.notify_url,
                "amount": {"total": p.amount_minor, "currency": p.currency},
            });
            let (status, v) = self
                .call("POST", "/v3/pay/transactions/native", Some(body))
                .await?;
            match (status, v["code_url"].as_str()) {
                (200, Some(url)) => Ok(Created {
                    pay_url: url.to_string(),
                }),
                _ => Err(unexpected("native", status, &v)),
            }
        })
    }

    fn query(&self, order_id: u64) -> BoxFuture<'_, Result<PaymentStatus, GatewayError>> {
        Box::pin(async move {
            let path = format!("/v3/pay/transactions/out-trade-no/{order_id}");
            let (status, v) = self.call("GET", &path, None).await?;
            match status {
                200 => status_of(&v).ok_or_else(|| unexpected("query", status, &v)),
                404 if v["code"] == "ORDER_NOT_EXIST" => Ok(PaymentStatus::Unknown),
                _ => Err(unexpected("query", status, &v)),
            }
        })
    }

    fn close(&self, order_id: u64) -> BoxFuture<'_, Result<CloseOutcome, GatewayError>> {
        Box::pin(async move {
            let path = format!("/v3/pay/transactions/out-trade-no/{order_id}/close");
            let (status, v) = self.call("POST", &path, Some(json!({}))).await?;
            match status {
                200 | 204 => Ok(CloseOutcome::Closed),
                404 if v["code"] == "ORDER_NOT_EXIST" => Ok(CloseOutcome::Closed),
                400 if v["code"] == "ORDERPAID" => Ok(CloseOutcome::AlreadyPaid),
                _ => Err(unexpected("close", status, &v)),
            }
        })
    }

    fn refund<'a>(
        &'a self,
        r: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<RefundOutcome, GatewayError>> {
        Box::pin(async move {
            let body = json!({
                "out_trade_no": r.order_id.to_string(),
                "out_refund_no": r.refund_id.to_string(),
                "amount": {"refund": r.amount_minor, "total": r.total_minor, "currency": r.currency},
            });
            let (status, v) = self
                .call("POST", "/v3/refund/domestic/refunds", Some(body))
                .await?;
            Ok(match (status, v["status"].as_str()) {
                (200, Some("SUCCESS")) => RefundOutcome::Succeeded,
                (200, Some("PROCESSING")) => RefundOutcome::Processing,
                (200, Some(other)) => RefundOutcome::Refused(other.to_string()),
                (400..=499, _) => {
                    RefundOutcome::Refused(v["code"].as_str().unwrap_or("refused").to_string())
                }
                _ => return Err(unexpected("refund", status, &v)),
            })
        })
    }

    fn verify_callback(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Callback, GatewayError> {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .ok_or(GatewayError::CallbackSignatureInvalid)
        };
        let (ts, nonce, signature) = (
            header("wechatpay-timestamp")?,
            header("wechatpay-nonce")?,
            header("wechatpay-signature")?,
        );
        let expected = hmac_hex(&self.key, &callback_signing_string(ts, nonce, body));
        if !same_signature(signature, &expected) {
            return Err(GatewayError::CallbackSignatureInvalid);
        }
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| GatewayError::CallbackMalformed(format!("not JSON: {e}")))?;
        let resource = &v["resource"];
        let order_id = resource["out_trade_no"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| GatewayError::CallbackMalformed("out_trade_no is not ours".into()))?;
        let state = resource["trade_state"].as_str().unwrap_or("").to_string();
        let status = status_of(resource)
            .ok_or_else(|| GatewayError::CallbackMalformed(format!("trade_state {state:?}")))?;
        Ok(Callback {
            order_id,
            channel_state: state,
            status,
        })
    }

    fn callback_answer(&self, acknowledged: bool, why: &str) -> CallbackAnswer {
        let (status, body) = if acknowledged {
            (200, json!({"code": "SUCCESS", "message": "OK"}))
        } else {
            (500, json!({"code": "FAIL", "message": why}))
        };
        CallbackAnswer {
            status,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
        }
    }

    /// Asks `/v3/bill/tradebill` where the date's bill is (gzipped, as WeChat offers it),
    /// then downloads it from there, both requests signed.
    fn download_bill<'a>(
        &'a self,
        date: &'a str,
    ) -> BoxFuture<'a, Result<BillDownload, GatewayError>> {
        Box::pin(async move {
            let path = format!("/v3/bill/tradebill?bill_date={date}&bill_type=ALL&tar_type=GZIP");
            let (status, v) = self.call("GET", &path, None).await?;
            match (status, v["download_url"].as_str()) {
                (200, Some(url)) => {
                    let url = Url::parse(url).map_err(GatewayError::ChannelUnavailable)?;
                    let (status, body) = self.get_raw(&url).await?;
                    if status != 200 {
                        return Err(GatewayError::ChannelUnavailable(format!(
                            "wechat bill download answered HTTP {status}"
                        )));
                    }
                    Ok(BillDownload::Published(body))
                }
                (400 | 404, _)
                    if matches!(
                        v["code"].as_str(),
                        Some("NO_STATEMENT_EXIST" | "STATEMENT_CREATING")
                    ) =>
                {
                    Ok(BillDownload::NotPublished(
                        v["message"].as_str().unwrap_or("not published").to_string(),
                    ))
                }
                _ => Err(unexpected("tradebill", status, &v)),
            }
        })
    }
}
