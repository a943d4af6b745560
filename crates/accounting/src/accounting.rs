//! The accounting room's handle: what the CLI (and later the HTTP API) calls. Plain functions
//! returning typed data; errors are [`AccountingError`] with stable codes.

use std::path::{Path, PathBuf};

use suanpan_journal::JournalLocation;
use suanpan_ledger::AccountingDate;
use suanpan_store::args;
use suanpan_store::exclusive::ExclusiveStore;
use suanpan_store::room::Home;

use crate::chart::{Category, Chart};
use crate::day_end::{
    completed_steps, record_step, record_step_time, step_times, DayEndEvent, DayEndOptions,
    DayEndReport, NoChannels, Reconciler, Step, StepContext, StepOutcome, StepTimer,
};
use crate::general_ledger::{self, GlRow, TrialBalance};
use crate::projection::{open_journal, Projection};
use crate::rule::{check_extra, parse_source, source_text, ExtraLine, Rules, SubjectSource};
use crate::store::{self, audit, date_text};
use crate::suspense::{self, SuspenseItem};
use crate::voucher::{
    for_each_transfer_voucher, insert_manual, manual_vouchers, Voucher, VoucherLine,
};
use crate::{gl_check, ledger_balance, report, AccountingError, Side};

/// Most vouchers one listing returns.
pub const VOUCHERS_LIST_MAX: usize = 10_000;

/// Most suspense items one write-off closes.
pub const WRITE_OFF_ITEMS_MAX: usize = 1_000;

pub struct Accounting {
    /// The books: accounting.db, or the room's tables on PostgreSQL.
    store: ExclusiveStore,
    data_dir: PathBuf,
    /// The journal: the SQLite file in `data_dir`, or a PostgreSQL database.
    journal: JournalLocation,
    chart: Chart,
    rules: Rules,
    projection: Projection,
}

/// One date as the status command shows it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DateStatus {
    pub accounting_date: AccountingDate,
    /// The journal batches that hold the date's commands (the first one holds its cutover).
    pub first_batch: u64,
    pub last_batch: u64,
    pub transfers: u64,
    pub vouchers: u64,
    pub unmatched: u64,
    /// A later date exists: the day-end may run.
    pub closed: bool,
    pub steps: Vec<(Step, String)>,
    /// How long each completed step took, where recorded.
    pub step_times: Vec<(Step, u64)>,
}

impl DateStatus {
    pub fn complete(&self) -> bool {
        self.steps.len() == Step::ALL.len()
    }
}

/// A rule change as recorded: the code's new version and the journal batch it takes effect
/// after.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RuleChange {
    pub code: u16,
    pub version: u32,
    pub effective_after: u64,
}

/// A write-off as done.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WriteOff {
    pub accounting_date: AccountingDate,
    pub voucher_numbers: Vec<u64>,
    pub items: Vec<i64>,
}

impl Accounting {
    /// Opens accounting.db in the data directory (creating it with the default chart and
    /// rules) and loads the projection's state. The journal is read only when catching up.
    pub fn open(data_dir: &Path) -> Result<Accounting, AccountingError> {
        Accounting::open_at(data_dir, &JournalLocation::Sqlite(data_dir.to_path_buf()))
    }

    /// Opens accounting.db in `data_dir` for the journal at `journal` (the SQLite file in
    /// that directory, or a PostgreSQL database).
    pub fn open_at(
        data_dir: &Path,
        journal: &JournalLocation,
    ) -> Result<Accounting, AccountingError> {
        Accounting::open_in(data_dir, &Home::sqlite(data_dir), journal)
    }

    /// Opens the books in `home` (accounting.db in a data directory, or the room's tables in
    /// the shared PostgreSQL database) for the journal at `journal`; reports are written under
    /// `data_dir`.
    pub fn open_in(
        data_dir: &Path,
        home: &Home,
        journal: &JournalLocation,
    ) -> Result<Accounting, AccountingError> {
        let store = store::open(home)?;
        let (chart, rules, projection) = store.read(|c| {
            let chart = store::load_chart(c)?;
            let rules = store::load_rules(c, &chart)?;
            Ok::<_, AccountingError>((chart, rules, Projection::load(c)?))
        })?;
        Ok(Accounting {
            store,
            data_dir: data_dir.to_path_buf(),
            journal: journal.clone(),
            chart,
            rules,
            projection,
        })
    }

    pub fn chart(&self) -> &Chart {
        &self.chart
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The journal batch the projection has reached.
    pub fn journal_batch(&self) -> u64 {
        self.projection.cursor
    }

    /// After a failed write the in-memory state may be ahead of the file: reload it.
    fn reloaded<T>(&mut self, result: Result<T, AccountingError>) -> Result<T, AccountingError> {
        if result.is_err() {
            if let Ok(p) = self.store.read(Projection::load) {
                self.projection = p;
            }
        }
        result
    }

    /// Makes the vouchers of every journal batch not yet projected.
    pub fn catch_up(&mut self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64, AccountingError> {
        self.catch_up_through(None, progress)
    }

    fn catch_up_through(
        &mut self,
        through: Option<AccountingDate>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64, AccountingError> {
        let result = self.projection.catch_up(
            &mut self.store,
            &self.journal,
            &self.chart,
            &self.rules,
            through,
            progress,
        );
        self.reloaded(result)
    }

    /// Projects a batch from the engine's subscription, catching up from the journal first
    /// if batches were missed (a full subscriber queue, a restart).
    pub fn follow(
        &mut self,
        batch: &suanpan_engine::CommittedBatch,
    ) -> Result<(), AccountingError> {
        if batch.seq > self.projection.cursor + 1 {
            self.catch_up(&mut |_, _| {})?;
        }
        let result = self
            .projection
            .follow(&mut self.store, batch, &self.chart, &self.rules);
        self.reloaded(result)
    }

    /// Runs the day-end of `date` from its first unfinished step, with no payment channels
    /// to reconcile.
    pub fn day_end(
        &mut self,
        date: AccountingDate,
        options: DayEndOptions,
        observer: &mut dyn FnMut(&DayEndEvent),
    ) -> Result<DayEndReport, AccountingError> {
        self.day_end_with(date, options, &mut NoChannels, observer)
    }

    /// Runs the day-end of `date` from its first unfinished step; its first step is
    /// `reconciler`'s.
    pub fn day_end_with(
        &mut self,
        date: AccountingDate,
        options: DayEndOptions,
        reconciler: &mut dyn Reconciler,
        observer: &mut dyn FnMut(&DayEndEvent),
    ) -> Result<DayEndReport, AccountingError> {
        #[cfg(feature = "fault-injection")]
        let kill_after = crate::fault_injection::kill_after();
        #[cfg(feature = "fault-injection")]
        let observer = &mut |event: &DayEndEvent| {
            observer(event);
            crate::fault_injection::kill_at_boundary(event, kill_after.as_deref());
        };
        let result = self.run_day_end(date, options, reconciler, observer);
        self.reloaded(result)
    }

    fn run_day_end(
        &mut self,
        date: AccountingDate,
        options: DayEndOptions,
        reconciler: &mut dyn Reconciler,
        observer: &mut dyn FnMut(&DayEndEvent),
    ) -> Result<DayEndReport, AccountingError> {
        let timer = StepTimer::start();
        observer(&DayEndEvent::Started(Step::CatchUp));
        self.catch_up_through(Some(date), &mut |done, total| {
            observer(&DayEndEvent::Progress {
                step: Step::CatchUp,
                done,
                total,
            })
        })?;
        self.check_can_close(date)?;
        let done = self.store.read(|c| completed_steps(c, date))?;
        let ledger_balances = if done.iter().any(|(s, _)| *s == Step::GlCheck) {
            None
        } else {
            Some(self.ledger_balances_at_cutover(date, &mut |done, total| {
                observer(&DayEndEvent::Progress {
                    step: Step::CatchUp,
                    done,
                    total,
                })
            })?)
        };
        let mut report = DayEndReport {
            accounting_date: date,
            steps: Vec::new(),
            complete: false,
            differences: Vec::new(),
            open_suspense_items: Vec::new(),
            journal_head: String::new(),
        };
        let store = &mut self.store;
        let mut ctx = StepContext {
            data_dir: &self.data_dir,
            chart: &self.chart,
            projection: &mut self.projection,
            date,
            totals: None,
            balances: None,
            ledger_balances,
        };
        for step in Step::ALL {
            let step_timer = StepTimer::start();
            let outcome = match done.iter().find(|(s, _)| *s == step) {
                Some((_, summary)) => StepOutcome {
                    step,
                    skipped: true,
                    elapsed_ms: 0,
                    summary: summary.clone(),
                },
                None if step == Step::Reconcile => {
                    // Its work is the reconciliation room's, durable there and safe to redo;
                    // here only its completion is recorded.
                    observer(&DayEndEvent::Started(step));
                    let summary = reconciler.reconcile(date)?;
                    store.transaction(|tx| {
                        record_step(tx, date, step, &summary)?;
                        record_step_time(tx, date, step, step_timer.elapsed_ms())
                    })?;
                    StepOutcome {
                        step,
                        skipped: false,
                        elapsed_ms: step_timer.elapsed_ms(),
                        summary,
                    }
                }
                None => {
                    if step != Step::CatchUp {
                        observer(&DayEndEvent::Started(step));
                    }
                    // The catch-up's time is the journal reading before the loop, too.
                    let started = if step == Step::CatchUp {
                        &timer
                    } else {
                        &step_timer
                    };
                    // The step's results and its completion record commit together.
                    let summary = store.transaction(|tx| {
                        let summary = ctx.run(tx, step, &mut |done, total| {
                            observer(&DayEndEvent::Progress { step, done, total })
                        })?;
                        record_step(tx, date, step, &summary)?;
                        record_step_time(tx, date, step, started.elapsed_ms())?;
                        Ok::<_, AccountingError>(summary)
                    });
                    let summary = summary?;
                    StepOutcome {
                        step,
                        skipped: false,
                        elapsed_ms: started.elapsed_ms(),
                        summary,
                    }
                }
            };
            observer(&DayEndEvent::Finished {
                step,
                skipped: outcome.skipped,
                elapsed_ms: outcome.elapsed_ms,
                summary: &outcome.summary,
            });
            report.steps.push(outcome);
            if options.until == Some(step) {
                break;
            }
        }
        report.complete = report.steps.len() == Step::ALL.len();
        let (differences, open) = self.store.read(|c| {
            Ok::<_, AccountingError>((gl_check::read(c, date)?, suspense::list(c, true)?))
        })?;
        report.differences = differences
            .into_iter()
            .filter(|r| r.difference() != 0)
            .collect();
        report.open_suspense_items = open;
        let seq = self.projection.cursor;
        let hash = suanpan_journal::Journal::open_read_only(&self.journal)?.hash_of(seq)?;
        report.journal_head = suanpan_journal::Head { seq, hash }.to_text();
        Ok(report)
    }

    /// The ledger's own balances at the cutover that closed `date`, for the GL check: the
    /// journal's accounts table, read before any step transaction, with the journal projected
    /// at least as far as the table.
    fn ledger_balances_at_cutover(
        &mut self,
        date: AccountingDate,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<i128>, AccountingError> {
        let table = match &self.journal {
            JournalLocation::Sqlite(dir) => ledger_balance::read_table(&open_journal(dir)?)?,
            #[cfg(feature = "postgres")]
            JournalLocation::Postgres(db) => ledger_balance::read_table_postgres(db)?,
        };
        if table.seq > self.projection.cursor {
            self.catch_up_through(None, progress)?;
        }
        self.store
            .read(|c| ledger_balance::at_cutover(c, &table, date, &self.projection))
    }

    /// The date is known, cut over, and the date before it (if any) has closed its books: the
    /// rule a day-end run starts by, asked also by whoever starts one in the background.
    pub fn check_can_close(&self, date: AccountingDate) -> Result<(), AccountingError> {
        let dates = &self.projection.dates;
        if !dates.contains_key(&date) {
            return Err(AccountingError::DateUnknown(date));
        }
        if dates.range(date.next()..).next().is_none() {
            return Err(AccountingError::DateNotClosed(date));
        }
        if let Some((&previous, _)) = dates.range(..date).next_back() {
            if self.store.read(|c| completed_steps(c, previous))?.len() != Step::ALL.len() {
                return Err(AccountingError::PreviousDayEndIncomplete(previous));
            }
        }
        Ok(())
    }

    /// Every known date (or one) with its day-end progress.
    pub fn status(&self, date: Option<AccountingDate>) -> Result<Vec<DateStatus>, AccountingError> {
        let dates = &self.projection.dates;
        let last = dates.keys().next_back().copied();
        let mut out = Vec::new();
        for (&d, info) in dates {
            if date.is_some_and(|want| want != d) {
                continue;
            }
            out.push(DateStatus {
                accounting_date: d,
                first_batch: info.first_batch,
                last_batch: info.last_batch,
                transfers: info.transfers,
                vouchers: info.vouchers,
                unmatched: info.unmatched,
                closed: last.is_some_and(|l| l > d),
                steps: self.store.read(|c| completed_steps(c, d))?,
                step_times: self.store.read(|c| step_times(c, d))?,
            });
        }
        if let (Some(want), true) = (date, out.is_empty()) {
            return Err(AccountingError::DateUnknown(want));
        }
        Ok(out)
    }

    /// The general ledger of a date whose general-ledger step has run.
    pub fn general_ledger(&self, date: AccountingDate) -> Result<Vec<GlRow>, AccountingError> {
        self.require_step(date, Step::GeneralLedger)?;
        self.store.read(|c| general_ledger::read(c, date))
    }

    pub fn trial_balance(
        &self,
        date: AccountingDate,
    ) -> Result<Vec<TrialBalance>, AccountingError> {
        Ok(general_ledger::trial_balance(&self.general_ledger(date)?))
    }

    pub fn subject_balances(
        &self,
        date: AccountingDate,
    ) -> Result<Vec<report::SubjectBalance>, AccountingError> {
        Ok(report::subject_balances(
            &self.chart,
            &self.general_ledger(date)?,
        ))
    }

    pub fn gl_check(
        &self,
        date: AccountingDate,
    ) -> Result<Vec<gl_check::GlCheckRow>, AccountingError> {
        self.require_step(date, Step::GlCheck)?;
        self.store.read(|c| gl_check::read(c, date))
    }

    pub fn daily_balances(
        &self,
        date: AccountingDate,
    ) -> Result<Vec<(u128, crate::daily_balance::DailyBalance)>, AccountingError> {
        self.require_step(date, Step::DailyBalances)?;
        Ok(self
            .store
            .read(|c| crate::daily_balance::read(c, date))?
            .into_iter()
            .filter_map(|b| {
                self.projection
                    .accounts
                    .get(b.account_idx as usize)
                    .map(|a| (a.id, b))
            })
            .collect())
    }

    fn require_step(&self, date: AccountingDate, step: Step) -> Result<(), AccountingError> {
        if !self.projection.dates.contains_key(&date) {
            return Err(AccountingError::DateUnknown(date));
        }
        if self
            .store
            .read(|c| completed_steps(c, date))?
            .iter()
            .any(|(s, _)| *s == step)
        {
            Ok(())
        } else {
            Err(AccountingError::StepNotDone(date, step.as_str()))
        }
    }

    /// Vouchers of a date: the transfer series from `from_number`, then the manual series.
    pub fn vouchers(
        &self,
        date: AccountingDate,
        from_number: u64,
        limit: usize,
    ) -> Result<Vec<Voucher>, AccountingError> {
        if !self.projection.dates.contains_key(&date) {
            return Err(AccountingError::DateUnknown(date));
        }
        let limit = limit.min(VOUCHERS_LIST_MAX);
        let mut out = Vec::new();
        let accounts = &self.projection.accounts;
        let code_of = |id: u32| {
            self.chart
                .by_id(id)
                .map_or_else(|| format!("#{id}"), |s| s.code.clone())
        };
        let account_id = |idx: u32| accounts.get(idx as usize).map(|a| a.id);
        let (extra, manual) = self.store.read(|c| {
            Ok::<_, AccountingError>((
                crate::voucher::extra_lines(c, date)?,
                manual_vouchers(c, date)?,
            ))
        })?;
        self.store.read(|c| {
            for_each_transfer_voucher(c, date, |number, v| {
                if number < from_number || out.len() >= limit {
                    return;
                }
                let currency = accounts
                    .get(v.debit_account as usize)
                    .map_or_else(String::new, |a| a.currency.to_string());
                out.push(Voucher {
                    accounting_date: date,
                    series: 'T',
                    number,
                    kind: "transfer",
                    transfer_id: Some(v.transfer_id),
                    code: Some(v.code),
                    currency,
                    lines: vec![
                        VoucherLine {
                            side: Side::Debit,
                            subject_code: code_of(v.debit_subject),
                            account_id: account_id(v.debit_account),
                            amount: u128::from(v.amount),
                        },
                        VoucherLine {
                            side: Side::Credit,
                            subject_code: code_of(v.credit_subject),
                            account_id: account_id(v.credit_account),
                            amount: u128::from(v.amount),
                        },
                    ],
                });
                let first = extra.partition_point(|(n, _)| *n < number);
                if let Some(voucher) = out.last_mut().filter(|v| v.number == number) {
                    for (_, line) in extra[first..].iter().take_while(|(n, _)| *n == number) {
                        voucher.lines.push(VoucherLine {
                            side: line.side,
                            subject_code: code_of(line.subject),
                            account_id: None,
                            amount: u128::from(line.amount),
                        });
                    }
                }
            })
        })?;
        for m in manual {
            if out.len() >= limit {
                break;
            }
            let kind = match m.kind.as_str() {
                "supplement" => "supplement",
                "suspense" => "suspense",
                _ => "write_off",
            };
            out.push(Voucher {
                accounting_date: date,
                series: 'M',
                number: m.number,
                kind,
                transfer_id: m.transfer_id,
                code: None,
                currency: m.currency.to_string(),
                lines: vec![
                    VoucherLine {
                        side: Side::Debit,
                        subject_code: code_of(m.debit_subject),
                        account_id: m.debit_account.and_then(account_id),
                        amount: m.amount,
                    },
                    VoucherLine {
                        side: Side::Credit,
                        subject_code: code_of(m.credit_subject),
                        account_id: m.credit_account.and_then(account_id),
                        amount: m.amount,
                    },
                ],
            });
        }
        Ok(out)
    }

    pub fn suspense_items(&self, open_only: bool) -> Result<Vec<SuspenseItem>, AccountingError> {
        self.store.read(|c| suspense::list(c, open_only))
    }

    /// The accounting date the books are open on (the engine's, as far as the journal says).
    pub fn open_date(&self) -> Option<AccountingDate> {
        self.projection.current_date
    }

    /// Writes off suspense items: posts the explaining voucher(s) on the open date and closes
    /// the items, audited. `against` is the GL-only subject that explains a net amount.
    pub fn write_off(
        &mut self,
        ids: &[i64],
        against: Option<&str>,
        operator: &str,
        note: &str,
    ) -> Result<WriteOff, AccountingError> {
        self.catch_up(&mut |_, _| {})?;
        let result = self.post_write_off(ids, against, operator, note);
        self.reloaded(result)
    }

    fn post_write_off(
        &mut self,
        ids: &[i64],
        against: Option<&str>,
        operator: &str,
        note: &str,
    ) -> Result<WriteOff, AccountingError> {
        if ids.is_empty() || ids.len() > WRITE_OFF_ITEMS_MAX {
            return Err(AccountingError::WriteOffItemCount(ids.len()));
        }
        let all = self.store.read(|c| suspense::list(c, false))?;
        let mut items = Vec::new();
        for &id in ids {
            let item = all
                .iter()
                .find(|i| i.id == id)
                .ok_or(AccountingError::SuspenseItemUnknown(id))?;
            if !item.open {
                return Err(AccountingError::SuspenseItemClosed(id));
            }
            items.push(item.clone());
        }
        let date = self
            .projection
            .current_date
            .ok_or_else(|| AccountingError::Journal("the journal holds no batch yet".into()))?;
        if !self.store.read(|c| completed_steps(c, date))?.is_empty() {
            return Err(AccountingError::DateClosedForPosting(date));
        }
        let info = self
            .projection
            .dates
            .get_mut(&date)
            .ok_or(AccountingError::DateUnknown(date))?;
        let origin = format!(
            "write-off of suspense items {} by {operator}: {note}",
            ids.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let vouchers = suspense::write_off_vouchers(
            &self.chart,
            &items,
            against,
            info.manual_vouchers + 1,
            &origin,
        )?;
        info.manual_vouchers += vouchers.len() as u64;
        let manual_count = info.manual_vouchers;
        let closing_number = vouchers.last().map_or(0, |v| v.number);
        self.store.transaction(|tx| {
            for v in &vouchers {
                insert_manual(tx, date, v)?;
            }
            tx.execute(
                "UPDATE accounting_dates SET manual_vouchers = ?2 WHERE accounting_date = ?1",
                args![&date_text(date), manual_count],
            )?;
            for item in &items {
                suspense::close_item(tx, item.id, date, closing_number, operator, note)?;
            }
            audit(tx, operator, "write_off", &origin)
        })?;
        Ok(WriteOff {
            accounting_date: date,
            voucher_numbers: vouchers.iter().map(|v| v.number).collect(),
            items: ids.to_vec(),
        })
    }

    /// Adds a subject to the chart.
    pub fn add_subject(
        &mut self,
        code: &str,
        name: &str,
        category: Category,
        gl_only: bool,
        operator: &str,
    ) -> Result<(), AccountingError> {
        self.chart.check_new(code)?;
        self.store.transaction(|tx| {
            tx.execute(
                "INSERT INTO accounting_subjects (code, name, category, gl_only) VALUES (?1, ?2, ?3, ?4)",
                args![code, name, category.as_str(), gl_only],
            )?;
            audit(
                tx,
                operator,
                "add_subject",
                &format!("{code} {name} ({})", category.as_str()),
            )
        })?;
        self.chart = self.store.read(store::load_chart)?;
        Ok(())
    }

    /// Deletes a subject that nothing refers to: no children, accounts, rules or postings.
    pub fn delete_subject(&mut self, code: &str, operator: &str) -> Result<(), AccountingError> {
        if self.subject_in_use(code)? || !self.chart.is_leaf(code) {
            return Err(AccountingError::SubjectHasPostings(code.into()));
        }
        self.store.transaction(|tx| {
            tx.execute(
                "DELETE FROM accounting_subjects WHERE code = ?1",
                args![code],
            )?;
            audit(tx, operator, "delete_subject", code)
        })?;
        self.chart = self.store.read(store::load_chart)?;
        Ok(())
    }

    /// A subject that accounts, rules or postings refer to (or the suspense subject itself).
    fn subject_in_use(&self, code: &str) -> Result<bool, AccountingError> {
        let subject = self
            .chart
            .by_code(code)
            .ok_or_else(|| AccountingError::SubjectUnknown(code.into()))?;
        // Every version, not only the newest: projecting the journal again needs them all.
        let used_by_rule = self.rules.versions().any(|v| {
            v.rule
                .sources()
                .any(|source| source_text(source, &self.chart) == code)
        });
        let used_by_account = self
            .projection
            .accounts
            .iter()
            .any(|a| a.subject_id == subject.id);
        let posted = self.store.read(|c| {
            c.query_one(
                "SELECT EXISTS (SELECT 1 FROM accounting_general_ledger WHERE subject_code = ?1)
                     OR EXISTS (SELECT 1 FROM accounting_manual_vouchers WHERE debit_subject = ?2 OR credit_subject = ?2)",
                args![code, subject.id],
            )?
            .bool(0)
            .map_err(AccountingError::from)
        })?;
        Ok(used_by_rule || used_by_account || posted || code == crate::SUSPENSE_SUBJECT)
    }

    /// Renames a subject; its category and GL-only mark change only while nothing books
    /// under it (the balances already booked would change meaning).
    pub fn edit_subject(
        &mut self,
        code: &str,
        name: Option<&str>,
        category: Option<Category>,
        gl_only: Option<bool>,
        operator: &str,
    ) -> Result<(), AccountingError> {
        let subject = self
            .chart
            .by_code(code)
            .ok_or_else(|| AccountingError::SubjectUnknown(code.into()))?
            .clone();
        let new_category = category.unwrap_or(subject.category);
        let new_gl_only = gl_only.unwrap_or(subject.gl_only);
        let kind_changes = new_category != subject.category || new_gl_only != subject.gl_only;
        if kind_changes && self.subject_in_use(code)? {
            return Err(AccountingError::SubjectHasPostings(code.into()));
        }
        let new_name = name.unwrap_or(&subject.name);
        self.store.transaction(|tx| {
            tx.execute(
                "UPDATE accounting_subjects SET name = ?2, category = ?3, gl_only = ?4 WHERE code = ?1",
                args![code, new_name, new_category.as_str(), new_gl_only],
            )?;
            audit(
                tx,
                operator,
                "edit_subject",
                &format!("{code} {new_name} ({})", new_category.as_str()),
            )
        })?;
        self.chart = self.store.read(store::load_chart)?;
        Ok(())
    }

    /// Sets a posting rule given as lines (side, source, share in basis points), as the API
    /// takes it: one debit and one credit line for the whole amount.
    pub fn set_rule_lines(
        &mut self,
        code: u16,
        name: &str,
        lines: &[(Side, String, Option<u16>)],
        operator: &str,
    ) -> Result<RuleChange, AccountingError> {
        let main = |side: Side| {
            let mut whole = lines.iter().filter(|l| l.0 == side && l.2.is_none());
            match (whole.next(), whole.next()) {
                (Some(line), None) => Ok(line.1.as_str()),
                _ => Err(AccountingError::RuleInvalid(format!(
                    "a rule has exactly one {} line for the whole amount (no share_bp)",
                    side.as_str()
                ))),
            }
        };
        let (debit, credit) = (main(Side::Debit)?, main(Side::Credit)?);
        parse_source(debit, &self.chart)?;
        parse_source(credit, &self.chart)?;
        let mut extra = Vec::new();
        for (side, source, share_bp) in lines {
            let Some(share_bp) = share_bp else { continue };
            let subject = match parse_source(source, &self.chart)? {
                SubjectSource::Subject(id) => id,
                _ => {
                    return Err(AccountingError::RuleInvalid(
                        "a split line books on a subject, not on the transfer's accounts".into(),
                    ))
                }
            };
            extra.push(ExtraLine {
                side: *side,
                subject,
                share_bp: *share_bp,
            });
        }
        check_extra(&extra, &self.chart)?;
        let split: Vec<(Side, String, u16)> = extra
            .iter()
            .map(|l| {
                let subject = self.chart.by_id(l.subject).map(|s| s.code.clone());
                (l.side, subject.unwrap_or_default(), l.share_bp)
            })
            .collect();
        self.add_rule_version(code, name, (debit, credit), &split, operator)
    }

    /// Sets the posting rule of a transfer code: a new version, in force for the batches
    /// committed after the journal's head as it is now (see [`Accounting::add_rule_version`]).
    pub fn set_rule(
        &mut self,
        code: u16,
        name: &str,
        debit: &str,
        credit: &str,
        operator: &str,
    ) -> Result<RuleChange, AccountingError> {
        parse_source(debit, &self.chart)?;
        parse_source(credit, &self.chart)?;
        self.add_rule_version(code, name, (debit, credit), &[], operator)
    }

    /// Records a checked rule as the code's next version. It takes effect after the journal's
    /// head read now: a point of the journal's sequence, as a cutover is, so transfers
    /// committed before it keep the rule they had however far behind the projection is, and a
    /// projection made again from the journal's start gives the same vouchers. Never before
    /// what is already projected (already vouchered), nor before the code's last version.
    fn add_rule_version(
        &mut self,
        code: u16,
        name: &str,
        (debit, credit): (&str, &str),
        split: &[(Side, String, u16)],
        operator: &str,
    ) -> Result<RuleChange, AccountingError> {
        let head = crate::projection::journal_head(&self.journal)?;
        let effective_after = head
            .max(self.projection.cursor)
            .max(self.rules.latest(code).map_or(0, |v| v.effective_after));
        let split_text: Vec<String> = split
            .iter()
            .map(|(side, subject, bp)| format!("{} {subject} {bp} bp", side.as_str()))
            .collect();
        let version = self.store.transaction(|tx| {
            let version =
                store::insert_rule_version(tx, code, effective_after, name, (debit, credit), split)?;
            audit(
                tx,
                operator,
                "set_rule",
                &format!(
                    "code {code} version {version} {name}: debit {debit}, credit {credit}{}{}; in force after journal batch {effective_after}",
                    if split_text.is_empty() { "" } else { "; split: " },
                    split_text.join(", ")
                ),
            )?;
            Ok::<_, AccountingError>(version)
        })?;
        let chart = &self.chart;
        self.rules = self.store.read(|c| store::load_rules(c, chart))?;
        Ok(RuleChange {
            code,
            version,
            effective_after,
        })
    }
}
