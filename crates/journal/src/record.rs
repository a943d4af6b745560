//! The journal's record of one batch: its commands (with their timestamps) and results as
//! bytes, and the hash that chains it to the batch before.
//!
//! The encoding is the journal's own, versioned by the schema: segment lengths, then per
//! command a timestamp step and a tag byte, numbers as LEB128 varints. It is what the hash
//! covers, so it must never change for batches already written.

use sha2::{Digest, Sha256};
use suanpan_ledger::{
    AccountFlags, AccountingDate, Command, Currency, Ledger, NewAccount, Reference, ResultCode,
    Stamped, SubjectCode, Tier, Transfer, TransferFlags,
};

/// The hash before the first batch.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

const TAG_CREATE_ACCOUNT: u8 = 1;
const TAG_CREATE_TRANSFER: u8 = 2;
const TAG_FREEZE: u8 = 3;
const TAG_UNFREEZE: u8 = 4;
const TAG_CLOSE: u8 = 5;
const TAG_CUTOVER: u8 = 6;
const TAG_EXPIRE: u8 = 7;

/// `hash(n) = SHA-256(hash(n-1) ‖ n ‖ accounting date ‖ body ‖ results)`.
pub fn chain_hash(
    prev: &[u8; 32],
    seq: u64,
    date: AccountingDate,
    body: &[u8],
    results: &[u8],
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(seq.to_le_bytes());
    hasher.update(date.0.to_le_bytes());
    hasher.update((body.len() as u64).to_le_bytes());
    hasher.update(body);
    hasher.update(results);
    hasher.finalize().into()
}

pub fn encode_results(results: &[ResultCode]) -> Vec<u8> {
    results.iter().map(|&r| r as u8).collect()
}

pub fn decode_results(bytes: &[u8]) -> Result<Vec<ResultCode>, String> {
    bytes
        .iter()
        .map(|&b| ResultCode::from_u8(b).ok_or_else(|| format!("unknown result code {b}")))
        .collect()
}

/// A batch body: the lengths of its segments, then its commands. A segment is what the engine
/// applied with one `Ledger::apply` call (one client request, or the engine's own commands),
/// so that replay cuts linked chains exactly where the engine did.
pub fn encode_batch(segments: &[u32], commands: &[Stamped], out: &mut Vec<u8>) {
    debug_assert_eq!(
        segments.iter().map(|&s| s as usize).sum::<usize>(),
        commands.len()
    );
    out.extend_from_slice(&(segments.len() as u32).to_le_bytes());
    for segment in segments {
        out.extend_from_slice(&segment.to_le_bytes());
    }
    encode_commands(commands, out);
}

pub fn decode_batch(bytes: &[u8]) -> Result<(Vec<u32>, Vec<Stamped>), String> {
    if crate::layout::is_second_form(bytes) {
        let decoded = crate::layout::decode(bytes)?;
        return Ok((decoded.segments, decoded.commands));
    }
    let mut rest = bytes;
    let mut r = Reader { bytes: &mut rest };
    let count = r.u32()? as usize;
    if count > bytes.len() / 4 {
        return Err(format!("{count} segments cannot fit the batch body"));
    }
    let segments = (0..count)
        .map(|_| r.u32())
        .collect::<Result<Vec<u32>, String>>()?;
    let commands = decode_commands(rest)?;
    if segments.iter().map(|&s| s as usize).sum::<usize>() != commands.len() {
        return Err("segment lengths do not add up to the commands".into());
    }
    Ok((segments, commands))
}

/// Applies a decoded batch the way the engine did: segment by segment, each with the past
/// transfers it names read back first (see recall.rs). `history` may be `None` only for a
/// ledger that keeps everything in memory.
pub fn apply_batch(
    ledger: &mut Ledger,
    segments: &[u32],
    commands: &[Stamped],
    results: &mut Vec<ResultCode>,
    mut history: Option<&mut crate::recall::History<'_>>,
) -> Result<(), crate::JournalError> {
    let batch_start = commands.first().map_or(u64::MAX, |c| c.timestamp);
    let mut start = 0;
    for &segment in segments {
        let end = start + segment as usize;
        crate::recall::apply_segment(
            ledger,
            &commands[start..end],
            batch_start,
            results,
            history.as_deref_mut(),
        )?;
        start = end;
    }
    Ok(())
}

/// Numbers are LEB128 varints (ids, amounts and codes are mostly small) and each timestamp
/// is the step from the one before: a typical transfer takes about 30 bytes, not 100.
fn encode_commands(commands: &[Stamped], out: &mut Vec<u8>) {
    out.reserve(commands.len() * 40);
    let mut previous = 0u64;
    for stamped in commands {
        encode_command(stamped, &mut previous, out);
    }
}

/// One command: its timestamp as the step from `previous` (then moved on), its tag, its fields.
pub(crate) fn encode_command(stamped: &Stamped, previous: &mut u64, out: &mut Vec<u8>) {
    put_var(out, u128::from(stamped.timestamp.wrapping_sub(*previous)));
    *previous = stamped.timestamp;
    match &stamped.command {
        Command::CreateAccount(a) => {
            out.push(TAG_CREATE_ACCOUNT);
            put_var(out, a.id);
            out.extend_from_slice(&a.currency.as_bytes());
            put_short(out, a.subject.as_str().as_bytes());
            put_var(out, u128::from(a.owner));
            out.push(a.tier as u8);
            put_var(out, a.bound_account);
            put_var(out, u128::from(a.flags.0));
        }
        Command::CreateTransfer(t) => {
            out.push(TAG_CREATE_TRANSFER);
            put_var(out, t.id);
            put_var(out, t.debit_account_id);
            put_var(out, t.credit_account_id);
            put_var(out, u128::from(t.amount));
            out.extend_from_slice(&t.currency.as_bytes());
            put_var(out, u128::from(t.code));
            put_var(out, u128::from(t.flags.0));
            put_var(out, t.pending_id);
            put_var(out, u128::from(t.timeout_ms));
            put_short(out, t.reference.as_bytes());
        }
        Command::FreezeAccount { id } => put_id(out, TAG_FREEZE, *id),
        Command::UnfreezeAccount { id } => put_id(out, TAG_UNFREEZE, *id),
        Command::CloseAccount { id } => put_id(out, TAG_CLOSE, *id),
        Command::ExpirePending { pending_id } => put_id(out, TAG_EXPIRE, *pending_id),
        Command::Cutover { date } => {
            out.push(TAG_CUTOVER);
            out.extend_from_slice(&date.0.to_le_bytes());
        }
    }
}

pub(crate) fn put_var(out: &mut Vec<u8>, mut value: u128) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_id(out: &mut Vec<u8>, tag: u8, id: u128) {
    out.push(tag);
    put_var(out, id);
}

fn put_short(out: &mut Vec<u8>, bytes: &[u8]) {
    debug_assert!(bytes.len() <= usize::from(u8::MAX));
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

fn decode_commands(mut bytes: &[u8]) -> Result<Vec<Stamped>, String> {
    let mut commands = Vec::new();
    let mut previous = 0u64;
    while !bytes.is_empty() {
        let mut r = Reader { bytes: &mut bytes };
        commands.push(decode_command(&mut r, &mut previous)?);
    }
    Ok(commands)
}

/// One command as [`encode_command`] wrote it.
pub(crate) fn decode_command(
    r: &mut Reader<'_, '_>,
    previous: &mut u64,
) -> Result<Stamped, String> {
    let step = r.var_u64()?;
    let timestamp = previous.checked_add(step).ok_or("timestamp overflows")?;
    *previous = timestamp;
    let command = match r.u8()? {
        TAG_CREATE_ACCOUNT => Command::CreateAccount(NewAccount {
            id: r.var()?,
            currency: r.currency()?,
            subject: {
                let raw = r.short()?;
                std::str::from_utf8(raw)
                    .ok()
                    .and_then(SubjectCode::parse)
                    .ok_or("bad subject code")?
            },
            owner: r.var_u64()?,
            tier: Tier::from_u8(r.u8()?).ok_or("bad tier")?,
            bound_account: r.var()?,
            flags: AccountFlags(r.var_u16()?),
        }),
        TAG_CREATE_TRANSFER => Command::CreateTransfer(Transfer {
            id: r.var()?,
            debit_account_id: r.var()?,
            credit_account_id: r.var()?,
            amount: r.var_u64()?,
            currency: r.currency()?,
            code: r.var_u16()?,
            flags: TransferFlags(r.var_u16()?),
            pending_id: r.var()?,
            timeout_ms: r.var_u64()?,
            reference: Reference::new(r.short()?).ok_or("reference too long")?,
        }),
        TAG_FREEZE => Command::FreezeAccount { id: r.var()? },
        TAG_UNFREEZE => Command::UnfreezeAccount { id: r.var()? },
        TAG_CLOSE => Command::CloseAccount { id: r.var()? },
        TAG_EXPIRE => Command::ExpirePending {
            pending_id: r.var()?,
        },
        TAG_CUTOVER => Command::Cutover {
            date: AccountingDate(r.i32()?),
        },
        tag => return Err(format!("unknown command tag {tag}")),
    };
    Ok(Stamped { timestamp, command })
}

pub(crate) struct Reader<'a, 'b> {
    pub(crate) bytes: &'b mut &'a [u8],
}

impl<'a> Reader<'a, '_> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err("batch body ends inside a command".into());
        }
        let (head, tail) = self.bytes.split_at(n);
        *self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A LEB128 varint of at most 128 bits.
    pub(crate) fn var(&mut self) -> Result<u128, String> {
        let mut value = 0u128;
        for shift in (0..128).step_by(7) {
            let byte = self.u8()?;
            let bits = u128::from(byte & 0x7f);
            if shift == 126 && bits > 0b11 {
                return Err("varint overflows 128 bits".into());
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 128 bits".into())
    }

    fn var_u64(&mut self) -> Result<u64, String> {
        u64::try_from(self.var()?).map_err(|_| "number does not fit 64 bits".to_string())
    }

    fn var_u16(&mut self) -> Result<u16, String> {
        u16::try_from(self.var()?).map_err(|_| "number does not fit 16 bits".to_string())
    }

    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn currency(&mut self) -> Result<Currency, String> {
        Currency::from_bytes(self.array()?).ok_or_else(|| "bad currency".into())
    }

    fn short(&mut self) -> Result<&'a [u8], String> {
        let len = usize::from(self.u8()?);
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_through_bytes() {
        let account = NewAccount {
            id: u128::MAX - 1,
            currency: Currency::CNY,
            subject: SubjectCode::parse("1002.01").unwrap_or_else(|| panic!("subject")),
            owner: 42,
            tier: Tier::III,
            bound_account: 7,
            flags: AccountFlags(5),
        };
        let transfer = Transfer {
            id: 1 << 100,
            debit_account_id: 2,
            credit_account_id: 3,
            amount: u64::MAX,
            currency: Currency::CNY,
            code: 9,
            reference: Reference::new("订单-1".as_bytes()).unwrap_or(Reference::EMPTY),
            flags: TransferFlags(TransferFlags::PENDING),
            pending_id: 0,
            timeout_ms: 60_000,
        };
        let commands = [
            Command::CreateAccount(account),
            Command::CreateTransfer(transfer),
            Command::FreezeAccount { id: 5 },
            Command::UnfreezeAccount { id: 5 },
            Command::CloseAccount { id: 5 },
            Command::Cutover {
                date: AccountingDate(20_000),
            },
            Command::ExpirePending {
                pending_id: 1 << 100,
            },
        ];
        let stamped: Vec<Stamped> = commands
            .iter()
            .enumerate()
            .map(|(i, &command)| Stamped {
                timestamp: 100 + i as u64,
                command,
            })
            .collect();
        let mut bytes = Vec::new();
        encode_batch(&[2, 5], &stamped, &mut bytes);
        assert_eq!(decode_batch(&bytes), Ok((vec![2, 5], stamped.clone())));
        assert!(decode_batch(&bytes[..bytes.len() - 1]).is_err());
        let mut wrong = Vec::new();
        encode_batch(&[2, 4], &stamped[..6], &mut wrong);
        wrong[4] = 3;
        assert!(decode_batch(&wrong).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        /// A damaged or foreign body (a file restored from a bad copy, a disk that lied) is
        /// refused or read, never a panic: recovery and `verify` must report it.
        #[test]
        fn damaged_batches_are_refused_never_a_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            flips in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 0..8),
        ) {
            let _ = decode_batch(&bytes);
            let _ = decode_results(&bytes);
            let transfer = Transfer::new(1 << 100, 2, 3, 500, Currency::CNY);
            let stamped = [
                Stamped { timestamp: 10, command: Command::CreateTransfer(transfer) },
                Stamped { timestamp: 11, command: Command::Cutover { date: AccountingDate(20_000) } },
            ];
            let mut good = Vec::new();
            encode_batch(&[1, 1], &stamped, &mut good);
            for (at, byte) in flips {
                if !good.is_empty() {
                    let i = at % good.len();
                    good[i] ^= byte;
                }
            }
            let _ = decode_batch(&good);
            let mut cut = good.clone();
            cut.truncate(bytes.len() % (good.len() + 1));
            let _ = decode_batch(&cut);
        }
    }
}
