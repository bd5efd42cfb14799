//! The embedded engine: SQLite in WAL mode, one file in one data directory.
//!
//! Writes go through one writer thread that commits whatever is queued in one transaction
//! (group commit): each caller is answered only after the commit is on disk (the log is
//! synced by a thread of its own, while the writer goes on; see [`writer`]), yet a burst of
//! writers shares one fsync. Reads use a small pool of read-only connections, which WAL
//! lets run beside the writer.

mod history_log;
mod ingest;
mod partial;
pub mod qsql;
mod subscriptions;
mod temporal;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jumeau_model::query::{EntityQuery, TypeExpr};
use jumeau_model::{Entity, NgsiError};
use rusqlite::config::DbConfig;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::{
    ApiKeyRecord, AttrInfo, ContextRecord, Page, Store, StoreError, StoreResult, TenantInfo,
    TypeInfo, WriteOp, Written,
};
use qsql::Strategy;
use writer::Writer;

/// The schema migrations, in order: a database at version N has had the first N applied.
/// Append new steps; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    temporal::SCHEMA,
    subscriptions::SCHEMA,
    ingest::SCHEMA,
    history_log::SCHEMA,
];
/// The schema version this build writes; a database with a newer one is refused.
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
/// The database file inside the data directory.
const DB_FILE: &str = "jumeau.db";
/// Read connections, and reads running at once (the machine a commune runs on is small):
/// reads beyond wait for a connection rather than open one, so the page caches, and the
/// threads whose allocator arenas keep what the reads allocated, stay this many.
const READ_POOL: usize = 4;
/// Prepared statements kept by each connection (a few hundred bytes to a few KiB each).
const STATEMENT_CACHE: usize = 128;

/// Tuning of the embedded engine.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Page cache per connection, in KiB (memory sobriety: the OS cache does the rest).
    pub cache_kib: i64,
    /// Most entity writes committed in one transaction (other jobs count one each): group
    /// commit shares one fsync among them, and the entities they read and write stay in
    /// memory until that commit.
    pub max_batch: usize,
    /// Rows a query walks, checking each, before it builds candidate sets from the value
    /// indexes instead (see [`run_query`]).
    pub scan_budget: usize,
    /// Page cache of the writer connection, in KiB.
    pub writer_cache_kib: i64,
    /// Page size of a new database, in bytes.
    pub page_size: i64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            cache_kib: 4 * 1024,
            max_batch: 2000,
            scan_budget: 2000,
            writer_cache_kib: 32 * 1024,
            page_size: 2048,
        }
    }
}

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    options: SqliteOptions,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// One permit per read connection.
    read_permits: Arc<tokio::sync::Semaphore>,
    writer: Writer,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn sql_err(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::ReadOnly
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        other => StoreError::Corrupt(other.to_string()),
    }
}

fn parse_time(s: &str) -> StoreResult<DateTime<Utc>> {
    jumeau_model::time::parse_datetime(s).map_err(StoreError::Corrupt)
}

fn fmt_time(d: &DateTime<Utc>) -> String {
    jumeau_model::time::format_datetime(d)
}

fn decode_entity(doc: &str) -> StoreResult<Entity> {
    let mut e: Entity = serde_json::from_str(doc)
        .map_err(|e| StoreError::Corrupt(format!("entity document: {e}")))?;
    compact(&mut e.attrs);
    e.types.shrink_to_fit();
    Ok(e)
}

/// Gives back the room that decoding leaves in lists of instances: a list read from JSON
/// grows to four instances (some 800 bytes) for the one it usually holds, and an entity
/// write keeps the entity it read until its transaction commits.
fn compact(attrs: &mut std::collections::BTreeMap<String, Vec<jumeau_model::Attribute>>) {
    for list in attrs.values_mut() {
        list.shrink_to_fit();
        for a in list.iter_mut().filter(|a| !a.sub.is_empty()) {
            compact(&mut a.sub);
        }
    }
}

fn configure(conn: &Connection, opts: &SqliteOptions) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    // An entity write with its history and ingestion use some forty statements: with
    // rusqlite's default of 16 cached, every write parsed its statements again.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Plans that do not depend on bound values. Without this, SQLite marks statements
    // such as `… WHERE series = ?1 … ORDER BY … LIMIT 1` for re-planning when a value is
    // bound again, and the statement cache clears the bindings of every statement it takes
    // back: each use of such a cached statement compiled it again (a quarter of the
    // instructions of folding the history log). No query here relies on value-specific
    // plans (no sqlite_stat4 statistics, no LIKE with a bound pattern).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.pragma_update(None, "cache_size", -opts.cache_kib)?;
    conn.pragma_update(None, "temp_store", "memory")?;
    qsql::register_functions(conn)?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the store in a data directory and applies the schema.
    pub fn open(dir: &Path, options: SqliteOptions) -> StoreResult<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            unavailable(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path)
            .map_err(|e| unavailable(format!("cannot open {}: {e}", path.display())))?;
        configure(&conn, &options).map_err(sql_err)?;
        // Smaller pages for a new database: a reading dirties a few pages scattered over the
        // tables, and each is written whole to the log (no effect on an existing file).
        conn.pragma_update(None, "page_size", options.page_size)
            .map_err(sql_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(sql_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(unavailable(format!(
                "{} cannot use WAL mode (got {mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql_err)?;
        // The writer keeps more pages than the readers: updates land all over the indexes.
        conn.pragma_update(None, "cache_size", -options.writer_cache_kib)
            .map_err(sql_err)?;
        // Checkpoints run on their own thread, so the writer only appends to the WAL.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(sql_err)?;
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
            .map_err(sql_err)?;
        migrate(&conn)?;
        let checkpoints = start_checkpointer(&path)?;
        let writer = Writer::start(
            conn,
            options.max_batch,
            checkpoints,
            path.with_extension("db-wal"),
        )?;
        Ok(Self {
            path,
            options,
            readers: Arc::new(Mutex::new(Vec::new())),
            read_permits: Arc::new(tokio::sync::Semaphore::new(READ_POOL)),
            writer,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a read connection from the pool, on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let permit = self.read_permit().await?;
        let (pool, path, opts) = (
            self.readers.clone(),
            self.path.clone(),
            self.options.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            with_reader(&pool, &path, &opts, f)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }

    /// Runs `f`, the read of one entity by its key (a few pages of the cache), on a read
    /// connection from the pool, on the calling task's thread: so short a read costs less
    /// than the two thread hand-offs of [`SqliteStore::read`].
    async fn read_by_key<T>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let _permit = self.read_permit().await?;
        with_reader(&self.readers, &self.path, &self.options, f)
    }

    /// One of the [`READ_POOL`] places for a read, waited for when all are taken.
    async fn read_permit(&self) -> StoreResult<tokio::sync::OwnedSemaphorePermit> {
        self.read_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Unavailable(format!("no read connection: {e}")))
    }
}

/// Runs `f` on a read connection taken from `pool` (opened when the pool is empty) and puts
/// the connection back.
fn with_reader<T>(
    pool: &Mutex<Vec<Connection>>,
    path: &Path,
    opts: &SqliteOptions,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    let pooled = pool.lock().ok().and_then(|mut p| p.pop());
    let conn = match pooled {
        Some(c) => c,
        None => {
            let c = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(sql_err)?;
            configure(&c, opts).map_err(sql_err)?;
            c
        }
    };
    let r = f(&conn);
    if let Ok(mut p) = pool.lock() {
        if p.len() < READ_POOL {
            p.push(conn);
        }
    }
    r
}

/// Starts the thread that copies the WAL back into the database file after commits, and
/// returns the channel the writer wakes it with. It sleeps when nothing is written.
fn start_checkpointer(path: &Path) -> StoreResult<mpsc::SyncSender<()>> {
    let conn = Connection::open(path).map_err(sql_err)?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(sql_err)?;
    // A checkpoint syncs the log before copying it and the database before the log may
    // start over: the writer's own commits are not synced by SQLite (see `writer`).
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sql_err)?;
    let (tx, rx) = mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("jumeau-sqlite-checkpoint".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Let a burst of commits pass, then copy them back in one go.
                std::thread::sleep(Duration::from_millis(200));
                while rx.try_recv().is_ok() {}
                // A passive checkpoint never waits for the writer; the writer itself
                // restarts the log when it grows too long (see `writer`).
                let started = std::time::Instant::now();
                match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                }) {
                    Ok((frames, copied)) => tracing::debug!(
                        "WAL checkpoint (passive): {copied} of {frames} frames copied in {} ms",
                        started.elapsed().as_millis()
                    ),
                    Err(e) => tracing::warn!("WAL checkpoint failed (it will be retried): {e}"),
                }
            }
        })
        .map_err(|e| unavailable(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(tx)
}

/// Applies the schema, refusing a database written by a newer Jumeau.
fn migrate(conn: &Connection) -> StoreResult<()> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sql_err)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "the database has schema version {version} but this Jumeau knows only up to {SCHEMA_VERSION}; upgrade Jumeau"
        )));
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let next = step + 1;
        conn.execute_batch(&format!(
            "BEGIN; {sql} PRAGMA user_version = {next}; COMMIT;"
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            StoreError::Unavailable(format!("schema migration {next} failed: {e}"))
        })?;
    }
    Ok(())
}

/// Builds the candidate-selection SQL of a query: the rows after `after_pk`, in pk order,
/// that the indexes cannot rule out. Exact filtering happens in Rust.
fn candidate_sql(
    query: &EntityQuery,
    params: &mut Vec<SqlValue>,
    strategy: Strategy,
    after_pk: i64,
    budget: Option<usize>,
) -> String {
    let push = |params: &mut Vec<SqlValue>, v: SqlValue| {
        params.push(v);
        format!("?{}", params.len())
    };
    let after = push(params, SqlValue::Integer(after_pk));
    // With ids or a bounded geo-query, those small sets drive the search; otherwise one
    // type's index is walked in pk order (no sort, the walk stops early).
    let narrow = !query.ids.is_empty()
        || query
            .geo
            .as_ref()
            .is_some_and(|g| g.query.candidate_bbox().is_some());
    let single_type = match &query.types {
        Some(TypeExpr::Type(t)) if !narrow => Some(t.clone()),
        _ => None,
    };
    let mut sql = match &single_type {
        Some(t) => {
            let t = format!(
                "(SELECT id FROM terms WHERE iri = {})",
                push(params, SqlValue::Text(t.clone()))
            );
            format!(
                "SELECT e.pk, e.doc FROM entity_types t JOIN entities e ON e.pk = t.pk \
                 WHERE t.tenant = ?1 AND t.type = {t} AND t.pk > {after}"
            )
        }
        // `+e.tenant` keeps SQLite from walking the tenant index when a small set drives.
        None if narrow => {
            format!("SELECT e.pk, e.doc FROM entities e WHERE +e.tenant = ?1 AND e.pk > {after}")
        }
        None => {
            format!("SELECT e.pk, e.doc FROM entities e WHERE e.tenant = ?1 AND e.pk > {after}")
        }
    };
    if let (Some(types), None) = (&query.types, &single_type) {
        let list: Vec<String> = types
            .mentioned()
            .into_iter()
            .map(|t| push(params, SqlValue::Text(t.to_string())))
            .collect();
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM entity_types t INDEXED BY entity_types_pk WHERE t.pk = e.pk AND t.tenant = ?1 \
             AND t.type IN (SELECT id FROM terms WHERE iri IN ({})))",
            list.join(",")
        ));
    }
    if !query.ids.is_empty() {
        let list: Vec<String> = query
            .ids
            .iter()
            .map(|i| push(params, SqlValue::Text(i.clone())))
            .collect();
        sql.push_str(&format!(" AND e.id IN ({})", list.join(",")));
    }
    if !query.attrs.is_empty() {
        let list: Vec<String> = query
            .attrs
            .iter()
            .map(|a| push(params, SqlValue::Text(a.clone())))
            .collect();
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM attr_values a WHERE a.pk = e.pk AND +a.tenant = ?1 \
             AND a.attr IN (SELECT id FROM terms WHERE iri IN ({})))",
            list.join(",")
        ));
    }
    if let Some(q) = &query.q {
        let pre = qsql::q_prefilter_with(q, "e.pk", params, strategy);
        sql.push_str(&format!(" AND ({pre})"));
    }
    if let Some(geo) = &query.geo {
        if let Some(b) = geo.query.candidate_bbox() {
            let attr = push(params, SqlValue::Text(geo.property.clone()));
            let (x0, x1) = (
                push(params, SqlValue::Real(b.min_x)),
                push(params, SqlValue::Real(b.max_x)),
            );
            let (y0, y1) = (
                push(params, SqlValue::Real(b.min_y)),
                push(params, SqlValue::Real(b.max_y)),
            );
            sql.push_str(&format!(
                " AND e.pk IN (SELECT g.pk FROM geo_rtree r JOIN geo_values g ON g.gid = r.gid \
                 WHERE r.min_x <= {x1} AND r.max_x >= {x0} AND r.min_y <= {y1} AND r.max_y >= {y0} \
                 AND g.tenant = ?1 AND g.attr = (SELECT id FROM terms WHERE iri = {attr}))"
            ));
        }
    }
    sql.push_str(if single_type.is_some() {
        " ORDER BY t.pk"
    } else {
        " ORDER BY e.pk"
    });
    if let Some(n) = budget {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    sql
}

/// The number of a tenant, if it exists.
fn tenant_id(conn: &Connection, name: &str) -> StoreResult<Option<i64>> {
    conn.prepare_cached("SELECT id FROM tenants WHERE name = ?1")
        .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
        .map_err(sql_err)
}

/// Rows of (name, count) of a summary query over one tenant.
fn name_counts(conn: &Connection, sql: &str, tenant: &str) -> StoreResult<Vec<(String, u64)>> {
    let mut stmt = conn.prepare_cached(sql).map_err(sql_err)?;
    let rows = stmt
        .query_map([tenant], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .map_err(sql_err)?;
    rows.map(|r| r.map(|(n, c)| (n, c.max(0) as u64)).map_err(sql_err))
        .collect()
}

/// Rows of (name, name) of a summary query over one tenant.
fn name_pairs(conn: &Connection, sql: &str, tenant: &str) -> StoreResult<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(sql).map_err(sql_err)?;
    let rows = stmt
        .query_map([tenant], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(sql_err)?;
    rows.map(|r| r.map_err(sql_err)).collect()
}

/// The SQL expression of a tenant's number, from its name bound as `?1`.
const TENANT_BY_NAME: &str = "(SELECT id FROM tenants WHERE name = ?1)";

/// Answers a query on one connection: candidates from the indexes, exact test in Rust.
///
/// Attribute conditions can be checked two ways (see [`Strategy`]); which is cheaper depends
/// on how many entities match, which is not known in advance. So a page is first sought by
/// walking candidates in order and checking each one (fast when matches are dense), for at
/// most `scan_budget` rows; if the page is still not full, the rest is found from the value
/// indexes (fast when matches are sparse). Counting always uses the indexes.
fn run_query(
    conn: &Connection,
    tenant: &str,
    query: &EntityQuery,
    scan_budget: usize,
) -> StoreResult<Page> {
    let mut page = Page::default();
    let Some(tenant) = tenant_id(conn, tenant)? else {
        if query.count {
            page.count = Some(0);
        }
        return Ok(page);
    };
    let mut matched: u64 = 0;
    let mut after_pk = 0i64;
    let two_pass = query.q.is_some() && !query.count;
    if two_pass {
        let budget = scan_budget.max(2 * (query.offset + query.limit));
        let (seen, done) = scan_candidates(
            conn,
            tenant,
            query,
            Strategy::Correlated,
            Some(budget),
            &mut after_pk,
            &mut matched,
            &mut page,
        )?;
        if done || seen < budget {
            return Ok(page);
        }
    }
    scan_candidates(
        conn,
        tenant,
        query,
        Strategy::Materialized,
        None,
        &mut after_pk,
        &mut matched,
        &mut page,
    )?;
    if query.count {
        page.count = Some(matched);
    }
    Ok(page)
}

/// Runs one pass of candidate selection; returns the rows seen and whether the page is
/// complete.
#[allow(clippy::too_many_arguments)]
fn scan_candidates(
    conn: &Connection,
    tenant: i64,
    query: &EntityQuery,
    strategy: Strategy,
    budget: Option<usize>,
    after_pk: &mut i64,
    matched: &mut u64,
    page: &mut Page,
) -> StoreResult<(usize, bool)> {
    let mut params = vec![SqlValue::Integer(tenant)];
    let sql = candidate_sql(query, &mut params, strategy, *after_pk, budget);
    let mut stmt = conn.prepare_cached(&sql).map_err(sql_err)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .map_err(sql_err)?;
    let wanted = query.offset.saturating_add(query.limit);
    let mut seen = 0usize;
    while let Some(row) = rows.next().map_err(sql_err)? {
        seen += 1;
        *after_pk = row.get(0).map_err(sql_err)?;
        let doc: String = row.get(1).map_err(sql_err)?;
        let e = decode_entity(&doc)?;
        if !query.matches(&e) {
            continue;
        }
        *matched += 1;
        if *matched as usize > query.offset && page.entities.len() < query.limit {
            page.entities.push(e);
        }
        if !query.count && *matched as usize >= wanted {
            return Ok((seen, true));
        }
    }
    Ok((seen, false))
}

#[async_trait]
impl Store for SqliteStore {
    async fn write_changes(
        &self,
        tenant: &str,
        ops: Vec<WriteOp>,
    ) -> StoreResult<Vec<Result<Written, NgsiError>>> {
        let tenant = tenant.to_string();
        self.writer
            .submit_weighted(ops.len(), move |conn| writer::apply_ops(conn, &tenant, ops))
            .await
    }

    async fn get(&self, tenant: &str, id: &str) -> StoreResult<Option<Entity>> {
        self.read_by_key(|conn| {
            let doc: Option<String> = conn
                .prepare_cached("SELECT doc FROM entities WHERE tenant = (SELECT id FROM tenants WHERE name = ?1) AND id = ?2")
                .and_then(|mut s| s.query_row(params![tenant, id], |r| r.get(0)).optional())
                .map_err(sql_err)?;
            doc.as_deref().map(decode_entity).transpose()
        })
        .await
    }

    async fn query(&self, tenant: &str, query: &EntityQuery) -> StoreResult<Page> {
        let (tenant, query) = (tenant.to_string(), query.clone());
        let budget = self.options.scan_budget;
        self.read(move |conn| run_query(conn, &tenant, &query, budget))
            .await
    }

    async fn types(&self, tenant: &str) -> StoreResult<Vec<TypeInfo>> {
        let tenant = tenant.to_string();
        self.read(move |conn| {
            let counts = name_counts(
                conn,
                &format!(
                    "SELECT te.iri, COUNT(*) FROM entity_types t JOIN terms te ON te.id = t.type \
                     WHERE t.tenant = {TENANT_BY_NAME} GROUP BY te.iri ORDER BY te.iri"
                ),
                &tenant,
            )?;
            let mut out: Vec<TypeInfo> = counts
                .into_iter()
                .map(|(type_iri, count)| TypeInfo {
                    type_iri,
                    count,
                    attrs: Vec::new(),
                })
                .collect();
            let pairs = name_pairs(
                conn,
                &format!(
                    "SELECT DISTINCT tt.iri, ta.iri FROM entity_types t \
                     JOIN attr_values a ON a.pk = t.pk \
                     JOIN terms tt ON tt.id = t.type JOIN terms ta ON ta.id = a.attr \
                     WHERE t.tenant = {TENANT_BY_NAME} ORDER BY tt.iri, ta.iri"
                ),
                &tenant,
            )?;
            for (t, a) in pairs {
                if let Some(info) = out.iter_mut().find(|i| i.type_iri == t) {
                    info.attrs.push(a);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn attributes(&self, tenant: &str) -> StoreResult<Vec<AttrInfo>> {
        let tenant = tenant.to_string();
        self.read(move |conn| {
            // How many entities have each attribute, then which types they are.
            let counts = name_counts(
                conn,
                &format!(
                    "SELECT ta.iri, COUNT(DISTINCT a.pk) FROM attr_values a \
                     JOIN terms ta ON ta.id = a.attr WHERE a.tenant = {TENANT_BY_NAME} \
                     GROUP BY ta.iri ORDER BY ta.iri"
                ),
                &tenant,
            )?;
            let mut out: Vec<AttrInfo> = counts
                .into_iter()
                .map(|(attr, count)| AttrInfo {
                    attr,
                    count,
                    types: Vec::new(),
                })
                .collect();
            let pairs = name_pairs(
                conn,
                &format!(
                    "SELECT DISTINCT ta.iri, tt.iri FROM attr_values a \
                     JOIN entity_types t ON t.pk = a.pk \
                     JOIN terms ta ON ta.id = a.attr JOIN terms tt ON tt.id = t.type \
                     WHERE a.tenant = {TENANT_BY_NAME} ORDER BY ta.iri, tt.iri"
                ),
                &tenant,
            )?;
            for (attr, t) in pairs {
                if let Some(info) = out.iter_mut().find(|i| i.attr == attr) {
                    info.types.push(t);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn scan(
        &self,
        tenant: &str,
        cursor: Option<String>,
        limit: usize,
    ) -> StoreResult<(Vec<Entity>, Option<String>)> {
        let tenant = tenant.to_string();
        let after: i64 = match cursor {
            None => 0,
            Some(c) => c.parse().map_err(|_| {
                StoreError::Rejected(NgsiError::invalid(format!(
                    "'{c}' is not a valid scan cursor"
                )))
            })?,
        };
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT pk, doc FROM entities WHERE tenant = (SELECT id FROM tenants WHERE name = ?1) \
                     AND pk > ?2 ORDER BY pk LIMIT ?3",
                )
                .map_err(sql_err)?;
            let mut rows = stmt.query(params![tenant, after, limit as i64]).map_err(sql_err)?;
            let mut out = Vec::new();
            let mut last = after;
            while let Some(row) = rows.next().map_err(sql_err)? {
                last = row.get(0).map_err(sql_err)?;
                let doc: String = row.get(1).map_err(sql_err)?;
                out.push(decode_entity(&doc)?);
            }
            let next = (out.len() == limit && limit > 0).then(|| last.to_string());
            Ok((out, next))
        })
        .await
    }

    async fn tenant(&self, name: &str) -> StoreResult<Option<TenantInfo>> {
        let name = name.to_string();
        self.read(move |conn| {
            let row: Option<(String, bool, String)> = conn
                .prepare_cached("SELECT name, public, created_at FROM tenants WHERE name = ?1")
                .and_then(|mut s| {
                    s.query_row([&name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .optional()
                })
                .map_err(sql_err)?;
            row.map(|(name, public, c)| {
                Ok(TenantInfo {
                    name,
                    public,
                    created_at: parse_time(&c)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn tenants(&self) -> StoreResult<Vec<TenantInfo>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT name, public, created_at FROM tenants ORDER BY name")
                .map_err(sql_err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, bool>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(sql_err)?;
            let mut out = Vec::new();
            for row in rows {
                let (name, public, c) = row.map_err(sql_err)?;
                out.push(TenantInfo {
                    name,
                    public,
                    created_at: parse_time(&c)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn set_tenant_public(&self, name: &str, public: bool) -> StoreResult<TenantInfo> {
        let name = name.to_string();
        self.writer
            .submit(move |conn| {
                writer::ensure_tenant(conn, &name)?;
                conn.execute(
                    "UPDATE tenants SET public = ?2 WHERE name = ?1",
                    params![name, public],
                )
                .map_err(sql_err)?;
                let c: String = conn
                    .query_row(
                        "SELECT created_at FROM tenants WHERE name = ?1",
                        [&name],
                        |r| r.get(0),
                    )
                    .map_err(sql_err)?;
                Ok(TenantInfo {
                    name,
                    public,
                    created_at: parse_time(&c)?,
                })
            })
            .await
    }

    async fn put_key(&self, key: ApiKeyRecord) -> StoreResult<()> {
        self.writer
            .submit(move |conn| {
                let tenants = serde_json::to_string(&key.tenants)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                conn.execute(
                    "INSERT INTO api_keys (id, name, hash, role, tenants, created_at, revoked_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        key.id,
                        key.name,
                        key.hash,
                        key.role,
                        tenants,
                        fmt_time(&key.created_at),
                        key.revoked_at.as_ref().map(fmt_time)
                    ],
                )
                .map_err(|e| match e {
                    rusqlite::Error::SqliteFailure(f, _)
                        if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        StoreError::Rejected(NgsiError::new(
                            jumeau_model::ErrorKind::AlreadyExists,
                            "a key with this id or value already exists",
                        ))
                    }
                    other => sql_err(other),
                })?;
                Ok(())
            })
            .await
    }

    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let hash = hash.to_string();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!("{KEY_SELECT} WHERE hash = ?1"))
                .map_err(sql_err)?;
            let mut rows = stmt.query([&hash]).map_err(sql_err)?;
            rows.next().map_err(sql_err)?.map(key_from_row).transpose()
        })
        .await
    }

    async fn keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("{KEY_SELECT} ORDER BY created_at, id"))
                .map_err(sql_err)?;
            let mut rows = stmt.query([]).map_err(sql_err)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(sql_err)? {
                out.push(key_from_row(row)?);
            }
            Ok(out)
        })
        .await
    }

    async fn revoke_key(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.writer
            .submit(move |conn| {
                let n = conn
                    .execute(
                        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                        params![id, fmt_time(&Utc::now())],
                    )
                    .map_err(sql_err)?;
                Ok(n > 0)
            })
            .await
    }

    async fn put_context(&self, ctx: ContextRecord) -> StoreResult<()> {
        self.writer
            .submit(move |conn| {
                conn.execute(
                    "INSERT OR REPLACE INTO jsonld_contexts (url, body, kind, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![ctx.url, ctx.body.to_string(), ctx.kind, fmt_time(&ctx.created_at)],
                )
                .map_err(sql_err)?;
                Ok(())
            })
            .await
    }

    async fn context(&self, url: &str) -> StoreResult<Option<ContextRecord>> {
        let url = url.to_string();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!("{CONTEXT_SELECT} WHERE url = ?1"))
                .map_err(sql_err)?;
            let mut rows = stmt.query([&url]).map_err(sql_err)?;
            rows.next()
                .map_err(sql_err)?
                .map(context_from_row)
                .transpose()
        })
        .await
    }

    async fn contexts(&self) -> StoreResult<Vec<ContextRecord>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("{CONTEXT_SELECT} ORDER BY url"))
                .map_err(sql_err)?;
            let mut rows = stmt.query([]).map_err(sql_err)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(sql_err)? {
                out.push(context_from_row(row)?);
            }
            Ok(out)
        })
        .await
    }

    async fn delete_context(&self, url: &str) -> StoreResult<bool> {
        let url = url.to_string();
        self.writer
            .submit(move |conn| {
                let n = conn
                    .execute("DELETE FROM jsonld_contexts WHERE url = ?1", [&url])
                    .map_err(sql_err)?;
                Ok(n > 0)
            })
            .await
    }
}

const KEY_SELECT: &str =
    "SELECT id, name, hash, role, tenants, created_at, revoked_at FROM api_keys";
const CONTEXT_SELECT: &str = "SELECT url, body, kind, created_at FROM jsonld_contexts";

fn key_from_row(row: &rusqlite::Row<'_>) -> StoreResult<ApiKeyRecord> {
    let tenants: String = row.get(4).map_err(sql_err)?;
    let created: String = row.get(5).map_err(sql_err)?;
    let revoked: Option<String> = row.get(6).map_err(sql_err)?;
    Ok(ApiKeyRecord {
        id: row.get(0).map_err(sql_err)?,
        name: row.get(1).map_err(sql_err)?,
        hash: row.get(2).map_err(sql_err)?,
        role: row.get(3).map_err(sql_err)?,
        tenants: serde_json::from_str(&tenants).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: parse_time(&created)?,
        revoked_at: revoked.as_deref().map(parse_time).transpose()?,
    })
}

fn context_from_row(row: &rusqlite::Row<'_>) -> StoreResult<ContextRecord> {
    let body: String = row.get(1).map_err(sql_err)?;
    let created: String = row.get(3).map_err(sql_err)?;
    Ok(ContextRecord {
        url: row.get(0).map_err(sql_err)?,
        body: serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        kind: row.get(2).map_err(sql_err)?,
        created_at: parse_time(&created)?,
    })
}
