//! The ledger accounts and transfer ids the clearing room owns. Every one is derived from a
//! participant number or a batch number, so each operation has a fixed id and resubmitting it
//! is answered `exists`, never applied twice.
//!
//! Ids whose top 32 bits are [`ROOM_TAG`] belong to the clearing room; transactions may not use
//! them.

use suanpan_ledger::{AccountFlags, Command, Currency, NewAccount, SubjectCode, Tier};

/// Clearing runs in one currency: every position account is opened in it.
pub const CLEARING_CURRENCY: Currency = Currency::CNY;

/// Participants are numbered 1..=PARTICIPANTS_MAX (the bilateral table is this squared).
pub const PARTICIPANTS_MAX: u16 = 1_024;

/// "CLRG" in the top 32 bits of every id the clearing room derives.
pub const ROOM_TAG: u128 = 0x434C_5247 << 96;

const POSITION: u128 = 0x01 << 88;
const SETTLEMENT: u128 = 0x02 << 88;
const CAP: u128 = 0x03 << 88;
const CUT_MARK: u128 = 0x04 << 88;
const CAP_CHANGE: u128 = 0x11 << 88;
const CUT: u128 = 0x12 << 88;
const SETTLEMENT_POSTING: u128 = 0x13 << 88;
pub(crate) const REFUND: u128 = 0x14 << 88;

/// Transfer codes of the clearing room's own transfers (transaction kinds are 6001..=6004).
pub(crate) const CODE_CAP: u16 = 6101;
pub(crate) const CODE_SETTLEMENT: u16 = 6102;
pub(crate) const CODE_CUT: u16 = 6103;

/// Subjects: 3001 清算资金往来 (clearing in transit) for positions, the cap and the marks;
/// 1011 存放同业 (deposits with the settlement bank) for settlement accounts.
const SUBJECT_POSITION: &str = "3001.01";
const SUBJECT_CAP: &str = "3001.02";
const SUBJECT_CUT_MARK: &str = "3001.09";
const SUBJECT_SETTLEMENT: &str = "1011.01";

pub fn is_room_id(id: u128) -> bool {
    id >> 96 == ROOM_TAG >> 96
}

/// The participant's position account: credited with its cap, debited when it pays, credited
/// when it receives. It may never go debit-side, which is the net debit cap.
pub fn position_account_id(participant: u16) -> u128 {
    ROOM_TAG | POSITION | u128::from(participant)
}

/// The participant's settlement account (its account with the settlement bank).
pub fn settlement_account_id(participant: u16) -> u128 {
    ROOM_TAG | SETTLEMENT | u128::from(participant)
}

/// Where caps come from: an internal account with no balance constraint.
pub fn cap_account_id() -> u128 {
    ROOM_TAG | CAP
}

pub(crate) fn cut_source_account_id() -> u128 {
    ROOM_TAG | CUT_MARK | 1
}

pub(crate) fn cut_sink_account_id() -> u128 {
    ROOM_TAG | CUT_MARK | 2
}

/// The marker transfer that closes clearing batch `batch`.
pub fn cut_transfer_id(batch: u64) -> u128 {
    ROOM_TAG | CUT | u128::from(batch)
}

/// The participant number whose position account this is, if it is one.
pub(crate) fn participant_of_position(account_id: u128) -> Option<u16> {
    let number = account_id ^ (ROOM_TAG | POSITION);
    if number >= 1 && number <= u128::from(PARTICIPANTS_MAX) {
        Some(number as u16)
    } else {
        None
    }
}

pub(crate) fn cap_change_transfer_id(participant: u16, revision: u32) -> u128 {
    ROOM_TAG | CAP_CHANGE | u128::from(participant) << 32 | u128::from(revision)
}

pub(crate) fn settlement_transfer_id(batch: u64, participant: u16) -> u128 {
    // Batch numbers stay far below 2^56: one a second for two billion years.
    ROOM_TAG
        | SETTLEMENT_POSTING
        | u128::from(batch & ((1 << 56) - 1)) << 16
        | u128::from(participant)
}

fn subject(code: &str) -> SubjectCode {
    // The codes above are constants that parse; a failure here is a bug in this file.
    SubjectCode::parse(code).unwrap_or_else(|| panic!("bad built-in subject code {code}"))
}

fn open(id: u128, subject_code: &str, owner: u64, flags: u16) -> Command {
    Command::CreateAccount(NewAccount {
        id,
        currency: CLEARING_CURRENCY,
        subject: subject(subject_code),
        owner,
        tier: Tier::None,
        bound_account: 0,
        flags: AccountFlags(flags),
    })
}

/// The room's internal accounts: the cap account and the two cut-mark accounts.
pub(crate) fn open_room_accounts() -> Vec<Command> {
    vec![
        open(cap_account_id(), SUBJECT_CAP, 0, 0),
        open(cut_source_account_id(), SUBJECT_CUT_MARK, 0, 0),
        open(cut_sink_account_id(), SUBJECT_CUT_MARK, 0, 0),
    ]
}

/// A participant's two accounts; the owner is its number.
pub(crate) fn open_participant_accounts(participant: u16) -> Vec<Command> {
    vec![
        open(
            position_account_id(participant),
            SUBJECT_POSITION,
            u64::from(participant),
            AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
        ),
        open(
            settlement_account_id(participant),
            SUBJECT_SETTLEMENT,
            u64::from(participant),
            0,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_accounts_map_back_to_their_participant_only() {
        for number in [1, 2, 500, PARTICIPANTS_MAX] {
            assert_eq!(
                participant_of_position(position_account_id(number)),
                Some(number)
            );
            assert_eq!(participant_of_position(settlement_account_id(number)), None);
        }
        assert_eq!(participant_of_position(position_account_id(0)), None);
        assert_eq!(participant_of_position(7), None);
        assert!(is_room_id(cut_transfer_id(3)) && !is_room_id(42));
    }
}
