//! Geometry for the Jumeau twin: validated GeoJSON geometries (RFC 7946), the NGSI-LD
//! geo-query relations, and the Lambert-93 projection (EPSG:2154) used by French data.
//!
//! Everything here is pure and synchronous so that every store engine and importer shares
//! one definition of what a valid geometry is and what `within` or `near` mean.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod geometry;
mod lambert93;
mod query;
mod validity;

pub use geometry::{BBox, Geometry};
pub use lambert93::{lambert93_to_wgs84, wgs84_to_lambert93};
pub use query::{GeoQuery, GeoRel};

/// Why a geometry, a geo-query or a coordinate conversion was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct GeoError(pub String);
