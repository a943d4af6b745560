//! The overview's recent past: every few seconds a thread notes what the engine committed,
//! the requests answered and their latency buckets, the queue and the journal's size, and
//! keeps the last 15 minutes. Reading it costs the engine nothing: counters it keeps anyway.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metrics::Totals;

pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// 15 minutes of samples.
pub const SAMPLES_MAX: usize = 180;

pub struct Sample {
    pub at: Instant,
    pub commands: u64,
    pub committed_seq: u64,
    pub queue_depth: u64,
    pub requests: Totals,
    pub journal_bytes: Option<u64>,
}

/// One point of the charts: the rates between two samples.
pub struct Point {
    pub seconds_ago: u64,
    pub commands_per_s: f64,
    pub requests_per_s: f64,
    pub p50_us: u64,
    pub p99_us: u64,
}

#[derive(Default)]
pub struct Samples {
    ring: Mutex<VecDeque<Sample>>,
}

impl Samples {
    pub fn push(&self, sample: Sample) {
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() >= SAMPLES_MAX {
            ring.pop_front();
        }
        ring.push_back(sample);
    }

    /// The points of the last 15 minutes, oldest first.
    pub fn points(&self) -> Vec<Point> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        ring.iter()
            .zip(ring.iter().skip(1))
            .map(|(a, b)| {
                let s = b.at.duration_since(a.at).as_secs_f64().max(0.001);
                Point {
                    seconds_ago: now.duration_since(b.at).as_secs(),
                    commands_per_s: b.commands.saturating_sub(a.commands) as f64 / s,
                    requests_per_s: b.requests.count.saturating_sub(a.requests.count) as f64 / s,
                    p50_us: b.requests.quantile_since(&a.requests, 0.5),
                    p99_us: b.requests.quantile_since(&a.requests, 0.99),
                }
            })
            .collect()
    }

    /// The newest sample's gauges: (committed_seq, queue_depth, journal_bytes).
    pub fn latest(&self) -> Option<(u64, u64, Option<u64>)> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.back()
            .map(|s| (s.committed_seq, s.queue_depth, s.journal_bytes))
    }
}
