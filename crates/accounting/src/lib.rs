//! The accounting system (会计系统): subjects, vouchers, the general ledger, and the day-end
//! batch that closes the books of each accounting date.
//!
//! The ledger keeps each customer's sub-ledger account in real time; accounting keeps the
//! general ledger by subject (科目), from vouchers (凭证). Vouchers are a deterministic
//! projection of the journal: made by rule from committed transfers in journal order, so
//! their numbers per date are gapless and the same after any crash. Accounting reads the
//! journal and never writes it; its own state lives in `accounting.db` beside it. The day-end
//! checks the general ledger against the sub-ledgers and, when they differ, posts the
//! difference to suspense instead of stopping, so the books close every day.

mod accounting;
mod chart;
mod daily_balance;
mod day_end;
mod error;
#[cfg(feature = "fault-injection")]
mod fault_injection;
mod general_ledger;
mod gl_check;
mod ledger_balance;
mod period;
mod projection;
mod report;
mod rule;
mod store;
mod suspense;
mod voucher;

pub use accounting::{
    Accounting, DateStatus, RuleChange, WriteOff, VOUCHERS_LIST_MAX, WRITE_OFF_ITEMS_MAX,
};
pub use chart::{Category, Chart, Side, Subject, DEFAULT_CHART, SUSPENSE_SUBJECT};
pub use daily_balance::DailyBalance;
pub use day_end::{
    DayEndEvent, DayEndOptions, DayEndReport, NoChannels, Reconciler, Step, StepOutcome,
};
pub use error::AccountingError;
pub use general_ledger::{GlRow, TrialBalance};
pub use gl_check::GlCheckRow;
pub use period::Period;
pub use projection::LedgerAccount;
pub use report::{report_dir, subject_balances_csv, SubjectBalance};
pub use rule::{PostingRule, RuleVersion, Rules, SubjectSource, DEFAULT_RULES};
pub use store::{accounting_db_path, ACCOUNTING_DB_FILE};
pub use suspense::{SuspenseItem, TRANSFER_ORIGIN};
pub use voucher::{Voucher, VoucherLine};
