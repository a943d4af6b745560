//! `suanpan call METHOD PATH`: one request to a running server, signed with a participant's
//! key or carrying an operator's token, and its answer printed: the first request a newcomer
//! makes without writing any signing code.

use std::net::SocketAddr;
use std::path::PathBuf;

use lexopt::prelude::*;
use suanpan_client::Client;

use crate::parse_value;

const USAGE: &str = "usage: suanpan call METHOD PATH [--body JSON | --body @FILE] --credentials FILE
                    [--url http://HOST:PORT] [--verbose]

Sends one request to a running `suanpan serve` (default http://127.0.0.1:8080) and prints the
answer's body on stdout. FILE is the JSON `suanpan credentials key` printed (a participant's
key_id and secret: the request is signed) or a file holding an operator's token (for
example the admin-token file `serve` writes). An answer of 400 or more exits 1 with one line
on stderr: the status, the error's code and its message.

  suanpan call GET /v1/accounts/42 --credentials bank-a.json
  suanpan call POST /v1/transfers --credentials bank-a.json \\
      --body '{\"id\":\"1\",\"debit_account_id\":\"42\",\"credit_account_id\":\"43\",\"amount\":\"100\",\"currency\":\"CNY\"}'";

pub fn main(args: &[String]) -> Result<(), String> {
    if matches!(args.first().map(String::as_str), Some("--help" | "-h")) {
        println!("{USAGE}");
        return Ok(());
    }
    let (Some(method), Some(path)) = (args.first(), args.get(1)) else {
        return Err("call needs METHOD and PATH; see `suanpan call --help`".into());
    };
    let method = method.to_ascii_uppercase();
    if !["GET", "POST", "PUT", "DELETE"].contains(&method.as_str()) {
        return Err(format!("{method:?} is not GET, POST, PUT or DELETE"));
    }
    if !path.starts_with('/') {
        return Err(format!("the path {path:?} must start with /"));
    }
    let mut parser = lexopt::Parser::from_args(args[2..].iter().cloned());
    let (mut body, mut credentials, mut url, mut verbose) = (
        String::new(),
        None::<PathBuf>,
        "http://127.0.0.1:8080".to_string(),
        false,
    );
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("body") => {
                let text: String = parse_value(&mut parser, "--body")?;
                body = match text.strip_prefix('@') {
                    Some(file) => std::fs::read_to_string(file)
                        .map_err(|e| format!("cannot read {file}: {e}"))?,
                    None => text,
                };
            }
            Long("credentials") => {
                credentials = Some(parse_value::<String>(&mut parser, "--credentials")?.into())
            }
            Long("url") => url = parse_value(&mut parser, "--url")?,
            Long("verbose") => verbose = true,
            other => return Err(format!("{}; see `suanpan call --help`", other.unexpected())),
        }
    }
    let credentials =
        credentials.ok_or("--credentials FILE is required; see `suanpan call --help`")?;
    let address: SocketAddr = url
        .strip_prefix("http://")
        .map(|h| h.trim_end_matches('/'))
        .and_then(|h| std::net::ToSocketAddrs::to_socket_addrs(h).ok()?.next())
        .ok_or_else(|| format!("--url {url:?} is not http://HOST:PORT"))?;
    let client = Client::with(address, suanpan_client::read_credentials(&credentials)?, 1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let answer = runtime
        .block_on(client.send(&method, path, body.into_bytes().into(), &[]))
        .map_err(|e| format!("{url} did not answer: {e}"))?;
    if verbose {
        eprintln!(
            "{} {}",
            answer.status,
            answer.content_type.as_deref().unwrap_or("")
        );
    }
    if answer.status >= 400 {
        let v: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        return Err(format!(
            "{} {}: {}",
            answer.status,
            v["error"]["code"].as_str().unwrap_or("error"),
            v["error"]["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(&answer.body).into_owned())
        ));
    }
    println!("{}", String::from_utf8_lossy(&answer.body));
    Ok(())
}
