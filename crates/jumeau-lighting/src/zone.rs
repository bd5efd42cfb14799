//! Lighting zones and the caps that apply in them, held as data.
//!
//! A [`Zone`] is a polygon of the commune with what the arrêté of 27 December 2018 needs to
//! know about it: inside or outside a built-up area (agglomération), what it lights (roads or
//! car parks) and whether it is protected (art. 4: protected natural areas, astronomical
//! sites) or a "trame noire" corridor. The caps are a [`Caps`] value: the defaults are the
//! arrêté's, and every figure can be edited (per protection kind in [`Rules`], and per zone)
//! without touching code, because communes and parks adopt stricter rules of their own.
use jumeau_geo::{wgs84_to_lambert93, Geometry};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::inventory::LightingCategory;
use crate::schedule::TimeWindow;

/// Why a zone could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ZoneError {
    /// The geometry is not a polygon.
    #[error(
        "zone {zone}: its geometry is a {found}; give a Polygon or MultiPolygon in WGS84 \
         covering the lit area"
    )]
    NotAPolygon {
        /// The zone id.
        zone: String,
        /// The geometry type found.
        found: String,
    },
    /// A vertex could not be projected to Lambert-93 to measure areas.
    #[error("zone {zone}: {reason}")]
    Projection {
        /// The zone id.
        zone: String,
        /// What the projection said.
        reason: String,
    },
}

/// Whether a zone is protected, which selects stricter caps (art. 4 of the arrêté).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Protection {
    /// No particular protection: the general caps of art. 3 apply.
    #[default]
    None,
    /// A protected natural area (réserve naturelle, parc national, parc naturel régional...):
    /// art. 4.
    ProtectedNaturalArea,
    /// The surroundings of an astronomical observation site: art. 4 (and ULR = 0 for
    /// heritage lighting, art. 3 II 1°).
    AstronomicalSite,
    /// A "trame noire" ecological corridor adopted by the commune or the park, whose caps
    /// are set locally.
    DarkCorridor,
}

impl Protection {
    /// The French label.
    pub fn label_fr(self) -> &'static str {
        match self {
            Self::None => "aucune",
            Self::ProtectedNaturalArea => "espace naturel protégé",
            Self::AstronomicalSite => "site d'observation astronomique",
            Self::DarkCorridor => "trame noire",
        }
    }
}

/// Installed flux per surface caps (DSFLI, densité surfacique de flux lumineux installé),
/// in lm/m², art. 3 II 4° of the arrêté.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DsfliCaps {
    /// Category a) roads and public space, inside a built-up area (< 35 lm/m²).
    pub road_built_up: f64,
    /// Category a) outside a built-up area (< 25 lm/m²).
    pub road_outside: f64,
    /// Category e) car parks, inside a built-up area (< 25 lm/m²).
    pub car_park_built_up: f64,
    /// Category e) car parks, outside a built-up area (< 20 lm/m²).
    pub car_park_outside: f64,
}

impl Default for DsfliCaps {
    fn default() -> Self {
        Self {
            road_built_up: 35.0,
            road_outside: 25.0,
            car_park_built_up: 25.0,
            car_park_outside: 20.0,
        }
    }
}

impl DsfliCaps {
    /// The cap for a category, inside or outside a built-up area.
    pub fn cap(&self, category: LightingCategory, built_up: bool) -> f64 {
        match (category, built_up) {
            (LightingCategory::Road, true) => self.road_built_up,
            (LightingCategory::Road, false) => self.road_outside,
            (LightingCategory::CarPark, true) => self.car_park_built_up,
            (LightingCategory::CarPark, false) => self.car_park_outside,
        }
    }
}

/// The caps that apply in a zone. `Default` gives the general caps of the arrêté of
/// 27 December 2018 (art. 3), which apply everywhere unless a stricter rule is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Caps {
    /// Highest colour temperature, in K: 3000 K for categories a, d and e (art. 3 II 3°).
    pub max_colour_temperature_k: f64,
    /// The rated ULR of the luminaire must be strictly below this, in %: 1 % (art. 3 II 1°).
    pub max_ulr_rated_pct: f64,
    /// The ULR as installed must be strictly below this, in %: 4 % (art. 3 II 1°).
    pub max_ulr_installed_pct: f64,
    /// Lowest CIE flux code n°3, in %: 95 % (art. 3 II; check the figure on Légifrance,
    /// LEGIARTI000038748391).
    pub min_code_flux_pct: f64,
    /// DSFLI caps (art. 3 II 4°).
    pub dsfli: DsfliCaps,
    /// Luminaires sending more than this share of their flux upward ("boules") had to be
    /// replaced by 1 January 2025: 50 % (art. 3 of the arrêté).
    pub globe_upward_pct: f64,
    /// A window of the night when the lights must be off (local wall-clock times), if the
    /// zone imposes one (none by default: art. 2 sets no general hour for open public roads;
    /// it is the commune's or the park's choice).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_dark_window: Option<TimeWindow>,
    /// Highest light level a program may command, in %, if the zone caps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_level_pct: Option<f64>,
    /// Whether lights may only come on after sunset (art. 2, non-residential façades:
    /// "no earlier than sunset"); a program switching on before sunset is then refused.
    pub on_not_before_sunset: bool,
    /// Whether presence detection may light the zone during its dark window.
    pub presence_in_dark_window: bool,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            max_colour_temperature_k: 3000.0,
            max_ulr_rated_pct: 1.0,
            max_ulr_installed_pct: 4.0,
            min_code_flux_pct: 95.0,
            dsfli: DsfliCaps::default(),
            globe_upward_pct: 50.0,
            required_dark_window: None,
            max_level_pct: None,
            on_not_before_sunset: false,
            presence_in_dark_window: true,
        }
    }
}

/// Changes to [`Caps`] for a kind of protection or a single zone: every field set replaces
/// the inherited one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CapsOverride {
    /// See [`Caps::max_colour_temperature_k`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_colour_temperature_k: Option<f64>,
    /// See [`Caps::max_ulr_rated_pct`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ulr_rated_pct: Option<f64>,
    /// See [`Caps::max_ulr_installed_pct`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ulr_installed_pct: Option<f64>,
    /// See [`Caps::min_code_flux_pct`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_code_flux_pct: Option<f64>,
    /// See [`Caps::dsfli`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dsfli: Option<DsfliCaps>,
    /// See [`Caps::required_dark_window`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_dark_window: Option<TimeWindow>,
    /// See [`Caps::max_level_pct`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_level_pct: Option<f64>,
    /// See [`Caps::on_not_before_sunset`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_not_before_sunset: Option<bool>,
    /// See [`Caps::presence_in_dark_window`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_in_dark_window: Option<bool>,
}

impl CapsOverride {
    /// The caps with this override applied.
    pub fn apply(&self, caps: &Caps) -> Caps {
        Caps {
            max_colour_temperature_k: self
                .max_colour_temperature_k
                .unwrap_or(caps.max_colour_temperature_k),
            max_ulr_rated_pct: self.max_ulr_rated_pct.unwrap_or(caps.max_ulr_rated_pct),
            max_ulr_installed_pct: self
                .max_ulr_installed_pct
                .unwrap_or(caps.max_ulr_installed_pct),
            min_code_flux_pct: self.min_code_flux_pct.unwrap_or(caps.min_code_flux_pct),
            dsfli: self.dsfli.unwrap_or(caps.dsfli),
            globe_upward_pct: caps.globe_upward_pct,
            required_dark_window: self.required_dark_window.or(caps.required_dark_window),
            max_level_pct: self.max_level_pct.or(caps.max_level_pct),
            on_not_before_sunset: self
                .on_not_before_sunset
                .unwrap_or(caps.on_not_before_sunset),
            presence_in_dark_window: self
                .presence_in_dark_window
                .unwrap_or(caps.presence_in_dark_window),
        }
    }
}

/// The rule set of a tenant: the general caps and the stricter ones per protection kind.
/// Serializable so that it can be stored and edited; `Default` is the arrêté.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Rules {
    /// The general caps (art. 3).
    pub general: Caps,
    /// Protected natural areas: 2700 K by default (art. 4; check the figure for the kind of
    /// area on Légifrance).
    pub protected_natural_area: CapsOverride,
    /// Astronomical sites: 2400 K and ULR 0 by default (art. 4 and art. 3 II 1°).
    pub astronomical_site: CapsOverride,
    /// "Trame noire" corridors: 2400 K by default; the switch-off window is the commune's.
    pub dark_corridor: CapsOverride,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            general: Caps::default(),
            protected_natural_area: CapsOverride {
                max_colour_temperature_k: Some(2700.0),
                ..CapsOverride::default()
            },
            astronomical_site: CapsOverride {
                max_colour_temperature_k: Some(2400.0),
                max_ulr_rated_pct: Some(0.0),
                max_ulr_installed_pct: Some(0.0),
                ..CapsOverride::default()
            },
            dark_corridor: CapsOverride {
                max_colour_temperature_k: Some(2400.0),
                ..CapsOverride::default()
            },
        }
    }
}

impl Rules {
    /// The caps in force in a zone: the general caps, then its protection's, then its own.
    pub fn caps_for(&self, zone: &Zone) -> Caps {
        let by_protection = match zone.protection {
            Protection::None => None,
            Protection::ProtectedNaturalArea => Some(&self.protected_natural_area),
            Protection::AstronomicalSite => Some(&self.astronomical_site),
            Protection::DarkCorridor => Some(&self.dark_corridor),
        };
        let caps = by_protection.map_or_else(|| self.general.clone(), |o| o.apply(&self.general));
        zone.caps.as_ref().map_or(caps.clone(), |o| o.apply(&caps))
    }

    /// The caps in force at a point outside every zone: the general caps.
    pub fn general_caps(&self) -> &Caps {
        &self.general
    }
}

/// A zone of the commune with a lighting regime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Zone {
    /// An id (the NGSI-LD entity id when the zone is one).
    pub id: String,
    /// A name for people (`Centre-bourg`, `Parking de la gare`).
    pub name: String,
    /// The lit area: a Polygon or MultiPolygon in WGS84.
    pub area: Geometry,
    /// Whether it lies inside a built-up area (en agglomération).
    pub built_up: bool,
    /// What it lights: roads and public space, or a car park (selects the DSFLI cap).
    #[serde(default)]
    pub category: LightingCategory,
    /// Its protection, which selects stricter caps.
    #[serde(default)]
    pub protection: Protection,
    /// Caps of this zone alone, over those of its protection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caps: Option<CapsOverride>,
}

impl Zone {
    /// Checks that the area is a polygon and returns its planar form for measurements.
    pub fn shape(&self) -> Result<Shape, ZoneError> {
        Shape::from_geometry(&self.area).map_err(|e| match e {
            ShapeError::NotAPolygon(found) => ZoneError::NotAPolygon {
                zone: self.id.clone(),
                found,
            },
            ShapeError::Projection(reason) => ZoneError::Projection {
                zone: self.id.clone(),
                reason,
            },
        })
    }
}

/// Why a geometry has no planar shape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ShapeError {
    /// Not a Polygon or MultiPolygon (the type found).
    NotAPolygon(String),
    /// A vertex outside Lambert-93.
    Projection(String),
}

/// A polygon area in two forms: WGS84 rings for point-in-polygon tests (edges are straight in
/// longitude/latitude, as RFC 7946 §3.1.1 says and as the NGSI-LD geo-queries of `jumeau-geo`
/// treat them), and Lambert-93 rings for areas in m². Lambert-93 is conformal, so its area
/// scale is k², within 0.2 % of 1 over metropolitan France.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Polygons, each an outer ring followed by its holes, in (lon, lat).
    wgs84: Vec<Vec<Vec<(f64, f64)>>>,
    /// The same in Lambert-93 metres.
    l93: Vec<Vec<Vec<(f64, f64)>>>,
}

/// Reads a ring of positions from GeoJSON.
fn ring(value: &Value) -> Vec<(f64, f64)> {
    value
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the rings of a polygon from GeoJSON.
fn polygon(value: &Value) -> Vec<Vec<(f64, f64)>> {
    value
        .as_array()
        .map(|rs| rs.iter().map(ring).collect())
        .unwrap_or_default()
}

impl Shape {
    /// The shape of a validated Polygon or MultiPolygon.
    pub(crate) fn from_geometry(g: &Geometry) -> Result<Self, ShapeError> {
        let coords = g.as_json().get("coordinates").unwrap_or(&Value::Null);
        let wgs84: Vec<Vec<Vec<(f64, f64)>>> = match g.geometry_type() {
            "Polygon" => vec![polygon(coords)],
            "MultiPolygon" => coords
                .as_array()
                .map(|ps| ps.iter().map(polygon).collect())
                .unwrap_or_default(),
            other => return Err(ShapeError::NotAPolygon(other.to_string())),
        };
        let l93 = wgs84
            .iter()
            .map(|poly| {
                poly.iter()
                    .map(|r| {
                        r.iter()
                            .map(|&(lon, lat)| {
                                wgs84_to_lambert93(lon, lat)
                                    .map_err(|e| ShapeError::Projection(e.to_string()))
                            })
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { wgs84, l93 })
    }

    /// Whether the point (`lon`, `lat`) lies inside (holes excluded; a point exactly on an
    /// edge may go either way).
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        self.wgs84.iter().any(|poly| {
            let mut rings = poly.iter();
            rings.next().is_some_and(|outer| in_ring(outer, lon, lat))
                && !rings.any(|hole| in_ring(hole, lon, lat))
        })
    }

    /// The area in square metres (Lambert-93), holes deducted.
    pub fn area_m2(&self) -> f64 {
        self.l93
            .iter()
            .map(|poly| {
                let mut rings = poly.iter();
                let outer = rings.next().map_or(0.0, |r| ring_area(r).abs());
                outer - rings.map(|r| ring_area(r).abs()).sum::<f64>()
            })
            .sum()
    }
}

/// Even-odd ray casting.
fn in_ring(ring: &[(f64, f64)], x: f64, y: f64) -> bool {
    let mut inside = false;
    let n = ring.len();
    if n < 3 {
        return false;
    }
    let mut j = n - 1;
    for i in 0..n {
        let (xi, yi) = ring[i];
        let (xj, yj) = ring[j];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Signed shoelace area.
fn ring_area(ring: &[(f64, f64)]) -> f64 {
    let n = ring.len();
    if n < 3 {
        return 0.0;
    }
    let mut s = 0.0;
    for i in 0..n {
        let (x1, y1) = ring[i];
        let (x2, y2) = ring[(i + 1) % n];
        s += x1 * y2 - x2 * y1;
    }
    s / 2.0
}

/// The great-circle distance in metres between two WGS84 points (haversine, mean Earth
/// radius 6,371,008.8 m): precise to a few metres over the kilometres of a commune, which is
/// what emergency radii need.
pub fn distance_m(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    const R: f64 = 6_371_008.8;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * a.sqrt().asin()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A square of `side_m` metres (approximately) with its south-west corner at (lon, lat).
    pub(crate) fn square(lon: f64, lat: f64, side_m: f64) -> Geometry {
        let dlat = side_m / 111_195.0;
        let dlon = side_m / (111_195.0 * lat.to_radians().cos());
        Geometry::from_geojson(&json!({
            "type": "Polygon",
            "coordinates": [[[lon, lat], [lon + dlon, lat], [lon + dlon, lat + dlat],
                             [lon, lat + dlat], [lon, lat]]]
        }))
        .unwrap()
    }

    #[test]
    fn shapes_measure_and_contain() {
        let shape = Shape::from_geometry(&square(2.35, 48.85, 100.0)).unwrap();
        let area = shape.area_m2();
        // 100 m × 100 m, within the Lambert-93 scale error and the spherical approximation.
        assert!((area - 10_000.0).abs() < 60.0, "{area}");
        assert!(shape.contains(2.3505, 48.8505));
        assert!(!shape.contains(2.36, 48.8505));
        let line = Geometry::point(2.35, 48.85).unwrap();
        assert!(matches!(
            Shape::from_geometry(&line),
            Err(ShapeError::NotAPolygon(_))
        ));
    }

    #[test]
    fn caps_are_data_and_stack() {
        let rules = Rules::default();
        let mut zone = Zone {
            id: "z".into(),
            name: "Réserve".into(),
            area: square(2.35, 48.85, 100.0),
            built_up: false,
            category: LightingCategory::Road,
            protection: Protection::ProtectedNaturalArea,
            caps: None,
        };
        assert_eq!(rules.caps_for(&zone).max_colour_temperature_k, 2700.0);
        zone.caps = Some(CapsOverride {
            max_colour_temperature_k: Some(2200.0),
            ..CapsOverride::default()
        });
        let caps = rules.caps_for(&zone);
        assert_eq!(caps.max_colour_temperature_k, 2200.0);
        assert_eq!(caps.max_ulr_installed_pct, 4.0);
        // Editable as JSON, missing fields taking the arrêté's values.
        let edited: Rules =
            serde_json::from_value(json!({"general": {"maxColourTemperatureK": 2700}})).unwrap();
        assert_eq!(edited.general.max_colour_temperature_k, 2700.0);
        assert_eq!(edited.general.dsfli.road_built_up, 35.0);
        assert_eq!(edited.astronomical_site.max_ulr_rated_pct, Some(0.0));
    }

    #[test]
    fn distances() {
        // One degree of latitude ≈ 111.2 km.
        let d = distance_m(2.0, 48.0, 2.0, 49.0);
        assert!((d - 111_195.0).abs() < 10.0, "{d}");
    }
}
