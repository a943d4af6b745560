//! The router: judge every channel against the payout, then rank the ones that can take it.
//!
//! The hot path allocates nothing: a [`Decision`] is a fixed-size value holding one
//! [`Verdict`] per channel with reason codes and figures, and sentences are rendered only when
//! [`Decision::explain`] is asked for.

use std::fmt;

use crate::calendar::Calendar;
use crate::channel::{Channel, ChannelSet, Health};
use crate::date::CivilDate;
use crate::hours::{Closed, Hours};
use crate::payout::Payout;
use crate::reason::{Reason, ReasonSet};
use crate::rules::Rules;

/// What the router found for one channel.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Verdict {
    pub channel: Channel,
    /// `chosen`, `higher_cost` or `lower_preference` for an eligible channel; otherwise the
    /// first disqualifying reason in check order.
    pub reason: Reason,
    /// Every disqualifying reason found; empty exactly when the channel could take the payout.
    pub disqualified: ReasonSet,
    /// What the channel would charge for this payout.
    pub fee_fen: u64,
    /// The per-payment limit that applied at the instant (`None`: no cap).
    pub limit_fen: Option<u64>,
    /// The date a payment taken now books to, when the channel is open; HVPS's evening session
    /// books to the next working day.
    pub booking_date: Option<CivilDate>,
    /// The channel's hours under the rules used, kept so the decision can explain itself later.
    pub hours: Hours,
}

impl Verdict {
    pub fn eligible(&self) -> bool {
        self.disqualified.is_empty()
    }
}

/// The router's answer for one payout: fixed size, `Copy`, no heap.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Decision {
    /// The version of the [`Rules`] that made it.
    pub rule_version: u32,
    /// The facts it was made on.
    pub payout: Payout,
    /// The channels the rules let this payout's origin use.
    pub origin_channels: ChannelSet,
    /// Indexed by [`Channel::index`].
    verdicts: [Verdict; 4],
    /// Eligible channels best first, then the rest in channel order.
    ranked: [Channel; 4],
    eligible_len: u8,
}

/// Routes `payout` at its instant: the cheapest eligible channel, ties broken by the rules'
/// preference order. Never reads a clock; never panics on any input.
pub fn route(payout: &Payout, health: Health, rules: &Rules, calendar: &Calendar) -> Decision {
    let origin_channels = rules.origin_channels(payout.origin);
    let today = Day {
        date: payout.at.date,
        working: calendar.working_day(payout.at.date),
    };
    let mut verdicts = Channel::ALL.map(|channel| {
        judge(
            channel,
            payout,
            health,
            rules,
            calendar,
            origin_channels,
            today,
        )
    });

    let mut ranked = Channel::ALL;
    ranked.sort_by_key(|c| {
        let v = &verdicts[c.index()];
        if v.eligible() {
            (0, v.fee_fen, rules.preference_rank(*c), c.index())
        } else {
            (1, 0, 0, c.index())
        }
    });
    let eligible_len = verdicts.iter().filter(|v| v.eligible()).count();
    let chosen_fee_fen = verdicts[ranked[0].index()].fee_fen;
    for (rank, channel) in ranked.iter().enumerate() {
        let verdict = &mut verdicts[channel.index()];
        verdict.reason = match verdict.disqualified.first() {
            Some(reason) => reason,
            None if rank == 0 => Reason::Chosen,
            None if verdict.fee_fen > chosen_fee_fen => Reason::HigherCost,
            None => Reason::LowerPreference,
        };
    }
    let decision = Decision {
        rule_version: rules.version,
        payout: *payout,
        origin_channels,
        verdicts,
        ranked,
        eligible_len: eligible_len as u8,
    };
    debug_assert!(decision.holds_invariants());
    decision
}

/// A date and whether it is a working day, looked up once per decision.
#[derive(Clone, Copy)]
struct Day {
    date: CivilDate,
    working: Option<bool>,
}

/// Checks one channel in [`Reason`]'s order and records every reason that disqualifies it.
fn judge(
    channel: Channel,
    payout: &Payout,
    health: Health,
    rules: &Rules,
    calendar: &Calendar,
    origin_channels: ChannelSet,
    today: Day,
) -> Verdict {
    let channel_rules = rules.channel(channel);
    let mut why = ReasonSet::EMPTY;
    let mut flag = |applies: bool, reason: Reason| {
        if applies {
            why = why.with(reason);
        }
    };
    flag(payout.amount_fen == 0, Reason::ZeroAmount);
    flag(
        !payout.beneficiary_systems.contains(channel),
        Reason::BankNotMember,
    );
    flag(
        !channel_rules.currencies.contains(&payout.currency),
        Reason::CurrencyUnsupported,
    );
    flag(!origin_channels.contains(channel), Reason::OriginNotServed);
    flag(!health.is_up(channel), Reason::ChannelDown);
    let session = channel_rules.hours.session(payout.at, calendar);
    flag(
        session == Err(Closed::CalendarNotCovered),
        Reason::CalendarNotCovered,
    );
    flag(
        session == Err(Closed::NonWorkingDay),
        Reason::ClosedNonWorkingDay,
    );
    flag(
        session == Err(Closed::OutsideHours),
        Reason::ClosedOutsideHours,
    );
    flag(
        payout.real_time && !channel_rules.real_time,
        Reason::NotRealTime,
    );
    // The limit of the day the payment books to: HVPS's evening session counts as tomorrow.
    let limit_day = session.unwrap_or(today.date);
    let working = if limit_day == today.date {
        today.working
    } else {
        calendar.working_day(limit_day)
    };
    let limit_fen = channel_rules.limit.on(working);
    flag(
        limit_fen.is_some_and(|limit| payout.amount_fen > limit),
        Reason::OverLimit,
    );
    Verdict {
        channel,
        // Set once the eligible channels are ranked.
        reason: Reason::Chosen,
        disqualified: why,
        fee_fen: channel_rules.fee.for_amount(payout.amount_fen),
        limit_fen,
        booking_date: session.ok(),
        hours: channel_rules.hours,
    }
}

impl Decision {
    /// The verdict of the chosen channel, if any channel can take the payout.
    pub fn chosen(&self) -> Option<&Verdict> {
        (self.eligible_len > 0).then(|| &self.verdicts[self.ranked[0].index()])
    }

    pub fn channel(&self) -> Option<Channel> {
        self.chosen().map(|v| v.channel)
    }

    /// The date the chosen channel books the payout to; it differs from the instant's date in
    /// HVPS's evening session.
    pub fn booking_date(&self) -> Option<CivilDate> {
        self.chosen().and_then(|v| v.booking_date)
    }

    pub fn fee_fen(&self) -> Option<u64> {
        self.chosen().map(|v| v.fee_fen)
    }

    /// The other channels that could take it, best first.
    pub fn alternatives(&self) -> &[Channel] {
        let eligible = usize::from(self.eligible_len);
        self.ranked.get(1..eligible).unwrap_or(&[])
    }

    /// Every channel, eligible ones best first, then the others in channel order.
    pub fn ranked(&self) -> &[Channel; 4] {
        &self.ranked
    }

    pub fn verdict(&self, channel: Channel) -> &Verdict {
        &self.verdicts[channel.index()]
    }

    /// Indexed by [`Channel::index`].
    pub fn verdicts(&self) -> &[Verdict; 4] {
        &self.verdicts
    }

    /// The chosen channel's verdict, or the refusal with every channel's reason.
    pub fn outcome(&self) -> Result<&Verdict, NoRoute> {
        self.chosen().ok_or(NoRoute {
            rule_version: self.rule_version,
            disqualified: self.verdicts.map(|v| v.disqualified),
        })
    }

    /// What every decision must satisfy; checked in debug builds and by the property tests.
    pub fn holds_invariants(&self) -> bool {
        let eligible = usize::from(self.eligible_len);
        let ranked_ok = self.ranked.iter().enumerate().all(|(rank, c)| {
            let v = &self.verdicts[c.index()];
            v.eligible() == (rank < eligible) && v.reason.disqualifies() != v.eligible()
        });
        let chosen_ok = self
            .verdicts
            .iter()
            .all(|v| (v.reason == Reason::Chosen) == (Some(v.channel) == self.channel()));
        let indexed_ok = Channel::ALL
            .iter()
            .all(|c| self.verdicts[c.index()].channel == *c);
        ranked_ok && chosen_ok && indexed_ok
    }
}

/// No channel can take the payout: every channel's disqualifying reasons, small enough to pass
/// around as an error (the full verdicts stay in the [`Decision`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct NoRoute {
    pub rule_version: u32,
    /// Indexed by [`Channel::index`]; none is empty.
    pub disqualified: [ReasonSet; 4],
}

impl NoRoute {
    /// The channel's primary reason: the first of its disqualifying reasons in check order.
    pub fn reason(&self, channel: Channel) -> Option<Reason> {
        self.disqualified[channel.index()].first()
    }
}

impl fmt::Display for NoRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no channel can take the payout:")?;
        for channel in Channel::ALL {
            let separator = if channel.index() == 0 { " " } else { ", " };
            let code = self.reason(channel).map_or("unknown", Reason::code);
            write!(f, "{separator}{} {code}", channel.code())?;
        }
        write!(f, " (rules version {})", self.rule_version)
    }
}

impl std::error::Error for NoRoute {}
