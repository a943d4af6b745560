//! Every way the consent room refuses, each with a stable snake_case code (docs/api-errors.md
//! lists them with their HTTP status; the `api` room maps each exhaustively).

use std::fmt;

use suanpan_store::StoreError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsentError {
    /// A field of a request is wrong: the field and what is wrong with it.
    Invalid(&'static str, String),
    /// No such consent, or one the caller may not see (the two answer alike).
    NotFound,
    /// The same request id again with other fields.
    Conflict,
    /// The participant is not registered as a third party.
    NotThirdParty,
    /// The bank named in the request is not a participant.
    BankUnknown,
    /// The bank authorising names an account that is not its own.
    AccountNotOwned(u128),
    /// The consent is not in a state that allows this change.
    StateConflict {
        state: &'static str,
        action: &'static str,
    },
    /// Reads under a consent not (yet, or any more) valid.
    Pending,
    Rejected,
    Expired,
    Revoked,
    Terminated,
    Replaced,
    /// An account or a kind of data the consent does not cover.
    AccountNotConsented,
    DataNotConsented,
    /// Transactions asked for outside the consented date range.
    RangeNotConsented,
    /// An unattended read beyond the day's limit for this account.
    ReadsPerDayExceeded {
        limit: u8,
    },
    /// One-time codes on the consent page.
    CodeNotIssued,
    CodeInvalid {
        attempts_left: u8,
    },
    CodeExpired,
    CodeAttemptsExceeded,
    /// The store's queue is full (back-pressure).
    Overloaded,
    /// The store failed: nothing was answered as done.
    Store(String),
}

impl ConsentError {
    /// Every code, for the documentation check.
    pub const CODES: [&'static str; 23] = [
        "invalid_value",
        "consent_not_found",
        "consent_conflict",
        "not_third_party",
        "bank_unknown",
        "account_not_owned",
        "consent_state_conflict",
        "consent_pending",
        "consent_rejected",
        "consent_expired",
        "consent_revoked",
        "consent_terminated",
        "consent_replaced",
        "account_not_consented",
        "data_not_consented",
        "range_not_consented",
        "reads_per_day_exceeded",
        "code_not_issued",
        "code_invalid",
        "code_expired",
        "code_attempts_exceeded",
        "overloaded",
        "internal",
    ];

    pub fn code(&self) -> &'static str {
        match self {
            ConsentError::Invalid(..) => "invalid_value",
            ConsentError::NotFound => "consent_not_found",
            ConsentError::Conflict => "consent_conflict",
            ConsentError::NotThirdParty => "not_third_party",
            ConsentError::BankUnknown => "bank_unknown",
            ConsentError::AccountNotOwned(_) => "account_not_owned",
            ConsentError::StateConflict { .. } => "consent_state_conflict",
            ConsentError::Pending => "consent_pending",
            ConsentError::Rejected => "consent_rejected",
            ConsentError::Expired => "consent_expired",
            ConsentError::Revoked => "consent_revoked",
            ConsentError::Terminated => "consent_terminated",
            ConsentError::Replaced => "consent_replaced",
            ConsentError::AccountNotConsented => "account_not_consented",
            ConsentError::DataNotConsented => "data_not_consented",
            ConsentError::RangeNotConsented => "range_not_consented",
            ConsentError::ReadsPerDayExceeded { .. } => "reads_per_day_exceeded",
            ConsentError::CodeNotIssued => "code_not_issued",
            ConsentError::CodeInvalid { .. } => "code_invalid",
            ConsentError::CodeExpired => "code_expired",
            ConsentError::CodeAttemptsExceeded => "code_attempts_exceeded",
            ConsentError::Overloaded => "overloaded",
            ConsentError::Store(_) => "internal",
        }
    }
}

impl fmt::Display for ConsentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsentError::Invalid(field, why) => write!(f, "{field}: {why}"),
            ConsentError::NotFound => f.write_str("no such consent"),
            ConsentError::Conflict => {
                f.write_str("this request_id was used already with other fields")
            }
            ConsentError::NotThirdParty => {
                f.write_str("only a participant registered as a third party may do this")
            }
            ConsentError::BankUnknown => f.write_str("the bank named is not a participant"),
            ConsentError::AccountNotOwned(id) => {
                write!(f, "account {id} is not one of this bank's accounts")
            }
            ConsentError::StateConflict { state, action } => {
                write!(f, "a consent that is {state} cannot be {action}")
            }
            ConsentError::Pending => f.write_str("the customer has not authorised this consent yet"),
            ConsentError::Rejected => f.write_str("the customer rejected this consent"),
            ConsentError::Expired => f.write_str("this consent has expired"),
            ConsentError::Revoked => f.write_str("the customer revoked this consent"),
            ConsentError::Terminated => f.write_str("the third party terminated this consent"),
            ConsentError::Replaced => {
                f.write_str("a newer recurring consent of the customer replaced this one")
            }
            ConsentError::AccountNotConsented => {
                f.write_str("the consent does not cover this account")
            }
            ConsentError::DataNotConsented => {
                f.write_str("the consent does not cover this kind of data")
            }
            ConsentError::RangeNotConsented => {
                f.write_str("the consent does not cover transactions of these dates")
            }
            ConsentError::ReadsPerDayExceeded { limit } => write!(
                f,
                "{limit} unattended reads of this account today already; more need the customer present"
            ),
            ConsentError::CodeNotIssued => {
                f.write_str("the bank has not issued a one-time code for this consent")
            }
            ConsentError::CodeInvalid { attempts_left } => {
                write!(f, "wrong code; {attempts_left} attempts left")
            }
            ConsentError::CodeExpired => f.write_str("the one-time code has expired; ask the bank for a new one"),
            ConsentError::CodeAttemptsExceeded => {
                f.write_str("too many wrong codes; ask the bank for a new one")
            }
            ConsentError::Overloaded => f.write_str("the consent store is busy; retry shortly"),
            ConsentError::Store(why) => write!(f, "consent store: {why}"),
        }
    }
}

impl std::error::Error for ConsentError {}

impl From<StoreError> for ConsentError {
    fn from(e: StoreError) -> ConsentError {
        match e {
            StoreError::Overloaded => ConsentError::Overloaded,
            StoreError::Failed(why) | StoreError::Fenced(why) => ConsentError::Store(why),
        }
    }
}
