//! Reconciliation end to end: real `suanpan serve` and `suanpan channel-sim` processes, orders
//! paid through the gateway, bills published by the simulators with every kind of difference
//! scripted in, a manual run, a bill republished with corrections, the day-end's `reconcile`
//! step fetching the bills, the late success booked through the engine, the unexplained rest
//! in suspense, written off by the accounting room, the GL-vs-sub-ledger check still
//! balanced, and the cross-midnight item cleared by the next day's bill by itself.

#[allow(dead_code)]
mod gateway_support;
#[allow(dead_code)]
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gateway_support::{payment_transfer, Shop, Timings};
use serde_json::{json, Value};
use suanpan_recon::time::{beijing_date_end, format_beijing};
use support::client::Request;

const WAIT_MAX: Duration = Duration::from_secs(120);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn send(addr: SocketAddr, token: &str, method: &str, target: &str, body: &str) -> (u16, Value) {
    let mut r = Request::new(method, target).bearer(token);
    if !body.is_empty() {
        r = r
            .header("content-type", "application/json")
            .body(body.as_bytes());
    }
    let answer = r.send(addr);
    let v = if answer.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&answer.body).unwrap_or(Value::String(answer.text()))
    };
    (answer.status, v)
}

fn ok(addr: SocketAddr, token: &str, method: &str, target: &str, body: &str) -> Value {
    let (status, v) = send(addr, token, method, target, body);
    assert!(
        status == 200 || status == 201 || status == 202,
        "{method} {target}: {status} {v}"
    );
    v
}

fn script(shop: &Shop, channel: &str, date: &str, script: Value) {
    let r = Request::post(&format!("/sim/bills/{date}"), &script.to_string())
        .send(shop.sim(channel).addr);
    assert_eq!(r.status, 200, "{}", r.text());
}

fn pay(shop: &Shop, channel: &str, id: &str, callback: bool) {
    let state = if channel == "wechat" {
        "SUCCESS"
    } else {
        "TRADE_SUCCESS"
    };
    let callbacks = if callback { vec![state] } else { Vec::new() };
    shop.sim(channel).pay(id, &callbacks);
    if callback {
        shop.wait_for(id, "paid", |o| o["state"] == "succeeded");
    }
}

fn next_date(date: &str) -> String {
    let end = beijing_date_end(date).unwrap_or_else(|| panic!("{date}"));
    format_beijing(end)[..10].to_string()
}

/// Cuts the books over and runs the closed date's day-end to completion.
fn close_day(addr: SocketAddr, admin: &str, date: &str) -> Value {
    let cut = ok(addr, admin, "POST", "/v1/accounting/cutover", "");
    assert_eq!(cut["closed_date"], date, "{cut}");
    let target = format!("/v1/accounting/dates/{date}/day-end");
    ok(addr, admin, "POST", &target, "");
    let started = Instant::now();
    loop {
        let status = ok(addr, admin, "GET", &target, "");
        if status["state"] == "complete" {
            return status;
        }
        assert!(
            status["last_error"].is_null(),
            "the day-end of {date} failed: {status}"
        );
        assert!(started.elapsed() < WAIT_MAX, "day-end of {date}: {status}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (key, class, state, amount) of a channel report's differences, sorted.
fn differences(report: &Value) -> Vec<(String, String, String, i64)> {
    let mut out: Vec<_> = report["differences"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|d| {
            (
                d["key"].as_str().unwrap_or_default().to_string(),
                d["class"].as_str().unwrap_or_default().to_string(),
                d["state"].as_str().unwrap_or_default().to_string(),
                d["amount_fen"].as_i64().unwrap_or(i64::MIN),
            )
        })
        .collect();
    out.sort();
    out
}

fn count(report: &Value, class: &str) -> u64 {
    report["classes"]
        .as_array()
        .and_then(|c| c.iter().find(|k| k["class"] == class))
        .and_then(|k| k["count"].as_u64())
        .unwrap_or(u64::MAX)
}

fn channel_report<'a>(date_report: &'a Value, channel: &str) -> &'a Value {
    date_report["channels"]
        .as_array()
        .and_then(|c| c.iter().find(|r| r["channel"] == channel))
        .unwrap_or_else(|| panic!("no {channel} in {date_report}"))
}

/// Waits, when the clock is within 5 minutes before or 2 minutes after midnight in Beijing,
/// until 2 minutes after it: the test's day then has room on both sides.
fn clear_of_midnight_in_beijing() {
    let today = format_beijing(now_ms())[..10].to_string();
    let end = beijing_date_end(&today).unwrap_or(0);
    let start = end.saturating_sub(86_400_000);
    let now = now_ms();
    let wait_ms = if end.saturating_sub(now) < 5 * 60_000 {
        end.saturating_sub(now) + 2 * 60_000
    } else if now.saturating_sub(start) < 2 * 60_000 {
        2 * 60_000 - now.saturating_sub(start)
    } else {
        0
    };
    if wait_ms > 0 {
        eprintln!(
            "waiting {} s to be clear of midnight in Beijing",
            wait_ms / 1000
        );
        std::thread::sleep(Duration::from_millis(wait_ms));
    }
}

/// Suspense items that a GL-vs-sub-ledger difference opened (none while the books agree).
fn gl_check_items(addr: SocketAddr, token: &str) -> Vec<Value> {
    let items = ok(addr, token, "GET", "/v1/accounting/suspense?all=true", "");
    items["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i["origin"].as_str().unwrap_or("").starts_with("gl_check"))
        .collect()
}

#[test]
fn a_day_with_every_difference_reconciles_books_resolves_and_writes_off() {
    // The day's business must fall well inside one Beijing day: the bill's extra line is at
    // 00:01 and the cut-off window reaches back to the day's last payment.
    clear_of_midnight_in_beijing();
    let mut shop = Shop::new("recon-day-end", Timings::default());
    let admin = shop.dir.operator("admin-1", "admin");
    let op = shop.operator.clone();
    let date = ok(shop.addr(), &admin, "GET", "/v1/accounting/dates", "")["dates"]
        .as_array()
        .and_then(|d| d.last())
        .and_then(|d| d["accounting_date"].as_str())
        .unwrap_or_default()
        .to_string();
    let today = format_beijing(now_ms())[..10].to_string();
    assert_eq!(date, today, "the books' open date is today in Beijing");
    let end = beijing_date_end(&date).unwrap_or(0);
    assert!(
        end - now_ms() > 5 * 60_000,
        "too close to midnight in Beijing for this test's day: run it again in a few minutes"
    );

    // The day's business. Every order paid and its callback delivered, except one whose
    // callback is lost (and whose query never runs: the schedule is an hour away).
    let wechat = |no: &str, amount| shop.order(&format!("w-{no}"), amount, "wechat");
    let matched = wechat("matched", 10_000);
    let lost = wechat("lost", 2_500);
    let short = wechat("short", 3_000);
    let amount = wechat("amount", 4_000);
    let refunded = wechat("refunded", 5_000);
    let fee = wechat("fee", 6_000);
    let dup = wechat("dup", 7_000);
    for id in [&matched, &short, &amount, &refunded, &fee, &dup] {
        pay(&shop, "wechat", id, true);
    }
    pay(&shop, "wechat", &lost, false);
    let alipay = shop.order("a-1", 1_234, "alipay");
    pay(&shop, "alipay", &alipay, true);
    // The last payment of the day: with the cut-off window set from here (below), it is the
    // one "just before midnight", billed by the channel on the next day.
    let split_ms = now_ms();
    std::thread::sleep(Duration::from_millis(1_100));
    let late = wechat("late", 8_000);
    pay(&shop, "wechat", &late, true);

    // First bill of the day, with a mistake the channel corrects later (the matched order at
    // another amount).
    let n = |id: &str| id.to_string();
    script(
        &shop,
        "wechat",
        &date,
        json!({"amount": {n(&matched): 10_001}}),
    );
    let first = ok(
        shop.addr(),
        &op,
        "POST",
        "/v1/recon/runs",
        &json!({"channel": "wechat", "date": date}).to_string(),
    );
    assert_eq!(
        differences(&first)
            .iter()
            .map(|d| (d.0.as_str(), d.1.as_str(), d.2.as_str(), d.3))
            .filter(|d| d.0 == format!("payment {matched}"))
            .collect::<Vec<_>>(),
        vec![(
            format!("payment {matched}").as_str(),
            "amount_mismatch",
            "open",
            1
        )],
        "{first}"
    );

    // Republished with corrections: the real differences of the day.
    let extra_order = 99_999_999u64;
    script(
        &shop,
        "wechat",
        &date,
        json!({
            "drop": [short],
            "amount": {n(&amount): 4_001},
            "refunded_at_channel": [refunded],
            "fee": {n(&fee): 999},
            "duplicate": [dup],
            "next_day": [late],
            "extra": [{"order": extra_order, "amount_fen": 777}],
        }),
    );
    // The server again, with the cut-off window reaching back to just before the last payment.
    let window_s = (end - split_ms) / 1000;
    shop.start_with(&["--recon-cutoff-window-s", &window_s.to_string()]);
    let rerun = ok(
        shop.addr(),
        &op,
        "POST",
        "/v1/recon/runs",
        &json!({"channel": "wechat", "date": date}).to_string(),
    );
    let p = |id: &str| format!("payment {id}");
    let expected_before_day_end = vec![
        (p(&amount), "amount_mismatch", "open", 1),
        (p(&dup), "duplicate", "open", 7_000),
        (p(&fee), "fee_mismatch", "open", 36 - 999),
        (p(&lost), "long", "resolved_auto", 2_500),
        (p(&matched), "amount_mismatch", "resolved_auto", 1),
        (p(&refunded), "status_mismatch", "open", -5_000),
        (p(&short), "short", "open", -3_000),
        (format!("payment {extra_order}"), "long", "open", 777),
    ];
    let as_owned = |v: Vec<(String, &str, &str, i64)>| {
        let mut v: Vec<(String, String, String, i64)> = v
            .into_iter()
            .map(|(k, c, s, a)| (k, c.to_string(), s.to_string(), a))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        differences(&rerun),
        as_owned(expected_before_day_end.clone()),
        "{rerun}"
    );
    assert_eq!(count(&rerun, "pending"), 1, "the late payment is held");
    assert_eq!(rerun["bill_accounted"], true, "{rerun}");
    // The lost callback's order is now paid, booked once through the engine.
    assert_eq!(shop.status(&lost)["state"], "succeeded");
    assert_eq!(shop.booked(payment_transfer(&lost)), 1);

    // The day-end: its first step reconciles both channels; the unexplained rest to suspense.
    let status = close_day(shop.addr(), &admin, &date);
    let steps = status["steps"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        steps.first().map(|s| s["step"].clone()),
        Some(json!("reconcile")),
        "{status}"
    );
    let report = ok(
        shop.addr(),
        &admin,
        "GET",
        &format!("/v1/recon/dates/{date}"),
        "",
    );
    let wechat_report = channel_report(&report, "wechat");
    fn suspense_state(state: &str) -> &str {
        if state == "open" {
            "suspense"
        } else {
            state
        }
    }
    assert_eq!(
        differences(wechat_report),
        as_owned(
            expected_before_day_end
                .iter()
                .map(|(k, c, s, a)| (k.clone(), *c, suspense_state(s), *a))
                .collect()
        ),
        "{wechat_report}"
    );
    assert_eq!(wechat_report["bill_accounted"], true);
    assert_eq!(
        wechat_report["times_run"], 3,
        "two manual runs and the day-end's"
    );
    let alipay_report = channel_report(&report, "alipay");
    assert_eq!(count(alipay_report, "matched"), 1, "{alipay_report}");
    assert!(differences(alipay_report).is_empty(), "{alipay_report}");
    assert!(
        gl_check_items(shop.addr(), &admin).is_empty(),
        "GL agrees with the sub-ledgers"
    );

    // What went to suspense is in the channel's reconciliation suspense account.
    let in_suspense: i64 = expected_before_day_end
        .iter()
        .filter(|d| d.2 == "open")
        .map(|d| d.3)
        .sum();
    let account = shop.account(suanpan_recon::room::postings::suspense_account_id(
        "wechat",
        suanpan_ledger::Currency::CNY,
    ));
    let posted = |k: &str| {
        account[k]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(i64::MIN)
    };
    assert_eq!(
        posted("credits_posted") - posted("debits_posted"),
        in_suspense,
        "{account}"
    );

    // The next date: the channel bills the late payment there, and it matches by itself.
    let next = next_date(&date);
    close_day(shop.addr(), &admin, &next);
    let next_report = ok(
        shop.addr(),
        &admin,
        "GET",
        &format!("/v1/recon/dates/{next}"),
        "",
    );
    let wechat_next = channel_report(&next_report, "wechat");
    assert_eq!(count(wechat_next, "matched"), 1, "{wechat_next}");
    assert_eq!(count(wechat_next, "pending"), 0, "{wechat_next}");
    assert!(differences(wechat_next).is_empty(), "{wechat_next}");
    assert!(gl_check_items(shop.addr(), &admin).is_empty());

    // 核销: each difference in suspense written off by the accounting room.
    let ids: Vec<i64> = wechat_report["differences"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|d| d["state"] == "suspense")
        .filter_map(|d| d["id"].as_i64())
        .collect();
    assert_eq!(ids.len(), 6);
    // The date the postings were booked on has had its day-end: each opened an item.
    let items = ok(shop.addr(), &admin, "GET", "/v1/accounting/suspense", "");
    let from_postings = items["items"].as_array().map_or(0, |i| {
        i.iter()
            .filter(|i| i["origin"].as_str().unwrap_or("").starts_with("transfer "))
            .count()
    });
    assert_eq!(
        from_postings,
        6,
        "{items} {}",
        ok(
            shop.addr(),
            &admin,
            "GET",
            &format!("/v1/accounting/dates/{next}/day-end"),
            ""
        )
    );
    // The command line, as the operator ops-1: a wrong name is refused in one line, then the
    // first write-off goes through it.
    let token_file = shop.dir.path().join("ops-1.token");
    std::fs::write(&token_file, &op).unwrap_or_else(|e| panic!("{e}"));
    let url = format!("http://{}", shop.addr());
    let cli = |args: &[&str]| {
        support::server::suanpan()
            .arg("recon")
            .args(args)
            .arg("--credentials")
            .arg(&token_file)
            .args(["--url", &url])
            .output()
            .unwrap_or_else(|e| panic!("cannot run suanpan recon: {e}"))
    };
    let first_id = ids[0].to_string();
    let wrong = cli(&[
        "resolve",
        &first_id,
        "--action",
        "write_off",
        "--against",
        "6711",
        "--operator",
        "someone-else",
    ]);
    assert!(!wrong.status.success());
    let line = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.contains("403 forbidden"), "{line}");
    let done = cli(&[
        "resolve",
        &first_id,
        "--action",
        "write_off",
        "--against",
        "6711",
        "--operator",
        "ops-1",
        "--note",
        "explained with the channel",
    ]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(String::from_utf8_lossy(&done.stdout).contains("written_off"));
    for id in &ids[1..] {
        let done = ok(
            shop.addr(),
            &op,
            "POST",
            &format!("/v1/recon/differences/{id}/resolve"),
            &json!({"action": "write_off", "against": "6711", "note": "explained with the channel"})
                .to_string(),
        );
        assert_eq!(done["state"], "written_off", "{done}");
        let history = done["history"].as_array().map_or(0, Vec::len);
        assert_eq!(history, 3, "found, to suspense, written off: {done}");
    }
    let open_items: Vec<Value> = ok(shop.addr(), &admin, "GET", "/v1/accounting/suspense", "")
        ["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(open_items.is_empty(), "every item closed: {open_items:?}");
    // A second write-off of the same difference is refused.
    let (status, again) = send(
        shop.addr(),
        &op,
        "POST",
        &format!("/v1/recon/differences/{}/resolve", ids[0]),
        &json!({"action": "write_off", "against": "6711"}).to_string(),
    );
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (422, Some("action_not_allowed"))
    );

    // The report on the command line: CSV, one row per class, then the differences.
    let csv = cli(&["report", "--date", &date, "--csv"]);
    assert!(
        csv.status.success(),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
    let csv = String::from_utf8_lossy(&csv.stdout).into_owned();
    assert!(
        csv.contains(&format!("wechat,{date},long,2,32.77,25.00")),
        "{csv}"
    );
    assert_eq!(csv.matches(",written_off,").count(), 6, "{csv}");
    // A malformed bill from a file: one line naming where, a non-zero exit, nothing recorded.
    let bad_file = shop.dir.path().join("bad-bill.csv");
    std::fs::write(
        &bad_file,
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率\n`2026-12-06 10:00:00,`wx,`1900000109,`0,`,`4200,`1,`o,`NATIVE,`SUCCESS,`CFT,`CNY,`1.234,`0.00,`0,`0,`0.00,`0.00,`,`,`x,`,`0.01,`0.60%\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let refused = cli(&["run", "--channel", "wechat", "--date", &date, "--file"]
        .iter()
        .copied()
        .chain([bad_file.to_str().unwrap_or_default()])
        .collect::<Vec<_>>());
    assert!(!refused.status.success());
    let line = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains("422 bill_invalid") && line.contains("line 2"),
        "{line}"
    );
    let still = ok(
        shop.addr(),
        &admin,
        "GET",
        &format!("/v1/recon/dates/{date}"),
        "",
    );
    assert_eq!(
        channel_report(&still, "wechat")["times_run"],
        3,
        "nothing recorded"
    );

    // The date the write-offs were booked on still closes with the GL agreeing.
    let after = next_date(&next);
    close_day(shop.addr(), &admin, &after);
    assert!(gl_check_items(shop.addr(), &admin).is_empty());
}

/// SIGKILL between a suspense posting the engine acknowledged and the difference's record of
/// it, in the day-end's reconcile step; the rerun gives the same differences and posts
/// nothing twice.
#[test]
fn a_reconciliation_killed_mid_posting_reruns_to_the_same_result_posting_nothing_twice() {
    clear_of_midnight_in_beijing();
    let mut shop = Shop::new("recon-kill", Timings::default());
    let admin = shop.dir.operator("admin-1", "admin");
    let date = format_beijing(now_ms())[..10].to_string();
    let end = beijing_date_end(&date).unwrap_or(0);
    assert!(
        end - now_ms() > 5 * 60_000,
        "too close to midnight in Beijing for this test's day: run it again in a few minutes"
    );
    let mut shorts = Vec::new();
    for i in 0..3 {
        let id = shop.order(&format!("k-{i}"), 1_000 + i, "wechat");
        pay(&shop, "wechat", &id, true);
        shorts.push(id);
    }
    script(
        &shop,
        "wechat",
        &date,
        json!({"drop": shorts, "extra": [
            {"order": 88_000_001u64, "amount_fen": 501},
            {"order": 88_000_002u64, "amount_fen": 502},
        ]}),
    );
    // Killed after the engine acknowledged the second of five postings.
    shop.start_env(&[], &[("SUANPAN_RECON_KILL_AFTER_POSTINGS", "2")]);
    let cut = ok(shop.addr(), &admin, "POST", "/v1/accounting/cutover", "");
    assert_eq!(cut["closed_date"], date.as_str(), "{cut}");
    let (status, _) = send(
        shop.addr(),
        &admin,
        "POST",
        &format!("/v1/accounting/dates/{date}/day-end"),
        "",
    );
    assert_eq!(status, 202);
    let server = shop.server.as_mut().unwrap_or_else(|| panic!("no server"));
    let exit = server.wait_exit();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(exit.signal(), Some(9), "killed mid-posting: {exit:?}");
    shop.server = None;

    // Again, uninterrupted: the day-end continues at its reconcile step.
    shop.start_with(&[]);
    let target = format!("/v1/accounting/dates/{date}/day-end");
    ok(shop.addr(), &admin, "POST", &target, "");
    let started = Instant::now();
    while ok(shop.addr(), &admin, "GET", &target, "")["state"] != "complete" {
        assert!(started.elapsed() < WAIT_MAX, "the rerun never completed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = ok(
        shop.addr(),
        &admin,
        "GET",
        &format!("/v1/recon/dates/{date}"),
        "",
    );
    let wechat = channel_report(&report, "wechat");
    let mut expected: Vec<(String, String, String, i64)> = shorts
        .iter()
        .enumerate()
        .map(|(i, id)| {
            (
                format!("payment {id}"),
                "short".to_string(),
                "suspense".to_string(),
                -(1_000 + i as i64),
            )
        })
        .chain([501, 502].iter().enumerate().map(|(i, &fen)| {
            (
                format!("payment {}", 88_000_001 + i),
                "long".to_string(),
                "suspense".to_string(),
                fen,
            )
        }))
        .collect();
    expected.sort();
    assert_eq!(differences(wechat), expected, "{wechat}");
    // Each posting once: one transfer per difference, and the suspense account holds their sum.
    let account = shop.account(suanpan_recon::room::postings::suspense_account_id(
        "wechat",
        suanpan_ledger::Currency::CNY,
    ));
    let posted = |k: &str| account[k].as_str().and_then(|s| s.parse::<i64>().ok());
    let sum: i64 = expected.iter().map(|d| d.3).sum();
    assert_eq!(
        posted("credits_posted")
            .zip(posted("debits_posted"))
            .map(|(c, d)| c - d),
        Some(sum),
        "{account}"
    );
    for d in wechat["differences"].as_array().into_iter().flatten() {
        let id = d["id"].as_i64().unwrap_or(0);
        let transfer = suanpan_recon::room::postings::suspense_transfer_id(id, 0);
        assert_eq!(shop.booked(transfer), 1, "difference {id}'s posting once");
        let one = ok(
            shop.addr(),
            &admin,
            "GET",
            &format!("/v1/recon/differences/{id}"),
            "",
        );
        let to_suspense = one["history"].as_array().map_or(0, |h| {
            h.iter().filter(|e| e["to_state"] == "suspense").count()
        });
        assert_eq!(to_suspense, 1, "{one}");
    }
}

/// The console's reconciliation page in headless Chromium: an operator fetches a bill from
/// the page, sees its classes and the difference with its evidence, and posts it to
/// suspense from the page; a viewer is offered no action.
#[test]
fn an_operator_reconciles_and_resolves_from_the_console() {
    let Some(browser) = support::browser::Browser::start() else {
        return;
    };
    let shop = Shop::new("recon-console", Timings::default());
    let viewer = shop.dir.operator("viewer-1", "viewer");
    let date = format_beijing(now_ms())[..10].to_string();
    let paid = shop.order("c-1", 1_500, "wechat");
    pay(&shop, "wechat", &paid, true);
    script(
        &shop,
        "wechat",
        &date,
        json!({"extra": [{"order": 77_000_001u64, "amount_fen": 888}]}),
    );
    let base = format!("http://{}", shop.addr());
    let log_in = |token: &str| {
        browser.open(&format!("{base}/console/login"));
        browser.type_into("#token", token);
        browser.submit("#login");
        wait_for_text(&browser, "#who", "");
    };

    log_in(&shop.operator);
    browser.open(&format!("{base}/console/recon?date={date}"));
    browser.type_into("#run-channel", "wechat");
    browser.submit("#run");
    wait_for_text(&browser, "#channel-wechat", "wechat");
    assert!(browser.text("#classes-wechat").contains("matched"));
    let rows = browser.text("#differences-wechat");
    assert!(
        rows.contains("payment 77000001") && rows.contains("8.88"),
        "{rows}"
    );
    let report = ok(
        shop.addr(),
        &shop.operator,
        "GET",
        &format!("/v1/recon/dates/{date}"),
        "",
    );
    let id = channel_report(&report, "wechat")["differences"][0]["id"]
        .as_i64()
        .unwrap_or(0);
    assert_eq!(browser.text(&format!("#state-{id}")), "open");
    browser.type_into(&format!("#action-{id}"), "suspense");
    browser.type_into(&format!("#note-{id}"), "unknown payer, to investigate");
    browser.submit(&format!("#resolve-{id}"));
    wait_for_text(&browser, &format!("#state-{id}"), "suspense");
    if let Ok(dir) = std::env::var("SUANPAN_SCREENSHOTS") {
        browser.window(1280, 860);
        browser.screenshot(&std::path::Path::new(&dir).join("console-recon.png"));
    }
    let one = ok(
        shop.addr(),
        &viewer,
        "GET",
        &format!("/v1/recon/differences/{id}"),
        "",
    );
    assert_eq!(one["history"][1]["actor"], "ops-1", "{one}");

    // A viewer reads the page but is offered nothing to change.
    browser.submit("#logout");
    log_in(&viewer);
    browser.open(&format!("{base}/console/recon?date={date}"));
    wait_for_text(&browser, "#channel-wechat", "wechat");
    let find = format!("/session/{}/element", browser.session());
    for css in ["#run", "button[id^='resolve-']"] {
        assert!(
            browser
                .try_call(
                    "POST",
                    &find,
                    Some(json!({"using": "css selector", "value": css}))
                )
                .is_err(),
            "a viewer sees {css}"
        );
    }
}

/// Waits until the element exists and its text contains `text`.
fn wait_for_text(browser: &support::browser::Browser, css: &str, text: &str) {
    let started = Instant::now();
    let find = format!("/session/{}/element", browser.session());
    loop {
        let found = browser
            .try_call(
                "POST",
                &find,
                Some(json!({"using": "css selector", "value": css})),
            )
            .is_ok();
        if found && browser.text(css).contains(text) {
            return;
        }
        assert!(
            started.elapsed() < WAIT_MAX,
            "the page never showed {text:?} in {css}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A 短款 the channel never had (a success the platform learnt from a callback the channel
/// took back) is reversed in the books after the channel is asked again; one the channel did
/// have is resolved by asking. A bill not published blocks the day-end, or, configured to
/// warn, lets it go on saying so.
#[test]
fn a_short_is_reversed_or_resolved_by_asking_and_a_missing_bill_blocks_or_warns() {
    clear_of_midnight_in_beijing();
    let mut shop = Shop::new("recon-short", Timings::default());
    let admin = shop.dir.operator("admin-1", "admin");
    let op = shop.operator.clone();
    let date = format_beijing(now_ms())[..10].to_string();
    let end = beijing_date_end(&date).unwrap_or(0);
    assert!(
        end - now_ms() > 5 * 60_000,
        "too close to midnight in Beijing for this test's day: run it again in a few minutes"
    );
    // Never paid at the channel; a signed SUCCESS callback reaches the platform anyway.
    let never = shop.order("s-never", 4_200, "wechat");
    shop.sim("wechat").callback(&never, "SUCCESS", Some(4_200));
    shop.wait_for(&never, "paid", |o| o["state"] == "succeeded");
    // Paid at the channel, but the bill leaves it out.
    let missing = shop.order("s-missing", 1_300, "wechat");
    pay(&shop, "wechat", &missing, true);
    script(&shop, "wechat", &date, json!({"drop": [missing]}));

    let run = ok(
        shop.addr(),
        &op,
        "POST",
        "/v1/recon/runs",
        &json!({"channel": "wechat", "date": date}).to_string(),
    );
    let id_of = |order: &str| {
        run["differences"]
            .as_array()
            .and_then(|d| d.iter().find(|d| d["key"] == format!("payment {order}")))
            .and_then(|d| d["id"].as_i64())
            .unwrap_or_else(|| panic!("no difference of {order}: {run}"))
    };
    let (never_id, missing_id) = (id_of(&never), id_of(&missing));
    let resolve = |id: i64, action: &str| {
        send(
            shop.addr(),
            &op,
            "POST",
            &format!("/v1/recon/differences/{id}/resolve"),
            &json!({"action": action, "note": "asked the channel"}).to_string(),
        )
    };
    // The channel has the one the bill left out: it is not reversed, asking resolves it.
    let (status, refused) = resolve(missing_id, "reverse");
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (422, Some("action_not_allowed"))
    );
    let (status, asked) = resolve(missing_id, "query_channel");
    assert_eq!(
        (status, asked["state"].as_str()),
        (200, Some("resolved_operator")),
        "{asked}"
    );
    // The channel never had the other: the payment and its fee are booked back.
    let merchant = shop.account(suanpan_gateway::booking::merchant_account_id(
        shop_owner(&shop, &never),
        suanpan_ledger::Currency::CNY,
    ));
    let (status, reversed) = resolve(never_id, "reverse");
    assert_eq!(
        (status, reversed["state"].as_str()),
        (200, Some("resolved_operator")),
        "{reversed}"
    );
    let after = shop.account(suanpan_gateway::booking::merchant_account_id(
        shop_owner(&shop, &never),
        suanpan_ledger::Currency::CNY,
    ));
    let net = |v: &Value| {
        let n = |k: &str| {
            v[k].as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0)
        };
        n("credits_posted") - n("debits_posted")
    };
    // The merchant had 4,200 − 25 fee (and 1,300 − 7); now only the second.
    assert_eq!(
        net(&merchant) - net(&after),
        4_200 - 25,
        "{merchant} {after}"
    );
    let (status, again) = resolve(never_id, "reverse");
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (422, Some("action_not_allowed"))
    );

    // Alipay has not published the date's bill: the day-end stops at reconcile.
    script(&shop, "alipay", &date, json!({"withhold": true}));
    ok(shop.addr(), &admin, "POST", "/v1/accounting/cutover", "");
    let target = format!("/v1/accounting/dates/{date}/day-end");
    ok(shop.addr(), &admin, "POST", &target, "");
    let started = Instant::now();
    let failed = loop {
        let s = ok(shop.addr(), &admin, "GET", &target, "");
        if !s["last_error"].is_null() {
            break s;
        }
        assert_ne!(
            s["state"], "complete",
            "the day-end went on without the bill: {s}"
        );
        assert!(started.elapsed() < WAIT_MAX, "{s}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        failed["last_error"]["code"], "bill_not_published",
        "{failed}"
    );
    // Published: the rerun completes.
    script(&shop, "alipay", &date, json!({}));
    ok(shop.addr(), &admin, "POST", &target, "");
    let started = Instant::now();
    while ok(shop.addr(), &admin, "GET", &target, "")["state"] != "complete" {
        assert!(started.elapsed() < WAIT_MAX, "the rerun never completed");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Configured to warn, the next date's day-end goes on without the bill, saying so.
    let next = next_date(&date);
    script(&shop, "wechat", &next, json!({"withhold": true}));
    shop.start_with(&["--recon-missing-bill", "warn"]);
    let status = close_day(shop.addr(), &admin, &next);
    let summary = status["steps"][0]["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("wechat: bill not published"), "{status}");
}

/// The owner number of an order's merchant.
fn shop_owner(shop: &Shop, order: &str) -> u64 {
    let transfer = payment_transfer(order);
    let r = Request::get(&format!("/v1/transfers/{transfer}"))
        .bearer(&shop.operator)
        .send(shop.addr());
    let credit: u128 = r.json()["credit_account_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{}", r.text()));
    // The merchant's account id carries its owner in bits 24..88.
    ((credit >> 24) & u128::from(u64::MAX)) as u64
}
