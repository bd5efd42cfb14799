//! GET /jumeau/v1/map: every entity of an entity query in one simplified GeoJSON answer,
//! the same features as the pages of GET /ngsi-ld/v1/entities.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{Key, Server};
use reqwest::Method;
use serde_json::{json, Value};

/// More lamps than one page of /ngsi-ld/v1/entities holds (1,000 at most).
const LAMPS: usize = 1_250;

async fn lamps(s: &Server) {
    let all: Vec<Value> = (0..LAMPS)
        .map(|i| {
            json!({
                "id": format!("urn:ngsi-ld:Streetlight:map-{i:05}"),
                "type": "Streetlight",
                "name": {"type": "Property", "value": format!("Lamp {i}")},
                "status": {"type": "Property", "value": if i % 100 == 7 { "defectiveLamp" } else { "ok" }},
                "powerState": {"type": "Property", "value": "on"},
                "location": {"type": "GeoProperty", "value": {"type": "Point",
                    "coordinates": [5.0 + (i as f64) * 1e-4, 44.7]}},
            })
        })
        .collect();
    for chunk in all.chunks(500) {
        s.create_all(chunk).await;
    }
    s.create(&json!({"id": "urn:ngsi-ld:Building:map-1", "type": "Building"}))
        .await;
}

async fn geo(s: &Server, path: &str) -> common::Resp {
    s.send(
        s.req_as(Key::Reader, Method::GET, path)
            .header("Accept", "application/geo+json"),
    )
    .await
}

/// Features by id.
fn by_id(v: &Value) -> std::collections::BTreeMap<String, Value> {
    v["features"]
        .as_array()
        .unwrap_or_else(|| panic!("not a FeatureCollection: {v}"))
        .iter()
        .map(|f| (f["id"].as_str().unwrap().to_string(), f.clone()))
        .collect()
}

#[tokio::test]
async fn the_map_gets_every_entity_in_one_answer_as_the_pages_give_them() {
    let s = Server::start().await;
    lamps(&s).await;
    let r = geo(
        &s,
        "/jumeau/v1/map?type=Streetlight&pick=id,type,name,status",
    )
    .await;
    r.expect(200);
    assert_eq!(r.content_type(), "application/geo+json");
    assert_eq!(
        r.header("NGSILD-Results-Count").as_deref(),
        Some("1250"),
        "count header"
    );
    let whole = by_id(&r.json());
    assert_eq!(whole.len(), LAMPS);

    // The same features as the two pages of the standard query, simplified and picked.
    let mut paged = std::collections::BTreeMap::new();
    for offset in [0, 1000] {
        let p = geo(
            &s,
            &format!("/ngsi-ld/v1/entities?type=Streetlight&pick=id,type,name,status&options=keyValues&limit=1000&offset={offset}"),
        )
        .await;
        p.expect(200);
        paged.extend(by_id(&p.json()));
    }
    assert_eq!(whole, paged);
    let one = &whole["urn:ngsi-ld:Streetlight:map-00007"];
    assert_eq!(one["properties"]["status"], "defectiveLamp");
    assert_eq!(one["properties"]["name"], "Lamp 7");
    assert!(one["properties"].get("powerState").is_none(), "{one}");
    assert_eq!(one["geometry"]["type"], "Point");

    // Other query parameters select as they do on /ngsi-ld/v1/entities.
    let faults = geo(&s, "/jumeau/v1/map?type=Streetlight&q=status!=%22ok%22").await;
    faults.expect(200);
    assert_eq!(by_id(&faults.json()).len(), 13);
    let ids = geo(
        &s,
        "/jumeau/v1/map?id=urn:ngsi-ld:Streetlight:map-00001,urn:ngsi-ld:Building:map-1",
    )
    .await;
    ids.expect(200);
    assert_eq!(by_id(&ids.json()).len(), 2);
}

#[tokio::test]
async fn the_map_refuses_paging_and_needs_a_query() {
    let s = Server::start().await;
    lamps(&s).await;
    for q in ["limit=10", "offset=5", "count=true", "format=normalized"] {
        let r = geo(&s, &format!("/jumeau/v1/map?type=Streetlight&{q}")).await;
        r.problem(400, "BadRequestData");
    }
    geo(&s, "/jumeau/v1/map")
        .await
        .problem(400, "BadRequestData");
    // An unknown tenant is refused as on /ngsi-ld/v1/entities.
    let r = s
        .send(
            s.req_as(Key::Admin, Method::GET, "/jumeau/v1/map?type=Streetlight")
                .header("NGSILD-Tenant", "nowhere"),
        )
        .await;
    r.problem(404, "NonexistentTenant");
}
