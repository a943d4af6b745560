//! Talking to an interbank channel: send an instruction, ask about one. Every answer is
//! turned into what it means for the attempt, and only a definite answer counts as one: a
//! timeout or a garbled reply is `Unknown` (asked again, never sent again).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use suanpan_outbound::{HttpClient, Url};

use crate::payout::AttemptState;
use crate::status;

/// An instruction as the channels take it (JSON).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Instruction {
    pub instruction_id: String,
    pub amount_fen: u64,
    pub currency: String,
    pub beneficiary_bank: String,
    pub beneficiary_account: String,
    pub beneficiary_name: String,
    /// When it was made (ms since the epoch): a channel refuses one older than its time to
    /// live, so a lost instruction cannot arrive late and pay twice.
    pub created_at_ms: u64,
}

/// A channel's answer about an instruction.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatusAnswer {
    pub instruction_id: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What an exchange with a channel established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heard {
    pub state: AttemptState,
    pub status_code: Option<String>,
    /// The channel is out of service (it said so, or refused the connection).
    pub outage: bool,
}

impl Heard {
    fn unknown() -> Heard {
        Heard {
            state: AttemptState::Unknown,
            status_code: None,
            outage: false,
        }
    }
}

fn heard_status(body: &[u8]) -> Heard {
    match serde_json::from_slice::<StatusAnswer>(body) {
        Ok(a) => match status::attempt_state(&a.status) {
            Some(state) => Heard {
                state,
                status_code: Some(a.status),
                outage: false,
            },
            None => Heard {
                status_code: Some(a.status),
                ..Heard::unknown()
            },
        },
        Err(_) => Heard::unknown(),
    }
}

/// Sends an instruction. A refused connection or a 503 is definite: nothing was taken.
pub async fn send(
    http: &HttpClient,
    base: &str,
    instruction: &Instruction,
    timeout: Duration,
) -> Heard {
    let Ok(url) = Url::parse(base) else {
        return Heard::unknown();
    };
    let body = match serde_json::to_vec(instruction) {
        Ok(body) => body,
        Err(_) => return Heard::unknown(),
    };
    let headers = [("content-type", "application/json".to_string())];
    match http
        .send("POST", &url.join("/instructions"), &headers, body, timeout)
        .await
    {
        Ok(a) if a.status == 200 => heard_status(&a.body),
        Ok(a) if a.status == 503 => Heard {
            state: AttemptState::NotReceived,
            status_code: None,
            outage: true,
        },
        Ok(_) => Heard::unknown(),
        // A connection that could not be made carried nothing; anything later may have.
        Err(e) if e.starts_with("cannot connect") => Heard {
            state: AttemptState::NotReceived,
            status_code: None,
            outage: true,
        },
        Err(_) => Heard::unknown(),
    }
}

/// Asks about an instruction. "No such instruction" is definite only once the instruction
/// is older than the channels' time to live (`expired`); before that it may still arrive.
pub async fn query(
    http: &HttpClient,
    base: &str,
    instruction_id: &str,
    expired: bool,
    timeout: Duration,
) -> Heard {
    let Ok(url) = Url::parse(base) else {
        return Heard::unknown();
    };
    match http
        .send(
            "GET",
            &url.join(&format!("/instructions/{instruction_id}")),
            &[],
            Vec::new(),
            timeout,
        )
        .await
    {
        Ok(a) if a.status == 200 => heard_status(&a.body),
        Ok(a) if a.status == 404 && expired => Heard {
            state: AttemptState::NotReceived,
            status_code: None,
            outage: false,
        },
        Ok(a) if a.status == 503 => Heard {
            outage: true,
            ..Heard::unknown()
        },
        _ => Heard::unknown(),
    }
}
