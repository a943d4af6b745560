//! Merchant notifications: one signed POST of a final state to the merchant's notify URL.
//!
//! The merchant verifies `X-Suanpan-Notify-Signature`: the hex HMAC-SHA256, under its notify
//! secret, of `ID \n TIMESTAMP \n BODY` (`X-Suanpan-Notify-Id`, `X-Suanpan-Notify-Timestamp`
//! in Unix milliseconds). Any 2xx answer acknowledges it; anything else, or no answer within
//! the timeout, is a failed attempt, retried on the schedule. The same notification may come
//! more than once (a crash between delivery and its record): merchants handle it idempotently
//! by its id.

use std::time::Duration;

use crate::channel::hmac_hex;
use crate::http::{HttpClient, Url};
use crate::store::{Attempt, Merchant, Notification};

pub const ID_HEADER: &str = "x-suanpan-notify-id";
pub const TIMESTAMP_HEADER: &str = "x-suanpan-notify-timestamp";
pub const SIGNATURE_HEADER: &str = "x-suanpan-notify-signature";

pub fn signature(secret: &str, id: u64, timestamp_ms: u64, body: &[u8]) -> String {
    let mut text = format!("{id}\n{timestamp_ms}\n").into_bytes();
    text.extend_from_slice(body);
    hmac_hex(secret.as_bytes(), &text)
}

/// One attempt; `true` when the merchant acknowledged it.
pub async fn deliver(
    http: &HttpClient,
    merchant: &Merchant,
    notification: &Notification,
    now_ms: u64,
    timeout: Duration,
) -> (Attempt, bool) {
    let attempt = |status: u16, outcome: String| Attempt {
        outbox_id: notification.id,
        at_ms: now_ms,
        status,
        outcome,
    };
    let url = match Url::parse(&merchant.notify_url) {
        Ok(url) => url,
        Err(e) => return (attempt(0, e), false),
    };
    let body = notification.body.as_bytes().to_vec();
    let sig = signature(&merchant.notify_secret, notification.id, now_ms, &body);
    let headers = [
        ("content-type", "application/json".to_string()),
        (ID_HEADER, notification.id.to_string()),
        (TIMESTAMP_HEADER, now_ms.to_string()),
        (SIGNATURE_HEADER, sig),
    ];
    match http.send("POST", &url, &headers, body, timeout).await {
        Ok(answer) if (200..300).contains(&answer.status) => {
            (attempt(answer.status, "acknowledged".into()), true)
        }
        Ok(answer) => (
            attempt(answer.status, format!("answered HTTP {}", answer.status)),
            false,
        ),
        Err(e) => (attempt(0, e), false),
    }
}
