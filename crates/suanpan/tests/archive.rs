//! `suanpan archive` and `suanpan verify --period` on the command line: a closed month moved
//! into a file of its own, proved with the journal and alone, and every refusal one line with
//! a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Output};
use std::sync::atomic::Ordering;

use suanpan_engine::{Engine, EngineConfig};
use suanpan_ledger::*;

fn suanpan(args: &[&str]) -> Output {
    Process::new(env!("CARGO_BIN_EXE_suanpan"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run suanpan: {e}"))
}

fn ok(args: &[&str]) -> String {
    let out = suanpan(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The one line a refused command prints.
fn refused(args: &[&str]) -> String {
    let out = suanpan(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    err
}

fn account(id: u128) -> Command {
    Command::CreateAccount(NewAccount {
        id,
        currency: Currency::CNY,
        subject: SubjectCode::parse("2241.01").unwrap_or_else(|| panic!("subject")),
        owner: 1,
        tier: Tier::None,
        bound_account: 0,
        flags: AccountFlags(0),
    })
}

fn pay(engine: &Engine, first: u128, n: u128) {
    for id in first..first + n {
        let t = Transfer {
            reference: Reference::new(b"order").unwrap_or(Reference::EMPTY),
            ..Transfer::new(id, 1, 2, 100, Currency::CNY)
        };
        let results = engine
            .execute(vec![Command::CreateTransfer(t)])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(results, [ResultCode::Ok]);
    }
}

/// A data directory whose journal spans two months after its first: returns the month the
/// 50 transfers were made in.
fn two_months(dir: &Path) -> String {
    let mut config = EngineConfig::new(dir);
    config.snapshot_commands_min = 40;
    config.snapshot_growth_factor = 1;
    let engine = Engine::start(config).unwrap_or_else(|e| panic!("{e}"));
    engine
        .execute(vec![account(1), account(2)])
        .unwrap_or_else(|e| panic!("{e}"));
    pay(&engine, 100, 50);
    let today = engine
        .read(|ledger| ledger.accounting_date())
        .unwrap_or_else(|e| panic!("{e}"))
        .wait()
        .unwrap_or_else(|| panic!("no date"));
    let (year, month, _) = today.ymd();
    let (year, month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let next = AccountingDate::from_ymd(year, month, 1).unwrap_or_else(|| panic!("a date"));
    let cut = engine
        .execute(vec![Command::Cutover { date: next }])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cut, [ResultCode::Ok]);
    // Snapshots are written beside the batches, one at a time: the second to finish from now
    // began after the cutover, so it is past the month to archive.
    let snapshots = || engine.metrics().snapshots.load(Ordering::Relaxed);
    let before = snapshots();
    let mut next = 1_000;
    while snapshots() < before + 2 {
        assert!(next < 100_000, "no snapshot was written");
        pay(&engine, next, 10);
        next += 10;
    }
    engine.shutdown().unwrap_or_else(|e| panic!("{e}"));
    today.to_string()[..7].to_string()
}

#[test]
fn a_closed_month_is_archived_and_proved_with_the_journal_and_alone() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir: PathBuf =
        std::env::temp_dir().join(format!("suanpan-archive-{}-{nanos}", std::process::id()));
    let month = two_months(&dir);
    let data = dir.to_string_lossy().into_owned();

    // The ledger's first batches carry its starting date: that month goes first.
    let first: String = rusqlite::Connection::open(dir.join("suanpan.db"))
        .and_then(|c| {
            c.query_row(
                "SELECT substr(accounting_date, 1, 7) FROM batches WHERE seq = 1",
                [],
                |r| r.get(0),
            )
        })
        .unwrap_or_else(|e| panic!("{e}"));
    if first != month {
        assert!(refused(&["archive", "--data", &data, "--period", &month])
            .contains("archive the periods before"));
        ok(&["archive", "--data", &data, "--period", &first]);
    }
    let line = ok(&["archive", "--data", &data, "--period", &month, "--json"]);
    assert!(
        line.contains("\"ok\":true") && line.contains("\"transfers\":50"),
        "{line}"
    );
    for (args, says) in [
        (
            vec!["archive", "--data", &data, "--period", &month],
            "already archived",
        ),
        (
            vec!["archive", "--data", &data, "--period", "2026-1"],
            "YYYY-MM",
        ),
        (vec!["archive", "--data", &data], "--period"),
        (
            vec![
                "archive",
                "--data",
                "/nonexistent/suanpan",
                "--period",
                &month,
            ],
            "no journal",
        ),
    ] {
        let err = refused(&args);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let verified = ok(&["verify", "--data", &data]);
    assert!(verified.contains("archived period"), "{verified}");

    let file = dir.join("periods").join(format!("{month}.db"));
    let file_arg = file.to_string_lossy().into_owned();
    let alone = ok(&["verify", "--period", &file_arg]);
    assert!(
        alone.contains("50 transfers") && alone.contains("the file keeps"),
        "{alone}"
    );
    let with = ok(&["verify", "--period", &file_arg, "--data", &data]);
    assert!(with.contains("the journal recorded"), "{with}");

    // An amount changed in the archived file: both name the transfer.
    let conn = rusqlite::Connection::open(&file).unwrap_or_else(|e| panic!("{e}"));
    let (seq, mut body): (i64, Vec<u8>) = conn
        .query_row(
            "SELECT seq, body FROM batches WHERE seq = (SELECT batch FROM transfers WHERE id = '120')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let at = body
        .windows(5)
        .position(|w| w == b"order")
        .unwrap_or_else(|| panic!("no reference"));
    body[at] = b'O';
    conn.execute(
        "UPDATE batches SET body = ?2 WHERE seq = ?1",
        rusqlite::params![seq, body],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for args in [
        vec!["verify", "--data", &data],
        vec!["verify", "--period", &file_arg],
    ] {
        let err = refused(&args);
        assert!(
            err.contains("transfer 120 ") && err.contains("altered after it was archived"),
            "{args:?}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
