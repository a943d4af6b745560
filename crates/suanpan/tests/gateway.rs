//! End-to-end tests of the payment gateway: real `suanpan serve` and `suanpan channel-sim`
//! processes, real HTTP both ways. Each test scripts the channel (pay, callbacks late, twice,
//! out of order, never, forged) and states what the books and the merchant must then show.

#[allow(dead_code)]
mod gateway_support;
#[allow(dead_code)]
mod support;

use gateway_support::{fen, payment_transfer, Shop, Timings};
use suanpan_gateway::booking::{channel_account_id, fee_account_id, merchant_account_id};
use suanpan_ledger::Currency;

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
