//! The ledger's state as bytes: the snapshot the journal stores, and the state hash.
//!
//! The encoding is canonical (fixed-width little-endian fields, maps in key order), so two
//! ledgers with the same state encode to the same bytes and the same SHA-256. Derived things
//! (indexes, running totals, the deadline set) are rebuilt on load, not stored.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use crate::filter::IdFilter;
use crate::ledger::WINDOW_MAX;
use crate::transfer::Pending;
use crate::window::Window;
use crate::{
    Account, AccountFlags, AccountStatus, AccountingDate, Currency, Ledger, PendingStatus,
    SubjectCode, Tier, TierLimits, TierUsage, TransferRecord,
};

const MAGIC: &[u8; 8] = b"SPSNAP02";
/// The format before the window (every transfer, pendings by position): recovery replays
/// the journal from its start instead.
const MAGIC_V1: &[u8; 8] = b"SPSNAP01";

#[derive(Debug)]
pub enum SnapshotError {
    Io(io::Error),
    Corrupt(String),
    /// Written by an older Suanpan in a format this one does not read.
    Outdated,
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Io(e) => write!(f, "snapshot could not be read: {e}"),
            SnapshotError::Corrupt(what) => write!(f, "snapshot is corrupt: {what}"),
            SnapshotError::Outdated => f.write_str("snapshot is of an older format"),
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

/// How the filter's words follow its header: all of them, or only those not zero.
const FILTER_DENSE: u8 = 0;
const FILTER_SPARSE: u8 = 1;

const ACCOUNT_BYTES: usize = 16 + 3 + 17 + 8 + 1 + 16 + 2 + 1 + 64 + 8 + 36;
const TRANSFER_BYTES: usize = 48;
const PENDING_BYTES: usize = 16 + TRANSFER_BYTES + 8 + 8 + 1 + 4 + 8 + 8;

impl Ledger {
    /// Writes the canonical encoding of the state to `out` (pass a buffered writer): the
    /// accounts, the window of transfers, the pending transfers kept past it and the filter
    /// of past ids. Never the whole history: its size is the working set's.
    pub fn encode_snapshot(&self, out: &mut impl Write) -> io::Result<()> {
        let pendings: Vec<(u128, &Pending)> = self.pendings.iter().map(|(&i, p)| (i, p)).collect();
        let resolutions: Vec<(u128, u128)> =
            self.resolutions.iter().map(|(&a, &b)| (a, b)).collect();
        self.parts(self.window, &self.filter, 0)
            .encode(out, pendings, resolutions)
    }

    /// The state as [`Ledger::encode_snapshot`] writes it, taken now and owned, to encode on
    /// another thread while this ledger goes on: the window's blocks are shared (they never
    /// change once full, see window.rs), the accounts, the filter and the pending transfers
    /// copied. The engine's writer pauses for the copy, not for the encoding and the disk.
    pub fn freeze(&self) -> FrozenState {
        FrozenState {
            limits: self.limits,
            accounting_date: self.accounting_date,
            window: self.window,
            filter: self.filter.clone(),
            accounts: self.accounts.clone(),
            first_ordinal: self.first_ordinal,
            transfers: self.transfers.share(),
            pendings: self.pendings.iter().map(|(&i, p)| (i, *p)).collect(),
            resolutions: self.resolutions.iter().map(|(&a, &b)| (a, b)).collect(),
        }
    }

    fn parts<'a>(&'a self, window: usize, filter: &'a IdFilter, skip: usize) -> Parts<'a> {
        Parts {
            limits: &self.limits,
            accounting_date: self.accounting_date,
            window,
            filter,
            accounts: &self.accounts,
            first_ordinal: self.first_ordinal,
            transfers: &self.transfers,
            skip,
        }
    }

    /// The state hash a ledger keeping only `window` transfers in memory, with a filter of
    /// `filter_bytes`, would have now (its window full): what `verify`, which keeps the whole
    /// history, checks a snapshot taken that way against. `None` once transfers have left
    /// this ledger's memory and the question is not its own.
    pub fn state_hash_as(&self, window: usize, filter_bytes: usize) -> Option<[u8; 32]> {
        if window == self.window
            && filter_bytes == self.filter.bytes()
            && self.transfers.len() <= window
        {
            return Some(self.state_hash());
        }
        if self.first_ordinal != 0 {
            return None;
        }
        let window = window.clamp(1, WINDOW_MAX);
        let skip = self.transfers.len().saturating_sub(window);
        let mut filter = IdFilter::with_bytes(filter_bytes);
        for record in self.transfers.iter().take(skip) {
            filter.insert(record.id());
        }
        // What the windowed ledger would still hold: its window's transfers, the resolutions
        // they made, every pending transfer still pending, and the others while they or
        // their post or void are in the window.
        let kept = |id: u128| {
            self.transfer_index_of(id)
                .is_some_and(|at| self.ordinal_at(at) >= skip as u64)
        };
        let resolved_by: HashMap<u128, u128> =
            self.resolutions.iter().map(|(&by, &p)| (p, by)).collect();
        let pendings = self
            .pendings
            .iter()
            .filter(|(&id, p)| {
                p.status == PendingStatus::Pending
                    || match p.status {
                        PendingStatus::Expired => kept(id),
                        _ => resolved_by.get(&id).is_some_and(|&by| kept(by)),
                    }
            })
            .map(|(&id, p)| (id, p))
            .collect();
        let resolutions = self
            .resolutions
            .iter()
            .filter(|(&by, _)| kept(by))
            .map(|(&a, &b)| (a, b))
            .collect();
        let mut hasher = HashWriter(Sha256::new());
        let mut out = io::BufWriter::with_capacity(1 << 16, &mut hasher);
        let encoded = self
            .parts(window, &filter, skip)
            .encode(&mut out, pendings, resolutions)
            .and_then(|()| out.flush());
        debug_assert!(encoded.is_ok());
        drop(out);
        Some(hasher.0.finalize().into())
    }
}

/// A ledger's state as [`Ledger::freeze`] took it.
pub struct FrozenState {
    limits: TierLimits,
    accounting_date: AccountingDate,
    window: usize,
    filter: IdFilter,
    accounts: Vec<Account>,
    first_ordinal: u64,
    transfers: Window,
    pendings: Vec<(u128, Pending)>,
    resolutions: Vec<(u128, u128)>,
}

impl FrozenState {
    /// Writes the bytes [`Ledger::encode_snapshot`] would have written when it was taken.
    pub fn encode(&self, out: &mut impl Write) -> io::Result<()> {
        Parts {
            limits: &self.limits,
            accounting_date: self.accounting_date,
            window: self.window,
            filter: &self.filter,
            accounts: &self.accounts,
            first_ordinal: self.first_ordinal,
            transfers: &self.transfers,
            skip: 0,
        }
        .encode(
            out,
            self.pendings.iter().map(|(i, p)| (*i, p)).collect(),
            self.resolutions.clone(),
        )
    }
}

/// What a snapshot encodes, wherever it lives: the skipped oldest transfers of the window
/// left out (`state_hash_as` encodes a smaller window than the ledger's).
struct Parts<'a> {
    limits: &'a TierLimits,
    accounting_date: AccountingDate,
    window: usize,
    filter: &'a IdFilter,
    accounts: &'a [Account],
    first_ordinal: u64,
    transfers: &'a Window,
    skip: usize,
}

impl Parts<'_> {
    fn encode(
        &self,
        out: &mut impl Write,
        mut pendings: Vec<(u128, &Pending)>,
        mut resolutions: Vec<(u128, u128)>,
    ) -> io::Result<()> {
        let (window, filter, skip) = (self.window, self.filter, self.skip);
        out.write_all(MAGIC)?;
        for limit in self.limits.to_array() {
            out.write_all(&limit.to_le_bytes())?;
        }
        out.write_all(&self.accounting_date.0.to_le_bytes())?;
        out.write_all(&(window as u64).to_le_bytes())?;
        out.write_all(&(filter.word_count() as u64).to_le_bytes())?;
        out.write_all(&filter.inserted().to_le_bytes())?;
        // A filter fills with history: while most of its words are zero, only the others
        // are written (each after the count of zero words before it), so a young ledger's
        // snapshot does not carry its whole filter.
        let nonzero: usize = filter
            .pages()
            .filter_map(|(page, _)| page)
            .map(|page| page.iter().filter(|&&w| w != 0).count())
            .sum();
        let mut bytes = Vec::with_capacity(1 << 16);
        if nonzero * 2 < filter.word_count() {
            out.write_all(&[FILTER_SPARSE])?;
            out.write_all(&(nonzero as u64).to_le_bytes())?;
            let mut zeros = 0u64;
            for (page, len) in filter.pages() {
                let Some(page) = page else {
                    // A page never written: its words are all zero.
                    zeros += len as u64;
                    continue;
                };
                for &word in page {
                    if word == 0 {
                        zeros += 1;
                        continue;
                    }
                    bytes.extend_from_slice(&zeros.to_le_bytes());
                    bytes.extend_from_slice(&word.to_le_bytes());
                    zeros = 0;
                    if bytes.len() >= 1 << 16 {
                        out.write_all(&bytes)?;
                        bytes.clear();
                    }
                }
            }
            out.write_all(&bytes)?;
        } else {
            out.write_all(&[FILTER_DENSE])?;
            bytes.clear();
            for word in filter.iter_words() {
                bytes.extend_from_slice(&word.to_le_bytes());
                if bytes.len() >= 1 << 16 {
                    out.write_all(&bytes)?;
                    bytes.clear();
                }
            }
            out.write_all(&bytes)?;
        }
        out.write_all(&(self.accounts.len() as u64).to_le_bytes())?;
        for account in self.accounts {
            out.write_all(&encode_account(account))?;
        }
        out.write_all(&(self.first_ordinal + skip as u64).to_le_bytes())?;
        out.write_all(&((self.transfers.len() - skip) as u64).to_le_bytes())?;
        for record in self.transfers.iter().skip(skip) {
            out.write_all(&encode_transfer(record))?;
        }
        pendings.sort_unstable_by_key(|&(id, _)| id);
        out.write_all(&(pendings.len() as u64).to_le_bytes())?;
        for (id, pending) in pendings {
            out.write_all(&encode_pending(id, pending))?;
        }
        resolutions.sort_unstable();
        out.write_all(&(resolutions.len() as u64).to_le_bytes())?;
        for (id, pending_id) in resolutions {
            out.write_all(&id.to_le_bytes())?;
            out.write_all(&pending_id.to_le_bytes())?;
        }
        Ok(())
    }
}

impl Ledger {
    /// The window a snapshot was taken with: its window and filter size, read from the start
    /// of its bytes (`None` if they are not a snapshot of this format).
    pub fn snapshot_retention(bytes: &[u8]) -> Option<(usize, usize)> {
        let at = 8 + 7 * 8 + 4;
        if bytes.len() < at + 16 || &bytes[..8] != MAGIC {
            return None;
        }
        let word = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or([0; 8]));
        Some((word(at) as usize, word(at + 8) as usize * 8))
    }

    /// Rebuilds a ledger from [`Ledger::encode_snapshot`]'s bytes, checking every field.
    pub fn decode_snapshot(input: &mut impl Read) -> Result<Ledger, SnapshotError> {
        let mut magic = [0; 8];
        input.read_exact(&mut magic)?;
        if &magic == MAGIC_V1 {
            return Err(SnapshotError::Outdated);
        }
        if &magic != MAGIC {
            return Err(corrupt("unknown format (bad magic)"));
        }
        let mut limits = [0u64; 7];
        for limit in &mut limits {
            *limit = read_u64(input)?;
        }
        let accounting_date = AccountingDate(read_i32(input)?);
        let window = read_u64(input)?;
        if window == 0 || window > WINDOW_MAX as u64 {
            return Err(corrupt(format!("a window of {window} transfers")));
        }
        let words = read_u64(input)?;
        if words > (1 << 34) || !words.is_multiple_of(8) {
            return Err(corrupt(format!("a filter of {words} words")));
        }
        let inserted = read_u64(input)?;
        let mut tag = [0u8; 1];
        input.read_exact(&mut tag)?;
        let filter_words = match tag[0] {
            FILTER_DENSE => {
                let mut filter_words = Vec::with_capacity(words as usize);
                let mut buf = vec![0u8; 1 << 16];
                let mut left = words as usize;
                while left > 0 {
                    let n = left.min(buf.len() / 8);
                    input.read_exact(&mut buf[..n * 8])?;
                    filter_words.extend(
                        buf[..n * 8]
                            .chunks_exact(8)
                            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))),
                    );
                    left -= n;
                }
                filter_words
            }
            FILTER_SPARSE => {
                let nonzero = read_u64(input)?;
                if nonzero > words {
                    return Err(corrupt("a filter with more words set than it has"));
                }
                let mut filter_words = vec![0u64; words as usize];
                let mut at = 0u64;
                for _ in 0..nonzero {
                    at = at.saturating_add(read_u64(input)?);
                    let word = read_u64(input)?;
                    let slot = filter_words
                        .get_mut(at as usize)
                        .filter(|_| word != 0)
                        .ok_or_else(|| corrupt("a filter word out of place"))?;
                    *slot = word;
                    at += 1;
                }
                filter_words
            }
            other => return Err(corrupt(format!("a filter of unknown form {other}"))),
        };
        let filter = IdFilter::from_parts(filter_words, inserted)
            .ok_or_else(|| corrupt("a filter of partial blocks"))?;
        let mut ledger = Ledger::with_window(TierLimits::from_array(limits), window as usize, 0);
        ledger.filter = filter;
        ledger.accounting_date = accounting_date;
        let count = read_len(input, "accounts")?;
        // Reserve no more than a corrupt count could make us regret; the vectors grow as read.
        ledger.accounts.reserve_exact(count.min(1 << 20));
        let mut buf = [0u8; ACCOUNT_BYTES];
        for _ in 0..count {
            input.read_exact(&mut buf)?;
            ledger.accounts.push(decode_account(&buf)?);
        }
        let accounts = ledger.accounts.len() as u32;
        ledger.first_ordinal = read_u64(input)?;
        let count = read_len(input, "transfers")?;
        if count > ledger.window {
            return Err(corrupt("more transfers than the window holds"));
        }
        let mut buf = [0u8; TRANSFER_BYTES];
        for _ in 0..count {
            input.read_exact(&mut buf)?;
            let record = decode_transfer(&buf);
            if record.debit_index >= accounts || record.credit_index >= accounts {
                return Err(corrupt("transfer refers to an account that does not exist"));
            }
            ledger.transfers.push_back(record);
        }
        let count = read_len(input, "pending transfers")?;
        let mut pendings = HashMap::with_capacity(count.min(1 << 20));
        let mut buf = [0u8; PENDING_BYTES];
        for _ in 0..count {
            input.read_exact(&mut buf)?;
            let (id, pending) = decode_pending(&buf)?;
            let r = &pending.record;
            if r.id() != id || r.debit_index >= accounts || r.credit_index >= accounts {
                return Err(corrupt("a pending transfer's record does not fit it"));
            }
            pendings.insert(id, pending);
        }
        ledger.pendings = pendings;
        let count = read_len(input, "resolutions")?;
        for _ in 0..count {
            let id = read_u128(input)?;
            let pending_id = read_u128(input)?;
            if !ledger.pendings.contains_key(&pending_id) {
                return Err(corrupt(
                    "resolution refers to a pending transfer that is not there",
                ));
            }
            ledger.resolutions.insert(id, pending_id);
        }
        let mut rest = [0u8; 1];
        if input.read(&mut rest)? != 0 {
            return Err(corrupt("trailing bytes after the state"));
        }
        ledger.rebuild_derived().map_err(corrupt)?;
        if ledger
            .resolutions
            .keys()
            .any(|&id| ledger.transfer_index_of(id).is_none())
        {
            return Err(corrupt("resolution by a transfer outside the window"));
        }
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
    w.put(&t.timestamp.to_le_bytes());
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
        timestamp: r.u64(),
    }
}

fn encode_pending(id: u128, p: &Pending) -> [u8; PENDING_BYTES] {
    let mut buf = [0u8; PENDING_BYTES];
    let mut w = Cursor {
        buf: &mut buf,
        at: 0,
    };
    w.put(&id.to_le_bytes());
    w.put(&encode_transfer(&p.record));
    w.put(&p.timeout_ms.to_le_bytes());
    w.put(&p.expires_at.to_le_bytes());
    w.put(&[p.status as u8]);
    w.put(&p.charged_on.0.to_le_bytes());
    w.put(&p.outflow_charged.to_le_bytes());
    w.put(&p.inflow_charged.to_le_bytes());
    buf
}

fn decode_pending(buf: &[u8; PENDING_BYTES]) -> Result<(u128, Pending), SnapshotError> {
    let mut r = Reader { buf, at: 0 };
    let id = r.u128();
    let record = decode_transfer(&r.array());
    let timeout_ms = r.u64();
    let expires_at = r.u64();
    let status = PendingStatus::from_u8(r.u8()).ok_or_else(|| corrupt("bad pending status"))?;
    let pending = Pending {
        record,
        timeout_ms,
        expires_at,
        status,
        charged_on: AccountingDate(r.i32()),
        outflow_charged: r.u64(),
        inflow_charged: r.u64(),
    };
    Ok((id, pending))
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

fn read_u128(input: &mut impl Read) -> io::Result<u128> {
    let mut buf = [0u8; 16];
    input.read_exact(&mut buf)?;
    Ok(u128::from_le_bytes(buf))
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
