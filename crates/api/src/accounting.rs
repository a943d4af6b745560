//! Accounting endpoints: the day-end of a date (started in the background, its status read
//! while it runs), the reports, suspense items and write-off, the chart of accounts, the
//! posting rules, and the day cutover on command. The work is the accounting room's; this
//! file translates and audits.

use std::sync::Arc;

use suanpan_accounting::{
    Accounting, AccountingError, Category, DateStatus, DayEndEvent, DayEndOptions, Side, Step,
    SubjectBalance, SubjectSource,
};
use suanpan_ledger::{AccountingDate, Command, ResultCode};

use crate::app::{self, App, Reply};
use crate::auth::Caller;
use crate::books::{audited, lock, open_into, operator_of};
use crate::books_wire::*;
use crate::error::{ApiError, ErrorCode};
use crate::wire::{Balance, Total};

/// Test-only, with the `fault-injection` feature: how long a day-end started through the API
/// holds the books before it runs.
#[cfg(feature = "fault-injection")]
const DAY_END_HOLD_ENV: &str = "SUANPAN_DAY_END_HOLD_FILE";

/// A day-end started through the API: what its status shows while it runs, and after.
pub struct DayEndJob {
    pub date: AccountingDate,
    pub running: bool,
    pub running_step: Option<Step>,
    /// The date as it stood when the run started.
    pub start: DateStatus,
    /// Steps finished in this run: (step, elapsed ms, summary); a step an earlier run had
    /// done finishes at once, skipped.
    pub finished: Vec<(Step, Option<u64>, String)>,
    pub error: Option<DayEndFailure>,
}

pub fn parse_date(param: Option<&str>) -> Result<AccountingDate, ApiError> {
    let text = param.unwrap_or("");
    AccountingDate::parse(text).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidValue,
            format!("{text:?} in the path is not a date of the form YYYY-MM-DD"),
        )
        .field("date")
    })
}

fn step_views(
    done: &[(Step, String)],
    times: &[(Step, u64)],
    finished: &[(Step, Option<u64>, String)],
) -> Vec<DayEndStepView> {
    Step::ALL
        .iter()
        .map(|&step| {
            let ran = finished.iter().find(|(s, _, _)| *s == step);
            let before = done.iter().find(|(s, _)| *s == step);
            let time = times.iter().find(|(s, _)| *s == step).map(|(_, t)| *t);
            DayEndStepView {
                step: step.as_str(),
                done: ran.is_some() || before.is_some(),
                elapsed_ms: ran.and_then(|(_, t, _)| *t).or(time),
                summary: ran
                    .map(|(_, _, s)| s.clone())
                    .or_else(|| before.map(|(_, s)| s.clone())),
            }
        })
        .collect()
}

fn status_view(s: &DateStatus, job: Option<&DayEndJob>) -> DayEndStatus {
    let job = job.filter(|j| j.date == s.accounting_date);
    let running = job.is_some_and(|j| j.running);
    let steps = match job {
        Some(j) if running => step_views(&j.start.steps, &j.start.step_times, &j.finished),
        _ => step_views(&s.steps, &s.step_times, &[]),
    };
    let done_count = steps.iter().filter(|v| v.done).count();
    DayEndStatus {
        accounting_date: s.accounting_date.to_string(),
        closed: s.closed,
        state: if running {
            "running"
        } else if done_count == Step::ALL.len() {
            "complete"
        } else if done_count == 0 {
            "not_started"
        } else {
            "partial"
        },
        running_step: job
            .filter(|_| running)
            .and_then(|j| j.running_step)
            .map(Step::as_str),
        transfers: s.transfers,
        vouchers: s.vouchers,
        unmatched: s.unmatched,
        steps,
        last_error: job.and_then(|j| j.error.clone()),
    }
}

/// The accounting handle with the journal read to its end: what a reader asks about is what
/// has been committed.
fn current(acc: &mut Accounting) -> Result<(), ApiError> {
    acc.catch_up(&mut |_, _| {})?;
    Ok(())
}

pub async fn dates(app: &App) -> Result<Reply, ApiError> {
    let books = app.books.clone();
    let dates = app
        .blocking(move || {
            let mut acc = books.lock_accounting()?;
            current(&mut acc)?;
            let job = lock(&books.day_end);
            Ok(acc
                .status(None)?
                .iter()
                .map(|s| status_view(s, job.as_ref()))
                .collect())
        })
        .await?;
    Reply::json(200, &DayEndDates { dates })
}

pub async fn day_end_status(app: &App, param: Option<&str>) -> Result<Reply, ApiError> {
    let date = parse_date(param)?;
    let books = app.books.clone();
    let view = app
        .blocking(move || {
            // While a run holds the books, its own record answers.
            if let Some(job) = lock(&books.day_end).as_ref() {
                if job.running && job.date == date {
                    return Ok(status_view(&job.start, Some(job)));
                }
            }
            let mut acc = books.lock_accounting()?;
            current(&mut acc)?;
            let status = acc.status(Some(date))?;
            let job = lock(&books.day_end);
            status
                .first()
                .map(|s| status_view(s, job.as_ref()))
                .ok_or_else(|| AccountingError::DateUnknown(date).into())
        })
        .await?;
    Reply::json(200, &view)
}

/// Starts the day-end of a date and answers 202 at once; the run continues at the first
/// unfinished step, as the command line's does.
pub async fn day_end_run(
    app: &App,
    caller: &Caller,
    param: Option<&str>,
) -> Result<Reply, ApiError> {
    let date = parse_date(param)?;
    let op = operator_of(caller)?.clone();
    let (books, access) = (app.books.clone(), app.access.clone());
    audited(app, caller, "day_end", date.to_string(), async move {
        app.blocking(move || start_day_end(books, access, op, date))
            .await
    })
    .await?;
    let status_url = format!("/v1/accounting/dates/{date}/day-end");
    let mut reply = Reply::json(
        202,
        &DayEndStarted {
            accounting_date: date.to_string(),
            state: "running",
            status_url: status_url.clone(),
        },
    )?;
    reply.headers.push(("location", status_url));
    Ok(reply)
}

fn running_conflict(date: AccountingDate) -> ApiError {
    ApiError::new(
        ErrorCode::DayEndRunning,
        format!("the day-end of {date} is running; read its status"),
    )
}

fn start_day_end(
    books: Arc<crate::books::Books>,
    access: Arc<suanpan_access::Access>,
    op: suanpan_access::OperatorRecord,
    date: AccountingDate,
) -> Result<(), ApiError> {
    // A run already going is a conflict, answered before waiting for the books it holds.
    if let Some(job) = lock(&books.day_end).as_ref().filter(|j| j.running) {
        return Err(running_conflict(job.date));
    }
    let mut acc = books.lock_accounting()?;
    current(&mut acc)?;
    acc.check_can_close(date)?;
    let status = acc
        .status(Some(date))?
        .pop()
        .ok_or(AccountingError::DateUnknown(date))?;
    {
        let mut job = lock(&books.day_end);
        if let Some(j) = job.as_ref().filter(|j| j.running) {
            return Err(running_conflict(j.date));
        }
        *job = Some(DayEndJob {
            date,
            running: true,
            running_step: None,
            start: status,
            finished: Vec::new(),
            error: None,
        });
    }
    // The job is marked running before the books are let go, so a second start sees it.
    drop(acc);
    let (held, holding) = std::sync::mpsc::channel();
    // The reconcile step's work (bills over HTTP, bookings through the engine) runs on the
    // process's runtime; this runs on one of its blocking threads.
    let runtime = tokio::runtime::Handle::try_current().ok();
    let spawned = std::thread::Builder::new()
        .name("suanpan-day-end".into())
        .spawn({
            let books = books.clone();
            move || run_day_end(&books, &access, &op, date, runtime, held)
        });
    if let Err(e) = spawned {
        if let Some(job) = lock(&books.day_end).as_mut() {
            job.running = false;
        }
        return Err(ApiError::new(
            ErrorCode::Internal,
            format!("cannot start the day-end thread: {e}"),
        ));
    }
    // Answered once the run holds the books, so what the caller asks next finds it running.
    // (Bounded: a request holding them briefly delays the run, never the answer for long.)
    let _ = holding.recv_timeout(std::time::Duration::from_secs(5));
    Ok(())
}

/// For the tests of a running day-end (a second start, its status, other requests waiting):
/// `SUANPAN_DAY_END_HOLD_FILE` keeps the books held while that file exists (at most a
/// minute), so a test releases the run when it has seen what it wanted, however slow the
/// machine. Built only with the `fault-injection` feature, which only the tests enable.
#[cfg(feature = "fault-injection")]
fn hold_books_for_tests() {
    let Some(path) = std::env::var_os(DAY_END_HOLD_ENV) else {
        return;
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::path::Path::new(&path).exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn run_day_end(
    books: &crate::books::Books,
    access: &suanpan_access::Access,
    op: &suanpan_access::OperatorRecord,
    date: AccountingDate,
    runtime: Option<tokio::runtime::Handle>,
    held: std::sync::mpsc::Sender<()>,
) {
    let cell = books.accounting_cell();
    let mut guard = lock(&cell);
    let _ = held.send(());
    #[cfg(feature = "fault-injection")]
    hold_books_for_tests();
    let result = open_into(&mut guard, books).and_then(|()| {
        let acc = guard
            .as_mut()
            .ok_or_else(|| ApiError::new(ErrorCode::Internal, "accounting not open"))?;
        let mut reconciler: Box<dyn suanpan_accounting::Reconciler> = match (&books.recon, runtime)
        {
            (Some(recon), Some(runtime)) => Box::new(suanpan_recon::room::DayEndStep {
                recon: recon.clone(),
                runtime,
            }),
            _ => Box::new(suanpan_accounting::NoChannels),
        };
        acc.day_end_with(
            date,
            DayEndOptions::default(),
            reconciler.as_mut(),
            &mut |event| {
                let mut job = lock(&books.day_end);
                let Some(job) = job.as_mut() else { return };
                match event {
                    DayEndEvent::Started(step) => job.running_step = Some(*step),
                    DayEndEvent::Finished {
                        step,
                        skipped,
                        elapsed_ms,
                        summary,
                    } => job.finished.push((
                        *step,
                        (!skipped).then_some(*elapsed_ms),
                        summary.to_string(),
                    )),
                    DayEndEvent::Progress { .. } => {}
                }
            },
        )
        .map_err(ApiError::from)
    });
    drop(guard);
    let outcome = match &result {
        Ok(report) if report.differences.is_empty() => "complete".to_string(),
        Ok(report) => format!(
            "complete; {} difference(s) posted to suspense",
            report.differences.len()
        ),
        Err(e) => e.code.to_string(),
    };
    if let Some(job) = lock(&books.day_end).as_mut() {
        job.running = false;
        job.running_step = None;
        job.error = result.as_ref().err().map(|e| DayEndFailure {
            code: e.code.to_string(),
            message: e.message.clone(),
        });
    }
    if let Err(e) = access.audit(op, "day_end", &date.to_string(), &outcome) {
        crate::log::log(
            crate::log::Level::Error,
            "day-end outcome not audited",
            &[("error", &e)],
        );
    }
}

fn sides(balance: i128) -> (Total, Total) {
    if balance >= 0 {
        (Total(balance.unsigned_abs()), Total(0))
    } else {
        (Total(0), Total(balance.unsigned_abs()))
    }
}

fn report_row(r: &SubjectBalance) -> ReportRow {
    let (opening_debit, opening_credit) = sides(r.opening);
    let (closing_debit, closing_credit) = sides(r.closing);
    ReportRow {
        subject_code: r.subject_code.clone(),
        name: r.name.clone(),
        level: r.level,
        currency: r.currency.to_string(),
        opening_debit,
        opening_credit,
        debits: Total(r.debits),
        credits: Total(r.credits),
        closing_debit,
        closing_credit,
    }
}

/// CSV when `?format=csv` or when `Accept` asks for text/csv (and not JSON first).
pub fn wants_csv(query: &[(String, String)], headers: &hyper::HeaderMap) -> Result<bool, ApiError> {
    match app::query_value(query, "format") {
        Some("csv") => return Ok(true),
        Some("json") => return Ok(false),
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidValue,
                format!("format {other:?} is not csv or json"),
            )
            .field("format"))
        }
        None => {}
    }
    let accept = headers
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok(accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .find(|t| *t == "text/csv" || *t == "application/json")
        == Some("text/csv"))
}

/// The trial balance (`trial`) or the subject balance table of a date, as JSON or CSV.
pub async fn report(
    app: &App,
    param: Option<&str>,
    query: &[(String, String)],
    headers: &hyper::HeaderMap,
    trial: bool,
) -> Result<Reply, ApiError> {
    let date = parse_date(param)?;
    let csv = wants_csv(query, headers)?;
    let books = app.books.clone();
    let (rows, totals) = app
        .blocking(move || {
            let acc = books.lock_accounting()?;
            let mut rows = acc.subject_balances(date)?;
            let totals = if trial {
                rows.retain(|r| r.level == 1);
                acc.trial_balance(date)?
            } else {
                Vec::new()
            };
            Ok((rows, totals))
        })
        .await?;
    if csv {
        let mut reply = Reply::json(200, &())?;
        reply.body = suanpan_accounting::subject_balances_csv(&rows)
            .into_bytes()
            .into();
        reply.content_type = "text/csv; charset=utf-8";
        return Ok(reply);
    }
    let subjects = rows.iter().map(report_row).collect();
    if !trial {
        return Reply::json(
            200,
            &SubjectBalanceReport {
                accounting_date: date.to_string(),
                subjects,
            },
        );
    }
    let totals = totals
        .iter()
        .map(|t| TrialBalanceTotals {
            currency: t.currency.to_string(),
            debits: Total(t.debits),
            credits: Total(t.credits),
            opening_sum: Balance(t.opening_sum),
            closing_sum: Balance(t.closing_sum),
            balanced: t.balanced(),
        })
        .collect();
    Reply::json(
        200,
        &TrialBalanceReport {
            accounting_date: date.to_string(),
            subjects,
            totals,
        },
    )
}

pub async fn suspense(app: &App, query: &[(String, String)]) -> Result<Reply, ApiError> {
    let all = match app::query_value(query, "all") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidValue,
                format!("all {other:?} is not true or false"),
            )
            .field("all"))
        }
    };
    let books = app.books.clone();
    let items = app
        .blocking(move || {
            let mut acc = books.lock_accounting()?;
            current(&mut acc)?;
            let today = acc.open_date();
            Ok(acc
                .suspense_items(!all)?
                .into_iter()
                .map(|i| SuspenseItemView {
                    id: i.id,
                    accounting_date: i.accounting_date.to_string(),
                    subject_code: i.subject_code.clone(),
                    currency: i.currency.to_string(),
                    amount: Balance(i.amount),
                    origin: i.origin.clone(),
                    voucher_number: i.voucher_number,
                    status: if i.open { "open" } else { "written_off" },
                    age_days: i.age_days(today.unwrap_or(i.accounting_date)),
                    written_off_on: i.write_off_date.map(|d| d.to_string()),
                    written_off_by: i.written_off_by.clone(),
                    note: i.note.clone(),
                })
                .collect())
        })
        .await?;
    Reply::json(200, &SuspenseItems { items })
}

fn check_text(text: &str, field: &str, max_chars: usize) -> Result<(), ApiError> {
    let n = text.chars().count();
    if n == 0 || n > max_chars || text.chars().any(char::is_control) {
        return Err(ApiError::new(
            ErrorCode::InvalidValue,
            format!("{field} must be 1 to {max_chars} characters without control characters"),
        )
        .field(field.to_string()));
    }
    Ok(())
}

pub async fn write_off(app: &App, caller: &Caller, bytes: &[u8]) -> Result<Reply, ApiError> {
    let body: WriteOffBody = crate::body::parse(bytes)?;
    check_text(&body.note, "note", 500)?;
    let op = operator_of(caller)?.name.clone();
    let books = app.books.clone();
    let target = format!("suspense items {:?}", body.items);
    let note = body.note.clone();
    let done = audited(app, caller, "write_off", target, async move {
        app.blocking(move || {
            let mut acc = books.lock_accounting()?;
            // Items a reconciliation posting opened: the differences they hold learn of it
            // (read among the open items before they close, not the whole history after).
            let transfers: std::collections::HashSet<u128> = acc
                .suspense_items(true)?
                .iter()
                .filter(|i| body.items.contains(&i.id))
                .filter_map(|i| i.transfer_id())
                .collect();
            let done = acc.write_off(&body.items, body.against.as_deref(), &op, &body.note)?;
            Ok((done, transfers, op))
        })
        .await
    })
    .await?;
    let (done, transfers, op) = done;
    if let (Some(recon), false) = (&app.recon, transfers.is_empty()) {
        recon
            .written_off(&transfers, &op, &note)
            .await
            .map_err(crate::recon::recon_error)?;
    }
    Reply::json(
        201,
        &WriteOffDone {
            accounting_date: done.accounting_date.to_string(),
            voucher_numbers: done.voucher_numbers,
            items: done.items,
        },
    )
}

fn subject_view(acc: &Accounting, code: &str) -> Option<SubjectView> {
    let s = acc.chart().by_code(code)?;
    Some(SubjectView {
        code: s.code.clone(),
        name: s.name.clone(),
        category: s.category.as_str(),
        normal_side: s.category.normal_side().as_str(),
        gl_only: s.gl_only,
        leaf: acc.chart().is_leaf(&s.code),
    })
}

pub async fn subjects(app: &App) -> Result<Reply, ApiError> {
    let books = app.books.clone();
    let subjects = app
        .blocking(move || {
            let acc = books.lock_accounting()?;
            let mut codes: Vec<String> = acc
                .chart()
                .subjects
                .iter()
                .map(|s| s.code.clone())
                .collect();
            codes.sort();
            Ok(codes.iter().filter_map(|c| subject_view(&acc, c)).collect())
        })
        .await?;
    Reply::json(200, &SubjectList { subjects })
}

fn parse_category(text: &str) -> Result<Category, ApiError> {
    Category::parse(text).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidValue,
            format!("category {text:?} is not asset, liability, equity, common, income or expense"),
        )
        .field("category")
    })
}

pub async fn add_subject(app: &App, caller: &Caller, bytes: &[u8]) -> Result<Reply, ApiError> {
    let body: NewSubjectBody = crate::body::parse(bytes)?;
    check_text(&body.name, "name", 200)?;
    let category = parse_category(&body.category)?;
    let op = operator_of(caller)?.name.clone();
    let books = app.books.clone();
    let view = audited(app, caller, "add_subject", body.code.clone(), async move {
        app.blocking(move || {
            let mut acc = books.lock_accounting()?;
            // What was committed before the change is booked as the books stood.
            current(&mut acc)?;
            acc.add_subject(&body.code, &body.name, category, body.gl_only, &op)?;
            subject_view(&acc, &body.code)
                .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the subject vanished"))
        })
        .await
    })
    .await?;
    Reply::json(201, &view)
}

pub async fn edit_subject(
    app: &App,
    caller: &Caller,
    param: Option<&str>,
    bytes: &[u8],
) -> Result<Reply, ApiError> {
    let code = param.unwrap_or("").to_string();
    let body: EditSubjectBody = crate::body::parse(bytes)?;
    if let Some(name) = &body.name {
        check_text(name, "name", 200)?;
    }
    let category = body.category.as_deref().map(parse_category).transpose()?;
    let op = operator_of(caller)?.name.clone();
    let books = app.books.clone();
    let view = audited(app, caller, "edit_subject", code.clone(), async move {
        app.blocking(move || {
            let mut acc = books.lock_accounting()?;
            // What was committed before the change is booked as the books stood.
            current(&mut acc)?;
            acc.edit_subject(&code, body.name.as_deref(), category, body.gl_only, &op)?;
            subject_view(&acc, &code)
                .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the subject vanished"))
        })
        .await
    })
    .await?;
    Reply::json(200, &view)
}

pub async fn delete_subject(
    app: &App,
    caller: &Caller,
    param: Option<&str>,
) -> Result<Reply, ApiError> {
    let code = param.unwrap_or("").to_string();
    let op = operator_of(caller)?.name.clone();
    let books = app.books.clone();
    let view = audited(app, caller, "delete_subject", code.clone(), async move {
        app.blocking(move || {
            let mut acc = books.lock_accounting()?;
            current(&mut acc)?;
            let view = subject_view(&acc, &code)
                .ok_or_else(|| AccountingError::SubjectUnknown(code.clone()))?;
            acc.delete_subject(&code, &op)?;
            Ok(view)
        })
        .await
    })
    .await?;
    Reply::json(200, &view)
}

fn source_text(source: SubjectSource, acc: &Accounting) -> String {
    match source {
        SubjectSource::DebitAccount => "debit_account".into(),
        SubjectSource::CreditAccount => "credit_account".into(),
        SubjectSource::Subject(id) => acc
            .chart()
            .by_id(id)
            .map_or_else(|| format!("#{id}"), |s| s.code.clone()),
    }
}

fn rule_view(acc: &Accounting, code: u16) -> Option<RuleView> {
    let latest = acc.rules().latest(code)?;
    let rule = &latest.rule;
    Some(RuleView {
        version: latest.version,
        effective_after_batch: latest.effective_after,
        code: rule.code,
        name: rule.name.clone(),
        lines: rule
            .lines()
            .map(|(side, source, share_bp)| RuleLineBody {
                side: side.as_str().to_string(),
                source: source_text(source, acc),
                share_bp,
            })
            .collect(),
    })
}

pub async fn rules(app: &App) -> Result<Reply, ApiError> {
    let books = app.books.clone();
    let rules = app
        .blocking(move || {
            let acc = books.lock_accounting()?;
            Ok(acc
                .rules()
                .all()
                .iter()
                .filter_map(|r| rule_view(&acc, r.code))
                .collect())
        })
        .await?;
    Reply::json(200, &RuleList { rules })
}

fn rule_code(param: Option<&str>) -> Result<u16, ApiError> {
    let text = param.unwrap_or("");
    text.parse::<u16>().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidValue,
            format!("{text:?} in the path is not a transfer code (0 to 65535)"),
        )
        .field("code")
    })
}

/// The lines of a rule body: `debit` and `credit`, or `lines`.
fn rule_lines(body: &RuleBody) -> Result<Vec<(Side, String, Option<u16>)>, ApiError> {
    let invalid = |why: &str| ApiError::from(AccountingError::RuleInvalid(why.to_string()));
    match (&body.debit, &body.credit, &body.lines) {
        (Some(debit), Some(credit), None) => Ok(vec![
            (Side::Debit, debit.clone(), None),
            (Side::Credit, credit.clone(), None),
        ]),
        (None, None, Some(lines)) => lines
            .iter()
            .map(|l| {
                let side = match l.side.as_str() {
                    "debit" => Side::Debit,
                    "credit" => Side::Credit,
                    _ => return Err(invalid("a line's side is debit or credit")),
                };
                Ok((side, l.source.clone(), l.share_bp))
            })
            .collect(),
        _ => Err(invalid(
            "a rule gives either debit and credit, or lines, not both",
        )),
    }
}

pub async fn set_rule(
    app: &App,
    caller: &Caller,
    param: Option<&str>,
    bytes: &[u8],
) -> Result<Reply, ApiError> {
    let code = rule_code(param)?;
    let body: RuleBody = crate::body::parse(bytes)?;
    check_text(&body.name, "name", 200)?;
    let lines = rule_lines(&body)?;
    let op = operator_of(caller)?.name.clone();
    let books = app.books.clone();
    let view = audited(app, caller, "set_rule", code.to_string(), async move {
        app.blocking(move || {
            let mut acc = books.lock_accounting()?;
            // The change takes effect after the journal's head as it is now, whatever
            // accounting has read: what was committed before keeps the rule it had.
            acc.set_rule_lines(code, &body.name, &lines, &op)?;
            rule_view(&acc, code)
                .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the rule vanished"))
        })
        .await
    })
    .await?;
    Reply::json(200, &view)
}

/// The day cutover (日切) on command: the books move to the next date, in the sequence.
pub async fn cutover(app: &App, caller: &Caller) -> Result<Reply, ApiError> {
    let (closed, next) = audited(app, caller, "cutover", String::new(), async {
        let closed = app.read(|l| l.accounting_date()).await?;
        let next = closed.next();
        let result = app
            .execute(vec![Command::Cutover { date: next }])
            .await?
            .first()
            .copied()
            .unwrap_or(ResultCode::Ok);
        match result {
            ResultCode::Ok => Ok((closed, next)),
            other => Err(ApiError::ledger(
                other,
                format!("the cutover to {next} was refused: {other}"),
            )),
        }
    })
    .await?;
    Reply::json(
        200,
        &CutoverDone {
            closed_date: closed.to_string(),
            accounting_date: next.to_string(),
        },
    )
}
