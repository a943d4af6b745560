//! The routing rules as data: each channel's hours, limits, speed, fee and currencies, the
//! preference order that breaks fee ties, and which channels each origin may use.
//!
//! `Rules::default()` carries DOMAIN.md's figures where sources give them. Where they do not
//! (every fee, UnionPay payout's limit), the default is a placeholder that the operator must
//! replace with the figures of its own contracts; each is marked so below.

use std::fmt;

use crate::channel::{Channel, ChannelSet};
use crate::currency::Currency;
use crate::hours::Hours;
use crate::payout::Origin;

/// 50,000.00 CNY: BEPS's working-day credit-transfer limit and IBPS's per-payment limit.
pub const FIFTY_THOUSAND_YUAN_FEN: u64 = 5_000_000;

/// A per-payment limit that may differ between working and non-working days. `None` is no cap.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Limit {
    pub working_day_fen: Option<u64>,
    pub non_working_day_fen: Option<u64>,
}

impl Limit {
    pub const NONE: Limit = Limit {
        working_day_fen: None,
        non_working_day_fen: None,
    };

    /// The same limit every day.
    pub const fn every_day(limit_fen: u64) -> Limit {
        Limit {
            working_day_fen: Some(limit_fen),
            non_working_day_fen: Some(limit_fen),
        }
    }

    /// The limit on a day that is (`Some(true)`) or is not a working day; when the calendar
    /// does not know (`None`), the lower of the two, so that not knowing never raises a limit.
    pub fn on(&self, working_day: Option<bool>) -> Option<u64> {
        match working_day {
            Some(true) => self.working_day_fen,
            Some(false) => self.non_working_day_fen,
            None => match (self.working_day_fen, self.non_working_day_fen) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }
}

/// A channel's fee for one payout: a flat part plus basis points of the amount, rounded half
/// up to the fen.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Fee {
    pub flat_fen: u64,
    pub basis_points: u32,
}

impl Fee {
    pub const fn flat(flat_fen: u64) -> Fee {
        Fee {
            flat_fen,
            basis_points: 0,
        }
    }

    pub fn for_amount(&self, amount_fen: u64) -> u64 {
        let proportional =
            (u128::from(amount_fen) * u128::from(self.basis_points) + 5_000) / 10_000;
        let total = u128::from(self.flat_fen) + proportional;
        // Only absurd configurations reach u64::MAX; saturating keeps them the most expensive.
        u64::try_from(total).unwrap_or(u64::MAX)
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChannelRules {
    pub hours: Hours,
    pub limit: Limit,
    /// Settles each payment at once (HVPS gross, IBPS, UnionPay) rather than in net batches.
    pub real_time: bool,
    pub fee: Fee,
    pub currencies: Vec<Currency>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Rules {
    /// Recorded in every decision, so a payout says which rules routed it. Bump it on any change.
    pub version: u32,
    /// Indexed by [`Channel::index`].
    pub channels: [ChannelRules; 4],
    /// Breaks ties between eligible channels of equal fee: earlier is better.
    pub preference: [Channel; 4],
    /// Indexed by [`Origin::index`]: the channels payouts of that origin may use.
    pub origins: [ChannelSet; 4],
}

impl Rules {
    pub fn channel(&self, channel: Channel) -> &ChannelRules {
        &self.channels[channel.index()]
    }

    pub fn channel_mut(&mut self, channel: Channel) -> &mut ChannelRules {
        &mut self.channels[channel.index()]
    }

    pub fn origin_channels(&self, origin: Origin) -> ChannelSet {
        self.origins[origin.index()]
    }

    /// 0 for the most preferred. A channel missing from a malformed order ranks after the
    /// listed ones rather than panicking; [`Rules::validate`] reports such an order.
    pub fn preference_rank(&self, channel: Channel) -> usize {
        self.preference
            .iter()
            .position(|c| *c == channel)
            .unwrap_or(self.preference.len() + channel.index())
    }

    /// Finds configurations that route nothing or route unpredictably; routing itself copes
    /// with any `Rules` without panicking, so this is for the operator loading a config.
    pub fn validate(&self) -> Result<(), RulesError> {
        if let Some(missing) = Channel::ALL
            .into_iter()
            .find(|c| !self.preference.contains(c))
        {
            return Err(RulesError::PreferenceMissing(missing));
        }
        for channel in Channel::ALL {
            let rules = self.channel(channel);
            if let Hours::WorkingDays {
                opens,
                opens_previous_day,
                cut_off,
            } = rules.hours
            {
                let sensible = if opens_previous_day {
                    opens > cut_off
                } else {
                    opens < cut_off
                };
                if !sensible {
                    return Err(RulesError::HoursNeverOrTwiceOpen(channel));
                }
            }
            if rules.currencies.is_empty() {
                return Err(RulesError::NoCurrency(channel));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RulesError {
    PreferenceMissing(Channel),
    HoursNeverOrTwiceOpen(Channel),
    NoCurrency(Channel),
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RulesError::PreferenceMissing(c) => {
                write!(f, "the preference order does not list {}", c.code())
            }
            RulesError::HoursNeverOrTwiceOpen(c) => write!(
                f,
                "{}'s hours open after they close on the same day, or before the cut-off on the previous day",
                c.code()
            ),
            RulesError::NoCurrency(c) => write!(f, "{} carries no currency", c.code()),
        }
    }
}

impl std::error::Error for RulesError {}

impl Default for Rules {
    /// DOMAIN.md's figures; fees and UnionPay payout's limit are placeholders (not found in
    /// any source) chosen only to order the channels as the seed describes.
    fn default() -> Rules {
        let cny = vec![Currency::CNY];
        let hvps = ChannelRules {
            hours: Hours::HVPS,
            limit: Limit::NONE,
            real_time: true,
            // Placeholder: the seed only says HVPS is expensive, so it is the dearest default.
            fee: Fee::flat(2_000),
            currencies: cny.clone(),
        };
        let beps = ChannelRules {
            hours: Hours::Always,
            // 50,000.00 on working days; 1,000,000.00 on holidays (raised from 500,000.00).
            limit: Limit {
                working_day_fen: Some(FIFTY_THOUSAND_YUAN_FEN),
                non_working_day_fen: Some(100_000_000),
            },
            real_time: false,
            // Placeholder: netted batches are the cheapest rail.
            fee: Fee::flat(50),
            currencies: cny.clone(),
        };
        let ibps = ChannelRules {
            hours: Hours::Always,
            // 50,000.00 at launch (2010); higher figures today are unverified.
            limit: Limit::every_day(FIFTY_THOUSAND_YUAN_FEN),
            real_time: true,
            // Placeholder.
            fee: Fee::flat(100),
            currencies: cny.clone(),
        };
        let unionpay_payout = ChannelRules {
            hours: Hours::Always,
            // Placeholder: UnionPay payout's limit is not found; above IBPS's, as the seed implies.
            limit: Limit::every_day(20_000_000),
            real_time: true,
            // Placeholder: dearer than IBPS, cheaper than HVPS, as the seed implies.
            fee: Fee::flat(500),
            currencies: cny,
        };
        let unionpay_only = ChannelSet::of(&[Channel::UnionPayPayout]);
        Rules {
            version: 1,
            channels: [hvps, beps, ibps, unionpay_payout],
            // Netting first (least liquidity), then the PBOC's real-time rail, then UnionPay;
            // HVPS last because gross settlement draws the most liquidity per payment.
            preference: [
                Channel::Beps,
                Channel::Ibps,
                Channel::UnionPayPayout,
                Channel::Hvps,
            ],
            // Mobile banking and the counter may use any channel; ATM/POS and QR are UnionPay's.
            origins: [
                ChannelSet::ALL,
                ChannelSet::ALL,
                unionpay_only,
                unionpay_only,
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_are_valid_and_carry_domain_figures() {
        let rules = Rules::default();
        assert_eq!(rules.validate(), Ok(()));
        assert_eq!(
            rules.channel(Channel::Ibps).limit.on(Some(true)),
            Some(5_000_000)
        );
        assert_eq!(
            rules.channel(Channel::Beps).limit.on(Some(true)),
            Some(5_000_000)
        );
        assert_eq!(
            rules.channel(Channel::Beps).limit.on(Some(false)),
            Some(100_000_000)
        );
        assert_eq!(rules.channel(Channel::Beps).limit.on(None), Some(5_000_000));
        assert_eq!(rules.channel(Channel::Hvps).limit.on(Some(true)), None);
        assert!(!rules.channel(Channel::Beps).real_time);
        assert_eq!(rules.channel(Channel::Hvps).hours, Hours::HVPS);
    }

    #[test]
    fn fees_round_half_up_and_saturate() {
        let fee = Fee {
            flat_fen: 100,
            basis_points: 5,
        };
        assert_eq!(fee.for_amount(9_999), 105); // 4.9995 fen rounds to 5
        assert_eq!(fee.for_amount(8_999), 104); // 4.4995 fen rounds to 4
        assert_eq!(
            Fee {
                flat_fen: u64::MAX,
                basis_points: u32::MAX
            }
            .for_amount(u64::MAX),
            u64::MAX
        );
    }

    #[test]
    fn malformed_rules_are_reported_not_panicked_on() {
        let rules = Rules {
            preference: [Channel::Beps; 4],
            ..Rules::default()
        };
        assert_eq!(
            rules.validate(),
            Err(RulesError::PreferenceMissing(Channel::Hvps))
        );
        assert_eq!(
            rules.preference_rank(Channel::Ibps),
            4 + Channel::Ibps.index()
        );
        let mut rules = Rules::default();
        rules.channel_mut(Channel::Hvps).hours = Hours::WorkingDays {
            opens: crate::TimeOfDay::MIDNIGHT,
            opens_previous_day: true,
            cut_off: crate::TimeOfDay::MIDNIGHT,
        };
        assert_eq!(
            rules.validate(),
            Err(RulesError::HoursNeverOrTwiceOpen(Channel::Hvps))
        );
    }
}
