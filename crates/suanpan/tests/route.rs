//! `suanpan route explain` on the command line: the seed's cases, as JSON and as sentences,
//! and one readable line with a non-zero exit for bad input.

use std::process::Command;

fn route(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_suanpan"))
        .arg("route")
        .arg("explain")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run suanpan route: {e}"))
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = route(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn over_fifty_thousand_in_real_time_on_a_saturday_evening_goes_to_unionpay_payout() {
    let v = json(&[
        "--amount",
        "80000.00",
        "--at",
        "2026-12-12T20:00:00+08:00",
        "--real-time",
        "--from",
        "mobile",
    ]);
    assert_eq!(v["channel"], "unionpay_payout", "{v}");
    let reasons: Vec<(String, String)> = v["channels"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["channel"].as_str().unwrap_or("").into(),
                        c["reason"].as_str().unwrap_or("").into(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for want in [
        ("hvps", "closed_non_working_day"),
        ("beps", "not_real_time"),
        ("ibps", "over_limit"),
    ] {
        assert!(
            reasons.contains(&(want.0.into(), want.1.into())),
            "{want:?} in {reasons:?}"
        );
    }
    assert_eq!(
        v["summary"],
        "HVPS is closed on Saturday; BEPS is not real time; 80,000.00 is over IBPS's 50,000.00 limit: UnionPay payout, fee 5.00"
    );
}

#[test]
fn two_million_on_a_tuesday_morning_goes_by_hvps_and_a_channel_down_passes_to_the_next() {
    assert_eq!(
        json(&["--amount", "2000000", "--at", "2026-12-08T10:00:00+08:00"])["channel"],
        "hvps"
    );
    let small = ["--amount", "3000", "--at", "2026-12-06T10:00:00+08:00"];
    assert_eq!(
        json(&small)["channel"],
        "beps",
        "3,000 not urgent on a Sunday"
    );
    let mut down = small.to_vec();
    down.extend(["--down", "beps"]);
    assert_eq!(json(&down)["channel"], "ibps");
}

#[test]
fn bad_input_is_one_line_and_a_non_zero_exit() {
    for args in [
        vec!["--amount", "1.234", "--at", "2026-12-08T10:00:00+08:00"],
        vec!["--amount", "10", "--at", "yesterday"],
        vec!["--amount", "10"],
        vec![
            "--amount",
            "10",
            "--at",
            "2026-12-08T10:00:00+08:00",
            "--down",
            "swift",
        ],
    ] {
        let out = route(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("suanpan: ") && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}
