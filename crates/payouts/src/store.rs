//! `payouts.db` through the storage home: one row per payout (rewritten on each change), its
//! attempts, every state change as an ordered event, and the QR payments of each customer's
//! day (for the daily caps).

use suanpan_ledger::Currency;
use suanpan_routing::{Channel, ChannelSet, Origin};
use suanpan_store::rusqlite::{params, Connection, OptionalExtension, Row};
use suanpan_store::Schema;

use crate::error::PayoutError;
use crate::payout::{Attempt, AttemptState, NewPayout, Payout, PayoutEvent, PayoutState};

pub const SCHEMA: Schema = Schema {
    file: "payouts.db",
    version: 1,
    ddl: "
CREATE TABLE IF NOT EXISTS payouts (
    id                   TEXT    PRIMARY KEY,   -- decimal u128, the participant's own
    owner                INTEGER NOT NULL,
    debit_account        TEXT    NOT NULL,
    amount_fen           INTEGER NOT NULL CHECK (amount_fen > 0),
    currency             TEXT    NOT NULL,
    beneficiary_bank     TEXT    NOT NULL,
    beneficiary_account  TEXT    NOT NULL,
    beneficiary_name     TEXT    NOT NULL,
    beneficiary_systems  INTEGER NOT NULL,
    real_time            INTEGER NOT NULL,
    origin               TEXT    NOT NULL,
    state                TEXT    NOT NULL,
    channel              TEXT,
    rule_version         INTEGER NOT NULL,
    route_summary        TEXT    NOT NULL,
    route_reasons        TEXT    NOT NULL,   -- channel:reason, comma-separated
    excluded             INTEGER NOT NULL,
    created_ns           INTEGER NOT NULL,
    updated_ns           INTEGER NOT NULL,
    next_action_ns       INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS payouts_due ON payouts (next_action_ns) WHERE next_action_ns IS NOT NULL;
CREATE TABLE IF NOT EXISTS attempts (
    payout          TEXT    NOT NULL,
    number          INTEGER NOT NULL,
    channel         TEXT    NOT NULL,
    instruction_id  TEXT    NOT NULL UNIQUE,
    state           TEXT    NOT NULL,
    status_code     TEXT,
    sent_ns         INTEGER NOT NULL,
    answered_ns     INTEGER,
    PRIMARY KEY (payout, number)
) STRICT;
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    payout     TEXT    NOT NULL,
    from_state TEXT,
    to_state   TEXT    NOT NULL,
    cause      TEXT    NOT NULL,
    at_ns      INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS events_payout ON events (payout, seq);
CREATE TABLE IF NOT EXISTS qr_payments (
    id             TEXT    PRIMARY KEY,
    payer_account  TEXT    NOT NULL,
    payee_account  TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    amount_fen     INTEGER NOT NULL,
    currency       TEXT    NOT NULL,
    day            INTEGER NOT NULL,     -- Shanghai days since 1970-01-01
    at_ns          INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS qr_payments_day ON qr_payments (payer_account, day);
CREATE TABLE IF NOT EXISTS routing_versions (
    version        INTEGER PRIMARY KEY,
    overrides      TEXT    NOT NULL,   -- JSON: channel -> its rule changes
    calendar       TEXT    NOT NULL,   -- the calendar file's text
    changed_by     TEXT    NOT NULL,
    changed_at_ns  INTEGER NOT NULL
) STRICT;
",
};

fn reasons_text(reasons: &[(Channel, String)]) -> String {
    reasons
        .iter()
        .map(|(c, r)| format!("{}:{r}", c.code()))
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_reasons(text: &str) -> Vec<(Channel, String)> {
    text.split(',')
        .filter_map(|pair| {
            let (c, r) = pair.split_once(':')?;
            Some((Channel::from_code(c)?, r.to_string()))
        })
        .collect()
}

/// Writes the payout's row and its attempts.
pub fn save(conn: &Connection, p: &Payout) -> Result<(), PayoutError> {
    let n = &p.new;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO payouts (id, owner, debit_account, amount_fen, currency,
             beneficiary_bank, beneficiary_account, beneficiary_name, beneficiary_systems,
             real_time, origin, state, channel, rule_version, route_summary, route_reasons,
             excluded, created_ns, updated_ns, next_action_ns)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
             ?18, ?19, ?20)",
    )?
    .execute(params![
        n.id.to_string(),
        n.owner as i64,
        n.debit_account.to_string(),
        n.amount_fen as i64,
        n.currency.to_string(),
        n.beneficiary_bank,
        n.beneficiary_account,
        n.beneficiary_name,
        n.beneficiary_systems.bits(),
        n.real_time,
        n.origin.code(),
        p.state.as_str(),
        p.channel.map(|c| c.code()),
        p.rule_version,
        p.route_summary,
        reasons_text(&p.route_reasons),
        p.excluded.bits(),
        p.created_ns as i64,
        p.updated_ns as i64,
        p.next_action_ns.map(|t| t as i64),
    ])?;
    for a in &p.attempts {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO attempts (payout, number, channel, instruction_id, state,
                 status_code, sent_ns, answered_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            n.id.to_string(),
            a.number,
            a.channel.code(),
            a.instruction_id,
            a.state.as_str(),
            a.status_code,
            a.sent_ns as i64,
            a.answered_ns.map(|t| t as i64),
        ])?;
    }
    Ok(())
}

/// Appends one state change to the payout's events.
pub fn event(
    conn: &Connection,
    payout: u128,
    from: Option<PayoutState>,
    to: PayoutState,
    cause: &str,
    at_ns: u64,
) -> Result<(), PayoutError> {
    conn.prepare_cached(
        "INSERT INTO events (payout, from_state, to_state, cause, at_ns) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        payout.to_string(),
        from.map(|s| s.as_str()),
        to.as_str(),
        cause,
        at_ns as i64
    ])?;
    Ok(())
}

const COLUMNS: &str = "id, owner, debit_account, amount_fen, currency, beneficiary_bank,
    beneficiary_account, beneficiary_name, beneficiary_systems, real_time, origin, state,
    channel, rule_version, route_summary, route_reasons, excluded, created_ns, updated_ns,
    next_action_ns";

fn row(r: &Row) -> suanpan_store::rusqlite::Result<Option<Payout>> {
    let parse_u128 = |s: String| s.parse::<u128>().ok();
    let (Some(id), Some(debit)) = (parse_u128(r.get(0)?), parse_u128(r.get(2)?)) else {
        return Ok(None);
    };
    let (Some(currency), Some(origin), Some(state)) = (
        Currency::parse(&r.get::<_, String>(4)?),
        Origin::from_code(&r.get::<_, String>(10)?),
        PayoutState::parse(&r.get::<_, String>(11)?),
    ) else {
        return Ok(None);
    };
    Ok(Some(Payout {
        new: NewPayout {
            id,
            owner: r.get::<_, i64>(1)? as u64,
            debit_account: debit,
            amount_fen: r.get::<_, i64>(3)? as u64,
            currency,
            beneficiary_bank: r.get(5)?,
            beneficiary_account: r.get(6)?,
            beneficiary_name: r.get(7)?,
            beneficiary_systems: ChannelSet::from_bits(r.get(8)?),
            real_time: r.get(9)?,
            origin,
        },
        state,
        channel: r
            .get::<_, Option<String>>(12)?
            .and_then(|c| Channel::from_code(&c)),
        rule_version: r.get(13)?,
        route_summary: r.get(14)?,
        route_reasons: parse_reasons(&r.get::<_, String>(15)?),
        excluded: ChannelSet::from_bits(r.get(16)?),
        attempts: Vec::new(),
        created_ns: r.get::<_, i64>(17)? as u64,
        updated_ns: r.get::<_, i64>(18)? as u64,
        next_action_ns: r.get::<_, Option<i64>>(19)?.map(|t| t as u64),
    }))
}

fn with_attempts(conn: &Connection, mut p: Payout) -> Result<Payout, PayoutError> {
    let mut stmt = conn.prepare_cached(
        "SELECT number, channel, instruction_id, state, status_code, sent_ns, answered_ns
         FROM attempts WHERE payout = ?1 ORDER BY number",
    )?;
    let rows = stmt.query_map([p.new.id.to_string()], |r| {
        Ok((
            r.get::<_, u32>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, Option<i64>>(6)?,
        ))
    })?;
    for row in rows {
        let (number, channel, instruction_id, state, status_code, sent, answered) = row?;
        let (Some(channel), Some(state)) =
            (Channel::from_code(&channel), AttemptState::parse(&state))
        else {
            return Err(PayoutError::System(format!(
                "payouts.db: attempt {number} of payout {} is unreadable",
                p.new.id
            )));
        };
        p.attempts.push(Attempt {
            number,
            channel,
            instruction_id,
            state,
            status_code,
            sent_ns: sent as u64,
            answered_ns: answered.map(|t| t as u64),
        });
    }
    Ok(p)
}

pub fn payout(conn: &Connection, id: u128) -> Result<Option<Payout>, PayoutError> {
    let found = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM payouts WHERE id = ?1"))?
        .query_row([id.to_string()], row)
        .optional()?
        .flatten();
    match found {
        Some(p) => Ok(Some(with_attempts(conn, p)?)),
        None => Ok(None),
    }
}

/// Payouts due for the worker at `now_ns`, oldest due first.
pub fn due(conn: &Connection, now_ns: u64, limit: u32) -> Result<Vec<Payout>, PayoutError> {
    let rows: Vec<Payout> = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM payouts WHERE next_action_ns IS NOT NULL AND next_action_ns <= ?1
             ORDER BY next_action_ns LIMIT ?2"
        ))?
        .query_map(params![now_ns as i64, limit], row)?
        .filter_map(|r| r.transpose())
        .collect::<Result<_, _>>()?;
    rows.into_iter().map(|p| with_attempts(conn, p)).collect()
}

/// The state changes of a payout, oldest first.
pub fn events(conn: &Connection, id: u128) -> Result<Vec<PayoutEvent>, PayoutError> {
    let rows = conn
        .prepare_cached(
            "SELECT from_state, to_state, cause, at_ns FROM events WHERE payout = ?1 ORDER BY seq",
        )?
        .query_map([id.to_string()], |r| {
            Ok(PayoutEvent {
                from: r.get(0)?,
                to: r.get(1)?,
                cause: r.get(2)?,
                at_ns: r.get::<_, i64>(3)? as u64,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// What a payer spent by QR codes of these kinds on a day, in fen.
pub fn qr_spent(
    conn: &Connection,
    payer: u128,
    day: i32,
    kinds: &[&str],
) -> Result<u64, PayoutError> {
    let mut spent: i64 = 0;
    for kind in kinds {
        spent += conn
            .prepare_cached(
                "SELECT coalesce(sum(amount_fen), 0) FROM qr_payments
                 WHERE payer_account = ?1 AND day = ?2 AND kind = ?3",
            )?
            .query_row(params![payer.to_string(), day, kind], |r| {
                r.get::<_, i64>(0)
            })?;
    }
    Ok(spent as u64)
}

#[allow(clippy::too_many_arguments)]
pub fn insert_qr(
    conn: &Connection,
    id: u128,
    payer: u128,
    payee: u128,
    kind: &str,
    amount_fen: u64,
    currency: &str,
    day: i32,
    at_ns: u64,
) -> Result<bool, PayoutError> {
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO qr_payments (id, payer_account, payee_account, kind, amount_fen, currency, day, at_ns)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            id.to_string(),
            payer.to_string(),
            payee.to_string(),
            kind,
            amount_fen as i64,
            currency,
            day,
            at_ns as i64
        ])?;
    Ok(n == 1)
}

/// A QR payment recorded before: (payer, payee, kind, amount, currency).
pub type QrRecorded = (u128, u128, String, u64, String);

pub fn qr_payment(conn: &Connection, id: u128) -> Result<Option<QrRecorded>, PayoutError> {
    let found = conn
        .prepare_cached(
            "SELECT payer_account, payee_account, kind, amount_fen, currency FROM qr_payments WHERE id = ?1",
        )?
        .query_row([id.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .optional()?;
    Ok(found
        .and_then(|(a, b, k, amt, c)| Some((a.parse().ok()?, b.parse().ok()?, k, amt as u64, c))))
}
