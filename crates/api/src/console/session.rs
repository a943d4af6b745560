//! Console sessions: an operator logs in with its token once and the browser carries a
//! random session id in a cookie (HttpOnly, SameSite=Strict, Secure under TLS). A session
//! ends at logout, after `idle` without a request, or when the operator's token is revoked
//! (checked on every request through the access room's lookup). Each session has its own
//! CSRF token, which every form carries. Sessions live in memory: a restart logs everyone
//! out, which is the safe side.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hashbrown::HashMap;

/// Sessions held at most; a login beyond them is refused (bounded memory).
const SESSIONS_MAX: usize = 10_000;

pub struct Session {
    pub token: String,
    pub csrf: String,
    last_seen: Instant,
}

pub struct Sessions {
    idle: Duration,
    map: Mutex<HashMap<String, Session>>,
}

fn random_hex(bytes: usize) -> Option<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).ok()?;
    Some(suanpan_ledger::hex(&buf))
}

impl Sessions {
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            idle,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// A new session for an operator's token: its id and CSRF token.
    pub fn open(&self, token: &str) -> Option<(String, String)> {
        let (id, csrf) = (random_hex(32)?, random_hex(16)?);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let idle = self.idle;
        map.retain(|_, s| s.last_seen.elapsed() < idle);
        if map.len() >= SESSIONS_MAX {
            return None;
        }
        map.insert(
            id.clone(),
            Session {
                token: token.to_string(),
                csrf: csrf.clone(),
                last_seen: Instant::now(),
            },
        );
        Some((id, csrf))
    }

    /// The session's token and CSRF token, if it is live; touching it keeps it so.
    pub fn touch(&self, id: &str) -> Option<(String, String)> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(id) {
            Some(s) if s.last_seen.elapsed() < self.idle => {
                s.last_seen = Instant::now();
                Some((s.token.clone(), s.csrf.clone()))
            }
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn close(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

/// Equal strings, compared in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_after_its_idle_time_and_at_logout() {
        let sessions = Sessions::new(Duration::from_millis(30));
        let (id, csrf) = sessions.open("ot_x").expect("random");
        assert_eq!(sessions.touch(&id), Some(("ot_x".into(), csrf)));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(sessions.touch(&id), None, "idle too long");
        let (id, _) = sessions.open("ot_x").expect("random");
        sessions.close(&id);
        assert_eq!(sessions.touch(&id), None);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
