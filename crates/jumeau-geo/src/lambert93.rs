//! Lambert-93 (EPSG:2154, RGF93 / Lambert-93) to and from WGS84, through `proj4rs`.
//!
//! French public data (cadastre, BD TOPO, open data portals) is mostly published in
//! Lambert-93 metres while NGSI-LD stores GeoJSON in WGS84 degrees, so importers need a
//! dependable conversion. The projection itself is computed by `proj4rs` (a Rust port of
//! PROJ); this module only supplies the EPSG:2154 definition and checks the inputs.
//!
//! RGF93 is the French realisation of ETRS89, which agrees with WGS84 to a few centimetres,
//! hence the null datum shift (`+towgs84=0,0,0,0,0,0,0`), as in the EPSG definition.
use std::sync::OnceLock;

use proj4rs::proj::Proj;
use proj4rs::transform::transform;

use crate::GeoError;

/// The EPSG:2154 projection: a secant Lambert conformal conic on GRS80.
const LAMBERT93: &str = "+proj=lcc +lat_0=46.5 +lon_0=3 +lat_1=49 +lat_2=44 +x_0=700000 \
     +y_0=6600000 +ellps=GRS80 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs";
/// Geographic WGS84 (longitude, latitude), the GeoJSON reference system.
const WGS84: &str = "+proj=longlat +ellps=WGS84 +datum=WGS84 +no_defs";

/// Lambert-93 eastings accepted, in metres: metropolitan France and Corsica with a wide
/// margin (the projection is defined everywhere but is meaningless far from France).
const X_RANGE: (f64, f64) = (-400_000.0, 1_500_000.0);
/// Lambert-93 northings accepted, in metres (see [`X_RANGE`]).
const Y_RANGE: (f64, f64) = (5_900_000.0, 7_200_000.0);

/// The two projections, parsed once.
fn projections() -> Result<&'static (Proj, Proj), GeoError> {
    static PROJS: OnceLock<Result<(Proj, Proj), String>> = OnceLock::new();
    PROJS
        .get_or_init(|| {
            let l93 = Proj::from_proj_string(LAMBERT93)
                .map_err(|e| format!("the Lambert-93 definition was refused by proj4rs: {e}"))?;
            let wgs = Proj::from_proj_string(WGS84)
                .map_err(|e| format!("the WGS84 definition was refused by proj4rs: {e}"))?;
            Ok((l93, wgs))
        })
        .as_ref()
        .map_err(|e| GeoError(e.clone()))
}

/// Whether a Lambert-93 point lies in the area where the projection is used.
fn in_domain(x: f64, y: f64) -> bool {
    (X_RANGE.0..=X_RANGE.1).contains(&x) && (Y_RANGE.0..=Y_RANGE.1).contains(&y)
}

/// Converts Lambert-93 metres (easting `x`, northing `y`) to WGS84 (longitude, latitude)
/// in degrees.
///
/// Refuses non-finite values and points outside the area of France
/// (x in [-400 000, 1 500 000], y in [5 900 000, 7 200 000]), which usually means swapped
/// columns or data in another projection.
pub fn lambert93_to_wgs84(x: f64, y: f64) -> Result<(f64, f64), GeoError> {
    if !x.is_finite() || !y.is_finite() {
        return Err(GeoError(format!(
            "Lambert-93 point (x {x}, y {y}) is not a pair of finite numbers; \
             give the easting and northing in metres"
        )));
    }
    if !in_domain(x, y) {
        let hint = if in_domain(y, x) {
            "the x and y columns look swapped"
        } else {
            "the columns may be swapped, or the data may be in another projection \
             (Lambert II étendu, a CC zone, Web Mercator or plain degrees)"
        };
        return Err(GeoError(format!(
            "Lambert-93 point (x {x}, y {y}) is outside the area of France \
             (x in [{}, {}], y in [{}, {}] metres): {hint}",
            X_RANGE.0, X_RANGE.1, Y_RANGE.0, Y_RANGE.1
        )));
    }
    let (l93, wgs) = projections()?;
    let mut p = (x, y, 0.0);
    transform(l93, wgs, &mut p).map_err(|e| {
        GeoError(format!(
            "Lambert-93 point (x {x}, y {y}) could not be converted to WGS84: {e}"
        ))
    })?;
    let (lon, lat) = (p.0.to_degrees(), p.1.to_degrees());
    if !lon.is_finite() || !lat.is_finite() {
        return Err(GeoError(format!(
            "Lambert-93 point (x {x}, y {y}) has no WGS84 equivalent; check the values"
        )));
    }
    Ok((lon, lat))
}

/// Converts WGS84 (longitude, latitude) degrees to Lambert-93 metres (easting, northing).
///
/// Refuses non-finite values, out-of-range degrees and points whose projection falls
/// outside the area of France (same bounds as [`lambert93_to_wgs84`]).
pub fn wgs84_to_lambert93(lon: f64, lat: f64) -> Result<(f64, f64), GeoError> {
    if !lon.is_finite() || !lat.is_finite() {
        return Err(GeoError(format!(
            "WGS84 point (longitude {lon}, latitude {lat}) is not a pair of finite numbers; \
             give decimal degrees"
        )));
    }
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        return Err(GeoError(format!(
            "WGS84 point (longitude {lon}, latitude {lat}) is out of range: longitude must be \
             in [-180, 180] and latitude in [-90, 90] degrees; the values may be metres of a \
             projection rather than degrees"
        )));
    }
    let (l93, wgs) = projections()?;
    let mut p = (lon.to_radians(), lat.to_radians(), 0.0);
    let converted = transform(wgs, l93, &mut p);
    if converted.is_err() || !in_domain(p.0, p.1) {
        let hint = if (41.0..=52.0).contains(&lon) && (-10.0..=11.0).contains(&lat) {
            "longitude and latitude look swapped"
        } else {
            "Lambert-93 only covers metropolitan France and Corsica; check that longitude \
             and latitude are not swapped"
        };
        return Err(GeoError(format!(
            "WGS84 point (longitude {lon}, latitude {lat}) is outside the area of Lambert-93: \
             {hint}"
        )));
    }
    Ok((p.0, p.1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    /// Independent reference: the closed-form Lambert conformal conic formulas of IGN's
    /// algorithms ALG0001 (isometric latitude) and ALG0003 (geographic to Lambert), fed with
    /// the constants IGN publishes for Lambert-93: n = 0.7256077650532670,
    /// C = 11 754 255.426096 m, Xs = 700 000 m, Ys = 12 655 612.049876 m, GRS80
    /// e = 0.0818191910428158. Used only to check `proj4rs` (agreement within 1 mm), never
    /// in production.
    fn ign_alg0003(lon: f64, lat: f64) -> (f64, f64) {
        let n = 0.725_607_765_053_267;
        let c = 11_754_255.426_096;
        let (xs, ys) = (700_000.0, 12_655_612.049_876);
        let e = 0.081_819_191_042_815_8_f64;
        let phi = lat.to_radians();
        let iso = ((std::f64::consts::FRAC_PI_4 + phi / 2.0).tan()
            * ((1.0 - e * phi.sin()) / (1.0 + e * phi.sin())).powf(e / 2.0))
        .ln();
        let r = c * (-n * iso).exp();
        let gamma = n * (lon - 3.0).to_radians();
        (xs + r * gamma.sin(), ys - r * gamma.cos())
    }

    fn close(a: (f64, f64), b: (f64, f64), tol: f64) -> bool {
        (a.0 - b.0).abs() <= tol && (a.1 - b.1).abs() <= tol
    }

    #[test]
    fn origin_is_exact() {
        let (x, y) = wgs84_to_lambert93(3.0, 46.5).unwrap();
        assert!((x - 700_000.0).abs() < 1e-6, "{x}");
        assert!((y - 6_600_000.0).abs() < 1e-6, "{y}");
        let (lon, lat) = lambert93_to_wgs84(700_000.0, 6_600_000.0).unwrap();
        assert!((lon - 3.0).abs() < 1e-10 && (lat - 46.5).abs() < 1e-10);
    }

    #[test]
    fn agrees_with_ign_published_constants() {
        // Corners and middle of metropolitan France, Corsica included.
        for (lon, lat) in [
            (2.3522, 48.8566),
            (-4.7, 48.4),
            (8.2, 48.9),
            (9.4, 41.4),
            (-1.8, 43.4),
            (3.0, 51.0),
            (7.0, 43.7),
        ] {
            let got = wgs84_to_lambert93(lon, lat).unwrap();
            let want = ign_alg0003(lon, lat);
            assert!(
                close(got, want, 0.001),
                "({lon}, {lat}): {got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn published_city_points() {
        // Lambert-93 values of French cities published with centimetre precision in the
        // test suite of RTE's `mechaphlowers` (computed with PROJ): matched within 1 cm. The
        // Eiffel Tower example of the gpsfrance.net converter is rounded to the metre.
        let cases = [
            ((2.3522, 48.8566), (652_469.02, 6_862_035.26)), // Paris
            ((5.3698, 43.2965), (892_390.22, 6_247_035.26)), // Marseille
            ((4.8357, 45.7640), (842_666.66, 6_519_924.37)), // Lyon
            ((1.4442, 43.6047), (574_357.82, 6_279_642.97)), // Toulouse
            ((7.7521, 48.5734), (1_050_362.70, 6_840_899.65)), // Strasbourg
            ((-1.5536, 47.2184), (355_577.80, 6_689_723.10)), // Nantes
            ((3.0573, 50.6292), (704_061.15, 7_059_136.59)), // Lille
            ((-0.5792, 44.8378), (417_241.54, 6_421_813.35)), // Bordeaux
        ];
        for ((lon, lat), want) in cases {
            let got = wgs84_to_lambert93(lon, lat).unwrap();
            assert!(
                close(got, want, 0.01),
                "({lon}, {lat}): {got:?} vs {want:?}"
            );
            let back = lambert93_to_wgs84(want.0, want.1).unwrap();
            // 1e-6 degree is about 0.1 m.
            assert!(close(back, (lon, lat), 1e-6), "{want:?}: {back:?}");
        }
        let eiffel = wgs84_to_lambert93(2.2945, 48.8584).unwrap();
        assert!(close(eiffel, (648_237.0, 6_862_272.0), 1.0), "{eiffel:?}");
    }

    #[test]
    fn round_trips_across_france() {
        let mut lon = -5.0;
        while lon <= 9.5 {
            let mut lat = 41.5;
            while lat <= 51.0 {
                let (x, y) = wgs84_to_lambert93(lon, lat).unwrap();
                let (lon2, lat2) = lambert93_to_wgs84(x, y).unwrap();
                assert!(close((lon, lat), (lon2, lat2), 1e-9), "({lon}, {lat})");
                let (x2, y2) = wgs84_to_lambert93(lon2, lat2).unwrap();
                assert!(close((x, y), (x2, y2), 1e-3));
                lat += 0.75;
            }
            lon += 0.5;
        }
    }

    #[test]
    fn rejects_non_finite() {
        for (a, b) in [
            (f64::NAN, 1.0),
            (1.0, f64::INFINITY),
            (f64::NEG_INFINITY, 0.0),
        ] {
            let e = lambert93_to_wgs84(a, b).unwrap_err();
            assert!(e.0.contains("finite"), "{e}");
            let e = wgs84_to_lambert93(a, b).unwrap_err();
            assert!(e.0.contains("finite"), "{e}");
        }
    }

    #[test]
    fn rejects_points_outside_france() {
        let e = lambert93_to_wgs84(6_862_035.0, 652_469.0).unwrap_err();
        assert!(e.0.contains("(x 6862035, y 652469)"), "{e}");
        assert!(e.0.contains("swapped"), "{e}");
        let e = lambert93_to_wgs84(2.35, 48.85).unwrap_err();
        assert!(e.0.contains("another projection"), "{e}");
        let e = lambert93_to_wgs84(652_469.0, 2_362_035.0).unwrap_err();
        assert!(e.0.contains("outside the area of France"), "{e}");
        // Swapped longitude and latitude.
        let e = wgs84_to_lambert93(48.85, 2.35).unwrap_err();
        assert!(e.0.contains("longitude 48.85, latitude 2.35"), "{e}");
        assert!(e.0.contains("swapped"), "{e}");
        // Metres given as degrees.
        let e = wgs84_to_lambert93(652_469.0, 6_862_035.0).unwrap_err();
        assert!(e.0.contains("out of range"), "{e}");
        // New York is not in France.
        assert!(wgs84_to_lambert93(-74.0, 40.7).is_err());
    }
}
