//! What can go wrong in clearing, each with a stable snake_case code that the API, the logs
//! and the docs share.

use std::fmt;

use suanpan_engine::EngineError;
use suanpan_journal::JournalError;
use suanpan_ledger::ResultCode;

#[derive(Debug)]
pub enum ClearingError {
    /// The payer's position would go beyond its net debit cap (the ledger said exceeds_credits).
    NetDebitCapExceeded {
        participant: u16,
    },
    ParticipantNotFound {
        participant: u16,
    },
    ParticipantSuspended {
        participant: u16,
    },
    /// A participant's fields are not acceptable; the text says which and why.
    ParticipantInvalid(String),
    /// Payer and payee must be two different participants.
    SameParticipant {
        participant: u16,
    },
    AmountMustNotBeZero,
    /// Transaction ids with the clearing room's tag are the room's own.
    TransactionIdReserved {
        id: u128,
    },
    OriginalNotFound {
        id: u128,
    },
    /// The original is not a payment between two participants (or is itself a refund).
    OriginalNotRefundable {
        id: u128,
    },
    RefundExceedsOriginal {
        original: u128,
        left_fen: u64,
    },
    /// Refund number `number` of this original was already taken by a different refund.
    RefundNumberTaken {
        original: u128,
        number: u8,
    },
    /// Refunds of one original are numbered 0, 1, 2...; this one skips a number.
    RefundNumberOutOfOrder {
        original: u128,
        number: u8,
        next: u8,
    },
    BatchNotClosed {
        batch: u64,
    },
    BatchNotFound {
        batch: u64,
    },
    BatchTooLarge {
        batch: u64,
        max: usize,
    },
    /// A close schedule that does not parse; the text says which time.
    ScheduleInvalid(String),
    StatementNotFound {
        batch: u64,
        participant: u16,
    },
    /// The ledger refused the settlement postings (for example a net creditor has since paid
    /// out what it is owed, so its position cannot pay it to the settlement account yet).
    SettlementRefused {
        batch: u64,
        result: ResultCode,
    },
    /// The ledger refused a command for another reason: its own code.
    Ledger(ResultCode),
    Engine(EngineError),
    Journal(String),
    Io(String),
    /// The books disagree with themselves: one sentence naming what.
    Corrupt(String),
}

impl ClearingError {
    pub fn code(&self) -> &'static str {
        match self {
            ClearingError::NetDebitCapExceeded { .. } => "net_debit_cap_exceeded",
            ClearingError::ParticipantNotFound { .. } => "participant_not_found",
            ClearingError::ParticipantSuspended { .. } => "participant_suspended",
            ClearingError::ParticipantInvalid(_) => "participant_invalid",
            ClearingError::SameParticipant { .. } => "payer_and_payee_must_differ",
            ClearingError::AmountMustNotBeZero => "amount_must_not_be_zero",
            ClearingError::TransactionIdReserved { .. } => "transaction_id_reserved",
            ClearingError::OriginalNotFound { .. } => "original_not_found",
            ClearingError::OriginalNotRefundable { .. } => "original_not_refundable",
            ClearingError::RefundExceedsOriginal { .. } => "refund_exceeds_original",
            ClearingError::RefundNumberTaken { .. } => "refund_number_taken",
            ClearingError::RefundNumberOutOfOrder { .. } => "refund_number_out_of_order",
            ClearingError::BatchNotClosed { .. } => "batch_not_closed",
            ClearingError::BatchNotFound { .. } => "batch_not_found",
            ClearingError::BatchTooLarge { .. } => "batch_too_large",
            ClearingError::ScheduleInvalid(_) => "schedule_invalid",
            ClearingError::StatementNotFound { .. } => "statement_not_found",
            ClearingError::SettlementRefused { .. } => "settlement_refused",
            ClearingError::Ledger(code) => code.as_str(),
            ClearingError::Engine(EngineError::Overloaded) => "overloaded",
            ClearingError::Engine(EngineError::TooManyCommands { .. }) => "too_many_commands",
            ClearingError::Engine(EngineError::Stopped(_)) => "engine_stopped",
            ClearingError::Engine(EngineError::Standby) => "not_leader",
            ClearingError::Engine(EngineError::Journal(_)) => "journal_error",
            ClearingError::Journal(_) => "journal_error",
            ClearingError::Io(_) => "io_error",
            ClearingError::Corrupt(_) => "books_inconsistent",
        }
    }
}

impl fmt::Display for ClearingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClearingError::NetDebitCapExceeded { participant } => write!(
                f,
                "participant {participant} would exceed its net debit cap"
            ),
            ClearingError::ParticipantNotFound { participant } => {
                write!(f, "no participant {participant}")
            }
            ClearingError::ParticipantSuspended { participant } => {
                write!(f, "participant {participant} is suspended")
            }
            ClearingError::ParticipantInvalid(why) | ClearingError::ScheduleInvalid(why) => {
                f.write_str(why)
            }
            ClearingError::SameParticipant { participant } => write!(
                f,
                "payer and payee are both participant {participant}; they must differ"
            ),
            ClearingError::AmountMustNotBeZero => f.write_str("the amount must not be zero"),
            ClearingError::TransactionIdReserved { id } => {
                write!(
                    f,
                    "transaction id {id} is in the clearing room's reserved range"
                )
            }
            ClearingError::OriginalNotFound { id } => write!(f, "no transaction {id} to refund"),
            ClearingError::OriginalNotRefundable { id } => write!(
                f,
                "transaction {id} is not a payment between two participants"
            ),
            ClearingError::RefundExceedsOriginal { original, left_fen } => write!(
                f,
                "the refund exceeds what is left of transaction {original} ({left_fen} fen)"
            ),
            ClearingError::RefundNumberTaken { original, number } => write!(
                f,
                "refund {number} of transaction {original} is already a different refund"
            ),
            ClearingError::RefundNumberOutOfOrder {
                original,
                number,
                next,
            } => write!(
                f,
                "refund {number} of transaction {original} skips a number; the next is {next}"
            ),
            ClearingError::BatchNotClosed { batch } => {
                write!(f, "clearing batch {batch} is not closed yet")
            }
            ClearingError::BatchNotFound { batch } => {
                write!(f, "there is no clearing batch {batch}")
            }
            ClearingError::BatchTooLarge { batch, max } => {
                write!(
                    f,
                    "clearing batch {batch} holds more than {max} transactions"
                )
            }
            ClearingError::StatementNotFound { batch, participant } => write!(
                f,
                "no statement of batch {batch} for participant {participant} has been written"
            ),
            ClearingError::SettlementRefused { batch, result } => {
                write!(f, "the settlement of batch {batch} was refused: {result}")
            }
            ClearingError::Ledger(code) => write!(f, "the ledger refused it: {code}"),
            ClearingError::Engine(e) => write!(f, "{e}"),
            ClearingError::Journal(e) | ClearingError::Io(e) => f.write_str(e),
            ClearingError::Corrupt(e) => write!(f, "clearing check failed: {e}"),
        }
    }
}

impl std::error::Error for ClearingError {}

impl From<EngineError> for ClearingError {
    fn from(e: EngineError) -> ClearingError {
        ClearingError::Engine(e)
    }
}

impl From<JournalError> for ClearingError {
    fn from(e: JournalError) -> ClearingError {
        ClearingError::Journal(e.to_string())
    }
}

impl From<std::io::Error> for ClearingError {
    fn from(e: std::io::Error) -> ClearingError {
        ClearingError::Io(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_distinct_snake_case_names() {
        let errors = [
            ClearingError::NetDebitCapExceeded { participant: 1 },
            ClearingError::ParticipantNotFound { participant: 1 },
            ClearingError::ParticipantSuspended { participant: 1 },
            ClearingError::ParticipantInvalid(String::new()),
            ClearingError::SameParticipant { participant: 1 },
            ClearingError::AmountMustNotBeZero,
            ClearingError::TransactionIdReserved { id: 1 },
            ClearingError::OriginalNotFound { id: 1 },
            ClearingError::OriginalNotRefundable { id: 1 },
            ClearingError::RefundExceedsOriginal {
                original: 1,
                left_fen: 0,
            },
            ClearingError::RefundNumberTaken {
                original: 1,
                number: 0,
            },
            ClearingError::RefundNumberOutOfOrder {
                original: 1,
                number: 2,
                next: 1,
            },
            ClearingError::BatchNotClosed { batch: 1 },
            ClearingError::BatchNotFound { batch: 1 },
            ClearingError::BatchTooLarge { batch: 1, max: 1 },
            ClearingError::ScheduleInvalid(String::new()),
            ClearingError::StatementNotFound {
                batch: 1,
                participant: 1,
            },
            ClearingError::SettlementRefused {
                batch: 1,
                result: ResultCode::ExceedsCredits,
            },
            ClearingError::Engine(EngineError::Overloaded),
            ClearingError::Engine(EngineError::TooManyCommands { count: 2, max: 1 }),
            ClearingError::Engine(EngineError::Stopped(String::new())),
            ClearingError::Journal(String::new()),
            ClearingError::Io(String::new()),
            ClearingError::Corrupt(String::new()),
        ];
        let mut codes: Vec<&str> = errors.iter().map(ClearingError::code).collect();
        assert!(codes
            .iter()
            .all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
        let count = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), count);
    }
}
