//! `suanpan demo --minutes 1` on a fresh directory: the day runs, the console shows it while
//! it runs, and the last line says the journal verified.

#[allow(dead_code)] // the shared support serves other test binaries too
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::client::Request;

#[test]
fn a_day_of_business_runs_is_seen_in_the_console_and_verifies() {
    let dir = std::env::temp_dir().join(format!("suanpan-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_suanpan"))
        .args(["demo", "--minutes", "1", "--rate", "10", "--json", "--data"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the demo: {e}"));
    let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let mut lines = BufReader::new(stderr).lines();
    let mut console = String::new();
    let mut token = String::new();
    while console.is_empty() || token.is_empty() {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the demo ended before it said where its console is"))
            .unwrap_or_default();
        if let Some(url) = line.strip_prefix("console:") {
            console = url.trim().to_string();
        }
        if let Some(rest) = line.strip_prefix("admin token:") {
            token = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let addr: std::net::SocketAddr = console
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{console}: {e}"));
    // Log in as the printed admin, and watch the overview until the day's transfers show.
    let login = Request::new("POST", "/console/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}").as_bytes())
        .send(addr);
    assert_eq!(login.status, 303, "{}", login.text());
    let cookie = login
        .header("set-cookie")
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let started = Instant::now();
    loop {
        let page = Request::get("/")
            .header("cookie", &cookie)
            .send(addr)
            .text();
        let shown = page
            .split("id=\"last-batch\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        if shown > 10 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(50),
            "the console never showed the day: {page}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The day's orders are found by state, and an order shows its timeline.
    let found = Request::get("/console/orders?state=succeeded")
        .header("cookie", &cookie)
        .send(addr)
        .text();
    let first = found
        .split("/console/orders/view?id=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no succeeded order found: {found}"))
        .to_string();
    let order = Request::get(&format!("/console/orders/view?id={first}"))
        .header("cookie", &cookie)
        .send(addr)
        .text();
    assert!(
        order.contains("id=\"events\"") && order.contains("succeeded"),
        "{order}"
    );
    let mut out = String::new();
    std::io::Read::read_to_string(
        child.stdout.as_mut().unwrap_or_else(|| panic!("no stdout")),
        &mut out,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "the demo failed: {out}");
    let last: serde_json::Value =
        serde_json::from_str(out.lines().last().unwrap_or("")).unwrap_or_default();
    assert_eq!(last["verify_ok"], true, "{last}");
    for figure in [
        "transfers",
        "orders",
        "payouts",
        "interbank_payments",
        "batches",
        "tier_refusals",
    ] {
        assert!(
            last[figure].as_u64().is_some_and(|n| n > 0),
            "{figure} in {last}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
