//! Authenticating a request: a participant's HMAC-SHA256 signature, or an operator's token.
//!
//! A participant signs, with its API secret as the HMAC-SHA256 key, the string
//!
//! ```text
//! METHOD \n PATH?QUERY \n TIMESTAMP \n NONCE \n hex(SHA-256(body))
//! ```
//!
//! and sends `X-Suanpan-Key`, `X-Suanpan-Timestamp` (Unix seconds), `X-Suanpan-Nonce`
//! (8 to 64 of `A-Za-z0-9_-`) and `X-Suanpan-Signature` (hex). A timestamp more than the
//! window (default 5 minutes) away from the server's clock is refused, and so is a nonce the
//! key has used within twice the window: a captured request cannot be replayed.
//! Operators send `Authorization: Bearer <token>`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use hashbrown::HashSet;
use hmac::{Hmac, KeyInit, Mac};
use hyper::HeaderMap;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};
use suanpan_access::{Access, OperatorRecord, Participant, Role};

pub const KEY_HEADER: &str = "x-suanpan-key";
pub const TIMESTAMP_HEADER: &str = "x-suanpan-timestamp";
pub const NONCE_HEADER: &str = "x-suanpan-nonce";
pub const SIGNATURE_HEADER: &str = "x-suanpan-signature";

/// Who is calling.
#[derive(Clone, Debug)]
pub enum Caller {
    Participant(Participant),
    Operator(OperatorRecord),
}

impl Caller {
    /// The owner number whose accounts the caller may touch; `None`: any (an operator).
    pub fn owner(&self) -> Option<u64> {
        match self {
            Caller::Participant(p) => Some(p.owner),
            Caller::Operator(_) => None,
        }
    }

    pub fn require_role(&self, role: Role) -> Result<&OperatorRecord, ApiError> {
        match self {
            Caller::Operator(op) if op.role >= role => Ok(op),
            Caller::Operator(op) => Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "this needs the {} role; operator {:?} is {}",
                    role.as_str(),
                    op.name,
                    op.role.as_str()
                ),
            )),
            Caller::Participant(_) => Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("this needs an operator with the {} role", role.as_str()),
            )),
        }
    }
}

/// The string a participant signs.
pub fn string_to_sign(
    method: &str,
    path_and_query: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    let digest = suanpan_ledger::hex(&Sha256::digest(body));
    format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{digest}")
}

/// Signs as a participant does (used by `suanpan bench http` and the tests).
pub fn sign(
    secret: &str,
    method: &str,
    path_and_query: &str,
    ts: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    Signer::new(secret).sign(method, path_and_query, ts, nonce, body)
}

/// A participant's signing key, prepared once: the HMAC state after the key, cloned per
/// request (a load generator signs tens of thousands of requests a second).
#[derive(Clone)]
pub struct Signer(Option<Hmac<Sha256>>);

impl Signer {
    pub fn new(secret: &str) -> Signer {
        // HMAC takes keys of any length: `None` cannot happen.
        Signer(Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok())
    }

    pub fn sign(
        &self,
        method: &str,
        path_and_query: &str,
        ts: &str,
        nonce: &str,
        body: &[u8],
    ) -> String {
        let Some(mut mac) = self.0.clone() else {
            return String::new();
        };
        mac.update(string_to_sign(method, path_and_query, ts, nonce, body).as_bytes());
        suanpan_ledger::hex(&mac.finalize().into_bytes())
    }
}

/// Nonces the memory is sized for at start (about 8,000 signed requests a second over the
/// ten minutes they are kept; 64 MiB).
const NONCES_PRESIZED: usize = 1 << 22;

pub struct Authenticator {
    window_s: u64,
    /// After an unclean stop, requests signed before this second are refused: the nonces
    /// spent before it were lost with the process, so one captured then could be replayed.
    /// After a clean stop the spent nonces are saved and loaded, and this is 0. A standby that
    /// takes over moves it to the takeover: the nonces spent on the old leader are not here.
    not_before_s: AtomicU64,
    nonces: Mutex<Nonces>,
}

struct Nonces {
    seen: HashSet<u64>,
    /// (forget after, fingerprint), in arrival order, so the oldest go first.
    order: VecDeque<(u64, u64)>,
    entries_max: usize,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Authenticator {
    pub fn new(window_s: u64, nonces_max: usize) -> Authenticator {
        Authenticator {
            window_s,
            not_before_s: AtomicU64::new(0),
            nonces: Mutex::new(Nonces {
                // Sized up front: growing a set of millions rehashes it all under the lock,
                // and every signed request waits meanwhile.
                seen: HashSet::with_capacity(nonces_max.min(NONCES_PRESIZED)),
                order: VecDeque::with_capacity(nonces_max.min(NONCES_PRESIZED)),
                entries_max: nonces_max,
            }),
        }
    }

    pub fn authenticate(
        &self,
        access: &Access,
        headers: &HeaderMap,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<Caller, ApiError> {
        if let Some(auth) = header(headers, "authorization") {
            let token = auth.strip_prefix("Bearer ").ok_or_else(|| {
                ApiError::new(
                    ErrorCode::TokenInvalid,
                    "Authorization must be `Bearer <token>`",
                )
            })?;
            return match access.operator(token.trim()) {
                Ok(Some(op)) => Ok(Caller::Operator(op)),
                Ok(None) => Err(ApiError::new(
                    ErrorCode::TokenInvalid,
                    "the operator token is unknown or revoked",
                )),
                Err(e) => Err(ApiError::new(ErrorCode::Internal, e)),
            };
        }
        let (Some(key_id), Some(ts), Some(nonce), Some(signature)) = (
            header(headers, KEY_HEADER),
            header(headers, TIMESTAMP_HEADER),
            header(headers, NONCE_HEADER),
            header(headers, SIGNATURE_HEADER),
        ) else {
            return Err(ApiError::new(
                ErrorCode::SignatureMissing,
                "sign the request (X-Suanpan-Key, -Timestamp, -Nonce, -Signature) or send an operator token",
            ));
        };
        let ts_s: u64 = ts.parse().map_err(|_| {
            ApiError::new(
                ErrorCode::SignatureInvalid,
                format!("timestamp {ts:?} is not Unix seconds"),
            )
            .field(TIMESTAMP_HEADER)
        })?;
        let now = now_s();
        if ts_s.abs_diff(now) > self.window_s {
            return Err(ApiError::new(
                ErrorCode::TimestampOutOfWindow,
                format!(
                    "timestamp {ts_s} is {} s from the server's clock; at most {} s is accepted",
                    ts_s.abs_diff(now),
                    self.window_s
                ),
            )
            .field(TIMESTAMP_HEADER));
        }
        let not_before_s = self.not_before_s.load(Ordering::Acquire);
        if ts_s < not_before_s {
            return Err(ApiError::new(
                ErrorCode::TimestampOutOfWindow,
                format!(
                    "timestamp {ts_s} is from before this server restarted or took over ({not_before_s}): sign again"
                ),
            )
            .field(TIMESTAMP_HEADER));
        }
        let nonce_ok = (8..=64).contains(&nonce.len())
            && nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !nonce_ok {
            return Err(ApiError::new(
                ErrorCode::SignatureInvalid,
                "the nonce must be 8 to 64 of A-Z a-z 0-9 - _",
            )
            .field(NONCE_HEADER));
        }
        let record = match access.key(key_id) {
            Ok(Some(record)) => record,
            Ok(None) => {
                return Err(ApiError::new(
                    ErrorCode::UnknownKey,
                    format!("API key {key_id:?} is unknown or revoked"),
                )
                .field(KEY_HEADER))
            }
            Err(e) => return Err(ApiError::new(ErrorCode::Internal, e)),
        };
        let expected = suanpan_ledger::hash_from_hex(signature).ok_or_else(|| {
            ApiError::new(
                ErrorCode::SignatureInvalid,
                "the signature must be 64 hex digits",
            )
            .field(SIGNATURE_HEADER)
        })?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&record.key_hash)
            .map_err(|_| ApiError::new(ErrorCode::Internal, "bad stored key"))?;
        mac.update(string_to_sign(method, path_and_query, ts, nonce, body).as_bytes());
        // Constant-time comparison: timing does not leak how much of a guess was right.
        mac.verify_slice(&expected).map_err(|_| {
            ApiError::new(
                ErrorCode::SignatureInvalid,
                "the signature does not match the request (method, path and query, timestamp, nonce, body)",
            )
            .field(SIGNATURE_HEADER)
        })?;
        // Only a correctly signed request spends a nonce: a forger cannot burn a client's.
        self.spend_nonce(key_id, nonce, now)?;
        Ok(Caller::Participant(record.participant))
    }

    fn spend_nonce(&self, key_id: &str, nonce: &str, now: u64) -> Result<(), ApiError> {
        // A 64-bit fingerprint: a chance collision (about 10^-5 over ten minutes at 40,000
        // requests a second) only refuses a request, which the client retries with a fresh
        // nonce; SHA-256 so that it is the same in the next process (see `save`).
        let fingerprint = {
            let mut h = Sha256::new();
            h.update(key_id.as_bytes());
            h.update([0]);
            h.update(nonce.as_bytes());
            let digest = h.finalize();
            let mut fp = [0u8; 8];
            fp.copy_from_slice(&digest[..8]);
            u64::from_le_bytes(fp)
        };
        let mut nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(&(forget_at, old)) = nonces.order.front() {
            if forget_at > now {
                break;
            }
            nonces.order.pop_front();
            nonces.seen.remove(&old);
        }
        if nonces.seen.contains(&fingerprint) {
            return Err(ApiError::new(
                ErrorCode::NonceReplayed,
                "this nonce was used already: every request needs a fresh one",
            )
            .field(NONCE_HEADER));
        }
        if nonces.seen.len() >= nonces.entries_max {
            return Err(ApiError::new(
                ErrorCode::Overloaded,
                "too many requests within the signature window to remember their nonces",
            ));
        }
        nonces.seen.insert(fingerprint);
        // Remembered until every timestamp the window accepts now has left it.
        nonces
            .order
            .push_back((now + 2 * self.window_s + 1, fingerprint));
        Ok(())
    }
}

/// Where a cleanly stopped server leaves its spent nonces for the next one.
pub const NONCES_FILE: &str = "nonces.bin";
/// Present while a server runs; found at start, it says the last one did not stop cleanly.
pub const RUNNING_FILE: &str = "serve.running";

impl Authenticator {
    /// Loads the nonces a clean stop saved. If the last server did not stop cleanly (its
    /// running marker is still there) they were lost with it, and requests signed before now
    /// are refused instead. Then marks this server running.
    pub fn restore(&mut self, dir: &std::path::Path) -> Result<(), String> {
        let path = dir.join(NONCES_FILE);
        let marker = dir.join(RUNNING_FILE);
        let now = now_s();
        if marker.exists() {
            self.refuse_signed_before(now);
        }
        std::fs::write(&marker, b"")
            .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() % 16 == 0 => {
                let mut nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
                for entry in bytes.chunks_exact(16) {
                    let mut forget_at = [0u8; 8];
                    let mut fingerprint = [0u8; 8];
                    forget_at.copy_from_slice(&entry[..8]);
                    fingerprint.copy_from_slice(&entry[8..]);
                    let (forget_at, fingerprint) = (
                        u64::from_le_bytes(forget_at),
                        u64::from_le_bytes(fingerprint),
                    );
                    if forget_at > now && nonces.seen.len() < nonces.entries_max {
                        nonces.seen.insert(fingerprint);
                        nonces.order.push_back((forget_at, fingerprint));
                    }
                }
                drop(nonces);
            }
            _ => {}
        }
        let _ = std::fs::remove_file(&path);
        Ok(())
    }

    /// Refuses, from now on, requests signed before `s` (Unix seconds); whether that moved
    /// the bound.
    pub fn refuse_signed_before(&self, s: u64) -> bool {
        // A read first: every signed request after a takeover asks, and only the first may
        // write (a write from every worker would bounce the line between the cores).
        if self.not_before_s.load(Ordering::Acquire) >= s {
            return false;
        }
        self.not_before_s.fetch_max(s, Ordering::AcqRel) < s
    }

    /// Saves the spent nonces for the next process (on a clean stop), atomically.
    pub fn save(&self, dir: &std::path::Path) -> Result<(), String> {
        let nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        let mut bytes = Vec::with_capacity(nonces.order.len() * 16);
        for (forget_at, fingerprint) in &nonces.order {
            bytes.extend_from_slice(&forget_at.to_le_bytes());
            bytes.extend_from_slice(&fingerprint.to_le_bytes());
        }
        drop(nonces);
        let tmp = dir.join(format!("{NONCES_FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, dir.join(NONCES_FILE))?;
            std::fs::remove_file(dir.join(RUNNING_FILE))?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| format!("cannot save the spent nonces: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_spent_once_and_forgotten_after_the_window() {
        let auth = Authenticator::new(300, 10);
        assert!(auth.spend_nonce("k", "nonce-0001", 1_000).is_ok());
        let again = auth
            .spend_nonce("k", "nonce-0001", 1_000)
            .err()
            .map(|e| e.code);
        assert_eq!(again, Some("nonce_replayed"));
        // Another key may use the same nonce.
        assert!(auth.spend_nonce("k2", "nonce-0001", 1_000).is_ok());
        // Once no accepted timestamp could carry it, it is forgotten.
        assert!(auth.spend_nonce("k", "nonce-0001", 1_000 + 601).is_ok());
    }

    #[test]
    fn spent_nonces_outlive_a_clean_restart_and_an_unclean_one_refuses_older_requests() {
        let dir = std::env::temp_dir().join(format!("suanpan-nonces-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut auth = Authenticator::new(300, 10);
        auth.restore(&dir).expect("first start");
        assert_eq!(
            auth.not_before_s.load(Ordering::Acquire),
            0,
            "nothing ran here before"
        );
        let now = now_s();
        assert!(auth.spend_nonce("k", "nonce-0001", now).is_ok());
        auth.save(&dir).expect("saved");
        let mut next = Authenticator::new(300, 10);
        next.restore(&dir).expect("restarts");
        assert_eq!(
            next.not_before_s.load(Ordering::Acquire),
            0,
            "a clean stop left the nonces"
        );
        let again = next
            .spend_nonce("k", "nonce-0001", now)
            .err()
            .map(|e| e.code);
        assert_eq!(again, Some("nonce_replayed"));
        // `next` is dropped without saving: as if killed.
        let mut after_crash = Authenticator::new(300, 10);
        after_crash.restore(&dir).expect("restarts");
        assert!(
            after_crash.not_before_s.load(Ordering::Acquire) >= now,
            "the marker says the stop was unclean"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
