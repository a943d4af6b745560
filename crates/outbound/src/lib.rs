//! A small HTTP/1.1 client over hyper for the channels (payment and interbank) and the
//! merchants' notification URLs: a pool of idle connections per origin, a deadline on every
//! request, plain `http://` only (TLS termination in front of the channel is the
//! deployment's business).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// Idle connections kept per origin.
const IDLE_PER_ORIGIN_MAX: usize = 256;
/// Largest answer read from a channel or a merchant.
const RESPONSE_BYTES_MAX: usize = 1 << 20;

#[derive(Clone, Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed `http://host:port/path` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub authority: String,
    pub path: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let rest = text
            .strip_prefix("http://")
            .ok_or_else(|| format!("{text:?} is not an http:// URL"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{text:?} has no host"));
        }
        Ok(Url {
            authority: authority.to_string(),
            path: path.to_string(),
        })
    }

    /// This URL's origin with another path (and query).
    pub fn join(&self, path: &str) -> Url {
        let base = self.path.trim_end_matches('/');
        Url {
            authority: self.authority.clone(),
            path: format!("{base}{path}"),
        }
    }
}

#[derive(Default)]
pub struct HttpClient {
    idle: Mutex<HashMap<String, Vec<SendRequest<Full<Bytes>>>>>,
}

impl HttpClient {
    async fn connection(&self, authority: &str) -> Result<SendRequest<Full<Bytes>>, String> {
        loop {
            let idle = self
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(authority)
                .and_then(Vec::pop);
            match idle {
                Some(mut sender) => {
                    if sender.ready().await.is_ok() {
                        return Ok(sender);
                    }
                }
                None => break,
            }
        }
        let stream = tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("cannot talk to {authority}: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends one request and reads the answer, all within `timeout`.
    pub async fn send(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, String)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<HttpAnswer, String> {
        match tokio::time::timeout(timeout, self.send_now(method, url, headers, body)).await {
            Ok(answer) => answer,
            Err(_) => Err(format!(
                "{} did not answer within {} ms",
                url.authority,
                timeout.as_millis()
            )),
        }
    }

    async fn send_now(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<HttpAnswer, String> {
        let mut sender = self.connection(&url.authority).await?;
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(url.path.as_str())
            .header("host", url.authority.as_str());
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{}: {e}", url.authority))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body = Limited::new(response.into_body(), RESPONSE_BYTES_MAX)
            .collect()
            .await
            .map_err(|e| format!("{}: {e}", url.authority))?
            .to_bytes();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let pool = idle.entry(url.authority.clone()).or_default();
        if pool.len() < IDLE_PER_ORIGIN_MAX {
            pool.push(sender);
        }
        Ok(HttpAnswer {
            status,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() {
        let u = Url::parse("http://127.0.0.1:9/notify").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (u.authority.as_str(), u.path.as_str()),
            ("127.0.0.1:9", "/notify")
        );
        assert_eq!(u.join("/x").path, "/notify/x");
        assert!(Url::parse("https://a/").is_err());
        assert!(Url::parse("http:///a").is_err());
    }
}
