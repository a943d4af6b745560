//! Every way the payouts room refuses, with a stable snake_case code (docs/api-errors.md).

use std::fmt;

use suanpan_store::StoreError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayoutError {
    /// A field is wrong: the field and why.
    Invalid(&'static str, String),
    /// A routing calendar or channel rules that are well formed but cannot be used (a date
    /// listed twice, a year not declared, a session that closes before it opens): the part
    /// and why.
    RoutingRefused(&'static str, String),
    /// No such payout, or not this participant's.
    NotFound,
    /// The same payout id again with other fields.
    Conflict,
    /// The debit account is not the caller's (answered as absent).
    AccountNotFound,
    /// The ledger refused the hold (e.g. `exceeds_credits`: not enough money).
    Refused(&'static str),
    /// No channel can take it now: every channel's reason is in the payout.
    NoRoute(String),
    /// A return recorded for a payout that is not settled.
    NotSettled,
    /// The QR payment would pass the customer's daily cap.
    QrDailyCapExceeded { cap_fen: u64, spent_fen: u64 },
    /// The ledger or store is busy: retry shortly.
    Overloaded,
    /// The engine or the store failed; nothing was answered as done.
    System(String),
}

impl PayoutError {
    pub const CODES: [&'static str; 11] = [
        "invalid_value",
        "routing_refused",
        "payout_not_found",
        "payout_conflict",
        "account_not_found",
        "no_route",
        "payout_not_settled",
        "qr_daily_cap_exceeded",
        "overloaded",
        "internal",
        "<ledger result code>",
    ];

    pub fn code(&self) -> &'static str {
        match self {
            PayoutError::Invalid(..) => "invalid_value",
            PayoutError::RoutingRefused(..) => "routing_refused",
            PayoutError::NotFound => "payout_not_found",
            PayoutError::Conflict => "payout_conflict",
            PayoutError::AccountNotFound => "account_not_found",
            PayoutError::Refused(code) => code,
            PayoutError::NoRoute(_) => "no_route",
            PayoutError::NotSettled => "payout_not_settled",
            PayoutError::QrDailyCapExceeded { .. } => "qr_daily_cap_exceeded",
            PayoutError::Overloaded => "overloaded",
            PayoutError::System(_) => "internal",
        }
    }
}

impl fmt::Display for PayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayoutError::Invalid(field, why) | PayoutError::RoutingRefused(field, why) => {
                write!(f, "{field}: {why}")
            }
            PayoutError::NotFound => f.write_str("no such payout"),
            PayoutError::Conflict => f.write_str("this payout id was used with other fields"),
            PayoutError::AccountNotFound => f.write_str("this participant has no such account"),
            PayoutError::Refused(code) => write!(f, "the ledger refused the payout: {code}"),
            PayoutError::NoRoute(why) => write!(f, "no channel can take this payout: {why}"),
            PayoutError::NotSettled => f.write_str("only a settled payout can be returned"),
            PayoutError::QrDailyCapExceeded { cap_fen, spent_fen } => write!(
                f,
                "the customer's QR payments today would pass the daily cap of {cap_fen} fen ({spent_fen} fen spent)"
            ),
            PayoutError::Overloaded => f.write_str("busy; retry shortly"),
            PayoutError::System(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for PayoutError {}

impl From<StoreError> for PayoutError {
    fn from(e: StoreError) -> PayoutError {
        match e {
            StoreError::Overloaded => PayoutError::Overloaded,
            StoreError::Failed(why) | StoreError::Fenced(why) => {
                PayoutError::System(format!("payouts store: {why}"))
            }
        }
    }
}
