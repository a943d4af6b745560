//! A participant's view of a fresh server, and what the tests say about money with it:
//! open an account, pay, read balances, and check an error answer's status, code and field.

use std::net::SocketAddr;

use serde_json::Value;

use super::client::{ApiKey, Request, Response};
use super::server::{DataDir, Server};

/// One participant's server: a data directory, the process, and the participant's key.
pub struct Bank {
    pub dir: DataDir,
    pub server: Server,
    pub key: ApiKey,
}

impl Bank {
    pub fn new(name: &str) -> Bank {
        let dir = DataDir::new(name);
        let key = dir.participant("bank-a");
        let server = Server::start(&dir);
        Bank { dir, server, key }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub fn get(&self, target: &str) -> Response {
        Request::get(target).signed(&self.key).send(self.addr())
    }

    pub fn post(&self, target: &str, json: &str) -> Response {
        Request::post(target, json)
            .signed(&self.key)
            .send(self.addr())
    }

    /// Opens an account of this participant and checks it answers 201.
    pub fn open(&self, id: u128, flags: &[&str]) {
        open_account(self.addr(), &self.key, id, flags);
    }

    pub fn account(&self, id: u128) -> Value {
        account(self.addr(), &self.key, id)
    }

    pub fn pay(&self, id: u128, debit: u128, credit: u128, amount_fen: u64) -> Response {
        self.post(
            "/v1/transfers",
            &transfer_json(id, debit, credit, amount_fen),
        )
    }
}

/// Opens a customer account with exactly these flags: one without
/// `debits_must_not_exceed_credits` asks for an overdraft (the default refuses one).
pub fn open_account(addr: SocketAddr, key: &ApiKey, id: u128, flags: &[&str]) {
    let overdraft = !flags.contains(&"debits_must_not_exceed_credits");
    let flags: Vec<String> = flags.iter().map(|f| format!("\"{f}\"")).collect();
    let body = format!(
        r#"{{"id":"{id}","currency":"CNY","subject_code":"2241.01","overdraft":{overdraft},"flags":[{}]}}"#,
        flags.join(",")
    );
    let r = Request::post("/v1/accounts", &body).signed(key).send(addr);
    assert_eq!(r.status, 201, "opening account {id}: {}", r.text());
}

pub fn account(addr: SocketAddr, key: &ApiKey, id: u128) -> Value {
    let r = Request::get(&format!("/v1/accounts/{id}"))
        .signed(key)
        .send(addr);
    assert_eq!(r.status, 200, "reading account {id}: {}", r.text());
    r.json()
}

pub fn transfer_json(id: u128, debit: u128, credit: u128, amount_fen: u64) -> String {
    format!(
        r#"{{"id":"{id}","debit_account_id":"{debit}","credit_account_id":"{credit}","amount":"{amount_fen}","currency":"CNY"}}"#
    )
}

/// A `/v1/transfers/batch` body of one-fen transfers from account 1 to account 2.
pub fn batch_json(ids: &[u128]) -> String {
    let transfers: Vec<String> = ids.iter().map(|&id| transfer_json(id, 1, 2, 1)).collect();
    format!(r#"{{"transfers":[{}]}}"#, transfers.join(","))
}

/// A decimal-string field of minor units as a number.
pub fn fen(v: &Value, field: &str) -> i128 {
    v[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{field} is not a decimal string in {v}"))
}

/// (debits_posted, credits_posted, debits_pending, credits_pending, credit_balance).
pub fn balances(v: &Value) -> [i128; 5] {
    [
        fen(v, "debits_posted"),
        fen(v, "credits_posted"),
        fen(v, "debits_pending"),
        fen(v, "credits_pending"),
        fen(v, "credit_balance"),
    ]
}

pub fn assert_error(r: &Response, status: u16, code: &str, field: Option<&str>, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    let (got_code, got_field) = r.error();
    assert_eq!(got_code, code, "{what}: {}", r.text());
    assert_eq!(got_field.as_deref(), field, "{what}: {}", r.text());
}
