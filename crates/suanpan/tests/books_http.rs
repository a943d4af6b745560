//! End-to-end tests of the accounting and clearing endpoints: a real `suanpan serve` on a
//! fresh data directory, real credentials, real HTTP. They state what the books do when an
//! operator closes a day, writes off suspense, manages participants and clearing batches,
//! and that a participant reads its own statement and nobody else's.

#[allow(dead_code)] // the shared support serves other test binaries too
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::books::{assert_error, Bank};
use support::client::{Request, Response};
use support::server::{suanpan, DataDir, Server};

/// A debug build on a busy 2-core machine: a day-end of a few transfers takes well under this.
const WAIT_MAX: Duration = Duration::from_secs(120);

fn get(addr: SocketAddr, token: &str, target: &str) -> Response {
    Request::get(target).bearer(token).send(addr)
}

fn post(addr: SocketAddr, token: &str, target: &str, json: &str) -> Response {
    let request = if json.is_empty() {
        Request::new("POST", target)
    } else {
        Request::post(target, json)
    };
    request.bearer(token).send(addr)
}

fn send(addr: SocketAddr, token: &str, method: &str, target: &str, json: &str) -> Response {
    let mut request = Request::new(method, target).bearer(token);
    if !json.is_empty() {
        request = request
            .header("content-type", "application/json")
            .body(json.as_bytes());
    }
    request.send(addr)
}

fn ok(r: &Response, status: u16, what: &str) -> Value {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    r.json()
}

/// Opens an account of the bank under a subject, overdraft allowed (the tests fund accounts
/// from others that start at zero).
fn open(bank: &Bank, id: u128, subject: &str) {
    let body =
        format!(r#"{{"id":"{id}","currency":"CNY","subject_code":"{subject}","overdraft":true}}"#);
    let r = bank.post("/v1/accounts", &body);
    assert_eq!(r.status, 201, "opening {id}: {}", r.text());
}

fn pay(bank: &Bank, id: u128, debit: u128, credit: u128, amount_fen: u64) {
    let r = bank.pay(id, debit, credit, amount_fen);
    assert_eq!(r.status, 201, "transfer {id}: {}", r.text());
}

/// The books' open date (the last one the accounting system knows).
fn open_date(addr: SocketAddr, token: &str) -> String {
    let dates = ok(&get(addr, token, "/v1/accounting/dates"), 200, "dates");
    let last = dates["dates"]
        .as_array()
        .and_then(|d| d.last())
        .unwrap_or_else(|| panic!("no date yet: {dates}"));
    assert_eq!(last["closed"], false, "the last date is open: {dates}");
    last["accounting_date"]
        .as_str()
        .unwrap_or_else(|| panic!("{last}"))
        .to_string()
}

fn cutover(addr: SocketAddr, admin: &str) -> (String, String) {
    let done = ok(
        &post(addr, admin, "/v1/accounting/cutover", ""),
        200,
        "cutover",
    );
    let text = |k: &str| done[k].as_str().unwrap_or_default().to_string();
    (text("closed_date"), text("accounting_date"))
}

/// Polls a day-end's status until it completes (bounded; a failed run fails the test).
fn wait_day_end(addr: SocketAddr, token: &str, date: &str) -> Value {
    let started = Instant::now();
    loop {
        let status = ok(
            &get(addr, token, &format!("/v1/accounting/dates/{date}/day-end")),
            200,
            "day-end status",
        );
        if status["state"] == "complete" {
            return status;
        }
        assert!(
            status["last_error"].is_null(),
            "the day-end of {date} failed: {status}"
        );
        assert!(
            started.elapsed() < WAIT_MAX,
            "the day-end of {date} did not complete: {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_day_end(addr: SocketAddr, token: &str, date: &str) -> Value {
    let target = format!("/v1/accounting/dates/{date}/day-end");
    let started = post(addr, token, &target, "");
    let body = ok(&started, 202, "start the day-end");
    assert_eq!(body["status_url"], target.as_str());
    assert_eq!(started.header("location"), Some(target.as_str()));
    wait_day_end(addr, token, date)
}

fn audit_actions(addr: SocketAddr, admin: &str) -> Vec<(String, String, String)> {
    let log = ok(&get(addr, admin, "/v1/audit?limit=1000"), 200, "audit log");
    log["entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                    (s("operator"), s("action"), s("outcome"))
                })
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Accounting
// ---------------------------------------------------------------------------------------

#[test]
fn a_day_closed_through_the_api_balances_and_its_reports_match_the_files() {
    let dir = DataDir::new("books-day-end");
    let admin = dir.operator("ops-admin", "admin");
    let operator = dir.operator("ops-1", "operator");
    let viewer = dir.operator("ops-view", "viewer");
    let key = dir.participant("bank-a");
    // The day-end holds the books until this file is removed, below.
    let hold = dir.path().join("hold-day-end");
    std::fs::write(&hold, "").expect("hold file");
    let server = Server::start_env(
        &dir,
        &["--auto-cutover", "false"],
        &[("SUANPAN_DAY_END_HOLD_FILE", &hold.display().to_string())],
    );
    let bank = Bank { dir, server, key };
    let addr = bank.addr();
    open(&bank, 1, "2241.01");
    open(&bank, 2, "2241.02");
    pay(&bank, 10, 1, 2, 30_000);
    pay(&bank, 11, 1, 2, 4_500);
    let date = open_date(addr, &viewer);

    // The open date cannot close yet; only an admin cuts over.
    let target = format!("/v1/accounting/dates/{date}/day-end");
    assert_error(
        &post(addr, &operator, &target, ""),
        409,
        "date_not_closed",
        None,
        "day-end of the open date",
    );
    for (token, who) in [(&viewer, "viewer"), (&operator, "operator")] {
        let r = post(addr, token, "/v1/accounting/cutover", "");
        assert_error(&r, 403, "forbidden", None, who);
    }
    let (closed, next) = cutover(addr, &admin);
    assert_eq!(closed, date);
    assert_ne!(next, date);
    pay(&bank, 12, 1, 2, 100); // business goes on under the next date

    // A viewer cannot start it; an operator can, and a second start while it runs conflicts.
    assert_error(
        &post(addr, &viewer, &target, ""),
        403,
        "forbidden",
        None,
        "viewer starts a day-end",
    );
    let started = post(addr, &operator, &target, "");
    ok(&started, 202, "start");
    assert_error(
        &post(addr, &operator, &target, ""),
        409,
        "day_end_running",
        None,
        "second start",
    );
    let running = ok(&get(addr, &viewer, &target), 200, "status while running");
    assert_eq!(running["state"], "running", "{running}");
    // Other accounting requests wait for the books a bounded time, then say so.
    assert_error(
        &get(addr, &viewer, "/v1/accounting/suspense"),
        503,
        "accounting_busy",
        None,
        "suspense while the day-end holds the books",
    );
    std::fs::remove_file(&hold).expect("release the day-end");

    let status = wait_day_end(addr, &viewer, &date);
    let steps = status["steps"].as_array().cloned().unwrap_or_default();
    assert_eq!(steps.len(), 10, "{status}");
    for step in &steps {
        assert_eq!(step["done"], true, "{step}");
        assert!(step["elapsed_ms"].is_u64(), "time of each step: {step}");
    }
    assert_eq!(status["transfers"], 2, "{status}");

    // The trial balance balances; CSV by query or by Accept is the report file, byte for byte.
    let trial = ok(
        &get(
            addr,
            &viewer,
            &format!("/v1/accounting/dates/{date}/trial-balance"),
        ),
        200,
        "trial balance",
    );
    assert_eq!(trial["totals"][0]["balanced"], true, "{trial}");
    assert_eq!(trial["totals"][0]["debits"], "34500", "{trial}");
    let file = |name: &str| {
        std::fs::read(bank.dir.path().join("reports").join(&date).join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let csv = get(
        addr,
        &viewer,
        &format!("/v1/accounting/dates/{date}/trial-balance?format=csv"),
    );
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert!(csv
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/csv"));
    assert_eq!(csv.body, file("trial-balance.csv"));
    let by_accept = Request::get(&format!("/v1/accounting/dates/{date}/subject-balances"))
        .bearer(&viewer)
        .header("accept", "text/csv")
        .send(addr);
    assert_eq!(by_accept.body, file("subject-balances.csv"));
    let table = ok(
        &get(
            addr,
            &viewer,
            &format!("/v1/accounting/dates/{date}/subject-balances"),
        ),
        200,
        "subject balances",
    );
    let codes: Vec<&str> = table["subjects"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|r| r["subject_code"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        codes.contains(&"2241") && codes.contains(&"2241.02"),
        "{codes:?}"
    );

    // Error classes of the reports.
    let report = |d: &str| format!("/v1/accounting/dates/{d}/trial-balance");
    assert_error(
        &get(addr, &viewer, &report("1999-01-01")),
        404,
        "date_unknown",
        None,
        "a date the journal never had",
    );
    assert_error(
        &get(addr, &viewer, &report("2026-13-01")),
        400,
        "invalid_value",
        Some("date"),
        "not a date",
    );
    assert_error(
        &get(addr, &viewer, &report(&next)),
        409,
        "step_not_done",
        None,
        "the open date has no general ledger yet",
    );
    assert_error(
        &get(addr, &viewer, &format!("{}?format=xml", report(&date))),
        400,
        "invalid_value",
        Some("format"),
        "format",
    );

    // A rerun of a complete date changes nothing and completes again.
    let again = run_day_end(addr, &operator, &date);
    assert_eq!(again["state"], "complete");

    // The date after next waits for next's day-end.
    let (_, third) = cutover(addr, &admin);
    cutover(addr, &admin);
    assert_error(
        &post(
            addr,
            &operator,
            &format!("/v1/accounting/dates/{third}/day-end"),
            "",
        ),
        409,
        "previous_day_end_incomplete",
        None,
        "skipping a date",
    );

    let audit = audit_actions(addr, &admin);
    let has = |op: &str, action: &str, outcome: &str| {
        audit
            .iter()
            .any(|(o, a, out)| o == op && a == action && out.starts_with(outcome))
    };
    assert!(has("ops-1", "day_end", "complete"), "{audit:?}");
    assert!(has("ops-admin", "cutover", "ok"), "{audit:?}");
    assert!(has("ops-view", "cutover", "forbidden"), "{audit:?}");
    assert!(has("ops-1", "day_end", "day_end_running"), "{audit:?}");
    bank.dir.verify();
}

#[test]
fn a_day_end_started_on_the_command_line_is_finished_through_the_api() {
    let dir = DataDir::new("books-rerun");
    let operator = dir.operator("ops-1", "operator");
    let key = dir.participant("bank-a");
    // Business and a cutover, then the day-end's first three steps on the command line.
    let server = Server::start_with(&dir, &["--auto-cutover", "false"]);
    let admin = dir.operator("ops-admin", "admin");
    let bank = Bank { dir, server, key };
    open(&bank, 1, "2241.01");
    open(&bank, 2, "2241.02");
    pay(&bank, 10, 1, 2, 999);
    let date = open_date(bank.addr(), &operator);
    cutover(bank.addr(), &admin);
    let Bank {
        dir,
        mut server,
        key,
    } = bank;
    server.terminate();
    assert!(server.wait_exit().success());
    let output = suanpan()
        .args([
            "day-end",
            "--date",
            &date,
            "--until",
            "general_ledger",
            "--json",
            "--data",
        ])
        .arg(dir.path())
        .args(dir.postgres_args())
        .output()
        .unwrap_or_else(|e| panic!("cannot run suanpan day-end: {e}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The day-end names the journal's head it read to; `verify` holds the journal to it.
    let line: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    let head = line["journal_head"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let verified = suanpan()
        .arg("verify")
        .args(dir.journal_args())
        .args(["--anchor", &head])
        .output()
        .unwrap_or_else(|e| panic!("cannot run suanpan verify: {e}"));
    assert!(
        verified.status.success(),
        "verify --anchor {head:?}: {}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(String::from_utf8_lossy(&verified.stdout).contains(&format!("the anchor {head}")));

    let server = Server::start_with(&dir, &["--auto-cutover", "false"]);
    let bank = Bank { dir, server, key };
    let addr = bank.addr();
    let target = format!("/v1/accounting/dates/{date}/day-end");
    let partial = ok(
        &get(addr, &operator, &target),
        200,
        "status after the command line",
    );
    assert_eq!(partial["state"], "partial", "{partial}");
    let done: Vec<&str> = partial["steps"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter(|s| s["done"] == true)
                .filter_map(|s| s["step"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        done,
        ["reconcile", "catch_up", "supplement", "general_ledger"],
        "{partial}"
    );
    // While serve holds the books, the command line is refused with one readable line.
    let refused = suanpan()
        .args(["day-end", "status", "--data"])
        .arg(bank.dir.path())
        .args(bank.dir.postgres_args())
        .output()
        .unwrap_or_else(|e| panic!("cannot run suanpan day-end: {e}"));
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("another Suanpan process"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let status = run_day_end(addr, &operator, &date);
    assert_eq!(status["state"], "complete", "{status}");
    let steps = status["steps"].as_array().cloned().unwrap_or_default();
    // The steps done before keep their summaries; the rest ran now, each with its time.
    assert_eq!(
        steps[2]["summary"], partial["steps"][2]["summary"],
        "{status}"
    );
    assert!(
        steps[3..].iter().all(|s| s["elapsed_ms"].is_u64()),
        "{status}"
    );
    let trial = ok(
        &get(
            addr,
            &operator,
            &format!("/v1/accounting/dates/{date}/trial-balance"),
        ),
        200,
        "trial balance",
    );
    assert_eq!(trial["totals"][0]["debits"], "999", "{trial}");
    bank.dir.verify();
}

#[test]
fn a_wrong_rule_lands_in_suspense_and_only_an_operator_writes_it_off() {
    let bank = Bank::new("books-suspense");
    let admin = bank.dir.operator("ops-admin", "admin");
    let operator = bank.dir.operator("ops-1", "operator");
    let viewer = bank.dir.operator("ops-view", "viewer");
    let addr = bank.addr();

    // Transfers of code 0 booked with the sides swapped: the GL will disagree with the
    // accounts on both subjects.
    let wrong = r#"{"name":"wrong side","debit":"credit_account","credit":"debit_account"}"#;
    assert_error(
        &send(addr, &viewer, "PUT", "/v1/accounting/rules/0", wrong),
        403,
        "forbidden",
        None,
        "viewer sets a rule",
    );
    let rule = ok(
        &send(addr, &operator, "PUT", "/v1/accounting/rules/0", wrong),
        200,
        "set rule",
    );
    assert_eq!(rule["lines"][0]["source"], "credit_account", "{rule}");
    // A new version beside the shipped one, keyed to the journal's head: the accounts opened
    // before it are at least one batch.
    assert_eq!(rule["version"], 2, "{rule}");
    assert!(
        rule["effective_after_batch"]
            .as_u64()
            .is_some_and(|b| b >= 1),
        "{rule}"
    );
    assert_error(
        &send(
            addr,
            &operator,
            "PUT",
            "/v1/accounting/rules/0",
            r#"{"name":"x","debit":"9999","credit":"debit_account"}"#,
        ),
        404,
        "subject_unknown",
        None,
        "a rule naming no subject",
    );
    assert_error(
        &send(
            addr,
            &operator,
            "PUT",
            "/v1/accounting/rules/0",
            r#"{"name":"x"}"#,
        ),
        422,
        "rule_invalid",
        None,
        "a rule without lines",
    );
    open(&bank, 1, "2241.01");
    open(&bank, 2, "2241.02");
    pay(&bank, 10, 1, 2, 7_700);
    let date = open_date(addr, &viewer);
    cutover(addr, &admin);
    let status = run_day_end(addr, &operator, &date);
    assert_eq!(status["state"], "complete", "the books close anyway");

    let open_items = ok(
        &get(addr, &viewer, "/v1/accounting/suspense"),
        200,
        "suspense",
    );
    let items = open_items["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "one per subject: {open_items}");
    for item in &items {
        assert_eq!(item["status"], "open");
        assert_eq!(item["accounting_date"], date.as_str());
        assert!(item["age_days"].as_i64() >= Some(1), "{item}");
        assert!(!item["origin"].as_str().unwrap_or("").is_empty(), "{item}");
    }
    let ids: Vec<i64> = items.iter().filter_map(|i| i["id"].as_i64()).collect();
    let body = format!(r#"{{"items":{ids:?},"note":"rule 0 had its sides swapped"}}"#);
    assert_error(
        &post(addr, &viewer, "/v1/accounting/suspense/write-off", &body),
        403,
        "forbidden",
        None,
        "a viewer cannot write off",
    );
    assert_error(
        &post(
            addr,
            &operator,
            "/v1/accounting/suspense/write-off",
            r#"{"items":[999],"note":"none"}"#,
        ),
        404,
        "suspense_item_unknown",
        None,
        "no such item",
    );
    assert_error(
        &post(
            addr,
            &operator,
            "/v1/accounting/suspense/write-off",
            &format!(r#"{{"items":[{}],"note":"half"}}"#, ids[0]),
        ),
        422,
        "write_off_needs_counter_subject",
        None,
        "one item alone does not net out",
    );
    let done = ok(
        &post(addr, &operator, "/v1/accounting/suspense/write-off", &body),
        201,
        "write-off",
    );
    assert_eq!(done["items"].as_array().map(Vec::len), Some(2), "{done}");
    assert!(!done["voucher_numbers"]
        .as_array()
        .is_some_and(Vec::is_empty));
    assert_error(
        &post(addr, &operator, "/v1/accounting/suspense/write-off", &body),
        409,
        "suspense_item_closed",
        None,
        "written off twice",
    );
    let left = ok(
        &get(addr, &viewer, "/v1/accounting/suspense"),
        200,
        "open items",
    );
    assert_eq!(left["items"].as_array().map(Vec::len), Some(0), "{left}");
    let all = ok(
        &get(addr, &viewer, "/v1/accounting/suspense?all=true"),
        200,
        "all items",
    );
    assert_eq!(all["items"][0]["status"], "written_off", "{all}");
    assert_eq!(all["items"][0]["written_off_by"], "ops-1", "{all}");

    let audit = audit_actions(addr, &admin);
    assert!(
        audit
            .iter()
            .any(|(o, a, out)| o == "ops-view" && a == "write_off" && out == "forbidden"),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|(o, a, out)| o == "ops-1" && a == "write_off" && out == "ok"),
        "{audit:?}"
    );
}

#[test]
fn the_chart_is_edited_through_the_api_and_a_subject_with_postings_stays() {
    let bank = Bank::new("books-chart");
    let operator = bank.dir.operator("ops-1", "operator");
    let viewer = bank.dir.operator("ops-view", "viewer");
    let addr = bank.addr();
    open(&bank, 1, "2241.01");

    let chart = ok(&get(addr, &viewer, "/v1/accounting/subjects"), 200, "chart");
    let suspense = chart["subjects"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["code"] == "3099").cloned())
        .unwrap_or_else(|| panic!("no suspense subject: {chart}"));
    assert_eq!(suspense["gl_only"], true);

    let new = r#"{"code":"6021.09","name":"Test fees","category":"income"}"#;
    assert_error(
        &post(addr, &viewer, "/v1/accounting/subjects", new),
        403,
        "forbidden",
        None,
        "viewer adds",
    );
    let added = ok(
        &post(addr, &operator, "/v1/accounting/subjects", new),
        201,
        "add",
    );
    assert_eq!(added["normal_side"], "credit", "{added}");
    assert_error(
        &post(addr, &operator, "/v1/accounting/subjects", new),
        409,
        "subject_exists",
        None,
        "added twice",
    );
    assert_error(
        &post(
            addr,
            &operator,
            "/v1/accounting/subjects",
            r#"{"code":"6021.10","name":"x","category":"gains"}"#,
        ),
        400,
        "invalid_value",
        Some("category"),
        "no such category",
    );
    let renamed = ok(
        &send(
            addr,
            &operator,
            "PATCH",
            "/v1/accounting/subjects/6021.09",
            r#"{"name":"Test fee income"}"#,
        ),
        200,
        "rename",
    );
    assert_eq!(renamed["name"], "Test fee income");
    assert_error(
        &send(
            addr,
            &operator,
            "PATCH",
            "/v1/accounting/subjects/2241.01",
            r#"{"category":"asset"}"#,
        ),
        409,
        "subject_has_postings",
        None,
        "recategorise a subject with accounts",
    );
    assert_error(
        &send(
            addr,
            &operator,
            "DELETE",
            "/v1/accounting/subjects/2241.01",
            "",
        ),
        409,
        "subject_has_postings",
        None,
        "delete a subject with accounts",
    );
    ok(
        &send(
            addr,
            &operator,
            "DELETE",
            "/v1/accounting/subjects/6021.09",
            "",
        ),
        200,
        "delete an unused subject",
    );
    assert_error(
        &send(
            addr,
            &operator,
            "DELETE",
            "/v1/accounting/subjects/6021.09",
            "",
        ),
        404,
        "subject_unknown",
        None,
        "deleted twice",
    );
    let rules = ok(&get(addr, &viewer, "/v1/accounting/rules"), 200, "rules");
    assert!(
        rules["rules"].as_array().is_some_and(|r| r.len() >= 7),
        "{rules}"
    );
    // A participant is not an operator.
    assert_error(
        &bank.get("/v1/accounting/subjects"),
        403,
        "forbidden",
        None,
        "participant reads the chart",
    );
}

#[test]
fn a_split_rule_books_a_fee_beside_the_payment_and_the_day_still_balances() {
    let bank = Bank::new("books-split");
    let admin = bank.dir.operator("ops-admin", "admin");
    let operator = bank.dir.operator("ops-1", "operator");
    let addr = bank.addr();
    for subject in [
        r#"{"code":"1221","name":"fee receivable","category":"asset","gl_only":true}"#,
        r#"{"code":"6051","name":"fee income accrued","category":"income","gl_only":true}"#,
    ] {
        ok(
            &post(addr, &operator, "/v1/accounting/subjects", subject),
            201,
            "subject",
        );
    }
    let rule = |lines: &str| format!(r#"{{"name":"payment with a fee","lines":[{lines}]}}"#);
    let main =
        r#"{"side":"debit","source":"debit_account"},{"side":"credit","source":"credit_account"}"#;
    let split = rule(&format!(
        r#"{main},{{"side":"debit","source":"1221","share_bp":60}},{{"side":"credit","source":"6051","share_bp":60}}"#
    ));
    for (bad, what) in [
        (
            rule(&format!(
                r#"{main},{{"side":"debit","source":"1221","share_bp":60}},{{"side":"credit","source":"6051","share_bp":50}}"#
            )),
            "shares that do not balance",
        ),
        (
            rule(&format!(
                r#"{main},{{"side":"debit","source":"1221","share_bp":60}},{{"side":"credit","source":"2241.02","share_bp":60}}"#
            )),
            "a share carved out of a subject with accounts",
        ),
        (
            rule(r#"{"side":"debit","source":"debit_account"}"#),
            "no credit line",
        ),
    ] {
        assert_error(
            &send(addr, &operator, "PUT", "/v1/accounting/rules/7", &bad),
            422,
            "rule_invalid",
            None,
            what,
        );
    }
    let set = ok(
        &send(addr, &operator, "PUT", "/v1/accounting/rules/7", &split),
        200,
        "split rule",
    );
    assert_eq!(set["lines"].as_array().map(Vec::len), Some(4), "{set}");
    assert_eq!(set["lines"][2]["share_bp"], 60, "{set}");
    assert_error(
        &send(
            addr,
            &operator,
            "DELETE",
            "/v1/accounting/subjects/6051",
            "",
        ),
        409,
        "subject_has_postings",
        None,
        "a subject a rule books on",
    );

    open(&bank, 1, "2241.01");
    open(&bank, 2, "2241.02");
    let body = r#"{"id":"70","debit_account_id":"1","credit_account_id":"2","amount":"123457","currency":"CNY","code":7}"#;
    ok(
        &bank.post("/v1/transfers", body),
        201,
        "a payment of code 7",
    );
    let date = open_date(addr, &operator);
    cutover(addr, &admin);
    run_day_end(addr, &operator, &date);

    let table = ok(
        &get(
            addr,
            &operator,
            &format!("/v1/accounting/dates/{date}/subject-balances"),
        ),
        200,
        "subject balances",
    );
    let row = |code: &str| {
        table["subjects"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["subject_code"] == code).cloned())
            .unwrap_or_else(|| panic!("no {code}: {table}"))
    };
    assert_eq!(
        row("1221")["debits"],
        "740",
        "0.6 % of 123457, rounded down"
    );
    assert_eq!(row("6051")["credits"], "740");
    assert_eq!(
        row("2241.02")["credits"],
        "123457",
        "the merchant gets the whole amount"
    );
    let trial = ok(
        &get(
            addr,
            &operator,
            &format!("/v1/accounting/dates/{date}/trial-balance"),
        ),
        200,
        "trial balance",
    );
    assert_eq!(trial["totals"][0]["balanced"], true, "{trial}");
    let suspense = ok(
        &get(addr, &operator, "/v1/accounting/suspense"),
        200,
        "suspense",
    );
    assert_eq!(
        suspense["items"].as_array().map(Vec::len),
        Some(0),
        "GL = sub-ledgers: {suspense}"
    );
}

#[test]
fn cutover_on_the_command_line_moves_the_books_one_date() {
    let dir = DataDir::new("books-cutover-cli");
    let run = || {
        let output = suanpan()
            .args(["day-end", "cutover", "--json", "--data"])
            .arg(dir.path())
            .args(dir.postgres_args())
            .output()
            .unwrap_or_else(|e| panic!("cannot run suanpan: {e}"));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!("no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout))
        });
        let text = |k: &str| line[k].as_str().unwrap_or_default().to_string();
        (text("closed_date"), text("accounting_date"))
    };
    let (closed_1, open_1) = run();
    let (closed_2, open_2) = run();
    assert_eq!(
        closed_2, open_1,
        "the second cutover closes what the first opened"
    );
    assert!(closed_1 < open_1 && open_1 < open_2);
    // The dates are in the journal: the accounting system sees both closed.
    let output = suanpan()
        .args(["day-end", "status", "--json", "--data"])
        .arg(dir.path())
        .args(dir.postgres_args())
        .output()
        .unwrap_or_else(|e| panic!("cannot run suanpan: {e}"));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(&closed_2), "{text}");
    dir.verify();
}

// ---------------------------------------------------------------------------------------
// Clearing
// ---------------------------------------------------------------------------------------

fn participant_json(number: u16, code: &str, cap_fen: u64) -> String {
    format!(
        r#"{{"number":{number},"code":"{code}","name":"Bank {code}","kind":"bank","net_debit_cap":"{cap_fen}"}}"#
    )
}

/// An interbank payment as an operator posts it: payer position → payee position.
fn interbank(
    addr: SocketAddr,
    token: &str,
    id: u128,
    payer: u16,
    payee: u16,
    fen: u64,
) -> Response {
    let body = format!(
        r#"{{"id":"{id}","debit_account_id":"{}","credit_account_id":"{}","amount":"{fen}","currency":"CNY","code":6001}}"#,
        suanpan_clearing::position_account_id(payer),
        suanpan_clearing::position_account_id(payee)
    );
    post(addr, token, "/v1/transfers", &body)
}

#[test]
fn participants_are_managed_and_each_reads_only_its_own_statement() {
    let dir = DataDir::new("books-clearing");
    let operator = dir.operator("ops-1", "operator");
    let viewer = dir.operator("ops-view", "viewer");
    let key_a = dir.participant("bank-a"); // owner 1
    let key_b = dir.participant("bank-b"); // owner 2
    let server = Server::start(&dir);
    let addr = server.addr;

    // Participants: only operators register them; the registry refuses a changed twin.
    let one = participant_json(1, "B001", 100_000);
    assert_error(
        &post(addr, &viewer, "/v1/clearing/participants", &one),
        403,
        "forbidden",
        None,
        "viewer registers",
    );
    let created = ok(
        &post(addr, &operator, "/v1/clearing/participants", &one),
        201,
        "register 1",
    );
    assert_eq!(created["status"], "active");
    assert_eq!(created["net_debit_cap"], "100000");
    ok(
        &post(
            addr,
            &operator,
            "/v1/clearing/participants",
            &participant_json(2, "B002", 50_000),
        ),
        201,
        "register 2",
    );
    assert_error(
        &post(
            addr,
            &operator,
            "/v1/clearing/participants",
            &participant_json(1, "B001", 7),
        ),
        422,
        "participant_invalid",
        None,
        "the same number with another cap",
    );
    assert_error(
        &post(
            addr,
            &operator,
            "/v1/clearing/participants",
            r#"{"number":3,"code":"B003","name":"x","kind":"shop","net_debit_cap":"1"}"#,
        ),
        400,
        "invalid_value",
        Some("kind"),
        "kind",
    );
    let list = ok(
        &get(addr, &viewer, "/v1/clearing/participants"),
        200,
        "list",
    );
    assert_eq!(
        list["participants"].as_array().map(Vec::len),
        Some(2),
        "{list}"
    );
    assert_error(
        &get(addr, &viewer, "/v1/clearing/participants/3"),
        404,
        "participant_not_found",
        None,
        "unregistered",
    );
    assert_error(
        &get(addr, &viewer, "/v1/clearing/participants/x"),
        400,
        "invalid_value",
        Some("number"),
        "not a number",
    );

    // Money between them, then the cap cannot drop below what participant 1 owes.
    ok(
        &interbank(addr, &operator, 501, 1, 2, 30_000),
        201,
        "1 pays 2",
    );
    ok(
        &interbank(addr, &operator, 502, 2, 1, 5_000),
        201,
        "2 pays 1",
    );
    assert_error(
        &post(
            addr,
            &operator,
            "/v1/clearing/participants/1/cap",
            r#"{"net_debit_cap":"20000"}"#,
        ),
        422,
        "net_debit_cap_exceeded",
        None,
        "cap below what it owes",
    );
    let raised = ok(
        &post(
            addr,
            &operator,
            "/v1/clearing/participants/1/cap",
            r#"{"net_debit_cap":"150000"}"#,
        ),
        200,
        "raise the cap",
    );
    assert_eq!(raised["net_debit_cap"], "150000");
    let suspended = ok(
        &post(addr, &operator, "/v1/clearing/participants/2/suspend", ""),
        200,
        "suspend",
    );
    assert_eq!(suspended["status"], "suspended");
    let refused = interbank(addr, &operator, 503, 1, 2, 100);
    assert_eq!(
        refused.status, 422,
        "a suspended participant receives nothing"
    );
    ok(
        &post(addr, &operator, "/v1/clearing/participants/2/activate", ""),
        200,
        "activate",
    );

    // Close the batch, read its report, write its statements.
    assert_error(
        &post(addr, &viewer, "/v1/clearing/batches", ""),
        403,
        "forbidden",
        None,
        "viewer closes",
    );
    let closed = ok(
        &post(addr, &operator, "/v1/clearing/batches", ""),
        201,
        "close",
    );
    assert_eq!(closed["batch"], 1);
    let report = ok(
        &get(addr, &viewer, "/v1/clearing/batches/1?bilateral=true"),
        200,
        "report",
    );
    assert_eq!(report["transactions"], 2, "{report}");
    assert_eq!(report["amount"], "35000", "{report}");
    let nets: i128 = report["positions"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|p| p["net"].as_str()?.parse::<i128>().ok())
                .sum()
        })
        .unwrap_or(1);
    assert_eq!(nets, 0, "net positions sum to zero: {report}");
    assert_eq!(report["bilateral"][0]["net_a"], "-25000", "{report}");
    assert_error(
        &get(addr, &viewer, "/v1/clearing/batches/2"),
        404,
        "batch_not_closed",
        None,
        "the open batch",
    );
    let written = ok(
        &post(addr, &operator, "/v1/clearing/batches/1/statements", ""),
        201,
        "write statements",
    );
    assert_eq!(
        written["statements"].as_array().map(Vec::len),
        Some(2),
        "{written}"
    );

    // Each participant lists and reads its own statement, byte for byte as written.
    let a = |target: &str| Request::get(target).signed(&key_a).send(addr);
    let b = |target: &str| Request::get(target).signed(&key_b).send(addr);
    let listed = ok(&a("/v1/clearing/statements"), 200, "A lists");
    let entries = listed["statements"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "only its own: {listed}");
    assert_eq!(entries[0]["participant"], 1);
    let file = |p: u16| {
        std::fs::read(
            dir.path()
                .join("clearing/statements")
                .join(format!("statement-00000001-{p:04}.csv")),
        )
        .unwrap_or_else(|e| panic!("statement of {p}: {e}"))
    };
    let own = a("/v1/clearing/statements/1");
    assert_eq!(own.status, 200, "{}", own.text());
    assert_eq!(own.body, file(1));
    assert!(own
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/csv"));
    let digest = suanpan_ledger::hex(&suanpan_access::sha256(&own.body));
    assert_eq!(own.header("x-suanpan-sha256"), Some(digest.as_str()));
    assert_error(
        &a("/v1/clearing/statements/1?participant=2"),
        404,
        "statement_not_found",
        None,
        "A asks for B's statement",
    );
    assert_eq!(b("/v1/clearing/statements/1").body, file(2));
    // The same statement as ISO 20022 camt.053 (validated against the XSD by
    // scripts/check-camt053): its entries and net are the CSV's.
    let xml = a("/v1/clearing/statements/1?format=camt053");
    assert_eq!(xml.status, 200, "{}", xml.text());
    assert!(xml
        .header("content-type")
        .unwrap_or("")
        .starts_with("application/xml"));
    let text = xml.text();
    assert_eq!(text.matches("<Ntry>").count(), 2, "{text}");
    assert!(
        text.contains("<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"CNY\">250.00</Amt><CdtDbtInd>DBIT</CdtDbtInd>"),
        "participant 1 owes 25000 fen: {text}"
    );
    assert_error(
        &a("/v1/clearing/statements/1?format=camt053&participant=2"),
        404,
        "statement_not_found",
        None,
        "A asks for B's camt.053",
    );
    assert_error(
        &a("/v1/clearing/statements/1?format=pdf"),
        400,
        "invalid_value",
        Some("format"),
        "format",
    );
    assert_error(
        &a("/v1/clearing/statements/9"),
        404,
        "statement_not_found",
        None,
        "a batch with no statement",
    );
    // Operators read any, naming the participant; participants cannot run clearing.
    assert_error(
        &get(addr, &viewer, "/v1/clearing/statements/1"),
        422,
        "party_required",
        Some("participant"),
        "operator without participant",
    );
    assert_eq!(
        get(addr, &viewer, "/v1/clearing/statements/1?participant=2").body,
        file(2)
    );
    let all = ok(&get(addr, &viewer, "/v1/clearing/statements"), 200, "all");
    assert_eq!(all["statements"].as_array().map(Vec::len), Some(2), "{all}");
    assert_error(
        &Request::post("/v1/clearing/batches", "")
            .signed(&key_a)
            .send(addr),
        403,
        "forbidden",
        None,
        "a participant closes a batch",
    );
    drop(server);
    dir.verify();
}

/// `HH:MM:SS` in Asia/Shanghai, `ahead_s` seconds from now.
fn shanghai_time_in(ahead_s: u64) -> String {
    let s = (support::client::now_s() + 8 * 3_600 + ahead_s) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3_600, s / 60 % 60, s % 60)
}

#[test]
fn serve_closes_a_clearing_batch_on_schedule_and_writes_its_statements() {
    let dir = DataDir::new("books-schedule");
    let viewer = dir.operator("ops-view", "viewer");
    // Registered on the command line (configuration), before the server holds the books.
    for (number, code) in [("1", "B001"), ("2", "B002")] {
        let output = suanpan()
            .args([
                "clear",
                "participant",
                "add",
                "--number",
                number,
                "--code",
                code,
            ])
            .args([
                "--name",
                code,
                "--kind",
                "bank",
                "--cap-fen",
                "1000",
                "--data",
            ])
            .arg(dir.path())
            .args(dir.postgres_args())
            .output()
            .unwrap_or_else(|e| panic!("cannot run suanpan clear: {e}"));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // Several times a few seconds apart, so a slow start of the server still meets one.
    let times: Vec<String> = [5, 10, 20, 40, 80]
        .iter()
        .map(|&s| shanghai_time_in(s))
        .collect();
    let server = Server::start_with(&dir, &["--clearing-close-times", &times.join(",")]);
    let addr = server.addr;
    let started = Instant::now();
    let first_batch = |listed: &Value| -> Vec<u64> {
        listed["statements"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter(|e| e["batch"] == 1)
                    .filter_map(|e| e["participant"].as_u64())
                    .collect()
            })
            .unwrap_or_default()
    };
    loop {
        let listed = ok(&get(addr, &viewer, "/v1/clearing/statements"), 200, "list");
        let mut participants = first_batch(&listed);
        participants.sort_unstable();
        if participants == [1, 2] {
            break;
        }
        assert!(
            started.elapsed() < WAIT_MAX,
            "no scheduled close came: {listed}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    ok(
        &get(addr, &viewer, "/v1/clearing/batches/1"),
        200,
        "closed by schedule",
    );
    let bad = suanpan()
        .args(["serve", "--clearing-close-times", "25:00", "--data"])
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run suanpan serve: {e}"));
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("clearing_close_times"), "{err}");
}
