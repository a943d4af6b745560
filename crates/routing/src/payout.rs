//! What the routing room is asked about: one payout (代付) to another bank.

use crate::channel::ChannelSet;
use crate::currency::Currency;
use crate::time::LocalDateTime;

/// Where the payout came from. The origin can restrict the channels (see `Rules::origins`):
/// ATM/POS and QR business is switched by UnionPay.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Origin {
    MobileBanking,
    Counter,
    AtmPos,
    Qr,
}

impl Origin {
    pub const ALL: [Origin; 4] = [
        Origin::MobileBanking,
        Origin::Counter,
        Origin::AtmPos,
        Origin::Qr,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            Origin::MobileBanking => "mobile_banking",
            Origin::Counter => "counter",
            Origin::AtmPos => "atm_pos",
            Origin::Qr => "qr",
        }
    }

    /// The name an explanation uses.
    pub const fn name(self) -> &'static str {
        match self {
            Origin::MobileBanking => "mobile banking",
            Origin::Counter => "counter",
            Origin::AtmPos => "ATM/POS",
            Origin::Qr => "QR",
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }

    pub fn from_code(code: &str) -> Option<Origin> {
        Origin::ALL.into_iter().find(|o| o.code() == code)
    }
}

/// One payout to route. Plain data, `Copy`, so a decision can keep the facts it was made on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Payout {
    pub amount_fen: u64,
    pub currency: Currency,
    /// The payout must arrive at once (e.g. a mobile-banking transfer marked real time).
    pub real_time: bool,
    /// When it is routed, in the books' zone (UTC+8); the caller converts its clock.
    pub at: LocalDateTime,
    pub origin: Origin,
    /// The systems the beneficiary bank takes part in.
    pub beneficiary_systems: ChannelSet,
}
