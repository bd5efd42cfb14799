//! Validated GeoJSON geometries (RFC 7946 §3.1).
//!
//! A [`Geometry`] is only built from JSON that passed [`Geometry::from_geojson`], so the rest
//! of the broker can rely on well-nested, finite, in-range WGS84 coordinates. Every refusal
//! names the offending member (for instance `coordinates[0][3][1]`) and says how to fix it,
//! because the message goes straight back to the API client.
//!
//! Beyond RFC 7946, polygons must also be valid in the OGC Simple Features sense (simple
//! rings, holes inside the shell, parts of a MultiPolygon not overlapping), because the
//! DE-9IM engine behind `within`/`contains`/... gives wrong answers on anything else; the
//! checks live in `validity`.
//!
//! `GeometryCollection` is accepted (the NGSI-LD core context defines it) when it has at
//! least one member, each member is a valid geometry, no member is itself a collection
//! (RFC 7946 §3.1.8 advises against nesting; flattening is always possible), and polygons
//! of different members do not overlap.
use geo::BoundingRect;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{validity, GeoError};

/// An axis-aligned bounding box in WGS84 degrees.
///
/// Used by the stores as the key of their spatial index (R*Tree) and by
/// [`GeoQuery::candidate_bbox`](crate::GeoQuery::candidate_bbox) as a prefilter.
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

impl BBox {
    /// The whole WGS84 domain, for relations that can match anywhere.
    pub const WORLD: BBox = BBox {
        min_x: -180.0,
        min_y: -90.0,
        max_x: 180.0,
        max_y: 90.0,
    };

    /// Whether the two boxes share at least one point (touching edges count), which is the
    /// test an index prefilter needs.
    pub fn intersects(&self, other: &BBox) -> bool {
        self.min_x <= other.max_x
            && other.min_x <= self.max_x
            && self.min_y <= other.max_y
            && other.min_y <= self.max_y
    }

    /// Whether `other` lies entirely inside this box (edges included).
    pub fn contains(&self, other: &BBox) -> bool {
        self.min_x <= other.min_x
            && other.max_x <= self.max_x
            && self.min_y <= other.min_y
            && other.max_y <= self.max_y
    }

    /// Whether the position (`lon`, `lat`) lies inside this box (edges included).
    pub fn contains_point(&self, lon: f64, lat: f64) -> bool {
        (self.min_x..=self.max_x).contains(&lon) && (self.min_y..=self.max_y).contains(&lat)
    }
}

/// A GeoJSON geometry that passed validation (stored as its GeoJSON value).
///
/// The stored value keeps only `type` and `coordinates` (or `geometries` for a
/// `GeometryCollection`), exactly as the client sent them; other members such as `bbox`
/// are dropped. Serialisation is transparent so stores persist plain GeoJSON; deserialising
/// does not re-validate (the value was validated before it was stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Geometry(Value);

/// The geometry types accepted, for error messages.
const TYPES: &str =
    "Point, MultiPoint, LineString, MultiLineString, Polygon, MultiPolygon or GeometryCollection";

impl Geometry {
    /// Validates a GeoJSON geometry value (RFC 7946 §3.1) and keeps its `type` and
    /// `coordinates` (or `geometries`).
    ///
    /// Refuses unknown types, missing or badly nested `coordinates`, positions that are not
    /// 2 or 3 finite numbers, longitudes outside [-180, 180] and latitudes outside [-90, 90],
    /// line strings with fewer than 2 positions, polygon rings with fewer than 4 positions
    /// or not closed, empty coordinates, and polygons that are not valid OGC polygons
    /// (self-crossing rings, holes outside the shell, overlapping parts).
    pub fn from_geojson(value: &Value) -> Result<Self, GeoError> {
        parse_geometry(value, true, true).map(|(json, _)| Self(json))
    }

    /// Builds and validates a geometry from its type name and its `coordinates` value, as
    /// the `geometry` and `coordinates` parameters of an NGSI-LD geo-query give them.
    pub fn from_parts(type_name: &str, coordinates: &Value) -> Result<Self, GeoError> {
        let mut obj = Map::new();
        obj.insert("type".into(), Value::String(type_name.to_owned()));
        obj.insert("coordinates".into(), coordinates.clone());
        Self::from_geojson(&Value::Object(obj))
    }

    /// A validated `Point` at (`lon`, `lat`) degrees, for importers.
    pub fn point(lon: f64, lat: f64) -> Result<Self, GeoError> {
        let coordinates = Value::Array(vec![number(lon, "longitude")?, number(lat, "latitude")?]);
        Self::from_parts("Point", &coordinates)
    }

    /// The GeoJSON value.
    pub fn as_json(&self) -> &Value {
        &self.0
    }

    /// The GeoJSON type name (`Point`, `Polygon`, ...); empty if the stored value has none.
    pub fn geometry_type(&self) -> &str {
        self.0.get("type").and_then(Value::as_str).unwrap_or("")
    }

    /// The geometry as a `geo` geometry (x = longitude, y = latitude, altitude dropped), or
    /// why the stored value is not a valid geometry (only possible for a value that was
    /// deserialised without validation). Only the structure is re-checked here, not the
    /// polygon topology, so that queries stay cheap.
    pub fn try_to_geo(&self) -> Result<geo::Geometry<f64>, GeoError> {
        parse_geometry(&self.0, true, false).map(|(_, g)| g)
    }

    /// The geometry as a `geo` geometry (x = longitude, y = latitude, altitude dropped), to
    /// run `geo`'s algorithms on it. A stored value that is not a valid geometry (possible
    /// only if it was deserialised without validation) gives an empty collection.
    pub fn to_geo(&self) -> geo::Geometry<f64> {
        self.try_to_geo()
            .unwrap_or_else(|_| geo::Geometry::GeometryCollection(geo::GeometryCollection(vec![])))
    }

    /// The bounding box of all positions. A stored value without any valid position
    /// (possible only if it was deserialised without validation) gives the degenerate box
    /// at (0, 0).
    pub fn bbox(&self) -> BBox {
        match self.to_geo().bounding_rect() {
            Some(r) => BBox {
                min_x: r.min().x,
                min_y: r.min().y,
                max_x: r.max().x,
                max_y: r.max().y,
            },
            None => BBox {
                min_x: 0.0,
                min_y: 0.0,
                max_x: 0.0,
                max_y: 0.0,
            },
        }
    }
}

/// A finite number as JSON.
fn number(v: f64, what: &str) -> Result<Value, GeoError> {
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .ok_or_else(|| GeoError(format!("{what} {v} is not a finite number")))
}

/// The JSON kind of a value, with its article, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What an array nesting looks like, judged from its first elements, for messages about
/// wrong nesting.
fn shape(v: &Value) -> &'static str {
    let mut depth = 0;
    let mut cur = v;
    while let Value::Array(items) = cur {
        match items.first() {
            Some(first) => {
                depth += 1;
                cur = first;
            }
            None => return "an empty array",
        }
    }
    match (depth, cur) {
        (0, _) => kind(v),
        (1, Value::Number(_)) => "a position",
        (2, Value::Number(_)) => "an array of positions",
        (3, Value::Number(_)) => "an array of arrays of positions",
        (_, Value::Number(_)) => "an array nested 4 or more levels deep",
        _ => "an array that does not hold numbers",
    }
}

/// The JSON path of an element of `coordinates`, e.g. `coordinates[0][3]`.
fn at(path: &[usize]) -> String {
    let mut s = String::from("coordinates");
    for i in path {
        s.push_str(&format!("[{i}]"));
    }
    s
}

/// A validation failure inside `coordinates`; `nesting` marks arrays that are empty or
/// nested at the wrong depth, for which the top level adds an example of the right shape.
struct Fault {
    msg: String,
    nesting: bool,
}

impl Fault {
    fn plain(msg: String) -> Self {
        Self {
            msg,
            nesting: false,
        }
    }
    fn empty(msg: String) -> Self {
        Self { msg, nesting: true }
    }
    fn nesting(path: &[usize], found: &Value, expected: &str) -> Self {
        Self {
            msg: format!(
                "{} is {} where {expected} was expected",
                at(path),
                shape(found)
            ),
            nesting: true,
        }
    }
}

/// Validates one geometry object and returns its normalised JSON and its `geo` form.
fn parse_geometry(
    value: &Value,
    allow_collection: bool,
    strict: bool,
) -> Result<(Value, geo::Geometry<f64>), GeoError> {
    let obj = value.as_object().ok_or_else(|| {
        GeoError(format!(
            "a GeoJSON geometry must be a JSON object with \"type\" and \"coordinates\" \
             members, found {}",
            kind(value)
        ))
    })?;
    let type_name = match obj.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(GeoError(format!(
                "the \"type\" of a GeoJSON geometry must be a string ({TYPES}), found {}",
                kind(other)
            )))
        }
        None => {
            return Err(GeoError(format!(
                "a GeoJSON geometry needs a \"type\" member: one of {TYPES}"
            )))
        }
    };
    if type_name == "GeometryCollection" {
        if !allow_collection {
            return Err(GeoError(
                "a GeometryCollection cannot be a member of another GeometryCollection \
                 (RFC 7946 §3.1.8); put its members directly in the outer collection"
                    .into(),
            ));
        }
        return parse_collection(obj, strict);
    }
    let example = match type_name {
        "Point" => "[2.35, 48.85]",
        "MultiPoint" | "LineString" => "[[2.35, 48.85], [2.36, 48.86]]",
        "MultiLineString" => "[[[2.35, 48.85], [2.36, 48.86]]]",
        "Polygon" => "[[[2.35, 48.85], [2.36, 48.85], [2.36, 48.86], [2.35, 48.85]]]",
        "MultiPolygon" => "[[[[2.35, 48.85], [2.36, 48.85], [2.36, 48.86], [2.35, 48.85]]]]",
        "Feature" | "FeatureCollection" => {
            return Err(GeoError(format!(
                "a {type_name} is not a geometry; send its \"geometry\" member instead"
            )))
        }
        other => {
            let hint = if TYPES.to_lowercase().contains(&other.to_lowercase()) && !other.is_empty()
            {
                " (type names are case-sensitive)"
            } else {
                ""
            };
            return Err(GeoError(format!(
                "unknown GeoJSON geometry type \"{other}\"{hint}: expected one of {TYPES}"
            )));
        }
    };
    let coordinates = obj.get("coordinates").ok_or_else(|| {
        GeoError(format!(
            "invalid {type_name} geometry: the \"coordinates\" member is missing; \
             expected for example {example}"
        ))
    })?;
    let mut path = Vec::new();
    let parsed = match type_name {
        "Point" => position(coordinates, &path).map(|c| geo::Geometry::Point(c.into())),
        "MultiPoint" => positions(coordinates, &mut path, 1, "a MultiPoint")
            .map(|cs| geo::Geometry::MultiPoint(cs.into_iter().map(geo::Point::from).collect())),
        "LineString" => {
            line(coordinates, &mut path, "the LineString").map(geo::Geometry::LineString)
        }
        "MultiLineString" => each(
            coordinates,
            &mut path,
            2,
            "a line (an array of positions)",
            "line",
            |v, p| {
                let what = format!(
                    "line {} of the MultiLineString",
                    p.last().copied().unwrap_or(0)
                );
                line(v, p, &what)
            },
        )
        .map(|ls| geo::Geometry::MultiLineString(geo::MultiLineString(ls))),
        "Polygon" => polygon(coordinates, &mut path, "the polygon").map(geo::Geometry::Polygon),
        _ => each(
            coordinates,
            &mut path,
            3,
            "a polygon (an array of linear rings)",
            "polygon",
            |v, p| {
                let what = format!(
                    "polygon {} of the MultiPolygon",
                    p.last().copied().unwrap_or(0)
                );
                polygon(v, p, &what)
            },
        )
        .map(|ps| geo::Geometry::MultiPolygon(geo::MultiPolygon(ps))),
    };
    match parsed {
        Ok(g) => {
            if strict {
                let topology = match &g {
                    geo::Geometry::Polygon(p) => validity::check_polygon(p, "the polygon"),
                    geo::Geometry::MultiPolygon(mp) => validity::check_multi_polygon(&mp.0),
                    _ => Ok(()),
                };
                topology.map_err(|m| GeoError(format!("invalid {type_name} geometry: {m}")))?;
            }
            let mut out = Map::new();
            out.insert("type".into(), Value::String(type_name.to_owned()));
            out.insert("coordinates".into(), coordinates.clone());
            Ok((Value::Object(out), g))
        }
        Err(f) if f.nesting => Err(GeoError(format!(
            "invalid {type_name} geometry: {}; {type_name} coordinates look like {example}",
            f.msg
        ))),
        Err(f) => Err(GeoError(format!("invalid {type_name} geometry: {}", f.msg))),
    }
}

/// Validates the members of a `GeometryCollection`.
fn parse_collection(
    obj: &Map<String, Value>,
    strict: bool,
) -> Result<(Value, geo::Geometry<f64>), GeoError> {
    let members = match obj.get("geometries") {
        Some(Value::Array(m)) => m,
        Some(other) => {
            return Err(GeoError(format!(
                "invalid GeometryCollection: \"geometries\" must be an array of geometries, \
                 found {}",
                kind(other)
            )))
        }
        None => {
            return Err(GeoError(
                "invalid GeometryCollection: the \"geometries\" member (an array of \
                 geometries) is missing"
                    .into(),
            ))
        }
    };
    if members.is_empty() {
        return Err(GeoError(
            "invalid GeometryCollection: \"geometries\" is empty; give at least one geometry"
                .into(),
        ));
    }
    let mut json = Vec::with_capacity(members.len());
    let mut geos = Vec::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        let (j, g) = parse_geometry(m, false, strict).map_err(|e| {
            GeoError(format!(
                "invalid GeometryCollection: geometries[{i}]: {}",
                e.0
            ))
        })?;
        json.push(j);
        geos.push(g);
    }
    if strict {
        let mut polygons = Vec::new();
        for (i, g) in geos.iter().enumerate() {
            match g {
                geo::Geometry::Polygon(p) => polygons.push((i, p)),
                geo::Geometry::MultiPolygon(mp) => polygons.extend(mp.0.iter().map(|p| (i, p))),
                _ => {}
            }
        }
        validity::check_collection_polygons(&polygons)
            .map_err(|m| GeoError(format!("invalid GeometryCollection: {m}")))?;
    }
    let mut out = Map::new();
    out.insert("type".into(), Value::String("GeometryCollection".into()));
    out.insert("geometries".into(), Value::Array(json));
    Ok((
        Value::Object(out),
        geo::Geometry::GeometryCollection(geo::GeometryCollection(geos)),
    ))
}

/// How deeply arrays nest down to numbers, following first elements: 0 for a number, 1 for
/// a position, 2 for an array of positions... `None` when an empty array or a non-number
/// is met first (the level that meets it reports it precisely).
fn depth(v: &Value) -> Option<usize> {
    let mut d = 0;
    let mut cur = v;
    loop {
        match cur {
            Value::Number(_) => return Some(d),
            Value::Array(items) => {
                cur = items.first()?;
                d += 1;
            }
            _ => return None,
        }
    }
}

/// Validates a non-empty array whose elements (each nested `elem_depth` deep, described by
/// `expected`) are parsed by `item`; `noun` names one element in messages.
fn each<T>(
    v: &Value,
    path: &mut Vec<usize>,
    elem_depth: usize,
    expected: &str,
    noun: &str,
    mut item: impl FnMut(&Value, &mut Vec<usize>) -> Result<T, Fault>,
) -> Result<Vec<T>, Fault> {
    let items = match v {
        Value::Array(items) => items,
        other => return Err(Fault::nesting(path, other, &format!("an array of {noun}s"))),
    };
    if items.is_empty() {
        return Err(Fault::empty(format!(
            "{} is empty; give at least one {noun}",
            at(path)
        )));
    }
    if depth(v).is_some_and(|d| d != elem_depth + 1) {
        return Err(Fault::nesting(path, v, &format!("an array of {noun}s")));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        path.push(i);
        if !it.is_array() || depth(it).is_some_and(|d| d != elem_depth) {
            return Err(Fault::nesting(path, it, expected));
        }
        let r = item(it, path);
        path.pop();
        out.push(r?);
    }
    Ok(out)
}

/// Validates one position: 2 or 3 finite numbers, longitude and latitude in range.
fn position(v: &Value, path: &[usize]) -> Result<geo::Coord<f64>, Fault> {
    let items = match v {
        Value::Array(items) => items,
        other => {
            return Err(Fault::nesting(
                path,
                other,
                "a position (an array of 2 or 3 numbers)",
            ))
        }
    };
    if items.is_empty() {
        return Err(Fault::plain(format!(
            "{} is an empty array; a position is [longitude, latitude] or \
             [longitude, latitude, altitude]",
            at(path)
        )));
    }
    if matches!(items[0], Value::Array(_)) {
        return Err(Fault::nesting(path, v, "a position [longitude, latitude]"));
    }
    let mut nums = [0.0_f64; 3];
    for (i, it) in items.iter().enumerate().take(3) {
        let n = match it {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => {
                return Err(Fault::plain(format!(
                    "{}[{i}] is the string \"{s}\"; coordinates must be JSON numbers, \
                     without quotes",
                    at(path)
                )))
            }
            other => {
                return Err(Fault::plain(format!(
                    "{}[{i}] is {}; coordinates must be numbers",
                    at(path),
                    kind(other)
                )))
            }
        };
        match n {
            Some(n) if n.is_finite() => nums[i] = n,
            _ => {
                return Err(Fault::plain(format!(
                    "{}[{i}] is not a finite number",
                    at(path)
                )))
            }
        }
    }
    if items.len() < 2 || items.len() > 3 {
        return Err(Fault::plain(format!(
            "{} has {} number(s); a position needs 2 (longitude, latitude) or 3 \
             (longitude, latitude, altitude)",
            at(path),
            items.len()
        )));
    }
    let (lon, lat) = (nums[0], nums[1]);
    if !(-180.0..=180.0).contains(&lon) {
        return Err(Fault::plain(format!(
            "longitude {lon} at {}[0] is outside [-180, 180]; positions are \
             [longitude, latitude] in WGS84 degrees (projected metres must be converted first)",
            at(path)
        )));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(Fault::plain(format!(
            "latitude {lat} at {}[1] is outside [-90, 90]; positions are \
             [longitude, latitude] in WGS84 degrees, check that the two are not swapped",
            at(path)
        )));
    }
    Ok(geo::Coord { x: lon, y: lat })
}

/// Validates an array of at least `min` positions.
fn positions(
    v: &Value,
    path: &mut Vec<usize>,
    min: usize,
    what: &str,
) -> Result<Vec<geo::Coord<f64>>, Fault> {
    let items = match v {
        Value::Array(items) => items,
        other => return Err(Fault::nesting(path, other, "an array of positions")),
    };
    if items.is_empty() {
        return Err(Fault::empty(format!(
            "{} is empty; {what} needs at least {min} position(s)",
            at(path)
        )));
    }
    if depth(v).is_some_and(|d| d != 2) {
        return Err(Fault::nesting(path, v, "an array of positions"));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        path.push(i);
        let r = position(it, path);
        path.pop();
        out.push(r?);
    }
    if out.len() < min {
        return Err(Fault::plain(format!(
            "{} has {} position(s); {what} needs at least {min}",
            at(path),
            out.len()
        )));
    }
    Ok(out)
}

/// Validates a line string (at least 2 positions); `what` names it in messages.
fn line(v: &Value, path: &mut Vec<usize>, what: &str) -> Result<geo::LineString<f64>, Fault> {
    positions(v, path, 2, what).map(geo::LineString)
}

/// Validates a polygon: at least one linear ring, each closed with at least 4 positions;
/// `what` names it in messages ("the polygon", "polygon 2 of the MultiPolygon").
fn polygon(v: &Value, path: &mut Vec<usize>, what: &str) -> Result<geo::Polygon<f64>, Fault> {
    let mut rings = each(
        v,
        path,
        2,
        "a linear ring (an array of positions)",
        "ring",
        |r, p| {
            let n = p.last().copied().unwrap_or(0);
            let ring_name = format!("ring {n} of {what}");
            let items = r.as_array().map(Vec::len).unwrap_or(0);
            if (1..4).contains(&items) {
                // Positions are checked first so that a malformed one is reported as such.
                positions(r, p, 1, &ring_name)?;
                return Err(Fault::plain(format!(
                    "{ring_name} ({}) has {items} position(s); a linear ring needs at least 4 \
                 (a triangle is 3 corners plus the first one repeated to close it)",
                    at(p)
                )));
            }
            let coords = positions(r, p, 4, &ring_name)?;
            let (first, last) = (&r[0], &r[items - 1]);
            if !same_position(first, last) {
                return Err(Fault::plain(format!(
                    "{ring_name} is not closed: first position {first} differs from last {last}; \
                 repeat the first position at the end of the ring"
                )));
            }
            Ok(geo::LineString(coords))
        },
    )?;
    // `each` refuses empty arrays, so there is always an exterior ring.
    let exterior = rings.remove(0);
    Ok(geo::Polygon::new(exterior, rings))
}

/// Whether two validated positions are identical (RFC 7946 §3.1.6: the first and last
/// positions of a ring contain identical values), altitude included.
fn same_position(a: &Value, b: &Value) -> bool {
    match (a.as_array(), b.as_array()) {
        (Some(a), Some(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.as_f64() == y.as_f64())
        }
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        Geometry::from_geojson(&v).unwrap_err().0
    }

    fn square() -> Value {
        json!([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    }

    #[test]
    fn accepts_every_type() {
        for v in [
            json!({"type": "Point", "coordinates": [2.35, 48.85]}),
            json!({"type": "Point", "coordinates": [2.35, 48.85, 35.0]}),
            json!({"type": "Point", "coordinates": [-180, 90]}),
            json!({"type": "MultiPoint", "coordinates": [[2.35, 48.85]]}),
            json!({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}),
            json!({"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]], [[2, 2], [3, 3]]]}),
            json!({"type": "Polygon", "coordinates": [square()]}),
            json!({"type": "Polygon", "coordinates": [
                [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
                [[2, 2], [3, 2], [3, 3], [2, 2]]
            ]}),
            json!({"type": "MultiPolygon", "coordinates": [[square()], [[[5, 5], [6, 5], [6, 6], [5, 5]]]]}),
            json!({"type": "GeometryCollection", "geometries": [
                {"type": "Point", "coordinates": [0, 0]},
                {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}
            ]}),
        ] {
            let g = Geometry::from_geojson(&v).unwrap_or_else(|e| panic!("{v}: {e}"));
            assert_eq!(g.as_json(), &v);
        }
    }

    #[test]
    fn keeps_only_type_and_coordinates() {
        let g = Geometry::from_geojson(&json!({
            "type": "Point", "coordinates": [1, 2], "bbox": [1, 2, 1, 2], "crs": "x"
        }))
        .unwrap();
        assert_eq!(
            g.as_json(),
            &json!({"type": "Point", "coordinates": [1, 2]})
        );
        let g = Geometry::from_geojson(&json!({"type": "GeometryCollection", "foo": 1,
            "geometries": [{"type": "Point", "coordinates": [1, 2], "id": 3}]}))
        .unwrap();
        assert_eq!(
            g.as_json(),
            &json!({"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [1, 2]}]})
        );
        assert_eq!(g.geometry_type(), "GeometryCollection");
    }

    #[test]
    fn serde_is_transparent() {
        let v = json!({"type": "LineString", "coordinates": [[0, 0], [1, 1]]});
        let g = Geometry::from_geojson(&v).unwrap();
        assert_eq!(serde_json::to_value(&g).unwrap(), v);
        let back: Geometry = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back, g);
    }

    #[test]
    fn rejects_non_objects_and_bad_types() {
        assert!(err(json!([1, 2])).contains("must be a JSON object"));
        assert!(err(json!("Point")).contains("found a string"));
        assert!(err(json!({"coordinates": [1, 2]})).contains("needs a \"type\""));
        assert!(err(json!({"type": 3, "coordinates": [1, 2]})).contains("must be a string"));
        let e = err(json!({"type": "Circle", "coordinates": [1, 2]}));
        assert!(
            e.contains("unknown GeoJSON geometry type \"Circle\""),
            "{e}"
        );
        let e = err(json!({"type": "point", "coordinates": [1, 2]}));
        assert!(e.contains("case-sensitive"), "{e}");
        let e = err(json!({"type": "Feature", "geometry": {}}));
        assert!(e.contains("send its \"geometry\""), "{e}");
        let e = err(json!({"type": "Point"}));
        assert!(e.contains("\"coordinates\" member is missing"), "{e}");
    }

    #[test]
    fn rejects_empty_coordinates() {
        for (t, c) in [
            ("Point", json!([])),
            ("MultiPoint", json!([])),
            ("LineString", json!([])),
            ("MultiLineString", json!([])),
            ("Polygon", json!([])),
            ("MultiPolygon", json!([])),
        ] {
            let e = err(json!({"type": t, "coordinates": c}));
            assert!(e.contains("empty"), "{t}: {e}");
            assert!(e.starts_with(&format!("invalid {t} geometry")), "{e}");
        }
        let e = err(json!({"type": "Polygon", "coordinates": [[]]}));
        assert!(e.contains("coordinates[0] is empty"), "{e}");
        let e = err(json!({"type": "MultiPolygon", "coordinates": [[]]}));
        assert!(
            e.contains("coordinates[0] is empty; give at least one ring"),
            "{e}"
        );
        let e = err(json!({"type": "GeometryCollection", "geometries": []}));
        assert!(e.contains("\"geometries\" is empty"), "{e}");
        let e = err(json!({"type": "Point", "coordinates": null}));
        assert!(e.contains("coordinates is null"), "{e}");
    }

    #[test]
    fn rejects_wrong_nesting() {
        let e = err(json!({"type": "Point", "coordinates": [[2.35, 48.85]]}));
        assert!(
            e.contains("coordinates is an array of positions where a position [longitude, latitude] was expected"),
            "{e}"
        );
        assert!(
            e.contains("Point coordinates look like [2.35, 48.85]"),
            "{e}"
        );
        let e = err(json!({"type": "LineString", "coordinates": [2.35, 48.85]}));
        assert!(
            e.contains("coordinates is a position where an array of positions"),
            "{e}"
        );
        let e = err(json!({"type": "Polygon", "coordinates": square()}));
        assert!(
            e.contains("coordinates is an array of positions where an array of rings"),
            "{e}"
        );
        let e = err(json!({"type": "MultiPolygon", "coordinates": [square()]}));
        assert!(
            e.contains("coordinates is an array of arrays of positions where an array of polygons"),
            "{e}"
        );
        assert!(e.contains("MultiPolygon coordinates look like [[[["), "{e}");
        let e = err(json!({"type": "MultiPoint", "coordinates": [[[1, 2]]]}));
        assert!(
            e.contains(
                "coordinates is an array of arrays of positions where an array of positions"
            ),
            "{e}"
        );
        let e = err(json!({"type": "Polygon", "coordinates": [square(), [0, 0]]}));
        assert!(
            e.contains("coordinates[1] is a position where a linear ring"),
            "{e}"
        );
        let e =
            err(json!({"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]], [[[0, 0]]]]}));
        assert!(
            e.contains("coordinates[1] is an array of arrays of positions where a line"),
            "{e}"
        );
        let e = err(json!({"type": "LineString", "coordinates": [[1, 2], 3]}));
        assert!(
            e.contains("coordinates[1] is a number where a position"),
            "{e}"
        );
        let e = err(json!({"type": "Polygon", "coordinates": "[[1,2]]"}));
        assert!(
            e.contains("coordinates is a string where an array of rings"),
            "{e}"
        );
    }

    #[test]
    fn rejects_bad_numbers() {
        let e = err(json!({"type": "Point", "coordinates": ["2.35", 48.85]}));
        assert!(e.contains("coordinates[0] is the string \"2.35\""), "{e}");
        let e = err(json!({"type": "Point", "coordinates": [2.35, null]}));
        assert!(e.contains("coordinates[1] is null"), "{e}");
        let e = err(json!({"type": "LineString", "coordinates": [[0, 0], [1, true]]}));
        assert!(e.contains("coordinates[1][1] is a boolean"), "{e}");
        // JSON cannot carry NaN: serde_json turns it into null.
        let e = err(json!({"type": "Point", "coordinates": [f64::NAN, 1.0]}));
        assert!(e.contains("coordinates[0] is null"), "{e}");
        let e = err(json!({"type": "Point", "coordinates": [1.0]}));
        assert!(e.contains("has 1 number(s)"), "{e}");
        let e = err(json!({"type": "Point", "coordinates": [1.0, 2.0, 3.0, 4.0]}));
        assert!(e.contains("has 4 number(s)"), "{e}");
        assert!(Geometry::point(f64::NAN, 1.0)
            .unwrap_err()
            .0
            .contains("longitude NaN"));
        assert!(Geometry::point(f64::INFINITY, 1.0).is_err());
    }

    #[test]
    fn rejects_out_of_range() {
        let e = err(json!({"type": "Point", "coordinates": [48.85, 95.5]}));
        assert!(
            e.contains("latitude 95.5 at coordinates[1] is outside [-90, 90]"),
            "{e}"
        );
        let e = err(json!({"type": "LineString", "coordinates": [[0, 0], [-180.5, 0]]}));
        assert!(
            e.contains("longitude -180.5 at coordinates[1][0] is outside [-180, 180]"),
            "{e}"
        );
        let e = err(
            json!({"type": "Polygon", "coordinates": [[[652469, 6862035], [1, 0], [1, 1], [652469, 6862035]]]}),
        );
        assert!(
            e.contains("longitude 652469 at coordinates[0][0][0]"),
            "{e}"
        );
        assert!(e.contains("projected metres"), "{e}");
    }

    #[test]
    fn rejects_too_few_positions() {
        let e = err(json!({"type": "LineString", "coordinates": [[0, 0]]}));
        assert!(
            e.contains("has 1 position(s); the LineString needs at least 2"),
            "{e}"
        );
        let e =
            err(json!({"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]], [[0, 0]]]}));
        assert!(
            e.contains("line 1 of the MultiLineString needs at least 2"),
            "{e}"
        );
        let e = err(json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}));
        assert!(
            e.contains("ring 0 of the polygon (coordinates[0]) has 3 position(s)"),
            "{e}"
        );
        assert!(e.contains("at least 4"), "{e}");
        // A malformed position in a short ring is reported as such.
        let e = err(json!({"type": "Polygon", "coordinates": [[[0, 0], [1, "x"]]]}));
        assert!(e.contains("coordinates[0][1][1] is the string"), "{e}");
    }

    #[test]
    fn rejects_unclosed_rings() {
        let e = err(json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}));
        assert_eq!(
            e,
            "invalid Polygon geometry: ring 0 of the polygon is not closed: first position [0,0] \
             differs from last [0,1]; repeat the first position at the end of the ring"
        );
        let e = err(
            json!({"type": "Polygon", "coordinates": [square(), [[0.2, 0.2], [0.3, 0.2], [0.3, 0.3], [0.2, 0.25]]]}),
        );
        assert!(e.contains("ring 1 of the polygon is not closed: first position [0.2,0.2] differs from last [0.2,0.25]"), "{e}");
        let e = err(
            json!({"type": "MultiPolygon", "coordinates": [[square()], [[[0, 0], [1, 0], [1, 1], [0, 1]]]]}),
        );
        assert!(
            e.contains("ring 0 of polygon 1 of the MultiPolygon is not closed"),
            "{e}"
        );
        // An altitude on only one end is not identical.
        let e =
            err(json!({"type": "Polygon", "coordinates": [[[0, 0, 5], [1, 0], [1, 1], [0, 0]]]}));
        assert!(e.contains("not closed"), "{e}");
        // Integer and float spellings of the same number are identical.
        assert!(Geometry::from_geojson(
            &json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0.0, 0.0]]]})
        )
        .is_ok());
    }

    #[test]
    fn collections() {
        let e = err(json!({"type": "GeometryCollection"}));
        assert!(e.contains("\"geometries\" member"), "{e}");
        let e = err(json!({"type": "GeometryCollection", "geometries": {}}));
        assert!(e.contains("found an object"), "{e}");
        let e = err(json!({"type": "GeometryCollection", "geometries": [
            {"type": "Point", "coordinates": [0, 0]},
            {"type": "Point", "coordinates": [0, 91]}
        ]}));
        assert!(
            e.starts_with(
                "invalid GeometryCollection: geometries[1]: invalid Point geometry: latitude 91"
            ),
            "{e}"
        );
        let e = err(json!({"type": "GeometryCollection", "geometries": [
            {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [0, 0]}]}
        ]}));
        assert!(
            e.contains("cannot be a member of another GeometryCollection"),
            "{e}"
        );
    }

    #[test]
    fn bbox_and_geo() {
        let g = Geometry::from_geojson(&json!({"type": "MultiPolygon", "coordinates": [
            [[[0, 0], [1, 0], [1, 1], [0, 0]]], [[[5, -3], [6, -3], [6, 2.5, 10], [5, -3]]]
        ]}))
        .unwrap();
        assert_eq!(
            g.bbox(),
            BBox {
                min_x: 0.0,
                min_y: -3.0,
                max_x: 6.0,
                max_y: 2.5
            }
        );
        match g.to_geo() {
            geo::Geometry::MultiPolygon(mp) => {
                assert_eq!(mp.0.len(), 2);
                assert_eq!(mp.0[1].exterior().0[2], geo::coord! { x: 6.0, y: 2.5 });
            }
            other => panic!("{other:?}"),
        }
        let p = Geometry::point(2.35, 48.85).unwrap();
        assert_eq!(
            p.bbox(),
            BBox {
                min_x: 2.35,
                min_y: 48.85,
                max_x: 2.35,
                max_y: 48.85
            }
        );
        // A holed polygon keeps its hole.
        let g = Geometry::from_geojson(&json!({"type": "Polygon", "coordinates": [
            [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], [[2, 2], [3, 2], [3, 3], [2, 2]]
        ]}))
        .unwrap();
        match g.to_geo() {
            geo::Geometry::Polygon(p) => assert_eq!(p.interiors().len(), 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unvalidated_store_values_do_not_panic() {
        let g: Geometry = serde_json::from_value(json!({"type": "Nope"})).unwrap();
        assert!(g.try_to_geo().is_err());
        assert_eq!(
            g.bbox(),
            BBox {
                min_x: 0.0,
                min_y: 0.0,
                max_x: 0.0,
                max_y: 0.0
            }
        );
        assert_eq!(g.geometry_type(), "Nope");
        let g: Geometry = serde_json::from_value(json!(null)).unwrap();
        assert_eq!(g.geometry_type(), "");
        let _ = g.to_geo();
    }

    #[test]
    fn bbox_helpers() {
        let a = BBox {
            min_x: 0.0,
            min_y: 0.0,
            max_x: 2.0,
            max_y: 2.0,
        };
        let b = BBox {
            min_x: 2.0,
            min_y: 2.0,
            max_x: 3.0,
            max_y: 3.0,
        };
        let c = BBox {
            min_x: 0.5,
            min_y: 0.5,
            max_x: 1.0,
            max_y: 1.0,
        };
        assert!(a.intersects(&b) && b.intersects(&a));
        assert!(!c.intersects(&b));
        assert!(a.contains(&c) && !c.contains(&a));
        assert!(a.contains_point(2.0, 0.0) && !a.contains_point(2.1, 0.0));
        assert!(BBox::WORLD.contains(&a));
    }
}
