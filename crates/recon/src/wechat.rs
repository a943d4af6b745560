//! WeChat Pay's trade bill (交易账单, type ALL) as WeChat publishes it: UTF-8 CSV whose every
//! value begins with a backtick, a header naming the columns, the detail lines, then a
//! summary header and one summary row; optionally gzipped.
//!
//! A detail line with 交易状态 `SUCCESS` is a payment; `REFUND` with a 商户退款单号 (the
//! platform's refund number) is that refund; `REFUND` without one is a refund made at the
//! channel, not through the platform, and reads as the payment's status. 手续费 is the fee
//! (negative on a refund: the fee returned). Columns are found by name, so their order and
//! any extra columns do not matter.

use crate::bill::{column, Row};
use crate::bill::{
    format_yuan, parse_yuan, Bill, BillError, BillLine, BillStatus, BillSummary, Key,
};
use crate::time::format_beijing;

/// The detail columns this reader needs, by their names in the header.
const TIME: &str = "交易时间";
const ORDER: &str = "商户订单号";
const STATE: &str = "交易状态";
const CURRENCY: &str = "货币种类";
const AMOUNT: &str = "应结订单金额";
const REFUND_NO: &str = "商户退款单号";
const REFUND_AMOUNT: &str = "退款金额";
const FEE: &str = "手续费";

/// The columns a bill is written with (WeChat's own order; the reader needs only some).
const HEADER: [&str; 18] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "退款状态",
    "手续费",
    "费率",
];
const SUMMARY_HEADER: [&str; 4] = ["总交易单数", "应结订单总金额", "退款总金额", "手续费总金额"];

/// Reads a bill, gzipped or not. Refused whole, naming the line and column, if any line is
/// malformed or the summary does not add up.
pub fn parse(bytes: &[u8]) -> Result<Bill, BillError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let unzipped = crate::gzip::decompress(bytes).map_err(|problem| BillError {
            line: 0,
            column: None,
            problem,
        })?;
        return read(&unzipped[..]);
    }
    read(bytes)
}

/// Reads a bill (not gzipped) line by line from `input`: a bill of tens of millions of lines
/// is never held whole.
pub fn read(mut input: impl std::io::BufRead) -> Result<Bill, BillError> {
    let mut buf = Vec::new();
    let mut n: u32 = 0;
    // The next line that is not blank, its number and text; `None` at the end.
    let mut next = |buf: &mut Vec<u8>| -> Result<Option<u32>, BillError> {
        loop {
            buf.clear();
            let read = input.read_until(b'\n', buf).map_err(|e| BillError {
                line: n + 1,
                column: None,
                problem: format!("cannot read: {e}"),
            })?;
            if read == 0 {
                return Ok(None);
            }
            n += 1;
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            if std::str::from_utf8(buf).is_err() {
                return Err(BillError {
                    line: n,
                    column: None,
                    problem: "not UTF-8".into(),
                });
            }
            if !buf.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(n));
            }
        }
    };
    let text = |buf: &[u8]| String::from_utf8_lossy(buf).into_owned();
    let Some(first) = next(&mut buf)? else {
        return Err(BillError {
            line: 0,
            column: None,
            problem: "empty".into(),
        });
    };
    let header_text = text(&buf);
    let header: Vec<&str> = header_text
        .split(',')
        .map(|h| h.trim().trim_start_matches('`'))
        .collect();
    let column = |name: &'static str| column(&header, name, first);
    let cols = Columns {
        time: column(TIME)?,
        order: column(ORDER)?,
        state: column(STATE)?,
        currency: column(CURRENCY)?,
        amount: column(AMOUNT)?,
        refund_no: column(REFUND_NO)?,
        refund_amount: column(REFUND_AMOUNT)?,
        fee: column(FEE)?,
    };
    let mut lines = Vec::new();
    let mut summary = None;
    while let Some(at) = next(&mut buf)? {
        // Checked as UTF-8 by `next`.
        let row = std::str::from_utf8(&buf).unwrap_or_default();
        if row
            .trim_start()
            .trim_start_matches('`')
            .starts_with(SUMMARY_HEADER[0])
        {
            let names = text(&buf);
            let names: Vec<&str> = names.split(',').map(str::trim).collect();
            let Some(totals_at) = next(&mut buf)? else {
                return Err(BillError {
                    line: at,
                    column: None,
                    problem: "a summary header without its row".into(),
                });
            };
            summary = Some(read_summary(totals_at, &names, &text(&buf))?);
            if let Some(extra) = next(&mut buf)? {
                return Err(BillError {
                    line: extra,
                    column: None,
                    problem: "a line after the summary".into(),
                });
            }
            break;
        }
        let values: Vec<&str> = row.split(',').map(str::trim).collect();
        lines.push(read_line(at, &header, &cols, &values)?);
    }
    let stated = summary.ok_or(BillError {
        line: 0,
        column: None,
        problem: "no summary (总交易单数 ...) at the end".into(),
    })?;
    let own = BillSummary::of(&lines);
    stated.check_against(&own)?;
    Ok(Bill {
        lines,
        summary: stated,
    })
}

struct Columns {
    time: usize,
    order: usize,
    state: usize,
    currency: usize,
    amount: usize,
    refund_no: usize,
    refund_amount: usize,
    fee: usize,
}

fn read_line(
    n: u32,
    header: &[&str],
    cols: &Columns,
    values: &[&str],
) -> Result<BillLine, BillError> {
    let row = Row {
        n,
        header,
        values,
        prefix: Some('`'),
    };
    let completed_ms = row.time(cols.time)?;
    let order_id = row.number(cols.order, "order")?;
    let currency = row.value(cols.currency)?;
    if currency != "CNY" {
        return Err(row.bad(
            cols.currency,
            format!("{currency:?}: the platform's WeChat orders are in CNY"),
        ));
    }
    let fee_fen = row.yuan(cols.fee, true)?;
    let (key, amount_fen, status) = match row.value(cols.state)? {
        "SUCCESS" => (
            Key::Payment(order_id),
            row.yuan(cols.amount, false)?,
            BillStatus::Success,
        ),
        "REFUND" => row.refund(order_id, cols.refund_no, cols.refund_amount, cols.amount)?,
        other => return Err(row.bad(cols.state, format!("{other:?} is not SUCCESS or REFUND"))),
    };
    Ok(BillLine {
        line: n,
        key,
        order_id,
        amount_fen,
        fee_fen,
        status,
        completed_ms,
    })
}

fn read_summary(n: u32, names: &[&str], row: &str) -> Result<BillSummary, BillError> {
    let values: Vec<&str> = row.split(',').map(|v| v.trim()).collect();
    let at = |name: &'static str| -> Result<&str, BillError> {
        let col = names
            .iter()
            .position(|h| h.trim_start_matches('`') == name)
            .ok_or_else(|| BillError {
                line: n - 1,
                column: Some(name.into()),
                problem: "missing from the summary header".into(),
            })?;
        values
            .get(col)
            .map(|v| v.trim_start_matches('`'))
            .ok_or_else(|| BillError {
                line: n,
                column: Some(name.into()),
                problem: "missing from the summary".into(),
            })
    };
    let yuan = |name: &'static str| -> Result<u64, BillError> {
        let t = at(name)?;
        parse_yuan(t, false).ok_or_else(|| BillError {
            line: n,
            column: Some(name.into()),
            problem: format!("{t:?} is not yuan with two decimals"),
        })
    };
    let count = at(SUMMARY_HEADER[0])?;
    Ok(BillSummary {
        lines: count.parse().map_err(|_| BillError {
            line: n,
            column: Some(SUMMARY_HEADER[0].into()),
            problem: format!("{count:?} is not a count"),
        })?,
        paid_fen: yuan(SUMMARY_HEADER[1])?,
        refunded_fen: yuan(SUMMARY_HEADER[2])?,
        fees_fen: yuan(SUMMARY_HEADER[3])?,
    })
}

/// Writes a bill as WeChat would (what the channel simulator serves, and what the tests and
/// the benchmark read back). `merchant` is the 商户号.
pub fn render(lines: &[BillLine], merchant: &str, out: &mut Vec<u8>) {
    let mut w = Writer::new(&mut *out, merchant);
    for l in lines {
        w.line(l);
    }
    // Writing into a Vec cannot fail.
    let _ = w.finish();
}

/// Writes unless an earlier write failed; the first error is kept for `finish`.
fn write_or_keep<W: std::io::Write>(
    out: &mut W,
    error: &mut Option<std::io::Error>,
    args: std::fmt::Arguments<'_>,
) {
    if error.is_none() {
        if let Err(e) = out.write_fmt(args) {
            *error = Some(e);
        }
    }
}

/// A bill written line by line: the header first, the summary at [`Writer::finish`].
pub struct Writer<W: std::io::Write> {
    out: W,
    merchant: String,
    totals: BillSummary,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> Writer<W> {
    pub fn new(out: W, merchant: &str) -> Writer<W> {
        let mut w = Writer {
            out,
            merchant: merchant.to_string(),
            totals: BillSummary::default(),
            error: None,
        };
        let header = HEADER.join(",");
        w.write(format_args!("{header}\n"));
        w
    }

    fn write(&mut self, args: std::fmt::Arguments<'_>) {
        write_or_keep(&mut self.out, &mut self.error, args);
    }

    pub fn line(&mut self, l: &BillLine) {
        self.totals.add(l);
        let time = format_beijing(l.completed_ms);
        let paid = format_yuan(l.amount_fen);
        let fee = format_yuan(l.fee_fen);
        let (state, settled, refund_no, refund_amount, fee_sign) = match (l.key, l.status) {
            (Key::Payment(_), BillStatus::Success) => {
                ("SUCCESS", &paid[..], String::new(), "0.00".to_string(), "")
            }
            (Key::Payment(_), BillStatus::RefundedAtChannel) => {
                ("REFUND", &paid[..], String::new(), format!("-{paid}"), "-")
            }
            (Key::Refund(id), _) => ("REFUND", "0.00", id.to_string(), format!("-{paid}"), "-"),
        };
        let (wx_refund, refund_state) = if refund_no.is_empty() {
            (String::new(), "")
        } else {
            (format!("50{refund_no:0>16}"), "SUCCESS")
        };
        let order = l.order_id;
        let merchant = &self.merchant;
        write_or_keep(&mut self.out, &mut self.error, format_args!(
            "`{time},`wx0000000000000000,`{merchant},`,`42{order:016},`{order},`o0000,`NATIVE,`{state},`CMB_DEBIT,`CNY,`{settled},`{wx_refund},`{refund_no},`{refund_amount},`{refund_state},`{fee_sign}{fee},`0.60%\n"
        ));
    }

    /// Writes the summary; the first write error, if any, is returned here.
    pub fn finish(mut self) -> std::io::Result<W> {
        let s = self.totals;
        let names = SUMMARY_HEADER.join(",");
        self.write(format_args!(
            "{names}\n`{},`{},`{},`{}\n",
            s.lines,
            format_yuan(s.paid_fen),
            format_yuan(s.refunded_fen),
            format_yuan(s.fees_fen)
        ));
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-05 00:00:00 in Beijing.
    const DAY_MS: u64 = 1_796_400_000_000;

    fn line(
        n: u32,
        key: Key,
        order_id: u64,
        amount: u64,
        fee: u64,
        status: BillStatus,
    ) -> BillLine {
        BillLine {
            line: n,
            key,
            order_id,
            amount_fen: amount,
            fee_fen: fee,
            status,
            completed_ms: DAY_MS + u64::from(n) * 1000,
        }
    }

    #[test]
    fn a_rendered_bill_reads_back_line_for_line() {
        let lines = vec![
            line(2, Key::Payment(11), 11, 1990, 12, BillStatus::Success),
            line(3, Key::Refund(7), 11, 990, 6, BillStatus::Success),
            line(
                4,
                Key::Payment(12),
                12,
                500,
                3,
                BillStatus::RefundedAtChannel,
            ),
        ];
        let mut bytes = Vec::new();
        render(&lines, "1900000109", &mut bytes);
        let bill = parse(&bytes).expect("reads");
        assert_eq!(bill.lines, lines);
        assert_eq!(bill.summary, BillSummary::of(&lines));
        let zipped = crate::gzip::compress(&bytes);
        assert_eq!(parse(&zipped).expect("gzipped").lines, lines);
    }

    #[test]
    fn a_malformed_bill_is_refused_naming_line_and_column() {
        let lines = vec![line(2, Key::Payment(11), 11, 1990, 12, BillStatus::Success)];
        let mut bytes = Vec::new();
        render(&lines, "1900000109", &mut bytes);
        let text = String::from_utf8(bytes).expect("utf-8");
        let e = parse(text.replace("`19.90", "`1.234").as_bytes()).expect_err("refused");
        assert_eq!((e.line, e.column.as_deref()), (2, Some("应结订单金额")));
        assert!(e.to_string().contains("1.234"), "{e}");
        let e = parse(text.replace("商户订单号", "订单").as_bytes()).expect_err("refused");
        assert_eq!((e.line, e.column.as_deref()), (1, Some("商户订单号")));
        let e = parse(text.replace("`1,`19.90", "`2,`19.90").as_bytes()).expect_err("refused");
        assert!(e.problem.contains("does not add up"), "{e}");
        let mut latin1 = text.into_bytes();
        latin1.insert(40, 0xff);
        assert!(parse(&latin1)
            .expect_err("refused")
            .problem
            .contains("UTF-8"));
    }
}
