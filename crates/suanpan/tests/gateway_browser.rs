//! The payer's result page in a real browser: headless Chromium driven through chromedriver's
//! WebDriver protocol (a few JSON calls over HTTP), against a real `suanpan serve` and a real
//! simulated channel. Timings are shortened by configuration; the page's logic is the one
//! served in production. Skipped, saying so, where Chromium is not installed; a failure under
//! `CI` (which installs it).

#[allow(dead_code)]
mod gateway_support;
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use gateway_support::{Shop, Timings, WAIT_MAX};
use support::browser::Browser;

/// The page's state (`checking`, `processing`, or a final one) once it is `want`.
fn wait_for_state(browser: &Browser, want: &str) {
    let started = Instant::now();
    loop {
        let state = browser.attribute("#message", "data-state");
        if state == want {
            return;
        }
        assert!(
            started.elapsed() < WAIT_MAX,
            "the page never showed {want}; it shows {state}: {}",
            browser.text("#message")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_result_page_shows_processing_then_success_when_the_channel_result_arrives() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let timings = Timings {
        result_poll_ms: 200,
        result_wait_ms: 600_000,
        ..Timings::default()
    };
    let shop = Shop::new("gw-page-success", timings);
    let id = shop.order("page-1", 12_345, "alipay");
    browser.open(shop.status(&id)["result_url"].as_str().unwrap_or(""));
    assert!(browser.text("body").contains("CNY 123.45"));
    // Nothing has arrived: the page is checking, spinner on, no verdict.
    assert_eq!(browser.attribute("#message", "data-state"), "checking");
    assert!(browser.displayed("#spinner"));
    assert!(!browser.displayed("#check-again"));

    shop.alipay.pay(&id, &["TRADE_SUCCESS"]);
    wait_for_state(&browser, "succeeded");
    assert_eq!(browser.text("#message"), "Payment succeeded.");
    assert!(!browser.displayed("#spinner"));
}

#[test]
fn the_result_page_offers_to_check_again_when_nothing_arrives_in_time() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let timings = Timings {
        result_poll_ms: 100,
        result_wait_ms: 600,
        status_query_interval_ms: 0,
        ..Timings::default()
    };
    let shop = Shop::new("gw-page-timeout", timings);
    let id = shop.order("page-2", 500, "wechat");
    browser.open(shop.status(&id)["result_url"].as_str().unwrap_or(""));
    wait_for_state(&browser, "processing");
    assert!(browser.text("#message").contains("still being processed"));
    assert!(browser.displayed("#check-again"));
    assert!(!browser.displayed("#spinner"));

    // The payer paid; no callback came. "Check again" asks Suanpan, which asks the channel.
    shop.wechat.pay(&id, &[]);
    browser.click("#check-again");
    wait_for_state(&browser, "succeeded");
    assert!(!browser.displayed("#check-again"));
}
