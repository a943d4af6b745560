//! The payouts room's settings: a TOML file named by `serve`'s `payouts_config` setting.
//! A channel is configured by its `[channels.NAME]` table (`url`); one not configured is
//! down for the router, so nothing is sent to it.
//!
//! ```toml
//! timeout_ms = 2000            # an instruction or query unanswered this long: unknown
//! query_interval_ms = 1000     # how often an open attempt is asked about
//! instruction_ttl_ms = 30000   # a channel refuses instructions older than this
//! down_ms = 30000              # how long an outage keeps a channel out of routing
//! calendar = "calendar.txt"    # holidays and make-up working days (default: built in)
//! rules_version = 2            # recorded with every payout the rules below route
//! [channels.hvps]
//! url = "http://127.0.0.1:9101"
//! [rules.unionpay_payout]      # any of: hours ("always" | "working_days"), opens,
//! fee_fen = 300                # opens_previous_day, cut_off, limit_fen,
//! limit_fen = 100000000        # non_working_day_limit_fen, fee_fen, fee_bp
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use suanpan_routing::{Calendar, Channel, Fee, Hours, Limit, Rules, TimeOfDay};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub url: String,
}

/// One channel's rules, each value replacing the default (DOMAIN.md's figures, and
/// placeholders for the fees and UnionPay payout's limit).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRulesConfig {
    pub hours: Option<String>,
    pub opens: Option<String>,
    pub opens_previous_day: Option<bool>,
    pub cut_off: Option<String>,
    pub limit_fen: Option<u64>,
    pub non_working_day_limit_fen: Option<u64>,
    pub fee_fen: Option<u64>,
    pub fee_bp: Option<u32>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutsConfig {
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelConfig>,
    #[serde(default)]
    pub rules: BTreeMap<String, ChannelRulesConfig>,
    #[serde(default = "default_rules_version")]
    pub rules_version: u32,
    /// A calendar file (`suanpan route explain --help` shows its lines); default: built in.
    #[serde(default)]
    pub calendar: Option<PathBuf>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_query_interval_ms")]
    pub query_interval_ms: u64,
    /// The channels refuse an instruction older than this, so an instruction they have no
    /// record of after it is one they will never settle: safe to try another.
    #[serde(default = "default_instruction_ttl_ms")]
    pub instruction_ttl_ms: u64,
    #[serde(default = "default_down_ms")]
    pub down_ms: u64,
    /// How often the worker looks for payouts to send or query.
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
}

fn default_rules_version() -> u32 {
    1
}
fn default_timeout_ms() -> u64 {
    2_000
}
fn default_query_interval_ms() -> u64 {
    1_000
}
fn default_instruction_ttl_ms() -> u64 {
    30_000
}
fn default_down_ms() -> u64 {
    30_000
}
fn default_tick_ms() -> u64 {
    200
}

impl Default for PayoutsConfig {
    fn default() -> PayoutsConfig {
        PayoutsConfig {
            channels: BTreeMap::new(),
            rules: BTreeMap::new(),
            rules_version: default_rules_version(),
            calendar: None,
            timeout_ms: default_timeout_ms(),
            query_interval_ms: default_query_interval_ms(),
            instruction_ttl_ms: default_instruction_ttl_ms(),
            down_ms: default_down_ms(),
            tick_ms: default_tick_ms(),
        }
    }
}

impl PayoutsConfig {
    pub fn parse(text: &str) -> Result<PayoutsConfig, String> {
        let config: PayoutsConfig = toml::from_str(text).map_err(|e| {
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
            if Channel::from_code(name).is_none() {
                return Err(format!(
                    "channel {name:?} is not hvps, beps, ibps or unionpay_payout"
                ));
            }
            suanpan_outbound::Url::parse(&channel.url)
                .map_err(|e| format!("channels.{name}.url: {e}"))?;
        }
        let zero = [config.timeout_ms, config.query_interval_ms, config.tick_ms];
        if zero.contains(&0) || config.instruction_ttl_ms < config.timeout_ms {
            return Err(
                "timeout_ms, query_interval_ms and tick_ms must be above 0, instruction_ttl_ms at least timeout_ms"
                    .into(),
            );
        }
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<PayoutsConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut config =
            PayoutsConfig::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        // A calendar named relative to the file is found beside it.
        if let (Some(cal), Some(dir)) = (&config.calendar, path.parent()) {
            if cal.is_relative() {
                config.calendar = Some(dir.join(cal));
            }
        }
        config.build_rules()?;
        Ok(config)
    }

    /// The routing rules: the defaults with this file's changes, under its version.
    pub fn build_rules(&self) -> Result<Rules, String> {
        let mut rules = Rules {
            version: self.rules_version,
            ..Rules::default()
        };
        let time = |key: &str, text: &str| {
            TimeOfDay::parse(text).ok_or_else(|| format!("rules.{key}: {text:?} is not HH:MM"))
        };
        for (name, c) in &self.rules {
            let channel = Channel::from_code(name)
                .ok_or_else(|| format!("rules.{name}: not hvps, beps, ibps or unionpay_payout"))?;
            // Times given are checked whatever the hours: a bad one is never kept unread.
            for (key, text) in [("opens", &c.opens), ("cut_off", &c.cut_off)] {
                if let Some(text) = text {
                    time(&format!("{name}.{key}"), text)?;
                }
            }
            let r = rules.channel_mut(channel);
            match c.hours.as_deref() {
                None => {}
                Some("always") => r.hours = Hours::Always,
                Some("working_days") => {
                    let opens = time(name, c.opens.as_deref().unwrap_or("08:30"))?;
                    let cut_off = time(name, c.cut_off.as_deref().unwrap_or("17:15"))?;
                    r.hours = Hours::WorkingDays {
                        opens,
                        opens_previous_day: c.opens_previous_day.unwrap_or(false),
                        cut_off,
                    };
                }
                Some(other) => {
                    return Err(format!(
                        "rules.{name}.hours: {other:?} is not always or working_days"
                    ))
                }
            }
            if c.limit_fen.is_some() || c.non_working_day_limit_fen.is_some() {
                r.limit = Limit {
                    working_day_fen: c.limit_fen.or(r.limit.working_day_fen),
                    non_working_day_fen: c
                        .non_working_day_limit_fen
                        .or(c.limit_fen)
                        .or(r.limit.non_working_day_fen),
                };
            }
            if c.fee_fen.is_some() || c.fee_bp.is_some() {
                r.fee = Fee {
                    flat_fen: c.fee_fen.unwrap_or(r.fee.flat_fen),
                    basis_points: c.fee_bp.unwrap_or(r.fee.basis_points),
                };
            }
        }
        rules.validate().map_err(|e| format!("rules: {e}"))?;
        Ok(rules)
    }

    /// The calendar file's, or the built-in one.
    pub fn build_calendar(&self) -> Result<Calendar, String> {
        match &self.calendar {
            None => Ok(Calendar::china()),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Calendar::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
            }
        }
    }

    pub fn channel_url(&self, channel: Channel) -> Option<&str> {
        self.channels.get(channel.code()).map(|c| c.url.as_str())
    }
}
