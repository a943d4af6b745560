//! Prometheus metrics in the text exposition format: requests by route and status, latency
//! histograms by route, and the engine's own figures (queue depth, batch sizes, commit
//! latency, journal size, history index lag).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use suanpan_engine::{Histogram, Metrics};

use crate::routes::ROUTES;

const STATUSES: [u16; 14] = [
    200, 201, 400, 401, 403, 404, 405, 409, 413, 415, 422, 500, 503, 0,
];
/// Upper bounds of the latency buckets, in microseconds.
const BOUNDS_US: [u64; 15] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
];

#[derive(Default)]
struct RouteStats {
    by_status: [AtomicU64; STATUSES.len()],
    buckets: [AtomicU64; BOUNDS_US.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

pub struct ApiMetrics {
    /// One per route, then one for requests that matched none.
    routes: Vec<RouteStats>,
}

impl Default for ApiMetrics {
    fn default() -> ApiMetrics {
        ApiMetrics {
            routes: (0..=ROUTES.len()).map(|_| RouteStats::default()).collect(),
        }
    }
}

/// What the server knows beyond the engine's metrics.
pub struct Gauges {
    /// The SQLite journal's files; none when the journal is in PostgreSQL (the database
    /// reports its own sizes).
    pub journal_bytes: Option<u64>,
    pub history_indexed_seq: u64,
    pub open_connections: u64,
    /// 1 while this node takes commands; 0 on a standby or a node that lost the lease.
    pub leader: u64,
}

/// Every request so far, all routes together: how many, and how many in each latency bucket.
pub struct Totals {
    pub count: u64,
    pub buckets: [u64; BOUNDS_US.len()],
}

impl Totals {
    /// The upper bound (µs) of the bucket holding quantile `q` of the requests between
    /// `earlier` and `self`; 0 when none came.
    pub fn quantile_since(&self, earlier: &Totals, q: f64) -> u64 {
        let deltas: Vec<u64> = self
            .buckets
            .iter()
            .zip(earlier.buckets.iter())
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        let total: u64 = deltas.iter().sum();
        if total == 0 {
            return 0;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, d) in deltas.iter().enumerate() {
            seen += d;
            if seen >= rank {
                return BOUNDS_US[i];
            }
        }
        BOUNDS_US[BOUNDS_US.len() - 1]
    }
}

impl ApiMetrics {
    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            count: 0,
            buckets: [0; BOUNDS_US.len()],
        };
        for stats in &self.routes {
            t.count += stats.count.load(Ordering::Relaxed);
            for (b, n) in stats.buckets.iter().enumerate() {
                t.buckets[b] += n.load(Ordering::Relaxed);
            }
        }
        t
    }

    pub fn record(&self, route: Option<usize>, status: u16, elapsed_us: u64) {
        let stats = &self.routes[route.unwrap_or(ROUTES.len()).min(ROUTES.len())];
        let s = STATUSES
            .iter()
            .position(|&x| x == status)
            .unwrap_or(STATUSES.len() - 1);
        stats.by_status[s].fetch_add(1, Ordering::Relaxed);
        if let Some(b) = BOUNDS_US.iter().position(|&bound| elapsed_us <= bound) {
            stats.buckets[b].fetch_add(1, Ordering::Relaxed);
        }
        stats.count.fetch_add(1, Ordering::Relaxed);
        stats.sum_us.fetch_add(elapsed_us, Ordering::Relaxed);
    }

    pub fn render(&self, engine: &Metrics, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let route_name = |i: usize| {
            ROUTES
                .get(i)
                .map(|r| format!("{} {}", r.method, r.path))
                .unwrap_or_else(|| "unmatched".into())
        };
        out.push_str(
            "# HELP suanpan_http_requests_total HTTP requests answered, by route and status.\n",
        );
        out.push_str("# TYPE suanpan_http_requests_total counter\n");
        for (i, stats) in self.routes.iter().enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let n = stats.by_status[s].load(Ordering::Relaxed);
                if n > 0 {
                    let status = if *status == 0 {
                        "other".to_string()
                    } else {
                        status.to_string()
                    };
                    let _ = writeln!(
                        out,
                        "suanpan_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                        route_name(i)
                    );
                }
            }
        }
        out.push_str("# HELP suanpan_http_request_duration_seconds Time from request to response, by route.\n");
        out.push_str("# TYPE suanpan_http_request_duration_seconds histogram\n");
        for (i, stats) in self.routes.iter().enumerate() {
            let count = stats.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let name = route_name(i);
            let mut cumulative = 0;
            for (b, bound) in BOUNDS_US.iter().enumerate() {
                cumulative += stats.buckets[b].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "suanpan_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"{}\"}} {cumulative}",
                    *bound as f64 / 1e6
                );
            }
            let _ = writeln!(
                out,
                "suanpan_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "suanpan_http_request_duration_seconds_sum{{route=\"{name}\"}} {}",
                stats.sum_us.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "suanpan_http_request_duration_seconds_count{{route=\"{name}\"}} {count}"
            );
        }
        let counter = |out: &mut String, name: &str, help: &str, kind: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut out,
            "suanpan_engine_queue_depth",
            "Requests waiting in the engine's queue.",
            "gauge",
            load(&engine.queue_depth),
        );
        // Capacity: what the ledger keeps in memory, against the most a table can hold.
        counter(
            &mut out,
            "suanpan_ledger_accounts",
            "Accounts the ledger holds in memory.",
            "gauge",
            load(&engine.ledger_accounts),
        );
        counter(
            &mut out,
            "suanpan_ledger_transfers",
            "Transfer records the ledger holds in memory: the window of recent transfers.",
            "gauge",
            load(&engine.ledger_transfers),
        );
        counter(
            &mut out,
            "suanpan_ledger_window",
            "Most transfers the window keeps in memory; older ones are read back from the journal when named.",
            "gauge",
            load(&engine.ledger_window),
        );
        counter(
            &mut out,
            "suanpan_ledger_transfers_total",
            "Transfers ever committed.",
            "gauge",
            load(&engine.ledger_transfers_total),
        );
        counter(
            &mut out,
            "suanpan_ledger_pending_transfers",
            "Pending transfers whose state the ledger holds in memory (all still pending, and the others while in the window).",
            "gauge",
            load(&engine.ledger_pendings),
        );
        counter(
            &mut out,
            "suanpan_ledger_table_capacity",
            "Most accounts the ledger holds; past it a new one is refused table_full. Transfers have no such limit.",
            "gauge",
            suanpan_ledger::TABLE_ENTRIES_MAX as u64,
        );
        counter(
            &mut out,
            "suanpan_past_filter_bytes",
            "Size of the filter of past transfer ids (fixed).",
            "gauge",
            load(&engine.past_filter_bytes),
        );
        counter(
            &mut out,
            "suanpan_past_filter_ids",
            "Transfer ids that went into the filter as they left memory; its false-positive rate grows with them per byte.",
            "gauge",
            load(&engine.past_filter_ids),
        );
        counter(
            &mut out,
            "suanpan_past_index_entries",
            "Entries in the index of past transfers (one per transfer that left memory, one per post or void of a pending one).",
            "gauge",
            load(&engine.past_index_entries),
        );
        counter(
            &mut out,
            "suanpan_past_index_bytes",
            "Bytes of the index of past transfers on disk.",
            "gauge",
            load(&engine.past_index_bytes),
        );
        counter(
            &mut out,
            "suanpan_past_index_runs",
            "Sorted runs in the index of past transfers (a lookup reads a block of each).",
            "gauge",
            load(&engine.past_index_runs),
        );
        counter(
            &mut out,
            "suanpan_past_batches_read_total",
            "Journal batches read back for transfers that had left memory.",
            "counter",
            load(&engine.past_batches_read),
        );
        if let Some(bytes) = resident_bytes() {
            counter(
                &mut out,
                "suanpan_process_resident_bytes",
                "The process's resident memory.",
                "gauge",
                bytes,
            );
        }
        counter(
            &mut out,
            "suanpan_engine_overloaded_total",
            "Requests refused because the engine's queue was full.",
            "counter",
            load(&engine.overloaded),
        );
        counter(
            &mut out,
            "suanpan_engine_commands_total",
            "Commands applied.",
            "counter",
            load(&engine.commands),
        );
        counter(
            &mut out,
            "suanpan_engine_batches_total",
            "Engine batches applied.",
            "counter",
            load(&engine.batches),
        );
        counter(
            &mut out,
            "suanpan_engine_commits_total",
            "Journal commits (one fsync each).",
            "counter",
            load(&engine.commits),
        );
        counter(
            &mut out,
            "suanpan_engine_snapshots_total",
            "Snapshots taken.",
            "counter",
            load(&engine.snapshots),
        );
        counter(
            &mut out,
            "suanpan_journal_committed_seq",
            "The last batch durable in the journal.",
            "gauge",
            load(&engine.committed_seq),
        );
        counter(
            &mut out,
            "suanpan_engine_leader",
            "1 while this node holds the writer's role and takes commands; 0 on a standby.",
            "gauge",
            gauges.leader,
        );
        if let Some(bytes) = gauges.journal_bytes {
            counter(
                &mut out,
                "suanpan_journal_bytes",
                "Size of the journal's files (database and write-ahead log).",
                "gauge",
                bytes,
            );
        }
        counter(
            &mut out,
            "suanpan_history_indexed_seq",
            "The last batch in the history index.",
            "gauge",
            gauges.history_indexed_seq,
        );
        counter(
            &mut out,
            "suanpan_http_open_connections",
            "Open HTTP connections.",
            "gauge",
            gauges.open_connections,
        );
        summary(
            &mut out,
            "suanpan_engine_batch_size",
            "Commands per engine batch.",
            &engine.batch_size,
            1.0,
        );
        summary(
            &mut out,
            "suanpan_engine_commit_seconds",
            "Time of one journal commit (write and fsync).",
            &engine.commit_us,
            1e-6,
        );
        out
    }
}

fn summary(out: &mut String, name: &str, help: &str, h: &Histogram, scale: f64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} summary");
    for q in [0.5, 0.9, 0.99, 0.999] {
        let _ = writeln!(
            out,
            "{name}{{quantile=\"{q}\"}} {}",
            h.quantile(q) as f64 * scale
        );
    }
    let _ = writeln!(out, "{name}_count {}", h.count());
}

/// The process's resident set, from `/proc/self/status` (Linux; elsewhere none).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    // "VmRSS:     123456 kB"
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}
