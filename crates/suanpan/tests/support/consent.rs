//! A consent world on a real `suanpan serve`: a bank with a customer's accounts, another
//! bank, two third parties and an admin, and the calls the consent tests make.

use serde_json::Value;

use super::books::{open_account, transfer_json};
use super::client::{ApiKey, Request, Response};
use super::server::{DataDir, Server};

/// A bank with a customer's accounts, two third parties and another bank.
pub struct World {
    pub dir: DataDir,
    pub server: Server,
    pub bank: ApiKey,
    pub other_bank: ApiKey,
    pub sec: ApiKey,
    pub other_sec: ApiKey,
    pub admin: String,
}

pub fn third_party(dir: &DataDir, code: &str, name: &str) -> ApiKey {
    dir.credentials(&[
        "participant",
        "--code",
        code,
        "--name",
        name,
        "--role",
        "third_party",
    ]);
    let key = dir.credentials(&["key", "--participant", code]);
    ApiKey {
        key_id: key["key_id"].as_str().unwrap_or_default().to_string(),
        secret: key["secret"].as_str().unwrap_or_default().to_string(),
    }
}

impl World {
    pub fn new(name: &str) -> World {
        World::with_third_party_name(name, "SEC-1 Securities")
    }

    /// The same world, SEC-1 registered under `sec_name` (what the consent page shows).
    pub fn with_third_party_name(name: &str, sec_name: &str) -> World {
        let dir = DataDir::new(name);
        let bank = dir.participant("BANK-A");
        let other_bank = dir.participant("BANK-B");
        let sec = third_party(&dir, "SEC-1", sec_name);
        let other_sec = third_party(&dir, "SEC-2", "SEC-2 Securities");
        let admin = dir.operator("ops-admin", "admin");
        let server = Server::start(&dir);
        let world = World {
            dir,
            server,
            bank,
            other_bank,
            sec,
            other_sec,
            admin,
        };
        for id in [1001, 1002, 1003] {
            open_account(world.server.addr, &world.bank, id, &[]);
        }
        open_account(world.server.addr, &world.other_bank, 2001, &[]);
        let paid = world.post(
            &world.bank,
            "/v1/transfers",
            &transfer_json(1, 1003, 1001, 12_345),
        );
        assert_eq!(paid.status, 201, "{}", paid.text());
        world
    }

    pub fn get(&self, key: &ApiKey, target: &str) -> Response {
        Request::get(target).signed(key).send(self.server.addr)
    }

    pub fn post(&self, key: &ApiKey, target: &str, json: &str) -> Response {
        Request::post(target, json)
            .signed(key)
            .send(self.server.addr)
    }

    pub fn act(&self, key: &ApiKey, id: &str, action: &str) -> Response {
        Request::new("POST", &format!("/v1/consents/{id}/{action}"))
            .signed(key)
            .send(self.server.addr)
    }

    pub fn balances(&self, id: &str, query: &str) -> Response {
        self.get(&self.sec, &format!("/v1/consents/{id}/balances{query}"))
    }

    pub fn restart(&mut self) {
        self.server.terminate();
        assert!(self.server.wait_exit().success());
        self.server = Server::start(&self.dir);
    }
}

/// Today in Asia/Shanghai, shifted by `days`, as YYYY-MM-DD.
pub fn shanghai_day(days: i64) -> String {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let z = (s + 8 * 3600).div_euclid(86_400) + days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn consent_json(
    request_id: &str,
    customer: &str,
    accounts: &[u128],
    access: &str,
    recurring: bool,
) -> String {
    let accounts: Vec<String> = accounts.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        r#"{{"request_id":"{request_id}","bank":"BANK-A","customer":"{customer}","accounts":[{}],"access":{access},"valid_until":"{}","frequency_per_day":{},"recurring":{recurring}}}"#,
        accounts.join(","),
        shanghai_day(30),
        if recurring { 4 } else { 1 },
    )
}

pub fn balances_access() -> String {
    r#"{"balances":true}"#.to_string()
}

pub fn full_access() -> String {
    format!(
        r#"{{"balances":true,"transactions":{{"from":"{}","to":"{}"}}}}"#,
        shanghai_day(-1),
        shanghai_day(1)
    )
}

pub fn ok(r: &Response, status: u16, what: &str) -> Value {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    r.json()
}

/// A consent asked for by SEC-1 and authorised by the bank; its id.
pub fn authorised(
    w: &World,
    request_id: &str,
    customer: &str,
    accounts: &[u128],
    access: &str,
    recurring: bool,
) -> String {
    let made = ok(
        &w.post(
            &w.sec,
            "/v1/consents",
            &consent_json(request_id, customer, accounts, access, recurring),
        ),
        201,
        "request",
    );
    let id = made["id"].as_str().unwrap_or_default().to_string();
    let answered = ok(&w.act(&w.bank, &id, "authorise"), 200, "authorise");
    assert_eq!(answered["state"], "authorised");
    id
}

pub fn record(w: &World, id: &str) -> Vec<(String, String, bool)> {
    let page = ok(
        &w.get(&w.bank, &format!("/v1/consents/{id}/record?limit=1000")),
        200,
        "record",
    );
    page["entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    (
                        e["action"].as_str().unwrap_or_default().to_string(),
                        e["outcome"].as_str().unwrap_or_default().to_string(),
                        e["counted"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
