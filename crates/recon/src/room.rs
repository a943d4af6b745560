//! The reconciliation room's handle: a channel's bill of a date fetched through the gateway's
//! channel adapter (or given as a file), read, matched three ways, and what it found kept in
//! `recon.db` (`store.rs`) with its evidence, state and history. What can be explained is
//! resolved automatically (a 长款 whose order exists is booked as the order's late success; a
//! success the books lack is booked); the day-end posts the rest to suspense (挂账) through
//! the engine (`postings.rs`), and the accounting room's write-off closes it (核销).
//!
//! A rerun of a date, after a crash or with a republished bill, is safe: differences are
//! keyed (channel, date, key, class, repeat), transfers have ids derived from the difference,
//! and a difference already acted on keeps its class (the rerun sees the effect of that
//! action, not a new difference). One that a republished bill no longer shows is closed, and
//! what it had in suspense taken back.

#[cfg(feature = "fault-injection")]
mod fault_injection;
pub mod postings;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use suanpan_accounting::{AccountingError, Reconciler};
use suanpan_engine::{Engine, EngineError};
use suanpan_gateway::booking::{payment_transfer_id, refund_transfer_id};
use suanpan_gateway::channel::{BillDownload, PaymentStatus};
use suanpan_gateway::{Gateway, GatewayError};
use suanpan_ledger::{AccountingDate, Command, Currency};

use crate::bill::{Bill, Key};
use crate::matching::{reconcile, Booking, Class, DateEnd, Options, PlatformItem};
use postings::Posting;
pub use store::{Difference, HistoryEntry, Run, State};

const DAY_MS: u64 = 86_400_000;

/// What a missing bill does to the day-end.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MissingBill {
    /// The day-end stops (`bill_not_published`) until the bill is there.
    Block,
    /// The day-end goes on; the step's summary says which bill is missing.
    Warn,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReconConfig {
    pub options: Options,
    pub missing_bill: MissingBill,
}

impl Default for ReconConfig {
    fn default() -> ReconConfig {
        ReconConfig {
            options: Options::default(),
            missing_bill: MissingBill::Block,
        }
    }
}

/// Why reconciliation could not do what it was asked; each has a stable code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReconError {
    BillNotPublished {
        channel: String,
        date: String,
        why: String,
    },
    /// The bill is malformed (the reader's one line: where and what); nothing was recorded.
    BillInvalid(String),
    ChannelUnknown(String),
    ChannelUnavailable(String),
    DateInvalid(String),
    DifferenceUnknown(i64),
    /// The action does not apply to the difference (its class, state or amount).
    ActionNotAllowed(String),
    ActionUnknown(String),
    /// The difference changed while the action was being taken: read it again.
    StateChanged(i64),
    Booking(String),
    Overloaded,
    Store(String),
}

impl ReconError {
    pub fn code(&self) -> &'static str {
        match self {
            ReconError::BillNotPublished { .. } => "bill_not_published",
            ReconError::BillInvalid(_) => "bill_invalid",
            ReconError::ChannelUnknown(_) => "channel_unknown",
            ReconError::ChannelUnavailable(_) => "channel_unavailable",
            ReconError::DateInvalid(_) => "date_invalid",
            ReconError::DifferenceUnknown(_) => "difference_unknown",
            ReconError::ActionNotAllowed(_) => "action_not_allowed",
            ReconError::ActionUnknown(_) => "action_unknown",
            ReconError::StateChanged(_) => "difference_changed",
            ReconError::Booking(_) => "booking_failed",
            ReconError::Overloaded => "overloaded",
            ReconError::Store(_) => "store_error",
        }
    }
}

impl std::fmt::Display for ReconError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReconError::BillNotPublished { channel, date, why } => {
                write!(f, "{channel} has not published its bill of {date}: {why}")
            }
            ReconError::BillInvalid(why) => write!(f, "the bill is refused: {why}"),
            ReconError::ChannelUnknown(c) => write!(f, "no channel {c:?} is configured"),
            ReconError::ChannelUnavailable(why) => write!(f, "the channel did not answer: {why}"),
            ReconError::DateInvalid(d) => write!(f, "{d:?} is not a date yyyy-MM-dd"),
            ReconError::DifferenceUnknown(id) => write!(f, "no difference {id}"),
            ReconError::ActionNotAllowed(why) | ReconError::ActionUnknown(why) => f.write_str(why),
            ReconError::StateChanged(id) => {
                write!(f, "difference {id} changed meanwhile; read it again")
            }
            ReconError::Booking(why) => write!(f, "the engine did not book it: {why}"),
            ReconError::Overloaded => f.write_str("overloaded; try again shortly"),
            ReconError::Store(why) => write!(f, "reconciliation store: {why}"),
        }
    }
}

impl std::error::Error for ReconError {}

impl From<suanpan_store::StoreError> for ReconError {
    fn from(e: suanpan_store::StoreError) -> ReconError {
        match e {
            suanpan_store::StoreError::Overloaded => ReconError::Overloaded,
            suanpan_store::StoreError::Failed(why) | suanpan_store::StoreError::Fenced(why) => {
                ReconError::Store(why)
            }
        }
    }
}

fn gateway_error(e: GatewayError) -> ReconError {
    match e {
        GatewayError::ChannelUnknown(c) => ReconError::ChannelUnknown(c),
        GatewayError::ChannelUnavailable(why) => ReconError::ChannelUnavailable(why),
        GatewayError::Overloaded => ReconError::Overloaded,
        other => ReconError::Booking(other.to_string()),
    }
}

fn engine_error(e: EngineError) -> ReconError {
    match e {
        EngineError::Overloaded => ReconError::Overloaded,
        other => ReconError::Booking(other.to_string()),
    }
}

/// What an operator can do with a difference.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    /// A 长款 whose order exists: book it as the order's late success (flagged for refund if
    /// the order was closed).
    BookLateSuccess,
    /// In the gateway, not booked: book it.
    Rebook,
    /// A 短款: ask the channel. Paid: its bill left it out (resolved); not paid: to suspense.
    QueryChannel,
    /// A 短款 the channel, asked again, says was never paid: the payment and its fee
    /// reversed in the books (调账).
    Reverse,
    /// 挂账 now.
    Suspense,
    /// An amount or fee difference: the channel is right; the difference to channel cost.
    ChannelRight,
    /// An amount or fee difference: the platform is right; to suspense, to claim.
    PlatformRight,
    /// A difference of no money (a repeated line the channel confirmed as a display error):
    /// closed with the operator's note.
    Accept,
    /// 核销: its suspense item written off by the accounting room (the API does that first).
    WriteOff,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::BookLateSuccess,
        Action::Rebook,
        Action::QueryChannel,
        Action::Reverse,
        Action::Suspense,
        Action::ChannelRight,
        Action::PlatformRight,
        Action::Accept,
        Action::WriteOff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::BookLateSuccess => "book_late_success",
            Action::Rebook => "rebook",
            Action::QueryChannel => "query_channel",
            Action::Reverse => "reverse",
            Action::Suspense => "suspense",
            Action::ChannelRight => "channel_right",
            Action::PlatformRight => "platform_right",
            Action::Accept => "accept",
            Action::WriteOff => "write_off",
        }
    }

    pub fn parse(text: &str) -> Result<Action, ReconError> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == text)
            .ok_or_else(|| {
                ReconError::ActionUnknown(format!(
                    "{text:?} is not an action: {}",
                    Action::ALL.map(Action::as_str).join(", ")
                ))
            })
    }
}

/// A channel's run of a date, as the caller is told.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub run: Run,
    /// Every difference of the channel and date, after the run's automatic resolutions.
    pub differences: Vec<Difference>,
    /// Automatic resolutions that failed (the difference stays open): why.
    pub notes: Vec<String>,
}

/// The report of a channel and date.
#[derive(Clone, Debug)]
pub struct ChannelReport {
    pub run: Run,
    pub differences: Vec<Difference>,
}

impl ChannelReport {
    /// The bill's amounts over every class: each bill line is in exactly one class, so they
    /// sum to what the bill's own summary states (paid plus refunded).
    pub fn bill_total_fen(&self) -> u64 {
        self.run
            .totals
            .iter()
            .fold(0u64, |sum, t| sum.saturating_add(t.bill_fen))
    }

    pub fn bill_accounted(&self) -> bool {
        let s = self.run.bill_summary;
        self.bill_total_fen() == s.paid_fen.saturating_add(s.refunded_fen)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    suanpan_ledger::hex(&Sha256::digest(bytes))
}

/// The signed amount of a difference: what the channel has more than the books (positive), or
/// less (negative); 0 when no money is in question.
fn amount_of(item: &crate::matching::Item) -> i64 {
    let bill = item.bill.as_ref().map_or(0, |b| b.amount_fen as i64);
    let platform = item.platform.as_ref().map_or(0, |p| p.amount_fen as i64);
    let booked = item.booked_fen.map(|b| b as i64);
    match item.class {
        Class::Long | Class::Duplicate => bill,
        Class::Short => -booked.unwrap_or(platform),
        Class::AmountMismatch => bill - booked.unwrap_or(platform),
        // Refunded at the channel: the payer had the money back, the channel settles less.
        Class::StatusMismatch => -bill,
        Class::FeeMismatch => {
            let fee = |f: Option<u64>| f.unwrap_or(0) as i64;
            fee(item.platform.as_ref().map(|p| p.fee_fen))
                - fee(item.bill.as_ref().map(|b| b.fee_fen))
        }
        Class::BookedNotInGateway if item.bill.is_none() => -booked.unwrap_or(0),
        Class::BookedNotInGateway => 0,
        Class::InGatewayNotBooked => bill,
        Class::Matched | Class::Pending => 0,
    }
}

pub struct Recon {
    store: store::Store,
    gateway: Arc<Gateway>,
    engine: Arc<Engine>,
    config: ReconConfig,
    /// One run or resolution at a time: they read and change the same differences.
    busy: tokio::sync::Mutex<()>,
}

impl Recon {
    /// Opens the room's store in `home` (`recon.db` in the data directory, or the tables
    /// beside the journal on PostgreSQL).
    pub fn open(
        home: &store::Home,
        gateway: Arc<Gateway>,
        engine: Arc<Engine>,
        config: ReconConfig,
    ) -> Result<Recon, ReconError> {
        Ok(Recon {
            store: store::open(home)?,
            gateway,
            engine,
            config,
            busy: tokio::sync::Mutex::new(()),
        })
    }

    /// The channels the day-end reconciles: every channel the gateway has.
    pub fn channels(&self) -> Vec<String> {
        self.gateway.channel_names()
    }

    /// Reconciles `channel`'s bill of `date`: downloaded from the channel, or `file`.
    /// Differences are recorded and those that can be explained resolved; nothing goes to
    /// suspense (the day-end does that, or an operator).
    pub async fn run(
        &self,
        channel: &str,
        date: AccountingDate,
        file: Option<Vec<u8>>,
    ) -> Result<RunReport, ReconError> {
        let _one = self.busy.lock().await;
        self.run_locked(channel, date, file, false).await
    }

    /// The day-end's step: every channel's bill of `date`, its unexplained differences posted
    /// to suspense. The step's summary, or why the day-end must stop.
    pub async fn day_end(&self, date: AccountingDate) -> Result<String, ReconError> {
        let _one = self.busy.lock().await;
        let mut summary = Vec::new();
        for channel in self.channels() {
            match self.run_locked(&channel, date, None, true).await {
                Ok(report) => summary.push(run_summary(&report)),
                Err(ReconError::BillNotPublished { why, .. })
                    if self.config.missing_bill == MissingBill::Warn =>
                {
                    summary.push(format!(
                        "{channel}: bill not published ({why}); continued without it"
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        if summary.is_empty() {
            summary.push("no payment channels configured".into());
        }
        Ok(summary.join("; "))
    }

    async fn run_locked(
        &self,
        channel: &str,
        date: AccountingDate,
        file: Option<Vec<u8>>,
        post: bool,
    ) -> Result<RunReport, ReconError> {
        let date_text = date.to_string();
        let end = crate::time::beijing_date_end(&date_text)
            .ok_or_else(|| ReconError::DateInvalid(date_text.clone()))?;
        if !self.channels().iter().any(|c| c == channel) {
            return Err(ReconError::ChannelUnknown(channel.to_string()));
        }
        let bytes = match file {
            Some(bytes) => bytes,
            None => match self
                .gateway
                .download_bill(channel, &date_text)
                .await
                .map_err(gateway_error)?
            {
                BillDownload::Published(bytes) => bytes,
                BillDownload::NotPublished(why) => {
                    return Err(ReconError::BillNotPublished {
                        channel: channel.to_string(),
                        date: date_text,
                        why,
                    })
                }
            },
        };
        let bill = read_bill(channel, &bytes)?;
        let summary = bill.summary;
        let records = self
            .gateway
            .recon_records(channel, end - DAY_MS, end)
            .await
            .map_err(gateway_error)?;
        let platform: Vec<PlatformItem> = records
            .iter()
            .map(|r| PlatformItem {
                key: if r.refund {
                    Key::Refund(r.id)
                } else {
                    Key::Payment(r.id)
                },
                order_id: r.order_id,
                amount_fen: r.amount_minor,
                fee_fen: self.gateway.channel_fee(r.amount_minor),
                done: r.done,
                refunded: r.refunded,
                at_ms: r.at_ms,
            })
            .collect();
        let previous = AccountingDate(date.0 - 1).to_string();
        let channel_owned = channel.to_string();
        let carried = self
            .store
            .read(|c| store::run(c, &channel_owned, &previous))?
            .map(|r| r.carried)
            .unwrap_or_default();
        let mut keys: Vec<Key> = bill
            .lines
            .iter()
            .map(|l| l.key)
            .chain(platform.iter().map(|p| p.key))
            .chain(carried.iter().map(|c| c.key()))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let present: HashSet<Key> = keys.iter().copied().collect();
        let booked = self.bookings(&keys).await?;
        let outcome = reconcile(
            bill.lines,
            platform,
            booked,
            &carried,
            DateEnd(end),
            &self.config.options,
        );

        // What was found before for this channel and date, by key: a difference already acted
        // on keeps its class (the rerun sees what the action did, e.g. a late success now
        // booked, not a new difference).
        let before = self.differences(&date_text, Some(channel))?;
        let acted: HashMap<Key, &Difference> = before
            .iter()
            .filter(|d| acted_on(d))
            .map(|d| (d.key, d))
            .collect();
        let mut totals = outcome.totals;
        let mut move_class = |from: Class, to: Class, bill_fen: u64, plat_fen: u64| {
            let (from, to) = (from as usize, to as usize);
            totals[from].count = totals[from].count.saturating_sub(1);
            totals[to].count += 1;
            totals[from].bill_fen = totals[from].bill_fen.saturating_sub(bill_fen);
            totals[to].bill_fen = totals[to].bill_fen.saturating_add(bill_fen);
            totals[from].platform_fen = totals[from].platform_fen.saturating_sub(plat_fen);
            totals[to].platform_fen = totals[to].platform_fen.saturating_add(plat_fen);
        };
        let mut found = Vec::new();
        let mut seen: HashSet<Key> = HashSet::new();
        let mut repeats: HashMap<Key, u32> = HashMap::new();
        for item in &outcome.items {
            seen.insert(item.key);
            if item.class == Class::Pending || (item.class == Class::Matched && !item.late) {
                continue;
            }
            let mut item = item.clone();
            if let Some(d) = acted.get(&item.key) {
                if item.class != Class::Duplicate && item.class != d.class {
                    let bill_fen = item.bill.as_ref().map_or(0, |b| b.amount_fen);
                    let plat_fen = item.platform.as_ref().map_or(0, |p| p.amount_fen);
                    move_class(item.class, d.class, bill_fen, plat_fen);
                    item.class = d.class;
                }
            }
            if item.class == Class::Matched {
                continue;
            }
            let ordinal = if item.class == Class::Duplicate {
                let n = repeats.entry(item.key).or_default();
                *n += 1;
                *n
            } else {
                0
            };
            let amount = amount_of(&item);
            found.push((item, ordinal, amount));
        }
        // Acted on, and now plainly matched (counted, not listed): still the class it had.
        for (key, d) in &acted {
            if seen.contains(key) || !present.contains(key) {
                continue;
            }
            let bill_fen = d.bill().map_or(0, |b| b.amount_fen);
            let plat_fen = d.platform().map_or(0, |p| p.amount_fen);
            move_class(Class::Matched, d.class, bill_fen, plat_fen);
            let item = crate::matching::Item {
                key: *key,
                class: d.class,
                bill: d.bill(),
                platform: d.platform(),
                booked_fen: d.evidence["booked_fen"].as_u64(),
                late: false,
            };
            found.push((item, 0, d.amount_fen));
        }
        let run = Run {
            channel: channel.to_string(),
            date: date_text.clone(),
            bill_sha256: sha256_hex(&bytes),
            bill_summary: summary,
            totals,
            carried: outcome.carried,
            times_run: 0,
            finished_ms: now_ms(),
        };
        let now = now_ms();
        let (channel_w, date_w, run_w) = (channel.to_string(), date_text.clone(), run.clone());
        let found_ids: HashSet<i64> = self
            .store
            .write(move |c| {
                let mut ids = HashSet::new();
                for (item, ordinal, amount) in &found {
                    ids.insert(store::upsert_found(
                        c, &channel_w, &date_w, item, *ordinal, *amount, now,
                    )?);
                }
                store::save_run(c, &run_w)?;
                Ok::<_, ReconError>(ids)
            })
            .await?;

        let mut notes = Vec::new();
        // A republished bill no longer shows these: closed, and what they had in suspense
        // taken back.
        for gone in before.iter().filter(|d| !found_ids.contains(&d.id)) {
            let note = "not in the bill any more (republished with corrections)";
            match gone.state {
                State::Open => {
                    self.change(gone, State::ResolvedAuto, "reconciliation", note, None)
                        .await?
                }
                State::Suspense if gone.posted_fen != 0 => {
                    self.post(gone, Posting::Reversal(gone.posted_fen)).await?;
                    self.change(
                        gone,
                        State::ResolvedAuto,
                        "reconciliation",
                        note,
                        Some(Posting::Reversal(gone.posted_fen).into_suspense()),
                    )
                    .await?;
                }
                _ => {}
            }
        }

        let mut differences = self.differences(&date_text, Some(channel))?;
        for d in differences.iter().filter(|d| d.state == State::Open) {
            if let Err(e) = self.resolve_automatically(d).await {
                notes.push(format!("difference {}: {e}", d.id));
            }
        }
        if post {
            differences = self.differences(&date_text, Some(channel))?;
            for d in differences
                .iter()
                .filter(|d| d.state == State::Open && d.amount_fen != 0)
            {
                self.post(d, Posting::Suspense(d.amount_fen)).await?;
                self.change(
                    d,
                    State::Suspense,
                    "day-end",
                    "unexplained at the day-end: posted to suspense (挂账)",
                    Some(d.amount_fen),
                )
                .await?;
            }
        }
        let run = self
            .store
            .read(|c| store::run(c, channel, &date_text))?
            .ok_or_else(|| ReconError::Store("the run just recorded is missing".into()))?;
        Ok(RunReport {
            run,
            differences: self.differences(&date_text, Some(channel))?,
            notes,
        })
    }

    /// What can be explained without an operator.
    async fn resolve_automatically(&self, d: &Difference) -> Result<(), ReconError> {
        let order_id = match d.key {
            Key::Payment(order_id) => order_id,
            Key::Refund(refund_id) if d.class == Class::InGatewayNotBooked => {
                self.gateway
                    .rebook_refund(refund_id)
                    .await
                    .map_err(gateway_error)?;
                return self
                    .change(
                        d,
                        State::ResolvedAuto,
                        "reconciliation",
                        "booked: the gateway had the refund made, the books did not",
                        None,
                    )
                    .await;
            }
            Key::Refund(_) => return Ok(()),
        };
        let bill_amount = d.bill().map(|b| b.amount_fen);
        let note = match d.class {
            // The order exists; its result never reached the platform.
            Class::Long if d.platform().is_some() => {
                self.book_late_success(d, order_id, bill_amount.unwrap_or(0), "reconciliation")
                    .await?
            }
            Class::InGatewayNotBooked => {
                self.gateway
                    .rebook_payment(order_id)
                    .await
                    .map_err(gateway_error)?;
                "booked: the gateway had it succeeded, the books did not"
            }
            Class::BookedNotInGateway
                if bill_amount.is_some() && bill_amount == d.evidence["booked_fen"].as_u64() =>
            {
                self.gateway
                    .settle_paid(
                        order_id,
                        bill_amount.unwrap_or(0),
                        channel_trade_no(d),
                        "reconciliation",
                    )
                    .await
                    .map_err(gateway_error)?;
                "the gateway recorded the success the books and the bill had"
            }
            _ => return Ok(()),
        };
        self.change(d, State::ResolvedAuto, "reconciliation", note, None)
            .await
    }

    /// A 长款 of an existing order: the gateway books it as the order's late success (flagged
    /// for refund if the order was closed). The note for the difference's history.
    async fn book_late_success(
        &self,
        d: &Difference,
        order_id: u64,
        amount_fen: u64,
        cause: &str,
    ) -> Result<&'static str, ReconError> {
        let order = self
            .gateway
            .settle_paid(order_id, amount_fen, channel_trade_no(d), cause)
            .await
            .map_err(gateway_error)?;
        Ok(if order.flagged_for_refund {
            "booked as the order's late success; flagged for refund (the order had been closed)"
        } else {
            "booked as the order's late success"
        })
    }

    /// The ledger's bookings of `keys`: the gateway's payment and refund transfers.
    async fn bookings(&self, keys: &[Key]) -> Result<Vec<Booking>, ReconError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(8_000) {
            // However old: a transfer that left the ledger's memory is read back.
            let ids = chunk
                .iter()
                .map(|&key| match key {
                    Key::Payment(order) => payment_transfer_id(order),
                    Key::Refund(refund) => refund_transfer_id(refund),
                })
                .collect();
            let ticket = self.engine.find_transfers(ids).map_err(engine_error)?;
            let found = match ticket.await {
                Some(found) => found.map_err(|e| {
                    engine_error(suanpan_engine::EngineError::Journal(e.to_string()))
                })?,
                None => return Err(engine_error(self.engine.stopped_error())),
            };
            out.extend(chunk.iter().zip(found).filter_map(|(&key, t)| {
                t.map(|t| Booking {
                    key,
                    amount_fen: t.amount,
                })
            }));
        }
        Ok(out)
    }

    /// Books a posting for a difference through the engine (its next posting number).
    async fn post(&self, d: &Difference, posting: Posting) -> Result<(), ReconError> {
        let currency = Currency::CNY;
        let reference = format!("recon {}", d.id);
        let Some(transfer) =
            postings::transfer(&d.channel, currency, d.id, d.postings, posting, &reference)
        else {
            return Ok(());
        };
        let mut commands = postings::accounts(&d.channel, currency);
        commands.push(Command::CreateTransfer(transfer));
        self.submit(commands, d.id).await
    }

    /// Submits commands to the engine; every one must succeed (`exists` on a redo).
    async fn submit(&self, commands: Vec<Command>, difference: i64) -> Result<(), ReconError> {
        let ticket = self.engine.submit(commands).map_err(engine_error)?;
        let results = match ticket.await {
            Some(r) => r.map_err(engine_error)?,
            None => return Err(engine_error(self.engine.stopped_error())),
        };
        match results.iter().find(|r| !r.is_success()) {
            None => {
                #[cfg(feature = "fault-injection")]
                fault_injection::posted();
                Ok(())
            }
            Some(r) => Err(ReconError::Booking(format!(
                "difference {difference}: {}",
                r.as_str()
            ))),
        }
    }

    async fn change(
        &self,
        d: &Difference,
        to: State,
        actor: &str,
        note: &str,
        posted: Option<i64>,
    ) -> Result<(), ReconError> {
        let (id, from, actor, note) = (d.id, d.state, actor.to_string(), note.to_string());
        let now = now_ms();
        self.store
            .write(move |c| store::change(c, id, from, to, &actor, &note, posted, now))
            .await
    }

    /// A date's differences, of one channel or all.
    pub fn differences(
        &self,
        date: &str,
        channel: Option<&str>,
    ) -> Result<Vec<Difference>, ReconError> {
        self.store.read(|c| store::differences(c, date, channel))
    }

    /// One difference with its history.
    pub fn difference(&self, id: i64) -> Result<(Difference, Vec<HistoryEntry>), ReconError> {
        self.store.read(|c| {
            let d = store::difference(c, id)?.ok_or(ReconError::DifferenceUnknown(id))?;
            Ok((d, store::history(c, id)?))
        })
    }

    /// The report of a date: each channel's run with its differences.
    pub fn report(&self, date: AccountingDate) -> Result<Vec<ChannelReport>, ReconError> {
        let date = date.to_string();
        self.store.read(|c| {
            store::runs_of_date(c, &date)?
                .into_iter()
                .map(|run| {
                    let differences = store::differences(c, &date, Some(&run.channel))?;
                    Ok(ChannelReport { run, differences })
                })
                .collect()
        })
    }

    /// The id of the transfer that put a difference in suspense (the accounting room's item
    /// for it names it).
    pub fn suspense_transfer(&self, d: &Difference) -> Option<u128> {
        (d.state == State::Suspense && d.postings > 0)
            .then(|| postings::suspense_transfer_id(d.id, d.postings - 1))
    }

    /// Differences in suspense whose accounting item has been written off (by `transfers`, the
    /// transfers of the written-off items) are marked so.
    pub async fn written_off(
        &self,
        transfers: &HashSet<u128>,
        operator: &str,
        note: &str,
    ) -> Result<usize, ReconError> {
        let _one = self.busy.lock().await;
        let mut n = 0;
        for d in self.store.read(store::in_suspense)? {
            if self
                .suspense_transfer(&d)
                .is_some_and(|t| transfers.contains(&t))
            {
                self.change(&d, State::WrittenOff, operator, note, None)
                    .await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// An operator's resolution of a difference, audited in its history.
    pub async fn resolve(
        &self,
        id: i64,
        action: Action,
        operator: &str,
        note: &str,
    ) -> Result<Difference, ReconError> {
        let _one = self.busy.lock().await;
        let (d, _) = self.difference(id)?;
        let refuse = |why: &str| {
            Err(ReconError::ActionNotAllowed(format!(
                "{} does not apply to difference {id} ({}, {}, {} fen): {why}",
                action.as_str(),
                d.class.as_str(),
                d.state.as_str(),
                d.amount_fen
            )))
        };
        if action == Action::WriteOff {
            return refuse("a write-off is the accounting room's, of the difference's suspense item (POST /v1/recon/differences/{id}/resolve does both)");
        }
        if d.state != State::Open {
            return refuse("only an open difference can be resolved");
        }
        let note_or = |default: &str| {
            if note.is_empty() {
                default.to_string()
            } else {
                format!("{default}: {note}")
            }
        };
        match action {
            Action::BookLateSuccess => {
                let (Class::Long, Key::Payment(order), Some(line), Some(_)) =
                    (d.class, d.key, d.bill(), d.platform())
                else {
                    return refuse(
                        "only a 长款 of a payment whose order the platform has is booked as its late success",
                    );
                };
                let done = self
                    .book_late_success(&d, order, line.amount_fen, operator)
                    .await?;
                self.change(&d, State::ResolvedOperator, operator, &note_or(done), None)
                    .await?;
            }
            Action::Rebook => {
                let (Class::InGatewayNotBooked, Key::Payment(order)) = (d.class, d.key) else {
                    return refuse(
                        "only a payment in the gateway and not in the books is booked again",
                    );
                };
                self.gateway
                    .rebook_payment(order)
                    .await
                    .map_err(gateway_error)?;
                self.change(
                    &d,
                    State::ResolvedOperator,
                    operator,
                    &note_or("booked"),
                    None,
                )
                .await?;
            }
            Action::QueryChannel => {
                let (Class::Short, Key::Payment(order)) = (d.class, d.key) else {
                    return refuse("only a 短款 of a payment is asked of the channel");
                };
                let status = self
                    .gateway
                    .channel_status(order)
                    .await
                    .map_err(gateway_error)?;
                let platform = d.platform().map(|p| p.amount_fen);
                match status {
                    PaymentStatus::Paid { amount_minor, .. } if Some(amount_minor) == platform => {
                        self.change(
                            &d,
                            State::ResolvedOperator,
                            operator,
                            &note_or("the channel says paid: its bill left it out (claim it on the channel's next bill)"),
                            None,
                        )
                        .await?;
                    }
                    other => {
                        self.post(&d, Posting::Suspense(d.amount_fen)).await?;
                        self.change(
                            &d,
                            State::Suspense,
                            operator,
                            &note_or(&format!("the channel says {other:?}: posted to suspense")),
                            Some(d.amount_fen),
                        )
                        .await?;
                    }
                }
            }
            Action::Reverse => {
                let (Class::Short, Key::Payment(order_id), Some(platform)) =
                    (d.class, d.key, d.platform())
                else {
                    return refuse("only a 短款 of a payment is reversed");
                };
                // Asked again now: a reversal is only for money the channel never had.
                match self
                    .gateway
                    .channel_status(order_id)
                    .await
                    .map_err(gateway_error)?
                {
                    PaymentStatus::Paid { .. } => {
                        return refuse("the channel says it was paid: nothing to reverse (query_channel resolves it)");
                    }
                    PaymentStatus::Unknown
                    | PaymentStatus::Waiting
                    | PaymentStatus::Closed
                    | PaymentStatus::Failed => {}
                }
                let order = self
                    .gateway
                    .order(order_id)
                    .map_err(gateway_error)?
                    .ok_or(ReconError::Booking(format!("order {order_id} is gone")))?;
                let currency = Currency::parse(&order.currency).unwrap_or(Currency::CNY);
                let amount = d.evidence["booked_fen"]
                    .as_u64()
                    .unwrap_or(platform.amount_fen);
                let commands = postings::reversal_of_payment(
                    &d.channel,
                    currency,
                    order.owner,
                    d.id,
                    d.postings,
                    amount,
                    self.gateway.channel_fee(amount),
                );
                self.submit(commands, d.id).await?;
                self.change(
                    &d,
                    State::ResolvedOperator,
                    operator,
                    &note_or("the channel never had it: the payment and its fee reversed (调账)"),
                    Some(0),
                )
                .await?;
            }
            Action::Suspense | Action::PlatformRight => {
                if d.amount_fen == 0 {
                    return refuse("no money is in question");
                }
                if action == Action::PlatformRight
                    && !matches!(d.class, Class::AmountMismatch | Class::FeeMismatch)
                {
                    return refuse("only an amount or fee difference has a side to be right");
                }
                self.post(&d, Posting::Suspense(d.amount_fen)).await?;
                self.change(
                    &d,
                    State::Suspense,
                    operator,
                    &note_or("posted to suspense (挂账)"),
                    Some(d.amount_fen),
                )
                .await?;
            }
            Action::ChannelRight => {
                if !matches!(d.class, Class::AmountMismatch | Class::FeeMismatch)
                    || d.amount_fen == 0
                {
                    return refuse("only an amount or fee difference has a side to be right");
                }
                self.post(&d, Posting::ChannelCost(d.amount_fen)).await?;
                self.change(
                    &d,
                    State::ResolvedOperator,
                    operator,
                    &note_or("the channel is right: the difference booked to channel cost"),
                    Some(0),
                )
                .await?;
            }
            Action::Accept => {
                if d.amount_fen != 0 {
                    return refuse(
                        "a difference of money goes to suspense and is written off, never accepted",
                    );
                }
                if note.is_empty() {
                    return refuse("accepting needs a note saying why");
                }
                self.change(&d, State::ResolvedOperator, operator, note, None)
                    .await?;
            }
            Action::WriteOff => {}
        }
        Ok(self.difference(id)?.0)
    }
}

/// A difference whose resolution changed what a rerun sees (a late success booked, a
/// posting made): a rerun keeps its class. (One closed because a republished bill no longer
/// shows it changed nothing, and a repeated line is a line of its own.)
fn acted_on(d: &Difference) -> bool {
    match d.state {
        State::Open => false,
        State::Suspense | State::WrittenOff => d.class != Class::Duplicate,
        State::ResolvedAuto | State::ResolvedOperator => matches!(
            d.class,
            Class::Long | Class::InGatewayNotBooked | Class::BookedNotInGateway
        ),
    }
}

/// The channel's trade number as the evidence has it, else a placeholder naming the bill.
fn channel_trade_no(d: &Difference) -> String {
    format!("bill:{}:{}", d.channel, d.date)
}

fn read_bill(channel: &str, bytes: &[u8]) -> Result<Bill, ReconError> {
    let bill = match channel {
        "wechat" => crate::wechat::parse(bytes),
        "alipay" => crate::alipay::parse(bytes),
        other => return Err(ReconError::ChannelUnknown(other.to_string())),
    };
    bill.map_err(|e| ReconError::BillInvalid(e.to_string()))
}

fn run_summary(report: &RunReport) -> String {
    let r = &report.run;
    let count = |s: State| report.differences.iter().filter(|d| d.state == s).count();
    let held = r.totals[Class::Pending as usize].count;
    format!(
        "{}: {} bill lines, {} matched, {} differences ({} resolved automatically, {} to suspense, {} open), {held} held pending",
        r.channel,
        r.bill_summary.lines,
        r.totals[Class::Matched as usize].count,
        report.differences.len(),
        count(State::ResolvedAuto),
        count(State::Suspense),
        count(State::Open),
    )
}

/// The day-end's first step where no server runs (`suanpan day-end` on a data directory):
/// fetching bills and booking through the engine is the server's, so this only checks that
/// every channel this data directory has reconciled before has a run of the date, and says
/// what they found; a channel without one stops the day-end (`reconcile_not_run`).
pub struct Recorded {
    pub dir: std::path::PathBuf,
    /// With the journal on PostgreSQL: the database the room keeps its runs in.
    pub postgres: Option<std::sync::Arc<suanpan_store::postgres::PgDb>>,
}

impl Reconciler for Recorded {
    fn reconcile(&mut self, date: AccountingDate) -> Result<String, AccountingError> {
        let failed = |e: ReconError| AccountingError::Reconcile(e.code(), e.to_string());
        let home = match &self.postgres {
            // Read by an operator's command: not the leader's, so not fenced.
            Some(db) => store::Home::Postgres {
                db: db.clone(),
                fence: suanpan_store::postgres::Fence::Operator,
            },
            None => {
                // No file: no channel was ever reconciled here (and none is made now).
                if !self.dir.join(store::SCHEMA.sqlite.file).exists() {
                    return Ok(
                        "no payment channel has been reconciled on this data directory".into(),
                    );
                }
                store::Home::sqlite(&self.dir)
            }
        };
        let date_text = date.to_string();
        let recorded = store::open(&home).map_err(failed)?;
        let mut summary = Vec::new();
        let runs = recorded
            .read(|c| {
                let mut runs = Vec::new();
                for channel in store::channels(c)? {
                    let run = store::run(c, &channel, &date_text)?;
                    let differences = store::differences(c, &date_text, Some(&channel))?;
                    runs.push((channel, run, differences));
                }
                Ok::<_, ReconError>(runs)
            })
            .map_err(failed)?;
        for (channel, run, differences) in runs {
            let Some(run) = run else {
                return Err(AccountingError::Reconcile(
                    "reconcile_not_run",
                    format!("{channel}'s bill of {date_text} has not been reconciled: run the day-end on the server (POST /v1/accounting/dates/{date_text}/day-end), which fetches the bills, or `suanpan recon run` first"),
                ));
            };
            summary.push(run_summary(&RunReport {
                run,
                differences,
                notes: Vec::new(),
            }));
        }
        if summary.is_empty() {
            summary.push("no payment channel has been reconciled on this data directory".into());
        }
        Ok(summary.join("; "))
    }
}

/// The day-end's first step, on the server: the accounting room calls it from its day-end
/// thread; the work runs on the process's runtime.
pub struct DayEndStep {
    pub recon: Arc<Recon>,
    pub runtime: tokio::runtime::Handle,
}

impl Reconciler for DayEndStep {
    fn reconcile(&mut self, date: AccountingDate) -> Result<String, AccountingError> {
        self.runtime
            .block_on(self.recon.day_end(date))
            .map_err(|e| AccountingError::Reconcile(e.code(), e.to_string()))
    }
}
