use std::fmt;

use crate::{AccountingDate, Currency};

/// A client's reference for a transfer (an order number, an end-to-end id): at most 64 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reference {
    bytes: [u8; Reference::LEN_MAX],
    len: u8,
}

impl Reference {
    pub const LEN_MAX: usize = 64;
    pub const EMPTY: Reference = Reference {
        bytes: [0; Reference::LEN_MAX],
        len: 0,
    };

    /// `None` if longer than 64 bytes.
    pub fn new(bytes: &[u8]) -> Option<Reference> {
        if bytes.len() > Reference::LEN_MAX {
            return None;
        }
        let mut reference = Reference::EMPTY;
        reference.bytes[..bytes.len()].copy_from_slice(bytes);
        reference.len = bytes.len() as u8;
        Some(reference)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// A 32-bit fingerprint kept in memory for idempotency checks; the full reference lives in
    /// the journal. FNV-1a: fixed, so the state hash does not depend on the process.
    pub(crate) fn fingerprint(&self) -> u32 {
        self.as_bytes().iter().fold(0x811c_9dc5_u32, |h, &b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        })
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub struct TransferFlags(pub u16);

impl TransferFlags {
    /// This transfer and the next one succeed or fail together (the chain ends at the first
    /// transfer without the flag).
    pub const LINKED: u16 = 1 << 0;
    /// Reserve the amount (debits_pending / credits_pending) until posted, voided or expired.
    pub const PENDING: u16 = 1 << 1;
    /// Post the pending transfer `pending_id`, in full or in part; the rest is released.
    pub const POST_PENDING: u16 = 1 << 2;
    /// Release the pending transfer `pending_id` in full.
    pub const VOID_PENDING: u16 = 1 << 3;
    const KNOWN: u16 = 0b1111;

    pub fn contains(self, flag: u16) -> bool {
        self.0 & flag == flag
    }

    pub fn is_known(self) -> bool {
        self.0 & !TransferFlags::KNOWN == 0
    }

    pub fn linked(self) -> bool {
        self.contains(TransferFlags::LINKED)
    }

    pub fn pending(self) -> bool {
        self.contains(TransferFlags::PENDING)
    }

    pub fn post_pending(self) -> bool {
        self.contains(TransferFlags::POST_PENDING)
    }

    pub fn void_pending(self) -> bool {
        self.contains(TransferFlags::VOID_PENDING)
    }

    pub fn resolves_pending(self) -> bool {
        self.post_pending() || self.void_pending()
    }
}

/// A transfer as a client submits it.
///
/// For `post_pending` and `void_pending`, the accounts may be zero (they are the pending
/// transfer's) and the amount may be zero (the pending transfer's whole amount).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Transfer {
    pub id: u128,
    pub debit_account_id: u128,
    pub credit_account_id: u128,
    pub amount: u64,
    pub currency: Currency,
    /// Transaction type, chosen by the client (accounting's posting rules key on it).
    pub code: u16,
    pub reference: Reference,
    pub flags: TransferFlags,
    pub pending_id: u128,
    /// For pending transfers: expire this long after the engine timestamp. Zero: never expire.
    pub timeout_ms: u64,
}

impl Transfer {
    /// Longest timeout a pending transfer may have: 366 days.
    pub const TIMEOUT_MS_MAX: u64 = 366 * 24 * 3600 * 1000;

    /// When a pending transfer committed at `timestamp_ns` expires (engine ns), if it does:
    /// the one place the deadline is worked out, for the ledger and the journal's rows alike.
    pub fn expires_at_ns(&self, timestamp_ns: u64) -> Option<u64> {
        (self.timeout_ms != 0)
            .then(|| timestamp_ns.saturating_add(self.timeout_ms.saturating_mul(1_000_000)))
    }

    /// A plain posted transfer: code 0, no reference, no flags.
    pub fn new(
        id: u128,
        debit_account_id: u128,
        credit_account_id: u128,
        amount: u64,
        currency: Currency,
    ) -> Transfer {
        Transfer {
            id,
            debit_account_id,
            credit_account_id,
            amount,
            currency,
            code: 0,
            reference: Reference::EMPTY,
            flags: TransferFlags(0),
            pending_id: 0,
            timeout_ms: 0,
        }
    }
}

/// What the ledger keeps of every committed transfer, for idempotency over the whole history:
/// 40 bytes, so that 50 million transfers fit in 2 GB. Accounts are referred to by their index
/// in the ledger; the full transfer (reference, timestamp) lives in the journal.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TransferRecord {
    /// The id, split so the record is 8-byte aligned (a u128 would pad it to 48 bytes).
    pub id_lo: u64,
    pub id_hi: u64,
    /// The amount that moved (for post/void: what was posted or released).
    pub amount: u64,
    pub debit_index: u32,
    pub credit_index: u32,
    pub code: u16,
    pub flags: u16,
    pub reference_fingerprint: u32,
    /// Engine time it was committed at: where the journal holds it once it leaves memory.
    pub timestamp: u64,
}

impl TransferRecord {
    pub fn id(&self) -> u128 {
        u128::from(self.id_hi) << 64 | u128::from(self.id_lo)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[repr(u8)]
pub enum PendingStatus {
    Pending = 0,
    Posted = 1,
    Voided = 2,
    Expired = 3,
}

impl PendingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PendingStatus::Pending => "pending",
            PendingStatus::Posted => "posted",
            PendingStatus::Voided => "voided",
            PendingStatus::Expired => "expired",
        }
    }

    pub fn from_u8(value: u8) -> Option<PendingStatus> {
        match value {
            0 => Some(PendingStatus::Pending),
            1 => Some(PendingStatus::Posted),
            2 => Some(PendingStatus::Voided),
            3 => Some(PendingStatus::Expired),
            _ => None,
        }
    }
}

/// The life of a pending transfer, with its record: a pending transfer stays in memory while
/// it is pending, however old, so that posting, voiding or expiring it never waits on disk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Pending {
    pub record: TransferRecord,
    pub timeout_ms: u64,
    /// Engine time at which it expires; `u64::MAX` for never.
    pub expires_at: u64,
    pub status: PendingStatus,
    /// The accounting date its tier usage was charged on, so a release gives back the right day.
    pub charged_on: AccountingDate,
    pub outflow_charged: u64,
    pub inflow_charged: u64,
}

/// A transfer that has left the ledger's memory, as the engine read it back from the journal
/// for a batch that names it (see [`crate::Ledger::history_wanted`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PastTransfer {
    /// As committed, with a post's or void's accounts and amount resolved from its pending
    /// transfer (what it actually moved).
    pub transfer: Transfer,
    /// For a pending transfer: its status before the batch. It is never `Pending` (those stay
    /// in memory): `Posted` or `Voided` if a post or void of it was committed before the batch,
    /// else `Expired`.
    pub status: PendingStatus,
}
