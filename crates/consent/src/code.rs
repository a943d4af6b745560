//! One-time codes for the consent page. The bank fetches a code through its API and delivers
//! it to its customer (SMS, its app); the customer types it on the page to authorise, reject
//! or revoke. Only its SHA-256 is kept; it lives ten minutes and allows five wrong tries.

use sha2::{Digest, Sha256};

use crate::error::ConsentError;

pub const CODE_DIGITS: usize = 6;
pub const CODE_TTL_NS: u64 = 10 * 60 * 1_000_000_000;
pub const CODE_ATTEMPTS_MAX: u8 = 5;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OneTimeCode {
    pub hash: [u8; 32],
    pub expires_ns: u64,
    pub attempts_left: u8,
}

fn digest(consent_id: &str, code: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(consent_id.as_bytes());
    h.update([0]);
    h.update(code.as_bytes());
    h.finalize().into()
}

/// A fresh code for a consent: the digits to hand to the customer, and what is kept.
pub fn issue(consent_id: &str, now_ns: u64) -> Result<(String, OneTimeCode), ConsentError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| ConsentError::Store(format!("no randomness from the system: {e}")))?;
    // 2^64 is not a multiple of 10^6; the bias this leaves is below one in 10^13.
    let code = format!("{:06}", u64::from_le_bytes(bytes) % 1_000_000);
    let kept = OneTimeCode {
        hash: digest(consent_id, &code),
        expires_ns: now_ns.saturating_add(CODE_TTL_NS),
        attempts_left: CODE_ATTEMPTS_MAX,
    };
    Ok((code, kept))
}

impl OneTimeCode {
    /// Checks a typed code. A wrong one uses up a try (the caller must keep that durably);
    /// the last wrong try burns the code.
    pub fn check(
        &mut self,
        consent_id: &str,
        typed: &str,
        now_ns: u64,
    ) -> Result<(), ConsentError> {
        if self.attempts_left == 0 {
            return Err(ConsentError::CodeAttemptsExceeded);
        }
        if now_ns >= self.expires_ns {
            return Err(ConsentError::CodeExpired);
        }
        let well_formed = typed.len() == CODE_DIGITS && typed.bytes().all(|b| b.is_ascii_digit());
        if well_formed && constant_time_eq(&digest(consent_id, typed), &self.hash) {
            return Ok(());
        }
        self.attempts_left -= 1;
        if self.attempts_left == 0 {
            Err(ConsentError::CodeAttemptsExceeded)
        } else {
            Err(ConsentError::CodeInvalid {
                attempts_left: self.attempts_left,
            })
        }
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_works_once_it_is_typed_right_and_burns_after_five_wrong_tries() {
        let (code, mut kept) = issue("cs_1", 0).expect("random");
        assert_eq!(code.len(), 6);
        assert_eq!(kept.check("cs_1", &code, 1), Ok(()));
        assert_eq!(
            kept.check("cs_2", &code, 1),
            Err(ConsentError::CodeInvalid { attempts_left: 4 }),
            "a code belongs to its consent"
        );
        for left in (1..4).rev() {
            assert_eq!(
                kept.check("cs_1", "abc", 1),
                Err(ConsentError::CodeInvalid {
                    attempts_left: left
                })
            );
        }
        assert_eq!(
            kept.check("cs_1", "000000x", 1),
            Err(ConsentError::CodeAttemptsExceeded)
        );
        assert_eq!(
            kept.check("cs_1", &code, 1),
            Err(ConsentError::CodeAttemptsExceeded),
            "the right code no longer helps"
        );
    }

    #[test]
    fn a_code_expires_after_ten_minutes() {
        let (code, mut kept) = issue("cs_1", 0).expect("random");
        assert_eq!(
            kept.check("cs_1", &code, CODE_TTL_NS),
            Err(ConsentError::CodeExpired)
        );
    }
}
