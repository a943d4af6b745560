//! Payouts through a real `suanpan serve` and the four simulated interbank channels (real
//! processes over real HTTP): routed to each channel and settled, a rejection and an outage
//! re-routed, a timeout queried and never resent, a lost instruction given up only after its
//! time to live, a return reversed, SIGKILL mid-payout with nothing sent twice or lost, and
//! QR payments refused exactly at the daily cap.

#[allow(dead_code)] // the shared support serves other test binaries too
mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::books::{assert_error, open_account, transfer_json};
use support::client::{ApiKey, Request, Response};
use support::interbank::Channel;
use support::server::{DataDir, Server};

/// A wait for something the system does by itself bounds the test; it asserts no timing.
const WAIT_MAX: Duration = Duration::from_secs(60);
const CUSTOMER: u128 = 1001;
const FUNDING: u128 = 9000;
const FUNDED_FEN: u64 = 1_000_000_000;

struct World {
    dir: DataDir,
    server: Server,
    bank: ApiKey,
    operator: String,
    admin: String,
    hvps: Channel,
    beps: Channel,
    ibps: Channel,
    unionpay: Channel,
}

impl World {
    fn new(name: &str) -> World {
        let dir = DataDir::new(name);
        let bank = dir.participant("BANK-A");
        let operator = dir.operator("ops-1", "operator");
        let admin = dir.operator("ops-admin", "admin");
        let hvps = Channel::start("hvps", &[]);
        let beps = Channel::start("beps", &["--batch-ms", "300"]);
        let ibps = Channel::start("ibps", &[]);
        let unionpay = Channel::start("unionpay", &["--settle-ms", "300"]);
        // HVPS open at every hour here, so the test routes alike whenever it runs; its real
        // hours are the routing room's table tests'.
        let config = format!(
            "timeout_ms = 500\nquery_interval_ms = 100\ninstruction_ttl_ms = 1500\ndown_ms = 600000\ntick_ms = 50\n\
             [channels.hvps]\nurl = \"http://{}\"\n[channels.beps]\nurl = \"http://{}\"\n\
             [channels.ibps]\nurl = \"http://{}\"\n[channels.unionpay_payout]\nurl = \"http://{}\"\n\
             [rules.hvps]\nhours = \"always\"\n",
            hvps.addr, beps.addr, ibps.addr, unionpay.addr
        );
        let path = dir.path().join("payouts.toml");
        std::fs::write(&path, config).unwrap_or_else(|e| panic!("{e}"));
        let server = Server::start_with(&dir, &["--payouts-config", &path.to_string_lossy()]);
        open_account(server.addr, &bank, FUNDING, &[]);
        open_account(
            server.addr,
            &bank,
            CUSTOMER,
            &["debits_must_not_exceed_credits"],
        );
        let funded = Request::post(
            "/v1/transfers",
            &transfer_json(1, FUNDING, CUSTOMER, FUNDED_FEN),
        )
        .signed(&bank)
        .send(server.addr);
        assert_eq!(funded.status, 201, "{}", funded.text());
        World {
            dir,
            server,
            bank,
            operator,
            admin,
            hvps,
            beps,
            ibps,
            unionpay,
        }
    }

    fn restart_killed(&mut self) {
        self.server.kill();
        let path = self.dir.path().join("payouts.toml");
        self.server = Server::start_with(&self.dir, &["--payouts-config", &path.to_string_lossy()]);
    }

    fn pay(
        &self,
        id: u128,
        amount_fen: u64,
        real_time: bool,
        systems: Option<&[&str]>,
    ) -> Response {
        let systems = systems
            .map(|s| format!(r#","systems":{}"#, json!(s)))
            .unwrap_or_default();
        let body = format!(
            r#"{{"id":"{id}","debit_account_id":"{CUSTOMER}","amount":"{amount_fen}","currency":"CNY","beneficiary":{{"bank":"BANK-Z","account":"6222000011112222","name":"Zhang San"{systems}}},"real_time":{real_time}}}"#
        );
        Request::post("/v1/payouts", &body)
            .signed(&self.bank)
            .send(self.server.addr)
    }

    fn payout(&self, id: u128) -> Value {
        let r = Request::get(&format!("/v1/payouts/{id}"))
            .signed(&self.bank)
            .send(self.server.addr);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// Waits until the payout is in a final state; returns it.
    fn settle(&self, id: u128) -> Value {
        let started = Instant::now();
        loop {
            let p = self.payout(id);
            if matches!(
                p["state"].as_str(),
                Some("settled" | "rejected" | "returned")
            ) {
                return p;
            }
            assert!(started.elapsed() < WAIT_MAX, "payout {id} never ended: {p}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn balance(&self) -> i128 {
        let a = Request::get(&format!("/v1/accounts/{CUSTOMER}"))
            .signed(&self.bank)
            .send(self.server.addr)
            .json();
        a["credit_balance"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(i128::MIN)
    }

    fn no_instruction_received_twice(&self) {
        for c in [&self.hvps, &self.beps, &self.ibps, &self.unionpay] {
            let stats = c.stats();
            assert_eq!(stats["received_more_than_once"], json!([]), "{stats}");
        }
    }
}

fn channels_tried(p: &Value) -> Vec<(String, String)> {
    p["attempts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    (
                        t["channel"].as_str().unwrap_or("").into(),
                        t["state"].as_str().unwrap_or("").into(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn reason(p: &Value, channel: &str) -> String {
    p["route"]
        .as_array()
        .and_then(|r| r.iter().find(|c| c["channel"] == channel))
        .and_then(|c| c["reason"].as_str())
        .unwrap_or("")
        .to_string()
}

#[test]
fn payouts_go_to_each_channel_and_settle_and_a_return_is_paid_back() {
    let w = World::new("payouts-channels");
    let cases: [(u128, u64, bool, &str); 4] = [
        (1, 300_000, true, "ibps"),
        (2, 300_000, false, "beps"),
        (3, 8_000_000, true, "unionpay_payout"),
        (4, 200_000_000, false, "hvps"),
    ];
    for (id, amount, real_time, channel) in cases {
        let made = w.pay(id, amount, real_time, None);
        assert_eq!(made.status, 201, "{}", made.text());
        let p = made.json();
        assert_eq!(p["channel"], channel, "{p}");
        assert_eq!(reason(&p, channel), "chosen", "{p}");
    }
    for (id, _, _, channel) in cases {
        let p = w.settle(id);
        assert_eq!(p["state"], "settled", "{p}");
        assert_eq!(
            channels_tried(&p),
            vec![(channel.to_string(), "settled".to_string())],
            "{p}"
        );
    }
    let beps = w.payout(2);
    let states: Vec<&str> = beps["events"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["to"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        states,
        [
            "accepted",
            "routed",
            "sent",
            "accepted_by_channel",
            "settled"
        ],
        "{beps}"
    );
    assert_eq!(reason(&w.payout(1), "beps"), "not_real_time");
    assert_eq!(reason(&w.payout(3), "ibps"), "over_limit");
    let paid: u64 = cases.iter().map(|c| c.1).sum();
    assert_eq!(w.balance(), i128::from(FUNDED_FEN) - i128::from(paid));

    // The same payout again is the same payout; another with its id is refused.
    assert_eq!(w.pay(1, 300_000, true, None).status, 200);
    assert_error(
        &w.pay(1, 300_001, true, None),
        409,
        "payout_conflict",
        None,
        "the id again with another amount",
    );
    assert_error(
        &w.pay(5, 2 * FUNDED_FEN, false, None),
        422,
        "exceeds_credits",
        None,
        "more than the customer has",
    );
    assert_error(
        &w.pay(6, 200_000_000, true, Some(&["ibps"])),
        422,
        "no_route",
        None,
        "no channel can take it",
    );
    assert_error(
        &w.pay(7, 0, true, None),
        400,
        "invalid_value",
        Some("amount"),
        "nothing to pay",
    );

    // A return the channel reported: paid back to the customer, once.
    let back = Request::post("/v1/payouts/1/return", "")
        .bearer(&w.operator)
        .send(w.server.addr);
    assert_eq!(back.status, 200, "{}", back.text());
    assert_eq!(back.json()["state"], "returned");
    assert_eq!(
        w.balance(),
        i128::from(FUNDED_FEN) - i128::from(paid - 300_000)
    );
    assert_error(
        &Request::post("/v1/payouts/2/return", "")
            .signed(&w.bank)
            .send(w.server.addr),
        403,
        "forbidden",
        None,
        "a participant cannot record a return",
    );

    let explained = Request::post(
        "/v1/routing/explain",
        r#"{"amount":"8000000","real_time":true,"at":"2026-12-12T20:00:00+08:00"}"#,
    )
    .signed(&w.bank)
    .send(w.server.addr);
    assert_eq!(explained.status, 200, "{}", explained.text());
    assert_eq!(explained.json()["channel"], "unionpay_payout");
    w.no_instruction_received_twice();
    w.dir.verify();
}

#[test]
fn refusals_and_outages_are_rerouted_and_unknown_outcomes_are_queried_not_resent() {
    let w = World::new("payouts-faults");
    // A definite rejection by IBPS: the next real-time channel takes it.
    w.ibps.script(&["reject"]);
    assert_eq!(w.pay(11, 300_000, true, None).status, 201);
    let p = w.settle(11);
    assert_eq!(p["state"], "settled", "{p}");
    assert_eq!(
        channels_tried(&p),
        vec![
            ("ibps".into(), "rejected".into()),
            ("unionpay_payout".into(), "settled".into())
        ]
    );

    // UnionPay answers after the deadline: queried until it settles, sent once.
    w.unionpay.script(&["timeout"]);
    assert_eq!(w.pay(12, 8_000_000, true, None).status, 201);
    let p = w.settle(12);
    assert_eq!(
        channels_tried(&p),
        vec![("unionpay_payout".into(), "settled".into())],
        "{p}"
    );

    // An instruction IBPS never received: given up only after its time to live.
    w.ibps.script(&["lost"]);
    assert_eq!(w.pay(13, 300_000, true, None).status, 201);
    let p = w.settle(13);
    assert_eq!(
        channels_tried(&p),
        vec![
            ("ibps".into(), "not_received".into()),
            ("unionpay_payout".into(), "settled".into())
        ],
        "{p}"
    );

    // BEPS takes it, then rejects it in its batch: the next channel takes it.
    w.beps.script(&["reject_later"]);
    assert_eq!(w.pay(14, 300_000, false, None).status, 201);
    let p = w.settle(14);
    assert_eq!(
        channels_tried(&p),
        vec![
            ("beps".into(), "rejected".into()),
            ("ibps".into(), "settled".into())
        ],
        "{p}"
    );

    // IBPS out of service: re-routed at once, and kept out of routing afterwards.
    w.ibps.control("/sim/outage", json!({"down": true}));
    assert_eq!(w.pay(15, 300_000, true, None).status, 201);
    let p = w.settle(15);
    assert_eq!(
        channels_tried(&p),
        vec![
            ("ibps".into(), "not_received".into()),
            ("unionpay_payout".into(), "settled".into())
        ]
    );
    let next = w.pay(16, 300_000, true, None).json();
    assert_eq!(reason(&next, "ibps"), "channel_down", "{next}");
    w.settle(16);

    // Everything that settled left the customer once; every hold of a rejection was released.
    let settled: u64 = [300_000, 8_000_000, 300_000, 300_000, 300_000, 300_000]
        .iter()
        .sum();
    assert_eq!(w.balance(), i128::from(FUNDED_FEN) - i128::from(settled));
    let stats = w.unionpay.stats();
    assert_eq!(stats["settled"], 5, "{stats}");
    w.no_instruction_received_twice();
    w.dir.verify();
}

#[test]
fn sigkill_mid_payout_loses_none_and_sends_none_twice() {
    let mut w = World::new("payouts-crash");
    // Slow answers keep payouts in flight when the server dies.
    w.unionpay.script(&["timeout"; 6]);
    w.ibps.script(&["lost", "lost", "normal", "lost"]);
    let mut made = Vec::new();
    for id in 100..130u128 {
        let (amount, real_time) = if id % 2 == 0 {
            (8_000_000, true)
        } else {
            (300_000, true)
        };
        let r = w.pay(id, amount, real_time, None);
        if r.status == 201 {
            made.push((id, amount));
        }
    }
    w.restart_killed();
    let mut settled_fen = 0u64;
    for (id, amount) in &made {
        let p = w.settle(*id);
        assert_eq!(p["state"], "settled", "{p}");
        let settled_attempts = channels_tried(&p)
            .iter()
            .filter(|(_, s)| s == "settled")
            .count();
        assert_eq!(settled_attempts, 1, "{p}");
        settled_fen += amount;
    }
    assert_eq!(made.len(), 30);
    assert_eq!(
        w.balance(),
        i128::from(FUNDED_FEN) - i128::from(settled_fen)
    );
    let total_settled: u64 = [&w.hvps, &w.beps, &w.ibps, &w.unionpay]
        .iter()
        .map(|c| c.stats()["settled_fen"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        total_settled, settled_fen,
        "the channels paid out exactly what the books say"
    );
    w.no_instruction_received_twice();
    w.server.terminate();
    assert!(w.server.wait_exit().success());
    w.dir.verify();
}

#[test]
fn qr_payments_are_refused_exactly_at_the_daily_cap() {
    let w = World::new("payouts-qr");
    open_account(w.server.addr, &w.bank, 2002, &[]);
    let qr = |id: u128, kind: &str, level: &str, amount: u64| {
        let body = format!(
            r#"{{"id":"{id}","kind":"{kind}","risk_level":"{level}","payer_account_id":"{CUSTOMER}","payee_account_id":"2002","amount":"{amount}","currency":"CNY"}}"#
        );
        Request::post("/v1/qr/payments", &body)
            .signed(&w.bank)
            .send(w.server.addr)
    };
    let ok = qr(1, "c2b_static", "B", 49_999);
    assert_eq!(ok.status, 201, "{}", ok.text());
    assert_eq!(ok.json()["left_today"], "1");
    assert_eq!(
        qr(2, "c2b_static", "B", 1).status,
        201,
        "the cap itself is allowed"
    );
    assert_error(
        &qr(3, "c2b_static", "B", 1),
        422,
        "qr_daily_cap_exceeded",
        None,
        "one fen over 500.00",
    );
    // Dynamic codes have their own cap, by the payer's risk level: 1,000.00 at C.
    assert_eq!(qr(4, "c2b_dynamic", "C", 100_000).status, 201);
    assert_error(
        &qr(5, "c2c", "C", 1),
        422,
        "qr_daily_cap_exceeded",
        None,
        "C2C counts with dynamic codes",
    );
    assert_eq!(
        qr(1, "c2b_static", "B", 49_999).status,
        201,
        "the same payment again"
    );
    assert_error(
        &qr(1, "c2b_static", "B", 5),
        409,
        "payout_conflict",
        None,
        "its id with another amount",
    );
    // Its id again in another currency: a conflict, and the day's total still counts it.
    let usd = format!(
        r#"{{"id":"1","kind":"c2b_static","risk_level":"B","payer_account_id":"{CUSTOMER}","payee_account_id":"2002","amount":"49999","currency":"USD"}}"#
    );
    let other = Request::post("/v1/qr/payments", &usd)
        .signed(&w.bank)
        .send(w.server.addr);
    assert_error(
        &other,
        409,
        "payout_conflict",
        None,
        "its id in another currency",
    );
    assert_error(
        &qr(6, "c2b_static", "B", 1),
        422,
        "qr_daily_cap_exceeded",
        None,
        "the cap still holds after the conflict",
    );
    let payee = Request::get("/v1/accounts/2002")
        .signed(&w.bank)
        .send(w.server.addr)
        .json();
    assert_eq!(payee["credit_balance"], "150000", "{payee}");
}

#[test]
fn routing_rules_change_as_audited_versions_recorded_with_each_payout() {
    let w = World::new("payouts-rules");
    let first = w.pay(21, 8_000_000, true, None).json();
    assert_eq!(
        (first["channel"].as_str(), first["rule_version"].as_u64()),
        (Some("unionpay_payout"), Some(1)),
        "{first}"
    );
    let put = |token: &str, path: &str, body: &str| {
        Request::new("PUT", path)
            .header("content-type", "application/json")
            .body(body.as_bytes())
            .bearer(token)
            .send(w.server.addr)
    };
    // UnionPay payout's fee raised above HVPS's: HVPS (open at every hour here) takes it.
    let rules = r#"{"channels":{"unionpay_payout":{"fee_fen":3000}}}"#;
    assert_error(
        &put(&w.operator, "/v1/routing/rules", rules),
        403,
        "forbidden",
        None,
        "only admins change the rules",
    );
    let changed = put(&w.admin, "/v1/routing/rules", rules);
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_eq!(changed.json()["version"], 2);
    let second = w.pay(22, 8_000_000, true, None).json();
    assert_eq!(
        (second["channel"].as_str(), second["rule_version"].as_u64()),
        (Some("hvps"), Some(2)),
        "{second}"
    );
    assert_eq!(reason(&second, "unionpay_payout"), "higher_cost");
    assert_eq!(
        w.payout(21)["rule_version"],
        1,
        "a payout keeps the version that routed it"
    );

    let bad = put(
        &w.admin,
        "/v1/routing/calendar",
        r#"{"calendar":"2026-13-01 holiday nothing"}"#,
    );
    assert_error(
        &bad,
        422,
        "routing_refused",
        Some("calendar"),
        "a calendar that does not parse",
    );
    let good = put(
        &w.admin,
        "/v1/routing/calendar",
        r#"{"calendar":"year 2026\n2026-10-01 holiday National Day\n"}"#,
    );
    assert_eq!(good.status, 200, "{}", good.text());
    assert_eq!(good.json()["version"], 3);
    let viewer = w.dir.operator("ops-viewer", "viewer");
    let read = Request::get("/v1/routing/rules")
        .bearer(&viewer)
        .send(w.server.addr)
        .json();
    assert_eq!(read["version"], 3, "{read}");
    assert!(
        read["calendar"]
            .as_str()
            .is_some_and(|c| c.contains("2026-10-01")),
        "{read}"
    );

    let audit = Request::get("/v1/audit?limit=1000")
        .bearer(&w.admin)
        .send(w.server.addr)
        .json();
    let actions: Vec<(String, String)> = audit["entries"]
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
        .unwrap_or_default();
    for want in [
        ("set_routing_rules", "forbidden"),
        ("set_routing_rules", "version 2"),
        ("set_routing_calendar", "routing_refused"),
        ("set_routing_calendar", "version 3"),
    ] {
        assert!(
            actions.contains(&(want.0.into(), want.1.into())),
            "{want:?} in {actions:?}"
        );
    }
    // The newest version holds across a restart.
    let mut w = w;
    w.server.terminate();
    assert!(w.server.wait_exit().success());
    let path = w.dir.path().join("payouts.toml");
    w.server = Server::start_with(&w.dir, &["--payouts-config", &path.to_string_lossy()]);
    let third = w.pay(23, 8_000_000, true, None).json();
    assert_eq!(
        (third["channel"].as_str(), third["rule_version"].as_u64()),
        (Some("hvps"), Some(3)),
        "{third}"
    );
}
