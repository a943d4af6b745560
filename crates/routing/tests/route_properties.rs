//! Properties of every decision, over random payouts across 2025-2027 (the built-in calendar
//! covers 2025 and 2026, so 2027 exercises the uncovered case), memberships, health and fees.

use proptest::prelude::*;
use suanpan_routing::{
    route, Calendar, Channel, ChannelSet, CivilDate, Currency, Fee, Health, LocalDateTime, Origin,
    Payout, Reason, Rules, TimeOfDay,
};

fn first_day() -> i32 {
    CivilDate::from_ymd(2025, 1, 1).map_or(0, CivilDate::days_since_epoch)
}

/// Amounts around every limit, plus anything up to 5,000,000.00.
fn amount_fen() -> impl Strategy<Value = u64> {
    prop_oneof![
        prop::sample::select(vec![
            0u64,
            1,
            4_999_999,
            5_000_000,
            5_000_001,
            20_000_000,
            20_000_001,
            100_000_000,
            100_000_001
        ]),
        1u64..=500_000_000,
    ]
}

/// Any second, often one next to HVPS's opening, cut-off or midnight.
fn second_of_day() -> impl Strategy<Value = u32> {
    let edges = vec![0, 1, 86_399, 62_099, 62_100, 62_101, 73_799, 73_800, 73_801];
    prop_oneof![prop::sample::select(edges), 0u32..86_400]
}

fn payout() -> impl Strategy<Value = Payout> {
    (
        amount_fen(),
        prop::bool::weighted(0.05),
        any::<bool>(),
        0i32..(3 * 365),
        second_of_day(),
        0usize..4,
        prop_oneof![Just(0b1111u8), any::<u8>()],
    )
        .prop_map(
            |(amount_fen, usd, real_time, day, second, origin, systems)| Payout {
                amount_fen,
                currency: if usd {
                    Currency::parse("USD").unwrap_or(Currency::CNY)
                } else {
                    Currency::CNY
                },
                real_time,
                at: LocalDateTime::new(
                    CivilDate::from_days_since_epoch(first_day() + day).unwrap_or(CivilDate::MIN),
                    TimeOfDay::from_seconds(second).unwrap_or(TimeOfDay::MIDNIGHT),
                ),
                origin: Origin::ALL[origin],
                beneficiary_systems: ChannelSet::from_bits(systems),
            },
        )
}

fn health() -> impl Strategy<Value = Health> {
    prop_oneof![
        Just(Health::ALL_UP),
        any::<u8>().prop_map(|bits| Health::down(ChannelSet::from_bits(bits)))
    ]
}

/// Default rules, or the same with random flat fees so that every ranking gets exercised.
fn rules() -> impl Strategy<Value = Rules> {
    prop_oneof![
        Just(Rules::default()),
        prop::array::uniform4(prop::sample::select(vec![0u64, 50, 100, 500, 2_000])).prop_map(
            |fees| {
                let mut rules = Rules::default();
                for channel in Channel::ALL {
                    rules.channel_mut(channel).fee = Fee::flat(fees[channel.index()]);
                }
                rules
            }
        ),
    ]
}

/// HVPS's hours written out again, independently of `Hours::session`: open from 20:30 the
/// evening before a working day until 17:15 on it; unknown days are never open.
fn hvps_booking_date(at: LocalDateTime, calendar: &Calendar) -> Option<CivilDate> {
    let working = |date: CivilDate| calendar.working_day(date) == Some(true);
    let (opens, cut_off) = (20 * 3_600 + 30 * 60, 17 * 3_600 + 15 * 60);
    let seconds = at.time.seconds_since_midnight();
    let tomorrow = at.date.next().filter(|d| working(*d));
    if seconds >= opens && tomorrow.is_some() {
        return tomorrow;
    }
    (seconds < cut_off && working(at.date)).then_some(at.date)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4_000, ..ProptestConfig::default() })]

    #[test]
    fn chosen_channel_can_really_take_the_payout(payout in payout(), health in health(), rules in rules()) {
        let calendar = Calendar::china();
        let decision = route(&payout, health, &rules, &calendar);
        prop_assert!(decision.holds_invariants());
        prop_assert_eq!(decision.rule_version, rules.version);
        let Some(chosen) = decision.chosen() else { return Ok(()) };
        let channel = chosen.channel;
        let channel_rules = rules.channel(channel);
        prop_assert!(payout.amount_fen > 0);
        prop_assert!(payout.beneficiary_systems.contains(channel));
        prop_assert!(health.is_up(channel));
        prop_assert!(channel_rules.currencies.contains(&payout.currency));
        prop_assert!(rules.origin_channels(payout.origin).contains(channel));
        prop_assert!(!payout.real_time || channel_rules.real_time);
        let booking = if channel == Channel::Hvps { hvps_booking_date(payout.at, &calendar) } else { Some(payout.at.date) };
        prop_assert!(booking.is_some(), "{} is closed at {}", channel.code(), payout.at);
        prop_assert_eq!(decision.booking_date(), booking);
        if let Some(limit) = channel_rules.limit.on(booking.and_then(|d| calendar.working_day(d))) {
            prop_assert!(payout.amount_fen <= limit, "{} over {}", payout.amount_fen, limit);
        }
        // Cheapest eligible wins and the alternatives come best first.
        let mut last_fee = chosen.fee_fen;
        for alternative in decision.alternatives() {
            let verdict = decision.verdict(*alternative);
            prop_assert!(verdict.eligible());
            prop_assert!(verdict.fee_fen >= last_fee);
            last_fee = verdict.fee_fen;
        }
    }

    #[test]
    fn every_channel_not_chosen_is_named_with_a_reason(payout in payout(), health in health(), rules in rules()) {
        let calendar = Calendar::china();
        let decision = route(&payout, health, &rules, &calendar);
        let explanation = decision.explain(&calendar);
        for verdict in decision.verdicts() {
            let channel = verdict.channel;
            let sentence = explanation.channel(channel);
            prop_assert!(sentence.contains(channel.name()), "{sentence}");
            if Some(channel) == decision.channel() {
                prop_assert_eq!(verdict.reason, Reason::Chosen);
                continue;
            }
            prop_assert!(verdict.reason != Reason::Chosen);
            prop_assert!(
                explanation.summary.contains(channel.name()) || verdict.reason == Reason::ZeroAmount,
                "{} missing from {}", channel.name(), explanation.summary
            );
            if verdict.reason.disqualifies() {
                prop_assert_eq!(verdict.disqualified.first(), Some(verdict.reason));
            } else {
                prop_assert!(decision.alternatives().contains(&channel));
            }
        }
    }

    #[test]
    fn no_route_means_every_channel_is_disqualified(payout in payout(), health in health(), rules in rules()) {
        let calendar = Calendar::china();
        let decision = route(&payout, health, &rules, &calendar);
        let all_disqualified = decision.verdicts().iter().all(|v| !v.eligible() && v.reason.disqualifies());
        prop_assert_eq!(decision.channel().is_none(), all_disqualified);
        if let Err(no_route) = decision.outcome() {
            for channel in Channel::ALL {
                prop_assert_eq!(no_route.reason(channel), Some(decision.verdict(channel).reason));
            }
            prop_assert!(decision.explain(&calendar).summary.ends_with("no channel can take it"));
        }
    }

    #[test]
    fn hvps_is_open_exactly_in_its_sessions(payout in payout(), rules in rules()) {
        let calendar = Calendar::china();
        let decision = route(&payout, Health::ALL_UP, &rules, &calendar);
        let hvps = decision.verdict(Channel::Hvps);
        prop_assert_eq!(hvps.booking_date, hvps_booking_date(payout.at, &calendar));
        let closed = [Reason::CalendarNotCovered, Reason::ClosedNonWorkingDay, Reason::ClosedOutsideHours];
        let closed_count = closed.iter().filter(|r| hvps.disqualified.contains(**r)).count();
        prop_assert_eq!(closed_count, usize::from(hvps.booking_date.is_none()));
        for channel in [Channel::Beps, Channel::Ibps, Channel::UnionPayPayout] {
            prop_assert_eq!(decision.verdict(channel).booking_date, Some(payout.at.date));
        }
    }

    #[test]
    fn a_channel_the_bank_is_not_in_is_never_chosen(payout in payout(), rules in rules()) {
        let calendar = Calendar::china();
        let decision = route(&payout, Health::ALL_UP, &rules, &calendar);
        for channel in Channel::ALL {
            let verdict = decision.verdict(channel);
            prop_assert_eq!(
                verdict.disqualified.contains(Reason::BankNotMember),
                !payout.beneficiary_systems.contains(channel)
            );
        }
    }
}
