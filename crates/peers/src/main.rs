//! `suanpan-peers`: the benchmark workload written by hand, the way a user would write it without
//! Suanpan, so that `scripts/bench-peers` can compare against it in the same run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use rusqlite::{params, Connection};

const USAGE: &str =
    "usage: suanpan-peers sqlite [--transfers N] [--per-transaction N] [--data DIR] [--json]

Runs the ledger workload on SQLite (WAL, synchronous=FULL, one connection): 10,000 accounts of
1,000,000, transfers between uniform random distinct pairs, amounts 1..=100, a debit that would
go below zero rejected, one journal row per applied transfer. Only the transfers are timed.
The database goes in DIR (default: a fresh temporary directory, removed afterwards).
The last line printed is always one JSON object.";

const ACCOUNTS: u64 = 10_000;
const FUNDING: i64 = 1_000_000;

struct Options {
    transfers: u64,
    per_transaction: u64,
    data: Option<PathBuf>,
    json: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("sqlite") => sqlite_main(&args[1..]),
        Some("--help" | "-h" | "help") | None => say(USAGE),
        Some(other) => Err(format!("unknown peer {other:?}; there is `sqlite`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("suanpan-peers: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        transfers: 2_000_000,
        per_transaction: 1_000,
        data: None,
        json: false,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--transfers" => o.transfers = number(flag, value()?)?,
            "--per-transaction" => o.per_transaction = number(flag, value()?)?,
            "--data" => o.data = Some(PathBuf::from(value()?)),
            "--json" => o.json = true,
            "--help" | "-h" => {
                say(USAGE)?;
                return Ok(None);
            }
            other => {
                return Err(format!(
                    "unknown flag {other:?}; run `suanpan-peers --help`"
                ))
            }
        }
    }
    if o.transfers == 0 || o.per_transaction == 0 {
        return Err("--transfers and --per-transaction must be at least 1".into());
    }
    Ok(Some(o))
}

fn number(flag: &str, text: &str) -> Result<u64, String> {
    text.replace('_', "")
        .parse()
        .map_err(|_| format!("{flag} {text:?} is not a whole number"))
}

fn sqlite_main(args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args)? else { return Ok(()) };
    let (dir, temporary) = match &o.data {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            (dir.clone(), false)
        }
        None => (fresh_temp_dir()?, true),
    };
    let path = dir.join("peer.sqlite");
    // An old file would hold other balances and transfer ids: start from nothing, always.
    let outcome = if path.exists() {
        Err(format!(
            "{} already exists; give an empty directory",
            path.display()
        ))
    } else {
        run(&o, &path)
    };
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let line = outcome?;
    say(&line)
}

/// println! that reports a closed stdout (`| head -1`) as an error instead of panicking.
fn say(line: &str) -> Result<(), String> {
    writeln!(std::io::stdout().lock(), "{line}").map_err(|e| format!("cannot write to stdout: {e}"))
}

fn run(o: &Options, path: &Path) -> Result<String, String> {
    let sql = |e: rusqlite::Error| format!("sqlite ({}): {e}", path.display());
    let conn = Connection::open(path).map_err(sql)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("SQLite refused WAL mode (it says {mode:?})"));
    }
    conn.execute_batch(
        "PRAGMA synchronous=FULL;
         CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
         CREATE TABLE transfers(id INTEGER PRIMARY KEY, debit INTEGER NOT NULL,
                                credit INTEGER NOT NULL, amount INTEGER NOT NULL);",
    )
    .map_err(sql)?;

    conn.execute_batch("BEGIN").map_err(sql)?;
    {
        let mut fund = conn
            .prepare("INSERT INTO accounts VALUES (?1, ?2)")
            .map_err(sql)?;
        for id in 1..=ACCOUNTS {
            fund.execute(params![id as i64, FUNDING]).map_err(sql)?;
        }
    }
    conn.execute_batch("COMMIT").map_err(sql)?;

    let mut debit = conn
        .prepare_cached(
            "UPDATE accounts SET balance = balance - ?1 WHERE id = ?2 AND balance >= ?1",
        )
        .map_err(sql)?;
    let mut credit = conn
        .prepare_cached("UPDATE accounts SET balance = balance + ?1 WHERE id = ?2")
        .map_err(sql)?;
    let mut journal = conn
        .prepare_cached("INSERT INTO transfers VALUES (?1, ?2, ?3, ?4)")
        .map_err(sql)?;

    let mut rng = Rng::new(1);
    let mut rejected = 0u64;
    let mut transaction_us =
        Vec::with_capacity(o.transfers.div_ceil(o.per_transaction).min(1 << 20) as usize);
    let started = Instant::now();
    let mut id = 0u64;
    while id < o.transfers {
        let began = Instant::now();
        conn.execute_batch("BEGIN").map_err(sql)?;
        for _ in 0..o.per_transaction.min(o.transfers - id) {
            id += 1;
            let (from, to, amount) = rng.transfer();
            if debit.execute(params![amount, from]).map_err(sql)? == 0 {
                rejected += 1;
                continue;
            }
            credit.execute(params![amount, to]).map_err(sql)?;
            journal
                .execute(params![id as i64, from, to, amount])
                .map_err(sql)?;
        }
        conn.execute_batch("COMMIT").map_err(sql)?;
        transaction_us.push(began.elapsed().as_micros() as u64);
    }
    let seconds = started.elapsed().as_secs_f64();

    // The transfers only move money between the accounts: the total must not have changed.
    let (total, rows): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT SUM(balance) FROM accounts), (SELECT COUNT(*) FROM transfers)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(sql)?;
    let expected = ACCOUNTS as i64 * FUNDING;
    if total != expected {
        return Err(format!("the balances sum to {total}, not {expected}"));
    }
    if rows as u64 != o.transfers - rejected {
        return Err(format!(
            "the journal holds {rows} rows for {} applied transfers",
            o.transfers - rejected
        ));
    }

    transaction_us.sort_unstable();
    let p99_ms = transaction_us[(transaction_us.len() - 1) * 99 / 100] as f64 / 1000.0;
    let per_sec = o.transfers as f64 / seconds;
    if !o.json {
        say(&format!(
            "sqlite: {} transfers in {seconds:.2} s: {per_sec:.0}/s, {} per transaction, \
             {rejected} rejected, p99 transaction {p99_ms:.2} ms",
            o.transfers, o.per_transaction
        ))?;
    }
    Ok(format!(
        "{{\"peer\":\"sqlite\",\"transfers\":{},\"per_transaction\":{},\"seconds\":{seconds:.3},\
         \"transfers_per_sec\":{per_sec:.0},\"rejected\":{rejected},\"p99_transaction_ms\":{p99_ms:.2}}}",
        o.transfers, o.per_transaction
    ))
}

fn fresh_temp_dir() -> Result<PathBuf, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "suanpan-peer-sqlite-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// xorshift64*, the same generator as Suanpan's workload.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// (debit, credit, amount): adding 0..=ACCOUNTS-2 to the debit, modulo the accounts, can
    /// never come back round to the debit, so the pair is always distinct.
    fn transfer(&mut self) -> (i64, i64, i64) {
        let debit = 1 + self.below(ACCOUNTS);
        let credit = 1 + (debit + self.below(ACCOUNTS - 1)) % ACCOUNTS;
        let amount = 1 + self.below(100);
        (debit as i64, credit as i64, amount as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_distinct_and_in_range() {
        let mut rng = Rng::new(7);
        for _ in 0..200_000 {
            let (debit, credit, amount) = rng.transfer();
            assert_ne!(debit, credit);
            assert!((1..=ACCOUNTS as i64).contains(&debit));
            assert!((1..=ACCOUNTS as i64).contains(&credit));
            assert!((1..=100).contains(&amount));
        }
    }

    #[test]
    fn bad_flags_are_errors() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(parse(&args(&["--transfers"])).is_err());
        assert!(parse(&args(&["--transfers", "x"])).is_err());
        assert!(parse(&args(&["--bogus"])).is_err());
        assert!(parse(&args(&["--per-transaction", "0"])).is_err());
    }
}
