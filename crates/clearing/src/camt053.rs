//! The statement as an ISO 20022 camt.053.001.08 bank-to-customer statement: the same
//! statement, made from the CSV file itself (checked against its trailer first), so the two
//! can never disagree. One `Stmt` for the participant's position in the batch: an opening
//! balance of zero at the batch's start, one entry per transaction (debit when it paid, credit
//! when it received; the platform's fee as the entry's charges), the closing balance its net
//! position, and the totals of the trailer. Validated against the published XSD by
//! `scripts/check-camt053`.
//!
//! Amounts are yuan with two decimals (the schema's amounts carry at most 18 digits, so a
//! single figure above 9,999,999,999,999,999.99 CNY cannot be expressed; no statement comes
//! near it).

use std::fmt::Write as _;

use suanpan_ledger::AccountingDate;

use crate::ClearingError;

pub const CAMT053_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08";

/// The camt.053 file name of `participant`'s statement for `batch`.
pub fn camt053_file_name(batch: u64, participant: u16) -> String {
    format!("statement-{batch:08}-{participant:04}.xml")
}

struct Header<'a> {
    batch: &'a str,
    participant: &'a str,
    code: &'a str,
    currency: &'a str,
    opened_ns: u64,
    closed_ns: u64,
}

struct Detail<'a> {
    id: &'a str,
    timestamp_ns: u64,
    kind: &'a str,
    paid: bool,
    counterpart: &'a str,
    amount_fen: u128,
    fee_fen: u128,
    reference: &'a str,
}

fn corrupt(why: &str) -> ClearingError {
    ClearingError::Corrupt(format!("statement: {why}"))
}

fn number(text: &str) -> Result<u128, ClearingError> {
    text.parse()
        .map_err(|_| corrupt(&format!("{text:?} is not a number")))
}

/// An instant as ISO 8601 in UTC with nanoseconds.
fn date_time(ns: u64) -> String {
    let (y, m, d) = AccountingDate::from_unix_nanos(ns, 0).ymd();
    let s = ns / 1_000_000_000 % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        s / 3_600,
        s / 60 % 60,
        s % 60,
        ns % 1_000_000_000
    )
}

/// Fen as yuan with two decimals.
fn yuan(fen: u128) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn parse_header(line: &str) -> Result<Header<'_>, ClearingError> {
    let f: Vec<&str> = line.split(',').collect();
    let ["H", "suanpan-statement", "1", batch, participant, code, currency, opened, closed] = f[..]
    else {
        return Err(corrupt("the first line is not a version 1 header"));
    };
    Ok(Header {
        batch,
        participant,
        code,
        currency,
        opened_ns: number(opened)? as u64,
        closed_ns: number(closed)? as u64,
    })
}

fn parse_detail(line: &str) -> Result<Detail<'_>, ClearingError> {
    let f: Vec<&str> = line.split(',').collect();
    let ["D", id, timestamp, kind, direction, counterpart, amount, fee, _status, reference] = f[..]
    else {
        return Err(corrupt(&format!("not a detail line: {line:?}")));
    };
    Ok(Detail {
        id,
        timestamp_ns: number(timestamp)? as u64,
        kind,
        paid: match direction {
            "paid" => true,
            "received" => false,
            other => return Err(corrupt(&format!("direction {other:?}"))),
        },
        counterpart,
        amount_fen: number(amount)?,
        fee_fen: number(fee)?,
        reference,
    })
}

/// The camt.053.001.08 document of a statement file's bytes (as written, trailer checked by
/// the caller or by [`crate::read_statement`]).
pub fn statement_camt053(csv: &[u8]) -> Result<String, ClearingError> {
    let text = std::str::from_utf8(csv).map_err(|_| corrupt("not UTF-8"))?;
    let mut lines = text.lines();
    let header = parse_header(lines.next().unwrap_or(""))?;
    let mut details = Vec::new();
    let mut trailer = None;
    for line in lines {
        match line.split(',').next() {
            Some("C") => {}
            Some("D") => details.push(parse_detail(line)?),
            Some("T") => trailer = Some(line),
            _ => return Err(corrupt(&format!("unknown line {line:?}"))),
        }
    }
    let trailer: Vec<&str> = trailer
        .ok_or_else(|| corrupt("no trailer"))?
        .split(',')
        .collect();
    let ["T", lines_count, paid_count, paid, received_count, received, _fee, net, _sha] =
        trailer[..]
    else {
        return Err(corrupt("the trailer has the wrong fields"));
    };
    let net: i128 = net
        .parse()
        .map_err(|_| corrupt("the net is not a number"))?;
    let (paid, received) = (number(paid)?, number(received)?);
    let ccy = header.currency;
    let closed = date_time(header.closed_ns);
    let mut x = String::with_capacity(512 + details.len() * 900);
    let _ = write!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"{CAMT053_NAMESPACE}\">\n<BkToCstmrStmt>\n\
         <GrpHdr><MsgId>SUANPAN-{b}-{p}</MsgId><CreDtTm>{closed}</CreDtTm></GrpHdr>\n\
         <Stmt>\n<Id>{b:0>8}-{p:0>4}</Id><ElctrncSeqNb>{b}</ElctrncSeqNb><CreDtTm>{closed}</CreDtTm>\
         <FrToDt><FrDtTm>{opened}</FrDtTm><ToDtTm>{closed}</ToDtTm></FrToDt>\n\
         <Acct><Id><Othr><Id>{code}</Id><Issr>SUANPAN</Issr></Othr></Id><Ccy>{ccy}</Ccy><Nm>participant {p} position</Nm></Acct>\n\
         <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"{ccy}\">0.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><DtTm>{opened}</DtTm></Dt></Bal>\n\
         <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"{ccy}\">{net_amount}</Amt><CdtDbtInd>{net_side}</CdtDbtInd><Dt><DtTm>{closed}</DtTm></Dt></Bal>\n\
         <TxsSummry><TtlNtries><NbOfNtries>{lines_count}</NbOfNtries><Sum>{sum}</Sum><TtlNetNtry><Amt>{net_amount}</Amt><CdtDbtInd>{net_side}</CdtDbtInd></TtlNetNtry></TtlNtries>\
         <TtlCdtNtries><NbOfNtries>{received_count}</NbOfNtries><Sum>{received}</Sum></TtlCdtNtries>\
         <TtlDbtNtries><NbOfNtries>{paid_count}</NbOfNtries><Sum>{paid}</Sum></TtlDbtNtries></TxsSummry>\n",
        b = header.batch,
        p = header.participant,
        opened = date_time(header.opened_ns),
        code = escape(header.code),
        net_amount = yuan(net.unsigned_abs()),
        net_side = if net >= 0 { "CRDT" } else { "DBIT" },
        sum = yuan(paid + received),
        received = yuan(received),
        paid = yuan(paid),
    );
    for d in &details {
        entry(&mut x, d, ccy);
    }
    x.push_str("</Stmt>\n</BkToCstmrStmt>\n</Document>\n");
    Ok(x)
}

fn entry(x: &mut String, d: &Detail, ccy: &str) {
    let side = if d.paid { "DBIT" } else { "CRDT" };
    let at = date_time(d.timestamp_ns);
    x.push_str("<Ntry>");
    // Ids are up to 39 digits; the reference fields hold 35: the full id is in AddtlNtryInf.
    if d.id.len() <= 35 {
        let _ = write!(x, "<NtryRef>{}</NtryRef>", d.id);
    }
    let _ = write!(
        x,
        "<Amt Ccy=\"{ccy}\">{}</Amt><CdtDbtInd>{side}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>\
         <BookgDt><DtTm>{at}</DtTm></BookgDt><ValDt><DtTm>{at}</DtTm></ValDt>\
         <BkTxCd><Prtry><Cd>{}</Cd><Issr>SUANPAN</Issr></Prtry></BkTxCd>",
        yuan(d.amount_fen),
        d.kind
    );
    if d.fee_fen > 0 {
        let fee = yuan(d.fee_fen);
        let _ = write!(
            x,
            "<Chrgs><TtlChrgsAndTaxAmt Ccy=\"{ccy}\">{fee}</TtlChrgsAndTaxAmt><Rcrd><Amt Ccy=\"{ccy}\">{fee}</Amt><CdtDbtInd>DBIT</CdtDbtInd></Rcrd></Chrgs>"
        );
    }
    let counterpart = format!("participant {}", d.counterpart);
    let (debtor, creditor) = if d.paid {
        ("this participant", counterpart.as_str())
    } else {
        (counterpart.as_str(), "this participant")
    };
    let _ = write!(
        x,
        "<NtryDtls><TxDtls><Amt Ccy=\"{ccy}\">{}</Amt><CdtDbtInd>{side}</CdtDbtInd>\
         <RltdPties><Dbtr><Pty><Nm>{debtor}</Nm></Pty></Dbtr><Cdtr><Pty><Nm>{creditor}</Nm></Pty></Cdtr></RltdPties>",
        yuan(d.amount_fen)
    );
    if !d.reference.is_empty() {
        let _ = write!(x, "<RmtInf><Ustrd>{}</Ustrd></RmtInf>", escape(d.reference));
    }
    let _ = writeln!(
        x,
        "</TxDtls></NtryDtls><AddtlNtryInf>transaction {}; counterpart {}; fee_fen {}</AddtlNtryInf></Ntry>",
        d.id, d.counterpart, d.fee_fen
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATEMENT: &str =
        "H,suanpan-statement,1,3,1,B001,CNY,1795656966000000000,1795656967500000000\n\
C,transaction_id,timestamp_ns,kind,direction,counterpart,amount_fen,fee_fen,status,reference\n\
D,11,1795656966306383820,agreement_payment,paid,2,30000,15,cleared,order<1>&\n\
D,12,1795656967306383820,refund,received,2,5005,0,cleared,\n\
T,2,1,30000,1,5005,15,-24995,0000\n";

    #[test]
    fn the_xml_carries_the_statement_figures() {
        let x = statement_camt053(STATEMENT.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert!(x.contains("<Id>00000003-0001</Id>"));
        assert!(x.contains("<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"CNY\">249.95</Amt><CdtDbtInd>DBIT</CdtDbtInd>"));
        assert!(x.contains("<TtlCdtNtries><NbOfNtries>1</NbOfNtries><Sum>50.05</Sum>"));
        assert!(x.contains("<RmtInf><Ustrd>order&lt;1&gt;&amp;</Ustrd></RmtInf>"));
        assert!(x.contains("<TtlChrgsAndTaxAmt Ccy=\"CNY\">0.15</TtlChrgsAndTaxAmt>"));
        assert_eq!(x.matches("<Ntry>").count(), 2);
        assert!(x.contains("<BookgDt><DtTm>2026-11-26T"));
    }

    #[test]
    fn a_file_that_is_not_a_statement_is_refused() {
        assert!(statement_camt053(b"H,other,1\n").is_err());
        assert!(statement_camt053(b"").is_err());
    }

    #[test]
    fn instants_are_utc_with_nanoseconds() {
        assert_eq!(date_time(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            date_time(1_795_656_966_306_383_820),
            "2026-11-26T01:36:06.306383820Z"
        );
    }
}
