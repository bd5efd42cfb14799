//! [`crate::IngestStore`] on PostgreSQL: the same rules as the embedded engine (tables in
//! `ingest.sql`).
//!
//! On Citus every table is distributed on `tenant_id`, co-located with the entities; the
//! recovery at start and the pruning of the journal fan out to every shard, and marking
//! entries processed by number alone (the journal numbers are unique across tenants) is a
//! multi-shard update.
//!
//! Journal appends and processing rounds are one transaction each, committed before the
//! call returns, so a message is acknowledged only once it is durable. Times are kept as
//! `timestamptz`, to the microsecond.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::{pg_err, PgStore};
use crate::ingest::{
    Counters, DeadLetter, DeadLetterFilter, DeviceRecord, IngestCommit, JournalEntry,
    NewDeadLetter, NewJournalEntry,
};
use crate::{IngestStore, StoreError, StoreResult};

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unclamp(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn col<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> StoreResult<T> {
    row.try_get(i).map_err(pg_err)
}

/// Adds counters in the open transaction, in one statement.
async fn add_counters(
    tx: &deadpool_postgres::Transaction<'_>,
    counters: &[Counters],
) -> StoreResult<()> {
    if counters.is_empty() {
        return Ok(());
    }
    let col_of =
        |f: fn(&Counters) -> u64| -> Vec<i64> { counters.iter().map(|c| clamp(f(c))).collect() };
    let tenants: Vec<&str> = counters.iter().map(|c| c.tenant.as_str()).collect();
    let sources: Vec<&str> = counters.iter().map(|c| c.source.as_str()).collect();
    let devices: Vec<&str> = counters.iter().map(|c| c.dev_eui.as_str()).collect();
    let (received, accepted, duplicated, rejected) = (
        col_of(|c| c.received),
        col_of(|c| c.accepted),
        col_of(|c| c.duplicated),
        col_of(|c| c.rejected),
    );
    // Rows for the same key are summed first: one statement may not update a row twice.
    let stmt = tx
        .prepare_cached(
            "INSERT INTO ingest_counters AS c \
             (tenant_id, source, dev_eui, received, accepted, duplicated, rejected) \
             SELECT t, s, d, sum(r), sum(a), sum(u), sum(j) FROM unnest($1::text[], $2::text[], \
             $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[]) \
             AS x(t, s, d, r, a, u, j) GROUP BY t, s, d \
             ON CONFLICT (tenant_id, source, dev_eui) DO UPDATE SET \
             received = c.received + excluded.received, accepted = c.accepted + excluded.accepted, \
             duplicated = c.duplicated + excluded.duplicated, rejected = c.rejected + excluded.rejected",
        )
        .await
        .map_err(pg_err)?;
    tx.execute(
        &stmt,
        &[
            &tenants,
            &sources,
            &devices,
            &received,
            &accepted,
            &duplicated,
            &rejected,
        ],
    )
    .await
    .map_err(pg_err)?;
    Ok(())
}

/// Inserts or replaces one dead letter in the open transaction.
async fn put_dead_letter(
    tx: &deadpool_postgres::Transaction<'_>,
    d: &NewDeadLetter,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let m = &d.message;
    if let Some(id) = d.replaces {
        let n = tx
            .execute(
                "UPDATE ingest_dead_letters SET reason = $3, dev_eui = COALESCE($4, dev_eui), \
                 created_at = $5, attempts = attempts + 1 WHERE tenant_id = $1 AND id = $2",
                &[&d.tenant, &id, &d.reason, &d.dev_eui, &now],
            )
            .await
            .map_err(pg_err)?;
        if n > 0 {
            return Ok(());
        }
    }
    tx.execute(
        "INSERT INTO ingest_dead_letters \
         (tenant_id, source, transport, kind, dev_eui, reason, body, received_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &d.tenant,
            &m.source,
            &m.transport,
            &m.kind,
            &d.dev_eui,
            &d.reason,
            &m.body,
            &m.received_at,
            &now,
        ],
    )
    .await
    .map_err(pg_err)?;
    Ok(())
}

fn decode_device(doc: &str) -> StoreResult<DeviceRecord> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("device record: {e}")))
}

/// The message columns (source, transport, kind, body, received_at) from `first` on.
fn message_from_row(row: &Row, first: usize) -> StoreResult<NewJournalEntry> {
    Ok(NewJournalEntry {
        source: col(row, first)?,
        transport: col(row, first + 1)?,
        kind: col(row, first + 2)?,
        body: col(row, first + 3)?,
        received_at: col(row, first + 4)?,
    })
}

#[async_trait]
impl IngestStore for PgStore {
    async fn journal_append(
        &self,
        tenant: &str,
        entries: Vec<NewJournalEntry>,
        counters: Vec<Counters>,
    ) -> StoreResult<Vec<i64>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let mut seqs = Vec::with_capacity(entries.len());
        if !entries.is_empty() {
            let sources: Vec<&str> = entries.iter().map(|e| e.source.as_str()).collect();
            let transports: Vec<&str> = entries.iter().map(|e| e.transport.as_str()).collect();
            let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
            let bodies: Vec<&[u8]> = entries.iter().map(|e| e.body.as_slice()).collect();
            let received: Vec<DateTime<Utc>> = entries.iter().map(|e| e.received_at).collect();
            // Numbers are drawn in the order of the rows, which follow the order of entries.
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO ingest_journal (tenant_id, source, transport, kind, body, received_at) \
                     SELECT $1, s, t, k, b, r FROM unnest($2::text[], $3::text[], $4::text[], \
                     $5::bytea[], $6::timestamptz[]) WITH ORDINALITY AS x(s, t, k, b, r, o) \
                     ORDER BY o RETURNING seq",
                )
                .await
                .map_err(pg_err)?;
            let rows = tx
                .query(
                    &stmt,
                    &[&tenant, &sources, &transports, &kinds, &bodies, &received],
                )
                .await
                .map_err(pg_err)?;
            for r in &rows {
                seqs.push(col::<i64>(r, 0)?);
            }
            seqs.sort_unstable();
        }
        add_counters(&tx, &counters).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(seqs)
    }

    async fn journal_pending(&self, after: i64, limit: usize) -> StoreResult<Vec<JournalEntry>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT seq, tenant_id, source, transport, kind, body, received_at FROM ingest_journal \
                 WHERE processed_at IS NULL AND seq > $1 ORDER BY seq LIMIT $2",
            )
            .await
            .map_err(pg_err)?;
        let rows = client
            .query(&stmt, &[&after, &clamp(limit as u64)])
            .await
            .map_err(pg_err)?;
        rows.iter()
            .map(|row| {
                Ok(JournalEntry {
                    seq: col(row, 0)?,
                    tenant: col(row, 1)?,
                    entry: message_from_row(row, 2)?,
                })
            })
            .collect()
    }

    async fn ingest_commit(&self, commit: IngestCommit) -> StoreResult<()> {
        let now = Utc::now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        if !commit.processed.is_empty() {
            tx.execute(
                "UPDATE ingest_journal SET processed_at = $2 WHERE seq = ANY($1) \
                 AND processed_at IS NULL",
                &[&commit.processed, &now],
            )
            .await
            .map_err(pg_err)?;
        }
        for d in &commit.dead_letters {
            put_dead_letter(&tx, d, now).await?;
        }
        if !commit.resolved.is_empty() {
            let tenants: Vec<&str> = commit.resolved.iter().map(|(t, _)| t.as_str()).collect();
            let ids: Vec<i64> = commit.resolved.iter().map(|(_, i)| *i).collect();
            tx.execute(
                "DELETE FROM ingest_dead_letters d USING unnest($1::text[], $2::bigint[]) AS x(t, i) \
                 WHERE d.tenant_id = x.t AND d.id = x.i",
                &[&tenants, &ids],
            )
            .await
            .map_err(pg_err)?;
        }
        add_counters(&tx, &commit.counters).await?;
        tx.commit().await.map_err(pg_err)
    }

    async fn journal_prune(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM ingest_journal WHERE processed_at IS NOT NULL AND processed_at < $1",
                &[&before],
            )
            .await
            .map_err(pg_err)
    }

    async fn journal_backlog(&self, tenant: &str) -> StoreResult<u64> {
        let client = self.client().await?;
        let n: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM ingest_journal WHERE processed_at IS NULL AND tenant_id = $1",
                &[&tenant],
            )
            .await
            .and_then(|r| r.try_get(0))
            .map_err(pg_err)?;
        Ok(unclamp(n))
    }

    async fn dead_letters(
        &self,
        tenant: &str,
        filter: &DeadLetterFilter,
    ) -> StoreResult<Vec<DeadLetter>> {
        let ids: Option<&[i64]> = (!filter.ids.is_empty()).then_some(filter.ids.as_slice());
        let limit: Option<i64> = (filter.limit > 0).then(|| clamp(filter.limit as u64));
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, tenant_id, source, transport, kind, body, received_at, dev_eui, reason, \
                 created_at, attempts FROM ingest_dead_letters WHERE tenant_id = $1 \
                 AND ($2::text IS NULL OR dev_eui = $2) AND ($3::bigint IS NULL OR id > $3) \
                 AND ($4::bigint[] IS NULL OR id = ANY($4)) ORDER BY id LIMIT $5",
            )
            .await
            .map_err(pg_err)?;
        let rows = client
            .query(
                &stmt,
                &[&tenant, &filter.dev_eui, &filter.after_id, &ids, &limit],
            )
            .await
            .map_err(pg_err)?;
        rows.iter()
            .map(|row| {
                Ok(DeadLetter {
                    id: col(row, 0)?,
                    tenant: col(row, 1)?,
                    message: message_from_row(row, 2)?,
                    dev_eui: col(row, 7)?,
                    reason: col(row, 8)?,
                    created_at: col(row, 9)?,
                    attempts: u32::try_from(col::<i64>(row, 10)?).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    async fn put_device(&self, tenant: &str, device: DeviceRecord) -> StoreResult<bool> {
        let doc = serde_json::to_string(&device)
            .map_err(|e| StoreError::Corrupt(format!("device record: {e}")))?;
        let client = self.client().await?;
        // xmax is 0 for a row this statement inserted, not for one it updated.
        let row = client
            .query_one(
                "INSERT INTO ingest_devices (tenant_id, dev_eui, doc) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id, dev_eui) DO UPDATE SET doc = excluded.doc \
                 RETURNING (xmax = 0)",
                &[&tenant, &device.dev_eui, &doc],
            )
            .await
            .map_err(pg_err)?;
        col(&row, 0)
    }

    async fn device(&self, tenant: &str, dev_eui: &str) -> StoreResult<Option<DeviceRecord>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT doc FROM ingest_devices WHERE tenant_id = $1 AND dev_eui = $2",
                &[&tenant, &dev_eui],
            )
            .await
            .map_err(pg_err)?;
        match row {
            Some(r) => Ok(Some(decode_device(col::<&str>(&r, 0)?)?)),
            None => Ok(None),
        }
    }

    async fn devices(&self, tenant: &str) -> StoreResult<Vec<DeviceRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT doc FROM ingest_devices WHERE tenant_id = $1 ORDER BY dev_eui",
                &[&tenant],
            )
            .await
            .map_err(pg_err)?;
        rows.iter()
            .map(|r| decode_device(col::<&str>(r, 0)?))
            .collect()
    }

    async fn all_devices(&self) -> StoreResult<Vec<(String, DeviceRecord)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT tenant_id, doc FROM ingest_devices ORDER BY tenant_id, dev_eui",
                &[],
            )
            .await
            .map_err(pg_err)?;
        rows.iter()
            .map(|r| Ok((col(r, 0)?, decode_device(col::<&str>(r, 1)?)?)))
            .collect()
    }

    async fn delete_device(&self, tenant: &str, dev_eui: &str) -> StoreResult<bool> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM ingest_devices WHERE tenant_id = $1 AND dev_eui = $2",
                &[&tenant, &dev_eui],
            )
            .await
            .map_err(pg_err)?;
        Ok(n > 0)
    }

    async fn counters(&self, tenant: Option<&str>) -> StoreResult<Vec<Counters>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT tenant_id, source, dev_eui, received, accepted, duplicated, rejected \
                 FROM ingest_counters WHERE $1::text IS NULL OR tenant_id = $1 \
                 ORDER BY tenant_id, source, dev_eui",
                &[&tenant],
            )
            .await
            .map_err(pg_err)?;
        rows.iter()
            .map(|row| {
                Ok(Counters {
                    tenant: col(row, 0)?,
                    source: col(row, 1)?,
                    dev_eui: col(row, 2)?,
                    received: unclamp(col(row, 3)?),
                    accepted: unclamp(col(row, 4)?),
                    duplicated: unclamp(col(row, 5)?),
                    rejected: unclamp(col(row, 6)?),
                })
            })
            .collect()
    }
}
