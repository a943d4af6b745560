//! The gateway's settings: a TOML file named by `serve`'s `gateway_config` setting. Every
//! value has a default; a channel is configured by its `[channels.NAME]` table (`url`, `key`,
//! optionally `query_schedule_ms`).
//!
//! ```toml
//! fee_bp = 60                       # 0.60 % of each payment, to fee income
//! expire_s = 900                    # default time a payer has
//! notify_schedule_s = [240, 600, 600, 3600, 7200, 21600, 54000]
//! [channels.alipay]
//! url = "http://127.0.0.1:9001"
//! key = "..."
//! query_schedule_ms = [10000, 20000, 30000, 60000, 120000, 300000]
//! ```

use std::path::Path;

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub url: String,
    pub key: String,
    /// When to query a paying order with no result: the first after the first value, then
    /// backing off through the list; the last repeats until the order is final or expires.
    #[serde(default = "default_query_schedule_ms")]
    pub query_schedule_ms: Vec<u64>,
    /// The currencies the channel takes (its domestic acquiring: CNY); an order in another is
    /// refused at creation (`currency_not_supported`).
    #[serde(default = "default_currencies")]
    pub currencies: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    #[serde(default)]
    pub channels: std::collections::BTreeMap<String, ChannelConfig>,
    /// Where channels reach this server (callbacks) and payers its result page. Empty: the
    /// address `serve` listens on.
    #[serde(default)]
    pub public_url: String,
    /// Plain `http://` to channels and merchants: refused unless this is set (a test's
    /// simulators, a channel behind the platform's own TLS termination).
    #[serde(default)]
    pub allow_plain_http: bool,
    /// A PEM file of CA certificates trusted for `https://` besides the platform's roots
    /// (a private channel's, a test's). Empty: the platform's roots only.
    #[serde(default)]
    pub ca_file: String,
    #[serde(default = "default_fee_bp")]
    pub fee_bp: u32,
    /// A refund gives the merchant back the fee on what is refunded (as Alipay and WeChat Pay
    /// return theirs), in proportion, rounded down so the refunds of an order never return
    /// more than its fee.
    #[serde(default = "default_refund_returns_fee")]
    pub refund_returns_fee: bool,
    #[serde(default = "default_expire_s")]
    pub expire_s: u64,
    /// Merchant notification retries after the first attempt (Alipay's: 4m, 10m, 10m, 1h,
    /// 2h, 6h, 15h); after the last, the notification is given up until an operator re-sends.
    #[serde(default = "default_notify_schedule_s")]
    pub notify_schedule_s: Vec<u64>,
    #[serde(default = "default_notify_timeout_ms")]
    pub notify_timeout_ms: u64,
    #[serde(default = "default_channel_timeout_ms")]
    pub channel_timeout_ms: u64,
    /// How often the scheduler looks for due queries, expiries, refunds and notifications.
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
    /// A status read queries the channel itself when the order is open and its last query is
    /// older than this.
    #[serde(default = "default_status_query_interval_ms")]
    pub status_query_interval_ms: u64,
    /// The result page: how often it asks, and for how long before it offers "check again".
    #[serde(default = "default_result_poll_ms")]
    pub result_poll_ms: u64,
    #[serde(default = "default_result_wait_ms")]
    pub result_wait_ms: u64,
}

fn default_currencies() -> Vec<String> {
    vec!["CNY".into()]
}
fn default_query_schedule_ms() -> Vec<u64> {
    vec![10_000, 20_000, 30_000, 60_000, 120_000, 300_000]
}
fn default_refund_returns_fee() -> bool {
    true
}
fn default_fee_bp() -> u32 {
    60
}
fn default_expire_s() -> u64 {
    900
}
fn default_notify_schedule_s() -> Vec<u64> {
    vec![240, 600, 600, 3_600, 7_200, 21_600, 54_000]
}
fn default_notify_timeout_ms() -> u64 {
    5_000
}
fn default_channel_timeout_ms() -> u64 {
    5_000
}
fn default_tick_ms() -> u64 {
    1_000
}
fn default_status_query_interval_ms() -> u64 {
    2_000
}
fn default_result_poll_ms() -> u64 {
    5_000
}
fn default_result_wait_ms() -> u64 {
    30_000
}

impl Default for GatewayConfig {
    fn default() -> GatewayConfig {
        GatewayConfig {
            channels: Default::default(),
            public_url: String::new(),
            allow_plain_http: false,
            ca_file: String::new(),
            fee_bp: default_fee_bp(),
            refund_returns_fee: default_refund_returns_fee(),
            expire_s: default_expire_s(),
            notify_schedule_s: default_notify_schedule_s(),
            notify_timeout_ms: default_notify_timeout_ms(),
            channel_timeout_ms: default_channel_timeout_ms(),
            tick_ms: default_tick_ms(),
            status_query_interval_ms: default_status_query_interval_ms(),
            result_poll_ms: default_result_poll_ms(),
            result_wait_ms: default_result_wait_ms(),
        }
    }
}

impl GatewayConfig {
    pub fn parse(text: &str) -> Result<GatewayConfig, String> {
        // One line: the line of the file and what is wrong there.
        let config: GatewayConfig = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_string();
            match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].lines().count().max(1);
                    format!("line {line}: {message}")
                }
                None => message,
            }
        })?;
        for (name, channel) in &config.channels {
            if name != "alipay" && name != "wechat" {
                return Err(format!("channel {name:?} is not alipay or wechat"));
            }
            if channel.query_schedule_ms.is_empty() {
                return Err(format!("channels.{name}.query_schedule_ms is empty"));
            }
        }
        if config.fee_bp > 10_000 || config.tick_ms == 0 || config.result_poll_ms == 0 {
            return Err("fee_bp must be at most 10000, tick_ms and result_poll_ms above 0".into());
        }
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<GatewayConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        GatewayConfig::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = GatewayConfig::parse("").unwrap_or_default();
        assert_eq!(
            c.notify_schedule_s,
            [240, 600, 600, 3600, 7200, 21600, 54000]
        );
        assert_eq!((c.result_poll_ms, c.result_wait_ms), (5_000, 30_000));
        let c = GatewayConfig::parse("[channels.alipay]\nurl = \"http://a:1\"\nkey = \"k\"\n")
            .unwrap_or_default();
        assert_eq!(c.channels["alipay"].query_schedule_ms[0], 10_000);
        assert!(GatewayConfig::parse("[channels.paypal]\nurl = \"x\"\nkey = \"k\"\n").is_err());
        assert!(GatewayConfig::parse("fee = 1").is_err());
    }
}
