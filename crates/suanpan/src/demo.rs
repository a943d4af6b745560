//! `suanpan demo`: a whole business day on one machine, to watch in the console while it
//! runs. It starts `serve` with both payment channels and the four interbank channels
//! simulated and a merchant's notification endpoint, registers banks, a merchant and
//! customers with Class I, II and III accounts, and drives the day: transfers, pending
//! transfers posted and voided, gateway orders whose results come late, twice, out of order or only
//! by a query, refunds, interbank payments, payouts, QR payments, a tier limit refused; it closes
//! clearing batches and writes their statements as it goes, then cuts the books over, runs
//! the day-end, stops the server and verifies the journal.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lexopt::prelude::*;
use serde_json::{json, Value};
use suanpan_client::Client;

use crate::bench::process::{spawn, Process};
use crate::json::JsonLine;
use crate::parse_value;
use crate::workload::Rng;

const USAGE: &str = "usage: suanpan demo [--data DIR] [--minutes N] [--rate N] [--json]

A whole business day on this machine (default 5 minutes, 20 operations a second, in a new
directory `demo-data`): prints the console's address and the admin's token first, and one JSON
line at the end (transfers, orders, payouts, batches, the day-end's seconds, suspense items,
and whether `verify` passed).";

const ALIPAY_KEY: &str = "demo-alipay-key";
const WECHAT_KEY: &str = "demo-wechat-key";
const FUNDING: u128 = 1000;

struct Options {
    data: PathBuf,
    minutes: u64,
    rate: u64,
    json: bool,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        data: PathBuf::from("demo-data"),
        minutes: 5,
        rate: 20,
        json: false,
    };
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("data") => o.data = parse_value::<String>(&mut parser, "--data")?.into(),
            Long("minutes") => o.minutes = parse_value(&mut parser, "--minutes")?,
            Long("rate") => o.rate = parse_value(&mut parser, "--rate")?,
            Long("json") => o.json = true,
            Long("help") | Short('h') => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("{}; see `suanpan demo --help`", other.unexpected())),
        }
    }
    if o.minutes == 0 || o.rate == 0 || o.rate > 10_000 {
        return Err("--minutes must be at least 1 and --rate 1 to 10000".into());
    }
    Ok(Some(o))
}

/// What the day did, counted as the answers come.
#[derive(Default)]
struct Day {
    transfers: u64,
    refused: u64,
    tier_refusals: u64,
    pending_posted: u64,
    pending_voided: u64,
    orders: u64,
    refunds: u64,
    stale_callbacks: u64,
    interbank: u64,
    payouts: u64,
    payouts_no_route: u64,
    qr: u64,
    batches: u64,
}

async fn call(client: &Client, method: &str, path: &str, body: Value) -> (u16, Value) {
    let bytes = if body.is_null() {
        bytes::Bytes::new()
    } else {
        body.to_string().into()
    };
    match client.send(method, path, bytes, &[]).await {
        Ok(a) => (
            a.status,
            serde_json::from_slice(&a.body).unwrap_or(Value::Null),
        ),
        Err(_) => (0, Value::Null),
    }
}

async fn must(client: &Client, method: &str, path: &str, body: Value) -> Result<Value, String> {
    let (status, v) = call(client, method, path, body).await;
    if (200..300).contains(&status) {
        Ok(v)
    } else {
        Err(format!("{method} {path} answered {status}: {v}"))
    }
}

pub fn main(args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args)? else { return Ok(()) };
    if o.data.exists() && std::fs::read_dir(&o.data).map_or(true, |mut d| d.next().is_some()) {
        return Err(format!(
            "{} is not empty: the demo starts a new day in a new directory",
            o.data.display()
        ));
    }
    std::fs::create_dir_all(&o.data)
        .map_err(|e| format!("cannot create {}: {e}", o.data.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // The merchant's notification endpoint, and the channels.
    let told = Arc::new(Mutex::new(HashSet::new()));
    let merchant = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(crate::bench::gateway::merchant_endpoint(
            listener,
            told.clone(),
            Arc::new(AtomicU64::new(0)),
        ));
        Ok::<_, String>(addr)
    })?;
    let mut sims: Vec<(Process, std::net::SocketAddr)> = Vec::new();
    for args in [
        // Alipay pays after 0.3 s and calls back twice; WeChat pays after 1.5 s and never
        // calls back, so only the gateway's queries learn its results.
        &[
            "channel-sim",
            "alipay",
            "--listen",
            "127.0.0.1:0",
            "--key",
            ALIPAY_KEY,
            "--auto-pay-ms",
            "300",
            "--auto-callbacks",
            "2",
        ][..],
        &[
            "channel-sim",
            "wechat",
            "--listen",
            "127.0.0.1:0",
            "--key",
            WECHAT_KEY,
            "--auto-pay-ms",
            "1500",
            "--auto-callbacks",
            "0",
        ],
        &["channel-sim", "hvps", "--listen", "127.0.0.1:0"],
        &[
            "channel-sim",
            "beps",
            "--listen",
            "127.0.0.1:0",
            "--batch-ms",
            "2000",
        ],
        &["channel-sim", "ibps", "--listen", "127.0.0.1:0"],
        &[
            "channel-sim",
            "unionpay",
            "--listen",
            "127.0.0.1:0",
            "--settle-ms",
            "1000",
        ],
    ] {
        sims.push(spawn(args)?);
    }
    let dir = o.data.clone();
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("cannot write {name}: {e}"))
    };
    write(
        "gateway.toml",
        format!(
            "tick_ms = 200\n# the simulated channels and shop speak plain HTTP on this machine\nallow_plain_http = true\n[channels.alipay]\nurl = \"http://{}\"\nkey = \"{ALIPAY_KEY}\"\nquery_schedule_ms = [2000, 4000]\n\
             [channels.wechat]\nurl = \"http://{}\"\nkey = \"{WECHAT_KEY}\"\nquery_schedule_ms = [2000, 4000]\n",
            sims[0].1, sims[1].1
        ),
    )?;
    write(
        "payouts.toml",
        format!(
            "timeout_ms = 2000\nquery_interval_ms = 500\n[channels.hvps]\nurl = \"http://{}\"\n[channels.beps]\nurl = \"http://{}\"\n\
             [channels.ibps]\nurl = \"http://{}\"\n[channels.unionpay_payout]\nurl = \"http://{}\"\n",
            sims[2].1, sims[3].1, sims[4].1, sims[5].1
        ),
    )?;
    // Banks, a merchant and their keys.
    let access = suanpan_access::Access::open(&dir)?;
    let mut keys = Vec::new();
    for (code, name) in [
        ("BANK-A", "Bank A"),
        ("BANK-B", "Bank B"),
        ("SHOP", "Shop One"),
    ] {
        access.add_participant(code, name, None, suanpan_access::ParticipantRole::Member)?;
        let k = access.create_key(code)?;
        keys.push((k.key_id, k.secret));
    }
    let shop_owner = access.participant("SHOP")?.map(|p| p.owner).unwrap_or(3);
    drop(access);
    {
        let store = suanpan_gateway::store::open(&suanpan_gateway::store::Home::sqlite(&dir))
            .map_err(|e| e.to_string())?;
        let m = suanpan_gateway::store::Merchant {
            participant: "SHOP".into(),
            owner: shop_owner,
            notify_url: format!("http://{merchant}/notify"),
            notify_secret: "demo-notify-secret".into(),
        };
        store
            .write_blocking(move |c| suanpan_gateway::store::upsert_merchant(c, &m))
            .map_err(|e| e.to_string())?;
    }
    let data = dir.to_string_lossy().into_owned();
    let (gateway_toml, payouts_toml) = (
        dir.join("gateway.toml").to_string_lossy().into_owned(),
        dir.join("payouts.toml").to_string_lossy().into_owned(),
    );
    let (server, addr) = spawn(&[
        "serve",
        "--data",
        &data,
        "--listen",
        "127.0.0.1:0",
        "--log-level",
        "warn",
        "--gateway-config",
        &gateway_toml,
        "--payouts-config",
        &payouts_toml,
    ])?;
    let token_file = dir.join(crate::serve::process::ADMIN_TOKEN_FILE);
    let token = std::fs::read_to_string(&token_file)
        .map_err(|e| format!("{}: {e}", token_file.display()))?;
    eprintln!("console:     http://{addr}/");
    eprintln!(
        "admin token: {} (in {})",
        token.trim(),
        token_file.display()
    );
    let client = |i: usize| Arc::new(Client::new(addr, keys[i].0.clone(), &keys[i].1, 16));
    let (bank_a, bank_b, shop) = (client(0), client(1), client(2));
    let admin = Arc::new(Client::operator(addr, token.trim().to_string(), 16));
    let mut day = Day::default();
    let started = Instant::now();
    runtime.block_on(set_up(&bank_a, &bank_b, &admin))?;
    let alipay = sims[0].1;
    runtime.block_on(drive(&o, &bank_a, &shop, &admin, alipay, &mut day))?;
    let (day_end_s, suspense) = runtime.block_on(close_the_day(&admin, &mut day))?;
    let orders_notified = told.lock().unwrap_or_else(|p| p.into_inner()).len();
    drop(server);
    drop(sims);
    let verified = std::process::Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .args(["verify", "--data", &data])
        .output()
        .map_err(|e| format!("cannot run verify: {e}"))?;
    let verify_ok = verified.status.success();
    let line = JsonLine::default()
        .str("demo", "day")
        .fixed("seconds", started.elapsed().as_secs_f64(), 1)
        .num("transfers", day.transfers)
        .num("refused", day.refused)
        .num("tier_refusals", day.tier_refusals)
        .num("pending_posted", day.pending_posted)
        .num("pending_voided", day.pending_voided)
        .num("orders", day.orders)
        .num("orders_notified", orders_notified)
        .num("refunds", day.refunds)
        .num("stale_callbacks", day.stale_callbacks)
        .num("interbank_payments", day.interbank)
        .num("payouts", day.payouts)
        .num("payouts_no_route", day.payouts_no_route)
        .num("qr_payments", day.qr)
        .num("batches", day.batches)
        .fixed("day_end_seconds", day_end_s, 2)
        .num("suspense_items", suspense)
        .bool("verify_ok", verify_ok)
        .finish();
    if !o.json {
        eprintln!("the day is closed; the data stays in {}", dir.display());
    }
    println!("{line}");
    if !verify_ok {
        return Err(format!(
            "verify failed: {}",
            String::from_utf8_lossy(&verified.stdout)
        ));
    }
    Ok(())
}

fn account(id: u128, subject: &str, tier: &str, bound: Option<u128>, flags: &[&str]) -> Value {
    let mut v = json!({"id": id.to_string(), "currency": "CNY", "subject_code": subject, "tier": tier, "flags": flags});
    if let Some(b) = bound {
        v["bound_account_id"] = json!(b.to_string());
    }
    v
}

fn transfer(id: u128, debit: u128, credit: u128, fen: u64) -> Value {
    json!({"id": id.to_string(), "debit_account_id": debit.to_string(), "credit_account_id": credit.to_string(), "amount": fen.to_string(), "currency": "CNY"})
}

/// Customers: Class I 1001..=1010 (and 2001..=2010 at Bank B), Class II 1101..=1105 and
/// Class III 1201..=1205 bound to the first Class I accounts; clearing participants 1 and 2.
async fn set_up(bank_a: &Client, bank_b: &Client, admin: &Client) -> Result<(), String> {
    let strict = ["debits_must_not_exceed_credits"];
    must(
        bank_a,
        "POST",
        "/v1/accounts",
        account(FUNDING, "1002", "none", None, &[]),
    )
    .await?;
    must(
        bank_b,
        "POST",
        "/v1/accounts",
        account(3000, "1002", "none", None, &[]),
    )
    .await?;
    for i in 1..=10u128 {
        must(
            bank_a,
            "POST",
            "/v1/accounts",
            account(1000 + i, "2241.01", "class_i", None, &strict),
        )
        .await?;
        must(
            bank_a,
            "POST",
            "/v1/transfers",
            transfer(900_000 + i, FUNDING, 1000 + i, 1_000_000_000),
        )
        .await?;
        must(
            bank_b,
            "POST",
            "/v1/accounts",
            account(2000 + i, "2241.01", "class_i", None, &strict),
        )
        .await?;
        must(
            bank_b,
            "POST",
            "/v1/transfers",
            transfer(910_000 + i, 3000, 2000 + i, 100_000_000),
        )
        .await?;
    }
    for i in 1..=5u128 {
        must(
            bank_a,
            "POST",
            "/v1/accounts",
            account(1100 + i, "2241.01", "class_ii", Some(1000 + i), &strict),
        )
        .await?;
        must(
            bank_a,
            "POST",
            "/v1/transfers",
            transfer(920_000 + i, 1000 + i, 1100 + i, 1_000_000),
        )
        .await?;
        must(
            bank_a,
            "POST",
            "/v1/accounts",
            account(1200 + i, "2241.01", "class_iii", Some(1000 + i), &strict),
        )
        .await?;
        must(
            bank_a,
            "POST",
            "/v1/transfers",
            transfer(930_000 + i, 1000 + i, 1200 + i, 100_000),
        )
        .await?;
    }
    for (n, code) in [(1, "BANKA"), (2, "BANKB")] {
        let body = json!({"number": n, "code": code, "name": code, "kind": "bank", "net_debit_cap": "1000000000"});
        must(admin, "POST", "/v1/clearing/participants", body).await?;
    }
    Ok(())
}

async fn drive(
    o: &Options,
    bank_a: &Client,
    shop: &Client,
    admin: &Client,
    alipay: std::net::SocketAddr,
    day: &mut Day,
) -> Result<(), String> {
    let sim = suanpan_gateway::http::HttpClient::default();
    let mut rng = Rng::new(7);
    let total = o.minutes * 60 * o.rate;
    let every = Duration::from_nanos(1_000_000_000 / o.rate);
    let started = Instant::now();
    let mut last_close = Instant::now();
    let mut succeeded_orders: Vec<(String, u64)> = Vec::new();
    for n in 0..total {
        let due = started + every * n as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let id = 1_000_000 + u128::from(n);
        let customer = 1001 + u128::from(rng.below(10));
        let other = 1001 + (customer - 1001 + 1 + u128::from(rng.below(9))) % 10;
        match n % 20 {
            6 => {
                let mut t = transfer(id, customer, other, 1 + rng.below(10_000));
                t["pending"] = json!(true);
                if (200..300).contains(&call(bank_a, "POST", "/v1/transfers", t).await.0) {
                    let post = (n / 20) % 2 == 0;
                    let path = format!("/v1/transfers/{id}/{}", if post { "post" } else { "void" });
                    let (status, _) = call(
                        bank_a,
                        "POST",
                        &path,
                        json!({"id": (id + 500_000_000).to_string()}),
                    )
                    .await;
                    if (200..300).contains(&status) {
                        if post {
                            day.pending_posted += 1
                        } else {
                            day.pending_voided += 1
                        }
                    }
                }
            }
            7..=9 => {
                let channel = if n % 2 == 0 { "alipay" } else { "wechat" };
                let amount = 100 + rng.below(50_000);
                let body = json!({"merchant_order_no": format!("d{n}"), "amount": amount.to_string(), "currency": "CNY", "subject": "demo goods", "channel": channel});
                let (status, v) = call(shop, "POST", "/v1/orders", body).await;
                if status == 201 {
                    day.orders += 1;
                    if let Some(order) = v["id"].as_str() {
                        succeeded_orders.push((order.to_string(), amount));
                    }
                }
            }
            10 => {
                // A partial refund of an earlier order, once it has succeeded.
                if let Some((order, amount)) = succeeded_orders.first().cloned() {
                    let (_, v) =
                        call(shop, "GET", &format!("/v1/orders/{order}"), Value::Null).await;
                    if v["state"] == "succeeded" {
                        succeeded_orders.remove(0);
                        // A stale callback arriving out of order (the channel saying the
                        // order still waits for the payer): the gateway must ignore it.
                        if let Ok(url) = suanpan_gateway::http::Url::parse(&format!(
                            "http://{alipay}/sim/trades/{order}/callback"
                        )) {
                            let body = json!({"state": "WAIT_BUYER_PAY"}).to_string().into_bytes();
                            let headers = [("content-type", "application/json".to_string())];
                            let sent = sim
                                .send("POST", &url, &headers, body, Duration::from_secs(5))
                                .await;
                            if sent.is_ok_and(|a| a.status == 200) {
                                day.stale_callbacks += 1;
                            }
                        }
                        let body =
                            json!({"refund_no": "r1", "amount": (amount / 2).max(1).to_string()});
                        if call(shop, "POST", &format!("/v1/orders/{order}/refunds"), body)
                            .await
                            .0
                            == 201
                        {
                            day.refunds += 1;
                        }
                    } else if succeeded_orders.len() > 50 {
                        succeeded_orders.remove(0);
                    }
                }
            }
            11 | 12 => {
                let body = json!({"id": id.to_string(), "debit_account_id": suanpan_clearing::position_account_id(1).to_string(),
                    "credit_account_id": suanpan_clearing::position_account_id(2).to_string(),
                    "amount": (100 + rng.below(100_000)).to_string(), "currency": "CNY", "code": 6001});
                if call(admin, "POST", "/v1/transfers", body).await.0 == 201 {
                    day.interbank += 1;
                }
            }
            13 | 14 => {
                let (amount, real_time) = match rng.below(4) {
                    0 => (300_000, true),
                    1 => (300_000, false),
                    2 => (8_000_000, true),
                    _ => (200_000_000, false),
                };
                let body = json!({"id": id.to_string(), "debit_account_id": customer.to_string(), "amount": amount.to_string(), "currency": "CNY",
                    "beneficiary": {"bank": "BANK-Z", "account": format!("6222{n:012}"), "name": "Beneficiary"}, "real_time": real_time});
                let (status, v) = call(bank_a, "POST", "/v1/payouts", body).await;
                if status == 201 {
                    day.payouts += 1;
                } else if v["error"]["code"] == "no_route" {
                    day.payouts_no_route += 1;
                }
            }
            15 => {
                let body = json!({"id": id.to_string(), "kind": "c2b_static", "payer_account_id": customer.to_string(),
                    "payee_account_id": other.to_string(), "amount": (100 + rng.below(2_000)).to_string(), "currency": "CNY"});
                if call(bank_a, "POST", "/v1/qr/payments", body).await.0 == 201 {
                    day.qr += 1;
                }
            }
            16 => {
                // Class III: 2,000.00 at most at any time; topping it up past that is refused.
                let class_iii = 1201 + u128::from(rng.below(5));
                let bound = class_iii - 200;
                let (status, v) = call(
                    bank_a,
                    "POST",
                    "/v1/transfers",
                    transfer(id, bound, class_iii, 150_000),
                )
                .await;
                if status == 201 {
                    day.transfers += 1;
                } else if v["error"]["code"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("tier_"))
                {
                    day.tier_refusals += 1;
                }
            }
            _ => {
                let (status, _) = call(
                    bank_a,
                    "POST",
                    "/v1/transfers",
                    transfer(id, customer, other, 1 + rng.below(100_000)),
                )
                .await;
                if status == 201 {
                    day.transfers += 1
                } else {
                    day.refused += 1
                }
            }
        }
        if last_close.elapsed() >= Duration::from_secs(20) {
            last_close = Instant::now();
            close_batch(admin, day).await?;
        }
    }
    close_batch(admin, day).await
}

/// Closes the open clearing batch and writes its statements.
async fn close_batch(admin: &Client, day: &mut Day) -> Result<(), String> {
    let closed = must(admin, "POST", "/v1/clearing/batches", Value::Null).await?;
    let batch = closed["batch"].as_u64().unwrap_or(0);
    must(
        admin,
        "POST",
        &format!("/v1/clearing/batches/{batch}/statements"),
        Value::Null,
    )
    .await?;
    day.batches += 1;
    Ok(())
}

/// Cuts the books over and runs the closed date's day-end: its seconds and the suspense items.
async fn close_the_day(admin: &Client, _day: &mut Day) -> Result<(f64, u64), String> {
    let cut = must(admin, "POST", "/v1/accounting/cutover", Value::Null).await?;
    let date = cut["closed_date"].as_str().unwrap_or_default().to_string();
    let started = Instant::now();
    must(
        admin,
        "POST",
        &format!("/v1/accounting/dates/{date}/day-end"),
        Value::Null,
    )
    .await?;
    loop {
        let status = must(
            admin,
            "GET",
            &format!("/v1/accounting/dates/{date}/day-end"),
            Value::Null,
        )
        .await?;
        match status["state"].as_str() {
            Some("complete") => break,
            Some("partial") => return Err(format!("the day-end stopped: {status}")),
            _ => {}
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the day-end did not finish in 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let suspense = must(admin, "GET", "/v1/accounting/suspense", Value::Null).await?;
    Ok((
        seconds,
        suspense["items"].as_array().map_or(0, |i| i.len() as u64),
    ))
}
