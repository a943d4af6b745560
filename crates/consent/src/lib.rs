//! The consent room: a third party (a securities firm, an accounting app) reads a customer's
//! balances and transactions only while the customer allows it.
//!
//! A consent names the customer's accounts at one bank, the data (balances; transactions of
//! a date range), the last valid day (at most 180 days ahead), how many unattended reads of
//! each account a day (at most 4) and whether it is one-off or recurring. The third party
//! requests it; the customer authorises or rejects it through the bank (the bank's signed
//! call) or on the consent page with a one-time code the bank delivers; the customer revokes
//! it the same ways, the third party terminates it. Reads are checked against it, counted per
//! account and Shanghai day, and every read, refusal and change is in the access record,
//! durable before the answer.
//!
//! - `consent.rs`: the consent, its states and what a valid request is.
//! - `registry.rs`: every rule, in memory, pure (time is an input): property-tested.
//! - `code.rs`: one-time codes; `day.rs`: Asia/Shanghai days.
//! - `store.rs`, `record.rs`: `consent.db` and the append-only access record.
//! - `consents.rs`: the handle: plan on the registry, write durably, then apply and answer.
//!
//! Deliberately absent: HTTP (the `api` room), reading the ledger (the API reads balances
//! through the engine once a read is allowed), and any knowledge of who the customer is
//! beyond the bank's reference: identifying its customer is the bank's duty.

mod code;
mod consent;
mod consents;
mod day;
mod error;
mod record;
mod registry;
mod store;

pub use code::{CODE_ATTEMPTS_MAX, CODE_DIGITS, CODE_TTL_NS};
pub use consent::{
    Access, Consent, ConsentRequest, ConsentState, DataKind, Party, ACCOUNTS_MAX,
    READS_PER_DAY_MAX, VALIDITY_DAYS_MAX,
};
pub use consents::{Caller, Consents};
pub use day::Day;
pub use error::ConsentError;
pub use record::Record;
pub use registry::{Action, Actor, ReadPermit};
pub use store::{RecordFilter, SCHEMA};
