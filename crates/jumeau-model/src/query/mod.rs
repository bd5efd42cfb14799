//! What a client can ask of the twin: the NGSI-LD query model (ETSI GS CIM 009 §4.9 to §4.11).
//!
//! The API parses request parameters into an [`EntityQuery`]; every store engine answers it.
//! Engines may use indexes to pre-select candidates but must give the exact answer defined by
//! [`EntityQuery::matches`], which is the reference semantics.

pub mod q;
pub mod types;

use jumeau_geo::GeoQuery;
use regex::Regex;

use crate::Entity;
pub use q::QExpr;
pub use types::TypeExpr;

/// The default page size when a query names no limit.
pub const DEFAULT_LIMIT: usize = 20;
/// The largest page a client may ask for.
pub const MAX_LIMIT: usize = 1000;

/// A geo-query applied to one GeoProperty of the entities.
#[derive(Debug, Clone)]
pub struct GeoFilter {
    /// The relation and reference geometry.
    pub query: GeoQuery,
    /// The expanded name of the GeoProperty compared (`location` by default).
    pub property: String,
}

/// A query over the entities of one tenant.
#[derive(Debug, Clone, Default)]
pub struct EntityQuery {
    /// Only these entity ids (empty: any).
    pub ids: Vec<String>,
    /// Only ids matching this regular expression.
    pub id_pattern: Option<Regex>,
    /// Only entities whose types satisfy this expression (expanded type IRIs).
    pub types: Option<TypeExpr>,
    /// Only entities satisfying this NGSI-LD query-language expression.
    pub q: Option<QExpr>,
    /// Only entities whose GeoProperty satisfies this geo-query.
    pub geo: Option<GeoFilter>,
    /// Only entities having at least one of these attributes (expanded names); empty: any.
    pub attrs: Vec<String>,
    /// Page size.
    pub limit: usize,
    /// How many matching entities to skip.
    pub offset: usize,
    /// Whether the total number of matches is wanted (NGSILD-Results-Count).
    pub count: bool,
}

impl EntityQuery {
    /// The exact semantics of a query on one entity; engines pre-select with indexes, then
    /// apply this.
    pub fn matches(&self, e: &Entity) -> bool {
        if !self.ids.is_empty() && !self.ids.iter().any(|i| i == &e.id) {
            return false;
        }
        if let Some(p) = &self.id_pattern {
            if !p.is_match(&e.id) {
                return false;
            }
        }
        if let Some(t) = &self.types {
            if !t.matches(&e.types) {
                return false;
            }
        }
        if !self.attrs.is_empty() && !self.attrs.iter().any(|a| e.attrs.contains_key(a)) {
            return false;
        }
        if let Some(q) = &self.q {
            if !q.matches(e) {
                return false;
            }
        }
        if let Some(g) = &self.geo {
            if !e.geometries(&g.property).any(|geom| g.query.matches(geom)) {
                return false;
            }
        }
        true
    }
}
