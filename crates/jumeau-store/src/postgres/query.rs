//! Entity queries on PostgreSQL: candidates from the indexes, exact test in Rust.
//!
//! The type expression, ids, attribute list, `q` (through [`crate::qplan`]) and the
//! geo-query (through PostGIS and its GiST index) become one parameterised SQL statement
//! selecting a superset of the matching entities in creation order, and
//! [`EntityQuery::matches`] decides on each candidate, until the page is full (or to the
//! end, when the total count is asked).
//!
//! # Plans
//!
//! A page is read in chunks, each a statement with `seq > last seen ORDER BY seq LIMIT n`,
//! so that PostgreSQL plans for the few rows a page needs rather than for the whole answer,
//! all chunks in one read-only snapshot. Without ids or a geo-query, the statement is a
//! walk: the entities are walked in creation order (from the type index when the query
//! names one type), and each is tested with jsonb operators on the summary of its values
//! kept in its row (`e.vals`, see [`super::summary`]), so that a page of a broad query stops
//! after the first few hundred entities, whatever the statistics say (left to itself, the
//! planner joins every row the value index selects, then sorts them). A walk's plan does
//! not depend on the values of the query, so its statement is prepared once per
//! connection and reused by every request of the same shape. A geo-query with a box
//! (every georel but `disjoint` and `near` without a maximum) and no ids starts from the
//! entities the GiST index finds in the box, read once into a materialised set, so that
//! its plan does not depend on statistics either and its statement too is prepared once
//! per connection; its candidates, those named by ids, and those of a total count (which
//! reads every candidate) are tested on their summary too.
//!
//! A page that one chunk can fill is first read by its statement alone, outside any
//! transaction (one round trip); only when that chunk ends neither the candidates nor the
//! page is the page read again, from the start, in one snapshot.
//!
//! Every parameter is sent with its type, so that no statement depends on PostgreSQL
//! inferring one.

use jumeau_geo::GeoRel;
use jumeau_model::query::EntityQuery;
use tokio_postgres::types::{ToSql, Type};

use super::entities::decode;
use super::summary::{summary_test, Binder};
use super::{pg_err, PgStore};
use crate::{Page, StoreError, StoreResult};

/// A bound parameter.
type Param = Box<dyn ToSql + Sync + Send>;

/// Planar tolerance, in degrees (about 0.1 mm), added to the topological tests of the
/// candidate selection so that PostGIS's rounding never loses an entity that the exact
/// test would keep.
const GEO_EPSILON: f64 = 1e-9;

/// Rows read at a time, at most (and the rows one statement of a walk selects).
const FETCH_MAX: i64 = 1000;

/// The row limit of a walk's statement read through a portal ([`FETCH_MAX`]).
const WALK_LIMIT: &str = "LIMIT 1000";

/// Prepared statements a connection keeps at most before its cache is emptied: the text of
/// a walk depends on the shape of the query, so the cache must not grow without bound.
const STATEMENT_CACHE_MAX: usize = 256;

/// The parameters of one statement, with their types; the tenant is always `$1`.
struct Params {
    values: Vec<Param>,
    types: Vec<Type>,
    /// Whether each `EXISTS` is fenced (`OFFSET 0`), so that it stays a lookup per
    /// candidate: after a geo-query's GiST selection, the candidates are few, and a plan
    /// made without statistics joined the whole type instead (120 ms a page).
    fenced: bool,
}

impl Params {
    fn new(tenant: &str) -> Self {
        let mut p = Self {
            values: Vec::new(),
            types: Vec::new(),
            fenced: false,
        };
        p.text(tenant.to_string());
        p
    }

    fn text(&mut self, v: String) -> String {
        self.bind(Box::new(v), Type::TEXT)
    }

    fn texts(&mut self, v: Vec<String>) -> String {
        self.bind(Box::new(v), Type::TEXT_ARRAY)
    }

    fn real(&mut self, v: f64) -> String {
        self.bind(Box::new(v), Type::FLOAT8)
    }

    /// The parameters, followed by `extra`.
    fn refs<'a>(&'a self, extra: &[&'a (dyn ToSql + Sync)]) -> Vec<&'a (dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .chain(extra.iter().copied())
            .collect()
    }
}

impl Binder for Params {
    fn bind(&mut self, value: Param, ty: Type) -> String {
        self.values.push(value);
        self.types.push(ty);
        format!("${}", self.values.len())
    }
}

/// How the candidates of a query are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Every candidate, in one statement (a total count is asked).
    All,
    /// In chunks after a sequence number, which follows the other parameters as `$n`.
    /// With `walk`, the entities are walked in creation order, each tested on its index
    /// rows (see the module comment), at most [`FETCH_MAX`] per statement, read through a
    /// portal; otherwise `$n+1` is the size of the chunk.
    Chunks { walk: bool },
}

impl Shape {
    fn of(query: &EntityQuery) -> Self {
        if query.count {
            Self::All
        } else {
            Self::Chunks {
                walk: query.ids.is_empty() && query.geo.is_none(),
            }
        }
    }
}

/// The candidate-selection SQL of a query and its parameters.
fn candidate_sql(tenant: &str, query: &EntityQuery, shape: Shape) -> (String, Params) {
    let walk = shape == Shape::Chunks { walk: true };
    let mut p = Params::new(tenant);
    let types: Vec<String> = query
        .types
        .as_ref()
        .map(|t| t.mentioned().into_iter().map(str::to_string).collect())
        .unwrap_or_default();
    // Walking one type: its index gives the entities in creation order.
    let by_type = walk && types.len() == 1;
    // A geo-query with a box and no ids: the GiST index gives the candidates first (see
    // [`geo_first_sql`]).
    let geo_first = match &query.geo {
        Some(geo) if query.ids.is_empty() && geo.query.candidate_bbox().is_some() => Some(geo),
        _ => None,
    };
    p.fenced = geo_first.is_some();
    let (mut sql, seq) = if let Some(geo) = geo_first {
        (geo_first_sql(geo, &mut p), "e.seq")
    } else if by_type {
        let t = p.text(types[0].clone());
        (
            format!(
                "SELECT e.seq, e.doc FROM entity_types t JOIN entities e \
                 ON e.tenant_id = $1 AND e.seq = t.eseq WHERE t.tenant_id = $1 AND t.type = {t}"
            ),
            "t.eseq",
        )
    } else {
        (
            String::from("SELECT e.seq, e.doc FROM entities e WHERE e.tenant_id = $1"),
            "e.seq",
        )
    };
    if query.types.is_some() && !by_type {
        let list = p.texts(types);
        let close = if walk || p.fenced { " OFFSET 0)" } else { ")" };
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM entity_types t WHERE t.tenant_id = $1 AND t.eseq = e.seq \
             AND t.type = ANY({list}){close}"
        ));
    }
    if !query.ids.is_empty() {
        let ids = p.texts(query.ids.clone());
        sql.push_str(&format!(" AND e.id = ANY({ids})"));
    }
    if let Some(test) = summary_test(&mut p, &query.attrs, query.q.as_ref()) {
        sql.push_str(&format!(" AND {test}"));
    }
    if let (Some(geo), None) = (&query.geo, geo_first) {
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM geo_values g WHERE g.eseq = e.seq AND {})",
            geo_rows(geo, &mut p)
        ));
    }
    match shape {
        Shape::All => sql.push_str(" ORDER BY e.seq"),
        // A constant limit, so that the plan of a walk is the same whatever the size of
        // the page (its rows are read a few at a time through a portal).
        Shape::Chunks { walk: true } => {
            let after = p.values.len() + 1;
            sql.push_str(&format!(
                " AND {seq} > ${after}::bigint ORDER BY {seq} {WALK_LIMIT}"
            ));
        }
        Shape::Chunks { walk: false } => {
            let after = p.values.len() + 1;
            let limit = after + 1;
            sql.push_str(&format!(
                " AND {seq} > ${after}::bigint ORDER BY {seq} LIMIT ${limit}::bigint"
            ));
        }
    }
    (sql, p)
}

/// The statement reading the first chunk of candidates of a page alone, outside a
/// transaction, when the shape allows it: its parameters are those of the query, then the
/// sequence number to start after and the size of the chunk. A walk's is its statement with
/// that size as its limit (its plan stays the walk: the entities in creation order, each
/// tested, stopping at the limit); other chunks already end so.
fn single_chunk_sql(sql: &str, shape: Shape, params: &Params) -> Option<String> {
    match shape {
        Shape::All => None,
        Shape::Chunks { walk: false } => Some(sql.to_string()),
        Shape::Chunks { walk: true } => {
            let limit = params.values.len() + 2;
            Some(sql.replacen(WALK_LIMIT, &format!("LIMIT ${limit}::bigint"), 1))
        }
    }
}

/// The start of a geo-query's statement when it has a box: the entities whose geometries
/// the GiST index finds in the box and PostGIS keeps, each once, read before any other
/// condition and in a plan that does not depend on the statistics of the tables. Left to
/// the planner, a query run before the tables are analysed (just after a bulk load) walked
/// every entity in creation order and tested each geometry (40 requests/s instead of 700
/// on 100,000 entities); reading the candidates first, as the R*Tree does in the embedded
/// engine, also lets the statement be prepared once per connection and keep a generic plan.
fn geo_first_sql(geo: &jumeau_model::query::GeoFilter, p: &mut Params) -> String {
    format!(
        "WITH g AS MATERIALIZED (SELECT DISTINCT g.eseq FROM geo_values g WHERE {}) \
         SELECT e.seq, e.doc FROM g JOIN entities e ON e.tenant_id = $1 AND e.seq = g.eseq \
         WHERE e.tenant_id = $1",
        geo_rows(geo, p)
    )
}

/// The geo-query as conditions on the rows of `geo_values g`: a superset of the matches,
/// found through the GiST index when the query has a box.
fn geo_rows(geo: &jumeau_model::query::GeoFilter, p: &mut Params) -> String {
    let attr = p.text(geo.property.clone());
    let mut cond = format!("g.tenant_id = $1 AND g.attr = {attr}");
    if let Some(b) = geo.query.candidate_bbox() {
        let coords: Vec<String> = [b.min_x, b.min_y, b.max_x, b.max_y]
            .into_iter()
            .map(|v| format!("{}::float8", p.real(v)))
            .collect();
        cond.push_str(&format!(
            " AND g.geom && ST_MakeEnvelope({}, 4326)",
            coords.join(", ")
        ));
    }
    let geojson = geo.query.geometry.as_json().to_string();
    let reference = |p: &mut Params| {
        let r = p.text(geojson.clone());
        format!("ST_Force2D(ST_SetSRID(ST_GeomFromGeoJSON({r}::text), 4326))")
    };
    // Parameters are bound only where used: PostgreSQL counts them from the text.
    let topo = |p: &mut Params, within: bool, contains: bool| {
        let r = reference(p);
        let eps = format!("{}::float8", p.real(GEO_EPSILON));
        let mut c = format!(" AND ST_DWithin(g.geom, {r}, {eps})");
        if within {
            c.push_str(&format!(" AND ST_Expand({r}, {eps}) ~ g.geom"));
        }
        if contains {
            c.push_str(&format!(" AND ST_Expand(g.geom, {eps}) ~ {r}"));
        }
        c
    };
    match &geo.query.georel {
        GeoRel::Intersects | GeoRel::Overlaps => cond.push_str(&topo(p, false, false)),
        GeoRel::Within => cond.push_str(&topo(p, true, false)),
        GeoRel::Contains => cond.push_str(&topo(p, false, true)),
        GeoRel::Equals => cond.push_str(&topo(p, true, true)),
        GeoRel::Disjoint => {}
        GeoRel::Near {
            max_distance,
            min_distance,
        } => {
            // Distances between points are geodesic in both PostGIS and the exact test;
            // other geometries keep their box test only (their edges differ: straight in
            // longitude and latitude here, great circles in PostGIS's geography).
            let point = "GeometryType(g.geom) <> 'POINT'";
            if let Some(d) = max_distance {
                let reference = reference(p);
                let d = p.real(d * 1.001 + 1.0);
                cond.push_str(&format!(
                    " AND ({point} OR ST_DWithin(g.geom::geography, {reference}::geography, {d}::float8))"
                ));
            }
            if let Some(d) = min_distance.map(|d| d * 0.999 - 1.0).filter(|d| *d > 0.0) {
                let reference = reference(p);
                let d = p.real(d);
                cond.push_str(&format!(
                    " AND ({point} OR NOT ST_DWithin(g.geom::geography, {reference}::geography, {d}::float8))"
                ));
            }
        }
    }
    cond
}

impl PgStore {
    /// [`crate::Store::query`].
    pub(super) async fn query_entities(
        &self,
        tenant: &str,
        query: &EntityQuery,
    ) -> StoreResult<Page> {
        let shape = Shape::of(query);
        let (sql, params) = candidate_sql(tenant, query, shape);
        let single = single_chunk_sql(&sql, shape, &params);
        let sqls = Sqls {
            chunks: &sql,
            single: single.as_deref(),
        };
        let mut client = self.client().await?;
        if let Some(page) = query_on(&mut client, sqls, &params, shape, query).await? {
            return Ok(page);
        }
        // The pooled connection was dead (the server restarted or closed it): read again on
        // a new one.
        drop(client);
        self.forget_idle();
        let mut client = self.client().await?;
        query_on(&mut client, sqls, &params, shape, query)
            .await?
            .ok_or_else(|| StoreError::Unavailable("PostgreSQL closed the connection".into()))
    }
}

/// The statements of a query: the one read in chunks, and the one reading a first chunk
/// alone (see [`single_chunk_sql`]).
#[derive(Clone, Copy)]
struct Sqls<'a> {
    chunks: &'a str,
    single: Option<&'a str>,
}

/// What the candidates read so far give.
struct Collect<'a> {
    query: &'a EntityQuery,
    page: Page,
    matched: u64,
    wanted: usize,
}

impl Collect<'_> {
    /// The page, with the count when it was asked.
    fn finish(self) -> Page {
        let mut page = self.page;
        if self.query.count {
            page.count = Some(self.matched);
        }
        page
    }

    /// Tests one candidate; `false` once the page is full and no count is asked.
    fn push(&mut self, doc: &str) -> StoreResult<bool> {
        let e = decode(doc)?;
        if !self.query.matches(&e) {
            return Ok(true);
        }
        self.matched += 1;
        if self.matched as usize > self.query.offset && self.page.entities.len() < self.query.limit
        {
            self.page.entities.push(e);
        }
        Ok(self.query.count || (self.matched as usize) < self.wanted)
    }
}

/// Reads a portal of candidates (sequence number, document) in fetches of `fetch` rows,
/// doubled each time up to [`FETCH_MAX`], until it ends or the page is full; `after` follows
/// the last sequence number read. Returns how many rows were read and whether the page
/// wants more.
async fn drain(
    tx: &deadpool_postgres::Transaction<'_>,
    portal: &tokio_postgres::Portal,
    fetch: &mut i64,
    after: &mut i64,
    c: &mut Collect<'_>,
) -> StoreResult<(i64, bool)> {
    let mut read = 0;
    loop {
        let rows = tx
            .query_portal(portal, *fetch as i32)
            .await
            .map_err(pg_err)?;
        for row in &rows {
            read += 1;
            *after = row.get(0);
            if !c.push(row.get(1))? {
                return Ok((read, false));
            }
        }
        if (rows.len() as i64) < *fetch {
            return Ok((read, true));
        }
        *fetch = (fetch.saturating_mul(2)).min(FETCH_MAX);
    }
}

/// Empties the statement cache of a connection that holds too many: the text of a
/// statement depends on the shape of the query, so the cache must not grow without bound.
fn bound_cache(cache: &deadpool_postgres::StatementCache) {
    if cache.size() >= STATEMENT_CACHE_MAX {
        cache.clear();
    }
}

/// Runs a candidate query on one connection; `Ok(None)` when the connection fails at the
/// start.
async fn query_on(
    client: &mut deadpool_postgres::Object,
    sqls: Sqls<'_>,
    params: &Params,
    shape: Shape,
    query: &EntityQuery,
) -> StoreResult<Option<Page>> {
    let wanted = query.offset.saturating_add(query.limit);
    let collect = || Collect {
        query,
        page: Page::default(),
        matched: 0,
        wanted,
    };
    let first = (wanted.saturating_add(16) as i64).clamp(16, FETCH_MAX);
    // The parameters of a chunk's statement: the query's, the sequence number to start
    // after and the size of the chunk. Its plan does not depend on their values, so the
    // statement is prepared once per connection.
    let chunk_types: Vec<Type> = params
        .types
        .iter()
        .cloned()
        .chain([Type::INT8, Type::INT8])
        .collect();
    let sql = sqls.chunks;
    if let Some(single) = sqls.single.filter(|_| wanted < first as usize) {
        // A page that one chunk can fill (a page of type + q or of a geo-query usually
        // does, the candidates being exact for their simple conditions): one statement,
        // one round trip, no transaction (a walk otherwise takes three: BEGIN, the portal's
        // Bind, its first Execute). When the chunk ends neither the candidates nor the
        // page, the page is read again from the start in one snapshot below.
        bound_cache(&client.statement_cache);
        let stmt = match client.prepare_typed_cached(single, &chunk_types).await {
            Ok(stmt) => stmt,
            Err(e) => return unavailable_is_none(e),
        };
        let rows = match client
            .query(&stmt, &params.refs(&[&i64::MIN, &first]))
            .await
        {
            Ok(rows) => rows,
            Err(e) => return unavailable_is_none(e),
        };
        let mut c = collect();
        let mut more = true;
        for row in &rows {
            if !c.push(row.get(1))? {
                more = false;
                break;
            }
        }
        if !more || (rows.len() as i64) < first {
            return Ok(Some(c.finish()));
        }
    }
    // One snapshot for every chunk, so that an entity rewritten meanwhile is seen once.
    let tx = match client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
    {
        Ok(tx) => tx,
        Err(e) => return unavailable_is_none(e),
    };
    let mut c = collect();
    let mut fetch = first;
    let mut after = i64::MIN;
    match shape {
        Shape::All => {
            let stmt = tx.prepare_typed(sql, &params.types).await.map_err(pg_err)?;
            let portal = tx.bind(&stmt, &params.refs(&[])).await.map_err(pg_err)?;
            drain(&tx, &portal, &mut fetch, &mut after, &mut c).await?;
        }
        Shape::Chunks { walk: true } => {
            // The plan of a walk does not depend on the values it is given: its statement
            // is prepared once per connection and planned once for all the requests that
            // reuse its text.
            let types: Vec<Type> = params.types.iter().cloned().chain([Type::INT8]).collect();
            bound_cache(&tx.statement_cache);
            let stmt = tx.prepare_typed_cached(sql, &types).await.map_err(pg_err)?;
            loop {
                let portal = tx
                    .bind(&stmt, &params.refs(&[&after]))
                    .await
                    .map_err(pg_err)?;
                let (read, more) = drain(&tx, &portal, &mut fetch, &mut after, &mut c).await?;
                if !more || read < FETCH_MAX {
                    break;
                }
            }
        }
        Shape::Chunks { walk: false } => {
            bound_cache(&tx.statement_cache);
            let stmt = tx
                .prepare_typed_cached(sql, &chunk_types)
                .await
                .map_err(pg_err)?;
            'chunks: loop {
                let rows = tx
                    .query(&stmt, &params.refs(&[&after, &fetch]))
                    .await
                    .map_err(pg_err)?;
                for row in &rows {
                    after = row.get(0);
                    if !c.push(row.get(1))? {
                        break 'chunks;
                    }
                }
                if (rows.len() as i64) < fetch {
                    break;
                }
                fetch = (fetch.saturating_mul(2)).min(FETCH_MAX);
            }
        }
    }
    // Nothing was written: ending the snapshot cannot lose anything.
    drop(tx);
    Ok(Some(c.finish()))
}

/// `Ok(None)` for an error that a new connection may not meet (the pooled one was dead),
/// the error otherwise.
fn unavailable_is_none(e: tokio_postgres::Error) -> StoreResult<Option<Page>> {
    match pg_err(e) {
        StoreError::Unavailable(_) => Ok(None),
        other => Err(other),
    }
}
