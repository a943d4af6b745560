//! The gateway's handle: taking orders, learning their results (callbacks, queries), closing
//! expired ones, refunds, and the notification outbox. The HTTP API calls it; a scheduler
//! task calls [`Gateway::run_due`] on every tick.
//!
//! The order of things, everywhere: ask the channel, book in the engine (idempotent by the
//! order's fixed transfer ids), then record the state change with its event and the merchant
//! notification in one store transaction. A crash between any two steps is repaired by doing
//! them again: the channel is asked again (on the query schedule), the engine answers
//! `exists`, and the store refuses a transition already made.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use suanpan_engine::Engine;

use crate::alipay::Alipay;
use crate::booking::Booker;
use crate::channel::*;
use crate::clock::Clock;
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::http::HttpClient;
use crate::notify;
use crate::order::{NewOrder, Order, OrderState, Refund, RefundState};
use crate::store::{self, Attempt, Change, Event, Merchant, Notification, Store};
use crate::wechat::Wechat;
use suanpan_store::sql::Sql;

/// Orders, refunds and notifications taken per scheduler pass, and in flight at once.
const PASS_ITEMS_MAX: u32 = 1_024;
const IN_FLIGHT_MAX: usize = 128;
/// Status reads remembered for rate-limiting channel queries.
const RECENT_QUERIES_MAX: usize = 100_000;
const MERCHANT_CACHE_TTL: Duration = Duration::from_secs(5);
const MERCHANTS_CACHED_MAX: usize = 100_000;

pub struct Gateway {
    store: Store,
    /// The scheduler acts only while this node leads: a standby's would ask channels and
    /// tell merchants what the leader is already asking and telling.
    engine: Arc<Engine>,
    booker: Booker,
    channels: HashMap<String, (Arc<dyn Channel>, Vec<u64>)>,
    config: GatewayConfig,
    clock: Arc<dyn Clock>,
    public_url: Mutex<String>,
    http: HttpClient,
    wake: tokio::sync::Notify,
    recent_queries: Mutex<HashMap<u64, u64>>,
    metrics: crate::metrics::GatewayMetrics,
    page_key: Vec<u8>,
    merchants: Mutex<HashMap<String, (Merchant, std::time::Instant)>>,
}

fn valid_token(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn order_notification(order: &Order, state: OrderState, flagged: bool) -> String {
    json!({
        "type": "payment",
        "order_id": order.id.to_string(),
        "merchant_order_no": order.merchant_order_no,
        "state": state.as_str(),
        "amount": order.amount_minor.to_string(),
        "currency": order.currency,
        "channel": order.channel,
        "flagged_for_refund": flagged || order.flagged_for_refund,
    })
    .to_string()
}

fn refund_notification(order: &Order, refund: &Refund, state: RefundState) -> String {
    json!({
        "type": "refund",
        "order_id": order.id.to_string(),
        "merchant_order_no": order.merchant_order_no,
        "refund_id": refund.id.to_string(),
        "refund_no": refund.refund_no,
        "state": state.as_str(),
        "amount": refund.amount_minor.to_string(),
        "currency": order.currency,
    })
    .to_string()
}

impl Gateway {
    pub fn open(
        home: &store::Home,
        engine: Arc<Engine>,
        config: GatewayConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Gateway, String> {
        let timeout = Duration::from_millis(config.channel_timeout_ms);
        let tls = crate::http::tls_config(
            Some(std::path::Path::new(&config.ca_file)).filter(|_| !config.ca_file.is_empty()),
        )?;
        let mut channels: HashMap<String, (Arc<dyn Channel>, Vec<u64>)> = HashMap::new();
        for (name, c) in &config.channels {
            let url =
                crate::http::Url::parse(&c.url).map_err(|e| format!("channel {name}: {e}"))?;
            if !url.tls && !config.allow_plain_http {
                return Err(format!(
                    "channel {name}: {} is plain http://; channels are reached over https:// (set allow_plain_http for a test)",
                    c.url
                ));
            }
            let http = || HttpClient::with_tls(tls.clone());
            let channel: Arc<dyn Channel> = match name.as_str() {
                "alipay" => Arc::new(Alipay::new(&c.url, &c.key, timeout, http())?),
                "wechat" => Arc::new(Wechat::new(&c.url, &c.key, timeout, http())?),
                other => return Err(format!("channel {other:?} is not alipay or wechat")),
            };
            channels.insert(name.clone(), (channel, c.query_schedule_ms.clone()));
        }
        let store = store::open(home).map_err(|e| e.to_string())?;
        // Not a command of the leader (a standby opens the gateway too, and must find the
        // same key), so drawn on a reading connection, outside the fenced writer.
        let page_key = store.read(store::page_key).map_err(|e| e.to_string())?;
        Ok(Gateway {
            store,
            page_key,
            merchants: Mutex::new(HashMap::new()),
            booker: Booker::new(engine.clone(), config.fee_bp, config.refund_returns_fee),
            engine,
            channels,
            public_url: Mutex::new(config.public_url.trim_end_matches('/').to_string()),
            config,
            clock,
            http: HttpClient::with_tls(tls),
            wake: tokio::sync::Notify::new(),
            recent_queries: Mutex::new(HashMap::new()),
            metrics: crate::metrics::GatewayMetrics::default(),
        })
    }

    /// What the gateway counts, for `/metrics`, and where its warnings go.
    pub fn metrics(&self) -> &crate::metrics::GatewayMetrics {
        &self.metrics
    }

    /// The gauges read from the store (open orders, the outbox).
    pub fn gauges(&self) -> Result<crate::metrics::Gauges, GatewayError> {
        let now = self.clock.now_ms();
        self.store.read(|c| store::gauges(c, now))
    }

    /// A channel that did not answer (or answered nonsense): counted by the caller, logged
    /// here as a warning.
    fn channel_failed(&self, channel: &str, what: &str, order_id: u64, e: &GatewayError) {
        self.metrics.warn(
            "channel did not answer",
            &[
                ("channel", channel),
                ("request", what),
                ("order", &order_id.to_string()),
                ("error", &e.to_string()),
            ],
        );
    }

    /// The token that lets a payer's browser read an order's result page and status. Order
    /// ids are sequential; without the token (which only Suanpan can make) a stranger could
    /// walk them.
    pub fn page_token(&self, order_id: u64) -> String {
        let mut token = crate::channel::hmac_hex(&self.page_key, &order_id.to_le_bytes());
        token.truncate(32);
        token
    }

    pub fn page_token_matches(&self, order_id: u64, token: &str) -> bool {
        crate::channel::same_signature(&self.page_token(order_id), token)
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Sets where channels call back, unless the configuration named it.
    pub fn set_default_public_url(&self, url: &str) {
        let mut public = self.public_url.lock().unwrap_or_else(|p| p.into_inner());
        if public.is_empty() {
            *public = url.trim_end_matches('/').to_string();
        }
    }

    /// Where this server is reached from outside (configured, or where it listens).
    pub fn public_url(&self) -> String {
        self.public_url
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn channel(&self, name: &str) -> Result<(Arc<dyn Channel>, &[u64]), GatewayError> {
        self.channels
            .get(name)
            .map(|(c, s)| (c.clone(), s.as_slice()))
            .ok_or_else(|| GatewayError::ChannelUnknown(name.to_string()))
    }

    fn notify_url(&self, channel: &str) -> String {
        let public = self.public_url.lock().unwrap_or_else(|p| p.into_inner());
        format!("{public}/v1/channels/{channel}/notify")
    }

    pub fn merchant(&self, participant: &str) -> Result<Option<Merchant>, GatewayError> {
        self.store.read(|c| store::merchant(c, participant))
    }

    /// A merchant, read at most every few seconds: two look-ups an order otherwise, and a
    /// change (`suanpan gateway merchant` again) is seen within that time.
    fn merchant_cached(&self, participant: &str) -> Result<Merchant, GatewayError> {
        let now = std::time::Instant::now();
        {
            let cache = self.merchants.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((m, at)) = cache.get(participant) {
                if now.duration_since(*at) < MERCHANT_CACHE_TTL {
                    return Ok(m.clone());
                }
            }
        }
        let m = self
            .merchant(participant)?
            .ok_or_else(|| GatewayError::MerchantNotRegistered(participant.to_string()))?;
        let mut cache = self.merchants.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MERCHANTS_CACHED_MAX {
            cache.clear();
        }
        cache.insert(participant.to_string(), (m.clone(), now));
        Ok(m)
    }

    pub fn order(&self, id: u64) -> Result<Option<Order>, GatewayError> {
        self.store.read(|c| store::order_by_id(c, id))
    }

    pub fn order_by_merchant_no(
        &self,
        merchant: &str,
        no: &str,
    ) -> Result<Option<Order>, GatewayError> {
        self.store
            .read(|c| store::order_by_merchant_no(c, merchant, no))
    }

    /// Orders in a state created in [from_ms, to_ms), newest first, at most `limit`.
    pub fn orders_by_state(
        &self,
        state: &str,
        from_ms: u64,
        to_ms: u64,
        limit: u32,
    ) -> Result<Vec<Order>, GatewayError> {
        self.store
            .read(|c| store::orders_by_state(c, state, from_ms, to_ms, limit))
    }

    pub fn events(&self, order_id: u64) -> Result<Vec<Event>, GatewayError> {
        self.store.read(|c| store::events(c, order_id))
    }

    pub fn notifications(
        &self,
        order_id: u64,
    ) -> Result<Vec<(Notification, Vec<Attempt>)>, GatewayError> {
        self.store.read(|c| {
            store::notifications(c, order_id)?
                .into_iter()
                .map(|n| {
                    let attempts = store::attempts(c, n.id)?;
                    Ok((n, attempts))
                })
                .collect()
        })
    }

    fn validate(&self, new: &NewOrder) -> Result<(), GatewayError> {
        let bad = |field, message: &str| Err(GatewayError::InvalidValue(field, message.into()));
        if !valid_token(&new.merchant_order_no, 64) {
            return bad(
                "merchant_order_no",
                "a merchant order number is 1 to 64 of A-Z a-z 0-9 - _",
            );
        }
        if new.amount_minor == 0 || new.amount_minor > i64::MAX as u64 {
            return bad(
                "amount",
                "an order's amount is 1 to 9223372036854775807 minor units",
            );
        }
        if suanpan_ledger::Currency::parse(&new.currency).is_none() {
            return bad("currency", "not a three-letter currency code");
        }
        if new.subject.is_empty() || new.subject.chars().count() > 256 {
            return bad("subject", "a subject is 1 to 256 characters");
        }
        if new.expire_s.is_some_and(|s| s == 0 || s > 7 * 86_400) {
            return bad("expire_s", "expire_s is 1 to 604800 seconds");
        }
        if let Some(url) = &new.return_url {
            let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
            if !scheme_ok
                || url.chars().count() > 512
                || url.chars().any(|c| {
                    c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>'
                })
            {
                return bad(
                    "return_url",
                    "return_url is an http:// or https:// URL of at most 512 characters, without spaces, quotes or angle brackets",
                );
            }
        }
        self.channel(&new.channel)?;
        let takes = self
            .config
            .channels
            .get(&new.channel)
            .is_some_and(|c| c.currencies.contains(&new.currency));
        if !takes {
            return Err(GatewayError::CurrencyNotSupported {
                channel: new.channel.clone(),
                currency: new.currency.clone(),
            });
        }
        Ok(())
    }

    /// Takes an order and hands it to the channel. The same merchant order number with the
    /// same body answers the order already taken (`false`); with another body, a conflict.
    pub async fn create_order(
        &self,
        merchant: &str,
        new: NewOrder,
    ) -> Result<(Order, bool), GatewayError> {
        self.validate(&new)?;
        let m = self.merchant_cached(merchant)?;
        let (_, schedule) = self.channel(&new.channel)?;
        let now = self.clock.now_ms();
        let expire_s = new.expire_s.unwrap_or(self.config.expire_s);
        let order = Order {
            // Given by the store: orders are numbered in the order they are taken.
            id: 0,
            merchant: m.participant.clone(),
            owner: m.owner,
            merchant_order_no: new.merchant_order_no.clone(),
            amount_minor: new.amount_minor,
            currency: new.currency.clone(),
            subject: new.subject.clone(),
            channel: new.channel.clone(),
            state: OrderState::Created,
            created_ms: now,
            expire_at_ms: now + expire_s * 1000,
            channel_trade_no: None,
            pay_url: None,
            refunded_minor: 0,
            flagged_for_refund: false,
            queries: 0,
            return_url: new.return_url.clone(),
            // The next thing to do about it: a query, or the close at its expiry, if sooner.
            next_query_ms: Some(
                (now + schedule.first().copied().unwrap_or(10_000)).min(now + expire_s * 1000),
            ),
        };
        let digest = store::order_digest(
            new.amount_minor,
            &new.currency,
            &new.subject,
            &new.channel,
            new.expire_s,
            new.return_url.as_deref(),
        );
        let (order, created) = self
            .store
            .write(move |c| store::insert_order(c, &order, &digest))
            .await?;
        if !created {
            return Ok((order, false));
        }
        Ok((self.start_payment(order).await?, true))
    }

    /// Hands a created order to the channel. No answer (a timeout) leaves it `created`: the
    /// scheduler asks the channel about it and hands it again (the channel knows it by id).
    async fn start_payment(&self, order: Order) -> Result<Order, GatewayError> {
        let (channel, _) = self.channel(&order.channel)?;
        let request = PaymentRequest {
            order_id: order.id,
            amount_minor: order.amount_minor,
            currency: order.currency.clone(),
            subject: order.subject.clone(),
            notify_url: self.notify_url(&order.channel),
        };
        let now = self.clock.now_ms();
        let (to, change) = match channel.create_payment(&request).await {
            Ok(created) => (
                OrderState::Paying,
                Change {
                    pay_url: Some(created.pay_url),
                    ..Change::default()
                },
            ),
            Err(GatewayError::InvalidValue(_, why)) => (
                OrderState::Failed,
                Change {
                    next_query_ms: Some(None),
                    notify: Some(order_notification(&order, OrderState::Failed, false)),
                    channel_trade_no: Some(format!("refused: {why}")),
                    ..Change::default()
                },
            ),
            Err(e) => {
                self.channel_failed(&order.channel, "create_payment", order.id, &e);
                return Ok(order);
            }
        };
        let id = order.id;
        let moved = self
            .store
            .write(move |c| store::transition(c, id, to, "channel", &change, now))
            .await?;
        if moved.is_some() {
            self.metrics.transition(to);
        }
        self.wake.notify_one();
        match moved {
            Some(order) => Ok(order),
            None => self.order(id)?.ok_or(GatewayError::OrderNotFound(id)),
        }
    }

    /// The gateway's side of a channel's bill: its payments and refunds of [from_ms, to_ms)
    /// (`store::recon_records`).
    pub async fn recon_records(
        &self,
        channel: &str,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<Vec<store::ReconRecord>, GatewayError> {
        self.channel(channel)?;
        let channel = channel.to_string();
        // A day of a channel's business: read off the async workers.
        self.store
            .read_async(move |c| store::recon_records(c, &channel, from_ms, to_ms))
            .await
    }

    /// The fee agreed with the channels on an amount (what a bill's fee column should say).
    pub fn channel_fee(&self, amount_minor: u64) -> u64 {
        crate::booking::fee_minor(amount_minor, self.config.fee_bp)
    }

    /// The names of the configured channels, sorted.
    pub fn channel_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.channels.keys().cloned().collect();
        names.sort();
        names
    }

    /// Downloads a channel's bill of `date` (`yyyy-MM-dd`) through its bill API.
    pub async fn download_bill(
        &self,
        channel: &str,
        date: &str,
    ) -> Result<crate::channel::BillDownload, GatewayError> {
        let (channel, _) = self.channel(channel)?;
        channel.download_bill(date).await
    }

    /// Books a succeeded refund again (reconciliation found it refunded in the gateway but not
    /// in the books): fixed ids, so one already booked is answered `exists`.
    pub async fn rebook_refund(&self, refund_id: u64) -> Result<(), GatewayError> {
        let refund = self
            .store
            .read(|c| store::refund_by_id(c, refund_id))?
            .ok_or(GatewayError::OrderNotFound(refund_id))?;
        if refund.state != RefundState::Succeeded {
            return Err(GatewayError::InvalidValue(
                "refund",
                format!(
                    "refund {refund_id} is {}, not succeeded",
                    refund.state.as_str()
                ),
            ));
        }
        let order = self
            .order(refund.order_id)?
            .ok_or(GatewayError::OrderNotFound(refund.order_id))?;
        self.booker.book_refund(&order, &refund).await
    }

    /// What the channel says of an order now (reconciliation asks it of a 短款), changing
    /// nothing here.
    pub async fn channel_status(
        &self,
        order_id: u64,
    ) -> Result<crate::channel::PaymentStatus, GatewayError> {
        let order = self
            .order(order_id)?
            .ok_or(GatewayError::OrderNotFound(order_id))?;
        let (channel, _) = self.channel(&order.channel)?;
        channel.query(order_id).await
    }

    /// Books a succeeded order again: its transfers have fixed ids, so one already booked is
    /// answered `exists` and nothing moves twice (reconciliation found it in the gateway but
    /// not in the books).
    pub async fn rebook_payment(&self, order_id: u64) -> Result<(), GatewayError> {
        let order = self
            .order(order_id)?
            .ok_or(GatewayError::OrderNotFound(order_id))?;
        if order.state != OrderState::Succeeded {
            return Err(GatewayError::InvalidValue(
                "order",
                format!(
                    "order {order_id} is {}, not succeeded",
                    order.state.as_str()
                ),
            ));
        }
        self.booker.book_payment(&order).await
    }

    /// For the payer's page: an open order whose channel has not been asked lately is asked
    /// in the background, now; the caller never waits for it (a slow channel must not slow
    /// the page). One query per order in flight at a time.
    pub fn nudge(self: &Arc<Self>, order: &Order) {
        if order.state.is_final() || !self.mark_asked(order.id) {
            return;
        }
        let gateway = self.clone();
        let order = order.clone();
        tokio::spawn(async move {
            // A channel that does not answer leaves it to the schedule; the page says
            // "processing", never a guess.
            let _ = gateway.sync_with_channel(&order, "status_query").await;
        });
    }

    /// Records that an order's channel is being asked now; false when it was asked within
    /// `status_query_interval_ms` (then it is not asked again).
    fn mark_asked(&self, order_id: u64) -> bool {
        let now = self.clock.now_ms();
        let mut recent = self
            .recent_queries
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(&at) = recent.get(&order_id) {
            if now.saturating_sub(at) < self.config.status_query_interval_ms {
                return false;
            }
        }
        if recent.len() >= RECENT_QUERIES_MAX {
            recent.clear();
        }
        recent.insert(order_id, now);
        true
    }

    /// When the order succeeded (the time of its success event), if it has.
    pub fn paid_at_ms(&self, order_id: u64) -> Result<Option<u64>, GatewayError> {
        Ok(self
            .events(order_id)?
            .into_iter()
            .find(|e| e.refund_id.is_none() && e.to_state == OrderState::Succeeded.as_str())
            .map(|e| e.at_ms))
    }

    /// The status a merchant reads. An open order whose channel has not been asked lately is
    /// asked now, so a merchant that asks before the callback still sees the truth.
    pub async fn order_status(&self, order: Order) -> Result<Order, GatewayError> {
        if order.state.is_final() {
            return Ok(order);
        }
        if !self.mark_asked(order.id) {
            return Ok(order);
        }
        let id = order.id;
        // A channel that does not answer leaves the order as it stands.
        let _ = self.sync_with_channel(&order, "status_query").await;
        self.order(id)?.ok_or(GatewayError::OrderNotFound(id))
    }

    /// Asks the channel and acts on its answer; reschedules the next query if still open.
    async fn sync_with_channel(&self, order: &Order, cause: &str) -> Result<(), GatewayError> {
        let (channel, schedule) = self.channel(&order.channel)?;
        let status = channel.query(order.id).await;
        self.metrics.query(&order.channel, status.as_ref().ok());
        if let Err(e) = &status {
            self.channel_failed(&order.channel, "query", order.id, e);
        }
        let now = self.clock.now_ms();
        let delay = schedule
            .get(order.queries as usize + 1)
            .or(schedule.last())
            .copied()
            .unwrap_or(60_000);
        let (id, queries) = (order.id, order.queries + 1);
        let next = (now + delay).min(order.expire_at_ms.max(now));
        let reschedule = move |c: &dyn Sql| store::set_next_query(c, id, queries, Some(next));
        let status = match status {
            Ok(status) => status,
            Err(e) => {
                // A channel that does not answer is asked again on the schedule, not on
                // every tick.
                self.store.write(reschedule).await?;
                return Err(e);
            }
        };
        match status {
            PaymentStatus::Paid {
                amount_minor,
                channel_trade_no,
            } => {
                self.settle_paid(order.id, amount_minor, channel_trade_no, cause)
                    .await?;
            }
            PaymentStatus::Closed => self.finish(order.id, OrderState::Closed, cause).await?,
            PaymentStatus::Failed => self.finish(order.id, OrderState::Failed, cause).await?,
            // Handed over without an answer (a timeout): hand it again; the channel knows
            // it by id and answers where to send the payer.
            PaymentStatus::Unknown | PaymentStatus::Waiting
                if order.state == OrderState::Created =>
            {
                self.store.write(reschedule).await?;
                self.start_payment(order.clone()).await?;
            }
            PaymentStatus::Unknown | PaymentStatus::Waiting => {
                self.store.write(reschedule).await?;
            }
        }
        Ok(())
    }

    /// The channel says it was paid: book it, then record it. A duplicate changes nothing; a
    /// success after a close or failure is booked and flagged for refund.
    pub async fn settle_paid(
        &self,
        order_id: u64,
        amount_minor: u64,
        channel_trade_no: String,
        cause: &str,
    ) -> Result<Order, GatewayError> {
        let order = self
            .order(order_id)?
            .ok_or(GatewayError::OrderNotFound(order_id))?;
        if order.state == OrderState::Succeeded {
            return Ok(order);
        }
        if amount_minor != order.amount_minor {
            return Err(GatewayError::CallbackAmountMismatch {
                expected: order.amount_minor,
                got: amount_minor,
            });
        }
        self.booker.book_payment(&order).await?;
        let late = matches!(order.state, OrderState::Closed | OrderState::Failed);
        let change = Change {
            channel_trade_no: Some(channel_trade_no),
            flag_for_refund: late,
            next_query_ms: Some(None),
            notify: Some(order_notification(&order, OrderState::Succeeded, late)),
            ..Change::default()
        };
        let now = self.clock.now_ms();
        let cause = cause.to_string();
        let moved = self
            .store
            .write(move |c| {
                store::transition(c, order_id, OrderState::Succeeded, &cause, &change, now)
            })
            .await?;
        if moved.is_some() {
            self.metrics.transition(OrderState::Succeeded);
        }
        self.wake.notify_one();
        match moved {
            Some(order) => Ok(order),
            None => self
                .order(order_id)?
                .ok_or(GatewayError::OrderNotFound(order_id)),
        }
    }

    /// Moves an open order to a final state without money (closed, failed). Refused quietly
    /// when it is not open any more (a late or out-of-order message).
    async fn finish(&self, order_id: u64, to: OrderState, cause: &str) -> Result<(), GatewayError> {
        let order = self
            .order(order_id)?
            .ok_or(GatewayError::OrderNotFound(order_id))?;
        if order.state.is_final() {
            return Ok(());
        }
        let change = Change {
            next_query_ms: Some(None),
            notify: Some(order_notification(&order, to, false)),
            ..Change::default()
        };
        let now = self.clock.now_ms();
        let cause = cause.to_string();
        let moved = self
            .store
            .write(move |c| {
                // Only from an open state: a success that won the race stays.
                match store::order_by_id(c, order_id)? {
                    Some(o) if !o.state.is_final() => {
                        store::transition(c, order_id, to, &cause, &change, now)
                    }
                    _ => Ok(None),
                }
            })
            .await?;
        if moved.is_some() {
            self.metrics.transition(to);
        }
        self.wake.notify_one();
        Ok(())
    }

    /// A channel's callback: verified (signature, then amount against the order), acted on
    /// idempotently, and answered in the channel's form. `Err` says why it was refused (the
    /// answer then tells the channel so).
    pub async fn callback(
        &self,
        channel_name: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> (CallbackAnswer, Result<(), GatewayError>) {
        let Ok((channel, _)) = self.channel(channel_name) else {
            let e = GatewayError::ChannelUnknown(channel_name.to_string());
            let answer = CallbackAnswer {
                status: 404,
                content_type: "text/plain",
                body: e.to_string().into_bytes(),
            };
            return (answer, Err(e));
        };
        let result = self.handle_callback(channel.as_ref(), headers, body).await;
        self.metrics.callback(channel_name, result.is_ok());
        let why = result.as_ref().err().map(|e| e.code()).unwrap_or("");
        (channel.callback_answer(result.is_ok(), why), result)
    }

    async fn handle_callback(
        &self,
        channel: &dyn Channel,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), GatewayError> {
        let callback = channel.verify_callback(headers, body)?;
        let order = self
            .order(callback.order_id)?
            .ok_or(GatewayError::OrderNotFound(callback.order_id))?;
        if order.channel != channel.name() {
            return Err(GatewayError::OrderNotFound(callback.order_id));
        }
        let cause = format!("callback:{}", callback.channel_state);
        match callback.status {
            PaymentStatus::Paid {
                amount_minor,
                channel_trade_no,
            } => {
                self.settle_paid(order.id, amount_minor, channel_trade_no, &cause)
                    .await?;
            }
            PaymentStatus::Closed => self.finish(order.id, OrderState::Closed, &cause).await?,
            PaymentStatus::Failed => self.finish(order.id, OrderState::Failed, &cause).await?,
            PaymentStatus::Waiting | PaymentStatus::Unknown => {}
        }
        Ok(())
    }

    /// A merchant's refund of a succeeded order: never more than is left of what was paid.
    pub async fn refund(
        &self,
        order: &Order,
        refund_no: &str,
        amount_minor: u64,
    ) -> Result<Refund, GatewayError> {
        if !valid_token(refund_no, 64) {
            return Err(GatewayError::InvalidValue(
                "refund_no",
                "a refund number is 1 to 64 of A-Z a-z 0-9 - _".into(),
            ));
        }
        if amount_minor == 0 || amount_minor > i64::MAX as u64 {
            return Err(GatewayError::InvalidValue(
                "amount",
                "a refund's amount is at least 1".into(),
            ));
        }
        let now = self.clock.now_ms();
        // This request asks the channel itself, at once; the scheduler's first ask waits the
        // schedule's first step, so that the two never ask at the same time (under load the
        // request's own ask can take longer than a scheduler tick).
        let (_, schedule) = self.channel(&order.channel)?;
        let first_retry = now + schedule.first().copied().unwrap_or(10_000);
        let (id, no) = (order.id, refund_no.to_string());
        let (refund, created) = self
            .store
            .write(move |c| store::insert_refund(c, id, &no, amount_minor, now, first_retry))
            .await?;
        if !created || refund.state != RefundState::Processing {
            return Ok(refund);
        }
        self.drive_refund(order, refund).await
    }

    /// Asks the channel to refund (again: it knows the refund by id), books what it refunded
    /// and records the outcome. No answer leaves it processing for the scheduler.
    async fn drive_refund(&self, order: &Order, refund: Refund) -> Result<Refund, GatewayError> {
        let (channel, schedule) = self.channel(&order.channel)?;
        let request = RefundRequest {
            order_id: order.id,
            refund_id: refund.id,
            amount_minor: refund.amount_minor,
            total_minor: order.amount_minor,
            currency: order.currency.clone(),
        };
        let answer = channel.refund(&request).await;
        let outcome_error = match &answer {
            Err(e) => Err(e.clone()),
            Ok(_) => Ok(()),
        };
        let to = match answer {
            Ok(RefundOutcome::Succeeded) => {
                self.booker.book_refund(order, &refund).await?;
                RefundState::Succeeded
            }
            Ok(RefundOutcome::Refused(_)) => RefundState::Failed,
            Ok(RefundOutcome::Processing) | Err(_) => {
                if let Err(e) = &outcome_error {
                    self.channel_failed(&order.channel, "refund", order.id, e);
                }
                // Asked again on the channel's query schedule, backing off, not every tick.
                let attempts = refund.attempts + 1;
                let delay = schedule
                    .get(refund.attempts as usize)
                    .or(schedule.last())
                    .copied()
                    .unwrap_or(60_000);
                let (id, next) = (refund.id, self.clock.now_ms() + delay);
                self.store
                    .write(move |c| store::set_refund_retry(c, id, attempts, next))
                    .await?;
                return Ok(Refund { attempts, ..refund });
            }
        };
        let body = refund_notification(order, &refund, to);
        let (id, now) = (refund.id, self.clock.now_ms());
        let done = self
            .store
            .write(move |c| store::finish_refund(c, id, to, &body, now))
            .await?;
        self.wake.notify_one();
        Ok(done.unwrap_or(refund))
    }

    /// An operator's re-send of an order's latest notification, now.
    pub async fn resend(&self, order_id: u64) -> Result<Option<u64>, GatewayError> {
        let now = self.clock.now_ms();
        let id = self
            .store
            .write(move |c| store::resend_latest(c, order_id, now))
            .await?;
        self.wake.notify_one();
        Ok(id)
    }

    /// One pass of the scheduler: due queries and expiries, unfinished refunds, due
    /// notifications. Returns how many items it handled.
    pub async fn run_due(self: &Arc<Self>) -> Result<usize, GatewayError> {
        let now = self.clock.now_ms();
        let (orders, refunds, notifications) = self
            .store
            .read_async(move |c| {
                Ok::<_, GatewayError>((
                    store::due_orders(c, now, PASS_ITEMS_MAX)?,
                    store::processing_refunds(c, now, PASS_ITEMS_MAX)?,
                    store::due_notifications(c, now, PASS_ITEMS_MAX)?,
                ))
            })
            .await?;
        let handled = orders.len() + refunds.len() + notifications.len();
        let mut tasks = tokio::task::JoinSet::new();
        for order in orders {
            while tasks.len() >= IN_FLIGHT_MAX {
                tasks.join_next().await;
            }
            let gateway = self.clone();
            tasks.spawn(async move { gateway.advance(order, now).await });
        }
        for refund in refunds {
            while tasks.len() >= IN_FLIGHT_MAX {
                tasks.join_next().await;
            }
            let gateway = self.clone();
            tasks.spawn(async move {
                if let Ok(Some(order)) = gateway.order(refund.order_id) {
                    let _ = gateway.drive_refund(&order, refund).await;
                }
            });
        }
        for notification in notifications {
            while tasks.len() >= IN_FLIGHT_MAX {
                tasks.join_next().await;
            }
            let gateway = self.clone();
            tasks.spawn(async move {
                let _ = gateway.deliver(notification, now).await;
            });
        }
        while tasks.join_next().await.is_some() {}
        Ok(handled)
    }

    /// A due order: expired ones are closed at the channel first, then here; others queried.
    async fn advance(&self, order: Order, now: u64) {
        if order.expire_at_ms <= now {
            let _ = self.expire(&order).await;
        } else {
            let _ = self.sync_with_channel(&order, "query").await;
        }
    }

    async fn expire(&self, order: &Order) -> Result<(), GatewayError> {
        let (channel, schedule) = self.channel(&order.channel)?;
        match channel.close(order.id).await {
            Ok(CloseOutcome::Closed) => self.finish(order.id, OrderState::Closed, "expiry").await,
            Ok(CloseOutcome::AlreadyPaid) => self.sync_with_channel(order, "expiry").await,
            Err(e) => {
                // The channel did not answer: the payer might still pay, so it stays open
                // and the close is tried again later.
                let (id, queries) = (order.id, order.queries + 1);
                let next = self.clock.now_ms() + schedule.first().copied().unwrap_or(10_000);
                self.store
                    .write(move |c| store::set_next_query(c, id, queries, Some(next)))
                    .await?;
                Err(e)
            }
        }
    }

    async fn deliver(&self, notification: Notification, now: u64) -> Result<(), GatewayError> {
        let merchant = self.merchant_cached(&notification.merchant)?;
        let timeout = Duration::from_millis(self.config.notify_timeout_ms);
        let plain = crate::http::Url::parse(&merchant.notify_url).is_ok_and(|u| !u.tls);
        let (attempt, delivered) = if plain && !self.config.allow_plain_http {
            // Not sent: a notification carries the merchant's business in the clear.
            (
                store::Attempt {
                    outbox_id: notification.id,
                    at_ms: now,
                    status: 0,
                    outcome: "refused: the merchant's notify_url is plain http:// (allow_plain_http is not set)".into(),
                },
                false,
            )
        } else {
            notify::deliver(&self.http, &merchant, &notification, now, timeout).await
        };
        self.metrics.notification(delivered);
        if !delivered {
            self.metrics.warn(
                "merchant notification not delivered",
                &[
                    ("merchant", &merchant.participant),
                    ("order", &notification.order_id.to_string()),
                    ("notification", &notification.id.to_string()),
                    ("outcome", &attempt.outcome),
                ],
            );
        }
        let next = self
            .config
            .notify_schedule_s
            .get(notification.round as usize)
            .map(|s| now + s * 1000);
        let id = notification.id;
        self.store
            .write(move |c| store::record_attempt(c, id, &attempt, delivered, next))
            .await
    }

    /// Runs the scheduler until `stop` says so: a pass every tick, or sooner when a state
    /// change owes a notification.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let tick = Duration::from_millis(self.config.tick_ms);
        loop {
            if *stop.borrow() {
                return;
            }
            if self.engine.is_leader() {
                let _ = self.run_due().await;
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = self.wake.notified() => {}
                _ = stop.changed() => return,
            }
        }
    }
}
