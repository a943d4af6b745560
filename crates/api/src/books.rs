//! The server's hold on the books beyond the ledger: the accounting room (day-end, reports,
//! suspense, chart and rules) and the clearing room (participants, batches, statements).
//! Their endpoints are in `accounting.rs` and `clearing.rs`; this file keeps what they share:
//! the open accounting handle, the serialisation of registry and statement writes, the error
//! codes of both rooms as the API answers them, and the dispatch of their routes.
//!
//! accounting.db is held by one process at a time. The server opens it on the first
//! accounting request and keeps it, so `suanpan day-end` on the command line is refused while
//! the server runs (it says another process is working on the file). A day-end takes the
//! handle for seconds; other accounting requests wait for it at most `BOOKS_WAIT_MAX`, then
//! answer 503 `accounting_busy`, while its status is read from the running job without the
//! handle.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use suanpan_accounting::{Accounting, AccountingError};
use suanpan_clearing::ClearingError;

use crate::app::{App, Reply};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};

/// Longest an accounting request waits for the handle (a day-end may hold it for seconds).
const BOOKS_WAIT_MAX: Duration = Duration::from_secs(2);

/// The routes of the two rooms (one variant of `RouteId`, so shared files change little).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BooksRoute {
    Dates,
    DayEndStatus,
    DayEndRun,
    TrialBalance,
    SubjectBalances,
    Suspense,
    WriteOff,
    Subjects,
    AddSubject,
    EditSubject,
    DeleteSubject,
    Rules,
    SetRule,
    Cutover,
    Participants,
    CreateParticipant,
    GetParticipant,
    SuspendParticipant,
    ActivateParticipant,
    SetCap,
    CloseBatch,
    BatchReport,
    WriteStatements,
    Statements,
    Statement,
}

impl BooksRoute {
    /// The action an operator's attempt is audited under (the same names the handlers use).
    pub fn action(self) -> &'static str {
        match self {
            BooksRoute::Dates | BooksRoute::DayEndStatus => "read_day_end_status",
            BooksRoute::DayEndRun => "day_end",
            BooksRoute::TrialBalance | BooksRoute::SubjectBalances => "read_report",
            BooksRoute::Suspense => "read_suspense",
            BooksRoute::WriteOff => "write_off",
            BooksRoute::Subjects => "read_chart",
            BooksRoute::AddSubject => "add_subject",
            BooksRoute::EditSubject => "edit_subject",
            BooksRoute::DeleteSubject => "delete_subject",
            BooksRoute::Rules => "read_rules",
            BooksRoute::SetRule => "set_rule",
            BooksRoute::Cutover => "cutover",
            BooksRoute::Participants | BooksRoute::GetParticipant => "read_participants",
            BooksRoute::CreateParticipant => "create_participant",
            BooksRoute::SuspendParticipant => "suspend_participant",
            BooksRoute::ActivateParticipant => "activate_participant",
            BooksRoute::SetCap => "set_net_debit_cap",
            BooksRoute::CloseBatch => "close_clearing_batch",
            BooksRoute::BatchReport => "read_batch_report",
            BooksRoute::WriteStatements => "write_statements",
            BooksRoute::Statements | BooksRoute::Statement => "read_statements",
        }
    }
}

/// The error codes of the accounting and clearing endpoints with their HTTP status: the
/// rooms' own codes (`AccountingError::code`, `ClearingError::code`) and the API's. Every one
/// is in docs/api-errors.md (a test checks it).
pub const BOOKS_CODES: &[(&str, u16)] = &[
    ("day_end_running", 409),
    ("accounting_busy", 503),
    ("date_unknown", 404),
    ("date_not_closed", 409),
    ("previous_day_end_incomplete", 409),
    ("step_not_done", 409),
    ("date_closed_for_posting", 409),
    ("subject_unknown", 404),
    ("subject_exists", 409),
    ("subject_has_postings", 409),
    ("subject_invalid", 400),
    ("suspense_item_unknown", 404),
    ("suspense_item_closed", 409),
    ("write_off_item_count", 400),
    ("write_off_mixed_currencies", 422),
    ("write_off_needs_counter_subject", 422),
    ("rule_invalid", 400),
    ("participant_not_found", 404),
    ("participant_invalid", 400),
    ("net_debit_cap_exceeded", 422),
    ("batch_not_closed", 404),
    ("batch_not_found", 404),
    ("batch_too_large", 422),
    ("statement_not_found", 404),
];

/// An error of one of the rooms' codes (500 for a code not in [`BOOKS_CODES`]: the system's
/// own failures, such as a database error).
pub fn books_error(code: &'static str, message: impl Into<String>) -> ApiError {
    let status = BOOKS_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(500, |(_, s)| *s);
    ApiError {
        status,
        code: if status == 500 {
            ErrorCode::Internal.as_str()
        } else {
            code
        },
        message: message.into(),
        field: None,
        retry_after_s: (status == 503).then_some(1),
    }
}

impl From<AccountingError> for ApiError {
    fn from(e: AccountingError) -> ApiError {
        match &e {
            AccountingError::StepUnknown(_) => {
                ApiError::new(ErrorCode::InvalidValue, e.to_string())
            }
            // A rule with a wrong source is a bad rule, whatever the subject's fault.
            _ => books_error(e.code(), e.to_string()),
        }
    }
}

impl From<ClearingError> for ApiError {
    fn from(e: ClearingError) -> ApiError {
        match e {
            ClearingError::Engine(engine) => engine.into(),
            ClearingError::Ledger(code) => {
                ApiError::ledger(code, format!("the ledger refused: {code}"))
            }
            other => books_error(other.code(), other.to_string()),
        }
    }
}

/// The rooms' state in the server.
pub struct Books {
    pub data_dir: PathBuf,
    /// Where the journal the rooms read is (the SQLite file in `data_dir`, or PostgreSQL).
    pub journal: suanpan_journal::JournalLocation,
    /// Opened on first use and kept (see the module's comment).
    accounting: Arc<Mutex<Option<Accounting>>>,
    /// The last day-end started through the API (running or finished).
    pub day_end: Arc<Mutex<Option<crate::accounting::DayEndJob>>>,
    /// Registry changes (load, change, save) one at a time.
    pub registry: Mutex<()>,
    /// Statement files of one batch written by one writer at a time.
    pub statements: Arc<Mutex<()>>,
}

/// The accounting handle, held.
pub struct AccountingGuard<'a>(MutexGuard<'a, Option<Accounting>>);

impl std::ops::Deref for AccountingGuard<'_> {
    type Target = Accounting;
    fn deref(&self) -> &Accounting {
        // Set by `Books::lock_accounting` before a guard is made.
        self.0.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for AccountingGuard<'_> {
    fn deref_mut(&mut self) -> &mut Accounting {
        self.0.as_mut().unwrap_or_else(|| unreachable!())
    }
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Books {
    pub fn new(data_dir: PathBuf, journal: suanpan_journal::JournalLocation) -> Books {
        Books {
            data_dir,
            journal,
            accounting: Arc::new(Mutex::new(None)),
            day_end: Arc::new(Mutex::new(None)),
            registry: Mutex::new(()),
            statements: Arc::new(Mutex::new(())),
        }
    }

    pub fn accounting_cell(&self) -> Arc<Mutex<Option<Accounting>>> {
        self.accounting.clone()
    }

    /// The accounting handle, opening accounting.db on first use; waits at most
    /// `BOOKS_WAIT_MAX` for a day-end holding it. Blocking: call from `App::blocking`.
    pub fn lock_accounting(&self) -> Result<AccountingGuard<'_>, ApiError> {
        let started = Instant::now();
        let mut guard = loop {
            match self.accounting.try_lock() {
                Ok(g) => break g,
                Err(std::sync::TryLockError::Poisoned(p)) => break p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {
                    if started.elapsed() > BOOKS_WAIT_MAX {
                        return Err(books_error(
                            "accounting_busy",
                            "a day-end holds the accounting books; retry shortly",
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        };
        open_into(&mut guard, &self.data_dir, &self.journal)?;
        Ok(AccountingGuard(guard))
    }
}

/// Opens accounting.db into the cell if it is not open yet.
pub fn open_into(
    cell: &mut Option<Accounting>,
    data_dir: &std::path::Path,
    journal: &suanpan_journal::JournalLocation,
) -> Result<(), ApiError> {
    if cell.is_none() {
        *cell = Some(Accounting::open_at(data_dir, journal)?);
    }
    Ok(())
}

/// The operator behind a caller of an operator route (the route table let only operators in).
pub fn operator_of(caller: &Caller) -> Result<&crate::access::OperatorRecord, ApiError> {
    match caller {
        Caller::Operator(op) => Ok(op),
        Caller::Participant(_) => Err(ApiError::new(
            ErrorCode::Forbidden,
            "this needs an operator",
        )),
    }
}

/// Runs an operator's action audited: an entry before (so it cannot happen unrecorded) and
/// one with its outcome after.
pub async fn audited<T>(
    app: &App,
    caller: &Caller,
    action: &'static str,
    target: String,
    work: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let op = operator_of(caller)?;
    app.audit(op, action, target.clone(), "requested".into())
        .await?;
    let result = work.await;
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => e.code.to_string(),
    };
    app.audit(op, action, target, outcome).await?;
    result
}

pub async fn dispatch(
    app: &App,
    route: BooksRoute,
    caller: &Caller,
    param: Option<&str>,
    query: &[(String, String)],
    bytes: &[u8],
    headers: &hyper::HeaderMap,
) -> Result<Reply, ApiError> {
    use crate::{accounting as a, clearing as c};
    match route {
        BooksRoute::Dates => a::dates(app).await,
        BooksRoute::DayEndStatus => a::day_end_status(app, param).await,
        BooksRoute::DayEndRun => a::day_end_run(app, caller, param).await,
        BooksRoute::TrialBalance => a::report(app, param, query, headers, true).await,
        BooksRoute::SubjectBalances => a::report(app, param, query, headers, false).await,
        BooksRoute::Suspense => a::suspense(app, query).await,
        BooksRoute::WriteOff => a::write_off(app, caller, bytes).await,
        BooksRoute::Subjects => a::subjects(app).await,
        BooksRoute::AddSubject => a::add_subject(app, caller, bytes).await,
        BooksRoute::EditSubject => a::edit_subject(app, caller, param, bytes).await,
        BooksRoute::DeleteSubject => a::delete_subject(app, caller, param).await,
        BooksRoute::Rules => a::rules(app).await,
        BooksRoute::SetRule => a::set_rule(app, caller, param, bytes).await,
        BooksRoute::Cutover => a::cutover(app, caller).await,
        BooksRoute::Participants => c::participants(app).await,
        BooksRoute::CreateParticipant => c::create_participant(app, caller, bytes).await,
        BooksRoute::GetParticipant => c::participant(app, param).await,
        BooksRoute::SuspendParticipant => c::set_status(app, caller, param, true).await,
        BooksRoute::ActivateParticipant => c::set_status(app, caller, param, false).await,
        BooksRoute::SetCap => c::set_cap(app, caller, param, bytes).await,
        BooksRoute::CloseBatch => c::close(app, caller).await,
        BooksRoute::BatchReport => c::report(app, param, query).await,
        BooksRoute::WriteStatements => c::write(app, caller, param).await,
        BooksRoute::Statements => c::statements(app, caller, query).await,
        BooksRoute::Statement => c::statement(app, caller, param, query).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_books_code_is_documented_with_its_status() {
        let doc = include_str!("../../../docs/api-errors.md");
        for (code, status) in BOOKS_CODES {
            let row = format!("| `{code}` | {status} |");
            assert!(doc.contains(&row), "docs/api-errors.md lacks {row}");
        }
    }

    #[test]
    fn the_rooms_codes_answer_with_their_status() {
        let e: ApiError = AccountingError::SubjectHasPostings("1002".into()).into();
        assert_eq!((e.status, e.code), (409, "subject_has_postings"));
        let e: ApiError = ClearingError::StatementNotFound {
            batch: 1,
            participant: 2,
        }
        .into();
        assert_eq!((e.status, e.code), (404, "statement_not_found"));
        let e: ApiError = AccountingError::Io("disk".into()).into();
        assert_eq!((e.status, e.code), (500, "internal"));
    }
}
