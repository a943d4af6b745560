//! End-to-end tests of the payment gateway: real `suanpan serve` and `suanpan channel-sim`
//! processes, real HTTP both ways. Each test scripts the channel (pay, callbacks late, twice,
//! out of order, never, forged) and states what the books and the merchant must then show.

#[allow(dead_code)]
mod gateway_support;
#[allow(dead_code)]
mod support;

use std::time::Duration;

use gateway_support::{fen, payment_transfer, Shop, Timings, WAIT_MAX};
use suanpan_gateway::booking::{channel_account_id, fee_account_id, merchant_account_id};
use suanpan_ledger::Currency;
use support::client::Request;

/// The default fee, 0.60 %.
fn fee(amount: u64) -> u64 {
    amount * 60 / 10_000
}

#[test]
fn a_callback_alone_books_the_payment_once_and_tells_the_merchant() {
    let shop = Shop::new("gw-callback", Timings::default());
    let id = shop.order("m-1", 10_000, "alipay");
    assert_eq!(shop.status(&id)["state"], "paying");
    assert_eq!(
        shop.booked(payment_transfer(&id)),
        0,
        "nothing is booked before the result"
    );

    let answers = shop.alipay.pay(&id, &["TRADE_SUCCESS"]);
    assert_eq!(answers["answers"][0]["body"], "success", "{answers}");

    let order = shop.status(&id);
    assert_eq!(order["state"], "succeeded", "{order}");
    assert_eq!(shop.booked(payment_transfer(&id)), 1);
    let owner = 1;
    let merchant = shop.account(merchant_account_id(owner, Currency::CNY));
    assert_eq!(fen(&merchant["credits_posted"]), 10_000);
    assert_eq!(fen(&merchant["debits_posted"]), u128::from(fee(10_000)));
    let channel = shop.account(channel_account_id("alipay", Currency::CNY));
    assert_eq!(fen(&channel["debits_posted"]), 10_000);
    let fees = shop.account(fee_account_id(Currency::CNY));
    assert_eq!(fen(&fees["credits_posted"]), u128::from(fee(10_000)));
    // The gateway opened the merchant's payable account through the engine; the merchant
    // reads it with its own key like any account of its own.
    let own = Request::get(&format!(
        "/v1/accounts/{}",
        merchant_account_id(owner, Currency::CNY)
    ))
    .signed(&shop.key)
    .send(shop.addr());
    assert_eq!(own.status, 200, "{}", own.text());
    assert_eq!(fen(&own.json()["credits_posted"]), 10_000);

    // The merchant is told, signed with its notification secret.
    let notes = shop.wait_for(&id, "notified", |_| !shop.merchant.received().is_empty());
    let got = &shop.merchant.received()[0];
    assert!(
        got.body.contains("\"state\":\"succeeded\""),
        "{notes} {got:?}"
    );
    let expected = suanpan_gateway::notify::signature(
        &shop.notify_secret,
        got.id.parse().unwrap_or(0),
        got.timestamp.parse().unwrap_or(0),
        got.body.as_bytes(),
    );
    assert_eq!(got.signature, expected);
}

#[test]
fn without_a_callback_the_gateway_queries_the_channel_and_books_once() {
    let timings = Timings {
        query_schedule_ms: "[100, 200]",
        ..Timings::default()
    };
    let shop = Shop::new("gw-query", timings);
    for channel in ["alipay", "wechat"] {
        let id = shop.order(&format!("q-{channel}"), 2_500, channel);
        // The payer pays; the channel never calls back.
        let answers = shop.sim(channel).pay(&id, &[]);
        assert_eq!(answers["answers"].as_array().map(Vec::len), Some(0));
        let order = shop.wait_for(&id, "found by query", |v| v["state"] != "paying");
        assert_eq!(order["state"], "succeeded", "{order}");
        assert!(order["channel_trade_no"]
            .as_str()
            .is_some_and(|s| !s.is_empty()));
        assert_eq!(shop.booked(payment_transfer(&id)), 1);
    }
    let alipay = shop.account(channel_account_id("alipay", Currency::CNY));
    let wechat = shop.account(channel_account_id("wechat", Currency::CNY));
    assert_eq!(fen(&alipay["debits_posted"]), 2_500);
    assert_eq!(fen(&wechat["debits_posted"]), 2_500);
}

#[test]
fn a_status_read_asks_the_channel_when_no_result_has_come() {
    let timings = Timings {
        status_query_interval_ms: 0,
        ..Timings::default()
    };
    let shop = Shop::new("gw-status-query", timings);
    let id = shop.order("s-1", 700, "wechat");
    assert_eq!(
        shop.status(&id)["state"],
        "paying",
        "not paid: the channel says NOTPAY"
    );
    shop.wechat.pay(&id, &[]);
    // No callback and no scheduled query due: the read itself asks the channel.
    assert_eq!(shop.status(&id)["state"], "succeeded");
    assert_eq!(shop.booked(payment_transfer(&id)), 1);
}

#[test]
fn duplicate_and_out_of_order_callbacks_change_nothing_and_are_acknowledged() {
    let shop = Shop::new("gw-duplicates", Timings::default());
    let id = shop.order("d-1", 10_000, "alipay");
    // A stale "waiting" message first, then the success twice, then a stale close.
    let stale = shop.alipay.callback(&id, "WAIT_BUYER_PAY", None);
    assert_eq!(stale["answers"][0]["body"], "success", "{stale}");
    assert_eq!(shop.status(&id)["state"], "paying");
    let answers = shop.alipay.pay(&id, &["TRADE_SUCCESS", "TRADE_SUCCESS"]);
    for a in answers["answers"].as_array().into_iter().flatten() {
        assert_eq!(a["body"], "success", "{answers}");
    }
    let late_close = shop.alipay.callback(&id, "TRADE_CLOSED", None);
    assert_eq!(late_close["answers"][0]["body"], "success", "{late_close}");
    let order = shop.status(&id);
    assert_eq!(order["state"], "succeeded", "{order}");
    assert!(!order["flagged_for_refund"].as_bool().unwrap_or(true));
    assert_eq!(shop.booked(payment_transfer(&id)), 1);
    let merchant = shop.account(merchant_account_id(1, Currency::CNY));
    assert_eq!(fen(&merchant["credits_posted"]), 10_000, "booked once");
    // One final state, one notification owed.
    let notes = shop.notifications(&id);
    assert_eq!(
        notes["notifications"].as_array().map(Vec::len),
        Some(1),
        "{notes}"
    );

    // The same on the WeChat-style channel: SUCCESS twice, then a stale NOTPAY and CLOSED.
    let id = shop.order("d-2", 3_000, "wechat");
    let answers = shop.wechat.pay(&id, &["SUCCESS", "SUCCESS"]);
    for a in answers["answers"].as_array().into_iter().flatten() {
        assert_eq!(a["status"], 200, "{answers}");
    }
    for stale in ["NOTPAY", "CLOSED"] {
        let a = shop.wechat.callback(&id, stale, None);
        assert_eq!(a["answers"][0]["status"], 200, "{a}");
    }
    assert_eq!(shop.status(&id)["state"], "succeeded");
    assert_eq!(shop.booked(payment_transfer(&id)), 1);
}

#[test]
fn a_forged_or_wrong_amount_callback_is_refused_and_books_nothing() {
    use support::client::Request;
    let shop = Shop::new("gw-forged", Timings::default());
    let id = shop.order("f-1", 10_000, "alipay");
    // Signed with a key that is not the channel's.
    let mut pairs: Vec<(String, String)> = vec![
        ("out_trade_no".into(), id.clone()),
        ("trade_no".into(), "2026FORGED".into()),
        ("trade_status".into(), "TRADE_SUCCESS".into()),
        ("total_amount".into(), "100.00".into()),
    ];
    let sign = suanpan_gateway::channel::hmac_hex(
        b"not-the-channel-key",
        suanpan_gateway::alipay::signing_string(&pairs).as_bytes(),
    );
    pairs.push(("sign".into(), sign));
    let borrowed: Vec<(&str, String)> =
        pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let forged = Request::new("POST", "/v1/channels/alipay/notify")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(suanpan_gateway::form::encode(&borrowed).as_bytes())
        .send(shop.addr());
    assert_eq!((forged.status, forged.text().as_str()), (200, "failure"));
    // Unsigned.
    let unsigned = Request::new("POST", "/v1/channels/alipay/notify")
        .body(b"out_trade_no=1&trade_status=TRADE_SUCCESS")
        .send(shop.addr());
    assert_eq!(unsigned.text(), "failure");
    // Signed by the channel, but for another amount than the order's.
    let wrong = shop.alipay.callback(&id, "TRADE_SUCCESS", Some(1));
    assert_eq!(wrong["answers"][0]["body"], "failure", "{wrong}");
    // A forged WeChat-style callback: its signature header does not verify.
    let wid = shop.order("f-2", 500, "wechat");
    let body = format!(
        r#"{{"resource":{{"out_trade_no":"{wid}","transaction_id":"x","trade_state":"SUCCESS","amount":{{"total":500}}}}}}"#
    );
    let forged = Request::post("/v1/channels/wechat/notify", &body)
        .header("wechatpay-timestamp", "1")
        .header("wechatpay-nonce", "n")
        .header("wechatpay-signature", &"0".repeat(64))
        .send(shop.addr());
    assert_eq!(forged.status, 500, "{}", forged.text());
    assert_eq!(forged.json()["code"], "FAIL");

    for order in [&id, &wid] {
        assert_eq!(shop.status(order)["state"], "paying");
        assert_eq!(shop.booked(payment_transfer(order)), 0, "nothing booked");
    }
    assert!(shop.merchant.received().is_empty(), "nothing told");
}

#[test]
fn a_success_after_expiry_is_booked_and_flagged_for_refund() {
    let shop = Shop::new("gw-late", Timings::default());
    let r = shop.create("late-1", 8_800, "alipay", r#","expire_s":1"#);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap_or_default().to_string();
    // Expiry: closed at the channel first, then here.
    let closed = shop.wait_for(&id, "closed on expiry", |v| v["state"] != "paying");
    assert_eq!(closed["state"], "closed", "{closed}");
    assert_eq!(shop.alipay.trade(&id)["state"], "TRADE_CLOSED");
    assert_eq!(shop.booked(payment_transfer(&id)), 0);

    // The payer's money got through anyway (it raced the close): the channel says so.
    let answers = shop.alipay.pay_late(&id, &["TRADE_SUCCESS"]);
    assert_eq!(answers["answers"][0]["body"], "success", "{answers}");
    let order = shop.status(&id);
    assert_eq!(order["state"], "succeeded", "{order}");
    assert_eq!(order["flagged_for_refund"], true);
    assert_eq!(shop.booked(payment_transfer(&id)), 1);
    let merchant = shop.account(merchant_account_id(1, Currency::CNY));
    assert_eq!(fen(&merchant["credits_posted"]), 8_800);
    // The merchant heard of the close and then of the late success.
    shop.wait_for(&id, "both notified", |_| {
        shop.merchant.received().len() >= 2
    });
    let bodies: Vec<String> = shop
        .merchant
        .received()
        .iter()
        .map(|r| r.body.clone())
        .collect();
    assert!(bodies[0].contains("\"state\":\"closed\""), "{bodies:?}");
    assert!(
        bodies[1].contains("\"flagged_for_refund\":true"),
        "{bodies:?}"
    );
}

#[test]
fn refunds_never_exceed_what_was_paid_and_book_back() {
    let shop = Shop::new("gw-refund", Timings::default());
    let id = shop.order("r-1", 10_000, "wechat");
    let early = shop.post_refund(&id, "early", 100);
    assert_eq!(
        (early.status, early.error().0.as_str()),
        (422, "order_not_refundable")
    );
    shop.wechat.pay(&id, &["SUCCESS"]);
    let first = shop.post_refund(&id, "rf-1", 3_000);
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(first.json()["state"], "succeeded");
    let again = shop.post_refund(&id, "rf-1", 3_000);
    assert_eq!(
        again.json()["id"],
        first.json()["id"],
        "the same refund, once"
    );
    let conflict = shop.post_refund(&id, "rf-1", 3_001);
    assert_eq!(
        (conflict.status, conflict.error().0.as_str()),
        (409, "refund_conflict")
    );
    let too_much = shop.post_refund(&id, "rf-2", 7_001);
    assert_eq!(
        (too_much.status, too_much.error().0.as_str()),
        (422, "refund_exceeds_paid")
    );
    let rest = shop.post_refund(&id, "rf-3", 7_000);
    assert_eq!(rest.json()["state"], "succeeded", "{}", rest.text());
    let order = shop.status(&id);
    assert_eq!(order["refunded"], "10000");
    // The fee comes back with each refund, in proportion (3,000 → 18, 7,000 → 42): the
    // merchant is square.
    let merchant = shop.account(merchant_account_id(1, Currency::CNY));
    assert_eq!(
        fen(&merchant["credits_posted"]),
        10_000 + u128::from(fee(3_000) + fee(7_000))
    );
    assert_eq!(
        fen(&merchant["debits_posted"]),
        u128::from(fee(10_000) + 10_000)
    );
    assert_eq!(shop.wechat.trade(&id)["refunded_fen"], 10_000);
}

/// A refund the channel answers "processing" is asked again on the channel's schedule,
/// backing off, not on every scheduler tick; once done it is booked with its fee.
#[test]
fn a_processing_refund_is_asked_again_on_a_backoff() {
    let timings = Timings {
        query_schedule_ms: "[300, 600, 1200]",
        tick_ms: 20,
        ..Timings::default()
    };
    let shop = Shop::new("gw-refund-backoff", timings);
    let id = shop.order("rb-1", 10_000, "wechat");
    shop.wechat.pay(&id, &["SUCCESS"]);
    shop.wait_for(&id, "paid", |o| o["state"] == "succeeded");
    let r = support::client::Request::post("/sim/behaviour", r#"{"refund_processing": 3}"#)
        .send(shop.wechat.addr);
    assert_eq!(r.status, 200);
    // Asked at about 0, 0.3, 0.9 and 2.1 s: the fourth succeeds. Every tick (20 ms) would
    // have asked some hundred times by then. The clock starts before the first ask, so a
    // slow answer to the refund request cannot eat into the bound.
    let started = std::time::Instant::now();
    let refund = shop.post_refund(&id, "rb-r", 4_000);
    assert_eq!(refund.json()["state"], "processing", "{}", refund.text());
    shop.wait_for(&id, "refunded", |o| o["refunded"] == "4000");
    let calls = shop.wechat.trade(&id)["refund_calls"].as_u64().unwrap_or(0);
    assert_eq!(calls, 4, "asked on the backoff: {calls} calls");
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(2_000),
        "the fourth ask came {waited:?} after the first"
    );
    let merchant = shop.account(merchant_account_id(1, Currency::CNY));
    assert_eq!(
        fen(&merchant["credits_posted"]),
        10_000 + u128::from(fee(4_000))
    );
}

#[test]
fn orders_are_idempotent_per_merchant_order_number_and_refuse_bad_input() {
    let shop = Shop::new("gw-orders", Timings::default());
    let first = shop.create("o-1", 100, "alipay", "");
    assert_eq!(first.status, 201, "{}", first.text());
    let again = shop.create("o-1", 100, "alipay", "");
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["id"], first.json()["id"]);
    let other = shop.create("o-1", 101, "alipay", "");
    assert_eq!(
        (other.status, other.error().0.as_str()),
        (409, "order_conflict")
    );
    let by_no = shop.get("/v1/orders?merchant_order_no=o-1");
    assert_eq!(by_no.json()["id"], first.json()["id"]);
    let missing = shop.get("/v1/orders?merchant_order_no=nope");
    assert_eq!(
        (missing.status, missing.error().0.as_str()),
        (404, "order_not_found")
    );
    for (body_extra, channel, field) in [
        ("", "paypal", None),
        (r#","expire_s":0"#, "alipay", Some("expire_s")),
    ] {
        let r = shop.create("o-2", 100, channel, body_extra);
        assert_eq!(r.status, 400, "{}", r.text());
        if let Some(field) = field {
            assert_eq!(r.error().1.as_deref(), Some(field));
        }
    }
    let zero = shop.create("o-3", 0, "alipay", "");
    assert_eq!(zero.status, 400);
    // A currency the channel does not take is refused at creation, and nothing is taken: the
    // same merchant order number in CNY is then a new order.
    let usd = support::client::Request::post(
        "/v1/orders",
        r#"{"merchant_order_no":"o-usd","amount":"1000","currency":"USD","subject":"s","channel":"wechat"}"#,
    )
    .signed(&shop.key)
    .send(shop.addr());
    assert_eq!(
        (usd.status, usd.error().0.as_str()),
        (422, "currency_not_supported"),
        "{}",
        usd.text()
    );
    let cny = shop.create("o-usd", 1_000, "wechat", "");
    assert_eq!(cny.status, 201, "{}", cny.text());
    // Another participant, not a merchant, cannot take orders or see this one.
    let stranger = shop.dir.participant("stranger");
    let r = support::client::Request::post(
        "/v1/orders",
        r#"{"merchant_order_no":"x","amount":"1","currency":"CNY","subject":"s","channel":"alipay"}"#,
    )
    .signed(&stranger)
    .send(shop.addr());
    assert_eq!(
        (r.status, r.error().0.as_str()),
        (403, "merchant_not_registered")
    );
    let id = first.json()["id"].as_str().unwrap_or_default().to_string();
    let r = support::client::Request::get(&format!("/v1/orders/{id}"))
        .signed(&stranger)
        .send(shop.addr());
    assert_eq!(r.status, 404);
}

#[test]
fn the_result_page_and_its_status_need_the_order_token() {
    use support::client::Request;
    let shop = Shop::new("gw-page-token", Timings::default());
    let id = shop.order("t-1", 100, "alipay");
    let absolute = shop.status(&id)["result_url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // Absolute, on the server's public address (here, where it listens).
    let origin = format!("http://{}", shop.addr());
    assert!(absolute.starts_with(&origin), "{absolute}");
    let url = absolute[origin.len()..].to_string();
    let page = Request::get(&url).send(shop.addr());
    assert_eq!(page.status, 200);
    assert!(
        page.text().contains("order t-1"),
        "the page names the subject"
    );
    let status_url = url.replace("/pay/result/", "/pay/status/");
    assert_eq!(
        Request::get(&status_url).send(shop.addr()).json()["state"],
        "paying"
    );
    for bad in [
        format!("/pay/result/{id}"),
        format!("/pay/result/{id}?token=00"),
        format!("/pay/status/{id}?token={}", "0".repeat(32)),
    ] {
        let r = Request::get(&bad).send(shop.addr());
        if bad.starts_with("/pay/result/") {
            // A payer reads the page: a page saying the link is not valid, never JSON.
            assert_eq!(r.status, 404, "{bad}");
            assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
            assert!(r.text().contains("链接无效"), "{bad}: {}", r.text());
        } else {
            assert_eq!(
                (r.status, r.error().0.as_str()),
                (404, "order_not_found"),
                "{bad}"
            );
        }
    }
}

#[test]
fn an_operator_re_sends_a_notification_and_it_is_audited() {
    use support::client::Request;
    let shop = Shop::new("gw-resend", Timings::default());
    let id = shop.order("rs-1", 100, "alipay");
    shop.alipay.pay(&id, &["TRADE_SUCCESS"]);
    shop.wait_for(&id, "notified", |_| shop.merchant.received().len() == 1);
    let path = format!("/v1/orders/{id}/notifications/resend");
    // Merchants and viewers may not; an operator may.
    let by_merchant = Request::post(&path, "").signed(&shop.key).send(shop.addr());
    assert_eq!(by_merchant.status, 403, "{}", by_merchant.text());
    let viewer = shop.dir.operator("viewer-1", "viewer");
    let by_viewer = Request::post(&path, "")
        .header("authorization", &format!("Bearer {viewer}"))
        .send(shop.addr());
    assert_eq!(by_viewer.status, 403, "{}", by_viewer.text());
    let by_operator = Request::post(&path, "")
        .header("authorization", &format!("Bearer {}", shop.operator))
        .send(shop.addr());
    assert_eq!(by_operator.status, 200, "{}", by_operator.text());
    // Received by the merchant, and the attempt recorded (after the merchant's answer).
    let attempts_of = || {
        shop.notifications(&id)["notifications"][0]["attempts"]
            .as_array()
            .map_or(0, Vec::len)
    };
    shop.wait_for(&id, "re-sent", |_| {
        shop.merchant.received().len() == 2 && attempts_of() == 2
    });
    let received = shop.merchant.received();
    assert_eq!(
        received[0].body, received[1].body,
        "the same notification again"
    );
    let notes = shop.notifications(&id);
    let attempts = notes["notifications"][0]["attempts"]
        .as_array()
        .map(Vec::len);
    assert_eq!(attempts, Some(2), "{notes}");
    // The audit log has the request and its outcome.
    let admin = shop.dir.operator("admin-1", "admin");
    let audit = Request::get("/v1/audit")
        .header("authorization", &format!("Bearer {admin}"))
        .send(shop.addr())
        .json();
    let entries: Vec<String> = audit["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["action"] == "resend_notification" && e["operator"] == "ops-1")
        .map(|e| e["outcome"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(entries.len(), 2, "{audit}");
    assert_eq!(entries[0], "requested");
}

#[test]
fn a_channel_that_times_out_leaves_the_order_open_and_it_is_handed_over_again() {
    let timings = Timings {
        query_schedule_ms: "[100]",
        channel_timeout_ms: 300,
        ..Timings::default()
    };
    let shop = Shop::new("gw-timeout", timings);
    for channel in ["alipay", "wechat"] {
        let sim = shop.sim(channel);
        sim.slow(2_000, 2_000);
        let r = shop.create(&format!("to-{channel}"), 4_200, channel, "");
        assert_eq!(r.status, 201, "{}", r.text());
        let v = r.json();
        // No answer from the channel: taken, not handed over, and no guess at a result.
        assert_eq!(v["state"], "created", "{v}");
        assert!(v["pay_url"].is_null());
        let id = v["id"].as_str().unwrap_or_default().to_string();
        sim.slow(0, 0);
        let v = shop.wait_for(&id, "handed over again", |v| v["state"] != "created");
        assert_eq!(v["state"], "paying", "{v}");
        assert!(
            v["pay_url"].as_str().is_some_and(|u| u.contains(&id)),
            "{v}"
        );
        sim.pay(&id, &[]);
        let v = shop.wait_for(&id, "paid", |v| v["state"] == "succeeded");
        assert_eq!(shop.booked(payment_transfer(&id)), 1, "{v}");
    }
}

/// `/metrics` counts callbacks, channel queries and notification attempts by outcome, with
/// the outbox's depth and oldest age; a failed delivery and a channel that did not answer are
/// warnings in the log.
#[test]
fn the_gateway_is_counted_and_its_failures_are_logged() {
    let timings = Timings {
        channel_timeout_ms: 300,
        status_query_interval_ms: 0,
        ..Timings::default()
    };
    let mut shop = Shop::new("gw-metrics", timings);
    let log = shop.dir.path().join("serve.log");
    shop.start_logged(&log);
    shop.merchant.set_up(false);
    let id = shop.order("m-1", 500, "alipay");
    shop.alipay.pay(&id, &["TRADE_SUCCESS"]);
    shop.wait_for(&id, "paid", |o| o["state"] == "succeeded");
    // A channel that answers too late: the merchant's status read asks and gets nothing.
    let slow = shop.order("m-2", 700, "wechat");
    shop.wechat.slow(0, 2_000);
    shop.status(&slow);
    let started = std::time::Instant::now();
    let text = loop {
        let metrics = support::client::Request::get("/metrics")
            .send(shop.addr())
            .text();
        if metrics.contains("suanpan_gateway_notification_attempts_total{outcome=\"failed\"} 1") {
            break metrics;
        }
        assert!(started.elapsed() < WAIT_MAX, "{metrics}");
        std::thread::sleep(Duration::from_millis(50));
    };
    for line in [
        "suanpan_gateway_callbacks_total{channel=\"alipay\",outcome=\"accepted\"} 1",
        "suanpan_gateway_channel_queries_total{channel=\"wechat\",outcome=\"unavailable\"} 1",
        "suanpan_gateway_order_transitions_total{state=\"succeeded\"} 1",
        "suanpan_gateway_orders_open 1",
        "suanpan_gateway_outbox_pending 1",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    let written = std::fs::read_to_string(&log).unwrap_or_default();
    let warned = |message: &str| {
        written
            .lines()
            .any(|l| l.contains("\"level\":\"warn\"") && l.contains(message))
    };
    assert!(warned("merchant notification not delivered"), "{written}");
    assert!(warned("channel did not answer"), "{written}");
}

/// A merchant's notification endpoint over HTTPS with the test CA's certificate: answers 200
/// to each POST (one per connection) and keeps the bodies.
fn https_merchant(
    dir: &support::server::DataDir,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use rustls::pki_types::pem::PemObject;
    use std::io::{Read, Write};
    let certs: Vec<rustls::pki_types::CertificateDer<'static>> =
        rustls::pki_types::CertificateDer::pem_file_iter(dir.path().join("cert.pem"))
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .unwrap_or_else(|e| panic!("{e}"));
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(dir.path().join("key.pem"))
        .unwrap_or_else(|e| panic!("{e}"));
    let config = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("{e}"))
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // Up to the end of the headers, then the body by its length.
            let body = loop {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
                let text = String::from_utf8_lossy(&seen).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    if seen.len() >= end + 4 + length {
                        break Some(
                            String::from_utf8_lossy(&seen[end + 4..end + 4 + length]).into_owned(),
                        );
                    }
                }
            };
            if let Some(body) = body {
                kept.lock().unwrap_or_else(|p| p.into_inner()).push(body);
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nsuccess",
                );
                let _ = tls.flush();
            }
        }
    });
    (addr, bodies)
}

/// HTTPS to a channel and to a merchant, trusting a configured CA; a channel whose
/// certificate that CA did not sign is refused; plain http:// is refused unless configured.
#[test]
fn channels_and_merchants_are_reached_over_https_with_their_certificates_checked() {
    use gateway_support::{Sim, ALIPAY_KEY, WECHAT_KEY};
    let dir = support::server::DataDir::new("gw-https");
    let other = support::server::DataDir::new("gw-https-other-ca");
    let made = support::tls::make_certificates(&dir) && support::tls::make_certificates(&other);
    if !made {
        support::cannot_run("openssl is not installed");
        return;
    }
    let pem =
        |d: &support::server::DataDir, f: &str| d.path().join(f).to_string_lossy().into_owned();
    // WeChat with a certificate of the trusted CA; Alipay with one of another CA.
    let wechat = Sim::start(
        "wechat",
        &[
            "--tls-cert",
            &pem(&dir, "cert.pem"),
            "--tls-key",
            &pem(&dir, "key.pem"),
        ],
    );
    let alipay = Sim::start(
        "alipay",
        &[
            "--tls-cert",
            &pem(&other, "cert.pem"),
            "--tls-key",
            &pem(&other, "key.pem"),
        ],
    );
    let (merchant, bodies) = https_merchant(&dir);
    let key = dir.participant("shop-tls");
    let registered = support::server::suanpan()
        .args([
            "gateway",
            "merchant",
            "--participant",
            "shop-tls",
            "--notify-url",
        ])
        .arg(format!("https://127.0.0.1:{}/notify", merchant.port()))
        .arg("--data")
        .arg(dir.path())
        .args(dir.postgres_args())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        registered.status.success(),
        "{}",
        String::from_utf8_lossy(&registered.stderr)
    );
    let config = dir.path().join("gateway.toml");
    let channels = format!(
        "[channels.alipay]\nurl = \"https://{}\"\nkey = \"{ALIPAY_KEY}\"\nquery_schedule_ms = [3600000]\n\
         [channels.wechat]\nurl = \"https://{}\"\nkey = \"{WECHAT_KEY}\"\nquery_schedule_ms = [3600000]\n",
        alipay.addr, wechat.addr
    );
    // Plain http:// to a channel is refused at start, in one line.
    std::fs::write(
        &config,
        format!(
            "[channels.wechat]\nurl = \"http://{}\"\nkey = \"k\"\n",
            wechat.addr
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let refused = support::server::suanpan()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .arg("--gateway-config")
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("plain http://"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    std::fs::write(
        &config,
        format!("ca_file = \"{}\"\n{channels}", pem(&dir, "ca.pem")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let server =
        support::server::Server::start_with(&dir, &["--gateway-config", &config.to_string_lossy()]);
    let create = |no: &str, channel: &str| {
        Request::post(
            "/v1/orders",
            &format!(r#"{{"merchant_order_no":"{no}","amount":"990","currency":"CNY","subject":"s","channel":"{channel}"}}"#),
        )
        .signed(&key)
        .send(server.addr)
    };
    // Over HTTPS to WeChat: handed over, paid, and the merchant told over HTTPS.
    let order = create("tls-1", "wechat");
    assert_eq!(order.status, 201, "{}", order.text());
    assert_eq!(order.json()["state"], "paying", "{}", order.text());
    let id = order.json()["id"].as_str().unwrap_or_default().to_string();
    // The simulators' own controls are behind their TLS too.
    let control = |ca: &support::server::DataDir, addr, request: Request| {
        support::tls::send_tls(
            &support::tls::tls_client(&ca.path().join("ca.pem")),
            addr,
            &request,
        )
    };
    let paid = control(
        &dir,
        wechat.addr,
        Request::post(
            &format!("/sim/trades/{id}/pay"),
            r#"{"callbacks":["SUCCESS"]}"#,
        ),
    );
    assert_eq!(paid.status, 200, "{}", paid.text());
    let started = std::time::Instant::now();
    while bodies.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
        assert!(
            started.elapsed() < WAIT_MAX,
            "the merchant was never told over HTTPS"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(bodies.lock().unwrap_or_else(|p| p.into_inner())[0].contains("succeeded"));
    // Alipay's certificate is not one the configured CA signed: nothing is handed over.
    let refused = create("tls-2", "alipay");
    assert_eq!(refused.status, 201, "{}", refused.text());
    assert_eq!(refused.json()["state"], "created", "{}", refused.text());
    assert!(refused.json()["pay_url"].is_null());
    let no = refused.json()["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let trade = control(
        &other,
        alipay.addr,
        Request::get(&format!("/sim/trades/{no}")),
    );
    assert_eq!(
        trade.status,
        404,
        "the channel never heard of it: {}",
        trade.text()
    );
}
