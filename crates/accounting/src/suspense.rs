//! Suspense (挂账) and write-off (核销). A GL-vs-sub-ledger difference never stops the day-end:
//! it is booked against the suspense subject, so the general ledger agrees with the
//! sub-ledgers again, and an open item records where it came from. An operator later explains
//! it with a write-off voucher that takes the item off the suspense subject and closes it.

use suanpan_ledger::{AccountingDate, Currency};
use suanpan_store::args;
use suanpan_store::sql::Sql;

use crate::chart::Chart;
use crate::gl_check::GlCheckRow;
use crate::store::{date_text, get_currency, money, parse_date};
use crate::voucher::{ManualKind, ManualVoucher};
use crate::AccountingError;

/// How the origin of an item opened by a transfer booked to suspense begins; the transfer's
/// id follows in 32 hex digits (`SuspenseItem::transfer_id` reads it back).
pub const TRANSFER_ORIGIN: &str = "transfer ";

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SuspenseItem {
    pub id: i64,
    pub accounting_date: AccountingDate,
    pub subject_code: String,
    pub currency: Currency,
    /// The item's debit-side effect on the suspense subject.
    pub amount: i128,
    pub origin: String,
    pub voucher_number: u64,
    pub open: bool,
    pub write_off_date: Option<AccountingDate>,
    pub write_off_number: Option<u64>,
    pub written_off_by: Option<String>,
    pub note: Option<String>,
}

impl SuspenseItem {
    /// The transfer that opened the item, when a transfer booked to suspense did.
    pub fn transfer_id(&self) -> Option<u128> {
        let hex = self.origin.strip_prefix(TRANSFER_ORIGIN)?.get(..32)?;
        u128::from_str_radix(hex, 16).ok()
    }

    /// Days the item has been open on `today` (or was open, once written off).
    pub fn age_days(&self, today: AccountingDate) -> i32 {
        self.write_off_date.unwrap_or(today).0 - self.accounting_date.0
    }
}

/// The voucher that books one difference against suspense: the subject gets the side its GL
/// lacks, suspense the other. `None` for no difference.
pub fn difference_voucher(
    chart: &Chart,
    row: &GlCheckRow,
    number: u64,
    origin: String,
) -> Result<Option<ManualVoucher>, AccountingError> {
    let difference = row.difference();
    if difference == 0 {
        return Ok(None);
    }
    let subject = chart
        .by_code(&row.subject_code)
        .ok_or_else(|| AccountingError::SubjectUnknown(row.subject_code.clone()))?
        .id;
    let suspense = chart.suspense()?.id;
    let (debit_subject, credit_subject) = if difference > 0 {
        (subject, suspense)
    } else {
        (suspense, subject)
    };
    Ok(Some(ManualVoucher {
        number,
        kind: ManualKind::Suspense.as_str().into(),
        transfer_id: None,
        debit_subject,
        credit_subject,
        debit_account: None,
        credit_account: None,
        currency: row.currency,
        amount: difference.unsigned_abs(),
        origin,
    }))
}

pub fn insert_item(
    conn: &dyn Sql,
    date: AccountingDate,
    row: &GlCheckRow,
    voucher: &ManualVoucher,
) -> Result<(), AccountingError> {
    conn.execute(
        "INSERT INTO accounting_suspense_items (accounting_date, subject_code, currency, amount, origin, voucher_number, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open')",
        &[
            (&date_text(date)).into(),
            (&row.subject_code).into(),
            row.currency.as_str().into(),
            money(-row.difference()),
            (&voucher.origin).into(),
            voucher.number.into(),
        ],
    )?;
    Ok(())
}

pub fn list(conn: &dyn Sql, open_only: bool) -> Result<Vec<SuspenseItem>, AccountingError> {
    let sql = format!(
        "SELECT id, accounting_date, subject_code, currency, amount, origin, voucher_number, status,
                write_off_date, write_off_number, written_off_by, note
         FROM accounting_suspense_items {} ORDER BY id",
        if open_only { "WHERE status = 'open'" } else { "" }
    );
    let mut out = Vec::new();
    for row in conn.query(&sql, args![])? {
        let write_off_date = row.opt_str(8)?;
        out.push(SuspenseItem {
            id: row.i64(0)?,
            accounting_date: parse_date(&row.str(1)?)?,
            subject_code: row.str(2)?,
            currency: get_currency(&row, 3)?,
            amount: row.money(4)?,
            origin: row.str(5)?,
            voucher_number: row.u64(6)?,
            open: row.str(7)? == "open",
            write_off_date: write_off_date.as_deref().map(parse_date).transpose()?,
            write_off_number: row.opt_u64(9)?,
            written_off_by: row.opt_str(10)?,
            note: row.opt_str(11)?,
        });
    }
    Ok(out)
}

/// The vouchers that take `items` off the suspense subject. Items that offset each other are
/// netted; what remains goes against `against`, a GL-only subject (the explanation: a loss, an
/// income), which must be named when the items do not net to zero.
pub fn write_off_vouchers(
    chart: &Chart,
    items: &[SuspenseItem],
    against: Option<&str>,
    first_number: u64,
    origin: &str,
) -> Result<Vec<ManualVoucher>, AccountingError> {
    let currency = match items.first() {
        Some(first) => first.currency,
        None => return Ok(Vec::new()),
    };
    if items.iter().any(|i| i.currency != currency) {
        return Err(AccountingError::WriteOffMixedCurrencies);
    }
    let suspense = chart.suspense()?.id;
    let debited: u128 = items
        .iter()
        .filter(|i| i.amount > 0)
        .map(|i| i.amount.unsigned_abs())
        .sum();
    let credited: u128 = items
        .iter()
        .filter(|i| i.amount < 0)
        .map(|i| i.amount.unsigned_abs())
        .sum();
    let voucher = |number, debit_subject, credit_subject, amount| ManualVoucher {
        number,
        kind: ManualKind::WriteOff.as_str().into(),
        transfer_id: None,
        debit_subject,
        credit_subject,
        debit_account: None,
        credit_account: None,
        currency,
        amount,
        origin: origin.into(),
    };
    let mut out = Vec::new();
    let offset = debited.min(credited);
    if offset > 0 {
        // Offsetting items: one voucher on the suspense subject closes both sides.
        out.push(voucher(first_number, suspense, suspense, offset));
    }
    let net = debited as i128 - credited as i128;
    if net != 0 {
        let code = against.ok_or(AccountingError::WriteOffNeedsCounterSubject(net))?;
        let subject = chart
            .by_code(code)
            .ok_or_else(|| AccountingError::SubjectUnknown(code.into()))?;
        if !subject.gl_only || !chart.is_leaf(code) {
            return Err(AccountingError::SubjectInvalid(format!(
                "a write-off goes against a GL-only leaf subject (ledger accounts would not move with it); {code:?} is not one"
            )));
        }
        let number = first_number + out.len() as u64;
        // Suspense was debited on balance: credit it back, debit the explanation.
        out.push(if net > 0 {
            voucher(number, subject.id, suspense, net.unsigned_abs())
        } else {
            voucher(number, suspense, subject.id, net.unsigned_abs())
        });
    }
    Ok(out)
}

pub fn close_item(
    conn: &dyn Sql,
    id: i64,
    date: AccountingDate,
    number: u64,
    operator: &str,
    note: &str,
) -> Result<(), AccountingError> {
    conn.execute(
        "UPDATE accounting_suspense_items SET status = 'written_off', write_off_date = ?2, write_off_number = ?3,
                written_off_by = ?4, note = ?5 WHERE id = ?1 AND status = 'open'",
        args![id, &date_text(date), number, operator, note],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart {
        Chart::default_chart()
    }

    fn item(id: i64, amount: i128) -> SuspenseItem {
        SuspenseItem {
            id,
            accounting_date: AccountingDate(20_000),
            subject_code: "1002".into(),
            currency: Currency::CNY,
            amount,
            origin: String::new(),
            voucher_number: 1,
            open: true,
            write_off_date: None,
            write_off_number: None,
            written_off_by: None,
            note: None,
        }
    }

    #[test]
    fn a_missing_debit_in_the_gl_is_debited_to_the_subject_against_suspense(
    ) -> Result<(), AccountingError> {
        let chart = chart();
        let row = GlCheckRow {
            subject_code: "1002".into(),
            currency: Currency::CNY,
            gl_balance: -100,
            sub_ledger_balance: 100,
        };
        let v = difference_voucher(&chart, &row, 1, "o".into())?
            .ok_or_else(|| AccountingError::Invariant("no voucher".into()))?;
        assert_eq!(
            chart.by_id(v.debit_subject).map(|s| s.code.as_str()),
            Some("1002")
        );
        assert_eq!(
            chart.by_id(v.credit_subject).map(|s| s.code.as_str()),
            Some("3099")
        );
        assert_eq!(v.amount, 200);
        Ok(())
    }

    #[test]
    fn offsetting_items_close_without_a_counter_subject() -> Result<(), AccountingError> {
        let vouchers = write_off_vouchers(&chart(), &[item(1, -200), item(2, 200)], None, 5, "")?;
        assert_eq!(vouchers.len(), 1);
        assert_eq!(vouchers[0].amount, 200);
        assert_eq!(vouchers[0].number, 5);
        Ok(())
    }

    #[test]
    fn an_unbalanced_write_off_needs_a_gl_only_counter_subject() {
        let chart = chart();
        assert!(matches!(
            write_off_vouchers(&chart, &[item(1, -200)], None, 1, ""),
            Err(AccountingError::WriteOffNeedsCounterSubject(-200))
        ));
        assert!(matches!(
            write_off_vouchers(&chart, &[item(1, -200)], Some("2241.01"), 1, ""),
            Err(AccountingError::SubjectInvalid(_))
        ));
        let ok = write_off_vouchers(&chart, &[item(1, -200)], Some("6711"), 1, "");
        assert!(matches!(ok.as_deref(), Ok([v]) if v.amount == 200));
    }
}
