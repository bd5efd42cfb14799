//! What the GeoJSON and CSV importers share: option checks, attribute names, entity ids
//! and types, coordinate conversion, and the collection of entities and rejections.
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use super::{Crs, ImportBatch, ImportError, ImportOptions, Rejection};

/// Names an entity uses for its own members; a source column with one of these names is
/// renamed with a `source_` prefix.
const RESERVED_NAMES: &[&str] = &[
    "id",
    "type",
    "scope",
    "location",
    "observationSpace",
    "operationSpace",
    "createdAt",
    "modifiedAt",
    "deletedAt",
];

/// The Lambert-93 (EPSG:2154) area in metres — metropolitan France and Corsica with a
/// wide margin — as (min, max) eastings; the same area `jumeau_geo::lambert93_to_wgs84`
/// accepts, checked here first so that automatic detection can tell the systems apart.
const L93_X: (f64, f64) = (-400_000.0, 1_500_000.0);
/// The northings of the Lambert-93 area, see [`L93_X`].
const L93_Y: (f64, f64) = (5_900_000.0, 7_200_000.0);

/// The bytes without a leading UTF-8 byte order mark (spreadsheets often write one).
pub(super) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The file as text, without its byte order mark.
pub(super) fn decode(bytes: &[u8]) -> Result<&str, ImportError> {
    let stripped = strip_bom(bytes);
    let bom = bytes.len() - stripped.len();
    std::str::from_utf8(stripped).map_err(|e| ImportError::NotUtf8 {
        offset: bom + e.valid_up_to(),
    })
}

/// Whether `name` can be an entity type: a term of letters, digits and `_` starting
/// with a letter.
pub(super) fn is_type_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(char::is_alphabetic) && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Checks the options before any row is read.
pub(super) fn validate_options(opts: &ImportOptions) -> Result<(), ImportError> {
    let bad = |message: String| Err(ImportError::InvalidOptions(message));
    let type_hint = "use letters, digits and '_', starting with a letter, e.g. \"Streetlight\"";
    if opts.entity_type.is_empty() {
        if opts.type_field.is_none() {
            return bad(
                "entity_type is empty; set it to the type of the imported entities, e.g. \
                 \"Streetlight\" (or set type_field to read the type from a column)"
                    .into(),
            );
        }
    } else if !is_type_name(&opts.entity_type) {
        return bad(format!(
            "entity_type {:?} is not a valid type name; {type_hint}",
            opts.entity_type
        ));
    }
    if !opts.type_map.is_empty() && opts.type_field.is_none() {
        return bad(
            "type_map is set but type_field is not; name the column whose values it maps".into(),
        );
    }
    for (source, target) in &opts.type_map {
        if !is_type_name(target) {
            return bad(format!(
                "type_map maps {source:?} to {target:?}, which is not a valid type name; {type_hint}"
            ));
        }
    }
    for (field, target) in &opts.relationship_fields {
        if !is_type_name(target) {
            return bad(format!(
                "relationship_fields maps {field:?} to {target:?}, which is not a valid type \
                 name; {type_hint}"
            ));
        }
    }
    if let Some(prefix) = &opts.id_prefix {
        if !prefix.contains(':') || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad(format!(
                "id_prefix {prefix:?} must be the start of an absolute URI without spaces, e.g. \
                 \"urn:ngsi-ld:Streetlight:\""
            ));
        }
    }
    let lon_lat = opts.lon_field.is_some() || opts.lat_field.is_some();
    let x_y = opts.x_field.is_some() || opts.y_field.is_some();
    if lon_lat && x_y {
        return bad("set either lon_field and lat_field or x_field and y_field, not both".into());
    }
    if opts.lon_field.is_some() != opts.lat_field.is_some() {
        return bad("lon_field and lat_field must be set together".into());
    }
    if opts.x_field.is_some() != opts.y_field.is_some() {
        return bad("x_field and y_field must be set together".into());
    }
    Ok(())
}

/// Whether a column/property called `actual` is the one the options call `wanted`
/// (ignoring case and surrounding spaces).
pub(super) fn same_field(wanted: &str, actual: &str) -> bool {
    wanted.trim().eq_ignore_ascii_case(actual.trim())
}

/// The value of the property called `wanted`: the exact name first, else ignoring case.
pub(super) fn lookup<'a>(props: &'a Map<String, Value>, wanted: &str) -> Option<&'a Value> {
    props.get(wanted).or_else(|| {
        props
            .iter()
            .find(|(name, _)| same_field(wanted, name))
            .map(|(_, value)| value)
    })
}

/// `name` reduced to an NGSI-LD attribute name: letters (accents included), digits and
/// `_` are kept; each run of other characters becomes one `_`, except at either end.
pub(super) fn sanitize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut gap = false;
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
    }
    out
}

/// The attribute names given to the columns or properties of one file, and the notes
/// about those that had to be renamed.
pub(super) struct Names {
    /// "column" or "property", for the notes.
    kind: &'static str,
    /// Source name → attribute name.
    given: HashMap<String, String>,
    /// Attribute names already given.
    used: HashSet<String>,
    /// One note per renamed source name.
    notes: Vec<String>,
}

impl Names {
    /// No names given yet; `kind` says what the source names are ("column", "property").
    pub(super) fn new(kind: &'static str) -> Self {
        Self {
            kind,
            given: HashMap::new(),
            used: HashSet::new(),
            notes: Vec::new(),
        }
    }

    /// The attribute name for the source name `raw`, the same every time it is asked.
    pub(super) fn attribute(&mut self, raw: &str) -> String {
        if let Some(name) = self.given.get(raw) {
            return name.clone();
        }
        let mut base = sanitize_name(raw);
        let mut why = "NGSI-LD attribute names keep only letters, digits and '_'";
        if base.is_empty() {
            base = "attribute".to_string();
            why = "the name has no letter or digit";
        }
        if RESERVED_NAMES.contains(&base.as_str()) {
            base = format!("source_{base}");
            why = "the name is reserved for a member of the entity itself";
        }
        let mut name = base.clone();
        let mut n = 2;
        while self.used.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
            why = "another attribute already has that name";
        }
        if name != raw {
            self.notes.push(format!(
                "{} {raw:?} imported as attribute {name:?}: {why}",
                self.kind
            ));
        }
        self.used.insert(name.clone());
        self.given.insert(raw.to_string(), name.clone());
        name
    }
}

/// Whether `s` is already an absolute URI usable as an id as it is.
fn is_uri(s: &str) -> bool {
    let starts = |p: &str| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    starts("urn:") || starts("http://") || starts("https://")
}

/// `local` with every byte outside `A-Z a-z 0-9 - . _ ~ :` percent-encoded.
fn percent_encode(local: &str) -> String {
    let mut out = String::with_capacity(local.len());
    for b in local.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The URI for the local id `local` behind `prefix`, or `local` itself if it is a URI.
fn uri_for(prefix: &str, local: &str) -> Result<String, String> {
    if is_uri(local) {
        if local.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "the id {local:?} looks like a URI but contains spaces; remove them"
            ));
        }
        return Ok(local.to_string());
    }
    Ok(format!("{prefix}{}", percent_encode(local)))
}

/// A Relationship attribute pointing at the entity of type `target_type` whose local id
/// (or URI) is `value`.
pub(super) fn relationship(target_type: &str, value: &str) -> Result<Value, String> {
    let object = uri_for(&format!("urn:ngsi-ld:{target_type}:"), value.trim())?;
    Ok(json!({ "type": "Relationship", "object": object }))
}

/// A Property attribute.
pub(super) fn property(value: Value) -> Value {
    json!({ "type": "Property", "value": value })
}

/// A scalar JSON value as text: `Ok(None)` for null, an error for booleans, arrays and
/// objects, which cannot be ids, types or relationship targets.
pub(super) fn scalar_text(value: &Value) -> Result<Option<String>, ()> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(()),
    }
}

/// The entity type of a row whose type field holds `raw` (see [`ImportOptions`]).
fn resolve_type(opts: &ImportOptions, raw: Option<&str>) -> Result<String, String> {
    let Some(field) = &opts.type_field else {
        return Ok(opts.entity_type.clone());
    };
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None if !opts.entity_type.is_empty() => Ok(opts.entity_type.clone()),
        None => Err(format!(
            "the type field {field:?} is empty; fill it or set a default entity_type"
        )),
        Some(value) if !opts.type_map.is_empty() => {
            opts.type_map.get(value).cloned().ok_or_else(|| {
                let known: Vec<String> = opts.type_map.keys().map(|k| format!("{k:?}")).collect();
                format!(
                    "the type field {field:?} has the value {value:?}, which type_map does not \
                     map (it maps {}); add it to type_map",
                    known.join(", ")
                )
            })
        }
        Some(value) if is_type_name(value) => Ok(value.to_string()),
        Some(value) => Err(format!(
            "the type field {field:?} has the value {value:?}, which is not a valid type name; \
             map it to one with type_map"
        )),
    }
}

/// Whether a point is a WGS84 position.
fn in_wgs84(lon: f64, lat: f64) -> bool {
    (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}

/// Whether a point lies in the Lambert-93 area of France.
fn in_lambert93(x: f64, y: f64) -> bool {
    (L93_X.0..=L93_X.1).contains(&x) && (L93_Y.0..=L93_Y.1).contains(&y)
}

/// Why (lon, lat) is not a WGS84 position.
fn wgs84_violation(lon: f64, lat: f64) -> String {
    let mut parts = Vec::new();
    if !(-180.0..=180.0).contains(&lon) {
        parts.push(format!("longitude {lon} is outside -180..180"));
    }
    if !(-90.0..=90.0).contains(&lat) {
        parts.push(format!("latitude {lat} is outside -90..90"));
    }
    let mut reason = parts.join(" and ");
    if in_lambert93(lon, lat) {
        reason.push_str("; these look like Lambert-93 metres: import with crs Lambert93 or Auto");
    }
    reason
}

/// A hint for (x, y) that would be a Lambert-93 point if swapped.
fn swapped_hint(x: f64, y: f64) -> &'static str {
    if in_lambert93(y, x) {
        "; x and y look swapped"
    } else {
        ""
    }
}

/// Why (x, y) is not in the Lambert-93 area.
fn lambert93_violation(x: f64, y: f64) -> String {
    format!(
        "the Lambert-93 point ({x}, {y}) is outside France (x {}..{}, y {}..{}){}; check the \
         coordinates and the crs",
        L93_X.0,
        L93_X.1,
        L93_Y.0,
        L93_Y.1,
        swapped_hint(x, y)
    )
}

/// Why (x, y) is neither WGS84 nor Lambert-93, for automatic detection.
fn auto_violation(x: f64, y: f64) -> String {
    if x.abs() <= 1000.0 && y.abs() <= 1000.0 {
        // Degree-sized numbers: the file meant WGS84.
        return wgs84_violation(x, y);
    }
    format!(
        "the coordinates ({x}, {y}) are neither WGS84 degrees (longitude -180..180, latitude \
         -90..90) nor Lambert-93 metres in France (x {}..{}, y {}..{}){}",
        L93_X.0,
        L93_X.1,
        L93_Y.0,
        L93_Y.1,
        swapped_hint(x, y)
    )
}

/// Converts a Lambert-93 point, rounding to 1e-8 degree (about 1 mm) so that the output
/// does not carry floating-point noise.
fn lambert93_point(x: f64, y: f64) -> Result<(f64, f64), String> {
    let (lon, lat) = jumeau_geo::lambert93_to_wgs84(x, y)
        .map_err(|e| format!("the Lambert-93 point ({x}, {y}) could not be converted: {e}"))?;
    let round = |v: f64| (v * 1e8).round() / 1e8;
    let (lon, lat) = (round(lon), round(lat));
    if !in_wgs84(lon, lat) {
        return Err(format!(
            "the Lambert-93 point ({x}, {y}) converted to ({lon}, {lat}), which is not a WGS84 \
             position"
        ));
    }
    Ok((lon, lat))
}

/// A function applied to each (x, y) of a geometry.
type PointFn<'a> = dyn FnMut(f64, f64) -> Result<(f64, f64), String> + 'a;

/// Applies `f` to every position of a GeoJSON `coordinates` member, keeping any third
/// (altitude) value.
fn map_positions(coords: &Value, f: &mut PointFn<'_>) -> Result<Value, String> {
    let Value::Array(items) = coords else {
        return Err(format!(
            "the coordinates must be arrays of numbers, found {coords}"
        ));
    };
    if !items.first().is_some_and(Value::is_number) {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(map_positions(item, f)?);
        }
        return Ok(Value::Array(out));
    }
    let numbers: Option<Vec<f64>> = items.iter().map(Value::as_f64).collect();
    match numbers.as_deref() {
        Some([x, y, ..]) => {
            let (x, y) = f(*x, *y)?;
            let mut out = vec![Value::from(x), Value::from(y)];
            out.extend(items.iter().skip(2).cloned());
            Ok(Value::Array(out))
        }
        Some(_) => Err(format!(
            "the position {coords} needs two numbers (longitude and latitude, or x and y)"
        )),
        None => Err(format!(
            "the position {coords} holds something that is not a number"
        )),
    }
}

/// Applies `f` to every position of a GeoJSON geometry, including the members of a
/// GeometryCollection.
fn map_geometry(geometry: &Value, f: &mut PointFn<'_>) -> Result<Value, String> {
    let Value::Object(members) = geometry else {
        return Err(format!(
            "the geometry must be a JSON object, found {geometry}"
        ));
    };
    let mut out = members.clone();
    if let Some(coords) = members.get("coordinates") {
        out.insert("coordinates".into(), map_positions(coords, f)?);
    }
    if let Some(Value::Array(parts)) = members.get("geometries") {
        let mut mapped = Vec::with_capacity(parts.len());
        for part in parts {
            mapped.push(map_geometry(part, f)?);
        }
        out.insert("geometries".into(), Value::Array(mapped));
    }
    Ok(Value::Object(out))
}

/// A geometry ready to be an entity's location.
pub(super) struct Located {
    /// The validated WGS84 GeoJSON geometry.
    pub(super) geometry: Value,
    /// Whether it was converted from Lambert-93.
    pub(super) converted: bool,
}

/// Checks the coordinates of a GeoJSON geometry against `crs`, converts Lambert-93 ones
/// to WGS84 and validates the result.
pub(super) fn locate(geometry: &Value, crs: Crs) -> Result<Located, String> {
    let mut points = Vec::new();
    map_geometry(geometry, &mut |x, y| {
        points.push((x, y));
        Ok((x, y))
    })?;
    let lambert = match crs {
        Crs::Wgs84 => {
            if let Some(&(x, y)) = points.iter().find(|(x, y)| !in_wgs84(*x, *y)) {
                return Err(wgs84_violation(x, y));
            }
            false
        }
        Crs::Lambert93 => {
            if let Some(&(x, y)) = points.iter().find(|(x, y)| !in_lambert93(*x, *y)) {
                return Err(lambert93_violation(x, y));
            }
            true
        }
        Crs::Auto => {
            if points.iter().all(|(x, y)| in_wgs84(*x, *y)) {
                false
            } else if points.iter().all(|(x, y)| in_lambert93(*x, *y)) {
                true
            } else if let Some(&(x, y)) = points
                .iter()
                .find(|(x, y)| !in_wgs84(*x, *y) && !in_lambert93(*x, *y))
            {
                return Err(auto_violation(x, y));
            } else {
                return Err(
                    "the geometry mixes WGS84 degrees and Lambert-93 metres; use one system".into(),
                );
            }
        }
    };
    let wgs84 = if lambert {
        map_geometry(geometry, &mut lambert93_point)?
    } else {
        geometry.clone()
    };
    // The validation messages of jumeau-geo name the geometry and the fix already.
    let valid = jumeau_geo::Geometry::from_geojson(&wgs84).map_err(|e| e.to_string())?;
    Ok(Located {
        geometry: valid.as_json().clone(),
        converted: lambert,
    })
}

/// The id and type of a row, or why they could not be determined.
pub(super) struct Identity {
    /// The entity type, if it could be resolved.
    pub(super) entity_type: Option<String>,
    /// The entity id, if it could be built.
    pub(super) id: Option<String>,
    /// Whether the id was derived from the row position.
    pub(super) positional: bool,
    /// What is wrong with the id or type.
    pub(super) reasons: Vec<String>,
}

/// Collects the entities and rejections of one import.
pub(super) struct Collector<'a> {
    /// The import options.
    opts: &'a ImportOptions,
    /// "line" or "feature": what a row is called in messages and derived ids.
    unit: &'static str,
    /// Id → the row that first used it.
    seen: HashMap<String, usize>,
    /// Rows imported with a position-derived id.
    positional: Vec<usize>,
    /// Entities converted from Lambert-93.
    converted: usize,
    /// The batch being built.
    batch: ImportBatch,
}

impl<'a> Collector<'a> {
    /// An empty collection; `unit` is "line" or "feature".
    pub(super) fn new(opts: &'a ImportOptions, unit: &'static str) -> Self {
        Self {
            opts,
            unit,
            seen: HashMap::new(),
            positional: Vec::new(),
            converted: 0,
            batch: ImportBatch::default(),
        }
    }

    /// Resolves the type and id of `row` from the value of its type field and its local
    /// id, and claims the id (a later row with the same id is a duplicate).
    pub(super) fn identify(
        &mut self,
        row: usize,
        type_value: Option<&str>,
        local_id: Option<&str>,
    ) -> Identity {
        let mut reasons = Vec::new();
        let entity_type = resolve_type(self.opts, type_value)
            .map_err(|reason| reasons.push(reason))
            .ok();
        let local = local_id.map(str::trim).filter(|s| !s.is_empty());
        let positional = local.is_none();
        let local = local.map_or_else(|| format!("{}-{row}", self.unit), str::to_string);
        let prefix = match (&self.opts.id_prefix, &entity_type) {
            (Some(prefix), _) => Some(prefix.clone()),
            (None, Some(t)) => Some(format!("urn:ngsi-ld:{t}:")),
            (None, None) => None,
        };
        let id = match prefix {
            Some(prefix) => uri_for(&prefix, &local)
                .map_err(|reason| reasons.push(reason))
                .ok(),
            None if is_uri(&local) => uri_for("", &local).ok(),
            None => None,
        };
        if let Some(id) = &id {
            match self.seen.get(id) {
                Some(first) => reasons.push(format!(
                    "the id {id} is already used by {} {first}; ids must be unique within the file",
                    self.unit
                )),
                None => {
                    self.seen.insert(id.clone(), row);
                }
            }
        }
        Identity {
            entity_type,
            id,
            positional,
            reasons,
        }
    }

    /// Records the outcome of `row`: an entity with `location` and `attributes` when
    /// nothing is wrong, else a rejection listing every reason.
    pub(super) fn finish_row(
        &mut self,
        row: usize,
        identity: Identity,
        location: Option<Located>,
        attributes: Vec<(String, Value)>,
        mut reasons: Vec<String>,
    ) {
        let mut all = identity.reasons;
        all.append(&mut reasons);
        match (identity.id, identity.entity_type, location) {
            (Some(id), Some(entity_type), Some(location)) if all.is_empty() => {
                let mut entity = Map::new();
                entity.insert("id".into(), Value::String(id));
                entity.insert("type".into(), Value::String(entity_type));
                entity.insert(
                    "location".into(),
                    json!({ "type": "GeoProperty", "value": location.geometry }),
                );
                entity.extend(attributes);
                if identity.positional {
                    self.positional.push(row);
                }
                if location.converted {
                    self.converted += 1;
                }
                self.batch.entities.push(Value::Object(entity));
            }
            (id, _, _) => {
                if all.is_empty() {
                    all.push("the row has no usable geometry".into());
                }
                self.batch.rejected.push(Rejection {
                    row,
                    id,
                    reason: all.join("; "),
                });
            }
        }
    }

    /// Records a row that could not be read at all.
    pub(super) fn reject(&mut self, row: usize, reason: String) {
        self.batch.rejected.push(Rejection {
            row,
            id: None,
            reason,
        });
    }

    /// The batch, with `notes` first, then the notes about renamed attributes, derived
    /// ids and converted coordinates.
    pub(super) fn finish(mut self, mut notes: Vec<String>, names: Names) -> ImportBatch {
        notes.extend(names.notes);
        if !self.positional.is_empty() {
            let shown: Vec<String> = self
                .positional
                .iter()
                .take(5)
                .map(|row| format!("{}-{row}", self.unit))
                .collect();
            let more = if self.positional.len() > 5 {
                ", …"
            } else {
                ""
            };
            notes.push(format!(
                "{} got an id derived from its position in the file ({}{more}): re-importing \
                 the same file gives the same ids, but reordering its rows changes them; set \
                 id_field for stable ids",
                count(self.positional.len(), "entity", "entities"),
                shown.join(", ")
            ));
        }
        if self.converted > 0 {
            notes.push(format!(
                "{} had Lambert-93 (EPSG:2154) coordinates, converted to WGS84",
                count(self.converted, "entity", "entities")
            ));
        }
        self.batch.notes = notes;
        self.batch
    }
}

/// "1 entity", "3 entities".
fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_letters_digits_and_underscores() {
        assert_eq!(sanitize_name("Puissance (W)"), "Puissance_W");
        assert_eq!(sanitize_name("Allumé"), "Allumé");
        assert_eq!(sanitize_name(" Date de pose "), "Date_de_pose");
        assert_eq!(sanitize_name("N° d'armoire"), "N_d_armoire");
        assert_eq!(sanitize_name("code_insee"), "code_insee");
        assert_eq!(sanitize_name("--"), "");
    }

    #[test]
    fn reserved_empty_and_colliding_names_are_renamed_once() {
        let mut names = Names::new("column");
        assert_eq!(names.attribute("type"), "source_type");
        assert_eq!(names.attribute("Date pose"), "Date_pose");
        assert_eq!(names.attribute("Date-pose"), "Date_pose_2");
        assert_eq!(names.attribute("()"), "attribute");
        assert_eq!(names.attribute("ok"), "ok");
        assert_eq!(names.attribute("type"), "source_type");
        assert_eq!(names.notes.len(), 4, "{:?}", names.notes);
        assert_eq!(
            names.notes[0],
            "column \"type\" imported as attribute \"source_type\": the name is reserved for a \
             member of the entity itself"
        );
    }

    #[test]
    fn local_ids_are_encoded_and_uris_kept() {
        assert_eq!(
            uri_for("urn:ngsi-ld:Streetlight:", "EP 01/é").as_deref(),
            Ok("urn:ngsi-ld:Streetlight:EP%2001%2F%C3%A9")
        );
        assert_eq!(
            uri_for("urn:x:", "urn:ngsi-ld:Streetlight:1").as_deref(),
            Ok("urn:ngsi-ld:Streetlight:1")
        );
        assert!(uri_for("urn:x:", "https://a b").is_err());
    }

    #[test]
    fn option_checks_say_what_to_fix() {
        let err = validate_options(&ImportOptions::default());
        assert!(
            matches!(&err, Err(ImportError::InvalidOptions(m)) if m.contains("entity_type is empty"))
        );
        let mut opts = ImportOptions::new("Street light");
        assert!(validate_options(&opts).is_err());
        opts.entity_type = "Streetlight".into();
        assert_eq!(validate_options(&opts), Ok(()));
        opts.lon_field = Some("lon".into());
        assert!(validate_options(&opts).is_err());
        opts.lat_field = Some("lat".into());
        assert_eq!(validate_options(&opts), Ok(()));
        opts.x_field = Some("x".into());
        opts.y_field = Some("y".into());
        assert!(validate_options(&opts).is_err());
    }

    #[test]
    fn wgs84_range_is_checked_before_validation() {
        let point = json!({ "type": "Point", "coordinates": [5.2, 95] });
        let err = locate(&point, Crs::Wgs84).err();
        assert_eq!(err.as_deref(), Some("latitude 95 is outside -90..90"));
        let err = locate(&point, Crs::Auto).err();
        assert_eq!(err.as_deref(), Some("latitude 95 is outside -90..90"));
        let far = json!({ "type": "Point", "coordinates": [2_000_000, 6_600_000] });
        let err = locate(&far, Crs::Auto).err().unwrap_or_default();
        assert!(
            err.starts_with("the coordinates (2000000, 6600000) are neither"),
            "{err}"
        );
        let err = locate(&far, Crs::Lambert93).err().unwrap_or_default();
        assert!(err.contains("is outside France"), "{err}");
        let swapped = json!({ "type": "Point", "coordinates": [6_600_000, 700_000] });
        let err = locate(&swapped, Crs::Auto).err().unwrap_or_default();
        assert!(err.ends_with("; x and y look swapped"), "{err}");
        let err = locate(&swapped, Crs::Lambert93).err().unwrap_or_default();
        assert!(err.contains("; x and y look swapped;"), "{err}");
    }
}
