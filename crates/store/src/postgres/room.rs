//! A room's state on PostgreSQL: its tables in the shared database, written by one thread per
//! room in groups, each group one transaction fenced by the writer's lease.
//!
//! The fence is the journal's: a group's transaction first calls `suanpan_fence(epoch)` with
//! the epoch this node holds the lease at, which takes a share lock on the lease row. A
//! takeover (an update of that row) therefore waits for a group in flight, and every group
//! after it fails: a deposed or paused leader changes nothing in any room. A node that holds
//! no lease (a standby, or one that lost it) writes nothing fenced at all.

use std::cell::Cell;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

use super::{migrate, Migrations, Object, PgDb, PgError};
use crate::sql::{to_postgres_placeholders, Dialect, Param, Row, Sql, Value};
use crate::writer::{self, Answer, Job, Writer};
use crate::StoreError;

/// The epoch this node holds the writer's lease at; `None` while it holds none.
pub type EpochSource = Arc<dyn Fn() -> Option<u64> + Send + Sync>;

/// Whose writes a room's store lets through.
#[derive(Clone)]
pub enum Fence {
    /// The leader's commands: every group checks the lease is still at this node's epoch.
    /// A group holds the lease row's share lock from its fence to its commit; if this node
    /// stops in between (paused), the server ends the transaction after `hold`
    /// (`idle_in_transaction_session_timeout`), so a standby's takeover never waits on it.
    Lease {
        epoch: EpochSource,
        hold: std::time::Duration,
    },
    /// An operator's command against the database (`credentials`, `gateway merchant`): not a
    /// command of the leader, so not fenced by its lease.
    Operator,
}

impl From<PgError> for StoreError {
    fn from(e: PgError) -> StoreError {
        StoreError::Failed(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        StoreError::Failed(PgError::Postgres(e).to_string())
    }
}

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Param::Null => Ok(IsNull::Yes),
            Param::Text(s) => s.to_sql(ty, out),
            Param::Bytes(b) => b.to_sql(ty, out),
            Param::Int(v) => int_to_sql(v, ty, out),
            Param::Bool(b) => match *ty {
                Type::BOOL => b.to_sql(ty, out),
                _ => int_to_sql(i64::from(b), ty, out),
            },
            Param::Money(v) => match *ty {
                Type::NUMERIC => {
                    numeric_to_sql(v, out);
                    Ok(IsNull::No)
                }
                _ => int_to_sql(i64::try_from(v)?, ty, out),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn int_to_sql(
    v: i64,
    ty: &Type,
    out: &mut bytes::BytesMut,
) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
    match *ty {
        Type::INT8 => v.to_sql(ty, out),
        Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
        Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
        Type::BOOL => (v != 0).to_sql(ty, out),
        _ => Err(format!("an integer cannot be bound to a {ty} parameter").into()),
    }
}

/// An integer in PostgreSQL's binary `numeric` form: digit count, weight (of the first digit,
/// in powers of 10,000), sign, display scale, then the base-10,000 digits, most significant
/// first, trailing zero digits left out.
fn numeric_to_sql(v: i128, out: &mut bytes::BytesMut) {
    use bytes::BufMut;
    let mut digits = Vec::new();
    let mut rest = v.unsigned_abs();
    while rest > 0 {
        digits.push((rest % 10_000) as i16);
        rest /= 10_000;
    }
    // At most 10 digits of 10,000 for 128 bits: the casts cannot truncate.
    let weight = digits.len() as i16 - 1;
    digits.reverse();
    while digits.last() == Some(&0) {
        digits.pop();
    }
    out.put_i16(digits.len() as i16);
    out.put_i16(weight.max(0));
    out.put_u16(if v < 0 { 0x4000 } else { 0 });
    out.put_u16(0);
    for d in digits {
        out.put_i16(d);
    }
}

/// A `numeric` read back: an integer of at most 128 bits, or an error.
struct Numeric(i128);

impl<'a> tokio_postgres::types::FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let word = |i: usize| -> Result<i16, Box<dyn std::error::Error + Sync + Send>> {
            raw.get(2 * i..2 * i + 2)
                .map(|b| i16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| "a numeric value is cut short".into())
        };
        let (count, weight, sign) = (word(0)?, word(1)?, word(2)? as u16);
        if sign == 0xC000 {
            return Err("a numeric value is NaN".into());
        }
        let mut value: i128 = 0;
        for i in 0..count.max(0) as usize {
            let digit = i128::from(word(4 + i)?);
            // A digit after the units is a fraction: money in minor units has none.
            if i as i32 > i32::from(weight) && digit != 0 {
                return Err("a numeric value has a fraction".into());
            }
            if i as i32 <= i32::from(weight) {
                value = value
                    .checked_mul(10_000)
                    .and_then(|v| v.checked_add(digit))
                    .ok_or("a numeric value is beyond 128 bits")?;
            }
        }
        for _ in 0..(i32::from(weight) + 1 - i32::from(count)).max(0) {
            value = value
                .checked_mul(10_000)
                .ok_or("a numeric value is beyond 128 bits")?;
        }
        Ok(Numeric(if sign == 0x4000 { -value } else { value }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

fn row_values(row: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let v = match *column.type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(i64::from(v))),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(i64::from(v))),
            Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(Value::Bool),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
                row.try_get::<_, Option<String>>(i)?.map(Value::Text)
            }
            Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Bytes),
            Type::NUMERIC => row
                .try_get::<_, Option<Numeric>>(i)?
                .map(|n| Value::Big(n.0)),
            ref other => {
                return Err(StoreError::Failed(format!(
                    "column {} is a {other}, which rooms do not read (CAST it AS BIGINT)",
                    column.name()
                )))
            }
        };
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

/// A room's connection on PostgreSQL: every statement runs to its end on the database's
/// runtime, so the room's code is the same plain code as on SQLite.
pub(crate) struct PgSql<'a, C: GenericClient> {
    db: &'a PgDb,
    client: &'a C,
    changes: Cell<u64>,
    /// A statement failed: PostgreSQL then refuses the rest of the transaction.
    failed: Cell<bool>,
}

impl<'a, C: GenericClient> PgSql<'a, C> {
    pub(crate) fn new(db: &'a PgDb, client: &'a C) -> PgSql<'a, C> {
        PgSql {
            db,
            client,
            changes: Cell::new(0),
            failed: Cell::new(false),
        }
    }

    /// A statement of this connection failed (PostgreSQL then refuses the rest of the
    /// transaction).
    pub(crate) fn failed(&self) -> bool {
        self.failed.get()
    }

    fn params<'p>(args: &'p [Param<'p>]) -> Vec<&'p (dyn ToSql + Sync)> {
        args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
    }

    fn noted<T>(&self, r: Result<T, tokio_postgres::Error>) -> Result<T, StoreError> {
        if r.is_err() {
            self.failed.set(true);
        }
        r.map_err(StoreError::from)
    }
}

impl<C: GenericClient> Sql for PgSql<'_, C> {
    fn execute(&self, sql: &str, args: &[Param<'_>]) -> Result<u64, StoreError> {
        let sql = to_postgres_placeholders(sql);
        let params = Self::params(args);
        let n = self.noted(self.db.run(async {
            let stmt = self.client.prepare_cached(&sql).await?;
            self.client.execute(&stmt, &params).await
        }))?;
        self.changes.set(self.changes.get() + n);
        Ok(n)
    }

    fn query(&self, sql: &str, args: &[Param<'_>]) -> Result<Vec<Row>, StoreError> {
        let sql = to_postgres_placeholders(sql);
        let params = Self::params(args);
        let rows = self.noted(self.db.run(async {
            let stmt = self.client.prepare_cached(&sql).await?;
            self.client.query(&stmt, &params).await
        }))?;
        // A statement with RETURNING changes rows as it answers them.
        if sql.contains("RETURNING") {
            self.changes.set(self.changes.get() + rows.len() as u64);
        }
        rows.iter().map(row_values).collect()
    }

    fn changes(&self) -> u64 {
        self.changes.get() + u64::from(self.failed.get())
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn insert_numbered(
        &self,
        sql: &str,
        args: &[Param<'_>],
        column: &str,
    ) -> Result<i64, StoreError> {
        self.query_one(&format!("{sql} RETURNING {column}"), args)?
            .i64(0)
    }
}

/// A room's store on PostgreSQL.
pub struct PgRoom {
    db: Arc<PgDb>,
    writer: Writer,
}

impl PgRoom {
    /// Applies the room's migrations (recorded in `<room>_migrations`) and starts its writer.
    pub fn open(
        db: Arc<PgDb>,
        room: &'static str,
        migrations: Migrations,
        fence: Fence,
    ) -> Result<PgRoom, StoreError> {
        db.run(async {
            let mut client = db.client().await?;
            migrate(&mut client, &format!("{room}_migrations"), migrations).await
        })?;
        let writer = {
            let db = db.clone();
            Writer::start(format!("suanpan-{room}-pg"), move |jobs| {
                run_writer(&db, &fence, jobs)
            })?
        };
        Ok(PgRoom { db, writer })
    }

    pub fn db(&self) -> &Arc<PgDb> {
        &self.db
    }

    pub(crate) fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Reads on a pooled connection, outside any transaction: every committed group, from
    /// whichever node wrote it.
    pub fn read<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&dyn Sql) -> Result<R, E>,
    ) -> Result<R, E> {
        read_on(&self.db, f)
    }
}

pub(crate) fn read_on<R, E: From<StoreError>>(
    db: &PgDb,
    f: impl FnOnce(&dyn Sql) -> Result<R, E>,
) -> Result<R, E> {
    let client: Object = db.run(db.client()).map_err(StoreError::from)?;
    let sql = PgSql {
        db,
        client: &client,
        changes: Cell::new(0),
        failed: Cell::new(false),
    };
    f(&sql)
}

/// The writer's connection, told how long a transaction of it may wait on this node.
pub(crate) async fn connect(db: &PgDb, fence: &Fence) -> Result<Object, PgError> {
    let client = db.client().await?;
    if let Fence::Lease { hold, .. } = fence {
        client
            .batch_execute(&format!(
                "SET idle_in_transaction_session_timeout = {}",
                hold.as_millis().max(1)
            ))
            .await?;
    }
    Ok(client)
}

fn run_writer(db: &PgDb, fence: &Fence, jobs: Receiver<Job>) {
    let mut client: Option<Object> = None;
    while let Ok(first) = jobs.recv() {
        let mut group = writer::group(first, &jobs);
        // A connection the server closed (a restart) is replaced, not retried.
        if client.as_ref().is_some_and(|c| c.is_closed()) {
            client = None;
        }
        if client.is_none() {
            client = db.run(connect(db, fence)).ok();
        }
        let committed = match client.as_mut() {
            None => Err(StoreError::Failed(format!(
                "cannot reach PostgreSQL at {}",
                db.shown()
            ))),
            Some(c) => run_group(db, fence, c, &mut group),
        };
        if let Err(why) = committed {
            for job in group {
                let (answer, _) = job(None);
                answer(Err(why.clone()));
            }
        }
    }
}

/// The fence at the start of a transaction: with `Fence::Lease`, fails unless this node still
/// holds the writer's lease at its epoch, and holds the lease row until the commit.
pub(crate) fn check_fence<C: GenericClient>(
    db: &PgDb,
    fence: &Fence,
    tx: &C,
) -> Result<(), StoreError> {
    if let Fence::Lease { epoch, .. } = fence {
        let Some(epoch) = epoch() else {
            return Err(StoreError::Fenced(
                "this node does not hold the writer's lease; it changes nothing".into(),
            ));
        };
        let epoch = i64::try_from(epoch)
            .map_err(|_| StoreError::Failed(format!("epoch {epoch} out of range")))?;
        db.run(tx.execute("SELECT suanpan_fence($1)", &[&epoch]))
            .map_err(|e| match e.code().map(|c| c.code()) {
                Some("SP001") => StoreError::Fenced(format!(
                    "another node has taken the writer's lease over: {}",
                    PgError::Postgres(e)
                )),
                _ => StoreError::from(e),
            })?;
    }
    Ok(())
}

/// Runs the group in one fenced transaction and answers each job; on an error before any job
/// ran, leaves the group for the caller to answer.
fn run_group(
    db: &PgDb,
    fence: &Fence,
    client: &mut Object,
    group: &mut Vec<Job>,
) -> Result<(), StoreError> {
    let tx = db.run(client.transaction())?;
    check_fence(db, fence, &tx)?;
    let (answers, spoiled, failed) = {
        let sql = PgSql {
            db,
            client: &tx,
            changes: Cell::new(0),
            failed: Cell::new(false),
        };
        let mut spoiled = false;
        let answers: Vec<Answer> = std::mem::take(group)
            .into_iter()
            .map(|job| {
                let (answer, failed) = job(Some(&sql));
                spoiled |= failed;
                answer
            })
            .collect();
        (answers, spoiled, sql.failed.get())
    };
    let committed = if spoiled || failed {
        Err(StoreError::Failed(
            "a write failed part-way; its group was rolled back".into(),
        ))
    } else {
        db.run(tx.commit())
            .map_err(|e| StoreError::Failed(format!("commit failed: {}", PgError::Postgres(e))))
    };
    // Dropping an unfinished transaction rolls it back.
    for answer in answers {
        answer(committed.clone());
    }
    Ok(())
}
