//! The channel interface: what the gateway asks of a payment channel and what it accepts
//! from one. Every channel speaks its own protocol (amount format, states, signatures, the
//! answer its callbacks expect); an adapter turns it into these types, so the rest of the
//! gateway never knows which channel, or what kind of server, it talks to.

use std::future::Future;
use std::pin::Pin;

use crate::error::GatewayError;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A payment handed to the channel.
#[derive(Clone, Debug)]
pub struct PaymentRequest {
    /// Suanpan's order id: the merchant-side trade number the channel knows it by.
    pub order_id: u64,
    pub amount_minor: u64,
    pub currency: String,
    pub subject: String,
    /// Where the channel posts its asynchronous result.
    pub notify_url: String,
}

/// What the channel answers to a new payment: where to send the payer. Never a result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub pay_url: String,
}

/// A channel's state of a payment, mapped from the channel's own names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentStatus {
    /// The channel does not know the order (yet).
    Unknown,
    /// Not paid yet (WAIT_BUYER_PAY, NOTPAY, USERPAYING).
    Waiting,
    /// Paid (TRADE_SUCCESS, TRADE_FINISHED, SUCCESS, REFUND: a refunded payment was paid).
    Paid {
        amount_minor: u64,
        channel_trade_no: String,
    },
    /// Closed without payment (TRADE_CLOSED, CLOSED, REVOKED).
    Closed,
    /// The payment failed (PAYERROR).
    Failed,
}

impl PaymentStatus {
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            PaymentStatus::Paid { .. } | PaymentStatus::Closed | PaymentStatus::Failed
        )
    }
}

/// A verified callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callback {
    pub order_id: u64,
    /// The channel's own state name, for the event log.
    pub channel_state: String,
    pub status: PaymentStatus,
}

/// What closing a payment at the channel found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseOutcome {
    /// Closed (or never known): the payer can no longer pay.
    Closed,
    /// Too late: it was paid. Query it and book it.
    AlreadyPaid,
}

#[derive(Clone, Debug)]
pub struct RefundRequest {
    pub order_id: u64,
    pub refund_id: u64,
    pub amount_minor: u64,
    pub total_minor: u64,
    pub currency: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundOutcome {
    Succeeded,
    /// Accepted, result later: ask again.
    Processing,
    Refused(String),
}

/// A channel's bill (对账单) of a date, as its bill API serves it: the file's bytes in the
/// channel's own format (the reconciliation room reads them), or why there is none yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BillDownload {
    Published(Vec<u8>),
    /// The channel has not published the date's bill yet (its own words).
    NotPublished(String),
}

/// How the gateway answers a callback, in the form the channel expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackAnswer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

pub trait Channel: Send + Sync {
    /// `alipay` or `wechat`: the name in orders, URLs and configuration.
    fn name(&self) -> &'static str;

    fn create_payment<'a>(
        &'a self,
        payment: &'a PaymentRequest,
    ) -> BoxFuture<'a, Result<Created, GatewayError>>;

    fn query(&self, order_id: u64) -> BoxFuture<'_, Result<PaymentStatus, GatewayError>>;

    fn close(&self, order_id: u64) -> BoxFuture<'_, Result<CloseOutcome, GatewayError>>;

    fn refund<'a>(
        &'a self,
        refund: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<RefundOutcome, GatewayError>>;

    /// Checks a callback's signature and reads it. `headers` lowercase names.
    fn verify_callback(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Callback, GatewayError>;

    /// The answer the channel expects: acknowledged (it stops resending) or not.
    fn callback_answer(&self, acknowledged: bool, why: &str) -> CallbackAnswer;

    /// Downloads the bill of `date` (`yyyy-MM-dd`, the channel's day: Beijing time).
    fn download_bill<'a>(
        &'a self,
        date: &'a str,
    ) -> BoxFuture<'a, Result<BillDownload, GatewayError>>;
}

/// HMAC-SHA256 of `text` under `key`, in lowercase hex.
pub fn hmac_hex(key: &[u8], text: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(text);
    crate::hex(&mac.finalize().into_bytes())
}

/// Compares two signatures in time independent of where they differ.
pub fn same_signature(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
