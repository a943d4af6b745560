//! Alipay's trade bill (业务明细, bill type `trade`) as Alipay serves it: a zip of two CSV files
//! in GBK, the detail (`…_业务明细.csv`) and its summary (`…_业务明细(汇总).csv`). Lines
//! beginning with `#` are comments (the account, the dates, the export time); values may be
//! padded with tabs; amounts are yuan with two decimals.
//!
//! A detail line of 业务类型 `交易` is a payment (订单金额; 服务费 is the fee, printed negative);
//! `退款` with a 退款批次号/请求号 (the platform's refund number) is that refund (商家实收,
//! printed negative; 服务费 the fee returned); `退款` without one is a refund made at the
//! channel and reads as the payment's status. The summary's 合计 row gives the counts of
//! trade and refund lines and their amounts, checked against the detail.

use crate::bill::{column, Row};
use crate::bill::{
    format_yuan, parse_yuan, Bill, BillError, BillLine, BillStatus, BillSummary, Key,
};
use crate::time::format_beijing;

const ORDER: &str = "商户订单号";
const KIND: &str = "业务类型";
const COMPLETED: &str = "完成时间";
const AMOUNT: &str = "订单金额（元）";
const RECEIVED: &str = "商家实收（元）";
const REFUND_NO: &str = "退款批次号/请求号";
const FEE: &str = "服务费（元）";

const HEADER: [&str; 12] = [
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "备注",
];
const SUMMARY_HEADER: [&str; 7] = [
    "门店编号",
    "门店名称",
    "交易订单总笔数",
    "退款订单总笔数",
    "交易金额（元）",
    "退款金额（元）",
    "服务费（元）",
];

/// Reads a bill from the zip Alipay's download URL serves. Refused whole, naming the file,
/// line and column, if anything is malformed or the summary does not add up.
pub fn parse(archive: &[u8]) -> Result<Bill, BillError> {
    let whole = |problem: String| BillError {
        line: 0,
        column: None,
        problem,
    };
    let members = crate::zip::read(archive).map_err(whole)?;
    let find = |summary: bool| {
        members
            .iter()
            .find(|(name, _)| name.ends_with(".csv") && name.contains("汇总") == summary)
            .map(|(_, contents)| contents)
    };
    let detail =
        find(false).ok_or_else(|| whole("no detail file (…_业务明细.csv) in the zip".into()))?;
    let summary = find(true)
        .ok_or_else(|| whole("no summary file (…_业务明细(汇总).csv) in the zip".into()))?;
    let detail = gbk(detail, "the detail")?;
    let lines = read_detail(&detail)?;
    let stated = read_summary(&gbk(summary, "the summary")?)?;
    stated.check_against(&BillSummary::of(&lines))?;
    Ok(Bill {
        lines,
        summary: stated,
    })
}

/// GBK (as Alipay writes its bills) to text; a byte sequence GBK does not have is refused,
/// naming its line.
fn gbk(bytes: &[u8], what: &str) -> Result<String, BillError> {
    let (text, had_errors) = encoding_rs::GBK.decode_without_bom_handling(bytes);
    if had_errors {
        let line = text
            .lines()
            .position(|l| l.contains('\u{fffd}'))
            .map_or(0, |i| i as u32 + 1);
        return Err(BillError {
            line,
            column: None,
            problem: format!("{what} is not GBK text"),
        });
    }
    Ok(text.into_owned())
}

/// The file's lines that are not comments or blank, with their numbers.
fn data_lines(text: &str) -> impl Iterator<Item = (u32, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i as u32 + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
}

fn split(row: &str) -> Vec<&str> {
    row.split(',')
        .map(|v| v.trim_matches(|c: char| c == '\t' || c == ' '))
        .collect()
}

fn read_detail(text: &str) -> Result<Vec<BillLine>, BillError> {
    let mut rows = data_lines(text);
    let (header_at, header) = rows.next().ok_or(BillError {
        line: 0,
        column: None,
        problem: "the detail has no header".into(),
    })?;
    let header = split(header);
    let column = |name: &'static str| column(&header, name, header_at);
    let (order, kind, completed, amount, received, refund_no, fee) = (
        column(ORDER)?,
        column(KIND)?,
        column(COMPLETED)?,
        column(AMOUNT)?,
        column(RECEIVED)?,
        column(REFUND_NO)?,
        column(FEE)?,
    );
    let mut lines = Vec::new();
    for (n, text) in rows {
        let values = split(text);
        let row = Row {
            n,
            header: &header,
            values: &values,
            prefix: None,
        };
        let completed_ms = row.time(completed)?;
        let order_id = row.number(order, "order")?;
        let fee_fen = row.yuan(fee, true)?;
        let (key, amount_fen, status) = match row.value(kind)? {
            "交易" => (
                Key::Payment(order_id),
                row.yuan(amount, false)?,
                BillStatus::Success,
            ),
            "退款" => row.refund(order_id, refund_no, received, amount)?,
            other => return Err(row.bad(kind, format!("{other:?} is not 交易 or 退款"))),
        };
        lines.push(BillLine {
            line: n,
            key,
            order_id,
            amount_fen,
            fee_fen,
            status,
            completed_ms,
        });
    }
    Ok(lines)
}

fn read_summary(text: &str) -> Result<BillSummary, BillError> {
    let mut rows = data_lines(text);
    let missing = |problem: &str| BillError {
        line: 0,
        column: None,
        problem: format!("the summary {problem}"),
    };
    let (_, header) = rows.next().ok_or_else(|| missing("has no header"))?;
    let header = split(header);
    let (n, total) = rows
        .find(|(_, row)| split(row).first() == Some(&"合计"))
        .ok_or_else(|| missing("has no 合计 row"))?;
    let total = split(total);
    let at = |name: &'static str| -> Result<&str, BillError> {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|col| total.get(col).copied())
            .ok_or_else(|| BillError {
                line: n,
                column: Some(name.into()),
                problem: "missing from the summary".into(),
            })
    };
    let count = |name: &'static str| -> Result<u64, BillError> {
        let t = at(name)?;
        t.parse().map_err(|_| BillError {
            line: n,
            column: Some(name.into()),
            problem: format!("{t:?} is not a count"),
        })
    };
    let yuan = |name: &'static str| -> Result<u64, BillError> {
        let t = at(name)?;
        parse_yuan(t, true).ok_or_else(|| BillError {
            line: n,
            column: Some(name.into()),
            problem: format!("{t:?} is not yuan with two decimals"),
        })
    };
    Ok(BillSummary {
        lines: count(SUMMARY_HEADER[2])? + count(SUMMARY_HEADER[3])?,
        paid_fen: yuan(SUMMARY_HEADER[4])?,
        refunded_fen: yuan(SUMMARY_HEADER[5])?,
        fees_fen: yuan(SUMMARY_HEADER[6])?,
    })
}

/// The zip Alipay would serve for these lines of `date` (`yyyyMMdd`) of `account` (the
/// 2088… partner id), both files in GBK.
pub fn render(lines: &[BillLine], account: &str, date: &str) -> Vec<u8> {
    let mut detail = format!(
        "#支付宝业务明细查询\n#账号：[{account}]\n#起始日期：[{date} 00:00:00]   终止日期：[{date} 24:00:00]\n#-----------------------------------------业务明细列表----------------------------------------\n{}\n",
        HEADER.join(",")
    );
    let mut totals = BillSummary::default();
    let (mut trades, mut refunds) = (0u64, 0u64);
    for l in lines {
        totals.add(l);
        let when = format_beijing(l.completed_ms);
        let yuan = format_yuan(l.amount_fen);
        let fee = format_yuan(l.fee_fen);
        let (kind, amount, received, refund_no, fee) = match (l.key, l.status) {
            (Key::Payment(_), BillStatus::Success) => {
                trades += 1;
                ("交易", yuan.clone(), yuan, String::new(), format!("-{fee}"))
            }
            (Key::Payment(_), BillStatus::RefundedAtChannel) => {
                refunds += 1;
                ("退款", yuan.clone(), format!("-{yuan}"), String::new(), fee)
            }
            (Key::Refund(id), _) => {
                refunds += 1;
                (
                    "退款",
                    "0.00".to_string(),
                    format!("-{yuan}"),
                    id.to_string(),
                    fee,
                )
            }
        };
        detail.push_str(&format!(
            "2026{:015}\t,{}\t,{kind}\t,goods\t,{when}\t,{when}\t,buyer\t,{amount}\t,{received}\t,{refund_no}\t,{fee}\t,\n",
            l.order_id, l.order_id
        ));
    }
    detail.push_str("#-----------------------------------------业务明细列表结束------------------------------------\n#导出时间：[export]\n");
    let summary = format!(
        "#支付宝业务汇总查询\n#账号：[{account}]\n{}\n合计,,{trades},{refunds},{},{},{}\n#导出时间：[export]\n",
        SUMMARY_HEADER.join(","),
        format_yuan(totals.paid_fen),
        format_yuan(totals.refunded_fen),
        format_yuan(totals.fees_fen),
    );
    let (detail, _, _) = encoding_rs::GBK.encode(&detail);
    let (summary, _, _) = encoding_rs::GBK.encode(&summary);
    crate::zip::write(&[
        (&format!("{account}_{date}_业务明细.csv"), &detail),
        (&format!("{account}_{date}_业务明细(汇总).csv"), &summary),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: u64 = 1_796_400_000_000;

    fn lines() -> Vec<BillLine> {
        let line = |n: u32, key, order_id, amount_fen, fee_fen, status| BillLine {
            line: n,
            key,
            order_id,
            amount_fen,
            fee_fen,
            status,
            completed_ms: DAY_MS + u64::from(n) * 60_000,
        };
        vec![
            line(6, Key::Payment(11), 11, 1990, 12, BillStatus::Success),
            line(7, Key::Refund(3), 11, 990, 6, BillStatus::Success),
            line(
                8,
                Key::Payment(12),
                12,
                500,
                3,
                BillStatus::RefundedAtChannel,
            ),
        ]
    }

    #[test]
    fn a_gbk_bill_in_its_zip_reads_back_line_for_line() {
        let archive = render(&lines(), "2088000000000001", "20261205");
        // Really GBK: 交易 is BD BB D2 D7 there, not its UTF-8 bytes.
        let members = crate::zip::read(&archive).expect("zip");
        assert!(members[0]
            .1
            .windows(4)
            .any(|w| w == [0xBD, 0xBB, 0xD2, 0xD7]));
        assert!(std::str::from_utf8(&members[0].1).is_err());
        let bill = parse(&archive).expect("reads");
        assert_eq!(bill.lines, lines());
        assert_eq!(bill.summary, BillSummary::of(&lines()));
    }

    #[test]
    fn a_malformed_bill_is_refused_naming_line_and_column() {
        let archive = render(&lines(), "2088000000000001", "20261205");
        let members = crate::zip::read(&archive).expect("zip");
        let (detail, _, _) = encoding_rs::GBK.decode(&members[0].1);
        let (summary, _, _) = encoding_rs::GBK.decode(&members[1].1);
        let rezip = |detail: &str, summary: &str| {
            let (d, _, _) = encoding_rs::GBK.encode(detail);
            let (s, _, _) = encoding_rs::GBK.encode(summary);
            crate::zip::write(&[("a_业务明细.csv", &d), ("a_业务明细(汇总).csv", &s)])
        };
        let e =
            parse(&rezip(&detail.replacen("19.90", "1.234", 1), &summary)).expect_err("refused");
        assert_eq!((e.line, e.column.as_deref()), (6, Some("订单金额（元）")));
        let e =
            parse(&rezip(&detail.replace("服务费（元）", "费用"), &summary)).expect_err("refused");
        assert_eq!((e.line, e.column.as_deref()), (5, Some("服务费（元）")));
        let e = parse(&rezip(&detail, &summary.replace("合计,,1,2", "合计,,2,2")))
            .expect_err("refused");
        assert!(e.problem.contains("does not add up"), "{e}");
        // UTF-8 where GBK is expected: 0xFF never begins a GBK character.
        let mut bad = detail.to_string().into_bytes();
        bad.extend([0xff, 0xff, b'\n']);
        let (s, _, _) = encoding_rs::GBK.encode(&summary);
        let archive = crate::zip::write(&[("a_业务明细.csv", &bad), ("a_业务明细(汇总).csv", &s)]);
        assert!(parse(&archive)
            .expect_err("refused")
            .problem
            .contains("GBK"));
    }
}
