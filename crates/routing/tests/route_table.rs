//! Table of routing cases: each names the chosen channel and every other channel's reason.

use suanpan_routing::{
    route, Calendar, Channel, ChannelSet, CivilDate, Currency, Decision, Health, LocalDateTime,
    Origin, Payout, Reason, Rules,
};

use Channel::{Beps, Hvps, Ibps, UnionPayPayout};
use Reason::*;

const YUAN: u64 = 100;

struct Case {
    name: &'static str,
    at: &'static str,
    amount_fen: u64,
    real_time: bool,
    origin: Origin,
    systems: ChannelSet,
    health: Health,
    chosen: Option<Channel>,
    /// In channel order: HVPS, BEPS, IBPS, UnionPay payout.
    reasons: [Reason; 4],
    booking_date: Option<&'static str>,
}

const MOBILE: Origin = Origin::MobileBanking;
const ALL: ChannelSet = ChannelSet::ALL;
const UP: Health = Health::ALL_UP;

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "over 50,000 real time on a weekday evening before HVPS opens goes to UnionPay payout",
            at: "2026-12-08 20:00", // Tuesday; HVPS opens 20:30
            amount_fen: 80_000 * YUAN,
            real_time: true,
            origin: MOBILE,
            systems: ALL,
            health: UP,
            chosen: Some(UnionPayPayout),
            reasons: [ClosedOutsideHours, NotRealTime, OverLimit, Chosen],
            booking_date: Some("2026-12-08"),
        },
        Case {
            name: "over 50,000 real time on a Saturday goes to UnionPay payout",
            at: "2026-12-12 10:00",
            amount_fen: 80_000 * YUAN,
            real_time: true,
            origin: MOBILE,
            systems: ALL,
            health: UP,
            chosen: Some(UnionPayPayout),
            reasons: [ClosedNonWorkingDay, NotRealTime, OverLimit, Chosen],
            booking_date: Some("2026-12-12"),
        },
        Case {
            name: "2,000,000 on a Tuesday morning is over every limit but HVPS's",
            at: "2026-12-08 10:00",
            amount_fen: 2_000_000 * YUAN,
            real_time: false,
            origin: MOBILE,
            systems: ALL,
            health: UP,
            chosen: Some(Hvps),
            reasons: [Chosen, OverLimit, OverLimit, OverLimit],
            booking_date: Some("2026-12-08"),
        },
        Case {
            name: "3,000 not urgent on a Sunday goes by BEPS, the cheapest",
            at: "2026-12-13 11:00",
            amount_fen: 3_000 * YUAN,
            real_time: false,
            origin: MOBILE,
            systems: ALL,
            health: UP,
            chosen: Some(Beps),
            reasons: [ClosedNonWorkingDay, Chosen, HigherCost, HigherCost],
            booking_date: Some("2026-12-13"),
        },
        Case {
            name: "3,000 real time on a Tuesday goes by IBPS",
            at: "2026-12-08 10:00",
            amount_fen: 3_000 * YUAN,
            real_time: true,
            origin: MOBILE,
            systems: ALL,
            health: UP,
            chosen: Some(Ibps),
            reasons: [HigherCost, NotRealTime, Chosen, HigherCost],
            booking_date: Some("2026-12-08"),
        },
        Case {
            name: "the last holiday evening after 20:30: HVPS is open and books to the next working day",
            at: "2026-10-07 21:00", // last day of National Day; 2026-10-08 is a working day
            amount_fen: 2_000_000 * YUAN,
            real_time: true,
            origin: MOBILE,
            systems: ALL,
            health: UP,
            chosen: Some(Hvps),
            reasons: [Chosen, NotRealTime, OverLimit, OverLimit],
            booking_date: Some("2026-10-08"),
        },
        Case {
            name: "the last holiday evening before 20:30: HVPS is still closed for the holiday",
            at: "2026-10-07 20:29:59",
            amount_fen: 2_000_000 * YUAN,
            real_time: true,
            origin: MOBILE,
            systems: ALL,
            health: UP,
            chosen: None,
            reasons: [ClosedNonWorkingDay, NotRealTime, OverLimit, OverLimit],
            booking_date: None,
        },
        Case {
            name: "a make-up Saturday is a working day: HVPS is open",
            at: "2026-10-10 10:00",
            amount_fen: 2_000_000 * YUAN,
            real_time: false,
            origin: MOBILE,
            systems: ALL,
            health: UP,
            chosen: Some(Hvps),
            reasons: [Chosen, OverLimit, OverLimit, OverLimit],
            booking_date: Some("2026-10-10"),
        },
        Case {
            name: "an ordinary Saturday: HVPS closed and 2,000,000 over BEPS's holiday limit",
            at: "2026-10-17 10:00",
            amount_fen: 2_000_000 * YUAN,
            real_time: false,
            origin: MOBILE,
            systems: ALL,
            health: UP,
            chosen: None,
            reasons: [ClosedNonWorkingDay, OverLimit, OverLimit, OverLimit],
            booking_date: None,
        },
        Case {
            name: "BEPS takes up to 1,000,000 on a non-working day, and exactly the limit is allowed",
            at: "2026-10-17 10:00",
            amount_fen: 1_000_000 * YUAN,
            real_time: false,
            origin: MOBILE,
            systems: ALL,
            health: UP,
            chosen: Some(Beps),
            reasons: [ClosedNonWorkingDay, Chosen, OverLimit, OverLimit],
            booking_date: Some("2026-10-17"),
        },
        Case {
            name: "IBPS down: the real-time payout goes to the next cheapest, UnionPay payout",
            at: "2026-12-08 10:00",
            amount_fen: 3_000 * YUAN,
            real_time: true,
            origin: MOBILE,
            systems: ALL,
            health: UP.with_down(Ibps),
            chosen: Some(UnionPayPayout),
            reasons: [HigherCost, NotRealTime, ChannelDown, Chosen],
            booking_date: Some("2026-12-08"),
        },
        Case {
            name: "over every real-time limit off-hours with real time required: no route",
            at: "2026-12-12 14:00",
            amount_fen: 500_000 * YUAN,
            real_time: true,
            origin: MOBILE,
            systems: ALL,
            health: UP,
            chosen: None,
            reasons: [ClosedNonWorkingDay, NotRealTime, OverLimit, OverLimit],
            booking_date: None,
        },
        Case {
            name: "bank not in IBPS: the real-time payout goes by UnionPay payout",
            at: "2026-12-08 10:00",
            amount_fen: 3_000 * YUAN,
            real_time: true,
            origin: MOBILE,
            systems: ALL.without(Ibps),
            health: UP,
            chosen: Some(UnionPayPayout),
            reasons: [HigherCost, NotRealTime, BankNotMember, Chosen],
            booking_date: Some("2026-12-08"),
        },
        Case {
            name: "bank not in HVPS: 2,000,000 on a Tuesday has no route",
            at: "2026-12-08 10:00",
            amount_fen: 2_000_000 * YUAN,
            real_time: false,
            origin: MOBILE,
            systems: ALL.without(Hvps),
            health: UP,
            chosen: None,
            reasons: [BankNotMember, OverLimit, OverLimit, OverLimit],
            booking_date: None,
        },
        Case {
            name: "ATM/POS payouts go through UnionPay payout only",
            at: "2026-12-08 10:00",
            amount_fen: 3_000 * YUAN,
            real_time: false,
            origin: Origin::AtmPos,
            systems: ALL,
            health: UP,
            chosen: Some(UnionPayPayout),
            reasons: [OriginNotServed, OriginNotServed, OriginNotServed, Chosen],
            booking_date: Some("2026-12-08"),
        },
        Case {
            name: "a QR payout with UnionPay down has no route",
            at: "2026-12-08 10:00",
            amount_fen: 300 * YUAN,
            real_time: true,
            origin: Origin::Qr,
            systems: ALL,
            health: UP.with_down(UnionPayPayout),
            chosen: None,
            reasons: [OriginNotServed, OriginNotServed, OriginNotServed, ChannelDown],
            booking_date: None,
        },
        Case {
            name: "HVPS's cut-off is exclusive: 17:15 is closed",
            at: "2026-12-08 17:15",
            amount_fen: 2_000_000 * YUAN,
            real_time: false,
            origin: Origin::Counter,
            systems: ALL,
            health: UP,
            chosen: None,
            reasons: [ClosedOutsideHours, OverLimit, OverLimit, OverLimit],
            booking_date: None,
        },
        Case {
            name: "HVPS's last second before the cut-off is open",
            at: "2026-12-08 17:14:59",
            amount_fen: 2_000_000 * YUAN,
            real_time: false,
            origin: Origin::Counter,
            systems: ALL,
            health: UP,
            chosen: Some(Hvps),
            reasons: [Chosen, OverLimit, OverLimit, OverLimit],
            booking_date: Some("2026-12-08"),
        },
        Case {
            name: "a year the calendar does not cover: HVPS is not guessed open",
            at: "2027-03-02 10:00",
            amount_fen: 2_000_000 * YUAN,
            real_time: false,
            origin: MOBILE,
            systems: ALL,
            health: UP,
            chosen: None,
            reasons: [CalendarNotCovered, OverLimit, OverLimit, OverLimit],
            booking_date: None,
        },
        Case {
            name: "a zero amount is no payout",
            at: "2026-12-08 10:00",
            amount_fen: 0,
            real_time: false,
            origin: MOBILE,
            systems: ALL,
            health: UP,
            chosen: None,
            reasons: [ZeroAmount; 4],
            booking_date: None,
        },
    ]
}

fn decide(case: &Case, rules: &Rules, calendar: &Calendar) -> Decision {
    let at = LocalDateTime::parse(case.at);
    assert!(at.is_some(), "{}: bad instant {}", case.name, case.at);
    let payout = Payout {
        amount_fen: case.amount_fen,
        currency: Currency::CNY,
        real_time: case.real_time,
        at: at.unwrap_or(LocalDateTime::new(
            CivilDate::MIN,
            suanpan_routing::TimeOfDay::MIDNIGHT,
        )),
        origin: case.origin,
        beneficiary_systems: case.systems,
    };
    route(&payout, case.health, rules, calendar)
}

#[test]
fn every_case_chooses_its_channel_and_gives_every_other_its_reason() {
    let (rules, calendar) = (Rules::default(), Calendar::china());
    for case in cases() {
        let decision = decide(&case, &rules, &calendar);
        assert_eq!(decision.channel(), case.chosen, "{}", case.name);
        let reasons = Channel::ALL.map(|c| decision.verdict(c).reason);
        assert_eq!(reasons, case.reasons, "{}", case.name);
        let booking = case.booking_date.and_then(CivilDate::parse);
        assert_eq!(decision.booking_date(), booking, "{}", case.name);
        assert_eq!(
            decision.outcome().is_err(),
            case.chosen.is_none(),
            "{}",
            case.name
        );
        let explanation = decision.explain(&calendar);
        for channel in Channel::ALL {
            let sentence = explanation.channel(channel);
            assert!(
                sentence.contains(channel.name()),
                "{}: {sentence}",
                case.name
            );
        }
    }
}

#[test]
fn summary_reads_like_the_seed_case() {
    let (rules, calendar) = (Rules::default(), Calendar::china());
    let cases = cases();
    let saturday = cases.iter().find(|c| c.at == "2026-12-12 10:00");
    let decision = saturday.map(|c| decide(c, &rules, &calendar));
    let summary = decision.map(|d| d.explain(&calendar).summary);
    assert_eq!(
        summary.as_deref(),
        Some("HVPS is closed on Saturday; BEPS is not real time; 80,000.00 is over IBPS's 50,000.00 limit: UnionPay payout, fee 5.00")
    );
}

#[test]
fn explanation_names_holidays_hours_and_the_booking_date() {
    let (rules, calendar) = (Rules::default(), Calendar::china());
    let find = |at: &str, amount_fen: u64| {
        let case = cases()
            .into_iter()
            .find(|c| c.at == at && c.amount_fen == amount_fen);
        case.map(|c| decide(&c, &rules, &calendar).explain(&calendar))
    };
    let evening =
        find("2026-10-07 21:00", 2_000_000 * YUAN).unwrap_or_else(|| panic!("case missing"));
    assert!(
        evening
            .summary
            .ends_with("HVPS, fee 20.00, booked to 2026-10-08"),
        "{}",
        evening.summary
    );
    assert!(
        evening.channel(Hvps).contains("booking date 2026-10-08"),
        "{evening}"
    );
    let holiday =
        find("2026-10-07 20:29:59", 2_000_000 * YUAN).unwrap_or_else(|| panic!("case missing"));
    assert!(
        holiday
            .channel(Hvps)
            .contains("closed on Wednesday 2026-10-07 (National Day)"),
        "{holiday}"
    );
    assert!(
        holiday.summary.ends_with(": no channel can take it"),
        "{}",
        holiday.summary
    );
    let evening_before =
        find("2026-12-08 20:00", 80_000 * YUAN).unwrap_or_else(|| panic!("case missing"));
    assert!(
        evening_before
            .channel(Hvps)
            .contains("from 20:30 the evening before a working day until 17:15"),
        "{evening_before}"
    );
    assert!(
        evening_before
            .channel(Beps)
            .contains("; also, 80,000.00 is over BEPS's 50,000.00 limit"),
        "{evening_before}"
    );
    let sunday = find("2026-12-13 11:00", 3_000 * YUAN).unwrap_or_else(|| panic!("case missing"));
    assert!(
        sunday
            .summary
            .ends_with("BEPS, fee 0.50 (alternatives: IBPS, UnionPay payout)"),
        "{}",
        sunday.summary
    );
    assert!(
        sunday
            .channel(Ibps)
            .contains("its fee 1.00 is higher than BEPS's 0.50"),
        "{sunday}"
    );
}

#[test]
fn equal_fees_fall_back_to_the_preference_order() {
    let calendar = Calendar::china();
    let mut rules = Rules::default();
    rules.channel_mut(Ibps).fee = rules.channel(Beps).fee;
    let case = cases().into_iter().find(|c| c.at == "2026-12-13 11:00");
    let decision = case.map(|c| decide(&c, &rules, &calendar));
    assert_eq!(decision.map(|d| d.channel()), Some(Some(Beps)));
    assert_eq!(
        decision.map(|d| d.verdict(Ibps).reason),
        Some(LowerPreference)
    );
    assert_eq!(
        decision.map(|d| d.alternatives().to_vec()),
        Some(vec![Ibps, UnionPayPayout])
    );

    rules.preference = [Ibps, Beps, UnionPayPayout, Hvps];
    let case = cases().into_iter().find(|c| c.at == "2026-12-13 11:00");
    let decision = case.map(|c| decide(&c, &rules, &calendar));
    assert_eq!(decision.map(|d| d.channel()), Some(Some(Ibps)));
    assert_eq!(
        decision.map(|d| d.verdict(Beps).reason),
        Some(LowerPreference)
    );
}

#[test]
fn decision_records_the_rule_version_and_refuses_unsupported_currency() {
    let calendar = Calendar::china();
    let rules = Rules {
        version: 7,
        ..Rules::default()
    };
    let case = cases()
        .into_iter()
        .find(|c| c.at == "2026-12-08 10:00" && c.chosen == Some(Hvps));
    let decision = case.map(|c| decide(&c, &rules, &calendar));
    assert_eq!(decision.map(|d| d.rule_version), Some(7));

    let usd = Currency::parse("USD").unwrap_or(Currency::CNY);
    let payout = Payout {
        amount_fen: 100 * YUAN,
        currency: usd,
        real_time: false,
        at: LocalDateTime::parse("2026-12-08 10:00").unwrap_or(LocalDateTime::new(
            CivilDate::MIN,
            suanpan_routing::TimeOfDay::MIDNIGHT,
        )),
        origin: MOBILE,
        beneficiary_systems: ALL,
    };
    let decision = route(&payout, UP, &rules, &calendar);
    assert_eq!(
        decision.verdicts().map(|v| v.reason),
        [CurrencyUnsupported; 4]
    );
    let refusal = decision.outcome().err().map(|e| e.to_string());
    assert_eq!(
        refusal.as_deref(),
        Some("no channel can take the payout: hvps currency_unsupported, beps currency_unsupported, ibps currency_unsupported, unionpay_payout currency_unsupported (rules version 7)")
    );
}
