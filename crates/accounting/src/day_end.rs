//! The day-end batch (日终) for a closed accounting date: named steps in a fixed order. Each
//! step's results and its completion record are written in one transaction, so a rerun after
//! a crash continues at the first unfinished step and never applies a step twice.

use std::time::Instant;

use suanpan_ledger::{AccountingDate, Currency};
use suanpan_store::args;
use suanpan_store::sql::Sql;

use crate::chart::Chart;
use crate::general_ledger::{self, DayTotals};
use crate::gl_check;
use crate::projection::Projection;
use crate::store::{audit, date_text};
use crate::suspense;
use crate::voucher::{for_each_transfer_voucher, insert_manual, ManualKind, ManualVoucher};
use crate::{daily_balance, period, report, AccountingError};

#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub enum Step {
    /// 对账: every channel's bill of the date against the platform and the books (the
    /// reconciliation room does it; see [`Reconciler`]).
    Reconcile,
    /// Every transfer of the date is committed and has its voucher (or waits for supplement).
    CatchUp,
    /// 补账: vouchers for transfers whose code has no posting rule.
    Supplement,
    /// 总账: opening, movements and closing per subject.
    GeneralLedger,
    /// 试算平衡.
    TrialBalance,
    /// Every account's balance at the cutover (the sub-ledger figures the check needs).
    DailyBalances,
    /// 总分核对.
    GlCheck,
    /// 挂账: differences to suspense, with their origin.
    Suspense,
    /// Month, quarter, half-year and year totals when the date closes one.
    PeriodRollUp,
    /// Trial balance and subject balance table as CSV and JSON.
    Reports,
}

impl Step {
    pub const ALL: [Step; 10] = [
        Step::Reconcile,
        Step::CatchUp,
        Step::Supplement,
        Step::GeneralLedger,
        Step::TrialBalance,
        Step::DailyBalances,
        Step::GlCheck,
        Step::Suspense,
        Step::PeriodRollUp,
        Step::Reports,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Reconcile => "reconcile",
            Step::CatchUp => "catch_up",
            Step::Supplement => "supplement",
            Step::GeneralLedger => "general_ledger",
            Step::TrialBalance => "trial_balance",
            Step::DailyBalances => "daily_balances",
            Step::GlCheck => "gl_check",
            Step::Suspense => "suspense",
            Step::PeriodRollUp => "period_roll_up",
            Step::Reports => "reports",
        }
    }

    pub fn parse(text: &str) -> Result<Step, AccountingError> {
        Step::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| AccountingError::StepUnknown(text.into()))
    }

    pub fn ordinal(self) -> usize {
        self as usize + 1
    }
}

/// The day-end's first step. Reconciliation is its own room (it fetches the channels' bills,
/// books through the engine and keeps its differences); the day-end only calls it, before
/// anything else, and records that it finished. It must be safe to call again for a date
/// (a rerun after a crash): the same classes, nothing posted twice.
pub trait Reconciler {
    /// Reconciles every configured channel's bill of `date`; the step's summary, or why the
    /// day-end must stop (a bill not yet published, where that blocks).
    fn reconcile(&mut self, date: AccountingDate) -> Result<String, AccountingError>;
}

/// For a day-end with no channels to reconcile (a platform without a payment gateway).
pub struct NoChannels;

impl Reconciler for NoChannels {
    fn reconcile(&mut self, _date: AccountingDate) -> Result<String, AccountingError> {
        Ok("no payment channels configured: nothing to reconcile".into())
    }
}

/// What the day-end tells whoever watches it (the CLI draws progress bars from these).
#[derive(Clone, Copy, Debug)]
pub enum DayEndEvent<'a> {
    Started(Step),
    Progress {
        step: Step,
        done: u64,
        total: u64,
    },
    Finished {
        step: Step,
        /// Completed by an earlier run.
        skipped: bool,
        elapsed_ms: u64,
        summary: &'a str,
    },
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StepOutcome {
    pub step: Step,
    pub skipped: bool,
    pub elapsed_ms: u64,
    pub summary: String,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DayEndReport {
    pub accounting_date: AccountingDate,
    pub steps: Vec<StepOutcome>,
    /// Every step has completed (false when stopped early with `until`).
    pub complete: bool,
    /// Differences found by this date's GL check, each now a suspense item.
    pub differences: Vec<gl_check::GlCheckRow>,
    /// Every suspense item still open, of this date or before.
    pub open_suspense_items: Vec<suspense::SuspenseItem>,
    /// The last journal batch the day-end read, `SEQ:HASH`: an anchor to keep apart from the
    /// journal, for `suanpan verify --anchor` to prove later that no batch up to it was cut off.
    pub journal_head: String,
}

/// Stop after this step (an operator running the batch piece by piece).
#[derive(Clone, Copy, Debug, Default)]
pub struct DayEndOptions {
    pub until: Option<Step>,
}

/// The completed steps of a date, with their summaries.
pub fn completed_steps(
    conn: &dyn Sql,
    date: AccountingDate,
) -> Result<Vec<(Step, String)>, AccountingError> {
    let mut out = Vec::new();
    for row in conn.query(
        "SELECT step, summary FROM accounting_day_end_steps WHERE accounting_date = ?1 ORDER BY ordinal",
        args![&date_text(date)],
    )? {
        out.push((Step::parse(&row.str(0)?)?, row.str(1)?));
    }
    Ok(out)
}

pub fn record_step(
    conn: &dyn Sql,
    date: AccountingDate,
    step: Step,
    summary: &str,
) -> Result<(), AccountingError> {
    conn.execute(
        "INSERT INTO accounting_day_end_steps (accounting_date, step, ordinal, summary) VALUES (?1, ?2, ?3, ?4)",
        args![&date_text(date), step.as_str(), step.ordinal() as i64, summary],
    )?;
    audit(
        conn,
        "day_end",
        step.as_str(),
        &format!("{date}: {summary}"),
    )
}

/// Records how long a completed step took, in the transaction that records its completion.
pub fn record_step_time(
    conn: &dyn Sql,
    date: AccountingDate,
    step: Step,
    elapsed_ms: u64,
) -> Result<(), AccountingError> {
    conn.execute(
        "INSERT INTO accounting_day_end_step_times (accounting_date, step, elapsed_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (accounting_date, step) DO UPDATE SET elapsed_ms = excluded.elapsed_ms",
        args![&date_text(date), step.as_str(), elapsed_ms as i64],
    )?;
    Ok(())
}

/// The recorded time of each completed step of a date (steps completed before times were
/// kept have none).
pub fn step_times(
    conn: &dyn Sql,
    date: AccountingDate,
) -> Result<Vec<(Step, u64)>, AccountingError> {
    let mut out = Vec::new();
    for row in conn.query(
        "SELECT step, elapsed_ms FROM accounting_day_end_step_times WHERE accounting_date = ?1",
        args![&date_text(date)],
    )? {
        out.push((Step::parse(&row.str(0)?)?, row.i64(1)?.max(0) as u64));
    }
    Ok(out)
}

/// What the steps of one run share, so the date's vouchers are read once.
pub struct StepContext<'a> {
    pub data_dir: &'a std::path::Path,
    pub chart: &'a Chart,
    pub projection: &'a mut Projection,
    pub date: AccountingDate,
    pub totals: Option<DayTotals>,
    pub balances: Option<Vec<i128>>,
    /// The ledger's own balances at the cutover (by account index), for the GL check.
    pub ledger_balances: Option<Vec<i128>>,
}

impl StepContext<'_> {
    /// Takes the next number of the date's manual series, and records it with the date.
    fn next_manual_number(&mut self, conn: &dyn Sql) -> Result<u64, AccountingError> {
        let info = self
            .projection
            .dates
            .get_mut(&self.date)
            .ok_or(AccountingError::DateUnknown(self.date))?;
        info.manual_vouchers += 1;
        conn.execute(
            "UPDATE accounting_dates SET manual_vouchers = ?2 WHERE accounting_date = ?1",
            args![&date_text(self.date), info.manual_vouchers],
        )?;
        Ok(info.manual_vouchers)
    }

    fn totals(
        &mut self,
        conn: &dyn Sql,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<&DayTotals, AccountingError> {
        if self.totals.is_none() {
            let expected = self
                .projection
                .dates
                .get(&self.date)
                .map_or(0, |d| d.vouchers);
            self.totals = Some(general_ledger::day_totals(
                conn,
                self.date,
                &self.projection.accounts,
                expected,
                progress,
            )?);
        }
        self.totals
            .as_ref()
            .ok_or_else(|| AccountingError::Invariant("day totals".into()))
    }

    fn balances(&mut self, conn: &dyn Sql) -> Result<Vec<i128>, AccountingError> {
        match self.balances.take() {
            Some(b) => Ok(b),
            None => daily_balance::load(conn, self.projection.accounts.len()),
        }
    }

    /// Runs one step (inside the caller's transaction); returns its summary.
    pub fn run(
        &mut self,
        conn: &dyn Sql,
        step: Step,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<String, AccountingError> {
        match step {
            // Run by the caller, outside the books' transaction (see `Reconciler`).
            Step::Reconcile => Err(AccountingError::Invariant(
                "the reconcile step runs through its Reconciler".into(),
            )),
            Step::CatchUp => Ok(self.catch_up_summary()),
            Step::Supplement => self.supplement(conn),
            Step::GeneralLedger => {
                let vouchers = self.totals(conn, progress)?.vouchers;
                let totals = self
                    .totals
                    .as_ref()
                    .ok_or_else(|| AccountingError::Invariant("day totals".into()))?;
                let rows = general_ledger::build(conn, self.date, self.chart, totals)?;
                general_ledger::write(conn, self.date, &rows)?;
                Ok(format!(
                    "{} subject rows from {vouchers} vouchers",
                    rows.len()
                ))
            }
            Step::TrialBalance => self.trial_balance(conn),
            Step::DailyBalances => {
                self.totals(conn, progress)?;
                let mut balances = self.balances(conn)?;
                let totals = self
                    .totals
                    .as_ref()
                    .ok_or_else(|| AccountingError::Invariant("day totals".into()))?;
                let moved = daily_balance::write(conn, self.date, &mut balances, &totals.accounts)?;
                self.balances = Some(balances);
                Ok(format!("{moved} accounts moved"))
            }
            Step::GlCheck => {
                let gl = general_ledger::read(conn, self.date)?;
                let ledger = self.ledger_balances.take().ok_or_else(|| {
                    AccountingError::Invariant("the ledger's balances were not read".into())
                })?;
                let rows = gl_check::check(self.chart, &gl, &self.projection.accounts, &ledger)?;
                gl_check::write(conn, self.date, &rows)?;
                let differences = rows.iter().filter(|r| r.difference() != 0).count();
                // Accounting's daily balances against the ledger's, account by account.
                let daily = self.balances(conn)?;
                let disagree = daily.iter().zip(&ledger).filter(|(a, b)| a != b).count();
                Ok(format!(
                    "{} subjects checked, {differences} differences; {disagree} accounts whose daily balance differs from the ledger's",
                    rows.len()
                ))
            }
            Step::Suspense => self.suspense(conn),
            Step::PeriodRollUp => {
                let periods = period::roll_up(conn, self.date)?;
                Ok(format!("{periods} periods closed"))
            }
            Step::Reports => {
                let gl = general_ledger::read(conn, self.date)?;
                let trial = general_ledger::trial_balance(&gl);
                let paths =
                    report::write_reports(self.data_dir, self.date, self.chart, &gl, &trial)?;
                // Relative, so the record is the same whichever directory holds the books.
                Ok(format!("{} files in reports/{}", paths.len(), self.date))
            }
        }
    }

    fn catch_up_summary(&self) -> String {
        let info = self
            .projection
            .dates
            .get(&self.date)
            .copied()
            .unwrap_or_default();
        format!(
            "journal batches {}..={}: {} transfers, {} vouchers, {} without a rule",
            info.first_batch, info.last_batch, info.transfers, info.vouchers, info.unmatched
        )
    }

    fn supplement(&mut self, conn: &dyn Sql) -> Result<String, AccountingError> {
        let mut pending = Vec::new();
        for row in conn.query(
            "SELECT transfer_id, code, debit_idx, credit_idx, amount FROM accounting_unmatched_transfers WHERE accounting_date = ?1 ORDER BY ordinal",
            args![&date_text(self.date)],
        )? {
            pending.push((
                row.str(0)?,
                row.u16(1)?,
                row.u32(2)?,
                row.u32(3)?,
                row.i64(4)? as u64,
            ));
        }
        for (transfer_id, code, debit, credit, amount) in &pending {
            let account = |idx: u32| {
                self.projection
                    .accounts
                    .get(idx as usize)
                    .copied()
                    .ok_or_else(|| {
                        AccountingError::Invariant(format!(
                            "unmatched transfer names account {idx}"
                        ))
                    })
            };
            let (d, c) = (account(*debit)?, account(*credit)?);
            let number = self.next_manual_number(conn)?;
            // No rule: each side books under its own account's subject, and the report says so.
            let voucher = ManualVoucher {
                number,
                kind: ManualKind::Supplement.as_str().into(),
                transfer_id: transfer_id.parse().ok(),
                debit_subject: d.subject_id,
                credit_subject: c.subject_id,
                debit_account: Some(*debit),
                credit_account: Some(*credit),
                currency: d.currency,
                amount: u128::from(*amount),
                origin: format!("transfer {transfer_id}: no posting rule for code {code}"),
            };
            insert_manual(conn, self.date, &voucher)?;
        }
        Ok(format!(
            "{} transfers without a rule supplemented",
            pending.len()
        ))
    }

    fn trial_balance(&self, conn: &dyn Sql) -> Result<String, AccountingError> {
        let gl = general_ledger::read(conn, self.date)?;
        let trial = general_ledger::trial_balance(&gl);
        let mut summary = Vec::new();
        for t in &trial {
            // Vouchers balance by construction; an unbalanced chart is a bug, never booked.
            if !t.balanced() {
                return Err(AccountingError::Invariant(format!(
                    "{}: trial balance fails in {}: debits {} credits {} closing sum {}",
                    self.date, t.currency, t.debits, t.credits, t.closing_sum
                )));
            }
            summary.push(format!("{} debits = credits = {}", t.currency, t.debits));
        }
        if summary.is_empty() {
            summary.push("no movements".into());
        }
        Ok(summary.join("; "))
    }

    /// 挂账 by transfer: a transfer to or from an account opened under the suspense subject
    /// (reconciliation posts the differences it cannot explain so), booked to suspense on
    /// that side, opens an item like a GL-check difference, so the accounting room's
    /// write-off closes it. (An account whose subject the chart lacks books under suspense
    /// too, but that is the chart's gap, not a posting to suspense: it opens no item.)
    fn suspense_postings(&mut self, conn: &dyn Sql) -> Result<usize, AccountingError> {
        let suspense = self.chart.suspense()?.id;
        let moved = self
            .totals(conn, &mut |_, _| {})?
            .subjects
            .keys()
            .any(|(subject, _)| *subject == suspense);
        let mut found: Vec<(u128, u16, u64, i128, Currency, String)> = Vec::new();
        let accounts = &self.projection.accounts;
        let currency = |idx: u32| accounts.get(idx as usize).map(|a| a.currency);
        let opened_in_suspense = |idx: u32| {
            accounts
                .get(idx as usize)
                .is_some_and(|a| a.subject.as_str() == crate::chart::SUSPENSE_SUBJECT)
        };
        let other = |chart: &Chart, id: u32| chart.by_id(id).map(|s| s.code.clone());
        if moved {
            let chart = self.chart;
            for_each_transfer_voucher(conn, self.date, |number, v| {
                let debited = v.debit_subject == suspense && opened_in_suspense(v.debit_account);
                let credited = v.credit_subject == suspense && opened_in_suspense(v.credit_account);
                if debited == credited {
                    return;
                }
                let (signed, counter) = if debited {
                    (i128::from(v.amount), v.credit_subject)
                } else {
                    (-i128::from(v.amount), v.debit_subject)
                };
                if let (Some(c), Some(code)) = (currency(v.debit_account), other(chart, counter)) {
                    found.push((v.transfer_id, v.code, number, signed, c, code));
                }
            })?;
        }
        for row in conn.query(
            "SELECT transfer_id, number, debit_subject, credit_subject, currency, amount, debit_idx, credit_idx FROM accounting_manual_vouchers
              WHERE accounting_date = ?1 AND kind = 'supplement' AND transfer_id IS NOT NULL
                AND (debit_subject = ?2 OR credit_subject = ?2) AND debit_subject != credit_subject",
            args![&date_text(self.date), suspense],
        )? {
            let transfer_id: u128 = row.str(0)?.parse().unwrap_or(0);
            let debit = row.u32(2)?;
            let side_opened_in_suspense = if debit == suspense {
                row.opt_u32(6)?.is_some_and(opened_in_suspense)
            } else {
                row.opt_u32(7)?.is_some_and(opened_in_suspense)
            };
            if !side_opened_in_suspense {
                continue;
            }
            let amount = row.money(5)?;
            let (signed, counter) = if debit == suspense {
                (amount, row.u32(3)?)
            } else {
                (-amount, debit)
            };
            let currency = crate::store::get_currency(&row, 4)?;
            if let Some(code) = other(self.chart, counter) {
                found.push((transfer_id, 0, row.u64(1)?, signed, currency, code));
            }
        }
        for (transfer_id, code, number, signed, currency, subject) in &found {
            let series = if *code == 0 { "M" } else { "T" };
            conn.execute(
                "INSERT INTO accounting_suspense_items (accounting_date, subject_code, currency, amount, origin, voucher_number, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open')",
                &[
                    (&date_text(self.date)).into(),
                    subject.into(),
                    currency.as_str().into(),
                    crate::store::money(*signed),
                    (&format!("{}{transfer_id:032x}: booked to suspense by voucher {series}{number}", suspense::TRANSFER_ORIGIN)).into(),
                    (*number).into(),
                ],
            )?;
        }
        Ok(found.len())
    }

    fn suspense(&mut self, conn: &dyn Sql) -> Result<String, AccountingError> {
        let postings = self.suspense_postings(conn)?;
        let posted = if postings == 0 {
            String::new()
        } else {
            format!("{postings} transfers booked to suspense opened items; ")
        };
        let differing: Vec<gl_check::GlCheckRow> = gl_check::read(conn, self.date)?
            .into_iter()
            .filter(|r| r.difference() != 0)
            .collect();
        if differing.is_empty() {
            return Ok(format!(
                "{posted}no differences; {}",
                self.open_items(conn)?
            ));
        }
        let origins = self.origins(conn, &differing)?;
        let mut gl = general_ledger::read(conn, self.date)?;
        for (row, origin) in differing.iter().zip(origins) {
            let number = self.next_manual_number(conn)?;
            let Some(voucher) = suspense::difference_voucher(self.chart, row, number, origin)?
            else {
                continue;
            };
            insert_manual(conn, self.date, &voucher)?;
            suspense::insert_item(conn, self.date, row, &voucher)?;
            post_to_gl(&mut gl, self.chart, &voucher)?;
        }
        general_ledger::write(conn, self.date, &gl)?;
        Ok(format!(
            "{posted}{} differences posted to suspense: {}; {}",
            differing.len(),
            differing
                .iter()
                .map(|r| format!("{} {} {}", r.subject_code, r.currency, r.difference()))
                .collect::<Vec<_>>()
                .join(", "),
            self.open_items(conn)?
        ))
    }

    /// Unresolved items age, and every day-end says how many and how old.
    fn open_items(&self, conn: &dyn Sql) -> Result<String, AccountingError> {
        let open = suspense::list(conn, true)?;
        Ok(match open.iter().map(|i| i.age_days(self.date)).max() {
            Some(oldest) => format!("{} suspense items open, oldest {oldest} days", open.len()),
            None => "no suspense items open".into(),
        })
    }

    /// Where each difference came from: the check, the figures, and the transfer codes whose
    /// vouchers booked to the subject that day (a wrong rule is among them).
    fn origins(
        &self,
        conn: &dyn Sql,
        rows: &[gl_check::GlCheckRow],
    ) -> Result<Vec<String>, AccountingError> {
        let ids: Vec<Option<u32>> = rows
            .iter()
            .map(|r| self.chart.by_code(&r.subject_code).map(|s| s.id))
            .collect();
        let mut codes: Vec<std::collections::BTreeMap<u16, u64>> =
            vec![Default::default(); rows.len()];
        for_each_transfer_voucher(conn, self.date, |_, v| {
            for (i, id) in ids.iter().enumerate() {
                if *id == Some(v.debit_subject) || *id == Some(v.credit_subject) {
                    *codes[i].entry(v.code).or_default() += 1;
                }
            }
        })?;
        Ok(rows
            .iter()
            .zip(codes)
            .map(|(r, codes)| {
                let codes: Vec<String> = codes
                    .iter()
                    .map(|(code, n)| format!("code {code} ({n} vouchers)"))
                    .collect();
                format!(
                    "gl_check {}: subject {} {}: general ledger {}, sub-ledgers {}, difference {}; booked to it that day by {}",
                    self.date,
                    r.subject_code,
                    r.currency,
                    r.gl_balance,
                    r.sub_ledger_balance,
                    r.difference(),
                    if codes.is_empty() { "no transfer voucher".into() } else { codes.join(", ") }
                )
            })
            .collect())
    }
}

/// Adds one voucher to a date's general ledger rows (suspense and write-off vouchers made
/// after the ledger was built).
pub fn post_to_gl(
    gl: &mut Vec<general_ledger::GlRow>,
    chart: &Chart,
    voucher: &ManualVoucher,
) -> Result<(), AccountingError> {
    for (subject_id, debit) in [
        (voucher.debit_subject, true),
        (voucher.credit_subject, false),
    ] {
        let code = &chart
            .by_id(subject_id)
            .ok_or_else(|| AccountingError::Invariant(format!("subject #{subject_id}")))?
            .code;
        let position = gl
            .iter()
            .position(|r| &r.subject_code == code && r.currency == voucher.currency);
        let row = match position {
            Some(i) => &mut gl[i],
            None => {
                gl.push(general_ledger::GlRow {
                    subject_code: code.clone(),
                    currency: voucher.currency,
                    opening: 0,
                    debits: 0,
                    credits: 0,
                    closing: 0,
                });
                let last = gl.len() - 1;
                &mut gl[last]
            }
        };
        if debit {
            row.debits += voucher.amount;
        } else {
            row.credits += voucher.amount;
        }
        row.closing = general_ledger::closing(row)?;
    }
    gl.sort_by(|a, b| (&a.subject_code, a.currency).cmp(&(&b.subject_code, b.currency)));
    Ok(())
}

/// Times one step for the report.
pub struct StepTimer(Instant);

impl StepTimer {
    pub fn start() -> StepTimer {
        StepTimer(Instant::now())
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}
