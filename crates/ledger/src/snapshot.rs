//! The ledger's state as bytes: the snapshot the journal stores, and the state hash.
//!
//! The encoding is canonical (fixed-width little-endian fields, maps in key order), so two
//! ledgers with the same state encode to the same bytes and the same SHA-256. Derived things
//! (indexes, running totals, the deadline set) are rebuilt on load, not stored.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use crate::transfer::Pending;
use crate::{
    Account, AccountFlags, AccountStatus, AccountingDate, Currency, Ledger, PendingStatus,
    SubjectCode, Tier, TierLimits, TierUsage, TransferRecord,
};

const MAGIC: &[u8; 8] = b"SPSNAP01";

#[derive(Debug)]
pub enum SnapshotError {
    Io(io::Error),
    Corrupt(String),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Io(e) => write!(f, "snapshot could not be read: {e}"),
            SnapshotError::Corrupt(what) => write!(f, "snapshot is corrupt: {what}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

impl From<io::Error> for SnapshotError {
    fn from(e: io::Error) -> SnapshotError {
        SnapshotError::Io(e)
    }
}

fn corrupt(what: impl Into<String>) -> SnapshotError {
    SnapshotError::Corrupt(what.into())
}

const ACCOUNT_BYTES: usize = 16 + 3 + 17 + 8 + 1 + 16 + 2 + 1 + 64 + 8 + 36;
const TRANSFER_BYTES: usize = 40;
const PENDING_BYTES: usize = 4 + 8 + 8 + 1 + 4 + 8 + 8;

impl Ledger {
    /// Writes the canonical encoding of the state to `out` (pass a buffered writer).
    pub fn encode_snapshot(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(MAGIC)?;
        for limit in self.limits.to_array() {
            out.write_all(&limit.to_le_bytes())?;
        }
        out.write_all(&self.accounting_date.0.to_le_bytes())?;
        out.write_all(&(self.accounts.len() as u64).to_le_bytes())?;
        for account in &self.accounts {
            out.write_all(&encode_account(account))?;
        }
        out.write_all(&(self.transfers.len() as u64).to_le_bytes())?;
        for record in &self.transfers {
            out.write_all(&encode_transfer(record))?;
        }
        let mut pendings: Vec<(&u32, &Pending)> = self.pendings.iter().collect();
        pendings.sort_unstable_by_key(|(&index, _)| index);
        out.write_all(&(pendings.len() as u64).to_le_bytes())?;
        for (&index, pending) in pendings {
            out.write_all(&encode_pending(index, pending))?;
        }
        let mut resolutions: Vec<(u32, u32)> =
            self.resolutions.iter().map(|(&a, &b)| (a, b)).collect();
        resolutions.sort_unstable();
        out.write_all(&(resolutions.len() as u64).to_le_bytes())?;
        for (index, pending_index) in resolutions {
            out.write_all(&index.to_le_bytes())?;
            out.write_all(&pending_index.to_le_bytes())?;
        }
        Ok(())
    }

    /// Rebuilds a ledger from [`Ledger::encode_snapshot`]'s bytes, checking every field.
    pub fn decode_snapshot(input: &mut impl Read) -> Result<Ledger, SnapshotError> {
        let mut magic = [0; 8];
        input.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(corrupt("unknown format (bad magic)"));
        }
        let mut limits = [0u64; 7];
        for limit in &mut limits {
            *limit = read_u64(input)?;
        }
        let mut ledger = Ledger::new(TierLimits::from_array(limits));
        ledger.accounting_date = AccountingDate(read_i32(input)?);
        let count = read_len(input, "accounts")?;
        // Reserve no more than a corrupt count could make us regret; the vectors grow as read.
        ledger.accounts.reserve_exact(count.min(1 << 20));
        let mut buf = [0u8; ACCOUNT_BYTES];
        for _ in 0..count {
            input.read_exact(&mut buf)?;
            ledger.accounts.push(decode_account(&buf)?);
        }
        let count = read_len(input, "transfers")?;
        ledger.transfers.reserve_exact(count.min(1 << 20));
        let mut buf = [0u8; TRANSFER_BYTES];
        for _ in 0..count {
            input.read_exact(&mut buf)?;
            let record = decode_transfer(&buf);
            let accounts = ledger.accounts.len() as u32;
            if record.debit_index >= accounts || record.credit_index >= accounts {
                return Err(corrupt("transfer refers to an account that does not exist"));
            }
            ledger.transfers.push(record);
        }
        let transfers = ledger.transfers.len() as u32;
        let count = read_len(input, "pending transfers")?;
        let mut pendings = HashMap::with_capacity(count.min(1 << 20));
        let mut buf = [0u8; PENDING_BYTES];
        for _ in 0..count {
            input.read_exact(&mut buf)?;
            let (index, pending) = decode_pending(&buf)?;
            if index >= transfers {
                return Err(corrupt(
                    "pending entry refers to a transfer that does not exist",
                ));
            }
            pendings.insert(index, pending);
        }
        ledger.pendings = pendings;
        let count = read_len(input, "resolutions")?;
        for _ in 0..count {
            let index = read_u32(input)?;
            let pending_index = read_u32(input)?;
            if index >= transfers || !ledger.pendings.contains_key(&pending_index) {
                return Err(corrupt(
                    "resolution refers to a transfer that does not exist",
                ));
            }
            ledger.resolutions.insert(index, pending_index);
        }
        let mut rest = [0u8; 1];
        if input.read(&mut rest)? != 0 {
            return Err(corrupt("trailing bytes after the state"));
        }
        ledger.rebuild_derived().map_err(corrupt)?;
        let totals = ledger.totals;
        if totals.debits_posted != totals.credits_posted
            || totals.debits_pending != totals.credits_pending
        {
            return Err(corrupt("debits do not equal credits"));
        }
        Ok(ledger)
    }

    /// SHA-256 of the canonical encoding: equal states, equal hashes.
    pub fn state_hash(&self) -> [u8; 32] {
        let mut hasher = HashWriter(Sha256::new());
        let mut out = io::BufWriter::with_capacity(1 << 16, &mut hasher);
        // Writing into a hasher cannot fail.
        let encoded = self.encode_snapshot(&mut out).and_then(|()| out.flush());
        debug_assert!(encoded.is_ok());
        drop(out);
        hasher.0.finalize().into()
    }
}

struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Lowercase hex of a hash, for printing.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A 32-byte hash from its 64 hex digits (either case); `None` for anything else.
pub fn hash_from_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

fn encode_account(a: &Account) -> [u8; ACCOUNT_BYTES] {
    let mut buf = [0u8; ACCOUNT_BYTES];
    let mut w = Cursor {
        buf: &mut buf,
        at: 0,
    };
    w.put(&a.id.to_le_bytes());
    w.put(&a.currency.as_bytes());
    let subject = a.subject.as_str().as_bytes();
    let mut subject_bytes = [0u8; 17];
    subject_bytes[0] = subject.len() as u8;
    subject_bytes[1..=subject.len()].copy_from_slice(subject);
    w.put(&subject_bytes);
    w.put(&a.owner.to_le_bytes());
    w.put(&[a.tier as u8]);
    w.put(&a.bound_account.to_le_bytes());
    w.put(&a.flags.0.to_le_bytes());
    w.put(&[a.status as u8]);
    for total in [
        a.debits_posted,
        a.credits_posted,
        a.debits_pending,
        a.credits_pending,
    ] {
        w.put(&total.to_le_bytes());
    }
    w.put(&a.timestamp.to_le_bytes());
    let u = &a.tier_usage;
    w.put(&u.date.0.to_le_bytes());
    for figure in [
        u.outflow_day_fen,
        u.inflow_day_fen,
        u.outflow_year_fen,
        u.inflow_year_fen,
    ] {
        w.put(&figure.to_le_bytes());
    }
    debug_assert_eq!(w.at, ACCOUNT_BYTES);
    buf
}

fn decode_account(buf: &[u8; ACCOUNT_BYTES]) -> Result<Account, SnapshotError> {
    let mut r = Reader { buf, at: 0 };
    let id = r.u128();
    let currency =
        Currency::from_bytes([r.u8(), r.u8(), r.u8()]).ok_or_else(|| corrupt("bad currency"))?;
    let subject_len = usize::from(r.u8());
    let subject_bytes = r.take(16);
    let subject = std::str::from_utf8(subject_bytes.get(..subject_len).unwrap_or(&[0xff]))
        .ok()
        .and_then(SubjectCode::parse)
        .ok_or_else(|| corrupt("bad subject code"))?;
    let owner = r.u64();
    let tier = Tier::from_u8(r.u8()).ok_or_else(|| corrupt("bad tier"))?;
    let bound_account = r.u128();
    let flags = AccountFlags(r.u16());
    let status = AccountStatus::from_u8(r.u8()).ok_or_else(|| corrupt("bad account status"))?;
    let (debits_posted, credits_posted, debits_pending, credits_pending) =
        (r.u128(), r.u128(), r.u128(), r.u128());
    let timestamp = r.u64();
    let tier_usage = TierUsage {
        date: AccountingDate(r.i32()),
        outflow_day_fen: r.u64(),
        inflow_day_fen: r.u64(),
        outflow_year_fen: r.u64(),
        inflow_year_fen: r.u64(),
    };
    Ok(Account {
        id,
        currency,
        subject,
        owner,
        tier,
        bound_account,
        flags,
        status,
        debits_posted,
        credits_posted,
        debits_pending,
        credits_pending,
        timestamp,
        tier_usage,
    })
}

fn encode_transfer(t: &TransferRecord) -> [u8; TRANSFER_BYTES] {
    let mut buf = [0u8; TRANSFER_BYTES];
    let mut w = Cursor {
        buf: &mut buf,
        at: 0,
    };
    w.put(&t.id_lo.to_le_bytes());
    w.put(&t.id_hi.to_le_bytes());
    w.put(&t.amount.to_le_bytes());
    w.put(&t.debit_index.to_le_bytes());
    w.put(&t.credit_index.to_le_bytes());
    w.put(&t.code.to_le_bytes());
    w.put(&t.flags.to_le_bytes());
    w.put(&t.reference_fingerprint.to_le_bytes());
    buf
}

fn decode_transfer(buf: &[u8; TRANSFER_BYTES]) -> TransferRecord {
    let mut r = Reader { buf, at: 0 };
    TransferRecord {
        id_lo: r.u64(),
        id_hi: r.u64(),
        amount: r.u64(),
        debit_index: r.u32(),
        credit_index: r.u32(),
        code: r.u16(),
        flags: r.u16(),
        reference_fingerprint: r.u32(),
    }
}

fn encode_pending(index: u32, p: &Pending) -> [u8; PENDING_BYTES] {
    let mut buf = [0u8; PENDING_BYTES];
    let mut w = Cursor {
        buf: &mut buf,
        at: 0,
    };
    w.put(&index.to_le_bytes());
    w.put(&p.timeout_ms.to_le_bytes());
    w.put(&p.expires_at.to_le_bytes());
    w.put(&[p.status as u8]);
    w.put(&p.charged_on.0.to_le_bytes());
    w.put(&p.outflow_charged.to_le_bytes());
    w.put(&p.inflow_charged.to_le_bytes());
    buf
}

fn decode_pending(buf: &[u8; PENDING_BYTES]) -> Result<(u32, Pending), SnapshotError> {
    let mut r = Reader { buf, at: 0 };
    let index = r.u32();
    let timeout_ms = r.u64();
    let expires_at = r.u64();
    let status = PendingStatus::from_u8(r.u8()).ok_or_else(|| corrupt("bad pending status"))?;
    let pending = Pending {
        timeout_ms,
        expires_at,
        status,
        charged_on: AccountingDate(r.i32()),
        outflow_charged: r.u64(),
        inflow_charged: r.u64(),
    };
    Ok((index, pending))
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

/// Reads fixed-width fields from a buffer whose size the caller fixed at compile time.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let bytes = &self.buf[self.at..self.at + n];
        self.at += n;
        bytes
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N));
        out
    }

    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    fn i32(&mut self) -> i32 {
        i32::from_le_bytes(self.array())
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    fn u128(&mut self) -> u128 {
        u128::from_le_bytes(self.array())
    }
}

fn read_u32(input: &mut impl Read) -> io::Result<u32> {
    let mut buf = [0u8; 4];
    input.read_exact(&mut buf)?;
    Ok(u32::from_le_bytes(buf))
}

fn read_i32(input: &mut impl Read) -> io::Result<i32> {
    let mut buf = [0u8; 4];
    input.read_exact(&mut buf)?;
    Ok(i32::from_le_bytes(buf))
}

fn read_u64(input: &mut impl Read) -> io::Result<u64> {
    let mut buf = [0u8; 8];
    input.read_exact(&mut buf)?;
    Ok(u64::from_le_bytes(buf))
}

fn read_len(input: &mut impl Read, what: &str) -> Result<usize, SnapshotError> {
    let len = read_u64(input)?;
    if len > u64::from(u32::MAX) {
        return Err(corrupt(format!(
            "{len} {what} is more than a ledger can hold"
        )));
    }
    Ok(len as usize)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hash_is_read_from_hex_of_both_cases_and_nothing_else() {
        let text = "00ff".repeat(16);
        assert_eq!(super::hash_from_hex(&text).map(|b| b[1]), Some(255));
        assert_eq!(
            super::hash_from_hex(&text.to_uppercase()).map(|b| b[1]),
            Some(255)
        );
        assert!(super::hash_from_hex("zz").is_none());
        assert!(super::hash_from_hex(&"g".repeat(64)).is_none());
        assert!(super::hash_from_hex(&format!("+f{}", "0".repeat(62))).is_none());
    }
}
