//! The simulated channels publish each date's bill through the channel's own bill API, in the
//! channel's own format, and put in the differences they are told to: what the reconciliation
//! room will fetch. Real `suanpan serve` and `suanpan channel-sim` processes; orders paid and
//! refunded through the gateway; bills fetched over signed HTTP and read by `suanpan_recon`.

#[allow(dead_code)]
mod gateway_support;
#[allow(dead_code)]
mod support;

use gateway_support::{Shop, Timings, ALIPAY_KEY, WECHAT_KEY};
use serde_json::{json, Value};
use suanpan_gateway::channel::hmac_hex;
use suanpan_gateway::{alipay, form, wechat};
use suanpan_recon::time::format_beijing;
use suanpan_recon::{Bill, BillStatus, Key};
use support::client::{fresh_nonce, now_s, Request};

/// Today in Beijing, where the simulator dates what it paid.
fn today() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    format_beijing(ms)[..10].to_string()
}

/// WeChat's bill: where to download it, then the download, both signed over path and query.
fn wechat_bill(shop: &Shop, date: &str, gzip: bool) -> Vec<u8> {
    let sim = shop.sim("wechat");
    let signed = |target: &str| {
        let (ts, nonce) = (now_s().to_string(), fresh_nonce());
        let signature = hmac_hex(
            WECHAT_KEY.as_bytes(),
            &wechat::request_signing_string("GET", target, &ts, &nonce, b""),
        );
        Request::get(target).header(
            "Authorization",
            &format!(
                r#"WECHATPAY2-HMAC-SHA256 mchid="1900000109",nonce_str="{nonce}",timestamp="{ts}",signature="{signature}""#
            ),
        )
    };
    let tar = if gzip { "&tar_type=GZIP" } else { "" };
    let asked = signed(&format!(
        "/v3/bill/tradebill?bill_date={date}&bill_type=ALL{tar}"
    ))
    .send(sim.addr);
    assert_eq!(asked.status, 200, "{}", asked.text());
    let url = asked.json()["download_url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let target = url
        .splitn(4, '/')
        .nth(3)
        .map(|t| format!("/{t}"))
        .unwrap_or_default();
    let unsigned = Request::get(&target).send(sim.addr);
    assert_eq!(unsigned.status, 401, "the download is signed too");
    let file = signed(&target).send(sim.addr);
    assert_eq!(file.status, 200, "{}", file.text());
    file.body
}

/// Alipay's bill: its download URL from the signed API, then the zip it serves.
fn alipay_bill(shop: &Shop, date: &str) -> Vec<u8> {
    let sim = shop.sim("alipay");
    let mut pairs = vec![
        (
            "method".to_string(),
            "alipay.data.dataservice.bill.downloadurl.query".to_string(),
        ),
        ("bill_type".to_string(), "trade".to_string()),
        ("bill_date".to_string(), date.to_string()),
    ];
    let sign = hmac_hex(
        ALIPAY_KEY.as_bytes(),
        alipay::signing_string(&pairs).as_bytes(),
    );
    pairs.push(("sign".to_string(), sign));
    let body: Vec<(&str, String)> = pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let asked = Request::new("POST", "/gateway.do")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form::encode(&body).as_bytes())
        .send(sim.addr);
    let v = asked.json();
    assert_eq!(v["code"], "10000", "{v}");
    let url = v["bill_download_url"].as_str().unwrap_or_default();
    let target = url
        .splitn(4, '/')
        .nth(3)
        .map(|t| format!("/{t}"))
        .unwrap_or_default();
    let file = Request::get(&target).send(sim.addr);
    assert_eq!(file.status, 200, "{}", file.text());
    file.body
}

fn script(shop: &Shop, channel: &str, date: &str, script: Value) {
    let r = Request::post(&format!("/sim/bills/{date}"), &script.to_string())
        .send(shop.sim(channel).addr);
    assert_eq!(r.status, 200, "{}", r.text());
}

/// (key, amount, fee, status) of each line.
fn lines(bill: &Bill) -> Vec<(Key, u64, u64, BillStatus)> {
    bill.lines
        .iter()
        .map(|l| (l.key, l.amount_fen, l.fee_fen, l.status))
        .collect()
}

#[test]
fn each_channel_publishes_what_it_paid_in_its_own_format_with_the_differences_scripted() {
    let shop = Shop::new("recon-bills", Timings::default());
    let date = today();
    let id = |s: &str| s.parse::<u64>().unwrap_or_default();
    for channel in ["wechat", "alipay"] {
        let paid = shop.order(&format!("{channel}-1"), 10_000, channel);
        let refunded = shop.order(&format!("{channel}-2"), 2_000, channel);
        let unpaid = shop.order(&format!("{channel}-3"), 3_000, channel);
        shop.sim(channel).pay(
            &paid,
            &[if channel == "wechat" {
                "SUCCESS"
            } else {
                "TRADE_SUCCESS"
            }],
        );
        shop.sim(channel).pay(
            &refunded,
            &[if channel == "wechat" {
                "SUCCESS"
            } else {
                "TRADE_SUCCESS"
            }],
        );
        shop.wait_for(&paid, "paid", |o| o["state"] == "succeeded");
        shop.wait_for(&refunded, "paid", |o| o["state"] == "succeeded");
        let refund = shop.post_refund(&refunded, "rf-1", 500);
        assert_eq!(refund.status, 201, "{}", refund.text());
        let refund_id = id(refund.json()["id"].as_str().unwrap_or_default());

        let read = |bytes: &[u8]| match channel {
            "wechat" => suanpan_recon::wechat::parse(bytes),
            _ => suanpan_recon::alipay::parse(bytes),
        };
        let fetch = || match channel {
            "wechat" => wechat_bill(&shop, &date, false),
            _ => alipay_bill(&shop, &date),
        };
        // As paid: both payments at 0.60 %, the refund with its fee returned; not the unpaid.
        let bill = read(&fetch()).unwrap_or_else(|e| panic!("{channel}: {e}"));
        assert_eq!(
            lines(&bill),
            vec![
                (Key::Payment(id(&paid)), 10_000, 60, BillStatus::Success),
                (Key::Payment(id(&refunded)), 2_000, 12, BillStatus::Success),
                (Key::Refund(refund_id), 500, 3, BillStatus::Success),
            ],
            "{channel}"
        );
        assert!(bill
            .lines
            .iter()
            .all(|l| l.key != Key::Payment(id(&unpaid))));
        if channel == "wechat" {
            let zipped = wechat_bill(&shop, &date, true);
            assert_eq!(zipped[..2], [0x1f, 0x8b]);
            assert_eq!(read(&zipped).map(|b| lines(&b)), Ok(lines(&bill)));
        } else {
            // Really a zip of GBK text.
            assert_eq!(&alipay_bill(&shop, &date)[..4], b"PK\x03\x04");
        }

        // Differences as told: one dropped, one at another amount and repeated, one the
        // platform never made; then republished with corrections.
        script(
            &shop,
            channel,
            &date,
            json!({"drop": [paid], "amount": {refunded.clone(): 2_001}, "duplicate": [refunded],
                   "extra": [{"order": 99_999_999, "amount_fen": 777}]}),
        );
        let bill = read(&fetch()).unwrap_or_else(|e| panic!("{channel}: {e}"));
        assert_eq!(
            lines(&bill),
            vec![
                (Key::Payment(id(&refunded)), 2_001, 12, BillStatus::Success),
                (Key::Payment(id(&refunded)), 2_001, 12, BillStatus::Success),
                (Key::Refund(refund_id), 500, 3, BillStatus::Success),
                (Key::Payment(99_999_999), 777, 4, BillStatus::Success),
            ],
            "{channel}"
        );
        script(
            &shop,
            channel,
            &date,
            json!({"refunded_at_channel": [paid], "next_day": [refunded]}),
        );
        let bill = read(&fetch()).unwrap_or_else(|e| panic!("{channel}: {e}"));
        assert_eq!(
            lines(&bill),
            vec![
                (
                    Key::Payment(id(&paid)),
                    10_000,
                    60,
                    BillStatus::RefundedAtChannel
                ),
                (Key::Refund(refund_id), 500, 3, BillStatus::Success),
            ],
            "{channel}: republished"
        );
        // A bad date is refused in the channel's own way.
        let bad = Request::post("/sim/bills/2026-02-30", "{}").send(shop.sim(channel).addr);
        assert_eq!(bad.status, 400);
    }
}
