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

use std::fmt::Write;

use suanpan_ledger::{AccountingDate, Command, ResultCode, Stamped};

use crate::sqlite::Resolved;

/// The JSON array of the committed transfers among `commands`; empty if there are none.
pub(crate) fn transfers_json(
    date: AccountingDate,
    commands: &[Stamped],
    results: &[ResultCode],
    resolved: &[Resolved],
) -> String {
    let mut out = String::new();
    let mut date = date;
    let mut date_text = date.to_string();
    let mut resolved = resolved.iter().peekable();
    for (i, (stamped, result)) in commands.iter().zip(results).enumerate() {
        if *result != ResultCode::Ok {
            continue;
        }
        let t = match &stamped.command {
            Command::Cutover { date: to } => {
                date = *to;
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
        out.push(if out.is_empty() { '[' } else { ',' });
        let _ = write!(
            out,
            "[{},\"{}\",\"{}\",\"{}\",",
            stamped.timestamp, t.id, debit, credit
        );
        match i64::try_from(amount) {
            Ok(a) => {
                let _ = write!(out, "{a}");
            }
            Err(_) => {
                let _ = write!(out, "\"{amount}\"");
            }
        }
        let _ = write!(out, ",\"{}\",{},{},", t.currency, t.code, t.flags.0);
        match t.pending_id {
            0 => out.push_str("null"),
            id => {
                let _ = write!(out, "\"{id}\"");
            }
        }
        let _ = write!(out, ",{},", t.timeout_ms);
        push_reference(&mut out, t.reference.as_bytes());
        let _ = write!(out, ",\"{date_text}\"]");
    }
    if !out.is_empty() {
        out.push(']');
    }
    out
}

/// A reference as a JSON string: UTF-8 text escaped, other bytes as `hex:` and their hex.
fn push_reference(out: &mut String, bytes: &[u8]) {
    if bytes.is_empty() {
        out.push_str("null");
        return;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            out.push('"');
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if (c as u32) < 0x20 => {
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Err(_) => {
            out.push_str("\"hex:");
            for b in bytes {
                let _ = write!(out, "{b:02x}");
            }
            out.push('"');
        }
    }
}
