//! What the engine measures about itself: counts, and commit latency as a histogram.

use std::sync::atomic::{AtomicU64, Ordering};

/// Log-linear buckets: 16 linear steps in each power of two. The unit is the caller's (the
/// engine records microseconds and batch sizes).
const SUB_BUCKETS: usize = 16;
const POWERS: usize = 32;

pub struct Histogram {
    buckets: Vec<AtomicU64>,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            buckets: (0..SUB_BUCKETS * POWERS)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }
}

impl Histogram {
    pub fn record(&self, value: u64) {
        self.buckets[bucket_of(value)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The value below which `q` (0..=1) of the samples fall (the upper bound of its bucket,
    /// so at most 1/16 over).
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                return bucket_upper(i);
            }
        }
        bucket_upper(self.buckets.len() - 1)
    }
}

fn bucket_of(us: u64) -> usize {
    if us < SUB_BUCKETS as u64 {
        return us as usize;
    }
    let power = 63 - us.leading_zeros() as usize; // us >= 16, so power >= 4
    let shift = power - 4;
    let sub = ((us >> shift) as usize) - SUB_BUCKETS;
    ((power - 3) * SUB_BUCKETS + sub).min(SUB_BUCKETS * POWERS - 1)
}

fn bucket_upper(i: usize) -> u64 {
    if i < SUB_BUCKETS {
        return i as u64;
    }
    let power = i / SUB_BUCKETS + 3;
    let sub = (i % SUB_BUCKETS + SUB_BUCKETS) as u64;
    ((sub + 1) << (power - 4)) - 1
}

#[derive(Default)]
pub struct Metrics {
    pub batches: AtomicU64,
    pub commands: AtomicU64,
    pub commits: AtomicU64,
    pub snapshots: AtomicU64,
    /// The last batch known durable in the journal.
    pub committed_seq: AtomicU64,
    /// Requests waiting in the queue now (a gauge).
    pub queue_depth: AtomicU64,
    /// Requests refused because the queue was full.
    pub overloaded: AtomicU64,
    /// Accounts in the ledger's memory (a gauge, set after each batch).
    pub ledger_accounts: AtomicU64,
    /// Transfer records in the ledger's memory: the window (and a batch's worth more).
    pub ledger_transfers: AtomicU64,
    /// Most transfers the window keeps in memory.
    pub ledger_window: AtomicU64,
    /// Transfers ever committed.
    pub ledger_transfers_total: AtomicU64,
    /// Pending transfers whose state the ledger keeps in memory (any status).
    pub ledger_pendings: AtomicU64,
    /// The filter of past transfer ids: its size, and the ids that went into it.
    pub past_filter_bytes: AtomicU64,
    pub past_filter_ids: AtomicU64,
    /// The index of past transfers: entries on disk and in memory, bytes on disk, runs.
    pub past_index_entries: AtomicU64,
    pub past_index_bytes: AtomicU64,
    pub past_index_runs: AtomicU64,
    /// Journal batches read back for transfers that had left memory.
    pub past_batches_read: AtomicU64,
    /// How long the last write of changed accounts to the accounts table took.
    pub accounts_write_us: AtomicU64,
    /// Time of one journal commit (write and fsync of a group of batches).
    pub commit_us: Histogram,
    /// Commands per engine batch.
    pub batch_size: Histogram,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_sixteenth() {
        let h = Histogram::default();
        for us in 1..=10_000 {
            h.record(us);
        }
        let p99 = h.quantile(0.99);
        assert!((9_900..=9_900 + 9_900 / 16 + 1).contains(&p99), "{p99}");
        assert_eq!(h.quantile(0.0001), 1);
        for us in [0, 15, 16, 17, 1_000, 123_456_789] {
            assert!(bucket_upper(bucket_of(us)) >= us);
        }
    }
}
