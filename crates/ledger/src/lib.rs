//! The ledger: Suanpan's double-entry state machine.
//!
//! Everything that moves money is a [`Command`] applied here, in order, by exactly one caller
//! (the engine's writer thread). The ledger is pure and deterministic: no I/O, no clock, no
//! threads. Time and the accounting date arrive inside the commands (stamped by the engine), so
//! replaying the same commands from the journal rebuilds bit-for-bit the same state, which
//! [`Ledger::state_hash`] proves.
//!
//! The one rule of money, as this crate enforces it:
//! - every transfer has a debit account, a credit account and a positive integer amount in
//!   minor units, and both accounts share its currency;
//! - Σ debits_posted = Σ credits_posted and Σ debits_pending = Σ credits_pending over all
//!   accounts, after every command (asserted in release builds too, and property-tested);
//! - a command that would break a constraint gets a precise [`ResultCode`] and changes nothing.

mod account;
mod command;
mod currency;
mod date;
mod filter;
mod index;
mod ledger;
mod result;
mod snapshot;
mod tier;
mod transfer;
mod window;

pub use account::{Account, AccountFlags, AccountStatus, NewAccount, SubjectCode, Tier};
pub use command::{Command, Stamped};
pub use currency::Currency;
pub use date::AccountingDate;
pub use ledger::{Ledger, LedgerTotals, PastEntry, TABLE_ENTRIES_MAX, WINDOW_MAX};
pub use result::ResultCode;
pub use snapshot::{hash_from_hex, hex, FrozenState, SnapshotError};
pub use tier::{TierLimits, TierUsage};
pub use transfer::{
    PastTransfer, PendingStatus, Reference, Transfer, TransferFlags, TransferRecord,
};

/// Most commands one batch may carry: the engine's batch and the HTTP batch endpoint share it.
pub const BATCH_COMMANDS_MAX: usize = 8_190;
