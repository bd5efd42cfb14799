//! Entity queries on PostgreSQL: candidates from the indexes, exact test in Rust.
//!
//! The type expression, ids, attribute list, `q` (through [`crate::qplan`]) and the
//! geo-query (through PostGIS and its GiST index) become one parameterised SQL statement
//! selecting a superset of the matching entities in creation order; the rows are read
//! through a cursor, and [`EntityQuery::matches`] decides on each, until the page is full
//! (or to the end, when the total count is asked).

use jumeau_geo::GeoRel;
use jumeau_model::query::q::CompOp;
use jumeau_model::query::EntityQuery;
use tokio_postgres::types::ToSql;

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

/// Rows read from the cursor at a time, at most.
const FETCH_MAX: i32 = 1000;

/// The parameters of one statement; the tenant is always `$1`.
struct Params(Vec<Param>);

impl Params {
    fn bind(&mut self, p: Param) -> String {
        self.0.push(p);
        format!("${}", self.0.len())
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0
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
        format!("{}::float8", self.bind(Box::new(value)))
    }

    fn open_rows(&mut self, attr: &str, negate: bool) -> String {
        let attr = self.bind(Box::new(attr.to_string()));
        let not = if negate { "NOT " } else { "" };
        format!(
            "{not}EXISTS (SELECT 1 FROM attr_values a WHERE a.tenant_id = $1 AND a.eseq = e.seq AND a.attr = {attr}"
        )
    }

    fn text(&mut self, op: CompOp, value: &str) -> String {
        // Rows hold the key of their text (see `text_key`): compare keys, widening strict
        // comparisons, which keeps every candidate.
        let v = self.bind(Box::new(text_key(value).to_string()));
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

/// The candidate-selection SQL of a query and its parameters.
fn candidate_sql(tenant: &str, query: &EntityQuery) -> (String, Params) {
    let mut p = Params(vec![Box::new(tenant.to_string())]);
    let mut sql = String::from("SELECT e.seq, e.doc FROM entities e WHERE e.tenant_id = $1");
    if let Some(types) = &query.types {
        let list: Vec<String> = types.mentioned().into_iter().map(str::to_string).collect();
        let list = p.bind(Box::new(list));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM entity_types t WHERE t.tenant_id = $1 AND t.eseq = e.seq \
             AND t.type = ANY({list}))"
        ));
    }
    if !query.ids.is_empty() {
        let ids = p.bind(Box::new(query.ids.clone()));
        sql.push_str(&format!(" AND e.id = ANY({ids})"));
    }
    if !query.attrs.is_empty() {
        let attrs = p.bind(Box::new(query.attrs.clone()));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM attr_values a WHERE a.tenant_id = $1 AND a.eseq = e.seq \
             AND a.attr = ANY({attrs}))"
        ));
    }
    if let Some(q) = &query.q {
        let pre = crate::qplan::render(q, &mut p);
        sql.push_str(&format!(" AND ({pre})"));
    }
    if let Some(geo) = &query.geo {
        sql.push_str(&geo_condition(geo, &mut p));
    }
    sql.push_str(" ORDER BY e.seq");
    (sql, p)
}

/// The geo-query as a condition on the entity's geometries: a superset of the matches,
/// found through the GiST index.
fn geo_condition(geo: &jumeau_model::query::GeoFilter, p: &mut Params) -> String {
    let attr = p.bind(Box::new(geo.property.clone()));
    let mut cond = format!(
        " AND EXISTS (SELECT 1 FROM geo_values g WHERE g.tenant_id = $1 AND g.eseq = e.seq AND g.attr = {attr}"
    );
    if let Some(b) = geo.query.candidate_bbox() {
        let coords: Vec<String> = [b.min_x, b.min_y, b.max_x, b.max_y]
            .into_iter()
            .map(|v| format!("{}::float8", p.bind(Box::new(v))))
            .collect();
        cond.push_str(&format!(
            " AND g.geom && ST_MakeEnvelope({}, 4326)",
            coords.join(", ")
        ));
    }
    let geojson = geo.query.geometry.as_json().to_string();
    let reference = |p: &mut Params| {
        let r = p.bind(Box::new(geojson.clone()));
        format!("ST_Force2D(ST_SetSRID(ST_GeomFromGeoJSON({r}::text), 4326))")
    };
    // Parameters are bound only where used: PostgreSQL counts them from the text.
    let topo = |p: &mut Params, within: bool, contains: bool| {
        let r = reference(p);
        let eps = format!("{}::float8", p.bind(Box::new(GEO_EPSILON)));
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
                let d = p.bind(Box::new(d * 1.001 + 1.0));
                cond.push_str(&format!(
                    " AND ({point} OR ST_DWithin(g.geom::geography, {reference}::geography, {d}::float8))"
                ));
            }
            if let Some(d) = min_distance.map(|d| d * 0.999 - 1.0).filter(|d| *d > 0.0) {
                let reference = reference(p);
                let d = p.bind(Box::new(d));
                cond.push_str(&format!(
                    " AND ({point} OR NOT ST_DWithin(g.geom::geography, {reference}::geography, {d}::float8))"
                ));
            }
        }
    }
    cond.push(')');
    cond
}

impl PgStore {
    /// [`crate::Store::query`].
    pub(super) async fn query_entities(
        &self,
        tenant: &str,
        query: &EntityQuery,
    ) -> StoreResult<Page> {
        let (sql, params) = candidate_sql(tenant, query);
        let mut client = self.client().await?;
        if let Some(page) = query_on(&mut client, &sql, &params, query).await? {
            return Ok(page);
        }
        // The pooled connection was dead (the server restarted or closed it): read again on
        // a new one.
        drop(client);
        self.forget_idle();
        let mut client = self.client().await?;
        query_on(&mut client, &sql, &params, query)
            .await?
            .ok_or_else(|| StoreError::Unavailable("PostgreSQL closed the connection".into()))
    }
}

/// Runs a candidate query on one connection; `Ok(None)` when the connection fails at the
/// start of the transaction.
async fn query_on(
    client: &mut deadpool_postgres::Object,
    sql: &str,
    params: &Params,
    query: &EntityQuery,
) -> StoreResult<Option<Page>> {
    let tx = match client.build_transaction().read_only(true).start().await {
        Ok(tx) => tx,
        Err(e) => {
            return match pg_err(e) {
                StoreError::Unavailable(_) => Ok(None),
                other => Err(other),
            }
        }
    };
    let stmt = tx.prepare(sql).await.map_err(pg_err)?;
    let portal = tx.bind(&stmt, &params.refs()).await.map_err(pg_err)?;
    let mut page = Page::default();
    let wanted = query.offset.saturating_add(query.limit);
    let mut matched: u64 = 0;
    let mut fetch = (wanted.saturating_add(16)).clamp(16, FETCH_MAX as usize) as i32;
    'rows: loop {
        let rows = tx.query_portal(&portal, fetch).await.map_err(pg_err)?;
        let n = rows.len();
        for row in rows {
            let doc: &str = row.get(1);
            let e = decode(doc)?;
            if !query.matches(&e) {
                continue;
            }
            matched += 1;
            if matched as usize > query.offset && page.entities.len() < query.limit {
                page.entities.push(e);
            }
            if !query.count && matched as usize >= wanted {
                break 'rows;
            }
        }
        if n < fetch as usize {
            break;
        }
        fetch = (fetch.saturating_mul(2)).min(FETCH_MAX);
    }
    if query.count {
        page.count = Some(matched);
    }
    Ok(Some(page))
}
