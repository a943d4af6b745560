//! A consent: a third party's permission, given by a customer through the bank that keeps
//! the customer's accounts, to read named accounts, which data, until when, how often.

use crate::code::OneTimeCode;
use crate::day::Day;
use crate::error::ConsentError;

/// At most this many days from the request to `valid_until` (PSD2's renewal period).
pub const VALIDITY_DAYS_MAX: i32 = 180;
/// At most this many unattended reads of one account a day (PSD2 RTS Art. 36(5)).
pub const READS_PER_DAY_MAX: u8 = 4;
/// Accounts one consent may name.
pub const ACCOUNTS_MAX: usize = 20;
/// The widest date range of transactions one consent may grant.
pub const TRANSACTION_RANGE_DAYS_MAX: i32 = 730;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConsentState {
    /// Asked for by the third party, not yet answered by the customer.
    Requested,
    Authorised,
    Rejected,
    RevokedByCustomer,
    /// Past its last valid day (recorded when first seen).
    Expired,
    TerminatedByThirdParty,
    /// A newer recurring consent of the same customer and third party was authorised.
    Replaced,
}

impl ConsentState {
    pub const ALL: [ConsentState; 7] = [
        ConsentState::Requested,
        ConsentState::Authorised,
        ConsentState::Rejected,
        ConsentState::RevokedByCustomer,
        ConsentState::Expired,
        ConsentState::TerminatedByThirdParty,
        ConsentState::Replaced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsentState::Requested => "requested",
            ConsentState::Authorised => "authorised",
            ConsentState::Rejected => "rejected",
            ConsentState::RevokedByCustomer => "revoked_by_customer",
            ConsentState::Expired => "expired",
            ConsentState::TerminatedByThirdParty => "terminated_by_third_party",
            ConsentState::Replaced => "replaced",
        }
    }

    pub fn parse(text: &str) -> Option<ConsentState> {
        ConsentState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Nothing leaves a final state.
    pub fn is_final(self) -> bool {
        !matches!(self, ConsentState::Requested | ConsentState::Authorised)
    }

    /// Why a read under a consent in this state is refused (`None`: it is not).
    pub fn read_refusal(self) -> Option<ConsentError> {
        match self {
            ConsentState::Authorised => None,
            ConsentState::Requested => Some(ConsentError::Pending),
            ConsentState::Rejected => Some(ConsentError::Rejected),
            ConsentState::RevokedByCustomer => Some(ConsentError::Revoked),
            ConsentState::Expired => Some(ConsentError::Expired),
            ConsentState::TerminatedByThirdParty => Some(ConsentError::Terminated),
            ConsentState::Replaced => Some(ConsentError::Replaced),
        }
    }
}

/// A participant as a consent names it: its code and the owner number of its accounts.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Party {
    pub code: String,
    pub owner: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DataKind {
    Balances,
    Transactions,
}

impl DataKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DataKind::Balances => "balances",
            DataKind::Transactions => "transactions",
        }
    }
}

/// Which data a consent grants.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Access {
    pub balances: bool,
    /// Transactions booked on these Shanghai days, both included.
    pub transactions: Option<(Day, Day)>,
}

impl Access {
    pub fn describe(&self) -> String {
        match (self.balances, self.transactions) {
            (true, None) => "balances".into(),
            (false, Some((from, to))) => format!("transactions {from}..{to}"),
            (true, Some((from, to))) => format!("balances, transactions {from}..{to}"),
            (false, None) => "nothing".into(),
        }
    }
}

/// What a third party asks for. Two requests with the same id and third party are the same
/// request only if every field is equal.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ConsentRequest {
    /// The third party's own id for this request (idempotency).
    pub request_id: String,
    pub third_party: Party,
    pub bank: Party,
    /// The bank's reference of its customer.
    pub customer: String,
    pub accounts: Vec<u128>,
    pub access: Access,
    /// The last day on which reads are allowed.
    pub valid_until: Day,
    /// Unattended reads of each account a day.
    pub frequency_per_day: u8,
    /// One-off consents allow reads only on the day they are authorised.
    pub recurring: bool,
}

fn token_ok(text: &str, max: usize, extra: &[u8]) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

impl ConsentRequest {
    /// Refuses a request no consent could come of, naming the field.
    pub fn validate(&self, today: Day) -> Result<(), ConsentError> {
        let invalid = |field, why: &str| Err(ConsentError::Invalid(field, why.into()));
        if !token_ok(&self.request_id, 64, b"-_") {
            return invalid("request_id", "must be 1 to 64 of A-Z a-z 0-9 - _");
        }
        if !token_ok(&self.customer, 64, b"-_.") {
            return invalid("customer", "must be 1 to 64 of A-Z a-z 0-9 - _ .");
        }
        if self.accounts.is_empty() || self.accounts.len() > ACCOUNTS_MAX {
            return invalid("accounts", "must name 1 to 20 accounts");
        }
        let mut seen = self.accounts.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != self.accounts.len() {
            return invalid("accounts", "names an account twice");
        }
        if !self.access.balances && self.access.transactions.is_none() {
            return invalid("access", "must grant balances, transactions or both");
        }
        if let Some((from, to)) = self.access.transactions {
            if from > to || to.0 - from.0 > TRANSACTION_RANGE_DAYS_MAX {
                return invalid(
                    "access.transactions",
                    "from must not be after to, and the range at most 730 days",
                );
            }
        }
        if self.valid_until < today || self.valid_until.0 - today.0 > VALIDITY_DAYS_MAX {
            return invalid(
                "valid_until",
                "must be from today to 180 days ahead (Asia/Shanghai)",
            );
        }
        if self.frequency_per_day == 0 || self.frequency_per_day > READS_PER_DAY_MAX {
            return invalid("frequency_per_day", "must be 1 to 4");
        }
        if !self.recurring && self.frequency_per_day != 1 {
            return invalid("frequency_per_day", "a one-off consent allows 1 read a day");
        }
        if self.third_party.owner == self.bank.owner {
            return invalid("bank", "a third party cannot ask itself for consent");
        }
        Ok(())
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Consent {
    /// Random, unguessable: the consent page's address carries it.
    pub id: String,
    pub request: ConsentRequest,
    pub state: ConsentState,
    pub created_ns: u64,
    pub changed_ns: u64,
    pub authorised_day: Option<Day>,
    /// The one-time code the bank issued for the consent page, if any is live.
    pub code: Option<OneTimeCode>,
}

impl Consent {
    /// The last day reads are allowed: `valid_until`, and for a one-off consent no later
    /// than the day it was authorised.
    pub fn last_day(&self) -> Day {
        match (self.request.recurring, self.authorised_day) {
            (false, Some(day)) => day.min(self.request.valid_until),
            _ => self.request.valid_until,
        }
    }

    /// The state as of `now_ns`: a live consent past its last day is expired.
    pub fn state_at(&self, now_ns: u64) -> ConsentState {
        if !self.state.is_final() && Day::of_ns(now_ns) > self.last_day() {
            ConsentState::Expired
        } else {
            self.state
        }
    }

    /// Whether `owner` is one of the consent's two parties (only they may see it).
    pub fn is_party(&self, owner: u64) -> bool {
        self.request.third_party.owner == owner || self.request.bank.owner == owner
    }
}
