//! An Alipay-style channel (the new mobile-pay API): form-encoded requests to one gateway
//! URL with a `method`, signed; JSON answers with `code` 10000 for success; amounts in yuan
//! with two decimals; the result only later, by a signed form POST to the notify URL, which
//! the merchant acknowledges with the body `success`.
//!
//! Signing: the parameters except `sign` and `sign_type`, sorted by name, joined as
//! `k=v&k=v`, HMAC-SHA256 under the key shared with the channel, lowercase hex. (Alipay
//! itself signs with RSA2; the shape of the protocol is what matters here.)

use std::time::Duration;

use serde_json::Value;

use crate::channel::*;
use crate::error::GatewayError;
use crate::form;
use crate::http::{HttpClient, Url};
use crate::money::{fen_to_yuan, yuan_to_fen};

pub struct Alipay {
    gateway: Url,
    key: Vec<u8>,
    http: HttpClient,
    timeout: Duration,
}

/// The string Alipay-style signatures cover.
pub fn signing_string(pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "sign" && k != "sign_type")
        .collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

impl Alipay {
    pub fn new(
        base_url: &str,
        key: &str,
        timeout: Duration,
        http: HttpClient,
    ) -> Result<Alipay, String> {
        Ok(Alipay {
            gateway: Url::parse(base_url)?.join("/gateway.do"),
            key: key.as_bytes().to_vec(),
            http,
            timeout,
        })
    }

    async fn call(&self, method: &str, params: Vec<(&str, String)>) -> Result<Value, GatewayError> {
        let mut pairs: Vec<(String, String)> = params
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        pairs.push(("method".into(), method.into()));
        let sign = hmac_hex(&self.key, signing_string(&pairs).as_bytes());
        pairs.push(("sign_type".into(), "HMAC-SHA256".into()));
        pairs.push(("sign".into(), sign));
        let borrowed: Vec<(&str, String)> =
            pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let answer = self
            .http
            .send(
                "POST",
                &self.gateway,
                &[(
                    "content-type",
                    "application/x-www-form-urlencoded".to_string(),
                )],
                form::encode(&borrowed).into_bytes(),
                self.timeout,
            )
            .await
            .map_err(GatewayError::ChannelUnavailable)?;
        if answer.status != 200 {
            return Err(GatewayError::ChannelUnavailable(format!(
                "alipay {method} answered HTTP {}",
                answer.status
            )));
        }
        serde_json::from_slice(&answer.body).map_err(|e| {
            GatewayError::ChannelUnavailable(format!("alipay {method} answered no JSON: {e}"))
        })
    }
}

fn code(v: &Value) -> (&str, &str) {
    (
        v["code"].as_str().unwrap_or(""),
        v["sub_code"].as_str().unwrap_or(""),
    )
}

fn unexpected(method: &str, v: &Value) -> GatewayError {
    GatewayError::ChannelUnavailable(format!("alipay {method} answered {v}"))
}

/// Alipay's trade states; only the last two are paid.
fn status_of(state: &str, total: Option<&str>, trade_no: Option<&str>) -> Option<PaymentStatus> {
    Some(match state {
        "WAIT_BUYER_PAY" => PaymentStatus::Waiting,
        "TRADE_CLOSED" => PaymentStatus::Closed,
        "TRADE_SUCCESS" | "TRADE_FINISHED" => PaymentStatus::Paid {
            amount_minor: yuan_to_fen(total?)?,
            channel_trade_no: trade_no?.to_string(),
        },
        _ => return None,
    })
}

impl Channel for Alipay {
    fn name(&self) -> &'static str {
        "alipay"
    }

    fn create_payment<'a>(
        &'a self,
        p: &'a PaymentRequest,
    ) -> BoxFuture<'a, Result<Created, GatewayError>> {
        Box::pin(async move {
            if p.currency != "CNY" {
                return Err(GatewayError::InvalidValue(
                    "currency",
                    "the alipay channel takes CNY only".into(),
                ));
            }
            let v = self
                .call(
                    "alipay.trade.precreate",
                    vec![
                        ("out_trade_no", p.order_id.to_string()),
                        ("total_amount", fen_to_yuan(p.amount_minor)),
                        ("subject", p.subject.clone()),
                        ("notify_url", p.notify_url.clone()),
                    ],
                )
                .await?;
            match (code(&v), v["qr_code"].as_str()) {
                (("10000", _), Some(url)) => Ok(Created {
                    pay_url: url.to_string(),
                }),
                _ => Err(unexpected("precreate", &v)),
            }
        })
    }

    fn query(&self, order_id: u64) -> BoxFuture<'_, Result<PaymentStatus, GatewayError>> {
        Box::pin(async move {
            let v = self
                .call(
                    "alipay.trade.query",
                    vec![("out_trade_no", order_id.to_string())],
                )
                .await?;
            match code(&v) {
                ("10000", _) => status_of(
                    v["trade_status"].as_str().unwrap_or(""),
                    v["total_amount"].as_str(),
                    v["trade_no"].as_str(),
                )
                .ok_or_else(|| unexpected("query", &v)),
                ("40004", "ACQ.TRADE_NOT_EXIST") => Ok(PaymentStatus::Unknown),
                _ => Err(unexpected("query", &v)),
            }
        })
    }

    fn close(&self, order_id: u64) -> BoxFuture<'_, Result<CloseOutcome, GatewayError>> {
        Box::pin(async move {
            let v = self
                .call(
                    "alipay.trade.close",
                    vec![("out_trade_no", order_id.to_string())],
                )
                .await?;
            match code(&v) {
                ("10000", _) | ("40004", "ACQ.TRADE_NOT_EXIST") => Ok(CloseOutcome::Closed),
                ("40004", "ACQ.TRADE_STATUS_ERROR") => Ok(CloseOutcome::AlreadyPaid),
                _ => Err(unexpected("close", &v)),
            }
        })
    }

    fn refund<'a>(
        &'a self,
        r: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<RefundOutcome, GatewayError>> {
        Box::pin(async move {
            let v = self
                .call(
                    "alipay.trade.refund",
                    vec![
                        ("out_trade_no", r.order_id.to_string()),
                        ("out_request_no", r.refund_id.to_string()),
                        ("refund_amount", fen_to_yuan(r.amount_minor)),
                    ],
                )
                .await?;
            Ok(match code(&v) {
                ("10000", _) => RefundOutcome::Succeeded,
                ("40004", sub) => RefundOutcome::Refused(sub.to_string()),
                _ => return Err(unexpected("refund", &v)),
            })
        })
    }

    fn verify_callback(
        &self,
        _headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Callback, GatewayError> {
        let pairs = form::decode(body)
            .ok_or_else(|| GatewayError::CallbackMalformed("not a form body".into()))?;
        let sign = form::get(&pairs, "sign").ok_or(GatewayError::CallbackSignatureInvalid)?;
        let expected = hmac_hex(&self.key, signing_string(&pairs).as_bytes());
        if !same_signature(sign, &expected) {
            return Err(GatewayError::CallbackSignatureInvalid);
        }
        let field = |name: &str| {
            form::get(&pairs, name)
                .ok_or_else(|| GatewayError::CallbackMalformed(format!("no {name}")))
        };
        let order_id = field("out_trade_no")?
            .parse()
            .map_err(|_| GatewayError::CallbackMalformed("out_trade_no is not ours".into()))?;
        let state = field("trade_status")?;
        let status = status_of(
            state,
            form::get(&pairs, "total_amount"),
            form::get(&pairs, "trade_no"),
        )
        .ok_or_else(|| GatewayError::CallbackMalformed(format!("trade_status {state:?}")))?;
        Ok(Callback {
            order_id,
            channel_state: state.to_string(),
            status,
        })
    }

    fn callback_answer(&self, acknowledged: bool, _why: &str) -> CallbackAnswer {
        CallbackAnswer {
            status: 200,
            content_type: "text/plain",
            body: if acknowledged {
                b"success".to_vec()
            } else {
                b"failure".to_vec()
            },
        }
    }

    /// Asks `alipay.data.dataservice.bill.downloadurl.query` for the date's trade bill, then
    /// downloads the zip from the URL it answers (the URL is its own credential).
    fn download_bill<'a>(
        &'a self,
        date: &'a str,
    ) -> BoxFuture<'a, Result<BillDownload, GatewayError>> {
        Box::pin(async move {
            let method = "alipay.data.dataservice.bill.downloadurl.query";
            let v = self
                .call(
                    method,
                    vec![("bill_type", "trade".into()), ("bill_date", date.into())],
                )
                .await?;
            match (code(&v), v["bill_download_url"].as_str()) {
                (("10000", _), Some(url)) => {
                    let url = Url::parse(url).map_err(GatewayError::ChannelUnavailable)?;
                    let answer = self
                        .http
                        .send("GET", &url, &[], Vec::new(), self.timeout)
                        .await
                        .map_err(GatewayError::ChannelUnavailable)?;
                    if answer.status != 200 {
                        return Err(GatewayError::ChannelUnavailable(format!(
                            "alipay bill download answered HTTP {}",
                            answer.status
                        )));
                    }
                    Ok(BillDownload::Published(answer.body.to_vec()))
                }
                (("40004", "isp.bill_not_exist" | "ACQ.BILL_NOT_EXIST"), _) => {
                    Ok(BillDownload::NotPublished(
                        v["sub_msg"].as_str().unwrap_or("not published").to_string(),
                    ))
                }
                _ => Err(unexpected(method, &v)),
            }
        })
    }
}
