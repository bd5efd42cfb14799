//! /ngsi-ld/v1/types and /ngsi-ld/v1/attributes: lists, details and 404s.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{enc, Server};
use serde_json::{json, Value};

async fn city() -> Server {
    let s = Server::start().await;
    s.create_all(&[
        json!({"id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight", "power": 10, "status": "on"}),
        json!({"id": "urn:ngsi-ld:Streetlight:2", "type": "Streetlight", "power": 20}),
        json!({"id": "urn:ngsi-ld:Cabinet:1", "type": "Cabinet", "power": 500, "door": "closed"}),
    ])
    .await;
    s
}

fn sorted_strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

const VOCAB: &str = common::DEFAULT_VOCAB;

#[tokio::test]
async fn types_list_and_details() {
    let s = city().await;
    let r = s.get("/ngsi-ld/v1/types").await;
    r.expect(200);
    assert_eq!(r.content_type(), "application/json");
    let body = r.json();
    assert_eq!(body["type"], json!("EntityTypeList"));
    assert_eq!(body["id"], json!("urn:ngsi-ld:EntityTypeList:default"));
    assert_eq!(
        sorted_strings(&body["typeList"]),
        vec!["Cabinet", "Streetlight"]
    );

    let r = s.get("/ngsi-ld/v1/types?details=true").await;
    r.expect(200);
    let mut list = r.json().as_array().unwrap().clone();
    list.sort_by_key(|t| t["typeName"].as_str().unwrap().to_string());
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], json!(format!("{VOCAB}Cabinet")));
    assert_eq!(list[0]["type"], json!("EntityType"));
    assert_eq!(
        sorted_strings(&list[0]["attributeNames"]),
        vec!["door", "power"]
    );
    assert_eq!(list[1]["typeName"], json!("Streetlight"));
    assert_eq!(
        sorted_strings(&list[1]["attributeNames"]),
        vec!["power", "status"]
    );
}

#[tokio::test]
async fn one_type() {
    let s = city().await;
    let r = s.get("/ngsi-ld/v1/types/Streetlight").await;
    r.expect(200);
    let body = r.json();
    assert_eq!(body["id"], json!(format!("{VOCAB}Streetlight")));
    assert_eq!(body["type"], json!("EntityTypeInfo"));
    assert_eq!(body["typeName"], json!("Streetlight"));
    assert_eq!(body["entityCount"], json!(2));
    let mut names: Vec<String> = body["attributeDetails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["attributeName"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, vec!["power", "status"]);
    assert_eq!(body["attributeDetails"][0]["type"], json!("Attribute"));

    // By full IRI too.
    let r = s
        .get(&format!(
            "/ngsi-ld/v1/types/{}",
            enc(&format!("{VOCAB}Cabinet"))
        ))
        .await;
    r.expect(200);
    assert_eq!(r.json()["entityCount"], json!(1));

    let d = s
        .get("/ngsi-ld/v1/types/Bench")
        .await
        .problem(404, "ResourceNotFound");
    assert!(d.contains("Bench"), "{d}");

    // The list follows deletions.
    s.delete("/ngsi-ld/v1/entities/urn:ngsi-ld:Cabinet:1")
        .await
        .expect(204);
    s.get("/ngsi-ld/v1/types/Cabinet")
        .await
        .problem(404, "ResourceNotFound");
    assert_eq!(
        sorted_strings(&s.get("/ngsi-ld/v1/types").await.json()["typeList"]),
        vec!["Streetlight"]
    );
}

#[tokio::test]
async fn attributes_list_and_details() {
    let s = city().await;
    let r = s.get("/ngsi-ld/v1/attributes").await;
    r.expect(200);
    let body = r.json();
    assert_eq!(body["type"], json!("AttributeList"));
    assert_eq!(body["id"], json!("urn:ngsi-ld:AttributeList:default"));
    assert_eq!(
        sorted_strings(&body["attributeList"]),
        vec!["door", "power", "status"]
    );

    let r = s.get("/ngsi-ld/v1/attributes?details=true").await;
    let list = r.json();
    let power = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["attributeName"] == json!("power"))
        .unwrap()
        .clone();
    assert_eq!(power["id"], json!(format!("{VOCAB}power")));
    assert_eq!(power["type"], json!("Attribute"));
    assert_eq!(power["attributeCount"], json!(3));
    assert_eq!(
        sorted_strings(&power["typeNames"]),
        vec!["Cabinet", "Streetlight"]
    );
    s.get("/ngsi-ld/v1/attributes?details=1")
        .await
        .problem(400, "BadRequestData");
}

#[tokio::test]
async fn one_attribute() {
    let s = city().await;
    let r = s.get("/ngsi-ld/v1/attributes/status").await;
    r.expect(200);
    let body = r.json();
    assert_eq!(body["attributeName"], json!("status"));
    assert_eq!(body["attributeCount"], json!(1));
    assert_eq!(body["typeNames"], json!(["Streetlight"]));
    let r = s
        .get("/ngsi-ld/v1/attributes/power?options=keyValues")
        .await;
    assert_eq!(r.json()["attributeCount"], json!(3));
    let d = s
        .get("/ngsi-ld/v1/attributes/height")
        .await
        .problem(404, "ResourceNotFound");
    assert!(d.contains("height"), "{d}");
}

#[tokio::test]
async fn types_and_attributes_of_an_unknown_tenant() {
    let s = city().await;
    for path in [
        "/ngsi-ld/v1/types",
        "/ngsi-ld/v1/types/Streetlight",
        "/ngsi-ld/v1/attributes",
        "/ngsi-ld/v1/attributes/power",
    ] {
        let r = s
            .send(
                s.req(reqwest::Method::GET, path)
                    .header("NGSILD-Tenant", "nowhere"),
            )
            .await;
        r.problem(404, "NonexistentTenant");
    }
    // An empty tenant answers empty lists.
    s.send(
        s.req_as(
            common::Key::Admin,
            reqwest::Method::PUT,
            "/jumeau/v1/tenants/empty",
        )
        .header("content-type", "application/json")
        .body(r#"{"public": false}"#),
    )
    .await
    .expect(200);
    let r = s
        .send(
            s.req(reqwest::Method::GET, "/ngsi-ld/v1/types")
                .header("NGSILD-Tenant", "empty"),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["typeList"], json!([]));
    assert_eq!(r.json()["id"], json!("urn:ngsi-ld:EntityTypeList:empty"));
    assert_eq!(r.header("ngsild-tenant").as_deref(), Some("empty"));
}
