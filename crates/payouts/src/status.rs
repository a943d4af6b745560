//! The channels' status codes, CNAPS-like (DOMAIN.md): what each says about an instruction.

use crate::payout::AttemptState;

/// Netted / accepted for a later batch.
pub const ACCEPTED: &str = "PR03";
/// Settled.
pub const SETTLED: &str = "PR04";
/// Succeeded (credited to the beneficiary).
pub const SUCCEEDED: &str = "PR05";
pub const REJECTED: &str = "PR09";
pub const STOPPED: &str = "PR21";
/// Reversed: sent back.
pub const REVERSED: &str = "PR22";
pub const EXPIRED: &str = "PR32";

/// What a status code means for the attempt (`None`: a code this version does not know,
/// treated as no answer, so the attempt is queried again rather than guessed).
pub fn attempt_state(code: &str) -> Option<AttemptState> {
    match code {
        ACCEPTED => Some(AttemptState::Accepted),
        SETTLED | SUCCEEDED => Some(AttemptState::Settled),
        REJECTED | STOPPED | EXPIRED => Some(AttemptState::Rejected),
        _ => None,
    }
}
