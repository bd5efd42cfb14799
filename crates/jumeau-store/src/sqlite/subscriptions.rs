//! The SQLite side of [`crate::SubscriptionStore`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jumeau_model::subscription::{Subscription, SubscriptionStatus};
use jumeau_model::{ErrorKind, NgsiError};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use super::{fmt_time, parse_time, sql_err, tenant_id, writer, SqliteStore};
use crate::subscriptions::{NewNotification, PendingNotification, SubscriptionRecord};
use crate::{StoreError, StoreResult, SubscriptionStore};

/// Tables of this module, applied by the schema migrations.
pub(super) const SCHEMA: &str = include_str!("subscriptions.sql");

/// The columns of a subscription row, as [`record_from_row`] reads them.
const SUBSCRIPTION_SELECT: &str = "SELECT t.name, s.doc, s.context, s.created_at, s.modified_at, \
     s.times_sent, s.times_failed, s.last_notification, s.last_success, s.last_failure, \
     s.last_error FROM subscriptions s JOIN tenants t ON t.id = s.tenant";

/// The columns of an outbox row, as [`pending_from_row`] reads them.
const OUTBOX_SELECT: &str = "SELECT o.seq, t.name, o.subscription, o.endpoint, o.payload, \
     o.attempts, o.next_attempt, o.last_error, o.failed_at \
     FROM notification_outbox o JOIN tenants t ON t.id = o.tenant";

fn encode(v: &impl serde::Serialize, what: &str) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot encode {what}: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("stored {what} does not decode: {e}")))
}

fn opt_time(s: Option<String>) -> StoreResult<Option<DateTime<Utc>>> {
    s.as_deref().map(parse_time).transpose()
}

fn col<T: rusqlite::types::FromSql>(row: &Row<'_>, i: usize) -> StoreResult<T> {
    row.get(i).map_err(sql_err)
}

fn record_from_row(row: &Row<'_>) -> StoreResult<SubscriptionRecord> {
    let doc: String = col(row, 1)?;
    let context: String = col(row, 2)?;
    Ok(SubscriptionRecord {
        tenant: col(row, 0)?,
        subscription: decode(&doc, "subscription")?,
        context: decode(&context, "subscription @context")?,
        created_at: parse_time(&col::<String>(row, 3)?)?,
        modified_at: parse_time(&col::<String>(row, 4)?)?,
        status: SubscriptionStatus {
            times_sent: col::<i64>(row, 5)?.max(0) as u64,
            times_failed: col::<i64>(row, 6)?.max(0) as u64,
            last_notification: opt_time(col(row, 7)?)?,
            last_success: opt_time(col(row, 8)?)?,
            last_failure: opt_time(col(row, 9)?)?,
            last_error_reason: col(row, 10)?,
        },
    })
}

fn pending_from_row(row: &Row<'_>) -> StoreResult<PendingNotification> {
    let payload: String = col(row, 4)?;
    Ok(PendingNotification {
        seq: col(row, 0)?,
        tenant: col(row, 1)?,
        subscription_id: col(row, 2)?,
        endpoint: col(row, 3)?,
        payload: decode(&payload, "notification")?,
        attempts: col::<i64>(row, 5)?.clamp(0, i64::from(u32::MAX)) as u32,
        next_attempt: parse_time(&col::<String>(row, 6)?)?,
        last_error: col(row, 7)?,
        failed_at: opt_time(col(row, 8)?)?,
    })
}

/// Runs a select and decodes every row with `read`.
fn collect<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(sql_err)?;
    let mut rows = stmt.query(params).map_err(sql_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sql_err)? {
        out.push(read(row)?);
    }
    Ok(out)
}

fn no_subscription(id: &str) -> StoreError {
    StoreError::Rejected(NgsiError::not_found(format!(
        "no subscription with id {id} in this tenant"
    )))
}

/// The statistics columns of the subscription of an outbox row, updated by `set` (SQL
/// assignments over the columns, with `?1` the time of the attempt and `?4` the reason).
fn update_status_of(
    conn: &Connection,
    tenant: i64,
    seq: i64,
    set: &str,
    at: &str,
    reason: Option<&str>,
) -> StoreResult<()> {
    conn.prepare_cached(&format!(
        "UPDATE subscriptions SET {set} WHERE tenant = ?2 AND id = \
         (SELECT subscription FROM notification_outbox WHERE seq = ?3 AND tenant = ?2)"
    ))
    .and_then(|mut s| s.execute(params![at, tenant, seq, reason]))
    .map_err(sql_err)?;
    Ok(())
}

/// Notifications given up that are kept per subscription: enough to see what a receiver
/// missed, bounded so that a receiver gone for good does not fill the disk.
const KEPT_FAILURES: i64 = 1000;

/// Deletes the oldest given-up notifications of the subscription of outbox row `seq`
/// beyond [`KEPT_FAILURES`].
fn forget_old_failures(conn: &Connection, tenant: i64, seq: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "DELETE FROM notification_outbox WHERE tenant = ?1 AND failed_at IS NOT NULL \
         AND subscription = (SELECT subscription FROM notification_outbox WHERE seq = ?2) \
         AND seq NOT IN (SELECT seq FROM notification_outbox WHERE tenant = ?1 \
             AND failed_at IS NOT NULL \
             AND subscription = (SELECT subscription FROM notification_outbox WHERE seq = ?2) \
             ORDER BY seq DESC LIMIT ?3)",
    )
    .and_then(|mut s| s.execute(params![tenant, seq, KEPT_FAILURES]))
    .map_err(sql_err)?;
    Ok(())
}

#[async_trait]
impl SubscriptionStore for SqliteStore {
    async fn create_subscription(
        &self,
        tenant: &str,
        subscription: Subscription,
        context: Value,
    ) -> StoreResult<()> {
        let tenant = tenant.to_string();
        let doc = encode(&subscription, "subscription")?;
        let context = encode(&context, "subscription @context")?;
        self.writer
            .submit(move |conn| {
                // Refuse before writing anything (the writer's rule for rejections).
                if let Some(t) = tenant_id(conn, &tenant)? {
                    let taken: Option<i64> = conn
                        .prepare_cached("SELECT 1 FROM subscriptions WHERE tenant = ?1 AND id = ?2")
                        .and_then(|mut s| {
                            s.query_row(params![t, subscription.id], |r| r.get(0))
                                .optional()
                        })
                        .map_err(sql_err)?;
                    if taken.is_some() {
                        return Err(StoreError::Rejected(NgsiError::new(
                            ErrorKind::AlreadyExists,
                            format!(
                                "a subscription with id {} already exists in this tenant; \
                                 choose another id, or change it with PATCH",
                                subscription.id
                            ),
                        )));
                    }
                }
                let t = writer::ensure_tenant(conn, &tenant)?;
                let now = fmt_time(&Utc::now());
                conn.prepare_cached(
                    "INSERT INTO subscriptions (tenant, id, seq, doc, context, created_at, modified_at) \
                     VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM subscriptions WHERE tenant = ?1), \
                     ?3, ?4, ?5, ?5)",
                )
                .and_then(|mut s| s.execute(params![t, subscription.id, doc, context, now]))
                .map_err(sql_err)?;
                Ok(())
            })
            .await
    }

    async fn subscription(
        &self,
        tenant: &str,
        id: &str,
    ) -> StoreResult<Option<SubscriptionRecord>> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.read(move |conn| {
            let mut found = collect(
                conn,
                &format!("{SUBSCRIPTION_SELECT} WHERE t.name = ?1 AND s.id = ?2"),
                params![tenant, id],
                record_from_row,
            )?;
            Ok(found.pop())
        })
        .await
    }

    async fn subscriptions(
        &self,
        tenant: &str,
        offset: usize,
        limit: usize,
    ) -> StoreResult<(Vec<SubscriptionRecord>, u64)> {
        let tenant = tenant.to_string();
        let (offset, limit) = (
            i64::try_from(offset).unwrap_or(i64::MAX),
            i64::try_from(limit).unwrap_or(i64::MAX),
        );
        self.read(move |conn| {
            let page = collect(
                conn,
                &format!(
                    "{SUBSCRIPTION_SELECT} WHERE t.name = ?1 ORDER BY s.seq LIMIT ?2 OFFSET ?3"
                ),
                params![tenant, limit, offset],
                record_from_row,
            )?;
            let total: i64 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM subscriptions WHERE tenant = \
                     (SELECT id FROM tenants WHERE name = ?1)",
                )
                .and_then(|mut s| s.query_row([&tenant], |r| r.get(0)))
                .map_err(sql_err)?;
            Ok((page, total.max(0) as u64))
        })
        .await
    }

    async fn all_subscriptions(&self) -> StoreResult<Vec<SubscriptionRecord>> {
        self.read(|conn| {
            collect(
                conn,
                &format!("{SUBSCRIPTION_SELECT} ORDER BY s.tenant, s.seq"),
                [],
                record_from_row,
            )
        })
        .await
    }

    async fn update_subscription(
        &self,
        tenant: &str,
        subscription: Subscription,
    ) -> StoreResult<()> {
        let tenant = tenant.to_string();
        let doc = encode(&subscription, "subscription")?;
        self.writer
            .submit(move |conn| {
                let t = tenant_id(conn, &tenant)?.ok_or_else(|| no_subscription(&subscription.id))?;
                let n = conn
                    .prepare_cached(
                        "UPDATE subscriptions SET doc = ?3, modified_at = ?4 WHERE tenant = ?1 AND id = ?2",
                    )
                    .and_then(|mut s| {
                        s.execute(params![t, subscription.id, doc, fmt_time(&Utc::now())])
                    })
                    .map_err(sql_err)?;
                // Nothing was written when no row matched.
                if n == 0 {
                    return Err(no_subscription(&subscription.id));
                }
                Ok(())
            })
            .await
    }

    async fn delete_subscription(&self, tenant: &str, id: &str) -> StoreResult<bool> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.writer
            .submit(move |conn| {
                let Some(t) = tenant_id(conn, &tenant)? else {
                    return Ok(false);
                };
                let n = conn
                    .prepare_cached("DELETE FROM subscriptions WHERE tenant = ?1 AND id = ?2")
                    .and_then(|mut s| s.execute(params![t, id]))
                    .map_err(sql_err)?;
                conn.prepare_cached(
                    "DELETE FROM notification_outbox WHERE tenant = ?1 AND subscription = ?2",
                )
                .and_then(|mut s| s.execute(params![t, id]))
                .map_err(sql_err)?;
                Ok(n > 0)
            })
            .await
    }

    async fn enqueue_notifications(
        &self,
        tenant: &str,
        items: Vec<NewNotification>,
    ) -> StoreResult<Vec<PendingNotification>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let tenant = tenant.to_string();
        let encoded = items
            .iter()
            .map(|i| encode(&i.payload, "notification"))
            .collect::<StoreResult<Vec<String>>>()?;
        self.writer
            .submit(move |conn| {
                let t = writer::ensure_tenant(conn, &tenant)?;
                let mut ins = conn
                    .prepare_cached(
                        "INSERT INTO notification_outbox (tenant, subscription, endpoint, payload, next_attempt) \
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .map_err(sql_err)?;
                let mut out = Vec::with_capacity(items.len());
                for (item, payload) in items.into_iter().zip(encoded) {
                    ins.execute(params![
                        t,
                        item.subscription_id,
                        item.endpoint,
                        payload,
                        fmt_time(&item.next_attempt)
                    ])
                    .map_err(sql_err)?;
                    out.push(PendingNotification {
                        seq: conn.last_insert_rowid(),
                        tenant: tenant.clone(),
                        subscription_id: item.subscription_id,
                        endpoint: item.endpoint,
                        payload: item.payload,
                        attempts: 0,
                        next_attempt: item.next_attempt,
                        last_error: None,
                        failed_at: None,
                    });
                }
                Ok(out)
            })
            .await
    }

    async fn pending_notifications(&self) -> StoreResult<Vec<PendingNotification>> {
        self.read(|conn| {
            collect(
                conn,
                &format!("{OUTBOX_SELECT} WHERE o.failed_at IS NULL ORDER BY o.seq"),
                [],
                pending_from_row,
            )
        })
        .await
    }

    async fn notification_delivered(
        &self,
        tenant: &str,
        seq: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let tenant = tenant.to_string();
        self.writer
            .submit(move |conn| {
                let Some(t) = tenant_id(conn, &tenant)? else {
                    return Ok(());
                };
                update_status_of(
                    conn,
                    t,
                    seq,
                    // The reason of the last failure is kept for the client to read.
                    "times_sent = times_sent + 1, last_notification = ?1, last_success = ?1, \
                     last_error = COALESCE(?4, last_error)",
                    &fmt_time(&at),
                    None,
                )?;
                conn.prepare_cached(
                    "DELETE FROM notification_outbox WHERE seq = ?1 AND tenant = ?2",
                )
                .and_then(|mut s| s.execute(params![seq, t]))
                .map_err(sql_err)?;
                Ok(())
            })
            .await
    }

    async fn notification_failed(
        &self,
        tenant: &str,
        seq: i64,
        at: DateTime<Utc>,
        reason: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        let (tenant, reason) = (tenant.to_string(), reason.to_string());
        self.writer
            .submit(move |conn| {
                let Some(t) = tenant_id(conn, &tenant)? else {
                    return Ok(());
                };
                let at = fmt_time(&at);
                update_status_of(
                    conn,
                    t,
                    seq,
                    "times_sent = times_sent + 1, times_failed = times_failed + 1, \
                     last_notification = ?1, last_failure = ?1, last_error = ?4",
                    &at,
                    Some(&reason),
                )?;
                let (next, failed_at) = match retry_at {
                    Some(r) => (fmt_time(&r), None),
                    None => (at.clone(), Some(at)),
                };
                let given_up = failed_at.is_some();
                conn.prepare_cached(
                    "UPDATE notification_outbox SET attempts = attempts + 1, next_attempt = ?3, \
                     last_error = ?4, failed_at = ?5 WHERE seq = ?1 AND tenant = ?2",
                )
                .and_then(|mut s| s.execute(params![seq, t, next, reason, failed_at]))
                .map_err(sql_err)?;
                if given_up {
                    forget_old_failures(conn, t, seq)?;
                }
                Ok(())
            })
            .await
    }

    async fn failed_notifications(
        &self,
        tenant: &str,
        subscription_id: &str,
    ) -> StoreResult<Vec<PendingNotification>> {
        let (tenant, id) = (tenant.to_string(), subscription_id.to_string());
        self.read(move |conn| {
            collect(
                conn,
                &format!(
                    "{OUTBOX_SELECT} WHERE t.name = ?1 AND o.subscription = ?2 \
                     AND o.failed_at IS NOT NULL ORDER BY o.seq"
                ),
                params![tenant, id],
                pending_from_row,
            )
        })
        .await
    }
}
