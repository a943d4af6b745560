//! The server's shared state and the parts every handler uses: who owns which account, the
//! engine round trip, waiting for the history index, and operator audit.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hashbrown::HashMap;
use serde::Serialize;
use suanpan_engine::Engine;
use suanpan_journal::HistoryReader;
use suanpan_ledger::{Command, ResultCode};

use crate::auth::{Authenticator, Caller};
use crate::config::ServeConfig;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::ApiMetrics;
use suanpan_access::{Access, OperatorRecord};

/// Longest a read waits for the history index to reach what was committed when it came in.
const HISTORY_WAIT_MAX: Duration = Duration::from_secs(2);
const OWNER_SHARDS: usize = 16;

/// Wakes the indexer early (a reader is waiting for it) or stops it.
#[derive(Default)]
pub struct Wake {
    state: Mutex<(bool, bool)>, // (woken, stopped)
    cv: Condvar,
}

impl Wake {
    pub fn wake(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0 = true;
        self.cv.notify_one();
    }

    pub fn stop(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.cv.notify_one();
    }

    pub fn stopped(&self) -> bool {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1
    }

    /// Sleeps up to `timeout`, less if woken or stopped.
    pub fn wait(&self, timeout: Duration) {
        let guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (mut guard, _) = self
            .cv
            .wait_timeout_while(guard, timeout, |s| !s.0 && !s.1)
            .unwrap_or_else(|p| p.into_inner());
        guard.0 = false;
    }
}

/// Account id → owner number. An account's owner never changes, so this is filled from the
/// ledger at start and as accounts are opened, and never has to be invalidated.
pub struct Owners {
    shards: Vec<RwLock<HashMap<u128, u64>>>,
}

impl Owners {
    pub fn new(all: Vec<(u128, u64)>) -> Owners {
        let owners = Owners {
            shards: (0..OWNER_SHARDS)
                .map(|_| RwLock::new(HashMap::new()))
                .collect(),
        };
        for (id, owner) in all {
            owners.insert(id, owner);
        }
        owners
    }

    fn shard(&self, id: u128) -> &RwLock<HashMap<u128, u64>> {
        &self.shards[(id as usize ^ (id >> 64) as usize) % OWNER_SHARDS]
    }

    pub fn get(&self, id: u128) -> Option<u64> {
        self.shard(id)
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .copied()
    }

    pub fn insert(&self, id: u128, owner: u64) {
        self.shard(id)
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, owner);
    }
}

pub struct App {
    pub recon: Option<Arc<suanpan_recon::room::Recon>>,
    pub engine: Arc<Engine>,
    pub access: Arc<Access>,
    pub auth: Authenticator,
    pub owners: Owners,
    pub history: Arc<HistoryReader>,
    /// The last batch in the history index (set by the indexer thread).
    pub history_seq: Arc<AtomicU64>,
    pub indexer_wake: Arc<Wake>,
    pub metrics: ApiMetrics,
    pub config: ServeConfig,
    pub open_connections: AtomicU64,
    pub stopping: AtomicBool,
    pub openapi: Bytes,
    /// The accounting and clearing rooms (`books.rs`).
    pub books: Arc<crate::books::Books>,
    pub gateway: Arc<suanpan_gateway::Gateway>,
    pub consents: Arc<suanpan_consent::Consents>,
    /// The payouts room (with its configuration's channels; none configured: every payout
    /// answers `no_route`).
    pub payouts: Option<Arc<suanpan_payouts::Payouts>>,
    /// The operations console's sessions and the overview's last 15 minutes.
    pub sessions: crate::console::session::Sessions,
    pub samples: crate::console::sampler::Samples,
    pub account_index: crate::console::index::AccountIndex,
}

/// A successful answer.
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
    pub content_type: &'static str,
    /// Headers beyond the content type (a statement's digest, a job's location).
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: u16, value: &impl Serialize) -> Result<Reply, ApiError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("cannot encode: {e}")))?;
        Ok(Reply {
            status,
            body: body.into(),
            content_type: "application/json",
            headers: Vec::new(),
        })
    }
}

impl App {
    /// Where this server is reached from outside: the pages' addresses are built on it.
    pub fn public_url(&self) -> String {
        self.gateway.public_url()
    }

    /// Refuses a participant an account it does not own, answering as if it did not exist.
    /// (Ids are one space for the whole ledger, as idempotency needs: opening an id another
    /// participant uses answers `exists_with_different_owner`, which says that it is taken.)
    pub fn check_owner(&self, caller: &Caller, account: u128, field: &str) -> Result<(), ApiError> {
        let Some(owner) = caller.owner() else {
            return Ok(());
        };
        if self.owners.get(account) == Some(owner) {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::AccountNotFound,
            format!("this participant has no account {account}"),
        )
        .field(field))
    }

    /// For an operator (a participant's were checked by `check_owner`): refuses an account
    /// the ledger does not hold, before a read of its history finds nothing to say so.
    pub fn check_exists(&self, caller: &Caller, account: u128) -> Result<(), ApiError> {
        if caller.owner().is_none() && self.owners.get(account).is_none() {
            return Err(
                ApiError::new(ErrorCode::AccountNotFound, format!("no account {account}"))
                    .field("id"),
            );
        }
        Ok(())
    }

    /// Submits commands and waits until they are durable.
    pub async fn execute(&self, commands: Vec<Command>) -> Result<Vec<ResultCode>, ApiError> {
        let ticket = self.engine.submit(commands)?;
        match ticket.await {
            Some(result) => Ok(result?),
            None => Err(self.engine.stopped_error().into()),
        }
    }

    /// Reads the ledger after everything queued before (see `Engine::read`).
    pub async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&suanpan_ledger::Ledger) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let ticket = self.engine.read(read)?;
        ticket
            .await
            .ok_or_else(|| self.engine.stopped_error().into())
    }

    /// Waits until the history index holds every batch committed when this was called, so a
    /// reader finds what it was already told is committed.
    pub async fn history_caught_up(&self) -> Result<(), ApiError> {
        let target = self.engine.metrics().committed_seq.load(Ordering::Acquire);
        let started = Instant::now();
        if self.history_seq.load(Ordering::Acquire) < target {
            self.indexer_wake.wake();
        }
        while self.history_seq.load(Ordering::Acquire) < target {
            if started.elapsed() > HISTORY_WAIT_MAX {
                return Err(ApiError::new(
                    ErrorCode::IndexBehind,
                    "the history index is behind the journal; retry shortly",
                ));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }

    /// Runs blocking work (SQLite) off the async workers.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("a worker failed: {e}")))?
    }

    /// Checks an operator's role for an action; a refusal is audited too (an attempt is an
    /// action). Participants pass through: what they may touch is checked by ownership.
    pub async fn authorize<'c>(
        &self,
        caller: &'c Caller,
        role: suanpan_access::Role,
        action: &'static str,
        target: &str,
    ) -> Result<Option<&'c OperatorRecord>, ApiError> {
        let Caller::Operator(op) = caller else {
            return Ok(None);
        };
        match caller.require_role(role) {
            Ok(op) => Ok(Some(op)),
            Err(e) => {
                self.audit(op, action, target.to_string(), e.code.to_string())
                    .await?;
                Err(e)
            }
        }
    }

    /// Writes an audit entry, fsynced, before an operator's action is carried out (so no
    /// action can happen unrecorded) and another with its outcome after.
    pub async fn audit(
        &self,
        operator: &OperatorRecord,
        action: &'static str,
        target: String,
        outcome: String,
    ) -> Result<(), ApiError> {
        let (access, operator) = (self.access.clone(), operator.clone());
        self.blocking(move || {
            access
                .audit(&operator, action, &target, &outcome)
                .map(|_| ())
                .map_err(|e| ApiError::new(ErrorCode::Internal, e))
        })
        .await
    }
}

/// A path parameter that must be an id.
pub fn path_id(param: Option<&str>) -> Result<u128, ApiError> {
    param.and_then(crate::wire::parse_id).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidId,
            format!(
                "{:?} in the path is not an id (1 to 39 decimal digits, not zero)",
                param.unwrap_or("")
            ),
        )
        .field("id")
    })
}

/// The query string as (name, value) pairs, percent-decoded.
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

fn percent_decode(text: &str) -> Result<String, ApiError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        ApiError::new(ErrorCode::InvalidValue, "bad percent-encoding in the query")
                    })?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| ApiError::new(ErrorCode::InvalidValue, "the query is not UTF-8"))
}

/// Refuses query parameters a route does not take, like unknown body fields.
pub fn known_query(
    pairs: &[(String, String)],
    route: &crate::routes::Route,
) -> Result<(), ApiError> {
    for (k, _) in pairs {
        if !route.query.iter().any(|q| q.name == k) {
            return Err(ApiError::new(
                ErrorCode::UnknownField,
                format!("unknown query parameter {k:?}"),
            )
            .field(k.clone()));
        }
    }
    Ok(())
}

pub fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The `cursor` of a page (0, the start, when absent).
pub fn query_cursor(pairs: &[(String, String)]) -> Result<u64, ApiError> {
    match query_value(pairs, "cursor") {
        None => Ok(0),
        Some(c) => c.parse::<u64>().map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidCursor,
                format!("cursor {c:?} did not come from a page"),
            )
            .field("cursor")
        }),
    }
}

pub fn query_limit(pairs: &[(String, String)]) -> Result<u32, ApiError> {
    match query_value(pairs, "limit") {
        None => Ok(100),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidValue,
                    format!("limit {v:?} must be 1 to 1000"),
                )
                .field("limit")
            }),
    }
}

pub fn query_time(pairs: &[(String, String)], name: &str) -> Result<Option<u64>, ApiError> {
    match query_value(pairs, name) {
        None => Ok(None),
        Some(v) => crate::time::parse_rfc3339_bound(v)
            .map(Some)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidTime,
                    format!("{name} {v:?} is not an RFC 3339 instant"),
                )
                .field(name)
            }),
    }
}
