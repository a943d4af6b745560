//! The JSON bodies of the API, in and out. Their schemas in the OpenAPI document are derived
//! from these very types, so the document cannot drift from what the server reads and writes.
//!
//! Ids and amounts travel as strings of decimal digits: ids are 128-bit and amounts 64-bit,
//! beyond what a JSON number carries exactly in most clients. Every request body refuses
//! unknown fields, so a misspelt field is an error rather than a silently ignored one.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Marks a custom deserialisation error with its API error code (see `body.rs`).
pub const INVALID_ID: &str = "invalid_id: ";
pub const INVALID_AMOUNT: &str = "invalid_amount: ";

/// A 128-bit id as a decimal string; zero is not an id.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Id(pub u128);

/// An amount of minor units (fen, cents) as a decimal string.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Amount(pub u64);

/// A running total of minor units (up to 128 bits), as a decimal string.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Total(pub u128);

/// A signed balance of minor units as a decimal string (`-` for the other side).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Balance(pub i128);

/// An instant: RFC 3339 in UTC with nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Time(pub u64);

fn decimal_text(text: &str, max_digits: usize) -> Option<u128> {
    if text.is_empty() || text.len() > max_digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

pub fn parse_id(text: &str) -> Option<u128> {
    decimal_text(text, 39).filter(|&id| id != 0)
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id: a string of 1 to 39 decimal digits, not zero")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Id, E> {
                parse_id(s).map(Id).ok_or_else(|| {
                    E::custom(format!(
                        "{INVALID_ID}{s:?} is not an id (1 to 39 decimal digits, below 2^128, not zero)"
                    ))
                })
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Amount, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an amount: a string of decimal digits (minor units)")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Amount, E> {
                decimal_text(s, 20)
                    .and_then(|v| u64::try_from(v).ok())
                    .map(Amount)
                    .ok_or_else(|| {
                        E::custom(format!(
                            "{INVALID_AMOUNT}{s:?} is not an amount of minor units (decimal digits, at most 18446744073709551615)"
                        ))
                    })
            }
        }
        d.deserialize_str(V)
    }
}

macro_rules! serialize_display {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }
    )*};
}
serialize_display!(Id, Amount, Total, Balance);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::time::format_ns(self.0))
    }
}

macro_rules! string_schema {
    ($t:ty, $name:literal, $pattern:literal, $max_chars:literal, $description:literal) => {
        impl JsonSchema for $t {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "maxLength": $max_chars,
                    "description": $description,
                })
            }
        }
    };
}
string_schema!(
    Id,
    "Id",
    "^0*[1-9][0-9]{0,37}$",
    39,
    "A 128-bit id in decimal, chosen by the client; zero is not an id."
);
string_schema!(
    Amount,
    "Amount",
    // Exactly 0 to 18446744073709551615 (2^64 - 1), digit by digit.
    "^0*([0-9]{1,19}|1[0-7][0-9]{18}|18[0-3][0-9]{17}|184[0-3][0-9]{16}|1844[0-5][0-9]{15}|18446[0-6][0-9]{14}|184467[0-3][0-9]{13}|1844674[0-3][0-9]{12}|184467440[0-6][0-9]{10}|1844674407[0-2][0-9]{9}|18446744073[0-6][0-9]{8}|1844674407370[0-8][0-9]{6}|18446744073709[0-4][0-9]{5}|184467440737095[0-4][0-9]{4}|18446744073709550[0-9]{3}|18446744073709551[0-5][0-9]{2}|1844674407370955160[0-9]|1844674407370955161[0-5])$",
    20,
    "Minor units (fen, cents) in decimal, at most 18446744073709551615."
);
string_schema!(
    Total,
    "Total",
    "^[0-9]{1,39}$",
    39,
    "A running total of minor units in decimal."
);
string_schema!(
    Balance,
    "Balance",
    "^-?[0-9]{1,39}$",
    40,
    "A signed balance of minor units in decimal."
);

impl JsonSchema for Time {
    fn schema_name() -> Cow<'static, str> {
        "Time".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 in UTC with nanoseconds.",
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TierName {
    None,
    ClassI,
    ClassIi,
    ClassIii,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountFlagName {
    DebitsMustNotExceedCredits,
    CreditsMustNotExceedDebits,
    NonBoundInflowConsent,
}

/// Opens an account (分户账).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountBody {
    pub id: Id,
    /// ISO 4217 code, e.g. `CNY`.
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
    /// The leaf subject (科目) the account is booked under, e.g. `2241.01`.
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)*$"), length(max = 16))]
    pub subject_code: String,
    /// The owner's number. A participant's accounts always belong to it; operators name one.
    #[serde(default)]
    #[schemars(extend("pattern" = "^0*[1-9][0-9]{0,18}$"))]
    pub owner: Option<Id>,
    #[serde(default)]
    pub tier: Option<TierName>,
    /// For Class II and III: the holder's own Class I account.
    #[serde(default)]
    pub bound_account_id: Option<Id>,
    /// Customer (`2241.01...`) and merchant (`2241.02...`) accounts cannot be overdrawn unless
    /// this is true: they get `debits_must_not_exceed_credits` by default. Other subjects
    /// (settlement, internal, fee) take exactly the flags given.
    #[serde(default)]
    pub overdraft: bool,
    #[serde(default)]
    pub flags: Vec<AccountFlagName>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AccountView {
    pub id: Id,
    pub currency: String,
    pub subject_code: String,
    pub owner: Id,
    pub tier: TierName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound_account_id: Option<Id>,
    pub flags: Vec<AccountFlagName>,
    /// `active`, `frozen` or `closed`.
    pub status: String,
    pub debits_posted: Total,
    pub credits_posted: Total,
    pub debits_pending: Total,
    pub credits_pending: Total,
    /// Credits minus debits, posted only.
    pub credit_balance: Balance,
    pub created_at: Time,
}

/// One transfer as a client submits it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTransferBody {
    pub id: Id,
    pub debit_account_id: Id,
    pub credit_account_id: Id,
    pub amount: Amount,
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
    /// Transaction code, chosen by the client (posting rules key on it).
    #[serde(default)]
    pub code: u16,
    /// Up to 64 bytes of UTF-8, kept exactly (64 ASCII characters; fewer when wider).
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub reference: Option<String>,
    /// Reserve the amount until posted, voided or expired.
    #[serde(default)]
    pub pending: bool,
    /// For a pending transfer: expire this long after it is committed (0: never).
    #[serde(default)]
    pub timeout_ms: u64,
    /// This transfer and the next one in the batch succeed or fail together.
    #[serde(default)]
    pub linked: bool,
}

/// Up to 8,190 transfers, applied in order; linked chains inside are atomic.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    #[schemars(length(min = 1, max = 8190))]
    pub transfers: Vec<NewTransferBody>,
}

/// Posts a pending transfer, in full or in part (the rest is released).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostPendingBody {
    /// The id of the posting transfer itself.
    pub id: Id,
    /// What to post; absent: the pending transfer's whole amount.
    #[serde(default)]
    pub amount: Option<Amount>,
}

/// Voids a pending transfer, releasing its whole amount.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidPendingBody {
    /// The id of the voiding transfer itself.
    pub id: Id,
}

/// The result of one command: `ok`, or `exists` when the same command was committed before.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CommandResult {
    pub id: Id,
    pub result: String,
}

/// One result per transfer of a batch, in order.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BatchResult {
    pub results: Vec<BatchItemResult>,
    /// How many were committed (`ok`) or already were (`exists`).
    pub accepted: u32,
    pub rejected: u32,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BatchItemResult {
    pub index: u32,
    pub id: Id,
    /// `ok`, `exists`, or the ledger's reason for refusing it (docs/result-codes.md).
    pub result: &'static str,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TransferView {
    pub id: Id,
    pub debit_account_id: Id,
    pub credit_account_id: Id,
    pub amount: Amount,
    pub currency: String,
    pub code: u16,
    /// `posted`, `pending`, `post_pending` or `void_pending`, with `linked` when in a chain.
    pub kind: String,
    pub linked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_id: Option<Id>,
    pub timeout_ms: u64,
    pub reference: String,
    /// The accounting date (账务日期) the transfer belongs to.
    pub accounting_date: String,
    pub timestamp: Time,
    /// The journal batch holding it.
    pub batch: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TransferPage {
    pub transfers: Vec<TransferView>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// An account's posted totals as they stood at an instant.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BalanceAt {
    pub account_id: Id,
    pub at: Time,
    pub debits_posted: Total,
    pub credits_posted: Total,
    pub credit_balance: Balance,
    /// The last transfer at or before `at` that touched the account; absent if none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transfer_id: Option<Id>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditEntry {
    pub seq: u64,
    pub time: Time,
    pub operator: String,
    pub role: String,
    pub action: String,
    pub target: String,
    /// `requested` (written before the action), then `ok` or the error code.
    pub outcome: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable (docs/api-errors.md).
    pub code: String,
    /// For people; may change.
    pub message: String,
    /// The offending field, as a path (`transfers[3].amount`), where one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
