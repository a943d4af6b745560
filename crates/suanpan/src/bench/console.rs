//! `suanpan bench console`: how fast the console's pages answer on big books. On a data
//! directory a `suanpan bench engine --data DIR` run filled (e.g. 1,000,000 accounts and
//! 10,000,000 transfers), it adds a merchant's orders to the gateway's store, starts
//! `serve`, waits for the history index to hold the whole journal, logs in, and asks for
//! random accounts' pages (balances and the first page of history), later history pages,
//! and the order search (by merchant order number, and by state and time), one at a time,
//! timing each answer.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lexopt::prelude::*;
use suanpan_gateway::http::{HttpClient, Url};

use super::process::spawn;
use crate::json::JsonLine;
use crate::parse_value;
use crate::workload::Rng;

const HELP: &str =
    "usage: suanpan bench console --data DIR [--accounts N] [--orders N] [--requests N] [--json]

DIR holds books a `suanpan bench engine --data DIR --accounts N --transfers M` run made.
Adds --orders payment orders (default 1000000) to DIR's gateway store, starts `serve` on DIR,
waits until its history index holds the whole journal, then makes --requests (default 2000)
requests of each page: an account's page with its first history page, a later page of the
funding account's history (one of the first 500 pages),
the order search by merchant order number, and by state and time. --accounts is the number
the engine run opened (default 1000000): accounts 1 to N are asked for. Prints p50 and p99 of
each.";

struct Options {
    data: Option<PathBuf>,
    accounts: u64,
    orders: u64,
    requests: u64,
    json: bool,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        data: None,
        accounts: 1_000_000,
        orders: 1_000_000,
        requests: 2_000,
        json: false,
    };
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("data") => o.data = Some(parse_value::<String>(&mut parser, "--data")?.into()),
            Long("orders") => o.orders = parse_value(&mut parser, "--orders")?,
            Long("accounts") => o.accounts = parse_value(&mut parser, "--accounts")?,
            Long("requests") => o.requests = parse_value(&mut parser, "--requests")?,
            Long("json") => o.json = true,
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(None);
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    if o.requests == 0 {
        return Err("--requests must be at least 1".into());
    }
    Ok(Some(o))
}

/// Adds `n` orders of the merchant SHOP to DIR's gateway store, in one transaction.
fn add_orders(dir: &std::path::Path, n: u64) -> Result<(), String> {
    use suanpan_store::args;
    let store = suanpan_gateway::store::open(&suanpan_gateway::store::Home::sqlite(dir))
        .map_err(|e| e.to_string())?;
    store
        .write_blocking(move |c| {
            let existing = c
                .query_one("SELECT count(*) FROM gateway_orders", args![])?
                .i64(0)?;
            if existing > 0 {
                return Ok(());
            }
            let states = ["succeeded", "succeeded", "succeeded", "closed", "failed"];
            let start_ms: i64 = 1_796_000_000_000;
            for i in 1..=n as i64 {
                c.execute(
                    "INSERT INTO gateway_orders (id, merchant, owner, merchant_order_no, amount, currency, subject,
                         channel, body_digest, state, created_ms, expire_at_ms)
                     VALUES (?1, 'SHOP', 1, ?2, ?3, 'CNY', 'bench', ?4, '', ?5, ?6, ?7)",
                    args![
                        i,
                        &format!("o{i}"),
                        100 + i % 10_000,
                        if i % 2 == 0 { "alipay" } else { "wechat" },
                        states[(i % 5) as usize],
                        start_ms + i * 10,
                        start_ms + i * 10 + 900_000,
                    ],
                )?;
            }
            Ok::<_, suanpan_gateway::GatewayError>(())
        })
        .map_err(|e| e.to_string())
}

fn quantiles(mut us: Vec<u64>) -> (f64, f64) {
    us.sort_unstable();
    let at =
        |q: f64| us[((us.len() as f64 * q).ceil() as usize).clamp(1, us.len()) - 1] as f64 / 1000.0;
    (at(0.5), at(0.99))
}

pub fn main(args: &[String]) -> Result<(), String> {
    let Some(o) = parse(args)? else { return Ok(()) };
    let dir = o
        .data
        .ok_or("--data DIR is required (the books of a `suanpan bench engine --data DIR` run)")?;
    if !suanpan_journal::db_path(&dir).exists() {
        return Err(format!(
            "{} holds no journal: make the books first with `suanpan bench engine --data {}`",
            dir.display(),
            dir.display()
        ));
    }
    let started = Instant::now();
    add_orders(&dir, o.orders)?;
    let access = suanpan_access::Access::open(&dir)?;
    let token = access.create_operator(
        &format!("bench-{}", std::process::id()),
        suanpan_access::Role::Viewer,
    )?;
    drop(access);
    let data = dir.to_string_lossy().into_owned();
    let (server, addr) = spawn(&[
        "serve",
        "--data",
        &data,
        "--listen",
        "127.0.0.1:0",
        "--log-level",
        "warn",
    ])?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let http = HttpClient::default();
    let url = |path: &str| Url::parse(&format!("http://{addr}{path}")).map_err(|e| e.to_string());
    let figures = runtime.block_on(async {
        // Wait until the history index holds the whole journal (it builds on idle CPU).
        let metrics = url("/metrics")?;
        loop {
            let text = http
                .send("GET", &metrics, &[], Vec::new(), Duration::from_secs(30))
                .await
                .map(|a| String::from_utf8_lossy(&a.body).into_owned())
                .unwrap_or_default();
            let value = |name: &str| {
                text.lines()
                    .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
                    .and_then(|l| l.rsplit(' ').next())
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(-1.0)
            };
            let (indexed, committed) = (
                value("suanpan_history_indexed_seq"),
                value("suanpan_journal_committed_seq"),
            );
            if indexed >= committed && committed >= 0.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let indexed_s = started.elapsed().as_secs_f64();
        let login = http
            .send(
                "POST",
                &url("/console/login")?,
                &[(
                    "content-type",
                    "application/x-www-form-urlencoded".to_string(),
                )],
                format!("token={token}").into_bytes(),
                Duration::from_secs(30),
            )
            .await?;
        let cookie = login
            .header("set-cookie")
            .and_then(|c| c.split(';').next())
            .ok_or("the console set no session")?
            .to_string();
        let headers = [("cookie", cookie)];
        let mut rng = Rng::new(3);
        let accounts = o.accounts.max(1);
        let mut times: [Vec<u64>; 4] = Default::default();
        // Later pages of a long history: the funding account paid every account, so its
        // history runs to a page for each 50 of them; walk up to 500 pages to have cursors.
        let mut cursors = Vec::new();
        let mut next = Some(format!(
            "/console/accounts?id={}",
            crate::workload::FUNDING_ACCOUNT
        ));
        while let Some(path) = next.take() {
            let answer = http
                .send(
                    "GET",
                    &url(&path)?,
                    &headers,
                    Vec::new(),
                    Duration::from_secs(30),
                )
                .await?;
            let body = String::from_utf8_lossy(&answer.body);
            next = body
                .split("id=\"next-page\" href=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(|n| n.replace("&amp;", "&"));
            if let Some(n) = &next {
                cursors.push(n.clone());
            }
            if cursors.len() >= 500 {
                break;
            }
        }
        if cursors.is_empty() {
            return Err(
                "the funding account's history has a single page: no later page to time".into(),
            );
        }
        for i in 0..o.requests {
            let id = 1 + rng.below(accounts);
            let paths = [
                format!("/console/accounts?id={id}"),
                cursors
                    .get(i as usize % cursors.len().max(1))
                    .cloned()
                    .unwrap_or_else(|| format!("/console/accounts?id={id}")),
                format!(
                    "/console/orders?merchant=SHOP&no=o{}",
                    1 + rng.below(o.orders.max(1))
                ),
                format!(
                    "/console/orders?state=succeeded&from={}",
                    crate::bench::console::rfc3339(1_796_000_000 + rng.below(10_000))
                ),
            ];
            for (k, path) in paths.iter().enumerate() {
                let sent = Instant::now();
                let answer = http
                    .send(
                        "GET",
                        &url(path)?,
                        &headers,
                        Vec::new(),
                        Duration::from_secs(30),
                    )
                    .await?;
                times[k].push(sent.elapsed().as_micros() as u64);
                let body = String::from_utf8_lossy(&answer.body);
                let shown = match k {
                    0 | 1 => body.contains("id=\"account\""),
                    _ => body.contains("id=\"orders\""),
                };
                if answer.status != 200 || !shown {
                    return Err(format!(
                        "{path} answered {} without the page's table",
                        answer.status
                    ));
                }
            }
        }
        Ok::<_, String>((indexed_s, times))
    })?;
    drop(server);
    let (indexed_s, times) = figures;
    let names = [
        "account_page",
        "history_page",
        "order_by_number",
        "orders_by_state",
    ];
    let mut line = JsonLine::default()
        .str("bench", "console")
        .num("requests_each", o.requests)
        .fixed("ready_s", indexed_s, 1);
    for (name, t) in names.iter().zip(times) {
        let (p50, p99) = quantiles(t);
        if !o.json {
            eprintln!("{name}: p50 {p50:.2} ms, p99 {p99:.2} ms");
        }
        line =
            line.fixed(&format!("{name}_p50_ms"), p50, 3)
                .fixed(&format!("{name}_p99_ms"), p99, 3);
    }
    println!("{}", line.finish());
    Ok(())
}

/// An instant (seconds since the epoch) as RFC 3339, for the order search's `from`.
pub fn rfc3339(unix_s: u64) -> String {
    suanpan_api::time::format_ns(unix_s.saturating_mul(1_000_000_000))
}
