//! Importing the lighting inventories communes publish (CSV or GeoJSON), with a validation
//! report.
//!
//! A file that cannot be read at all is an [`ImportError`]; every other problem rejects one
//! row, reported as a [`Rejection`] with its line (CSV, the header being line 1) or feature
//! number (GeoJSON, from 1) and every reason, and the other rows are imported. Nothing is
//! dropped silently: each row is a point lumineux or a rejection.
//!
//! # Accepted column names
//!
//! Names are compared ignoring case, accents, spaces and punctuation (`Température couleur
//! (K)` reads as `temperature_couleur_k`). CSV files may be separated by `;`, `,` or tabs,
//! and numbers may use a decimal comma and a unit (`70 W`, `3000K`).
//!
//! | field | accepted names | rule |
//! |---|---|---|
//! | id | `id`, `identifiant`, `id_point`, `id_pl`, `numero`, `num`, `code`, `reference`, `ref` | optional; else `line-N` / `feature-N` |
//! | power (W) | `puissance`, `puissance_w`, `puiss`, `p_w`, `watt`, `watts`, `puissance_lampe`, `power` | required, > 0 and ≤ 2,000 W |
//! | colour temperature (K) | `temperature_couleur`, `temperature_couleur_k`, `tcouleur`, `t_couleur`, `temp_couleur`, `tc`, `cct`, `temperature_de_couleur` | 1,000 to 10,000 K |
//! | technology | `technologie`, `techno`, `type_lampe`, `type_de_lampe`, `lampe`, `source`, `type_source`, `type_luminaire` | required: LED, SHP, ballon fluo/mercure, iodures métalliques, boule... |
//! | flux (lm) | `flux`, `flux_lm`, `flux_lumineux` | > 0 and ≤ 200,000 lm |
//! | rated ULR (%) | `ulr`, `ulr_assigne`, `ulr_luminaire`, `ulr_pct` | 0 to 100 % |
//! | installed ULR (%) | `ulr_installe`, `ulr_site`, `ulr_in_situ`, `ulr_reel` | 0 to 100 % |
//! | code flux CIE n°3 (%) | `code_flux`, `cf`, `code_flux_cie`, `cf3`, `code_flux_3` | 0 to 100 % |
//! | mast height (m) | `hauteur`, `hauteur_m`, `hauteur_mat`, `hauteur_feu`, `h` | > 0 and ≤ 40 m |
//! | installation date | `date_pose`, `date_de_pose`, `date_installation`, `date_mise_en_service`, `annee_pose`, `annee` | `AAAA-MM-JJ`, `JJ/MM/AAAA` or a year; not after today |
//! | armoire | `armoire`, `id_armoire`, `armoire_id`, `code_armoire`, `num_armoire` | optional |
//! | circuit | `circuit`, `depart`, `num_circuit` | optional |
//! | group | `groupe`, `id_groupe`, `group` | optional |
//! | category | `categorie`, `usage`, `type_voie` | `voirie` (default) or `parking` |
//! | dimmable | `gradable`, `gradation`, `dimmable` | oui/non |
//! | presence detector | `detecteur`, `detection`, `detection_presence`, `presence` | oui/non |
//! | longitude / latitude | `lon`, `lng`, `long`, `longitude` / `lat`, `latitude` | WGS84 degrees |
//! | x / y | `x`, `x_l93`, `coord_x`, `x_lambert93` / `y`, `y_l93`, `coord_y`, `y_lambert93` | Lambert-93 metres, or degrees (detected) |
//!
//! GeoJSON files take the point from the feature geometry and the other fields from the
//! properties, under the same names. Other columns are ignored (listed once in the notes).
//! When the commune's boundary is given, points outside it are rejected (swapped or wrong
//! coordinates are the usual cause).
use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};
use jumeau_geo::{lambert93_to_wgs84, Geometry};
use serde::Serialize;
use serde_json::Value;

use crate::inventory::{Inventory, LightingCategory, Luminaire, Streetlight, Technology};
use crate::text::{normalize_name, parse_date, parse_flag, parse_number};
use crate::zone::{Shape, ShapeError};

/// The coordinate reference system of a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Crs {
    /// Longitude and latitude in degrees.
    Wgs84,
    /// Lambert-93 (EPSG:2154) metres.
    Lambert93,
    /// Per row: values within ±180/±90 are degrees, larger ones Lambert-93 metres.
    #[default]
    Auto,
}

/// How to import.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSettings {
    /// The CRS of the coordinates.
    pub crs: Crs,
    /// The commune's boundary (Polygon or MultiPolygon, WGS84): points outside are rejected.
    pub commune_boundary: Option<Geometry>,
    /// Prefix of point lumineux ids (`urn:ngsi-ld:Streetlight:<commune>:`).
    pub id_prefix: String,
    /// Prefix of armoire ids.
    pub cabinet_prefix: String,
    /// Prefix of group ids.
    pub group_prefix: String,
    /// Dates after this are rejected (usually today).
    pub today: Option<NaiveDate>,
}

impl ImportSettings {
    /// Settings for a commune: ids `urn:ngsi-ld:Streetlight:<commune>:<id>`,
    /// `urn:ngsi-ld:StreetlightControlCabinet:<commune>:<armoire>`,
    /// `urn:ngsi-ld:StreetlightGroup:<commune>:<groupe>`, CRS detected per row.
    pub fn for_commune(commune: &str) -> Self {
        let c = encode(commune);
        Self {
            crs: Crs::Auto,
            commune_boundary: None,
            id_prefix: format!("urn:ngsi-ld:Streetlight:{c}:"),
            cabinet_prefix: format!("urn:ngsi-ld:StreetlightControlCabinet:{c}:"),
            group_prefix: format!("urn:ngsi-ld:StreetlightGroup:{c}:"),
            today: None,
        }
    }
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    /// The line (CSV, header = 1) or feature number (GeoJSON, from 1).
    pub row: usize,
    /// The id the row would have had, when known.
    pub id: Option<String>,
    /// Every reason, in French, for the person who fixes the file.
    pub reasons: Vec<String>,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id) => write!(
                f,
                "ligne {} ({id}) : {}",
                self.row,
                self.reasons.join(" ; ")
            ),
            None => write!(f, "ligne {} : {}", self.row, self.reasons.join(" ; ")),
        }
    }
}

/// The result of an import: the inventory (armoires and groups completed from the points'
/// references), the rejected rows, and notes (columns used and ignored).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryImport {
    /// What was imported.
    pub inventory: Inventory,
    /// What was not.
    pub rejected: Vec<Rejection>,
    /// Things worth knowing about the file.
    pub notes: Vec<String>,
}

/// Why a whole file could not be imported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    /// Not UTF-8.
    #[error("the file is not valid UTF-8 (byte {0}); re-save it as UTF-8 (French exports are often Windows-1252)")]
    NotUtf8(usize),
    /// No header row.
    #[error("the file has no header row; the first line must name the columns (puissance;technologie;lon;lat...)")]
    NoHeader,
    /// The CSV could not be parsed.
    #[error("the CSV could not be read: {0}")]
    Csv(String),
    /// No coordinate columns.
    #[error("no coordinate columns: name them lon/lat (WGS84) or x/y (Lambert-93); found {0}")]
    NoCoordinates(String),
    /// No power column.
    #[error("no power column: name it puissance (watts); found {0}")]
    NoPower(String),
    /// Not JSON.
    #[error("the file is not valid JSON: {0}")]
    NotJson(String),
    /// Not a FeatureCollection.
    #[error("the file is not a GeoJSON FeatureCollection; export the layer as GeoJSON (RFC 7946)")]
    NotFeatureCollection,
    /// The commune boundary is unusable.
    #[error("the commune boundary cannot be used: {0}; give a Polygon or MultiPolygon in WGS84")]
    Boundary(String),
}

/// The fields read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    Id,
    Power,
    ColourTemperature,
    Technology,
    Flux,
    UlrRated,
    UlrInstalled,
    CodeFlux,
    Height,
    InstalledOn,
    Cabinet,
    Circuit,
    Group,
    Category,
    Dimmable,
    Presence,
    Lon,
    Lat,
    X,
    Y,
}

/// Accepted names per field (normalized form), see the module documentation.
const ALIASES: &[(Field, &[&str])] = &[
    (
        Field::Id,
        &[
            "id",
            "identifiant",
            "id_point",
            "id_pl",
            "numero",
            "num",
            "code",
            "reference",
            "ref",
        ],
    ),
    (
        Field::Power,
        &[
            "puissance",
            "puissance_w",
            "puiss",
            "p_w",
            "watt",
            "watts",
            "puissance_lampe",
            "power",
        ],
    ),
    (
        Field::ColourTemperature,
        &[
            "temperature_couleur",
            "temperature_couleur_k",
            "tcouleur",
            "t_couleur",
            "temp_couleur",
            "tc",
            "cct",
            "temperature_de_couleur",
        ],
    ),
    (
        Field::Technology,
        &[
            "technologie",
            "techno",
            "type_lampe",
            "type_de_lampe",
            "lampe",
            "source",
            "type_source",
            "type_luminaire",
        ],
    ),
    (Field::Flux, &["flux", "flux_lm", "flux_lumineux"]),
    (
        Field::UlrRated,
        &["ulr", "ulr_assigne", "ulr_luminaire", "ulr_pct"],
    ),
    (
        Field::UlrInstalled,
        &["ulr_installe", "ulr_site", "ulr_in_situ", "ulr_reel"],
    ),
    (
        Field::CodeFlux,
        &["code_flux", "cf", "code_flux_cie", "cf3", "code_flux_3"],
    ),
    (
        Field::Height,
        &["hauteur", "hauteur_m", "hauteur_mat", "hauteur_feu", "h"],
    ),
    (
        Field::InstalledOn,
        &[
            "date_pose",
            "date_de_pose",
            "date_installation",
            "date_mise_en_service",
            "annee_pose",
            "annee",
        ],
    ),
    (
        Field::Cabinet,
        &[
            "armoire",
            "id_armoire",
            "armoire_id",
            "code_armoire",
            "num_armoire",
        ],
    ),
    (Field::Circuit, &["circuit", "depart", "num_circuit"]),
    (Field::Group, &["groupe", "id_groupe", "group"]),
    (Field::Category, &["categorie", "usage", "type_voie"]),
    (Field::Dimmable, &["gradable", "gradation", "dimmable"]),
    (
        Field::Presence,
        &["detecteur", "detection", "detection_presence", "presence"],
    ),
    (Field::Lon, &["lon", "lng", "long", "longitude"]),
    (Field::Lat, &["lat", "latitude"]),
    (Field::X, &["x", "x_l93", "coord_x", "x_lambert93"]),
    (Field::Y, &["y", "y_l93", "coord_y", "y_lambert93"]),
];

/// The field a column name designates.
fn field_of(name: &str) -> Option<Field> {
    let n = normalize_name(name);
    ALIASES
        .iter()
        .find(|(_, names)| names.contains(&n.as_str()))
        .map(|(f, _)| *f)
}

/// Percent-encodes characters outside `A-Z a-z 0-9 - . _ ~ :` for ids.
fn encode(local: &str) -> String {
    let mut out = String::new();
    for b in local.trim().bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An id: the value itself when it already is a URI, else prefix + encoded value.
fn make_id(prefix: &str, local: &str) -> String {
    let l = local.trim();
    if l.starts_with("urn:") || l.starts_with("http://") || l.starts_with("https://") {
        l.to_string()
    } else {
        format!("{prefix}{}", encode(l))
    }
}

/// One row's cells by field.
type Cells = Vec<(Field, String)>;

/// Turns rows into points lumineux and rejections.
struct Importer<'a> {
    settings: &'a ImportSettings,
    boundary: Option<Shape>,
    seen: BTreeSet<String>,
    out: InventoryImport,
}

impl<'a> Importer<'a> {
    fn new(settings: &'a ImportSettings) -> Result<Self, ImportError> {
        let boundary = settings
            .commune_boundary
            .as_ref()
            .map(Shape::from_geometry)
            .transpose()
            .map_err(|e| match e {
                ShapeError::NotAPolygon(t) => ImportError::Boundary(format!("it is a {t}")),
                ShapeError::Projection(r) => ImportError::Boundary(r),
            })?;
        Ok(Self {
            settings,
            boundary,
            seen: BTreeSet::new(),
            out: InventoryImport::default(),
        })
    }

    /// Imports one row: `point` is the position when the format gives it apart (GeoJSON).
    fn row(
        &mut self,
        row: usize,
        label: &str,
        cells: &Cells,
        point: Option<Result<(f64, f64), String>>,
    ) {
        let get = |f: Field| {
            cells
                .iter()
                .find(|(g, _)| *g == f)
                .map(|(_, v)| v.trim())
                .filter(|v| !v.is_empty())
        };
        let mut reasons: Vec<String> = Vec::new();
        let id = make_id(
            &self.settings.id_prefix,
            get(Field::Id).unwrap_or(&format!("{label}-{row}")),
        );
        let mut number = |f: Field,
                          what: &str,
                          unit: &str,
                          range: (f64, f64),
                          lower_open: bool|
         -> Option<f64> {
            let cell = get(f)?;
            let Some(v) = parse_number(cell) else {
                reasons.push(format!("{what} « {cell} » n'est pas un nombre"));
                return None;
            };
            let low_ok = if lower_open {
                v > range.0
            } else {
                v >= range.0
            };
            if !low_ok || v > range.1 {
                let bound = if lower_open {
                    format!("supérieure à {}", range.0)
                } else {
                    format!("au moins {}", range.0)
                };
                reasons.push(format!("{what} de {v} {unit} impossible : {bound} et au plus {} {unit} (vérifier l'unité)", range.1));
                return None;
            }
            Some(v)
        };
        let power = number(Field::Power, "puissance", "W", (0.0, 2_000.0), true);
        let ct = number(
            Field::ColourTemperature,
            "température de couleur",
            "K",
            (1_000.0, 10_000.0),
            false,
        );
        let flux = number(Field::Flux, "flux", "lm", (0.0, 200_000.0), true);
        let ulr = number(Field::UlrRated, "ULR", "%", (0.0, 100.0), false);
        let ulr_site = number(
            Field::UlrInstalled,
            "ULR sur site",
            "%",
            (0.0, 100.0),
            false,
        );
        let cf = number(Field::CodeFlux, "code flux", "%", (0.0, 100.0), false);
        let height = number(Field::Height, "hauteur", "m", (0.0, 40.0), true);
        if get(Field::Power).is_none() {
            reasons.push("puissance manquante (colonne puissance, en watts)".into());
        }
        let technology = match get(Field::Technology) {
            None => {
                reasons.push(
                    "technologie manquante (LED, SHP, iodures métalliques, ballon fluo, boule...)"
                        .into(),
                );
                None
            }
            Some(t) => {
                let tech = Technology::parse(t);
                if tech.is_none() {
                    reasons.push(format!("technologie « {t} » inconnue : LED, SHP (sodium haute pression), iodures métalliques, ballon fluo (mercure), boule ou autre"));
                }
                tech
            }
        };
        let installed_on = get(Field::InstalledOn).and_then(|d| match parse_date(d) {
            None => {
                reasons.push(format!(
                    "date de pose « {d} » illisible : AAAA-MM-JJ, JJ/MM/AAAA ou une année"
                ));
                None
            }
            Some(date) if self.settings.today.is_some_and(|t| date > t) => {
                reasons.push(format!("date de pose {date} dans le futur"));
                None
            }
            Some(date) if date.year() < 1900 => {
                reasons.push(format!("date de pose {date} antérieure à 1900"));
                None
            }
            Some(date) => Some(date),
        });
        let category = get(Field::Category).and_then(|c| {
            let cat = LightingCategory::parse(c);
            if cat.is_none() {
                reasons.push(format!("catégorie « {c} » inconnue : voirie ou parking"));
            }
            cat
        });
        let mut flag = |f: Field, what: &str| {
            get(f).and_then(|v| {
                let b = parse_flag(v);
                if b.is_none() {
                    reasons.push(format!("{what} « {v} » : répondre oui ou non"));
                }
                b
            })
        };
        let dimmable = flag(Field::Dimmable, "gradable");
        let presence = flag(Field::Presence, "détecteur de présence");
        let position = match point {
            Some(p) => p,
            None => self.csv_point(&get),
        };
        let position = match position {
            Ok((lon, lat)) => match &self.boundary {
                Some(b) if !b.contains(lon, lat) => {
                    reasons.push(format!("coordonnées ({lon:.6}, {lat:.6}) hors du périmètre de la commune (colonnes inversées ou mauvaise projection ?)"));
                    None
                }
                _ => Some((lon, lat)),
            },
            Err(reason) => {
                reasons.push(reason);
                None
            }
        };
        if !self.seen.insert(id.clone()) {
            reasons.push("identifiant déjà utilisé par une ligne précédente".into());
        }
        match (reasons.is_empty(), position, power, technology) {
            (true, Some((lon, lat)), Some(power_w), Some(technology)) => {
                let mut luminaire = Luminaire::new(technology, power_w);
                luminaire.flux_lm = flux;
                luminaire.colour_temperature_k = ct;
                luminaire.ulr_rated_pct = ulr;
                luminaire.ulr_installed_pct = ulr_site;
                luminaire.code_flux_pct = cf;
                luminaire.dimmable = dimmable.unwrap_or(luminaire.dimmable);
                luminaire.presence_sensor = presence.unwrap_or(false);
                self.out.inventory.streetlights.push(Streetlight {
                    id,
                    lon,
                    lat,
                    luminaire,
                    category: category.unwrap_or_default(),
                    installed_on,
                    mast_height_m: height,
                    cabinet: get(Field::Cabinet).map(|c| make_id(&self.settings.cabinet_prefix, c)),
                    circuit: get(Field::Circuit).map(str::to_string),
                    group: get(Field::Group).map(|g| make_id(&self.settings.group_prefix, g)),
                });
            }
            _ => {
                if reasons.is_empty() {
                    reasons.push("ligne incomplète".into());
                }
                self.out.rejected.push(Rejection {
                    row,
                    id: Some(id),
                    reasons,
                });
            }
        }
    }

    /// The position from the coordinate columns of a CSV row.
    fn csv_point<'c>(&self, get: &impl Fn(Field) -> Option<&'c str>) -> Result<(f64, f64), String> {
        let (a, b, degrees_columns) = match (
            get(Field::Lon),
            get(Field::Lat),
            get(Field::X),
            get(Field::Y),
        ) {
            (Some(lon), Some(lat), _, _) => (lon, lat, true),
            (_, _, Some(x), Some(y)) => (x, y, false),
            _ => return Err("coordonnées manquantes (lon/lat ou x/y)".into()),
        };
        let (Some(x), Some(y)) = (parse_number(a), parse_number(b)) else {
            return Err(format!("coordonnées « {a} », « {b} » illisibles"));
        };
        let lambert = match self.settings.crs {
            Crs::Wgs84 => false,
            Crs::Lambert93 => true,
            Crs::Auto => !(degrees_columns || (x.abs() <= 180.0 && y.abs() <= 90.0)),
        };
        if lambert {
            lambert93_to_wgs84(x, y).map_err(|e| format!("coordonnées Lambert-93 refusées : {e}"))
        } else if x.abs() <= 180.0 && y.abs() <= 90.0 {
            Ok((x, y))
        } else {
            Err(format!("coordonnées ({x}, {y}) hors des bornes WGS84 (longitude ±180, latitude ±90) ; pour du Lambert-93, utiliser les colonnes x/y"))
        }
    }

    fn finish(mut self, notes: Vec<String>) -> InventoryImport {
        self.out.inventory.complete_references();
        self.out.notes = notes;
        self.out
    }
}

/// Decodes UTF-8, dropping a byte-order mark.
fn decode(bytes: &[u8]) -> Result<&str, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ImportError::NotUtf8(e.valid_up_to()))?;
    Ok(text.trim_start_matches('\u{feff}'))
}

/// A note listing ignored columns, if any.
fn ignored_note(ignored: &[String]) -> Option<String> {
    (!ignored.is_empty()).then(|| format!("colonnes ignorées : {}", ignored.join(", ")))
}

/// Imports a CSV inventory (see the module documentation for the columns).
pub fn import_csv(bytes: &[u8], settings: &ImportSettings) -> Result<InventoryImport, ImportError> {
    let text = decode(bytes)?;
    let first = text.lines().next().unwrap_or("");
    if first.trim().is_empty() {
        return Err(ImportError::NoHeader);
    }
    let delimiter = [b';', b',', b'\t']
        .into_iter()
        .max_by_key(|d| first.bytes().filter(|b| b == d).count())
        .unwrap_or(b';');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ImportError::Csv(e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let fields: Vec<Option<Field>> = headers.iter().map(|h| field_of(h)).collect();
    let has = |f: Field| fields.contains(&Some(f));
    let found = headers.join(", ");
    if !(has(Field::Lon) && has(Field::Lat) || has(Field::X) && has(Field::Y)) {
        return Err(ImportError::NoCoordinates(found));
    }
    if !has(Field::Power) {
        return Err(ImportError::NoPower(found));
    }
    let ignored: Vec<String> = headers
        .iter()
        .zip(&fields)
        .filter(|(_, f)| f.is_none())
        .map(|(h, _)| h.clone())
        .collect();
    let mut importer = Importer::new(settings)?;
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(ImportError::Csv(e.to_string())),
        }
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if record.len() != headers.len() {
            importer.out.rejected.push(Rejection {
                row: line,
                id: None,
                reasons: vec![format!(
                    "{} valeurs pour {} colonnes ; une valeur contient peut-être un « {} » non protégé par des guillemets",
                    record.len(),
                    headers.len(),
                    char::from(delimiter)
                )],
            });
            continue;
        }
        let cells: Cells = fields
            .iter()
            .zip(record.iter())
            .filter_map(|(f, v)| f.map(|f| (f, v.to_string())))
            .collect();
        importer.row(line, "ligne", &cells, None);
    }
    Ok(importer.finish(ignored_note(&ignored).into_iter().collect()))
}

/// Imports a GeoJSON FeatureCollection of points (see the module documentation).
pub fn import_geojson(
    bytes: &[u8],
    settings: &ImportSettings,
) -> Result<InventoryImport, ImportError> {
    let text = decode(bytes)?;
    let doc: Value = serde_json::from_str(text).map_err(|e| ImportError::NotJson(e.to_string()))?;
    let features = doc
        .get("features")
        .and_then(Value::as_array)
        .filter(|_| doc.get("type").and_then(Value::as_str) == Some("FeatureCollection"))
        .ok_or(ImportError::NotFeatureCollection)?;
    // A legacy `crs` member naming EPSG:2154 forces Lambert-93.
    let declared_l93 = doc
        .pointer("/crs/properties/name")
        .and_then(Value::as_str)
        .is_some_and(|n| n.contains("2154"));
    let mut importer = Importer::new(settings)?;
    let mut ignored = BTreeSet::new();
    for (i, feature) in features.iter().enumerate() {
        let row = i + 1;
        let mut cells: Cells = Vec::new();
        if let Some(props) = feature.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                let text = match v {
                    Value::Null => continue,
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                match field_of(k) {
                    Some(f) => cells.push((f, text)),
                    None => {
                        ignored.insert(k.clone());
                    }
                }
            }
        }
        if let Some(id) = feature.get("id").and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.as_i64().map(|n| n.to_string()))
        }) {
            if !cells.iter().any(|(f, _)| *f == Field::Id) {
                cells.push((Field::Id, id));
            }
        }
        let point = geojson_point(feature, settings.crs, declared_l93);
        importer.row(row, "objet", &cells, Some(point));
    }
    let ignored: Vec<String> = ignored.into_iter().collect();
    Ok(importer.finish(ignored_note(&ignored).into_iter().collect()))
}

/// The point of a feature, converted to WGS84.
fn geojson_point(feature: &Value, crs: Crs, declared_l93: bool) -> Result<(f64, f64), String> {
    let g = feature
        .get("geometry")
        .filter(|g| !g.is_null())
        .ok_or("géométrie manquante")?;
    if g.get("type").and_then(Value::as_str) != Some("Point") {
        return Err(format!(
            "géométrie {} : un point lumineux est un Point",
            g.get("type").and_then(Value::as_str).unwrap_or("inconnue")
        ));
    }
    let c = g.get("coordinates");
    let (Some(x), Some(y)) = (
        c.and_then(|c| c.get(0)?.as_f64()),
        c.and_then(|c| c.get(1)?.as_f64()),
    ) else {
        return Err("coordonnées du Point illisibles".into());
    };
    let lambert = declared_l93
        || crs == Crs::Lambert93
        || (crs == Crs::Auto && (x.abs() > 180.0 || y.abs() > 90.0));
    if lambert {
        lambert93_to_wgs84(x, y).map_err(|e| format!("coordonnées Lambert-93 refusées : {e}"))
    } else {
        Geometry::point(x, y)
            .map(|_| (x, y))
            .map_err(|e| format!("coordonnées refusées : {e}"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::zone::tests::square;

    const CSV: &str = "\u{feff}Identifiant;Puissance (W);Température Couleur;Type_Lampe;Flux;ULR;Hauteur;Date_Pose;Armoire;Circuit;Lon;Lat;Commentaire\n\
        PL1;35;3000;LED;4200;0,5;6;14/03/2021;A1;C1;4,8500;45,7600;rue Haute\n\
        PL2;0;3000;LED;4200;0;6;2021;A1;C1;4.8501;45.7601;\n\
        PL3;70;20000;SHP;;;8;;A1;C2;4.8502;45.7602;\n\
        PL4;100;;bougie;;;;;A2;;4.8503;;\n\
        PL5;125;;Ballon fluo;;;;1985;A2;;4.9000;45.9000;\n\
        PL1;35;3000;LED;;;;;A1;;4.8500;45.7600;\n\
        PL6;150;2000;SHP;;;;;A2;;45.7604;4.8504;\n";

    #[test]
    fn a_commune_csv_with_errors() {
        let mut settings = ImportSettings::for_commune("Saint-Exemple");
        settings.commune_boundary = Some(square(4.84, 45.75, 3_000.0));
        settings.today = NaiveDate::from_ymd_opt(2025, 6, 1);
        let out = import_csv(CSV.as_bytes(), &settings).unwrap();
        let ids: Vec<&str> = out
            .inventory
            .streetlights
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(ids, vec!["urn:ngsi-ld:Streetlight:Saint-Exemple:PL1"]);
        let pl1 = &out.inventory.streetlights[0];
        assert_eq!(pl1.luminaire.ulr_rated_pct, Some(0.5));
        assert_eq!(pl1.luminaire.technology, Technology::Led);
        assert_eq!(pl1.installed_on, NaiveDate::from_ymd_opt(2021, 3, 14));
        assert_eq!(
            pl1.cabinet.as_deref(),
            Some("urn:ngsi-ld:StreetlightControlCabinet:Saint-Exemple:A1")
        );
        assert_eq!(out.inventory.cabinets.len(), 1);
        assert_eq!(out.notes, vec!["colonnes ignorées : Commentaire"]);

        let reasons = |line: usize| {
            out.rejected
                .iter()
                .find(|r| r.row == line)
                .map(|r| r.reasons.join(" | "))
                .unwrap_or_default()
        };
        assert!(
            reasons(3).contains("puissance de 0 W impossible"),
            "{}",
            reasons(3)
        );
        assert!(
            reasons(4).contains("température de couleur de 20000 K impossible"),
            "{}",
            reasons(4)
        );
        let r5 = reasons(5);
        assert!(
            r5.contains("technologie « bougie » inconnue") && r5.contains("coordonnées manquantes"),
            "{r5}"
        );
        assert!(
            reasons(6).contains("hors du périmètre de la commune"),
            "{}",
            reasons(6)
        );
        assert!(
            reasons(7).contains("identifiant déjà utilisé"),
            "{}",
            reasons(7)
        );
        // Swapped lon/lat: 45.76 as a longitude lies far outside the commune.
        assert!(reasons(8).contains("hors du périmètre"), "{}", reasons(8));
        assert_eq!(out.rejected.len(), 6);
        assert_eq!(
            out.rejected[0].to_string().split(" : ").next(),
            Some("ligne 3 (urn:ngsi-ld:Streetlight:Saint-Exemple:PL2)")
        );
    }

    #[test]
    fn lambert93_and_comma_separated() {
        // Lyon, Place Bellecour ≈ (842 000, 6 519 000) in Lambert-93.
        let csv = "id,puissance,technologie,x,y\n1,40,LED,842000,6519000\n2,40,LED,4.83,45.76\n";
        let out = import_csv(csv.as_bytes(), &ImportSettings::for_commune("Lyon")).unwrap();
        assert_eq!(out.inventory.streetlights.len(), 2, "{:?}", out.rejected);
        let s = &out.inventory.streetlights[0];
        assert!(
            (s.lon - 4.83).abs() < 0.02 && (s.lat - 45.76).abs() < 0.02,
            "{} {}",
            s.lon,
            s.lat
        );
        assert!(matches!(
            import_csv(b"id;puissance\n1;3\n", &ImportSettings::for_commune("x")),
            Err(ImportError::NoCoordinates(_))
        ));
        assert!(matches!(
            import_csv(b"id;lon;lat\n1;3;4\n", &ImportSettings::for_commune("x")),
            Err(ImportError::NoPower(_))
        ));
    }

    #[test]
    fn geojson_in_lambert93() {
        let doc = serde_json::json!({
            "type": "FeatureCollection",
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}},
            "features": [
                {"type": "Feature", "geometry": {"type": "Point", "coordinates": [842000.0, 6519000.0]},
                 "properties": {"Puissance": "70 W", "Type_Lampe": "SHP", "Date_Pose": "2030", "Couleur": "orange"}},
                {"type": "Feature", "geometry": {"type": "Point", "coordinates": [842010.0, 6519010.0]},
                 "properties": {"Puissance": "70 W", "Type_Lampe": "SHP", "Date_Pose": "2012"}}
            ]
        });
        let mut settings = ImportSettings::for_commune("Lyon");
        settings.today = NaiveDate::from_ymd_opt(2025, 6, 1);
        let out = import_geojson(doc.to_string().as_bytes(), &settings).unwrap();
        assert_eq!(out.rejected.len(), 1);
        assert_eq!(
            out.rejected[0].reasons,
            vec!["date de pose 2030-01-01 dans le futur"]
        );
        let s = &out.inventory.streetlights[0];
        assert!(
            (s.lon - 4.83).abs() < 0.02 && (s.lat - 45.76).abs() < 0.02,
            "{} {}",
            s.lon,
            s.lat
        );
        assert_eq!(s.id, "urn:ngsi-ld:Streetlight:Lyon:objet-2");
        assert_eq!(out.notes, vec!["colonnes ignorées : Couleur"]);
    }

    #[test]
    fn geojson_features() {
        let doc = serde_json::json!({
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "id": "a", "geometry": {"type": "Point", "coordinates": [4.85, 45.76]},
                 "properties": {"PUISSANCE": 30, "tcouleur": 2700, "technologie": "LED", "armoire": "A1", "detecteur": "oui"}},
                {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[4.85, 45.76], [4.86, 45.77]]},
                 "properties": {"puissance": 30, "technologie": "LED"}},
                {"type": "Feature", "geometry": null, "properties": {"puissance": "abc", "technologie": "LED"}}
            ]
        });
        let out = import_geojson(
            doc.to_string().as_bytes(),
            &ImportSettings::for_commune("Lyon"),
        )
        .unwrap();
        assert_eq!(out.inventory.streetlights.len(), 1);
        assert!(out.inventory.streetlights[0].luminaire.presence_sensor);
        assert_eq!(out.rejected.len(), 2);
        assert!(out.rejected[0].reasons[0].contains("LineString"));
        assert!(out.rejected[1]
            .reasons
            .iter()
            .any(|r| r.contains("« abc » n'est pas un nombre")));
        assert!(out.rejected[1]
            .reasons
            .iter()
            .any(|r| r.contains("géométrie manquante")));
    }
}
