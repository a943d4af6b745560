//! `recon.db`, through the storage home: each channel's run of a date (its bill's digest and
//! summary, the class totals, the items held for the next date), the differences found, each
//! with its evidence and state, and their history (append-only: triggers refuse UPDATE and
//! DELETE).

use serde_json::{json, Value};
use suanpan_store::rusqlite::{params, Connection, OptionalExtension, Row};
use suanpan_store::Schema;

use crate::bill::{BillLine, BillStatus, BillSummary, Key};
use crate::matching::{Carried, CarriedSide, Class, ClassTotals, Item, PlatformItem};
use crate::room::ReconError;

pub const SCHEMA: Schema = Schema {
    file: "recon.db",
    version: 1,
    ddl: "
CREATE TABLE IF NOT EXISTS runs (
    channel        TEXT    NOT NULL,
    date           TEXT    NOT NULL,  -- yyyy-MM-dd, the channel's (Beijing) day
    bill_sha256    TEXT    NOT NULL,
    bill_summary   TEXT    NOT NULL,  -- JSON: lines, paid_fen, refunded_fen, fees_fen
    totals         TEXT    NOT NULL,  -- JSON: per class, count, bill_fen, platform_fen
    carried        TEXT    NOT NULL,  -- JSON: the items held for the next date
    times_run      INTEGER NOT NULL,
    finished_ms    INTEGER NOT NULL,
    PRIMARY KEY (channel, date)
) STRICT;
CREATE TABLE IF NOT EXISTS differences (
    id             INTEGER PRIMARY KEY,
    channel        TEXT    NOT NULL,
    date           TEXT    NOT NULL,
    key            TEXT    NOT NULL,  -- payment N | refund N
    class          TEXT    NOT NULL,
    ordinal        INTEGER NOT NULL,  -- a duplicated line's repeat number, else 0
    state          TEXT    NOT NULL,  -- open, resolved_auto, resolved_operator, suspense, written_off
    amount_fen     INTEGER NOT NULL,  -- signed: what the channel has more than the books
    evidence       TEXT    NOT NULL,  -- JSON: the bill line, the order or refund, the booking
    postings       INTEGER NOT NULL,  -- transfers made for it so far (numbers their ids)
    posted_fen     INTEGER NOT NULL,  -- signed amount now held in suspense for it
    found_ms       INTEGER NOT NULL,
    changed_ms     INTEGER NOT NULL,
    UNIQUE (channel, date, key, class, ordinal)
) STRICT;
CREATE INDEX IF NOT EXISTS differences_date ON differences (date, channel);
CREATE TABLE IF NOT EXISTS history (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    difference     INTEGER NOT NULL,
    at_ms          INTEGER NOT NULL,
    from_state     TEXT,
    to_state       TEXT    NOT NULL,
    actor          TEXT    NOT NULL,
    note           TEXT    NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS history_difference ON history (difference, seq);
CREATE TRIGGER IF NOT EXISTS history_no_update BEFORE UPDATE ON history
    BEGIN SELECT RAISE(ABORT, 'the difference history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS history_no_delete BEFORE DELETE ON history
    BEGIN SELECT RAISE(ABORT, 'the difference history is append-only'); END;
",
    migrations: &[],
    readers: 1,
};

/// A difference's state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    Open,
    ResolvedAuto,
    ResolvedOperator,
    /// 挂账: its amount booked to suspense, waiting for a write-off.
    Suspense,
    /// 核销: its suspense item written off.
    WrittenOff,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::ResolvedAuto => "resolved_auto",
            State::ResolvedOperator => "resolved_operator",
            State::Suspense => "suspense",
            State::WrittenOff => "written_off",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        [
            State::Open,
            State::ResolvedAuto,
            State::ResolvedOperator,
            State::Suspense,
            State::WrittenOff,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A difference as recorded.
#[derive(Clone, PartialEq, Debug)]
pub struct Difference {
    pub id: i64,
    pub channel: String,
    pub date: String,
    pub key: Key,
    pub class: Class,
    pub ordinal: u32,
    pub state: State,
    pub amount_fen: i64,
    pub evidence: Value,
    pub postings: u32,
    pub posted_fen: i64,
    pub found_ms: u64,
    pub changed_ms: u64,
}

impl Difference {
    /// The order the difference concerns (a refund's order for a refund).
    pub fn order_id(&self) -> Option<u64> {
        self.evidence["bill"]["order_id"]
            .as_u64()
            .or_else(|| self.evidence["platform"]["order_id"].as_u64())
    }

    pub fn platform(&self) -> Option<PlatformItem> {
        platform_from(&self.evidence["platform"])
    }

    pub fn bill(&self) -> Option<BillLine> {
        line_from(&self.evidence["bill"])
    }
}

/// One change of a difference's state, as the history keeps it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HistoryEntry {
    pub at_ms: u64,
    pub from_state: Option<String>,
    pub to_state: String,
    pub actor: String,
    pub note: String,
}

/// A channel's run of a date, as recorded.
#[derive(Clone, PartialEq, Debug)]
pub struct Run {
    pub channel: String,
    pub date: String,
    pub bill_sha256: String,
    pub bill_summary: BillSummary,
    /// Indexed as [`Class::ALL`].
    pub totals: [ClassTotals; 10],
    pub carried: Vec<Carried>,
    pub times_run: u32,
    pub finished_ms: u64,
}

pub fn key_text(key: Key) -> String {
    key.to_string()
}

pub fn parse_key(text: &str) -> Option<Key> {
    let (kind, id) = text.split_once(' ')?;
    let id = id.parse().ok()?;
    match kind {
        "payment" => Some(Key::Payment(id)),
        "refund" => Some(Key::Refund(id)),
        _ => None,
    }
}

pub fn parse_class(text: &str) -> Option<Class> {
    Class::ALL.into_iter().find(|c| c.as_str() == text)
}

fn line_json(l: &BillLine) -> Value {
    json!({
        "line": l.line,
        "key": key_text(l.key),
        "order_id": l.order_id,
        "amount_fen": l.amount_fen,
        "fee_fen": l.fee_fen,
        "status": match l.status {
            BillStatus::Success => "success",
            BillStatus::RefundedAtChannel => "refunded_at_channel",
        },
        "completed_ms": l.completed_ms,
    })
}

fn line_from(v: &Value) -> Option<BillLine> {
    Some(BillLine {
        line: u32::try_from(v["line"].as_u64()?).ok()?,
        key: parse_key(v["key"].as_str()?)?,
        order_id: v["order_id"].as_u64()?,
        amount_fen: v["amount_fen"].as_u64()?,
        fee_fen: v["fee_fen"].as_u64()?,
        status: match v["status"].as_str()? {
            "success" => BillStatus::Success,
            "refunded_at_channel" => BillStatus::RefundedAtChannel,
            _ => return None,
        },
        completed_ms: v["completed_ms"].as_u64()?,
    })
}

fn platform_json(p: &PlatformItem) -> Value {
    json!({
        "key": key_text(p.key),
        "order_id": p.order_id,
        "amount_fen": p.amount_fen,
        "fee_fen": p.fee_fen,
        "done": p.done,
        "refunded": p.refunded,
        "at_ms": p.at_ms,
    })
}

fn platform_from(v: &Value) -> Option<PlatformItem> {
    Some(PlatformItem {
        key: parse_key(v["key"].as_str()?)?,
        order_id: v["order_id"].as_u64()?,
        amount_fen: v["amount_fen"].as_u64()?,
        fee_fen: v["fee_fen"].as_u64()?,
        done: v["done"].as_bool()?,
        refunded: v["refunded"].as_bool()?,
        at_ms: v["at_ms"].as_u64()?,
    })
}

/// The evidence of an item: its bill line, the platform's record and the booking.
pub fn evidence(item: &Item) -> Value {
    json!({
        "bill": item.bill.as_ref().map(line_json),
        "platform": item.platform.as_ref().map(platform_json),
        "booked_fen": item.booked_fen,
    })
}

fn carried_json(c: &Carried) -> Value {
    match &c.side {
        CarriedSide::Bill(l) => json!({"days_held": c.days_held, "bill": line_json(l)}),
        CarriedSide::Platform(p, booked) => {
            json!({"days_held": c.days_held, "platform": platform_json(p), "booked_fen": booked})
        }
    }
}

fn carried_from(v: &Value) -> Option<Carried> {
    let days_held = u32::try_from(v["days_held"].as_u64()?).ok()?;
    let side = if v["bill"].is_object() {
        CarriedSide::Bill(line_from(&v["bill"])?)
    } else {
        CarriedSide::Platform(platform_from(&v["platform"])?, v["booked_fen"].as_u64())
    };
    Some(Carried { side, days_held })
}

fn summary_json(s: &BillSummary) -> Value {
    json!({"lines": s.lines, "paid_fen": s.paid_fen, "refunded_fen": s.refunded_fen, "fees_fen": s.fees_fen})
}

fn totals_json(t: &[ClassTotals; 10]) -> Value {
    let mut m = serde_json::Map::new();
    for c in Class::ALL {
        let x = t[c as usize];
        m.insert(
            c.as_str().into(),
            json!({"count": x.count, "bill_fen": x.bill_fen, "platform_fen": x.platform_fen}),
        );
    }
    Value::Object(m)
}

fn bad(what: &str) -> ReconError {
    ReconError::Store(format!("recon.db holds a malformed {what}"))
}

fn parse_json(text: &str, what: &str) -> Result<Value, ReconError> {
    serde_json::from_str(text).map_err(|_| bad(what))
}

/// Records a run (a rerun replaces the figures and counts one more time).
pub fn save_run(conn: &Connection, run: &Run) -> Result<(), ReconError> {
    let carried: Vec<Value> = run.carried.iter().map(carried_json).collect();
    conn.prepare_cached(
        "INSERT INTO runs (channel, date, bill_sha256, bill_summary, totals, carried, times_run, finished_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7)
         ON CONFLICT (channel, date) DO UPDATE SET bill_sha256 = excluded.bill_sha256,
             bill_summary = excluded.bill_summary, totals = excluded.totals,
             carried = excluded.carried, times_run = runs.times_run + 1,
             finished_ms = excluded.finished_ms",
    )?
    .execute(params![
        run.channel,
        run.date,
        run.bill_sha256,
        summary_json(&run.bill_summary).to_string(),
        totals_json(&run.totals).to_string(),
        Value::Array(carried).to_string(),
        run.finished_ms as i64,
    ])?;
    Ok(())
}

fn run_row(r: &Row) -> Result<Run, ReconError> {
    let summary = parse_json(&r.get::<_, String>(3)?, "bill summary")?;
    let totals_v = parse_json(&r.get::<_, String>(4)?, "totals")?;
    let carried_v = parse_json(&r.get::<_, String>(5)?, "carried items")?;
    let n = |v: &Value, k: &str| v[k].as_u64().ok_or_else(|| bad(k));
    let mut totals = [ClassTotals::default(); 10];
    for c in Class::ALL {
        let t = &totals_v[c.as_str()];
        totals[c as usize] = ClassTotals {
            count: n(t, "count")?,
            bill_fen: n(t, "bill_fen")?,
            platform_fen: n(t, "platform_fen")?,
        };
    }
    let carried = carried_v
        .as_array()
        .ok_or_else(|| bad("carried items"))?
        .iter()
        .map(|v| carried_from(v).ok_or_else(|| bad("carried item")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Run {
        channel: r.get(0)?,
        date: r.get(1)?,
        bill_sha256: r.get(2)?,
        bill_summary: BillSummary {
            lines: n(&summary, "lines")?,
            paid_fen: n(&summary, "paid_fen")?,
            refunded_fen: n(&summary, "refunded_fen")?,
            fees_fen: n(&summary, "fees_fen")?,
        },
        totals,
        carried,
        times_run: r.get(6)?,
        finished_ms: r.get::<_, i64>(7)? as u64,
    })
}

const RUN_COLUMNS: &str =
    "channel, date, bill_sha256, bill_summary, totals, carried, times_run, finished_ms";

pub fn run(conn: &Connection, channel: &str, date: &str) -> Result<Option<Run>, ReconError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE channel = ?1 AND date = ?2"
    ))?;
    let mut rows = stmt.query(params![channel, date])?;
    match rows.next()? {
        Some(r) => Ok(Some(run_row(r)?)),
        None => Ok(None),
    }
}

pub fn runs_of_date(conn: &Connection, date: &str) -> Result<Vec<Run>, ReconError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE date = ?1 ORDER BY channel"
    ))?;
    let mut rows = stmt.query([date])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(run_row(r)?);
    }
    Ok(out)
}

/// Every channel that has ever been reconciled.
pub fn channels(conn: &Connection) -> Result<Vec<String>, ReconError> {
    let mut stmt = conn.prepare_cached("SELECT DISTINCT channel FROM runs ORDER BY channel")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<Vec<String>, _>>()?)
}

const DIFFERENCE_COLUMNS: &str = "id, channel, date, key, class, ordinal, state, amount_fen, evidence, postings, posted_fen, found_ms, changed_ms";

fn difference_row(r: &Row) -> Result<Difference, ReconError> {
    Ok(Difference {
        id: r.get(0)?,
        channel: r.get(1)?,
        date: r.get(2)?,
        key: parse_key(&r.get::<_, String>(3)?).ok_or_else(|| bad("key"))?,
        class: parse_class(&r.get::<_, String>(4)?).ok_or_else(|| bad("class"))?,
        ordinal: r.get(5)?,
        state: State::parse(&r.get::<_, String>(6)?).ok_or_else(|| bad("state"))?,
        amount_fen: r.get(7)?,
        evidence: parse_json(&r.get::<_, String>(8)?, "evidence")?,
        postings: r.get(9)?,
        posted_fen: r.get(10)?,
        found_ms: r.get::<_, i64>(11)? as u64,
        changed_ms: r.get::<_, i64>(12)? as u64,
    })
}

pub fn difference(conn: &Connection, id: i64) -> Result<Option<Difference>, ReconError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DIFFERENCE_COLUMNS} FROM differences WHERE id = ?1"
    ))?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(r) => Ok(Some(difference_row(r)?)),
        None => Ok(None),
    }
}

/// A date's differences (of one channel, or all), by id.
pub fn differences(
    conn: &Connection,
    date: &str,
    channel: Option<&str>,
) -> Result<Vec<Difference>, ReconError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DIFFERENCE_COLUMNS} FROM differences
          WHERE date = ?1 AND (?2 IS NULL OR channel = ?2) ORDER BY id"
    ))?;
    let mut rows = stmt.query(params![date, channel])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(difference_row(r)?);
    }
    Ok(out)
}

/// Every difference in suspense (of any date), for matching with the write-offs.
pub fn in_suspense(conn: &Connection) -> Result<Vec<Difference>, ReconError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DIFFERENCE_COLUMNS} FROM differences WHERE state = 'suspense' ORDER BY id"
    ))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(difference_row(r)?);
    }
    Ok(out)
}

pub fn history(conn: &Connection, id: i64) -> Result<Vec<HistoryEntry>, ReconError> {
    let mut stmt = conn.prepare_cached(
        "SELECT at_ms, from_state, to_state, actor, note FROM history WHERE difference = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok(HistoryEntry {
            at_ms: r.get::<_, i64>(0)? as u64,
            from_state: r.get(1)?,
            to_state: r.get(2)?,
            actor: r.get(3)?,
            note: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn record_history(
    conn: &Connection,
    id: i64,
    at_ms: u64,
    from: Option<State>,
    to: State,
    actor: &str,
    note: &str,
) -> Result<(), ReconError> {
    conn.prepare_cached(
        "INSERT INTO history (difference, at_ms, from_state, to_state, actor, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id,
        at_ms as i64,
        from.map(State::as_str),
        to.as_str(),
        actor,
        note
    ])?;
    Ok(())
}

/// A difference found by a run: inserted open (with its history's first entry) unless the
/// same one was found before, whose evidence is then brought up to date while it is open.
/// Returns its id.
#[allow(clippy::too_many_arguments)]
pub fn upsert_found(
    conn: &Connection,
    channel: &str,
    date: &str,
    item: &Item,
    ordinal: u32,
    amount_fen: i64,
    now_ms: u64,
) -> Result<i64, ReconError> {
    let key = key_text(item.key);
    let existing: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT id, state FROM differences WHERE channel = ?1 AND date = ?2 AND key = ?3 AND class = ?4 AND ordinal = ?5",
        )?
        .query_row(
            params![channel, date, key, item.class.as_str(), ordinal],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let evidence = evidence(item).to_string();
    if let Some((id, state)) = existing {
        if state == "open" {
            conn.prepare_cached(
                "UPDATE differences SET amount_fen = ?2, evidence = ?3 WHERE id = ?1",
            )?
            .execute(params![id, amount_fen, evidence])?;
        }
        return Ok(id);
    }
    conn.prepare_cached(
        "INSERT INTO differences (channel, date, key, class, ordinal, state, amount_fen, evidence, postings, posted_fen, found_ms, changed_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, 0, 0, ?8, ?8)",
    )?
    .execute(params![
        channel,
        date,
        key,
        item.class.as_str(),
        ordinal,
        amount_fen,
        evidence,
        now_ms as i64
    ])?;
    let id = conn.last_insert_rowid();
    record_history(
        conn,
        id,
        now_ms,
        None,
        State::Open,
        "reconciliation",
        &format!("found: {} of {key}", item.class.as_str()),
    )?;
    Ok(id)
}

/// Moves a difference to `to` (from the state it was read in: a change that raced another
/// is refused), with its history entry. `posting` counts a transfer made for it and the
/// signed amount it moved in or out of suspense.
#[allow(clippy::too_many_arguments)]
pub fn change(
    conn: &Connection,
    id: i64,
    from: State,
    to: State,
    actor: &str,
    note: &str,
    posting: Option<i64>,
    now_ms: u64,
) -> Result<(), ReconError> {
    let (postings, moved) = match posting {
        Some(fen) => (1, fen),
        None => (0, 0),
    };
    let changed = conn
        .prepare_cached(
            "UPDATE differences SET state = ?3, postings = postings + ?4, posted_fen = posted_fen + ?5,
                    changed_ms = ?6 WHERE id = ?1 AND state = ?2",
        )?
        .execute(params![
            id,
            from.as_str(),
            to.as_str(),
            postings,
            moved,
            now_ms as i64
        ])?;
    if changed != 1 {
        return Err(ReconError::StateChanged(id));
    }
    record_history(conn, id, now_ms, Some(from), to, actor, note)
}
