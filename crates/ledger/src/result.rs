use std::fmt;

macro_rules! result_codes {
    ($($variant:ident = $value:literal => $name:literal,)*) => {
        /// The answer to one command. The set is closed and the names are stable: the journal
        /// stores the number, the API, the logs and the docs use the snake_case name.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        #[repr(u8)]
        pub enum ResultCode {
            $($variant = $value,)*
        }

        impl ResultCode {
            pub const ALL: &'static [ResultCode] = &[$(ResultCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ResultCode::$variant => $name,)*
                }
            }

            pub fn from_u8(value: u8) -> Option<ResultCode> {
                match value {
                    $($value => Some(ResultCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

result_codes! {
    Ok = 0 => "ok",
    Exists = 1 => "exists",
    LinkedEventFailed = 2 => "linked_event_failed",
    LinkedEventChainOpen = 3 => "linked_event_chain_open",
    IdMustNotBeZero = 4 => "id_must_not_be_zero",
    IdMustNotBeIntMax = 5 => "id_must_not_be_int_max",
    FlagsAreMutuallyExclusive = 6 => "flags_are_mutually_exclusive",
    TableFull = 7 => "table_full",
    FlagsUnknown = 8 => "flags_unknown",

    // Opening an account.
    SubjectCodeInvalid = 10 => "subject_code_invalid",
    BoundAccountRequired = 11 => "bound_account_required",
    BoundAccountNotAllowed = 12 => "bound_account_not_allowed",
    BoundAccountNotFound = 13 => "bound_account_not_found",
    BoundAccountNotClassI = 14 => "bound_account_not_class_i",
    BoundAccountOwnerMismatch = 15 => "bound_account_owner_mismatch",
    BoundAccountCurrencyMismatch = 16 => "bound_account_currency_mismatch",
    TierRequiresCny = 17 => "tier_requires_cny",
    ExistsWithDifferentCurrency = 20 => "exists_with_different_currency",
    ExistsWithDifferentSubjectCode = 21 => "exists_with_different_subject_code",
    ExistsWithDifferentOwner = 22 => "exists_with_different_owner",
    ExistsWithDifferentTier = 23 => "exists_with_different_tier",
    ExistsWithDifferentBoundAccount = 24 => "exists_with_different_bound_account",
    ExistsWithDifferentFlags = 25 => "exists_with_different_flags",

    // Freezing, unfreezing and closing an account.
    AccountNotFound = 30 => "account_not_found",
    AccountFrozen = 31 => "account_frozen",
    AccountClosed = 32 => "account_closed",
    AccountNotFrozen = 33 => "account_not_frozen",
    AccountHasBalance = 34 => "account_has_balance",
    AccountHasPending = 35 => "account_has_pending",

    // Transfers.
    AmountMustNotBeZero = 40 => "amount_must_not_be_zero",
    AccountsMustBeDifferent = 41 => "accounts_must_be_different",
    DebitAccountNotFound = 42 => "debit_account_not_found",
    CreditAccountNotFound = 43 => "credit_account_not_found",
    CurrencyMismatch = 44 => "currency_mismatch",
    DebitAccountFrozen = 45 => "debit_account_frozen",
    CreditAccountFrozen = 46 => "credit_account_frozen",
    DebitAccountClosed = 47 => "debit_account_closed",
    CreditAccountClosed = 48 => "credit_account_closed",
    TimeoutReservedForPendingTransfer = 49 => "timeout_reserved_for_pending_transfer",
    PendingIdMustBeZero = 50 => "pending_id_must_be_zero",
    PendingIdRequired = 51 => "pending_id_required",
    PendingIdMustBeDifferent = 52 => "pending_id_must_be_different",
    ExceedsCredits = 53 => "exceeds_credits",
    ExceedsDebits = 54 => "exceeds_debits",
    OverflowsDebits = 55 => "overflows_debits",
    OverflowsCredits = 56 => "overflows_credits",
    TimeoutTooLong = 57 => "timeout_too_long",

    // Account tiers (Class II / III personal accounts).
    TierDailyOutflowExceeded = 60 => "tier_daily_outflow_exceeded",
    TierYearlyOutflowExceeded = 61 => "tier_yearly_outflow_exceeded",
    TierDailyInflowExceeded = 62 => "tier_daily_inflow_exceeded",
    TierYearlyInflowExceeded = 63 => "tier_yearly_inflow_exceeded",
    TierBalanceCapExceeded = 64 => "tier_balance_cap_exceeded",
    TierInflowRequiresConsent = 65 => "tier_inflow_requires_consent",

    // Posting, voiding and expiring pending transfers.
    PendingTransferNotFound = 70 => "pending_transfer_not_found",
    PendingTransferNotPending = 71 => "pending_transfer_not_pending",
    PendingTransferAlreadyPosted = 72 => "pending_transfer_already_posted",
    PendingTransferAlreadyVoided = 73 => "pending_transfer_already_voided",
    PendingTransferExpired = 74 => "pending_transfer_expired",
    PendingTransferNotExpired = 75 => "pending_transfer_not_expired",
    PendingTransferHasDifferentDebitAccount = 76 => "pending_transfer_has_different_debit_account",
    PendingTransferHasDifferentCreditAccount = 77 => "pending_transfer_has_different_credit_account",
    PendingTransferHasDifferentCurrency = 78 => "pending_transfer_has_different_currency",
    PendingTransferHasDifferentAmount = 79 => "pending_transfer_has_different_amount",
    ExceedsPendingTransferAmount = 80 => "exceeds_pending_transfer_amount",

    // A transfer id seen before, with different fields.
    ExistsWithDifferentDebitAccount = 90 => "exists_with_different_debit_account",
    ExistsWithDifferentCreditAccount = 91 => "exists_with_different_credit_account",
    ExistsWithDifferentAmount = 92 => "exists_with_different_amount",
    ExistsWithDifferentCode = 93 => "exists_with_different_code",
    ExistsWithDifferentReference = 94 => "exists_with_different_reference",
    ExistsWithDifferentPendingId = 95 => "exists_with_different_pending_id",
    ExistsWithDifferentTimeout = 96 => "exists_with_different_timeout",

    // The accounting date.
    AccountingDateMustAdvance = 100 => "accounting_date_must_advance",
    AccountingDateOutOfRange = 101 => "accounting_date_out_of_range",
}

impl ResultCode {
    /// Did the command change the state? `exists` did not, but it is a success for the caller.
    pub fn is_ok(self) -> bool {
        self == ResultCode::Ok
    }

    pub fn is_success(self) -> bool {
        matches!(self, ResultCode::Ok | ResultCode::Exists)
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn result_codes_are_unique_and_round_trip() {
        let mut names = HashSet::new();
        for &code in ResultCode::ALL {
            assert_eq!(ResultCode::from_u8(code as u8), Some(code));
            assert!(
                names.insert(code.as_str()),
                "duplicate name {}",
                code.as_str()
            );
            assert!(code
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }
}
