//! A batch body, second form: the batch's transfers as fixed-width records that SQL can read,
//! then everything else. Each transfer is written once, in the body the hash chain covers,
//! and the `transfers` view of both backends reads it from there with nothing but the
//! standard `sqlite3` or `psql` (see view.rs). The first form (record.rs) stays readable:
//! batches written before keep their bytes and their hashes.
//!
//! ```text
//! 0   FF FF FF FF            a first-form body begins with its segment count, never this
//! 4   u8 2                   the form
//! 5   u32 N                  commands
//! 9   u32 T                  transfer records
//! 13  u64 base               the first command's timestamp
//! 21  u16 K                  accounting dates the batch moves to (cutovers inside it)
//! 23  u32 R                  bytes of references
//! 27  u8 offsets[35]         where each column starts in a record; offsets[34] is its width W
//! 62  T records of W bytes   big-endian, each column as wide as the batch's largest value
//!     K dates of 10 bytes    YYYY-MM-DD
//!     R bytes of references  each record names its slice
//!     u32 S, S × u32         segment lengths
//!     the other commands     each: varint command index, then its first-form encoding
//! ```
//!
//! Integers are big-endian and unsigned. A 128-bit id or an amount is three columns, `x`,
//! `y`, `z` with value `x·10^36 + y·10^18 + z`: each part fits SQLite's signed 64 bits and
//! prints as decimal with a zero-padded `printf`, the only exact way plain SQL has to show a
//! 128-bit number. A column whose values are all zero in the batch takes no bytes.
//!
//! A record also holds what the view shows but replay does not need: the accounting date in
//! force (an index into the dates) and, for a committed post or void, the accounts and amount
//! it actually moved. Decoding ignores them; `verify` re-encodes every batch from its replay
//! and compares the bytes, so they are checked as strictly as the commands.

use suanpan_ledger::{
    AccountingDate, Command, Currency, Reference, ResultCode, Stamped, Transfer, TransferFlags,
};

use crate::batch::Resolved;
use crate::record::{decode_command, encode_command, put_var, Reader};

pub const MAGIC: [u8; 4] = [0xff; 4];
pub const FORM: u8 = 2;
/// Bytes before the first record.
pub const HEADER: usize = 62;

/// The columns of a record, in order.
pub mod col {
    pub const COMMAND: usize = 0;
    pub const TIMESTAMP: usize = 1;
    pub const ID: usize = 2;
    pub const DEBIT: usize = 5;
    pub const CREDIT: usize = 8;
    pub const AMOUNT: usize = 11;
    pub const CURRENCY: usize = 14;
    pub const CODE: usize = 15;
    pub const FLAGS: usize = 16;
    pub const PENDING: usize = 17;
    pub const TIMEOUT: usize = 20;
    pub const REF_AT: usize = 21;
    pub const REF_LEN: usize = 22;
    pub const DATE: usize = 23;
    pub const RESOLVED_DEBIT: usize = 24;
    pub const RESOLVED_CREDIT: usize = 27;
    pub const RESOLVED_AMOUNT: usize = 30;
    /// The command's result code: the view shows only what was committed (zero) without
    /// reading the batch's results, which SQLite stores after the body.
    pub const RESULT: usize = 33;
    pub const COUNT: usize = 34;
}

/// The widest each column may be: a body claiming more is damaged. The x part of a 128-bit
/// number is at most 340, so two bytes.
const WIDTH_MAX: [u8; col::COUNT] = [
    4, 8, 2, 8, 8, 2, 8, 8, 2, 8, 8, 2, 8, 8, 3, 2, 2, 2, 8, 8, 8, 4, 1, 2, 2, 8, 8, 2, 8, 8, 2, 8,
    8, 1,
];

const E18: u128 = 1_000_000_000_000_000_000;

/// `(x, y, z)` with `v = x·10^36 + y·10^18 + z`.
#[inline]
fn split(v: u128) -> [u64; 3] {
    if v < E18 {
        return [0, 0, v as u64];
    }
    let q = v / E18;
    let z = (v - q * E18) as u64;
    if q < E18 {
        [0, q as u64, z]
    } else {
        let x = q / E18;
        [x as u64, (q - x * E18) as u64, z]
    }
}

fn join([x, y, z]: [u64; 3]) -> Option<u128> {
    let (x, y, z) = (u128::from(x), u128::from(y), u128::from(z));
    if y >= E18 || z >= E18 {
        return None;
    }
    x.checked_mul(E18 * E18)?.checked_add(y * E18 + z)
}

/// Bytes needed for `v`, big-endian.
#[inline]
fn width(v: u64) -> u8 {
    (64 - v.leading_zeros() as u8).div_ceil(8)
}

/// The largest value of each column, as the split parts bound it.
fn big_widths(max: u128, widths: &mut [u8; col::COUNT], at: usize) {
    let x = (max / (E18 * E18)) as u64;
    let y = (max / E18).min(E18 - 1) as u64;
    let z = max.min(E18 - 1) as u64;
    widths[at] = width(x);
    widths[at + 1] = width(y);
    widths[at + 2] = width(z);
}

/// One transfer record as encoding sees it.
struct Row<'a> {
    command: u32,
    timestamp: u64,
    t: &'a Transfer,
    date: u16,
    resolved: Option<(u128, u128, u64)>,
    result: u8,
}

/// Encodes a batch in the second form. `results` and `resolved` are the engine's (the view
/// shows committed transfers only, posts and voids as they moved).
pub fn encode(
    segments: &[u32],
    commands: &[Stamped],
    results: &[ResultCode],
    resolved: &[Resolved],
    out: &mut Vec<u8>,
) {
    debug_assert_eq!(commands.len(), results.len());
    let base = commands.first().map_or(0, |c| c.timestamp);
    let mut rows = Vec::with_capacity(commands.len());
    let mut dates: Vec<AccountingDate> = Vec::new();
    let mut resolved = resolved.iter().peekable();
    let mut max = [0u128; col::COUNT];
    let mut refs_len = 0usize;
    for (i, (stamped, result)) in commands.iter().zip(results).enumerate() {
        match &stamped.command {
            Command::Cutover { date } if *result == ResultCode::Ok => dates.push(*date),
            Command::CreateTransfer(t) => {
                let committed = *result == ResultCode::Ok;
                let resolved = match resolved.next_if(|r| r.command == i as u32) {
                    Some(r) if committed && t.flags.resolves_pending() => {
                        Some((r.debit_account_id, r.credit_account_id, r.amount))
                    }
                    _ => None,
                };
                let row = Row {
                    command: i as u32,
                    timestamp: stamped.timestamp - base,
                    t,
                    date: if committed { dates.len() as u16 } else { 0 },
                    resolved,
                    result: *result as u8,
                };
                max[col::COMMAND] = max[col::COMMAND].max(u128::from(row.command));
                max[col::TIMESTAMP] = max[col::TIMESTAMP].max(u128::from(row.timestamp));
                max[col::ID] = max[col::ID].max(t.id);
                max[col::DEBIT] = max[col::DEBIT].max(t.debit_account_id);
                max[col::CREDIT] = max[col::CREDIT].max(t.credit_account_id);
                max[col::AMOUNT] = max[col::AMOUNT].max(u128::from(t.amount));
                max[col::CODE] = max[col::CODE].max(u128::from(t.code));
                max[col::FLAGS] = max[col::FLAGS].max(u128::from(t.flags.0));
                max[col::PENDING] = max[col::PENDING].max(t.pending_id);
                max[col::TIMEOUT] = max[col::TIMEOUT].max(u128::from(t.timeout_ms));
                let reference = t.reference.as_bytes().len();
                if reference > 0 {
                    max[col::REF_AT] = max[col::REF_AT].max(refs_len as u128);
                    max[col::REF_LEN] = max[col::REF_LEN].max(reference as u128);
                    refs_len += reference;
                }
                max[col::DATE] = max[col::DATE].max(u128::from(row.date));
                max[col::RESULT] = max[col::RESULT].max(u128::from(row.result));
                if let Some((d, c, a)) = row.resolved {
                    max[col::RESOLVED_DEBIT] = max[col::RESOLVED_DEBIT].max(d);
                    max[col::RESOLVED_CREDIT] = max[col::RESOLVED_CREDIT].max(c);
                    max[col::RESOLVED_AMOUNT] = max[col::RESOLVED_AMOUNT].max(u128::from(a));
                }
                rows.push(row);
            }
            _ => {}
        }
    }

    let mut widths = [0u8; col::COUNT];
    for c in [
        col::COMMAND,
        col::TIMESTAMP,
        col::CODE,
        col::FLAGS,
        col::TIMEOUT,
        col::REF_AT,
        col::REF_LEN,
        col::DATE,
        col::RESULT,
    ] {
        widths[c] = width(max[c] as u64);
    }
    for c in [
        col::ID,
        col::DEBIT,
        col::CREDIT,
        col::AMOUNT,
        col::PENDING,
        col::RESOLVED_DEBIT,
        col::RESOLVED_CREDIT,
        col::RESOLVED_AMOUNT,
    ] {
        big_widths(max[c], &mut widths, c);
    }
    if !rows.is_empty() {
        widths[col::CURRENCY] = 3;
    }
    let mut offsets = [0u8; col::COUNT + 1];
    for c in 0..col::COUNT {
        offsets[c + 1] = offsets[c] + widths[c];
    }
    let record = usize::from(offsets[col::COUNT]);

    out.reserve(HEADER + rows.len() * record + dates.len() * 10 + refs_len + 64);
    out.extend_from_slice(&MAGIC);
    out.push(FORM);
    out.extend_from_slice(&(commands.len() as u32).to_be_bytes());
    out.extend_from_slice(&(rows.len() as u32).to_be_bytes());
    out.extend_from_slice(&base.to_be_bytes());
    out.extend_from_slice(&(dates.len() as u16).to_be_bytes());
    out.extend_from_slice(&(refs_len as u32).to_be_bytes());
    out.extend_from_slice(&offsets);

    let put = |out: &mut Vec<u8>, v: u64, w: u8| {
        out.extend_from_slice(&v.to_be_bytes()[8 - usize::from(w)..]);
    };
    let put_big = |out: &mut Vec<u8>, v: u128, at: usize| {
        let parts = split(v);
        for (k, part) in parts.into_iter().enumerate() {
            put(out, part, widths[at + k]);
        }
    };
    let mut ref_at = 0u64;
    for row in &rows {
        let t = row.t;
        put(out, u64::from(row.command), widths[col::COMMAND]);
        put(out, row.timestamp, widths[col::TIMESTAMP]);
        put_big(out, t.id, col::ID);
        put_big(out, t.debit_account_id, col::DEBIT);
        put_big(out, t.credit_account_id, col::CREDIT);
        put_big(out, u128::from(t.amount), col::AMOUNT);
        out.extend_from_slice(&t.currency.as_bytes());
        put(out, u64::from(t.code), widths[col::CODE]);
        put(out, u64::from(t.flags.0), widths[col::FLAGS]);
        put_big(out, t.pending_id, col::PENDING);
        put(out, t.timeout_ms, widths[col::TIMEOUT]);
        let reference = t.reference.as_bytes().len() as u64;
        put(
            out,
            if reference > 0 { ref_at } else { 0 },
            widths[col::REF_AT],
        );
        put(out, reference, widths[col::REF_LEN]);
        ref_at += reference;
        put(out, u64::from(row.date), widths[col::DATE]);
        let (d, c, a) = row.resolved.unwrap_or((0, 0, 0));
        put_big(out, d, col::RESOLVED_DEBIT);
        put_big(out, c, col::RESOLVED_CREDIT);
        put_big(out, u128::from(a), col::RESOLVED_AMOUNT);
        put(out, u64::from(row.result), widths[col::RESULT]);
    }
    for date in &dates {
        out.extend_from_slice(date.to_string().as_bytes());
    }
    for row in &rows {
        out.extend_from_slice(row.t.reference.as_bytes());
    }
    out.extend_from_slice(&(segments.len() as u32).to_be_bytes());
    for segment in segments {
        out.extend_from_slice(&segment.to_be_bytes());
    }
    let mut previous = 0u64;
    for (i, stamped) in commands.iter().enumerate() {
        if matches!(stamped.command, Command::CreateTransfer(_)) {
            continue;
        }
        put_var(out, i as u128);
        encode_command(stamped, &mut previous, out);
    }
}

/// Whether `body` is in the second form.
pub fn is_second_form(body: &[u8]) -> bool {
    body.len() >= 5 && body[..4] == MAGIC && body[4] == FORM
}

/// A transfer record read back, with what the view shows beside the command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRecord {
    pub command: u32,
    pub timestamp: u64,
    pub transfer: Transfer,
    /// 0: the batch's accounting date; k: the k-th date the batch moved to.
    pub date: u16,
    /// For a committed post or void: the accounts and amount it moved.
    pub resolved: Option<(u128, u128, u64)>,
}

/// A second-form body read back: the segments, the commands, and the transfer records.
pub struct Decoded {
    pub segments: Vec<u32>,
    pub commands: Vec<Stamped>,
    pub records: Vec<TransferRecord>,
    pub dates: Vec<AccountingDate>,
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |v, &b| v << 8 | u64::from(b))
}

/// A second-form body's header, checked: where everything in the body is.
struct Header {
    n: usize,
    t: usize,
    /// Dates the batch moves to.
    k: usize,
    base: u64,
    widths: [u8; col::COUNT],
    offsets: [u8; col::COUNT + 1],
    record: usize,
    records_end: usize,
    dates_end: usize,
    refs_end: usize,
}

impl Header {
    fn parse(body: &[u8]) -> Result<Header, String> {
        if !is_second_form(body) || body.len() < HEADER {
            return Err("batch body is too short for its header".into());
        }
        let n = be(&body[5..9]) as usize;
        let t = be(&body[9..13]) as usize;
        let base = be(&body[13..21]);
        let k = be(&body[21..23]) as usize;
        let refs_len = be(&body[23..27]) as usize;
        let mut offsets = [0u8; col::COUNT + 1];
        offsets.copy_from_slice(&body[27..HEADER]);
        let mut widths = [0u8; col::COUNT];
        for c in 0..col::COUNT {
            let w = offsets[c + 1]
                .checked_sub(offsets[c])
                .ok_or("record columns out of order")?;
            if w > WIDTH_MAX[c] || offsets[0] != 0 {
                return Err(format!("record column {c} is {w} bytes wide"));
            }
            widths[c] = w;
        }
        if t > 0 && widths[col::CURRENCY] != 3 {
            return Err("a record's currency is not 3 bytes".into());
        }
        let record = usize::from(offsets[col::COUNT]);
        if t > n || n > body.len() || t.saturating_mul(record.max(1)) > body.len() {
            return Err(format!(
                "{t} transfer records of {n} commands cannot fit the batch body"
            ));
        }
        let records_end = HEADER + t * record;
        let dates_end = records_end + k * 10;
        let refs_end = dates_end + refs_len;
        if refs_end > body.len() {
            return Err("batch body ends inside its records".into());
        }
        Ok(Header {
            n,
            t,
            k,
            base,
            widths,
            offsets,
            record,
            records_end,
            dates_end,
            refs_end,
        })
    }

    /// Record `i` (below `t`), read in place.
    fn record(&self, body: &[u8], i: usize) -> Result<TransferRecord, String> {
        let at_record = HEADER + i * self.record;
        let r = &body[at_record..at_record + self.record];
        let refs = &body[self.dates_end..self.refs_end];
        let widths = &self.widths;
        let mut at = 0usize;
        let mut field = |c: usize| {
            let w = usize::from(widths[c]);
            let v = be(&r[at..at + w]);
            at += w;
            v
        };
        let big = |field: &mut dyn FnMut(usize) -> u64, c: usize| {
            join([field(c), field(c + 1), field(c + 2)])
                .ok_or_else(|| format!("record column {c} is not a number"))
        };
        let command = field(col::COMMAND) as usize;
        let timestamp = self
            .base
            .checked_add(field(col::TIMESTAMP))
            .ok_or("timestamp overflows")?;
        let id = big(&mut field, col::ID)?;
        let debit = big(&mut field, col::DEBIT)?;
        let credit = big(&mut field, col::CREDIT)?;
        let amount =
            u64::try_from(big(&mut field, col::AMOUNT)?).map_err(|_| "amount overflows")?;
        let currency_at = usize::from(self.offsets[col::CURRENCY]);
        let mut currency = [0u8; 3];
        currency.copy_from_slice(&r[currency_at..currency_at + 3]);
        let currency = Currency::from_bytes(currency).ok_or("bad currency")?;
        // The currency column is read in place; step over it.
        let _ = field(col::CURRENCY);
        let code = u16::try_from(field(col::CODE)).map_err(|_| "code overflows")?;
        let flags = u16::try_from(field(col::FLAGS)).map_err(|_| "flags overflow")?;
        let pending_id = big(&mut field, col::PENDING)?;
        let timeout_ms = field(col::TIMEOUT);
        let ref_at = field(col::REF_AT) as usize;
        let ref_len = field(col::REF_LEN) as usize;
        let date = u16::try_from(field(col::DATE)).map_err(|_| "date overflows")?;
        let rd = big(&mut field, col::RESOLVED_DEBIT)?;
        let rc = big(&mut field, col::RESOLVED_CREDIT)?;
        let ra = u64::try_from(big(&mut field, col::RESOLVED_AMOUNT)?)
            .map_err(|_| "amount overflows")?;
        let reference = refs
            .get(ref_at..ref_at + ref_len)
            .and_then(Reference::new)
            .ok_or("a reference lies outside the batch body")?;
        if usize::from(date) > self.k {
            return Err("a record names a date the batch does not hold".into());
        }
        if command >= self.n {
            return Err("a transfer record names a command the batch does not hold".into());
        }
        let transfer = Transfer {
            id,
            debit_account_id: debit,
            credit_account_id: credit,
            amount,
            currency,
            code,
            reference,
            flags: TransferFlags(flags),
            pending_id,
            timeout_ms,
        };
        Ok(TransferRecord {
            command: command as u32,
            timestamp,
            transfer,
            date,
            // Accounts have non-zero ids: all zero is a record with nothing resolved.
            resolved: ((rd, rc, ra) != (0, 0, 0)).then_some((rd, rc, ra)),
        })
    }

    /// The command index of record `i`, read alone.
    fn command_of(&self, body: &[u8], i: usize) -> usize {
        let at = HEADER + i * self.record;
        be(&body[at..at + usize::from(self.widths[col::COMMAND])]) as usize
    }
}

/// The transfer that is command `index` of a second-form body, found by bisection over the
/// records (they are in command order) and read alone: a recall of one old transfer need not
/// decode its whole batch. `None` if that command is not a transfer.
pub fn transfer_at(body: &[u8], index: usize) -> Result<Option<Transfer>, String> {
    let header = Header::parse(body)?;
    let (mut lo, mut hi) = (0usize, header.t);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match header.command_of(body, mid).cmp(&index) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Ok(Some(header.record(body, mid)?.transfer)),
        }
    }
    Ok(None)
}

/// The first command's timestamp and the number of commands of a second-form body.
pub fn span(body: &[u8]) -> Result<(u64, usize), String> {
    let header = Header::parse(body)?;
    Ok((header.base, header.n))
}

pub fn decode(body: &[u8]) -> Result<Decoded, String> {
    let header = Header::parse(body)?;
    let Header {
        n,
        t,
        records_end,
        dates_end,
        refs_end,
        ..
    } = header;
    let mut dates = Vec::with_capacity((dates_end - records_end) / 10);
    for d in body[records_end..dates_end].chunks_exact(10) {
        let text = std::str::from_utf8(d).map_err(|_| "a date is not text")?;
        dates.push(AccountingDate::parse(text).ok_or("a date is not a date")?);
    }
    let mut slots: Vec<Option<Stamped>> = vec![None; n];
    let mut records = Vec::with_capacity(t);
    let mut previous_command = None;
    for i in 0..t {
        let record = header.record(body, i)?;
        let command = record.command as usize;
        if previous_command.is_some_and(|p| command <= p) {
            return Err("transfer records out of command order".into());
        }
        previous_command = Some(command);
        slots[command] = Some(Stamped {
            timestamp: record.timestamp,
            command: Command::CreateTransfer(record.transfer),
        });
        records.push(record);
    }

    let mut rest = &body[refs_end..];
    let mut r = Reader { bytes: &mut rest };
    let count = be(r.take(4)?) as usize;
    if count > body.len() / 4 {
        return Err(format!("{count} segments cannot fit the batch body"));
    }
    let mut segments = Vec::with_capacity(count);
    for _ in 0..count {
        segments.push(be(r.take(4)?) as u32);
    }
    let mut previous = 0u64;
    while !rest.is_empty() {
        let mut r = Reader { bytes: &mut rest };
        let index = usize::try_from(r.var()?).map_err(|_| "command index overflows")?;
        let stamped = decode_command(&mut r, &mut previous)?;
        match slots.get_mut(index) {
            Some(slot @ None) if !matches!(stamped.command, Command::CreateTransfer(_)) => {
                *slot = Some(stamped)
            }
            _ => return Err(format!("command {index} is out of place")),
        }
    }
    let commands = slots
        .into_iter()
        .collect::<Option<Vec<Stamped>>>()
        .ok_or("a command of the batch is missing")?;
    if segments.iter().map(|&s| s as usize).sum::<usize>() != commands.len() {
        return Err("segment lengths do not add up to the commands".into());
    }
    Ok(Decoded {
        segments,
        commands,
        records,
        dates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use suanpan_ledger::{AccountFlags, NewAccount, SubjectCode, Tier};

    fn transfer(id: u128, debit: u128, credit: u128, amount: u64) -> Transfer {
        Transfer::new(id, debit, credit, amount, Currency::CNY)
    }

    /// Every kind of command, the widest numbers, a post resolved and a cutover inside.
    fn sample() -> (Vec<u32>, Vec<Stamped>, Vec<ResultCode>, Vec<Resolved>) {
        let mut pending = transfer(u128::MAX, 1, u128::MAX - 1, u64::MAX);
        pending.flags = TransferFlags(TransferFlags::PENDING);
        pending.timeout_ms = u64::MAX;
        pending.reference = Reference::new("订单-1".as_bytes()).unwrap_or(Reference::EMPTY);
        let mut post = transfer(7, 0, 0, 0);
        post.flags = TransferFlags(TransferFlags::POST_PENDING);
        post.pending_id = u128::MAX;
        post.reference = Reference::new(&[0xff, 0]).unwrap_or(Reference::EMPTY);
        let account = NewAccount {
            id: 1 << 100,
            currency: Currency::CNY,
            subject: SubjectCode::parse("1002.01").unwrap_or_else(|| panic!("subject")),
            owner: 42,
            tier: Tier::III,
            bound_account: 7,
            flags: AccountFlags(5),
        };
        let commands = vec![
            Command::CreateAccount(account),
            Command::CreateTransfer(pending),
            Command::Cutover {
                date: AccountingDate(20_001),
            },
            Command::CreateTransfer(post),
            Command::ExpirePending { pending_id: 3 },
            Command::CreateTransfer(transfer(10_u128.pow(36), 2, 3, 1)),
            Command::FreezeAccount { id: 5 },
        ];
        let stamped = commands
            .into_iter()
            .enumerate()
            .map(|(i, command)| Stamped {
                timestamp: 1_700_000_000_000_000_000 + 1000 * i as u64,
                command,
            })
            .collect();
        let mut results = vec![ResultCode::Ok; 7];
        results[5] = ResultCode::Exists;
        let resolved = vec![Resolved {
            command: 3,
            debit_account_id: 1,
            credit_account_id: u128::MAX - 1,
            amount: 9,
        }];
        (vec![3, 4], stamped, results, resolved)
    }

    #[test]
    fn a_batch_reads_back_as_it_was_written() {
        let (segments, commands, results, resolved) = sample();
        let mut body = Vec::new();
        encode(&segments, &commands, &results, &resolved, &mut body);
        assert!(is_second_form(&body));
        let decoded = decode(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded.segments, segments);
        assert_eq!(decoded.commands, commands);
        assert_eq!(decoded.dates, vec![AccountingDate(20_001)]);
        let r = &decoded.records;
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].date, r[1].date, r[2].date), (0, 1, 0));
        assert_eq!(r[1].resolved, Some((1, u128::MAX - 1, 9)));
        assert_eq!((r[0].resolved, r[2].resolved), (None, None));
        assert_eq!(crate::record::decode_batch(&body), Ok((segments, commands)));
    }

    #[test]
    fn numbers_split_and_join_exactly() {
        for v in [
            0,
            1,
            E18 - 1,
            E18,
            E18 * E18 - 1,
            E18 * E18,
            u128::MAX,
            1 << 64 | 17,
        ] {
            assert_eq!(join(split(v)), Some(v));
            let [x, y, z] = split(v);
            assert!(x <= 340 && u128::from(y) < E18 && u128::from(z) < E18);
        }
        assert_eq!(join([0, E18 as u64, 0]), None);
        assert_eq!(join([341, 0, 0]), None);
    }

    fn any_transfer() -> impl Strategy<Value = Transfer> {
        (
            any::<u128>(),
            0u128..1 << 70,
            any::<u128>(),
            any::<u64>(),
            any::<u16>(),
            0u16..64,
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..8),
        )
            .prop_map(
                |(id, debit, credit, amount, code, flags, timeout, reference)| {
                    let mut t = transfer(id, debit, credit, amount);
                    t.code = code;
                    t.flags = TransferFlags(flags);
                    t.pending_id = if flags & 1 == 1 { id / 3 } else { 0 };
                    t.timeout_ms = timeout >> (flags % 64);
                    t.reference = Reference::new(&reference).unwrap_or(Reference::EMPTY);
                    t
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..Default::default() })]

        #[test]
        fn transfers_round_trip(transfers in proptest::collection::vec(any_transfer(), 0..40), others in proptest::collection::vec(any::<u64>(), 0..6)) {
            let mut commands: Vec<Stamped> = transfers.into_iter().map(|t| Stamped { timestamp: 0, command: Command::CreateTransfer(t) }).collect();
            for (i, o) in others.iter().enumerate() {
                let at = (*o as usize) % (commands.len() + 1);
                commands.insert(at, Stamped { timestamp: 0, command: Command::CloseAccount { id: u128::from(*o) + i as u128 } });
            }
            for (i, c) in commands.iter_mut().enumerate() {
                c.timestamp = 5_000 + 17 * i as u64;
            }
            let results = vec![ResultCode::Ok; commands.len()];
            let segments = if commands.is_empty() { vec![] } else { vec![commands.len() as u32] };
            let mut body = Vec::new();
            encode(&segments, &commands, &results, &[], &mut body);
            let decoded = decode(&body).map_err(TestCaseError::fail)?;
            // One command read in place is the command decoded with the rest.
            for (i, c) in commands.iter().enumerate() {
                let alone = transfer_at(&body, i).map_err(TestCaseError::fail)?;
                let expected = match c.command {
                    Command::CreateTransfer(t) => Some(t),
                    _ => None,
                };
                prop_assert_eq!(alone, expected);
            }
            prop_assert_eq!(transfer_at(&body, commands.len()).map_err(TestCaseError::fail)?, None);
            prop_assert_eq!(decoded.commands, commands);
            prop_assert_eq!(decoded.segments, segments);
        }

        /// A damaged body is refused or read, never a panic.
        #[test]
        fn damaged_bodies_are_refused_never_a_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
            let (segments, commands, results, resolved) = sample();
            let mut body = Vec::new();
            encode(&segments, &commands, &results, &resolved, &mut body);
            let mut bad = body.clone();
            for (at, byte) in flips {
                let i = at % bad.len();
                bad[i] ^= byte;
            }
            let _ = decode(&bad);
            let _ = crate::record::decode_batch(&bad);
            for i in 0..commands.len() + 1 {
                let _ = transfer_at(&bad, i);
            }
            body.truncate(cut % body.len());
            let _ = decode(&body);
        }
    }
}
