//! The payer's result page in a real browser: headless Chromium driven through chromedriver's
//! WebDriver protocol (a few JSON calls over HTTP), against a real `suanpan serve` and a real
//! simulated channel. Timings are shortened by configuration; the page's logic is the one
//! served in production. Skipped, saying so, where Chromium is not installed (CI installs it).

#[allow(dead_code)]
mod gateway_support;
#[allow(dead_code)]
mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gateway_support::{Shop, Timings, WAIT_MAX};
use serde_json::{json, Value};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
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
    /// `None` when Chromium or chromedriver is not installed.
    fn start() -> Option<Browser> {
        if !installed("chromedriver") || !installed("chromium") {
            eprintln!("skipped: chromium and chromium-driver are not installed");
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
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
            }
        }}});
        let v = browser.call("POST", "/session", Some(caps));
        browser.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        Some(browser)
    }

    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
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
        let answer = support::client::read_answer(&mut stream)?;
        let v: Value = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
        if answer.status != 200 {
            return Err(format!("{method} {path}: {} {v}", answer.status));
        }
        Ok(v["value"].clone())
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver: {e}"))
    }

    fn open(&self, url: &str) {
        self.call(
            "POST",
            &format!("/session/{}/url", self.session),
            Some(json!({ "url": url })),
        );
    }

    fn element(&self, css: &str) -> String {
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

    fn attribute(&self, css: &str, name: &str) -> Value {
        let e = self.element(css);
        self.call(
            "GET",
            &format!("/session/{}/element/{e}/attribute/{name}", self.session),
            None,
        )
    }

    fn text(&self, css: &str) -> String {
        let e = self.element(css);
        self.call(
            "GET",
            &format!("/session/{}/element/{e}/text", self.session),
            None,
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    fn displayed(&self, css: &str) -> bool {
        let e = self.element(css);
        self.call(
            "GET",
            &format!("/session/{}/element/{e}/displayed", self.session),
            None,
        )
        .as_bool()
        .unwrap_or(false)
    }

    fn click(&self, css: &str) {
        let e = self.element(css);
        self.call(
            "POST",
            &format!("/session/{}/element/{e}/click", self.session),
            Some(json!({})),
        );
    }

    /// The page's state (`checking`, `processing`, or a final one) once it is `want`.
    fn wait_for_state(&self, want: &str) {
        let started = Instant::now();
        loop {
            let state = self.attribute("#message", "data-state");
            if state == want {
                return;
            }
            assert!(
                started.elapsed() < WAIT_MAX,
                "the page never showed {want}; it shows {state}: {}",
                self.text("#message")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
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

#[test]
fn the_result_page_shows_processing_then_success_when_the_channel_result_arrives() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let timings = Timings {
        result_poll_ms: 200,
        result_wait_ms: 600_000,
        ..Timings::default()
    };
    let shop = Shop::new("gw-page-success", timings);
    let id = shop.order("page-1", 12_345, "alipay");
    browser.open(&format!(
        "http://{}{}",
        shop.addr(),
        shop.status(&id)["result_url"].as_str().unwrap_or("")
    ));
    assert!(browser.text("body").contains("CNY 123.45"));
    // Nothing has arrived: the page is checking, spinner on, no verdict.
    assert_eq!(browser.attribute("#message", "data-state"), "checking");
    assert!(browser.displayed("#spinner"));
    assert!(!browser.displayed("#check-again"));

    shop.alipay.pay(&id, &["TRADE_SUCCESS"]);
    browser.wait_for_state("succeeded");
    assert_eq!(browser.text("#message"), "Payment succeeded.");
    assert!(!browser.displayed("#spinner"));
}

#[test]
fn the_result_page_offers_to_check_again_when_nothing_arrives_in_time() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let timings = Timings {
        result_poll_ms: 100,
        result_wait_ms: 600,
        status_query_interval_ms: 0,
        ..Timings::default()
    };
    let shop = Shop::new("gw-page-timeout", timings);
    let id = shop.order("page-2", 500, "wechat");
    browser.open(&format!(
        "http://{}{}",
        shop.addr(),
        shop.status(&id)["result_url"].as_str().unwrap_or("")
    ));
    browser.wait_for_state("processing");
    assert!(browser.text("#message").contains("still being processed"));
    assert!(browser.displayed("#check-again"));
    assert!(!browser.displayed("#spinner"));

    // The payer paid; no callback came. "Check again" asks Suanpan, which asks the channel.
    shop.wechat.pay(&id, &[]);
    browser.click("#check-again");
    browser.wait_for_state("succeeded");
    assert!(!browser.displayed("#check-again"));
}
