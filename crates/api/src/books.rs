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
    SettleBatch,
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
            BooksRoute::SettleBatch => "settle_clearing_batch",
            BooksRoute::BatchReport => "read_batch_report",
            BooksRoute::WriteStatements => "write_statements",
            BooksRoute::Statements | BooksRoute::Statement => "read_statements",
        }
    }
}

/// The HTTP status of each of the accounting room's errors: every variant named, so a new one
/// cannot be added without choosing its status (docs/api-errors.md lists them; a test checks).
pub fn accounting_status(e: &AccountingError) -> u16 {
    match e {
        AccountingError::StepUnknown(_) | AccountingError::WriteOffItemCount(_) => 400,
        // Well formed (the document's schema says so) but unable to book.
        AccountingError::RuleInvalid(_) | AccountingError::SubjectInvalid(_) => 422,
        AccountingError::DateUnknown(_)
        | AccountingError::SubjectUnknown(_)
        | AccountingError::SuspenseItemUnknown(_) => 404,
        AccountingError::DateNotClosed(_)
        | AccountingError::PreviousDayEndIncomplete(_)
        | AccountingError::StepNotDone(..)
        | AccountingError::DateClosedForPosting(_)
        | AccountingError::SubjectExists(_)
        | AccountingError::SubjectHasPostings(_)
        | AccountingError::SuspenseItemClosed(_) => 409,
        AccountingError::WriteOffMixedCurrencies
        | AccountingError::WriteOffNeedsCounterSubject(_) => 422,
        // The reconcile step stopped the day-end: the reconciliation room's own status.
        AccountingError::Reconcile(code, _) => match *code {
            "bill_not_published" | "difference_changed" | "reconcile_not_run" => 409,
            "bill_invalid" | "action_not_allowed" | "channel_unknown" => 422,
            "difference_unknown" => 404,
            "channel_unavailable" | "overloaded" => 503,
            _ => 500,
        },
        // Another node leads: the books on PostgreSQL are changed through it alone.
        AccountingError::NotLeader(_) => 503,
        // The system underneath failed: answered `internal`, the detail logged.
        AccountingError::Database(_)
        | AccountingError::Journal(_)
        | AccountingError::NewerSchema(_)
        | AccountingError::Invariant(_)
        | AccountingError::Io(_) => 500,
    }
}

/// The HTTP status of each of the clearing room's errors, every variant named as above. The
/// engine's and the ledger's refusals keep the statuses of their own contracts.
pub fn clearing_status(e: &ClearingError) -> u16 {
    match e {
        // Well formed but not acceptable: a number or code taken, another cap.
        ClearingError::ParticipantInvalid(_) => 422,
        ClearingError::SameParticipant { .. }
        | ClearingError::AmountMustNotBeZero
        | ClearingError::TransactionIdReserved { .. }
        | ClearingError::ScheduleInvalid(_) => 400,
        ClearingError::ParticipantNotFound { .. }
        | ClearingError::OriginalNotFound { .. }
        | ClearingError::BatchNotClosed { .. }
        | ClearingError::BatchNotFound { .. }
        | ClearingError::StatementNotFound { .. } => 404,
        ClearingError::ParticipantSuspended { .. }
        | ClearingError::RefundNumberTaken { .. }
        | ClearingError::RefundNumberOutOfOrder { .. } => 409,
        ClearingError::NetDebitCapExceeded { .. }
        | ClearingError::OriginalNotRefundable { .. }
        | ClearingError::RefundExceedsOriginal { .. }
        | ClearingError::BatchTooLarge { .. }
        | ClearingError::SettlementRefused { .. } => 422,
        ClearingError::Ledger(code) => ApiError::ledger(*code, String::new()).status,
        ClearingError::Engine(engine) => ApiError::from(engine.clone()).status,
        ClearingError::Journal(_) | ClearingError::Io(_) | ClearingError::Corrupt(_) => 500,
    }
}

/// A room's refusal as the API answers it: its own code and status, or `internal` for a
/// failure of the system underneath (the message is logged, not a contract).
fn room_error(status: u16, code: &'static str, message: String) -> ApiError {
    if status == 500 {
        return ApiError::new(ErrorCode::Internal, message);
    }
    ApiError {
        status,
        code,
        message,
        field: None,
        retry_after_s: None,
    }
}

impl From<AccountingError> for ApiError {
    fn from(e: AccountingError) -> ApiError {
        match &e {
            AccountingError::StepUnknown(_) => {
                ApiError::new(ErrorCode::InvalidValue, e.to_string())
            }
            _ => room_error(accounting_status(&e), e.code(), e.to_string()),
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
            other => room_error(clearing_status(&other), other.code(), other.to_string()),
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
    /// The clearing room's store: the participant registry and the statements issued.
    pub clearing: Arc<suanpan_clearing::store::Store>,
    /// Where the accounting books are: accounting.db in `data_dir`, or beside the journal on
    /// PostgreSQL.
    pub accounting_home: suanpan_store::room::Home,
    /// The writer's epoch the open books were loaded at (on PostgreSQL): a node that has
    /// taken the lease over since loads them again, as the old leader left them.
    epoch: Option<suanpan_store::postgres::EpochSource>,
    loaded_at: std::sync::atomic::AtomicU64,
    /// Registry changes (load, change, save) one at a time.
    pub registry: Mutex<()>,
    /// Statement files of one batch written by one writer at a time.
    pub statements: Arc<Mutex<()>>,
    /// The day-end's first step, where the process has payment channels to reconcile.
    pub recon: Option<Arc<suanpan_recon::room::Recon>>,
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
    pub fn new(
        data_dir: PathBuf,
        journal: suanpan_journal::JournalLocation,
        clearing: Arc<suanpan_clearing::store::Store>,
    ) -> Books {
        Books {
            accounting_home: suanpan_store::room::Home::sqlite(&data_dir),
            epoch: None,
            loaded_at: std::sync::atomic::AtomicU64::new(0),
            data_dir,
            journal,
            clearing,
            accounting: Arc::new(Mutex::new(None)),
            day_end: Arc::new(Mutex::new(None)),
            registry: Mutex::new(()),
            statements: Arc::new(Mutex::new(())),
            recon: None,
        }
    }

    /// The books kept in `home` (on PostgreSQL, beside the journal), written while this node
    /// holds the writer's lease at `epoch`.
    pub fn with_accounting_home(
        mut self,
        home: suanpan_store::room::Home,
        epoch: Option<suanpan_store::postgres::EpochSource>,
    ) -> Books {
        self.accounting_home = home;
        self.epoch = epoch;
        self
    }

    /// The books whose day-end reconciles the channels' bills first.
    pub fn with_recon(mut self, recon: Arc<suanpan_recon::room::Recon>) -> Books {
        self.recon = Some(recon);
        self
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
                        return Err(ApiError::new(
                            ErrorCode::AccountingBusy,
                            "a day-end holds the accounting books; retry shortly",
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        };
        open_into(&mut guard, self)?;
        Ok(AccountingGuard(guard))
    }
}

/// Opens the books into the cell if they are not open yet, or were loaded before this node
/// last took the writer's lease over.
pub fn open_into(cell: &mut Option<Accounting>, books: &Books) -> Result<(), ApiError> {
    use std::sync::atomic::Ordering;
    let epoch = books.epoch.as_ref().and_then(|e| e()).unwrap_or(0);
    if books.loaded_at.load(Ordering::Acquire) != epoch {
        *cell = None;
    }
    if cell.is_none() {
        *cell = Some(Accounting::open_in(
            &books.data_dir,
            &books.accounting_home,
            &books.journal,
        )?);
        books.loaded_at.store(epoch, Ordering::Release);
    }
    Ok(())
}

/// The operator behind a caller of an operator route (the route table let only operators in).
pub fn operator_of(caller: &Caller) -> Result<&suanpan_access::OperatorRecord, ApiError> {
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
        BooksRoute::SettleBatch => c::settle(app, caller, param).await,
        BooksRoute::BatchReport => c::report(app, param, query).await,
        BooksRoute::WriteStatements => c::write(app, caller, param).await,
        BooksRoute::Statements => c::statements(app, caller, query).await,
        BooksRoute::Statement => c::statement(app, caller, param, query).await,
    }
}

#[cfg(test)]
mod tests {
    use suanpan_engine::EngineError;
    use suanpan_ledger::{AccountingDate, ResultCode};

    use super::*;

    /// One of each accounting error, so the documentation check covers them all.
    fn every_accounting_error() -> Vec<AccountingError> {
        let d = AccountingDate::from_ymd(2025, 1, 2).unwrap_or_else(|| unreachable!());
        let s = String::new;
        vec![
            AccountingError::Database(s()),
            AccountingError::NotLeader(s()),
            AccountingError::Journal(s()),
            AccountingError::NewerSchema(9),
            AccountingError::DateUnknown(d),
            AccountingError::DateNotClosed(d),
            AccountingError::PreviousDayEndIncomplete(d),
            AccountingError::StepNotDone(d, "general_ledger"),
            AccountingError::DateClosedForPosting(d),
            AccountingError::SubjectUnknown(s()),
            AccountingError::SubjectExists(s()),
            AccountingError::SubjectHasPostings(s()),
            AccountingError::SubjectInvalid(s()),
            AccountingError::StepUnknown(s()),
            AccountingError::SuspenseItemUnknown(1),
            AccountingError::SuspenseItemClosed(1),
            AccountingError::WriteOffMixedCurrencies,
            AccountingError::WriteOffItemCount(0),
            AccountingError::WriteOffNeedsCounterSubject(1),
            AccountingError::RuleInvalid(s()),
            AccountingError::Invariant(s()),
            AccountingError::Io(s()),
            AccountingError::Reconcile("bill_not_published", s()),
        ]
    }

    /// One of each clearing error (the engine's four, and a ledger refusal of each kind).
    fn every_clearing_error() -> Vec<ClearingError> {
        let s = String::new;
        vec![
            ClearingError::NetDebitCapExceeded { participant: 1 },
            ClearingError::ParticipantNotFound { participant: 1 },
            ClearingError::ParticipantSuspended { participant: 1 },
            ClearingError::ParticipantInvalid(s()),
            ClearingError::SameParticipant { participant: 1 },
            ClearingError::AmountMustNotBeZero,
            ClearingError::TransactionIdReserved { id: 1 },
            ClearingError::OriginalNotFound { id: 1 },
            ClearingError::OriginalNotRefundable { id: 1 },
            ClearingError::RefundExceedsOriginal {
                original: 1,
                left_fen: 0,
            },
            ClearingError::RefundNumberTaken {
                original: 1,
                number: 0,
            },
            ClearingError::RefundNumberOutOfOrder {
                original: 1,
                number: 2,
                next: 1,
            },
            ClearingError::BatchNotClosed { batch: 1 },
            ClearingError::BatchNotFound { batch: 1 },
            ClearingError::BatchTooLarge { batch: 1, max: 1 },
            ClearingError::ScheduleInvalid(s()),
            ClearingError::StatementNotFound {
                batch: 1,
                participant: 1,
            },
            ClearingError::SettlementRefused {
                batch: 1,
                result: ResultCode::ExceedsCredits,
            },
            ClearingError::Ledger(ResultCode::ExceedsCredits),
            ClearingError::Ledger(ResultCode::ExistsWithDifferentCurrency),
            ClearingError::Engine(EngineError::Overloaded),
            ClearingError::Engine(EngineError::TooManyCommands { count: 2, max: 1 }),
            ClearingError::Engine(EngineError::Stopped(s())),
            ClearingError::Engine(EngineError::Standby),
            ClearingError::Engine(EngineError::Journal(s())),
            ClearingError::Journal(s()),
            ClearingError::Io(s()),
            ClearingError::Corrupt(s()),
        ]
    }

    /// The row docs/api-errors.md must hold for an answered error; a ledger result code is
    /// documented in docs/result-codes.md instead, under the statuses of `ApiError::ledger`.
    fn assert_documented(answered: &ApiError, status: u16) {
        assert_eq!(answered.status, status, "{}", answered.code);
        if ResultCode::ALL.iter().any(|r| r.as_str() == answered.code) {
            let results = include_str!("../../../docs/result-codes.md");
            assert!(results.contains(answered.code), "{}", answered.code);
            return;
        }
        let doc = include_str!("../../../docs/api-errors.md");
        let row = format!("| `{}` | {} |", answered.code, answered.status);
        assert!(doc.contains(&row), "docs/api-errors.md lacks {row}");
    }

    /// Each variant's place: naming every one, so a new variant fails to compile here until
    /// it is added to the list above too.
    fn accounting_variant(e: &AccountingError) -> usize {
        use AccountingError as E;
        match e {
            E::Database(_) => 0,
            E::Journal(_) => 1,
            E::NewerSchema(_) => 2,
            E::DateUnknown(_) => 3,
            E::DateNotClosed(_) => 4,
            E::PreviousDayEndIncomplete(_) => 5,
            E::StepNotDone(..) => 6,
            E::DateClosedForPosting(_) => 7,
            E::SubjectUnknown(_) => 8,
            E::SubjectExists(_) => 9,
            E::SubjectHasPostings(_) => 10,
            E::SubjectInvalid(_) => 11,
            E::StepUnknown(_) => 12,
            E::SuspenseItemUnknown(_) => 13,
            E::SuspenseItemClosed(_) => 14,
            E::WriteOffMixedCurrencies => 15,
            E::WriteOffItemCount(_) => 16,
            E::WriteOffNeedsCounterSubject(_) => 17,
            E::RuleInvalid(_) => 18,
            E::Invariant(_) => 19,
            E::Io(_) => 20,
            E::Reconcile(..) => 21,
            E::NotLeader(_) => 22,
        }
    }

    fn clearing_variant(e: &ClearingError) -> usize {
        use ClearingError as E;
        match e {
            E::NetDebitCapExceeded { .. } => 0,
            E::ParticipantNotFound { .. } => 1,
            E::ParticipantSuspended { .. } => 2,
            E::ParticipantInvalid(_) => 3,
            E::SameParticipant { .. } => 4,
            E::AmountMustNotBeZero => 5,
            E::TransactionIdReserved { .. } => 6,
            E::OriginalNotFound { .. } => 7,
            E::OriginalNotRefundable { .. } => 8,
            E::RefundExceedsOriginal { .. } => 9,
            E::RefundNumberTaken { .. } => 10,
            E::RefundNumberOutOfOrder { .. } => 11,
            E::BatchNotClosed { .. } => 12,
            E::BatchNotFound { .. } => 13,
            E::BatchTooLarge { .. } => 14,
            E::ScheduleInvalid(_) => 15,
            E::StatementNotFound { .. } => 16,
            E::SettlementRefused { .. } => 17,
            E::Ledger(_) => 18,
            E::Engine(_) => 19,
            E::Journal(_) => 20,
            E::Io(_) => 21,
            E::Corrupt(_) => 22,
        }
    }

    #[test]
    fn the_lists_hold_every_variant() {
        let mut seen: Vec<usize> = every_accounting_error()
            .iter()
            .map(accounting_variant)
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, (0..=22).collect::<Vec<_>>());
        let mut seen: Vec<usize> = every_clearing_error()
            .iter()
            .map(clearing_variant)
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, (0..=22).collect::<Vec<_>>());
    }

    #[test]
    fn every_accounting_error_is_documented_with_its_status() {
        for e in every_accounting_error() {
            let status = accounting_status(&e);
            assert_documented(&ApiError::from(e), status);
        }
    }

    #[test]
    fn every_clearing_error_is_documented_with_its_status() {
        for e in every_clearing_error() {
            let status = clearing_status(&e);
            assert_documented(&ApiError::from(e), status);
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
