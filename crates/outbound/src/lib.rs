//! A small HTTP/1.1 client over hyper for the channels (payment and interbank) and the
//! merchants' notification URLs: a pool of idle connections per origin, a deadline on every
//! request, `https://` through rustls (the platform's trusted roots, plus a CA file where
//! configured: a private channel's or a test's) and `http://`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
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

/// A parsed `http://host[:port]/path` or `https://host[:port]/path` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `https://`: the connection is TLS, the server's certificate checked.
    pub tls: bool,
    pub authority: String,
    pub path: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let (tls, rest) = match (text.strip_prefix("https://"), text.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => return Err(format!("{text:?} is not an http:// or https:// URL")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("{text:?} has no host (or has credentials in it)"));
        }
        Ok(Url {
            tls,
            authority: authority.to_string(),
            path: path.to_string(),
        })
    }

    /// This URL's origin with another path (and query).
    pub fn join(&self, path: &str) -> Url {
        let base = self.path.trim_end_matches('/');
        Url {
            tls: self.tls,
            authority: self.authority.clone(),
            path: format!("{base}{path}"),
        }
    }

    /// The host alone (no port, no IPv6 brackets): the name the certificate must carry.
    pub fn host(&self) -> &str {
        let a = self.authority.as_str();
        if let Some(rest) = a.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        a.rsplit_once(':').map_or(a, |(h, _)| h)
    }

    /// Where to connect: the authority, with the scheme's port when it names none.
    fn address(&self) -> String {
        let has_port = match self.authority.rfind(']') {
            Some(end) => self.authority[end..].contains(':'),
            None => self.authority.contains(':'),
        };
        if has_port {
            self.authority.clone()
        } else {
            format!("{}:{}", self.authority, if self.tls { 443 } else { 80 })
        }
    }

    fn origin(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.authority
        )
    }
}

/// The TLS configuration of outbound connections: the platform's trusted roots, and those of
/// a CA file when given.
pub fn tls_config(ca_file: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A platform certificate rustls cannot use is left out, not fatal.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("no certificate in the CA file {}", path.display()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("unusable CA certificate in {}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Default)]
pub struct HttpClient {
    /// Idle connections by origin (scheme and authority).
    idle: Mutex<HashMap<String, Vec<SendRequest<Full<Bytes>>>>>,
    /// Made on the first `https://` request when not given (the platform's roots).
    tls: OnceLock<Arc<rustls::ClientConfig>>,
}

impl HttpClient {
    /// A client whose `https://` connections trust `tls`'s roots.
    pub fn with_tls(tls: Arc<rustls::ClientConfig>) -> HttpClient {
        let client = HttpClient::default();
        let _ = client.tls.set(tls);
        client
    }

    fn tls(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        if let Some(config) = self.tls.get() {
            return Ok(config.clone());
        }
        let config = tls_config(None)?;
        Ok(self.tls.get_or_init(|| config).clone())
    }

    async fn connection(&self, url: &Url) -> Result<SendRequest<Full<Bytes>>, String> {
        let origin = url.origin();
        loop {
            let idle = self
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&origin)
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
        let authority = &url.authority;
        let stream = tokio::net::TcpStream::connect(url.address())
            .await
            .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
        let _ = stream.set_nodelay(true);
        if !url.tls {
            return handshake(TokioIo::new(stream), authority).await;
        }
        let name = rustls_pki_types::ServerName::try_from(url.host().to_string())
            .map_err(|e| format!("{authority}: not a name TLS can check: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls()?)
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS with {authority} failed: {e}"))?;
        handshake(TokioIo::new(tls), authority).await
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
        let mut sender = self.connection(url).await?;
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
        let pool = idle.entry(url.origin()).or_default();
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

/// HTTP/1.1 over a connected stream (plain or TLS); the connection runs on its own task.
async fn handshake<T>(io: T, authority: &str) -> Result<SendRequest<Full<Bytes>>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("cannot talk to {authority}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
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
        assert!(!u.tls);
        let s =
            Url::parse("https://api.mch.weixin.qq.com/v3/pay").unwrap_or_else(|e| panic!("{e}"));
        assert!(s.tls);
        assert_eq!(
            (s.host(), s.address().as_str()),
            ("api.mch.weixin.qq.com", "api.mch.weixin.qq.com:443")
        );
        assert_eq!(
            Url::parse("http://[::1]:8080/").map(|u| u.host().to_string()),
            Ok("::1".into())
        );
        assert!(Url::parse("ftp://a/").is_err());
        assert!(Url::parse("http:///a").is_err());
        assert!(Url::parse("https://user:pw@a/").is_err());
    }
}
