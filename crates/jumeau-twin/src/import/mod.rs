//! Importers that turn the files communes publish into NGSI-LD entities.
//!
//! Two open-data formats are read: GeoJSON (RFC 7946) with [`import_geojson`] and CSV
//! with [`import_csv`]. Both produce entities in NGSI-LD *normalized* JSON using compact
//! terms (`"type": "Streetlight"`, `"puissance": {"type": "Property", "value": 35}`); the
//! caller expands them with the `@context` it chooses and writes them to a store. Nothing
//! here touches a store or the network, except [`load_temporal`]: history files (CSV
//! readings, [`parse_temporal_csv`]) are appended to the history of the twin's entities.
//!
//! # The validation report
//!
//! A file that cannot be read at all (not UTF-8, not JSON, not a FeatureCollection, no CSV
//! header, no coordinate columns, contradictory options) is an [`ImportError`]. Every
//! other problem concerns one row (a CSV line or a GeoJSON feature): that row becomes a
//! [`Rejection`] with its 1-based line or feature number and the reason, and the other
//! rows are still imported. Nothing is dropped silently: every row ends up either in
//! [`ImportBatch::entities`] or in [`ImportBatch::rejected`], and renamings or derived ids
//! are reported once in [`ImportBatch::notes`].
//!
//! # Entities
//!
//! * **location** — every entity of the twin is located: the GeoJSON geometry or the CSV
//!   coordinates become the `location` GeoProperty, in WGS84 (lon, lat). A row without a
//!   usable geometry is rejected. Lambert-93 (EPSG:2154) coordinates are converted, see
//!   [`Crs`].
//! * **id** — from the `id_field` column/property when set and filled, else (GeoJSON) the
//!   Feature `id`, else an id derived from the row position (`feature-3`, `line-5`). A
//!   local id is appended to the prefix (`urn:ngsi-ld:<Type>:` unless `id_prefix` is set)
//!   with characters outside `A-Z a-z 0-9 - . _ ~ :` percent-encoded; a value that already
//!   is a URI (`urn:`, `http://`, `https://`) is used as it is. Ids are deterministic:
//!   re-importing the same file gives the same ids, so the import can be applied as an
//!   idempotent upsert (position-derived ids change if rows are reordered — set `id_field`
//!   for stable ids). Two rows with the same id: the later one is rejected.
//! * **type** — `entity_type`, or per row from `type_field` (see [`ImportOptions`]).
//! * **attributes** — every other column/property becomes a Property, or a Relationship
//!   for the columns listed in `relationship_fields`. The id and type columns are kept as
//!   Properties too; the coordinate columns of a CSV file are not (they became `location`).
//!
//! # Attribute names
//!
//! An NGSI-LD attribute name must be a JSON-LD term. Names keep their letters (accents
//! included), digits and `_`; every run of other characters (spaces, punctuation, `-`,
//! `:`, `(`…) becomes one `_`, and leading or trailing ones are dropped:
//! `"Puissance (W)"` → `Puissance_W`, `"Allumé"` is kept. Names that the entity itself
//! uses (`id`, `type`, `location`, `scope`, `createdAt`, `modifiedAt`, `deletedAt`,
//! `observationSpace`, `operationSpace`) get a `source_` prefix (`source_type`). A name
//! left empty becomes `attribute`, and a name that collides with an earlier one gets a
//! `_2`, `_3`… suffix. Each renaming is reported once in the notes.
//!
//! # CSV values
//!
//! Cells are trimmed; empty cells are skipped (no attribute). A cell is a number when it
//! is a plain decimal, with `.` or a French decimal comma (`2,35` → 2.35); a number with a
//! leading zero (`01053`, an INSEE or postal code) stays a string, as do integers of more
//! than 15 digits and anything with a thousands separator or exponent. Only `true` and
//! `false` (any case) become booleans: `oui`/`non` stay strings, since their meaning (and
//! whether a column is boolean at all) depends on the file. Everything else is a string.
//! GeoJSON property values keep their JSON type; only `null` values are skipped.

use std::collections::BTreeMap;
use std::path::Path;

mod common;
mod csv;
mod geojson;
mod report;
mod temporal;
#[cfg(test)]
mod tests;

pub use self::csv::import_csv;
pub use self::geojson::import_geojson;
pub use self::report::{ImportBatch, Rejection};
pub use self::temporal::{
    load_temporal, parse_temporal_csv, Reading, TemporalBatch, TemporalReport,
};

/// The coordinate reference system of the coordinates in an imported file.
///
/// The twin stores WGS84 (lon, lat) as GeoJSON requires; Lambert-93 (EPSG:2154, metres),
/// the official projection of metropolitan France, is converted on import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Crs {
    /// Longitude and latitude in degrees (EPSG:4326, CRS84): longitude within
    /// -180..180 and latitude within -90..90, else the row is rejected.
    Wgs84,
    /// Lambert-93 easting and northing in metres; a point outside the EPSG:2154 area of
    /// use (metropolitan France and Corsica with their coastal waters) is rejected.
    Lambert93,
    /// Decided per row: coordinates within ±180/±90 are WGS84; coordinates beyond that
    /// which fall in the Lambert-93 domain of France are Lambert-93; anything else is
    /// rejected. A GeoJSON file that declares its CRS (legacy `crs` member) follows the
    /// declaration. This is the default.
    #[default]
    Auto,
}

impl std::fmt::Display for Crs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Crs::Wgs84 => "WGS84 (EPSG:4326)",
            Crs::Lambert93 => "Lambert-93 (EPSG:2154)",
            Crs::Auto => "automatic detection",
        })
    }
}

/// How to turn the rows of a file into entities.
///
/// `ImportOptions::new("Streetlight")` is the usual start; `Default` leaves
/// `entity_type` empty, which is only valid together with `type_field`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// The NGSI-LD type of the entities (a term such as `Streetlight`). With `type_field`
    /// it is the fallback for rows whose type field is empty; it may then be left empty,
    /// which rejects such rows.
    pub entity_type: String,
    /// The column (CSV) or property (GeoJSON) holding the local id of each row. Matched
    /// exactly, else ignoring case. Rows where it is empty fall back to the Feature id
    /// (GeoJSON) or to a position-derived id.
    pub id_field: Option<String>,
    /// The prefix put before local ids. Defaults to `urn:ngsi-ld:<Type>:` with the type of
    /// each entity.
    pub id_prefix: Option<String>,
    /// The coordinate reference system of the coordinates.
    pub crs: Crs,
    /// CSV only: the column holding the longitude (or the easting when the coordinates are
    /// Lambert-93), instead of the detected one. Set together with `lat_field`.
    pub lon_field: Option<String>,
    /// CSV only: the column holding the latitude (or the northing), instead of the
    /// detected one. Set together with `lon_field`.
    pub lat_field: Option<String>,
    /// CSV only: the column holding the Lambert-93 x (easting); an alternative spelling of
    /// `lon_field` for projected files — the CRS itself comes from `crs`.
    pub x_field: Option<String>,
    /// CSV only: the column holding the Lambert-93 y (northing); see `x_field`.
    pub y_field: Option<String>,
    /// A column/property whose value gives the entity type of each row, for files that
    /// mix several kinds of objects. Without `type_map` the value itself must be a valid
    /// type name; with it, the value is looked up in the map.
    pub type_field: Option<String>,
    /// Source value of `type_field` → entity type (`"lampadaire"` → `"Streetlight"`). A
    /// value missing from a non-empty map rejects the row.
    pub type_map: BTreeMap<String, String>,
    /// Column/property → target entity type. The value of such a column becomes a
    /// Relationship to `urn:ngsi-ld:<Type>:<value>` (or to the value itself when it is a
    /// URI) instead of a Property: `"armoire" → "StreetlightControlCabinet"`.
    pub relationship_fields: BTreeMap<String, String>,
}

impl ImportOptions {
    /// Options importing every row as an entity of `entity_type`, other settings default.
    pub fn new(entity_type: impl Into<String>) -> Self {
        Self {
            entity_type: entity_type.into(),
            ..Self::default()
        }
    }
}

/// A file format recognised by [`detect_format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A GeoJSON FeatureCollection or Feature, for [`import_geojson`].
    GeoJson,
    /// NGSI-LD entities as JSON (one entity object or an array of them), to be parsed by
    /// the caller as they are.
    NgsiLd,
    /// A delimited text file with a header row, for [`import_csv`].
    Csv,
}

/// Why a whole file could not be imported. Problems with single rows are not errors but
/// [`Rejection`]s in the returned batch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    /// The bytes are not UTF-8.
    #[error(
        "the file is not valid UTF-8 (invalid byte at offset {offset}); re-save it as UTF-8 \
         (French exports are often Windows-1252 or ISO-8859-1)"
    )]
    NotUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// The bytes are not JSON.
    #[error("the file is not valid JSON: {0}")]
    NotJson(String),
    /// The JSON is not a GeoJSON FeatureCollection nor a Feature.
    #[error(
        "the file is not a GeoJSON FeatureCollection or Feature: {found}; export the layer \
         as GeoJSON (RFC 7946)"
    )]
    NotFeatureCollection {
        /// What was found instead.
        found: String,
    },
    /// The GeoJSON file declares a coordinate reference system that cannot be converted.
    #[error(
        "unsupported coordinate reference system {declared}: only WGS84 (EPSG:4326, CRS84) \
         and Lambert-93 (EPSG:2154) are accepted; reproject the file to one of them"
    )]
    UnsupportedCrs {
        /// The `crs` member as found in the file.
        declared: String,
    },
    /// The CRS declared by the file contradicts the `crs` option.
    #[error(
        "the file declares its coordinates in {declared} but the import options say \
         {requested}; set crs to Auto to follow the file, or fix its crs member"
    )]
    CrsConflict {
        /// The CRS the file declares.
        declared: Crs,
        /// The CRS the options ask for.
        requested: Crs,
    },
    /// The CSV file has no header row.
    #[error("the CSV file is empty or has no header row; add a first line naming the columns")]
    NoHeader,
    /// No columns holding coordinates were found in the CSV header.
    #[error(
        "{detail}; the coordinate columns are looked for (ignoring case) as lon, lng, long, \
         longitude, x_wgs84 and lat, latitude, y_wgs84 (WGS84), or x, x_l93, coord_x and \
         y, y_l93, coord_y (Lambert-93), or geo_point_2d / geo_shape; the header has \
         {columns:?} — rename the columns or set lon_field and lat_field"
    )]
    NoCoordinateColumns {
        /// What was missing.
        detail: String,
        /// The column names of the header.
        columns: Vec<String>,
    },
    /// A column named in the options is not in the CSV header.
    #[error("the {role} column {name:?} is not in the header, which has {columns:?}")]
    MissingColumn {
        /// Which option named it (`id_field`, `type_field`, …).
        role: String,
        /// The name given in the options.
        name: String,
        /// The column names of the header.
        columns: Vec<String>,
    },
    /// The options are invalid or contradictory.
    #[error("invalid import options: {0}")]
    InvalidOptions(String),
    /// The CSV reader failed on the file as a whole.
    #[error("the CSV file could not be read: {0}")]
    Csv(String),
}

/// Guesses the format of a file from its content, the extension breaking ties; `None`
/// when it is none of the importable formats.
///
/// JSON content is a GeoJSON FeatureCollection or Feature, or NGSI-LD entities (an object
/// with `id` and `type`, or an array of such objects). JSON that does not parse is
/// reported as GeoJSON only for a `.geojson` file, so that the importer can say where it
/// breaks. Anything else is CSV when the extension is `.csv`/`.tsv`/`.txt`, or when the
/// first line is text containing `;` or `,`.
pub fn detect_format(path: &Path, bytes: &[u8]) -> Option<Format> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let bytes = common::strip_bom(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let first = start.map(|i| bytes[i]);
    if matches!(first, Some(b'{') | Some(b'[')) {
        return match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(value) => classify_json(&value),
            Err(_) if ext == "geojson" => Some(Format::GeoJson),
            Err(_) => None,
        };
    }
    if matches!(ext.as_str(), "csv" | "tsv" | "txt") {
        return Some(Format::Csv);
    }
    let head = &bytes[..bytes.len().min(4096)];
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = &head[..line_end];
    let text = !head.contains(&0) && std::str::from_utf8(line).is_ok();
    if text && (line.contains(&b';') || line.contains(&b',')) {
        return Some(Format::Csv);
    }
    None
}

/// Classifies parsed JSON for [`detect_format`].
fn classify_json(value: &serde_json::Value) -> Option<Format> {
    let is_entity = |v: &serde_json::Value| {
        v.get("id").is_some_and(serde_json::Value::is_string) && v.get("type").is_some()
    };
    match value {
        serde_json::Value::Object(map) => {
            match map.get("type").and_then(serde_json::Value::as_str) {
                Some("FeatureCollection") | Some("Feature") => Some(Format::GeoJson),
                _ if is_entity(value) => Some(Format::NgsiLd),
                _ => None,
            }
        }
        serde_json::Value::Array(items) if items.iter().all(is_entity) => Some(Format::NgsiLd),
        _ => None,
    }
}
