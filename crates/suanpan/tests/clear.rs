//! `suanpan clear` as an operator runs it: participants, payments, a refund, closing a batch,
//! its report, settlement and statement files, and one readable line for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn clear(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_suanpan"))
        .arg("clear")
        .args(args)
        .arg("--data")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run suanpan: {e}"))
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = clear(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn temp_dir(name: &str) -> TempDir {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    TempDir(std::env::temp_dir().join(format!("suanpan-clear-{name}-{nanos}")))
}

/// Two participants (caps of 100,000 fen): 1 pays 2 30,000; 2 pays 1 5,000 (a payout); 2
/// refunds 1,000 of the first payment.
fn two_participants_paying_each_other(d: &Path) {
    let add = |n: &str, code: &str, kind: &str| {
        ok(
            d,
            &[
                "participant",
                "add",
                "--number",
                n,
                "--code",
                code,
                "--name",
                "A Bank",
                "--kind",
                kind,
                "--cap-fen",
                "100000",
            ],
        )
    };
    add("1", "B001", "bank");
    add("2", "P002", "payment_institution");
    assert!(ok(d, &["participant", "list"]).contains("P002"));
    ok(
        d,
        &[
            "pay",
            "--id",
            "1",
            "--payer",
            "1",
            "--payee",
            "2",
            "--amount-fen",
            "30000",
        ],
    );
    ok(
        d,
        &[
            "pay",
            "--id",
            "2",
            "--payer",
            "2",
            "--payee",
            "1",
            "--amount-fen",
            "5000",
            "--kind",
            "payout",
        ],
    );
    ok(
        d,
        &[
            "refund",
            "--original",
            "1",
            "--number",
            "0",
            "--amount-fen",
            "1000",
        ],
    );
}

#[test]
fn a_batch_is_cleared_settled_and_stated_from_the_command_line() {
    let dir = temp_dir("cli");
    let d = &dir.0;
    two_participants_paying_each_other(d);
    let beyond = clear(
        d,
        &[
            "pay",
            "--id",
            "3",
            "--payer",
            "1",
            "--payee",
            "2",
            "--amount-fen",
            "100000",
        ],
    );
    let stderr = String::from_utf8_lossy(&beyond.stderr);
    assert!(!beyond.status.success());
    assert_eq!(stderr.lines().count(), 1);
    assert!(stderr.contains("net_debit_cap_exceeded"), "{stderr}");

    assert_eq!(ok(d, &["close", "--json"]).trim(), r#"{"closed_batch":1}"#);
    let report = ok(d, &["report", "1", "--json"]);
    assert!(
        report.contains(r#""transactions":3,"amount":"36000""#),
        "{report}"
    );
    let settled = ok(d, &["settle", "1", "--json"]);
    assert!(settled.contains(r#""postings":2"#), "{settled}");
    let out = d.join("statements");
    let out_text = out.to_string_lossy().into_owned();
    ok(d, &["statements", "1", "--out", &out_text]);
    let payer =
        std::fs::read_to_string(out.join("statement-00000001-0001.csv")).unwrap_or_default();
    assert!(
        payer.starts_with("H,suanpan-statement,1,1,1,B001,CNY,"),
        "{payer}"
    );
    // Paid 30,000, received 5,000 and the 1,000 refund: owes 24,000.
    assert!(
        payer
            .lines()
            .last()
            .unwrap_or("")
            .starts_with("T,3,1,30000,2,6000,0,-24000,"),
        "{payer}"
    );

    for (args, says) in [
        (vec!["report", "2"], "batch_not_closed"),
        (vec!["report", "two"], "not a batch number"),
        (vec!["pay", "--id", "4"], "needs --payer"),
        (
            vec!["participant", "add", "--number", "70000"],
            "is not a participant number",
        ),
    ] {
        let out = clear(d, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.lines().count() == 1 && stderr.contains(says),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn the_json_report_gives_each_participants_gross_figures_net_and_settlement() {
    let dir = temp_dir("json-report");
    let d = &dir.0;
    two_participants_paying_each_other(d);
    ok(d, &["close"]);
    let line = ok(d, &["report", "1", "--json", "--bilateral"]);
    assert_eq!(line.lines().count(), 1, "one JSON line: {line}");
    let report: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(report["batch"], 1);
    assert_eq!(report["transactions"], 3);
    assert_eq!(report["amount"], "36000");
    let figures = |p: &serde_json::Value| {
        (
            p["participant"].as_u64().unwrap_or(0),
            p["paid_count"].as_u64().unwrap_or(0),
            p["paid"].as_str().unwrap_or("").to_string(),
            p["received_count"].as_u64().unwrap_or(0),
            p["received"].as_str().unwrap_or("").to_string(),
            p["net"].as_str().unwrap_or("").to_string(),
        )
    };
    let positions: Vec<_> = report["positions"]
        .as_array()
        .map(|a| a.iter().map(figures).collect())
        .unwrap_or_default();
    // 1 paid 30,000 and received the 5,000 payout and the 1,000 refund: owes 24,000.
    assert_eq!(
        positions,
        [
            (1, 1, "30000".into(), 2, "6000".into(), "-24000".into()),
            (2, 2, "6000".into(), 1, "30000".into(), "24000".into()),
        ],
        "{report}"
    );
    let mut settlement: Vec<(u64, String)> = report["settlement_instructions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    let participant = s["participant"].as_u64().unwrap_or(0);
                    (participant, s["net"].as_str().unwrap_or("").to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    settlement.sort();
    assert_eq!(
        settlement,
        [(1, "-24000".to_string()), (2, "24000".to_string())],
        "{report}"
    );
    let bilateral = &report["bilateral"][0];
    assert_eq!(
        (&bilateral["a"], &bilateral["b"], &bilateral["net_a"]),
        (&1.into(), &2.into(), &"-24000".into()),
        "{report}"
    );
    // Without --bilateral the nets are left out, as the HTTP report leaves them out.
    let plain = ok(d, &["report", "1", "--json"]);
    assert!(!plain.contains("bilateral"), "{plain}");
}
