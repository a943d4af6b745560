//! What the gateway counts for `/metrics` (Prometheus text): channel queries and callbacks by
//! channel and outcome, merchant notification attempts by outcome, order state changes; and
//! the gauges read from the store when scraped (open orders, the outbox's depth and its
//! oldest undelivered notification). Warnings (a failed delivery, a channel that did not
//! answer) go to the process's log through a sink the process sets.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use crate::channel::PaymentStatus;
use crate::order::OrderState;

const CHANNELS: [&str; 2] = ["alipay", "wechat"];
const QUERY_OUTCOMES: [&str; 6] = [
    "paid",
    "waiting",
    "closed",
    "failed",
    "unknown",
    "unavailable",
];
const CALLBACK_OUTCOMES: [&str; 2] = ["accepted", "refused"];
const NOTIFY_OUTCOMES: [&str; 2] = ["delivered", "failed"];
const STATES: [OrderState; 5] = [
    OrderState::Created,
    OrderState::Paying,
    OrderState::Succeeded,
    OrderState::Failed,
    OrderState::Closed,
];

/// Where warnings go: (message, fields).
pub type WarnSink = Box<dyn Fn(&str, &[(&str, &str)]) + Send + Sync>;

#[derive(Default)]
pub struct GatewayMetrics {
    queries: [[AtomicU64; 6]; 2],
    callbacks: [[AtomicU64; 2]; 2],
    notifications: [AtomicU64; 2],
    transitions: [AtomicU64; 5],
    warn: RwLock<Option<WarnSink>>,
}

/// Read from the store when scraped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    pub orders_open: u64,
    pub outbox_pending: u64,
    /// Age of the oldest notification not yet delivered, ms (0 when none is waiting).
    pub outbox_oldest_ms: u64,
}

fn channel_index(channel: &str) -> Option<usize> {
    CHANNELS.iter().position(|c| *c == channel)
}

impl GatewayMetrics {
    pub fn set_warn_sink(&self, sink: WarnSink) {
        *self.warn.write().unwrap_or_else(|p| p.into_inner()) = Some(sink);
    }

    pub fn warn(&self, message: &str, fields: &[(&str, &str)]) {
        if let Some(sink) = self.warn.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
            sink(message, fields);
        }
    }

    /// A query's outcome: the channel's answer, or none (`Err`).
    pub fn query(&self, channel: &str, answer: Option<&PaymentStatus>) {
        let outcome = match answer {
            Some(PaymentStatus::Paid { .. }) => 0,
            Some(PaymentStatus::Waiting) => 1,
            Some(PaymentStatus::Closed) => 2,
            Some(PaymentStatus::Failed) => 3,
            Some(PaymentStatus::Unknown) => 4,
            None => 5,
        };
        if let Some(c) = channel_index(channel) {
            self.queries[c][outcome].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn callback(&self, channel: &str, accepted: bool) {
        if let Some(c) = channel_index(channel) {
            self.callbacks[c][usize::from(!accepted)].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn notification(&self, delivered: bool) {
        self.notifications[usize::from(!delivered)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn transition(&self, to: OrderState) {
        if let Some(i) = STATES.iter().position(|s| *s == to) {
            self.transitions[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text of the gateway's figures.
    pub fn render(&self, gauges: Gauges) -> String {
        let mut out = String::with_capacity(4 * 1024);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str("# HELP suanpan_gateway_channel_queries_total Queries of a payment's state at the channel, by channel and outcome (unavailable: no answer in time, or an unexpected one).\n# TYPE suanpan_gateway_channel_queries_total counter\n");
        for (c, channel) in CHANNELS.iter().enumerate() {
            for (o, outcome) in QUERY_OUTCOMES.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "suanpan_gateway_channel_queries_total{{channel=\"{channel}\",outcome=\"{outcome}\"}} {}",
                    load(&self.queries[c][o])
                );
            }
        }
        out.push_str("# HELP suanpan_gateway_callbacks_total Channel callbacks, by channel and outcome.\n# TYPE suanpan_gateway_callbacks_total counter\n");
        for (c, channel) in CHANNELS.iter().enumerate() {
            for (o, outcome) in CALLBACK_OUTCOMES.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "suanpan_gateway_callbacks_total{{channel=\"{channel}\",outcome=\"{outcome}\"}} {}",
                    load(&self.callbacks[c][o])
                );
            }
        }
        out.push_str("# HELP suanpan_gateway_notification_attempts_total Merchant notification attempts, by outcome.\n# TYPE suanpan_gateway_notification_attempts_total counter\n");
        for (o, outcome) in NOTIFY_OUTCOMES.iter().enumerate() {
            let _ = writeln!(
                out,
                "suanpan_gateway_notification_attempts_total{{outcome=\"{outcome}\"}} {}",
                load(&self.notifications[o])
            );
        }
        out.push_str("# HELP suanpan_gateway_order_transitions_total Orders that moved to a state since the process started.\n# TYPE suanpan_gateway_order_transitions_total counter\n");
        for (i, state) in STATES.iter().enumerate() {
            let _ = writeln!(
                out,
                "suanpan_gateway_order_transitions_total{{state=\"{}\"}} {}",
                state.as_str(),
                load(&self.transitions[i])
            );
        }
        let _ = write!(
            out,
            "# HELP suanpan_gateway_orders_open Orders created or paying (no result yet).\n# TYPE suanpan_gateway_orders_open gauge\nsuanpan_gateway_orders_open {}\n\
             # HELP suanpan_gateway_outbox_pending Merchant notifications owed and not yet delivered.\n# TYPE suanpan_gateway_outbox_pending gauge\nsuanpan_gateway_outbox_pending {}\n\
             # HELP suanpan_gateway_outbox_oldest_seconds Age of the oldest notification not yet delivered.\n# TYPE suanpan_gateway_outbox_oldest_seconds gauge\nsuanpan_gateway_outbox_oldest_seconds {}\n",
            gauges.orders_open,
            gauges.outbox_pending,
            gauges.outbox_oldest_ms as f64 / 1000.0,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_is_counted_under_its_channel() {
        let m = GatewayMetrics::default();
        m.query("wechat", None);
        m.query("wechat", Some(&PaymentStatus::Waiting));
        m.callback("alipay", false);
        m.notification(false);
        m.transition(OrderState::Succeeded);
        let text = m.render(Gauges {
            orders_open: 3,
            outbox_pending: 2,
            outbox_oldest_ms: 1_500,
        });
        for line in [
            "suanpan_gateway_channel_queries_total{channel=\"wechat\",outcome=\"unavailable\"} 1",
            "suanpan_gateway_channel_queries_total{channel=\"wechat\",outcome=\"waiting\"} 1",
            "suanpan_gateway_callbacks_total{channel=\"alipay\",outcome=\"refused\"} 1",
            "suanpan_gateway_notification_attempts_total{outcome=\"failed\"} 1",
            "suanpan_gateway_order_transitions_total{state=\"succeeded\"} 1",
            "suanpan_gateway_orders_open 3",
            "suanpan_gateway_outbox_oldest_seconds 1.5",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
