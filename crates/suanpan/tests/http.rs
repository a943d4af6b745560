//! End-to-end tests of the HTTP API: a real `suanpan serve` process on a fresh data
//! directory, real credentials from `suanpan credentials`, real HTTP over loopback. Each test
//! states something about money: what moves, what is refused, and that a refused request
//! leaves the books as they were.

#[allow(dead_code)] // the shared support serves other test binaries too
mod support;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::books::{account, assert_error, balances, fen, open_account, transfer_json, Bank};
use support::client::{now_s, read_answer, ApiKey, Request, Response};
use support::server::{DataDir, Server};
use support::tls::{make_certificates, send_tls, tls_client};

/// The batch endpoint's limit (the ledger's commands per batch).
const BATCH_TRANSFERS_MAX: usize = 8_190;
/// The server's default body limit, 4 MiB.
const BODY_BYTES_MAX: usize = 4 << 20;

// ---------------------------------------------------------------------------------------
// Every endpoint
// ---------------------------------------------------------------------------------------

#[test]
fn one_transfer_moves_money_once_and_reads_back() {
    let bank = Bank::new("one-transfer");
    bank.open(1, &[]);
    bank.open(2, &["debits_must_not_exceed_credits"]);

    // Opening the same account again answers 200 with it; with other fields, 409.
    let again = bank.post(
        "/v1/accounts",
        r#"{"id":"2","currency":"CNY","subject_code":"2241.01","flags":["debits_must_not_exceed_credits"]}"#,
    );
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["id"], "2");
    let other = bank.post(
        "/v1/accounts",
        r#"{"id":"2","currency":"USD","subject_code":"2241.01","flags":["debits_must_not_exceed_credits"]}"#,
    );
    assert_error(
        &other,
        409,
        "exists_with_different_currency",
        None,
        "reopen as USD",
    );

    let opened = bank.account(2);
    assert_eq!(opened["status"], "active");
    assert_eq!(opened["currency"], "CNY");
    assert_eq!(opened["subject_code"], "2241.01");
    assert_eq!(opened["owner"], "1");
    assert_eq!(balances(&opened), [0, 0, 0, 0, 0]);

    let paid = bank.pay(100, 1, 2, 12_345);
    assert_eq!(paid.status, 201, "{}", paid.text());
    assert_eq!(
        paid.json(),
        serde_json::json!({"id": "100", "result": "ok"})
    );
    // The same transfer again is recognised, not booked twice.
    let repeated = bank.pay(100, 1, 2, 12_345);
    assert_eq!(repeated.status, 200, "{}", repeated.text());
    assert_eq!(repeated.json()["result"], "exists");
    let changed = bank.pay(100, 1, 2, 99);
    assert_error(
        &changed,
        409,
        "exists_with_different_amount",
        None,
        "same id, other amount",
    );

    assert_eq!(balances(&bank.account(1)), [12_345, 0, 0, 0, -12_345]);
    assert_eq!(balances(&bank.account(2)), [0, 12_345, 0, 0, 12_345]);

    // The books refuse what account 2 does not have, and nothing moves.
    let overdraw = bank.pay(101, 2, 1, 12_346);
    assert_error(&overdraw, 422, "exceeds_credits", None, "overdraw");
    assert_eq!(balances(&bank.account(2)), [0, 12_345, 0, 0, 12_345]);

    let read = bank.get("/v1/transfers/100");
    assert_eq!(read.status, 200, "{}", read.text());
    let t = read.json();
    assert_eq!(t["id"], "100");
    assert_eq!(t["debit_account_id"], "1");
    assert_eq!(t["credit_account_id"], "2");
    assert_eq!(t["amount"], "12345");
    assert_eq!(t["currency"], "CNY");
    assert_eq!(t["kind"], "posted");
    assert_eq!(t["linked"], false);
    assert!(t["timestamp"].as_str().is_some_and(|s| s.ends_with('Z')));
    assert!(t["accounting_date"].as_str().is_some_and(|s| s.len() == 10));
    assert_error(
        &bank.get("/v1/transfers/101"),
        404,
        "transfer_not_found",
        Some("id"),
        "a refused transfer is not in the books",
    );

    // A reference of up to 64 bytes of UTF-8 comes back exactly; 66 bytes are refused.
    let reference = format!("{}\\u0000", "工".repeat(20));
    let with_reference = transfer_json(102, 1, 2, 1).replace(
        r#""currency""#,
        &format!(r#""reference":"{reference}","code":7,"currency""#),
    );
    let r = bank.post("/v1/transfers", &with_reference);
    assert_eq!(r.status, 201, "{}", r.text());
    let t = bank.get("/v1/transfers/102").json();
    assert_eq!(t["reference"], format!("{}\0", "工".repeat(20)));
    assert_eq!(t["code"], 7);
    let too_long = transfer_json(103, 1, 2, 1).replace(
        r#""currency""#,
        &format!(r#""reference":"{}","currency""#, "工".repeat(22)),
    );
    assert_error(
        &bank.post("/v1/transfers", &too_long),
        400,
        "invalid_value",
        Some("reference"),
        "a reference of 66 bytes",
    );
}

#[test]
fn customer_and_merchant_accounts_cannot_be_overdrawn_unless_asked() {
    let bank = Bank::new("overdraft-default");
    let open = |body: &str| bank.post("/v1/accounts", body);
    // Opened with no flags: a customer's and a merchant's account get the limit.
    for (id, subject) in [(1, "2241.01"), (2, "2241.02")] {
        let r = open(&format!(
            r#"{{"id":"{id}","currency":"CNY","subject_code":"{subject}"}}"#
        ));
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(
            r.json()["flags"],
            serde_json::json!(["debits_must_not_exceed_credits"])
        );
    }
    // Asked for: an overdraft; a bank's own deposit account (an asset) takes the flags given.
    let r = open(r#"{"id":"3","currency":"CNY","subject_code":"2241.01","overdraft":true}"#);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["flags"], serde_json::json!([]));
    let r = open(r#"{"id":"4","currency":"CNY","subject_code":"1002"}"#);
    assert_eq!(r.json()["flags"], serde_json::json!([]));
    // Both at once contradict each other.
    let both = open(
        r#"{"id":"5","currency":"CNY","subject_code":"2241.01","overdraft":true,"flags":["debits_must_not_exceed_credits"]}"#,
    );
    assert_error(
        &both,
        400,
        "invalid_value",
        Some("overdraft"),
        "overdraft and the limit",
    );
    assert_eq!(bank.get("/v1/accounts/5").status, 404, "nothing opened");

    // Money moves: the overdrawn one is the one that asked; the others refuse past zero.
    for (id, debit) in [(10, 1), (11, 2)] {
        let r = bank.pay(id, debit, 4, 1);
        assert_eq!(r.status, 422, "{}", r.text());
        assert_eq!(r.error().0, "exceeds_credits", "{}", r.text());
    }
    assert_eq!(bank.pay(12, 3, 1, 500).status, 201);
    assert_eq!(bank.pay(13, 1, 4, 500).status, 201, "its own money moves");
    assert_eq!(bank.pay(14, 1, 4, 1).status, 422, "and not a fen more");
    assert_eq!(account(bank.addr(), &bank.key, 3)["credit_balance"], "-500");
}

#[test]
fn a_batch_answers_each_transfer_in_order_and_a_linked_chain_is_all_or_nothing() {
    let bank = Bank::new("batch");
    bank.open(1, &[]);
    bank.open(2, &["debits_must_not_exceed_credits"]);
    let linked = |id: u128, debit: u128, credit: u128, amount: u64| {
        transfer_json(id, debit, credit, amount).replace("}", r#","linked":true}"#)
    };
    let body = format!(
        r#"{{"transfers":[{},{},{},{}]}}"#,
        transfer_json(200, 1, 2, 10),
        linked(201, 1, 2, 5),
        // Account 2 cannot pay this, so its chain with 201 fails whole.
        transfer_json(202, 2, 1, 1_000_000),
        transfer_json(203, 1, 2, 7),
    );
    let r = bank.post("/v1/transfers/batch", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let results: Vec<(u64, String, String)> = v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {v}"))
        .iter()
        .map(|item| {
            (
                item["index"].as_u64().unwrap_or(u64::MAX),
                item["id"].as_str().unwrap_or("").to_string(),
                item["result"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let expected = [
        (0, "200", "ok"),
        (1, "201", "linked_event_failed"),
        (2, "202", "exceeds_credits"),
        (3, "203", "ok"),
    ];
    let expected: Vec<(u64, String, String)> = expected
        .iter()
        .map(|(i, id, res)| (*i, id.to_string(), res.to_string()))
        .collect();
    assert_eq!(results, expected);
    assert_eq!(
        (v["accepted"].as_u64(), v["rejected"].as_u64()),
        (Some(2), Some(2))
    );

    // Only 200 and 203 moved money; the failed chain left no trace.
    assert_eq!(balances(&bank.account(2)), [0, 17, 0, 0, 17]);
    assert_eq!(balances(&bank.account(1)), [17, 0, 0, 0, -17]);
    for id in [201, 202] {
        assert_error(
            &bank.get(&format!("/v1/transfers/{id}")),
            404,
            "transfer_not_found",
            Some("id"),
            "a transfer of the failed chain",
        );
    }
    let chained = bank.get("/v1/transfers/203");
    assert_eq!(chained.json()["amount"], "7");

    // A chain that holds together moves money together.
    let body = format!(
        r#"{{"transfers":[{},{}]}}"#,
        linked(210, 1, 2, 100),
        transfer_json(211, 2, 1, 30)
    );
    let r = bank.post("/v1/transfers/batch", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["accepted"], 2);
    assert_eq!(bank.get("/v1/transfers/210").json()["linked"], true);
    assert_eq!(balances(&bank.account(2)), [30, 117, 0, 0, 87]);
}

#[test]
fn pending_transfers_post_in_full_in_part_and_void() {
    let bank = Bank::new("pending");
    bank.open(1, &[]);
    bank.open(2, &["debits_must_not_exceed_credits"]);
    let pending = |id: u128, amount: u64| {
        let body = transfer_json(id, 1, 2, amount).replace("}", r#","pending":true}"#);
        let r = bank.post("/v1/transfers", &body);
        assert_eq!(r.status, 201, "pending {id}: {}", r.text());
    };

    pending(300, 50);
    assert_eq!(balances(&bank.account(2)), [0, 0, 0, 50, 0]);
    assert_eq!(bank.get("/v1/transfers/300").json()["kind"], "pending");
    let full = bank.post("/v1/transfers/300/post", r#"{"id":"301"}"#);
    assert_eq!(full.status, 201, "{}", full.text());
    assert_eq!(
        full.json(),
        serde_json::json!({"id": "301", "result": "ok"})
    );
    assert_eq!(balances(&bank.account(2)), [0, 50, 0, 0, 50]);
    let posting = bank.get("/v1/transfers/301").json();
    assert_eq!(posting["kind"], "post_pending");
    assert_eq!(posting["pending_id"], "300");
    assert_eq!(posting["amount"], "50");

    // In part: 15 of 40 posted, the other 25 released.
    pending(310, 40);
    let part = bank.post("/v1/transfers/310/post", r#"{"id":"311","amount":"15"}"#);
    assert_eq!(part.status, 201, "{}", part.text());
    assert_eq!(balances(&bank.account(2)), [0, 65, 0, 0, 65]);
    assert_eq!(balances(&bank.account(1)), [65, 0, 0, 0, -65]);
    let too_much = bank.post("/v1/transfers/310/post", r#"{"id":"312","amount":"1"}"#);
    assert_error(
        &too_much,
        422,
        "pending_transfer_already_posted",
        None,
        "post twice",
    );

    // Voided: the reservation goes, nothing is posted.
    pending(320, 30);
    assert_eq!(balances(&bank.account(1)), [65, 0, 30, 0, -65]);
    let void = bank.post("/v1/transfers/320/void", r#"{"id":"321"}"#);
    assert_eq!(void.status, 201, "{}", void.text());
    assert_eq!(balances(&bank.account(1)), [65, 0, 0, 0, -65]);
    assert_eq!(bank.get("/v1/transfers/321").json()["kind"], "void_pending");
    let post_voided = bank.post("/v1/transfers/320/post", r#"{"id":"322"}"#);
    assert_error(
        &post_voided,
        422,
        "pending_transfer_already_voided",
        None,
        "post after void",
    );
    // A reservation with a deadline: once it has passed, the money is free again and the
    // pending transfer can no longer be posted.
    let expiring =
        transfer_json(330, 1, 2, 20).replace('}', r#","pending":true,"timeout_ms":1000}"#);
    let r = bank.post("/v1/transfers", &expiring);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(bank.get("/v1/transfers/330").json()["timeout_ms"], 1000);
    assert_eq!(balances(&bank.account(2)), [0, 65, 0, 20, 65]);
    std::thread::sleep(Duration::from_millis(1_500));
    let late = bank.post("/v1/transfers/330/post", r#"{"id":"331"}"#);
    assert_error(
        &late,
        422,
        "pending_transfer_expired",
        None,
        "post after the deadline",
    );
    assert_eq!(balances(&bank.account(2)), [0, 65, 0, 0, 65]);

    let unknown = bank.post("/v1/transfers/999/void", r#"{"id":"323"}"#);
    assert_error(
        &unknown,
        404,
        "transfer_not_found",
        Some("id"),
        "void of nothing",
    );
    assert_eq!(balances(&bank.account(2)), [0, 65, 0, 0, 65]);
}

#[test]
fn an_account_with_money_cannot_close_and_a_closed_one_takes_none() {
    let bank = Bank::new("close");
    bank.open(1, &[]);
    bank.open(2, &[]);
    bank.open(3, &[]);
    assert_eq!(bank.pay(400, 1, 2, 10).status, 201);
    let refused = bank.post("/v1/accounts/2/close", "");
    assert_error(
        &refused,
        422,
        "account_has_balance",
        None,
        "close with money",
    );
    assert_eq!(bank.account(2)["status"], "active");

    let closed = bank.post("/v1/accounts/3/close", "");
    assert_eq!(closed.status, 200, "{}", closed.text());
    assert_eq!(
        closed.json(),
        serde_json::json!({"id": "3", "result": "ok"})
    );
    assert_eq!(bank.account(3)["status"], "closed");
    assert_error(
        &bank.pay(401, 1, 3, 10),
        422,
        "credit_account_closed",
        None,
        "pay a closed account",
    );
    assert_eq!(balances(&bank.account(3)), [0, 0, 0, 0, 0]);
}

/// Pays `count` transfers of 1, 2, 3, ... fen from 1 to 2 one request each (so each has its
/// own timestamp), returning their timestamps in order.
fn pay_in_turn(bank: &Bank, first_id: u128, count: u64) -> Vec<String> {
    let mut stamps = Vec::new();
    for i in 0..count {
        let id = first_id + u128::from(i);
        assert_eq!(bank.pay(id, 1, 2, i + 1).status, 201);
        let t = bank.get(&format!("/v1/transfers/{id}")).json();
        stamps.push(t["timestamp"].as_str().unwrap_or("").to_string());
    }
    stamps
}

fn page_ids(v: &Value) -> Vec<String> {
    v["transfers"]
        .as_array()
        .unwrap_or_else(|| panic!("no transfers in {v}"))
        .iter()
        .map(|t| t["id"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn an_accounts_transfers_page_by_cursor_and_time_range() {
    let bank = Bank::new("history");
    bank.open(1, &[]);
    bank.open(2, &[]);
    bank.open(9, &[]);
    assert_eq!(bank.pay(500, 1, 9, 1).status, 201, "another account's");
    let stamps = pay_in_turn(&bank, 501, 5);
    // Seven more in one batch: they share a journal batch, and paging must still see each.
    let batch: Vec<String> = (0..7).map(|i| transfer_json(510 + i, 1, 2, 1)).collect();
    let r = bank.post(
        "/v1/transfers/batch",
        &format!(r#"{{"transfers":[{}]}}"#, batch.join(",")),
    );
    assert_eq!(r.json()["accepted"], 7, "{}", r.text());

    let mut seen = Vec::new();
    let mut target = "/v1/accounts/2/transfers?limit=3".to_string();
    for _page in 0..10 {
        let v = bank.get(&target).json();
        let ids = page_ids(&v);
        assert!(ids.len() <= 3, "a page is at most its limit");
        seen.extend(ids);
        match v["next_cursor"].as_str() {
            Some(cursor) => target = format!("/v1/accounts/2/transfers?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = (501..506)
        .chain(510..517)
        .map(|id: u128| id.to_string())
        .collect();
    assert_eq!(
        seen, expected,
        "every transfer of account 2 once, oldest first"
    );

    // [from, to): from the 2nd transfer's instant up to (not including) the 5th's.
    let ranged = bank.get(&format!(
        "/v1/accounts/2/transfers?from={}&to={}",
        stamps[1], stamps[4]
    ));
    assert_eq!(ranged.status, 200, "{}", ranged.text());
    assert_eq!(page_ids(&ranged.json()), ["502", "503", "504"]);

    assert_error(
        &bank.get("/v1/accounts/2/transfers?cursor=abc"),
        400,
        "invalid_cursor",
        Some("cursor"),
        "a cursor not from a page",
    );
    assert_error(
        &bank.get("/v1/accounts/2/transfers?limit=0"),
        400,
        "invalid_value",
        Some("limit"),
        "limit 0",
    );
    assert_error(
        &bank.get("/v1/accounts/2/transfers?from=yesterday"),
        400,
        "invalid_time",
        Some("from"),
        "from not a time",
    );
    assert_error(
        &bank.get("/v1/accounts/2/transfers?colour=red"),
        400,
        "unknown_field",
        Some("colour"),
        "unknown query parameter",
    );
}

#[test]
fn the_balance_at_a_past_instant_counts_what_was_posted_by_then() {
    let bank = Bank::new("balance-at");
    bank.open(1, &[]);
    bank.open(2, &[]);
    // Amounts 1, 2, 3, 4: after the k-th transfer account 2 holds k(k+1)/2.
    let stamps = pay_in_turn(&bank, 600, 4);
    let at = |instant: &str| {
        let r = bank.get(&format!("/v1/accounts/2/balance?at={instant}"));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };
    let first_ns = suanpan_api::time::parse_rfc3339(&stamps[0])
        .unwrap_or_else(|| panic!("{} is not RFC 3339", stamps[0]));
    let before = at(&suanpan_api::time::format_ns(first_ns - 1));
    assert_eq!(fen(&before, "credit_balance"), 0);
    assert!(before.get("last_transfer_id").is_none(), "{before}");
    for (k, stamp) in stamps.iter().enumerate() {
        let v = at(stamp);
        let k = k as i128 + 1;
        assert_eq!(
            fen(&v, "credits_posted"),
            k * (k + 1) / 2,
            "after transfer {k}"
        );
        assert_eq!(fen(&v, "credit_balance"), k * (k + 1) / 2);
        assert_eq!(v["last_transfer_id"], (599 + k).to_string());
    }
    let payer = bank
        .get(&format!("/v1/accounts/1/balance?at={}", stamps[1]))
        .json();
    assert_eq!(fen(&payer, "debits_posted"), 3);
    assert_eq!(fen(&payer, "credit_balance"), -3);
    assert_error(
        &bank.get("/v1/accounts/2/balance"),
        400,
        "missing_field",
        Some("at"),
        "no instant",
    );
}

#[test]
fn the_service_endpoints_describe_and_report_the_server() {
    let bank = Bank::new("service");
    bank.open(1, &[]);
    bank.open(2, &[]);
    assert_eq!(bank.pay(700, 1, 2, 5).status, 201);

    let health = Request::get("/healthz").send(bank.addr());
    assert_eq!(
        (health.status, health.json()["status"].clone()),
        (200, "ok".into())
    );
    let ready = Request::get("/readyz").send(bank.addr());
    assert_eq!(
        (ready.status, ready.json()["status"].clone()),
        (200, "ready".into())
    );

    let doc = Request::get("/v1/openapi.json").send(bank.addr());
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/v1/accounts",
        "/v1/accounts/{id}",
        "/v1/accounts/{id}/freeze",
        "/v1/accounts/{id}/unfreeze",
        "/v1/accounts/{id}/close",
        "/v1/accounts/{id}/transfers",
        "/v1/accounts/{id}/balance",
        "/v1/transfers",
        "/v1/transfers/batch",
        "/v1/transfers/{id}",
        "/v1/transfers/{id}/post",
        "/v1/transfers/{id}/void",
        "/v1/audit",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "the document lacks {path}"
        );
    }

    let metrics = Request::get("/metrics").send(bank.addr());
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    let requests = text
        .lines()
        .find(|l| {
            l.starts_with("suanpan_http_requests_total{")
                && l.contains("/v1/transfers")
                && l.contains("status=\"201\"")
        })
        .unwrap_or_else(|| panic!("no count of 201s on the transfers route:\n{text}"));
    let count: u64 = requests
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(count >= 1, "{requests}");
    for name in [
        "suanpan_http_request_duration_seconds_bucket",
        "suanpan_engine_queue_depth",
        "suanpan_engine_batch_size",
        "suanpan_engine_commit_seconds",
        "suanpan_engine_leader",
        "suanpan_journal_committed_seq",
        "suanpan_process_resident_bytes",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}");
    }
    // Capacity: the ledger's tables' fill against the most they hold.
    let gauge = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
    };
    assert_eq!(
        gauge("suanpan_ledger_table_capacity"),
        u64::from(u32::MAX - 1)
    );
    // Two accounts opened and one transfer made here.
    assert!(gauge("suanpan_ledger_accounts") >= 2);
    assert_eq!(gauge("suanpan_ledger_transfers"), 1);
    assert!(gauge("suanpan_process_resident_bytes") > 1 << 20);
    // The journal's file sizes exist only where the journal is a file.
    assert_eq!(
        text.contains("suanpan_journal_bytes"),
        bank.dir.postgres().is_none(),
        "suanpan_journal_bytes on the SQLite journal only"
    );
}

// ---------------------------------------------------------------------------------------
// Every error class: refused with its code and field, and the books unchanged
// ---------------------------------------------------------------------------------------

/// The two accounts' full views and the absence of the probe transfers: what "the books
/// did not change" means here.
fn books(bank: &Bank, probes: &[u128]) -> (Value, Value) {
    for id in probes {
        let r = bank.get(&format!("/v1/transfers/{id}"));
        assert_eq!(r.status, 404, "transfer {id} must not exist: {}", r.text());
    }
    (bank.account(1), bank.account(2))
}

#[test]
fn bad_requests_are_refused_with_code_and_field_and_touch_no_money() {
    let bank = Bank::new("bad-requests");
    bank.open(1, &[]);
    bank.open(2, &[]);
    assert_eq!(bank.pay(800, 1, 2, 1_000).status, 201);
    let probes = [801, 802];
    let before = books(&bank, &probes);
    let good = transfer_json(801, 1, 2, 5);
    let two_to_128 = "340282366920938463463374607431768211456";

    // (what, request body, status, code, field)
    let bodies: Vec<(&str, String, u16, &str, Option<&str>)> = vec![
        (
            "malformed JSON",
            r#"{"id":"801","#.to_string(),
            400,
            "malformed_json",
            None,
        ),
        (
            "trailing garbage",
            format!("{good} x"),
            400,
            "malformed_json",
            None,
        ),
        (
            "not JSON at all",
            "amount=5".into(),
            400,
            "malformed_json",
            None,
        ),
        (
            "unknown field",
            good.replace(r#""currency""#, r#""colour":"red","currency""#),
            400,
            "unknown_field",
            Some("colour"),
        ),
        (
            "amount as a JSON number",
            good.replace(r#""amount":"5""#, r#""amount":5"#),
            400,
            "wrong_type",
            Some("amount"),
        ),
        (
            "amount as a float",
            good.replace(r#""amount":"5""#, r#""amount":5.0"#),
            400,
            "wrong_type",
            Some("amount"),
        ),
        (
            "pending as a string",
            good.replace('}', r#","pending":"yes"}"#),
            400,
            "wrong_type",
            Some("pending"),
        ),
        (
            "missing amount",
            good.replace(r#","amount":"5""#, ""),
            400,
            "missing_field",
            Some("amount"),
        ),
        (
            "missing debit account",
            good.replace(r#""debit_account_id":"1","#, ""),
            400,
            "missing_field",
            Some("debit_account_id"),
        ),
        (
            "id zero",
            good.replace(r#""id":"801""#, r#""id":"0""#),
            400,
            "invalid_id",
            Some("id"),
        ),
        (
            "id not digits",
            good.replace(r#""id":"801""#, r#""id":"80l""#),
            400,
            "invalid_id",
            Some("id"),
        ),
        (
            "id of 2^128",
            good.replace(r#""id":"801""#, &format!(r#""id":"{two_to_128}""#)),
            400,
            "invalid_id",
            Some("id"),
        ),
        (
            "negative account id",
            good.replace(r#""credit_account_id":"2""#, r#""credit_account_id":"-2""#),
            400,
            "invalid_id",
            Some("credit_account_id"),
        ),
        (
            "amount of 2^64",
            good.replace(r#""amount":"5""#, r#""amount":"18446744073709551616""#),
            400,
            "invalid_amount",
            Some("amount"),
        ),
        (
            "negative amount",
            good.replace(r#""amount":"5""#, r#""amount":"-5""#),
            400,
            "invalid_amount",
            Some("amount"),
        ),
        (
            "decimal amount",
            good.replace(r#""amount":"5""#, r#""amount":"5.00""#),
            400,
            "invalid_amount",
            Some("amount"),
        ),
        (
            "lower-case currency",
            good.replace("CNY", "cny"),
            400,
            "invalid_currency",
            Some("currency"),
        ),
        (
            "four-letter currency",
            good.replace("CNY", "CNYY"),
            400,
            "invalid_currency",
            Some("currency"),
        ),
        // Well-formed, but against the rules of the books.
        (
            "amount zero",
            good.replace(r#""amount":"5""#, r#""amount":"0""#),
            422,
            "amount_must_not_be_zero",
            None,
        ),
        (
            "an account paying itself",
            transfer_json(801, 1, 1, 5),
            422,
            "accounts_must_be_different",
            None,
        ),
        (
            "dollars between yuan accounts",
            good.replace("CNY", "USD"),
            422,
            "currency_mismatch",
            None,
        ),
        (
            "id 2^128 - 1",
            good.replace(
                r#""id":"801""#,
                r#""id":"340282366920938463463374607431768211455""#,
            ),
            422,
            "id_must_not_be_int_max",
            None,
        ),
    ];
    for (what, body, status, code, field) in &bodies {
        let r = bank.post("/v1/transfers", body);
        assert_error(&r, *status, code, *field, what);
    }

    // Inside a batch the field names the item.
    let batch = format!(
        r#"{{"transfers":[{},{}]}}"#,
        transfer_json(801, 1, 2, 5),
        transfer_json(802, 1, 2, 5).replace(r#""amount":"5""#, r#""amount":"5x""#)
    );
    assert_error(
        &bank.post("/v1/transfers/batch", &batch),
        400,
        "invalid_amount",
        Some("transfers[1].amount"),
        "a batch with one bad amount is refused whole",
    );
    let empty = bank.post("/v1/transfers/batch", r#"{"transfers":[]}"#);
    assert_error(
        &empty,
        400,
        "too_many_transfers",
        Some("transfers"),
        "empty batch",
    );
    let over: Vec<String> = (0..=BATCH_TRANSFERS_MAX as u128)
        .map(|i| transfer_json(10_000 + i, 1, 2, 1))
        .collect();
    let over = format!(r#"{{"transfers":[{}]}}"#, over.join(","));
    assert!(
        over.len() < BODY_BYTES_MAX,
        "the body limit is not what refuses it"
    );
    assert_error(
        &bank.post("/v1/transfers/batch", &over),
        400,
        "too_many_transfers",
        Some("transfers"),
        "8,191 transfers",
    );

    // Bad ids in the path.
    for target in [
        "/v1/accounts/0",
        "/v1/accounts/abc",
        &format!("/v1/accounts/{two_to_128}"),
        "/v1/transfers/-1",
        &format!("/v1/transfers/{two_to_128}"),
    ] {
        assert_error(&bank.get(target), 400, "invalid_id", Some("id"), target);
    }

    // Routes, methods, content types: refused before any signature is looked at.
    let unknown = Request::get("/v1/nothing").send(bank.addr());
    assert_error(&unknown, 404, "not_found", None, "unknown route");
    let wrong_method = Request::new("DELETE", "/v1/transfers")
        .signed(&bank.key)
        .send(bank.addr());
    assert_error(
        &wrong_method,
        405,
        "method_not_allowed",
        None,
        "DELETE a transfer",
    );
    assert_eq!(
        wrong_method.header("allow"),
        Some("POST"),
        "a 405 names the methods the path takes"
    );
    let put = Request::new("PUT", "/v1/accounts/1").send(bank.addr());
    assert_error(&put, 405, "method_not_allowed", None, "PUT an account");
    assert_eq!(put.header("allow"), Some("GET"));
    // A channel's callback on a node without that channel: a missing endpoint, in JSON.
    let notify = Request::post("/v1/channels/alipay/notify", "trade_status=TRADE_SUCCESS")
        .header("content-type", "application/x-www-form-urlencoded")
        .send(bank.addr());
    assert_error(&notify, 404, "not_found", None, "an unconfigured channel");
    let text = Request::post("/v1/transfers", &good)
        .header("content-type", "text/plain")
        .signed(&bank.key)
        .send(bank.addr());
    assert_error(&text, 415, "unsupported_media_type", None, "text/plain");
    let form = Request::post("/v1/transfers", "id=801")
        .header("content-type", "application/x-www-form-urlencoded")
        .signed(&bank.key)
        .send(bank.addr());
    assert_error(&form, 415, "unsupported_media_type", None, "a form");
    let charset = Request::post("/v1/transfers", &transfer_json(803, 1, 2, 5))
        .header("content-type", "application/json; charset=utf-8")
        .signed(&bank.key)
        .send(bank.addr());
    assert_eq!(
        charset.status,
        201,
        "JSON with a charset: {}",
        charset.text()
    );
    let with_body = Request::get("/v1/accounts/1")
        .body(b"{}")
        .signed(&bank.key)
        .send(bank.addr());
    assert_error(&with_body, 400, "invalid_value", None, "a GET with a body");

    let after = books(&bank, &probes);
    assert_eq!(
        after.0["debits_posted"], "1005",
        "only the good transfer 803 moved money"
    );
    assert_eq!(
        (&before.0["credits_posted"], &before.1["debits_posted"]),
        (&after.0["credits_posted"], &after.1["debits_posted"])
    );
    assert_eq!(before.0["debits_posted"], "1000");
}

#[test]
fn a_body_of_another_json_like_media_type_is_refused() {
    let bank = Bank::new("media-type");
    bank.open(1, &[]);
    bank.open(2, &[]);
    for media_type in ["application/jsonp", "application/json-patch+json"] {
        let r = Request::post("/v1/transfers", &transfer_json(804, 1, 2, 5))
            .header("content-type", media_type)
            .signed(&bank.key)
            .send(bank.addr());
        assert_error(&r, 415, "unsupported_media_type", None, media_type);
    }
    assert_eq!(balances(&bank.account(2)), [0, 0, 0, 0, 0]);
}

/// A body one byte over the limit, of a transfer that would otherwise be good.
fn oversized_transfer(id: u128) -> Vec<u8> {
    let mut body = transfer_json(id, 1, 2, 5).into_bytes();
    let pad = BODY_BYTES_MAX + 1 - body.len();
    body.splice(1..1, std::iter::repeat_n(b' ', pad));
    assert_eq!(body.len(), BODY_BYTES_MAX + 1);
    body
}

#[test]
fn an_oversized_body_is_refused_with_413_declared_or_chunked() {
    let bank = Bank::new("oversized");
    bank.open(1, &[]);
    bank.open(2, &[]);
    let before = books(&bank, &[900, 901]);

    let declared = Request::post("/v1/transfers", "")
        .body(&oversized_transfer(900))
        .signed(&bank.key)
        .send(bank.addr());
    assert_error(
        &declared,
        413,
        "body_too_large",
        None,
        "honest Content-Length",
    );

    let mut chunked = Request::post("/v1/transfers", "")
        .body(&oversized_transfer(901))
        .signed(&bank.key);
    chunked.chunked = true;
    let chunked = chunked.send(bank.addr());
    assert_error(&chunked, 413, "body_too_large", None, "chunked body");

    // Whitespace is JSON: the same body at the limit is a good transfer.
    let mut at_limit = oversized_transfer(902);
    at_limit.remove(1);
    let ok = Request::post("/v1/transfers", "")
        .body(&at_limit)
        .signed(&bank.key)
        .send(bank.addr());
    assert_eq!(ok.status, 201, "{}", ok.text());
    assert_eq!(books(&bank, &[900, 901]).1["credits_posted"], "5");
    assert_eq!(before.1["credits_posted"], "0");
}

#[test]
fn a_full_engine_queue_answers_503_with_retry_after_and_books_nothing_of_it() {
    const SENDERS: u128 = 16;
    const BATCH: u128 = 2_000;
    const ROUNDS_MAX: u128 = 10;
    let dir = DataDir::new("overloaded");
    let key = dir.participant("bank-a");
    let server = Server::start_with(&dir, &["--queue-requests-max", "1"]);
    let addr = server.addr;
    // With one queue slot, the accounts themselves may meet a full queue (the server's own
    // rooms use the engine too): open them as a client would, retrying after 503.
    for id in [1u128, 2] {
        let body = format!(
            r#"{{"id":"{id}","currency":"CNY","subject_code":"2241.01","flags":[],"overdraft":true}}"#
        );
        let mut tries = 0;
        loop {
            let r = Request::post("/v1/accounts", &body).signed(&key).send(addr);
            if r.status == 201 {
                break;
            }
            tries += 1;
            assert!(
                r.status == 503 && tries < 100,
                "opening account {id}: {}",
                r.text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let (mut accepted_batches, mut overloaded) = (0i128, 0);
    for round in 0..ROUNDS_MAX {
        let senders: Vec<_> = (0..SENDERS)
            .map(|sender| {
                let key = key.clone();
                std::thread::spawn(move || {
                    let first = 1_000_000 + (round * SENDERS + sender) * BATCH;
                    let items: Vec<String> = (first..first + BATCH)
                        .map(|id| transfer_json(id, 1, 2, 1))
                        .collect();
                    let body = format!(r#"{{"transfers":[{}]}}"#, items.join(","));
                    let r = Request::post("/v1/transfers/batch", &body)
                        .signed(&key)
                        .send(addr);
                    (first, r)
                })
            })
            .collect();
        for sender in senders {
            let (first, r) = sender
                .join()
                .unwrap_or_else(|_| panic!("a sender panicked"));
            match r.status {
                200 => {
                    assert_eq!(r.json()["accepted"], BATCH as u64, "{}", r.text());
                    accepted_batches += 1;
                }
                503 => {
                    assert_error(&r, 503, "overloaded", None, "a full queue");
                    assert_eq!(r.header("retry-after"), Some("1"));
                    // Read once the history index has caught up with the storm (it answers
                    // 503 index_behind while it is more than 2 s behind).
                    let started = std::time::Instant::now();
                    let absent = loop {
                        let r = Request::get(&format!("/v1/transfers/{first}"))
                            .signed(&key)
                            .send(addr);
                        if r.status != 503 || started.elapsed() > Duration::from_secs(60) {
                            break r;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    };
                    assert_eq!(
                        absent.status,
                        404,
                        "a refused batch booked: {}",
                        absent.text()
                    );
                    overloaded += 1;
                }
                other => panic!("batch answered {other}: {}", r.text()),
            }
        }
        if overloaded > 0 {
            break;
        }
    }
    assert!(
        overloaded > 0,
        "{ROUNDS_MAX} rounds of {SENDERS} batches never filled a queue of one"
    );
    println!("{accepted_batches} batches accepted, {overloaded} refused as overload");
    let credited = fen(&account(addr, &key, 2), "credits_posted");
    assert_eq!(
        credited,
        accepted_batches * BATCH as i128,
        "only accepted batches moved money"
    );
}

// ---------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------

#[test]
fn a_request_not_signed_by_the_key_holder_moves_nothing() {
    let bank = Bank::new("signatures");
    bank.open(1, &[]);
    bank.open(2, &[]);
    let before = books(&bank, &[1_000]);
    let addr = bank.addr();
    let body = transfer_json(1_000, 1, 2, 5);
    let signed = Request::post("/v1/transfers", &body).signed(&bank.key);

    let unsigned = Request::post("/v1/transfers", &body).send(addr);
    assert_error(&unsigned, 401, "signature_missing", None, "no headers");
    for header in [
        "x-suanpan-key",
        "x-suanpan-timestamp",
        "x-suanpan-nonce",
        "x-suanpan-signature",
    ] {
        let r = signed.clone().without_header(header).send(addr);
        assert_error(&r, 401, "signature_missing", None, header);
    }

    let thief = ApiKey {
        key_id: bank.key.key_id.clone(),
        secret: "0".repeat(128),
    };
    let mut altered = signed.clone();
    altered.body = transfer_json(1_000, 1, 2, 5_000).into_bytes();
    let mut repathed = Request::get("/v1/accounts/1").signed(&bank.key);
    repathed.target = "/v1/accounts/2".into();
    let mut requeried = Request::get("/v1/accounts/2/transfers?limit=1").signed(&bank.key);
    requeried.target = "/v1/accounts/2/transfers?limit=2".into();
    let mut remethod = Request::post("/v1/accounts/2/close", "").signed(&bank.key);
    remethod.method = "GET".into();
    remethod.target = "/v1/accounts/2".into();
    let tampered = [
        (
            "wrong secret",
            Request::post("/v1/transfers", &body).signed(&thief),
        ),
        ("body altered after signing", altered),
        ("path altered", repathed),
        ("query altered", requeried),
        ("method and path altered", remethod),
    ];
    for (what, request) in &tampered {
        assert_error(
            &request.send(addr),
            401,
            "signature_invalid",
            Some("x-suanpan-signature"),
            what,
        );
    }
    let unknown = ApiKey {
        key_id: "no-such-key".into(),
        secret: bank.key.secret.clone(),
    };
    assert_error(
        &Request::post("/v1/transfers", &body)
            .signed(&unknown)
            .send(addr),
        401,
        "unknown_key",
        Some("x-suanpan-key"),
        "unknown key",
    );

    // ±5 minutes: 301 s away is refused on either side; 290 s is inside.
    for offset in [-301i64, 301, -3_600, 3_600] {
        let ts = (now_s() as i64 + offset).to_string();
        let r = Request::post("/v1/transfers", &body)
            .signed_with(&bank.key, &ts, &support::client::fresh_nonce())
            .send(addr);
        assert_error(
            &r,
            401,
            "timestamp_out_of_window",
            Some("x-suanpan-timestamp"),
            &format!("timestamp {offset} s away"),
        );
    }
    let not_seconds = Request::post("/v1/transfers", &body)
        .signed_with(&bank.key, "yesterday", &support::client::fresh_nonce())
        .send(addr);
    assert_error(
        &not_seconds,
        401,
        "signature_invalid",
        Some("x-suanpan-timestamp"),
        "a timestamp not in seconds",
    );
    let bad_nonce = Request::post("/v1/transfers", &body)
        .signed_with(&bank.key, &now_s().to_string(), "short")
        .send(addr);
    assert_error(
        &bad_nonce,
        401,
        "signature_invalid",
        Some("x-suanpan-nonce"),
        "a nonce too short",
    );
    assert_eq!(
        books(&bank, &[1_000]),
        before,
        "no refused signature moved money"
    );

    // A forged request does not spend the nonce it carries: the holder's own request with
    // that nonce, 290 s old and so inside the window, still goes through.
    let nonce = support::client::fresh_nonce();
    let inside = (now_s() - 290).to_string();
    let forged = Request::post("/v1/transfers", &body)
        .signed_with(&thief, &inside, &nonce)
        .send(addr);
    assert_eq!(forged.status, 401, "{}", forged.text());
    let late_but_fine = Request::post("/v1/transfers", &body)
        .signed_with(&bank.key, &inside, &nonce)
        .send(addr);
    assert_eq!(late_but_fine.status, 201, "{}", late_but_fine.text());
}

#[test]
fn a_replayed_request_is_refused_and_applied_once() {
    let bank = Bank::new("replay");
    bank.open(1, &[]);
    bank.open(2, &[]);
    let captured =
        Request::post("/v1/transfers", &transfer_json(1_100, 1, 2, 700)).signed(&bank.key);
    let first = captured.send(bank.addr());
    assert_eq!(first.status, 201, "{}", first.text());
    let replay = captured.send(bank.addr());
    assert_error(
        &replay,
        401,
        "nonce_replayed",
        Some("x-suanpan-nonce"),
        "the same request again",
    );
    // The nonce is spent even for another, correctly signed request.
    let nonce = captured
        .headers
        .iter()
        .find(|(n, _)| n == "x-suanpan-nonce")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let reused = Request::post("/v1/transfers", &transfer_json(1_101, 1, 2, 700))
        .signed_with(&bank.key, &now_s().to_string(), &nonce)
        .send(bank.addr());
    assert_error(
        &reused,
        401,
        "nonce_replayed",
        Some("x-suanpan-nonce"),
        "nonce reused",
    );
    assert_eq!(balances(&bank.account(2)), [0, 700, 0, 0, 700]);
    assert_eq!(bank.get("/v1/transfers/1101").status, 404);
}

#[test]
fn a_request_replayed_after_a_restart_is_refused() {
    let dir = DataDir::new("replay-restart");
    let key = dir.participant("bank-a");
    let mut server = Server::start(&dir);
    open_account(server.addr, &key, 1, &[]);
    open_account(server.addr, &key, 2, &[]);
    let captured = Request::post("/v1/transfers", &transfer_json(1_150, 1, 2, 700)).signed(&key);
    assert_eq!(captured.send(server.addr).status, 201);
    server.terminate();
    assert!(server.wait_exit().success());
    drop(server);
    let server = Server::start(&dir);
    let replay = captured.send(server.addr);
    assert_eq!(
        balances(&account(server.addr, &key, 2)),
        [0, 700, 0, 0, 700],
        "applied once whatever the answer"
    );
    // A clean stop saves the spent nonces for the next process.
    assert_error(
        &replay,
        401,
        "nonce_replayed",
        Some("x-suanpan-nonce"),
        "the captured request after a restart",
    );
}

#[test]
fn a_revoked_key_is_refused_within_the_cache_time() {
    let bank = Bank::new("revoke");
    bank.open(1, &[]);
    bank.open(2, &[]);
    assert_eq!(bank.pay(1_200, 1, 2, 1).status, 201);
    bank.dir.credentials(&["revoke", "--key", &bank.key.key_id]);
    // The server trusts a looked-up key for 5 s; give it three times that.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut id = 1_201;
    let refused = loop {
        let r = bank.pay(id, 1, 2, 1);
        if r.status != 201 {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the revoked key still works after 15 s"
        );
        id += 1;
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_error(
        &refused,
        401,
        "unknown_key",
        Some("x-suanpan-key"),
        "revoked key",
    );
    let refused_id = id;
    // Read with an operator: the refused transfer is not in the books.
    let viewer = bank.dir.operator("auditor", "viewer");
    let r = Request::get(&format!("/v1/transfers/{refused_id}"))
        .bearer(&viewer)
        .send(bank.addr());
    assert_error(
        &r,
        404,
        "transfer_not_found",
        Some("id"),
        "refused transfer",
    );
    let paid = Request::get("/v1/accounts/2")
        .bearer(&viewer)
        .send(bank.addr());
    let accepted = (refused_id - 1_200) as i128;
    assert_eq!(balances(&paid.json()), [0, accepted, 0, 0, accepted]);
}

#[test]
fn a_revoked_operator_token_is_refused_within_the_cache_time() {
    let bank = Bank::new("revoke-operator");
    bank.open(1, &[]);
    let viewer = bank.dir.operator("auditor", "viewer");
    let read = || {
        Request::get("/v1/accounts/1")
            .bearer(&viewer)
            .send(bank.addr())
    };
    assert_eq!(read().status, 200);
    bank.dir.credentials(&["revoke", "--operator", "auditor"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let refused = loop {
        let r = read();
        if r.status != 200 {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the revoked token still works after 15 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_error(
        &refused,
        401,
        "token_invalid",
        None,
        "revoked operator token",
    );
}

/// The bytes of a file and of its write-ahead log, if any.
fn file_and_wal(path: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap_or_default();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    bytes.extend(std::fs::read(&wal).unwrap_or_default());
    bytes
}

/// Everything the access room keeps: `access.db` and its WAL, or on PostgreSQL its tables as
/// text.
fn stored_credentials(dir: &DataDir) -> Vec<u8> {
    let Some(url) = dir.postgres() else {
        return file_and_wal(&dir.path().join("access.db"));
    };
    let tables = [
        "access_participants",
        "access_api_keys",
        "access_operator_tokens",
        "access_audit_log",
    ];
    let sql = tables
        .map(|t| format!("SELECT r::text FROM {t} r"))
        .join(" UNION ALL ");
    suanpan_journal::postgres::query_text(&url, &sql)
        .unwrap_or_else(|e| panic!("{e}"))
        .concat()
        .join("\n")
        .into_bytes()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn secrets_and_tokens_are_neither_logged_nor_stored() {
    let dir = DataDir::new("secrets");
    let key = dir.participant("bank-a");
    let token = dir.operator("ada", "admin");
    let log = dir.path().join("serve.log");
    let mut server = Server::start_logged(&dir, &["--log-level", "debug"], &log);
    let addr = server.addr;
    open_account(addr, &key, 1, &[]);
    open_account(addr, &key, 2, &[]);
    let paid = Request::post("/v1/transfers", &transfer_json(1_600, 1, 2, 5))
        .signed(&key)
        .send(addr);
    assert_eq!(paid.status, 201, "{}", paid.text());
    let read = Request::get("/v1/audit").bearer(&token).send(addr);
    assert_eq!(read.status, 200, "{}", read.text());
    let wrong = format!("{token}0");
    let refused = Request::get("/v1/audit").bearer(&wrong).send(addr);
    assert_eq!(refused.status, 401);
    server.terminate();
    assert!(server.wait_exit().success());

    let log_bytes = std::fs::read(&log).unwrap_or_default();
    assert!(
        contains(&log_bytes, "/v1/transfers"),
        "the debug log names requests"
    );
    let stored = stored_credentials(&dir);
    assert!(
        contains(&stored, &key.key_id),
        "the key id is stored as it is"
    );
    for (what, secret) in [
        ("API secret", &key.secret),
        ("operator token", &token),
        ("wrong token", &wrong),
    ] {
        assert!(!contains(&log_bytes, secret), "the {what} is in the log");
        assert!(
            !contains(&stored, secret),
            "the {what} is stored in access.db"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Participants see and move only their own accounts
// ---------------------------------------------------------------------------------------

#[test]
fn another_participant_cannot_see_or_move_a_participants_money() {
    let bank = Bank::new("cross");
    let b = bank.dir.participant("bank-b");
    let addr = bank.addr();
    bank.open(1, &[]);
    bank.open(2, &[]);
    bank.open(3, &[]);
    open_account(addr, &b, 50, &[]);
    assert_eq!(bank.pay(1_300, 1, 2, 1_000).status, 201);
    let pending = transfer_json(1_301, 1, 2, 40).replace('}', r#","pending":true}"#);
    assert_eq!(bank.post("/v1/transfers", &pending).status, 201);
    let before = (bank.account(1), bank.account(2), bank.account(3));
    let as_b = |r: Request| r.signed(&b).send(addr);

    let batch = format!(r#"{{"transfers":[{}]}}"#, transfer_json(1_312, 2, 50, 1));
    // (what B tries, the request, the code and field of the 404)
    let tries = [
        (
            "read",
            Request::get("/v1/accounts/2"),
            "account_not_found",
            "id",
        ),
        (
            "list",
            Request::get("/v1/accounts/2/transfers"),
            "account_not_found",
            "id",
        ),
        (
            "balance at",
            Request::get("/v1/accounts/2/balance?at=2030-01-01T00:00:00Z"),
            "account_not_found",
            "id",
        ),
        (
            "move money from A",
            Request::post("/v1/transfers", &transfer_json(1_310, 2, 50, 1)),
            "account_not_found",
            "debit_account_id",
        ),
        (
            "move money to A",
            Request::post("/v1/transfers", &transfer_json(1_311, 50, 2, 1)),
            "account_not_found",
            "credit_account_id",
        ),
        (
            "a batch from A",
            Request::post("/v1/transfers/batch", &batch),
            "account_not_found",
            "transfers[0].debit_account_id",
        ),
        (
            "close",
            Request::post("/v1/accounts/3/close", ""),
            "account_not_found",
            "id",
        ),
        (
            "read A's transfer",
            Request::get("/v1/transfers/1300"),
            "transfer_not_found",
            "id",
        ),
        (
            "post A's pending",
            Request::post("/v1/transfers/1301/post", r#"{"id":"1313"}"#),
            "transfer_not_found",
            "id",
        ),
        (
            "void A's pending",
            Request::post("/v1/transfers/1301/void", r#"{"id":"1314"}"#),
            "transfer_not_found",
            "id",
        ),
    ];
    for (what, request, code, field) in tries {
        assert_error(&as_b(request), 404, code, Some(field), what);
    }
    // B cannot open an account in A's name, nor take over an id A uses.
    let in_a_name = as_b(Request::post(
        "/v1/accounts",
        r#"{"id":"60","currency":"CNY","subject_code":"2241.01","owner":"1","overdraft":true}"#,
    ));
    assert_error(
        &in_a_name,
        403,
        "forbidden",
        Some("owner"),
        "open in A's name",
    );
    let taken = as_b(Request::post(
        "/v1/accounts",
        r#"{"id":"2","currency":"CNY","subject_code":"2241.01","overdraft":true}"#,
    ));
    assert_eq!(taken.status, 409, "A's id for B: {}", taken.text());
    assert_ne!(taken.json()["error"]["code"], "exists");

    assert_eq!(
        (bank.account(1), bank.account(2), bank.account(3)),
        before,
        "A's books did not change"
    );
    assert_eq!(bank.get("/v1/transfers/1301").json()["kind"], "pending");
    for id in [1_310, 1_311, 1_312, 1_313, 1_314] {
        assert_eq!(bank.get(&format!("/v1/transfers/{id}")).status, 404);
    }
    assert_eq!(balances(&account(addr, &b, 50)), [0, 0, 0, 0, 0]);
}

#[test]
fn a_participant_reads_every_transfer_that_touches_its_accounts() {
    let bank = Bank::new("own-transfers");
    let b = bank.dir.participant("bank-b");
    let operator = bank.dir.operator("otto", "operator");
    let addr = bank.addr();
    bank.open(1, &[]);
    open_account(addr, &b, 50, &[]);
    // A settlement between two participants' accounts, made by an operator.
    let settled = Request::post("/v1/transfers", &transfer_json(1_500, 1, 50, 9))
        .bearer(&operator)
        .send(addr);
    assert_eq!(settled.status, 201, "{}", settled.text());
    let listed = page_ids(&bank.get("/v1/accounts/1/transfers").json());
    assert_eq!(listed, ["1500"], "A lists it among account 1's transfers");
    for (who, key) in [("A", &bank.key), ("B", &b)] {
        let r = Request::get("/v1/transfers/1500").signed(key).send(addr);
        assert_eq!(
            r.status,
            200,
            "{who} reads the transfer on its account: {}",
            r.text()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Operators: roles and the audit log
// ---------------------------------------------------------------------------------------

fn audit_entries(addr: SocketAddr, admin: &str) -> Vec<(String, String, String, String)> {
    let mut entries = Vec::new();
    let mut target = "/v1/audit?limit=2".to_string();
    for _page in 0..100 {
        let r = Request::get(&target).bearer(admin).send(addr);
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        for e in v["entries"].as_array().unwrap_or_else(|| panic!("{v}")) {
            let text = |k: &str| e[k].as_str().unwrap_or("").to_string();
            entries.push((
                text("operator"),
                text("action"),
                text("target"),
                text("outcome"),
            ));
        }
        match v["next_cursor"].as_str() {
            Some(c) => target = format!("/v1/audit?limit=2&cursor={c}"),
            None => return entries,
        }
    }
    panic!("the audit log never ended");
}

#[test]
fn operators_act_by_role_and_every_action_is_audited() {
    let bank = Bank::new("operators");
    let addr = bank.addr();
    let viewer = bank.dir.operator("vera", "viewer");
    let operator = bank.dir.operator("otto", "operator");
    let admin = bank.dir.operator("ada", "admin");
    bank.open(1, &[]);
    bank.open(2, &[]);
    assert_eq!(bank.pay(1_400, 1, 2, 100).status, 201);

    // A viewer reads anyone's accounts and transfers, and changes nothing.
    let read = Request::get("/v1/accounts/2").bearer(&viewer).send(addr);
    assert_eq!(read.status, 200, "{}", read.text());
    assert_eq!(fen(&read.json(), "credits_posted"), 100);
    assert_eq!(
        Request::get("/v1/transfers/1400")
            .bearer(&viewer)
            .send(addr)
            .status,
        200
    );
    let frozen_by_viewer = Request::post("/v1/accounts/2/freeze", "")
        .bearer(&viewer)
        .send(addr);
    assert_error(&frozen_by_viewer, 403, "forbidden", None, "viewer freezes");
    assert_eq!(bank.account(2)["status"], "active");
    let viewer_pays = Request::post("/v1/transfers", &transfer_json(1_401, 1, 2, 1))
        .bearer(&viewer)
        .send(addr);
    assert_error(&viewer_pays, 403, "forbidden", None, "viewer moves money");
    let viewer_closes = Request::post("/v1/accounts/2/close", "")
        .bearer(&viewer)
        .send(addr);
    assert_error(&viewer_closes, 403, "forbidden", None, "viewer closes");
    let participant_freezes = bank.post("/v1/accounts/2/freeze", "");
    assert_error(
        &participant_freezes,
        403,
        "forbidden",
        None,
        "a participant freezes its own account",
    );

    // An operator freezes: no money moves in or out until unfrozen.
    let frozen = Request::post("/v1/accounts/2/freeze", "")
        .bearer(&operator)
        .send(addr);
    assert_eq!(frozen.status, 200, "{}", frozen.text());
    assert_eq!(bank.account(2)["status"], "frozen");
    assert_error(
        &bank.pay(1_402, 1, 2, 1),
        422,
        "credit_account_frozen",
        None,
        "pay a frozen account",
    );
    let again = Request::post("/v1/accounts/2/freeze", "")
        .bearer(&operator)
        .send(addr);
    assert_eq!(again.status, 422, "{}", again.text());
    let unfrozen = Request::post("/v1/accounts/2/unfreeze", "")
        .bearer(&operator)
        .send(addr);
    assert_eq!(unfrozen.status, 200, "{}", unfrozen.text());
    assert_eq!(bank.pay(1_403, 1, 2, 1).status, 201);
    assert_eq!(fen(&bank.account(2), "credits_posted"), 101);

    // An operator opens an account for a participant and makes an adjustment into it.
    let opened = Request::post(
        "/v1/accounts",
        r#"{"id":"70","currency":"CNY","subject_code":"2241.01","owner":"1","overdraft":true}"#,
    )
    .bearer(&operator)
    .send(addr);
    assert_eq!(opened.status, 201, "{}", opened.text());
    assert_eq!(opened.json()["owner"], "1");
    let adjusted = Request::post("/v1/transfers", &transfer_json(1_404, 2, 70, 5))
        .bearer(&operator)
        .send(addr);
    assert_eq!(adjusted.status, 201, "{}", adjusted.text());
    assert_eq!(balances(&bank.account(70)), [0, 5, 0, 0, 5]);

    // Only an admin reads the audit log.
    for (who, token) in [("viewer", &viewer), ("operator", &operator)] {
        let r = Request::get("/v1/audit").bearer(token).send(addr);
        assert_error(
            &r,
            403,
            "forbidden",
            None,
            &format!("{who} reads the audit log"),
        );
    }
    let participant = Request::get("/v1/audit").signed(&bank.key).send(addr);
    assert_error(
        &participant,
        403,
        "forbidden",
        None,
        "a participant reads the audit log",
    );
    let entries = audit_entries(addr, &admin);
    let by = |who: &str, action: &str, target: &str, outcome: &str| {
        (
            who.to_string(),
            action.to_string(),
            target.to_string(),
            outcome.to_string(),
        )
    };
    let expect = |action: &str, target: &str, outcome: &str| by("otto", action, target, outcome);
    // Refused attempts are operator actions too, and are audited with their refusal.
    let expected = vec![
        by("vera", "freeze_account", "2", "forbidden"),
        by("vera", "create_transfer", "1401", "forbidden"),
        by("vera", "close_account", "2", "forbidden"),
        expect("freeze_account", "2", "requested"),
        expect("freeze_account", "2", "ok"),
        expect("freeze_account", "2", "requested"),
        expect("freeze_account", "2", "account_frozen"),
        expect("unfreeze_account", "2", "requested"),
        expect("unfreeze_account", "2", "ok"),
        expect("create_account", "70", "requested"),
        expect("create_account", "70", "ok"),
        expect("create_transfer", "1404", "requested"),
        expect("create_transfer", "1404", "ok"),
        by("vera", "read_audit_log", "", "forbidden"),
        expect("read_audit_log", "", "forbidden"),
    ];
    assert_eq!(
        entries, expected,
        "every operator action, requested then its outcome"
    );

    // The audit log is append-only where it is kept too.
    match bank.dir.postgres() {
        Some(url) => {
            for sql in [
                "UPDATE access_audit_log SET outcome = 'ok'",
                "DELETE FROM access_audit_log",
                "TRUNCATE access_audit_log",
            ] {
                let done = suanpan_journal::postgres::run_sql(&url, sql);
                assert!(done.is_err(), "{sql} changed the audit log");
            }
        }
        None => {
            let access = rusqlite::Connection::open(bank.dir.path().join("access.db"))
                .unwrap_or_else(|e| panic!("cannot open access.db: {e}"));
            let rewrite = access.execute("UPDATE audit_log SET outcome = 'ok'", []);
            assert!(rewrite.is_err(), "an audit entry was rewritten");
            let erase = access.execute("DELETE FROM audit_log", []);
            assert!(erase.is_err(), "audit entries were deleted");
        }
    }
    assert_eq!(audit_entries(addr, &admin), expected);

    // Bad tokens.
    for auth in ["Bearer not-a-token", "Basic b3R0bzpzZWNyZXQ=", "Bearer "] {
        let r = Request::get("/v1/accounts/2")
            .header("authorization", auth)
            .send(addr);
        assert_error(&r, 401, "token_invalid", None, auth);
    }
}

// ---------------------------------------------------------------------------------------
// Stopping: SIGTERM drains, SIGKILL loses nothing acknowledged
// ---------------------------------------------------------------------------------------

/// What the concurrent clients were told.
#[derive(Default)]
struct Told {
    /// 2xx: (id, credit account, amount).
    acknowledged: Vec<(u128, u128, u64)>,
    /// Answered with an error: must not be in the books.
    refused: Vec<u128>,
    /// No answer (the server went away): may or may not be in the books.
    unanswered: Vec<(u128, u128, u64)>,
}

impl Told {
    fn absorb(&mut self, other: Told) {
        self.acknowledged.extend(other.acknowledged);
        self.refused.extend(other.refused);
        self.unanswered.extend(other.unanswered);
    }
}

const CLIENTS: u128 = 4;
const REQUESTS_PER_CLIENT_MAX: u128 = 2_000;

/// Clients paying from account 1 into accounts 2 and 3 until the server stops answering (or
/// their bounded count runs out). `acks` counts acknowledgements as they come.
fn pay_until_stopped(
    addr: SocketAddr,
    key: &ApiKey,
    first_id: u128,
    acks: &Arc<AtomicU64>,
) -> Vec<std::thread::JoinHandle<Told>> {
    (0..CLIENTS)
        .map(|client| {
            let (key, acks) = (key.clone(), acks.clone());
            std::thread::spawn(move || {
                let mut told = Told::default();
                for i in 0..REQUESTS_PER_CLIENT_MAX {
                    let id = first_id + client * REQUESTS_PER_CLIENT_MAX + i;
                    let credit = 2 + client % 2;
                    let amount = (id % 97) as u64 + 1;
                    let request =
                        Request::post("/v1/transfers", &transfer_json(id, 1, credit, amount))
                            .signed(&key);
                    match request.try_send(addr) {
                        Ok(r) if (200..300).contains(&r.status) => {
                            told.acknowledged.push((id, credit, amount));
                            acks.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => told.refused.push(id),
                        Err(_) => {
                            told.unanswered.push((id, credit, amount));
                            break;
                        }
                    }
                }
                told
            })
        })
        .collect()
}

fn wait_for_acks(acks: &AtomicU64, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while acks.load(Ordering::Relaxed) < count {
        assert!(
            Instant::now() < deadline,
            "fewer than {count} transfers acknowledged in 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// GET that waits out 503 (the history index catching up after a restart), bounded.
fn get_settled(addr: SocketAddr, key: &ApiKey, target: &str) -> Response {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = Request::get(target).signed(key).send(addr);
        if r.status != 503 || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// After a stop: every acknowledged transfer is in the books once, nothing refused is, and
/// each account's balance is the sum of the transfers in the books, through the API of a
/// restarted server and in the journal's own tables; `suanpan verify` passes.
fn check_books_after_stop(dir: &DataDir, key: &ApiKey, told: &Told) {
    dir.verify();
    let rows = dir.booked();
    if let Some((id, n)) = rows.iter().find(|(_, &n)| n != 1) {
        panic!("transfer {id} is booked {n} times");
    }
    for (id, _, _) in &told.acknowledged {
        assert!(
            rows.contains_key(id),
            "acknowledged transfer {id} is not in the books"
        );
    }
    for id in &told.refused {
        assert!(
            !rows.contains_key(id),
            "refused transfer {id} is in the books"
        );
    }

    let server = Server::start(dir);
    let mut expected: HashMap<u128, i128> = HashMap::new();
    let mut credited: HashMap<u128, HashSet<u128>> = HashMap::new();
    let present = told.acknowledged.iter().chain(
        told.unanswered
            .iter()
            .filter(|(id, _, _)| rows.contains_key(id)),
    );
    for (id, credit, amount) in present {
        let r = get_settled(server.addr, key, &format!("/v1/transfers/{id}"));
        assert_eq!(r.status, 200, "transfer {id} after restart: {}", r.text());
        assert_eq!(r.json()["amount"], amount.to_string());
        *expected.entry(*credit).or_default() += i128::from(*amount);
        *expected.entry(1).or_default() -= i128::from(*amount);
        credited.entry(*credit).or_default().insert(*id);
    }
    for account_id in [1, 2, 3] {
        let v = account(server.addr, key, account_id);
        assert_eq!(
            fen(&v, "credit_balance"),
            expected.get(&account_id).copied().unwrap_or(0),
            "account {account_id}'s balance is the sum of its transfers in the books"
        );
    }
    // The history index, rebuilt or caught up after the stop, lists each of them once.
    for account_id in [2, 3] {
        let listed = list_all(server.addr, key, account_id);
        let unique: HashSet<u128> = listed.iter().copied().collect();
        assert_eq!(
            unique.len(),
            listed.len(),
            "account {account_id} lists a transfer twice"
        );
        assert_eq!(
            unique,
            credited.remove(&account_id).unwrap_or_default(),
            "account {account_id} lists exactly its booked transfers"
        );
    }
}

/// Every transfer id an account's history lists, page by page (bounded).
fn list_all(addr: SocketAddr, key: &ApiKey, account_id: u128) -> Vec<u128> {
    let mut ids = Vec::new();
    let mut target = format!("/v1/accounts/{account_id}/transfers?limit=1000");
    for _page in 0..100 {
        let r = get_settled(addr, key, &target);
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        ids.extend(page_ids(&v).iter().map(|id| {
            id.parse::<u128>()
                .unwrap_or_else(|e| panic!("listed id {id:?}: {e}"))
        }));
        match v["next_cursor"].as_str() {
            Some(cursor) => {
                target = format!("/v1/accounts/{account_id}/transfers?limit=1000&cursor={cursor}")
            }
            None => return ids,
        }
    }
    panic!("account {account_id}'s history never ended");
}

fn gather(handles: Vec<std::thread::JoinHandle<Told>>) -> Told {
    let mut all = Told::default();
    for handle in handles {
        let told = handle
            .join()
            .unwrap_or_else(|_| panic!("a client panicked"));
        all.absorb(told);
    }
    let ids: HashSet<u128> = all.acknowledged.iter().map(|t| t.0).collect();
    assert_eq!(ids.len(), all.acknowledged.len(), "each id sent once");
    all
}

/// Ids one round of load may use.
const IDS_PER_ROUND: u128 = CLIENTS * REQUESTS_PER_CLIENT_MAX;

/// Starts a server on `dir` with accounts 1 to 3 (opened if they are not yet), pays into
/// them from concurrent clients until `acks_first` transfers are acknowledged, then stops
/// the server with `stop` and gathers what the clients were told.
fn stop_under_load(
    dir: &DataDir,
    key: &ApiKey,
    round: u128,
    acks_first: u64,
    stop: impl FnOnce(&mut Server),
) -> Told {
    let mut server = Server::start(dir);
    for id in 1..=3 {
        let body = format!(
            r#"{{"id":"{id}","currency":"CNY","subject_code":"2241.01","overdraft":true}}"#
        );
        let r = Request::post("/v1/accounts", &body)
            .signed(key)
            .send(server.addr);
        assert!(matches!(r.status, 200 | 201), "account {id}: {}", r.text());
    }
    let acks = Arc::new(AtomicU64::new(0));
    let first_id = 100_000 + round * IDS_PER_ROUND;
    let clients = pay_until_stopped(server.addr, key, first_id, &acks);
    wait_for_acks(&acks, acks_first);
    stop(&mut server);
    let told = gather(clients);
    println!(
        "round {round}: {} acknowledged, {} refused, {} unanswered",
        told.acknowledged.len(),
        told.refused.len(),
        told.unanswered.len()
    );
    told
}

#[test]
fn sigterm_answers_in_flight_requests_makes_them_durable_and_exits_0() {
    let dir = DataDir::new("sigterm");
    let key = dir.participant("bank-a");
    let told = stop_under_load(&dir, &key, 0, 100, |server| {
        server.terminate();
        let status = server.wait_exit();
        assert!(
            status.success(),
            "suanpan serve exited with {status} after SIGTERM"
        );
    });
    check_books_after_stop(&dir, &key, &told);
    // A drained server answers every request it read: none was applied unanswered.
    let rows = dir.booked();
    for (id, _, _) in &told.unanswered {
        assert!(
            !rows.contains_key(id),
            "transfer {id} was applied but never answered"
        );
    }
}

/// The count of open connections the server reports on /metrics.
fn open_connections(addr: SocketAddr) -> u64 {
    let text = Request::get("/metrics").send(addr).text();
    text.lines()
        .find_map(|l| l.strip_prefix("suanpan_http_open_connections "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no suanpan_http_open_connections in /metrics"))
}

#[test]
fn a_request_half_sent_at_sigterm_is_finished_answered_and_durable() {
    let dir = DataDir::new("in-flight");
    let key = dir.participant("bank-a");
    let mut server = Server::start(&dir);
    open_account(server.addr, &key, 1, &[]);
    open_account(server.addr, &key, 2, &[]);
    let wire = Request::post("/v1/transfers", &transfer_json(2_000, 1, 2, 321))
        .signed(&key)
        .to_bytes();
    let (first, rest) = wire.split_at(wire.len() - 10);
    let mut stream = TcpStream::connect(server.addr).unwrap_or_else(|e| panic!("{e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap_or_else(|e| panic!("{e}"));
    stream.write_all(first).unwrap_or_else(|e| panic!("{e}"));
    // The server holds our connection (and the one asking) before it is told to stop.
    let deadline = Instant::now() + Duration::from_secs(30);
    while open_connections(server.addr) < 2 {
        assert!(
            Instant::now() < deadline,
            "the server never took the connection"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server.terminate();
    // Once new connections are refused the server is draining; only then the rest.
    while TcpStream::connect(server.addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the server kept accepting after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    stream.write_all(rest).unwrap_or_else(|e| panic!("{e}"));
    let answer = read_answer(&mut stream).unwrap_or_else(|e| panic!("no answer: {e}"));
    assert_eq!(answer.status, 201, "{}", answer.text());
    let status = server.wait_exit();
    assert!(status.success(), "exit {status} after SIGTERM");
    drop(server);

    dir.verify();
    let server = Server::start(&dir);
    let r = get_settled(server.addr, &key, "/v1/transfers/2000");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        balances(&account(server.addr, &key, 2)),
        [0, 321, 0, 0, 321]
    );
}

#[test]
fn sigkill_under_load_loses_no_acknowledged_transfer_and_books_none_twice() {
    const ROUNDS: u128 = 3;
    let dir = DataDir::new("sigkill");
    let key = dir.participant("bank-a");
    let mut all = Told::default();
    // Killed again after each recovery: what one recovery left must survive the next kill.
    for round in 0..ROUNDS {
        let told = stop_under_load(&dir, &key, round, 150, Server::kill);
        all.absorb(told);
        check_books_after_stop(&dir, &key, &all);
    }
}

// ---------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------

#[test]
fn money_moves_over_tls_and_plain_http_gets_no_answer() {
    let dir = DataDir::new("tls");
    if !make_certificates(&dir) {
        support::cannot_run("no usable `openssl` command");
        return;
    }
    let key = dir.participant("bank-a");
    let cert = dir.path().join("cert.pem");
    let tls_key = dir.path().join("key.pem");
    let (cert, tls_key) = (cert.to_string_lossy(), tls_key.to_string_lossy());
    let server = Server::start_with(&dir, &["--tls-cert", &cert, "--tls-key", &tls_key]);
    let config = tls_client(&dir.path().join("ca.pem"));

    let health = send_tls(&config, server.addr, &Request::get("/healthz"));
    assert_eq!(health.status, 200, "{}", health.text());
    for id in [1, 2] {
        let body = format!(
            r#"{{"id":"{id}","currency":"CNY","subject_code":"2241.01","overdraft":true}}"#
        );
        let r = send_tls(
            &config,
            server.addr,
            &Request::post("/v1/accounts", &body).signed(&key),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let paid = send_tls(
        &config,
        server.addr,
        &Request::post("/v1/transfers", &transfer_json(1, 1, 2, 250)).signed(&key),
    );
    assert_eq!(paid.status, 201, "{}", paid.text());
    let read = send_tls(
        &config,
        server.addr,
        &Request::get("/v1/accounts/2").signed(&key),
    );
    assert_eq!(balances(&read.json()), [0, 250, 0, 0, 250]);

    let plain = Request::get("/healthz").try_send(server.addr);
    assert!(
        plain.is_err(),
        "plain HTTP answered on the TLS port: {plain:?}"
    );
}
