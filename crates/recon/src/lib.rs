//! The reconciliation room (`recon`): a channel's bill of a date, read as the channel
//! publishes it, matched three ways against the gateway's orders and refunds and the ledger's
//! bookings of them; every line and every order ends in one class.
//!
//! - [`bill`]: the bill as the matching reads it, whatever the channel's format; amounts in
//!   yuan with two decimals exactly, refused otherwise.
//! - [`wechat`] (backticked UTF-8 CSV, optionally gzipped) and [`alipay`] (a zip of GBK CSV,
//!   detail and summary): read and written.
//! - [`matching`]: the classes and the rules that give them, cut-off timing held pending.
//!
//! - [`room`]: the room around that core: fetching bills through the gateway's channel
//!   adapters, keeping differences in `recon.db` with their evidence, state and history,
//!   resolving them (automatically where they can be explained, by an operator otherwise),
//!   posting through the engine, and the day-end's first step.
//!
//! The core (`bill`, the readers, `matching`) is pure: bytes in, classes out, no clock and no
//! I/O, so a rerun of a date, or a bill republished, gives the same answer.

pub mod alipay;
pub mod bill;
mod gzip;
pub mod matching;
pub mod room;
pub mod time;
pub mod wechat;
pub mod workload;
mod zip;

pub use bill::{Bill, BillError, BillLine, BillStatus, BillSummary, Key};
pub use gzip::{compress as gzip, crc32};
pub use matching::{
    reconcile, Booking, Carried, CarriedSide, Class, ClassTotals, DateEnd, Item, Options, Outcome,
    PlatformItem,
};
