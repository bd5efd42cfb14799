//! The scale-out engine: PostgreSQL 15 with PostGIS 3, with a schema made to shard with
//! Citus.
//!
//! A departmental syndicate, a region or the national twin runs the same code as a commune,
//! on an engine made for that scale. Every tenant table has `tenant_id` as its first column
//! and in every primary key and unique index, so that Citus can distribute the tables on it
//! and keep an entity, its history and its subscriptions on one node (see
//! `docs/scaling.md`). Geo-queries run in PostGIS; `q` is translated to parameterised SQL.
//!
//! Writes are acknowledged after PostgreSQL's COMMIT (`synchronous_commit` as the server
//! sets it, `on` by default), so an acknowledged write survives a crash of Jumeau or of
//! the database server. A lost connection answers [`StoreError::Unavailable`] (HTTP 503
//! with a retry hint) and the pool opens new connections when the server is back.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use jumeau_model::query::EntityQuery;
use jumeau_model::{Entity, ErrorKind, NgsiError};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};

mod entities;
mod ingest;
mod query;
mod subscriptions;
mod summary;
mod temporal;

use crate::{
    ApiKeyRecord, AttrInfo, ContextRecord, Page, Store, StoreError, StoreResult, TenantInfo,
    TypeInfo, WriteOp, Written,
};

/// The schema migrations, in order: a database at version N has had the first N applied.
/// Each runs in its own transaction, so a migration interrupted halfway leaves the previous
/// version and can be rerun. Append new steps; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("temporal.sql"),
    include_str!("subscriptions.sql"),
    include_str!("ingest.sql"),
    include_str!("values.sql"),
    include_str!("values_entity.sql"),
    include_str!("summary.sql"),
    include_str!("fill.sql"),
    include_str!("docs_index.sql"),
];
/// The schema version this build writes; a database with a newer one is refused.
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
/// Key of the advisory lock that serialises migrations between servers starting together.
const MIGRATION_LOCK: i64 = 0x4a75_6d65_6175; // "Jumeau"

/// Tuning of the PostgreSQL engine.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Most connections this server opens to the database.
    pub max_connections: usize,
    /// How long a request waits for a connection before answering 503.
    pub connect_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// The PostgreSQL + PostGIS store.
pub struct PgStore {
    pool: Pool,
}

/// Maps a PostgreSQL error: a lost or refused connection, an overloaded server or a
/// serialisation conflict can succeed when retried ([`StoreError::Unavailable`]); anything
/// else means the stored data or the SQL is wrong ([`StoreError::Corrupt`]).
pub(crate) fn pg_err(e: tokio_postgres::Error) -> StoreError {
    let retryable = match e.code() {
        None => true, // I/O, closed connection, timeout: no SQLSTATE
        Some(code) => {
            let c = code.code();
            c.starts_with("08") // connection exception
                || c.starts_with("53") // insufficient resources (disk full, too many connections)
                || c.starts_with("57") // operator intervention (shutdown, cancel)
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        }
    };
    let what = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    if retryable {
        StoreError::Unavailable(format!("PostgreSQL: {what}"))
    } else {
        StoreError::Corrupt(format!("PostgreSQL: {what}"))
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`), applies the schema migrations
    /// and refuses a database whose schema is newer than this build.
    pub async fn connect(url: &str, options: PgOptions) -> StoreResult<Self> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Unavailable(format!(
                "the PostgreSQL URL is not valid ({e}); write it as postgres://USER@HOST:PORT/DATABASE"
            ))
        })?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Unavailable(format!("PostgreSQL pool: {e}")))?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// A connection from the pool; [`StoreError::Unavailable`] when the server cannot be
    /// reached now.
    pub(crate) async fn client(&self) -> StoreResult<Object> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot reach PostgreSQL: {e}")))
    }

    /// Closes the idle connections after one was found dead: they were most likely lost
    /// together (a server restart, a failover), and the next calls open new ones.
    pub(crate) fn forget_idle(&self) {
        self.pool.retain(|_, _| false);
    }

    /// The schema version of the database (0 when empty).
    pub async fn schema_version(&self) -> StoreResult<i64> {
        let client = self.client().await?;
        schema_version(&client).await
    }

    /// Applies the migrations the database lacks, each in its own transaction, under an
    /// advisory lock so that two servers starting together do not race.
    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS jumeau_schema (
                     version bigint NOT NULL,
                     applied_at timestamptz NOT NULL DEFAULT now()
                 )",
            )
            .await
            .map_err(pg_err)?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg_err)?;
        let result = self.apply_missing(&mut client).await;
        let unlock = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg_err);
        result.and(unlock.map(|_| ()))
    }

    async fn apply_missing(&self, client: &mut Object) -> StoreResult<()> {
        let current = schema_version(client).await?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::Unavailable(format!(
                "the database schema is version {current}, newer than this build of Jumeau \
                 (version {SCHEMA_VERSION}); run a newer jumeau against it"
            )));
        }
        for (i, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = i as i64 + 1;
            let tx = client.transaction().await.map_err(pg_err)?;
            tx.batch_execute(step).await.map_err(|e| {
                StoreError::Unavailable(format!("schema migration {version} failed: {e}"))
            })?;
            tx.execute(
                "INSERT INTO jumeau_schema (version) VALUES ($1)",
                &[&version],
            )
            .await
            .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
        }
        Ok(())
    }
}

async fn schema_version(client: &tokio_postgres::Client) -> StoreResult<i64> {
    let row = client
        .query_one("SELECT coalesce(max(version), 0) FROM jumeau_schema", &[])
        .await
        .map_err(pg_err)?;
    Ok(row.get(0))
}

fn parse_time(s: &str) -> StoreResult<DateTime<Utc>> {
    jumeau_model::time::parse_datetime(s).map_err(StoreError::Corrupt)
}

fn fmt_time(d: &DateTime<Utc>) -> String {
    jumeau_model::time::format_datetime(d)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

const KEY_SELECT: &str =
    "SELECT id, name, hash, role, tenants, created_at, revoked_at FROM api_keys";
const CONTEXT_SELECT: &str = "SELECT url, body, kind, created_at FROM jsonld_contexts";
const TENANT_SELECT: &str = "SELECT name, public, created_at FROM tenants";

fn key_from_row(row: &Row) -> StoreResult<ApiKeyRecord> {
    let tenants: String = row.get(4);
    let created: String = row.get(5);
    let revoked: Option<String> = row.get(6);
    Ok(ApiKeyRecord {
        id: row.get(0),
        name: row.get(1),
        hash: row.get(2),
        role: row.get(3),
        tenants: serde_json::from_str(&tenants).map_err(corrupt)?,
        created_at: parse_time(&created)?,
        revoked_at: revoked.as_deref().map(parse_time).transpose()?,
    })
}

fn context_from_row(row: &Row) -> StoreResult<ContextRecord> {
    let body: String = row.get(1);
    let created: String = row.get(3);
    Ok(ContextRecord {
        url: row.get(0),
        body: serde_json::from_str(&body).map_err(corrupt)?,
        kind: row.get(2),
        created_at: parse_time(&created)?,
    })
}

fn tenant_from_row(row: &Row) -> StoreResult<TenantInfo> {
    let created: String = row.get(2);
    Ok(TenantInfo {
        name: row.get(0),
        public: row.get(1),
        created_at: parse_time(&created)?,
    })
}

impl PgStore {
    /// Runs one read statement (or a write that is safe to repeat) and converts its rows.
    async fn rows<T>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        convert: impl Fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let mut retried = false;
        loop {
            let client = self.client().await?;
            let result = match client.prepare_cached(sql).await {
                Ok(stmt) => client.query(&stmt, params).await,
                Err(e) => Err(e),
            };
            drop(client);
            match result {
                Ok(rows) => return rows.iter().map(convert).collect(),
                Err(e) => match pg_err(e) {
                    // A connection found dead (the server restarted or closed it): the
                    // statement runs again on a new one.
                    StoreError::Unavailable(m) if !retried => {
                        tracing::warn!("{m}; running the statement again");
                        self.forget_idle();
                        retried = true;
                    }
                    other => return Err(other),
                },
            }
        }
    }

    /// Runs one write statement; returns the rows it changed.
    async fn exec(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> StoreResult<u64> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(pg_err)?;
        client.execute(&stmt, params).await.map_err(pg_err)
    }

    /// (name, count) rows of a summary, then (name, name) pairs, merged into `make`'s
    /// records (a summary of types or attributes).
    async fn summary<T>(
        &self,
        tenant: &str,
        counts: &str,
        pairs: &str,
        make: impl Fn(String, u64) -> T,
        push: impl Fn(&mut T, &str, String),
    ) -> StoreResult<Vec<T>> {
        let mut out: Vec<(String, T)> = self
            .rows(counts, &[&tenant], |r| {
                let name: String = r.get(0);
                let n: i64 = r.get(1);
                Ok((name.clone(), make(name, n.max(0) as u64)))
            })
            .await?;
        let pairs = self
            .rows(pairs, &[&tenant], |r| Ok((r.get::<_, String>(0), r.get(1))))
            .await?;
        for (a, b) in pairs {
            if let Some((_, info)) = out.iter_mut().find(|(n, _)| *n == a) {
                push(info, &a, b);
            }
        }
        Ok(out.into_iter().map(|(_, t)| t).collect())
    }
}

#[async_trait]
impl Store for PgStore {
    async fn write_changes(
        &self,
        tenant: &str,
        ops: Vec<WriteOp>,
    ) -> StoreResult<Vec<Result<Written, NgsiError>>> {
        self.write_entities(tenant, ops).await
    }

    async fn get(&self, tenant: &str, id: &str) -> StoreResult<Option<Entity>> {
        let docs = self
            .rows(
                "SELECT doc FROM entities WHERE tenant_id = $1 AND id = $2",
                &[&tenant, &id],
                |r| entities::decode(r.get(0)),
            )
            .await?;
        Ok(docs.into_iter().next())
    }

    async fn query(&self, tenant: &str, query: &EntityQuery) -> StoreResult<Page> {
        self.query_entities(tenant, query).await
    }

    async fn types(&self, tenant: &str) -> StoreResult<Vec<TypeInfo>> {
        self.summary(
            tenant,
            "SELECT type, count(*) FROM entity_types WHERE tenant_id = $1 GROUP BY type ORDER BY type",
            "SELECT DISTINCT t.type, k.attr COLLATE \"C\" FROM entity_types t \
             JOIN entities e ON e.tenant_id = t.tenant_id AND e.seq = t.eseq \
             CROSS JOIN LATERAL jsonb_object_keys(e.vals) AS k(attr) \
             WHERE t.tenant_id = $1 ORDER BY 1, 2",
            |type_iri, count| TypeInfo {
                type_iri,
                count,
                attrs: Vec::new(),
            },
            |info, _, attr| info.attrs.push(attr),
        )
        .await
    }

    async fn attributes(&self, tenant: &str) -> StoreResult<Vec<AttrInfo>> {
        self.summary(
            tenant,
            "SELECT k.attr COLLATE \"C\", count(*) FROM entities e \
             CROSS JOIN LATERAL jsonb_object_keys(e.vals) AS k(attr) \
             WHERE e.tenant_id = $1 GROUP BY 1 ORDER BY 1",
            "SELECT DISTINCT k.attr COLLATE \"C\", t.type FROM entities e \
             CROSS JOIN LATERAL jsonb_object_keys(e.vals) AS k(attr) \
             JOIN entity_types t ON t.tenant_id = e.tenant_id AND t.eseq = e.seq \
             WHERE e.tenant_id = $1 ORDER BY 1, 2",
            |attr, count| AttrInfo {
                attr,
                count,
                types: Vec::new(),
            },
            |info, _, t| info.types.push(t),
        )
        .await
    }

    async fn scan(
        &self,
        tenant: &str,
        cursor: Option<String>,
        limit: usize,
    ) -> StoreResult<(Vec<Entity>, Option<String>)> {
        let after: i64 = match cursor {
            None => 0,
            Some(c) => c.parse().map_err(|_| {
                StoreError::Rejected(NgsiError::invalid(format!(
                    "'{c}' is not a valid scan cursor"
                )))
            })?,
        };
        let rows = self
            .rows(
                "SELECT seq, doc FROM entities WHERE tenant_id = $1 AND seq > $2 \
                 ORDER BY seq LIMIT $3",
                &[&tenant, &after, &(limit.min(i64::MAX as usize) as i64)],
                |r| Ok((r.get::<_, i64>(0), entities::decode(r.get(1))?)),
            )
            .await?;
        let next = (rows.len() == limit && limit > 0)
            .then(|| rows.last().map(|(seq, _)| seq.to_string()))
            .flatten();
        Ok((rows.into_iter().map(|(_, e)| e).collect(), next))
    }

    async fn tenant(&self, name: &str) -> StoreResult<Option<TenantInfo>> {
        let sql = format!("{TENANT_SELECT} WHERE name = $1");
        Ok(self
            .rows(&sql, &[&name], tenant_from_row)
            .await?
            .into_iter()
            .next())
    }

    async fn tenants(&self) -> StoreResult<Vec<TenantInfo>> {
        let sql = format!("{TENANT_SELECT} ORDER BY name");
        self.rows(&sql, &[], tenant_from_row).await
    }

    async fn set_tenant_public(&self, name: &str, public: bool) -> StoreResult<TenantInfo> {
        let rows = self
            .rows(
                "INSERT INTO tenants (name, public, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET public = EXCLUDED.public \
                 RETURNING name, public, created_at",
                &[&name, &public, &fmt_time(&Utc::now())],
                tenant_from_row,
            )
            .await?;
        rows.into_iter()
            .next()
            .ok_or_else(|| corrupt("the tenant row was not returned"))
    }

    async fn put_key(&self, key: ApiKeyRecord) -> StoreResult<()> {
        let tenants = serde_json::to_string(&key.tenants).map_err(corrupt)?;
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO api_keys (id, name, hash, role, tenants, created_at, revoked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &key.id,
                    &key.name,
                    &key.hash,
                    &key.role,
                    &tenants,
                    &fmt_time(&key.created_at),
                    &key.revoked_at.as_ref().map(fmt_time),
                ],
            )
            .await
            .map_err(|e| {
                if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                    StoreError::Rejected(NgsiError::new(
                        ErrorKind::AlreadyExists,
                        "a key with this id or value already exists",
                    ))
                } else {
                    pg_err(e)
                }
            })?;
        Ok(())
    }

    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let sql = format!("{KEY_SELECT} WHERE hash = $1");
        Ok(self
            .rows(&sql, &[&hash], key_from_row)
            .await?
            .into_iter()
            .next())
    }

    async fn keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        let sql = format!("{KEY_SELECT} ORDER BY created_at, id");
        self.rows(&sql, &[], key_from_row).await
    }

    async fn revoke_key(&self, id: &str) -> StoreResult<bool> {
        let n = self
            .exec(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
                &[&id, &fmt_time(&Utc::now())],
            )
            .await?;
        Ok(n > 0)
    }

    async fn put_context(&self, ctx: ContextRecord) -> StoreResult<()> {
        self.exec(
            "INSERT INTO jsonld_contexts (url, body, kind, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (url) DO UPDATE SET body = EXCLUDED.body, kind = EXCLUDED.kind, \
             created_at = EXCLUDED.created_at",
            &[
                &ctx.url,
                &ctx.body.to_string(),
                &ctx.kind,
                &fmt_time(&ctx.created_at),
            ],
        )
        .await?;
        Ok(())
    }

    async fn context(&self, url: &str) -> StoreResult<Option<ContextRecord>> {
        let sql = format!("{CONTEXT_SELECT} WHERE url = $1");
        Ok(self
            .rows(&sql, &[&url], context_from_row)
            .await?
            .into_iter()
            .next())
    }

    async fn contexts(&self) -> StoreResult<Vec<ContextRecord>> {
        let sql = format!("{CONTEXT_SELECT} ORDER BY url");
        self.rows(&sql, &[], context_from_row).await
    }

    async fn delete_context(&self, url: &str) -> StoreResult<bool> {
        let n = self
            .exec("DELETE FROM jsonld_contexts WHERE url = $1", &[&url])
            .await?;
        Ok(n > 0)
    }
}
