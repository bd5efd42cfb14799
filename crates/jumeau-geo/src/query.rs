//! NGSI-LD geo-queries (ETSI GS CIM 009 §4.10): `georel`, `geometry` and `coordinates`.
//!
//! Semantics, all on WGS84 longitude/latitude:
//!
//! * Edges are straight lines in longitude/latitude, as RFC 7946 §3.1.1 says, and the
//!   topological relations are the OGC DE-9IM predicates computed by `geo`'s `Relate` (a
//!   port of JTS). Consequences worth knowing: a point on the boundary of a polygon is
//!   neither `within` it nor `contained` by it (DE-9IM requires the interiors to meet) but
//!   it does `intersect` it; a point inside a hole is outside the polygon; `overlaps` only
//!   holds between geometries of the same dimension that each have a part outside the other;
//!   `equals` is topological equality (same point set, whatever the vertex order or start).
//! * `near` measures, in metres, the ellipsoidal (WGS84, Karney) geodesic distance from the
//!   reference point to the closest point of the entity's geometry: 0 when the point lies on
//!   a line or inside or on a polygon; otherwise the closest point is searched on every
//!   vertex and every edge (for an edge, the foot of the perpendicular in a local
//!   equirectangular plane centred on the reference point, compared by haversine distance),
//!   then measured geodesically. `maxDistance` keeps distances `<=` the bound and
//!   `minDistance` distances `>=` it.
//! * Geometries are valid OGC geometries (see [`Geometry::from_geojson`]), which the DE-9IM
//!   engine requires; in particular polygons of a `GeometryCollection` do not overlap.
use std::fmt;

use geo::{BoundingRect, Distance, Geodesic, Haversine, Intersects, Relate};
use serde_json::Value;

use crate::{BBox, GeoError, Geometry};

/// A geo-relation.
#[derive(Debug, Clone, PartialEq)]
pub enum GeoRel {
    /// `near;maxDistance==m` and/or `near;minDistance==m`: geodesic distance bounds in
    /// metres (at least one is set when parsed).
    Near {
        /// Upper bound.
        max_distance: Option<f64>,
        /// Lower bound.
        min_distance: Option<f64>,
    },
    /// `within`: the entity geometry is within the reference geometry (DE-9IM).
    Within,
    /// `contains`: the entity geometry contains the reference geometry (DE-9IM).
    Contains,
    /// `intersects`: the geometries share at least one point.
    Intersects,
    /// `equals`: the geometries are topologically equal.
    Equals,
    /// `disjoint`: the geometries share no point.
    Disjoint,
    /// `overlaps`: same dimension, interiors meet, and each has a part outside the other.
    Overlaps,
}

/// The relation names, for error messages.
const RELATIONS: &str = "near, within, contains, intersects, equals, disjoint or overlaps";

impl GeoRel {
    /// Parses the `georel` parameter: `near;maxDistance==2000`, `near;minDistance==10`,
    /// both (in either order), `within`, `contains`, `intersects`, `equals`, `disjoint` or
    /// `overlaps`.
    pub fn parse(georel: &str) -> Result<Self, GeoError> {
        let mut parts = georel.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        let modifiers: Vec<&str> = parts.collect();
        let simple = match name {
            "near" => return Self::parse_near(&modifiers),
            "within" => GeoRel::Within,
            "contains" => GeoRel::Contains,
            "intersects" => GeoRel::Intersects,
            "equals" => GeoRel::Equals,
            "disjoint" => GeoRel::Disjoint,
            "overlaps" => GeoRel::Overlaps,
            "" => {
                return Err(GeoError(format!(
                    "georel is empty; give one of {RELATIONS} \
                     (near also needs ;maxDistance==<metres> or ;minDistance==<metres>)"
                )))
            }
            other => {
                let hint = if RELATIONS.contains(other.to_lowercase().as_str()) {
                    " (relation names are case-sensitive)"
                } else {
                    ""
                };
                return Err(GeoError(format!(
                    "unknown georel \"{other}\"{hint}: expected one of {RELATIONS}"
                )));
            }
        };
        if let Some(m) = modifiers.first() {
            return Err(GeoError(format!(
                "georel \"{name}\" takes no modifier but \"{m}\" was given; distances only \
                 apply to near, e.g. near;maxDistance==2000"
            )));
        }
        Ok(simple)
    }

    /// Parses the modifiers after `near`.
    fn parse_near(modifiers: &[&str]) -> Result<Self, GeoError> {
        let mut max_distance = None;
        let mut min_distance = None;
        for m in modifiers {
            let (key, value) = m.split_once("==").ok_or_else(|| {
                GeoError(format!(
                    "near modifier \"{m}\" is not of the form maxDistance==<metres> or \
                     minDistance==<metres> (note the double equals sign)"
                ))
            })?;
            let slot = match key.trim() {
                "maxDistance" => &mut max_distance,
                "minDistance" => &mut min_distance,
                other => {
                    return Err(GeoError(format!(
                        "unknown near modifier \"{other}\": expected maxDistance or minDistance"
                    )))
                }
            };
            if slot.is_some() {
                return Err(GeoError(format!(
                    "near modifier {} is given twice; give it once",
                    key.trim()
                )));
            }
            let value = value.trim();
            let d: f64 = value.parse().map_err(|_| {
                GeoError(format!(
                    "{} \"{value}\" is not a number; give a distance in metres, e.g. {}==2000",
                    key.trim(),
                    key.trim()
                ))
            })?;
            if !d.is_finite() || d < 0.0 {
                return Err(GeoError(format!(
                    "{} {value} is not a valid distance; give a finite number of metres, \
                     zero or more",
                    key.trim()
                )));
            }
            *slot = Some(d);
        }
        match (max_distance, min_distance) {
            (None, None) => Err(GeoError(
                "georel near needs a distance: near;maxDistance==<metres>, \
                 near;minDistance==<metres>, or both"
                    .into(),
            )),
            (Some(max), Some(min)) if min > max => Err(GeoError(format!(
                "near: minDistance {min} is greater than maxDistance {max}, so nothing could \
                 match; check the two bounds"
            ))),
            _ => Ok(GeoRel::Near {
                max_distance,
                min_distance,
            }),
        }
    }
}

impl fmt::Display for GeoRel {
    /// The NGSI-LD `georel` text, as [`GeoRel::parse`] reads it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeoRel::Near {
                max_distance,
                min_distance,
            } => {
                f.write_str("near")?;
                if let Some(d) = max_distance {
                    write!(f, ";maxDistance=={d}")?;
                }
                if let Some(d) = min_distance {
                    write!(f, ";minDistance=={d}")?;
                }
                Ok(())
            }
            GeoRel::Within => f.write_str("within"),
            GeoRel::Contains => f.write_str("contains"),
            GeoRel::Intersects => f.write_str("intersects"),
            GeoRel::Equals => f.write_str("equals"),
            GeoRel::Disjoint => f.write_str("disjoint"),
            GeoRel::Overlaps => f.write_str("overlaps"),
        }
    }
}

/// A geo-query.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoQuery {
    /// The relation.
    pub georel: GeoRel,
    /// The reference geometry (a `Point` for `near`).
    pub geometry: Geometry,
}

/// The smallest radius of curvature of the WGS84 ellipsoid (meridional, at the equator:
/// a(1 - e²)), in metres. A path of length d never spans more than d / this radians of
/// latitude.
const MIN_CURVATURE_RADIUS: f64 = 6_335_439.327;
/// WGS84 equatorial radius in metres: a parallel at latitude φ has radius >= a·cos φ.
const EQUATORIAL_RADIUS: f64 = 6_378_137.0;

impl GeoQuery {
    /// Parses the `georel`, `geometry` and `coordinates` parameters of an NGSI-LD query,
    /// `coordinates` being the JSON text of the coordinates array (e.g. `[2.35,48.85]`),
    /// validated like any geometry.
    pub fn parse(georel: &str, geometry: &str, coordinates: &str) -> Result<Self, GeoError> {
        let georel = GeoRel::parse(georel)?;
        let geometry = geometry.trim();
        if geometry.is_empty() {
            return Err(GeoError(
                "the geometry parameter is empty; give the GeoJSON type of the reference \
                 geometry: Point, MultiPoint, LineString, MultiLineString, Polygon or \
                 MultiPolygon"
                    .into(),
            ));
        }
        if geometry == "GeometryCollection" {
            return Err(GeoError(
                "geometry=GeometryCollection cannot be used in a geo-query because the \
                 coordinates parameter cannot describe its members; use a Multi* geometry"
                    .into(),
            ));
        }
        let coordinates = coordinates.trim();
        if coordinates.is_empty() {
            return Err(GeoError(format!(
                "the coordinates parameter is empty; give the JSON coordinates of the \
                 {geometry}, e.g. [2.35,48.85] for a Point"
            )));
        }
        let value: Value = serde_json::from_str(coordinates).map_err(|e| {
            GeoError(format!(
                "the coordinates parameter is not valid JSON ({e}); give a JSON array such \
                 as [2.35,48.85] for a Point or [[[2.3,48.8],[2.4,48.8],[2.4,48.9],[2.3,48.8]]] \
                 for a Polygon"
            ))
        })?;
        let geometry = Geometry::from_parts(geometry, &value)?;
        if matches!(georel, GeoRel::Near { .. }) && geometry.geometry_type() != "Point" {
            return Err(GeoError(format!(
                "georel near measures distances from a point, but geometry is {}; use \
                 geometry=Point, or within/intersects for an area",
                geometry.geometry_type()
            )));
        }
        Ok(Self { georel, geometry })
    }

    /// Whether a geometry satisfies the query (see the module documentation for the exact
    /// semantics). A stored geometry that is not valid never matches.
    pub fn matches(&self, g: &Geometry) -> bool {
        let (Ok(entity), Ok(reference)) = (g.try_to_geo(), self.geometry.try_to_geo()) else {
            return false;
        };
        if let GeoRel::Near {
            max_distance,
            min_distance,
        } = &self.georel
        {
            let geo::Geometry::Point(p) = reference else {
                // `parse` only builds near queries around a point.
                return false;
            };
            let d = distance_m(&entity, p);
            return max_distance.is_none_or(|m| d <= m) && min_distance.is_none_or(|m| d >= m);
        }
        // Cheap rejection: geometries whose boxes do not meet share no point.
        if let (Some(a), Some(b)) = (entity.bounding_rect(), reference.bounding_rect()) {
            let apart = a.max().x < b.min().x
                || b.max().x < a.min().x
                || a.max().y < b.min().y
                || b.max().y < a.min().y;
            if apart {
                return self.georel == GeoRel::Disjoint;
            }
        }
        let georel = &self.georel;
        // `geo`'s DE-9IM engine may panic on invalid polygons; validation refuses them, but a
        // value deserialised from an older store bypasses it. Such a geometry then simply
        // does not match instead of bringing down the request or poisoning a store lock.
        std::panic::catch_unwind(|| match georel {
            GeoRel::Intersects => entity.intersects(&reference),
            GeoRel::Disjoint => !entity.intersects(&reference),
            GeoRel::Within => entity.relate(&reference).is_within(),
            GeoRel::Contains => entity.relate(&reference).is_contains(),
            GeoRel::Equals => entity.relate(&reference).is_equal_topo(),
            GeoRel::Overlaps => entity.relate(&reference).is_overlaps(),
            GeoRel::Near { .. } => false,
        })
        .unwrap_or(false)
    }

    /// A box outside which nothing can match, for an index prefilter; `None` when the
    /// relation can match anywhere (disjoint, near with only minDistance).
    ///
    /// Use it as an intersection test: a geometry can match only if its own bounding box
    /// intersects the returned box. For the topological relations it is the reference
    /// geometry's box; for `near;maxDistance` it is the reference point's box grown by the
    /// distance (with a margin), covering every longitude when it reaches a pole or crosses
    /// the antimeridian.
    pub fn candidate_bbox(&self) -> Option<BBox> {
        match self.georel {
            GeoRel::Disjoint => None,
            GeoRel::Near {
                max_distance: None, ..
            } => None,
            GeoRel::Near {
                max_distance: Some(d),
                ..
            } => match self.geometry.try_to_geo() {
                Ok(geo::Geometry::Point(p)) => Some(near_box(p, d)),
                _ => Some(self.geometry.bbox()),
            },
            _ => Some(self.geometry.bbox()),
        }
    }
}

/// The box of every position within `d` metres (geodesic) of `p`.
///
/// On the ellipsoid a path of length d crosses at most d / M_min radians of latitude
/// (M_min being the smallest meridional radius of curvature) and, staying between
/// latitudes ±φ_max, at most d / (a·cos φ_max) radians of longitude. The distance is
/// padded by 0.1 % plus 1 m against rounding.
fn near_box(p: geo::Point<f64>, d: f64) -> BBox {
    let d = d * 1.001 + 1.0;
    let dlat = (d / MIN_CURVATURE_RADIUS).to_degrees();
    let min_y = (p.y() - dlat).max(-90.0);
    let max_y = (p.y() + dlat).min(90.0);
    let phi_max = p.y().abs() + dlat;
    let mut bbox = BBox {
        min_x: -180.0,
        min_y,
        max_x: 180.0,
        max_y,
    };
    if phi_max < 89.9 {
        let dlon = (d / (EQUATORIAL_RADIUS * phi_max.to_radians().cos())).to_degrees();
        let (min_x, max_x) = (p.x() - dlon, p.x() + dlon);
        // A box crossing the antimeridian cannot be expressed: keep every longitude.
        if min_x >= -180.0 && max_x <= 180.0 {
            bbox.min_x = min_x;
            bbox.max_x = max_x;
        }
    }
    bbox
}

/// Largest ratio between geodesic (WGS84) and haversine distances over the same pair of
/// points, divided by the smallest: 1.0045 / 0.9944 (meridian arcs at the pole and at the
/// equator), rounded up. A candidate farther than the best one by less than this factor
/// (in haversine terms) might still be geodesically closer.
const ELLIPSOID_SPREAD: f64 = 1.011;

/// Geodesic distance in metres from `p` to the closest point of `g` (0 when `p` lies on or
/// inside it), found as described in the module documentation.
fn distance_m(g: &geo::Geometry<f64>, p: geo::Point<f64>) -> f64 {
    let mut search = Closest {
        p,
        k: p.y().to_radians().cos(),
        best: f64::INFINITY,
        candidates: Vec::new(),
    };
    search.visit(g);
    if search.best == 0.0 {
        return 0.0;
    }
    let limit = search.best * ELLIPSOID_SPREAD + 1e-6;
    search
        .candidates
        .iter()
        .filter(|(h, _)| *h <= limit)
        .map(|(_, c)| Geodesic.distance(p, geo::Point::from(*c)))
        .fold(f64::INFINITY, f64::min)
}

/// The search for the point of a geometry closest to `p`.
struct Closest {
    /// The reference point.
    p: geo::Point<f64>,
    /// cos(latitude of `p`): the longitude scale of the local plane.
    k: f64,
    /// Smallest haversine distance so far.
    best: f64,
    /// Every point considered, with its haversine distance.
    candidates: Vec<(f64, geo::Coord<f64>)>,
}

impl Closest {
    fn consider(&mut self, c: geo::Coord<f64>) {
        let h = Haversine.distance(self.p, geo::Point::from(c));
        self.best = self.best.min(h);
        self.candidates.push((h, c));
    }

    fn segment(&mut self, a: geo::Coord<f64>, b: geo::Coord<f64>) {
        self.consider(a);
        self.consider(b);
        let (ax, ay) = ((a.x - self.p.x()) * self.k, a.y - self.p.y());
        let (dx, dy) = ((b.x - a.x) * self.k, b.y - a.y);
        let len2 = dx * dx + dy * dy;
        if len2 > 0.0 {
            let t = (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0);
            if t > 0.0 && t < 1.0 {
                self.consider(geo::Coord {
                    x: a.x + t * (b.x - a.x),
                    y: a.y + t * (b.y - a.y),
                });
            }
        }
    }

    fn line_string(&mut self, ls: &geo::LineString<f64>) {
        if let [only] = ls.0.as_slice() {
            self.consider(*only);
        }
        for l in ls.lines() {
            self.segment(l.start, l.end);
        }
    }

    fn polygon(&mut self, poly: &geo::Polygon<f64>) {
        if poly.intersects(&self.p) {
            self.best = 0.0;
            return;
        }
        self.line_string(poly.exterior());
        for hole in poly.interiors() {
            self.line_string(hole);
        }
    }

    fn visit(&mut self, g: &geo::Geometry<f64>) {
        if self.best == 0.0 {
            return;
        }
        match g {
            geo::Geometry::Point(q) => self.consider(q.0),
            geo::Geometry::MultiPoint(mp) => mp.iter().for_each(|q| self.consider(q.0)),
            geo::Geometry::Line(l) => self.segment(l.start, l.end),
            geo::Geometry::LineString(ls) => self.line_string(ls),
            geo::Geometry::MultiLineString(mls) => mls.iter().for_each(|ls| self.line_string(ls)),
            geo::Geometry::Polygon(poly) => self.polygon(poly),
            geo::Geometry::MultiPolygon(mp) => mp.iter().for_each(|poly| self.polygon(poly)),
            geo::Geometry::Rect(r) => self.polygon(&r.to_polygon()),
            geo::Geometry::Triangle(t) => self.polygon(&t.to_polygon()),
            geo::Geometry::GeometryCollection(gc) => gc.iter().for_each(|m| self.visit(m)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn geom(v: Value) -> Geometry {
        Geometry::from_geojson(&v).unwrap_or_else(|e| panic!("{v}: {e}"))
    }
    fn pt(x: f64, y: f64) -> Geometry {
        Geometry::point(x, y).unwrap()
    }
    fn q(georel: &str, geometry: &str, coordinates: &str) -> GeoQuery {
        GeoQuery::parse(georel, geometry, coordinates).unwrap_or_else(|e| panic!("{e}"))
    }
    fn perr(georel: &str, geometry: &str, coordinates: &str) -> String {
        GeoQuery::parse(georel, geometry, coordinates)
            .unwrap_err()
            .0
    }

    /// The square [0,10]² with the hole [4,6]².
    const HOLED: &str = "[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[4,4],[6,4],[6,6],[4,6],[4,4]]]";
    const SQUARE: &str = "[[[0,0],[10,0],[10,10],[0,10],[0,0]]]";

    #[test]
    fn parses_georels() {
        assert_eq!(
            GeoRel::parse("near;maxDistance==2000").unwrap(),
            GeoRel::Near {
                max_distance: Some(2000.0),
                min_distance: None
            }
        );
        assert_eq!(
            GeoRel::parse("near;minDistance==10").unwrap(),
            GeoRel::Near {
                max_distance: None,
                min_distance: Some(10.0)
            }
        );
        let both = GeoRel::Near {
            max_distance: Some(2000.0),
            min_distance: Some(10.5),
        };
        assert_eq!(
            GeoRel::parse("near;maxDistance==2000;minDistance==10.5").unwrap(),
            both
        );
        assert_eq!(
            GeoRel::parse("near;minDistance==10.5;maxDistance==2e3").unwrap(),
            both
        );
        assert_eq!(
            GeoRel::parse(" near ; maxDistance == 0 ").unwrap(),
            GeoRel::Near {
                max_distance: Some(0.0),
                min_distance: None
            }
        );
        for (s, r) in [
            ("within", GeoRel::Within),
            ("contains", GeoRel::Contains),
            ("intersects", GeoRel::Intersects),
            ("equals", GeoRel::Equals),
            ("disjoint", GeoRel::Disjoint),
            ("overlaps", GeoRel::Overlaps),
        ] {
            assert_eq!(GeoRel::parse(s).unwrap(), r);
            assert_eq!(r.to_string(), s);
        }
        assert_eq!(both.to_string(), "near;maxDistance==2000;minDistance==10.5");
        assert_eq!(GeoRel::parse(&both.to_string()).unwrap(), both);
    }

    #[test]
    fn georel_errors() {
        let e = GeoRel::parse("around").unwrap_err().0;
        assert!(e.contains("unknown georel \"around\""), "{e}");
        assert!(GeoRel::parse("Within")
            .unwrap_err()
            .0
            .contains("case-sensitive"));
        assert!(GeoRel::parse("").unwrap_err().0.contains("georel is empty"));
        let e = GeoRel::parse("near").unwrap_err().0;
        assert!(e.contains("near needs a distance"), "{e}");
        let e = GeoRel::parse("near;maxDistance=2000").unwrap_err().0;
        assert!(e.contains("double equals"), "{e}");
        let e = GeoRel::parse("near;distance==2000").unwrap_err().0;
        assert!(e.contains("unknown near modifier \"distance\""), "{e}");
        let e = GeoRel::parse("near;maxDistance==-5").unwrap_err().0;
        assert!(e.contains("maxDistance -5 is not a valid distance"), "{e}");
        let e = GeoRel::parse("near;maxDistance==abc").unwrap_err().0;
        assert!(e.contains("maxDistance \"abc\" is not a number"), "{e}");
        for bad in ["inf", "NaN", "-inf", "1e999"] {
            let e = GeoRel::parse(&format!("near;minDistance=={bad}"))
                .unwrap_err()
                .0;
            assert!(e.contains("not a valid distance"), "{bad}: {e}");
        }
        let e = GeoRel::parse("near;maxDistance==").unwrap_err().0;
        assert!(e.contains("is not a number"), "{e}");
        let e = GeoRel::parse("near;maxDistance==1;maxDistance==2")
            .unwrap_err()
            .0;
        assert!(e.contains("given twice"), "{e}");
        let e = GeoRel::parse("near;maxDistance==10;minDistance==20")
            .unwrap_err()
            .0;
        assert!(
            e.contains("minDistance 20 is greater than maxDistance 10"),
            "{e}"
        );
        let e = GeoRel::parse("within;maxDistance==10").unwrap_err().0;
        assert!(e.contains("takes no modifier"), "{e}");
    }

    #[test]
    fn parse_errors() {
        let e = perr("near;maxDistance==10", "Polygon", SQUARE);
        assert!(
            e.contains("near measures distances from a point, but geometry is Polygon"),
            "{e}"
        );
        let e = perr("within", "Polygon", "[[[0,0],[1,0]");
        assert!(e.contains("coordinates parameter is not valid JSON"), "{e}");
        let e = perr("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]");
        assert!(e.contains("ring 0 of the polygon is not closed"), "{e}");
        let e = perr("within", "Circle", "[0,0]");
        assert!(
            e.contains("unknown GeoJSON geometry type \"Circle\""),
            "{e}"
        );
        let e = perr("within", "", "[0,0]");
        assert!(e.contains("geometry parameter is empty"), "{e}");
        let e = perr("within", "Point", "");
        assert!(e.contains("coordinates parameter is empty"), "{e}");
        let e = perr("within", "GeometryCollection", "[]");
        assert!(e.contains("GeometryCollection cannot be used"), "{e}");
        let e = perr("intersects", "Point", "[48.85,200]");
        assert!(e.contains("latitude 200"), "{e}");
        let e = perr("intersects", "Point", "2.35,48.85");
        assert!(e.contains("not valid JSON"), "{e}");
        let q = q("near;maxDistance==10", "Point", " [2.35, 48.85] ");
        assert_eq!(q.geometry, pt(2.35, 48.85));
    }

    #[test]
    fn within_and_contains() {
        let within = q("within", "Polygon", HOLED);
        assert!(within.matches(&pt(1.0, 1.0)));
        assert!(!within.matches(&pt(5.0, 5.0)), "inside the hole");
        assert!(
            !within.matches(&pt(10.0, 5.0)),
            "on the outer edge: boundary is not interior"
        );
        assert!(!within.matches(&pt(4.0, 5.0)), "on the hole's edge");
        assert!(!within.matches(&pt(0.0, 0.0)), "on a vertex");
        assert!(!within.matches(&pt(11.0, 5.0)));
        // A line inside, one running along the boundary from the interior, one crossing the hole.
        assert!(within.matches(&geom(
            json!({"type": "LineString", "coordinates": [[1, 1], [3, 3]]})
        )));
        assert!(within.matches(&geom(
            json!({"type": "LineString", "coordinates": [[1, 1], [10, 1]]})
        )));
        assert!(!within.matches(&geom(
            json!({"type": "LineString", "coordinates": [[1, 5], [9, 5]]})
        )));
        assert!(
            !within.matches(&geom(
                json!({"type": "LineString", "coordinates": [[0, 0], [10, 0]]})
            )),
            "only on the boundary"
        );
        // Polygons: itself, a smaller one, one covering the hole.
        assert!(within.matches(
            &Geometry::from_parts("Polygon", &serde_json::from_str(HOLED).unwrap()).unwrap()
        ));
        assert!(within.matches(&geom(
            json!({"type": "Polygon", "coordinates": [[[1, 1], [3, 1], [3, 3], [1, 1]]]})
        )));
        assert!(!within.matches(&geom(
            json!({"type": "Polygon", "coordinates": [[[3, 3], [7, 3], [7, 7], [3, 7], [3, 3]]]})
        )));
        assert!(!within.matches(&geom(json!({"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]}))), "fills the hole");
        assert!(within.matches(&geom(
            json!({"type": "MultiPoint", "coordinates": [[1, 1], [9, 9]]})
        )));
        assert!(!within.matches(&geom(
            json!({"type": "MultiPoint", "coordinates": [[1, 1], [5, 5]]})
        )));

        // contains: the entity contains the reference.
        let contains_pt = q("contains", "Point", "[1,1]");
        let holed = Geometry::from_parts("Polygon", &serde_json::from_str(HOLED).unwrap()).unwrap();
        assert!(contains_pt.matches(&holed));
        assert!(!q("contains", "Point", "[5,5]").matches(&holed), "hole");
        assert!(!q("contains", "Point", "[10,5]").matches(&holed), "edge");
        assert!(!q("contains", "Point", "[11,5]").matches(&holed));
        assert!(
            contains_pt.matches(&pt(1.0, 1.0)),
            "a point contains itself"
        );
        assert!(q("contains", "Point", "[1,1]").matches(&geom(
            json!({"type": "LineString", "coordinates": [[0, 0], [2, 2]]})
        )));
        assert!(
            !q("contains", "Point", "[0,0]").matches(&geom(
                json!({"type": "LineString", "coordinates": [[0, 0], [2, 2]]})
            )),
            "line end point is boundary"
        );
        assert!(q("contains", "LineString", "[[1,1],[3,1]]").matches(&holed));
        assert!(!q("contains", "LineString", "[[1,5],[9,5]]").matches(&holed));
        assert!(!q("contains", "Polygon", SQUARE).matches(&holed));
        assert!(q("contains", "Polygon", HOLED).matches(&geom(json!({"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]}))));
    }

    #[test]
    fn intersects_and_disjoint() {
        let holed = Geometry::from_parts("Polygon", &serde_json::from_str(HOLED).unwrap()).unwrap();
        for (g, hit) in [
            (pt(1.0, 1.0), true),
            (pt(10.0, 5.0), true),
            (pt(4.0, 5.0), true),
            (pt(5.0, 5.0), false),
            (pt(20.0, 5.0), false),
            (
                geom(json!({"type": "LineString", "coordinates": [[4.5, 4.5], [5.5, 5.5]]})),
                false,
            ),
            (
                geom(json!({"type": "LineString", "coordinates": [[5, 5], [5, 20]]})),
                true,
            ),
            (
                geom(json!({"type": "LineString", "coordinates": [[-1, 11], [11, 11]]})),
                false,
            ),
            (
                geom(json!({"type": "LineString", "coordinates": [[-1, 10], [11, 10]]})),
                true,
            ),
            (
                geom(
                    json!({"type": "Polygon", "coordinates": [[[4.2, 4.2], [5, 4.2], [5, 5], [4.2, 4.2]]]}),
                ),
                false,
            ),
            (
                geom(
                    json!({"type": "Polygon", "coordinates": [[[10, 10], [12, 10], [12, 12], [10, 10]]]}),
                ),
                true,
            ),
            (
                geom(json!({"type": "MultiPoint", "coordinates": [[5, 5], [20, 20], [9, 9]]})),
                true,
            ),
            (
                geom(json!({"type": "GeometryCollection", "geometries": [
                    {"type": "Point", "coordinates": [20, 20]},
                    {"type": "LineString", "coordinates": [[9, 9], [9.5, 9.5]]}
                ]})),
                true,
            ),
        ] {
            assert_eq!(
                q("intersects", "Polygon", HOLED).matches(&g),
                hit,
                "{:?}",
                g.as_json()
            );
            assert_eq!(
                q("disjoint", "Polygon", HOLED).matches(&g),
                !hit,
                "{:?}",
                g.as_json()
            );
            // Symmetric relations.
            let gj = g.as_json();
            if gj["type"] != "GeometryCollection" {
                let rev = q(
                    "intersects",
                    gj["type"].as_str().unwrap(),
                    &gj["coordinates"].to_string(),
                );
                assert_eq!(rev.matches(&holed), hit, "{gj}");
            }
        }
        // Lines crossing without sharing a vertex.
        let cross = q("intersects", "LineString", "[[0,0],[2,2]]");
        assert!(cross.matches(&geom(
            json!({"type": "LineString", "coordinates": [[0, 2], [2, 0]]})
        )));
        assert!(!cross.matches(&geom(
            json!({"type": "LineString", "coordinates": [[0, 1], [0.9, 1.9]]})
        )));
        assert!(q("disjoint", "Point", "[0,0]").matches(&pt(0.0, 0.000001)));
        assert!(!q("disjoint", "Point", "[0,0]").matches(&pt(0.0, 0.0)));
    }

    #[test]
    fn equals_and_overlaps() {
        let eq = q("equals", "Polygon", SQUARE);
        // Same ring, other start vertex and other orientation.
        assert!(eq.matches(&geom(json!({"type": "Polygon", "coordinates": [[[10, 10], [10, 0], [0, 0], [0, 10], [10, 10]]]}))));
        // Extra collinear vertex: same point set.
        assert!(eq.matches(&geom(json!({"type": "Polygon", "coordinates": [[[0, 0], [5, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]}))));
        assert!(!eq.matches(
            &Geometry::from_parts("Polygon", &serde_json::from_str(HOLED).unwrap()).unwrap()
        ));
        assert!(q("equals", "Point", "[2.35,48.85]").matches(&pt(2.35, 48.85)));
        assert!(q("equals", "Point", "[2.35,48.85]").matches(&geom(
            json!({"type": "MultiPoint", "coordinates": [[2.35, 48.85], [2.35, 48.85]]})
        )));
        assert!(!q("equals", "Point", "[2.35,48.85]").matches(&pt(2.35, 48.850001)));
        assert!(q("equals", "LineString", "[[0,0],[2,2]]").matches(&geom(
            json!({"type": "LineString", "coordinates": [[2, 2], [1, 1], [0, 0]]})
        )));

        let ov = q("overlaps", "Polygon", SQUARE);
        assert!(ov.matches(&geom(json!({"type": "Polygon", "coordinates": [[[5, 5], [15, 5], [15, 15], [5, 15], [5, 5]]]}))));
        assert!(
            !ov.matches(&geom(
                json!({"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]})
            )),
            "inside, not overlapping"
        );
        assert!(
            !ov.matches(&geom(
                json!({"type": "Polygon", "coordinates": [[[10, 0], [20, 0], [20, 10], [10, 0]]]})
            )),
            "touching only"
        );
        assert!(
            !ov.matches(&geom(
                json!({"type": "LineString", "coordinates": [[5, 5], [15, 5]]})
            )),
            "different dimensions"
        );
        assert!(!ov.matches(&geom(json!({"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]]}))), "equal");
        assert!(q("overlaps", "LineString", "[[0,0],[2,0]]").matches(&geom(
            json!({"type": "LineString", "coordinates": [[1, 0], [3, 0]]})
        )));
        assert!(q("overlaps", "MultiPoint", "[[0,0],[1,1]]").matches(&geom(
            json!({"type": "MultiPoint", "coordinates": [[1, 1], [2, 2]]})
        )));
    }

    /// Metres per degree of latitude at latitude φ on WGS84: the meridional radius of
    /// curvature M = a(1-e²)/(1-e² sin²φ)^1.5 times π/180.
    fn meridian_m_per_degree(lat: f64) -> f64 {
        let a = 6_378_137.0;
        let e2 = 0.006_694_379_990_14;
        let s = lat.to_radians().sin();
        a * (1.0 - e2) / (1.0 - e2 * s * s).powf(1.5) * std::f64::consts::PI / 180.0
    }

    #[test]
    fn near_distances_match_hand_computation() {
        // Two points on the meridian 2.35°E, 0.01° apart around 48.855°N:
        // M(48.855°) = 6 335 439 / (1 - 0.00669438 · sin²48.855°)^1.5 = 6 371 688 m,
        // so 0.01° = 6 371 688 · π/180 · 0.01 = 1 112.07 m.
        let m = meridian_m_per_degree(48.855);
        assert!((m * 0.01 - 1112.07).abs() < 0.01, "{}", m * 0.01);
        let near = |rel: &str| q(rel, "Point", "[2.35,48.85]");
        assert!(near("near;maxDistance==1112.5").matches(&pt(2.35, 48.86)));
        assert!(!near("near;maxDistance==1111.5").matches(&pt(2.35, 48.86)));
        assert!(near("near;minDistance==1111.5").matches(&pt(2.35, 48.86)));
        assert!(!near("near;minDistance==1112.5").matches(&pt(2.35, 48.86)));
        assert_eq!(
            distance_m(&pt(2.35, 48.86).to_geo(), geo::Point::new(2.35, 48.85)).round(),
            1112.0
        );

        // Notre-Dame (2.3499, 48.8530) to the Panthéon (2.3461, 48.8462), ~1 km:
        // at the mean latitude 48.8496°, north-south 0.0068° · 111 207 m (M · π/180) =
        // 756.2 m; east-west 0.0038° along the parallel: N cos φ · π/180 =
        // 6 390 276 · 0.65804 · π/180 = 73 392 m per degree, so 278.9 m;
        // √(756.2² + 278.9²) = 806.0 m.
        let notre_dame = q("near;maxDistance==807", "Point", "[2.3499,48.8530]");
        let pantheon = pt(2.3461, 48.8462);
        assert!(notre_dame.matches(&pantheon));
        assert!(!q("near;maxDistance==805", "Point", "[2.3499,48.8530]").matches(&pantheon));
        let d = distance_m(&pantheon.to_geo(), geo::Point::new(2.3499, 48.8530));
        assert!((d - 806.0).abs() < 0.5, "{d}");
    }

    #[test]
    fn near_uses_the_closest_point() {
        // A line along the parallel 48.85°N from 2.34°E to 2.36°E; reference 0.005° north of
        // its middle: the closest point is the middle, 0.005° of meridian ≈ 556 m away.
        let line =
            geom(json!({"type": "LineString", "coordinates": [[2.34, 48.85], [2.36, 48.85]]}));
        let d = distance_m(&line.to_geo(), geo::Point::new(2.35, 48.855));
        let want = meridian_m_per_degree(48.8525) * 0.005;
        assert!((d - want).abs() < 0.5, "{d} vs {want}");
        assert!(q("near;maxDistance==560", "Point", "[2.35,48.855]").matches(&line));
        assert!(!q("near;maxDistance==550", "Point", "[2.35,48.855]").matches(&line));
        // Beyond an end, the end is the closest point.
        let d = distance_m(&line.to_geo(), geo::Point::new(2.37, 48.85));
        let end = Geodesic.distance(geo::Point::new(2.37, 48.85), geo::Point::new(2.36, 48.85));
        assert!((d - end).abs() < 1e-6, "{d} vs {end}");

        // Inside a polygon the distance is 0, in its hole it is the distance to the hole edge.
        let holed = Geometry::from_parts("Polygon", &serde_json::from_str(HOLED).unwrap()).unwrap();
        assert_eq!(distance_m(&holed.to_geo(), geo::Point::new(1.0, 1.0)), 0.0);
        assert_eq!(distance_m(&holed.to_geo(), geo::Point::new(10.0, 5.0)), 0.0);
        let in_hole = distance_m(&holed.to_geo(), geo::Point::new(5.0, 5.0));
        let to_edge = Geodesic.distance(geo::Point::new(5.0, 5.0), geo::Point::new(5.0, 4.0));
        assert!(
            in_hole > 0.0 && in_hole <= to_edge + 1e-6,
            "{in_hole} vs {to_edge}"
        );
        assert!(
            (in_hole - to_edge).abs() / to_edge < 0.01,
            "{in_hole} vs {to_edge}"
        );
        assert!(q("near;minDistance==100000", "Point", "[5,5]").matches(&holed));
        assert!(!q("near;minDistance==100000", "Point", "[1,1]").matches(&holed));
        assert!(q("near;maxDistance==0", "Point", "[1,1]").matches(&holed));
        // Multi geometries: the closest member counts.
        let mp = geom(json!({"type": "MultiPoint", "coordinates": [[2.0, 48.0], [2.35, 48.86]]}));
        assert!(q("near;maxDistance==1113", "Point", "[2.35,48.85]").matches(&mp));
        assert!(!q("near;minDistance==1113", "Point", "[2.35,48.85]").matches(&mp));
        // Across the antimeridian.
        let far_east = pt(179.999, 0.0);
        assert!(q("near;maxDistance==300", "Point", "[-179.999,0]").matches(&far_east));
    }

    /// A small deterministic generator for property tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn range(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (hi - lo) * self.next()
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[((self.next() * items.len() as f64) as usize).min(items.len() - 1)]
        }
    }

    /// A random valid geometry of any type around (`x`, `y`) within `spread` degrees.
    fn random_geometry(rng: &mut Rng, x: f64, y: f64, spread: f64) -> Geometry {
        let p = |rng: &mut Rng| {
            json!([
                rng.range(x - spread, x + spread).clamp(-180.0, 180.0),
                rng.range(y - spread, y + spread).clamp(-90.0, 90.0)
            ])
        };
        let ring = |rng: &mut Rng| {
            let a = p(rng);
            json!([a.clone(), p(rng), p(rng), a])
        };
        loop {
            let v = match *rng.pick(&[0, 1, 2, 3, 4, 5, 6]) {
                0 => json!({"type": "Point", "coordinates": p(rng)}),
                1 => json!({"type": "MultiPoint", "coordinates": [p(rng), p(rng), p(rng)]}),
                2 => json!({"type": "LineString", "coordinates": [p(rng), p(rng), p(rng)]}),
                3 => {
                    json!({"type": "MultiLineString", "coordinates": [[p(rng), p(rng)], [p(rng), p(rng)]]})
                }
                4 | 5 => json!({"type": "Polygon", "coordinates": [ring(rng)]}),
                _ => json!({"type": "MultiPolygon", "coordinates": [[ring(rng)], [ring(rng)]]}),
            };
            // Triangles flattened against the clamps, or overlapping parts, are refused.
            if let Ok(g) = Geometry::from_geojson(&v) {
                return g;
            }
        }
    }

    #[test]
    fn candidate_bbox_contains_every_match() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let centres = [
            (2.35, 48.85),
            (0.0, 0.0),
            (179.99, 10.0),
            (-179.95, -5.0),
            (10.0, 89.99),
            (-60.0, -89.9),
            (100.0, 70.0),
        ];
        let mut matched = 0;
        for &(cx, cy) in &centres {
            for spread in [0.001, 0.01, 0.1, 1.0] {
                let refs: Vec<Geometry> = (0..4)
                    .map(|_| random_geometry(&mut rng, cx, cy, spread))
                    .collect();
                let mut queries = vec![
                    GeoQuery {
                        georel: GeoRel::Near {
                            max_distance: Some(spread * 60_000.0),
                            min_distance: None,
                        },
                        geometry: pt(cx, cy),
                    },
                    GeoQuery {
                        georel: GeoRel::Near {
                            max_distance: Some(spread * 120_000.0),
                            min_distance: Some(spread * 10_000.0),
                        },
                        geometry: pt(cx, cy),
                    },
                ];
                for r in &refs {
                    for rel in [
                        GeoRel::Within,
                        GeoRel::Contains,
                        GeoRel::Intersects,
                        GeoRel::Equals,
                        GeoRel::Overlaps,
                    ] {
                        queries.push(GeoQuery {
                            georel: rel,
                            geometry: r.clone(),
                        });
                    }
                }
                let mut entities: Vec<Geometry> = (0..60)
                    .map(|_| random_geometry(&mut rng, cx, cy, spread))
                    .collect();
                entities.extend(refs.iter().cloned());
                for query in &queries {
                    let bbox = query.candidate_bbox().unwrap();
                    for e in &entities {
                        if query.matches(e) {
                            matched += 1;
                            assert!(
                                bbox.intersects(&e.bbox()),
                                "{} {:?}: {:?} outside {bbox:?}",
                                query.georel,
                                query.geometry.as_json(),
                                e.as_json()
                            );
                        }
                    }
                }
            }
        }
        assert!(matched > 500, "too few matches to be meaningful: {matched}");
    }

    #[test]
    fn candidate_bbox_shapes() {
        assert_eq!(q("disjoint", "Point", "[0,0]").candidate_bbox(), None);
        assert_eq!(
            q("near;minDistance==10", "Point", "[0,0]").candidate_bbox(),
            None
        );
        let sq = q("within", "Polygon", SQUARE).candidate_bbox().unwrap();
        assert_eq!(
            sq,
            BBox {
                min_x: 0.0,
                min_y: 0.0,
                max_x: 10.0,
                max_y: 10.0
            }
        );
        // 2 km around Paris: about 0.018° of latitude and 0.027° of longitude, a bit more.
        let b = q("near;maxDistance==2000", "Point", "[2.35,48.85]")
            .candidate_bbox()
            .unwrap();
        assert!(b.max_y - 48.85 > 0.018 && b.max_y - 48.85 < 0.0185, "{b:?}");
        assert!(b.max_x - 2.35 > 0.0273 && b.max_x - 2.35 < 0.0285, "{b:?}");
        assert!((48.85 - b.min_y - (b.max_y - 48.85)).abs() < 1e-12);
        // Exactly at the bound, in every direction, the point is inside the box.
        for bearing in [0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0] {
            use geo::Destination;
            let p = Geodesic.destination(geo::Point::new(2.35, 48.85), bearing, 2000.0);
            assert!(b.contains_point(p.x(), p.y()), "{bearing}");
        }
        // Near a pole or across the antimeridian every longitude is kept.
        let polar = q("near;maxDistance==50000", "Point", "[10,89.9]")
            .candidate_bbox()
            .unwrap();
        assert_eq!(
            (polar.min_x, polar.max_x, polar.max_y),
            (-180.0, 180.0, 90.0)
        );
        let anti = q("near;maxDistance==5000", "Point", "[179.99,0]")
            .candidate_bbox()
            .unwrap();
        assert_eq!((anti.min_x, anti.max_x), (-180.0, 180.0));
        let huge = q("near;maxDistance==40000000", "Point", "[0,0]")
            .candidate_bbox()
            .unwrap();
        assert_eq!(huge, BBox::WORLD);
    }

    #[test]
    fn parse_never_panics() {
        let mut rng = Rng(42);
        let georels = [
            "near",
            "near;",
            ";",
            "near;maxDistance==",
            "near;maxDistance==1e308;minDistance==0",
            "within;",
            "near;minDistance==-0",
            "near;;",
            "==",
            "near;maxDistance====3",
            "\u{0}",
            "é;é==é",
            "overlaps",
        ];
        let types = [
            "Point",
            "Polygon",
            "MultiPolygon",
            "LineString",
            "MultiPoint",
            "MultiLineString",
            "GeometryCollection",
            "",
            "polygon",
            "\u{feff}Point",
        ];
        let tokens = [
            "[",
            "]",
            ",",
            "0",
            "-1",
            "1e400",
            "\"a\"",
            "null",
            "{}",
            "180.0000001",
            "90",
            "2.35",
            "48.85",
            "-0",
            "1e-320",
            " ",
            "true",
            "[]",
            "NaN",
        ];
        for _ in 0..5000 {
            let mut coords = String::new();
            let n = (rng.next() * 30.0) as usize;
            for _ in 0..n {
                coords.push_str(rng.pick::<&str>(&tokens));
            }
            let gr = rng.pick(&georels);
            let ty = rng.pick(&types);
            if let Ok(query) = GeoQuery::parse(gr, ty, &coords) {
                let _ = query.candidate_bbox();
                let _ = query.matches(&pt(0.0, 0.0));
                let _ = query.matches(&query.geometry.clone());
            }
        }
        // Deep nesting hits serde_json's recursion limit, not the stack.
        let deep = "[".repeat(100_000);
        assert!(GeoQuery::parse("within", "Polygon", &deep).is_err());
    }

    const RELS: [GeoRel; 6] = [
        GeoRel::Within,
        GeoRel::Contains,
        GeoRel::Intersects,
        GeoRel::Equals,
        GeoRel::Disjoint,
        GeoRel::Overlaps,
    ];

    #[test]
    fn degenerate_but_valid_geometries() {
        // Accepted by RFC 7946 and by the validation, though degenerate.
        let zero_line = geom(json!({"type": "LineString", "coordinates": [[1, 1], [1, 1]]}));
        let twice = geom(json!({"type": "MultiPoint", "coordinates": [[1, 1], [1, 1]]}));
        let flat = geom(json!({"type": "LineString", "coordinates": [[0, 0], [2, 0], [0, 0]]}));
        let tri =
            geom(json!({"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 0]]]}));
        let geoms = [zero_line.clone(), twice.clone(), flat, tri, pt(1.0, 1.0)];
        for a in &geoms {
            for b in &geoms {
                for rel in RELS {
                    let _ = GeoQuery {
                        georel: rel,
                        geometry: a.clone(),
                    }
                    .matches(b);
                }
            }
        }
        assert!(q("intersects", "Point", "[1,1]").matches(&zero_line));
        assert!(q("equals", "Point", "[1,1]").matches(&twice));
        assert!(q("near;maxDistance==0", "Point", "[1,1]").matches(&zero_line));
    }

    #[test]
    fn invalid_polygons_from_the_store_do_not_panic() {
        // Refused by validation, but a store could hold them from before; deserialising
        // skips validation. Every relation must answer without panicking.
        let invalid = [
            json!({"type": "Polygon", "coordinates": [[[1, 1], [1, 1], [1, 1], [1, 1]]]}),
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [2, 2], [0, 0]]]}),
            json!({"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}),
            json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]], [[5, 5], [6, 5], [6, 6], [5, 5]]]}),
            json!({"type": "MultiPolygon", "coordinates": [[[[0, 0], [2, 0], [2, 2], [0, 0]]], [[[0, 0], [2, 0], [2, 2], [0, 0]]]]}),
            json!({"type": "GeometryCollection", "geometries": [
                {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 0]]]},
                {"type": "Polygon", "coordinates": [[[1, 0], [3, 0], [3, 2], [1, 0]]]}
            ]}),
        ];
        let mut geoms: Vec<Geometry> = invalid
            .iter()
            .map(|v| {
                assert!(Geometry::from_geojson(v).is_err(), "{v}");
                serde_json::from_value(v.clone()).unwrap()
            })
            .collect();
        geoms.push(pt(1.0, 1.0));
        geoms.push(geom(
            json!({"type": "Polygon", "coordinates": [[[0, 0], [3, 0], [3, 3], [0, 0]]]}),
        ));
        for a in &geoms {
            for b in &geoms {
                for rel in RELS {
                    let _ = GeoQuery {
                        georel: rel,
                        geometry: a.clone(),
                    }
                    .matches(b);
                }
                let near = GeoQuery {
                    georel: GeoRel::Near {
                        max_distance: Some(1000.0),
                        min_distance: None,
                    },
                    geometry: pt(1.0, 1.0),
                };
                let _ = near.matches(b);
                let _ = b.bbox();
            }
        }
    }

    #[test]
    fn invalid_stored_geometries_never_match() {
        let bad: Geometry =
            serde_json::from_value(json!({"type": "Point", "coordinates": "x"})).unwrap();
        assert!(!q("disjoint", "Point", "[0,0]").matches(&bad));
        assert!(!q("near;minDistance==0", "Point", "[0,0]").matches(&bad));
        // A hand-built near query around a non-point matches nothing.
        let odd = GeoQuery {
            georel: GeoRel::Near {
                max_distance: Some(1e9),
                min_distance: None,
            },
            geometry: geom(json!({"type": "LineString", "coordinates": [[0, 0], [1, 1]]})),
        };
        assert!(!odd.matches(&pt(0.0, 0.0)));
        assert!(odd.candidate_bbox().is_some());
    }
}
