//! Suanpan's payment gateway (room `gateway`): payment orders whose results arrive later.
//!
//! A merchant's order goes to a channel ([`channel::Channel`]: Alipay-style and WeChat-style
//! adapters over HTTP), which answers only where to send the payer. The result arrives later,
//! by the channel's signed callback or by asking the channel on a schedule; a success is
//! booked in the ledger through the engine under ids derived from the order, so it is booked
//! once however often it is learnt. Every state change is an ordered event in `gateway.db`,
//! committed with the merchant notification it owes, which an outbox delivers with retries.
//!
//! Deliberately absent: any HTTP server (the `api` room serves the endpoints), any knowledge
//! of which server a channel URL points to, and any write to the journal but through the
//! engine.

pub mod alipay;
pub mod booking;
pub mod channel;
pub mod clock;
pub mod config;
pub mod error;
pub mod form;
mod gateway;
pub use suanpan_outbound as http;
pub mod metrics;
pub mod money;
pub mod notify;
pub mod order;
pub mod store;
pub mod wechat;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ChannelConfig, GatewayConfig};
pub use error::GatewayError;
pub use gateway::{order_notification, Gateway};
pub use order::{NewOrder, Order, OrderState, Refund, RefundState};

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}
