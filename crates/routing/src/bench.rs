//! How fast the router decides, for `suanpan bench routing`.
//!
//! This is the one file of the room that reads a clock (`std::time::Instant`), and only to time
//! the loop; the routing functions never do.

use std::hint::black_box;
use std::time::Instant;

use crate::calendar::Calendar;
use crate::channel::{Channel, ChannelSet, Health};
use crate::currency::Currency;
use crate::date::CivilDate;
use crate::payout::{Origin, Payout};
use crate::route::route;
use crate::rules::Rules;
use crate::time::{LocalDateTime, TimeOfDay};

/// Distinct inputs the loop cycles through; enough to vary every branch, small enough for cache.
pub const BENCH_INPUTS: usize = 1_024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BenchFigures {
    pub decisions: u64,
    /// Decisions that found a channel; also keeps the optimiser from skipping the work.
    pub routed: u64,
    pub elapsed_ns: u64,
}

impl BenchFigures {
    pub fn decisions_per_second(&self) -> u64 {
        let per_second =
            u128::from(self.decisions) * 1_000_000_000 / u128::from(self.elapsed_ns.max(1));
        u64::try_from(per_second).unwrap_or(u64::MAX)
    }
}

/// Routes `iterations` payouts, cycling through [`BENCH_INPUTS`] varied inputs built before
/// the clock starts, on the calling thread.
pub fn bench_decisions(iterations: u64) -> BenchFigures {
    let rules = Rules::default();
    let calendar = Calendar::china();
    let inputs = bench_inputs(BENCH_INPUTS);
    let mut routed = 0u64;
    let started = Instant::now();
    for (_, (payout, health)) in (0..iterations).zip(inputs.iter().cycle()) {
        let decision = route(black_box(payout), *health, &rules, &calendar);
        routed += u64::from(black_box(decision).channel().is_some());
    }
    let elapsed_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    BenchFigures {
        decisions: iterations,
        routed,
        elapsed_ns,
    }
}

/// Payouts over 2025-2026 (holidays included), amounts from 1.00 to 5,000,000.00, every
/// origin, real time or not, varied bank memberships and an occasional channel down.
pub fn bench_inputs(count: usize) -> Vec<(Payout, Health)> {
    let first_day = CivilDate::from_ymd(2025, 1, 1).map_or(0, CivilDate::days_since_epoch);
    let mut state = 0x5eed_u64;
    let mut next = move || {
        // A fixed linear congruential sequence: the same inputs on every run.
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let amounts_fen = [
        100,
        300_000,
        4_999_999,
        5_000_000,
        5_000_001,
        8_000_000,
        19_000_000,
        200_000_000,
        500_000_000,
    ];
    (0..count)
        .map(|_| {
            let date = CivilDate::from_days_since_epoch(first_day + (next() % 730) as i32)
                .unwrap_or(CivilDate::MIN);
            let time =
                TimeOfDay::from_seconds((next() % 86_400) as u32).unwrap_or(TimeOfDay::MIDNIGHT);
            let systems = if next() % 4 == 0 {
                ChannelSet::from_bits(next() as u8)
            } else {
                ChannelSet::ALL
            };
            let payout = Payout {
                amount_fen: amounts_fen[(next() % amounts_fen.len() as u64) as usize],
                currency: Currency::CNY,
                real_time: next() % 2 == 0,
                at: LocalDateTime::new(date, time),
                origin: Origin::ALL[(next() % 4) as usize],
                beneficiary_systems: systems,
            };
            let health = match next() % 16 {
                0 => Health::ALL_UP.with_down(Channel::ALL[(next() % 4) as usize]),
                _ => Health::ALL_UP,
            };
            (payout, health)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_counts_every_decision() {
        let figures = bench_decisions(5_000);
        assert_eq!(figures.decisions, 5_000);
        assert!(figures.routed > 0 && figures.routed < 5_000, "{figures:?}");
    }

    /// Run with `cargo test -p suanpan-routing --release bench -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn bench_routing_decisions_per_second() {
        let _warm_up = bench_decisions(100_000);
        let figures = bench_decisions(5_000_000);
        println!(
            "routing: {} decisions in {} ms, {} decisions/s ({} routed)",
            figures.decisions,
            figures.elapsed_ns / 1_000_000,
            figures.decisions_per_second(),
            figures.routed
        );
        assert!(figures.decisions_per_second() >= 1_000_000, "{figures:?}");
    }
}
