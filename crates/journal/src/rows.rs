//! A batch's transfers as the `transfers` view shows them.
//!
//! Writing one SQLite row per transfer costs about 2 µs of the committer's time, more than
//! everything else in a commit together. So a batch's transfers are stored as one JSON array
//! in one row of `transfers_by_batch`, built on the engine's writer thread, and the
//! `transfers` view unpacks them with SQLite's own `json_each`: any `sqlite3` shell (3.38 or
//! newer) reads them as ordinary rows.
//!
//! Each element is `[timestamp, id, debit_account_id, credit_account_id, amount, currency,
//! code, flags, pending_id, timeout_ms, reference, accounting_date]`. Ids are decimal strings
//! (they are 128-bit); an amount above 2^63-1 is a decimal string too, since SQLite's JSON
//! reads larger numbers as floating point.

use suanpan_ledger::{AccountingDate, Command, Ledger, PendingStatus, ResultCode, Stamped};

use crate::batch::Resolved;

/// The accounts and amount each committed post or void actually moved.
pub fn resolutions(ledger: &Ledger, commands: &[Stamped], results: &[ResultCode]) -> Vec<Resolved> {
    let mut resolved = Vec::new();
    for (i, (stamped, result)) in commands.iter().zip(results).enumerate() {
        let Command::CreateTransfer(t) = &stamped.command else {
            continue;
        };
        if *result != ResultCode::Ok || !t.flags.resolves_pending() {
            continue;
        }
        if let Some(record) = ledger.transfer_by_id(t.id) {
            let accounts = ledger.accounts();
            resolved.push(Resolved {
                command: i as u32,
                debit_account_id: accounts[record.debit_index as usize].id,
                credit_account_id: accounts[record.credit_index as usize].id,
                amount: record.amount,
            });
        }
    }
    resolved
}

/// One change a batch makes to the `pending_transfers` table. Derived once, when the batch
/// is sealed; each backend only writes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PendingRow {
    /// A pending transfer committed: open until `expires_at_ns` (engine ns; `None`: never).
    Opened {
        id: u128,
        expires_at_ns: Option<u64>,
    },
    /// Posted or voided by the transfer `by`.
    Resolved {
        id: u128,
        status: PendingStatus,
        by: u128,
    },
    /// Expired by the engine's clock.
    Expired { id: u128 },
}

/// The changes the committed commands among `commands` make to pending transfers, in order.
pub fn pending_rows(commands: &[Stamped], results: &[ResultCode]) -> Vec<PendingRow> {
    let mut rows = Vec::new();
    for (stamped, result) in commands.iter().zip(results) {
        if *result != ResultCode::Ok {
            continue;
        }
        match &stamped.command {
            Command::CreateTransfer(t) if t.flags.resolves_pending() => {
                let status = if t.flags.post_pending() {
                    PendingStatus::Posted
                } else {
                    PendingStatus::Voided
                };
                rows.push(PendingRow::Resolved {
                    id: t.pending_id,
                    status,
                    by: t.id,
                });
            }
            Command::CreateTransfer(t) if t.flags.pending() => rows.push(PendingRow::Opened {
                id: t.id,
                expires_at_ns: t.expires_at_ns(stamped.timestamp),
            }),
            Command::ExpirePending { pending_id } => {
                rows.push(PendingRow::Expired { id: *pending_id })
            }
            _ => {}
        }
    }
    rows
}

/// Bytes of JSON a transfer takes, about: the string is sized once.
const JSON_BYTES_PER_TRANSFER: usize = 160;

/// The JSON array of the committed transfers among `commands`; empty if there are none.
/// Written by hand, digit by digit: it runs for every transfer on the writer thread.
pub fn transfers_json(
    date: AccountingDate,
    commands: &[Stamped],
    results: &[ResultCode],
    resolved: &[Resolved],
) -> String {
    // Bytes, checked as UTF-8 once at the end: every piece pushed is valid UTF-8 already.
    let mut out: Vec<u8> = Vec::new();
    let mut date_text = date.to_string();
    let mut resolved = resolved.iter().peekable();
    for (i, (stamped, result)) in commands.iter().zip(results).enumerate() {
        if *result != ResultCode::Ok {
            continue;
        }
        let t = match &stamped.command {
            Command::Cutover { date } => {
                date_text = date.to_string();
                continue;
            }
            Command::CreateTransfer(t) => t,
            _ => continue,
        };
        let (mut debit, mut credit, mut amount) =
            (t.debit_account_id, t.credit_account_id, t.amount);
        if t.flags.resolves_pending() {
            // The engine resolves every committed post and void; the command may leave
            // accounts and amount zero.
            if let Some(r) = resolved.next_if(|r| r.command == i as u32) {
                (debit, credit, amount) = (r.debit_account_id, r.credit_account_id, r.amount);
            }
        }
        if out.is_empty() {
            out.reserve(JSON_BYTES_PER_TRANSFER * (commands.len() - i));
            out.push(b'[');
        } else {
            out.push(b',');
        }
        out.push(b'[');
        push_u128(&mut out, u128::from(stamped.timestamp));
        for id in [t.id, debit, credit] {
            out.extend_from_slice(b",\"");
            push_u128(&mut out, id);
            out.push(b'"');
        }
        out.push(b',');
        // Beyond 2^63-1 SQLite's JSON would read a number as floating point: a string then.
        let quoted = i64::try_from(amount).is_err();
        if quoted {
            out.push(b'"');
        }
        push_u128(&mut out, u128::from(amount));
        if quoted {
            out.push(b'"');
        }
        out.extend_from_slice(b",\"");
        out.extend_from_slice(t.currency.as_str().as_bytes());
        out.extend_from_slice(b"\",");
        push_u128(&mut out, u128::from(t.code));
        out.push(b',');
        push_u128(&mut out, u128::from(t.flags.0));
        out.push(b',');
        match t.pending_id {
            0 => out.extend_from_slice(b"null"),
            id => {
                out.push(b'"');
                push_u128(&mut out, id);
                out.push(b'"');
            }
        }
        out.push(b',');
        push_u128(&mut out, u128::from(t.timeout_ms));
        out.push(b',');
        push_reference(&mut out, t.reference.as_bytes());
        out.extend_from_slice(b",\"");
        out.extend_from_slice(date_text.as_bytes());
        out.extend_from_slice(b"\"]");
    }
    if !out.is_empty() {
        out.push(b']');
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Appends `value` in decimal. Most values fit 64 bits, where division by ten is a multiply.
fn push_u128(out: &mut Vec<u8>, value: u128) {
    let mut buf = [0u8; 39];
    let mut at = buf.len();
    let mut push_u64 = |mut v: u64, at: &mut usize, min_digits: usize| {
        let start = *at;
        loop {
            *at -= 1;
            buf[*at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 && start - *at >= min_digits {
                break;
            }
        }
    };
    const TEN_POW_19: u128 = 10_000_000_000_000_000_000;
    if value < TEN_POW_19 {
        push_u64(value as u64, &mut at, 1);
    } else {
        push_u64((value % TEN_POW_19) as u64, &mut at, 19);
        let high = value / TEN_POW_19;
        if high < TEN_POW_19 {
            push_u64(high as u64, &mut at, 1);
        } else {
            push_u64((high % TEN_POW_19) as u64, &mut at, 19);
            push_u64((high / TEN_POW_19) as u64, &mut at, 1);
        }
    }
    out.extend_from_slice(&buf[at..]);
}

/// A reference as a JSON string: UTF-8 text escaped, other bytes as `hex:` and their hex.
fn push_reference(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if bytes.is_empty() {
        out.extend_from_slice(b"null");
        return;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            out.push(b'"');
            for c in text.chars() {
                match c {
                    '"' => out.extend_from_slice(b"\\\""),
                    '\\' => out.extend_from_slice(b"\\\\"),
                    c if (c as u32) < 0x20 => {
                        let code = c as u8;
                        out.extend_from_slice(b"\\u00");
                        out.extend_from_slice(&[
                            HEX[usize::from(code >> 4)],
                            HEX[usize::from(code & 15)],
                        ]);
                    }
                    c => {
                        let mut utf8 = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                    }
                }
            }
            out.push(b'"');
        }
        Err(_) => {
            out.extend_from_slice(b"\"hex:");
            for b in bytes {
                out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            }
            out.push(b'"');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_digits_for_every_size() {
        for value in [
            0,
            7,
            10,
            99,
            u64::MAX as u128,
            10_000_000_000_000_000_000,
            10_000_000_000_000_000_001,
            1 << 64 | 5,
            1 << 127,
            u128::MAX,
        ] {
            let mut out = Vec::new();
            push_u128(&mut out, value);
            assert_eq!(out, value.to_string().as_bytes());
        }
    }

    #[test]
    fn references_are_json_strings() {
        let mut out = Vec::new();
        push_reference(&mut out, "a\"b\\c\u{1}订单".as_bytes());
        assert_eq!(out, "\"a\\\"b\\\\c\\u0001订单\"".as_bytes());
        out.clear();
        push_reference(&mut out, &[0xff, 0x00]);
        assert_eq!(out, b"\"hex:ff00\"");
    }

    #[test]
    fn pending_rows_follow_the_committed_commands() {
        use suanpan_ledger::{Currency, Transfer, TransferFlags};
        let transfer = |id, flags, pending_id, timeout_ms| {
            let mut t = Transfer::new(id, 1, 2, 100, Currency::CNY);
            t.flags = TransferFlags(flags);
            t.pending_id = pending_id;
            t.timeout_ms = timeout_ms;
            Command::CreateTransfer(t)
        };
        let at = |timestamp, command| Stamped { timestamp, command };
        let commands = vec![
            at(1_000, transfer(10, TransferFlags::PENDING, 0, 5)),
            at(1_001, transfer(11, TransferFlags::PENDING, 0, 0)),
            at(1_002, transfer(12, TransferFlags::POST_PENDING, 10, 0)),
            at(1_003, transfer(13, TransferFlags::VOID_PENDING, 11, 0)),
            at(1_004, Command::ExpirePending { pending_id: 9 }),
            at(1_005, transfer(14, TransferFlags::PENDING, 0, 0)),
            at(1_006, transfer(15, 0, 0, 0)),
        ];
        let mut results = vec![ResultCode::Ok; commands.len()];
        results[5] = ResultCode::Exists; // not committed now: no row
        let rows = pending_rows(&commands, &results);
        assert_eq!(
            rows,
            vec![
                PendingRow::Opened {
                    id: 10,
                    expires_at_ns: Some(1_000 + 5_000_000)
                },
                PendingRow::Opened {
                    id: 11,
                    expires_at_ns: None
                },
                PendingRow::Resolved {
                    id: 10,
                    status: PendingStatus::Posted,
                    by: 12
                },
                PendingRow::Resolved {
                    id: 11,
                    status: PendingStatus::Voided,
                    by: 13
                },
                PendingRow::Expired { id: 9 },
            ]
        );
    }
}
