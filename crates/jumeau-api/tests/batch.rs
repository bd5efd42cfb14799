//! /ngsi-ld/v1/entityOperations: create, upsert, update, merge, delete and query, with
//! their per-entity results.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{enc, link, Server, SDM_STREETLIGHTING};
use jumeau_api::ApiConfig;
use reqwest::header::{CONTENT_TYPE, LINK};
use reqwest::Method;
use serde_json::{json, Value};

const OPS: &str = "/ngsi-ld/v1/entityOperations";

fn light(n: u32, power: i64) -> Value {
    json!({
        "id": format!("urn:ngsi-ld:Streetlight:b{n}"),
        "type": "Streetlight",
        "power": {"type": "Property", "value": power},
        "status": {"type": "Property", "value": "on"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.35 + f64::from(n) * 0.001, 48.85]}}
    })
}

fn id(n: u32) -> String {
    format!("urn:ngsi-ld:Streetlight:b{n}")
}

/// The keyValues form of an entity, asserting 200.
async fn kv(s: &Server, n: u32) -> Value {
    let r = s
        .get(&format!(
            "/ngsi-ld/v1/entities/{}?options=keyValues",
            enc(&id(n))
        ))
        .await;
    r.expect(200);
    r.json()
}

/// The errors of a BatchOperationResult, by entity id: (problem type name, detail).
fn errors(body: &Value) -> Vec<(String, String, String)> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body}"))
        .iter()
        .map(|e| {
            let t = e["error"]["type"].as_str().unwrap();
            (
                e["entityId"].as_str().unwrap().to_string(),
                t.rsplit('/').next().unwrap().to_string(),
                e["error"]["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn create_answers_201_with_the_ids() {
    let s = Server::start().await;
    let r = s
        .post(
            &format!("{OPS}/create"),
            &json!([light(1, 10), light(2, 20), light(3, 30)]),
        )
        .await;
    r.expect(201);
    assert_eq!(r.json(), json!([id(1), id(2), id(3)]));
    assert_eq!(kv(&s, 2).await["power"], json!(20));
}

#[tokio::test]
async fn create_reports_each_failure() {
    let s = Server::start().await;
    s.create(&light(1, 10)).await;
    let bad = json!({"id": id(4), "type": "Streetlight", "power": {"type": "Property"}});
    let r = s
        .post(
            &format!("{OPS}/create"),
            &json!([light(1, 11), light(2, 20), bad, light(3, 30), light(2, 21)]),
        )
        .await;
    r.expect(207);
    let body = r.json();
    assert_eq!(body["success"], json!([id(2), id(3)]));
    let errs = errors(&body);
    assert_eq!(errs.len(), 3, "{body}");
    let kinds: Vec<(&str, &str)> = errs
        .iter()
        .map(|(i, k, _)| (i.as_str(), k.as_str()))
        .collect();
    assert!(kinds.contains(&(id(1).as_str(), "AlreadyExists")), "{body}");
    assert!(
        kinds.contains(&(id(4).as_str(), "BadRequestData")),
        "{body}"
    );
    assert!(
        kinds.contains(&(id(2).as_str(), "BadRequestData")),
        "{body}"
    );
    let dup = errs.iter().find(|(i, _, _)| i == &id(2)).unwrap();
    assert!(dup.2.contains("twice"), "{body}");
    let bad = errs.iter().find(|(i, _, _)| i == &id(4)).unwrap();
    assert!(bad.2.contains("power"), "{body}");
    assert_eq!(
        body["errors"][0]["error"]["status"]
            .as_u64()
            .map(|n| n / 100),
        Some(4)
    );

    // What failed left nothing behind; what succeeded is there; the existing one is intact.
    assert_eq!(kv(&s, 1).await["power"], json!(10));
    assert_eq!(kv(&s, 2).await["power"], json!(20));
    assert_eq!(kv(&s, 3).await["power"], json!(30));
    s.entity(&id(4)).await.problem(404, "ResourceNotFound");

    // An item that is not an entity is reported without an id.
    let r = s
        .post(&format!("{OPS}/create"), &json!([light(5, 1), 42]))
        .await;
    r.expect(207);
    let body = r.json();
    assert_eq!(body["success"], json!([id(5)]));
    assert_eq!(errors(&body)[0].0, "");
}

#[tokio::test]
async fn upsert_replaces_or_updates() {
    let s = Server::start().await;
    let mut one = light(1, 10);
    one["color"] = json!({"type": "Property", "value": "white"});
    s.create(&one).await;

    // Default (replace): the existing entity is replaced whole; the new one is created.
    let r = s
        .post(
            &format!("{OPS}/upsert"),
            &json!([{"id": id(1), "type": "Streetlight", "power": 15}, light(2, 20)]),
        )
        .await;
    r.expect(201);
    assert_eq!(r.json(), json!([id(2)]));
    assert_eq!(
        kv(&s, 1).await,
        json!({"id": id(1), "type": "Streetlight", "power": 15})
    );

    // Only existing ones: 204.
    let r = s
        .post(
            &format!("{OPS}/upsert?options=replace"),
            &json!([{"id": id(1), "type": "Streetlight", "power": 16, "color": "red"}]),
        )
        .await;
    r.expect(204);
    assert_eq!(
        kv(&s, 1).await,
        json!({"id": id(1), "type": "Streetlight", "power": 16, "color": "red"})
    );

    // update: attributes are appended, the others kept.
    let r = s
        .post(
            &format!("{OPS}/upsert?options=update"),
            &json!([{"id": id(1), "type": "Streetlight", "power": 17}]),
        )
        .await;
    r.expect(204);
    assert_eq!(
        kv(&s, 1).await,
        json!({"id": id(1), "type": "Streetlight", "power": 17, "color": "red"})
    );

    // One bad entity among good ones.
    let r = s
        .post(
            &format!("{OPS}/upsert"),
            &json!([{"id": "not a uri", "type": "Streetlight"}, light(3, 30)]),
        )
        .await;
    r.expect(207);
    let body = r.json();
    assert_eq!(body["success"], json!([id(3)]));
    assert_eq!(errors(&body)[0].1, "BadRequestData");
}

#[tokio::test]
async fn update_appends_to_existing_entities() {
    let s = Server::start().await;
    s.create_all(&[light(1, 10), light(2, 20)]).await;
    let r = s
        .post(
            &format!("{OPS}/update"),
            &json!([{"id": id(1), "power": 11, "color": "white"}, {"id": id(2), "status": "off"}]),
        )
        .await;
    r.expect(204);
    let one = kv(&s, 1).await;
    assert_eq!(
        (one["power"].clone(), one["color"].clone()),
        (json!(11), json!("white"))
    );
    assert_eq!(kv(&s, 2).await["status"], json!("off"));

    // noOverwrite keeps existing values and reports them; a missing entity is an error.
    let r = s
        .post(
            &format!("{OPS}/update?options=noOverwrite"),
            &json!([{"id": id(1), "power": 99, "height": 8}, {"id": id(9), "power": 1}]),
        )
        .await;
    r.expect(207);
    let body = r.json();
    let errs = errors(&body);
    assert_eq!(errs.len(), 2, "{body}");
    let missing = errs.iter().find(|(i, _, _)| i == &id(9)).unwrap();
    assert_eq!(missing.1, "ResourceNotFound");
    let kept = errs.iter().find(|(i, _, _)| i == &id(1)).unwrap();
    assert!(
        kept.2.contains("power") && kept.2.contains("noOverwrite"),
        "{body}"
    );
    let one = kv(&s, 1).await;
    assert_eq!(
        (one["power"].clone(), one["height"].clone()),
        (json!(11), json!(8))
    );

    // Items need an id.
    let r = s
        .post(&format!("{OPS}/update"), &json!([{"power": 1}]))
        .await;
    r.expect(207);
    assert_eq!(errors(&r.json())[0].1, "BadRequestData");
}

#[tokio::test]
async fn merge_merges_and_deletes() {
    let s = Server::start().await;
    s.create_all(&[light(1, 10), light(2, 20)]).await;
    let r = s
        .post(
            &format!("{OPS}/merge"),
            &json!([{"id": id(1), "status": "off", "power": null}, {"id": id(2), "type": "Device", "height": 8}]),
        )
        .await;
    r.expect(204);
    let one = kv(&s, 1).await;
    assert_eq!(one["status"], json!("off"));
    assert!(one.get("power").is_none(), "{one}");
    let two = kv(&s, 2).await;
    assert_eq!(two["type"], json!(["Device", "Streetlight"]));
    assert_eq!(two["height"], json!(8));

    let r = s
        .post(
            &format!("{OPS}/merge"),
            &json!([{"id": id(1), "status": "on"}, {"id": id(7), "status": "on"}]),
        )
        .await;
    r.expect(207);
    let body = r.json();
    assert_eq!(body["success"], json!([id(1)]));
    assert_eq!(
        errors(&body),
        vec![(
            id(7),
            "ResourceNotFound".to_string(),
            errors(&body)[0].2.clone()
        )]
    );
}

#[tokio::test]
async fn delete_by_ids() {
    let s = Server::start().await;
    s.create_all(&[light(1, 10), light(2, 20), light(3, 30)])
        .await;
    let r = s
        .post(
            &format!("{OPS}/delete"),
            &json!([id(1), id(2), "urn:ngsi-ld:Streetlight:none"]),
        )
        .await;
    r.expect(207);
    let body = r.json();
    assert_eq!(body["success"], json!([id(1), id(2)]));
    let errs = errors(&body);
    assert_eq!(errs.len(), 1);
    assert_eq!(
        (errs[0].0.as_str(), errs[0].1.as_str()),
        ("urn:ngsi-ld:Streetlight:none", "ResourceNotFound")
    );
    s.entity(&id(1)).await.problem(404, "ResourceNotFound");
    kv(&s, 3).await;

    s.post(&format!("{OPS}/delete"), &json!([id(3)]))
        .await
        .expect(204);
    s.entity(&id(3)).await.problem(404, "ResourceNotFound");

    let r = s
        .post(&format!("{OPS}/delete"), &json!([{"id": id(3)}, "no uri"]))
        .await;
    r.expect(207);
    let errs = errors(&r.json());
    assert_eq!(errs.len(), 2);
    assert!(errs.iter().all(|e| e.1 == "BadRequestData"));
}

#[tokio::test]
async fn batch_bodies_are_checked() {
    let s = Server::with_config(ApiConfig {
        max_batch: 3,
        ..ApiConfig::default()
    })
    .await;
    for op in ["create", "upsert", "update", "merge", "delete"] {
        let path = format!("{OPS}/{op}");
        s.post(&path, &json!([]))
            .await
            .problem(400, "BadRequestData");
        s.post(&path, &json!({"id": id(1), "type": "Streetlight"}))
            .await
            .problem(400, "BadRequestData");
        let d = s
            .post(&path, &json!([id(1), id(2), id(3), id(4)]))
            .await
            .problem(413, "PayloadTooLarge");
        assert!(d.contains('3'), "{d}");
    }
    // Every item must carry the same @context.
    let items = json!([
        {"id": id(1), "type": "Streetlight", "@context": SDM_STREETLIGHTING},
        {"id": id(2), "type": "Streetlight", "@context": common::CORE_CONTEXT}
    ]);
    s.json_ld(Method::POST, &format!("{OPS}/create"), &items)
        .await
        .problem(400, "BadRequestData");
    let items = json!([
        {"id": id(1), "type": "Streetlight", "@context": SDM_STREETLIGHTING},
        {"id": id(2), "type": "Streetlight", "@context": SDM_STREETLIGHTING}
    ]);
    s.json_ld(Method::POST, &format!("{OPS}/create"), &items)
        .await
        .expect(201);
    let r = s
        .send(
            s.req(
                Method::GET,
                "/ngsi-ld/v1/entities?type=Streetlight&options=keyValues",
            )
            .header(LINK, link(SDM_STREETLIGHTING)),
        )
        .await;
    assert_eq!(common::ids_of(&r.json()).len(), 2);
}

#[tokio::test]
async fn query_with_a_body() {
    let s = Server::start().await;
    s.create_all(&[light(1, 10), light(2, 20), light(3, 30)])
        .await;
    s.create(&json!({"id": "urn:ngsi-ld:Cabinet:c1", "type": "Cabinet", "power": {"type": "Property", "value": 99}})).await;
    let q = format!("{OPS}/query");

    let r = s
        .post(
            &q,
            &json!({"type": "Query", "entities": [{"type": "Streetlight"}], "q": "power>10"}),
        )
        .await;
    r.expect(200);
    let mut list = r.json().as_array().unwrap().clone();
    list.sort_by_key(|e| e["id"].as_str().unwrap().to_string());
    assert_eq!(
        common::ids_of(&Value::Array(list.clone())),
        vec![id(2), id(3)]
    );
    assert_eq!(list[0]["power"], json!({"type": "Property", "value": 20}));
    assert_eq!(
        list[1]["status"],
        json!({"type": "Property", "value": "on"})
    );

    // attrs selects the entities having one of them.
    let r = s
        .post(
            &q,
            &json!({"type": "Query", "attrs": ["power"], "entities": [{"type": "Cabinet"}]}),
        )
        .await;
    assert_eq!(
        common::ids_of(&r.json()),
        vec!["urn:ngsi-ld:Cabinet:c1".to_string()]
    );
    let r = s
        .post(&q, &json!({"type": "Query", "attrs": ["nothing"]}))
        .await;
    assert_eq!(r.json(), json!([]));
    // Projection through the URL.
    let r = s
        .post(
            &format!("{q}?pick=power&options=keyValues"),
            &json!({"type": "Query", "entities": [{"id": id(1)}]}),
        )
        .await;
    assert_eq!(
        r.json(),
        json!([{"id": id(1), "type": "Streetlight", "power": 10}])
    );

    let r = s.post(&q, &json!({"type": "Query", "q": "power>25"})).await;
    let mut ids = common::ids_of(&r.json());
    ids.sort();
    assert_eq!(ids, vec!["urn:ngsi-ld:Cabinet:c1".to_string(), id(3)]);

    let r = s
        .post(&q, &json!({"type": "Query", "entities": [{"id": id(2)}]}))
        .await;
    assert_eq!(common::ids_of(&r.json()), vec![id(2)]);
    let r = s
        .post(
            &q,
            &json!({"type": "Query", "entities": [{"idPattern": "b(1|3)$"}]}),
        )
        .await;
    let mut ids = common::ids_of(&r.json());
    ids.sort();
    assert_eq!(ids, vec![id(1), id(3)]);

    // geoQ, coordinates as a JSON array or as a string.
    for coords in [json!([2.3508, 48.85]), json!("[2.3508, 48.85]")] {
        let r = s
            .post(&q, &json!({"type": "Query", "geoQ": {"georel": "near;maxDistance==50", "geometry": "Point", "coordinates": coords}}))
            .await;
        r.expect(200);
        assert_eq!(common::ids_of(&r.json()), vec![id(1)]);
    }

    // Paging and count in the URL; keyValues.
    let r = s
        .post(
            &format!("{q}?limit=1&count=true&options=keyValues"),
            &json!({"type": "Query", "entities": [{"type": "Streetlight"}]}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("3"));
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0]["power"].is_number(), "{list}");

    // A JSON-LD query answers in its own context.
    let body = json!({
        "type": "Query",
        "entities": [{"type": "Lamp"}],
        "attrs": ["watts"],
        "@context": {"Lamp": "https://uri.etsi.org/ngsi-ld/default-context/Streetlight", "watts": "https://uri.etsi.org/ngsi-ld/default-context/power"}
    });
    let r = s
        .send(
            s.req(Method::POST, &q)
                .header(CONTENT_TYPE, "application/ld+json")
                .header("accept", "application/ld+json")
                .body(body.to_string()),
        )
        .await;
    r.expect(200);
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    assert_eq!(list[0]["type"], json!("Lamp"));
    assert!(list[0]["watts"].is_object(), "{list}");
    assert_eq!(list[0]["@context"], body["@context"]);

    // Errors.
    s.post(&q, &json!({"entities": [{"type": "Streetlight"}]}))
        .await
        .problem(400, "BadRequestData");
    s.post(
        &q,
        &json!({"type": "Query", "entities": {"type": "Streetlight"}}),
    )
    .await
    .problem(400, "BadRequestData");
    s.post(&q, &json!({"type": "Query", "q": 5}))
        .await
        .problem(400, "BadRequestData");
    s.post(&q, &json!({"type": "Query", "attrs": "power"}))
        .await
        .problem(400, "BadRequestData");
    s.post(&q, &json!({"type": "Query", "geoQ": {"georel": "within"}}))
        .await
        .problem(400, "BadRequestData");
    s.post(
        &q,
        &json!({"type": "Query", "entities": [{"type": "A"}, {"type": "B"}]}),
    )
    .await
    .problem(422, "OperationNotSupported");
}

/// NGSI-LD §5.2.23: the `attrs` of a Query object also name the attributes returned, as the
/// `attrs` parameter of GET /entities does.
#[tokio::test]
async fn query_body_attrs_project_the_answer() {
    let s = Server::start().await;
    s.create_all(&[light(1, 10), light(2, 20)]).await;
    let r = s
        .post(
            &format!("{OPS}/query"),
            &json!({"type": "Query", "entities": [{"id": id(2)}], "attrs": ["power"]}),
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.json(),
        json!([{"id": id(2), "type": "Streetlight", "power": {"type": "Property", "value": 20}}])
    );
}
