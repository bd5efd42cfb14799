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
//! all chunks in one read-only snapshot. Without ids or a geo-query, the index conditions
//! are fenced (`OFFSET 0` in each `EXISTS`), so that they stay per-entity lookups on
//! `attr_values (tenant_id, eseq, attr)` tested while walking the entities in creation
//! order, from the type index when the query names one type: a page of a broad query then
//! stops after the first few hundred entities, whatever the statistics say (left to
//! itself, the planner joins every row the value index selects, then sorts them). With ids
//! or a geo-query, which the primary key or the GiST index narrow, and for a total count,
//! which reads every candidate anyway, the planner chooses the join order.
//!
//! Every parameter is sent with its type, so that no statement depends on PostgreSQL
//! inferring one.

use jumeau_geo::GeoRel;
use jumeau_model::query::q::CompOp;
use jumeau_model::query::EntityQuery;
use tokio_postgres::types::{ToSql, Type};

use super::entities::{decode, text_key};
use super::{pg_err, PgStore};
use crate::qplan::Dialect;
use crate::{Page, StoreError, StoreResult};

/// A bound parameter.
type Param = Box<dyn ToSql + Sync + Send>;

/// Planar tolerance, in degrees (about 0.1 mm), added to the topological tests of the
/// candidate selection so that PostGIS's rounding never loses an entity that the exact
/// test would keep.
const GEO_EPSILON: f64 = 1e-9;

/// Rows read at a time, at most.
const FETCH_MAX: i64 = 1000;

/// The parameters of one statement, with their types; the tenant is always `$1`.
struct Params {
    values: Vec<Param>,
    types: Vec<Type>,
    /// Whether index conditions are fenced from the planner (see the module comment).
    fence: bool,
}

impl Params {
    fn new(tenant: &str, fence: bool) -> Self {
        let mut p = Self {
            values: Vec::new(),
            types: Vec::new(),
            fence,
        };
        p.text(tenant.to_string());
        p
    }

    fn bind(&mut self, p: Param, ty: Type) -> String {
        self.values.push(p);
        self.types.push(ty);
        format!("${}", self.values.len())
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

    /// What ends an `EXISTS` subquery: a fence when the plan is a walk.
    fn close(&self) -> &'static str {
        if self.fence {
            " OFFSET 0)"
        } else {
            ")"
        }
    }

    /// The parameters with their types, followed by `extra`.
    fn typed<'a>(
        &'a self,
        extra: &'a [&'a (dyn ToSql + Sync)],
    ) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
        self.values
            .iter()
            .zip(&self.types)
            .map(|(p, t)| (p.as_ref() as &(dyn ToSql + Sync), t.clone()))
            .chain(extra.iter().map(|p| (*p, Type::INT8)))
            .collect()
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

impl Dialect for Params {
    fn constant(&self, value: bool) -> &'static str {
        if value {
            "true"
        } else {
            "false"
        }
    }

    fn bind_real(&mut self, value: f64) -> String {
        format!("{}::float8", self.real(value))
    }

    fn open_rows(&mut self, attr: &str, negate: bool) -> String {
        let attr = self.text(attr.to_string());
        let not = if negate { "NOT " } else { "" };
        format!(
            "{not}EXISTS (SELECT 1 FROM attr_values a WHERE a.tenant_id = $1 AND a.eseq = e.seq AND a.attr = {attr}"
        )
    }

    fn close_rows(&self) -> &'static str {
        self.close()
    }

    fn text(&mut self, op: CompOp, value: &str) -> String {
        // Rows hold the key of their text (see `text_key`): compare keys, widening strict
        // comparisons, which keeps every candidate.
        let v = Params::text(self, text_key(value).to_string());
        let op = match op {
            CompOp::Gt | CompOp::Ge => ">=",
            CompOp::Lt | CompOp::Le => "<=",
            _ => "=",
        };
        format!("txt {op} {v}")
    }

    fn regex(&mut self, _pattern: &str) -> String {
        // PostgreSQL's regular expressions are not the query language's: keep every text
        // and let the exact test decide.
        "txt IS NOT NULL".into()
    }
}

/// How the candidates of a query are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Every candidate, in one statement (a total count is asked).
    All,
    /// In chunks after a sequence number (`$n` and `$n+1` follow the other parameters:
    /// the last sequence number seen and the chunk size); `walk` fences the index
    /// conditions.
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
    let mut p = Params::new(tenant, walk);
    let types: Vec<String> = query
        .types
        .as_ref()
        .map(|t| t.mentioned().into_iter().map(str::to_string).collect())
        .unwrap_or_default();
    // Walking one type: its index gives the entities in creation order.
    let by_type = walk && types.len() == 1;
    let (mut sql, seq) = if by_type {
        let t = p.text(types[0].clone());
        (
            format!(
                "SELECT e.seq, e.doc FROM entity_types t JOIN entities e \
                 ON e.tenant_id = $1 AND e.seq = t.eseq \
                 WHERE t.tenant_id = $1 AND t.type = {t}"
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
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM entity_types t WHERE t.tenant_id = $1 AND t.eseq = e.seq \
             AND t.type = ANY({list}){}",
            p.close()
        ));
    }
    if !query.ids.is_empty() {
        let ids = p.texts(query.ids.clone());
        sql.push_str(&format!(" AND e.id = ANY({ids})"));
    }
    if !query.attrs.is_empty() {
        let attrs = p.texts(query.attrs.clone());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM attr_values a WHERE a.tenant_id = $1 AND a.eseq = e.seq \
             AND a.attr = ANY({attrs}){}",
            p.close()
        ));
    }
    if let Some(q) = &query.q {
        let pre = crate::qplan::render(q, &mut p);
        sql.push_str(&format!(" AND ({pre})"));
    }
    if let Some(geo) = &query.geo {
        sql.push_str(&geo_condition(geo, &mut p));
    }
    match shape {
        Shape::All => sql.push_str(" ORDER BY e.seq"),
        Shape::Chunks { .. } => {
            let after = p.values.len() + 1;
            let limit = after + 1;
            sql.push_str(&format!(
                " AND {seq} > ${after}::bigint ORDER BY {seq} LIMIT ${limit}::bigint"
            ));
        }
    }
    (sql, p)
}

/// The geo-query as a condition on the entity's geometries: a superset of the matches,
/// found through the GiST index.
fn geo_condition(geo: &jumeau_model::query::GeoFilter, p: &mut Params) -> String {
    let attr = p.text(geo.property.clone());
    let mut cond = format!(
        " AND EXISTS (SELECT 1 FROM geo_values g WHERE g.tenant_id = $1 AND g.eseq = e.seq AND g.attr = {attr}"
    );
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
    cond.push_str(p.close());
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
        let mut client = self.client().await?;
        if let Some(page) = query_on(&mut client, &sql, &params, shape, query).await? {
            return Ok(page);
        }
        // The pooled connection was dead (the server restarted or closed it): read again on
        // a new one.
        drop(client);
        self.forget_idle();
        let mut client = self.client().await?;
        query_on(&mut client, &sql, &params, shape, query)
            .await?
            .ok_or_else(|| StoreError::Unavailable("PostgreSQL closed the connection".into()))
    }
}

/// What the candidates read so far give.
struct Collect<'a> {
    query: &'a EntityQuery,
    page: Page,
    matched: u64,
    wanted: usize,
}

impl Collect<'_> {
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

/// Runs a candidate query on one connection; `Ok(None)` when the connection fails at the
/// start of the transaction.
async fn query_on(
    client: &mut deadpool_postgres::Object,
    sql: &str,
    params: &Params,
    shape: Shape,
    query: &EntityQuery,
) -> StoreResult<Option<Page>> {
    // One snapshot for every chunk, so that an entity rewritten meanwhile is seen once.
    let tx = match client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
    {
        Ok(tx) => tx,
        Err(e) => {
            return match pg_err(e) {
                StoreError::Unavailable(_) => Ok(None),
                other => Err(other),
            }
        }
    };
    let wanted = query.offset.saturating_add(query.limit);
    let mut c = Collect {
        query,
        page: Page::default(),
        matched: 0,
        wanted,
    };
    let mut fetch = (wanted.saturating_add(16) as i64).clamp(16, FETCH_MAX);
    match shape {
        Shape::All => {
            let stmt = tx.prepare_typed(sql, &params.types).await.map_err(pg_err)?;
            let portal = tx.bind(&stmt, &params.refs()).await.map_err(pg_err)?;
            loop {
                let rows = tx
                    .query_portal(&portal, fetch as i32)
                    .await
                    .map_err(pg_err)?;
                for row in &rows {
                    c.push(row.get(1))?;
                }
                if (rows.len() as i64) < fetch {
                    break;
                }
                fetch = (fetch.saturating_mul(2)).min(FETCH_MAX);
            }
        }
        Shape::Chunks { .. } => {
            let mut after = i64::MIN;
            'chunks: loop {
                let rows = tx
                    .query_typed(sql, &params.typed(&[&after, &fetch]))
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
    let mut page = c.page;
    if query.count {
        page.count = Some(c.matched);
    }
    Ok(Some(page))
}
