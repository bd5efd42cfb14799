//! [`crate::SubscriptionStore`] on PostgreSQL: the same rules as the embedded engine
//! (tables in `subscriptions.sql`).
//!
//! On Citus both tables are distributed on `tenant_id` (`create_distributed_table(
//! 'subscriptions', 'tenant_id', colocate_with => 'entities')`, the same for
//! `notification_outbox`): a tenant's subscriptions and pending notifications live with its
//! entities; the two calls that read every tenant at start fan out to every shard.
//!
//! Times are kept as `timestamptz`, to the microsecond. Recording a delivery or a failed
//! attempt is one statement (a data-modifying CTE over the outbox row and its
//! subscription), so it is atomic without a transaction of its own.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jumeau_model::subscription::{Subscription, SubscriptionStatus};
use jumeau_model::{ErrorKind, NgsiError};
use serde_json::Value;
use tokio_postgres::Row;

use super::{pg_err, PgStore};
use crate::subscriptions::{NewNotification, PendingNotification, SubscriptionRecord};
use crate::{StoreError, StoreResult, SubscriptionStore};

/// The columns of a subscription row, as [`record_from_row`] reads them.
const SUBSCRIPTION_SELECT: &str = "SELECT tenant_id, doc, context, created_at, modified_at, \
     times_sent, times_failed, last_notification, last_success, last_failure, last_error \
     FROM subscriptions";

/// The columns of an outbox row, as [`pending_from_row`] reads them.
const OUTBOX_SELECT: &str = "SELECT seq, tenant_id, subscription, endpoint, payload, attempts, \
     next_attempt, last_error, failed_at FROM notification_outbox";

/// Notifications given up that are kept per subscription, as on the embedded engine.
const KEPT_FAILURES: i64 = 1000;

fn encode(v: &impl serde::Serialize, what: &str) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot encode {what}: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("stored {what} does not decode: {e}")))
}

fn col<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> StoreResult<T> {
    row.try_get(i).map_err(pg_err)
}

fn record_from_row(row: &Row) -> StoreResult<SubscriptionRecord> {
    Ok(SubscriptionRecord {
        tenant: col(row, 0)?,
        subscription: decode(col::<&str>(row, 1)?, "subscription")?,
        context: decode(col::<&str>(row, 2)?, "subscription @context")?,
        created_at: col(row, 3)?,
        modified_at: col(row, 4)?,
        status: SubscriptionStatus {
            times_sent: col::<i64>(row, 5)?.max(0) as u64,
            times_failed: col::<i64>(row, 6)?.max(0) as u64,
            last_notification: col(row, 7)?,
            last_success: col(row, 8)?,
            last_failure: col(row, 9)?,
            last_error_reason: col(row, 10)?,
        },
    })
}

fn pending_from_row(row: &Row) -> StoreResult<PendingNotification> {
    Ok(PendingNotification {
        seq: col(row, 0)?,
        tenant: col(row, 1)?,
        subscription_id: col(row, 2)?,
        endpoint: col(row, 3)?,
        payload: decode(col::<&str>(row, 4)?, "notification")?,
        attempts: col::<i64>(row, 5)?.clamp(0, i64::from(u32::MAX)) as u32,
        next_attempt: col(row, 6)?,
        last_error: col(row, 7)?,
        failed_at: col(row, 8)?,
    })
}

fn no_subscription(id: &str) -> StoreError {
    StoreError::Rejected(NgsiError::not_found(format!(
        "no subscription with id {id} in this tenant"
    )))
}

impl PgStore {
    /// Runs a select and decodes every row with `read`.
    async fn rows_of<T>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        read: fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(pg_err)?;
        let rows = client.query(&stmt, params).await.map_err(pg_err)?;
        rows.iter().map(read).collect()
    }
}

#[async_trait]
impl SubscriptionStore for PgStore {
    async fn create_subscription(
        &self,
        tenant: &str,
        subscription: Subscription,
        context: Value,
    ) -> StoreResult<()> {
        let doc = encode(&subscription, "subscription")?;
        let context = encode(&context, "subscription @context")?;
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO subscriptions (tenant_id, id, seq, doc, context, created_at, modified_at) \
                 VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM subscriptions WHERE tenant_id = $1), \
                 $3, $4, $5, $5) ON CONFLICT (tenant_id, id) DO NOTHING",
            )
            .await
            .map_err(pg_err)?;
        let n = client
            .execute(
                &stmt,
                &[&tenant, &subscription.id, &doc, &context, &Utc::now()],
            )
            .await
            .map_err(pg_err)?;
        if n == 0 {
            return Err(StoreError::Rejected(NgsiError::new(
                ErrorKind::AlreadyExists,
                format!(
                    "a subscription with id {} already exists in this tenant; \
                     choose another id, or change it with PATCH",
                    subscription.id
                ),
            )));
        }
        Ok(())
    }

    async fn subscription(
        &self,
        tenant: &str,
        id: &str,
    ) -> StoreResult<Option<SubscriptionRecord>> {
        let mut found = self
            .rows_of(
                &format!("{SUBSCRIPTION_SELECT} WHERE tenant_id = $1 AND id = $2"),
                &[&tenant, &id],
                record_from_row,
            )
            .await?;
        Ok(found.pop())
    }

    async fn subscriptions(
        &self,
        tenant: &str,
        offset: usize,
        limit: usize,
    ) -> StoreResult<(Vec<SubscriptionRecord>, u64)> {
        let (offset, limit) = (
            i64::try_from(offset).unwrap_or(i64::MAX),
            i64::try_from(limit).unwrap_or(i64::MAX),
        );
        let page = self
            .rows_of(
                &format!(
                    "{SUBSCRIPTION_SELECT} WHERE tenant_id = $1 ORDER BY seq, id LIMIT $2 OFFSET $3"
                ),
                &[&tenant, &limit, &offset],
                record_from_row,
            )
            .await?;
        let client = self.client().await?;
        let total: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM subscriptions WHERE tenant_id = $1",
                &[&tenant],
            )
            .await
            .and_then(|r| r.try_get(0))
            .map_err(pg_err)?;
        Ok((page, total.max(0) as u64))
    }

    async fn all_subscriptions(&self) -> StoreResult<Vec<SubscriptionRecord>> {
        self.rows_of(
            &format!("{SUBSCRIPTION_SELECT} ORDER BY tenant_id, seq, id"),
            &[],
            record_from_row,
        )
        .await
    }

    async fn update_subscription(
        &self,
        tenant: &str,
        subscription: Subscription,
    ) -> StoreResult<()> {
        let doc = encode(&subscription, "subscription")?;
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE subscriptions SET doc = $3, modified_at = $4 WHERE tenant_id = $1 AND id = $2",
                &[&tenant, &subscription.id, &doc, &Utc::now()],
            )
            .await
            .map_err(pg_err)?;
        if n == 0 {
            return Err(no_subscription(&subscription.id));
        }
        Ok(())
    }

    async fn delete_subscription(&self, tenant: &str, id: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let n = tx
            .execute(
                "DELETE FROM subscriptions WHERE tenant_id = $1 AND id = $2",
                &[&tenant, &id],
            )
            .await
            .map_err(pg_err)?;
        tx.execute(
            "DELETE FROM notification_outbox WHERE tenant_id = $1 AND subscription = $2",
            &[&tenant, &id],
        )
        .await
        .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        Ok(n > 0)
    }

    async fn enqueue_notifications(
        &self,
        tenant: &str,
        items: Vec<NewNotification>,
    ) -> StoreResult<Vec<PendingNotification>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let payloads = items
            .iter()
            .map(|i| encode(&i.payload, "notification"))
            .collect::<StoreResult<Vec<String>>>()?;
        let subs: Vec<&str> = items.iter().map(|i| i.subscription_id.as_str()).collect();
        let endpoints: Vec<&str> = items.iter().map(|i| i.endpoint.as_str()).collect();
        let next: Vec<DateTime<Utc>> = items.iter().map(|i| i.next_attempt).collect();
        let client = self.client().await?;
        // Numbers are drawn in the order of the rows, which follow the order of the items.
        let stmt = client
            .prepare_cached(
                "INSERT INTO notification_outbox (tenant_id, subscription, endpoint, payload, next_attempt) \
                 SELECT $1, s, e, p, n FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) \
                 WITH ORDINALITY AS x(s, e, p, n, o) ORDER BY o RETURNING seq",
            )
            .await
            .map_err(pg_err)?;
        let rows = client
            .query(&stmt, &[&tenant, &subs, &endpoints, &payloads, &next])
            .await
            .map_err(pg_err)?;
        let mut seqs = rows
            .iter()
            .map(|r| r.try_get::<_, i64>(0).map_err(pg_err))
            .collect::<StoreResult<Vec<i64>>>()?;
        seqs.sort_unstable();
        if seqs.len() != items.len() {
            return Err(StoreError::Corrupt(format!(
                "{} notifications were appended to the outbox, {} stored",
                items.len(),
                seqs.len()
            )));
        }
        Ok(items
            .into_iter()
            .zip(seqs)
            .map(|(item, seq)| PendingNotification {
                seq,
                tenant: tenant.to_string(),
                subscription_id: item.subscription_id,
                endpoint: item.endpoint,
                payload: item.payload,
                attempts: 0,
                next_attempt: item.next_attempt,
                last_error: None,
                failed_at: None,
            })
            .collect())
    }

    async fn pending_notifications(&self) -> StoreResult<Vec<PendingNotification>> {
        self.rows_of(
            &format!("{OUTBOX_SELECT} WHERE failed_at IS NULL ORDER BY seq"),
            &[],
            pending_from_row,
        )
        .await
    }

    async fn notification_delivered(
        &self,
        tenant: &str,
        seq: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "WITH o AS (DELETE FROM notification_outbox WHERE tenant_id = $1 AND seq = $2 \
                 RETURNING subscription) \
                 UPDATE subscriptions s SET times_sent = s.times_sent + 1, \
                 last_notification = $3, last_success = $3 \
                 FROM o WHERE s.tenant_id = $1 AND s.id = o.subscription",
            )
            .await
            .map_err(pg_err)?;
        client
            .execute(&stmt, &[&tenant, &seq, &at])
            .await
            .map_err(pg_err)?;
        Ok(())
    }

    async fn notification_failed(
        &self,
        tenant: &str,
        seq: i64,
        at: DateTime<Utc>,
        reason: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        let (next, failed_at) = match retry_at {
            Some(r) => (r, None),
            None => (at, Some(at)),
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        // One statement locks the outbox row, then the subscription's row: failures of one
        // subscription queue there before forgetting old ones, so two never lock each
        // other's rows in opposite orders.
        let stmt = tx
            .prepare_cached(
                "WITH o AS (UPDATE notification_outbox SET attempts = attempts + 1, \
                 next_attempt = $3, last_error = $4, failed_at = $5 \
                 WHERE tenant_id = $1 AND seq = $2 RETURNING subscription) \
                 UPDATE subscriptions s SET times_sent = s.times_sent + 1, \
                 times_failed = s.times_failed + 1, last_notification = $6, \
                 last_failure = $6, last_error = $4 \
                 FROM o WHERE s.tenant_id = $1 AND s.id = o.subscription",
            )
            .await
            .map_err(pg_err)?;
        tx.execute(&stmt, &[&tenant, &seq, &next, &reason, &failed_at, &at])
            .await
            .map_err(pg_err)?;
        if failed_at.is_some() {
            // Only the latest given-up notifications of the subscription are kept.
            let forget = tx
                .prepare_cached(
                    "WITH sub AS (SELECT subscription FROM notification_outbox \
                     WHERE tenant_id = $1 AND seq = $2), \
                     oldest_kept AS (SELECT seq FROM notification_outbox WHERE tenant_id = $1 \
                         AND failed_at IS NOT NULL \
                         AND subscription = (SELECT subscription FROM sub) \
                         ORDER BY seq DESC OFFSET $3::bigint - 1 LIMIT 1) \
                     DELETE FROM notification_outbox WHERE tenant_id = $1 \
                     AND failed_at IS NOT NULL AND subscription = (SELECT subscription FROM sub) \
                     AND seq < (SELECT seq FROM oldest_kept)",
                )
                .await
                .map_err(pg_err)?;
            tx.execute(&forget, &[&tenant, &seq, &KEPT_FAILURES])
                .await
                .map_err(pg_err)?;
        }
        tx.commit().await.map_err(pg_err)
    }

    async fn failed_notifications(
        &self,
        tenant: &str,
        subscription_id: &str,
    ) -> StoreResult<Vec<PendingNotification>> {
        self.rows_of(
            &format!(
                "{OUTBOX_SELECT} WHERE tenant_id = $1 AND subscription = $2 \
                 AND failed_at IS NOT NULL ORDER BY seq"
            ),
            &[&tenant, &subscription_id],
            pending_from_row,
        )
        .await
    }
}
