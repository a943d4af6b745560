//! The payouts room: payouts (代付) from a customer's account to another bank, routed by the
//! routing room over HVPS, BEPS, IBPS or UnionPay payout, sent to the channel, followed to
//! settlement or rejection, re-routed after a definite refusal or an outage, and reversed if
//! returned; and QR payments under the customers' daily caps.
//!
//! - `payout.rs`: the payout, its states and the one table of legal moves; each attempt at a
//!   channel with its own instruction id.
//! - `payouts.rs`: the handle and the worker: record, hold, send, follow; the order of these
//!   is what keeps money from leaving twice (see there).
//! - `booking.rs`: the transfers (hold, settlement, release, return), ids derived from the
//!   payout; `channel.rs` and `status.rs`: the channels' protocol and status codes;
//!   `store.rs`: `payouts.db`; `config.rs`: `payouts.toml`; `qr.rs`: QR payments' caps;
//!   `routing_rules.rs`: the rules and calendar in force, each operator's change a version.
//!
//! Deliberately absent: HTTP serving (the `api` room) and the simulated channels (`suanpan
//! channel-sim hvps|beps|ibps|unionpay`, reached only by the URLs in the configuration).

mod booking;
mod channel;
mod config;
mod error;
mod payout;
mod payouts;
mod qr;
mod routing_rules;
mod status;
mod store;

pub use booking::{
    channel_account, hold_id, in_transit_account, return_id, settle_id, CODE_PAYOUT,
    CODE_PAYOUT_RETURN, CODE_PAYOUT_SETTLEMENT, CODE_QR_PAYMENT, PAYOUT_ID_MAX,
};
pub use channel::{Instruction, StatusAnswer};
pub use config::{ChannelConfig, ChannelRulesConfig, PayoutsConfig};
pub use error::PayoutError;
pub use payout::{
    instruction_id, Attempt, AttemptState, NewPayout, Payout, PayoutEvent, PayoutState,
};
pub use payouts::{created_events, now_ns, Payouts};
pub use qr::{kind_code, parse_kind, parse_risk_level, QrPayment};
pub use routing_rules::Routing;
pub use status::{ACCEPTED, EXPIRED, REJECTED, REVERSED, SETTLED, STOPPED, SUCCEEDED};
