//! The gateway killed with SIGKILL in the middle of its work: payers paying, callbacks
//! arriving, bookings, notifications owed to a merchant who is down. After a restart nothing
//! owed is lost (every paid order ends succeeded, every notification is delivered) and
//! nothing is booked twice (the merchant's account holds exactly what was paid).

#[allow(dead_code)]
mod gateway_support;
#[allow(dead_code)]
mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_support::{fen, payment_transfer, Shop, Timings, WAIT_MAX};
use suanpan_gateway::booking::{fee_account_id, fee_minor, merchant_account_id};
use suanpan_ledger::Currency;

const ORDERS: u64 = 60;

#[test]
fn sigkill_mid_flight_loses_nothing_owed_and_books_nothing_twice() {
    let timings = Timings {
        query_schedule_ms: "[300]",
        notify_schedule_s: "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]",
        ..Timings::default()
    };
    let mut shop = Shop::new("gw-crash", timings);
    shop.merchant.set_up(false);
    let mut orders = Vec::new();
    for i in 0..ORDERS {
        let channel = if i % 2 == 0 { "alipay" } else { "wechat" };
        let amount = 1_000 + i * 7;
        orders.push((
            shop.order(&format!("c-{i}"), amount, channel),
            channel,
            amount,
        ));
    }
    let paid = Arc::new(AtomicUsize::new(0));
    let payer = {
        let (orders, paid) = (orders.clone(), paid.clone());
        let (alipay, wechat) = (shop.alipay.addr, shop.wechat.addr);
        std::thread::spawn(move || {
            for (id, channel, _) in orders {
                let (addr, state) = if channel == "alipay" {
                    (alipay, "TRADE_SUCCESS")
                } else {
                    (wechat, "SUCCESS")
                };
                // Paid at the channel, with its callback (which may find the server dead).
                let r = support::client::Request::post(
                    &format!("/sim/trades/{id}/pay"),
                    &format!(r#"{{"callbacks":["{state}"]}}"#),
                )
                .send(addr);
                assert_eq!(r.status, 200, "{}", r.text());
                paid.fetch_add(1, Ordering::Release);
            }
        })
    };
    let started = Instant::now();
    while paid.load(Ordering::Acquire) < (ORDERS / 3) as usize {
        assert!(started.elapsed() < WAIT_MAX, "the payer is stuck");
        std::thread::sleep(Duration::from_millis(2));
    }
    if let Some(server) = shop.server.as_mut() {
        server.kill();
    }
    // The payer's own assertion (the channel took every payment) must fail the test.
    payer
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    shop.start();
    shop.merchant.set_up(true);

    // Every paid order is found (by the callback before the kill, or by query after it).
    for (id, _, _) in &orders {
        let v = shop.wait_for(id, "succeeded after the restart", |v| {
            v["state"] == "succeeded"
        });
        assert_eq!(v["state"], "succeeded");
        assert_eq!(shop.booked(payment_transfer(id)), 1);
    }
    let total: u64 = orders.iter().map(|o| o.2).sum();
    let fees: u64 = orders.iter().map(|o| fee_minor(o.2, 60)).sum();
    let merchant = shop.account(merchant_account_id(1, Currency::CNY));
    assert_eq!(
        fen(&merchant["credits_posted"]),
        u128::from(total),
        "booked exactly once"
    );
    assert_eq!(fen(&merchant["debits_posted"]), u128::from(fees));
    let fee_income = shop.account(fee_account_id(Currency::CNY));
    assert_eq!(fen(&fee_income["credits_posted"]), u128::from(fees));

    // Every notification owed reaches the merchant.
    let started = Instant::now();
    loop {
        let told: HashSet<String> = shop
            .merchant
            .received()
            .iter()
            .filter(|r| r.answered == 200 && r.body.contains("\"state\":\"succeeded\""))
            .filter_map(|r| {
                let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
                v["order_id"].as_str().map(str::to_string)
            })
            .collect();
        if orders.iter().all(|(id, _, _)| told.contains(id)) {
            break;
        }
        assert!(
            started.elapsed() < WAIT_MAX,
            "{} of {ORDERS} merchants told",
            told.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(server) = shop.server.as_mut() {
        server.terminate();
        assert!(server.wait_exit().success());
    }
    shop.dir.verify();
}
