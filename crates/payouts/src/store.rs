//! The payouts room's state through the storage home: one row per payout (rewritten on each
//! change), its attempts, every state change as an ordered event, the QR payments of each
//! customer's day (for the daily caps) and the operators' routing versions. On the embedded
//! default it is `payouts.db`; with the journal on PostgreSQL, the `payouts_*` tables of that
//! database, so the node that takes the writer's lease over follows every payout the old
//! leader sent. Every statement is written once for both (`suanpan_store::sql`).

use suanpan_ledger::Currency;
use suanpan_routing::{Channel, ChannelSet, Origin};
use suanpan_store::args;
use suanpan_store::room::{RoomSchema, RoomStore};
use suanpan_store::sql::{Row, Sql};
use suanpan_store::Schema;

use crate::error::PayoutError;
use crate::payout::{Attempt, AttemptState, NewPayout, Payout, PayoutEvent, PayoutState};

pub use suanpan_store::room::Home;

/// The room's store, in whichever home the node keeps its rooms.
pub type Store = RoomStore;

/// SQLite: 2, the tables are named `payouts_*`, as on PostgreSQL, so one statement serves
/// both.
pub const SCHEMA: RoomSchema = RoomSchema {
    room: "payouts",
    sqlite: Schema {
        file: "payouts.db",
        version: 2,
        ddl: "
CREATE TABLE IF NOT EXISTS payouts_payouts (
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
CREATE INDEX IF NOT EXISTS payouts_due ON payouts_payouts (next_action_ns) WHERE next_action_ns IS NOT NULL;
CREATE TABLE IF NOT EXISTS payouts_attempts (
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
CREATE TABLE IF NOT EXISTS payouts_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    payout     TEXT    NOT NULL,
    from_state TEXT,
    to_state   TEXT    NOT NULL,
    cause      TEXT    NOT NULL,
    at_ns      INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS events_payout ON payouts_events (payout, seq);
CREATE TABLE IF NOT EXISTS payouts_qr_payments (
    id             TEXT    PRIMARY KEY,
    payer_account  TEXT    NOT NULL,
    payee_account  TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    amount_fen     INTEGER NOT NULL,
    currency       TEXT    NOT NULL,
    day            INTEGER NOT NULL,     -- Shanghai days since 1970-01-01
    at_ns          INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS qr_payments_day ON payouts_qr_payments (payer_account, day);
CREATE TABLE IF NOT EXISTS payouts_routing_versions (
    version        INTEGER PRIMARY KEY,
    overrides      TEXT    NOT NULL,   -- JSON: channel -> its rule changes
    calendar       TEXT    NOT NULL,   -- the calendar file's text
    changed_by     TEXT    NOT NULL,
    changed_at_ns  INTEGER NOT NULL
) STRICT;
",
        migrations: &[(
            2,
            "ALTER TABLE payouts RENAME TO payouts_payouts;
             ALTER TABLE attempts RENAME TO payouts_attempts;
             ALTER TABLE events RENAME TO payouts_events;
             ALTER TABLE qr_payments RENAME TO payouts_qr_payments;
             ALTER TABLE routing_versions RENAME TO payouts_routing_versions;",
        )],
        readers: 2,
    },
    postgres: &[(
        1,
        "payouts, their attempts and events, QR payments, routing versions",
        "
CREATE TABLE payouts_payouts (
    id                   text    PRIMARY KEY,   -- decimal u128, the participant's own
    owner                bigint  NOT NULL,
    debit_account        text    NOT NULL,
    amount_fen           bigint  NOT NULL CHECK (amount_fen > 0),
    currency             text    NOT NULL,
    beneficiary_bank     text    NOT NULL,
    beneficiary_account  text    NOT NULL,
    beneficiary_name     text    NOT NULL,
    beneficiary_systems  bigint  NOT NULL,
    real_time            boolean NOT NULL,
    origin               text    NOT NULL,
    state                text    NOT NULL,
    channel              text,
    rule_version         bigint  NOT NULL,
    route_summary        text    NOT NULL,
    route_reasons        text    NOT NULL,
    excluded             bigint  NOT NULL,
    created_ns           bigint  NOT NULL,
    updated_ns           bigint  NOT NULL,
    next_action_ns       bigint
);
CREATE INDEX payouts_due ON payouts_payouts (next_action_ns) WHERE next_action_ns IS NOT NULL;
CREATE TABLE payouts_attempts (
    payout          text   NOT NULL,
    number          bigint NOT NULL,
    channel         text   NOT NULL,
    instruction_id  text   NOT NULL UNIQUE,
    state           text   NOT NULL,
    status_code     text,
    sent_ns         bigint NOT NULL,
    answered_ns     bigint,
    PRIMARY KEY (payout, number)
);
CREATE TABLE payouts_events (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payout     text   NOT NULL,
    from_state text,
    to_state   text   NOT NULL,
    cause      text   NOT NULL,
    at_ns      bigint NOT NULL
);
CREATE INDEX payouts_events_payout ON payouts_events (payout, seq);
CREATE TABLE payouts_qr_payments (
    id             text   PRIMARY KEY,
    payer_account  text   NOT NULL,
    payee_account  text   NOT NULL,
    kind           text   NOT NULL,
    amount_fen     bigint NOT NULL,
    currency       text   NOT NULL,
    day            bigint NOT NULL,     -- Shanghai days since 1970-01-01
    at_ns          bigint NOT NULL
);
CREATE INDEX payouts_qr_payments_day ON payouts_qr_payments (payer_account, day);
CREATE TABLE payouts_routing_versions (
    version        bigint PRIMARY KEY,
    overrides      text   NOT NULL,   -- JSON: channel -> its rule changes
    calendar       text   NOT NULL,   -- the calendar file's text
    changed_by     text   NOT NULL,
    changed_at_ns  bigint NOT NULL
);
",
    )],
};

/// Opens the room's store in `home`.
pub fn open(home: &Home) -> Result<Store, PayoutError> {
    RoomStore::open(home, &SCHEMA).map_err(PayoutError::from)
}

/// Nanoseconds and amounts as the database's signed integers (far below 2^63).
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

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
pub fn save(c: &dyn Sql, p: &Payout) -> Result<(), PayoutError> {
    let n = &p.new;
    let (id, debit, currency) = (
        n.id.to_string(),
        n.debit_account.to_string(),
        n.currency.to_string(),
    );
    let reasons = reasons_text(&p.route_reasons);
    c.execute(
        "INSERT INTO payouts_payouts (id, owner, debit_account, amount_fen, currency,
             beneficiary_bank, beneficiary_account, beneficiary_name, beneficiary_systems,
             real_time, origin, state, channel, rule_version, route_summary, route_reasons,
             excluded, created_ns, updated_ns, next_action_ns)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
             ?18, ?19, ?20)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, channel = excluded.channel,
             rule_version = excluded.rule_version, route_summary = excluded.route_summary,
             route_reasons = excluded.route_reasons, excluded = excluded.excluded,
             updated_ns = excluded.updated_ns, next_action_ns = excluded.next_action_ns",
        args![
            &id,
            int(n.owner),
            &debit,
            int(n.amount_fen),
            &currency,
            &n.beneficiary_bank,
            &n.beneficiary_account,
            &n.beneficiary_name,
            i64::from(n.beneficiary_systems.bits()),
            n.real_time,
            n.origin.code(),
            p.state.as_str(),
            p.channel.map(|c| c.code()),
            p.rule_version,
            &p.route_summary,
            &reasons,
            i64::from(p.excluded.bits()),
            int(p.created_ns),
            int(p.updated_ns),
            p.next_action_ns.map(int),
        ],
    )?;
    for a in &p.attempts {
        c.execute(
            "INSERT INTO payouts_attempts (payout, number, channel, instruction_id, state,
                 status_code, sent_ns, answered_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (payout, number) DO UPDATE SET state = excluded.state,
                 status_code = excluded.status_code, answered_ns = excluded.answered_ns",
            args![
                &id,
                a.number,
                a.channel.code(),
                &a.instruction_id,
                a.state.as_str(),
                &a.status_code,
                int(a.sent_ns),
                a.answered_ns.map(int),
            ],
        )?;
    }
    Ok(())
}

/// Appends one state change to the payout's events.
pub fn event(
    c: &dyn Sql,
    payout: u128,
    from: Option<PayoutState>,
    to: PayoutState,
    cause: &str,
    at_ns: u64,
) -> Result<(), PayoutError> {
    c.execute(
        "INSERT INTO payouts_events (payout, from_state, to_state, cause, at_ns) VALUES (?1, ?2, ?3, ?4, ?5)",
        args![
            &payout.to_string(),
            from.map(|s| s.as_str()),
            to.as_str(),
            cause,
            int(at_ns)
        ],
    )?;
    Ok(())
}

const COLUMNS: &str = "id, owner, debit_account, amount_fen, currency, beneficiary_bank,
    beneficiary_account, beneficiary_name, beneficiary_systems, real_time, origin, state,
    channel, rule_version, route_summary, route_reasons, excluded, created_ns, updated_ns,
    next_action_ns";

fn bits(r: &Row, i: usize) -> Result<u8, PayoutError> {
    u8::try_from(r.u64(i)?)
        .map_err(|_| PayoutError::System(format!("payouts store: column {i} is not a channel set")))
}

fn row(r: &Row) -> Result<Option<Payout>, PayoutError> {
    let (Ok(id), Ok(debit)) = (r.str(0)?.parse::<u128>(), r.str(2)?.parse::<u128>()) else {
        return Ok(None);
    };
    let (Some(currency), Some(origin), Some(state)) = (
        Currency::parse(&r.str(4)?),
        Origin::from_code(&r.str(10)?),
        PayoutState::parse(&r.str(11)?),
    ) else {
        return Ok(None);
    };
    Ok(Some(Payout {
        new: NewPayout {
            id,
            owner: r.u64(1)?,
            debit_account: debit,
            amount_fen: r.u64(3)?,
            currency,
            beneficiary_bank: r.str(5)?,
            beneficiary_account: r.str(6)?,
            beneficiary_name: r.str(7)?,
            beneficiary_systems: ChannelSet::from_bits(bits(r, 8)?),
            real_time: r.bool(9)?,
            origin,
        },
        state,
        channel: r.opt_str(12)?.and_then(|c| Channel::from_code(&c)),
        rule_version: u32::try_from(r.u64(13)?)
            .map_err(|_| PayoutError::System("payouts store: a rule version too large".into()))?,
        route_summary: r.str(14)?,
        route_reasons: parse_reasons(&r.str(15)?),
        excluded: ChannelSet::from_bits(bits(r, 16)?),
        attempts: Vec::new(),
        created_ns: r.u64(17)?,
        updated_ns: r.u64(18)?,
        next_action_ns: r.opt_u64(19)?,
    }))
}

fn with_attempts(c: &dyn Sql, mut p: Payout) -> Result<Payout, PayoutError> {
    let rows = c.query(
        "SELECT number, channel, instruction_id, state, status_code, sent_ns, answered_ns
         FROM payouts_attempts WHERE payout = ?1 ORDER BY number",
        args![&p.new.id.to_string()],
    )?;
    for r in rows {
        let number = u32::try_from(r.u64(0)?).unwrap_or(u32::MAX);
        let (Some(channel), Some(state)) = (
            Channel::from_code(&r.str(1)?),
            AttemptState::parse(&r.str(3)?),
        ) else {
            return Err(PayoutError::System(format!(
                "payouts store: attempt {number} of payout {} is unreadable",
                p.new.id
            )));
        };
        p.attempts.push(Attempt {
            number,
            channel,
            instruction_id: r.str(2)?,
            state,
            status_code: r.opt_str(4)?,
            sent_ns: r.u64(5)?,
            answered_ns: r.opt_u64(6)?,
        });
    }
    Ok(p)
}

pub fn payout(c: &dyn Sql, id: u128) -> Result<Option<Payout>, PayoutError> {
    let found = match c.query_row(
        &format!("SELECT {COLUMNS} FROM payouts_payouts WHERE id = ?1"),
        args![&id.to_string()],
    )? {
        Some(r) => row(&r)?,
        None => None,
    };
    found.map(|p| with_attempts(c, p)).transpose()
}

/// Payouts due for the worker at `now_ns`, oldest due first.
pub fn due(c: &dyn Sql, now_ns: u64, limit: u32) -> Result<Vec<Payout>, PayoutError> {
    let rows = c.query(
        &format!(
            "SELECT {COLUMNS} FROM payouts_payouts WHERE next_action_ns IS NOT NULL AND next_action_ns <= ?1
             ORDER BY next_action_ns LIMIT ?2"
        ),
        args![int(now_ns), limit],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        if let Some(p) = row(r)? {
            out.push(with_attempts(c, p)?);
        }
    }
    Ok(out)
}

/// The state changes of a payout, oldest first.
pub fn events(c: &dyn Sql, id: u128) -> Result<Vec<PayoutEvent>, PayoutError> {
    c.query(
        "SELECT from_state, to_state, cause, at_ns FROM payouts_events WHERE payout = ?1 ORDER BY seq",
        args![&id.to_string()],
    )?
    .iter()
    .map(|r| {
        Ok(PayoutEvent {
            from: r.opt_str(0)?,
            to: r.str(1)?,
            cause: r.str(2)?,
            at_ns: r.u64(3)?,
        })
    })
    .collect()
}

/// What a payer spent by QR codes of these kinds on a day, in fen.
pub fn qr_spent(c: &dyn Sql, payer: u128, day: i32, kinds: &[&str]) -> Result<u64, PayoutError> {
    let payer = payer.to_string();
    let mut spent: u64 = 0;
    for kind in kinds {
        spent += c
            .query_one(
                "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM payouts_qr_payments
                 WHERE payer_account = ?1 AND day = ?2 AND kind = ?3",
                args![&payer, i64::from(day), *kind],
            )?
            .u64(0)?;
    }
    Ok(spent)
}

#[allow(clippy::too_many_arguments)]
pub fn insert_qr(
    c: &dyn Sql,
    id: u128,
    payer: u128,
    payee: u128,
    kind: &str,
    amount_fen: u64,
    currency: &str,
    day: i32,
    at_ns: u64,
) -> Result<bool, PayoutError> {
    let n = c.execute(
        "INSERT INTO payouts_qr_payments (id, payer_account, payee_account, kind, amount_fen, currency, day, at_ns)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO NOTHING",
        args![
            &id.to_string(),
            &payer.to_string(),
            &payee.to_string(),
            kind,
            int(amount_fen),
            currency,
            i64::from(day),
            int(at_ns)
        ],
    )?;
    Ok(n == 1)
}

/// A QR payment this call recorded, taken back because the ledger refused it.
pub fn delete_qr(c: &dyn Sql, id: u128) -> Result<(), PayoutError> {
    c.execute(
        "DELETE FROM payouts_qr_payments WHERE id = ?1",
        args![&id.to_string()],
    )?;
    Ok(())
}

/// A QR payment recorded before: (payer, payee, kind, amount, currency).
pub type QrRecorded = (u128, u128, String, u64, String);

pub fn qr_payment(c: &dyn Sql, id: u128) -> Result<Option<QrRecorded>, PayoutError> {
    let Some(r) = c.query_row(
        "SELECT payer_account, payee_account, kind, amount_fen, currency FROM payouts_qr_payments WHERE id = ?1",
        args![&id.to_string()],
    )?
    else {
        return Ok(None);
    };
    let (Ok(payer), Ok(payee)) = (r.str(0)?.parse(), r.str(1)?.parse()) else {
        return Ok(None);
    };
    Ok(Some((payer, payee, r.str(2)?, r.u64(3)?, r.str(4)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_file_keeps_its_payouts_and_qr_payments() {
        // Version 1's tables: the DDL of today with the old names.
        let old = SCHEMA
            .sqlite
            .ddl
            .replace("payouts_payouts", "payouts")
            .replace("payouts_attempts", "attempts")
            .replace("payouts_events", "events")
            .replace("payouts_qr_payments", "qr_payments")
            .replace("payouts_routing_versions", "routing_versions");
        let (dir, conn) =
            suanpan_store::old_version_file("payouts-v1", "payouts.db", 1, &old).expect("made");
        {
            conn.execute_batch(
                "INSERT INTO qr_payments VALUES ('7', '11', '12', 'static', 300, 'CNY', 20000, 1);
                 INSERT INTO routing_versions VALUES (3, '{}', '', 'ops', 5);",
            )
            .expect("old rows");
        }
        drop(conn);
        let store = open(&Home::sqlite(&dir)).expect("migrates");
        let recorded = store.read(|c| qr_payment(c, 7)).expect("reads");
        assert_eq!(recorded, Some((11, 12, "static".into(), 300, "CNY".into())));
        let spent = store
            .read(|c| qr_spent(c, 11, 20000, &["static"]))
            .expect("reads");
        assert_eq!(spent, 300);
        let fresh = store
            .write_blocking(|c| insert_qr(c, 8, 11, 12, "static", 5, "CNY", 20000, 2))
            .expect("writes");
        assert!(fresh);
        let again = store
            .write_blocking(|c| insert_qr(c, 8, 11, 12, "static", 5, "CNY", 20000, 2))
            .expect("writes");
        assert!(!again, "a repeated id is not recorded twice");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
