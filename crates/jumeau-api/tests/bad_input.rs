//! Bad input, each with its exact status and problem type: malformed JSON, wrong value
//! types, invalid ids and geometries, media types, sizes, hostile queries. Nothing bad is
//! ever half written, and nothing makes the broker fail with a 500.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{enc, Server};
use jumeau_api::ApiConfig;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};

const ID: &str = "urn:ngsi-ld:Streetlight:bad-1";
const PATH: &str = "/ngsi-ld/v1/entities/urn:ngsi-ld:Streetlight:bad-1";
const ENTITIES: &str = "/ngsi-ld/v1/entities";

fn lamp() -> Value {
    json!({
        "id": ID,
        "type": "Streetlight",
        "power": {"type": "Property", "value": 10},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.35, 48.85]}}
    })
}

/// The lamp with one more member.
fn lamp_with(name: &str, value: Value) -> Value {
    let mut e = lamp();
    e[name] = value;
    e
}

/// Posts a body as raw text with a Content-Type.
async fn post_raw(s: &Server, path: &str, content_type: &str, body: &str) -> common::Resp {
    s.send(
        s.req(Method::POST, path)
            .header(CONTENT_TYPE, content_type)
            .body(body.to_string()),
    )
    .await
}

/// A server whose default tenant exists (it holds one unrelated entity), so that a missing
/// entity is a ResourceNotFound.
async fn start() -> Server {
    let s = Server::start().await;
    s.create(&json!({"id": "urn:ngsi-ld:Seed:1", "type": "Seed"}))
        .await;
    s
}

/// The stored lamp in keyValues.
async fn stored(s: &Server) -> Value {
    let r = s.get(&format!("{PATH}?options=keyValues")).await;
    r.expect(200);
    r.json()
}

#[tokio::test]
async fn malformed_json_is_invalid_request() {
    let s = start().await;
    for body in ["{not json", "{\"id\": ", "", "\u{0}", "[1,]"] {
        let r = post_raw(&s, ENTITIES, "application/json", body).await;
        r.problem(400, "InvalidRequest");
    }
    let r = s
        .send(
            s.req(Method::POST, ENTITIES)
                .header(CONTENT_TYPE, "application/json")
                .body(vec![0xff, 0xfe, b'{']),
        )
        .await;
    r.problem(400, "InvalidRequest");
    for path in [
        "/ngsi-ld/v1/entityOperations/create",
        "/ngsi-ld/v1/entityOperations/query",
        "/ngsi-ld/v1/entities/urn:x:1/attrs",
        "/ngsi-ld/v1/jsonldContexts",
    ] {
        post_raw(&s, path, "application/json", "[{")
            .await
            .problem(400, "InvalidRequest");
    }
}

#[tokio::test]
async fn wrong_value_types_are_bad_request_data() {
    let s = start().await;
    // (body, a word the detail must contain)
    let cases: Vec<(Value, &str)> = vec![
        (json!([lamp()]), "object"),
        (json!("urn:ngsi-ld:Streetlight:1"), "object"),
        (json!(null), "object"),
        (json!({"type": "Streetlight"}), "id"),
        (json!({"id": ID}), "type"),
        (json!({"id": 42, "type": "Streetlight"}), "id"),
        (json!({"id": ID, "type": 42}), "type"),
        (json!({"id": ID, "type": []}), "type"),
        (json!({"id": ID, "type": "Street light"}), "Street light"),
        (lamp_with("power", json!({"type": "Property"})), "power"),
        (lamp_with("power", json!(null)), "power"),
        (
            lamp_with(
                "power",
                json!({"type": "Property", "value": 1, "observedAt": "yesterday"}),
            ),
            "observedAt",
        ),
        (
            lamp_with(
                "power",
                json!({"type": "Property", "value": 1, "observedAt": 5}),
            ),
            "observedAt",
        ),
        (
            lamp_with(
                "power",
                json!({"type": "Property", "value": 1, "unitCode": 5}),
            ),
            "unitCode",
        ),
        (
            lamp_with(
                "power",
                json!({"type": "Property", "value": 1, "datasetId": "not a uri"}),
            ),
            "datasetId",
        ),
        (lamp_with("power", json!({"type": 7, "value": 1})), "power"),
        (
            lamp_with("power", json!({"type": "Property", "object": "urn:x:1"})),
            "power",
        ),
        (
            lamp_with("power", json!({"value": 1, "object": "urn:x:1"})),
            "power",
        ),
        (
            lamp_with("power", json!({"type": "Property", "value": 1, "@id": "x"})),
            "@id",
        ),
        (
            lamp_with("refGroup", json!({"type": "Relationship", "object": 5})),
            "refGroup",
        ),
        (
            lamp_with(
                "refGroup",
                json!({"type": "Relationship", "object": "not a uri"}),
            ),
            "refGroup",
        ),
        (
            lamp_with(
                "name",
                json!({"type": "LanguageProperty", "languageMap": "fr"}),
            ),
            "name",
        ),
        (
            lamp_with(
                "name",
                json!({"type": "LanguageProperty", "languageMap": {"fr": 5}}),
            ),
            "name",
        ),
        (
            lamp_with("tags", json!({"type": "ListProperty", "valueList": "a"})),
            "tags",
        ),
        (
            lamp_with("kind", json!({"type": "VocabProperty", "vocab": 5})),
            "kind",
        ),
        (lamp_with("bad name", json!(1)), "bad name"),
        (lamp_with("a(b)", json!(1)), "a(b)"),
        (
            lamp_with("observedAt", json!("2024-01-01T00:00:00Z")),
            "observedAt",
        ),
        (lamp_with("@graph", json!([])), "@graph"),
        (lamp_with("scope", json!("no-slash")), "scope"),
        (
            lamp_with("power", json!([{"type": "Property", "value": 1}, 2])),
            "power",
        ),
    ];
    for (body, word) in &cases {
        let r = s.post(ENTITIES, body).await;
        let d = r.problem(400, "BadRequestData");
        assert!(
            d.contains(word),
            "{body} -> detail {d:?} should name {word:?}"
        );
    }
    // Nothing was written.
    s.entity(ID).await.problem(404, "ResourceNotFound");
}

#[tokio::test]
async fn ids_must_be_uris() {
    let s = start().await;
    for bad in [
        "lamp-1",
        "lamp 1",
        "urn:",
        ":x",
        "1urn:x",
        "urn:ngsi-ld:x<y>",
        "urn:a\"b",
        "",
    ] {
        let d = s
            .post(ENTITIES, &json!({"id": bad, "type": "Streetlight"}))
            .await
            .problem(400, "BadRequestData");
        assert!(d.contains("id"), "{bad}: {d}");
    }
    let long = format!("urn:x:{}", "a".repeat(2100));
    s.post(ENTITIES, &json!({"id": long, "type": "Streetlight"}))
        .await
        .problem(400, "BadRequestData");
    // Any URI scheme is an id.
    for good in [
        "urn:ngsi-ld:Streetlight:ok",
        "https://example.org/lamps/1",
        "tag:example.org,2024:lamp",
    ] {
        s.post(ENTITIES, &json!({"id": good, "type": "Streetlight"}))
            .await
            .expect(201);
        s.entity(good).await.expect(200);
    }
}

#[tokio::test]
async fn invalid_geometries_name_the_attribute() {
    let s = start().await;
    let geo = |v: Value| lamp_with("location", json!({"type": "GeoProperty", "value": v}));
    let cases = vec![
        geo(
            json!({"type": "Polygon", "coordinates": [[[2.3, 48.8], [2.4, 48.8], [2.4, 48.9], [2.3, 48.9]]]}),
        ),
        geo(json!({"type": "Point", "coordinates": [2.35, 95.0]})),
        geo(json!({"type": "Point", "coordinates": [200.0, 48.0]})),
        geo(json!({"type": "Point", "coordinates": []})),
        geo(json!({"type": "Point", "coordinates": [2.35]})),
        geo(json!({"type": "Point", "coordinates": ["2.35", "48.85"]})),
        geo(json!({"type": "LineString", "coordinates": [[2.35, 48.85]]})),
        geo(json!({"type": "Polygon", "coordinates": []})),
        geo(json!({"type": "Circle", "coordinates": [2.35, 48.85]})),
        geo(json!("somewhere")),
        lamp_with(
            "location",
            json!({"type": "Point", "coordinates": [2.35, 95.0]}),
        ),
        lamp_with("location", json!({"type": "Point", "coordinates": []})),
    ];
    for body in &cases {
        let d = s.post(ENTITIES, body).await.problem(400, "BadRequestData");
        assert!(d.contains("location"), "{body} -> {d}");
    }
    s.entity(ID).await.problem(404, "ResourceNotFound");
    // Updates check geometries too, and leave the old one in place.
    s.create(&lamp()).await;
    let d = s
        .patch(&format!("{PATH}/attrs"), &json!({"location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.35, -91]}}}))
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("location"), "{d}");
    assert_eq!(
        stored(&s).await["location"],
        json!({"type": "Point", "coordinates": [2.35, 48.85]})
    );
}

#[tokio::test]
async fn attribute_type_string_is_refused() {
    let s = start().await;
    let body = lamp_with(
        "floodLevelStatus",
        json!({"type": "string", "value": "Normal"}),
    );
    let d = s.post(ENTITIES, &body).await.problem(400, "BadRequestData");
    assert!(
        d.contains("floodLevelStatus") && d.contains("'string'"),
        "{d}"
    );
    assert!(
        d.contains("Property"),
        "the detail lists the valid types: {d}"
    );
    s.entity(ID).await.problem(404, "ResourceNotFound");
}

#[tokio::test]
async fn nothing_is_half_written() {
    let s = start().await;
    s.create(&lamp()).await;
    let before = stored(&s).await;
    let bad = json!({"type": "Property", "value": 1, "observedAt": "never"});

    let mut e = lamp_with("zzz", bad.clone());
    e["id"] = json!("urn:ngsi-ld:Streetlight:bad-2");
    e["aaa"] = json!(1);
    s.post(ENTITIES, &e).await.problem(400, "BadRequestData");
    s.entity("urn:ngsi-ld:Streetlight:bad-2")
        .await
        .problem(404, "ResourceNotFound");

    s.put(
        PATH,
        &json!({"type": "Streetlight", "power": 99, "zzz": bad}),
    )
    .await
    .problem(400, "BadRequestData");
    s.patch(PATH, &json!({"power": 99, "zzz": bad}))
        .await
        .problem(400, "BadRequestData");
    s.post(&format!("{PATH}/attrs"), &json!({"power": 99, "zzz": bad}))
        .await
        .problem(400, "BadRequestData");
    s.patch(&format!("{PATH}/attrs"), &json!({"power": 99, "zzz": bad}))
        .await
        .problem(400, "BadRequestData");
    s.patch(&format!("{PATH}/attrs/power"), &bad)
        .await
        .problem(400, "BadRequestData");
    s.put(&format!("{PATH}/attrs/power"), &bad)
        .await
        .problem(400, "BadRequestData");
    assert_eq!(stored(&s).await, before);

    // A batch entity fails alone and whole.
    let r = s
        .post(
            "/ngsi-ld/v1/entityOperations/upsert",
            &json!([{"id": ID, "type": "Streetlight", "power": 99, "zzz": bad}]),
        )
        .await;
    r.expect(207);
    assert_eq!(r.json()["success"], json!([]));
    assert_eq!(stored(&s).await, before);
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let s = Server::with_config(ApiConfig {
        max_body_bytes: 1024,
        ..ApiConfig::default()
    })
    .await;
    s.create(&json!({"id": "urn:ngsi-ld:Seed:1", "type": "Seed"}))
        .await;
    let big = lamp_with("description", json!("x".repeat(2000)));
    let d = s.post(ENTITIES, &big).await.problem(413, "PayloadTooLarge");
    assert!(d.contains("1024"), "{d}");
    s.entity(ID).await.problem(404, "ResourceNotFound");
    s.post("/ngsi-ld/v1/entityOperations/create", &json!([big]))
        .await
        .problem(413, "PayloadTooLarge");
    s.post(
        "/ngsi-ld/v1/jsonldContexts",
        &json!({"@context": {"a": "x".repeat(2000)}}),
    )
    .await
    .problem(413, "PayloadTooLarge");
    // Just under the limit is fine.
    s.create(&lamp()).await;
    s.patch(PATH, &json!({"description": "x".repeat(900)}))
        .await
        .expect(204);
}

#[tokio::test]
async fn chunked_bodies_without_length_are_411() {
    let s = start().await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"{\"id\": \"urn:ngsi-ld:Streetlight:bad-1\",".to_vec()),
        Ok(b" \"type\": \"Streetlight\"}".to_vec()),
    ];
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let r = s
        .send(
            s.req(Method::POST, ENTITIES)
                .header(CONTENT_TYPE, "application/json")
                .body(body),
        )
        .await;
    r.problem(411, "LengthRequired");
    s.entity(ID).await.problem(404, "ResourceNotFound");
}

#[tokio::test]
async fn unsupported_media_types_are_415() {
    let s = start().await;
    let body = lamp().to_string();
    for ct in [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "application/merge-patch+json",
    ] {
        let d = post_raw(&s, ENTITIES, ct, &body)
            .await
            .problem(415, "UnsupportedMediaType");
        assert!(d.contains(ct), "{d}");
    }
    s.send(s.req(Method::POST, ENTITIES).body(body.clone()))
        .await
        .problem(415, "UnsupportedMediaType");
    s.send(
        s.req(Method::PUT, PATH)
            .header(CONTENT_TYPE, "application/merge-patch+json")
            .body(body.clone()),
    )
    .await
    .problem(415, "UnsupportedMediaType");
    s.entity(ID).await.problem(404, "ResourceNotFound");
    // Parameters of the media type are fine.
    post_raw(&s, ENTITIES, "application/json; charset=utf-8", &body)
        .await
        .expect(201);
}

#[tokio::test]
async fn unacceptable_media_types_are_406() {
    let s = start().await;
    s.create(&lamp()).await;
    for accept in [
        "text/html",
        "application/xml",
        "application/ld+json;q=0",
        "image/*",
    ] {
        let r = s
            .send(s.req(Method::GET, PATH).header(ACCEPT, accept))
            .await;
        let d = r.problem(406, "NotAcceptable");
        assert!(d.contains("application/json"), "{d}");
    }
    s.send(
        s.req(Method::GET, "/ngsi-ld/v1/entities?type=Streetlight")
            .header(ACCEPT, "text/html"),
    )
    .await
    .problem(406, "NotAcceptable");
    for (accept, ct) in [
        ("text/html, application/json;q=0.5", "application/json"),
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        (
            "application/json;q=0.5, application/ld+json",
            "application/ld+json",
        ),
        (
            "application/geo+json;q=0.9, application/json;q=0.1",
            "application/geo+json",
        ),
    ] {
        let r = s
            .send(s.req(Method::GET, PATH).header(ACCEPT, accept))
            .await;
        r.expect(200);
        assert_eq!(r.content_type(), ct, "{accept}");
    }
}

#[tokio::test]
async fn context_placement_rules() {
    let s = start().await;
    let mut with_ctx = lamp();
    with_ctx["@context"] = json!(common::CORE_CONTEXT);
    let d = s
        .post(ENTITIES, &with_ctx)
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("@context"), "{d}");
    let d = s
        .json_ld(Method::POST, ENTITIES, &lamp())
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("@context"), "{d}");
    s.entity(ID).await.problem(404, "ResourceNotFound");
    // Correct placements.
    s.json_ld(Method::POST, ENTITIES, &with_ctx)
        .await
        .expect(201);
    s.json(
        Method::PATCH,
        &format!("{PATH}/attrs"),
        &json!({"power": 11}),
    )
    .await
    .expect(204);
    s.json_ld(
        Method::PATCH,
        &format!("{PATH}/attrs"),
        &json!({"power": 12, "@context": common::CORE_CONTEXT}),
    )
    .await
    .expect(204);
    s.json_ld(
        Method::PATCH,
        &format!("{PATH}/attrs/power"),
        &json!({"value": 13, "@context": common::CORE_CONTEXT}),
    )
    .await
    .expect(204);
    assert_eq!(stored(&s).await["power"], json!(13));
}

#[tokio::test]
async fn bad_parameters() {
    let s = start().await;
    s.create(&lamp()).await;
    for (q, kind) in [
        ("type=Streetlight&options=everything", "BadRequestData"),
        ("type=Streetlight&format=xml", "BadRequestData"),
        ("type=Streetlight&type=Cabinet", "InvalidRequest"),
        ("type=Streetlight&local=perhaps", "BadRequestData"),
        ("type=", "InvalidRequest"),
        (
            "georel=near%3BmaxDistance%3D%3D10&geometry=Point",
            "BadRequestData",
        ),
    ] {
        s.get(&format!("{ENTITIES}?{q}")).await.problem(400, kind);
    }
    s.get(&format!("{PATH}?options=bogus"))
        .await
        .problem(400, "BadRequestData");
}

#[tokio::test]
async fn hostile_queries_never_fail_the_broker() {
    let s = start().await;
    s.create_all(&[
        lamp(),
        json!({"id": "urn:ngsi-ld:Streetlight:bad-2", "type": "Streetlight", "name": "O'Brien", "power": 20}),
    ])
    .await;
    let deep = format!("{}power>1{}", "(".repeat(200), ")".repeat(200));
    let ok_deep = format!("{}power>1{}", "(".repeat(20), ")".repeat(20));
    let huge = format!("name==\"{}\"", "a".repeat(9000));
    let very_huge = "power>1;".repeat(2000);
    let hostile: Vec<(&str, String, u16)> = vec![
        ("q", "power==1' OR '1'='1".into(), 400),
        ("q", "name==\"x\" OR 1=1 --".into(), 400),
        ("q", "name==\"O'Brien\"".into(), 200),
        ("q", "name==O'Brien".into(), 200),
        ("q", "power==1;DROP TABLE entities".into(), 400),
        ("q", "name==\"\\\"; DROP TABLE entities; --\"".into(), 200),
        ("q", "name==\"%' OR 1=1 --\"".into(), 200),
        ("q", "power);DELETE FROM entities;--".into(), 400),
        ("q", "name[a')) OR 1=1 --]==1".into(), 200),
        ("q", "address[addressLocality==1".into(), 400),
        ("q", "name~=(a+)+$".into(), 200),
        ("q", "name~=\"(a{1000}){1000}\"".into(), 400),
        ("q", "name~=\"[\"".into(), 400),
        ("q", "power>1e999999".into(), 400),
        ("q", "power>-1e999999".into(), 400),
        ("q", "name==\u{0}".into(), 200),
        ("q", "name==\"\u{1F4A1}\"".into(), 200),
        ("q", "\\".into(), 200),
        ("q", deep.clone(), 403),
        ("q", huge.clone(), 403),
        ("q", very_huge.clone(), 403),
        ("q", ")".repeat(100), 400),
        ("q", "!".repeat(100), 400),
        ("type", "Streetlight' OR 1=1--".into(), 400),
        (
            "type",
            format!("{}Streetlight{}", "(".repeat(100), ")".repeat(100)),
            403,
        ),
        ("type", "x".repeat(9000), 403),
        ("idPattern", ".*'; DROP TABLE entities; --".into(), 200),
        ("idPattern", "(a{1000}){1000}{1000}".into(), 400),
        ("attrs", "power'--,name\"".into(), 200),
        ("id", "urn:x:1' OR '1'='1".into(), 400),
        ("georel", "near;maxDistance==1e400".into(), 400),
    ];
    for (param, value, status) in &hostile {
        let mut path = format!("{ENTITIES}?{param}={}", enc(value));
        if *param == "georel" {
            path.push_str("&geometry=Point&coordinates=%5B2.35%2C48.85%5D");
        }
        let r = s.get(&path).await;
        let short: String = value.chars().take(60).collect();
        assert_eq!(
            r.status,
            *status,
            "{param}={short}: body {}",
            r.text.chars().take(300).collect::<String>()
        );
        if r.status != 200 {
            assert_eq!(r.content_type(), "application/json", "{param}={short}");
            assert!(r.json()["detail"].is_string(), "{param}={short}");
        } else {
            for id in common::ids_of(&r.json()) {
                assert!(
                    id.starts_with("urn:ngsi-ld:Streetlight:bad-"),
                    "{param}={short}: {id}"
                );
            }
        }
    }
    // Limits are TooComplexQuery; the allowed nesting works.
    s.get(&format!("{ENTITIES}?q={}", enc(&deep)))
        .await
        .problem(403, "TooComplexQuery");
    s.get(&format!("{ENTITIES}?q={}", enc(&huge)))
        .await
        .problem(403, "TooComplexQuery");
    assert_eq!(
        s.ids(&format!("q={}", enc(&ok_deep))).await,
        vec![ID.to_string(), "urn:ngsi-ld:Streetlight:bad-2".to_string()]
    );
    // Quotes in values are data, not syntax.
    assert_eq!(
        s.ids(&format!("q={}", enc("name==\"O'Brien\""))).await,
        vec!["urn:ngsi-ld:Streetlight:bad-2".to_string()]
    );
    // The same through the batch query.
    let r = s
        .post(
            "/ngsi-ld/v1/entityOperations/query",
            &json!({"type": "Query", "q": "power==1' OR '1'='1"}),
        )
        .await;
    assert!(matches!(r.status, 200 | 400), "{}", r.text);
    // Everything is still there.
    let r = s.get(&format!("{ENTITIES}?local=true&count=true")).await;
    r.expect(200);
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("3"));
    assert_eq!(stored(&s).await["power"], json!(10));
}

#[tokio::test]
async fn hostile_payloads_are_data() {
    let s = start().await;
    let id = "urn:ngsi-ld:Streetlight:x');DROP_TABLE_entities;--";
    let body = json!({
        "id": id,
        "type": "Streetlight",
        "note": "'; DROP TABLE entities; --",
        "deep": {"type": "Property", "value": {"a": {"b": {"c": [1, {"d": "\u{0}"}]}}}}
    });
    s.create(&body).await;
    let r = s
        .get(&format!("{ENTITIES}/{}?options=keyValues", enc(id)))
        .await;
    r.expect(200);
    assert_eq!(r.json()["note"], json!("'; DROP TABLE entities; --"));
    assert_eq!(r.json()["deep"]["a"]["b"]["c"][1]["d"], json!("\u{0}"));
    assert_eq!(
        s.ids(&format!(
            "q={}",
            enc("note==\"'; DROP TABLE entities; --\"")
        ))
        .await,
        vec![id.to_string()]
    );

    // Sub-attributes nested past the limit are refused.
    let mut nested = json!({"type": "Property", "value": 1});
    for _ in 0..40 {
        nested = json!({"type": "Property", "value": 1, "sub": nested});
    }
    let d = s
        .post(
            ENTITIES,
            &json!({"id": "urn:x:deep", "type": "T", "a": nested}),
        )
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("deep"), "{d}");
}

/// NGSI-LD §6.3.4: a POST body that is neither application/json nor application/ld+json is
/// refused with 415, on every endpoint.
#[tokio::test]
async fn context_registration_checks_the_media_type() {
    let s = start().await;
    let doc = json!({"@context": {"Lamp": "https://example.org/Lamp"}}).to_string();
    post_raw(&s, "/ngsi-ld/v1/jsonldContexts", "text/plain", &doc)
        .await
        .problem(415, "UnsupportedMediaType");
}
