//! Vouchers (凭证). A transfer voucher is made by rule from one committed transfer: one debit
//! line and one credit line of the same amount, so it balances by construction (and the trial
//! balance checks it). Transfer vouchers are numbered 1, 2, 3, ... per accounting date in
//! journal order, so the numbers are gapless and the same after any crash and re-projection.
//! They are stored packed, one row per journal batch: ten million of them must be cheap.
//! Supplement, suspense and write-off vouchers are a second series (`M`), one row each.

use suanpan_ledger::{AccountingDate, Currency};
use suanpan_store::args;
use suanpan_store::sql::Sql;

use crate::store::{date_text, get_currency, money};
use crate::AccountingError;

/// One transfer voucher as packed: 42 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TransferVoucher {
    pub transfer_id: u128,
    pub code: u16,
    /// The transfer's accounts, as accounting's account index.
    pub debit_account: u32,
    pub credit_account: u32,
    /// The subjects the rule chose (by subject id).
    pub debit_subject: u32,
    pub credit_subject: u32,
    pub amount: u64,
}

impl TransferVoucher {
    pub const BYTES: usize = 42;

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.transfer_id.to_le_bytes());
        out.extend_from_slice(&self.code.to_le_bytes());
        out.extend_from_slice(&self.debit_account.to_le_bytes());
        out.extend_from_slice(&self.credit_account.to_le_bytes());
        out.extend_from_slice(&self.debit_subject.to_le_bytes());
        out.extend_from_slice(&self.credit_subject.to_le_bytes());
        out.extend_from_slice(&self.amount.to_le_bytes());
    }

    /// Decodes a packed body, handing each voucher to `f` in number order.
    pub fn decode_each(
        body: &[u8],
        mut f: impl FnMut(&TransferVoucher),
    ) -> Result<(), AccountingError> {
        if !body.len().is_multiple_of(TransferVoucher::BYTES) {
            return Err(AccountingError::Invariant(format!(
                "a voucher body of {} bytes is not whole vouchers",
                body.len()
            )));
        }
        for chunk in body.chunks_exact(TransferVoucher::BYTES) {
            let u32_at = |at: usize| {
                u32::from_le_bytes([chunk[at], chunk[at + 1], chunk[at + 2], chunk[at + 3]])
            };
            let mut id = [0u8; 16];
            id.copy_from_slice(&chunk[..16]);
            let mut amount = [0u8; 8];
            amount.copy_from_slice(&chunk[34..42]);
            f(&TransferVoucher {
                transfer_id: u128::from_le_bytes(id),
                code: u16::from_le_bytes([chunk[16], chunk[17]]),
                debit_account: u32_at(18),
                credit_account: u32_at(22),
                debit_subject: u32_at(26),
                credit_subject: u32_at(30),
                amount: u64::from_le_bytes(amount),
            });
        }
        Ok(())
    }
}

/// A split line of a transfer voucher (a rule's share of the amount on a GL-only subject).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ExtraVoucherLine {
    pub ordinal: u32,
    pub side: crate::chart::Side,
    pub subject: u32,
    pub currency: Currency,
    pub amount: u64,
}

/// The split lines of `date`'s transfer vouchers, by voucher number, in line order.
pub fn extra_lines(
    conn: &dyn Sql,
    date: AccountingDate,
) -> Result<Vec<(u64, ExtraVoucherLine)>, AccountingError> {
    let mut out = Vec::new();
    for row in conn.query(
        "SELECT number, ordinal, side, subject_id, currency, amount FROM accounting_voucher_extra_lines
         WHERE accounting_date = ?1 ORDER BY number, ordinal",
        args![&date_text(date)],
    )? {
        let side = match row.str(2)?.as_str() {
            "debit" => crate::chart::Side::Debit,
            "credit" => crate::chart::Side::Credit,
            other => {
                return Err(AccountingError::Invariant(format!(
                    "{date}: a split line on side {other:?}"
                )))
            }
        };
        out.push((
            row.u64(0)?,
            ExtraVoucherLine {
                ordinal: row.u32(1)?,
                side,
                subject: row.u32(3)?,
                currency: get_currency(&row, 4)?,
                // Kept as the 64 bits of an SQL integer (see the projection's write).
                amount: row.i64(5)? as u64,
            },
        ));
    }
    Ok(out)
}

/// The kinds of manual-series vouchers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ManualKind {
    /// 补账: a transfer whose code had no rule, booked under its accounts' own subjects.
    Supplement,
    /// 挂账: a GL-vs-sub-ledger difference moved to suspense.
    Suspense,
    /// 核销: suspense items explained and closed.
    WriteOff,
}

impl ManualKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ManualKind::Supplement => "supplement",
            ManualKind::Suspense => "suspense",
            ManualKind::WriteOff => "write_off",
        }
    }
}

/// A voucher line as listed to a reader.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VoucherLine {
    pub side: crate::chart::Side,
    pub subject_code: String,
    pub account_id: Option<u128>,
    pub amount: u128,
}

/// A voucher as listed to a reader (CLI, API).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Voucher {
    pub accounting_date: suanpan_ledger::AccountingDate,
    /// `T` for transfer vouchers, `M` for the manual series.
    pub series: char,
    pub number: u64,
    pub kind: &'static str,
    pub transfer_id: Option<u128>,
    pub code: Option<u16>,
    pub currency: String,
    pub lines: Vec<VoucherLine>,
}

/// Journal batches' vouchers read per query: a page is read whole into memory, and 32 batches
/// of up to 8,190 vouchers are some 11 MB.
const VOUCHER_BATCHES_PAGE: i64 = 32;

/// Hands every transfer voucher of `date` to `f`, in number order.
pub fn for_each_transfer_voucher(
    conn: &dyn Sql,
    date: AccountingDate,
    mut f: impl FnMut(u64, &TransferVoucher),
) -> Result<(), AccountingError> {
    let day = date_text(date);
    let mut expected = 1u64;
    // A page of journal batches at a time: a busy date's vouchers are never all in memory.
    let mut after = -1i64;
    loop {
        let page = conn.query(
            "SELECT batch, first_number, body FROM accounting_voucher_batches
             WHERE accounting_date = ?1 AND batch > ?2 ORDER BY batch LIMIT ?3",
            args![&day, after, VOUCHER_BATCHES_PAGE],
        )?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.i64(0)?;
        for row in &page {
            let first = row.u64(1)?;
            if first != expected {
                return Err(AccountingError::Invariant(format!(
                    "{date}: transfer voucher {expected} is missing (next is {first})"
                )));
            }
            let mut number = first;
            let body = row.opt_bytes(2)?.unwrap_or_default();
            TransferVoucher::decode_each(&body, |v| {
                f(number, v);
                number += 1;
            })?;
            expected = number;
        }
    }
}

/// A voucher of the manual series as stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ManualVoucher {
    pub number: u64,
    pub kind: String,
    pub transfer_id: Option<u128>,
    pub debit_subject: u32,
    pub credit_subject: u32,
    pub debit_account: Option<u32>,
    pub credit_account: Option<u32>,
    pub currency: Currency,
    pub amount: u128,
    pub origin: String,
}

pub fn manual_vouchers(
    conn: &dyn Sql,
    date: AccountingDate,
) -> Result<Vec<ManualVoucher>, AccountingError> {
    let mut out = Vec::new();
    for row in conn.query(
        "SELECT number, kind, transfer_id, debit_subject, credit_subject, debit_idx, credit_idx, currency, amount, origin
         FROM accounting_manual_vouchers WHERE accounting_date = ?1 ORDER BY number",
        args![&date_text(date)],
    )? {
        let transfer_id = row.opt_str(2)?;
        let amount = row.money(8)?;
        out.push(ManualVoucher {
            number: row.u64(0)?,
            kind: row.str(1)?,
            transfer_id: transfer_id.and_then(|t| t.parse().ok()),
            debit_subject: row.u32(3)?,
            credit_subject: row.u32(4)?,
            debit_account: row.opt_u32(5)?,
            credit_account: row.opt_u32(6)?,
            currency: get_currency(&row, 7)?,
            amount: u128::try_from(amount)
                .map_err(|_| AccountingError::Invariant("a voucher amount is negative".into()))?,
            origin: row.str(9)?,
        });
    }
    Ok(out)
}

/// Writes one manual voucher under the next number of its date's manual series.
pub fn insert_manual(
    conn: &dyn Sql,
    date: AccountingDate,
    voucher: &ManualVoucher,
) -> Result<(), AccountingError> {
    // Balanced by construction (one debit and one credit line of one amount); never empty.
    if voucher.amount == 0 {
        return Err(AccountingError::Invariant(
            "a voucher of zero amount".into(),
        ));
    }
    conn.execute(
        "INSERT INTO accounting_manual_vouchers (accounting_date, number, kind, transfer_id, debit_subject, credit_subject, debit_idx, credit_idx, currency, amount, origin)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        &[
            (&date_text(date)).into(),
            voucher.number.into(),
            (&voucher.kind).into(),
            (&voucher.transfer_id.map(|t| t.to_string())).into(),
            voucher.debit_subject.into(),
            voucher.credit_subject.into(),
            voucher.debit_account.into(),
            voucher.credit_account.into(),
            voucher.currency.as_str().into(),
            money(voucher.amount as i128),
            (&voucher.origin).into(),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_vouchers_read_back_in_number_order() -> Result<(), AccountingError> {
        let vouchers = [
            TransferVoucher {
                transfer_id: u128::MAX,
                code: 7,
                debit_account: 1,
                credit_account: u32::MAX,
                debit_subject: 3,
                credit_subject: 4,
                amount: u64::MAX,
            },
            TransferVoucher {
                transfer_id: 5,
                code: 0,
                debit_account: 0,
                credit_account: 2,
                debit_subject: 9,
                credit_subject: 9,
                amount: 1,
            },
        ];
        let mut body = Vec::new();
        for v in &vouchers {
            v.encode(&mut body);
        }
        assert_eq!(body.len(), 2 * TransferVoucher::BYTES);
        let mut back = Vec::new();
        TransferVoucher::decode_each(&body, |v| back.push(*v))?;
        assert_eq!(back, vouchers);
        assert!(TransferVoucher::decode_each(&body[1..], |_| {}).is_err());
        Ok(())
    }
}
