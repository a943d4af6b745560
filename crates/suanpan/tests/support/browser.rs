//! Headless Chromium driven through chromedriver's WebDriver protocol (a few JSON calls
//! over HTTP), for the tests of the pages a browser shows. Where Chromium is not installed a
//! test is skipped, saying so; under `CI` that is a failure instead, so CI cannot pass
//! without running them (`.ci/run` installs `chromium` and `chromium-driver`).

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Generous: a debug build on a busy 2-core machine.
pub const WAIT_MAX: Duration = Duration::from_secs(30);
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Browser {
    /// `None` when Chromium or chromedriver is not installed (a failure under `CI`).
    pub fn start() -> Option<Browser> {
        Browser::start_lang("en-US")
    }

    /// A browser whose Accept-Language is `lang` (e.g. `zh-CN`).
    pub fn start_lang(lang: &str) -> Option<Browser> {
        if !installed("chromedriver") || !installed("chromium") {
            super::cannot_run("chromium and chromium-driver are not installed");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromedriver: {e}"));
        let mut browser = Browser {
            driver,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            session: String::new(),
        };
        let started = Instant::now();
        while browser.try_call("GET", "/status", None).is_err() {
            assert!(started.elapsed() < WAIT_MAX, "chromedriver never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
                "prefs": { "intl.accept_languages": lang }
            }
        }}});
        let v = browser.call("POST", "/session", Some(caps));
        browser.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        Some(browser)
    }

    pub fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(self.addr).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(WAIT_MAX))
            .map_err(|e| e.to_string())?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .and_then(|_| stream.write_all(body.as_bytes()))
            .map_err(|e| e.to_string())?;
        let answer = super::client::read_answer(&mut stream)?;
        let v: Value = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
        if answer.status != 200 {
            return Err(format!("{method} {path}: {} {v}", answer.status));
        }
        Ok(v["value"].clone())
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver: {e}"))
    }

    pub fn open(&self, url: &str) {
        self.call(
            "POST",
            &format!("/session/{}/url", self.session),
            Some(json!({ "url": url })),
        );
    }

    pub fn element(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            &format!("/session/{}/element", self.session),
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// Reads something of an element, finding it again if the page was replaced between the
    /// finding and the reading (a page that refreshes itself, a form just answered).
    fn read_element(&self, css: &str, what: &str) -> Value {
        let started = Instant::now();
        loop {
            let found = self.try_call(
                "POST",
                &format!("/session/{}/element", self.session),
                Some(json!({"using": "css selector", "value": css})),
            );
            let read = found.and_then(|v| {
                let e = v[ELEMENT_KEY].as_str().unwrap_or_default().to_string();
                self.try_call(
                    "GET",
                    &format!("/session/{}/element/{e}/{what}", self.session),
                    None,
                )
            });
            match read {
                Ok(v) => return v,
                Err(e) if e.contains("stale element") && started.elapsed() < WAIT_MAX => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("WebDriver: {e}"),
            }
        }
    }

    pub fn attribute(&self, css: &str, name: &str) -> Value {
        self.read_element(css, &format!("attribute/{name}"))
    }

    pub fn text(&self, css: &str) -> String {
        self.read_element(css, "text")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn displayed(&self, css: &str) -> bool {
        let e = self.element(css);
        self.call(
            "GET",
            &format!("/session/{}/element/{e}/displayed", self.session),
            None,
        )
        .as_bool()
        .unwrap_or(false)
    }

    pub fn click(&self, css: &str) {
        let e = self.element(css);
        self.call(
            "POST",
            &format!("/session/{}/element/{e}/click", self.session),
            Some(json!({})),
        );
    }

    /// Clicks a button that submits a form, and waits until the browser has left the page
    /// (the old page's root element goes stale), so what is read next is the new page.
    pub fn submit(&self, css: &str) {
        let root = self.element("html");
        self.click(css);
        let started = Instant::now();
        let name = format!("/session/{}/element/{root}/name", self.session);
        while self.try_call("GET", &name, None).is_ok() {
            assert!(
                started.elapsed() < WAIT_MAX,
                "clicking {css} never left the page"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The new page: wait until it has a root to read.
        let find = format!("/session/{}/element", self.session);
        while self
            .try_call(
                "POST",
                &find,
                Some(json!({"using": "css selector", "value": "body"})),
            )
            .is_err()
        {
            assert!(
                started.elapsed() < WAIT_MAX,
                "the page after {css} never loaded"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn current_url(&self) -> String {
        self.call("GET", &format!("/session/{}/url", self.session), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn session(&self) -> &str {
        &self.session
    }

    /// Types `text` into the element.
    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.call(
            "POST",
            &format!("/session/{}/element/{e}/value", self.session),
            Some(json!({ "text": text })),
        );
    }

    /// The page as a PNG, for the docs.
    pub fn screenshot(&self, path: &std::path::Path) {
        let v = self.call(
            "GET",
            &format!("/session/{}/screenshot", self.session),
            None,
        );
        let png = decode_base64(v.as_str().unwrap_or_default());
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Sets the browser window's size (a phone: 390 x 844).
    pub fn window(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &format!("/session/{}/window/rect", self.session),
            Some(json!({ "width": width, "height": height })),
        );
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.try_call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
