//! `suanpan serve`'s settings. Each has a documented default, a key in the TOML file, an
//! environment variable and a flag; later sources win: default < file < environment < flag.
//! The one table below drives all four, and `suanpan serve --help` prints it.

use std::path::{Path, PathBuf};

pub struct Setting {
    pub key: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

impl Setting {
    pub fn env(&self) -> String {
        format!("SUANPAN_{}", self.key.to_uppercase())
    }

    pub fn flag(&self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }
}

pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "listen",
        default: "127.0.0.1:8080",
        help: "address and port to listen on (port 0: any free port)",
    },
    Setting {
        key: "data_dir",
        default: "data",
        help: "the data directory (journal, access, history)",
    },
    Setting {
        key: "tls_cert",
        default: "",
        help: "PEM certificate chain; with tls_key, serve HTTPS",
    },
    Setting {
        key: "tls_key",
        default: "",
        help: "PEM private key for tls_cert",
    },
    Setting {
        key: "body_bytes_max",
        default: "4194304",
        help: "largest request body; a larger one is refused with 413",
    },
    Setting {
        key: "signature_window_s",
        default: "300",
        help: "how far a signed request's timestamp may be from the server's clock",
    },
    Setting {
        key: "queue_requests_max",
        default: "1024",
        help: "engine requests that may wait; one more is refused with 503",
    },
    Setting {
        key: "window",
        default: "10000000",
        help: "transfers the ledger keeps in memory; older ones are read back from the journal when a command names them",
    },
    Setting {
        key: "past_filter_mib",
        default: "128",
        help: "MiB of the filter of past transfer ids (about 10 bits a past transfer keep 1 % of new ids off the disk)",
    },
    Setting {
        key: "connections_max",
        default: "4096",
        help: "open connections; more wait to be accepted",
    },
    Setting {
        key: "workers",
        default: "0",
        help: "HTTP worker threads (0: one per core)",
    },
    Setting {
        key: "shutdown_grace_s",
        default: "30",
        help: "on SIGTERM, how long in-flight requests may take to finish",
    },
    Setting {
        key: "auto_cutover",
        default: "true",
        help: "cut over (日切) at 00:00 Asia/Shanghai by itself",
    },
    Setting {
        key: "accept_journal_behind_anchor",
        default: "false",
        help: "start on a journal that ends before its anchor (journal.head, or the lease row on PostgreSQL), as after restoring an old backup, and move the anchor back to it",
    },
    Setting {
        key: "postgres",
        default: "",
        help: "PostgreSQL URL: keep the journal there instead of in data_dir (search_path picks the schema)",
    },
    Setting {
        key: "standby",
        default: "false",
        help: "with postgres: follow the leader, serve reads, take over when its lease expires",
    },
    Setting {
        key: "node",
        default: "suanpan",
        help: "this node's name in the writer's lease",
    },
    Setting {
        key: "lease_ttl_ms",
        default: "4000",
        help: "with postgres: how long the writer's lease lasts unrenewed (a standby takes over after it)",
    },
    Setting {
        key: "clearing_close_times",
        default: "",
        help: "close the open clearing batch (and write its statements) at these times of day in the books' zone, HH:MM or HH:MM:SS, comma-separated; empty: only on command",
    },
    Setting {
        key: "gateway_config",
        default: "",
        help: "TOML file of the payment gateway (channels, schedules, fees)",
    },
    Setting {
        key: "payouts_config",
        default: "",
        help: "TOML file of the payouts room (the interbank channels' URLs, timeouts, query interval)",
    },
    Setting {
        key: "recon_missing_bill",
        default: "block",
        help: "when a channel has not published a date's bill at the day-end: block (the day-end stops at its reconcile step until it has) or warn (it goes on, the step's summary says so)",
    },
    Setting {
        key: "recon_pending_days",
        default: "1",
        help: "dates an item that may be cut-off timing (one side only, near midnight) is held pending before it takes its class",
    },
    Setting {
        key: "recon_cutoff_window_s",
        default: "600",
        help: "how close to a date's end an item must be to be held as possible cut-off timing",
    },
    Setting {
        key: "console_session_idle_s",
        default: "900",
        help: "seconds an operations console session lasts without a request",
    },
    Setting {
        key: "log_level",
        default: "info",
        help: "error, warn, info or debug",
    },
];

#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: String,
    pub data_dir: PathBuf,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub body_bytes_max: usize,
    pub signature_window_s: u64,
    pub queue_requests_max: usize,
    /// Transfers the ledger keeps in memory.
    pub window: usize,
    /// MiB of the filter of past transfer ids.
    pub past_filter_mib: usize,
    pub connections_max: usize,
    pub workers: usize,
    pub shutdown_grace_s: u64,
    pub auto_cutover: bool,
    /// Start on a journal whose last batches were cut off (behind its anchor).
    pub accept_journal_behind_anchor: bool,
    pub log_level: crate::log::Level,
    pub postgres: Option<String>,
    pub standby: bool,
    pub node: String,
    pub lease_ttl_ms: u64,
    /// When `serve` closes clearing batches by itself (none: only on command).
    pub clearing_schedule: Option<suanpan_clearing::CloseSchedule>,
    pub gateway_config: Option<PathBuf>,
    pub payouts_config: Option<PathBuf>,
    pub recon: suanpan_recon::room::ReconConfig,
    pub console_session_idle_s: u64,
}

impl ServeConfig {
    /// Layers the sources. `flags` are (key, value) pairs already matched to settings.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        flags: &[(String, String)],
    ) -> Result<ServeConfig, String> {
        let text = match file {
            Some(path) => Some((
                std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                path.display().to_string(),
            )),
            None => None,
        };
        let file = text.as_ref().map(|(t, n)| (t.as_str(), n.as_str()));
        ServeConfig::layer(file, env, flags)
    }

    /// [`ServeConfig::load`] with the file's text (and the name errors give it) already read.
    pub fn layer(
        file: Option<(&str, &str)>,
        env: impl Fn(&str) -> Option<String>,
        flags: &[(String, String)],
    ) -> Result<ServeConfig, String> {
        let mut values: Vec<(&'static str, String, String)> = SETTINGS
            .iter()
            .map(|s| (s.key, s.default.to_string(), "the default".to_string()))
            .collect();
        let mut set = |key: &str, value: String, source: String| -> Result<(), String> {
            match values.iter_mut().find(|v| v.0 == key) {
                Some(slot) => {
                    slot.1 = value;
                    slot.2 = source;
                    Ok(())
                }
                None => Err(format!("{source}: there is no setting {key:?}")),
            }
        };
        if let Some((text, name)) = file {
            let table: toml::Table = text
                .parse()
                .map_err(|e| format!("{name} is not valid TOML: {e}"))?;
            for (key, value) in table {
                let value = match value {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(format!(
                            "{name}: {key} must be a string, integer or boolean, not {}",
                            other.type_str()
                        ))
                    }
                };
                set(&key, value, format!("{name} key {key}"))?;
            }
        }
        for s in SETTINGS {
            if let Some(value) = env(&s.env()) {
                set(s.key, value, format!("environment variable {}", s.env()))?;
            }
        }
        for (key, value) in flags {
            set(
                key,
                value.clone(),
                format!("flag --{}", key.replace('_', "-")),
            )?;
        }
        let get = |key: &str| -> (&str, &str) {
            values
                .iter()
                .find(|v| v.0 == key)
                .map(|v| (v.1.as_str(), v.2.as_str()))
                .unwrap_or(("", ""))
        };
        fn num<T: std::str::FromStr>(key: &str, (v, source): (&str, &str)) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{source}: {key} {v:?} is not a valid number"))
        }
        let tls = match (get("tls_cert").0, get("tls_key").0) {
            ("", "") => None,
            (cert, key) if !cert.is_empty() && !key.is_empty() => {
                Some((PathBuf::from(cert), PathBuf::from(key)))
            }
            _ => return Err("tls_cert and tls_key go together: set both or neither".into()),
        };
        let boolean = |key: &str| match get(key) {
            ("true", _) => Ok(true),
            ("false", _) => Ok(false),
            (v, source) => Err(format!("{source}: {key} {v:?} is not true or false")),
        };
        let auto_cutover = boolean("auto_cutover")?;
        let standby = boolean("standby")?;
        let accept_journal_behind_anchor = boolean("accept_journal_behind_anchor")?;
        let postgres = Some(get("postgres").0.to_string()).filter(|u| !u.is_empty());
        if standby && postgres.is_none() {
            return Err("standby needs postgres: a standby follows a journal on PostgreSQL".into());
        }
        let (level, source) = get("log_level");
        let log_level = crate::log::Level::parse(level).ok_or_else(|| {
            format!("{source}: log_level {level:?} is not error, warn, info or debug")
        })?;
        let config = ServeConfig {
            listen: get("listen").0.to_string(),
            data_dir: PathBuf::from(get("data_dir").0),
            tls,
            body_bytes_max: num("body_bytes_max", get("body_bytes_max"))?,
            signature_window_s: num("signature_window_s", get("signature_window_s"))?,
            queue_requests_max: num("queue_requests_max", get("queue_requests_max"))?,
            window: num("window", get("window"))?,
            past_filter_mib: num("past_filter_mib", get("past_filter_mib"))?,
            connections_max: num("connections_max", get("connections_max"))?,
            workers: num("workers", get("workers"))?,
            shutdown_grace_s: num("shutdown_grace_s", get("shutdown_grace_s"))?,
            auto_cutover,
            accept_journal_behind_anchor,
            log_level,
            postgres,
            standby,
            node: get("node").0.to_string(),
            lease_ttl_ms: num("lease_ttl_ms", get("lease_ttl_ms"))?,
            clearing_schedule: match get("clearing_close_times") {
                ("", _) => None,
                (times, source) => Some(
                    suanpan_clearing::CloseSchedule::parse(times)
                        .map_err(|e| format!("{source}: clearing_close_times: {e}"))?,
                ),
            },
            gateway_config: match get("gateway_config").0 {
                "" => None,
                path => Some(PathBuf::from(path)),
            },
            payouts_config: match get("payouts_config").0 {
                "" => None,
                path => Some(PathBuf::from(path)),
            },
            recon: suanpan_recon::room::ReconConfig {
                options: suanpan_recon::Options {
                    pending_days: num("recon_pending_days", get("recon_pending_days"))?,
                    cutoff_window_ms: num::<u64>(
                        "recon_cutoff_window_s",
                        get("recon_cutoff_window_s"),
                    )?
                    .saturating_mul(1000),
                },
                missing_bill: match get("recon_missing_bill") {
                    ("block", _) => suanpan_recon::room::MissingBill::Block,
                    ("warn", _) => suanpan_recon::room::MissingBill::Warn,
                    (v, source) => {
                        return Err(format!(
                            "{source}: recon_missing_bill {v:?} is not block or warn"
                        ))
                    }
                },
            },
            console_session_idle_s: num("console_session_idle_s", get("console_session_idle_s"))?,
        };
        if config.console_session_idle_s == 0 {
            return Err("console_session_idle_s must be at least 1".into());
        }
        if config.window == 0 || config.window > suanpan_ledger::WINDOW_MAX {
            return Err(format!(
                "window must be between 1 and {}",
                suanpan_ledger::WINDOW_MAX
            ));
        }
        if config.past_filter_mib > 16_384 {
            return Err("past_filter_mib must be at most 16384".into());
        }
        if config.lease_ttl_ms < 100 {
            return Err("lease_ttl_ms must be at least 100".into());
        }
        if config.body_bytes_max < 1024
            || config.queue_requests_max == 0
            || config.connections_max == 0
        {
            return Err("body_bytes_max must be at least 1024, queue_requests_max and connections_max at least 1".into());
        }
        Ok(config)
    }

    pub fn help() -> String {
        let mut out = String::new();
        for s in SETTINGS {
            out.push_str(&format!(
                "  {:<24} {:<32} {}\n  {:<24} {:<32} default: {}\n",
                s.flag(),
                s.env(),
                s.help,
                "",
                format!("(file: {})", s.key),
                if s.default.is_empty() {
                    "none"
                } else {
                    s.default
                }
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_environment_which_beats_the_file_which_beats_the_default() {
        let dir = std::env::temp_dir().join(format!("suanpan-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("suanpan.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:1\"\nworkers = 3\nlog_level = \"debug\"\n",
        )
        .expect("write");
        let env = |k: &str| (k == "SUANPAN_LISTEN").then(|| "0.0.0.0:2".to_string());
        let c = ServeConfig::load(Some(&file), env, &[]).expect("loads");
        assert_eq!((c.listen.as_str(), c.workers), ("0.0.0.0:2", 3));
        assert_eq!(c.signature_window_s, 300, "the default");
        let flags = [("listen".to_string(), "0.0.0.0:3".to_string())];
        let c = ServeConfig::load(Some(&file), env, &flags).expect("loads");
        assert_eq!(c.listen, "0.0.0.0:3");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bad_value_names_its_source() {
        let env = |k: &str| (k == "SUANPAN_WORKERS").then(|| "many".to_string());
        let e = ServeConfig::load(None, env, &[]).err().unwrap_or_default();
        assert!(e.contains("SUANPAN_WORKERS") && e.contains("many"), "{e}");
    }
}
