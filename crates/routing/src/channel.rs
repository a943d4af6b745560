//! The four interbank channels a payout can take, sets of them (a bank's memberships, the
//! channels an origin may use) and their health at the instant of routing.

use std::fmt;

/// An interbank channel. The codes are stable: the API, the logs and recorded decisions use them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Channel {
    /// 大额实时支付系统: large-value real-time gross settlement, working-day hours.
    Hvps,
    /// 小额批量支付系统: small-value batches, netted, 7×24.
    Beps,
    /// 网上支付跨行清算系统 ("super e-bank"): online real-time interbank, 7×24.
    Ibps,
    /// 银联代付: UnionPay's real-time payout, cleared through UnionPay.
    UnionPayPayout,
}

impl Channel {
    /// Every channel, in the order of their indices.
    pub const ALL: [Channel; 4] = [
        Channel::Hvps,
        Channel::Beps,
        Channel::Ibps,
        Channel::UnionPayPayout,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            Channel::Hvps => "hvps",
            Channel::Beps => "beps",
            Channel::Ibps => "ibps",
            Channel::UnionPayPayout => "unionpay_payout",
        }
    }

    /// The name an explanation uses.
    pub const fn name(self) -> &'static str {
        match self {
            Channel::Hvps => "HVPS",
            Channel::Beps => "BEPS",
            Channel::Ibps => "IBPS",
            Channel::UnionPayPayout => "UnionPay payout",
        }
    }

    /// 0..4: the position of this channel in [`Channel::ALL`] and in per-channel arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    pub fn from_code(code: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.code() == code)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A set of channels, as four bits: cheap to copy into every decision.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChannelSet(u8);

impl ChannelSet {
    pub const EMPTY: ChannelSet = ChannelSet(0);
    pub const ALL: ChannelSet = ChannelSet(0b1111);

    pub const fn of(channels: &[Channel]) -> ChannelSet {
        let mut bits = 0u8;
        let mut i = 0;
        while i < channels.len() {
            bits |= 1 << channels[i].index();
            i += 1;
        }
        ChannelSet(bits)
    }

    /// The set whose members are the low four bits of `bits` (bit i is `Channel::ALL[i]`).
    pub const fn from_bits(bits: u8) -> ChannelSet {
        ChannelSet(bits & 0b1111)
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn contains(self, channel: Channel) -> bool {
        self.0 & (1 << channel.index()) != 0
    }

    pub const fn with(self, channel: Channel) -> ChannelSet {
        ChannelSet(self.0 | 1 << channel.index())
    }

    pub const fn without(self, channel: Channel) -> ChannelSet {
        ChannelSet(self.0 & !(1 << channel.index()))
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Channel> {
        Channel::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

impl fmt::Debug for ChannelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Channel::code))
            .finish()
    }
}

/// Which channels are up at the instant of routing: an input, never a guess, because the room
/// does no I/O. A channel not marked down is up.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Health {
    down: ChannelSet,
}

impl Health {
    pub const ALL_UP: Health = Health {
        down: ChannelSet::EMPTY,
    };

    pub const fn with_down(self, channel: Channel) -> Health {
        Health {
            down: self.down.with(channel),
        }
    }

    pub const fn with_up(self, channel: Channel) -> Health {
        Health {
            down: self.down.without(channel),
        }
    }

    /// Health with exactly the channels of `down` down.
    pub const fn down(down: ChannelSet) -> Health {
        Health { down }
    }

    pub const fn is_up(self, channel: Channel) -> bool {
        !self.down.contains(channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_round_trip() {
        let codes: Vec<&str> = Channel::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(codes, ["hvps", "beps", "ibps", "unionpay_payout"]);
        for channel in Channel::ALL {
            assert_eq!(Channel::from_code(channel.code()), Some(channel));
            assert_eq!(Channel::ALL[channel.index()], channel);
        }
        assert_eq!(Channel::from_code("HVPS"), None);
    }

    #[test]
    fn sets_hold_what_was_put_in() {
        let set = ChannelSet::of(&[Channel::Beps, Channel::UnionPayPayout]);
        assert!(set.contains(Channel::Beps) && set.contains(Channel::UnionPayPayout));
        assert!(!set.contains(Channel::Hvps) && !set.contains(Channel::Ibps));
        assert_eq!(
            set.without(Channel::Beps).iter().collect::<Vec<_>>(),
            [Channel::UnionPayPayout]
        );
        assert_eq!(ChannelSet::from_bits(0xff), ChannelSet::ALL);
        let health = Health::ALL_UP.with_down(Channel::Ibps);
        assert!(!health.is_up(Channel::Ibps) && health.is_up(Channel::Hvps));
        assert!(health.with_up(Channel::Ibps).is_up(Channel::Ibps));
    }
}
