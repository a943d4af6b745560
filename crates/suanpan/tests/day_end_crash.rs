//! Restartability of the day-end: the `suanpan day-end` process is killed with SIGKILL right
//! after each step commits, then run again. Every time, the books (every table of
//! accounting.db but the audit log, and the report files) equal those of an uninterrupted run.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use suanpan_engine::{Engine, EngineConfig};
use suanpan_ledger::{
    AccountFlags, AccountingDate, Command, Currency, NewAccount, ResultCode, SubjectCode, Tier,
    Transfer,
};

/// The step boundaries, and one inside the catch-up (after its first transaction).
const STEPS: [&str; 11] = [
    "catch_up_transaction",
    "reconcile",
    "catch_up",
    "supplement",
    "general_ledger",
    "trial_balance",
    "daily_balances",
    "gl_check",
    "suspense",
    "period_roll_up",
    "reports",
];

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "suanpan-day-end-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("temp dir: {e}"));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn date(text: &str) -> AccountingDate {
    AccountingDate::parse(text).unwrap_or_else(|| panic!("date {text}"))
}

fn account(id: u128, subject: &str) -> Command {
    Command::CreateAccount(NewAccount {
        id,
        currency: Currency::CNY,
        subject: SubjectCode::parse(subject).unwrap_or_else(|| panic!("subject")),
        owner: 1,
        tier: Tier::None,
        bound_account: 0,
        flags: AccountFlags(0),
    })
}

/// Starts an engine on `dir` for `write`, whose every batch must succeed, and stops it.
fn with_engine(dir: &Path, write: impl FnOnce(&dyn Fn(Vec<Command>))) {
    let engine = Engine::start(EngineConfig {
        auto_cutover: false,
        ..EngineConfig::new(dir)
    })
    .unwrap_or_else(|e| panic!("engine: {e}"));
    let run = |commands: Vec<Command>| {
        let results = engine.execute(commands).unwrap_or_else(|e| panic!("{e}"));
        assert!(results.iter().all(|r| *r == ResultCode::Ok), "{results:?}");
    };
    write(&run);
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
}

/// The first business date and the accounts.
fn open_accounts(dir: &Path) {
    with_engine(dir, |run| {
        run(vec![Command::Cutover {
            date: date("2090-03-30"),
        }]);
        let mut commands = vec![account(1, "1002"), account(2, "2241.02")];
        commands.extend((10..60).map(|id| account(id, "2241.01")));
        run(commands);
    });
}

/// Two business dates: the second is a quarter's last day (roll-ups), holds transfers whose
/// code has no rule (supplement) and some booked by a wrong-side rule (suspense, when the rule
/// was set before them).
fn write_transfers(run: &dyn Fn(Vec<Command>)) {
    let mut id = 1_000u128;
    for (day, next) in [("2090-03-30", "2090-03-31"), ("2090-03-31", "2090-04-01")] {
        let mut commands = Vec::new();
        for i in 0..400u128 {
            id += 1;
            let (debit, credit) = if i % 4 == 0 {
                (1, 10 + i % 50)
            } else {
                (10 + i % 50, 10 + (i * 7 + 3) % 50)
            };
            if debit == credit {
                continue;
            }
            let code = [1u16, 99, 7, 0][(i / 4 % 4) as usize];
            commands.push(Command::CreateTransfer(Transfer {
                code,
                ..Transfer::new(
                    id,
                    debit,
                    credit,
                    1 + (i as u64 * 37) % 5_000,
                    Currency::CNY,
                )
            }));
        }
        run(commands);
        if day == "2090-03-31" {
            // More batches than one catch-up transaction takes (64), so a kill can fall
            // between two of them.
            for i in 0..100u128 {
                id += 1;
                run(vec![Command::CreateTransfer(Transfer {
                    code: 1,
                    ..Transfer::new(id, 10 + i % 50, 1, 1 + i as u64, Currency::CNY)
                })]);
            }
        }
        run(vec![Command::Cutover { date: date(next) }]);
    }
}

fn suanpan(dir: &Path, args: &[&str]) -> Process {
    let mut process = Process::new(env!("CARGO_BIN_EXE_suanpan"));
    process.arg("day-end").args(args).arg("--data").arg(dir);
    process
}

fn succeed(mut process: Process) -> String {
    let out = process.output().unwrap_or_else(|e| panic!("spawn: {e}"));
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The closed dates, in order, from `suanpan day-end status --json`.
fn closed_dates(dir: &Path) -> Vec<String> {
    succeed(suanpan(dir, &["status", "--json"]))
        .lines()
        .filter(|l| l.contains("\"closed\":true"))
        .filter_map(|l| l.split("\"accounting_date\":\"").nth(1))
        .map(|rest| rest[..10].to_string())
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.is_file() {
            let name = path.file_name().unwrap_or_default();
            std::fs::copy(&path, to.join(name)).unwrap_or_else(|e| panic!("copy: {e}"));
        }
    }
}

/// Every table of accounting.db but the audit log (and the steps' times), and every report
/// file, as text.
fn books(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("accounting.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap_or_else(|e| panic!("open: {e}"));
    let tables: Vec<String> = {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name != 'accounting_audit' ORDER BY name")
            .unwrap_or_else(|e| panic!("{e}"));
        let names = stmt
            .query_map([], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{e}"));
        names.map(|n| n.unwrap_or_else(|e| panic!("{e}"))).collect()
    };
    let mut out = BTreeMap::new();
    for table in tables {
        // How long a step took is a measurement, not the books: only which steps have one.
        let columns = if table == "accounting_day_end_step_times" {
            "accounting_date, step"
        } else {
            "*"
        };
        let mut stmt = conn
            .prepare(&format!("SELECT {columns} FROM {table} ORDER BY rowid"))
            .unwrap_or_else(|e| panic!("{e}"));
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap_or_else(|e| panic!("{e}"));
        let mut lines = Vec::new();
        while let Some(row) = rows.next().unwrap_or_else(|e| panic!("{e}")) {
            let values: Vec<String> = (0..columns)
                .map(|i| match row.get_ref(i).unwrap_or_else(|e| panic!("{e}")) {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect();
            lines.push(values.join("|"));
        }
        out.insert(table, lines);
    }
    for day in std::fs::read_dir(dir.join("reports")).unwrap_or_else(|e| panic!("{e}")) {
        let day = day.unwrap_or_else(|e| panic!("{e}")).path();
        for file in std::fs::read_dir(&day).unwrap_or_else(|e| panic!("{e}")) {
            let file = file.unwrap_or_else(|e| panic!("{e}")).path();
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
            out.insert(
                file.display()
                    .to_string()
                    .replace(&dir.display().to_string(), ""),
                vec![text],
            );
        }
    }
    out
}

#[test]
fn a_day_end_killed_at_every_step_boundary_and_rerun_equals_an_uninterrupted_one() {
    let pristine = TempDir::new("pristine");
    open_accounts(&pristine.0);
    // Set before the transfers: a rule takes effect after the journal's head.
    succeed(suanpan(
        &pristine.0,
        &[
            "rule",
            "--code",
            "7",
            "--debit",
            "credit_account",
            "--credit",
            "debit_account",
            "--operator",
            "test",
        ],
    ));
    with_engine(&pristine.0, write_transfers);
    let reference = TempDir::new("reference");
    copy_dir(&pristine.0, &reference.0);
    let dates = closed_dates(&reference.0);
    assert_eq!(dates.len(), 3, "{dates:?}");
    for d in &dates {
        succeed(suanpan(&reference.0, &["--date", d]));
    }
    let expected = books(&reference.0);
    assert!(
        expected["accounting_suspense_items"].len() >= 2,
        "the wrong-side rule made differences"
    );
    assert!(
        !expected["accounting_period_totals"].is_empty(),
        "2090-03-31 closed a month and a quarter"
    );
    assert!(expected["accounting_manual_vouchers"]
        .iter()
        .any(|v| v.contains("supplement")));

    let last = &dates[2];
    for step in STEPS {
        let run = TempDir::new(step);
        copy_dir(&pristine.0, &run.0);
        // The first date's day-end reads the whole journal: a kill inside the catch-up falls
        // there; the other kills fall in the last date's day-end.
        let (before, killed_date) = if step == "catch_up_transaction" {
            (&dates[..0], &dates[0])
        } else {
            (&dates[..2], last)
        };
        for d in before {
            succeed(suanpan(&run.0, &["--date", d]));
        }
        let killed = suanpan(&run.0, &["--date", killed_date])
            .env("SUANPAN_DAY_END_KILL_AFTER", step)
            .output()
            .unwrap_or_else(|e| panic!("spawn: {e}"));
        assert_eq!(
            killed.status.signal(),
            Some(libc_sigkill()),
            "killed after {step}"
        );
        let status = succeed(suanpan(
            &run.0,
            &["status", "--date", killed_date, "--json"],
        ));
        // Every step up to the one killed after is recorded (none, inside the catch-up).
        let done = STEPS.iter().position(|s| *s == step).unwrap_or(0);
        assert!(
            status.contains(&format!("\"steps_done\":\"{}\"", STEPS[1..=done].join(","))),
            "{status}"
        );
        succeed(suanpan(&run.0, &[]));
        assert_same_books(&books(&run.0), &expected, step);
    }
}

/// Names the first table and row that differ, rather than printing both books whole.
fn assert_same_books(
    got: &BTreeMap<String, Vec<String>>,
    expected: &BTreeMap<String, Vec<String>>,
    step: &str,
) {
    let names: Vec<&String> = got.keys().chain(expected.keys()).collect();
    for name in names {
        let (g, e) = (got.get(name), expected.get(name));
        if g == e {
            continue;
        }
        let (g, e) = (
            g.cloned().unwrap_or_default(),
            e.cloned().unwrap_or_default(),
        );
        let row = (0..g.len().max(e.len()))
            .find(|&i| g.get(i) != e.get(i))
            .unwrap_or(0);
        let cut = |v: Option<&String>| {
            v.map_or_else(|| "(none)".to_string(), |t| t.chars().take(300).collect())
        };
        panic!(
            "killed after {step}, then rerun: {name} differs at row {row} ({} rows against {}):\n got      {}\n expected {}",
            g.len(),
            e.len(),
            cut(g.get(row)),
            cut(e.get(row))
        );
    }
}

fn libc_sigkill() -> i32 {
    9
}
