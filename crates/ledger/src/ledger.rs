//! The state machine itself: [`Ledger::apply`] and the rules of every command.
//!
//! Each command is checked completely before anything is written, so a rejected command
//! changes nothing. Linked chains are the one place where writes must be taken back: an undo
//! log records what a chain's members changed, and a failing member rolls them back.

use std::collections::{BTreeSet, HashMap};

use crate::filter::IdFilter;
use crate::index::IdIndex;
use crate::transfer::Pending;
use crate::window::Window;
use crate::{
    Account, AccountFlags, AccountStatus, AccountingDate, Command, Currency, NewAccount,
    PastTransfer, PendingStatus, ResultCode, Stamped, Tier, TierLimits, Transfer, TransferFlags,
    TransferRecord,
};

/// How many commands ahead `apply` prefetches a transfer's index slot.
const PREFETCH_DISTANCE: usize = 12;

/// Most accounts the ledger may hold: indexes are u32, and u32::MAX is never used. Past it a
/// new account is refused `table_full` (the limit the README states and `/metrics` reports
/// beside the table's fill). Transfers have no such limit: the oldest leave memory for the
/// journal (see [`Ledger::history_wanted`]).
pub const TABLE_ENTRIES_MAX: usize = (u32::MAX - 1) as usize;

/// Positions in the transfer index: a transfer's ordinal modulo this (u32::MAX is never one).
const POSITIONS: u64 = u32::MAX as u64;

/// Most transfers the window may keep in memory: below [`POSITIONS`] by more than any batch
/// can add, so positions of the transfers in memory never collide.
pub const WINDOW_MAX: usize = (u32::MAX as usize) - (1 << 24);

/// An entry for the journal's index of past transfers, made when a transfer leaves memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PastEntry {
    /// The transfer's id; for a resolution, the id of the pending transfer it resolved.
    pub id: u128,
    /// Engine time of the transfer that left memory: where the journal holds it.
    pub timestamp: u64,
    /// The transfer at `timestamp` posted or voided the pending transfer `id`.
    pub resolution: bool,
}

/// Sums over all accounts. The one rule of money: debits equal credits, posted and pending.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct LedgerTotals {
    pub debits_posted: u128,
    pub credits_posted: u128,
    pub debits_pending: u128,
    pub credits_pending: u128,
}

pub struct Ledger {
    pub(crate) limits: TierLimits,
    pub(crate) accounting_date: AccountingDate,
    pub(crate) accounts: Vec<Account>,
    pub(crate) account_index: IdIndex,
    /// The window: the most recent transfers, oldest first.
    pub(crate) transfers: Window,
    /// How many transfers were committed before `transfers[0]`.
    pub(crate) first_ordinal: u64,
    /// Most transfers kept in memory between batches; older ones leave for the journal.
    pub(crate) window: usize,
    /// Ids of the transfers that have left memory (maybe; see filter.rs).
    pub(crate) filter: IdFilter,
    /// Transfer id to position (its ordinal modulo [`POSITIONS`]) for the window.
    pub(crate) transfer_index: IdIndex,
    /// Pending transfers by id: every one still pending, however old, and the others while
    /// the journal's index might not yet answer for them (so a late post learns why not).
    pub(crate) pendings: HashMap<u128, Pending>,
    /// Posts and voids in the window, by id, to the pending transfer they resolved.
    pub(crate) resolutions: HashMap<u128, u128>,
    /// Deadlines of transfers still pending: (expires_at, transfer id).
    pub(crate) expiries: BTreeSet<(u64, u128)>,
    /// Transfers outside memory that the batch being applied names, as the engine read them.
    past: HashMap<u128, PastTransfer>,
    /// `history_wanted` asked for ids that `provide_history` has not brought yet.
    history_owed: bool,
    /// Entries for the journal's index, made as transfers left memory, not yet drained.
    left: Vec<PastEntry>,
    /// Running sums, derived (not snapshotted): checked after every command.
    pub(crate) totals: LedgerTotals,
    /// Engine timestamp of the last command applied; commands must come strictly after it.
    last_timestamp: u64,
    undo: Vec<Undo>,
    in_chain: bool,
    touched: Vec<u32>,
    touched_mark: Vec<bool>,
}

/// What a linked chain's member changed, so a later member's failure can take it back.
enum Undo {
    Account(u32, Account),
    TransferPushed,
    PendingInserted(u128),
    Pending(u128, Pending),
    ResolutionInserted(u128),
    ExpiryInserted(u64, u128),
    ExpiryRemoved(u64, u128),
    Totals(LedgerTotals),
}

/// What idempotency compares a resubmitted transfer against, wherever the original is.
struct Existing {
    flags: u16,
    pending_id: u128,
    debit: u128,
    credit: u128,
    amount: u64,
    currency: Currency,
    code: u16,
    reference_fingerprint: u32,
    timeout_ms: u64,
}

/// Most transfers a batch adds before the next one lets the oldest go.
const WINDOW_SLACK: usize = 2 * crate::BATCH_COMMANDS_MAX;
/// Windows up to this get their index's room at once (2 GiB of slots at most).
const INDEX_RESERVED_MAX: usize = 1 << 27;

/// The room the transfer index takes at once for `window`: all the window will need, so that
/// it never stops the ledger to grow while the window fills (at ten million, 128 MiB). A
/// ledger that keeps everything (verify) grows as it goes.
fn index_room(window: usize) -> usize {
    if window <= INDEX_RESERVED_MAX {
        window + WINDOW_SLACK
    } else {
        0
    }
}

fn position(ordinal: u64) -> u32 {
    (ordinal % POSITIONS) as u32
}

impl Ledger {
    /// A ledger that keeps every transfer in memory (up to [`WINDOW_MAX`]).
    pub fn new(limits: TierLimits) -> Ledger {
        Ledger::with_window(limits, WINDOW_MAX, 0)
    }

    /// A ledger that keeps the newest `window` transfers in memory, with a filter of
    /// `filter_bytes` for the ids of those that left (see filter.rs).
    pub fn with_window(limits: TierLimits, window: usize, filter_bytes: usize) -> Ledger {
        Ledger {
            limits,
            accounting_date: AccountingDate::default(),
            accounts: Vec::new(),
            account_index: IdIndex::default(),
            transfers: Window::default(),
            first_ordinal: 0,
            window: window.clamp(1, WINDOW_MAX),
            filter: IdFilter::with_bytes(filter_bytes),
            transfer_index: IdIndex::with_capacity(index_room(window)),
            pendings: HashMap::new(),
            resolutions: HashMap::new(),
            expiries: BTreeSet::new(),
            past: HashMap::new(),
            history_owed: false,
            left: Vec::new(),
            totals: LedgerTotals::default(),
            last_timestamp: 0,
            undo: Vec::new(),
            in_chain: false,
            touched: Vec::new(),
            touched_mark: Vec::new(),
        }
    }

    /// Applies `batch` in order and appends one result per command to `results`.
    ///
    /// Panics if timestamps do not strictly increase: that is a bug in the caller, and going on
    /// would write books that replay cannot reproduce.
    ///
    /// On a ledger whose window has let transfers go, call [`Ledger::history_wanted`] first
    /// and give what it asks for to [`Ledger::provide_history`]; without that, a retried old
    /// transfer would be taken for a new one.
    pub fn apply(&mut self, batch: &[Stamped], results: &mut Vec<ResultCode>) {
        assert!(
            !self.history_owed,
            "apply before the history that history_wanted asked for was provided"
        );
        let results_start = results.len();
        let mut i = 0;
        while i < batch.len() {
            // The transfer index outgrows the caches: start loading a later transfer's slot now
            // so that it is there when its turn comes.
            if let Some(Stamped {
                command: Command::CreateTransfer(t),
                ..
            }) = batch.get(i + PREFETCH_DISTANCE)
            {
                self.transfer_index.prefetch(t.id);
            }
            if !batch[i].command.is_linked_transfer() {
                let result = self.apply_one(&batch[i]);
                results.push(result);
                i += 1;
                continue;
            }
            // A chain runs from here to the first transfer without the linked flag.
            let mut end = i;
            while end < batch.len() && batch[end].command.is_linked_transfer() {
                end += 1;
            }
            if end == batch.len() || !matches!(batch[end].command, Command::CreateTransfer(_)) {
                for stamped in &batch[i..end] {
                    self.advance_clock(stamped.timestamp);
                    results.push(ResultCode::LinkedEventChainOpen);
                }
                i = end;
                continue;
            }
            self.apply_chain(&batch[i..=end], results);
            i = end + 1;
        }
        assert_eq!(results.len() - results_start, batch.len());
        self.past.clear();
    }

    /// Lets the oldest transfers beyond the window leave memory, then names the ids in
    /// `batch` whose transfers may have left it: the caller reads them from the journal (as
    /// of just before `batch`) and hands them to [`Ledger::provide_history`] before
    /// [`Ledger::apply`]. Prefetching this way keeps the ledger pure: what it decides depends
    /// only on the commands and what it was given, so replay decides the same.
    ///
    /// Transfers stamped at or after `keep_from` stay whatever the window: the journal can
    /// give back only what it holds, and the engine's batch (several `apply` calls) is not
    /// in it until it is whole.
    pub fn history_wanted(&mut self, batch: &[Stamped], keep_from: u64) -> Vec<u128> {
        self.past.clear();
        self.leave_window(keep_from);
        let mut wanted = Vec::new();
        if self.filter.inserted() == 0 {
            return wanted;
        }
        for stamped in batch {
            match &stamped.command {
                Command::CreateTransfer(t) => {
                    self.want(t.id, &mut wanted);
                    if t.flags.resolves_pending() {
                        self.want(t.pending_id, &mut wanted);
                    }
                }
                Command::ExpirePending { pending_id } => self.want(*pending_id, &mut wanted),
                _ => {}
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        self.history_owed = !wanted.is_empty();
        wanted
    }

    fn want(&self, id: u128, wanted: &mut Vec<u128>) {
        if id != 0
            && id != u128::MAX
            && self.filter.may_contain(id)
            && self.transfer_index_of(id).is_none()
            && !self.pendings.contains_key(&id)
        {
            wanted.push(id);
        }
    }

    /// The past transfers found for the ids [`Ledger::history_wanted`] named (an id with no
    /// transfer before the batch is simply absent).
    pub fn provide_history(&mut self, past: impl IntoIterator<Item = PastTransfer>) {
        for p in past {
            self.past.insert(p.transfer.id, p);
        }
        self.history_owed = false;
    }

    /// Lets the transfers beyond the window leave memory now (as the next batch would):
    /// before a snapshot, so that it holds exactly the window. Collect the entries with
    /// [`Ledger::take_left`].
    pub fn trim_window(&mut self) {
        self.leave_window(u64::MAX);
    }

    /// Entries for the journal's index of past transfers, for every transfer that left
    /// memory since the last call, oldest first.
    pub fn take_left(&mut self) -> Vec<PastEntry> {
        std::mem::take(&mut self.left)
    }

    /// Moves the oldest transfers beyond the window out of memory. Between batches only: a
    /// batch's commands are checked against the memory `history_wanted` saw.
    fn leave_window(&mut self, keep_from: u64) {
        while self.transfers.len() > self.window {
            let Some(record) = self.transfers.front().copied() else {
                break;
            };
            if record.timestamp >= keep_from {
                break;
            }
            let id = record.id();
            self.transfer_index.remove(id, position(self.first_ordinal));
            self.transfers.pop_front();
            self.first_ordinal += 1;
            self.filter.insert(id);
            self.left.push(PastEntry {
                id,
                timestamp: record.timestamp,
                resolution: false,
            });
            let flags = TransferFlags(record.flags);
            if flags.resolves_pending() {
                // Its pending transfer left before it; from now on the journal says how it
                // ended.
                if let Some(pending_id) = self.resolutions.remove(&id) {
                    self.pendings.remove(&pending_id);
                    self.left.push(PastEntry {
                        id: pending_id,
                        timestamp: record.timestamp,
                        resolution: true,
                    });
                }
            } else if flags.pending()
                && self
                    .pendings
                    .get(&id)
                    .is_some_and(|p| p.status == PendingStatus::Expired)
            {
                // Expired with no post or void: the journal's index says so by having none.
                self.pendings.remove(&id);
            }
        }
    }

    fn apply_chain(&mut self, chain: &[Stamped], results: &mut Vec<ResultCode>) {
        debug_assert!(self.undo.is_empty());
        self.in_chain = true;
        let mut failed = None;
        for (k, stamped) in chain.iter().enumerate() {
            let result = self.apply_one(stamped);
            // `exists` keeps the chain: a retried chain finds all its members there.
            if !result.is_success() {
                failed = Some((k, result));
                for rest in &chain[k + 1..] {
                    self.advance_clock(rest.timestamp);
                }
                break;
            }
            results.push(result);
        }
        self.in_chain = false;
        match failed {
            None => self.undo.clear(),
            Some((k, result)) => {
                self.rollback();
                results.truncate(results.len() - k);
                for j in 0..chain.len() {
                    results.push(if j == k {
                        result
                    } else {
                        ResultCode::LinkedEventFailed
                    });
                }
            }
        }
    }

    fn rollback(&mut self) {
        while let Some(undo) = self.undo.pop() {
            match undo {
                Undo::Account(index, account) => self.accounts[index as usize] = account,
                Undo::TransferPushed => {
                    if let Some(record) = self.transfers.pop_back() {
                        let ordinal = self.first_ordinal + self.transfers.len() as u64;
                        self.transfer_index.remove(record.id(), position(ordinal));
                    }
                }
                Undo::PendingInserted(id) => {
                    self.pendings.remove(&id);
                }
                Undo::Pending(id, pending) => {
                    self.pendings.insert(id, pending);
                }
                Undo::ResolutionInserted(id) => {
                    self.resolutions.remove(&id);
                }
                Undo::ExpiryInserted(at, id) => {
                    self.expiries.remove(&(at, id));
                }
                Undo::ExpiryRemoved(at, id) => {
                    self.expiries.insert((at, id));
                }
                Undo::Totals(totals) => self.totals = totals,
            }
        }
    }

    fn advance_clock(&mut self, timestamp: u64) {
        assert!(
            timestamp > self.last_timestamp,
            "timestamps must strictly increase: {timestamp} after {}",
            self.last_timestamp
        );
        self.last_timestamp = timestamp;
    }

    fn apply_one(&mut self, stamped: &Stamped) -> ResultCode {
        self.advance_clock(stamped.timestamp);
        let now = stamped.timestamp;
        let result = match &stamped.command {
            Command::CreateAccount(new) => self.create_account(new, now),
            Command::CreateTransfer(t) if t.flags.resolves_pending() => {
                self.resolve_pending(t, now)
            }
            Command::CreateTransfer(t) => self.create_transfer(t, now),
            Command::FreezeAccount { id } => self.set_status(*id, AccountStatus::Frozen),
            Command::UnfreezeAccount { id } => self.set_status(*id, AccountStatus::Active),
            Command::CloseAccount { id } => self.set_status(*id, AccountStatus::Closed),
            Command::Cutover { date } => self.cutover(*date),
            Command::ExpirePending { pending_id } => self.expire(*pending_id, now),
        };
        assert_eq!(self.totals.debits_posted, self.totals.credits_posted);
        assert_eq!(self.totals.debits_pending, self.totals.credits_pending);
        result
    }

    // ----- accounts -------------------------------------------------------------------------

    fn create_account(&mut self, new: &NewAccount, now: u64) -> ResultCode {
        if let Err(code) = check_id(new.id) {
            return code;
        }
        if !new.flags.is_known() {
            return ResultCode::FlagsUnknown;
        }
        if new
            .flags
            .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && new
                .flags
                .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        {
            return ResultCode::FlagsAreMutuallyExclusive;
        }
        if let Some(index) = self.account_index_of(new.id) {
            return account_exists(&self.accounts[index as usize], new);
        }
        if new.tier.has_bound_account() {
            if new.bound_account == 0 {
                return ResultCode::BoundAccountRequired;
            }
            let Some(bound) = self.account_by_id(new.bound_account) else {
                return ResultCode::BoundAccountNotFound;
            };
            if bound.tier != Tier::I {
                return ResultCode::BoundAccountNotClassI;
            }
            if bound.owner != new.owner {
                return ResultCode::BoundAccountOwnerMismatch;
            }
            if bound.currency != new.currency {
                return ResultCode::BoundAccountCurrencyMismatch;
            }
        } else if new.bound_account != 0 {
            return ResultCode::BoundAccountNotAllowed;
        }
        if new.tier != Tier::None && new.currency != Currency::CNY {
            return ResultCode::TierRequiresCny;
        }
        if self.accounts.len() >= TABLE_ENTRIES_MAX {
            return ResultCode::TableFull;
        }
        // Accounts are never part of a linked chain, so there is nothing to undo here.
        let index = self.accounts.len() as u32;
        self.accounts
            .push(Account::open(new, now, self.accounting_date));
        self.touched_mark.push(false);
        self.account_index.insert(new.id, index);
        self.touch(index);
        ResultCode::Ok
    }

    fn set_status(&mut self, id: u128, to: AccountStatus) -> ResultCode {
        let Some(index) = self.account_index_of(id) else {
            return ResultCode::AccountNotFound;
        };
        let account = &self.accounts[index as usize];
        let check = match (account.status, to) {
            (AccountStatus::Closed, _) => Err(ResultCode::AccountClosed),
            (AccountStatus::Frozen, AccountStatus::Frozen) => Err(ResultCode::AccountFrozen),
            (AccountStatus::Active, AccountStatus::Active) => Err(ResultCode::AccountNotFrozen),
            (AccountStatus::Frozen, AccountStatus::Closed) => Err(ResultCode::AccountFrozen),
            (_, AccountStatus::Closed) if account.has_pending() => {
                Err(ResultCode::AccountHasPending)
            }
            (_, AccountStatus::Closed) if account.debits_posted != account.credits_posted => {
                Err(ResultCode::AccountHasBalance)
            }
            _ => Ok(()),
        };
        if let Err(code) = check {
            return code;
        }
        self.accounts[index as usize].status = to;
        self.touch(index);
        ResultCode::Ok
    }

    fn cutover(&mut self, date: AccountingDate) -> ResultCode {
        if date <= self.accounting_date {
            return ResultCode::AccountingDateMustAdvance;
        }
        if date > AccountingDate::MAX {
            return ResultCode::AccountingDateOutOfRange;
        }
        self.accounting_date = date;
        ResultCode::Ok
    }

    // ----- transfers ------------------------------------------------------------------------

    fn create_transfer(&mut self, t: &Transfer, now: u64) -> ResultCode {
        if let Err(code) = check_transfer_shape(t) {
            return code;
        }
        if let Some(existing) = self.existing(t.id) {
            return transfer_exists(&existing, t);
        }
        if t.pending_id != 0 {
            return ResultCode::PendingIdMustBeZero;
        }
        if t.timeout_ms != 0 && !t.flags.pending() {
            return ResultCode::TimeoutReservedForPendingTransfer;
        }
        if t.timeout_ms > Transfer::TIMEOUT_MS_MAX {
            return ResultCode::TimeoutTooLong;
        }
        if t.amount == 0 {
            return ResultCode::AmountMustNotBeZero;
        }
        if t.debit_account_id == t.credit_account_id {
            return ResultCode::AccountsMustBeDifferent;
        }
        let Some(dr) = self.account_index_of(t.debit_account_id) else {
            return ResultCode::DebitAccountNotFound;
        };
        let Some(cr) = self.account_index_of(t.credit_account_id) else {
            return ResultCode::CreditAccountNotFound;
        };
        let (debit, credit) = (&self.accounts[dr as usize], &self.accounts[cr as usize]);
        if t.currency != debit.currency || t.currency != credit.currency {
            return ResultCode::CurrencyMismatch;
        }
        if let Err(code) = check_status(debit, credit) {
            return code;
        }
        if let Err(code) = check_balances(debit, credit, u128::from(t.amount)) {
            return code;
        }
        let (outflow, inflow) = match self.tier_charges(debit, credit, t.amount) {
            Ok(charges) => charges,
            Err(code) => return code,
        };
        if self.transfers.len() >= WINDOW_MAX + (1 << 23) {
            // Only a caller that never lets transfers leave (no `history_wanted`) gets here.
            return ResultCode::TableFull;
        }

        // Every check passed: from here on the transfer happens.
        let amount = u128::from(t.amount);
        let today = self.accounting_date;
        self.save_account(dr);
        self.save_account(cr);
        self.save_totals();
        let pending = t.flags.pending();
        {
            let debit = &mut self.accounts[dr as usize];
            if pending {
                debit.debits_pending += amount;
            } else {
                debit.debits_posted += amount;
            }
            if outflow > 0 {
                debit.tier_usage = debit.tier_usage.on(today);
                debit.tier_usage.outflow_day_fen =
                    debit.tier_usage.outflow_day_fen.saturating_add(outflow);
                debit.tier_usage.outflow_year_fen =
                    debit.tier_usage.outflow_year_fen.saturating_add(outflow);
            }
        }
        {
            let credit = &mut self.accounts[cr as usize];
            if pending {
                credit.credits_pending += amount;
            } else {
                credit.credits_posted += amount;
            }
            if inflow > 0 {
                credit.tier_usage = credit.tier_usage.on(today);
                credit.tier_usage.inflow_day_fen =
                    credit.tier_usage.inflow_day_fen.saturating_add(inflow);
                credit.tier_usage.inflow_year_fen =
                    credit.tier_usage.inflow_year_fen.saturating_add(inflow);
            }
        }
        if pending {
            self.totals.debits_pending += amount;
            self.totals.credits_pending += amount;
        } else {
            self.totals.debits_posted += amount;
            self.totals.credits_posted += amount;
        }
        let record = self.push_transfer(t, t.amount, dr, cr, now);
        if pending {
            let expires_at = t.expires_at_ns(now).unwrap_or(u64::MAX);
            self.insert_pending(
                t.id,
                Pending {
                    record,
                    timeout_ms: t.timeout_ms,
                    expires_at,
                    status: PendingStatus::Pending,
                    charged_on: today,
                    outflow_charged: outflow,
                    inflow_charged: inflow,
                },
            );
        }
        ResultCode::Ok
    }

    /// Post (in full or in part) or void a pending transfer.
    fn resolve_pending(&mut self, t: &Transfer, now: u64) -> ResultCode {
        if let Err(code) = check_transfer_shape(t) {
            return code;
        }
        if let Some(existing) = self.existing(t.id) {
            return transfer_exists(&existing, t);
        }
        if t.pending_id == 0 {
            return ResultCode::PendingIdRequired;
        }
        if t.pending_id == t.id {
            return ResultCode::PendingIdMustBeDifferent;
        }
        if t.timeout_ms != 0 {
            return ResultCode::TimeoutReservedForPendingTransfer;
        }
        let pending = match self.find_pending(t.pending_id) {
            Ok(pending) => pending,
            Err(code) => return code,
        };
        if let Err(code) = check_pending_open(&pending, now) {
            return code;
        }
        let original = pending.record;
        let (dr, cr) = (original.debit_index, original.credit_index);
        let (debit, credit) = (&self.accounts[dr as usize], &self.accounts[cr as usize]);
        if t.debit_account_id != 0 && t.debit_account_id != debit.id {
            return ResultCode::PendingTransferHasDifferentDebitAccount;
        }
        if t.credit_account_id != 0 && t.credit_account_id != credit.id {
            return ResultCode::PendingTransferHasDifferentCreditAccount;
        }
        if t.currency != debit.currency {
            return ResultCode::PendingTransferHasDifferentCurrency;
        }
        let post = t.flags.post_pending();
        let amount = match t.amount {
            0 => original.amount,
            a if post && a > original.amount => return ResultCode::ExceedsPendingTransferAmount,
            a if !post && a != original.amount => {
                return ResultCode::PendingTransferHasDifferentAmount
            }
            a => a,
        };
        if post {
            // Holds are released by a void even on a frozen account; money only moves on a post.
            if let Err(code) = check_status(debit, credit) {
                return code;
            }
        }
        if self.transfers.len() >= WINDOW_MAX + (1 << 23) {
            return ResultCode::TableFull;
        }

        let posted = if post { amount } else { 0 };
        self.release_pending(&pending, posted);
        let status = if post {
            PendingStatus::Posted
        } else {
            PendingStatus::Voided
        };
        self.close_pending(t.pending_id, &pending, status);
        self.push_transfer(t, amount, dr, cr, now);
        self.insert_resolution(t.id, t.pending_id);
        ResultCode::Ok
    }

    /// The pending transfer `id`, in memory; or why it cannot be resolved.
    fn find_pending(&self, id: u128) -> Result<Pending, ResultCode> {
        if let Some(&pending) = self.pendings.get(&id) {
            return Ok(pending);
        }
        if self.transfer_index_of(id).is_some() {
            return Err(ResultCode::PendingTransferNotPending);
        }
        match self.past.get(&id) {
            None => Err(ResultCode::PendingTransferNotFound),
            Some(past) if !past.transfer.flags.pending() => {
                Err(ResultCode::PendingTransferNotPending)
            }
            // Those still pending never leave memory: this one was posted, voided or expired.
            Some(past) => Err(match past.status {
                PendingStatus::Posted => ResultCode::PendingTransferAlreadyPosted,
                PendingStatus::Voided => ResultCode::PendingTransferAlreadyVoided,
                PendingStatus::Pending | PendingStatus::Expired => {
                    ResultCode::PendingTransferExpired
                }
            }),
        }
    }

    fn expire(&mut self, pending_id: u128, now: u64) -> ResultCode {
        let pending = match self.find_pending(pending_id) {
            Ok(pending) => pending,
            Err(code) => return code,
        };
        match check_pending_open(&pending, now) {
            Ok(()) => return ResultCode::PendingTransferNotExpired,
            Err(ResultCode::PendingTransferExpired) if pending.status == PendingStatus::Pending => {
            }
            Err(code) => return code,
        }
        self.release_pending(&pending, 0);
        self.close_pending(pending_id, &pending, PendingStatus::Expired);
        ResultCode::Ok
    }

    /// Releases a pending transfer's hold, posting `posted` of it and giving back the tier
    /// usage of the rest.
    fn release_pending(&mut self, pending: &Pending, posted: u64) {
        let original = pending.record;
        let (dr, cr) = (original.debit_index, original.credit_index);
        let held = u128::from(original.amount);
        let released = original.amount - posted;
        self.save_account(dr);
        self.save_account(cr);
        self.save_totals();
        let debit = &mut self.accounts[dr as usize];
        debit.debits_pending -= held;
        debit.debits_posted += u128::from(posted);
        if pending.outflow_charged > 0 {
            let share = released.min(pending.outflow_charged);
            debit.tier_usage.release(pending.charged_on, share, 0);
        }
        let credit = &mut self.accounts[cr as usize];
        credit.credits_pending -= held;
        credit.credits_posted += u128::from(posted);
        if pending.inflow_charged > 0 {
            let share = released.min(pending.inflow_charged);
            credit.tier_usage.release(pending.charged_on, 0, share);
        }
        self.totals.debits_pending -= held;
        self.totals.credits_pending -= held;
        self.totals.debits_posted += u128::from(posted);
        self.totals.credits_posted += u128::from(posted);
    }

    fn close_pending(&mut self, id: u128, pending: &Pending, status: PendingStatus) {
        if self.in_chain {
            self.undo.push(Undo::Pending(id, *pending));
        }
        if status == PendingStatus::Expired && self.transfer_index_of(id).is_none() {
            // Out of the window already, and nothing can resolve it now: the journal's index
            // answers for it (a pending transfer there with no post or void expired).
            self.pendings.remove(&id);
        } else {
            self.pendings.insert(id, Pending { status, ..*pending });
        }
        if pending.expires_at != u64::MAX
            && self.expiries.remove(&(pending.expires_at, id))
            && self.in_chain
        {
            self.undo.push(Undo::ExpiryRemoved(pending.expires_at, id));
        }
    }

    fn insert_pending(&mut self, id: u128, pending: Pending) {
        self.pendings.insert(id, pending);
        if pending.expires_at != u64::MAX {
            self.expiries.insert((pending.expires_at, id));
        }
        if self.in_chain {
            self.undo.push(Undo::PendingInserted(id));
            if pending.expires_at != u64::MAX {
                self.undo.push(Undo::ExpiryInserted(pending.expires_at, id));
            }
        }
    }

    fn insert_resolution(&mut self, id: u128, pending_id: u128) {
        self.resolutions.insert(id, pending_id);
        if self.in_chain {
            self.undo.push(Undo::ResolutionInserted(id));
        }
    }

    fn push_transfer(
        &mut self,
        t: &Transfer,
        amount: u64,
        dr: u32,
        cr: u32,
        now: u64,
    ) -> TransferRecord {
        let record = TransferRecord {
            id_lo: t.id as u64,
            id_hi: (t.id >> 64) as u64,
            amount,
            debit_index: dr,
            credit_index: cr,
            code: t.code,
            flags: t.flags.0,
            reference_fingerprint: t.reference.fingerprint(),
            timestamp: now,
        };
        let ordinal = self.first_ordinal + self.transfers.len() as u64;
        self.transfers.push_back(record);
        self.transfer_index.insert(t.id, position(ordinal));
        if self.in_chain {
            self.undo.push(Undo::TransferPushed);
        }
        self.touch(dr);
        self.touch(cr);
        record
    }

    /// The transfer `id` as idempotency compares it: in the window, a pending transfer kept
    /// past it, or one the engine read back from the journal for this batch.
    fn existing(&self, id: u128) -> Option<Existing> {
        let record = match self.transfer_index_of(id) {
            Some(position) => Some(self.record_at(position)),
            None => self.pendings.get(&id).map(|p| &p.record),
        };
        if let Some(r) = record {
            let debit = &self.accounts[r.debit_index as usize];
            return Some(Existing {
                flags: r.flags,
                pending_id: self.resolutions.get(&id).copied().unwrap_or(0),
                debit: debit.id,
                credit: self.accounts[r.credit_index as usize].id,
                amount: r.amount,
                currency: debit.currency,
                code: r.code,
                reference_fingerprint: r.reference_fingerprint,
                timeout_ms: self.pendings.get(&id).map_or(0, |p| p.timeout_ms),
            });
        }
        self.past.get(&id).map(|p| {
            let t = &p.transfer;
            Existing {
                flags: t.flags.0,
                pending_id: t.pending_id,
                debit: t.debit_account_id,
                credit: t.credit_account_id,
                amount: t.amount,
                currency: t.currency,
                code: t.code,
                reference_fingerprint: t.reference.fingerprint(),
                timeout_ms: t.timeout_ms,
            }
        })
    }

    /// Tier usage a transfer would charge (outflow on the debit side, inflow on the credit
    /// side), or the limit it would break.
    fn tier_charges(
        &self,
        debit: &Account,
        credit: &Account,
        amount: u64,
    ) -> Result<(u64, u64), ResultCode> {
        let bound_pair = (debit.tier.has_bound_account() && debit.bound_account == credit.id)
            || (credit.tier.has_bound_account() && credit.bound_account == debit.id);
        let today = self.accounting_date;
        let limits = &self.limits;
        let mut charges = (0, 0);
        if debit.tier.has_bound_account() && !bound_pair {
            let (daily, yearly) = match debit.tier {
                Tier::II => (
                    limits.class_ii_outflow_daily_fen,
                    limits.class_ii_outflow_yearly_fen,
                ),
                _ => (
                    limits.class_iii_outflow_daily_fen,
                    limits.class_iii_outflow_yearly_fen,
                ),
            };
            let usage = debit.tier_usage.on(today);
            if usage.outflow_day_fen.saturating_add(amount) > daily {
                return Err(ResultCode::TierDailyOutflowExceeded);
            }
            if usage.outflow_year_fen.saturating_add(amount) > yearly {
                return Err(ResultCode::TierYearlyOutflowExceeded);
            }
            charges.0 = amount;
        }
        if credit.tier == Tier::III {
            // The cap counts holds too: a pending credit must not let the balance pass it later.
            let after = credit.credits_posted + credit.credits_pending + u128::from(amount);
            if after.saturating_sub(credit.debits_posted)
                > u128::from(limits.class_iii_balance_max_fen)
            {
                return Err(ResultCode::TierBalanceCapExceeded);
            }
        }
        if credit.tier.has_bound_account() && !bound_pair {
            if credit.tier == Tier::III
                && !credit
                    .flags
                    .contains(AccountFlags::NON_BOUND_INFLOW_CONSENT)
            {
                return Err(ResultCode::TierInflowRequiresConsent);
            }
            if credit.tier == Tier::II {
                let usage = credit.tier_usage.on(today);
                if usage.inflow_day_fen.saturating_add(amount) > limits.class_ii_inflow_daily_fen {
                    return Err(ResultCode::TierDailyInflowExceeded);
                }
                if usage.inflow_year_fen.saturating_add(amount) > limits.class_ii_inflow_yearly_fen
                {
                    return Err(ResultCode::TierYearlyInflowExceeded);
                }
            }
            charges.1 = amount;
        }
        Ok(charges)
    }

    // ----- bookkeeping ----------------------------------------------------------------------

    fn save_account(&mut self, index: u32) {
        if self.in_chain {
            self.undo
                .push(Undo::Account(index, self.accounts[index as usize]));
        }
        self.touch(index);
    }

    fn save_totals(&mut self) {
        if self.in_chain {
            self.undo.push(Undo::Totals(self.totals));
        }
    }

    fn touch(&mut self, index: u32) {
        let mark = &mut self.touched_mark[index as usize];
        if !*mark {
            *mark = true;
            self.touched.push(index);
        }
    }

    #[inline]
    pub(crate) fn account_index_of(&self, id: u128) -> Option<u32> {
        let accounts = &self.accounts;
        self.account_index.find(id, |i| accounts[i as usize].id)
    }

    /// The position of `id` if its transfer is in the window.
    #[inline]
    pub(crate) fn transfer_index_of(&self, id: u128) -> Option<u32> {
        self.transfer_index
            .find(id, |position| self.record_at(position).id())
    }

    #[inline]
    fn record_at(&self, at: u32) -> &TransferRecord {
        self.transfers.get(self.offset_of(at))
    }

    /// Where the transfer at position `at` is in the window.
    #[inline]
    fn offset_of(&self, at: u32) -> usize {
        ((u64::from(at) + POSITIONS - u64::from(position(self.first_ordinal))) % POSITIONS) as usize
    }

    /// How many transfers were committed before the one at position `at` (of the window).
    pub(crate) fn ordinal_at(&self, at: u32) -> u64 {
        self.first_ordinal + self.offset_of(at) as u64
    }

    // ----- reading ----------------------------------------------------------------------------

    pub fn account_by_id(&self, id: u128) -> Option<&Account> {
        self.account_index_of(id)
            .map(|i| &self.accounts[i as usize])
    }

    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// Transfers in memory: the window, and during a batch those it added.
    pub fn transfers_in_memory(&self) -> usize {
        self.transfers.len()
    }

    /// Transfers ever committed.
    pub fn transfers_total(&self) -> u64 {
        self.first_ordinal + self.transfers.len() as u64
    }

    /// Most transfers kept in memory between batches.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Changes the window; transfers beyond a smaller one leave before the next batch.
    pub fn set_window(&mut self, window: usize) {
        self.window = window.clamp(1, WINDOW_MAX);
        self.transfer_index.reserve(index_room(self.window));
    }

    /// The filter of past ids: its size in bytes, and how many ids went into it.
    pub fn past_filter(&self) -> (usize, u64) {
        (self.filter.bytes(), self.filter.inserted())
    }

    /// Whether `id` may be a transfer that left memory (the filter says maybe, and it is not
    /// in memory): worth asking the journal's index of past transfers.
    pub fn may_have_left(&self, id: u128) -> bool {
        self.filter.may_contain(id)
            && self.transfer_index_of(id).is_none()
            && !self.pendings.contains_key(&id)
    }

    /// A transfer in memory: in the window, or a pending transfer kept past it.
    pub fn transfer_by_id(&self, id: u128) -> Option<&TransferRecord> {
        match self.transfer_index_of(id) {
            Some(position) => Some(self.record_at(position)),
            None => self.pendings.get(&id).map(|p| &p.record),
        }
    }

    /// The status of a pending transfer in memory, if `id` is one.
    pub fn pending_status(&self, id: u128) -> Option<PendingStatus> {
        self.pendings.get(&id).map(|p| p.status)
    }

    /// When a pending transfer expires (engine time, ns); `None` if it never does or `id` is
    /// not a pending transfer in memory.
    pub fn pending_expires_at(&self, id: u128) -> Option<u64> {
        let pending = self.pendings.get(&id)?;
        (pending.expires_at != u64::MAX).then_some(pending.expires_at)
    }

    /// Pending transfers in memory, in any status: all those still pending, and the others
    /// until they leave with the window.
    pub fn pending_count(&self) -> usize {
        self.pendings.len()
    }

    /// Pending transfers still pending.
    pub fn open_pending_count(&self) -> usize {
        self.pendings
            .values()
            .filter(|p| p.status == PendingStatus::Pending)
            .count()
    }

    pub fn accounting_date(&self) -> AccountingDate {
        self.accounting_date
    }

    pub fn limits(&self) -> TierLimits {
        self.limits
    }

    pub fn last_timestamp(&self) -> u64 {
        self.last_timestamp
    }

    /// Sets the clock after a snapshot is loaded (the timestamp is the journal's, not state).
    pub fn restore_clock(&mut self, last_timestamp: u64) {
        self.last_timestamp = last_timestamp;
    }

    pub fn totals(&self) -> LedgerTotals {
        self.totals
    }

    /// The earliest deadline of a transfer still pending, with its id.
    pub fn next_expiry(&self) -> Option<(u64, u128)> {
        self.expiries.first().copied()
    }

    /// Ids of transfers still pending whose deadline is at or before `now`, at most `limit`.
    pub fn expired_by(&self, now: u64, limit: usize) -> Vec<u128> {
        self.expiries
            .iter()
            .take_while(|&&(at, _)| at <= now)
            .take(limit)
            .map(|&(_, id)| id)
            .collect()
    }

    /// Hands each account changed since the last call to `f`, once, and forgets them.
    /// Accounts changed since the last [`Ledger::drain_touched`].
    pub fn touched_count(&self) -> usize {
        self.touched.len()
    }

    /// `f` gets the account's index (its position in creation order) and the account.
    pub fn drain_touched(&mut self, mut f: impl FnMut(u32, &Account)) {
        for index in self.touched.drain(..) {
            self.touched_mark[index as usize] = false;
            f(index, &self.accounts[index as usize]);
        }
    }

    /// Rebuilds what a snapshot does not store. Fails on an id that appears twice.
    pub(crate) fn rebuild_derived(&mut self) -> Result<(), &'static str> {
        let accounts = &self.accounts;
        self.account_index = IdIndex::with_capacity(accounts.len());
        for (i, account) in accounts.iter().enumerate() {
            if self
                .account_index
                .find(account.id, |j| accounts[j as usize].id)
                .is_some()
            {
                return Err("an account id appears twice");
            }
            self.account_index.insert(account.id, i as u32);
        }
        self.transfer_index =
            IdIndex::with_capacity(self.transfers.len().max(index_room(self.window)));
        for i in 0..self.transfers.len() {
            let record = *self.transfers.get(i);
            if self.transfer_index_of(record.id()).is_some() {
                return Err("a transfer id appears twice");
            }
            let at = position(self.first_ordinal + i as u64);
            self.transfer_index.insert(record.id(), at);
        }
        self.expiries = self
            .pendings
            .iter()
            .filter(|(_, p)| p.status == PendingStatus::Pending && p.expires_at != u64::MAX)
            .map(|(&id, p)| (p.expires_at, id))
            .collect();
        self.totals = LedgerTotals::default();
        for a in &self.accounts {
            self.totals.debits_posted += a.debits_posted;
            self.totals.credits_posted += a.credits_posted;
            self.totals.debits_pending += a.debits_pending;
            self.totals.credits_pending += a.credits_pending;
        }
        self.touched_mark = vec![false; self.accounts.len()];
        self.touched.clear();
        Ok(())
    }
}

/// A resubmitted transfer id: `exists` if every field matches, else the first that differs.
fn transfer_exists(r: &Existing, t: &Transfer) -> ResultCode {
    let resolves = TransferFlags(r.flags).resolves_pending();
    if t.flags.0 != r.flags {
        ResultCode::ExistsWithDifferentFlags
    } else if t.pending_id != r.pending_id {
        ResultCode::ExistsWithDifferentPendingId
    } else if t.debit_account_id != r.debit && !(resolves && t.debit_account_id == 0) {
        ResultCode::ExistsWithDifferentDebitAccount
    } else if t.credit_account_id != r.credit && !(resolves && t.credit_account_id == 0) {
        ResultCode::ExistsWithDifferentCreditAccount
    } else if t.amount != r.amount && !(resolves && t.amount == 0) {
        ResultCode::ExistsWithDifferentAmount
    } else if t.currency != r.currency {
        ResultCode::ExistsWithDifferentCurrency
    } else if t.code != r.code {
        ResultCode::ExistsWithDifferentCode
    } else if t.reference.fingerprint() != r.reference_fingerprint {
        ResultCode::ExistsWithDifferentReference
    } else if t.timeout_ms != r.timeout_ms {
        ResultCode::ExistsWithDifferentTimeout
    } else {
        ResultCode::Exists
    }
}

fn check_id(id: u128) -> Result<(), ResultCode> {
    match id {
        0 => Err(ResultCode::IdMustNotBeZero),
        u128::MAX => Err(ResultCode::IdMustNotBeIntMax),
        _ => Ok(()),
    }
}

fn check_transfer_shape(t: &Transfer) -> Result<(), ResultCode> {
    check_id(t.id)?;
    if !t.flags.is_known() {
        return Err(ResultCode::FlagsUnknown);
    }
    let f = t.flags;
    let kinds = u8::from(f.pending()) + u8::from(f.post_pending()) + u8::from(f.void_pending());
    if kinds > 1 {
        return Err(ResultCode::FlagsAreMutuallyExclusive);
    }
    Ok(())
}

fn check_status(debit: &Account, credit: &Account) -> Result<(), ResultCode> {
    match (debit.status, credit.status) {
        (AccountStatus::Closed, _) => Err(ResultCode::DebitAccountClosed),
        (_, AccountStatus::Closed) => Err(ResultCode::CreditAccountClosed),
        (AccountStatus::Frozen, _) => Err(ResultCode::DebitAccountFrozen),
        (_, AccountStatus::Frozen) => Err(ResultCode::CreditAccountFrozen),
        _ => Ok(()),
    }
}

fn check_balances(debit: &Account, credit: &Account, amount: u128) -> Result<(), ResultCode> {
    let debits = debit
        .debits_posted
        .checked_add(debit.debits_pending)
        .and_then(|d| d.checked_add(amount))
        .ok_or(ResultCode::OverflowsDebits)?;
    let credits = credit
        .credits_posted
        .checked_add(credit.credits_pending)
        .and_then(|c| c.checked_add(amount))
        .ok_or(ResultCode::OverflowsCredits)?;
    if debit
        .flags
        .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
        && debits > debit.credits_posted
    {
        return Err(ResultCode::ExceedsCredits);
    }
    if credit
        .flags
        .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        && credits > credit.debits_posted
    {
        return Err(ResultCode::ExceedsDebits);
    }
    Ok(())
}

fn check_pending_open(pending: &Pending, now: u64) -> Result<(), ResultCode> {
    match pending.status {
        PendingStatus::Posted => Err(ResultCode::PendingTransferAlreadyPosted),
        PendingStatus::Voided => Err(ResultCode::PendingTransferAlreadyVoided),
        PendingStatus::Expired => Err(ResultCode::PendingTransferExpired),
        PendingStatus::Pending if pending.expires_at <= now => {
            Err(ResultCode::PendingTransferExpired)
        }
        PendingStatus::Pending => Ok(()),
    }
}

fn account_exists(existing: &Account, new: &NewAccount) -> ResultCode {
    if existing.flags != new.flags {
        ResultCode::ExistsWithDifferentFlags
    } else if existing.currency != new.currency {
        ResultCode::ExistsWithDifferentCurrency
    } else if existing.subject != new.subject {
        ResultCode::ExistsWithDifferentSubjectCode
    } else if existing.owner != new.owner {
        ResultCode::ExistsWithDifferentOwner
    } else if existing.tier != new.tier {
        ResultCode::ExistsWithDifferentTier
    } else if existing.bound_account != new.bound_account {
        ResultCode::ExistsWithDifferentBoundAccount
    } else {
        ResultCode::Exists
    }
}
