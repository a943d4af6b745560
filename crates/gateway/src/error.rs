//! The gateway's errors, each with a stable snake_case code that the HTTP API answers under
//! (docs/api-errors.md) and the logs use.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayError {
    /// The merchant order number was used before with a different body.
    OrderConflict(String),
    OrderNotFound(u64),
    MerchantNotRegistered(String),
    ChannelUnknown(String),
    /// The channel does not take the order's currency.
    CurrencyNotSupported {
        channel: String,
        currency: String,
    },
    /// A field of the request that is not allowed: (field, message).
    InvalidValue(&'static str, String),
    RefundExceedsPaid {
        asked: u64,
        left: u64,
    },
    OrderNotRefundable(String),
    /// The refund number was used before with a different amount.
    RefundConflict(String),
    /// The channel did not answer, or answered something unexpected.
    ChannelUnavailable(String),
    CallbackSignatureInvalid,
    CallbackAmountMismatch {
        expected: u64,
        got: u64,
    },
    CallbackMalformed(String),
    /// The engine refused or could not take the booking.
    Booking(String),
    Overloaded,
    /// This node does not hold the writer's lease: the leader takes orders and callbacks.
    NotLeader(String),
    Store(String),
}

impl GatewayError {
    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::OrderConflict(_) => "order_conflict",
            GatewayError::OrderNotFound(_) => "order_not_found",
            GatewayError::MerchantNotRegistered(_) => "merchant_not_registered",
            GatewayError::ChannelUnknown(_) => "channel_unknown",
            GatewayError::CurrencyNotSupported { .. } => "currency_not_supported",
            GatewayError::InvalidValue(..) => "invalid_value",
            GatewayError::RefundExceedsPaid { .. } => "refund_exceeds_paid",
            GatewayError::OrderNotRefundable(_) => "order_not_refundable",
            GatewayError::RefundConflict(_) => "refund_conflict",
            GatewayError::ChannelUnavailable(_) => "channel_unavailable",
            GatewayError::CallbackSignatureInvalid => "callback_signature_invalid",
            GatewayError::CallbackAmountMismatch { .. } => "callback_amount_mismatch",
            GatewayError::CallbackMalformed(_) => "callback_malformed",
            GatewayError::Booking(_) => "booking_failed",
            GatewayError::Overloaded => "overloaded",
            GatewayError::NotLeader(_) => "not_leader",
            GatewayError::Store(_) => "internal",
        }
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatewayError::OrderConflict(no) => write!(
                f,
                "merchant order number {no:?} was used before with a different order"
            ),
            GatewayError::OrderNotFound(id) => write!(f, "no order {id}"),
            GatewayError::MerchantNotRegistered(p) => write!(
                f,
                "participant {p:?} is not registered as a merchant (suanpan gateway merchant)"
            ),
            GatewayError::CurrencyNotSupported { channel, currency } => {
                write!(f, "the {channel} channel does not take {currency}")
            }
            GatewayError::ChannelUnknown(c) => {
                write!(f, "channel {c:?} is not configured (alipay or wechat)")
            }
            GatewayError::InvalidValue(_, m) => f.write_str(m),
            GatewayError::RefundExceedsPaid { asked, left } => write!(
                f,
                "a refund of {asked} exceeds the {left} left of what was paid"
            ),
            GatewayError::OrderNotRefundable(m) => f.write_str(m),
            GatewayError::RefundConflict(no) => write!(
                f,
                "refund number {no:?} was used before with a different amount"
            ),
            GatewayError::ChannelUnavailable(m) => write!(f, "the channel failed: {m}"),
            GatewayError::CallbackSignatureInvalid => {
                f.write_str("the callback's signature does not verify")
            }
            GatewayError::CallbackAmountMismatch { expected, got } => write!(
                f,
                "the callback says {got} was paid, the order is for {expected}"
            ),
            GatewayError::CallbackMalformed(m) => write!(f, "malformed callback: {m}"),
            GatewayError::Booking(m) => write!(f, "booking failed: {m}"),
            GatewayError::Overloaded => f.write_str("the gateway's store is busy; retry shortly"),
            GatewayError::NotLeader(m) => write!(f, "not the leader: {m}"),
            GatewayError::Store(m) => write!(f, "gateway store: {m}"),
        }
    }
}

impl std::error::Error for GatewayError {}

impl From<suanpan_store::StoreError> for GatewayError {
    fn from(e: suanpan_store::StoreError) -> GatewayError {
        match e {
            suanpan_store::StoreError::Overloaded => GatewayError::Overloaded,
            suanpan_store::StoreError::Failed(why) => GatewayError::Store(why),
            suanpan_store::StoreError::Fenced(why) => GatewayError::NotLeader(why),
        }
    }
}
