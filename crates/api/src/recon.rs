//! The reconciliation endpoints (operators): run a channel's bill of a date, read a date's
//! report (JSON or CSV), read a difference with its history, resolve it. HTTP to the
//! reconciliation room and back; a write-off is the accounting room's, of the difference's
//! suspense item, then recorded on the difference.

use std::collections::HashSet;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use suanpan_recon::room::{Action, ChannelReport, Difference, HistoryEntry, Recon, ReconError};
use suanpan_recon::Class;

use crate::app::{App, Reply};
use crate::auth::Caller;
use crate::books::{audited, operator_of};
use crate::error::{ApiError, ErrorCode};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReconRoute {
    Run,
    Report,
    Difference,
    Resolve,
}

impl ReconRoute {
    pub fn action(self) -> &'static str {
        match self {
            ReconRoute::Run => "recon_run",
            ReconRoute::Report => "read_recon_report",
            ReconRoute::Difference => "read_recon_difference",
            ReconRoute::Resolve => "recon_resolve",
        }
    }
}

/// The HTTP status of each of the room's refusals: every variant named (docs/api-errors.md
/// lists them; a test checks).
pub fn recon_status(e: &ReconError) -> u16 {
    match e {
        ReconError::ActionUnknown(_) => 400,
        ReconError::DifferenceUnknown(_) => 404,
        ReconError::BillNotPublished { .. } | ReconError::StateChanged(_) => 409,
        // Well formed, but not a channel this node has (as the gateway answers it), or a date
        // of the right shape that is no day (2026-02-31) or before the channels' time.
        ReconError::BillInvalid(_)
        | ReconError::ActionNotAllowed(_)
        | ReconError::ChannelUnknown(_)
        | ReconError::DateInvalid(_) => 422,
        ReconError::ChannelUnavailable(_) | ReconError::Overloaded => 503,
        ReconError::Booking(_) | ReconError::Store(_) => 500,
    }
}

pub fn recon_error(e: ReconError) -> ApiError {
    let status = recon_status(&e);
    if status == 500 {
        return ApiError::new(ErrorCode::Internal, e.to_string());
    }
    ApiError {
        status,
        code: e.code(),
        message: e.to_string(),
        field: None,
        retry_after_s: (status == 503).then_some(1),
    }
}

fn room(app: &App) -> Result<&Arc<Recon>, ApiError> {
    app.recon
        .as_ref()
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the reconciliation room did not start"))
}

// ---- wire types ----------------------------------------------------------------------------

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconRunBody {
    /// `alipay` or `wechat`.
    #[schemars(extend("enum" = ["alipay", "wechat"]))]
    pub channel: String,
    /// The channel's day (Beijing time), YYYY-MM-DD, 1971 or later.
    #[schemars(
        extend("format" = "date"),
        regex(pattern = r"^(197[1-9]|19[89][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
    )]
    pub date: String,
    /// The bill's file (its bytes in standard base64) instead of downloading it from the
    /// channel.
    #[schemars(
        length(max = 4_000_000),
        regex(pattern = r"^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")
    )]
    pub bill_base64: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    #[schemars(extend("enum" = ["book_late_success", "rebook", "query_channel", "reverse", "suspense", "channel_right", "platform_right", "accept", "write_off"]))]
    pub action: String,
    /// Why (kept in the difference's history); required to accept.
    #[schemars(length(max = 500))]
    pub note: Option<String>,
    /// For a write-off: the GL-only subject that explains it (e.g. 6711, 6301).
    #[schemars(length(max = 32))]
    pub against: Option<String>,
    /// The operator's name as the caller knows it: refused unless it is the one the token
    /// belongs to (a resolution is recorded under the token's operator).
    #[schemars(length(max = 64))]
    pub operator: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct BillSummaryView {
    pub lines: u64,
    pub paid_fen: u64,
    pub refunded_fen: u64,
    pub fees_fen: u64,
}

#[derive(Serialize, JsonSchema)]
pub struct ClassView {
    pub class: String,
    pub count: u64,
    /// The bill's amounts of the class's items, fen.
    pub bill_fen: u64,
    /// The platform's amounts of the class's items, fen.
    pub platform_fen: u64,
}

#[derive(Serialize, JsonSchema)]
pub struct HistoryView {
    pub at_ms: u64,
    pub from_state: Option<String>,
    pub to_state: String,
    pub actor: String,
    pub note: String,
}

#[derive(Serialize, JsonSchema)]
pub struct DifferenceView {
    pub id: i64,
    pub channel: String,
    pub date: String,
    /// `payment N` (an order) or `refund N`.
    pub key: String,
    pub class: String,
    pub state: String,
    /// What the channel has more than the books (negative: less), fen.
    pub amount_fen: i64,
    /// The bill line, the order or refund, the booking.
    pub evidence: serde_json::Value,
    /// The transfer that holds it in suspense, while it is there.
    pub suspense_transfer: Option<String>,
    pub history: Option<Vec<HistoryView>>,
}

#[derive(Serialize, JsonSchema)]
pub struct ChannelReportView {
    pub channel: String,
    pub date: String,
    pub bill_sha256: String,
    pub bill_summary: BillSummaryView,
    pub classes: Vec<ClassView>,
    /// Σ of the bill's amounts over every class, fen: each line is in one class.
    pub bill_total_fen: u64,
    /// `bill_total_fen` equals the bill's own summary (paid plus refunded).
    pub bill_accounted: bool,
    pub times_run: u32,
    pub differences: Vec<DifferenceView>,
    /// Automatic resolutions that failed in this run (the differences stay open).
    pub notes: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct ReconReportView {
    pub date: String,
    pub channels: Vec<ChannelReportView>,
}

fn history_view(h: &HistoryEntry) -> HistoryView {
    HistoryView {
        at_ms: h.at_ms,
        from_state: h.from_state.clone(),
        to_state: h.to_state.clone(),
        actor: h.actor.clone(),
        note: h.note.clone(),
    }
}

fn difference_view(
    room: &Recon,
    d: &Difference,
    history: Option<&[HistoryEntry]>,
) -> DifferenceView {
    DifferenceView {
        id: d.id,
        channel: d.channel.clone(),
        date: d.date.clone(),
        key: d.key.to_string(),
        class: d.class.as_str().into(),
        state: d.state.as_str().into(),
        amount_fen: d.amount_fen,
        evidence: d.evidence.clone(),
        suspense_transfer: room.suspense_transfer(d).map(|t| t.to_string()),
        history: history.map(|h| h.iter().map(history_view).collect()),
    }
}

fn channel_view(room: &Recon, r: &ChannelReport, notes: Vec<String>) -> ChannelReportView {
    let s = r.run.bill_summary;
    ChannelReportView {
        channel: r.run.channel.clone(),
        date: r.run.date.clone(),
        bill_sha256: r.run.bill_sha256.clone(),
        bill_summary: BillSummaryView {
            lines: s.lines,
            paid_fen: s.paid_fen,
            refunded_fen: s.refunded_fen,
            fees_fen: s.fees_fen,
        },
        classes: Class::ALL
            .iter()
            .map(|&c| {
                let t = r.run.totals[c as usize];
                ClassView {
                    class: c.as_str().into(),
                    count: t.count,
                    bill_fen: t.bill_fen,
                    platform_fen: t.platform_fen,
                }
            })
            .collect(),
        bill_total_fen: r.bill_total_fen(),
        bill_accounted: r.bill_accounted(),
        times_run: r.run.times_run,
        differences: r
            .differences
            .iter()
            .map(|d| difference_view(room, d, None))
            .collect(),
        notes,
    }
}

/// A report as CSV: one row per channel and class, then one per difference.
pub fn report_csv(report: &ReconReportView) -> String {
    let mut out = String::from("channel,date,class,count,bill_amount,platform_amount\n");
    let yuan = suanpan_recon::bill::format_yuan;
    for c in &report.channels {
        for k in &c.classes {
            out.push_str(&format!(
                "{},{},{},{},{},{}\n",
                c.channel,
                c.date,
                k.class,
                k.count,
                yuan(k.bill_fen),
                yuan(k.platform_fen)
            ));
        }
    }
    out.push_str("\ndifference,channel,date,key,class,state,amount\n");
    for c in &report.channels {
        for d in &c.differences {
            let sign = if d.amount_fen < 0 { "-" } else { "" };
            out.push_str(&format!(
                "{},{},{},{},{},{},{sign}{}\n",
                d.id,
                d.channel,
                d.date,
                d.key,
                d.class,
                d.state,
                yuan(d.amount_fen.unsigned_abs())
            ));
        }
    }
    out
}

/// Standard base64 (RFC 4648, with padding), strictly.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let last = i == bytes.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    Some(out)
}

pub async fn dispatch(
    app: &App,
    route: ReconRoute,
    caller: &Caller,
    param: Option<&str>,
    query: &[(String, String)],
    bytes: &[u8],
    headers: &hyper::HeaderMap,
) -> Result<Reply, ApiError> {
    operator_of(caller)?;
    match route {
        ReconRoute::Run => run(app, caller, bytes).await,
        ReconRoute::Report => {
            let date = crate::accounting::parse_date(param)?;
            let csv = crate::accounting::wants_csv(query, headers)?;
            let room = room(app)?.clone();
            let reports = room.report(date).map_err(recon_error)?;
            let view = ReconReportView {
                date: date.to_string(),
                channels: reports
                    .iter()
                    .map(|r| channel_view(&room, r, Vec::new()))
                    .collect(),
            };
            if csv {
                let mut reply = Reply::json(200, &())?;
                reply.body = report_csv(&view).into_bytes().into();
                reply.content_type = "text/csv; charset=utf-8";
                return Ok(reply);
            }
            Reply::json(200, &view)
        }
        ReconRoute::Difference => {
            let id = difference_id(param)?;
            let room = room(app)?;
            let (d, history) = room.difference(id).map_err(recon_error)?;
            Reply::json(200, &difference_view(room, &d, Some(&history)))
        }
        ReconRoute::Resolve => resolve(app, caller, param, bytes).await,
    }
}

fn difference_id(param: Option<&str>) -> Result<i64, ApiError> {
    let id = crate::app::path_id(param)?;
    // Beyond what recon.db numbers: no such difference.
    i64::try_from(id).map_err(|_| recon_error(ReconError::DifferenceUnknown(i64::MAX)))
}

async fn run(app: &App, caller: &Caller, bytes: &[u8]) -> Result<Reply, ApiError> {
    let body: ReconRunBody = crate::body::parse(bytes)?;
    let date = suanpan_ledger::AccountingDate::parse(&body.date)
        .filter(|d| suanpan_recon::time::beijing_date_end(&d.to_string()).is_some())
        .ok_or_else(|| recon_error(ReconError::DateInvalid(body.date.clone())).field("date"))?;
    let file = match &body.bill_base64 {
        None => None,
        Some(text) => Some(base64_decode(text).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidValue,
                "bill_base64 is not standard base64",
            )
            .field("bill_base64")
        })?),
    };
    let room = room(app)?.clone();
    let target = format!("{} {}", body.channel, body.date);
    let report = audited(app, caller, "recon_run", target, async {
        room.run(&body.channel, date, file)
            .await
            .map_err(recon_error)
    })
    .await?;
    let view = channel_view(
        &room,
        &ChannelReport {
            run: report.run,
            differences: report.differences,
        },
        report.notes,
    );
    Reply::json(200, &view)
}

async fn resolve(
    app: &App,
    caller: &Caller,
    param: Option<&str>,
    bytes: &[u8],
) -> Result<Reply, ApiError> {
    let id = difference_id(param)?;
    let body: ResolveBody = crate::body::parse(bytes)?;
    let action = Action::parse(&body.action).map_err(|e| recon_error(e).field("action"))?;
    let note = body.note.clone().unwrap_or_default();
    let op = operator_of(caller)?.name.clone();
    if let Some(named) = body.operator.as_deref().filter(|n| *n != op) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("these credentials are operator {op:?}'s, not {named:?}'s"),
        )
        .field("operator"));
    }
    let room = room(app)?.clone();
    let target = format!("difference {id}: {}", action.as_str());
    let d = audited(app, caller, "recon_resolve", target, async {
        if action != Action::WriteOff {
            return room
                .resolve(id, action, &op, &note)
                .await
                .map_err(recon_error);
        }
        // 核销: the accounting room writes off the suspense item the difference's posting
        // opened (at the day-end of the date it was booked on), then the difference says so.
        let (d, _) = room.difference(id).map_err(recon_error)?;
        let transfer = room.suspense_transfer(&d).ok_or_else(|| {
            recon_error(ReconError::ActionNotAllowed(format!(
                "difference {id} is {}, not in suspense",
                d.state.as_str()
            )))
        })?;
        let books = app.books.clone();
        let (against, op_w, note_w) = (body.against.clone(), op.clone(), note.clone());
        let written = app
            .blocking(move || {
                let mut acc = books.lock_accounting()?;
                let item = acc
                    .suspense_items(true)?
                    .into_iter()
                    .find(|i| i.transfer_id() == Some(transfer))
                    .ok_or_else(|| {
                        recon_error(ReconError::ActionNotAllowed(format!(
                            "difference {id}'s suspense item is not open yet: it opens at the day-end of the date its posting was booked on"
                        )))
                    })?;
                acc.write_off(&[item.id], against.as_deref(), &op_w, &note_w)?;
                Ok(HashSet::from([transfer]))
            })
            .await?;
        room.written_off(&written, &op, &note)
            .await
            .map_err(recon_error)?;
        room.difference(id).map(|(d, _)| d).map_err(recon_error)
    })
    .await?;
    let (_, history) = room.difference(d.id).map_err(recon_error)?;
    Reply::json(200, &difference_view(&room, &d, Some(&history)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_read_strictly() {
        assert_eq!(base64_decode("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
        assert_eq!(base64_decode("aGVsbG8"), None);
        assert_eq!(base64_decode("aG=sbG8="), None);
        assert_eq!(base64_decode("a*Vs"), None);
    }

    #[test]
    fn every_refusal_has_a_documented_status() {
        let all = [
            ReconError::BillNotPublished {
                channel: "wechat".into(),
                date: "2026-12-06".into(),
                why: "x".into(),
            },
            ReconError::BillInvalid("x".into()),
            ReconError::ChannelUnknown("x".into()),
            ReconError::ChannelUnavailable("x".into()),
            ReconError::DateInvalid("x".into()),
            ReconError::DifferenceUnknown(1),
            ReconError::ActionNotAllowed("x".into()),
            ReconError::ActionUnknown("x".into()),
            ReconError::StateChanged(1),
            ReconError::Booking("x".into()),
            ReconError::Overloaded,
            ReconError::Store("x".into()),
        ];
        let doc = include_str!("../../../docs/api-errors.md");
        for e in all {
            let answered = recon_error(e);
            let row = format!("| `{}` | {} |", answered.code, answered.status);
            assert!(doc.contains(&row), "docs/api-errors.md lacks {row}");
        }
    }
}
