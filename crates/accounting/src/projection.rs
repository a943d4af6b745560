//! The projection of the journal into vouchers: a deterministic function of the committed
//! batches in journal order. It is fed from the journal (read-only) to catch up, and from the
//! engine's committed-batch subscription while running; both go through [`Projection::project`].
//! Each group of batches is written in one transaction with the journal position it reached,
//! so after a crash it resumes where its last transaction ended and numbers come out the same.

use std::collections::BTreeMap;
use std::path::Path;
#[cfg(feature = "postgres")]
use std::sync::Arc;

use hashbrown::HashMap;
use rusqlite::{params, Connection};
use suanpan_journal::JournalLocation;
#[cfg(feature = "postgres")]
use suanpan_journal::PgDb;
use suanpan_ledger::{
    AccountingDate, Command, Currency, ResultCode, Stamped, SubjectCode, Transfer,
};
use suanpan_store::args;
use suanpan_store::exclusive::ExclusiveStore;
use suanpan_store::sql::Sql;

use crate::chart::Chart;
use crate::rule::Rules;
use crate::store::{date_text, parse_date};
use crate::voucher::{ExtraVoucherLine, TransferVoucher};
use crate::AccountingError;

/// Most journal batches read and written in one accounting transaction.
pub const CATCH_UP_BATCHES_MAX: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LedgerAccount {
    pub id: u128,
    pub currency: Currency,
    /// The subject code the ledger opened it with (its sub-ledger grouping).
    pub subject: SubjectCode,
    /// The leaf subject this account books under.
    pub subject_id: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Hold {
    debit: u32,
    credit: u32,
    amount: u64,
    code: u16,
}

/// What the projection knows of one accounting date.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct DateInfo {
    pub first_batch: u64,
    pub last_batch: u64,
    /// Posted transfers (including posts of pending ones).
    pub transfers: u64,
    pub vouchers: u64,
    pub unmatched: u64,
    pub manual_vouchers: u64,
}

enum HoldOp {
    Put(u128, Hold),
    Remove(u128),
}

/// A transfer whose code no rule books, as the supplement step will find it.
struct Unmatched {
    date: AccountingDate,
    batch: u64,
    transfer_id: u128,
    code: u16,
    debit: u32,
    credit: u32,
    amount: u64,
    /// 1, 2, 3, … within the date, in journal order: the supplement step's order.
    ordinal: u64,
}

/// What one group of batches adds to accounting.db.
#[derive(Default)]
struct Writes {
    /// The journal position the books were at before this group.
    cursor_from: u64,
    accounts_from: usize,
    holds: Vec<HoldOp>,
    /// (date, batch, first number, count, packed body)
    voucher_batches: Vec<(AccountingDate, u64, u64, u64, Vec<u8>)>,
    unmatched: Vec<Unmatched>,
    /// The split lines of transfer vouchers: (date, voucher number, line).
    extra_lines: Vec<(AccountingDate, u64, ExtraVoucherLine)>,
    dates: Vec<AccountingDate>,
}

pub struct Projection {
    pub accounts: Vec<LedgerAccount>,
    index: HashMap<u128, u32>,
    holds: HashMap<u128, Hold>,
    /// The last journal batch projected.
    pub cursor: u64,
    pub dates: BTreeMap<AccountingDate, DateInfo>,
    /// The accounting date after the last projected batch.
    pub current_date: Option<AccountingDate>,
}

impl Projection {
    pub fn load(conn: &dyn Sql) -> Result<Projection, AccountingError> {
        let mut accounts = Vec::new();
        for row in conn.query(
            "SELECT idx, id, currency, subject_code, subject_id FROM accounting_ledger_accounts ORDER BY idx",
            args![],
        )? {
            if row.u64(0)? != accounts.len() as u64 {
                return Err(AccountingError::Invariant(format!(
                    "ledger account {} is missing",
                    accounts.len()
                )));
            }
            accounts.push(LedgerAccount {
                id: parse_id(&row.str(1)?)?,
                currency: Currency::parse(&row.str(2)?).ok_or_else(|| {
                    AccountingError::Invariant("a stored currency does not parse".into())
                })?,
                subject: SubjectCode::parse(&row.str(3)?).ok_or_else(|| {
                    AccountingError::Invariant("a stored subject code does not parse".into())
                })?,
                subject_id: row.u32(4)?,
            });
        }
        let index = accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id, i as u32))
            .collect();
        let mut holds = HashMap::new();
        for row in conn.query(
            "SELECT pending_id, debit_idx, credit_idx, amount, code FROM accounting_holds",
            args![],
        )? {
            let hold = Hold {
                debit: row.u32(1)?,
                credit: row.u32(2)?,
                // Kept as the 64 bits of an SQL integer (see `write`).
                amount: row.i64(3)? as u64,
                code: row.u16(4)?,
            };
            holds.insert(parse_id(&row.str(0)?)?, hold);
        }
        let mut dates = BTreeMap::new();
        for row in conn.query(
            "SELECT accounting_date, first_batch, last_batch, transfers, vouchers, unmatched, manual_vouchers FROM accounting_dates",
            args![],
        )? {
            dates.insert(
                parse_date(&row.str(0)?)?,
                DateInfo {
                    first_batch: row.u64(1)?,
                    last_batch: row.u64(2)?,
                    transfers: row.u64(3)?,
                    vouchers: row.u64(4)?,
                    unmatched: row.u64(5)?,
                    manual_vouchers: row.u64(6)?,
                },
            );
        }
        let meta = |key: &str| {
            conn.query_row(
                "SELECT value FROM accounting_meta WHERE key = ?1",
                args![key],
            )
        };
        let cursor = meta("journal_batch")?
            .ok_or_else(|| AccountingError::Invariant("the books have no journal position".into()))?
            .u64_or_text(0)?;
        let current_date = match meta("current_date")? {
            Some(row) => Some(parse_date(&row.str(0)?)?),
            None => None,
        };
        Ok(Projection {
            accounts,
            index,
            holds,
            cursor,
            dates,
            current_date,
        })
    }

    /// Reads the journal after the cursor, `CATCH_UP_BATCHES_MAX` batches a transaction,
    /// until its end, or until the books have moved past `through` (the batch holding that
    /// cutover is projected whole). `progress` gets (batches done, batches to do).
    #[allow(clippy::too_many_arguments)]
    pub fn catch_up(
        &mut self,
        store: &mut ExclusiveStore,
        journal: &JournalLocation,
        chart: &Chart,
        rules: &Rules,
        through: Option<AccountingDate>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64, AccountingError> {
        let journal = JournalReader::open(journal)?;
        let end = journal.end()?;
        let start = self.cursor;
        let past = |p: &Projection| match (through, p.current_date) {
            (Some(through), Some(current)) => current > through,
            _ => false,
        };
        while self.cursor < end && !past(self) {
            let mut writes = Writes {
                cursor_from: self.cursor,
                accounts_from: self.accounts.len(),
                ..Writes::default()
            };
            let page = journal.page(self.cursor, end, CATCH_UP_BATCHES_MAX)?;
            if page.is_empty() {
                break;
            }
            for b in page {
                self.project(
                    b.seq,
                    b.date,
                    &b.commands,
                    &b.results,
                    chart,
                    rules,
                    &mut writes,
                )?;
                if past(self) {
                    break;
                }
            }
            self.write(store, writes)?;
            progress(self.cursor - start, end - start);
        }
        Ok(self.cursor - start)
    }

    /// Projects one committed batch from the engine's subscription (the journal must already
    /// have been caught up to the batch before it).
    pub fn follow(
        &mut self,
        store: &mut ExclusiveStore,
        batch: &suanpan_engine::CommittedBatch,
        chart: &Chart,
        rules: &Rules,
    ) -> Result<(), AccountingError> {
        if batch.seq <= self.cursor {
            return Ok(());
        }
        let mut writes = Writes {
            cursor_from: self.cursor,
            accounts_from: self.accounts.len(),
            ..Writes::default()
        };
        self.project(
            batch.seq,
            batch.accounting_date,
            &batch.commands,
            &batch.results,
            chart,
            rules,
            &mut writes,
        )?;
        self.write(store, writes)
    }

    #[allow(clippy::too_many_arguments)]
    fn project(
        &mut self,
        seq: u64,
        batch_date: AccountingDate,
        commands: &[Stamped],
        results: &[ResultCode],
        chart: &Chart,
        rules: &Rules,
        writes: &mut Writes,
    ) -> Result<(), AccountingError> {
        if seq != self.cursor + 1 {
            return Err(AccountingError::Journal(format!(
                "batch {} expected, batch {seq} came",
                self.cursor + 1
            )));
        }
        if commands.len() != results.len() {
            return Err(AccountingError::Journal(format!(
                "batch {seq} has {} commands and {} results",
                commands.len(),
                results.len()
            )));
        }
        let suspense = chart.suspense()?.id;
        let mut date = batch_date;
        let mut body = Vec::new();
        // A date exists from its cutover, or from its first command (the journal's first date,
        // which opens with the cutover away from the empty ledger's date).
        let mut touched = None;
        for (stamped, &result) in commands.iter().zip(results) {
            if result != ResultCode::Ok {
                continue;
            }
            if touched != Some(date) && !matches!(stamped.command, Command::Cutover { .. }) {
                self.touch(date, seq, writes);
                touched = Some(date);
            }
            match &stamped.command {
                Command::CreateAccount(a) => {
                    let subject_id = chart.leaf_for(&a.subject).unwrap_or(suspense);
                    self.index.insert(a.id, self.accounts.len() as u32);
                    self.accounts.push(LedgerAccount {
                        id: a.id,
                        currency: a.currency,
                        subject: a.subject,
                        subject_id,
                    });
                }
                Command::Cutover { date: next } => {
                    self.flush(date, seq, &mut body, writes);
                    date = *next;
                    self.touch(date, seq, writes);
                    touched = Some(date);
                }
                Command::ExpirePending { pending_id } => {
                    self.holds.remove(pending_id);
                    writes.holds.push(HoldOp::Remove(*pending_id));
                }
                Command::CreateTransfer(t) => {
                    let Some((debit, credit, amount, code)) = self.posting(seq, t, writes)? else {
                        continue;
                    };
                    let info = self.dates.entry(date).or_default();
                    info.transfers += 1;
                    // The version in force at this batch, not the newest: the same journal
                    // gives the same vouchers however late it is projected.
                    match rules.in_force(code, seq) {
                        Some(rule) => {
                            let (debit_subject, credit_subject) = rule.subjects(
                                self.accounts[debit as usize].subject_id,
                                self.accounts[credit as usize].subject_id,
                            );
                            if !rule.extra.is_empty() {
                                // The number this voucher gets when the batch is flushed.
                                let number = info.vouchers
                                    + (body.len() / TransferVoucher::BYTES) as u64
                                    + 1;
                                let currency = self.accounts[debit as usize].currency;
                                for line in split_lines(&rule.extra, amount, currency)? {
                                    writes.extra_lines.push((date, number, line));
                                }
                            }
                            TransferVoucher {
                                transfer_id: t.id,
                                code,
                                debit_account: debit,
                                credit_account: credit,
                                debit_subject,
                                credit_subject,
                                amount,
                            }
                            .encode(&mut body);
                        }
                        None => {
                            info.unmatched += 1;
                            writes.unmatched.push(Unmatched {
                                date,
                                batch: seq,
                                transfer_id: t.id,
                                code,
                                debit,
                                credit,
                                amount,
                                ordinal: info.unmatched,
                            });
                        }
                    }
                }
                Command::FreezeAccount { .. }
                | Command::UnfreezeAccount { .. }
                | Command::CloseAccount { .. } => {}
            }
        }
        self.flush(date, seq, &mut body, writes);
        self.cursor = seq;
        self.current_date = Some(date);
        Ok(())
    }

    /// What a committed transfer moved: (debit index, credit index, amount, code), or `None`
    /// for a hold or its void. A pending transfer is a hold, not a movement; its post moves
    /// the posted amount between the hold's accounts.
    fn posting(
        &mut self,
        seq: u64,
        t: &Transfer,
        writes: &mut Writes,
    ) -> Result<Option<(u32, u32, u64, u16)>, AccountingError> {
        let account = |id: u128| {
            self.index.get(&id).copied().ok_or_else(|| {
                AccountingError::Journal(format!(
                    "batch {seq}: transfer {} names unknown account {id}",
                    t.id
                ))
            })
        };
        if t.flags.pending() {
            let hold = Hold {
                debit: account(t.debit_account_id)?,
                credit: account(t.credit_account_id)?,
                amount: t.amount,
                code: t.code,
            };
            self.holds.insert(t.id, hold);
            writes.holds.push(HoldOp::Put(t.id, hold));
            return Ok(None);
        }
        if !t.flags.resolves_pending() {
            let (debit, credit) = (account(t.debit_account_id)?, account(t.credit_account_id)?);
            return Ok(Some((debit, credit, t.amount, t.code)));
        }
        let hold = self.holds.remove(&t.pending_id).ok_or_else(|| {
            AccountingError::Journal(format!(
                "batch {seq}: transfer {} resolves {}, which holds nothing",
                t.id, t.pending_id
            ))
        })?;
        writes.holds.push(HoldOp::Remove(t.pending_id));
        if t.flags.void_pending() {
            return Ok(None);
        }
        // Zero amount posts the whole hold; a post without a code keeps the hold's.
        let amount = if t.amount == 0 { hold.amount } else { t.amount };
        let code = if t.code == 0 { hold.code } else { t.code };
        Ok(Some((hold.debit, hold.credit, amount, code)))
    }

    /// Accounting's index of a ledger account.
    pub fn index_of(&self, id: u128) -> Option<u32> {
        self.index.get(&id).copied()
    }

    fn touch(&mut self, date: AccountingDate, seq: u64, writes: &mut Writes) {
        let info = self.dates.entry(date).or_insert(DateInfo {
            first_batch: seq,
            ..DateInfo::default()
        });
        info.last_batch = seq;
        if writes.dates.last() != Some(&date) {
            writes.dates.push(date);
        }
    }

    /// Ends the run of vouchers of one date within a batch, numbering them.
    fn flush(&mut self, date: AccountingDate, seq: u64, body: &mut Vec<u8>, writes: &mut Writes) {
        if body.is_empty() {
            return;
        }
        let count = (body.len() / TransferVoucher::BYTES) as u64;
        let info = self.dates.entry(date).or_default();
        let first_number = info.vouchers + 1;
        info.vouchers += count;
        writes
            .voucher_batches
            .push((date, seq, first_number, count, std::mem::take(body)));
    }

    fn write(&self, store: &mut ExclusiveStore, writes: Writes) -> Result<(), AccountingError> {
        store.transaction(|tx| self.write_in(tx, &writes))
    }

    fn write_in(&self, tx: &dyn Sql, writes: &Writes) -> Result<(), AccountingError> {
        for (idx, a) in self.accounts.iter().enumerate().skip(writes.accounts_from) {
            tx.execute(
                "INSERT INTO accounting_ledger_accounts (idx, id, currency, subject_code, subject_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                args![
                    idx as i64,
                    &a.id.to_string(),
                    a.currency.as_str(),
                    a.subject.as_str(),
                    a.subject_id
                ],
            )?;
        }
        for op in &writes.holds {
            match op {
                // Amounts are kept as the 64 bits of an SQL integer: a hold above i64::MAX
                // reads back the same.
                HoldOp::Put(id, h) => tx.execute(
                    "INSERT INTO accounting_holds (pending_id, debit_idx, credit_idx, amount, code) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (pending_id) DO UPDATE SET debit_idx = excluded.debit_idx,
                         credit_idx = excluded.credit_idx, amount = excluded.amount, code = excluded.code",
                    args![&id.to_string(), h.debit, h.credit, h.amount as i64, h.code],
                )?,
                HoldOp::Remove(id) => tx.execute(
                    "DELETE FROM accounting_holds WHERE pending_id = ?1",
                    args![&id.to_string()],
                )?,
            };
        }
        for (date, batch, first, count, body) in &writes.voucher_batches {
            tx.execute(
                "INSERT INTO accounting_voucher_batches (accounting_date, batch, first_number, count, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                args![&date_text(*date), *batch, *first, *count, body],
            )?;
        }
        for (date, number, line) in &writes.extra_lines {
            tx.execute(
                "INSERT INTO accounting_voucher_extra_lines (accounting_date, number, ordinal, side, subject_id, currency, amount) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                args![
                    &date_text(*date),
                    *number,
                    line.ordinal,
                    line.side.as_str(),
                    line.subject,
                    line.currency.as_str(),
                    line.amount as i64
                ],
            )?;
        }
        for u in &writes.unmatched {
            tx.execute(
                "INSERT INTO accounting_unmatched_transfers (accounting_date, batch, transfer_id, code, debit_idx, credit_idx, amount, ordinal) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                args![
                    &date_text(u.date),
                    u.batch,
                    &u.transfer_id.to_string(),
                    u.code,
                    u.debit,
                    u.credit,
                    u.amount as i64,
                    u.ordinal
                ],
            )?;
        }
        let mut seen = Vec::new();
        for date in &writes.dates {
            if seen.contains(date) {
                continue;
            }
            seen.push(*date);
            if let Some(i) = self.dates.get(date) {
                tx.execute(
                    "INSERT INTO accounting_dates (accounting_date, first_batch, last_batch, transfers, vouchers, unmatched, manual_vouchers) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (accounting_date) DO UPDATE SET first_batch = excluded.first_batch,
                         last_batch = excluded.last_batch, transfers = excluded.transfers,
                         vouchers = excluded.vouchers, unmatched = excluded.unmatched,
                         manual_vouchers = excluded.manual_vouchers",
                    args![
                        &date_text(*date),
                        i.first_batch,
                        i.last_batch,
                        i.transfers,
                        i.vouchers,
                        i.unmatched,
                        i.manual_vouchers
                    ],
                )?;
            }
        }
        // The position moves only from the one this process loaded: two processes writing
        // the same books (an operator's command beside a server) cannot both advance it. (The
        // CASE keeps the cast to this key's row, whatever order the database tests them in.)
        let moved = tx.execute(
            "UPDATE accounting_meta SET value = ?1
             WHERE key = 'journal_batch' AND CASE WHEN key = 'journal_batch' THEN CAST(value AS BIGINT) END = ?2",
            args![&self.cursor.to_string(), writes.cursor_from],
        )?;
        if moved != 1 {
            return Err(AccountingError::Invariant(format!(
                "the books' journal position is no longer {}: another process wrote them",
                writes.cursor_from
            )));
        }
        if let Some(date) = self.current_date {
            tx.execute(
                "INSERT INTO accounting_meta (key, value) VALUES ('current_date', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                args![&date_text(date)],
            )?;
        }
        Ok(())
    }
}

/// A committed batch as catch-up projects it.
struct JournalBatch {
    seq: u64,
    date: AccountingDate,
    commands: Vec<suanpan_ledger::Stamped>,
    results: Vec<ResultCode>,
}

/// The journal as catch-up reads it, read-only, in pages of committed batches: the SQLite file
/// in the data directory, or PostgreSQL through the journal's own reader (hash chain checked).
enum JournalReader {
    /// The journal's file, and its data directory (where archived periods' files are).
    Sqlite(Connection, std::path::PathBuf),
    #[cfg(feature = "postgres")]
    Postgres(Arc<PgDb>),
}

impl JournalReader {
    fn open(journal: &JournalLocation) -> Result<JournalReader, AccountingError> {
        Ok(match journal {
            JournalLocation::Sqlite(data_dir) => {
                JournalReader::Sqlite(open_journal(data_dir)?, data_dir.clone())
            }
            #[cfg(feature = "postgres")]
            JournalLocation::Postgres(db) => JournalReader::Postgres(db.clone()),
        })
    }

    /// The last committed batch.
    fn end(&self) -> Result<u64, AccountingError> {
        Ok(match self {
            // The journal's own file always holds its newest batch: only closed periods are
            // archived.
            JournalReader::Sqlite(c, _) => {
                c.query_row("SELECT COALESCE(MAX(seq), 0) FROM batches", [], |r| {
                    r.get(0)
                })?
            }
            #[cfg(feature = "postgres")]
            JournalReader::Postgres(db) => suanpan_journal::postgres::last_seq(db)?,
        })
    }

    /// The batches in (after, through], at most `max`, in order.
    fn page(
        &self,
        after: u64,
        through: u64,
        max: usize,
    ) -> Result<Vec<JournalBatch>, AccountingError> {
        match self {
            #[cfg(feature = "postgres")]
            JournalReader::Postgres(db) => {
                let want = (through - after).min(max as u64) as u32;
                Ok(suanpan_journal::postgres::batches_page(db, after, want)?
                    .into_iter()
                    .map(|b| JournalBatch {
                        seq: b.seq,
                        date: b.accounting_date,
                        commands: b.commands,
                        results: b.results,
                    })
                    .collect())
            }
            JournalReader::Sqlite(main, dir) => {
                // Batches of an archived period are read from its file, a period at a time.
                let period = suanpan_journal::period_holding(dir, main, after + 1)?;
                let c = period.as_ref().unwrap_or(main);
                let mut stmt = c.prepare_cached(
                    "SELECT seq, accounting_date, body, results FROM batches WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
                )?;
                let mut rows = stmt.query(params![after, through, max as i64])?;
                let mut page = Vec::new();
                while let Some(row) = rows.next()? {
                    let seq: u64 = row.get(0)?;
                    let date = parse_date(&row.get::<_, String>(1)?)?;
                    let (_, commands) =
                        suanpan_journal::decode_batch(row.get_ref(2)?.as_blob()?)
                            .map_err(|e| AccountingError::Journal(format!("batch {seq}: {e}")))?;
                    let results = row
                        .get_ref(3)?
                        .as_blob()?
                        .iter()
                        .map(|&b| {
                            ResultCode::from_u8(b).ok_or_else(|| {
                                AccountingError::Journal(format!("batch {seq}: unknown result {b}"))
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    page.push(JournalBatch {
                        seq,
                        date,
                        commands,
                        results,
                    });
                }
                Ok(page)
            }
        }
    }
}

/// The last batch committed to the journal (0: none), read now.
pub fn journal_head(journal: &JournalLocation) -> Result<u64, AccountingError> {
    JournalReader::open(journal)?.end()
}

/// The journal, read-only: accounting never writes it.
pub fn open_journal(data_dir: &Path) -> Result<Connection, AccountingError> {
    Ok(suanpan_journal::read_connection(data_dir)?)
}

pub fn parse_id(text: &str) -> Result<u128, AccountingError> {
    text.parse()
        .map_err(|_| AccountingError::Invariant(format!("stored id {text:?} does not parse")))
}

/// The split lines of one transfer's voucher, checked to balance (never assumed).
fn split_lines(
    extra: &[crate::rule::ExtraLine],
    amount: u64,
    currency: suanpan_ledger::Currency,
) -> Result<Vec<ExtraVoucherLine>, AccountingError> {
    let amounts = crate::rule::extra_amounts(extra, amount);
    let mut sides = [0u128; 2];
    let lines: Vec<ExtraVoucherLine> = extra
        .iter()
        .zip(&amounts)
        .enumerate()
        .map(|(i, (line, &amount))| {
            sides[usize::from(line.side == crate::Side::Credit)] += u128::from(amount);
            ExtraVoucherLine {
                ordinal: i as u32,
                side: line.side,
                subject: line.subject,
                currency,
                amount,
            }
        })
        .collect();
    if sides[0] != sides[1] {
        return Err(AccountingError::Invariant(format!(
            "split lines of {amount} do not balance: {} against {}",
            sides[0], sides[1]
        )));
    }
    Ok(lines)
}
