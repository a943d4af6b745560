//! The writer's lease: one row in the database, timed by the database's clock (so no two
//! nodes' clocks are ever compared), with an epoch that grows at every takeover.
//!
//! What it guarantees: at most one node writes the journal at a time. The holder's epoch is
//! checked by every journal write in the same transaction (`suanpan_fence`), so a node that
//! lost the lease (paused, partitioned, or merely slow) can never write again, whatever it
//! believes. What it does not: that the holder is alive. A leader that stops renewing keeps the
//! lease until it expires; a standby takes over only then.

use std::sync::Arc;
use std::time::Duration;

use crate::anchor::Head;
use crate::postgres::{to_hash, PgDb};
use crate::JournalError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseState {
    pub holder: String,
    pub epoch: u64,
    /// Milliseconds until it expires, by the database's clock; zero or less: expired.
    pub expires_in_ms: i64,
}

impl LeaseState {
    pub fn expired(&self) -> bool {
        self.expires_in_ms <= 0
    }
}

/// The lease as the database has it now.
pub fn read(db: &Arc<PgDb>) -> Result<LeaseState, JournalError> {
    db.run(async {
        let client = db.client().await?;
        let row = client
            .query_one(
                "SELECT holder, epoch,
                        floor(extract(epoch FROM (expires_at - now())) * 1000)::bigint
                 FROM lease WHERE id = 1",
                &[],
            )
            .await?;
        Ok(LeaseState {
            holder: row.get(0),
            epoch: row.get::<_, i64>(1) as u64,
            expires_in_ms: row.get(2),
        })
    })
}

/// Takes the lease for `holder` if it has expired and is still at `seen_epoch` (so that of
/// two standbys racing for it, one wins). Returns the new epoch, or `None` if it was not free.
pub fn acquire(
    db: &Arc<PgDb>,
    holder: &str,
    ttl: Duration,
    seen_epoch: u64,
) -> Result<Option<u64>, JournalError> {
    let ttl_ms = ttl.as_millis() as i64;
    db.run(async {
        let client = db.client().await?;
        let row = client
            .query_opt(
                "UPDATE lease SET holder = $1, epoch = epoch + 1,
                        expires_at = now() + $2::bigint * interval '1 millisecond'
                 WHERE id = 1 AND epoch = $3 AND expires_at <= now()
                 RETURNING epoch",
                &[&holder, &ttl_ms, &(seen_epoch as i64)],
            )
            .await?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    })
}

/// Extends the lease held at `epoch`; `false` if it has been taken over. A renewal also moves
/// the journal's anchor (see `anchor.rs`) to the last committed batch: off the commit path, and
/// never past what is committed.
pub fn renew(db: &Arc<PgDb>, epoch: u64, ttl: Duration) -> Result<bool, JournalError> {
    let ttl_ms = ttl.as_millis() as i64;
    db.run(async {
        let client = db.client().await?;
        let n = client
            .execute(
                "UPDATE lease SET expires_at = now() + $2::bigint * interval '1 millisecond'
                 WHERE id = 1 AND epoch = $1",
                &[&(epoch as i64), &ttl_ms],
            )
            .await?;
        if n == 1 {
            advance_anchor(&client, epoch).await?;
        }
        Ok(n == 1)
    })
}

/// The journal's head as the lease row records it; `None` before any was recorded.
pub fn read_anchor(db: &Arc<PgDb>) -> Result<Option<Head>, JournalError> {
    db.run(async {
        let client = db.client().await?;
        let row = client
            .query_one("SELECT head_seq, head_hash FROM lease WHERE id = 1", &[])
            .await?;
        let seq = row.get::<_, i64>(0) as u64;
        match row.get::<_, Option<Vec<u8>>>(1) {
            Some(hash) if seq > 0 => Ok(Some(Head {
                seq,
                hash: to_hash(&hash)?,
            })),
            _ => Ok(None),
        }
    })
}

/// Sets the lease row's anchor to `head`, if this node still holds the lease at `epoch`: after
/// a start found the journal in line with it, or a user accepted a journal behind it.
pub fn write_anchor(db: &Arc<PgDb>, epoch: u64, head: &Head) -> Result<(), JournalError> {
    db.run(async {
        let client = db.client().await?;
        let n = client
            .execute(
                "UPDATE lease SET head_seq = $2, head_hash = $3 WHERE id = 1 AND epoch = $1",
                &[&(epoch as i64), &(head.seq as i64), &head.hash.as_slice()],
            )
            .await?;
        if n == 1 {
            Ok(())
        } else {
            Err(JournalError::Fenced(format!(
                "the writer's lease has moved past epoch {epoch}; the anchor was not written"
            )))
        }
    })
}

/// Moves the lease row's anchor to the last committed batch, if this node holds the lease at
/// `epoch` and the journal has moved past it.
async fn advance_anchor(client: &tokio_postgres::Client, epoch: u64) -> Result<(), JournalError> {
    client
        .execute(
            "UPDATE lease SET head_seq = h.seq, head_hash = h.hash
             FROM (SELECT seq, hash FROM batches ORDER BY seq DESC LIMIT 1) AS h
             WHERE lease.id = 1 AND lease.epoch = $1 AND h.seq > lease.head_seq",
            &[&(epoch as i64)],
        )
        .await?;
    Ok(())
}

/// Gives the lease up at once (a clean stop), so a standby need not wait for it to expire; the
/// anchor first follows the journal to its end.
pub fn release(db: &Arc<PgDb>, epoch: u64) -> Result<(), JournalError> {
    db.run(async {
        let client = db.client().await?;
        advance_anchor(&client, epoch).await?;
        client
            .execute(
                "UPDATE lease SET expires_at = now() WHERE id = 1 AND epoch = $1",
                &[&(epoch as i64)],
            )
            .await?;
        Ok(())
    })
}
