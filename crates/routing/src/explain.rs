//! Sentences for people: one per channel and one summary, rendered from a [`Decision`] only
//! when asked, so the router itself never formats text.

use std::fmt;

use crate::amount::Amount;
use crate::calendar::{Calendar, DayKind};
use crate::channel::Channel;
use crate::hours::Hours;
use crate::reason::Reason;
use crate::route::{Decision, Verdict};

/// The readable side of a decision.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Explanation {
    /// E.g. "80,000.00 is over IBPS's 50,000.00 limit; HVPS is closed at 20:00; BEPS is not
    /// real time: UnionPay payout, fee 5.00".
    pub summary: String,
    /// One sentence per channel, indexed by [`Channel::index`].
    pub channels: [String; 4],
}

impl Explanation {
    pub fn channel(&self, channel: Channel) -> &str {
        &self.channels[channel.index()]
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.summary)?;
        for channel in Channel::ALL {
            writeln!(f, "  {}: {}", channel.code(), self.channel(channel))?;
        }
        Ok(())
    }
}

impl Decision {
    /// Renders the sentences; `calendar` only lends holiday names, so pass the one routed with.
    pub fn explain(&self, calendar: &Calendar) -> Explanation {
        let channels = Channel::ALL.map(|c| sentence(self, self.verdict(c), calendar));
        Explanation {
            summary: summary(self, calendar),
            channels,
        }
    }
}

fn summary(decision: &Decision, calendar: &Calendar) -> String {
    let mut phrases: Vec<String> = Vec::new();
    for verdict in decision.verdicts() {
        if verdict.reason.disqualifies() {
            let text = phrase(decision, verdict, verdict.reason, calendar);
            if !phrases.contains(&text) {
                phrases.push(text);
            }
        }
    }
    let outcome = match decision.chosen() {
        None => "no channel can take it".to_string(),
        Some(chosen) => {
            let mut text = format!("{}, fee {}", chosen.channel.name(), Amount(chosen.fee_fen));
            if let Some(date) = chosen
                .booking_date
                .filter(|d| *d != decision.payout.at.date)
            {
                text.push_str(&format!(", booked to {date}"));
            }
            let alternatives: Vec<&str> =
                decision.alternatives().iter().map(|c| c.name()).collect();
            if !alternatives.is_empty() {
                text.push_str(&format!(" (alternatives: {})", alternatives.join(", ")));
            }
            text
        }
    };
    if phrases.is_empty() {
        outcome
    } else {
        format!("{}: {outcome}", phrases.join("; "))
    }
}

/// The channel's full sentence: its primary reason, then any further disqualifying ones.
fn sentence(decision: &Decision, verdict: &Verdict, calendar: &Calendar) -> String {
    let name = verdict.channel.name();
    let fee = Amount(verdict.fee_fen);
    let mut text = match verdict.reason {
        Reason::Chosen => {
            let date = verdict
                .booking_date
                .map(|d| d.to_string())
                .unwrap_or_default();
            let tie = if decision
                .alternatives()
                .iter()
                .any(|c| decision.verdict(*c).fee_fen == verdict.fee_fen)
            {
                ", first in the preference order among those of equal fee"
            } else {
                ""
            };
            format!("{name} is chosen: the cheapest channel that can take it{tie}, fee {fee}, booking date {date}")
        }
        Reason::HigherCost => {
            let (chosen, chosen_fee) = chosen_name_fee(decision);
            format!("{name} could take it too, but its fee {fee} is higher than {chosen}'s {chosen_fee}")
        }
        Reason::LowerPreference => {
            let (chosen, _) = chosen_name_fee(decision);
            format!("{name} could take it too at the same fee {fee}, but {chosen} comes first in the preference order")
        }
        Reason::ClosedNonWorkingDay => {
            let date = decision.payout.at.date;
            let label = holiday_name(calendar, date)
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            format!(
                "{name} is closed on {} {date}{label}: it runs on working days only",
                date.weekday()
            )
        }
        Reason::ClosedOutsideHours => {
            let at = decision.payout.at;
            format!(
                "{name} is closed at {} on {} {}: {}",
                at.time,
                at.date.weekday(),
                at.date,
                hours_text(verdict.hours)
            )
        }
        Reason::ZeroAmount => format!("{name} takes no payout of 0.00: an amount must be positive"),
        Reason::NotRealTime => {
            format!("{name} settles later in net batches, and the payout must arrive in real time")
        }
        Reason::OverLimit => {
            let limit = verdict
                .limit_fen
                .map(Amount)
                .map(|a| a.to_string())
                .unwrap_or_default();
            let amount = Amount(decision.payout.amount_fen);
            format!("{amount} is over {name}'s {limit} limit per payment at this time")
        }
        other => phrase(decision, verdict, other, calendar),
    };
    let others: Vec<String> = verdict
        .disqualified
        .iter()
        .filter(|r| *r != verdict.reason)
        .map(|r| phrase(decision, verdict, r, calendar))
        .collect();
    if !others.is_empty() {
        text.push_str(&format!("; also, {}", others.join(", and ")));
    }
    text.push('.');
    text
}

/// A short clause for the summary and for secondary reasons.
fn phrase(decision: &Decision, verdict: &Verdict, reason: Reason, calendar: &Calendar) -> String {
    let name = verdict.channel.name();
    let payout = &decision.payout;
    match reason {
        Reason::Chosen | Reason::HigherCost | Reason::LowerPreference => {
            format!("{name} could take it")
        }
        Reason::ZeroAmount => "0.00 is no payout".to_string(),
        Reason::BankNotMember => format!("the beneficiary bank is not in {name}"),
        Reason::CurrencyUnsupported => format!("{name} does not carry {}", payout.currency),
        Reason::OriginNotServed => {
            let allowed: Vec<&str> = decision.origin_channels.iter().map(Channel::name).collect();
            let only = if allowed.is_empty() {
                "no channel".to_string()
            } else {
                allowed.join(" or ")
            };
            format!(
                "{name} does not take {} payouts, which go through {only}",
                payout.origin.name()
            )
        }
        Reason::ChannelDown => format!("{name} is down"),
        Reason::CalendarNotCovered => {
            let (date, next) = (payout.at.date, payout.at.date.next());
            let unknown = if calendar.covers(date) {
                next.unwrap_or(date)
            } else {
                date
            };
            format!(
                "{name} runs on working days and the calendar does not cover {}",
                unknown.year()
            )
        }
        Reason::ClosedNonWorkingDay => {
            let date = payout.at.date;
            let day = holiday_name(calendar, date)
                .map_or_else(|| date.weekday().name().to_string(), str::to_string);
            format!("{name} is closed on {day}")
        }
        Reason::ClosedOutsideHours => format!("{name} is closed at {}", payout.at.time),
        Reason::NotRealTime => format!("{name} is not real time"),
        Reason::OverLimit => {
            let limit = verdict
                .limit_fen
                .map(Amount)
                .map(|a| a.to_string())
                .unwrap_or_default();
            format!(
                "{} is over {name}'s {limit} limit",
                Amount(payout.amount_fen)
            )
        }
    }
}

fn chosen_name_fee(decision: &Decision) -> (&'static str, Amount) {
    match decision.chosen() {
        Some(v) => (v.channel.name(), Amount(v.fee_fen)),
        None => ("no channel", Amount(0)),
    }
}

fn holiday_name(calendar: &Calendar, date: crate::CivilDate) -> Option<&str> {
    calendar
        .entry(date)
        .filter(|e| e.kind == DayKind::Holiday && !e.name.is_empty())
        .map(|e| e.name.as_str())
}

fn hours_text(hours: Hours) -> String {
    match hours {
        Hours::Always => "it is open at all hours".to_string(),
        Hours::WorkingDays {
            opens,
            opens_previous_day: true,
            cut_off,
        } => {
            format!("it takes payments from {opens} the evening before a working day until {cut_off} on it")
        }
        Hours::WorkingDays {
            opens,
            opens_previous_day: false,
            cut_off,
        } => {
            format!("it takes payments from {opens} until {cut_off} on working days")
        }
    }
}
