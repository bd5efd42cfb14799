//! NGSI-LD geo-queries.
use crate::{BBox, GeoError, Geometry};

/// A geo-relation.
#[derive(Debug, Clone, PartialEq)]
pub enum GeoRel {
    /// near;maxDistance and/or minDistance, in metres.
    Near {
        /// Upper bound.
        max_distance: Option<f64>,
        /// Lower bound.
        min_distance: Option<f64>,
    },
    /// within
    Within,
    /// contains
    Contains,
    /// intersects
    Intersects,
    /// equals
    Equals,
    /// disjoint
    Disjoint,
    /// overlaps
    Overlaps,
}

/// A geo-query.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoQuery {
    /// The relation.
    pub georel: GeoRel,
    /// The reference geometry.
    pub geometry: Geometry,
}

impl GeoQuery {
    /// Parses the georel, geometry and coordinates parameters.
    pub fn parse(georel: &str, geometry: &str, coordinates: &str) -> Result<Self, GeoError> {
        let _ = (georel, geometry, coordinates);
        Err(GeoError("not yet".into()))
    }
    /// Whether a geometry satisfies the query.
    pub fn matches(&self, g: &Geometry) -> bool {
        let _ = g;
        false
    }
    /// A box outside which nothing can match, for an index prefilter; `None` when the
    /// relation can match anywhere (disjoint, near with only minDistance).
    pub fn candidate_bbox(&self) -> Option<BBox> {
        None
    }
}
