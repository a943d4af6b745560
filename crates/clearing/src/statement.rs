//! Statement files (对账单): one per participant per batch, every transaction of the
//! participant in the batch with its counterpart, then a trailer with the counts, the sums and
//! the SHA-256 of everything above it. The format is docs/statement-format.md (version 1).
//!
//! Each file is written to a temporary name, synced and renamed, and the directory is synced
//! once all are in: a statement is either complete or absent.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use sha2::{Digest, Sha256};
use suanpan_ledger::Reference;

use crate::decimal::{push_hex, push_i128, push_u128, push_u64};
use crate::file::{sync_dir, temp_path};
use crate::{ClearedBatch, ClearingError, Registry, TransactionLine, CLEARING_CURRENCY};

pub const STATEMENT_FORMAT_VERSION: u32 = 1;
const COLUMNS: &[u8] =
    b"C,transaction_id,timestamp_ns,kind,direction,counterpart,amount_fen,fee_fen,status,reference\n";
/// Bytes gathered before each write to the file.
const WRITE_CHUNK_BYTES: usize = 1 << 20;
/// Threads formatting statements (the machine's two cores), and threads waiting on the disk.
const WRITERS: usize = 2;
const SYNCERS: usize = 2;
/// Lines copied per group of participants (48 bytes each: about 200 MB).
const GROUP_LINES_MAX: usize = 4 << 20;
/// Written files waiting to be synced: each holds an open descriptor, so a few.
const SYNC_QUEUE_FILES: usize = 16;

/// A statement's trailer, as written (and as read back by [`read_statement_trailer`]).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct StatementTrailer {
    pub participant: u16,
    pub path: PathBuf,
    pub lines: u64,
    pub paid_count: u64,
    pub paid_fen: u128,
    pub received_count: u64,
    pub received_fen: u128,
    pub fee_fen: u128,
    pub net_fen: i128,
    pub sha256_hex: String,
}

/// The file name of `participant`'s statement for `batch`.
pub fn statement_file_name(batch: u64, participant: u16) -> String {
    format!("statement-{batch:08}-{participant:04}.csv")
}

/// Writes the statement of every registered participant (and of any other that moved money in
/// the batch) into `out_dir`. `progress` is told how many are done, out of how many.
pub fn write_statements(
    out_dir: &Path,
    cleared: &ClearedBatch,
    registry: &Registry,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<StatementTrailer>, ClearingError> {
    std::fs::create_dir_all(out_dir)
        .map_err(|e| ClearingError::Io(format!("cannot create {}: {e}", out_dir.display())))?;
    let mut participants: Vec<u16> = registry.all().map(|p| p.number).collect();
    participants.extend(cleared.netting.active_positions().map(|p| p.participant));
    participants.sort_unstable();
    participants.dedup();
    let groups = participant_groups(cleared, &participants, GROUP_LINES_MAX);
    let done = AtomicUsize::new(0);
    let trailers = Mutex::new(Vec::with_capacity(participants.len()));
    let failure = Mutex::new(None);
    // Writers format and hash; syncers make each file durable and rename it. The disk then
    // works while the next files are formatted, instead of after.
    let (to_sync, synced) = mpsc::sync_channel::<Written>(SYNC_QUEUE_FILES);
    let synced = Mutex::new(synced);
    std::thread::scope(|scope| {
        for _ in 0..SYNCERS {
            scope.spawn(|| loop {
                let next = lock(&synced).recv();
                let Ok(written) = next else { return };
                match written.finish() {
                    Ok(trailer) => lock(&trailers).push(trailer),
                    Err(e) => {
                        lock(&failure).get_or_insert(e);
                    }
                }
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, participants.len());
            });
        }
        for group in &groups {
            if lock(&failure).is_some() {
                break;
            }
            let lines_of = gather_lines(cleared, group);
            let next = AtomicUsize::new(0);
            std::thread::scope(|writers| {
                for _ in 0..WRITERS {
                    let to_sync = to_sync.clone();
                    writers.spawn(|| {
                        let to_sync = to_sync;
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= group.len() || lock(&failure).is_some() {
                                return;
                            }
                            let participant = group[i];
                            let code = registry
                                .get(participant)
                                .map_or_else(|| format!("P{participant:04}"), |p| p.code.clone());
                            match write_one(out_dir, cleared, participant, &code, &lines_of[i]) {
                                Ok(written) => {
                                    if to_sync.send(written).is_err() {
                                        return;
                                    }
                                }
                                Err(e) => {
                                    lock(&failure).get_or_insert(e);
                                    return;
                                }
                            }
                        }
                    });
                }
            });
        }
        drop(to_sync);
    });
    if let Some(e) = lock(&failure).take() {
        return Err(e);
    }
    sync_dir(out_dir)?;
    let mut trailers = std::mem::take(&mut *lock(&trailers));
    trailers.sort_by_key(|t| t.participant);
    Ok(trailers)
}

/// A statement written in full to its temporary name, not yet durable.
struct Written {
    file: File,
    temp: PathBuf,
    trailer: StatementTrailer,
}

impl Written {
    fn finish(self) -> Result<StatementTrailer, ClearingError> {
        let io = |e: std::io::Error| {
            ClearingError::Io(format!("cannot write {}: {e}", self.temp.display()))
        };
        self.file.sync_all().map_err(io)?;
        drop(self.file);
        std::fs::rename(&self.temp, &self.trailer.path).map_err(io)?;
        Ok(self.trailer)
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Participants in groups whose lines together fit [`GROUP_LINES_MAX`] (a participant with
/// more is a group alone), so that copying a group's lines takes bounded memory.
fn participant_groups(
    cleared: &ClearedBatch,
    participants: &[u16],
    lines_max: usize,
) -> Vec<Vec<u16>> {
    let mut groups: Vec<Vec<u16>> = Vec::new();
    let mut lines_in_last = 0usize;
    for &p in participants {
        let position = cleared.netting.position(p).copied().unwrap_or_default();
        let lines = (position.paid_count + position.received_count) as usize;
        match groups.last_mut() {
            Some(group) if lines_in_last + lines <= lines_max => {
                group.push(p);
                lines_in_last += lines;
            }
            _ => {
                groups.push(vec![p]);
                lines_in_last = lines;
            }
        }
    }
    groups
}

/// Each group member's lines, in sequence order, copied in one pass over the batch: a
/// participant's lines are spread thinly over the whole batch, and reading them in place would
/// miss the cache on every one.
fn gather_lines(cleared: &ClearedBatch, group: &[u16]) -> Vec<Vec<TransactionLine>> {
    let mut slot = vec![usize::MAX; usize::from(crate::PARTICIPANTS_MAX) + 1];
    let mut lists: Vec<Vec<TransactionLine>> = group
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            slot[usize::from(p)] = i;
            let position = cleared.netting.position(p).copied().unwrap_or_default();
            Vec::with_capacity((position.paid_count + position.received_count) as usize)
        })
        .collect();
    for line in &cleared.lines {
        for side in [line.payer, line.payee] {
            if let Some(list) = lists.get_mut(slot[usize::from(side)]) {
                list.push(*line);
            }
        }
    }
    lists
}

/// Writes the body to the file and the hash as it goes.
struct HashedFile {
    file: File,
    hasher: Sha256,
    buf: Vec<u8>,
}

impl HashedFile {
    fn flush_if_full(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= WRITE_CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.hasher.update(&self.buf);
        self.file.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

fn write_one(
    out_dir: &Path,
    cleared: &ClearedBatch,
    participant: u16,
    code: &str,
    lines: &[TransactionLine],
) -> Result<Written, ClearingError> {
    let bounds = &cleared.bounds;
    let path = out_dir.join(statement_file_name(bounds.batch, participant));
    let temp = temp_path(&path);
    let io = |e: std::io::Error| ClearingError::Io(format!("cannot write {}: {e}", temp.display()));
    let mut out = HashedFile {
        file: File::create(&temp).map_err(io)?,
        hasher: Sha256::new(),
        buf: Vec::with_capacity(WRITE_CHUNK_BYTES + 512),
    };
    let b = &mut out.buf;
    b.extend_from_slice(b"H,suanpan-statement,");
    push_u64(b, u64::from(STATEMENT_FORMAT_VERSION));
    b.push(b',');
    push_u64(b, bounds.batch);
    b.push(b',');
    push_u64(b, u64::from(participant));
    b.push(b',');
    b.extend_from_slice(code.as_bytes());
    b.push(b',');
    b.extend_from_slice(CLEARING_CURRENCY.as_str().as_bytes());
    b.push(b',');
    push_u64(b, bounds.opened_at_ns);
    b.push(b',');
    push_u64(b, bounds.closed_at_ns);
    b.push(b'\n');
    b.extend_from_slice(COLUMNS);
    let mut t = StatementTrailer {
        participant,
        path: path.clone(),
        ..StatementTrailer::default()
    };
    for line in lines {
        let paid = line.payer == participant;
        push_line(&mut out.buf, line, paid, &cleared.references);
        t.lines += 1;
        if paid {
            t.paid_count += 1;
            t.paid_fen += u128::from(line.amount_fen);
            t.fee_fen += u128::from(line.fee_fen);
        } else {
            t.received_count += 1;
            t.received_fen += u128::from(line.amount_fen);
        }
        out.flush_if_full().map_err(io)?;
    }
    out.flush().map_err(io)?;
    t.net_fen = t.received_fen as i128 - t.paid_fen as i128;
    t.sha256_hex = hex_of(&out.hasher.clone().finalize());
    push_trailer(&mut out.buf, &t);
    out.file.write_all(&out.buf).map_err(io)?;
    Ok(Written {
        file: out.file,
        temp,
        trailer: t,
    })
}

fn push_line(b: &mut Vec<u8>, line: &TransactionLine, paid: bool, references: &[Reference]) {
    b.extend_from_slice(b"D,");
    push_u128(b, line.id);
    b.push(b',');
    push_u64(b, line.timestamp_ns);
    b.push(b',');
    b.extend_from_slice(line.kind.as_str().as_bytes());
    b.extend_from_slice(if paid { b",paid," } else { b",received," });
    push_u64(b, u64::from(if paid { line.payee } else { line.payer }));
    b.push(b',');
    push_u64(b, line.amount_fen);
    b.push(b',');
    push_u64(b, if paid { line.fee_fen } else { 0 });
    b.extend_from_slice(b",cleared,");
    if line.reference != 0 {
        push_reference(b, references[line.reference as usize].as_bytes());
    }
    b.push(b'\n');
}

/// A reference as is when it is plain text; otherwise `hex:` and its bytes, as the transfers
/// view shows it (so the CSV never needs quoting).
fn push_reference(b: &mut Vec<u8>, bytes: &[u8]) {
    let plain = std::str::from_utf8(bytes).is_ok()
        && !bytes.starts_with(b"hex:")
        && !bytes
            .iter()
            .any(|&c| c == b',' || c == b'"' || c.is_ascii_control());
    if plain {
        b.extend_from_slice(bytes);
    } else {
        b.extend_from_slice(b"hex:");
        push_hex(b, bytes);
    }
}

fn push_trailer(b: &mut Vec<u8>, t: &StatementTrailer) {
    b.extend_from_slice(b"T,");
    push_u64(b, t.lines);
    b.push(b',');
    push_u64(b, t.paid_count);
    b.push(b',');
    push_u128(b, t.paid_fen);
    b.push(b',');
    push_u64(b, t.received_count);
    b.push(b',');
    push_u128(b, t.received_fen);
    b.push(b',');
    push_u128(b, t.fee_fen);
    b.push(b',');
    push_i128(b, t.net_fen);
    b.push(b',');
    b.extend_from_slice(t.sha256_hex.as_bytes());
    b.push(b'\n');
}

fn hex_of(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    String::from_utf8(out).unwrap_or_default()
}

/// One participant's statement of `batch` from `out_dir`, checked against its trailer: what
/// the API hands the participant (the API decides that the caller is that participant).
pub fn read_statement(
    out_dir: &Path,
    batch: u64,
    participant: u16,
) -> Result<(Vec<u8>, StatementTrailer), ClearingError> {
    let path = out_dir.join(statement_file_name(batch, participant));
    if !path.is_file() {
        return Err(ClearingError::StatementNotFound { batch, participant });
    }
    let trailer = read_statement_trailer(&path)?;
    let bytes = std::fs::read(&path)
        .map_err(|e| ClearingError::Io(format!("cannot read {}: {e}", path.display())))?;
    Ok((bytes, trailer))
}

/// Reads a statement's trailer and checks it against the file: the SHA-256 of the body and
/// the number of detail lines. Errors name what disagrees.
pub fn read_statement_trailer(path: &Path) -> Result<StatementTrailer, ClearingError> {
    let bad = |why: &str| ClearingError::Corrupt(format!("{}: {why}", path.display()));
    let bytes = std::fs::read(path)
        .map_err(|e| ClearingError::Io(format!("cannot read {}: {e}", path.display())))?;
    let body_end = bytes[..bytes.len().saturating_sub(1)]
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|i| i + 1)
        .ok_or_else(|| bad("no trailer"))?;
    let (body, trailer) = bytes.split_at(body_end);
    let trailer = std::str::from_utf8(trailer).map_err(|_| bad("trailer is not text"))?;
    let fields: Vec<&str> = trailer.trim_end_matches('\n').split(',').collect();
    let ["T", lines, paid_count, paid, received_count, received, fee, net, sha] = fields[..] else {
        return Err(bad("the last line is not a trailer"));
    };
    let number = |text: &str| {
        text.parse::<u128>()
            .map_err(|_| bad("a trailer figure is not a number"))
    };
    let participant = std::str::from_utf8(body)
        .ok()
        .and_then(|b| b.lines().next())
        .and_then(|header| header.split(',').nth(4))
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| bad("no header naming the participant"))?;
    let t = StatementTrailer {
        participant,
        path: path.to_path_buf(),
        lines: number(lines)? as u64,
        paid_count: number(paid_count)? as u64,
        paid_fen: number(paid)?,
        received_count: number(received_count)? as u64,
        received_fen: number(received)?,
        fee_fen: number(fee)?,
        net_fen: net.parse().map_err(|_| bad("the net is not a number"))?,
        sha256_hex: sha.to_string(),
    };
    if hex_of(&Sha256::digest(body)) != t.sha256_hex {
        return Err(bad("the body's SHA-256 does not match the trailer"));
    }
    let details = body
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"D,"))
        .count() as u64;
    if details != t.lines || t.paid_count + t.received_count != t.lines {
        return Err(bad("the trailer's line count does not match the body"));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BatchBounds, Netting, TransactionKind};

    fn batch_of(pairs: &[(u16, u16)]) -> ClearedBatch {
        let mut netting = Netting::new();
        let lines: Vec<TransactionLine> = pairs
            .iter()
            .enumerate()
            .map(|(i, &(payer, payee))| TransactionLine {
                id: i as u128 + 1,
                timestamp_ns: i as u64 + 1,
                amount_fen: 10,
                fee_fen: 0,
                payer,
                payee,
                kind: TransactionKind::Payout,
                reference: 0,
            })
            .collect();
        lines.iter().for_each(|l| netting.add(l));
        ClearedBatch {
            bounds: BatchBounds::default(),
            lines,
            references: vec![Reference::EMPTY],
            netting,
        }
    }

    #[test]
    fn groups_cover_every_participant_once_within_their_bound() {
        let cleared = batch_of(&[(1, 2), (1, 3), (2, 3), (4, 1), (5, 6), (6, 5), (1, 6)]);
        let participants = [1, 2, 3, 4, 5, 6, 7];
        let groups = participant_groups(&cleared, &participants, 4);
        let flat: Vec<u16> = groups.iter().flatten().copied().collect();
        assert_eq!(flat, participants);
        for group in &groups {
            let lines: usize = gather_lines(&cleared, group).iter().map(Vec::len).sum();
            assert!(
                lines <= 4 || group.len() == 1,
                "{group:?} has {lines} lines"
            );
        }
        // Participant 1 has 4 lines; every line is gathered once for each of its two sides.
        let gathered = gather_lines(&cleared, &participants);
        assert_eq!(
            gathered[0].iter().map(|l| l.id).collect::<Vec<_>>(),
            [1, 2, 4, 7]
        );
        assert_eq!(gathered.iter().map(Vec::len).sum::<usize>(), 14);
    }

    /// The examples of docs/statement-format.md, so the document stays true.
    #[test]
    fn a_reference_is_plain_text_or_hex_as_the_format_says() {
        let written = |reference: &[u8]| {
            let mut b = Vec::new();
            push_reference(&mut b, reference);
            String::from_utf8(b).unwrap_or_default()
        };
        assert_eq!(written(b"order-1"), "order-1");
        assert_eq!(written(b"order,7"), "hex:6f726465722c37");
        assert_eq!(written(b"hex:1"), "hex:6865783a31");
        // Not UTF-8.
        assert_eq!(written(b"\xff\xfe"), "hex:fffe");
    }
}
