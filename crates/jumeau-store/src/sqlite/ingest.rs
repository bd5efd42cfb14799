//! The SQLite side of [`crate::IngestStore`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension};

use super::{fmt_time, parse_time, sql_err, SqliteStore};
use crate::ingest::{
    Counters, DeadLetter, DeadLetterFilter, DeviceRecord, IngestCommit, JournalEntry,
    NewDeadLetter, NewJournalEntry,
};
use crate::{IngestStore, StoreError, StoreResult};

/// Tables of this module, applied by the schema migrations.
pub(super) const SCHEMA: &str = include_str!("ingest.sql");

/// Adds counters in the open transaction.
fn add_counters(conn: &Connection, counters: &[Counters]) -> StoreResult<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO ingest_counters (tenant, source, dev_eui, received, accepted, duplicated, rejected) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (tenant, source, dev_eui) DO UPDATE SET \
             received = received + excluded.received, accepted = accepted + excluded.accepted, \
             duplicated = duplicated + excluded.duplicated, rejected = rejected + excluded.rejected",
        )
        .map_err(sql_err)?;
    for c in counters {
        stmt.execute(params![
            c.tenant,
            c.source,
            c.dev_eui,
            clamp(c.received),
            clamp(c.accepted),
            clamp(c.duplicated),
            clamp(c.rejected)
        ])
        .map_err(sql_err)?;
    }
    Ok(())
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unclamp(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Inserts or replaces one dead letter in the open transaction.
fn put_dead_letter(conn: &Connection, d: &NewDeadLetter, now: &str) -> StoreResult<()> {
    let m = &d.message;
    if let Some(id) = d.replaces {
        let n = conn
            .prepare_cached(
                "UPDATE ingest_dead_letters SET reason = ?3, dev_eui = COALESCE(?4, dev_eui), \
                 created_at = ?5, attempts = attempts + 1 WHERE tenant = ?1 AND id = ?2",
            )
            .and_then(|mut s| s.execute(params![d.tenant, id, d.reason, d.dev_eui, now]))
            .map_err(sql_err)?;
        if n > 0 {
            return Ok(());
        }
    }
    conn.prepare_cached(
        "INSERT INTO ingest_dead_letters \
         (tenant, source, transport, kind, dev_eui, reason, body, received_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut s| {
        s.execute(params![
            d.tenant,
            m.source,
            m.transport,
            m.kind,
            d.dev_eui,
            d.reason,
            m.body,
            fmt_time(&m.received_at),
            now
        ])
    })
    .map_err(sql_err)?;
    Ok(())
}

fn decode_device(doc: &str) -> StoreResult<DeviceRecord> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("device record: {e}")))
}

/// Reads the device documents a query selects.
fn device_rows(
    conn: &Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> StoreResult<Vec<(String, DeviceRecord)>> {
    let mut stmt = conn.prepare_cached(sql).map_err(sql_err)?;
    let mut rows = stmt.query(args).map_err(sql_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sql_err)? {
        let tenant: String = row.get(0).map_err(sql_err)?;
        let doc: String = row.get(1).map_err(sql_err)?;
        out.push((tenant, decode_device(&doc)?));
    }
    Ok(out)
}

/// The message columns (source, transport, kind, body, received_at) from `first` on.
fn message_from_row(row: &rusqlite::Row<'_>, first: usize) -> StoreResult<NewJournalEntry> {
    let received: String = row.get(first + 4).map_err(sql_err)?;
    Ok(NewJournalEntry {
        source: row.get(first).map_err(sql_err)?,
        transport: row.get(first + 1).map_err(sql_err)?,
        kind: row.get(first + 2).map_err(sql_err)?,
        body: row.get(first + 3).map_err(sql_err)?,
        received_at: parse_time(&received)?,
    })
}

#[async_trait]
impl IngestStore for SqliteStore {
    async fn journal_append(
        &self,
        tenant: &str,
        entries: Vec<NewJournalEntry>,
        counters: Vec<Counters>,
    ) -> StoreResult<Vec<i64>> {
        let tenant = tenant.to_string();
        self.writer
            .submit(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "INSERT INTO ingest_journal (tenant, source, transport, kind, body, received_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .map_err(sql_err)?;
                let mut seqs = Vec::with_capacity(entries.len());
                for e in &entries {
                    stmt.execute(params![
                        tenant,
                        e.source,
                        e.transport,
                        e.kind,
                        e.body,
                        fmt_time(&e.received_at)
                    ])
                    .map_err(sql_err)?;
                    seqs.push(conn.last_insert_rowid());
                }
                add_counters(conn, &counters)?;
                Ok(seqs)
            })
            .await
    }

    async fn journal_pending(&self, after: i64, limit: usize) -> StoreResult<Vec<JournalEntry>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT seq, tenant, source, transport, kind, body, received_at FROM ingest_journal \
                     WHERE processed_at IS NULL AND seq > ?1 ORDER BY seq LIMIT ?2",
                )
                .map_err(sql_err)?;
            let mut rows = stmt
                .query(params![after, clamp(limit as u64)])
                .map_err(sql_err)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(sql_err)? {
                out.push(JournalEntry {
                    seq: row.get(0).map_err(sql_err)?,
                    tenant: row.get(1).map_err(sql_err)?,
                    entry: message_from_row(row, 2)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn ingest_commit(&self, commit: IngestCommit) -> StoreResult<()> {
        self.writer
            .submit(move |conn| {
                let now = fmt_time(&Utc::now());
                let mut mark = conn
                    .prepare_cached("UPDATE ingest_journal SET processed_at = ?2 WHERE seq = ?1")
                    .map_err(sql_err)?;
                for seq in &commit.processed {
                    mark.execute(params![seq, now]).map_err(sql_err)?;
                }
                for d in &commit.dead_letters {
                    put_dead_letter(conn, d, &now)?;
                }
                let mut resolve = conn
                    .prepare_cached("DELETE FROM ingest_dead_letters WHERE tenant = ?1 AND id = ?2")
                    .map_err(sql_err)?;
                for (tenant, id) in &commit.resolved {
                    resolve.execute(params![tenant, id]).map_err(sql_err)?;
                }
                add_counters(conn, &commit.counters)
            })
            .await
    }

    async fn journal_prune(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let before = fmt_time(&before);
        self.writer
            .submit(move |conn| {
                let n = conn
                    .execute(
                        "DELETE FROM ingest_journal WHERE processed_at IS NOT NULL AND processed_at < ?1",
                        [before],
                    )
                    .map_err(sql_err)?;
                Ok(n as u64)
            })
            .await
    }

    async fn journal_backlog(&self, tenant: &str) -> StoreResult<u64> {
        let tenant = tenant.to_string();
        self.read(move |conn| {
            let n: i64 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM ingest_journal WHERE processed_at IS NULL AND tenant = ?1",
                )
                .and_then(|mut s| s.query_row([tenant], |r| r.get(0)))
                .map_err(sql_err)?;
            Ok(unclamp(n))
        })
        .await
    }

    async fn dead_letters(
        &self,
        tenant: &str,
        filter: &DeadLetterFilter,
    ) -> StoreResult<Vec<DeadLetter>> {
        let (tenant, filter) = (tenant.to_string(), filter.clone());
        self.read(move |conn| {
            let mut sql = String::from(
                "SELECT id, tenant, source, transport, kind, body, received_at, dev_eui, reason, \
                 created_at, attempts FROM ingest_dead_letters WHERE tenant = ?1",
            );
            let mut args = vec![SqlValue::Text(tenant)];
            if let Some(d) = filter.dev_eui {
                args.push(SqlValue::Text(d));
                sql.push_str(&format!(" AND dev_eui = ?{}", args.len()));
            }
            if let Some(a) = filter.after_id {
                args.push(SqlValue::Integer(a));
                sql.push_str(&format!(" AND id > ?{}", args.len()));
            }
            if !filter.ids.is_empty() {
                let list: Vec<String> = filter
                    .ids
                    .iter()
                    .map(|i| {
                        args.push(SqlValue::Integer(*i));
                        format!("?{}", args.len())
                    })
                    .collect();
                sql.push_str(&format!(" AND id IN ({})", list.join(",")));
            }
            sql.push_str(" ORDER BY id");
            if filter.limit > 0 {
                sql.push_str(&format!(" LIMIT {}", filter.limit));
            }
            let mut stmt = conn.prepare(&sql).map_err(sql_err)?;
            let mut rows = stmt
                .query(rusqlite::params_from_iter(args.iter()))
                .map_err(sql_err)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(sql_err)? {
                let created: String = row.get(9).map_err(sql_err)?;
                let attempts: i64 = row.get(10).map_err(sql_err)?;
                out.push(DeadLetter {
                    id: row.get(0).map_err(sql_err)?,
                    tenant: row.get(1).map_err(sql_err)?,
                    message: message_from_row(row, 2)?,
                    dev_eui: row.get(7).map_err(sql_err)?,
                    reason: row.get(8).map_err(sql_err)?,
                    created_at: parse_time(&created)?,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn put_device(&self, tenant: &str, device: DeviceRecord) -> StoreResult<bool> {
        let tenant = tenant.to_string();
        let doc = serde_json::to_string(&device)
            .map_err(|e| StoreError::Corrupt(format!("device record: {e}")))?;
        self.writer
            .submit(move |conn| {
                let existed: Option<i64> = conn
                    .prepare_cached(
                        "SELECT 1 FROM ingest_devices WHERE tenant = ?1 AND dev_eui = ?2",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![tenant, device.dev_eui], |r| r.get(0))
                            .optional()
                    })
                    .map_err(sql_err)?;
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO ingest_devices (tenant, dev_eui, doc) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![tenant, device.dev_eui, doc]))
                .map_err(sql_err)?;
                Ok(existed.is_none())
            })
            .await
    }

    async fn device(&self, tenant: &str, dev_eui: &str) -> StoreResult<Option<DeviceRecord>> {
        let (tenant, dev_eui) = (tenant.to_string(), dev_eui.to_string());
        self.read(move |conn| {
            let doc: Option<String> = conn
                .prepare_cached("SELECT doc FROM ingest_devices WHERE tenant = ?1 AND dev_eui = ?2")
                .and_then(|mut s| {
                    s.query_row(params![tenant, dev_eui], |r| r.get(0))
                        .optional()
                })
                .map_err(sql_err)?;
            doc.as_deref().map(decode_device).transpose()
        })
        .await
    }

    async fn devices(&self, tenant: &str) -> StoreResult<Vec<DeviceRecord>> {
        let tenant = tenant.to_string();
        self.read(move |conn| {
            Ok(device_rows(
                conn,
                "SELECT tenant, doc FROM ingest_devices WHERE tenant = ?1 ORDER BY dev_eui",
                &[&tenant],
            )?
            .into_iter()
            .map(|(_, d)| d)
            .collect())
        })
        .await
    }

    async fn all_devices(&self) -> StoreResult<Vec<(String, DeviceRecord)>> {
        self.read(|conn| {
            device_rows(
                conn,
                "SELECT tenant, doc FROM ingest_devices ORDER BY tenant, dev_eui",
                &[],
            )
        })
        .await
    }

    async fn delete_device(&self, tenant: &str, dev_eui: &str) -> StoreResult<bool> {
        let (tenant, dev_eui) = (tenant.to_string(), dev_eui.to_string());
        self.writer
            .submit(move |conn| {
                let n = conn
                    .execute(
                        "DELETE FROM ingest_devices WHERE tenant = ?1 AND dev_eui = ?2",
                        params![tenant, dev_eui],
                    )
                    .map_err(sql_err)?;
                Ok(n > 0)
            })
            .await
    }

    async fn counters(&self, tenant: Option<&str>) -> StoreResult<Vec<Counters>> {
        let tenant = tenant.map(str::to_string);
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT tenant, source, dev_eui, received, accepted, duplicated, rejected \
                     FROM ingest_counters WHERE ?1 IS NULL OR tenant = ?1 \
                     ORDER BY tenant, source, dev_eui",
                )
                .map_err(sql_err)?;
            let mut rows = stmt.query([tenant]).map_err(sql_err)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(sql_err)? {
                out.push(Counters {
                    tenant: row.get(0).map_err(sql_err)?,
                    source: row.get(1).map_err(sql_err)?,
                    dev_eui: row.get(2).map_err(sql_err)?,
                    received: unclamp(row.get(3).map_err(sql_err)?),
                    accepted: unclamp(row.get(4).map_err(sql_err)?),
                    duplicated: unclamp(row.get(5).map_err(sql_err)?),
                    rejected: unclamp(row.get(6).map_err(sql_err)?),
                });
            }
            Ok(out)
        })
        .await
    }
}
