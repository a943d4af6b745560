//! A simulated interbank channel (`suanpan channel-sim hvps|beps|ibps|unionpay`) as a real
//! process, scripted over its control endpoints: what the payouts tests pay through.

use std::net::SocketAddr;
use std::process::Child;

use serde_json::{json, Value};

use super::client::Request;
use super::server::channel_sim;

pub struct Channel {
    child: Child,
    pub addr: SocketAddr,
}

impl Channel {
    pub fn start(system: &str, extra: &[&str]) -> Channel {
        let mut args = vec![
            system,
            "--listen",
            "127.0.0.1:0",
            "--ttl-ms",
            "1500",
            "--slow-ms",
            "2500",
        ];
        args.extend_from_slice(extra);
        let (child, addr) = channel_sim(&args);
        Channel { child, addr }
    }

    pub fn control(&self, path: &str, body: Value) {
        let r = Request::post(path, &body.to_string()).send(self.addr);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }

    pub fn script(&self, next: &[&str]) {
        self.control("/sim/script", json!({ "next": next }));
    }

    pub fn stats(&self) -> Value {
        Request::get("/sim/stats").send(self.addr).json()
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
