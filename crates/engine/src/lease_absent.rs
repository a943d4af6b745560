//! The lease in a build without PostgreSQL (the `postgres` feature off): a [`PostgresConfig`]
//! has no values, so such an engine runs on its SQLite file only, and every path that would
//! take, keep or follow a lease cannot be reached.

use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::Duration;

use suanpan_journal::{Journal, JournalError};
use suanpan_ledger::TierLimits;

use crate::engine::{Request, Shared};

/// How a node runs on PostgreSQL: in this build, never.
#[derive(Clone, Debug)]
pub enum PostgresConfig {}

impl PostgresConfig {
    pub(crate) fn is_standby(&self) -> bool {
        match *self {}
    }

    pub(crate) fn location(&self) -> suanpan_journal::JournalLocation {
        match *self {}
    }

    pub(crate) fn open_journal(
        &self,
        _limits: TierLimits,
    ) -> Result<(Journal, Option<u64>), JournalError> {
        match *self {}
    }

    pub fn write_hold(&self) -> Duration {
        match *self {}
    }

    pub(crate) fn start_thread(
        &self,
        _epoch: Option<u64>,
        _head: (u64, [u8; 32]),
        _accept_journal_behind_anchor: bool,
        _queue: &SyncSender<Request>,
        _shared: &Arc<Shared>,
    ) -> Result<LeaseThread, JournalError> {
        match *self {}
    }
}

pub(crate) enum LeaseThread {}

impl LeaseThread {
    pub(crate) fn stop(&mut self) {
        match *self {}
    }
}
