//! A small blocking HTTP/1.1 client over `std::net::TcpStream` (or any stream, for TLS):
//! enough to send exactly the bytes a test means, signed as a participant or with an
//! operator token, and to read one answer. One connection per request, so nothing one test
//! sends can leak into the next request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// No answer within this is a failed test, not a hung one.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// An answer larger than this is a bug in the server or here.
const RESPONSE_BYTES_MAX: usize = 64 << 20;

/// A participant's API key as `suanpan credentials key` printed it.
#[derive(Clone, Debug)]
pub struct ApiKey {
    pub key_id: String,
    pub secret: String,
}

pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A nonce never used before by this test process (the server also refuses reuse across
/// processes only per key, and every test makes its own keys).
pub fn fresh_nonce() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    // Zero-padded: at least the 8 characters the server asks for, whatever the pid.
    format!(
        "nonce-{:08}-{:08}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path and query, exactly as sent on the request line.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send the body with `Transfer-Encoding: chunked` instead of `Content-Length`.
    pub chunked: bool,
}

impl Request {
    pub fn new(method: &str, target: &str) -> Request {
        Request {
            method: method.to_string(),
            target: target.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            chunked: false,
        }
    }

    pub fn get(target: &str) -> Request {
        Request::new("GET", target)
    }

    /// A POST with a JSON body.
    pub fn post(target: &str, json: &str) -> Request {
        Request::new("POST", target)
            .header("content-type", "application/json")
            .body(json.as_bytes())
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn without_header(mut self, name: &str) -> Request {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    pub fn body(mut self, body: &[u8]) -> Request {
        self.body = body.to_vec();
        self
    }

    /// Signs as the participant does, now, with a fresh nonce.
    pub fn signed(self, key: &ApiKey) -> Request {
        let ts = now_s().to_string();
        self.signed_with(key, &ts, &fresh_nonce())
    }

    /// Signs with a chosen timestamp and nonce (for the window and replay cases).
    pub fn signed_with(self, key: &ApiKey, timestamp: &str, nonce: &str) -> Request {
        let signature = suanpan_api::auth::sign(
            &key.secret,
            &self.method,
            &self.target,
            timestamp,
            nonce,
            &self.body,
        );
        self.header("x-suanpan-key", &key.key_id)
            .header("x-suanpan-timestamp", timestamp)
            .header("x-suanpan-nonce", nonce)
            .header("x-suanpan-signature", &signature)
    }

    pub fn bearer(self, token: &str) -> Request {
        self.header("authorization", &format!("Bearer {token}"))
    }

    fn head_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nhost: suanpan\r\n",
            self.method, self.target
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if self.chunked {
            head.push_str("transfer-encoding: chunked\r\n");
        } else if !self.body.is_empty() || self.method == "POST" {
            head.push_str(&format!("content-length: {}\r\n", self.body.len()));
        }
        head.push_str("connection: close\r\n\r\n");
        head.into_bytes()
    }

    fn body_bytes(&self) -> Vec<u8> {
        if !self.chunked {
            return self.body.clone();
        }
        let mut out = Vec::with_capacity(self.body.len() + 64);
        for chunk in self.body.chunks(64 * 1024) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    /// The request exactly as it goes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = self.head_bytes();
        bytes.extend_from_slice(&self.body_bytes());
        bytes
    }

    /// Sends over a new connection; `Err` when there is no answer at all (refused, reset
    /// before any byte of an answer).
    pub fn try_send(&self, addr: SocketAddr) -> Result<Response, String> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        stream
            .set_write_timeout(Some(IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
        let (head, body) = (self.head_bytes(), self.body_bytes());
        // The body goes from its own thread: a server that answers early (413) and stops
        // reading must not leave this side blocked in a write instead of reading the answer.
        let sending = std::thread::spawn(move || {
            let _ = writer
                .write_all(&head)
                .and_then(|_| writer.write_all(&body));
        });
        let mut reader = stream;
        let answer = read_response(&mut reader);
        let _ = reader.shutdown(std::net::Shutdown::Both);
        let _ = sending.join();
        answer
    }

    pub fn send(&self, addr: SocketAddr) -> Response {
        self.try_send(addr)
            .unwrap_or_else(|e| panic!("{} {}: no answer: {e}", self.method, self.target))
    }

    /// Sends over a stream already open (TLS), writing everything first.
    pub fn send_over<S: Read + Write>(&self, stream: &mut S) -> Result<Response, String> {
        stream
            .write_all(&self.head_bytes())
            .and_then(|_| stream.write_all(&self.body_bytes()))
            .and_then(|_| stream.flush())
            .map_err(|e| e.to_string())?;
        read_response(stream)
    }
}

#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    /// `(error.code, error.field)` of an error answer, checking it has a message too.
    pub fn error(&self) -> (String, Option<String>) {
        let content_type = self.header("content-type").unwrap_or("");
        assert!(
            content_type.starts_with("application/json"),
            "an error answered as {content_type:?}"
        );
        let v = self.json();
        let error = &v["error"];
        let message = error["message"].as_str().unwrap_or("");
        assert!(!message.is_empty(), "an error without a message: {v}");
        let code = error["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error.code in {v}"))
            .to_string();
        (code, error["field"].as_str().map(str::to_string))
    }
}

/// Reads one answer from a stream the caller wrote the request to itself.
pub fn read_answer<S: Read>(stream: &mut S) -> Result<Response, String> {
    read_response(stream)
}

/// One read, tried again when a signal interrupted it (the test process has children).
fn read_some<S: Read>(stream: &mut S, buf: &mut [u8]) -> Result<usize, String> {
    for _attempt in 0..100 {
        match stream.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other.map_err(|e| e.to_string()),
        }
    }
    Err("reads interrupted 100 times over".into())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads one answer: the head, then exactly Content-Length bytes, or a chunked body, or to
/// the end of the stream.
fn read_response<S: Read>(stream: &mut S) -> Result<Response, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            break at;
        }
        let n = read_some(stream, &mut chunk)?;
        if n == 0 {
            return Err(format!("the connection closed after {} bytes", buf.len()));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > RESPONSE_BYTES_MAX {
            return Err("an answer head without end".into());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut rest = buf[head_end + 4..].to_vec();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let fill = |rest: &mut Vec<u8>, stream: &mut S, want: usize| -> Result<bool, String> {
        let mut chunk = [0u8; 16 * 1024];
        while rest.len() < want {
            let n = read_some(stream, &mut chunk)?;
            if n == 0 {
                return Ok(false);
            }
            rest.extend_from_slice(&chunk[..n]);
            if rest.len() > RESPONSE_BYTES_MAX {
                return Err("an answer too large".into());
            }
        }
        Ok(true)
    };
    let body = if let Some(length) = get("content-length") {
        let length: usize = length.parse().map_err(|_| "bad content-length")?;
        if !fill(&mut rest, stream, length)? {
            return Err("the answer's body was cut short".into());
        }
        rest.truncate(length);
        rest
    } else if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            while find(&rest[at..], b"\r\n").is_none() {
                let want = rest.len() + 1;
                if !fill(&mut rest, stream, want)? {
                    return Err("a chunked answer cut short".into());
                }
            }
            let line_end = at + find(&rest[at..], b"\r\n").unwrap_or(0);
            let size_text = String::from_utf8_lossy(&rest[at..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {size_text:?}"))?;
            let start = line_end + 2;
            if !fill(&mut rest, stream, start + size + 2)? {
                return Err("a chunk cut short".into());
            }
            if size == 0 {
                break body;
            }
            body.extend_from_slice(&rest[start..start + size]);
            at = start + size + 2;
        }
    } else {
        let _ = fill(&mut rest, stream, RESPONSE_BYTES_MAX);
        rest
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}
