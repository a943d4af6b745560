//! `suanpan bench recon`: a WeChat bill of N lines read and matched three ways against N
//! orders and their bookings, with differences of every kind put in.

use std::io::{BufReader, BufWriter};
use std::time::Instant;

use lexopt::prelude::*;
use suanpan_recon::workload::{self, KINDS};
use suanpan_recon::{reconcile, wechat, Class, DateEnd, Key, Options};

use crate::json::JsonLine;
use crate::parse_value;

const HELP: &str = "usage: suanpan bench recon [--orders N] [--per-mille M] [--json]

Makes a day of --orders orders (default 10000000) with their bookings, and that day's WeChat
bill (backticked UTF-8 CSV with its summary) in a temporary file, with M per mille of the
orders (default 1) given each kind of difference: 长款 unknown to the platform, 长款 whose
callback was lost, 短款, amount, refunded at the channel, fee, booked but not in the gateway,
in the gateway but not booked, a repeated line, and cut-off items on either side. Then, on
the clock: the bill read and checked against its summary, and the three-way match. The last
line is one JSON object: seconds (read and match), max_rss_mib, differences_injected,
differences_found and whether they are exactly the same set.";

/// 2026-12-05 in Beijing ends at this instant (Unix ms).
const DATE_END_MS: u64 = 1_796_400_000_000 + 86_400_000;

pub fn main(args: &[String]) -> Result<(), String> {
    let mut orders: u64 = 10_000_000;
    let mut per_mille: u64 = 1;
    let mut json = false;
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("orders") => orders = parse_value(&mut parser, "--orders")?,
            Long("per-mille") => per_mille = parse_value(&mut parser, "--per-mille")?,
            Long("json") => json = true,
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(());
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    if orders == 0 || orders > u64::from(u32::MAX) {
        return Err("--orders must be 1 to 4294967295".into());
    }
    let kinds = KINDS.len() as u64 - 1;
    if per_mille * kinds > 1000 {
        return Err(format!("--per-mille must be at most {}", 1000 / kinds));
    }
    let dir = crate::system::fresh_temp_dir("suanpan-bench-recon")?;
    let result = run(&dir, orders, per_mille, json);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(dir: &std::path::Path, orders: u64, per_mille: u64, json: bool) -> Result<(), String> {
    let path = dir.join("wechat-20261205.csv");
    let file = std::fs::File::create(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut writer = wechat::Writer::new(BufWriter::with_capacity(1 << 20, file), "1900000109");
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let kinds = KINDS.len() as u64 - 1;
    let made = Instant::now();
    let day = workload::day(
        (0..orders).map(|_| {
            let r = next();
            let amount = 1 + r % 500_000;
            let offset = (r >> 20) % 86_400_000;
            // Each kind of difference on `per_mille` of the orders.
            let pick = next() % 1000;
            let kind = if pick < per_mille * kinds {
                1 + (pick / per_mille.max(1)) as usize
            } else {
                0
            };
            (amount, offset, kind)
        }),
        DATE_END_MS,
        |line| writer.line(&line),
    );
    writer
        .finish()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let bill_bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    if !json {
        eprintln!(
            "made {orders} orders and a bill of {} MiB in {:.1} s",
            bill_bytes >> 20,
            made.elapsed().as_secs_f64()
        );
    }
    let mut expected = day.expected;
    expected.sort_unstable();

    let started = Instant::now();
    let file =
        std::fs::File::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let bill = wechat::read(BufReader::with_capacity(1 << 20, file)).map_err(|e| e.to_string())?;
    let read_s = started.elapsed().as_secs_f64();
    let lines = bill.lines.len();
    let outcome = reconcile(
        bill.lines,
        day.platform,
        day.booked,
        &[],
        DateEnd(DATE_END_MS),
        &Options::default(),
    );
    let seconds = started.elapsed().as_secs_f64();
    let mut found: Vec<(Key, Class)> = outcome
        .items
        .iter()
        .filter(|i| i.class != Class::Matched)
        .map(|i| (i.key, i.class))
        .collect();
    found.sort_unstable();
    if !json {
        eprintln!(
            "read {lines} lines in {read_s:.2} s, matched in {:.2} s: {} differences and held items, {} put in",
            seconds - read_s,
            found.len(),
            expected.len()
        );
        for class in Class::ALL {
            let t = outcome.totals_of(class);
            eprintln!("  {:<22} {:>10}", class.as_str(), t.count);
        }
    }
    println!(
        "{}",
        JsonLine::default()
            .str("bench", "recon")
            .num("orders", orders)
            .num("bill_lines", lines)
            .num("bill_bytes", bill_bytes)
            .fixed("read_seconds", read_s, 3)
            .fixed("seconds", seconds, 3)
            .num("max_rss_mib", crate::system::max_rss_mib())
            .num("differences_injected", expected.len())
            .num("differences_found", found.len())
            .bool("exact", found == expected)
            .finish()
    );
    Ok(())
}
