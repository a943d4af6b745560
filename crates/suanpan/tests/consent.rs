//! Consent-based reading through a real `suanpan serve`: a third party asks, the bank
//! answers for its customer, the third party reads what the consent covers and nothing else,
//! the day's unattended reads are counted, a revocation stops the very next read, every
//! refusal answers its own code and changes nothing, and every access is in the record,
//! across a restart.

#[allow(dead_code)] // the shared support serves other test binaries too
mod support;

use support::books::assert_error;
use support::client::Request;
use support::consent::*;
use support::server::Server;

#[test]
fn a_third_party_reads_only_what_the_customer_allowed_until_it_is_revoked() {
    let mut w = World::new("consent-flow");
    let body = consent_json("r-1", "cust-1", &[1001, 1002], &full_access(), true);
    let made = ok(&w.post(&w.sec, "/v1/consents", &body), 201, "request");
    let id = made["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(made["state"], "requested");
    assert!(
        made["consent_page"]
            .as_str()
            .is_some_and(|p| p.starts_with("http://") && p.ends_with(&format!("/consent/{id}"))),
        "{made}"
    );
    let again = ok(
        &w.post(&w.sec, "/v1/consents", &body),
        200,
        "the same request again",
    );
    assert_eq!(again["id"], made["id"]);
    let other = consent_json("r-1", "cust-1", &[1001], &full_access(), true);
    assert_error(
        &w.post(&w.sec, "/v1/consents", &other),
        409,
        "consent_conflict",
        None,
        "same id, other fields",
    );

    assert_error(
        &w.balances(&id, ""),
        403,
        "consent_pending",
        None,
        "before the customer answers",
    );
    assert_error(
        &w.get(&w.other_sec, &format!("/v1/consents/{id}")),
        404,
        "consent_not_found",
        None,
        "another third party",
    );
    assert_error(
        &w.act(&w.other_bank, &id, "authorise"),
        404,
        "consent_not_found",
        None,
        "another bank",
    );
    assert_error(
        &w.act(&w.sec, &id, "authorise"),
        409,
        "consent_state_conflict",
        None,
        "the third party itself",
    );
    assert_eq!(
        ok(&w.act(&w.bank, &id, "authorise"), 200, "authorise")["state"],
        "authorised"
    );

    let read = ok(&w.balances(&id, ""), 200, "balances");
    let balances = read["balances"].as_array().cloned().unwrap_or_default();
    assert_eq!(balances.len(), 2, "{read}");
    assert_eq!(balances[0]["account_id"], "1001");
    assert_eq!(balances[0]["credit_balance"], "12345");
    assert_eq!(balances[1]["credit_balance"], "0");
    let mut keys: Vec<&String> = balances[0]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    keys.sort();
    assert_eq!(
        keys,
        [
            "account_id",
            "credit_balance",
            "credits_pending",
            "currency",
            "debits_pending"
        ],
        "nothing beyond the balance: no owner, subject, tier or flags"
    );
    assert_error(
        &w.balances(&id, "?account=1003"),
        403,
        "account_not_consented",
        None,
        "an account of the customer's not named",
    );
    assert_error(
        &w.balances(&id, "?account=2001"),
        403,
        "account_not_consented",
        None,
        "another bank's account",
    );
    let history = ok(
        &w.get(
            &w.sec,
            &format!("/v1/consents/{id}/transactions?account=1001"),
        ),
        200,
        "transactions",
    );
    assert_eq!(history["transfers"][0]["amount"], "12345", "{history}");

    // 1001 has been read twice unattended (balances, transactions): two more, then no more today.
    for _ in 0..2 {
        ok(
            &w.balances(&id, "?account=1001"),
            200,
            "within the day's four",
        );
    }
    assert_error(
        &w.balances(&id, "?account=1001"),
        429,
        "reads_per_day_exceeded",
        None,
        "the fifth unattended read",
    );
    let present = Request::get(&format!("/v1/consents/{id}/balances?account=1001"))
        .header("x-customer-ip-address", "203.0.113.7")
        .signed(&w.sec)
        .send(w.server.addr);
    ok(&present, 200, "with the customer present");
    ok(
        &w.balances(&id, "?account=1002"),
        200,
        "another account has its own count",
    );

    // Durable: after a restart the consent holds and today's count is remembered.
    w.restart();
    assert_error(
        &w.balances(&id, "?account=1001"),
        429,
        "reads_per_day_exceeded",
        None,
        "the count survives a restart",
    );
    assert_eq!(
        ok(&w.get(&w.sec, &format!("/v1/consents/{id}")), 200, "read")["state"],
        "authorised"
    );

    assert_eq!(
        ok(&w.act(&w.bank, &id, "revoke"), 200, "revoke")["state"],
        "revoked_by_customer"
    );
    assert_error(
        &w.balances(&id, "?account=1002"),
        403,
        "consent_revoked",
        None,
        "the very next read",
    );

    let entries = record(&w, &id);
    let has =
        |action: &str, outcome: &str| entries.iter().any(|(a, o, _)| a == action && o == outcome);
    for (action, outcome) in [
        ("request", "ok"),
        ("authorise", "consent_state_conflict"),
        ("authorise", "ok"),
        ("read_balances", "consent_pending"),
        ("read_balances", "ok"),
        ("read_balances", "account_not_consented"),
        ("read_transactions", "ok"),
        ("read_balances", "reads_per_day_exceeded"),
        ("revoke", "ok"),
        ("read_balances", "consent_revoked"),
    ] {
        assert!(has(action, outcome), "no {action} {outcome} in {entries:?}");
    }
    let uncounted_ok = entries
        .iter()
        .filter(|(a, o, counted)| a == "read_balances" && o == "ok" && !counted)
        .count();
    assert_eq!(
        uncounted_ok, 1,
        "the read with the customer present is recorded, not counted"
    );
    assert_error(
        &w.get(&w.sec, &format!("/v1/consents/{id}/record")),
        404,
        "consent_not_found",
        None,
        "the third party reads no record",
    );
    let by_admin = Request::get(&format!("/v1/consents/{id}/record"))
        .bearer(&w.admin)
        .send(w.server.addr);
    ok(&by_admin, 200, "admins read the record");
    let list = ok(
        &w.get(&w.bank, "/v1/customers/cust-1/consents"),
        200,
        "the customer's consents",
    );
    assert_eq!(
        list["consents"][0]["state"], "revoked_by_customer",
        "{list}"
    );
    let all = ok(
        &w.get(&w.bank, "/v1/customers/cust-1/consent-record"),
        200,
        "the customer's record",
    );
    assert!(
        all["entries"]
            .as_array()
            .is_some_and(|e| e.len() == entries.len()),
        "{all}"
    );
    w.dir.verify();
}

#[test]
fn every_refusal_answers_its_own_code_and_changes_nothing() {
    let mut w = World::new("consent-refusals");
    assert_error(
        &w.post(
            &w.bank,
            "/v1/consents",
            &consent_json("b-1", "c", &[1001], &balances_access(), true),
        ),
        403,
        "not_third_party",
        None,
        "a bank asks",
    );
    let unknown_bank =
        consent_json("r-0", "c", &[1001], &balances_access(), true).replace("BANK-A", "NOPE");
    assert_error(
        &w.post(&w.sec, "/v1/consents", &unknown_bank),
        422,
        "bank_unknown",
        Some("bank"),
        "unknown bank",
    );
    let too_long = consent_json("r-00", "c", &[1001], &balances_access(), true)
        .replace(&shanghai_day(30), &shanghai_day(181));
    assert_error(
        &w.post(&w.sec, "/v1/consents", &too_long),
        400,
        "invalid_value",
        Some("valid_until"),
        "181 days",
    );
    let too_often = consent_json("r-01", "c", &[1001], &balances_access(), true)
        .replace("\"frequency_per_day\":4", "\"frequency_per_day\":5");
    assert_error(
        &w.post(&w.sec, "/v1/consents", &too_often),
        400,
        "invalid_value",
        Some("frequency_per_day"),
        "5 a day",
    );

    // An account that is not the bank's: the bank cannot authorise it.
    let foreign = ok(
        &w.post(
            &w.sec,
            "/v1/consents",
            &consent_json("r-2", "c2", &[1001, 2001], &balances_access(), true),
        ),
        201,
        "request",
    );
    let foreign_id = foreign["id"].as_str().unwrap_or_default().to_string();
    assert_error(
        &w.act(&w.bank, &foreign_id, "authorise"),
        422,
        "account_not_owned",
        None,
        "another bank's account",
    );
    assert_eq!(
        ok(
            &w.get(&w.sec, &format!("/v1/consents/{foreign_id}")),
            200,
            "read"
        )["state"],
        "requested"
    );

    let rejected = ok(
        &w.post(
            &w.sec,
            "/v1/consents",
            &consent_json("r-3", "c3", &[1001], &balances_access(), true),
        ),
        201,
        "request",
    );
    let rejected_id = rejected["id"].as_str().unwrap_or_default().to_string();
    ok(&w.act(&w.bank, &rejected_id, "reject"), 200, "reject");
    assert_error(
        &w.balances(&rejected_id, ""),
        403,
        "consent_rejected",
        None,
        "rejected",
    );
    assert_error(
        &w.act(&w.bank, &rejected_id, "authorise"),
        409,
        "consent_state_conflict",
        None,
        "authorise after reject",
    );

    let terminated = authorised(&w, "r-4", "c4", &[1001], &balances_access(), true);
    ok(&w.act(&w.sec, &terminated, "terminate"), 200, "terminate");
    assert_error(
        &w.balances(&terminated, ""),
        403,
        "consent_terminated",
        None,
        "terminated",
    );

    let balances_only = authorised(&w, "r-5", "c5", &[1001], &balances_access(), true);
    assert_error(
        &w.get(
            &w.sec,
            &format!("/v1/consents/{balances_only}/transactions?account=1001"),
        ),
        403,
        "data_not_consented",
        None,
        "transactions not granted",
    );
    let with_history = authorised(&w, "r-6", "c6", &[1001], &full_access(), true);
    assert_error(
        &w.get(
            &w.sec,
            &format!(
                "/v1/consents/{with_history}/transactions?account=1001&from={}",
                shanghai_day(-5)
            ),
        ),
        403,
        "range_not_consented",
        None,
        "days before the granted range",
    );

    let older = authorised(&w, "r-7", "c7", &[1001], &balances_access(), true);
    authorised(&w, "r-8", "c7", &[1002], &balances_access(), true);
    assert_error(
        &w.balances(&older, ""),
        403,
        "consent_replaced",
        None,
        "replaced by a newer recurring consent",
    );

    assert_error(
        &w.balances("cs_000000000000000000000000", ""),
        404,
        "consent_not_found",
        None,
        "no such consent",
    );
    assert_error(
        &w.balances(&with_history, "?account=x"),
        400,
        "invalid_id",
        Some("account"),
        "a bad account id",
    );

    // Time passes: the consent's last day is behind it.
    let expiring = authorised(&w, "r-9", "c9", &[1001], &balances_access(), true);
    w.server.terminate();
    assert!(w.server.wait_exit().success());
    // Where the room keeps its consents: its file, or the shared database.
    let ago = "UPDATE consent_consents SET valid_until = valid_until - 31 WHERE request_id = 'r-9'";
    match w.dir.postgres() {
        Some(url) => {
            suanpan_journal::postgres::run_sql(&url, ago).unwrap_or_else(|e| panic!("{e}"))
        }
        None => {
            let db = rusqlite::Connection::open(w.dir.path().join("consent.db"))
                .unwrap_or_else(|e| panic!("{e}"));
            let changed = db.execute(ago, []).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(changed, 1);
        }
    }
    w.server = Server::start(&w.dir);
    assert_error(
        &w.balances(&expiring, ""),
        403,
        "consent_expired",
        None,
        "past its last day",
    );
    assert_eq!(
        ok(
            &w.get(&w.sec, &format!("/v1/consents/{expiring}")),
            200,
            "read"
        )["state"],
        "expired"
    );
    let entries = record(&w, &expiring);
    assert!(entries.iter().any(|(a, _, _)| a == "expire"), "{entries:?}");

    // Nothing moved: the customer's balance is what it was.
    let account = w.get(&w.bank, "/v1/accounts/1001").json();
    assert_eq!(account["credit_balance"], "12345");
    w.dir.verify();
}
