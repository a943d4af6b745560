//! Merchant notifications on a test clock: the gateway runs in this process on a real engine
//! and `gateway.db`, against a real simulated channel and a real merchant endpoint over HTTP,
//! but its clock moves only when the test moves it. So a schedule of hours runs in no time,
//! and the test states exactly when each attempt is made.

#[allow(dead_code)]
mod gateway_support;
#[allow(dead_code)]
mod support;

use std::sync::Arc;

use gateway_support::{MerchantEndpoint, Sim, ALIPAY_KEY};
use suanpan_engine::{Engine, EngineConfig};
use suanpan_gateway::store::{self, Merchant};
use suanpan_gateway::{Gateway, GatewayConfig, ManualClock, NewOrder, Order};

const START_MS: u64 = 1_800_000_000_000;
const SECOND_MS: u64 = 1_000;

struct Rig {
    gateway: Arc<Gateway>,
    engine: Arc<Engine>,
    clock: Arc<ManualClock>,
    sim: Sim,
    merchant: MerchantEndpoint,
    runtime: tokio::runtime::Runtime,
    _dir: support::server::DataDir,
}

impl Rig {
    fn new(name: &str) -> Rig {
        let dir = support::server::DataDir::new(name);
        let sim = Sim::start("alipay", &[]);
        let merchant = MerchantEndpoint::start();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let engine = Arc::new(
            Engine::start(EngineConfig::new(dir.path())).unwrap_or_else(|e| panic!("{e}")),
        );
        let config = GatewayConfig::parse(&format!(
            "allow_plain_http = true\n[channels.alipay]\nurl = \"{}\"\nkey = \"{ALIPAY_KEY}\"\nquery_schedule_ms = [1000]\n",
            sim.url()
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let clock = Arc::new(ManualClock::new(START_MS));
        let gateway = Arc::new(
            Gateway::open(
                &suanpan_gateway::store::Home::sqlite(dir.path()),
                engine.clone(),
                config,
                clock.clone(),
            )
            .unwrap_or_else(|e| panic!("{e}")),
        );
        // The result is learnt by query here; callbacks would have nowhere to go.
        gateway.set_default_public_url("http://127.0.0.1:9");
        let m = Merchant {
            participant: "shop".into(),
            owner: 7,
            notify_url: merchant.url(),
            notify_secret: "secret".into(),
        };
        runtime
            .block_on(
                gateway
                    .store()
                    .write(move |c| store::upsert_merchant(c, &m)),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        Rig {
            gateway,
            engine,
            clock,
            sim,
            merchant,
            runtime,
            _dir: dir,
        }
    }

    fn pass(&self) {
        self.runtime
            .block_on(self.gateway.run_due())
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// An order paid at the channel and found by the first query: a notification is owed.
    fn paid_order(&self, no: &str) -> Order {
        let new = NewOrder {
            merchant_order_no: no.into(),
            amount_minor: 1_000,
            currency: "CNY".into(),
            subject: "book".into(),
            channel: "alipay".into(),
            expire_s: Some(86_400),
            return_url: None,
        };
        let (order, _) = self
            .runtime
            .block_on(self.gateway.create_order("shop", new))
            .unwrap_or_else(|e| panic!("{e}"));
        self.sim.pay(&order.id.to_string(), &[]);
        self.clock.advance_ms(SECOND_MS);
        self.pass();
        let order = self.gateway.order(order.id).ok().flatten();
        let order = order.unwrap_or_else(|| panic!("order vanished"));
        assert_eq!(order.state.as_str(), "succeeded");
        order
    }

    /// (attempt times relative to the first, outcome statuses) and the outbox state.
    fn attempts(&self, order: &Order) -> (Vec<u64>, Vec<u16>, String) {
        let list = self.gateway.notifications(order.id).unwrap_or_default();
        assert_eq!(list.len(), 1, "one notification per final state");
        let (n, attempts) = &list[0];
        let first = attempts.first().map(|a| a.at_ms).unwrap_or(0);
        (
            attempts
                .iter()
                .map(|a| (a.at_ms - first) / SECOND_MS)
                .collect(),
            attempts.iter().map(|a| a.status).collect(),
            n.state.clone(),
        )
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.engine.shutdown();
    }
}

#[test]
fn notifications_retry_on_schedule_while_the_merchant_is_down_and_stop_when_it_acknowledges() {
    let rig = Rig::new("gw-notify-retry");
    rig.merchant.set_up(false);
    let order = rig.paid_order("n-1");
    // Every change is an event, in order, with its cause.
    let events: Vec<(Option<String>, String, String)> = rig
        .gateway
        .events(order.id)
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.from_state, e.to_state, e.cause))
        .collect();
    let step = |from: Option<&str>, to: &str, cause: &str| {
        (from.map(str::to_string), to.to_string(), cause.to_string())
    };
    assert_eq!(
        events,
        [
            step(None, "created", "merchant"),
            step(Some("created"), "paying", "channel"),
            step(Some("paying"), "succeeded", "query"),
        ]
    );
    rig.pass(); // the first attempt, at once
    assert_eq!(rig.attempts(&order).0, [0]);

    // The default schedule: 4 min, 10 min, 10 min, 1 h, ... after each failure.
    rig.clock.advance_ms(239 * SECOND_MS);
    rig.pass();
    assert_eq!(rig.attempts(&order).0, [0], "not before its time");
    rig.clock.advance_ms(SECOND_MS);
    rig.pass();
    rig.clock.advance_ms(600 * SECOND_MS);
    rig.pass();
    assert_eq!(rig.attempts(&order).0, [0, 240, 840]);

    // The merchant is back: the next attempt on schedule is acknowledged, and that is the end.
    rig.merchant.set_up(true);
    rig.clock.advance_ms(600 * SECOND_MS);
    rig.pass();
    let (times, statuses, state) = rig.attempts(&order);
    assert_eq!(times, [0, 240, 840, 1440]);
    assert_eq!(statuses, [503, 503, 503, 200]);
    assert_eq!(state, "delivered");
    for _ in 0..10 {
        rig.clock.advance_ms(86_400 * SECOND_MS);
        rig.pass();
    }
    assert_eq!(
        rig.attempts(&order).0.len(),
        4,
        "no attempt after the acknowledgement"
    );
    assert_eq!(
        rig.merchant.received().len(),
        4,
        "every attempt reached the merchant"
    );

    // An operator's re-send goes out at once.
    rig.runtime
        .block_on(rig.gateway.resend(order.id))
        .unwrap_or_else(|e| panic!("{e}"));
    rig.pass();
    assert_eq!(rig.attempts(&order).1, [503, 503, 503, 200, 200]);
}

#[test]
fn a_notification_never_acknowledged_is_given_up_after_the_schedule_until_re_sent() {
    let rig = Rig::new("gw-notify-give-up");
    rig.merchant.set_up(false);
    let order = rig.paid_order("n-2");
    rig.pass();
    for interval_s in [240, 600, 600, 3_600, 7_200, 21_600, 54_000] {
        rig.clock.advance_ms(interval_s * SECOND_MS);
        rig.pass();
    }
    for _ in 0..10 {
        rig.clock.advance_ms(86_400 * SECOND_MS);
        rig.pass();
    }
    let (times, _, state) = rig.attempts(&order);
    // The first attempt and one after each of the 7 intervals.
    assert_eq!(times, [0, 240, 840, 1440, 5040, 12240, 33840, 87840]);
    assert_eq!(state, "given_up");
    rig.merchant.set_up(true);
    rig.runtime
        .block_on(rig.gateway.resend(order.id))
        .unwrap_or_else(|e| panic!("{e}"));
    rig.pass();
    let (_, statuses, state) = rig.attempts(&order);
    assert_eq!(
        (statuses.last().copied(), state.as_str()),
        (Some(200), "delivered")
    );
}
