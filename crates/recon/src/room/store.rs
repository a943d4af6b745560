//! The reconciliation room's state through the storage home: each channel's run of a date
//! (its bill's digest and summary, the class totals, the items held for the next date), the
//! differences found, each with its evidence and state, and their history (append-only:
//! triggers refuse UPDATE and DELETE). On the embedded default it is `recon.db`; with the
//! journal on PostgreSQL, the `recon_*` tables of that database. Every statement is written
//! once for both (`suanpan_store::sql`).

use serde_json::{json, Value};
use suanpan_store::args;
use suanpan_store::room::{RoomSchema, RoomStore};
use suanpan_store::sql::{Row, Sql};
use suanpan_store::Schema;

use crate::bill::{BillLine, BillStatus, BillSummary, Key};
use crate::matching::{Carried, CarriedSide, Class, ClassTotals, Item, PlatformItem};
use crate::room::ReconError;

pub use suanpan_store::room::Home;

/// The room's store, in whichever home the node keeps its rooms.
pub type Store = RoomStore;

/// SQLite: 2, the tables are named `recon_*`, as on PostgreSQL (the append-only triggers made
/// again on the renamed history).
pub const SCHEMA: RoomSchema = RoomSchema {
    room: "recon",
    sqlite: Schema {
        file: "recon.db",
        version: 2,
        ddl: "
CREATE TABLE IF NOT EXISTS recon_runs (
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
CREATE TABLE IF NOT EXISTS recon_differences (
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
CREATE INDEX IF NOT EXISTS differences_date ON recon_differences (date, channel);
CREATE TABLE IF NOT EXISTS recon_history (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    difference     INTEGER NOT NULL,
    at_ms          INTEGER NOT NULL,
    from_state     TEXT,
    to_state       TEXT    NOT NULL,
    actor          TEXT    NOT NULL,
    note           TEXT    NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS history_difference ON recon_history (difference, seq);
CREATE TRIGGER IF NOT EXISTS history_no_update BEFORE UPDATE ON recon_history
    BEGIN SELECT RAISE(ABORT, 'the difference history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS history_no_delete BEFORE DELETE ON recon_history
    BEGIN SELECT RAISE(ABORT, 'the difference history is append-only'); END;
",
        migrations: &[(
            2,
            "DROP TRIGGER history_no_update;
             DROP TRIGGER history_no_delete;
             ALTER TABLE runs RENAME TO recon_runs;
             ALTER TABLE differences RENAME TO recon_differences;
             ALTER TABLE history RENAME TO recon_history;",
        )],
        readers: 1,
    },
    postgres: &[(
        1,
        "runs, differences and their append-only history",
        r#"
CREATE TABLE recon_runs (
    channel        text   NOT NULL,
    date           text   NOT NULL,  -- yyyy-MM-dd, the channel's (Beijing) day
    bill_sha256    text   NOT NULL,
    bill_summary   text   NOT NULL,  -- JSON: lines, paid_fen, refunded_fen, fees_fen
    totals         text   NOT NULL,  -- JSON: per class, count, bill_fen, platform_fen
    carried        text   NOT NULL,  -- JSON: the items held for the next date
    times_run      bigint NOT NULL,
    finished_ms    bigint NOT NULL,
    PRIMARY KEY (channel, date)
);
CREATE TABLE recon_differences (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel        text   NOT NULL,
    date           text   NOT NULL,
    key            text   NOT NULL,  -- payment N | refund N
    class          text   NOT NULL,
    ordinal        bigint NOT NULL,  -- a duplicated line's repeat number, else 0
    state          text   NOT NULL,
    amount_fen     bigint NOT NULL,  -- signed: what the channel has more than the books
    evidence       text   NOT NULL,  -- JSON: the bill line, the order or refund, the booking
    postings       bigint NOT NULL,  -- transfers made for it so far (numbers their ids)
    posted_fen     bigint NOT NULL,  -- signed amount now held in suspense for it
    found_ms       bigint NOT NULL,
    changed_ms     bigint NOT NULL,
    UNIQUE (channel, date, key, class, ordinal)
);
CREATE INDEX recon_differences_date ON recon_differences (date, channel);
CREATE TABLE recon_history (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    difference     bigint NOT NULL,
    at_ms          bigint NOT NULL,
    from_state     text,
    to_state       text   NOT NULL,
    actor          text   NOT NULL,
    note           text   NOT NULL
);
CREATE INDEX recon_history_difference ON recon_history (difference, seq);
CREATE FUNCTION recon_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the difference history is append-only';
END
$$;
CREATE TRIGGER recon_history_no_change BEFORE UPDATE OR DELETE ON recon_history
    FOR EACH ROW EXECUTE FUNCTION recon_history_append_only();
CREATE TRIGGER recon_history_no_truncate BEFORE TRUNCATE ON recon_history
    FOR EACH STATEMENT EXECUTE FUNCTION recon_history_append_only();
"#,
    )],
};

/// Opens the room's store in `home`.
pub fn open(home: &Home) -> Result<Store, ReconError> {
    RoomStore::open(home, &SCHEMA).map_err(ReconError::from)
}

/// Milliseconds as the database's signed integers (far below 2^63).
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

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
    ReconError::Store(format!("the reconciliation store holds a malformed {what}"))
}

fn parse_json(text: &str, what: &str) -> Result<Value, ReconError> {
    serde_json::from_str(text).map_err(|_| bad(what))
}

/// Records a run (a rerun replaces the figures and counts one more time).
pub fn save_run(c: &dyn Sql, run: &Run) -> Result<(), ReconError> {
    let carried: Vec<Value> = run.carried.iter().map(carried_json).collect();
    c.execute(
        "INSERT INTO recon_runs (channel, date, bill_sha256, bill_summary, totals, carried, times_run, finished_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7)
         ON CONFLICT (channel, date) DO UPDATE SET bill_sha256 = excluded.bill_sha256,
             bill_summary = excluded.bill_summary, totals = excluded.totals,
             carried = excluded.carried, times_run = recon_runs.times_run + 1,
             finished_ms = excluded.finished_ms",
        args![
            &run.channel,
            &run.date,
            &run.bill_sha256,
            &summary_json(&run.bill_summary).to_string(),
            &totals_json(&run.totals).to_string(),
            &Value::Array(carried).to_string(),
            int(run.finished_ms),
        ],
    )?;
    Ok(())
}

fn run_row(r: &Row) -> Result<Run, ReconError> {
    let summary = parse_json(&r.str(3)?, "bill summary")?;
    let totals_v = parse_json(&r.str(4)?, "totals")?;
    let carried_v = parse_json(&r.str(5)?, "carried items")?;
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
        channel: r.str(0)?,
        date: r.str(1)?,
        bill_sha256: r.str(2)?,
        bill_summary: BillSummary {
            lines: n(&summary, "lines")?,
            paid_fen: n(&summary, "paid_fen")?,
            refunded_fen: n(&summary, "refunded_fen")?,
            fees_fen: n(&summary, "fees_fen")?,
        },
        totals,
        carried,
        times_run: u32::try_from(r.u64(6)?).map_err(|_| bad("run count"))?,
        finished_ms: r.u64(7)?,
    })
}

const RUN_COLUMNS: &str =
    "channel, date, bill_sha256, bill_summary, totals, carried, times_run, finished_ms";

pub fn run(c: &dyn Sql, channel: &str, date: &str) -> Result<Option<Run>, ReconError> {
    c.query_row(
        &format!("SELECT {RUN_COLUMNS} FROM recon_runs WHERE channel = ?1 AND date = ?2"),
        args![channel, date],
    )?
    .map(|r| run_row(&r))
    .transpose()
}

pub fn runs_of_date(c: &dyn Sql, date: &str) -> Result<Vec<Run>, ReconError> {
    c.query(
        &format!("SELECT {RUN_COLUMNS} FROM recon_runs WHERE date = ?1 ORDER BY channel"),
        args![date],
    )?
    .iter()
    .map(run_row)
    .collect()
}

/// Every channel that has ever been reconciled.
pub fn channels(c: &dyn Sql) -> Result<Vec<String>, ReconError> {
    c.query(
        "SELECT DISTINCT channel FROM recon_runs ORDER BY channel",
        args![],
    )?
    .iter()
    .map(|r| Ok(r.str(0)?))
    .collect()
}

const DIFFERENCE_COLUMNS: &str = "id, channel, date, key, class, ordinal, state, amount_fen, evidence, postings, posted_fen, found_ms, changed_ms";

fn difference_row(r: &Row) -> Result<Difference, ReconError> {
    Ok(Difference {
        id: r.i64(0)?,
        channel: r.str(1)?,
        date: r.str(2)?,
        key: parse_key(&r.str(3)?).ok_or_else(|| bad("key"))?,
        class: parse_class(&r.str(4)?).ok_or_else(|| bad("class"))?,
        ordinal: u32::try_from(r.u64(5)?).map_err(|_| bad("ordinal"))?,
        state: State::parse(&r.str(6)?).ok_or_else(|| bad("state"))?,
        amount_fen: r.i64(7)?,
        evidence: parse_json(&r.str(8)?, "evidence")?,
        postings: u32::try_from(r.u64(9)?).map_err(|_| bad("posting count"))?,
        posted_fen: r.i64(10)?,
        found_ms: r.u64(11)?,
        changed_ms: r.u64(12)?,
    })
}

pub fn difference(c: &dyn Sql, id: i64) -> Result<Option<Difference>, ReconError> {
    c.query_row(
        &format!("SELECT {DIFFERENCE_COLUMNS} FROM recon_differences WHERE id = ?1"),
        args![id],
    )?
    .map(|r| difference_row(&r))
    .transpose()
}

/// A date's differences (of one channel, or all), by id.
pub fn differences(
    c: &dyn Sql,
    date: &str,
    channel: Option<&str>,
) -> Result<Vec<Difference>, ReconError> {
    let rows = match channel {
        Some(channel) => c.query(
            &format!(
                "SELECT {DIFFERENCE_COLUMNS} FROM recon_differences
                  WHERE date = ?1 AND channel = ?2 ORDER BY id"
            ),
            args![date, channel],
        )?,
        None => c.query(
            &format!(
                "SELECT {DIFFERENCE_COLUMNS} FROM recon_differences WHERE date = ?1 ORDER BY id"
            ),
            args![date],
        )?,
    };
    rows.iter().map(difference_row).collect()
}

/// Every difference in suspense (of any date), for matching with the write-offs.
pub fn in_suspense(c: &dyn Sql) -> Result<Vec<Difference>, ReconError> {
    c.query(
        &format!(
            "SELECT {DIFFERENCE_COLUMNS} FROM recon_differences WHERE state = 'suspense' ORDER BY id"
        ),
        args![],
    )?
    .iter()
    .map(difference_row)
    .collect()
}

pub fn history(c: &dyn Sql, id: i64) -> Result<Vec<HistoryEntry>, ReconError> {
    c.query(
        "SELECT at_ms, from_state, to_state, actor, note FROM recon_history WHERE difference = ?1 ORDER BY seq",
        args![id],
    )?
    .iter()
    .map(|r| {
        Ok(HistoryEntry {
            at_ms: r.u64(0)?,
            from_state: r.opt_str(1)?,
            to_state: r.str(2)?,
            actor: r.str(3)?,
            note: r.str(4)?,
        })
    })
    .collect()
}

fn record_history(
    c: &dyn Sql,
    id: i64,
    at_ms: u64,
    from: Option<State>,
    to: State,
    actor: &str,
    note: &str,
) -> Result<(), ReconError> {
    c.execute(
        "INSERT INTO recon_history (difference, at_ms, from_state, to_state, actor, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        args![
            id,
            int(at_ms),
            from.map(State::as_str),
            to.as_str(),
            actor,
            note
        ],
    )?;
    Ok(())
}

/// A difference found by a run: inserted open (with its history's first entry) unless the
/// same one was found before, whose evidence is then brought up to date while it is open.
/// Returns its id.
#[allow(clippy::too_many_arguments)]
pub fn upsert_found(
    c: &dyn Sql,
    channel: &str,
    date: &str,
    item: &Item,
    ordinal: u32,
    amount_fen: i64,
    now_ms: u64,
) -> Result<i64, ReconError> {
    let key = key_text(item.key);
    let existing = c.query_row(
        "SELECT id, state FROM recon_differences WHERE channel = ?1 AND date = ?2 AND key = ?3 AND class = ?4 AND ordinal = ?5",
        args![channel, date, &key, item.class.as_str(), ordinal],
    )?;
    let evidence = evidence(item).to_string();
    if let Some(row) = existing {
        let id = row.i64(0)?;
        if row.str(1)? == "open" {
            c.execute(
                "UPDATE recon_differences SET amount_fen = ?2, evidence = ?3 WHERE id = ?1",
                args![id, amount_fen, &evidence],
            )?;
        }
        return Ok(id);
    }
    let id = c
        .insert_numbered(
            "INSERT INTO recon_differences (channel, date, key, class, ordinal, state, amount_fen, evidence, postings, posted_fen, found_ms, changed_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, 0, 0, ?8, ?8)",
            args![
                channel,
                date,
                &key,
                item.class.as_str(),
                ordinal,
                amount_fen,
                &evidence,
                int(now_ms)
            ],
            "id",
        )?;
    record_history(
        c,
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
    c: &dyn Sql,
    id: i64,
    from: State,
    to: State,
    actor: &str,
    note: &str,
    posting: Option<i64>,
    now_ms: u64,
) -> Result<(), ReconError> {
    let (postings, moved) = match posting {
        Some(fen) => (1i64, fen),
        None => (0, 0),
    };
    let changed = c.execute(
        "UPDATE recon_differences SET state = ?3, postings = postings + ?4, posted_fen = posted_fen + ?5,
                changed_ms = ?6 WHERE id = ?1 AND state = ?2",
        args![
            id,
            from.as_str(),
            to.as_str(),
            postings,
            moved,
            int(now_ms)
        ],
    )?;
    if changed != 1 {
        return Err(ReconError::StateChanged(id));
    }
    record_history(c, id, now_ms, Some(from), to, actor, note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_file_keeps_its_history_append_only_under_the_new_names() {
        // Version 1's tables: today's DDL with the old names.
        let old = SCHEMA
            .sqlite
            .ddl
            .replace("recon_runs", "runs")
            .replace("recon_differences", "differences")
            .replace("recon_history", "history");
        let (dir, conn) =
            suanpan_store::old_version_file("recon-v1", "recon.db", 1, &old).expect("made");
        conn.execute_batch(
            "INSERT INTO differences (id, channel, date, key, class, ordinal, state, amount_fen, evidence, postings, posted_fen, found_ms, changed_ms)
                 VALUES (4, 'alipay', '2026-11-30', 'payment 7', 'missing_on_platform', 0, 'open', 100, '{}', 0, 0, 1, 1);
             INSERT INTO history (difference, at_ms, to_state, actor, note) VALUES (4, 1, 'open', 'reconciliation', 'found');",
        )
        .expect("old rows");
        drop(conn);
        let store = open(&Home::sqlite(&dir)).expect("migrates");
        let kept = store.read(|c| history(c, 4)).expect("reads");
        assert_eq!(kept.len(), 1);
        let changed: Result<(), ReconError> = store.write_blocking(|c| {
            c.execute("DELETE FROM recon_history", args![])?;
            Ok(())
        });
        assert!(changed.is_err(), "the renamed history is still append-only");
        // New differences are numbered after the old ones.
        let moved = store.write_blocking(|c| {
            change(
                c,
                4,
                State::Open,
                State::ResolvedOperator,
                "ops",
                "checked",
                None,
                2,
            )
        });
        assert_eq!(moved, Ok(()));
        assert_eq!(store.read(|c| history(c, 4)).expect("reads").len(), 2);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
