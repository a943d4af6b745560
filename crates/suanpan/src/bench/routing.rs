//! `suanpan bench routing`: how many interbank routing decisions one core makes a second.

use lexopt::prelude::*;

use crate::json::JsonLine;
use crate::parse_value;

const HELP: &str = "usage: suanpan bench routing [--decisions N] [--json]

Routes --decisions payouts (default 10000000) on this thread, cycling through 1,024 varied
inputs (amounts, instants across working days, holidays and HVPS's hours, real time or not,
origins, bank memberships, channels down) built before the clock starts. The last line is one
JSON object with decisions_per_sec.";

pub fn main(args: &[String]) -> Result<(), String> {
    let mut decisions: u64 = 10_000_000;
    let mut json = false;
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("decisions") => decisions = parse_value(&mut parser, "--decisions")?,
            Long("json") => json = true,
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(());
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    if decisions == 0 {
        return Err("--decisions must be at least 1".into());
    }
    let f = suanpan_routing::bench_decisions(decisions);
    if !json {
        eprintln!(
            "{} decisions in {:.3} s on one core: {} a second ({} found a channel)",
            f.decisions,
            f.elapsed_ns as f64 / 1e9,
            f.decisions_per_second(),
            f.routed
        );
    }
    println!(
        "{}",
        JsonLine::default()
            .str("bench", "routing")
            .num("decisions", f.decisions)
            .num("routed", f.routed)
            .fixed("seconds", f.elapsed_ns as f64 / 1e9, 3)
            .num("decisions_per_sec", f.decisions_per_second())
            .finish()
    );
    Ok(())
}
