//! The simulator's bills (对账单): what it paid and refunded on a date, published through
//! the channel's own bill API in the channel's own format, with differences scripted in.
//!
//! - WeChat: `GET /v3/bill/tradebill?bill_date=yyyy-MM-dd&bill_type=ALL[&tar_type=GZIP]`
//!   (signed like every request) answers `{"download_url": ...}`; that URL (signed too)
//!   serves the backticked CSV, gzipped when asked.
//! - Alipay: `alipay.data.dataservice.bill.downloadurl.query` with `bill_type=trade` and
//!   `bill_date` answers `bill_download_url`; that URL serves the zip of GBK CSV (as Alipay's,
//!   it is the URL itself that is the credential, valid for a while; here, always).
//! - `POST /sim/bills/{date}` sets the date's script, replacing the last (a bill republished
//!   with corrections is the same date scripted again); `GET /sim/bills/{date}` serves the
//!   bill as the channel would, for a look.
//!
//! A script (every field optional), each list of the merchant's order numbers:
//! `{"drop": [...]}` (paid, not on the bill), `"amount": {"no": fen}`, `"fee": {"no": fen}`,
//! `"refunded_at_channel": [...]`, `"duplicate": [...]`, `"next_day": [...]` (paid on this
//! date, billed on the next), `"extra": [{"order": N, "amount_fen": N}]` (a payment the
//! platform never made), `"withhold": true` (the bill is not published yet: the bill API
//! answers as the channel does before its bills are ready).

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use suanpan_recon::time::{beijing_date_end, format_beijing};
use suanpan_recon::{BillLine, BillStatus, Key};

use super::{Kind, Sim, Trade};

const DAY_MS: u64 = 86_400_000;

#[derive(Clone, Debug, Default)]
pub struct Script {
    drop: HashSet<String>,
    amount: HashMap<String, u64>,
    fee: HashMap<String, u64>,
    refunded_at_channel: HashSet<String>,
    duplicate: HashSet<String>,
    next_day: HashSet<String>,
    extra: Vec<(u64, u64)>,
    pub withhold: bool,
}

impl Script {
    pub fn from_json(v: &Value) -> Result<Script, String> {
        let set = |k: &str| -> Result<HashSet<String>, String> {
            match &v[k] {
                Value::Null => Ok(HashSet::new()),
                Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .ok_or(format!("{k}: order numbers as strings"))
                    })
                    .collect(),
                _ => Err(format!("{k}: a list of order numbers")),
            }
        };
        let map = |k: &str| -> Result<HashMap<String, u64>, String> {
            match &v[k] {
                Value::Null => Ok(HashMap::new()),
                Value::Object(m) => m
                    .iter()
                    .map(|(no, fen)| {
                        fen.as_u64()
                            .map(|f| (no.clone(), f))
                            .ok_or(format!("{k}: fen as numbers"))
                    })
                    .collect(),
                _ => Err(format!("{k}: an object of order number to fen")),
            }
        };
        let extra = match &v["extra"] {
            Value::Null => Vec::new(),
            Value::Array(a) => a
                .iter()
                .map(|e| match (e["order"].as_u64(), e["amount_fen"].as_u64()) {
                    (Some(o), Some(f)) if o > 0 && f > 0 => Ok((o, f)),
                    _ => Err("extra: [{\"order\": N, \"amount_fen\": N}]".to_string()),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err("extra: a list".into()),
        };
        Ok(Script {
            drop: set("drop")?,
            amount: map("amount")?,
            fee: map("fee")?,
            refunded_at_channel: set("refunded_at_channel")?,
            duplicate: set("duplicate")?,
            next_day: set("next_day")?,
            extra,
            withhold: match &v["withhold"] {
                Value::Null => false,
                Value::Bool(b) => *b,
                _ => return Err("withhold: true or false".into()),
            },
        })
    }
}

/// The channel's fee on an amount: the rule the gateway books by (rounded down), so a bill
/// without scripted differences agrees with the books.
fn fee(amount_fen: u64, fee_bp: u32) -> u64 {
    suanpan_gateway::booking::fee_minor(amount_fen, fee_bp)
}

/// The bill's lines for `date` (`yyyy-MM-dd`): every payment paid and refund made that day in
/// Beijing time, as scripted. Lines are in the order of the merchant's order numbers.
pub fn lines(sim: &Sim, date: &str) -> Result<Vec<BillLine>, String> {
    let end = beijing_date_end(date).ok_or_else(|| format!("{date:?} is not a date yyyy-MM-dd"))?;
    let start = end - DAY_MS;
    let scripts = sim.bill_scripts.lock().unwrap_or_else(|p| p.into_inner());
    let script = scripts.get(date).cloned().unwrap_or_default();
    let previous = format_beijing(start - 1)[..10].to_string();
    let moved_in = scripts
        .get(&previous)
        .map(|s| s.next_day.clone())
        .unwrap_or_default();
    drop(scripts);
    let trades = sim.trades();
    let mut nos: Vec<(&String, &Trade)> = trades.iter().collect();
    nos.sort_by_key(|(no, _)| (no.len(), no.as_str()));
    let mut out = Vec::new();
    let line = |key, order_id, amount_fen, fee_fen, status, completed_ms| BillLine {
        line: 0,
        key,
        order_id,
        amount_fen,
        fee_fen,
        status,
        completed_ms,
    };
    for (no, t) in nos {
        // Only the platform's orders: their numbers are its order ids.
        let Ok(order_id) = no.parse::<u64>() else {
            continue;
        };
        let paid_today = (start..end).contains(&t.paid_ms) && !script.next_day.contains(no);
        let paid_yesterday = (start - DAY_MS..start).contains(&t.paid_ms) && moved_in.contains(no);
        if t.paid_ms != 0 && (paid_today || paid_yesterday) && !script.drop.contains(no) {
            let amount = script.amount.get(no).copied().unwrap_or(t.amount_fen);
            let fee_fen = script
                .fee
                .get(no)
                .copied()
                .unwrap_or_else(|| fee(amount, sim.fee_bp));
            let status = if script.refunded_at_channel.contains(no) {
                BillStatus::RefundedAtChannel
            } else {
                BillStatus::Success
            };
            let copies = if script.duplicate.contains(no) { 2 } else { 1 };
            for _ in 0..copies {
                out.push(line(
                    Key::Payment(order_id),
                    order_id,
                    amount,
                    fee_fen,
                    status,
                    t.paid_ms,
                ));
            }
        }
        let mut refunds: Vec<(&String, &(u64, u64))> = t.refunds.iter().collect();
        refunds.sort();
        for (refund_no, &(amount, at)) in refunds {
            if let (true, Ok(id)) = ((start..end).contains(&at), refund_no.parse::<u64>()) {
                out.push(line(
                    Key::Refund(id),
                    order_id,
                    amount,
                    fee(amount, sim.fee_bp),
                    BillStatus::Success,
                    at,
                ));
            }
        }
    }
    for &(order_id, amount) in &script.extra {
        // Early in the day: far from midnight, never a cut-off candidate.
        let at = start + 60_000;
        out.push(line(
            Key::Payment(order_id),
            order_id,
            amount,
            fee(amount, sim.fee_bp),
            BillStatus::Success,
            at,
        ));
    }
    for (i, l) in out.iter_mut().enumerate() {
        l.line = i as u32 + 2;
    }
    Ok(out)
}

/// The date's bill is withheld (not published yet).
pub fn withheld(sim: &Sim, date: &str) -> bool {
    sim.bill_scripts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(date)
        .is_some_and(|s| s.withhold)
}

/// The bill's file as the channel serves it: WeChat's CSV (gzipped when asked), Alipay's zip.
pub fn file(sim: &Sim, date: &str, gzip: bool) -> Result<Vec<u8>, String> {
    let lines = lines(sim, date)?;
    Ok(match sim.kind {
        Kind::Wechat => {
            let mut csv = Vec::new();
            suanpan_recon::wechat::render(&lines, "1900000109", &mut csv);
            if gzip {
                suanpan_recon::gzip(&csv)
            } else {
                csv
            }
        }
        Kind::Alipay => {
            suanpan_recon::alipay::render(&lines, "2088000000000001", &date.replace('-', ""))
        }
    })
}
