//! `Payouts`: the handle the API calls and the worker that follows every payout to its end.
//!
//! The order of things is what keeps money from leaving twice:
//! 1. the payout and its first attempt (`sending`) are recorded before anything else, so a
//!    crash at any later point leaves a record to continue from;
//! 2. the amount is held on the customer's account (idempotent: the id is derived);
//! 3. the instruction goes out with the attempt's own instruction id;
//! 4. what the channel said is recorded; a settlement is booked (idempotent) and recorded.
//!
//! An attempt whose outcome is not known (a timeout, a crash between 1 and 4) is queried,
//! never sent again. Only a definite answer ends an attempt: a refusal (PR09), an outage (a
//! refused connection or a 503), or the channel's "no such instruction" once the instruction
//! is older than the channels' time to live (they refuse older ones, so it can never arrive).
//! Then the payout is routed again, past the channels already tried, under a new attempt and
//! instruction id. The creating request is answered once the payout is routed and held: the
//! caller never waits on a channel.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hashbrown::HashSet;
use suanpan_engine::Engine;
use suanpan_ledger::ResultCode;
use suanpan_outbound::HttpClient;
use suanpan_routing::{
    route, Calendar, Channel, ChannelSet, Decision, Health, LocalDateTime, Payout as RoutedPayout,
};

use crate::booking::{Booker, PAYOUT_ID_MAX};
use crate::channel::{self, Heard, Instruction};
use crate::config::PayoutsConfig;
use crate::error::PayoutError;
use crate::payout::{
    instruction_id, Attempt, AttemptState, NewPayout, Payout, PayoutEvent, PayoutState,
};
use crate::routing_rules::Routing;
use crate::store::{self, Store};

/// Payouts the worker takes up in one pass at most.
const DUE_PER_PASS_MAX: u32 = 512;
/// Longest a creation waits for another request working on the same payout id.
const SAME_ID_WAIT_MAX: Duration = Duration::from_secs(5);
/// A summary kept for a payout the ledger refused: the refusal's code follows it.
const LEDGER_REFUSAL: &str = "ledger:";

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The events `create` records for a new payout (so its answer need not read them back).
pub fn created_events(p: &Payout) -> Vec<PayoutEvent> {
    vec![
        PayoutEvent {
            from: None,
            to: PayoutState::Accepted.as_str().into(),
            cause: "participant".into(),
            at_ns: p.created_ns,
        },
        PayoutEvent {
            from: Some(PayoutState::Accepted.as_str().into()),
            to: PayoutState::Routed.as_str().into(),
            cause: "routed".into(),
            at_ns: p.created_ns,
        },
    ]
}

pub struct Payouts {
    store: Store,
    booker: Booker,
    /// The worker acts only while this node leads.
    engine: Arc<Engine>,
    http: HttpClient,
    config: PayoutsConfig,
    /// The rules and calendar in force (a version replaced whole, never edited in place).
    routing: std::sync::RwLock<Arc<Routing>>,
    /// Changes of the rules one at a time.
    routing_changes: tokio::sync::Mutex<()>,
    /// Per channel: until when it is out of routing after an outage (ns).
    down_until: Mutex<[u64; 4]>,
    /// Payouts a task is working on: one at a time each.
    busy: Mutex<HashSet<u128>>,
    /// QR payments one at a time (a cap check and its record must not interleave).
    qr: tokio::sync::Mutex<()>,
}

/// Releases a payout id when the work on it ends, however it ends.
struct Claim<'a> {
    payouts: &'a Payouts,
    id: u128,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.payouts.release_claim(self.id);
    }
}

/// A claim a spawned task carries.
struct OwnedClaim {
    payouts: Arc<Payouts>,
    id: u128,
}

impl Drop for OwnedClaim {
    fn drop(&mut self) {
        self.payouts.release_claim(self.id);
    }
}

impl Payouts {
    pub fn open(
        home: &store::Home,
        engine: Arc<Engine>,
        config: PayoutsConfig,
    ) -> Result<Payouts, PayoutError> {
        let store = store::open(home)?;
        let routing = store.read(|c| crate::routing_rules::load(c, &config))?;
        Ok(Payouts {
            store,
            booker: Booker::new(engine.clone()),
            engine,
            http: HttpClient::default(),
            config,
            routing: std::sync::RwLock::new(Arc::new(routing)),
            routing_changes: tokio::sync::Mutex::new(()),
            down_until: Mutex::new([0; 4]),
            busy: Mutex::new(HashSet::new()),
            qr: tokio::sync::Mutex::new(()),
        })
    }

    /// The rules and calendar in force now.
    pub fn routing(&self) -> Arc<Routing> {
        self.routing
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_routing(&self, next: Arc<Routing>) {
        *self.routing.write().unwrap_or_else(|p| p.into_inner()) = next;
    }

    pub(crate) fn routing_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.routing_changes
    }

    pub(crate) fn config(&self) -> &PayoutsConfig {
        &self.config
    }

    fn claim(&self, id: u128) -> Option<Claim<'_>> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.insert(id).then_some(Claim { payouts: self, id })
    }

    fn claim_owned(self: &Arc<Self>, id: u128) -> Option<OwnedClaim> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.insert(id).then(|| OwnedClaim {
            payouts: self.clone(),
            id,
        })
    }

    fn release_claim(&self, id: u128) {
        self.busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// The channels routing may not use now: not configured, out after an outage, or
    /// already tried by this payout.
    pub fn health(&self, excluded: ChannelSet, now_ns: u64) -> Health {
        let down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        let mut health = Health::ALL_UP;
        for c in Channel::ALL {
            if excluded.contains(c)
                || self.config.channel_url(c).is_none()
                || down[c.index()] > now_ns
            {
                health = health.with_down(c);
            }
        }
        health
    }

    fn decide(
        &self,
        new: &NewPayout,
        excluded: ChannelSet,
        now_ns: u64,
    ) -> Result<(Decision, Arc<Routing>), PayoutError> {
        let routing = self.routing();
        let at = LocalDateTime::beijing(now_ns)
            .ok_or_else(|| PayoutError::System("the clock is outside the calendar".into()))?;
        let currency = suanpan_routing::Currency::parse(&new.currency.to_string()).ok_or(
            PayoutError::Invalid("currency", "not a currency code".into()),
        )?;
        let payout = RoutedPayout {
            amount_fen: new.amount_fen,
            currency,
            real_time: new.real_time,
            at,
            origin: new.origin,
            beneficiary_systems: new.beneficiary_systems,
        };
        let decision = route(
            &payout,
            self.health(excluded, now_ns),
            &routing.rules,
            &routing.calendar,
        );
        Ok((decision, routing))
    }

    fn validate(new: &NewPayout) -> Result<(), PayoutError> {
        let text_ok = |t: &str, max: usize| {
            // Characters, not bytes: the API's document can state a length in characters.
            !t.is_empty() && t.chars().count() <= max && !t.chars().any(char::is_control)
        };
        if new.id == 0 || new.id > PAYOUT_ID_MAX {
            return Err(PayoutError::Invalid("id", "must be 1 to 2^88 - 1".into()));
        }
        if new.amount_fen == 0 {
            return Err(PayoutError::Invalid("amount", "must be above zero".into()));
        }
        if !text_ok(&new.beneficiary_bank, 32) {
            return Err(PayoutError::Invalid(
                "beneficiary_bank",
                "1 to 32 characters".into(),
            ));
        }
        if !text_ok(&new.beneficiary_account, 64) {
            return Err(PayoutError::Invalid(
                "beneficiary_account",
                "1 to 64 characters".into(),
            ));
        }
        if !text_ok(&new.beneficiary_name, 128) {
            return Err(PayoutError::Invalid(
                "beneficiary_name",
                "1 to 128 characters".into(),
            ));
        }
        if new.beneficiary_systems.is_empty() {
            return Err(PayoutError::Invalid(
                "beneficiary_systems",
                "name at least one system".into(),
            ));
        }
        Ok(())
    }

    /// Takes a payout: routes it, records it, holds the amount, and sends it in the
    /// background. The same id and fields again answer the same payout (`false`).
    pub async fn create(self: &Arc<Self>, new: NewPayout) -> Result<(Payout, bool), PayoutError> {
        Payouts::validate(&new)?;
        let started = std::time::Instant::now();
        let claim = loop {
            if let Some(claim) = self.claim_owned(new.id) {
                break claim;
            }
            if started.elapsed() > SAME_ID_WAIT_MAX {
                return Err(PayoutError::Overloaded);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let now = now_ns();
        let (decision, routing) = self.decide(&new, ChannelSet::EMPTY, now)?;
        let chosen = decision.chosen().map(|v| v.channel);
        let mut p = Payout {
            new: new.clone(),
            state: PayoutState::Routed,
            channel: None,
            rule_version: decision.rule_version,
            route_summary: String::new(),
            route_reasons: Vec::new(),
            excluded: ChannelSet::EMPTY,
            attempts: Vec::new(),
            created_ns: now,
            updated_ns: now,
            next_action_ns: None,
        };
        if let Some(channel) = chosen {
            self.plan_attempt(&mut p, &decision, &routing.calendar, channel, now);
        }
        // The look-up of an earlier payout of this id and the record of a new one are one
        // job of the store's writer: no read on this thread, and nothing between the two.
        let row = p.clone();
        let earlier = self
            .store
            .write(move |conn| {
                if let Some(existing) = store::payout(conn, row.new.id)? {
                    return Ok(Some(existing));
                }
                if row.channel.is_some() {
                    store::save(conn, &row)?;
                    for (from, to, cause) in [
                        (None, PayoutState::Accepted, "participant"),
                        (Some(PayoutState::Accepted), PayoutState::Routed, "routed"),
                    ] {
                        store::event(conn, row.new.id, from, to, cause, row.created_ns)?;
                    }
                }
                Ok::<_, PayoutError>(None)
            })
            .await?;
        if let Some(existing) = earlier {
            drop(claim);
            return Payouts::again(existing, &new);
        }
        if chosen.is_none() {
            return Err(PayoutError::NoRoute(
                decision.explain(&routing.calendar).summary,
            ));
        }
        if let Err(e) = self
            .booker
            .hold(
                p.new.id,
                p.new.debit_account,
                p.new.amount_fen,
                p.new.currency,
            )
            .await
        {
            return match e {
                PayoutError::Refused(code) => {
                    self.refused_by_ledger(&mut p, code).await?;
                    Err(e)
                }
                // Recorded, unknown whether held: the worker goes on from the record (the
                // hold is idempotent), so the payout is answered as taken, not as failed
                // (a caller told "failed" could pay again under another id).
                _ => Ok((p, true)),
            };
        }
        let answer = p.clone();
        let payouts = self.clone();
        tokio::spawn(async move {
            let _claim = claim;
            payouts.send_current(p).await;
        });
        Ok((answer, true))
    }

    /// A repeated creation: the same fields answer as the first time did.
    fn again(existing: Payout, new: &NewPayout) -> Result<(Payout, bool), PayoutError> {
        if existing.new != *new {
            return Err(PayoutError::Conflict);
        }
        if let Some(code) = existing.route_summary.strip_prefix(LEDGER_REFUSAL) {
            if let Some(r) = ResultCode::ALL.iter().find(|r| r.as_str() == code) {
                return Err(PayoutError::Refused(r.as_str()));
            }
        }
        Ok((existing, false))
    }

    async fn refused_by_ledger(
        &self,
        p: &mut Payout,
        code: &'static str,
    ) -> Result<(), PayoutError> {
        let from = p.state;
        p.state = PayoutState::Rejected;
        p.route_summary = format!("{LEDGER_REFUSAL}{code}");
        p.next_action_ns = None;
        if let Some(a) = p.attempts.last_mut() {
            a.state = AttemptState::NotReceived;
        }
        p.updated_ns = now_ns();
        self.save(p, &[(Some(from), PayoutState::Rejected, code)])
            .await
    }

    /// Records the next attempt at `channel` (state `sending` until the channel answers).
    fn plan_attempt(
        &self,
        p: &mut Payout,
        decision: &Decision,
        calendar: &Calendar,
        channel: Channel,
        now: u64,
    ) {
        let explanation = decision.explain(calendar);
        p.channel = Some(channel);
        p.rule_version = decision.rule_version;
        p.route_summary = explanation.summary;
        p.route_reasons = Channel::ALL
            .iter()
            .map(|c| (*c, decision.verdict(*c).reason.code().to_string()))
            .collect();
        let number = p.attempts.len() as u32 + 1;
        p.attempts.push(Attempt {
            number,
            channel,
            instruction_id: instruction_id(p.new.id, number),
            state: AttemptState::Sending,
            status_code: None,
            sent_ns: now,
            answered_ns: None,
        });
        // If this process dies before the channel answers, the worker asks about it then.
        p.next_action_ns = Some(now + self.timeout_ns() + self.query_interval_ns());
    }

    fn timeout_ns(&self) -> u64 {
        self.config.timeout_ms * 1_000_000
    }

    fn query_interval_ns(&self) -> u64 {
        self.config.query_interval_ms * 1_000_000
    }

    async fn save(
        &self,
        p: &Payout,
        changes: &[(Option<PayoutState>, PayoutState, &str)],
    ) -> Result<(), PayoutError> {
        for (from, to, _) in changes {
            if let Some(from) = from {
                assert!(
                    from.can_move_to(*to),
                    "payout {}: {} to {} is not a legal move",
                    p.new.id,
                    from.as_str(),
                    to.as_str()
                );
            }
        }
        let row = p.clone();
        let events: Vec<(Option<PayoutState>, PayoutState, String)> = changes
            .iter()
            .map(|(f, t, c)| (*f, *t, c.to_string()))
            .collect();
        self.store
            .write(move |conn| {
                store::save(conn, &row)?;
                for (from, to, cause) in &events {
                    store::event(conn, row.new.id, *from, *to, cause, row.updated_ns)?;
                }
                Ok::<_, PayoutError>(())
            })
            .await
    }

    /// Sends the payout's current attempt and acts on the answer, re-routing as long as
    /// channels refuse definitely.
    async fn send_current(&self, mut p: Payout) {
        loop {
            let Some(attempt) = p.attempts.last().cloned() else {
                return;
            };
            let Some(base) = self.config.channel_url(attempt.channel).map(str::to_string) else {
                return;
            };
            let instruction = Instruction {
                instruction_id: attempt.instruction_id.clone(),
                amount_fen: p.new.amount_fen,
                currency: p.new.currency.to_string(),
                beneficiary_bank: p.new.beneficiary_bank.clone(),
                beneficiary_account: p.new.beneficiary_account.clone(),
                beneficiary_name: p.new.beneficiary_name.clone(),
                created_at_ms: attempt.sent_ns / 1_000_000,
            };
            let timeout = Duration::from_millis(self.config.timeout_ms);
            let heard = channel::send(&self.http, &base, &instruction, timeout).await;
            match self.act_on(&mut p, heard, "sent").await {
                Ok(true) => continue,
                Ok(false) | Err(_) => return,
            }
        }
    }

    /// Applies what the channel said of the current attempt. `Ok(true)`: a new attempt was
    /// planned and must be sent.
    async fn act_on(&self, p: &mut Payout, heard: Heard, how: &str) -> Result<bool, PayoutError> {
        let now = now_ns();
        let Some(attempt) = p.attempts.last_mut() else {
            return Ok(false);
        };
        let channel = attempt.channel;
        if heard.outage {
            let mut down = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
            down[channel.index()] = now + self.config.down_ms * 1_000_000;
        }
        attempt.state = heard.state;
        if heard.status_code.is_some() {
            attempt.status_code = heard.status_code.clone();
        }
        if heard.state != AttemptState::Unknown {
            attempt.answered_ns = Some(now);
        }
        p.updated_ns = now;
        let from = p.state;
        let cause = format!(
            "{how} {}: {}",
            channel.code(),
            heard.status_code.as_deref().unwrap_or(heard.state.as_str())
        );
        match heard.state {
            AttemptState::Sending | AttemptState::Unknown => {
                p.next_action_ns = Some(now + self.query_interval_ns());
                let moved = if from == PayoutState::Routed {
                    p.state = PayoutState::Sent;
                    vec![(Some(from), PayoutState::Sent, cause.as_str())]
                } else {
                    Vec::new()
                };
                self.save(p, &moved).await?;
                Ok(false)
            }
            AttemptState::Accepted => {
                p.next_action_ns = Some(now + self.query_interval_ns());
                if from == PayoutState::AcceptedByChannel {
                    self.save(p, &[]).await?;
                    return Ok(false);
                }
                let mut moves = self.through_sent(p, from, &cause);
                p.state = PayoutState::AcceptedByChannel;
                moves.push((
                    Some(PayoutState::Sent),
                    PayoutState::AcceptedByChannel,
                    cause.as_str(),
                ));
                self.save(p, &moves).await?;
                Ok(false)
            }
            AttemptState::Settled => self.settle(p, from, &cause).await.map(|_| false),
            AttemptState::Rejected | AttemptState::NotReceived => {
                p.excluded = p.excluded.with(channel);
                self.reroute(p, from, &cause, now).await
            }
        }
    }

    /// The moves that take a payout to `sent` first, when it is still `routed`.
    fn through_sent<'c>(
        &self,
        p: &mut Payout,
        from: PayoutState,
        cause: &'c str,
    ) -> Vec<(Option<PayoutState>, PayoutState, &'c str)> {
        if from == PayoutState::Routed {
            p.state = PayoutState::Sent;
            vec![(Some(from), PayoutState::Sent, cause)]
        } else {
            Vec::new()
        }
    }

    async fn settle(
        &self,
        p: &mut Payout,
        from: PayoutState,
        cause: &str,
    ) -> Result<(), PayoutError> {
        let channel = p
            .attempts
            .last()
            .map(|a| a.channel)
            .unwrap_or(Channel::Hvps);
        // Booked before anything is recorded: if this process dies in between, the attempt
        // is still open in the record, the worker asks the channel again, hears "settled"
        // again and books again (the same transfers: `exists`).
        if let Err(e) = self
            .booker
            .settle(p.new.id, channel, p.new.amount_fen, p.new.currency)
            .await
        {
            // The channel's answer is kept; the worker books it again soon.
            let moves = self.through_sent(p, from, cause);
            p.next_action_ns = Some(p.updated_ns + self.query_interval_ns());
            self.save(p, &moves).await?;
            return Err(e);
        }
        let mut moves = self.through_sent(p, from, cause);
        moves.push((Some(p.state), PayoutState::Settled, cause));
        p.state = PayoutState::Settled;
        p.next_action_ns = None;
        self.save(p, &moves).await
    }

    async fn reroute(
        &self,
        p: &mut Payout,
        from: PayoutState,
        cause: &str,
        now: u64,
    ) -> Result<bool, PayoutError> {
        let mut moves = self.through_sent(p, from, cause);
        let (decision, routing) = self.decide(&p.new, p.excluded, now)?;
        match decision.chosen().map(|v| v.channel) {
            Some(next) => {
                self.plan_attempt(p, &decision, &routing.calendar, next, now);
                moves.push((Some(p.state), PayoutState::Routed, "re-routed"));
                p.state = PayoutState::Routed;
                self.save(p, &moves).await?;
                // Held again before the new attempt goes out (idempotent; it may be the
                // first hold, if the process died before it).
                self.booker
                    .hold(
                        p.new.id,
                        p.new.debit_account,
                        p.new.amount_fen,
                        p.new.currency,
                    )
                    .await?;
                Ok(true)
            }
            None => {
                p.route_summary = decision.explain(&routing.calendar).summary;
                moves.push((Some(p.state), PayoutState::Rejected, "no channel left"));
                p.state = PayoutState::Rejected;
                // Until the hold is released, the worker keeps at it.
                p.next_action_ns = Some(now + self.query_interval_ns());
                self.save(p, &moves).await?;
                self.booker.release(p.new.id, p.new.currency).await?;
                p.next_action_ns = None;
                self.save(p, &[]).await?;
                Ok(false)
            }
        }
    }

    /// One pass of the worker: every payout whose next action is due.
    pub async fn run_due(&self) -> Result<usize, PayoutError> {
        let now = now_ns();
        let due = self
            .store
            .read(|conn| store::due(conn, now, DUE_PER_PASS_MAX))?;
        let mut done = 0;
        for p in due {
            let Some(_claim) = self.claim(p.new.id) else {
                continue;
            };
            // Read again under the claim: a task may have moved it since the list was made.
            let Some(p) = self.get(p.new.id)? else {
                continue;
            };
            if p.next_action_ns.is_none_or(|t| t > now) {
                continue;
            }
            let id = p.new.id;
            if let Err(e) = self.follow(p, now).await {
                // One payout failing again and again must not stop the others: it is looked
                // at again later, the rest of the pass goes on.
                self.postpone(id, now).await;
                eprintln!("payout {id}: {e}");
                continue;
            }
            done += 1;
        }
        Ok(done)
    }

    /// Looks at a payout again later (after ten query intervals) when following it failed.
    async fn postpone(&self, id: u128, now: u64) {
        if let Ok(Some(mut p)) = self.get(id) {
            if p.next_action_ns.is_some() {
                p.next_action_ns = Some(now + 10 * self.query_interval_ns());
                let _ = self.save(&p, &[]).await;
            }
        }
    }

    async fn follow(&self, mut p: Payout, now: u64) -> Result<(), PayoutError> {
        let Some(attempt) = p.attempts.last().cloned() else {
            return Ok(());
        };
        match (p.state, attempt.state) {
            (PayoutState::Rejected, _) => {
                self.booker.release(p.new.id, p.new.currency).await?;
                p.next_action_ns = None;
                self.save(&p, &[]).await
            }
            (
                PayoutState::Sent | PayoutState::Routed | PayoutState::AcceptedByChannel,
                AttemptState::Settled,
            ) => {
                let from = p.state;
                self.settle(&mut p, from, "settled (booking again)").await
            }
            (_, state) if state.is_open() => {
                // Make sure the amount is held before following (a crash may have come
                // between the record and the hold); idempotent.
                let held = self
                    .booker
                    .hold(
                        p.new.id,
                        p.new.debit_account,
                        p.new.amount_fen,
                        p.new.currency,
                    )
                    .await;
                if let Err(PayoutError::Refused(code)) = held {
                    // Never held, so never sent (every instruction goes out after its hold):
                    // the ledger's refusal ends the payout.
                    return self.refused_by_ledger(&mut p, code).await;
                }
                held?;
                let Some(base) = self.config.channel_url(attempt.channel).map(str::to_string)
                else {
                    p.next_action_ns = Some(now + self.query_interval_ns());
                    return self.save(&p, &[]).await;
                };
                let ttl_ns = self.config.instruction_ttl_ms * 1_000_000;
                // A margin of one more timeout beyond the channels' time to live: their clock
                // may run behind ours, or the instruction may have arrived late.
                let expired = now.saturating_sub(attempt.sent_ns) > ttl_ns + 2 * self.timeout_ns();
                let timeout = Duration::from_millis(self.config.timeout_ms);
                let heard =
                    channel::query(&self.http, &base, &attempt.instruction_id, expired, timeout)
                        .await;
                if self.act_on(&mut p, heard, "queried").await? {
                    self.send_current(p).await;
                }
                Ok(())
            }
            _ => {
                p.next_action_ns = None;
                self.save(&p, &[]).await
            }
        }
    }

    /// The worker: a pass every `tick_ms` until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let tick = Duration::from_millis(self.config.tick_ms);
        loop {
            if *stop.borrow() {
                return;
            }
            // Only the leader sends: a standby's worker would send what the leader sends.
            if self.engine.is_leader() {
                let _ = self.run_due().await;
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = stop.changed() => {}
            }
        }
    }

    pub fn get(&self, id: u128) -> Result<Option<Payout>, PayoutError> {
        self.store.read(|conn| store::payout(conn, id))
    }

    /// The state changes of a payout, oldest first.
    pub fn events(&self, id: u128) -> Result<Vec<PayoutEvent>, PayoutError> {
        self.store.read(|conn| store::events(conn, id))
    }

    /// A return the channel reported for a settled payout: the customer is paid back.
    pub async fn record_return(&self, id: u128, reason: &str) -> Result<Payout, PayoutError> {
        let Some(_claim) = self.claim(id) else {
            return Err(PayoutError::Overloaded);
        };
        let mut p = self.get(id)?.ok_or(PayoutError::NotFound)?;
        match p.state {
            PayoutState::Returned => return Ok(p),
            PayoutState::Settled => {}
            _ => return Err(PayoutError::NotSettled),
        }
        let channel = p.channel.ok_or(PayoutError::NotSettled)?;
        self.booker
            .reverse(
                id,
                channel,
                p.new.debit_account,
                p.new.amount_fen,
                p.new.currency,
            )
            .await?;
        p.state = PayoutState::Returned;
        p.updated_ns = now_ns();
        let cause = format!("returned {}: {reason}", crate::status::REVERSED);
        self.save(
            &p,
            &[(
                Some(PayoutState::Settled),
                PayoutState::Returned,
                cause.as_str(),
            )],
        )
        .await?;
        Ok(p)
    }

    pub(crate) fn qr_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.qr
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn booker(&self) -> &Booker {
        &self.booker
    }
}
