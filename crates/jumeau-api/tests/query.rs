//! GET /ngsi-ld/v1/entities: type expressions, ids, idPattern, the q language, geo-queries
//! around Paris, projection, paging, counting and the three response media types.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{enc, ids_of, sorted, Server};
use serde_json::{json, Value};

const NOTRE_DAME: &str = "urn:ngsi-ld:Streetlight:notre-dame";
const EIFFEL: &str = "urn:ngsi-ld:Streetlight:eiffel";
const LOUVRE: &str = "urn:ngsi-ld:Streetlight:louvre";
const VERSAILLES: &str = "urn:ngsi-ld:Streetlight:versailles";
const CABINET: &str = "urn:ngsi-ld:StreetlightControlCabinet:hotel-de-ville";
const PARK: &str = "urn:ngsi-ld:Park:luxembourg";
const MUSEUM: &str = "urn:ngsi-ld:Building:louvre-museum";
const TOWN_HALL: &str = "urn:ngsi-ld:Building:town-hall";

/// The Jardin du Luxembourg, roughly (a rectangle).
const LUXEMBOURG: [[f64; 2]; 5] = [
    [2.332, 48.844],
    [2.342, 48.844],
    [2.342, 48.850],
    [2.332, 48.850],
    [2.332, 48.844],
];

#[allow(clippy::too_many_arguments)]
fn streetlight(
    id: &str,
    lon: f64,
    lat: f64,
    power: i64,
    status: &str,
    brand: &str,
    city: &str,
    group: &str,
    installed: &str,
) -> Value {
    json!({
        "id": id,
        "type": "Streetlight",
        "power": {"type": "Property", "value": power},
        "status": {"type": "Property", "value": status},
        "lamp": {"type": "Property", "value": "LED", "brand": {"type": "Property", "value": brand}},
        "address": {"type": "Property", "value": {"addressLocality": city, "postalCode": "75000"}},
        "refGroup": {"type": "Relationship", "object": group},
        "installedAt": {"type": "Property", "value": installed},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}
    })
}

/// Eight entities: four streetlights, a cabinet, a park (polygon) and two buildings
/// without location. Distances from the Hôtel de Ville (2.3522, 48.8566): Notre-Dame
/// 434 m, Louvre 1157 m, the park's nearest corner 1047 m, Eiffel 4226 m, Versailles 17.9 km.
async fn paris() -> Server {
    let s = Server::start().await;
    let g1 = "urn:ngsi-ld:StreetlightGroup:g1";
    let g2 = "urn:ngsi-ld:StreetlightGroup:g2";
    let mut nd = streetlight(
        NOTRE_DAME,
        2.3499,
        48.8530,
        100,
        "on",
        "Acme",
        "Paris",
        g1,
        "2019-05-01T00:00:00Z",
    );
    nd["power"]["unitCode"] = json!("WTT");
    s.create_all(&[
        nd,
        streetlight(EIFFEL, 2.2945, 48.8584, 150, "off", "Other", "Paris", g1, "2021-06-01T00:00:00Z"),
        streetlight(LOUVRE, 2.3376, 48.8606, 200, "on", "Acme", "Paris", g2, "2023-01-01T00:00:00Z"),
        streetlight(VERSAILLES, 2.1204, 48.8049, 50, "defective", "Other", "Versailles", g2, "2018-01-01T00:00:00Z"),
        json!({
            "id": CABINET, "type": "StreetlightControlCabinet",
            "power": {"type": "Property", "value": 1000},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.3522, 48.8566]}}
        }),
        json!({
            "id": PARK, "type": "Park",
            "location": {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [LUXEMBOURG]}}
        }),
        json!({"id": MUSEUM, "type": ["Building", "Museum"], "floors": {"type": "Property", "value": 5}}),
        json!({"id": TOWN_HALL, "type": "Building", "floors": {"type": "Property", "value": 3}}),
    ])
    .await;
    s
}

#[tokio::test]
async fn type_expressions() {
    let s = paris().await;
    let lights = sorted(&[NOTRE_DAME, EIFFEL, LOUVRE, VERSAILLES]);
    assert_eq!(s.sorted_ids("type=Streetlight").await, lights);
    let mut with_cabinet = lights.clone();
    with_cabinet.push(CABINET.into());
    with_cabinet.sort();
    assert_eq!(
        s.sorted_ids("type=Streetlight,StreetlightControlCabinet")
            .await,
        with_cabinet
    );
    assert_eq!(
        s.sorted_ids(&format!(
            "type={}",
            enc("Streetlight|StreetlightControlCabinet")
        ))
        .await,
        with_cabinet
    );
    assert_eq!(
        s.sorted_ids("type=Building").await,
        sorted(&[MUSEUM, TOWN_HALL])
    );
    assert_eq!(
        s.sorted_ids(&format!("type={}", enc("Building;Museum")))
            .await,
        sorted(&[MUSEUM])
    );
    assert_eq!(
        s.sorted_ids(&format!("type={}", enc("(Building;Museum),Park")))
            .await,
        sorted(&[MUSEUM, PARK])
    );
    assert!(s.ids("type=Nothing").await.is_empty());
    // A full IRI is the same type as the term.
    assert_eq!(
        s.sorted_ids(&format!(
            "type={}",
            enc("https://uri.etsi.org/ngsi-ld/default-context/Park")
        ))
        .await,
        sorted(&[PARK])
    );
    s.get(&format!("/ngsi-ld/v1/entities?type={}", enc("Building;;")))
        .await
        .problem(400, "InvalidRequest");
}

#[tokio::test]
async fn ids_and_id_patterns() {
    let s = paris().await;
    assert_eq!(
        s.sorted_ids(&format!("id={},{}", enc(LOUVRE), enc(PARK)))
            .await,
        sorted(&[LOUVRE, PARK])
    );
    assert_eq!(
        s.sorted_ids(&format!("id={}&type=Streetlight", enc(PARK)))
            .await,
        Vec::<String>::new()
    );
    assert_eq!(
        s.sorted_ids(&format!(
            "idPattern={}",
            enc("^urn:ngsi-ld:Streetlight:(louvre|eiffel)$")
        ))
        .await,
        sorted(&[LOUVRE, EIFFEL])
    );
    assert_eq!(
        s.sorted_ids(&format!("idPattern={}", enc("Building")))
            .await,
        sorted(&[MUSEUM, TOWN_HALL])
    );
    s.get(&format!(
        "/ngsi-ld/v1/entities?idPattern={}",
        enc("(unclosed")
    ))
    .await
    .problem(400, "BadRequestData");
    s.get("/ngsi-ld/v1/entities?id=not%20a%20uri")
        .await
        .problem(400, "BadRequestData");
}

#[tokio::test]
async fn q_language() {
    let s = paris().await;
    let cases: &[(&str, &[&str])] = &[
        ("power>100", &[EIFFEL, LOUVRE, CABINET]),
        ("power>=100;power<=150", &[NOTRE_DAME, EIFFEL]),
        ("power<100", &[VERSAILLES]),
        ("power==100..200", &[NOTRE_DAME, EIFFEL, LOUVRE]),
        ("power==50,150", &[EIFFEL, VERSAILLES]),
        ("power!=100..200", &[VERSAILLES, CABINET]),
        ("status==\"on\"", &[NOTRE_DAME, LOUVRE]),
        ("status==on", &[NOTRE_DAME, LOUVRE]),
        ("status!=\"on\"", &[EIFFEL, VERSAILLES]),
        ("status~=de.*", &[VERSAILLES]),
        ("status~=\"^(on|off)$\"", &[NOTRE_DAME, EIFFEL, LOUVRE]),
        ("status!~=\"^o\"", &[VERSAILLES]),
        (
            "status==\"on\"|power==50",
            &[NOTRE_DAME, LOUVRE, VERSAILLES],
        ),
        (
            "(status==\"on\"|status==\"off\");power>120",
            &[EIFFEL, LOUVRE],
        ),
        (
            "status==\"on\"|status==\"off\";power>120",
            &[NOTRE_DAME, EIFFEL, LOUVRE],
        ),
        ("lamp.brand==\"Acme\"", &[NOTRE_DAME, LOUVRE]),
        ("lamp.brand", &[NOTRE_DAME, EIFFEL, LOUVRE, VERSAILLES]),
        ("address[addressLocality]==\"Versailles\"", &[VERSAILLES]),
        (
            "address[addressLocality]==\"Paris\";power>=150",
            &[EIFFEL, LOUVRE],
        ),
        ("!status;power>0", &[CABINET]),
        ("floors", &[MUSEUM, TOWN_HALL]),
        ("installedAt>2020-01-01T00:00:00Z", &[EIFFEL, LOUVRE]),
        (
            "refGroup==\"urn:ngsi-ld:StreetlightGroup:g1\"",
            &[NOTRE_DAME, EIFFEL],
        ),
        (
            "refGroup==urn:ngsi-ld:StreetlightGroup:g2",
            &[LOUVRE, VERSAILLES],
        ),
        ("power.unitCode==\"WTT\"", &[NOTRE_DAME]),
        ("power==\"100\"", &[]),
    ];
    for (q, expected) in cases {
        assert_eq!(
            s.sorted_ids(&format!("q={}", enc(q))).await,
            sorted(expected),
            "q={q}"
        );
    }
    assert_eq!(
        s.sorted_ids(&format!("type=Streetlight&q={}", enc("power>100")))
            .await,
        sorted(&[EIFFEL, LOUVRE])
    );
    for bad in [
        "power>",
        "(power>1",
        "power==",
        "power==1..",
        ";",
        "power==1)",
        "power==1..2..3",
        "power>1..2",
        "power~=\"(\"",
    ] {
        let r = s.get(&format!("/ngsi-ld/v1/entities?q={}", enc(bad))).await;
        assert_eq!(r.status, 400, "q={bad}: {}", r.text);
    }
}

/// The sorted ids of a geo-query.
async fn geo(
    s: &Server,
    georel: &str,
    geometry: &str,
    coordinates: &Value,
    extra: &str,
) -> Vec<String> {
    s.sorted_ids(&format!(
        "georel={}&geometry={geometry}&coordinates={}{extra}",
        enc(georel),
        enc(&coordinates.to_string())
    ))
    .await
}

#[tokio::test]
async fn geo_queries_around_paris() {
    let s = paris().await;
    let hdv = json!([2.3522, 48.8566]);
    assert_eq!(
        geo(&s, "near;maxDistance==800", "Point", &hdv, "").await,
        sorted(&[NOTRE_DAME, CABINET])
    );
    assert_eq!(
        geo(&s, "near;maxDistance==1300", "Point", &hdv, "").await,
        sorted(&[NOTRE_DAME, CABINET, LOUVRE, PARK])
    );
    assert_eq!(
        geo(&s, "near;minDistance==5000", "Point", &hdv, "").await,
        sorted(&[VERSAILLES])
    );
    assert_eq!(
        geo(
            &s,
            "near;minDistance==1100;maxDistance==5000",
            "Point",
            &hdv,
            ""
        )
        .await,
        sorted(&[LOUVRE, EIFFEL])
    );
    assert_eq!(
        geo(
            &s,
            "near;maxDistance==800",
            "Point",
            &hdv,
            "&type=Streetlight"
        )
        .await,
        sorted(&[NOTRE_DAME])
    );

    let central = json!([[
        [2.32, 48.84],
        [2.37, 48.84],
        [2.37, 48.87],
        [2.32, 48.87],
        [2.32, 48.84]
    ]]);
    assert_eq!(
        geo(&s, "within", "Polygon", &central, "").await,
        sorted(&[NOTRE_DAME, LOUVRE, CABINET, PARK])
    );
    assert_eq!(
        geo(&s, "within", "Polygon", &central, "&type=Streetlight").await,
        sorted(&[NOTRE_DAME, LOUVRE])
    );
    // Entities without a location never match, disjoint included.
    assert_eq!(
        geo(&s, "disjoint", "Polygon", &central, "").await,
        sorted(&[EIFFEL, VERSAILLES])
    );

    let in_park = json!([2.337, 48.847]);
    assert_eq!(
        geo(&s, "contains", "Point", &in_park, "").await,
        sorted(&[PARK])
    );
    assert_eq!(
        geo(&s, "intersects", "Point", &in_park, "").await,
        sorted(&[PARK])
    );

    let west = json!([[
        [2.30, 48.84],
        [2.34, 48.84],
        [2.34, 48.87],
        [2.30, 48.87],
        [2.30, 48.84]
    ]]);
    assert_eq!(
        geo(&s, "intersects", "Polygon", &west, "").await,
        sorted(&[LOUVRE, PARK])
    );
    assert_eq!(
        geo(&s, "overlaps", "Polygon", &west, "").await,
        sorted(&[PARK])
    );

    assert_eq!(
        geo(&s, "equals", "Point", &json!([2.2945, 48.8584]), "").await,
        sorted(&[EIFFEL])
    );
    assert_eq!(
        geo(&s, "equals", "Polygon", &json!([LUXEMBOURG]), "").await,
        sorted(&[PARK])
    );

    // Combined with q.
    assert_eq!(
        geo(
            &s,
            "within",
            "Polygon",
            &central,
            &format!("&q={}", enc("status==\"on\""))
        )
        .await,
        sorted(&[NOTRE_DAME, LOUVRE])
    );
}

#[tokio::test]
async fn geoproperty_names_another_geo_property() {
    let s = paris().await;
    s.post(
        &format!("/ngsi-ld/v1/entities/{}/attrs", enc(EIFFEL)),
        &json!({"servedArea": {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [LUXEMBOURG]}}}),
    )
    .await
    .expect(204);
    let in_park = json!([2.337, 48.847]);
    assert_eq!(
        geo(&s, "contains", "Point", &in_park, "&geoproperty=servedArea").await,
        sorted(&[EIFFEL])
    );
    assert_eq!(
        geo(&s, "contains", "Point", &in_park, "&geoproperty=location").await,
        sorted(&[PARK])
    );
}

#[tokio::test]
async fn bad_geo_queries_are_400() {
    let s = paris().await;
    let q = |georel: &str, geometry: &str, coords: &str| {
        format!(
            "/ngsi-ld/v1/entities?georel={}&geometry={geometry}&coordinates={}",
            enc(georel),
            enc(coords)
        )
    };
    for (georel, geometry, coords) in [
        ("near", "Point", "[2.35,48.85]"),
        ("near;maxDistance==-5", "Point", "[2.35,48.85]"),
        ("close", "Point", "[2.35,48.85]"),
        ("within", "Point", "[2.35,95]"),
        ("within", "Polygon", "[[[2.3,48.8],[2.4,48.8],[2.4,48.9]]]"),
        ("within", "Polygon", "[]"),
        ("within", "Blob", "[2.35,48.85]"),
        ("within", "Point", "not json"),
    ] {
        let r = s.get(&q(georel, geometry, coords)).await;
        assert_eq!(r.status, 400, "{georel} {geometry} {coords}: {}", r.text);
        assert_eq!(r.content_type(), "application/json");
    }
    // The three parameters go together.
    s.get("/ngsi-ld/v1/entities?georel=within&geometry=Point")
        .await
        .problem(400, "BadRequestData");
}

#[tokio::test]
async fn attrs_selects_and_projects() {
    let s = paris().await;
    let r = s
        .get("/ngsi-ld/v1/entities?attrs=floors&options=keyValues")
        .await;
    r.expect(200);
    let mut list = r.json().as_array().unwrap().clone();
    list.sort_by_key(|e| e["id"].as_str().unwrap().to_string());
    assert_eq!(
        Value::Array(list),
        json!([
            {"id": MUSEUM, "type": ["Building", "Museum"], "floors": 5},
            {"id": TOWN_HALL, "type": "Building", "floors": 3}
        ])
    );
    let r = s
        .get("/ngsi-ld/v1/entities?type=Streetlight&pick=status&options=keyValues&limit=100")
        .await;
    for e in r.json().as_array().unwrap() {
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 3, "{e}");
        assert!(e["status"].is_string(), "{e}");
    }
    let r = s.get("/ngsi-ld/v1/entities?type=Streetlight&omit=lamp,address,location,refGroup,installedAt,status&options=keyValues").await;
    for e in r.json().as_array().unwrap() {
        assert!(e["power"].is_number(), "{e}");
        assert_eq!(e.as_object().unwrap().len(), 3, "{e}");
    }
}

#[tokio::test]
async fn paging_and_count() {
    let s = paris().await;
    let page1 = s.ids("type=Streetlight&limit=2").await;
    let page2 = s.ids("type=Streetlight&limit=2&offset=2").await;
    let page3 = s.ids("type=Streetlight&limit=2&offset=4").await;
    assert_eq!(page1.len(), 2);
    assert_eq!(page2.len(), 2);
    assert!(page3.is_empty());
    let mut all: Vec<String> = page1.iter().chain(page2.iter()).cloned().collect();
    all.sort();
    assert_eq!(all, sorted(&[NOTRE_DAME, EIFFEL, LOUVRE, VERSAILLES]));
    // Paging is stable.
    assert_eq!(s.ids("type=Streetlight&limit=2").await, page1);

    let r = s
        .get("/ngsi-ld/v1/entities?type=Streetlight&limit=1&count=true")
        .await;
    r.expect(200);
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("4"));
    assert_eq!(ids_of(&r.json()).len(), 1);
    let r = s
        .get("/ngsi-ld/v1/entities?type=Streetlight&limit=0&count=true")
        .await;
    r.expect(200);
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("4"));
    assert_eq!(r.json(), json!([]));
    let r = s
        .get("/ngsi-ld/v1/entities?type=Streetlight&options=count")
        .await;
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("4"));
    let r = s.get("/ngsi-ld/v1/entities?type=Streetlight").await;
    assert!(r.header("ngsild-results-count").is_none());

    s.get("/ngsi-ld/v1/entities?type=Streetlight&limit=0")
        .await
        .problem(400, "BadRequestData");
    s.get("/ngsi-ld/v1/entities?type=Streetlight&limit=1001")
        .await
        .problem(403, "TooManyResults");
    s.get("/ngsi-ld/v1/entities?type=Streetlight&limit=-1")
        .await
        .problem(400, "BadRequestData");
    s.get("/ngsi-ld/v1/entities?type=Streetlight&offset=x")
        .await
        .problem(400, "BadRequestData");
    s.get("/ngsi-ld/v1/entities?type=Streetlight&count=yes")
        .await
        .problem(400, "BadRequestData");
    s.get("/ngsi-ld/v1/entities?type=Streetlight&limit=1&limit=2")
        .await
        .problem(400, "InvalidRequest");
}

#[tokio::test]
async fn default_limit_is_20() {
    let s = Server::start().await;
    let many: Vec<Value> = (0..25)
        .map(|i| json!({"id": format!("urn:ngsi-ld:Bench:{i:02}"), "type": "Bench"}))
        .collect();
    s.create_all(&many).await;
    assert_eq!(s.ids("type=Bench").await.len(), 20);
    assert_eq!(s.ids("type=Bench&limit=100").await.len(), 25);
}

#[tokio::test]
async fn a_query_needs_a_filter_unless_local() {
    let s = paris().await;
    let d = s
        .get("/ngsi-ld/v1/entities")
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("local=true"), "{d}");
    s.get("/ngsi-ld/v1/entities?options=keyValues")
        .await
        .problem(400, "BadRequestData");
    let r = s
        .get("/ngsi-ld/v1/entities?local=true&count=true&limit=100")
        .await;
    r.expect(200);
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("8"));
    assert_eq!(ids_of(&r.json()).len(), 8);
}

#[tokio::test]
async fn json_ld_answers_carry_the_context_in_the_body() {
    let s = paris().await;
    let r = s
        .send(
            s.req(reqwest::Method::GET, "/ngsi-ld/v1/entities?type=Park")
                .header("accept", "application/ld+json"),
        )
        .await;
    r.expect(200);
    assert_eq!(r.content_type(), "application/ld+json");
    assert!(r.header("link").is_none());
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["@context"], json!(common::CORE_CONTEXT));
    assert_eq!(list[0]["id"], json!(PARK));

    let r = s
        .send(
            s.req(
                reqwest::Method::GET,
                &format!("/ngsi-ld/v1/entities/{}", enc(PARK)),
            )
            .header("accept", "application/ld+json"),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["@context"], json!(common::CORE_CONTEXT));
}

#[tokio::test]
async fn geo_json_answers_are_features() {
    let s = paris().await;
    let r = s
        .send(
            s.req(
                reqwest::Method::GET,
                "/ngsi-ld/v1/entities?type=Streetlight&q=power%3E=200&options=keyValues",
            )
            .header("accept", "application/geo+json"),
        )
        .await;
    r.expect(200);
    assert_eq!(r.content_type(), "application/geo+json");
    let fc = r.json();
    assert_eq!(fc["type"], json!("FeatureCollection"));
    let features = fc["features"].as_array().unwrap();
    assert_eq!(features.len(), 1, "{fc}");
    assert_eq!(features[0]["type"], json!("Feature"));
    assert_eq!(features[0]["id"], json!(LOUVRE));
    assert_eq!(
        features[0]["geometry"],
        json!({"type": "Point", "coordinates": [2.3376, 48.8606]})
    );
    assert_eq!(features[0]["properties"]["power"], json!(200));
    assert_eq!(features[0]["properties"]["type"], json!("Streetlight"));

    // One entity is a Feature; without a location its geometry is null.
    let r = s
        .send(
            s.req(
                reqwest::Method::GET,
                &format!("/ngsi-ld/v1/entities/{}", enc(MUSEUM)),
            )
            .header("accept", "application/geo+json"),
        )
        .await;
    r.expect(200);
    let f = r.json();
    assert_eq!(f["type"], json!("Feature"));
    assert_eq!(f["geometry"], Value::Null);

    // geometryProperty picks another GeoProperty as the geometry.
    s.post(
        &format!("/ngsi-ld/v1/entities/{}/attrs", enc(MUSEUM)),
        &json!({"footprint": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.3376, 48.8611]}}}),
    )
    .await
    .expect(204);
    let r = s
        .send(
            s.req(
                reqwest::Method::GET,
                &format!(
                    "/ngsi-ld/v1/entities/{}?geometryProperty=footprint",
                    enc(MUSEUM)
                ),
            )
            .header("accept", "application/geo+json"),
        )
        .await;
    assert_eq!(
        r.json()["geometry"],
        json!({"type": "Point", "coordinates": [2.3376, 48.8611]})
    );
}

#[tokio::test]
async fn relationship_object_arrays_match_on_any_object() {
    let s = Server::start().await;
    let (a, b, c) = (
        "urn:ngsi-ld:Cabinet:a",
        "urn:ngsi-ld:Cabinet:b",
        "urn:ngsi-ld:Cabinet:c",
    );
    let feeds = |object: Value| json!({"type": "Relationship", "object": object});
    s.create_all(&[
        json!({"id": a, "type": "Cabinet", "feeds": feeds(json!(["urn:x:1", "urn:x:2"]))}),
        json!({"id": b, "type": "Cabinet", "feeds": feeds(json!("urn:x:2"))}),
        json!({"id": c, "type": "Cabinet", "feeds": feeds(json!(["urn:x:3"]))}),
    ])
    .await;
    let cases: &[(&str, &[&str])] = &[
        ("feeds==urn:x:1", &[a]),
        ("feeds==urn:x:2", &[a, b]),
        ("feeds==\"urn:x:3\"", &[c]),
        ("feeds==urn:x:1,urn:x:3", &[a, c]),
        ("feeds!=urn:x:2", &[c]),
        ("feeds!=urn:x:9", &[a, b, c]),
        ("feeds~=x:1$", &[a]),
        ("feeds==urn:x:9", &[]),
        ("feeds", &[a, b, c]),
    ];
    for (q, expected) in cases {
        assert_eq!(
            s.sorted_ids(&format!("type=Cabinet&q={}", enc(q))).await,
            sorted(expected),
            "q={q}"
        );
    }
}
