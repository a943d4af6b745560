//! `suanpan recon run|report|resolve`: reconciliation through a running server (the room
//! fetches bills through the gateway's channels and books through the engine, both the
//! server's), with an operator's credentials. Flags are parsed here; the work is the room's.

use std::net::SocketAddr;
use std::path::PathBuf;

use lexopt::prelude::*;
use serde_json::{json, Value};
use suanpan_client::Client;

use crate::parse_value;

const HELP: &str = "usage: suanpan recon run --channel alipay|wechat --date YYYY-MM-DD [--file F] [--json] --credentials FILE [--url URL]
       suanpan recon report --date YYYY-MM-DD [--json | --csv] --credentials FILE [--url URL]
       suanpan recon resolve ID --action ACTION --operator NAME [--note TEXT] [--against SUBJECT] --credentials FILE [--url URL]

Reconciliation (对账) on a running `suanpan serve` (default --url http://127.0.0.1:8080);
FILE holds an operator's token (the admin-token file `serve` writes, or one `suanpan
credentials operator` made).

`run` reconciles a channel's bill of a date: downloaded through the channel's bill API, or
read from --file (as the channel publishes it: Alipay's zip of GBK CSV, WeChat's CSV, gzipped
or not). Every bill line and every order ends in one class; differences are recorded with
their evidence, and those that can be explained are resolved (a 长款 whose order exists is
booked as its late success). A rerun gives the same classes and books nothing twice. The
day-end's first step does the same for every channel and posts what is still unexplained to
suspense (挂账).

`report` prints a date's report per channel: counts and amounts per class, which sum to the
bill's own summary, and every difference with its state.

`resolve` acts on a difference, recorded in its history under NAME (which must be the
operator whose token FILE holds): book_late_success, rebook, query_channel, reverse, suspense,
channel_right, platform_right, accept (with --note), write_off (核销, with --against, a
GL-only subject such as 6711).";

#[derive(Default)]
struct Flags {
    channel: Option<String>,
    date: Option<String>,
    file: Option<PathBuf>,
    json: bool,
    csv: bool,
    credentials: Option<PathBuf>,
    url: Option<String>,
    action: Option<String>,
    operator: Option<String>,
    note: Option<String>,
    against: Option<String>,
    id: Option<String>,
}

fn parse(args: &[String], takes_id: bool) -> Result<Option<Flags>, String> {
    let mut f = Flags::default();
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("help") | Short('h') => {
                println!("{HELP}");
                return Ok(None);
            }
            Long("channel") => f.channel = Some(parse_value(&mut parser, "--channel")?),
            Long("date") => f.date = Some(parse_value(&mut parser, "--date")?),
            Long("file") => f.file = Some(parse_value::<String>(&mut parser, "--file")?.into()),
            Long("json") => f.json = true,
            Long("csv") => f.csv = true,
            Long("credentials") => {
                f.credentials = Some(parse_value::<String>(&mut parser, "--credentials")?.into())
            }
            Long("url") => f.url = Some(parse_value(&mut parser, "--url")?),
            Long("action") => f.action = Some(parse_value(&mut parser, "--action")?),
            Long("operator") => f.operator = Some(parse_value(&mut parser, "--operator")?),
            Long("note") => f.note = Some(parse_value(&mut parser, "--note")?),
            Long("against") => f.against = Some(parse_value(&mut parser, "--against")?),
            Value(v) if takes_id && f.id.is_none() => {
                f.id = Some(v.into_string().map_err(|_| "the id is not text")?)
            }
            other => {
                return Err(format!(
                    "{}; run `suanpan recon --help`",
                    other.unexpected()
                ))
            }
        }
    }
    Ok(Some(f))
}

pub fn main(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("report") => report(&args[1..]),
        Some("resolve") => resolve(&args[1..]),
        Some("--help" | "-h") => {
            println!("{HELP}");
            Ok(())
        }
        _ => Err("recon needs run, report or resolve; run `suanpan recon --help`".into()),
    }
}

fn required<'a, T>(value: &'a Option<T>, flag: &str) -> Result<&'a T, String> {
    value
        .as_ref()
        .ok_or_else(|| format!("{flag} is required; run `suanpan recon --help`"))
}

/// Sends one request as the operator; an error answer is one line: status, code, message.
fn call(f: &Flags, method: &str, path: &str, body: Vec<u8>) -> Result<(String, Vec<u8>), String> {
    let url = f.url.as_deref().unwrap_or("http://127.0.0.1:8080");
    let address: SocketAddr = url
        .strip_prefix("http://")
        .map(|h| h.trim_end_matches('/'))
        .and_then(|h| std::net::ToSocketAddrs::to_socket_addrs(h).ok()?.next())
        .ok_or_else(|| format!("--url {url:?} is not http://HOST:PORT"))?;
    let credentials = required(&f.credentials, "--credentials")?;
    let client = Client::with(address, suanpan_client::read_credentials(credentials)?, 1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let answer = runtime
        .block_on(client.send(method, path, body.into(), &[]))
        .map_err(|e| format!("{url} did not answer: {e}"))?;
    if answer.status >= 400 {
        let v: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        return Err(format!(
            "{} {}: {}",
            answer.status,
            v["error"]["code"].as_str().unwrap_or("error"),
            v["error"]["message"].as_str().unwrap_or("")
        ));
    }
    Ok((
        answer.content_type.unwrap_or_default(),
        answer.body.to_vec(),
    ))
}

fn parse_json(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("the server answered no JSON: {e}"))
}

fn run(args: &[String]) -> Result<(), String> {
    let Some(f) = parse(args, false)? else {
        return Ok(());
    };
    let mut body = json!({
        "channel": required(&f.channel, "--channel")?,
        "date": required(&f.date, "--date")?,
    });
    if let Some(path) = &f.file {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        body["bill_base64"] = json!(base64(&bytes));
    }
    let (_, answer) = call(&f, "POST", "/v1/recon/runs", body.to_string().into_bytes())?;
    let v = parse_json(&answer)?;
    if f.json {
        println!("{v}");
    } else {
        print_channel(&v);
    }
    Ok(())
}

fn report(args: &[String]) -> Result<(), String> {
    let Some(f) = parse(args, false)? else {
        return Ok(());
    };
    if f.json && f.csv {
        return Err("--json and --csv: choose one".into());
    }
    let date = required(&f.date, "--date")?;
    let format = if f.csv { "csv" } else { "json" };
    let (_, answer) = call(
        &f,
        "GET",
        &format!("/v1/recon/dates/{date}?format={format}"),
        Vec::new(),
    )?;
    if f.csv {
        print!("{}", String::from_utf8_lossy(&answer));
        return Ok(());
    }
    let v = parse_json(&answer)?;
    if f.json {
        println!("{v}");
        return Ok(());
    }
    let channels = v["channels"].as_array().cloned().unwrap_or_default();
    if channels.is_empty() {
        println!("{date}: no channel reconciled yet");
    }
    for c in &channels {
        print_channel(c);
    }
    Ok(())
}

fn resolve(args: &[String]) -> Result<(), String> {
    let Some(f) = parse(args, true)? else {
        return Ok(());
    };
    let id = required(&f.id, "the difference's ID")?;
    let body = json!({
        "action": required(&f.action, "--action")?,
        "operator": required(&f.operator, "--operator")?,
        "note": f.note,
        "against": f.against,
    });
    let (_, answer) = call(
        &f,
        "POST",
        &format!("/v1/recon/differences/{id}/resolve"),
        body.to_string().into_bytes(),
    )?;
    let v = parse_json(&answer)?;
    println!(
        "difference {}: {} {} of {}, {} fen: {}",
        v["id"],
        v["channel"].as_str().unwrap_or(""),
        v["class"].as_str().unwrap_or(""),
        v["key"].as_str().unwrap_or(""),
        v["amount_fen"],
        v["state"].as_str().unwrap_or("")
    );
    Ok(())
}

fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!(
        "{sign}{}",
        suanpan_recon::bill::format_yuan(fen.unsigned_abs())
    )
}

/// One channel's run or report as a table.
fn print_channel(c: &Value) {
    let s = &c["bill_summary"];
    println!(
        "{} {}: bill of {} lines, paid {}, refunded {}, fees {} (run {} times); classes {} the bill's summary",
        c["channel"].as_str().unwrap_or(""),
        c["date"].as_str().unwrap_or(""),
        s["lines"],
        yuan(s["paid_fen"].as_i64().unwrap_or(0)),
        yuan(s["refunded_fen"].as_i64().unwrap_or(0)),
        yuan(s["fees_fen"].as_i64().unwrap_or(0)),
        c["times_run"],
        if c["bill_accounted"] == true { "add up to" } else { "DO NOT add up to" },
    );
    println!(
        "  {:<24} {:>8} {:>16} {:>16}",
        "class", "count", "bill", "platform"
    );
    for k in c["classes"].as_array().into_iter().flatten() {
        if k["count"] == 0 {
            continue;
        }
        println!(
            "  {:<24} {:>8} {:>16} {:>16}",
            k["class"].as_str().unwrap_or(""),
            k["count"],
            yuan(k["bill_fen"].as_i64().unwrap_or(0)),
            yuan(k["platform_fen"].as_i64().unwrap_or(0))
        );
    }
    for d in c["differences"].as_array().into_iter().flatten() {
        println!(
            "  difference {:>6}  {:<22} {:<20} {:>14}  {}",
            d["id"],
            d["key"].as_str().unwrap_or(""),
            d["class"].as_str().unwrap_or(""),
            yuan(d["amount_fen"].as_i64().unwrap_or(0)),
            d["state"].as_str().unwrap_or("")
        );
    }
    for n in c["notes"].as_array().into_iter().flatten() {
        println!("  note: {}", n.as_str().unwrap_or(""));
    }
}

/// Standard base64 with padding (the API's `bill_base64`).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char
            } else {
                '='
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads_as_the_standard_says() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"h"), "aA==");
        assert_eq!(base64(b"hi"), "aGk=");
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }
}
