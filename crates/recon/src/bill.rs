//! A channel's bill (对账单) of one date, as the matching reads it: whatever the channel's file
//! format, each line is a payment or a refund under the platform's own number for it, with
//! the channel's amount, fee and time.

use std::fmt;

/// What a line, an order or a booking is about: a payment of an order (the number the channel
/// knows as the merchant's order number is the gateway's order id) or a refund (the
/// merchant's refund number is the gateway's refund id).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Key {
    Payment(u64),
    Refund(u64),
}

impl Key {
    /// One number that sorts as the keys do: payments first, then refunds, each by id.
    pub fn packed(self) -> u128 {
        match self {
            Key::Payment(id) => u128::from(id),
            Key::Refund(id) => (1u128 << 64) | u128::from(id),
        }
    }

    pub fn from_packed(packed: u128) -> Key {
        let id = packed as u64;
        if packed >> 64 == 0 {
            Key::Payment(id)
        } else {
            Key::Refund(id)
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Payment(id) => write!(f, "payment {id}"),
            Key::Refund(id) => write!(f, "refund {id}"),
        }
    }
}

/// What the channel says happened.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BillStatus {
    /// Paid (a payment line) or refunded as asked (a refund line).
    Success,
    /// A payment the channel shows as refunded at the channel (its own console, not through
    /// the platform): the platform's order says paid.
    RefundedAtChannel,
}

/// One line of a bill.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BillLine {
    /// The line's number in the file, for the evidence of a difference.
    pub line: u32,
    pub key: Key,
    /// The order paid, or the order a refund returns money of.
    pub order_id: u64,
    /// Minor units (fen): paid, or refunded.
    pub amount_fen: u64,
    /// The channel's fee on a payment, or the fee it returned on a refund.
    pub fee_fen: u64,
    pub status: BillStatus,
    /// When the channel completed it, Unix milliseconds.
    pub completed_ms: u64,
}

/// The bill's own totals, as its summary states them: checked against the lines when read,
/// and against the matched totals in a report.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct BillSummary {
    pub lines: u64,
    pub paid_fen: u64,
    pub refunded_fen: u64,
    pub fees_fen: u64,
}

impl BillSummary {
    /// The totals of these lines.
    pub fn of(lines: &[BillLine]) -> BillSummary {
        let mut s = BillSummary::default();
        for l in lines {
            s.add(l);
        }
        s
    }

    /// The summary a bill states against its lines' own totals: the first that differs is
    /// named, and the bill refused.
    pub fn check_against(&self, own: &BillSummary) -> Result<(), BillError> {
        let differs = [
            ("lines", self.lines, own.lines),
            ("paid", self.paid_fen, own.paid_fen),
            ("refunded", self.refunded_fen, own.refunded_fen),
            ("fees", self.fees_fen, own.fees_fen),
        ]
        .into_iter()
        .find(|(_, s, o)| s != o);
        match differs {
            None => Ok(()),
            Some((what, s, o)) => Err(BillError {
                line: 0,
                column: None,
                problem: format!(
                    "the summary does not add up: it states {what} {s}, the lines give {o}"
                ),
            }),
        }
    }

    /// Counts one more line, as the channels total their bills: a refund made at the channel
    /// is printed as a refund line, so its amount is refunded, not paid.
    /// Totals saturate rather than wrap: a bill whose lines overflow them cannot equal the
    /// summary it states, so it is refused as not adding up.
    pub fn add(&mut self, l: &BillLine) {
        self.lines = self.lines.saturating_add(1);
        match (l.key, l.status) {
            (Key::Payment(_), BillStatus::Success) => {
                self.paid_fen = self.paid_fen.saturating_add(l.amount_fen)
            }
            _ => self.refunded_fen = self.refunded_fen.saturating_add(l.amount_fen),
        }
        self.fees_fen = self.fees_fen.saturating_add(l.fee_fen);
    }
}

/// A bill as read: its lines and the summary it states (which equals the lines' totals,
/// or the bill was refused).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Bill {
    pub lines: Vec<BillLine>,
    pub summary: BillSummary,
}

/// Why a bill was refused, naming where: nothing of it is used.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BillError {
    /// 1-based line of the file, 0 for the file as a whole.
    pub line: u32,
    /// The column's name as the bill's header gives it, where one is at fault.
    pub column: Option<String>,
    pub problem: String,
}

impl fmt::Display for BillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, &self.column) {
            (0, _) => write!(f, "bill: {}", self.problem),
            (line, Some(column)) => {
                write!(f, "bill line {line}, column {column}: {}", self.problem)
            }
            (line, None) => write!(f, "bill line {line}: {}", self.problem),
        }
    }
}

impl std::error::Error for BillError {}

/// The position of a column by its name in a bill's header.
pub(crate) fn column(header: &[&str], name: &'static str, line: u32) -> Result<usize, BillError> {
    header
        .iter()
        .position(|h| *h == name)
        .ok_or_else(|| BillError {
            line,
            column: Some(name.into()),
            problem: "missing from the header".into(),
        })
}

/// One detail line of a bill being read: its values under the header's names, each read as
/// what it must be or refused naming the line and the column.
pub(crate) struct Row<'a> {
    pub n: u32,
    pub header: &'a [&'a str],
    pub values: &'a [&'a str],
    /// A prefix every value carries (WeChat's backtick), taken off.
    pub prefix: Option<char>,
}

impl Row<'_> {
    pub fn bad(&self, col: usize, problem: String) -> BillError {
        BillError {
            line: self.n,
            column: self.header.get(col).map(|h| h.to_string()),
            problem,
        }
    }

    pub fn value(&self, col: usize) -> Result<&str, BillError> {
        let raw = self.values.get(col).copied().ok_or_else(|| {
            self.bad(
                col,
                format!("missing: the line has {} values", self.values.len()),
            )
        })?;
        match self.prefix {
            None => Ok(raw),
            Some(p) => raw
                .strip_prefix(p)
                .ok_or_else(|| self.bad(col, format!("{raw:?} does not begin with {p}"))),
        }
    }

    pub fn yuan(&self, col: usize, negative_ok: bool) -> Result<u64, BillError> {
        let t = self.value(col)?;
        parse_yuan(t, negative_ok)
            .ok_or_else(|| self.bad(col, format!("{t:?} is not yuan with two decimals")))
    }

    /// A Beijing time, `yyyy-MM-dd HH:mm:ss`, as Unix milliseconds.
    pub fn time(&self, col: usize) -> Result<u64, BillError> {
        let t = self.value(col)?;
        crate::time::parse_beijing(t)
            .ok_or_else(|| self.bad(col, format!("{t:?} is not yyyy-MM-dd HH:mm:ss")))
    }

    /// One of the platform's numbers (an order id, a refund id): a decimal above zero.
    pub fn number(&self, col: usize, what: &str) -> Result<u64, BillError> {
        let t = self.value(col)?;
        t.parse::<u64>().ok().filter(|&id| id > 0).ok_or_else(|| {
            self.bad(
                col,
                format!("{t:?} is not one of the platform's {what} numbers"),
            )
        })
    }

    /// A refund line: the platform's refund (its number in `refund_no`, its amount in
    /// `refund_amount`), or, without a number, a refund made at the channel, read as the
    /// status of the payment of `paid_amount`.
    pub fn refund(
        &self,
        order_id: u64,
        refund_no: usize,
        refund_amount: usize,
        paid_amount: usize,
    ) -> Result<(Key, u64, BillStatus), BillError> {
        if self.value(refund_no)?.is_empty() {
            Ok((
                Key::Payment(order_id),
                self.yuan(paid_amount, false)?,
                BillStatus::RefundedAtChannel,
            ))
        } else {
            Ok((
                Key::Refund(self.number(refund_no, "refund")?),
                self.yuan(refund_amount, true)?,
                BillStatus::Success,
            ))
        }
    }
}

/// Yuan with exactly two decimals (`19.90`, `-0.50` for a returned fee read as its size) as
/// fen; anything else (`1.234`, `1.2`, `1,000.00`) is refused. A leading minus is allowed
/// and dropped when `negative_ok`: refund amounts are printed negative by some bills.
pub fn parse_yuan(text: &str, negative_ok: bool) -> Option<u64> {
    let text = text.trim();
    let text = match text.strip_prefix('-') {
        Some(rest) if negative_ok => rest,
        Some(_) => return None,
        None => text,
    };
    let (whole, cents) = text.split_once('.')?;
    if whole.is_empty()
        || whole.len() > 17
        || cents.len() != 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !cents.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let cents: u64 = cents.parse().ok()?;
    // An amount fits the books' signed minor units (the differences are signed).
    whole
        .checked_mul(100)?
        .checked_add(cents)
        .filter(|&fen| fen <= i64::MAX as u64)
}

/// Fen as yuan with two decimals.
pub fn format_yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_with_two_decimals_only() {
        assert_eq!(parse_yuan("19.90", false), Some(1990));
        assert_eq!(parse_yuan("0.01", false), Some(1));
        assert_eq!(parse_yuan("-0.50", true), Some(50));
        assert_eq!(parse_yuan("-0.50", false), None);
        for bad in ["1.234", "1.2", "1", "", ".50", "1,000.00", "1.2a", "+1.00"] {
            assert_eq!(parse_yuan(bad, true), None, "{bad}");
        }
        assert_eq!(format_yuan(1990), "19.90");
        assert_eq!(format_yuan(5), "0.05");
        // Up to the books' largest signed amount, not beyond.
        assert_eq!(
            parse_yuan("92233720368547758.07", false),
            Some(i64::MAX as u64)
        );
        assert_eq!(parse_yuan("92233720368547758.08", false), None);
    }

    #[test]
    fn totals_that_would_overflow_saturate_so_the_bill_cannot_add_up() {
        let line = BillLine {
            line: 2,
            key: Key::Payment(1),
            order_id: 1,
            amount_fen: i64::MAX as u64,
            fee_fen: 0,
            status: BillStatus::Success,
            completed_ms: 0,
        };
        let s = BillSummary::of(&[line.clone(), line.clone(), line]);
        assert_eq!(s.paid_fen, u64::MAX);
        assert_eq!(s.lines, 3);
    }

    #[test]
    fn keys_pack_in_their_order() {
        let keys = [
            Key::Payment(1),
            Key::Payment(u64::MAX),
            Key::Refund(0),
            Key::Refund(7),
        ];
        for pair in keys.windows(2) {
            assert!(pair[0].packed() < pair[1].packed());
            assert!(pair[0] < pair[1]);
        }
        for k in keys {
            assert_eq!(Key::from_packed(k.packed()), k);
        }
    }
}
