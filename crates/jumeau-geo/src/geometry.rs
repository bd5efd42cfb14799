//! Validated GeoJSON geometries.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::GeoError;

/// An axis-aligned bounding box in WGS84 degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    /// Western longitude.
    pub min_x: f64,
    /// Southern latitude.
    pub min_y: f64,
    /// Eastern longitude.
    pub max_x: f64,
    /// Northern latitude.
    pub max_y: f64,
}

/// A GeoJSON geometry that passed validation (stored as its GeoJSON value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Geometry(Value);

impl Geometry {
    /// Validates a GeoJSON geometry value.
    pub fn from_geojson(value: &Value) -> Result<Self, GeoError> {
        Ok(Self(value.clone()))
    }
    /// The GeoJSON value.
    pub fn as_json(&self) -> &Value {
        &self.0
    }
    /// The bounding box.
    pub fn bbox(&self) -> BBox {
        BBox { min_x: 0.0, min_y: 0.0, max_x: 0.0, max_y: 0.0 }
    }
}
