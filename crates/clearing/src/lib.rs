//! Clearing (清分): the part of Suanpan that stands between participant institutions (banks and
//! payment institutions), records every interbank transaction between two of them, clears them
//! in batches into multilateral net positions, settles, and writes each participant its
//! statement file (对账单).
//!
//! Everything money-related is a ledger transfer, so the ledger's single writer enforces it:
//! - each participant has a position account that may never go debit-side, credited with its
//!   net debit cap when it is registered: a transaction beyond the cap is refused online with
//!   the ledger's own `exceeds_credits`, reported here as `net_debit_cap_exceeded`;
//! - closing a clearing batch is a marker transfer in the engine's sequence ([`close_batch`]):
//!   every transaction committed before it belongs to that batch, every later one to the next;
//! - a refund takes a numbered slot of its original, and the slot is a transfer id, so two
//!   concurrent refunds can never both spend what is left of the original.
//!
//! Clearing a closed batch reads it back from the journal's binary batches (the journal is the
//! truth, and the hash chain is checked on the way), so a report can be produced again at any
//! time and always gives the same figures.

mod accounts;
mod batch;
mod camt053;
mod cuts;
mod decimal;
mod error;
mod file;
mod history;
mod issued;
mod kind;
mod netting;
mod participant;
mod schedule;
mod settlement;
mod statement;
pub mod store;
mod transaction;

pub use accounts::{
    cap_account_id, cut_transfer_id, position_account_id, settlement_account_id, CLEARING_CURRENCY,
    PARTICIPANTS_MAX,
};
pub use batch::{close_batch, last_closed_batch, BATCHES_MAX};
pub use camt053::{camt053_file_name, statement_camt053, CAMT053_NAMESPACE};
pub use cuts::CUTS_FILE;
pub use error::ClearingError;
pub use history::{
    clear_batch, clear_batch_at, read_batch, read_batch_at, BatchBounds, ClearedBatch,
    BATCH_TRANSACTIONS_MAX,
};
pub use issued::{
    issue_statements, issued_statement, parse_statement_file_name, statements_dir, STATEMENTS_DIR,
};
pub use kind::{FeeSchedule, TransactionKind};
pub use netting::{BilateralNet, Netting, Position, TransactionLine};
pub use participant::{
    Participant, ParticipantKind, ParticipantStatus, Registry, PARTICIPANTS_FILE,
};
pub use schedule::{run_close_schedule, CloseSchedule, CLOSES_PER_DAY_MAX};
pub use settlement::{settle_batch, settlement_instructions, SettlementInstruction};
pub use statement::{
    read_statement, read_statement_trailer, statement_file_name, write_statements,
    StatementTrailer, STATEMENT_FORMAT_VERSION,
};
pub use transaction::{
    pay, payment_transfer, refund, refund_id, Payment, Refund, REFUNDS_PER_ORIGINAL_MAX,
};
