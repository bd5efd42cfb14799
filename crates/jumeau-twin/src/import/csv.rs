//! CSV with a header row → NGSI-LD entities, one per line.
use serde_json::{json, Value};

use super::common::{
    decode, locate, property, relationship, same_field, validate_options, Collector, Located, Names,
};
use super::{Crs, ImportBatch, ImportError, ImportOptions};

/// Column names (lower case) holding a WGS84 longitude, in order of preference.
const LON_NAMES: &[&str] = &["lon", "lng", "long", "longitude", "x_wgs84"];
/// Column names (lower case) holding a WGS84 latitude, in order of preference.
const LAT_NAMES: &[&str] = &["lat", "latitude", "y_wgs84"];
/// Column names (lower case) holding a Lambert-93 easting, in order of preference.
const X_NAMES: &[&str] = &["x", "x_l93", "coord_x"];
/// Column names (lower case) holding a Lambert-93 northing, in order of preference.
const Y_NAMES: &[&str] = &["y", "y_l93", "coord_y"];
/// The OpenDataSoft column holding "lat, lon".
const GEO_POINT: &str = "geo_point_2d";
/// The OpenDataSoft column holding a GeoJSON geometry.
const GEO_SHAPE: &str = "geo_shape";

/// Imports a CSV file with a header row: one entity per line.
///
/// The delimiter is `;` or `,`, whichever the header uses more (outside quotes). The
/// location comes from a pair of coordinate columns — `lon`/`lat` (also `lng`, `long`,
/// `longitude`, `x_wgs84` / `latitude`, `y_wgs84`), else `x`/`y` (also `x_l93`, `coord_x` /
/// `y_l93`, `coord_y`), matched ignoring case, or the columns named by `lon_field`/
/// `lat_field` (`x_field`/`y_field`) — read according to `opts.crs`; files exported by
/// OpenDataSoft portals are also read from `geo_shape` (a GeoJSON geometry) or
/// `geo_point_2d` ("lat, lon"). Coordinates may use a decimal comma. The coordinate
/// columns are not copied as attributes; every other column is (see the module
/// documentation for how cells are typed). Rows are numbered by their line in the file,
/// the header being line 1.
pub fn import_csv(bytes: &[u8], opts: &ImportOptions) -> Result<ImportBatch, ImportError> {
    validate_options(opts)?;
    let text = decode(bytes)?;
    if text.trim().is_empty() {
        return Err(ImportError::NoHeader);
    }
    let delimiter = detect_delimiter(text);
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ImportError::Csv(e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(ImportError::NoHeader);
    }
    let layout = Layout::new(&headers, opts)?;

    let mut names = Names::new("column");
    let columns: Vec<Column> = (0..headers.len())
        .filter(|i| !layout.coords.uses(*i))
        .map(|i| Column {
            index: i,
            name: names.attribute(&headers[i]),
            target: opts
                .relationship_fields
                .iter()
                .find(|(field, _)| same_field(field, &headers[i]))
                .map(|(_, target)| target.clone()),
        })
        .collect();

    let mut rows = Collector::new(opts, "line");
    let mut record = ::csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(ImportError::Csv(e.to_string())),
        }
        let line = record
            .position()
            .and_then(|p| usize::try_from(p.line()).ok())
            .unwrap_or(0);
        if record.len() != headers.len() {
            let hint = if record.len() > headers.len() {
                format!(
                    "a value probably contains an unquoted '{}': put such values in double quotes",
                    char::from(delimiter)
                )
            } else {
                "each line needs one value, possibly empty, per column".to_string()
            };
            rows.reject(
                line,
                format!(
                    "the line has {} fields but the header has {}; {hint}",
                    record.len(),
                    headers.len()
                ),
            );
            continue;
        }
        let cell = |i: usize| record.get(i).map(str::trim).filter(|s| !s.is_empty());

        let identity = rows.identify(
            line,
            layout.type_col.and_then(cell),
            layout.id_col.and_then(cell),
        );
        let mut reasons = Vec::new();
        let location = layout
            .coords
            .locate(&headers, cell, opts.crs)
            .map_err(|reason| reasons.push(reason))
            .ok();
        let mut attributes = Vec::with_capacity(columns.len());
        for column in &columns {
            let Some(value) = cell(column.index) else {
                continue;
            };
            let attribute = match &column.target {
                None => property(typed_cell(value)),
                Some(target) => match relationship(target, value) {
                    Ok(attribute) => attribute,
                    Err(reason) => {
                        reasons.push(format!("column {:?}: {reason}", headers[column.index]));
                        continue;
                    }
                },
            };
            attributes.push((column.name.clone(), attribute));
        }
        rows.finish_row(line, identity, location, attributes, reasons);
    }
    Ok(rows.finish(vec![layout.coords.describe(&headers)], names))
}

/// A column copied as an attribute.
struct Column {
    /// Its position in the header.
    index: usize,
    /// Its attribute name.
    name: String,
    /// The target type when it holds relationships.
    target: Option<String>,
}

/// Which columns play which role.
struct Layout {
    /// The `id_field` column.
    id_col: Option<usize>,
    /// The `type_field` column.
    type_col: Option<usize>,
    /// Where the coordinates are.
    coords: Coords,
}

impl Layout {
    /// Finds the columns named by the options and the coordinate columns.
    fn new(headers: &[String], opts: &ImportOptions) -> Result<Self, ImportError> {
        let named = |role: &str, name: &Option<String>| match name {
            None => Ok(None),
            Some(name) => {
                find_column(headers, name)
                    .map(Some)
                    .ok_or_else(|| ImportError::MissingColumn {
                        role: role.to_string(),
                        name: name.clone(),
                        columns: headers.to_vec(),
                    })
            }
        };
        let id_col = named("id_field", &opts.id_field)?;
        let type_col = named("type_field", &opts.type_field)?;
        for field in opts.relationship_fields.keys() {
            named("relationship_fields", &Some(field.clone()))?;
        }
        let coords = match (
            &opts.lon_field,
            &opts.lat_field,
            &opts.x_field,
            &opts.y_field,
        ) {
            (Some(_), Some(_), _, _) => Coords::Pair {
                x: named("lon_field", &opts.lon_field)?.unwrap_or_default(),
                y: named("lat_field", &opts.lat_field)?.unwrap_or_default(),
                degrees: true,
            },
            (_, _, Some(_), Some(_)) => Coords::Pair {
                x: named("x_field", &opts.x_field)?.unwrap_or_default(),
                y: named("y_field", &opts.y_field)?.unwrap_or_default(),
                degrees: false,
            },
            _ => detect_coords(headers)?,
        };
        Ok(Self {
            id_col,
            type_col,
            coords,
        })
    }
}

/// The column called `name`: the exact name first, else ignoring case.
fn find_column(headers: &[String], name: &str) -> Option<usize> {
    headers
        .iter()
        .position(|h| h == name.trim())
        .or_else(|| headers.iter().position(|h| same_field(name, h)))
}

/// The first column whose name (ignoring case) is in `candidates`, in their order.
fn find_any(headers: &[String], candidates: &[&str]) -> Option<usize> {
    candidates
        .iter()
        .find_map(|c| headers.iter().position(|h| h.eq_ignore_ascii_case(c)))
}

/// Finds the coordinate columns of a header.
fn detect_coords(headers: &[String]) -> Result<Coords, ImportError> {
    let missing = |detail: String| ImportError::NoCoordinateColumns {
        detail,
        columns: headers.to_vec(),
    };
    let pairs = [(LON_NAMES, LAT_NAMES, true), (X_NAMES, Y_NAMES, false)];
    for (xs, ys, degrees) in pairs {
        let (first, second) = if degrees {
            ("longitude", "latitude")
        } else {
            ("x", "y")
        };
        match (find_any(headers, xs), find_any(headers, ys)) {
            (Some(x), Some(y)) => return Ok(Coords::Pair { x, y, degrees }),
            (Some(x), None) => {
                return Err(missing(format!(
                    "the {first} column {:?} has no matching {second} column",
                    headers[x]
                )))
            }
            (None, Some(y)) => {
                return Err(missing(format!(
                    "the {second} column {:?} has no matching {first} column",
                    headers[y]
                )))
            }
            (None, None) => {}
        }
    }
    let point = find_any(headers, &[GEO_POINT]);
    match find_any(headers, &[GEO_SHAPE]) {
        Some(shape) => Ok(Coords::Shape { shape, point }),
        None => match point {
            Some(point) => Ok(Coords::LatLon(point)),
            None => Err(missing("no coordinate columns were found".into())),
        },
    }
}

/// Where the coordinates of a line are.
enum Coords {
    /// Two columns: longitude/easting and latitude/northing.
    Pair {
        /// The longitude or easting column.
        x: usize,
        /// The latitude or northing column.
        y: usize,
        /// Whether the columns are named as degrees (for messages only).
        degrees: bool,
    },
    /// One column holding "lat, lon" (OpenDataSoft `geo_point_2d`).
    LatLon(usize),
    /// A column holding a GeoJSON geometry (OpenDataSoft `geo_shape`), with the
    /// `geo_point_2d` column as fallback when the shape is empty.
    Shape {
        /// The `geo_shape` column.
        shape: usize,
        /// The `geo_point_2d` column.
        point: Option<usize>,
    },
}

impl Coords {
    /// Whether column `i` holds coordinates (and so is not copied as an attribute).
    fn uses(&self, i: usize) -> bool {
        match self {
            Coords::Pair { x, y, .. } => i == *x || i == *y,
            Coords::LatLon(point) => i == *point,
            Coords::Shape { shape, point } => i == *shape || Some(i) == *point,
        }
    }

    /// A note saying where the coordinates were read.
    fn describe(&self, headers: &[String]) -> String {
        match self {
            Coords::Pair { x, y, .. } => format!(
                "coordinates read from the columns {:?} and {:?}",
                headers[*x], headers[*y]
            ),
            Coords::LatLon(point) => {
                format!(
                    "coordinates read from the column {:?} as \"lat, lon\"",
                    headers[*point]
                )
            }
            Coords::Shape { shape, point } => match point {
                Some(point) => format!(
                    "geometries read from the column {:?}, else from {:?} as \"lat, lon\"",
                    headers[*shape], headers[*point]
                ),
                None => format!("geometries read from the column {:?}", headers[*shape]),
            },
        }
    }

    /// The location of a line, given its trimmed non-empty cells.
    fn locate<'c>(
        &self,
        headers: &[String],
        cell: impl Fn(usize) -> Option<&'c str>,
        crs: Crs,
    ) -> Result<Located, String> {
        match self {
            Coords::Pair { x, y, degrees } => {
                let (first, second) = if *degrees {
                    ("longitude", "latitude")
                } else {
                    ("x", "y")
                };
                let read = |i: usize, role: &str| -> Result<f64, String> {
                    let text = cell(i)
                        .ok_or_else(|| format!("the {role} column {:?} is empty", headers[i]))?;
                    parse_coordinate(text).ok_or_else(|| {
                        format!(
                            "the {role} {text:?} in column {:?} is not a number",
                            headers[i]
                        )
                    })
                };
                let (x, y) = match (read(*x, first), read(*y, second)) {
                    (Ok(x), Ok(y)) => (x, y),
                    (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
                    (Err(a), Err(b)) => return Err(format!("{a}; {b}")),
                };
                locate(&json!({ "type": "Point", "coordinates": [x, y] }), crs)
            }
            Coords::LatLon(point) => match cell(*point) {
                Some(text) => locate(&lat_lon_point(text, &headers[*point])?, crs),
                None => Err(format!("the column {:?} is empty", headers[*point])),
            },
            Coords::Shape { shape, point } => match (cell(*shape), point) {
                (Some(text), _) => {
                    let geometry: Value = serde_json::from_str(text).map_err(|e| {
                        format!(
                            "the column {:?} is not a GeoJSON geometry: {e}",
                            headers[*shape]
                        )
                    })?;
                    locate(&geometry, crs)
                }
                (None, Some(point)) => Coords::LatLon(*point).locate(headers, cell, crs),
                (None, None) => Err(format!("the column {:?} is empty", headers[*shape])),
            },
        }
    }
}

/// A GeoJSON Point from the text "lat, lon" of column `column`.
fn lat_lon_point(text: &str, column: &str) -> Result<Value, String> {
    let parts: Vec<Option<f64>> = text
        .split(',')
        .map(|p| parse_coordinate(p.trim()))
        .collect();
    match parts.as_slice() {
        [Some(lat), Some(lon)] => Ok(json!({ "type": "Point", "coordinates": [lon, lat] })),
        _ => Err(format!(
            "the value {text:?} of column {column:?} is not \"latitude, longitude\" with '.' \
             decimals"
        )),
    }
}

/// Picks `;` or `,`: whichever the first non-blank line has more of outside quotes.
fn detect_delimiter(text: &str) -> u8 {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let (mut semicolons, mut commas, mut quoted) = (0usize, 0usize, false);
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => semicolons += 1,
            ',' if !quoted => commas += 1,
            _ => {}
        }
    }
    if semicolons > commas {
        b';'
    } else {
        b','
    }
}

/// Splits a plain decimal (`-12`, `2.35`, `2,35`) into sign, integer digits and fraction
/// digits; `None` for anything else.
fn split_decimal(text: &str) -> Option<(&str, &str, Option<&str>)> {
    let (sign, body) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = match body.find(['.', ',']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) {
        return None;
    }
    Some((sign, int, frac))
}

/// A coordinate: a plain decimal with `.` or a decimal comma.
fn parse_coordinate(text: &str) -> Option<f64> {
    let (sign, int, frac) = split_decimal(text)?;
    format!("{sign}{int}.{}", frac.unwrap_or("0")).parse().ok()
}

/// The JSON value of a non-empty CSV cell: a boolean for true/false, a number for a plain
/// decimal without a leading zero and of at most 15 integer digits, else the text.
fn typed_cell(text: &str) -> Value {
    if text.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if text.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    let number = split_decimal(text).and_then(|(sign, int, frac)| {
        if (int.len() > 1 && int.starts_with('0')) || int.len() > 15 {
            return None;
        }
        match frac {
            None => format!("{sign}{int}").parse::<i64>().ok().map(Value::from),
            Some(frac) => format!("{sign}{int}.{frac}")
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
        }
    });
    number.unwrap_or_else(|| Value::String(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_typed_conservatively() {
        assert_eq!(typed_cell("35"), json!(35));
        assert_eq!(typed_cell("-4"), json!(-4));
        assert_eq!(typed_cell("2,35"), json!(2.35));
        assert_eq!(typed_cell("6.5"), json!(6.5));
        assert_eq!(typed_cell("0,5"), json!(0.5));
        assert_eq!(typed_cell("TRUE"), json!(true));
        assert_eq!(typed_cell("false"), json!(false));
        assert_eq!(typed_cell("oui"), json!("oui"));
        assert_eq!(typed_cell("non"), json!("non"));
        assert_eq!(
            typed_cell("01053"),
            json!("01053"),
            "INSEE codes stay strings"
        );
        assert_eq!(typed_cell("2A004"), json!("2A004"));
        assert_eq!(typed_cell("1 234"), json!("1 234"));
        assert_eq!(typed_cell("1.234,5"), json!("1.234,5"));
        assert_eq!(typed_cell("1e5"), json!("1e5"));
        assert_eq!(typed_cell("12345678901234567"), json!("12345678901234567"));
        assert_eq!(typed_cell("2019-03-14"), json!("2019-03-14"));
    }

    #[test]
    fn coordinates_accept_decimal_commas() {
        assert_eq!(parse_coordinate("46,2052"), Some(46.2052));
        assert_eq!(parse_coordinate("-0.5"), Some(-0.5));
        assert_eq!(parse_coordinate("700000"), Some(700000.0));
        assert_eq!(parse_coordinate("nord"), None);
        assert_eq!(parse_coordinate("4,5,6"), None);
    }

    #[test]
    fn delimiter_is_the_one_the_header_uses() {
        assert_eq!(detect_delimiter("a;b;c\n1,2;3;4"), b';');
        assert_eq!(detect_delimiter("a,b,\"c;d\"\n"), b',');
        assert_eq!(detect_delimiter("\n\nnom;\"x,y\";z"), b';');
    }
}
