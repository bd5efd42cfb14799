//! Every Smart Data Models example of tests/fixtures/ngsi-ld loads through the API with its
//! own @context (bundled, so no network is needed) and reads back under the same names, or
//! is refused with a detail naming the defect.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use common::{enc, link, Server};
use reqwest::header::LINK;
use reqwest::Method;
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ngsi-ld")
}

/// Every example file, sorted by name.
fn fixtures() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonld"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&p).unwrap();
            let json: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
            (name, json)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The examples that are refused, and the words the detail must hold (the attribute at
/// fault and what is wrong with it).
const REFUSED: &[(&str, &[&str])] = &[
    // Three attributes have "type": "string" instead of "Property".
    (
        "FloodMonitoring_example-normalized.jsonld",
        &["floodLevelStatus", "'string'"],
    ),
    // dateObserved is a Relationship whose object is a date-time, not an entity URI.
    (
        "WaterObserved_example-normalized.jsonld",
        &["dateObserved", "2020-03-17T08:45:00.209Z", "not a URI"],
    ),
];

/// The Smart Data Models context URL of an example.
fn context_url(name: &str, doc: &Value) -> String {
    let ctx = &doc["@context"];
    let url = match ctx {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            // The core context may be listed too; it always applies.
            let urls: Vec<&str> = items
                .iter()
                .filter_map(Value::as_str)
                .filter(|u| !u.starts_with("https://uri.etsi.org/"))
                .collect();
            assert_eq!(
                urls.len(),
                1,
                "{name}: one Smart Data Models context expected, got {ctx}"
            );
            urls[0].to_string()
        }
        other => panic!("{name}: unexpected @context {other}"),
    };
    assert!(
        url.starts_with("https://raw.githubusercontent.com/smart-data-models/"),
        "{name}: {url}"
    );
    url
}

#[tokio::test]
async fn every_example_loads_or_names_its_defect() {
    let s = Server::start().await;
    let all = fixtures();
    assert_eq!(all.len(), 32, "the fixture set changed; update this test");
    for (name, doc) in &all {
        // The normalized and simplified examples share ids: each form gets its own tenant.
        let tenant = if name.ends_with("-normalized.jsonld") {
            "sdm-normalized"
        } else {
            "sdm-simplified"
        };
        let r = s
            .send(
                s.req(Method::POST, "/ngsi-ld/v1/entities")
                    .header("NGSILD-Tenant", tenant)
                    .header("content-type", "application/ld+json")
                    .body(doc.to_string()),
            )
            .await;
        if let Some((_, words)) = REFUSED.iter().find(|(n, _)| n == name) {
            let d = r.problem(400, "BadRequestData");
            for w in *words {
                assert!(d.contains(w), "{name}: the detail {d:?} should name {w:?}");
            }
            continue;
        }
        assert_eq!(r.status, 201, "{name}: {}", r.text);

        // Read back with the example's own context: same id, type and attribute names.
        let id = doc["id"].as_str().unwrap();
        let ctx = context_url(name, doc);
        let r = s
            .send(
                s.req(Method::GET, &format!("/ngsi-ld/v1/entities/{}", enc(id)))
                    .header("NGSILD-Tenant", tenant)
                    .header(LINK, link(&ctx)),
            )
            .await;
        assert_eq!(r.status, 200, "{name}: {}", r.text);
        let back = r.json();
        assert_eq!(back["id"], doc["id"], "{name}");
        assert_eq!(back["type"], doc["type"], "{name}");
        for key in doc.as_object().unwrap().keys() {
            if key == "@context" {
                continue;
            }
            assert!(
                back.get(key).is_some(),
                "{name}: attribute {key} is missing from {back}"
            );
        }
        assert_eq!(
            back.as_object().unwrap().len(),
            doc.as_object().unwrap().len() - 1,
            "{name}: {back}"
        );
    }
}

#[tokio::test]
async fn normalized_examples_read_back_as_sent() {
    let s = Server::start().await;
    let mut multi_object = 0;
    for (name, doc) in fixtures() {
        if !name.ends_with("-normalized.jsonld") || REFUSED.iter().any(|(n, _)| *n == name) {
            continue;
        }
        s.json_ld(Method::POST, "/ngsi-ld/v1/entities", &doc)
            .await
            .expect(201);
        let ctx = context_url(&name, &doc);
        let r = s
            .send(
                s.req(
                    Method::GET,
                    &format!("/ngsi-ld/v1/entities/{}", enc(doc["id"].as_str().unwrap())),
                )
                .header(LINK, link(&ctx)),
            )
            .await;
        r.expect(200);
        let back = r.json();
        let id = doc["id"].as_str().unwrap();
        let concise = read_with_options(&s, id, &ctx, "concise").await;
        let key_values = read_with_options(&s, id, &ctx, "keyValues").await;
        for (key, sent) in doc.as_object().unwrap() {
            if key == "@context" || key == "id" || key == "type" {
                continue;
            }
            let got = &back[key];
            if sent["type"] == "Relationship" && sent["object"].is_array() {
                // A Relationship with several objects reads back as sent, in every form.
                assert_eq!(got, sent, "{name}: {key}");
                assert_eq!(
                    concise[key],
                    serde_json::json!({"object": sent["object"]}),
                    "{name}: {key} (concise)"
                );
                assert_eq!(key_values[key], sent["object"], "{name}: {key} (keyValues)");
                multi_object += 1;
                continue;
            }
            assert_eq!(got["type"], sent["type"], "{name}: {key}");
            for member in ["value", "object", "unitCode", "datasetId", "languageMap"] {
                if let Some(v) = sent.get(member) {
                    assert_eq!(&got[member], v, "{name}: {key}.{member}");
                }
            }
            if let Some(at) = sent.get("observedAt").and_then(Value::as_str) {
                let want = chrono::DateTime::parse_from_rfc3339(at).unwrap();
                let have =
                    chrono::DateTime::parse_from_rfc3339(got["observedAt"].as_str().unwrap())
                        .unwrap();
                assert_eq!(want, have, "{name}: {key}.observedAt");
            }
        }
    }
    // Building (2), BuildingOperation (2), Device (1) and StreetlightControlCabinet (1),
    // two of them arrays of a single object.
    assert_eq!(multi_object, 6, "Relationships with an object array");
}

/// An entity read with `options` (concise, keyValues) under the context `ctx`.
async fn read_with_options(s: &Server, id: &str, ctx: &str, options: &str) -> Value {
    let r = s
        .send(
            s.req(
                Method::GET,
                &format!("/ngsi-ld/v1/entities/{}?options={options}", enc(id)),
            )
            .header(LINK, link(ctx)),
        )
        .await;
    r.expect(200);
    r.json()
}

#[tokio::test]
async fn flood_monitoring_loads_once_its_attribute_types_are_fixed() {
    let s = Server::start().await;
    let (_, mut doc) = fixtures()
        .into_iter()
        .find(|(n, _)| n == "FloodMonitoring_example-normalized.jsonld")
        .unwrap();
    for attr in ["floodLevelStatus", "stationID", "observationDateTime"] {
        let a = doc[attr].as_object_mut().unwrap();
        assert_eq!(a["type"], "string", "{attr}");
        a.insert("type".into(), "Property".into());
        a.remove("format");
    }
    s.json_ld(Method::POST, "/ngsi-ld/v1/entities", &doc)
        .await
        .expect(201);
    let ctx = context_url("FloodMonitoring", &doc);
    let r = s
        .send(
            s.req(
                Method::GET,
                &format!(
                    "/ngsi-ld/v1/entities/{}?options=keyValues",
                    enc(doc["id"].as_str().unwrap())
                ),
            )
            .header(LINK, link(&ctx)),
        )
        .await;
    r.expect(200);
    let back = r.json();
    assert_eq!(back["floodLevelStatus"], "Normal");
    assert_eq!(back["stationID"], "FWR013");
    assert_eq!(back["currentLevel"], 1.98);
}

/// Reads an entity of the default tenant in a form, with a context.
async fn read_as(s: &Server, id: &str, options: &str, ctx: &str) -> Value {
    let r = s
        .send(
            s.req(
                Method::GET,
                &format!("/ngsi-ld/v1/entities/{}?options={options}", enc(id)),
            )
            .header(LINK, link(ctx)),
        )
        .await;
    r.expect(200);
    r.json()
}

#[tokio::test]
async fn simplified_examples_read_back_as_sent() {
    let s = Server::start().await;
    for (name, doc) in fixtures() {
        if name.ends_with("-normalized.jsonld") || name == "Junction_example.jsonld" {
            continue;
        }
        s.json_ld(Method::POST, "/ngsi-ld/v1/entities", &doc)
            .await
            .expect(201);
        let ctx = context_url(&name, &doc);
        let mut sent = doc.clone();
        sent.as_object_mut().unwrap().remove("@context");
        assert_eq!(
            read_as(&s, doc["id"].as_str().unwrap(), "keyValues", &ctx).await,
            sent,
            "{name}"
        );
    }
}

/// The Junction example is in the concise form (values with sub-attributes), not the
/// simplified one: it reads back in the concise form, a lone `{"value": x}` as `x`.
#[tokio::test]
async fn junction_example_is_concise() {
    let s = Server::start().await;
    let (name, doc) = fixtures()
        .into_iter()
        .find(|(n, _)| n == "Junction_example.jsonld")
        .unwrap();
    s.json_ld(Method::POST, "/ngsi-ld/v1/entities", &doc)
        .await
        .expect(201);
    let ctx = context_url(&name, &doc);
    let id = doc["id"].as_str().unwrap();
    let mut sent = doc.clone();
    sent.as_object_mut().unwrap().remove("@context");
    assert_eq!(sent["initialQuality"], serde_json::json!({"value": 0.5}));
    sent["initialQuality"] = serde_json::json!(0.5);
    assert_eq!(read_as(&s, id, "concise", &ctx).await, sent);
    let normalized = read_as(&s, id, "normalized", &ctx).await;
    assert_eq!(
        normalized["sourceCategory"]["sourceType"],
        serde_json::json!({"type": "Property", "value": "MASS"})
    );
    assert_eq!(
        read_as(&s, id, "keyValues", &ctx).await["sourceCategory"],
        serde_json::json!("CategoryX")
    );
}
