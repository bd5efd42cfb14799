//! Georeferencing of EPANET coordinates.
//!
//! `.inp` coordinates are in a local drawing frame (L-Town spans 0..3 000 in x). A
//! [`Georeference`] places that frame in Lambert-93 (EPSG:2154, the official projection of
//! metropolitan France) with a similarity transform — scale, rotation, then offset — and
//! `jumeau-geo` converts the result to WGS84 for GeoJSON (RFC 7946).

use serde::{Deserialize, Serialize};

use crate::error::{Result, WaterError};

/// A similarity transform from local `.inp` coordinates to Lambert-93 metres:
/// `L93 = origin + scale · R(rotation) · (local − local_origin)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Georeference {
    /// Lambert-93 easting (m) of the local origin.
    pub origin_x: f64,
    /// Lambert-93 northing (m) of the local origin.
    pub origin_y: f64,
    /// Local point mapped to the origin (often 0, 0).
    pub local_origin: (f64, f64),
    /// Metres per local unit (1 for a file drawn in metres; 0.3048 for feet).
    pub scale: f64,
    /// Counter-clockwise rotation from the local x axis to Lambert-93 east, in degrees.
    pub rotation_deg: f64,
}

impl Georeference {
    /// A transform that only moves the local origin to a Lambert-93 point, keeping metres
    /// and orientation.
    pub fn offset(origin_x: f64, origin_y: f64) -> Self {
        Self {
            origin_x,
            origin_y,
            local_origin: (0.0, 0.0),
            scale: 1.0,
            rotation_deg: 0.0,
        }
    }

    /// Checks the parameters: finite numbers and a positive scale.
    pub fn validate(&self) -> Result<()> {
        let all = [
            self.origin_x,
            self.origin_y,
            self.local_origin.0,
            self.local_origin.1,
            self.scale,
            self.rotation_deg,
        ];
        if all.iter().any(|v| !v.is_finite()) {
            return Err(WaterError::Geo(
                "every georeferencing parameter must be a finite number".into(),
            ));
        }
        if self.scale <= 0.0 {
            return Err(WaterError::Geo(format!(
                "scale {} must be greater than 0 (metres per local unit)",
                self.scale
            )));
        }
        Ok(())
    }

    /// Lambert-93 metres of a local point.
    pub fn to_lambert93(&self, x: f64, y: f64) -> (f64, f64) {
        let (s, c) = self.rotation_deg.to_radians().sin_cos();
        let dx = (x - self.local_origin.0) * self.scale;
        let dy = (y - self.local_origin.1) * self.scale;
        (
            self.origin_x + c * dx - s * dy,
            self.origin_y + s * dx + c * dy,
        )
    }

    /// WGS84 (longitude, latitude) degrees of a local point.
    pub fn to_wgs84(&self, x: f64, y: f64) -> Result<(f64, f64)> {
        let (e, n) = self.to_lambert93(x, y);
        jumeau_geo::lambert93_to_wgs84(e, n).map_err(|e| WaterError::Geo(e.0))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn similarity_transform() {
        let g = Georeference {
            origin_x: 700_000.0,
            origin_y: 6_600_000.0,
            local_origin: (10.0, 10.0),
            scale: 2.0,
            rotation_deg: 90.0,
        };
        let (x, y) = g.to_lambert93(11.0, 10.0);
        assert!((x - 700_000.0).abs() < 1e-9 && (y - 6_600_002.0).abs() < 1e-9);
        // Lambert-93 (700 000, 6 600 000) is the projection's reference point, 3°E 46.5°N.
        let (lon, lat) = Georeference::offset(700_000.0, 6_600_000.0)
            .to_wgs84(0.0, 0.0)
            .unwrap();
        assert!((lon - 3.0).abs() < 1e-6 && (lat - 46.5).abs() < 1e-6);
        assert!(Georeference { scale: 0.0, ..g }.validate().is_err());
        assert!(Georeference::offset(0.0, 0.0).to_wgs84(0.0, 0.0).is_err());
    }
}
