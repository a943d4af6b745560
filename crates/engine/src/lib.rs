//! The engine: the sequencer that owns the ledger.
//!
//! One writer thread owns the [`suanpan_ledger::Ledger`]. Callers put requests into a bounded
//! queue (full: [`EngineError::Overloaded`] at once, never unbounded memory). The writer takes
//! up to 8,190 commands at a time, stamps them with strictly increasing timestamps, applies
//! them, and hands the batch to the committer thread, which writes it to the journal with one
//! fsync (several batches share one when they queue up: group commit). Only then is each
//! caller answered, and subscribers see the committed batch, in order.
//!
//! The two threads form a pipeline: while batch N is being synced, batch N+1 is applied. An
//! applied batch is never answered before it is durable, and if a commit fails the engine
//! stops (its memory is ahead of the disk); a restart recovers from the journal.

mod clock;
mod committer;
mod config;
mod engine;
#[cfg(feature = "postgres")]
mod lease;
#[cfg(not(feature = "postgres"))]
#[path = "lease_absent.rs"]
mod lease;
mod metrics;
mod reply;
mod writer;

pub use clock::{today, SHANGHAI_UTC_OFFSET_S};
pub use config::{EngineConfig, PAST_FILTER_BYTES_DEFAULT, WINDOW_DEFAULT};
pub use engine::{CommittedBatch, Engine, EngineError, FoundTransfer, RecoveryInfo};
pub use lease::PostgresConfig;
#[cfg(feature = "postgres")]
pub use lease::LEASE_TTL_DEFAULT;
pub use metrics::{Histogram, Metrics};
pub use reply::Ticket;
