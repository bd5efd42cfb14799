//! /ngsi-ld/v1/entities and its attribute endpoints: create, retrieve in every form,
//! replace, merge, delete, append, update, one-attribute operations and datasetIds.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{enc, Server};
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::{json, Value};

const ID: &str = "urn:ngsi-ld:Streetlight:paris-1";
const PATH: &str = "/ngsi-ld/v1/entities/urn:ngsi-ld:Streetlight:paris-1";

/// A streetlight in the normalized form, with one attribute of most kinds.
fn lamp() -> Value {
    json!({
        "id": ID,
        "type": "Streetlight",
        "powerState": {"type": "Property", "value": "on"},
        "luminousFlux": {
            "type": "Property", "value": 1800, "unitCode": "B62",
            "observedAt": "2024-03-01T12:00:00Z"
        },
        "refGroup": {"type": "Relationship", "object": "urn:ngsi-ld:StreetlightGroup:g1"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.3522, 48.8566]}},
        "name": {"type": "LanguageProperty", "languageMap": {"fr": "Lampadaire", "en": "Streetlight"}},
        "lamp": {"type": "Property", "value": "LED", "brand": {"type": "Property", "value": "Acme"}}
    })
}

async fn with_lamp() -> Server {
    let s = Server::start().await;
    s.create(&lamp()).await;
    s
}

/// The entity, as JSON, asserting 200.
async fn fetch(s: &Server, query: &str) -> Value {
    let r = s.get(&format!("{PATH}{query}")).await;
    r.expect(200);
    r.json()
}

#[tokio::test]
async fn create_answers_201_with_location_and_reads_back_normalized() {
    let s = Server::start().await;
    let r = s.post("/ngsi-ld/v1/entities", &lamp()).await;
    r.expect(201);
    assert_eq!(r.header("location").as_deref(), Some(PATH));
    assert_eq!(r.text, "");

    let r = s.get(PATH).await;
    r.expect(200);
    assert_eq!(r.content_type(), "application/json");
    let link = r.header("link").unwrap();
    assert!(link.contains(common::CORE_CONTEXT), "{link}");
    assert!(
        link.contains("rel=\"http://www.w3.org/ns/json-ld#context\""),
        "{link}"
    );
    assert_eq!(r.json(), lamp());
}

#[tokio::test]
async fn key_values_and_simplified_forms() {
    let s = with_lamp().await;
    let expected = json!({
        "id": ID,
        "type": "Streetlight",
        "powerState": "on",
        "luminousFlux": 1800,
        "refGroup": "urn:ngsi-ld:StreetlightGroup:g1",
        "location": {"type": "Point", "coordinates": [2.3522, 48.8566]},
        "name": {"languageMap": {"fr": "Lampadaire", "en": "Streetlight"}},
        "lamp": "LED"
    });
    assert_eq!(fetch(&s, "?options=keyValues").await, expected);
    assert_eq!(fetch(&s, "?options=simplified").await, expected);
    assert_eq!(fetch(&s, "?format=simplified").await, expected);
    assert_eq!(fetch(&s, "?format=keyValues").await, expected);
    assert_eq!(fetch(&s, "?options=normalized").await, lamp());
    assert_eq!(fetch(&s, "?format=normalized").await, lamp());
}

#[tokio::test]
async fn concise_form_leaves_out_redundant_types() {
    let s = with_lamp().await;
    let expected = json!({
        "id": ID,
        "type": "Streetlight",
        "powerState": "on",
        "luminousFlux": {"value": 1800, "unitCode": "B62", "observedAt": "2024-03-01T12:00:00Z"},
        "refGroup": {"object": "urn:ngsi-ld:StreetlightGroup:g1"},
        "location": {"type": "Point", "coordinates": [2.3522, 48.8566]},
        "name": {"languageMap": {"fr": "Lampadaire", "en": "Streetlight"}},
        "lamp": {"value": "LED", "brand": "Acme"}
    });
    assert_eq!(fetch(&s, "?options=concise").await, expected);
    assert_eq!(fetch(&s, "?format=concise").await, expected);

    // The concise form is accepted back as input and means the same entity.
    let mut again = expected.clone();
    again["id"] = json!("urn:ngsi-ld:Streetlight:paris-1-copy");
    s.create(&again).await;
    let mut copy = lamp();
    copy["id"] = json!("urn:ngsi-ld:Streetlight:paris-1-copy");
    let r = s.entity("urn:ngsi-ld:Streetlight:paris-1-copy").await;
    r.expect(200);
    assert_eq!(r.json(), copy);
}

#[tokio::test]
async fn sys_attrs_adds_timestamps_of_entity_and_attributes() {
    let s = with_lamp().await;
    let e = fetch(&s, "?options=sysAttrs").await;
    for v in [
        &e["createdAt"],
        &e["modifiedAt"],
        &e["powerState"]["createdAt"],
        &e["lamp"]["modifiedAt"],
    ] {
        let t = v
            .as_str()
            .unwrap_or_else(|| panic!("missing timestamp in {e}"));
        assert!(t.ends_with('Z') && t.len() >= 20, "{t}");
    }
    assert!(fetch(&s, "").await.get("createdAt").is_none());
    let kv = fetch(&s, "?options=keyValues,sysAttrs").await;
    assert!(kv["createdAt"].is_string());
    assert_eq!(kv["powerState"], json!("on"));
}

#[tokio::test]
async fn attrs_pick_and_omit_project_the_entity() {
    let s = with_lamp().await;
    assert_eq!(
        fetch(&s, "?attrs=powerState&options=keyValues").await,
        json!({"id": ID, "type": "Streetlight", "powerState": "on"})
    );
    assert_eq!(
        fetch(&s, "?pick=powerState,luminousFlux&options=keyValues").await,
        json!({"id": ID, "type": "Streetlight", "powerState": "on", "luminousFlux": 1800})
    );
    assert_eq!(
        fetch(
            &s,
            "?omit=luminousFlux,refGroup,location,name,lamp&options=keyValues"
        )
        .await,
        json!({"id": ID, "type": "Streetlight", "powerState": "on"})
    );
    // attrs and pick together keep what both name.
    assert_eq!(
        fetch(
            &s,
            "?attrs=powerState,lamp&pick=lamp,location&options=keyValues"
        )
        .await,
        json!({"id": ID, "type": "Streetlight", "lamp": "LED"})
    );
    // An unknown attribute projects to id and type only.
    assert_eq!(
        fetch(&s, "?attrs=nothing").await,
        json!({"id": ID, "type": "Streetlight"})
    );
}

#[tokio::test]
async fn lang_picks_one_language() {
    let s = with_lamp().await;
    let e = fetch(&s, "?lang=fr&attrs=name").await;
    assert_eq!(
        e["name"],
        json!({"type": "Property", "value": "Lampadaire", "lang": "fr"})
    );
    let e = fetch(&s, "?lang=en&attrs=name&options=keyValues").await;
    assert_eq!(e["name"], json!("Streetlight"));
}

#[tokio::test]
async fn retrieve_with_type_filter() {
    let s = with_lamp().await;
    assert_eq!(
        fetch(&s, "?type=Streetlight&attrs=powerState&options=keyValues").await["powerState"],
        json!("on")
    );
    let d = s
        .get(&format!("{PATH}?type=Cabinet"))
        .await
        .problem(404, "ResourceNotFound");
    assert!(d.contains("Cabinet"), "{d}");
}

#[tokio::test]
async fn duplicate_create_is_409_and_unknown_is_404() {
    let s = with_lamp().await;
    let mut other = lamp();
    other["powerState"]["value"] = json!("off");
    let d = s
        .post("/ngsi-ld/v1/entities", &other)
        .await
        .problem(409, "AlreadyExists");
    assert!(d.contains(ID), "{d}");
    // The first entity is untouched.
    assert_eq!(
        fetch(&s, "?options=keyValues").await["powerState"],
        json!("on")
    );

    let d = s
        .entity("urn:ngsi-ld:Streetlight:nowhere")
        .await
        .problem(404, "ResourceNotFound");
    assert!(d.contains("urn:ngsi-ld:Streetlight:nowhere"), "{d}");
    s.get("/ngsi-ld/v1/entities/not-a-uri")
        .await
        .problem(400, "BadRequestData");
}

#[tokio::test]
async fn replace_puts_a_whole_new_entity() {
    let s = with_lamp().await;
    let created = fetch(&s, "?options=sysAttrs").await["createdAt"].clone();
    let r = s
        .put(PATH, &json!({"type": "Streetlight", "powerState": {"type": "Property", "value": "off"}, "height": 8}))
        .await;
    r.expect(204);
    let e = fetch(&s, "?options=sysAttrs,keyValues").await;
    assert_eq!(e["createdAt"], created);
    let mut e = e;
    let obj = e.as_object_mut().unwrap();
    obj.remove("createdAt");
    obj.remove("modifiedAt");
    assert_eq!(
        e,
        json!({"id": ID, "type": "Streetlight", "powerState": "off", "height": 8})
    );

    // The id of the body, if given, must be the path's.
    let d = s
        .put(
            PATH,
            &json!({"id": "urn:ngsi-ld:Streetlight:other", "type": "Streetlight"}),
        )
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("urn:ngsi-ld:Streetlight:other"), "{d}");
    s.put(
        "/ngsi-ld/v1/entities/urn:ngsi-ld:Streetlight:nowhere",
        &json!({"type": "Streetlight"}),
    )
    .await
    .problem(404, "ResourceNotFound");
}

#[tokio::test]
async fn merge_patch_merges_adds_and_deletes_with_null() {
    let s = with_lamp().await;
    let r = s
        .patch(
            PATH,
            &json!({
                "powerState": "off",
                "lamp": null,
                "name": "urn:ngsi-ld:null",
                "luminousFlux": {"value": 2000},
                "height": {"type": "Property", "value": 8}
            }),
        )
        .await;
    r.expect(204);
    let e = fetch(&s, "").await;
    assert_eq!(e["powerState"], json!({"type": "Property", "value": "off"}));
    assert!(e.get("lamp").is_none(), "{e}");
    assert!(e.get("name").is_none(), "{e}");
    assert_eq!(e["height"], json!({"type": "Property", "value": 8}));
    // Metadata not given is kept.
    assert_eq!(
        e["luminousFlux"],
        json!({"type": "Property", "value": 2000, "unitCode": "B62", "observedAt": "2024-03-01T12:00:00Z"})
    );

    // application/merge-patch+json is accepted for PATCH.
    let r = s
        .send(
            s.req(Method::PATCH, PATH)
                .header(CONTENT_TYPE, "application/merge-patch+json")
                .body(r#"{"height": 9}"#),
        )
        .await;
    r.expect(204);
    assert_eq!(fetch(&s, "?options=keyValues").await["height"], json!(9));

    // Deleting an attribute that is not there is reported, naming it.
    let r = s.patch(PATH, &json!({"ghost": null, "height": 10})).await;
    r.expect(207);
    let body = r.json();
    assert_eq!(body["notUpdated"][0]["attributeName"], json!("ghost"));
    assert!(
        body["updated"]
            .as_array()
            .unwrap()
            .contains(&json!("height")),
        "{body}"
    );

    // Types given are added.
    s.patch(PATH, &json!({"type": "Device"})).await.expect(204);
    let types = fetch(&s, "?options=keyValues").await["type"].clone();
    assert_eq!(types, json!(["Device", "Streetlight"]));

    s.patch(
        "/ngsi-ld/v1/entities/urn:ngsi-ld:Streetlight:nowhere",
        &json!({"height": 1}),
    )
    .await
    .problem(404, "ResourceNotFound");
    s.patch(
        PATH,
        &json!({"id": "urn:ngsi-ld:Streetlight:other", "height": 1}),
    )
    .await
    .problem(400, "BadRequestData");
}

#[tokio::test]
async fn delete_entity() {
    let s = with_lamp().await;
    s.delete(PATH).await.expect(204);
    s.get(PATH).await.problem(404, "ResourceNotFound");
    s.delete(PATH).await.problem(404, "ResourceNotFound");
    s.delete("/ngsi-ld/v1/entities/no%20uri")
        .await
        .problem(400, "BadRequestData");
}

#[tokio::test]
async fn append_attributes_and_no_overwrite() {
    let s = with_lamp().await;
    let attrs = format!("{PATH}/attrs");
    s.post(
        &attrs,
        &json!({"color": {"type": "Property", "value": "white"}}),
    )
    .await
    .expect(204);
    assert_eq!(
        fetch(&s, "?options=keyValues").await["color"],
        json!("white")
    );

    // Overwrites by default.
    s.post(&attrs, &json!({"color": "warm white"}))
        .await
        .expect(204);
    assert_eq!(
        fetch(&s, "?options=keyValues").await["color"],
        json!("warm white")
    );

    let r = s
        .post(
            &format!("{attrs}?options=noOverwrite"),
            &json!({"color": "yellow", "height": 8}),
        )
        .await;
    r.expect(207);
    let body = r.json();
    assert_eq!(body["updated"], json!(["height"]));
    assert_eq!(body["notUpdated"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["notUpdated"][0]["attributeName"], json!("color"));
    assert!(
        body["notUpdated"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("noOverwrite"),
        "{body}"
    );
    let e = fetch(&s, "?options=keyValues").await;
    assert_eq!(e["color"], json!("warm white"));
    assert_eq!(e["height"], json!(8));

    s.post(&attrs, &json!({}))
        .await
        .problem(400, "BadRequestData");
    s.post(
        "/ngsi-ld/v1/entities/urn:ngsi-ld:X:none/attrs",
        &json!({"a": 1}),
    )
    .await
    .problem(404, "ResourceNotFound");
    s.post(&format!("{attrs}?options=bogus"), &json!({"a": 1}))
        .await
        .problem(400, "BadRequestData");
}

#[tokio::test]
async fn update_attributes_reports_unknown_ones() {
    let s = with_lamp().await;
    let attrs = format!("{PATH}/attrs");
    let r = s
        .patch(&attrs, &json!({"powerState": "off", "ghost": 1}))
        .await;
    r.expect(207);
    let body = r.json();
    assert_eq!(body["updated"], json!(["powerState"]));
    assert_eq!(body["notUpdated"][0]["attributeName"], json!("ghost"));
    assert!(body["notUpdated"][0]["reason"].is_string());
    let e = fetch(&s, "?options=keyValues").await;
    assert_eq!(e["powerState"], json!("off"));
    assert!(e.get("ghost").is_none(), "{e}");

    s.patch(
        &attrs,
        &json!({"powerState": {"type": "Property", "value": "on"}}),
    )
    .await
    .expect(204);
    assert_eq!(
        fetch(&s, "?options=keyValues").await["powerState"],
        json!("on")
    );
    s.patch(
        "/ngsi-ld/v1/entities/urn:ngsi-ld:X:none/attrs",
        &json!({"a": 1}),
    )
    .await
    .problem(404, "ResourceNotFound");
}

#[tokio::test]
async fn one_attribute_patch_put_delete() {
    let s = with_lamp().await;
    let a = format!("{PATH}/attrs/luminousFlux");
    s.patch(&a, &json!({"value": 1500})).await.expect(204);
    assert_eq!(
        fetch(&s, "").await["luminousFlux"],
        json!({"type": "Property", "value": 1500, "unitCode": "B62", "observedAt": "2024-03-01T12:00:00Z"})
    );
    // A bare value keeps the Relationship a Relationship.
    s.patch(
        &format!("{PATH}/attrs/refGroup"),
        &json!({"object": "urn:ngsi-ld:StreetlightGroup:g2"}),
    )
    .await
    .expect(204);
    assert_eq!(
        fetch(&s, "").await["refGroup"],
        json!({"type": "Relationship", "object": "urn:ngsi-ld:StreetlightGroup:g2"})
    );

    s.put(&a, &json!({"type": "Property", "value": 900}))
        .await
        .expect(204);
    assert_eq!(
        fetch(&s, "").await["luminousFlux"],
        json!({"type": "Property", "value": 900})
    );

    let d = s
        .patch(&format!("{PATH}/attrs/ghost"), &json!({"value": 1}))
        .await
        .problem(404, "ResourceNotFound");
    assert!(d.contains("ghost"), "{d}");
    s.put(&format!("{PATH}/attrs/ghost"), &json!({"value": 1}))
        .await
        .problem(404, "ResourceNotFound");
    s.delete(&format!("{PATH}/attrs/ghost"))
        .await
        .problem(404, "ResourceNotFound");

    s.delete(&a).await.expect(204);
    assert!(fetch(&s, "").await.get("luminousFlux").is_none());
    s.delete(&a).await.problem(404, "ResourceNotFound");
    s.patch(
        "/ngsi-ld/v1/entities/urn:ngsi-ld:X:none/attrs/a",
        &json!({"value": 1}),
    )
    .await
    .problem(404, "ResourceNotFound");
    // Two instances in the body of a one-instance endpoint.
    s.put(
        &format!("{PATH}/attrs/powerState"),
        &json!([{"value": 1}, {"value": 2, "datasetId": "urn:ngsi-ld:Dataset:x"}]),
    )
    .await
    .problem(400, "BadRequestData");
}

#[tokio::test]
async fn dataset_instances_and_delete_all() {
    let s = with_lamp().await;
    let temps = json!({"temperature": [
        {"type": "Property", "value": 20, "datasetId": "urn:ngsi-ld:Dataset:a"},
        {"type": "Property", "value": 21, "datasetId": "urn:ngsi-ld:Dataset:b"},
        {"type": "Property", "value": 19}
    ]});
    s.post(&format!("{PATH}/attrs"), &temps).await.expect(204);
    let e = fetch(&s, "?attrs=temperature").await;
    let list = e["temperature"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{e}");
    assert!(
        list.contains(
            &json!({"type": "Property", "value": 20, "datasetId": "urn:ngsi-ld:Dataset:a"})
        ),
        "{e}"
    );
    assert!(
        list.contains(&json!({"type": "Property", "value": 19})),
        "{e}"
    );
    assert_eq!(
        fetch(&s, "?attrs=temperature&options=keyValues").await["temperature"],
        json!({"dataset": {"urn:ngsi-ld:Dataset:a": 20, "urn:ngsi-ld:Dataset:b": 21, "@none": 19}})
    );

    // One instance, addressed by its datasetId.
    let a = format!("{PATH}/attrs/temperature");
    s.patch(
        &a,
        &json!({"value": 22, "datasetId": "urn:ngsi-ld:Dataset:b"}),
    )
    .await
    .expect(204);
    s.patch(
        &a,
        &json!({"value": 1, "datasetId": "urn:ngsi-ld:Dataset:zz"}),
    )
    .await
    .problem(404, "ResourceNotFound");
    s.delete(&format!("{a}?datasetId={}", enc("urn:ngsi-ld:Dataset:a")))
        .await
        .expect(204);
    assert_eq!(
        fetch(&s, "?attrs=temperature&options=keyValues").await["temperature"],
        json!({"dataset": {"urn:ngsi-ld:Dataset:b": 22, "@none": 19}})
    );
    s.delete(&format!("{a}?datasetId={}", enc("urn:ngsi-ld:Dataset:a")))
        .await
        .problem(404, "ResourceNotFound");
    s.delete(&format!("{a}?datasetId=not%20a%20uri"))
        .await
        .problem(400, "BadRequestData");
    s.delete(&format!("{a}?deleteAll=maybe"))
        .await
        .problem(400, "BadRequestData");

    // Without datasetId, the default instance goes.
    s.delete(&a).await.expect(204);
    assert_eq!(
        fetch(&s, "?attrs=temperature&options=keyValues").await["temperature"],
        json!(22)
    );
    s.post(&format!("{PATH}/attrs"), &temps).await.expect(204);
    s.delete(&format!("{a}?deleteAll=true")).await.expect(204);
    assert!(fetch(&s, "").await.get("temperature").is_none());

    // Two instances with the same datasetId are refused.
    let dup = json!({"t": [{"value": 1}, {"value": 2}]});
    let d = s
        .post(&format!("{PATH}/attrs"), &dup)
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("datasetId"), "{d}");
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let s = Server::start().await;
    s.get("/ngsi-ld/v1/nothing")
        .await
        .problem(404, "ResourceNotFound");
    s.get("/ngsi-ld/v1/csourceRegistrations")
        .await
        .problem(404, "ResourceNotFound");
    s.delete("/ngsi-ld/v1/entities")
        .await
        .problem(405, "MethodNotAllowed");
    s.get("/ngsi-ld/v1/entityOperations/create")
        .await
        .problem(405, "MethodNotAllowed");
    s.send(
        s.req(Method::POST, PATH)
            .header(CONTENT_TYPE, "application/json")
            .body("{}"),
    )
    .await
    .problem(405, "MethodNotAllowed");
}

#[tokio::test]
async fn ids_with_reserved_characters_round_trip_through_location() {
    let s = Server::start().await;
    for id in [
        "urn:ngsi-ld:Thing:a/b",
        "urn:ngsi-ld:Thing:a#b",
        "urn:ngsi-ld:Thing:a?b=c",
        "urn:ngsi-ld:Thing:100%25",
        "urn:ngsi-ld:Thing:é",
        "https://example.org/things/1",
    ] {
        let r = s
            .post(
                "/ngsi-ld/v1/entities",
                &json!({"id": id, "type": "Thing", "n": 1}),
            )
            .await;
        r.expect(201);
        let location = r.header("location").unwrap();
        let r = s.get(&location).await;
        r.expect(200);
        assert_eq!(r.json()["id"], json!(id), "{location}");
        s.patch(&format!("{location}/attrs/n"), &json!({"value": 2}))
            .await
            .expect(204);
        s.delete(&location).await.expect(204);
        s.entity(id).await.problem(404, "ResourceNotFound");
    }
}

#[tokio::test]
async fn partial_updates_keep_the_attribute_type() {
    let s = with_lamp().await;
    let d = s
        .patch(
            &format!("{PATH}/attrs/refGroup"),
            &json!({"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.0, 48.0]}}),
        )
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("Relationship"), "{d}");
    s.patch(
        &format!("{PATH}/attrs/refGroup"),
        &json!({"value": "not a uri"}),
    )
    .await
    .problem(400, "BadRequestData");
    s.patch(
        &format!("{PATH}/attrs/location"),
        &json!({"value": {"type": "Point", "coordinates": [2.0, 95.0]}}),
    )
    .await
    .problem(400, "BadRequestData");
    s.patch(
        &format!("{PATH}/attrs/location"),
        &json!({"value": {"type": "Point", "coordinates": [2.0, 48.0]}}),
    )
    .await
    .expect(204);
    assert_eq!(
        fetch(&s, "").await["location"],
        json!({"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.0, 48.0]}})
    );
    // PUT replaces the instance whole, type included.
    s.put(
        &format!("{PATH}/attrs/refGroup"),
        &json!({"type": "Property", "value": "none"}),
    )
    .await
    .expect(204);
    assert_eq!(
        fetch(&s, "").await["refGroup"],
        json!({"type": "Property", "value": "none"})
    );
}

#[tokio::test]
async fn relationships_with_an_object_array_read_back_as_sent() {
    let s = Server::start().await;
    let g = |n: u32| format!("urn:ngsi-ld:StreetlightGroup:g{n}");
    let mut doc = lamp();
    doc["refGroup"] = json!({"type": "Relationship", "object": [g(1), g(2)]});
    doc["refCabinet"] = json!({"type": "Relationship", "object": ["urn:ngsi-ld:Cabinet:c1"]});
    s.create(&doc).await;
    // Normalized: exactly the input, arrays kept as arrays (even of one object).
    assert_eq!(fetch(&s, "").await, doc);
    let concise = fetch(&s, "?options=concise").await;
    assert_eq!(concise["refGroup"], json!({"object": [g(1), g(2)]}));
    assert_eq!(
        concise["refCabinet"],
        json!({"object": ["urn:ngsi-ld:Cabinet:c1"]})
    );
    let kv = fetch(&s, "?options=keyValues").await;
    assert_eq!(kv["refGroup"], json!([g(1), g(2)]));
    assert_eq!(kv["refCabinet"], json!(["urn:ngsi-ld:Cabinet:c1"]));

    // Partial updates: an object or a bare value, one URI or an array.
    let a = format!("{PATH}/attrs/refGroup");
    s.patch(&a, &json!({"object": g(3)})).await.expect(204);
    assert_eq!(
        fetch(&s, "").await["refGroup"],
        json!({"type": "Relationship", "object": g(3)})
    );
    s.patch(&a, &json!({"value": [g(1), g(4)]}))
        .await
        .expect(204);
    assert_eq!(
        fetch(&s, "").await["refGroup"],
        json!({"type": "Relationship", "object": [g(1), g(4)]})
    );
    s.patch(&a, &json!({"object": [g(5), g(6)]}))
        .await
        .expect(204);
    assert_eq!(
        fetch(&s, "").await["refGroup"],
        json!({"type": "Relationship", "object": [g(5), g(6)]})
    );
    for bad in [json!([]), json!([g(1), "not a uri"]), json!([g(1), 7])] {
        s.patch(&a, &json!({"value": bad}))
            .await
            .problem(400, "BadRequestData");
        s.patch(&a, &json!({"object": bad}))
            .await
            .problem(400, "BadRequestData");
    }
    assert_eq!(
        fetch(&s, "").await["refGroup"],
        json!({"type": "Relationship", "object": [g(5), g(6)]})
    );

    // Every element is checked on creation; the detail names the attribute and the element.
    let mut bad = lamp();
    bad["id"] = json!("urn:ngsi-ld:Streetlight:paris-2");
    bad["refGroup"] = json!({"type": "Relationship", "object": [g(1), "not a uri"]});
    let d = s
        .post("/ngsi-ld/v1/entities", &bad)
        .await
        .problem(400, "BadRequestData");
    assert!(
        d.contains("'refGroup'") && d.contains("object[1]") && d.contains("not a uri"),
        "{d}"
    );
    bad["refGroup"] = json!({"type": "Relationship", "object": []});
    let d = s
        .post("/ngsi-ld/v1/entities", &bad)
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("'refGroup'") && d.contains("empty"), "{d}");
}
