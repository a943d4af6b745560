//! The accounting room's errors: one enum whose snake_case codes the CLI, the logs and (later)
//! the HTTP API all use, each with one readable sentence.

use std::fmt;

use suanpan_journal::JournalError;
use suanpan_ledger::AccountingDate;

#[derive(Debug)]
pub enum AccountingError {
    /// The accounting database failed underneath us.
    Database(String),
    /// This node does not hold the writer's lease (the books are on PostgreSQL and another
    /// node leads): it changes nothing in them.
    NotLeader(String),
    /// The journal could not be read, or disagrees with itself.
    Journal(String),
    /// accounting.db was written by a newer Suanpan.
    NewerSchema(i64),
    /// The journal holds no batch of this date.
    DateUnknown(AccountingDate),
    /// The date has not been cut over yet: business may still arrive under it.
    DateNotClosed(AccountingDate),
    /// The day-end of the date before has not completed.
    PreviousDayEndIncomplete(AccountingDate),
    /// The date's day-end has not yet completed the step that makes what was asked for.
    StepNotDone(AccountingDate, &'static str),
    /// The date's day-end has begun, so no voucher may be added to it any more.
    DateClosedForPosting(AccountingDate),
    SubjectUnknown(String),
    SubjectExists(String),
    SubjectHasPostings(String),
    /// A subject code that does not parse, or a parent that is missing.
    SubjectInvalid(String),
    StepUnknown(String),
    SuspenseItemUnknown(i64),
    SuspenseItemClosed(i64),
    /// The items of one write-off must share a currency.
    WriteOffMixedCurrencies,
    /// A write-off names no item, or more than `WRITE_OFF_ITEMS_MAX`.
    WriteOffItemCount(usize),
    /// The items do not net to zero and no counter subject was named.
    WriteOffNeedsCounterSubject(i128),
    /// A posting rule that cannot book: the text says why.
    RuleInvalid(String),
    /// The reconcile step stopped the day-end: (stable code, why).
    Reconcile(&'static str, String),
    /// An invariant of the books failed: a bug or a damaged file; nothing more is written.
    Invariant(String),
    Io(String),
}

impl AccountingError {
    /// The stable name of the error.
    pub fn code(&self) -> &'static str {
        match self {
            AccountingError::Database(_) => "database_error",
            AccountingError::NotLeader(_) => "not_leader",
            AccountingError::Journal(_) => "journal_error",
            AccountingError::NewerSchema(_) => "newer_schema",
            AccountingError::DateUnknown(_) => "date_unknown",
            AccountingError::DateNotClosed(_) => "date_not_closed",
            AccountingError::PreviousDayEndIncomplete(_) => "previous_day_end_incomplete",
            AccountingError::StepNotDone(..) => "step_not_done",
            AccountingError::DateClosedForPosting(_) => "date_closed_for_posting",
            AccountingError::SubjectUnknown(_) => "subject_unknown",
            AccountingError::SubjectExists(_) => "subject_exists",
            AccountingError::SubjectHasPostings(_) => "subject_has_postings",
            AccountingError::SubjectInvalid(_) => "subject_invalid",
            AccountingError::StepUnknown(_) => "step_unknown",
            AccountingError::SuspenseItemUnknown(_) => "suspense_item_unknown",
            AccountingError::SuspenseItemClosed(_) => "suspense_item_closed",
            AccountingError::WriteOffMixedCurrencies => "write_off_mixed_currencies",
            AccountingError::WriteOffItemCount(_) => "write_off_item_count",
            AccountingError::WriteOffNeedsCounterSubject(_) => "write_off_needs_counter_subject",
            AccountingError::RuleInvalid(_) => "rule_invalid",
            AccountingError::Invariant(_) => "invariant_failed",
            AccountingError::Reconcile(code, _) => code,
            AccountingError::Io(_) => "io_error",
        }
    }
}

impl fmt::Display for AccountingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountingError::Database(e) => write!(f, "accounting database error: {e}"),
            AccountingError::NotLeader(why) => write!(f, "not the leader: {why}"),
            AccountingError::Journal(e) => write!(f, "cannot read the journal: {e}"),
            AccountingError::NewerSchema(v) => write!(
                f,
                "accounting.db has schema version {v}, newer than this Suanpan's; upgrade Suanpan"
            ),
            AccountingError::DateUnknown(d) => write!(f, "the journal holds no business of {d}"),
            AccountingError::DateNotClosed(d) => write!(
                f,
                "{d} has not been cut over yet; its day-end can run once the books move to the next date"
            ),
            AccountingError::PreviousDayEndIncomplete(d) => {
                write!(f, "the day-end of {d} has not completed; run it first")
            }
            AccountingError::StepNotDone(d, step) => write!(
                f,
                "the day-end of {d} has not done its {step} step yet; run `suanpan day-end --date {d}`"
            ),
            AccountingError::DateClosedForPosting(d) => {
                write!(f, "the day-end of {d} has begun; vouchers go to a later date")
            }
            AccountingError::SubjectUnknown(c) => write!(f, "no subject {c:?} in the chart"),
            AccountingError::SubjectExists(c) => write!(f, "subject {c:?} already exists"),
            AccountingError::SubjectHasPostings(c) => {
                write!(f, "subject {c:?} has postings or accounts and cannot be deleted")
            }
            AccountingError::SubjectInvalid(why) => f.write_str(why),
            AccountingError::StepUnknown(s) => write!(f, "no day-end step {s:?}"),
            AccountingError::SuspenseItemUnknown(id) => write!(f, "no suspense item {id}"),
            AccountingError::SuspenseItemClosed(id) => {
                write!(f, "suspense item {id} is already written off")
            }
            AccountingError::WriteOffMixedCurrencies => {
                f.write_str("the suspense items of one write-off must share a currency")
            }
            AccountingError::WriteOffItemCount(n) => write!(
                f,
                "a write-off closes 1 to {} suspense items, not {n}",
                crate::WRITE_OFF_ITEMS_MAX
            ),
            AccountingError::WriteOffNeedsCounterSubject(net) => write!(
                f,
                "the items net to {net} minor units; name the subject that explains them (--against)"
            ),
            AccountingError::RuleInvalid(why) => write!(f, "the posting rule cannot book: {why}"),
            AccountingError::Invariant(e) => write!(f, "books invariant failed: {e}"),
            AccountingError::Reconcile(_, why) => write!(f, "reconciliation: {why}"),
            AccountingError::Io(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for AccountingError {}

impl From<rusqlite::Error> for AccountingError {
    fn from(e: rusqlite::Error) -> AccountingError {
        AccountingError::Database(e.to_string())
    }
}

impl From<suanpan_store::StoreError> for AccountingError {
    fn from(e: suanpan_store::StoreError) -> AccountingError {
        match e {
            suanpan_store::StoreError::Fenced(why) => AccountingError::NotLeader(why),
            other => AccountingError::Database(other.to_string()),
        }
    }
}

impl From<JournalError> for AccountingError {
    fn from(e: JournalError) -> AccountingError {
        AccountingError::Journal(e.to_string())
    }
}

impl From<rusqlite::types::FromSqlError> for AccountingError {
    fn from(e: rusqlite::types::FromSqlError) -> AccountingError {
        AccountingError::Invariant(format!("a stored value has the wrong type: {e}"))
    }
}
