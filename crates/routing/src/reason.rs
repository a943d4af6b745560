//! Why a channel was or was not chosen: a closed set of stable codes.
//!
//! The order of the disqualifying reasons is the order the router checks them in and so the
//! order of importance: facts about the bank and the payout's kind first (no waiting fixes
//! them), then the channel's state at the instant, then the payout's own demands on it. A
//! verdict's primary reason is the first that applies.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Reason {
    /// The channel the payout takes.
    Chosen,
    /// Could take it, but costs more than the chosen channel.
    HigherCost,
    /// Could take it at the chosen channel's fee, but comes later in the preference order.
    LowerPreference,
    /// An amount of zero is no payout; every channel refuses it.
    ZeroAmount,
    /// The beneficiary bank does not take part in this system.
    BankNotMember,
    /// The channel does not carry the payout's currency.
    CurrencyUnsupported,
    /// The rules do not let payouts of this origin use the channel (ATM/POS and QR go by UnionPay).
    OriginNotServed,
    /// The channel is down at the instant (a health input).
    ChannelDown,
    /// The channel's hours depend on a working day the calendar does not cover.
    CalendarNotCovered,
    /// The channel runs on working days only and the instant is in no working day's session.
    ClosedNonWorkingDay,
    /// The instant belongs to a working day but falls outside the channel's hours.
    ClosedOutsideHours,
    /// The payout must arrive in real time and the channel settles later (net batches).
    NotRealTime,
    /// The amount is over the channel's per-payment limit at the instant.
    OverLimit,
}

impl Reason {
    pub const ALL: [Reason; 13] = [
        Reason::Chosen,
        Reason::HigherCost,
        Reason::LowerPreference,
        Reason::ZeroAmount,
        Reason::BankNotMember,
        Reason::CurrencyUnsupported,
        Reason::OriginNotServed,
        Reason::ChannelDown,
        Reason::CalendarNotCovered,
        Reason::ClosedNonWorkingDay,
        Reason::ClosedOutsideHours,
        Reason::NotRealTime,
        Reason::OverLimit,
    ];

    /// The stable snake_case name the API, the logs and recorded decisions use.
    pub const fn code(self) -> &'static str {
        match self {
            Reason::Chosen => "chosen",
            Reason::HigherCost => "higher_cost",
            Reason::LowerPreference => "lower_preference",
            Reason::ZeroAmount => "zero_amount",
            Reason::BankNotMember => "bank_not_member",
            Reason::CurrencyUnsupported => "currency_unsupported",
            Reason::OriginNotServed => "origin_not_served",
            Reason::ChannelDown => "channel_down",
            Reason::CalendarNotCovered => "calendar_not_covered",
            Reason::ClosedNonWorkingDay => "closed_non_working_day",
            Reason::ClosedOutsideHours => "closed_outside_hours",
            Reason::NotRealTime => "not_real_time",
            Reason::OverLimit => "over_limit",
        }
    }

    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Whether the reason keeps the channel from taking the payout (all but the three that
    /// describe an eligible channel).
    pub const fn disqualifies(self) -> bool {
        !matches!(
            self,
            Reason::Chosen | Reason::HigherCost | Reason::LowerPreference
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Every disqualifying reason found for one channel, as bits in [`Reason`]'s order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ReasonSet(u16);

impl ReasonSet {
    pub const EMPTY: ReasonSet = ReasonSet(0);

    pub const fn with(self, reason: Reason) -> ReasonSet {
        ReasonSet(self.0 | 1 << reason as u16)
    }

    pub const fn contains(self, reason: Reason) -> bool {
        self.0 & (1 << reason as u16) != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The most important reason in the set: the first in check order.
    pub fn first(self) -> Option<Reason> {
        self.iter().next()
    }

    pub fn iter(self) -> impl Iterator<Item = Reason> {
        Reason::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl fmt::Debug for ReasonSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Reason::code))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        for (i, reason) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(
                reason as usize, i,
                "ALL lists the reasons in declaration order"
            );
            let code = reason.code();
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
            assert_eq!(Reason::from_code(code), Some(reason));
        }
    }

    #[test]
    fn first_reason_follows_check_order() {
        let set = ReasonSet::EMPTY
            .with(Reason::OverLimit)
            .with(Reason::ChannelDown);
        assert_eq!(set.first(), Some(Reason::ChannelDown));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [Reason::ChannelDown, Reason::OverLimit]
        );
        assert_eq!(ReasonSet::EMPTY.first(), None);
    }
}
