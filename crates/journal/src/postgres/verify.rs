//! `suanpan verify --postgres URL`: the same checks as on the SQLite file, read in one
//! repeatable-read transaction so that a leader writing meanwhile cannot show half a commit.

use std::collections::VecDeque;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::anchor::Anchor;
use crate::postgres::{stored_batch, PgDb};
use crate::record::GENESIS_HASH;
use crate::verify::{check_snapshot_bytes, AccountRow, Checker, PendingRow};
use crate::{JournalError, VerifyReport};

const PAGE: i64 = 256;

pub(crate) fn verify_postgres(
    db: &Arc<PgDb>,
    anchors: &[Anchor],
) -> Result<VerifyReport, JournalError> {
    let own = super::lease::read_anchor(db)?.map(|head| Anchor {
        head,
        source: format!("the lease row of {}", db.shown()),
    });
    let anchors: Vec<Anchor> = own.into_iter().chain(anchors.iter().cloned()).collect();
    db.run(async {
        let mut client = db.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let limits: Option<String> = tx
            .query_opt("SELECT value FROM meta WHERE key = 'tier_limits'", &[])
            .await?
            .map(|r| r.get(0));
        let limits = limits.ok_or_else(|| {
            JournalError::Io(format!("no journal in the database at {}", db.shown()))
        })?;
        let limits = crate::sqlite::limits_from_text(&limits)?;
        let snapshot = tx
            .query_opt(
                "SELECT seq, state_hash FROM snapshots WHERE complete ORDER BY seq DESC LIMIT 1",
                &[],
            )
            .await?
            .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, Vec<u8>>(1)));
        let mut retention = None;
        if let Some((seq, expected)) = &snapshot {
            let mut hasher = Sha256::new();
            for row in tx
                .query(
                    "SELECT data FROM snapshot_chunks WHERE seq = $1 ORDER BY chunk",
                    &[&(*seq as i64)],
                )
                .await?
            {
                let data = row.get::<_, &[u8]>(0);
                if retention.is_none() {
                    retention = suanpan_ledger::Ledger::snapshot_retention(data);
                }
                hasher.update(data);
            }
            check_snapshot_bytes(*seq, hasher.finalize().as_slice(), expected)?;
        }
        let accounts_at: u64 = tx
            .query_opt("SELECT value FROM meta WHERE key = 'accounts_seq'", &[])
            .await?
            .map(|r| r.get::<_, String>(0).parse().unwrap_or(u64::MAX))
            .unwrap_or(0);
        let mut checker = Checker::new(limits, snapshot, accounts_at, anchors);
        checker.snapshot_retention = retention;
        if checker.accounts_due(0) {
            checker.check_accounts(&accounts(&tx).await?)?;
        }
        let (mut after, mut prev) = (0u64, GENESIS_HASH);
        let mut transfer_rows: VecDeque<(u64, String)> = VecDeque::new();
        let mut rows_after = 0i64;
        loop {
            let page = tx
                .query(
                    "SELECT seq, accounting_date, body, results, hash FROM batches
                     WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&(after as i64), &PAGE],
                )
                .await?;
            if page.is_empty() {
                break;
            }
            for row in &page {
                let batch = stored_batch(row, after + 1, &prev)?;
                (after, prev) = (batch.seq, batch.hash);
                if let Some(expected) = checker.batch(&batch)? {
                    if transfer_rows.is_empty() {
                        for r in tx
                            .query(
                                "SELECT batch, rows FROM transfers_by_batch
                                 WHERE batch > $1 ORDER BY batch LIMIT $2",
                                &[&rows_after, &PAGE],
                            )
                            .await?
                        {
                            rows_after = r.get(0);
                            transfer_rows.push_back((rows_after as u64, r.get(1)));
                        }
                    }
                    checker.transfers(batch.seq, transfer_rows.pop_front(), &expected)?;
                }
                if checker.accounts_due(batch.seq) {
                    checker.check_accounts(&accounts(&tx).await?)?;
                }
            }
        }
        let extra = match transfer_rows.pop_front() {
            Some((batch, _)) => Some(batch),
            None => tx
                .query_opt(
                    "SELECT batch FROM transfers_by_batch WHERE batch > $1 ORDER BY batch LIMIT 1",
                    &[&rows_after],
                )
                .await?
                .map(|r| r.get::<_, i64>(0) as u64),
        };
        checker.no_more_transfers(extra)?;
        let pending: Vec<PendingRow> = tx
            .query(
                "SELECT id, status, expires_at, resolved_by FROM pending_transfers",
                &[],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        let report = checker.finish(&pending)?;
        tx.commit().await?;
        Ok(report)
    })
}

async fn accounts(tx: &tokio_postgres::Transaction<'_>) -> Result<Vec<AccountRow>, JournalError> {
    let rows = tx
        .query(
            "SELECT seq, id, currency, subject_code, owner, tier, bound_account, flags::bigint,
                    status, \"timestamp\", debits_posted::text, credits_posted::text,
                    debits_pending::text, credits_pending::text
             FROM accounts ORDER BY seq",
            &[],
        )
        .await?;
    let amount = |text: &str| -> Result<u128, JournalError> {
        text.parse().map_err(|_| {
            JournalError::Corrupt(format!("unreadable amount {text:?} in the accounts table"))
        })
    };
    rows.iter()
        .map(|r| {
            Ok((
                r.get::<_, i64>(0),
                (r.get(1), r.get(2), r.get(3), r.get::<_, i64>(4), r.get(5)),
                (r.get(6), r.get::<_, i64>(7), r.get(8), r.get::<_, i64>(9)),
                (
                    amount(r.get(10))?,
                    amount(r.get(11))?,
                    amount(r.get(12))?,
                    amount(r.get(13))?,
                ),
            ))
        })
        .collect()
}
