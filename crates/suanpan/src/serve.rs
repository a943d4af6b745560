//! `suanpan serve`: the HTTP API on a data directory, until SIGTERM. This file reads the
//! settings; `process.rs` starts and stops the rooms.

mod indexer;
pub mod process;

use std::io::Write;

use suanpan_api::config::SETTINGS;
use suanpan_api::ServeConfig;

pub fn main(args: &[String]) -> Result<(), String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    let mut file = None;
    let mut flags = Vec::new();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("config") => {
                file = Some(std::path::PathBuf::from(
                    parser.value().map_err(|e| e.to_string())?,
                ))
            }
            Long("help") | Short('h') => {
                println!(
                    "usage: suanpan serve [--config FILE] [flags]\n\n\
                     Settings, each a flag, an environment variable and a key of the TOML file\n\
                     (later wins: default < file < environment < flag):\n\n{}",
                    ServeConfig::help()
                );
                return Ok(());
            }
            // A bare `--standby` is `--standby=true`, and so for the other switches.
            Long(name @ ("standby" | "accept-journal-behind-anchor")) => {
                let key = name.replace('-', "_");
                let value = parser
                    .optional_value()
                    .map_or_else(|| "true".to_string(), |v| v.to_string_lossy().into_owned());
                flags.push((key, value));
            }
            Long(name) => {
                // `--data`, as every other command spells it, is `--data-dir`.
                let name = if name == "data" {
                    "data-dir".to_string()
                } else {
                    name.to_string()
                };
                let setting = SETTINGS
                    .iter()
                    .find(|s| s.flag() == format!("--{name}"))
                    .ok_or_else(|| format!("unknown flag --{name}; run `suanpan serve --help`"))?;
                let value = parser.value().map_err(|e| e.to_string())?;
                flags.push((
                    setting.key.to_string(),
                    value.to_string_lossy().into_owned(),
                ));
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let config = ServeConfig::load(file.as_deref(), |k| std::env::var(k).ok(), &flags)?;
    process::run(config, |address| {
        // One line on stdout for whoever started us (tests, `bench http`): where to connect.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{{\"listening\":\"{address}\"}}");
        let _ = out.flush();
    })
}
