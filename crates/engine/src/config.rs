use std::path::PathBuf;

use suanpan_ledger::{TierLimits, BATCH_COMMANDS_MAX};

use crate::{PostgresConfig, SHANGHAI_UTC_OFFSET_S};

/// How an engine runs. Every field has a default; see [`EngineConfig::new`].
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The data directory (holds the journal's SQLite file).
    pub data_dir: PathBuf,
    /// Requests that may wait in the queue; one more is refused as overload.
    pub queue_requests_max: usize,
    /// Commands in one engine batch (and most in one request).
    pub batch_commands_max: usize,
    /// Applied batches that may wait for the committer before the writer waits too.
    pub pipeline_batches_max: usize,
    /// Batches the committer may write in one transaction (one fsync).
    pub commit_batches_max: usize,
    /// A snapshot is taken once this many commands have been applied since the last one and at
    /// least `snapshot_growth_factor` times the ledger's size (accounts + transfers), so that
    /// snapshot cost stays proportional to journal growth and recovery replays a bounded tail.
    pub snapshot_commands_min: u64,
    pub snapshot_growth_factor: u64,
    /// Bytes per snapshot chunk row. The committer writes a chunk between two batches, so a
    /// batch waits at most one chunk's write for a snapshot.
    pub snapshot_chunk_bytes: usize,
    /// How fast a snapshot is written, in bytes a second: chunks are spaced so that a snapshot
    /// takes a bounded share of the committer's time and of the disk, not a burst of both
    /// that batches queue behind. Zero: as fast as it goes.
    pub snapshot_bytes_per_sec: u64,
    /// Most transfers the ledger keeps in memory; older ones are read back from the journal
    /// when a command names them (see the ledger's `history_wanted`).
    pub window: usize,
    /// Bytes of the filter of past transfer ids, fixed when the ledger is made: about 10 bits
    /// a past transfer keep 1 % of new ids off the disk (see the README's "Capacity").
    pub past_filter_bytes: usize,
    /// Zone of the books, as a UTC offset: it decides the accounting date.
    pub utc_offset_s: i32,
    /// Cut over (日切) by itself when the calendar date in that zone passes the accounting
    /// date (default on: 00:00 Asia/Shanghai). Off, the date moves only by `Cutover` commands.
    pub auto_cutover: bool,
    /// Tier limits for a new journal (an existing journal keeps the ones it recorded).
    pub tier_limits: TierLimits,
    /// Committed batches a subscriber may fall behind before it is dropped.
    pub subscriber_batches_max: usize,
    /// The journal on PostgreSQL instead of the SQLite file in `data_dir`.
    pub postgres: Option<PostgresConfig>,
    /// Start on a journal that ends before its anchor (its last batches cut off), and move the
    /// anchor back to it. Off (the default), such a start is refused.
    pub accept_journal_behind_anchor: bool,
}

/// Ten million transfers: about 600 MiB of records and index.
pub const WINDOW_DEFAULT: usize = 10_000_000;
/// 128 MiB: about 1 % of new ids checked on disk with 100 million transfers past the window.
pub const PAST_FILTER_BYTES_DEFAULT: usize = 128 << 20;

impl EngineConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            data_dir: data_dir.into(),
            queue_requests_max: 256,
            batch_commands_max: BATCH_COMMANDS_MAX,
            pipeline_batches_max: 4,
            commit_batches_max: 64,
            snapshot_commands_min: 1_000_000,
            snapshot_growth_factor: 2,
            snapshot_chunk_bytes: 1 << 20,
            snapshot_bytes_per_sec: 256 << 20,
            window: WINDOW_DEFAULT,
            past_filter_bytes: PAST_FILTER_BYTES_DEFAULT,
            utc_offset_s: SHANGHAI_UTC_OFFSET_S,
            auto_cutover: true,
            tier_limits: TierLimits::default(),
            subscriber_batches_max: 1_024,
            postgres: None,
            accept_journal_behind_anchor: false,
        }
    }
}
