//! Tests of the importers against the fixtures in `tests/fixtures/import/`.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::*;

const WGS84_CSV: &[u8] = include_bytes!("../../tests/fixtures/import/eclairage_wgs84.csv");
const LAMBERT_CSV: &[u8] = include_bytes!("../../tests/fixtures/import/eclairage_lambert93.csv");
const MIXED_GEOJSON: &[u8] = include_bytes!("../../tests/fixtures/import/eclairage_mixte.geojson");
const LAMBERT_GEOJSON: &[u8] =
    include_bytes!("../../tests/fixtures/import/voirie_lambert93.geojson");

fn prop(value: Value) -> Value {
    json!({ "type": "Property", "value": value })
}

fn rel(object: &str) -> Value {
    json!({ "type": "Relationship", "object": object })
}

fn point(lon: f64, lat: f64) -> Value {
    json!({ "type": "GeoProperty", "value": { "type": "Point", "coordinates": [lon, lat] } })
}

fn rejection(row: usize, id: Option<&str>, reason: &str) -> Rejection {
    Rejection {
        row,
        id: id.map(str::to_string),
        reason: reason.to_string(),
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// All numbers of a location's coordinates, flattened.
fn coordinates(entity: &Value) -> Vec<f64> {
    fn walk(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Number(n) => out.push(n.as_f64().unwrap()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&entity["location"]["value"]["coordinates"], &mut out);
    out
}

fn assert_close(actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!((a - e).abs() < 1e-7, "{actual:?} vs {expected:?}");
    }
}

fn lighting_csv_options() -> ImportOptions {
    ImportOptions {
        id_field: Some("identifiant".into()),
        relationship_fields: map(&[("Armoire", "StreetlightControlCabinet")]),
        ..ImportOptions::new("Streetlight")
    }
}

#[test]
fn csv_wgs84_with_semicolons_and_decimal_commas() {
    let batch = import_csv(WGS84_CSV, &lighting_csv_options()).unwrap();
    assert_eq!(
        batch.entities,
        vec![
            json!({
                "id": "urn:ngsi-ld:Streetlight:EP-0001",
                "type": "Streetlight",
                "location": point(5.2256, 46.2052),
                "identifiant": prop(json!("EP-0001")),
                "Type_de_lampe": prop(json!("LED")),
                "Puissance_W": prop(json!(35)),
                "Hauteur_m": prop(json!(6.5)),
                "Armoire": rel("urn:ngsi-ld:StreetlightControlCabinet:AR-01"),
                "Allumé": prop(json!(true)),
                "Code_INSEE": prop(json!("01053")),
            }),
            json!({
                "id": "urn:ngsi-ld:Streetlight:EP-0002",
                "type": "Streetlight",
                "location": point(5.2260, 46.2055),
                "identifiant": prop(json!("EP-0002")),
                "Type_de_lampe": prop(json!("Sodium haute pression")),
                "Puissance_W": prop(json!(100)),
                "Hauteur_m": prop(json!(8)),
                "Armoire": rel("urn:ngsi-ld:StreetlightControlCabinet:AR-01"),
                "Allumé": prop(json!(false)),
                "Code_INSEE": prop(json!("01053")),
                "Remarque": prop(json!("oui")),
            }),
            json!({
                "id": "urn:ngsi-ld:Streetlight:EP-0008",
                "type": "Streetlight",
                "location": point(5.2272, 46.2062),
                "identifiant": prop(json!("EP-0008")),
                "Type_de_lampe": prop(json!("Iodures; métalliques")),
                "Puissance_W": prop(json!(70)),
                "Hauteur_m": prop(json!(7.25)),
                "Armoire": rel("urn:ngsi-ld:StreetlightControlCabinet:AR%2003"),
                "Code_INSEE": prop(json!("01053")),
                "Remarque": prop(json!("rue de la Paix; angle")),
            }),
        ]
    );
    assert_eq!(
        batch.rejected,
        vec![
            rejection(
                4,
                Some("urn:ngsi-ld:Streetlight:EP-0003"),
                "the longitude column \"Longitude\" is empty"
            ),
            rejection(
                5,
                Some("urn:ngsi-ld:Streetlight:EP-0004"),
                "the latitude \"nord\" in column \"Latitude\" is not a number"
            ),
            rejection(
                6,
                Some("urn:ngsi-ld:Streetlight:EP-0005"),
                "latitude 95 is outside -90..90"
            ),
            rejection(
                7,
                Some("urn:ngsi-ld:Streetlight:EP-0002"),
                "the id urn:ngsi-ld:Streetlight:EP-0002 is already used by line 3; ids must be \
                 unique within the file"
            ),
            rejection(
                8,
                None,
                "the line has 7 fields but the header has 10; each line needs one value, \
                 possibly empty, per column"
            ),
        ]
    );
    assert_eq!(
        batch.notes,
        vec![
            "coordinates read from the columns \"Longitude\" and \"Latitude\"",
            "column \"Type de lampe\" imported as attribute \"Type_de_lampe\": NGSI-LD \
             attribute names keep only letters, digits and '_'",
            "column \"Puissance (W)\" imported as attribute \"Puissance_W\": NGSI-LD attribute \
             names keep only letters, digits and '_'",
            "column \"Hauteur (m)\" imported as attribute \"Hauteur_m\": NGSI-LD attribute \
             names keep only letters, digits and '_'",
            "column \"Code INSEE\" imported as attribute \"Code_INSEE\": NGSI-LD attribute \
             names keep only letters, digits and '_'",
        ]
    );
}

#[test]
fn csv_lambert93_is_converted_and_detected_per_row() {
    let opts = ImportOptions {
        id_field: Some("numero".into()),
        ..ImportOptions::new("Streetlight")
    };
    let batch = import_csv(LAMBERT_CSV, &opts).unwrap();
    let ids: Vec<&str> = batch
        .entities
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "urn:ngsi-ld:Streetlight:L1",
            "urn:ngsi-ld:Streetlight:L2",
            "urn:ngsi-ld:Streetlight:L5"
        ]
    );
    // The origin of Lambert-93 is (3°E, 46.5°N) by definition.
    assert_close(&coordinates(&batch.entities[0]), &[3.0, 46.5]);
    assert_close(&coordinates(&batch.entities[1]), &[5.24453857, 46.21846136]);
    // L5 is in degrees: automatic detection keeps it as WGS84.
    assert_close(&coordinates(&batch.entities[2]), &[5.2256, 46.2052]);
    assert_eq!(
        batch.entities[1]["modele"],
        prop(json!("Lanterne, style ancien"))
    );
    assert_eq!(batch.entities[0]["puissance_w"], prop(json!(0)));
    assert!(batch.entities[0].get("X").is_none() && batch.entities[0].get("Y").is_none());
    assert_eq!(
        batch.rejected,
        vec![
            rejection(
                4,
                Some("urn:ngsi-ld:Streetlight:L3"),
                "the y column \"Y\" is empty"
            ),
            rejection(
                5,
                Some("urn:ngsi-ld:Streetlight:L4"),
                "the coordinates (2000000, 6600000) are neither WGS84 degrees (longitude \
                 -180..180, latitude -90..90) nor Lambert-93 metres in France (x \
                 -400000..1500000, y 5900000..7200000)"
            ),
        ]
    );
    assert_eq!(
        batch.notes,
        vec![
            "coordinates read from the columns \"X\" and \"Y\"",
            "2 entities had Lambert-93 (EPSG:2154) coordinates, converted to WGS84",
        ]
    );
}

#[test]
fn csv_with_explicit_lambert93_rejects_degrees() {
    let opts = ImportOptions {
        id_field: Some("numero".into()),
        crs: Crs::Lambert93,
        ..ImportOptions::new("Streetlight")
    };
    let batch = import_csv(LAMBERT_CSV, &opts).unwrap();
    assert_eq!(batch.entities.len(), 2);
    let reasons: Vec<(usize, &str)> = batch
        .rejected
        .iter()
        .map(|r| (r.row, r.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (4, "the y column \"Y\" is empty"),
            (
                5,
                "the Lambert-93 point (2000000, 6600000) is outside France (x \
                 -400000..1500000, y 5900000..7200000); check the coordinates and the crs"
            ),
            (
                6,
                "the Lambert-93 point (5.2256, 46.2052) is outside France (x \
                 -400000..1500000, y 5900000..7200000); check the coordinates and the crs"
            ),
        ]
    );
}

#[test]
fn csv_with_explicit_wgs84_explains_lambert_coordinates() {
    let opts = ImportOptions {
        crs: Crs::Wgs84,
        ..ImportOptions::new("Streetlight")
    };
    let batch = import_csv(LAMBERT_CSV, &opts).unwrap();
    assert_eq!(batch.entities.len(), 1);
    assert_eq!(
        batch.rejected[0],
        rejection(
            2,
            Some("urn:ngsi-ld:Streetlight:line-2"),
            "longitude 700000 is outside -180..180 and latitude 6600000 is outside -90..90; \
             these look like Lambert-93 metres: import with crs Lambert93 or Auto"
        )
    );
}

fn mixed_geojson_options() -> ImportOptions {
    ImportOptions {
        id_field: Some("ref".into()),
        type_field: Some("categorie".into()),
        type_map: map(&[
            ("lampadaire", "Streetlight"),
            ("armoire", "StreetlightControlCabinet"),
        ]),
        relationship_fields: map(&[("armoire", "StreetlightControlCabinet")]),
        ..ImportOptions::default()
    }
}

#[test]
fn geojson_mixed_features_with_type_mapping() {
    let batch = import_geojson(MIXED_GEOJSON, &mixed_geojson_options()).unwrap();
    assert_eq!(
        batch.entities,
        vec![
            json!({
                "id": "urn:ngsi-ld:Streetlight:EP-0101",
                "type": "Streetlight",
                "location": point(5.2256, 46.2052),
                "ref": prop(json!("EP-0101")),
                "categorie": prop(json!("lampadaire")),
                "puissance": prop(json!(35)),
                "led": prop(json!(true)),
                "nom_de_rue": prop(json!("Rue Bourgmayer")),
                "source_type": prop(json!("Lanterne")),
                "armoire": rel("urn:ngsi-ld:StreetlightControlCabinet:AR-01"),
                "entretien": prop(json!({ "societe": "Lumière SA", "contrat": "2021-04" })),
            }),
            json!({
                "id": "urn:ngsi-ld:StreetlightControlCabinet:AR-01",
                "type": "StreetlightControlCabinet",
                "location": {
                    "type": "GeoProperty",
                    "value": {
                        "type": "Polygon",
                        "coordinates": [[[5.2250, 46.2050], [5.2252, 46.2050], [5.2252, 46.2051],
                                         [5.2250, 46.2051], [5.2250, 46.2050]]]
                    }
                },
                "categorie": prop(json!("armoire")),
                "puissance_souscrite_kVA": prop(json!(12)),
            }),
            json!({
                "id": "urn:ngsi-ld:Streetlight:feature-8",
                "type": "Streetlight",
                "location": point(5.2266, 46.2060),
                "categorie": prop(json!("lampadaire")),
                "note": prop(json!("sans identifiant")),
            }),
        ]
    );

    // The unclosed polygon is refused by the geometry validation of jumeau-geo.
    let unclosed = &batch.rejected[0];
    assert_eq!(
        (unclosed.row, unclosed.id.as_deref()),
        (2, Some("urn:ngsi-ld:StreetlightControlCabinet:AR-02"))
    );
    assert!(
        unclosed.reason.contains("is not closed"),
        "{}",
        unclosed.reason
    );
    assert_eq!(
        batch.rejected[1..],
        [
            rejection(
                3,
                Some("urn:ngsi-ld:Streetlight:EP-0102"),
                "latitude 95 is outside -90..90"
            ),
            rejection(
                4,
                Some("urn:ngsi-ld:Streetlight:EP-0103"),
                "the geometry is null; every entity of the twin is located: give the feature a \
                 geometry or remove it"
            ),
            rejection(
                5,
                Some("urn:ngsi-ld:Streetlight:EP-0101"),
                "the id urn:ngsi-ld:Streetlight:EP-0101 is already used by feature 1; ids must \
                 be unique within the file"
            ),
            rejection(
                6,
                None,
                "the type field \"categorie\" has the value \"banc\", which type_map does not map \
                 (it maps \"armoire\", \"lampadaire\"); add it to type_map"
            ),
        ]
    );
    assert_eq!(
        batch.notes,
        vec![
            "property \"nom de rue\" imported as attribute \"nom_de_rue\": NGSI-LD attribute \
             names keep only letters, digits and '_'",
            "property \"type\" imported as attribute \"source_type\": the name is reserved for \
             a member of the entity itself",
            "property \"puissance souscrite (kVA)\" imported as attribute \
             \"puissance_souscrite_kVA\": NGSI-LD attribute names keep only letters, digits \
             and '_'",
            "1 entity got an id derived from its position in the file (feature-8): \
             re-importing the same file gives the same ids, but reordering its rows changes \
             them; set id_field for stable ids",
        ]
    );
}

#[test]
fn every_row_is_either_imported_or_rejected() {
    let batch = import_geojson(MIXED_GEOJSON, &mixed_geojson_options()).unwrap();
    assert_eq!(batch.entities.len() + batch.rejected.len(), 8);
    let batch = import_csv(WGS84_CSV, &lighting_csv_options()).unwrap();
    assert_eq!(batch.entities.len() + batch.rejected.len(), 8);
    assert!(!batch.is_complete());
}

#[test]
fn reimporting_gives_the_same_entities() {
    let opts = mixed_geojson_options();
    assert_eq!(
        import_geojson(MIXED_GEOJSON, &opts).unwrap(),
        import_geojson(MIXED_GEOJSON, &opts).unwrap()
    );
    let opts = lighting_csv_options();
    assert_eq!(
        import_csv(WGS84_CSV, &opts).unwrap(),
        import_csv(WGS84_CSV, &opts).unwrap()
    );
}

#[test]
fn geojson_declaring_lambert93_is_converted() {
    let batch = import_geojson(LAMBERT_GEOJSON, &ImportOptions::new("Road")).unwrap();
    assert!(batch.rejected.is_empty(), "{:?}", batch.rejected);
    assert_eq!(batch.entities[0]["id"], json!("urn:ngsi-ld:Road:origine"));
    assert_eq!(
        batch.entities[0]["location"]["value"]["type"],
        json!("Point")
    );
    assert_close(&coordinates(&batch.entities[0]), &[3.0, 46.5]);
    assert_eq!(
        batch.entities[1]["location"]["value"]["type"],
        json!("LineString")
    );
    assert_close(
        &coordinates(&batch.entities[1]),
        &[
            5.24448617,
            46.21672268,
            212.5,
            5.24514927,
            46.21706993,
            213.0,
        ],
    );
    assert_eq!(
        batch.notes,
        vec!["2 entities had Lambert-93 (EPSG:2154) coordinates, converted to WGS84"]
    );

    let explicit = ImportOptions {
        crs: Crs::Lambert93,
        ..ImportOptions::new("Road")
    };
    assert_eq!(import_geojson(LAMBERT_GEOJSON, &explicit).unwrap(), batch);
}

#[test]
fn geojson_crs_contradicting_the_options_is_an_error() {
    let opts = ImportOptions {
        crs: Crs::Wgs84,
        ..ImportOptions::new("Road")
    };
    let err = import_geojson(LAMBERT_GEOJSON, &opts).unwrap_err();
    assert_eq!(
        err,
        ImportError::CrsConflict {
            declared: Crs::Lambert93,
            requested: Crs::Wgs84
        }
    );
    assert!(err.to_string().contains("set crs to Auto"), "{err}");
}

#[test]
fn geojson_lambert93_without_declaration_is_detected() {
    let file =
        br#"{"type": "Feature", "geometry": {"type": "Point", "coordinates": [700000, 6600000]},
                    "properties": {"nom": "origine"}}"#;
    let batch = import_geojson(file, &ImportOptions::new("Place")).unwrap();
    assert_eq!(batch.entities.len(), 1, "{:?}", batch.rejected);
    assert_eq!(
        batch.entities[0]["id"],
        json!("urn:ngsi-ld:Place:feature-1")
    );
    assert_close(&coordinates(&batch.entities[0]), &[3.0, 46.5]);
}

#[test]
fn geojson_single_feature_is_imported() {
    let file = br#"{"type": "Feature", "id": "urn:ngsi-ld:Bench:12",
                    "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
                    "properties": null}"#;
    let batch = import_geojson(file, &ImportOptions::new("Bench")).unwrap();
    assert_eq!(
        batch.entities,
        vec![json!({
            "id": "urn:ngsi-ld:Bench:12",
            "type": "Bench",
            "location": point(2.35, 48.85),
        })]
    );
    assert!(batch.notes.is_empty());
}

#[test]
fn geojson_row_problems_are_all_reported() {
    let file = br#"{"type": "FeatureCollection", "features": [
        3,
        {"type": "Feature", "properties": {"armoire": {"id": 1}, "ref": true}},
        {"type": "Point", "coordinates": [1, 2]}
    ]}"#;
    let opts = ImportOptions {
        id_field: Some("ref".into()),
        relationship_fields: map(&[("armoire", "StreetlightControlCabinet")]),
        ..ImportOptions::new("Streetlight")
    };
    let batch = import_geojson(file, &opts).unwrap();
    assert!(batch.entities.is_empty());
    assert_eq!(
        batch.rejected,
        vec![
            rejection(1, None, "the feature is not a JSON object but 3"),
            rejection(
                2,
                Some("urn:ngsi-ld:Streetlight:feature-2"),
                "the id property \"ref\" must be a string or a number; the feature has no \
                 \"geometry\" member; every entity of the twin is located: give it a geometry \
                 or remove it; the relationship property \"armoire\" must be a string or a \
                 number (the id of the target entity), found {\"id\":1}"
            ),
            rejection(
                3,
                Some("urn:ngsi-ld:Streetlight:feature-3"),
                "the member \"type\" is \"Point\" instead of \"Feature\"; the feature has no \
                 \"geometry\" member; every entity of the twin is located: give it a geometry \
                 or remove it"
            ),
        ]
    );
}

#[test]
fn type_field_without_map_uses_the_value_as_type() {
    let file = br#"{"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "a", "geometry": {"type": "Point", "coordinates": [2, 48]},
         "properties": {"kind": "Bench"}},
        {"type": "Feature", "id": "b", "geometry": {"type": "Point", "coordinates": [2, 48]},
         "properties": {"kind": "Litter bin"}},
        {"type": "Feature", "id": "c", "geometry": {"type": "Point", "coordinates": [2, 48]},
         "properties": {}}
    ]}"#;
    let opts = ImportOptions {
        type_field: Some("kind".into()),
        id_prefix: Some("urn:ngsi-ld:Mobilier:".into()),
        ..ImportOptions::default()
    };
    let batch = import_geojson(file, &opts).unwrap();
    assert_eq!(batch.entities.len(), 1);
    assert_eq!(batch.entities[0]["id"], json!("urn:ngsi-ld:Mobilier:a"));
    assert_eq!(batch.entities[0]["type"], json!("Bench"));
    assert_eq!(
        batch.rejected,
        vec![
            rejection(
                2,
                Some("urn:ngsi-ld:Mobilier:b"),
                "the type field \"kind\" has the value \"Litter bin\", which is not a valid type \
                 name; map it to one with type_map"
            ),
            rejection(
                3,
                Some("urn:ngsi-ld:Mobilier:c"),
                "the type field \"kind\" is empty; fill it or set a default entity_type"
            ),
        ]
    );
}

#[test]
fn whole_file_problems_are_errors() {
    let opts = ImportOptions::new("Streetlight");
    assert!(matches!(
        import_geojson(b"{\"type\": ", &opts),
        Err(ImportError::NotJson(_))
    ));
    assert_eq!(
        import_geojson(b"[1, 2]", &opts),
        Err(ImportError::NotFeatureCollection {
            found: "a JSON array".into()
        })
    );
    assert_eq!(
        import_geojson(br#"{"type": "Point", "coordinates": [1, 2]}"#, &opts),
        Err(ImportError::NotFeatureCollection {
            found: "an object of type \"Point\"".into()
        })
    );
    let other_crs = br#"{"type": "FeatureCollection", "features": [],
        "crs": {"type": "name", "properties": {"name": "EPSG:3946"}}}"#;
    assert!(matches!(
        import_geojson(other_crs, &opts),
        Err(ImportError::UnsupportedCrs { .. })
    ));
    assert_eq!(
        import_csv(b"nom;lon;lat\n\xe9clairage;1;2\n", &opts),
        Err(ImportError::NotUtf8 { offset: 12 })
    );
    assert_eq!(import_csv(b"", &opts), Err(ImportError::NoHeader));
    assert_eq!(import_csv(b"\n  \n", &opts), Err(ImportError::NoHeader));

    let err = import_csv(b"nom;adresse\nA;1 rue Haute\n", &opts).unwrap_err();
    assert!(matches!(err, ImportError::NoCoordinateColumns { .. }));
    let message = err.to_string();
    assert!(
        message.starts_with("no coordinate columns were found"),
        "{message}"
    );
    assert!(
        message.contains("lon, lng, long, longitude, x_wgs84"),
        "{message}"
    );
    assert!(message.contains("[\"nom\", \"adresse\"]"), "{message}");

    let err = import_csv(b"nom;longitude\nA;2\n", &opts).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the longitude column \"longitude\" has no matching latitude column"),
        "{err}"
    );

    let missing = ImportOptions {
        id_field: Some("ident".into()),
        ..opts.clone()
    };
    assert_eq!(
        import_csv(b"nom;lon;lat\nA;2;48\n", &missing),
        Err(ImportError::MissingColumn {
            role: "id_field".into(),
            name: "ident".into(),
            columns: vec!["nom".into(), "lon".into(), "lat".into()],
        })
    );
    assert!(matches!(
        import_csv(b"nom;lon;lat\n", &ImportOptions::default()),
        Err(ImportError::InvalidOptions(_))
    ));
}

#[test]
fn csv_with_bom_commas_and_explicit_columns() {
    let file = "\u{feff}Nom,E,N,Mise en service\nA,\"2,35\",\"48,85\",2019-03-14\n";
    let opts = ImportOptions {
        lon_field: Some("e".into()),
        lat_field: Some("N".into()),
        ..ImportOptions::new("Bench")
    };
    let batch = import_csv(file.as_bytes(), &opts).unwrap();
    assert_eq!(
        batch.entities,
        vec![json!({
            "id": "urn:ngsi-ld:Bench:line-2",
            "type": "Bench",
            "location": point(2.35, 48.85),
            "Nom": prop(json!("A")),
            "Mise_en_service": prop(json!("2019-03-14")),
        })]
    );
    assert_eq!(
        batch.notes[0],
        "coordinates read from the columns \"E\" and \"N\""
    );
}

#[test]
fn csv_from_opendatasoft_geo_columns() {
    let file = concat!(
        "nom;geo_point_2d;geo_shape\n",
        "A;46.2052, 5.2256;\n",
        "B;46.2055, 5.2260;\"{\"\"type\"\": \"\"LineString\"\", \"\"coordinates\"\": [[5.2260, 46.2055], [5.2262, 46.2056]]}\"\n",
        "C;;\n",
    );
    let batch = import_csv(file.as_bytes(), &ImportOptions::new("Road")).unwrap();
    assert_eq!(batch.entities.len(), 2);
    assert_eq!(batch.entities[0]["location"], point(5.2256, 46.2052));
    assert_eq!(
        batch.entities[1]["location"]["value"],
        json!({"type": "LineString", "coordinates": [[5.2260, 46.2055], [5.2262, 46.2056]]})
    );
    assert_eq!(batch.entities[1].get("geo_point_2d"), None);
    assert_eq!(
        batch.rejected,
        vec![rejection(
            4,
            Some("urn:ngsi-ld:Road:line-4"),
            "the column \"geo_point_2d\" is empty"
        )]
    );
}

#[test]
fn formats_are_detected_from_content_then_extension() {
    let p = Path::new;
    assert_eq!(
        detect_format(p("a.json"), MIXED_GEOJSON),
        Some(Format::GeoJson)
    );
    assert_eq!(
        detect_format(p("a.geojson"), b"{\"type\": \"Feature\""),
        Some(Format::GeoJson)
    );
    assert_eq!(detect_format(p("a.json"), b"{\"type\": \"Feature\""), None);
    assert_eq!(
        detect_format(p("a.json"), br#"[{"id": "urn:ngsi-ld:A:1", "type": "A"}]"#),
        Some(Format::NgsiLd)
    );
    assert_eq!(
        detect_format(p("a.jsonld"), br#"{"id": "urn:ngsi-ld:A:1", "type": "A"}"#),
        Some(Format::NgsiLd)
    );
    assert_eq!(detect_format(p("a.json"), b"[1, 2]"), None);
    assert_eq!(detect_format(p("a.csv"), WGS84_CSV), Some(Format::Csv));
    assert_eq!(detect_format(p("export"), LAMBERT_CSV), Some(Format::Csv));
    assert_eq!(detect_format(p("a.csv"), b"\xe9;x"), Some(Format::Csv));
    assert_eq!(
        detect_format(p("photo.png"), b"\x89PNG\r\n\x1a\n\0\0"),
        None
    );
}
