//! The consent page in a real browser: headless Chromium through chromedriver against a real
//! `suanpan serve`. The customer answers with the code the bank fetched through its API;
//! wrong codes are limited; what the page shows is escaped. Skipped, saying so, where
//! Chromium is not installed; a failure under `CI` (which installs it).

#[allow(dead_code)] // the shared support serves other test binaries too
mod support;

use std::time::{Duration, Instant};

use support::books::assert_error;
use support::browser::{Browser, WAIT_MAX};
use support::client::Request;
use support::consent::*;

/// The bank fetches a one-time code for its customer.
fn code(w: &World, id: &str) -> String {
    let issued = ok(&w.act(&w.bank, id, "code"), 201, "issue a code");
    issued["code"].as_str().unwrap_or_default().to_string()
}

fn page_url(w: &World, id: &str) -> String {
    format!("http://{}/consent/{id}", w.server.addr)
}

/// Waits until the page shows the consent in `want`.
fn wait_for_state(browser: &Browser, want: &str) {
    let started = Instant::now();
    loop {
        let state = browser.attribute("#state", "data-state");
        if state == want {
            return;
        }
        assert!(
            started.elapsed() < WAIT_MAX,
            "the page never showed {want}; it shows {state}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn answer(browser: &Browser, code: &str, button: &str) {
    browser.type_into("#code", code);
    browser.submit(button);
}

#[test]
fn the_customer_authorises_and_revokes_on_the_page_with_the_banks_code() {
    let Some(browser) = Browser::start_lang("zh-CN") else {
        return;
    };
    let w = World::new("consent-page");
    let made = ok(
        &w.post(
            &w.sec,
            "/v1/consents",
            &consent_json("p-1", "cust-1", &[1001, 1002], &full_access(), true),
        ),
        201,
        "request",
    );
    let id = made["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        made["consent_page"].as_str(),
        Some(page_url(&w, &id).as_str())
    );

    browser.open(&page_url(&w, &id));
    wait_for_state(&browser, "requested");
    assert_eq!(
        browser.text("h1"),
        "账户信息授权",
        "a zh-CN browser sees Chinese"
    );
    if let Ok(dir) = std::env::var("SUANPAN_SCREENSHOTS") {
        browser.screenshot(&std::path::Path::new(&dir).join("consent-page.png"));
    }
    assert_eq!(browser.text("#third-party"), "SEC-1 Securities");
    assert!(
        browser.text("#accounts").contains("1001"),
        "{}",
        browser.text("#accounts")
    );
    assert!(
        browser.text("#data").contains("账户余额"),
        "{}",
        browser.text("#data")
    );

    // Before the bank issued a code, and with a wrong one: nothing changes.
    answer(&browser, "123456", "#authorise");
    wait_for_state(&browser, "requested");
    assert!(
        browser.text("#outcome").contains("验证码"),
        "{}",
        browser.text("#outcome")
    );
    let right = code(&w, &id);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    answer(&browser, wrong, "#authorise");
    wait_for_state(&browser, "requested");
    assert!(
        browser.text("#outcome").contains("4"),
        "tries left: {}",
        browser.text("#outcome")
    );
    assert_error(
        &w.balances(&id, ""),
        403,
        "consent_pending",
        None,
        "still pending",
    );

    answer(&browser, &right, "#authorise");
    wait_for_state(&browser, "authorised");
    ok(
        &w.balances(&id, ""),
        200,
        "read once the customer authorised",
    );

    // The code was used up; revoking takes a new one.
    let again = code(&w, &id);
    answer(&browser, &again, "#revoke");
    wait_for_state(&browser, "revoked_by_customer");
    assert_error(
        &w.balances(&id, ""),
        403,
        "consent_revoked",
        None,
        "the next read after revoking on the page",
    );
    let entries = record(&w, &id);
    assert!(
        entries
            .iter()
            .any(|(a, o, _)| a == "authorise" && o == "code_invalid"),
        "a wrong code is recorded: {entries:?}"
    );
    assert!(
        entries.iter().any(|(a, o, _)| a == "revoke" && o == "ok"),
        "{entries:?}"
    );
}

#[test]
fn five_wrong_codes_burn_the_code_and_authorise_nothing() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let w = World::new("consent-page-codes");
    let made = ok(
        &w.post(
            &w.sec,
            "/v1/consents",
            &consent_json("p-2", "cust-2", &[1001], &balances_access(), true),
        ),
        201,
        "request",
    );
    let id = made["id"].as_str().unwrap_or_default().to_string();
    let right = code(&w, &id);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let form = |code: &str| {
        Request::new("POST", &format!("/consent/{id}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept-language", "en")
            .body(format!("code={code}&action=authorise").as_bytes())
            .send(w.server.addr)
    };
    for left in (1..5).rev() {
        let r = form(wrong);
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(
            r.text().contains(&format!("{left} tries left")),
            "{}",
            r.text()
        );
    }
    let burnt = form(wrong);
    assert_eq!(burnt.status, 429, "the fifth wrong code: {}", burnt.text());
    assert!(burnt
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html")));
    assert_eq!(form(&right).status, 429, "the burnt code no longer works");

    browser.open(&page_url(&w, &id));
    wait_for_state(&browser, "requested");
    assert_eq!(
        browser.text("h1"),
        "Account access consent",
        "an English browser sees English"
    );
    answer(&browser, &right, "#authorise");
    wait_for_state(&browser, "requested");
    assert!(
        browser.text("#outcome").contains("Too many wrong codes"),
        "{}",
        browser.text("#outcome")
    );
    assert_error(
        &w.balances(&id, ""),
        403,
        "consent_pending",
        None,
        "nothing was authorised",
    );

    let fresh = code(&w, &id);
    answer(&browser, &fresh, "#authorise");
    wait_for_state(&browser, "authorised");
    let missing = Request::get("/consent/cs_000000000000000000000000").send(w.server.addr);
    assert_eq!(missing.status, 404);
    assert!(
        missing.text().contains("<html"),
        "a bad link gets a page: {}",
        missing.text()
    );
}

#[test]
fn the_page_shows_markup_in_a_name_as_text_and_runs_none_of_it() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let name =
        "<script>document.title='owned'</script><img src=x onerror=\"document.title='owned'\">";
    let w = World::with_third_party_name("consent-page-escape", name);
    let made = ok(
        &w.post(
            &w.sec,
            "/v1/consents",
            &consent_json("p-3", "cust-3", &[1001], &balances_access(), true),
        ),
        201,
        "request",
    );
    let id = made["id"].as_str().unwrap_or_default().to_string();
    browser.open(&page_url(&w, &id));
    wait_for_state(&browser, "requested");
    assert_eq!(browser.text("#third-party"), name, "shown as text");
    let title = browser.call(
        "GET",
        &format!("/session/{}/title", browser.session()),
        None,
    );
    assert_eq!(title, "Account access consent", "no script ran");
}
