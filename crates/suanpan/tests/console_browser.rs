//! The operations console in headless Chromium against a real `suanpan serve`: log in with a
//! token, see the overview, roles held by the page and by the server (a viewer finds no
//! admin page and is refused and audited when it asks), forms without the session's CSRF
//! token refused, an idle session sent back to the login page, markup in a name shown as
//! text. Skipped, saying so, where Chromium is not installed; a failure under `CI`.

#[allow(dead_code)] // the shared support serves other test binaries too
mod support;

use std::time::{Duration, Instant};

use support::browser::{Browser, WAIT_MAX};
use support::client::{Request, Response};
use support::server::{DataDir, Server};

/// Saves the page as docs' screenshot `name` when `SUANPAN_SCREENSHOTS` names a directory
/// (`scripts/screenshots` sets it); otherwise nothing.
fn shoot(browser: &Browser, name: &str) {
    if let Ok(dir) = std::env::var("SUANPAN_SCREENSHOTS") {
        browser.window(1280, 860);
        browser.screenshot(&std::path::Path::new(&dir).join(format!("{name}.png")));
    }
}

fn log_in(browser: &Browser, server: &Server, token: &str) {
    browser.open(&format!("http://{}/console/login", server.addr));
    browser.type_into("#token", token);
    browser.submit("#login");
    wait_for(browser, "#who");
}

/// Waits until the page has an element matching `css`.
fn wait_for(browser: &Browser, css: &str) {
    let started = Instant::now();
    let find = format!("/session/{}/element", browser.session());
    while browser
        .try_call(
            "POST",
            &find,
            Some(serde_json::json!({"using": "css selector", "value": css})),
        )
        .is_err()
    {
        assert!(started.elapsed() < WAIT_MAX, "the page never showed {css}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn has(browser: &Browser, css: &str) -> bool {
    let find = format!("/session/{}/element", browser.session());
    browser
        .try_call(
            "POST",
            &find,
            Some(serde_json::json!({"using": "css selector", "value": css})),
        )
        .is_ok()
}

/// Logs in over plain HTTP: the session cookie.
fn session_cookie(server: &Server, token: &str) -> String {
    let r = Request::new("POST", "/console/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}").as_bytes())
        .send(server.addr);
    assert_eq!(r.status, 303, "{}", r.text());
    let cookie = r.header("set-cookie").unwrap_or_default().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie.split(';').next().unwrap_or_default().to_string()
}

fn audit_outcomes(server: &Server, admin: &str) -> Vec<(String, String)> {
    let v = Request::get("/v1/audit?limit=1000")
        .bearer(admin)
        .send(server.addr)
        .json();
    v["entries"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|x| {
                    (
                        x["action"].as_str().unwrap_or("").into(),
                        x["outcome"].as_str().unwrap_or("").into(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn an_admin_logs_in_and_sees_the_overview_and_the_audit_log() {
    let Some(browser) = Browser::start_lang("zh-CN") else {
        return;
    };
    let dir = DataDir::new("console-admin");
    let server = Server::start(&dir);
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap_or_default();
    let token = token.trim();
    browser.open(&format!("http://{}/", server.addr));
    wait_for(&browser, "#token");
    log_in(&browser, &server, token);
    assert_eq!(browser.text("h1"), "概览", "a zh-CN browser sees Chinese");
    for card in [
        "#transfers-per-s",
        "#latency",
        "#queue-depth",
        "#journal-size",
        "#node-role",
        "#accounting-date",
        "#last-batch",
        "#chart-transfers",
    ] {
        assert!(has(&browser, card), "the overview shows {card}");
    }
    assert_eq!(browser.text("#node-role"), "主节点");
    shoot(&browser, "console-overview-zh");
    browser.submit("a[href='?lang=en']");
    wait_for(&browser, "#who");
    assert_eq!(
        browser.text("h1"),
        "Overview",
        "the switch to English holds"
    );
    shoot(&browser, "console-overview");
    browser.open(&format!("http://{}/console/audit", server.addr));
    wait_for(&browser, "#audit");
    assert!(
        browser.text("#audit").contains("console_login"),
        "{}",
        browser.text("#audit")
    );
    browser.submit("#logout");
    wait_for(&browser, "#token");
    browser.open(&format!("http://{}/", server.addr));
    wait_for(&browser, "#token");
}

#[test]
fn a_viewer_finds_no_admin_page_and_is_refused_and_audited_when_it_asks() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let dir = DataDir::new("console-viewer");
    let admin = dir.operator("ops-admin", "admin");
    let viewer = dir.operator("ops-viewer", "viewer");
    let server = Server::start(&dir);
    log_in(&browser, &server, &viewer);
    assert!(
        !has(&browser, "a[href='/console/audit']"),
        "no link to a page the role may not see"
    );
    browser.open(&format!("http://{}/console/audit", server.addr));
    wait_for(&browser, "#notice");
    assert!(!has(&browser, "#audit"));
    let cookie = session_cookie(&server, &viewer);
    let direct = Request::get("/console/audit")
        .header("cookie", &cookie)
        .send(server.addr);
    assert_eq!(direct.status, 403);
    // A form posted from elsewhere (no CSRF token) is refused, and audited.
    let forged = Request::new("POST", "/console/payouts/return")
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"id=1")
        .send(server.addr);
    assert_eq!(forged.status, 403, "{}", forged.text());
    let outcomes = audit_outcomes(&server, &admin);
    assert!(
        outcomes.contains(&("read_audit_log".into(), "forbidden".into())),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("console_form".into(), "csrf_refused".into())),
        "{outcomes:?}"
    );
    // Without a session every page sends the browser to log in.
    let anonymous: Response = Request::get("/").send(server.addr);
    assert_eq!(
        (anonymous.status, anonymous.header("location")),
        (303, Some("/console/login"))
    );
    let wrong = Request::new("POST", "/console/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"token=ot_nothing")
        .send(server.addr);
    assert_eq!(wrong.status, 401);
}

#[test]
fn an_idle_session_goes_back_to_the_login_page() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let dir = DataDir::new("console-idle");
    let admin = dir.operator("ops-admin", "admin");
    let server = Server::start_with(&dir, &["--console-session-idle-s", "1"]);
    log_in(&browser, &server, &admin);
    std::thread::sleep(Duration::from_millis(1500));
    browser.open(&format!("http://{}/", server.addr));
    wait_for(&browser, "#token");
}

#[test]
fn markup_in_an_operators_name_is_shown_as_text_and_never_run() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let dir = DataDir::new("console-escape");
    let name = "<script>document.title='owned'</script>";
    let token = dir.operator(name, "admin");
    let server = Server::start(&dir);
    log_in(&browser, &server, &token);
    assert!(
        browser.text("#who").starts_with(name),
        "{}",
        browser.text("#who")
    );
    let title = browser.call(
        "GET",
        &format!("/session/{}/title", browser.session()),
        None,
    );
    assert_eq!(title, "Overview · Suanpan", "no script ran");
}

fn send(server: &Server, token: &str, method: &str, target: &str, json: &str) -> Response {
    let mut r = Request::new(method, target).bearer(token);
    if !json.is_empty() {
        r = r
            .header("content-type", "application/json")
            .body(json.as_bytes());
    }
    r.send(server.addr)
}

/// The CSRF token of a session, from one of its pages.
fn csrf_of(server: &Server, cookie: &str) -> String {
    let page = Request::get("/")
        .header("cookie", cookie)
        .send(server.addr)
        .text();
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < WAIT_MAX, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_operator_closes_the_books_writes_off_suspense_and_downloads_a_statement() {
    use sha2::{Digest, Sha256};
    let Some(browser) = Browser::start() else {
        return;
    };
    let dir = DataDir::new("console-books");
    let admin = dir.operator("ops-admin", "admin");
    let operator = dir.operator("ops-1", "operator");
    let viewer = dir.operator("ops-view", "viewer");
    let bank = dir.participant("bank-a");
    let server = Server::start(&dir);
    let signed =
        |target: &str, json: &str| Request::post(target, json).signed(&bank).send(server.addr);

    // A day whose rule books code 0 with its sides swapped: the day-end puts the difference
    // in suspense. The transfer's reference is markup.
    let wrong = r#"{"name":"wrong side","debit":"credit_account","credit":"debit_account"}"#;
    assert_eq!(
        send(&server, &operator, "PUT", "/v1/accounting/rules/0", wrong).status,
        200
    );
    for (id, subject) in [(1, "2241.01"), (2, "2241.02")] {
        let r = signed(
            "/v1/accounts",
            &format!(
                r#"{{"id":"{id}","currency":"CNY","subject_code":"{subject}","overdraft":true}}"#
            ),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let script = "<script>document.title='owned'</script>";
    let paid = signed(
        "/v1/transfers",
        &serde_json::json!({"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"7700","currency":"CNY","reference":script}).to_string(),
    );
    assert_eq!(paid.status, 201, "{}", paid.text());
    let cut = send(&server, &admin, "POST", "/v1/accounting/cutover", "").json();
    let date = cut["closed_date"].as_str().unwrap_or_default().to_string();

    // A clearing batch with its statements.
    for (n, code, cap) in [(1, "B001", 100_000), (2, "B002", 50_000)] {
        let body = format!(
            r#"{{"number":{n},"code":"{code}","name":"Bank {code}","kind":"bank","net_debit_cap":"{cap}"}}"#
        );
        assert_eq!(
            send(
                &server,
                &operator,
                "POST",
                "/v1/clearing/participants",
                &body
            )
            .status,
            201
        );
    }
    let payment = format!(
        r#"{{"id":"500","debit_account_id":"{}","credit_account_id":"{}","amount":"3000","currency":"CNY","code":6001}}"#,
        suanpan_clearing::position_account_id(1),
        suanpan_clearing::position_account_id(2)
    );
    assert_eq!(
        send(&server, &operator, "POST", "/v1/transfers", &payment).status,
        201
    );
    assert_eq!(
        send(&server, &operator, "POST", "/v1/clearing/batches", "").status,
        201
    );
    assert_eq!(
        send(
            &server,
            &operator,
            "POST",
            "/v1/clearing/batches/1/statements",
            ""
        )
        .status,
        201
    );

    // A viewer sees no button that changes anything, and a write-off it forges is refused.
    log_in(&browser, &server, &viewer);
    browser.open(&format!("http://{}/console/accounting", server.addr));
    wait_for(&browser, "#dates");
    assert!(!has(&browser, "button[id^='write-off-']") && !has(&browser, "button[id^='day-end-']"));
    let cookie = session_cookie(&server, &viewer);
    let csrf = csrf_of(&server, &cookie);
    let forged = Request::new("POST", "/console/accounting/write-off")
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&item=1&note=x&against=6711").as_bytes())
        .send(server.addr);
    assert_eq!(forged.status, 403, "{}", forged.text());
    assert!(audit_outcomes(&server, &admin).contains(&("write_off".into(), "forbidden".into())));

    // The operator starts the day-end from the page and sees every step complete.
    browser.submit("#logout");
    wait_for(&browser, "#token");
    log_in(&browser, &server, &operator);
    browser.open(&format!("http://{}/console/accounting", server.addr));
    browser.submit(&format!("#day-end-{date}"));
    wait_for(&browser, "#steps");
    wait_until("every day-end step done", || {
        browser.text(&format!("#state-{date}")) == "complete"
    });
    browser.open(&format!(
        "http://{}/console/accounting?date={date}",
        server.addr
    ));
    wait_for(&browser, "#steps");
    for step in [
        "catch_up",
        "supplement",
        "general_ledger",
        "trial_balance",
        "daily_balances",
        "gl_check",
        "suspense",
        "period_roll_up",
        "reports",
    ] {
        assert_eq!(
            browser.attribute(&format!("#step-{step}"), "data-done"),
            "true",
            "{step}"
        );
    }
    shoot(&browser, "console-accounting");

    // The date's reports, the chart and the rules; the batch's figures; closing a batch.
    browser.open(&format!(
        "http://{}/console/accounting/reports?date={date}",
        server.addr
    ));
    wait_for(&browser, "#trial-balance");
    assert!(
        browser.text("#subject-balances").contains("2241.01"),
        "{}",
        browser.text("#subject-balances")
    );
    assert!(
        browser.text("#rules").contains("wrong side"),
        "{}",
        browser.text("#rules")
    );
    browser.open(&format!(
        "http://{}/console/clearing/batches?batch=1",
        server.addr
    ));
    wait_for(&browser, "#positions");
    assert!(
        browser.text("#positions").contains("3000"),
        "{}",
        browser.text("#positions")
    );
    browser.submit("#settle-batch");
    wait_for(&browser, "#notice");
    assert!(
        browser.text("#notice").contains('2'),
        "two postings: {}",
        browser.text("#notice")
    );
    browser.submit("#close-batch");
    wait_for(&browser, "#batch-totals");
    assert!(
        browser.current_url().ends_with("batch=2"),
        "{}",
        browser.current_url()
    );

    // It writes off one suspense item against non-operating expense.
    browser.open(&format!("http://{}/console/accounting", server.addr));
    wait_for(&browser, "#suspense");
    let items = Request::get("/v1/accounting/suspense")
        .bearer(&operator)
        .send(server.addr)
        .json();
    let item = items["items"][0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no suspense item: {items}"));
    browser.type_into(&format!("#note-{item}"), "rule 0 had its sides swapped");
    browser.type_into(&format!("#against-{item}"), "6711");
    browser.submit(&format!("#write-off-{item}"));
    wait_until("the item written off", || {
        has(&browser, &format!("#suspense-{item}"))
            && browser.text(&format!("#suspense-{item}")) == "written_off"
    });

    // A statement downloaded from the page is the file, byte for byte.
    browser.open(&format!("http://{}/console/clearing", server.addr));
    wait_for(&browser, "#statement-1-1");
    shoot(&browser, "console-clearing");
    let href = browser.attribute("#statement-1-1", "href");
    let href = href.as_str().unwrap_or_default();
    let path = &href[href.find("/console").unwrap_or(0)..];
    let op_cookie = session_cookie(&server, &operator);
    let download = Request::get(path)
        .header("cookie", &op_cookie)
        .send(server.addr);
    assert_eq!(download.status, 200, "{}", download.text());
    assert!(download
        .header("content-disposition")
        .is_some_and(|d| d.starts_with("attachment")));
    let digest = suanpan_ledger::hex(&Sha256::digest(&download.body));
    assert_eq!(download.header("x-suanpan-sha256"), Some(digest.as_str()));
    let file = std::fs::read(
        dir.path()
            .join("clearing/statements")
            .join(suanpan_clearing::statement_file_name(1, 1)),
    )
    .unwrap_or_else(|e| panic!("the statement file: {e}"));
    assert_eq!(suanpan_ledger::hex(&Sha256::digest(&file)), digest);

    // The transfer's reference is shown as text; nothing of it runs.
    browser.open(&format!("http://{}/console/transfers?id=10", server.addr));
    wait_for(&browser, "#transfer-reference");
    assert_eq!(browser.text("#transfer-reference"), script);
    let title = browser.call(
        "GET",
        &format!("/session/{}/title", browser.session()),
        None,
    );
    assert_eq!(title, "Transfers · Suanpan");
}

#[test]
fn an_operator_reads_an_account_posts_a_pending_transfer_and_changes_a_cap() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let dir = DataDir::new("console-ledger");
    let operator = dir.operator("ops-1", "operator");
    let bank = dir.participant("bank-a");
    let server = Server::start(&dir);
    let signed =
        |target: &str, json: &str| Request::post(target, json).signed(&bank).send(server.addr);
    for id in [1, 2] {
        assert_eq!(
            signed(
                "/v1/accounts",
                &format!(
                    r#"{{"id":"{id}","currency":"CNY","subject_code":"2241.01","overdraft":true}}"#
                )
            )
            .status,
            201
        );
    }
    assert_eq!(signed("/v1/transfers", r#"{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":"500","currency":"CNY"}"#).status, 201);
    let pending = signed(
        "/v1/transfers",
        r#"{"id":"11","debit_account_id":"1","credit_account_id":"2","amount":"200","currency":"CNY","pending":true}"#,
    );
    assert_eq!(pending.status, 201, "{}", pending.text());
    let body =
        r#"{"number":1,"code":"B001","name":"Bank B001","kind":"bank","net_debit_cap":"100000"}"#;
    assert_eq!(
        send(
            &server,
            &operator,
            "POST",
            "/v1/clearing/participants",
            body
        )
        .status,
        201
    );

    log_in(&browser, &server, &operator);
    browser.open(&format!("http://{}/console/accounts?id=2", server.addr));
    wait_for(&browser, "#account");
    assert_eq!(browser.text("#account-credit_balance"), "500");
    assert_eq!(browser.text("#account-credits_pending"), "200");
    assert!(
        browser.text("#history").contains("10"),
        "{}",
        browser.text("#history")
    );
    shoot(&browser, "console-account");

    // Found by owner and by subject through the index.
    browser.open(&format!("http://{}/console/accounts?owner=1", server.addr));
    wait_for(&browser, "#accounts");
    // The bank's two, and clearing participant 1's position and settlement accounts.
    let found = browser.text("#accounts");
    let ids: Vec<&str> = found.split_whitespace().collect();
    assert_eq!((ids.len(), &ids[..2]), (4, &["1", "2"][..]), "{found}");
    browser.open(&format!(
        "http://{}/console/accounts?subject=2241.01",
        server.addr
    ));
    wait_for(&browser, "#accounts");
    assert!(
        browser.text("#accounts").contains('2'),
        "{}",
        browser.text("#accounts")
    );

    // The open pending transfer is listed, and from the list it is posted.
    browser.open(&format!("http://{}/console/transfers/pending", server.addr));
    wait_for(&browser, "#pending");
    assert_eq!(browser.text("#pending a"), "11");
    browser.open(&format!("http://{}/console/transfers?id=11", server.addr));
    wait_for(&browser, "#post-pending");
    browser.submit("#post-pending");
    wait_for(&browser, "#transfer-kind");
    assert_eq!(browser.text("#transfer-kind"), "post_pending");
    browser.open(&format!("http://{}/console/transfers/pending", server.addr));
    wait_for(&browser, "#pending");
    assert!(!has(&browser, "#pending a"), "posted: no longer open");
    let account = Request::get("/v1/accounts/2")
        .signed(&bank)
        .send(server.addr)
        .json();
    assert_eq!(account["credit_balance"], "700", "{account}");

    browser.open(&format!(
        "http://{}/console/clearing/participants",
        server.addr
    ));
    wait_for(&browser, "#participants");
    assert_eq!(browser.attribute("#used-1", "data-used"), "0");
    shoot(&browser, "console-participants");
    browser.type_into("input[name='cap']", "250000");
    browser.submit("#cap-1");
    wait_for(&browser, "#participants");
    let p = Request::get("/v1/clearing/participants/1")
        .bearer(&operator)
        .send(server.addr)
        .json();
    assert_eq!(p["net_debit_cap"], "250000", "{p}");
    browser.submit("#suspend-1");
    wait_for(&browser, "#participants");
    assert_eq!(browser.text("#participant-status-1"), "suspended");
}
