//! A room's store held by one owner, who runs its transactions on its own thread: for a room
//! whose work is long, ordered steps over state it keeps in memory between them (the
//! accounting room's projection of the journal and its day-end), where the grouped writer of
//! `room` would only add a hand-over per step.
//!
//! On SQLite the owner holds the file's one connection (the room opens it with its own
//! pragmas and migrations). On PostgreSQL it holds one connection of the pool; each
//! transaction is fenced by the writer's lease like a `RoomStore` group, so a deposed or
//! paused leader changes nothing.

#[cfg(feature = "postgres")]
use std::sync::Arc;

use rusqlite::Connection;

#[cfg(feature = "postgres")]
use crate::postgres::room::{check_fence, connect, PgSql};
#[cfg(feature = "postgres")]
use crate::postgres::{migrate, Fence, Migrations, Object, PgDb};
use crate::sql::{Dialect, Sql};
use crate::StoreError;

enum Inner {
    Sqlite(Connection),
    #[cfg(feature = "postgres")]
    Postgres {
        db: Arc<PgDb>,
        client: Object,
        fence: Fence,
    },
}

pub struct ExclusiveStore {
    inner: Inner,
}

impl ExclusiveStore {
    /// The room's SQLite connection, opened and migrated by the room.
    pub fn sqlite(conn: Connection) -> ExclusiveStore {
        ExclusiveStore {
            inner: Inner::Sqlite(conn),
        }
    }

    /// The room's tables in the shared database, migrated (recorded in `<room>_migrations`),
    /// on a connection of the pool kept for this owner.
    #[cfg(feature = "postgres")]
    pub fn postgres(
        db: Arc<PgDb>,
        room: &str,
        migrations: Migrations,
        fence: Fence,
    ) -> Result<ExclusiveStore, StoreError> {
        let client = db.run(async {
            let mut client = connect(&db, &fence).await?;
            migrate(&mut client, &format!("{room}_migrations"), migrations).await?;
            Ok::<_, crate::postgres::PgError>(client)
        })?;
        Ok(ExclusiveStore {
            inner: Inner::Postgres { db, client, fence },
        })
    }

    pub fn dialect(&self) -> Dialect {
        match &self.inner {
            Inner::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Inner::Postgres { .. } => Dialect::Postgres,
        }
    }

    /// Reads outside a transaction: every committed change.
    pub fn read<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&dyn Sql) -> Result<R, E>,
    ) -> Result<R, E> {
        match &self.inner {
            Inner::Sqlite(conn) => f(conn),
            #[cfg(feature = "postgres")]
            Inner::Postgres { db, client, .. } => f(&PgSql::new(db, client)),
        }
    }

    /// Runs `f` in one transaction, committed if it returns `Ok` and every statement
    /// succeeded, rolled back otherwise. On PostgreSQL the transaction is fenced first.
    pub fn transaction<R, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&dyn Sql) -> Result<R, E>,
    ) -> Result<R, E> {
        match &mut self.inner {
            Inner::Sqlite(conn) => {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(StoreError::from)?;
                // The transaction derefs to its connection.
                let out = f(&*tx as &Connection)?;
                tx.commit().map_err(StoreError::from)?;
                Ok(out)
            }
            #[cfg(feature = "postgres")]
            Inner::Postgres { db, client, fence } => {
                // A connection the server closed (a restart) is replaced.
                if client.is_closed() {
                    *client = db.run(connect(db, fence)).map_err(StoreError::from)?;
                }
                let tx = db.run(client.transaction()).map_err(StoreError::from)?;
                check_fence(db, fence, &tx)?;
                let (out, failed) = {
                    let sql = PgSql::new(db, &tx);
                    let out = f(&sql);
                    (out, sql.failed())
                };
                let out = out?;
                if failed {
                    return Err(E::from(StoreError::Failed(
                        "a statement failed part-way; the transaction was rolled back".into(),
                    )));
                }
                db.run(tx.commit())
                    .map_err(|e| StoreError::Failed(format!("commit failed: {e}")))?;
                Ok(out)
            }
        }
    }
}
