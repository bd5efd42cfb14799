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

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

mod ingest;
mod subscriptions;
mod temporal;

use crate::{StoreError, StoreResult};

/// The schema migrations, in order: a database at version N has had the first N applied.
/// Each runs in its own transaction, so a migration interrupted halfway leaves the previous
/// version and can be rerun. Append new steps; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[include_str!("schema.sql")];
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
    if retryable {
        StoreError::Unavailable(format!("PostgreSQL: {e}"))
    } else {
        StoreError::Corrupt(format!("PostgreSQL: {e}"))
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
