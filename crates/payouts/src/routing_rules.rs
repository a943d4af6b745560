//! The routing rules and calendar in force, as operators change them: each change is a new
//! version (recorded in `payouts.db` with who made it and when, and audited by the API), and
//! every payout records the version that routed it. The configuration file gives the base;
//! an operator's rules are laid over it, and the newest version wins at start.

use std::collections::BTreeMap;
use std::sync::Arc;

use suanpan_routing::{Calendar, Rules};
use suanpan_store::args;
use suanpan_store::sql::Sql;

use crate::config::{ChannelRulesConfig, PayoutsConfig};
use crate::error::PayoutError;
use crate::payouts::Payouts;

/// One version of the rules and calendar.
#[derive(Clone, Debug)]
pub struct Routing {
    pub rules: Rules,
    pub calendar: Calendar,
    /// The operators' changes to the configuration's channel rules (`[rules.NAME]`).
    pub overrides: BTreeMap<String, ChannelRulesConfig>,
    /// Who made this version (`configuration` for the file's own).
    pub changed_by: String,
    pub changed_at_ns: u64,
}

impl Routing {
    /// The configuration's rules and calendar, under the configuration's version.
    pub fn from_config(config: &PayoutsConfig) -> Result<Routing, String> {
        Ok(Routing {
            rules: config.build_rules()?,
            calendar: config.build_calendar()?,
            overrides: BTreeMap::new(),
            changed_by: "configuration".into(),
            changed_at_ns: 0,
        })
    }

    /// The configuration with `overrides` laid over its channel rules, as `version`.
    fn build(
        config: &PayoutsConfig,
        overrides: &BTreeMap<String, ChannelRulesConfig>,
        version: u32,
    ) -> Result<Rules, String> {
        let mut merged = config.clone();
        merged.rules_version = version;
        for (name, rule) in overrides {
            merged.rules.insert(name.clone(), rule.clone());
        }
        merged.build_rules()
    }
}

/// The newest version an operator made, if any: (version, overrides, calendar text, who, when).
type Stored = (u32, String, String, String, u64);

fn newest(c: &dyn Sql) -> Result<Option<Stored>, PayoutError> {
    c.query_row(
        "SELECT version, overrides, calendar, changed_by, changed_at_ns FROM payouts_routing_versions
         ORDER BY version DESC LIMIT 1",
        args![],
    )?
    .map(|r| {
        let version = u32::try_from(r.u64(0)?)
            .map_err(|_| PayoutError::System("payouts store: a rules version too large".into()))?;
        Ok((version, r.str(1)?, r.str(2)?, r.str(3)?, r.u64(4)?))
    })
    .transpose()
}

/// The rules at start: the configuration's, or an operator's newer version.
pub fn load(c: &dyn Sql, config: &PayoutsConfig) -> Result<Routing, PayoutError> {
    let base = Routing::from_config(config).map_err(PayoutError::System)?;
    let Some((version, overrides, calendar, by, at)) = newest(c)? else {
        return Ok(base);
    };
    if version <= config.rules_version {
        // The file names a version at least as new: it is what the operator deployed.
        return Ok(base);
    }
    let overrides: BTreeMap<String, ChannelRulesConfig> = serde_json::from_str(&overrides)
        .map_err(|e| PayoutError::System(format!("payouts.db: rules version {version}: {e}")))?;
    let calendar = Calendar::parse(&calendar)
        .map_err(|e| PayoutError::System(format!("payouts.db: calendar version {version}: {e}")))?;
    let rules = Routing::build(config, &overrides, version).map_err(PayoutError::System)?;
    Ok(Routing {
        rules,
        calendar,
        overrides,
        changed_by: by,
        changed_at_ns: at,
    })
}

impl Payouts {
    /// A new version: the operators' channel rules replaced by `overrides`, or the calendar
    /// by `calendar_text` (each `None`: unchanged). Refused whole if either does not parse.
    pub async fn change_routing(
        &self,
        overrides: Option<BTreeMap<String, ChannelRulesConfig>>,
        calendar_text: Option<String>,
        by: &str,
        now_ns: u64,
    ) -> Result<Arc<Routing>, PayoutError> {
        let _one_at_a_time = self.routing_lock().lock().await;
        let current = self.routing();
        let overrides = overrides.unwrap_or_else(|| current.overrides.clone());
        let calendar = match &calendar_text {
            None => current.calendar.clone(),
            Some(text) => Calendar::parse(text)
                .map_err(|e| PayoutError::RoutingRefused("calendar", e.to_string()))?,
        };
        let version = current
            .rules
            .version
            .checked_add(1)
            .ok_or_else(|| PayoutError::System("the rules version cannot go higher".into()))?;
        let rules = Routing::build(self.config(), &overrides, version)
            .map_err(|e| PayoutError::RoutingRefused("channels", e))?;
        let (json, text, who) = (
            serde_json::to_string(&overrides).map_err(|e| PayoutError::System(e.to_string()))?,
            calendar.to_text(),
            by.to_string(),
        );
        self.store()
            .write(move |c: &dyn Sql| {
                c.execute(
                    "INSERT INTO payouts_routing_versions (version, overrides, calendar, changed_by, changed_at_ns)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    args![
                        version,
                        &json,
                        &text,
                        &who,
                        i64::try_from(now_ns).unwrap_or(i64::MAX)
                    ],
                )?;
                Ok::<_, PayoutError>(())
            })
            .await?;
        let next = Arc::new(Routing {
            rules,
            calendar,
            overrides,
            changed_by: by.to_string(),
            changed_at_ns: now_ns,
        });
        self.set_routing(next.clone());
        Ok(next)
    }
}
