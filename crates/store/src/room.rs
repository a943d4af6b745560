//! A room's store in either home: its SQLite file in the data directory (the embedded
//! default), or its tables in the shared PostgreSQL database when the journal is there, so
//! that the node that takes the writer's lease over finds every room's state as the old
//! leader left it.
//!
//! The room's code is the same for both: jobs and reads get a [`Sql`] connection and speak
//! the dialects' common subset (`sql`). Writes are grouped on one thread per room and
//! answered only once committed; on PostgreSQL each group is also fenced by the writer's
//! lease (`postgres::room`).

use std::path::{Path, PathBuf};
#[cfg(feature = "postgres")]
use std::sync::Arc;

#[cfg(feature = "postgres")]
use crate::postgres::{room::PgRoom, Fence, PgDb};
use crate::sql::{Dialect, Sql};
use crate::writer::Writer;
use crate::{Schema, Store, StoreError};

/// A room's schema in both homes.
pub struct RoomSchema {
    /// The room's name: its PostgreSQL tables start with it, and its migrations are recorded
    /// in `<room>_migrations`.
    pub room: &'static str,
    pub sqlite: Schema,
    /// Its migrations on PostgreSQL: (version, what it does, SQL), append only.
    pub postgres: &'static [(i64, &'static str, &'static str)],
}

/// Where a room keeps its state.
#[derive(Clone)]
pub enum Home {
    /// Its own SQLite file in this data directory.
    Sqlite(PathBuf),
    /// Its tables in the shared database; writes let through by `fence`.
    #[cfg(feature = "postgres")]
    Postgres { db: Arc<PgDb>, fence: Fence },
}

impl Home {
    pub fn sqlite(dir: &Path) -> Home {
        Home::Sqlite(dir.to_path_buf())
    }
}

enum Inner {
    Sqlite(Store),
    #[cfg(feature = "postgres")]
    Postgres(PgRoom),
}

pub struct RoomStore {
    inner: Inner,
}

impl RoomStore {
    /// Opens the room's store in `home`: creates or migrates its file or tables, refusing a
    /// schema newer than this Suanpan knows, and starts its writer.
    pub fn open(home: &Home, schema: &RoomSchema) -> Result<RoomStore, StoreError> {
        let inner = match home {
            Home::Sqlite(dir) => Inner::Sqlite(Store::open(dir, &schema.sqlite)?),
            #[cfg(feature = "postgres")]
            Home::Postgres { db, fence } => Inner::Postgres(PgRoom::open(
                db.clone(),
                schema.room,
                schema.postgres,
                fence.clone(),
            )?),
        };
        Ok(RoomStore { inner })
    }

    pub fn dialect(&self) -> Dialect {
        match &self.inner {
            Inner::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Inner::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Where the state is, for messages: the file's path, or the database without its
    /// password.
    pub fn shown(&self) -> String {
        match &self.inner {
            Inner::Sqlite(store) => store.path().display().to_string(),
            #[cfg(feature = "postgres")]
            Inner::Postgres(room) => room.db().shown().to_string(),
        }
    }

    fn writer(&self) -> &Writer {
        match &self.inner {
            Inner::Sqlite(store) => store.writer(),
            #[cfg(feature = "postgres")]
            Inner::Postgres(room) => room.writer(),
        }
    }

    /// Runs `f` in the next group transaction; answers once it is committed (fsynced, or
    /// committed by PostgreSQL).
    pub async fn write<R: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Sql) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E> {
        self.writer().write(f).await
    }

    /// [`RoomStore::write`] for callers outside the async runtime.
    pub fn write_blocking<R: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Sql) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E> {
        self.writer().write_blocking(f)
    }

    /// A point read, where it is asked: it sees every committed group, never a half-done one.
    pub fn read<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&dyn Sql) -> Result<R, E>,
    ) -> Result<R, E> {
        match &self.inner {
            Inner::Sqlite(store) => store.read(|c| f(c)),
            #[cfg(feature = "postgres")]
            Inner::Postgres(room) => room.read(f),
        }
    }

    /// A read that scans, off the async workers.
    pub async fn read_async<R: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Sql) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E> {
        match &self.inner {
            Inner::Sqlite(store) => store.read_async(move |c| f(c)).await,
            #[cfg(feature = "postgres")]
            Inner::Postgres(room) => {
                let db = room.db().clone();
                tokio::task::spawn_blocking(move || crate::postgres::room::read_on(&db, f))
                    .await
                    .map_err(|e| E::from(StoreError::Failed(format!("a store read failed: {e}"))))?
            }
        }
    }
}
