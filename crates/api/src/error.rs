//! Every error the API answers: an HTTP status, a stable machine-readable code, a human
//! message and, where it applies, the offending field. Codes are part of the API's contract
//! (docs/api-errors.md lists them); messages are for people and may change.

use std::fmt;

use serde::Serialize;

/// The closed set of API error codes. Ledger result codes (`exceeds_credits`, ...) travel
/// through [`ApiError::ledger`] under their own names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ErrorCode {
    MalformedJson,
    UnknownField,
    WrongType,
    MissingField,
    InvalidValue,
    InvalidId,
    InvalidAmount,
    InvalidCurrency,
    InvalidTime,
    InvalidCursor,
    BodyTooLarge,
    UnsupportedMediaType,
    TooManyTransfers,
    NotFound,
    MethodNotAllowed,
    SignatureMissing,
    SignatureInvalid,
    UnknownKey,
    TimestampOutOfWindow,
    NonceReplayed,
    TokenInvalid,
    Forbidden,
    AccountNotFound,
    TransferNotFound,
    Overloaded,
    EngineStopped,
    NotLeader,
    IndexBehind,
    /// A day-end started through the API is running (the accounting endpoints).
    DayEndRunning,
    /// A day-end holds the accounting books longer than a request waits.
    AccountingBusy,
    /// An operator acting for a participant did not name it (an account's owner, a
    /// statement's participant, a consent's bank); a participant is always itself.
    PartyRequired,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 32] = [
        ErrorCode::MalformedJson,
        ErrorCode::UnknownField,
        ErrorCode::WrongType,
        ErrorCode::MissingField,
        ErrorCode::InvalidValue,
        ErrorCode::InvalidId,
        ErrorCode::InvalidAmount,
        ErrorCode::InvalidCurrency,
        ErrorCode::InvalidTime,
        ErrorCode::InvalidCursor,
        ErrorCode::BodyTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::TooManyTransfers,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::SignatureMissing,
        ErrorCode::SignatureInvalid,
        ErrorCode::UnknownKey,
        ErrorCode::TimestampOutOfWindow,
        ErrorCode::NonceReplayed,
        ErrorCode::TokenInvalid,
        ErrorCode::Forbidden,
        ErrorCode::AccountNotFound,
        ErrorCode::TransferNotFound,
        ErrorCode::Overloaded,
        ErrorCode::EngineStopped,
        ErrorCode::NotLeader,
        ErrorCode::IndexBehind,
        ErrorCode::DayEndRunning,
        ErrorCode::AccountingBusy,
        ErrorCode::PartyRequired,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::WrongType => "wrong_type",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::InvalidId => "invalid_id",
            ErrorCode::InvalidAmount => "invalid_amount",
            ErrorCode::InvalidCurrency => "invalid_currency",
            ErrorCode::InvalidTime => "invalid_time",
            ErrorCode::InvalidCursor => "invalid_cursor",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::TooManyTransfers => "too_many_transfers",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::SignatureMissing => "signature_missing",
            ErrorCode::SignatureInvalid => "signature_invalid",
            ErrorCode::UnknownKey => "unknown_key",
            ErrorCode::TimestampOutOfWindow => "timestamp_out_of_window",
            ErrorCode::NonceReplayed => "nonce_replayed",
            ErrorCode::TokenInvalid => "token_invalid",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::AccountNotFound => "account_not_found",
            ErrorCode::TransferNotFound => "transfer_not_found",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::EngineStopped => "engine_stopped",
            ErrorCode::NotLeader => "not_leader",
            ErrorCode::IndexBehind => "index_behind",
            ErrorCode::DayEndRunning => "day_end_running",
            ErrorCode::AccountingBusy => "accounting_busy",
            ErrorCode::PartyRequired => "party_required",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorCode::MalformedJson
            | ErrorCode::UnknownField
            | ErrorCode::WrongType
            | ErrorCode::MissingField
            | ErrorCode::InvalidValue
            | ErrorCode::InvalidId
            | ErrorCode::InvalidAmount
            | ErrorCode::InvalidCurrency
            | ErrorCode::InvalidTime
            | ErrorCode::InvalidCursor
            | ErrorCode::TooManyTransfers => 400,
            ErrorCode::BodyTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::NotFound | ErrorCode::AccountNotFound | ErrorCode::TransferNotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::SignatureMissing
            | ErrorCode::SignatureInvalid
            | ErrorCode::UnknownKey
            | ErrorCode::TimestampOutOfWindow
            | ErrorCode::NonceReplayed
            | ErrorCode::TokenInvalid => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::DayEndRunning => 409,
            ErrorCode::PartyRequired => 422,
            ErrorCode::Overloaded
            | ErrorCode::EngineStopped
            | ErrorCode::NotLeader
            | ErrorCode::IndexBehind
            | ErrorCode::AccountingBusy => 503,
            ErrorCode::Internal => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// For 503: seconds after which a retry is sensible (the `Retry-After` header).
    pub retry_after_s: Option<u32>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status: code.status(),
            code: code.as_str(),
            message: message.into(),
            field: None,
            retry_after_s: match code {
                ErrorCode::Overloaded | ErrorCode::IndexBehind | ErrorCode::AccountingBusy => {
                    Some(1)
                }
                _ => None,
            },
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    /// A command the ledger refused: 409 for an id already used with other fields, 422 for
    /// every other rule of the books, the code being the ledger's own result code.
    pub fn ledger(result: suanpan_ledger::ResultCode, message: impl Into<String>) -> ApiError {
        let code = result.as_str();
        ApiError {
            status: if code.starts_with("exists_with_different") {
                409
            } else {
                422
            },
            code,
            message: message.into(),
            field: None,
            retry_after_s: None,
        }
    }

    pub fn body(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            error: Inner<'a>,
        }
        #[derive(Serialize)]
        struct Inner<'a> {
            code: &'a str,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            field: Option<&'a str>,
        }
        serde_json::to_vec(&Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        })
        .unwrap_or_else(|_| br#"{"error":{"code":"internal","message":"error"}}"#.to_vec())
    }
}

impl From<suanpan_engine::EngineError> for ApiError {
    fn from(e: suanpan_engine::EngineError) -> ApiError {
        use suanpan_engine::EngineError;
        match e {
            EngineError::Overloaded => ApiError::new(ErrorCode::Overloaded, e.to_string()),
            EngineError::TooManyCommands { .. } => {
                ApiError::new(ErrorCode::TooManyTransfers, e.to_string())
            }
            EngineError::Stopped(_) => ApiError::new(ErrorCode::EngineStopped, e.to_string()),
            EngineError::Standby => ApiError::new(ErrorCode::NotLeader, e.to_string()),
            EngineError::Journal(_) => ApiError::new(ErrorCode::Internal, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_documented() {
        let doc = include_str!("../../../docs/api-errors.md");
        for code in ErrorCode::ALL {
            let row = format!("| `{}` | {} |", code.as_str(), code.status());
            assert!(doc.contains(&row), "docs/api-errors.md lacks {row}");
        }
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
            assert!(seen.insert(s), "{s} twice");
        }
    }
}
