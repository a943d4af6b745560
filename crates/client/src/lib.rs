//! A small Rust client of Suanpan's HTTP API: requests signed as a participant (HMAC-SHA256
//! over method, path and query, timestamp, nonce and the body's digest; see the README's
//! "Signing a request") or carrying an operator's token, over pooled HTTP/1.1 connections.
//! The benchmarks and `suanpan call` use it; so can a bank's own tools.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;

/// How a request proves who sends it.
#[derive(Clone)]
pub enum Credentials {
    /// A participant's API key: its id and its signing state.
    Key {
        key_id: String,
        signer: suanpan_api::auth::Signer,
    },
    /// An operator's token.
    Token(String),
}

/// One participant's signed connections to the server.
pub struct Client {
    address: SocketAddr,
    credentials: Credentials,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    /// One permit per connection in use, so at most `connections` are open.
    in_use: Arc<Semaphore>,
}

pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl Client {
    /// A participant's client: every request signed with its key.
    pub fn new(address: SocketAddr, key_id: String, secret: &str, connections: usize) -> Client {
        Client::with(
            address,
            Credentials::Key {
                key_id,
                signer: suanpan_api::auth::Signer::new(secret),
            },
            connections,
        )
    }

    /// An operator's client: every request carries the token.
    pub fn operator(address: SocketAddr, token: String, connections: usize) -> Client {
        Client::with(address, Credentials::Token(token), connections)
    }

    pub fn with(address: SocketAddr, credentials: Credentials, connections: usize) -> Client {
        Client {
            address,
            credentials,
            idle: Mutex::new(Vec::new()),
            in_use: Arc::new(Semaphore::new(connections)),
        }
    }

    async fn connection(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some(mut sender) => {
                    if sender.ready().await.is_ok() {
                        return Ok(sender);
                    }
                }
                None => break,
            }
        }
        let stream = tokio::net::TcpStream::connect(self.address)
            .await
            .map_err(|_| "connect_error".to_string())?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| "connect_error".to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends one signed request; the error is a short code for the report.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Bytes,
        headers: &[(&'static str, String)],
    ) -> Result<Answer, String> {
        let _permit = self
            .in_use
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let mut sender = self.connection().await?;
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.address.to_string());
        if !body.is_empty() {
            request = request.header("content-type", "application/json");
        }
        match &self.credentials {
            Credentials::Key { key_id, signer } => {
                let ts = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
                    .to_string();
                let nonce = next_nonce();
                let signature = signer.sign(method, path, &ts, &nonce, &body);
                request = request
                    .header(suanpan_api::auth::KEY_HEADER, key_id)
                    .header(suanpan_api::auth::TIMESTAMP_HEADER, ts)
                    .header(suanpan_api::auth::NONCE_HEADER, nonce)
                    .header(suanpan_api::auth::SIGNATURE_HEADER, signature);
            }
            Credentials::Token(token) => {
                request = request.header("authorization", format!("Bearer {token}"));
            }
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|_| "io_error".to_string())?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|_| "io_error".to_string())?
            .to_bytes();
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sender);
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }
}

/// A nonce no other request of this process uses: the process's start and a counter.
fn next_nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    let start = START.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    });
    format!("{start:x}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// The client's credentials from a file: the JSON `suanpan credentials key` printed (a
/// participant's `key_id` and `secret`), or a file holding an operator's token alone.
pub fn read_credentials(path: &std::path::Path) -> Result<Credentials, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let trimmed = text.trim();
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(trimmed) {
        if let (Some(id), Some(secret)) = (value["key_id"].as_str(), value["secret"].as_str()) {
            return Ok(Credentials::Key {
                key_id: id.to_string(),
                signer: suanpan_api::auth::Signer::new(secret),
            });
        }
        if let Some(token) = value["token"].as_str() {
            return Ok(Credentials::Token(token.to_string()));
        }
        return Err(format!(
            "{} has neither key_id and secret nor token",
            path.display()
        ));
    }
    if trimmed.starts_with("ot_") && !trimmed.contains(char::is_whitespace) {
        return Ok(Credentials::Token(trimmed.to_string()));
    }
    Err(format!(
        "{} is neither the JSON of `suanpan credentials key` nor an operator token",
        path.display()
    ))
}
