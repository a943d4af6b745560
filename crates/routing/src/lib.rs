//! The routing room: which interbank channel a payout takes, and why.
//!
//! Given a [`Payout`] (amount in fen, currency, whether it must arrive in real time, the
//! instant in the books' zone, its [`Origin`] and the systems the beneficiary bank takes part
//! in), each channel's [`Health`], the [`Rules`] and the [`Calendar`], [`route`] returns a
//! [`Decision`]: the chosen [`Channel`] with its fee and booking date, the alternatives best
//! first, and for every channel a [`Verdict`] with a stable [`Reason`] code.
//! [`Decision::explain`] renders one English sentence per channel and a summary.
//!
//! # How a channel is chosen
//!
//! 1. **Eligibility.** A channel can take the payout only if none of these holds, checked
//!    in this order (the first that holds is the channel's reason; all are recorded):
//!    `zero_amount`, `bank_not_member`, `currency_unsupported`, `origin_not_served`
//!    (the rules let ATM/POS and QR payouts use UnionPay payout only, as the seed says they are
//!    switched by UnionPay), `channel_down`, `calendar_not_covered` / `closed_non_working_day`
//!    / `closed_outside_hours`, `not_real_time` (real time required, channel settles in net
//!    batches: BEPS), `over_limit` (the limit of the day the payment books to).
//! 2. **Ranking.** Eligible channels are ordered by fee for this amount, cheapest first; equal
//!    fees by the rules' preference order (default BEPS, IBPS, UnionPay payout, HVPS: netting
//!    first, gross settlement last); the first is `chosen`, the others are `higher_cost` or
//!    `lower_preference`.
//!
//! Fee first, because that is the seed's own reasoning ("over 50,000, must arrive at once:
//! IBPS can't, HVPS is expensive, so UnionPay payout"). With the default (placeholder) fees
//! BEPS < IBPS < UnionPay payout < HVPS this gives: small payouts go by BEPS, or by IBPS when
//! real time is needed; over 50,000.00 UnionPay payout takes them up to its limit at any hour;
//! above that, HVPS in its hours. An operator who wants HVPS for every large payment in its
//! hours says so with fees, or lowers UnionPay payout's limit.
//!
//! # What is deliberately absent
//!
//! No I/O, no clock, no threads, no allocation on the routing path: time, calendar, health and
//! rules come in as inputs, so the same inputs give the same decision on replay. The one
//! exception is [`mod@bench`], which times the router. Fees and UnionPay payout's limit are not in
//! any source (DOMAIN.md): the defaults are placeholders the operator must set. The built-in
//! calendar covers only the years whose official schedule is published (2025, 2026); for
//! other years HVPS is reported `calendar_not_covered` rather than guessed open.
//!
//! Also here: [`qr_cap_check`], the per-customer daily caps on QR payments.

mod amount;
pub mod bench;
mod calendar;
mod channel;
mod currency;
mod date;
mod explain;
pub mod holidays;
mod hours;
mod payout;
mod qr;
mod reason;
mod route;
mod rules;
mod time;

pub use amount::Amount;
pub use bench::{bench_decisions, BenchFigures};
pub use calendar::{
    Calendar, CalendarEntry, CalendarError, CalendarProblem, DayKind, CALENDAR_ENTRIES_MAX,
    CALENDAR_YEARS_MAX,
};
pub use channel::{Channel, ChannelSet, Health};
pub use currency::Currency;
pub use date::{CivilDate, Weekday};
pub use explain::Explanation;
pub use hours::{Closed, Hours};
pub use payout::{Origin, Payout};
pub use qr::{
    qr_cap_check, qr_daily_cap_fen, QrKind, QrRefusal, QrRefusalReason, RiskLevel,
    QR_DYNAMIC_LEVEL_B_DAILY_CAP_FEN, QR_DYNAMIC_LEVEL_C_DAILY_CAP_FEN, QR_STATIC_DAILY_CAP_FEN,
};
pub use reason::{Reason, ReasonSet};
pub use route::{route, Decision, NoRoute, Verdict};
pub use rules::{ChannelRules, Fee, Limit, Rules, RulesError, FIFTY_THOUSAND_YUAN_FEN};
pub use time::{LocalDateTime, TimeOfDay};
