//! The pending transfers still open, read from the journal's `pending_transfers` table
//! through its partial index on open ones (never a scan of every pending transfer ever made),
//! on either backend: what the operations console lists for operators to post or void.

use crate::journal::JournalLocation;
use crate::JournalError;

/// Open pending transfers a page holds at most.
pub const OPEN_PENDING_PAGE_MAX: u32 = 100;

/// One pending transfer still open: its id and its deadline (engine ns), if it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenPending {
    pub id: String,
    pub expires_at_ns: Option<u64>,
}

/// The open pending transfers whose id (as text) comes after `after`, in that order.
pub fn open_pending(
    location: &JournalLocation,
    after: &str,
    limit: u32,
) -> Result<Vec<OpenPending>, JournalError> {
    let limit = limit.min(OPEN_PENDING_PAGE_MAX);
    match location {
        JournalLocation::Sqlite(dir) => {
            let conn = crate::sqlite::read_connection(dir)?;
            let mut stmt = conn.prepare(
                "SELECT id, expires_at FROM pending_transfers
                 WHERE status = 'pending' AND id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(rusqlite::params![after, limit], |r| {
                Ok(OpenPending {
                    id: r.get(0)?,
                    expires_at_ns: r.get::<_, Option<i64>>(1)?.map(|t| t as u64),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        }
        #[cfg(feature = "postgres")]
        JournalLocation::Postgres(db) => db.run(async {
            let client = db.client().await?;
            let rows = client
                .query(
                    "SELECT id, expires_at FROM pending_transfers
                     WHERE status = 'pending' AND id > $1 ORDER BY id LIMIT $2",
                    &[&after, &i64::from(limit)],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| OpenPending {
                    id: r.get(0),
                    expires_at_ns: r.get::<_, Option<i64>>(1).map(|t| t as u64),
                })
                .collect())
        }),
    }
}
