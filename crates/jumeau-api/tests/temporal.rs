//! The temporal API end to end (/ngsi-ld/v1/temporal/...): history written by ordinary
//! entity updates and by bulk instances, the three temporal representations, calendar
//! aggregation in the tenant's time zone, deletions, the Query endpoint, the retention
//! policy endpoints, and a precise ProblemDetails for every kind of bad input.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{enc, link, Key, Server, SDM_STREETLIGHTING};
use reqwest::header::{ACCEPT, CONTENT_TYPE, LINK};
use reqwest::Method;
use serde_json::{json, Value};

const VEHICLE: &str = "urn:ngsi-ld:Vehicle:v1";
const METER: &str = "urn:ngsi-ld:WaterMeter:m1";

fn temporal(id: &str) -> String {
    format!("/ngsi-ld/v1/temporal/entities/{}", enc(id))
}

/// A Property instance observed at `at`.
fn reading(value: Value, at: &str) -> Value {
    json!({"type": "Property", "value": value, "observedAt": at})
}

/// GET, asserting 200, as JSON.
async fn get_ok(s: &Server, path: &str) -> Value {
    let r = s.get(path).await;
    r.expect(200);
    r.json()
}

/// The values of the normalized instances of an attribute, in order.
fn values(entity: &Value, attr: &str) -> Vec<Value> {
    entity[attr]
        .as_array()
        .unwrap_or_else(|| panic!("{attr} is not an array of instances: {entity}"))
        .iter()
        .map(|i| i["value"].clone())
        .collect()
}

/// The results of one method of an aggregated attribute: the first member of each triple.
fn aggregated(attr: &Value, method: &str) -> Vec<Value> {
    attr[method]
        .as_array()
        .unwrap_or_else(|| panic!("no {method} in {attr}"))
        .iter()
        .map(|t| t[0].clone())
        .collect()
}

/// A temporal entity with the given instances of `speed`, created with POST (201).
async fn create_vehicle(s: &Server, instances: Vec<Value>) {
    let body = json!({"id": VEHICLE, "type": "Vehicle", "speed": instances});
    s.post("/ngsi-ld/v1/temporal/entities", &body)
        .await
        .expect(201);
}

/// Hourly readings at half past each hour of `[start, start + hours)`, the value being the
/// hour's index.
fn hourly(start: &str, hours: i64) -> Vec<Value> {
    let t0 = chrono::DateTime::parse_from_rfc3339(start).unwrap();
    (0..hours)
        .map(|h| {
            let t = (t0 + chrono::TimeDelta::minutes(60 * h + 30))
                .with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            reading(json!(h), &t)
        })
        .collect()
}

async fn create_meter(s: &Server, instances: Vec<Value>) {
    let body = json!({"id": METER, "type": "WaterMeter", "volume": instances});
    s.post("/ngsi-ld/v1/temporal/entities", &body)
        .await
        .expect(201);
}

#[tokio::test]
async fn entity_updates_make_history() {
    let s = Server::start().await;
    s.create(&json!({
        "id": VEHICLE, "type": "Vehicle",
        "speed": reading(json!(50), "2026-03-28T10:00:00Z")
    }))
    .await;
    for (v, at) in [(60, "2026-03-28T10:05:00Z"), (70, "2026-03-28T10:10:00Z")] {
        s.patch(
            &format!("/ngsi-ld/v1/entities/{}/attrs", enc(VEHICLE)),
            &json!({"speed": reading(json!(v), at)}),
        )
        .await
        .expect(204);
    }
    let r = s.get(&temporal(VEHICLE)).await;
    r.expect(200);
    assert_eq!(r.content_type(), "application/json");
    assert!(r.header("link").unwrap().contains(common::CORE_CONTEXT));
    let e = r.json();
    assert_eq!(e["id"], json!(VEHICLE));
    assert_eq!(e["type"], json!("Vehicle"));
    assert_eq!(values(&e, "speed"), vec![json!(50), json!(60), json!(70)]);
    let first = &e["speed"][0];
    assert_eq!(first["type"], json!("Property"));
    assert_eq!(first["observedAt"], json!("2026-03-28T10:00:00Z"));
    assert!(
        first["instanceId"].as_str().unwrap().contains(':'),
        "{first}"
    );
    assert!(first.get("createdAt").is_none(), "no sysAttrs unless asked");
    let e = get_ok(&s, &format!("{}?options=sysAttrs", temporal(VEHICLE))).await;
    assert!(e["speed"][0]["createdAt"].is_string(), "{e}");
}

#[tokio::test]
async fn bulk_instances_with_duplicates_and_out_of_order() {
    let s = Server::start().await;
    create_vehicle(
        &s,
        vec![
            reading(json!(30), "2026-03-28T10:20:00Z"),
            reading(json!(10), "2026-03-28T10:00:00Z"),
            reading(json!(30), "2026-03-28T10:20:00Z"),
            reading(json!(20), "2026-03-28T10:10:00Z"),
        ],
    )
    .await;
    let e = get_ok(&s, &temporal(VEHICLE)).await;
    assert_eq!(
        values(&e, "speed"),
        vec![json!(10), json!(20), json!(30)],
        "ordered by time, the duplicate stored once"
    );
    // The entity exists in the twin with the latest instance as its current value.
    let current = s.entity(VEHICLE).await;
    current.expect(200);
    assert_eq!(current.json()["speed"]["value"], json!(30));

    // Posting the entity again appends (204), older instances included.
    let more = json!({"id": VEHICLE, "type": "Vehicle",
                      "speed": [reading(json!(5), "2026-03-28T09:50:00Z"),
                                reading(json!(20), "2026-03-28T10:10:00Z")]});
    s.post("/ngsi-ld/v1/temporal/entities", &more)
        .await
        .expect(204);
    // And POST …/attrs appends too.
    s.post(
        &format!("{}/attrs", temporal(VEHICLE)),
        &json!({"speed": [reading(json!(40), "2026-03-28T10:30:00Z")]}),
    )
    .await
    .expect(204);
    let e = get_ok(&s, &temporal(VEHICLE)).await;
    assert_eq!(
        values(&e, "speed"),
        vec![json!(5), json!(10), json!(20), json!(30), json!(40)]
    );
    // Appending to the history does not change the current state.
    assert_eq!(s.entity(VEHICLE).await.json()["speed"]["value"], json!(30));
}

#[tokio::test]
async fn last_n_and_time_ranges() {
    let s = Server::start().await;
    create_vehicle(
        &s,
        (0..6)
            .map(|i| reading(json!(i), &format!("2026-03-28T1{i}:00:00Z")))
            .collect(),
    )
    .await;
    let e = get_ok(&s, &format!("{}?lastN=2", temporal(VEHICLE))).await;
    assert_eq!(values(&e, "speed"), vec![json!(4), json!(5)]);

    let path = |q: &str| format!("{}?{q}", temporal(VEHICLE));
    let e = get_ok(&s, &path("timerel=before&timeAt=2026-03-28T11:30:00Z")).await;
    assert_eq!(values(&e, "speed"), vec![json!(0), json!(1)]);
    let e = get_ok(&s, &path("timerel=after&timeAt=2026-03-28T13:30:00Z")).await;
    assert_eq!(values(&e, "speed"), vec![json!(4), json!(5)]);
    let e = get_ok(
        &s,
        &path("timerel=between&timeAt=2026-03-28T11:30:00Z&endTimeAt=2026-03-28T13:30:00Z"),
    )
    .await;
    assert_eq!(values(&e, "speed"), vec![json!(2), json!(3)]);
    let e = get_ok(
        &s,
        &path("timerel=after&timeAt=2026-03-28T10:30:00Z&lastN=2"),
    )
    .await;
    assert_eq!(values(&e, "speed"), vec![json!(4), json!(5)]);

    // An entity without history in range is shown with its id and type only.
    let e = get_ok(&s, &path("timerel=before&timeAt=2020-01-01T00:00:00Z")).await;
    assert_eq!(e, json!({"id": VEHICLE, "type": "Vehicle"}));

    // The query endpoint: an entity filter, or timerel alone.
    let list = get_ok(
        &s,
        "/ngsi-ld/v1/temporal/entities?type=Vehicle&timerel=after&timeAt=2026-03-28T14:30:00Z",
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(values(&list[0], "speed"), vec![json!(5)]);
    let list = get_ok(
        &s,
        "/ngsi-ld/v1/temporal/entities?timerel=before&timeAt=2026-03-28T10:30:00Z",
    )
    .await;
    assert_eq!(values(&list[0], "speed"), vec![json!(0)]);
    let r = s
        .get("/ngsi-ld/v1/temporal/entities?type=Vehicle&count=true&lastN=1")
        .await;
    r.expect(200);
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("1"));
    // A type expression and an attrs filter select on the current state.
    let list = get_ok(
        &s,
        "/ngsi-ld/v1/temporal/entities?type=Vehicle|Bus&attrs=speed&lastN=1",
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let list = get_ok(&s, "/ngsi-ld/v1/temporal/entities?type=Bus&lastN=1").await;
    assert_eq!(list, json!([]));
    let list = get_ok(&s, "/ngsi-ld/v1/temporal/entities?q=speed>100&lastN=1").await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn temporal_values_pairs() {
    let s = Server::start().await;
    let body = json!({
        "id": VEHICLE, "type": "Vehicle",
        "speed": [reading(json!(10), "2026-03-28T10:00:00Z"),
                  reading(json!(20), "2026-03-28T10:10:00Z")],
        "driver": [{"type": "Relationship", "object": "urn:ngsi-ld:Person:p1",
                    "observedAt": "2026-03-28T10:00:00Z"}]
    });
    s.post("/ngsi-ld/v1/temporal/entities", &body)
        .await
        .expect(201);
    let e = get_ok(&s, &format!("{}?options=temporalValues", temporal(VEHICLE))).await;
    assert_eq!(
        e["speed"],
        json!({"type": "Property",
               "values": [[10, "2026-03-28T10:00:00Z"], [20, "2026-03-28T10:10:00Z"]]})
    );
    assert_eq!(
        e["driver"],
        json!({"type": "Relationship",
               "objects": [["urn:ngsi-ld:Person:p1", "2026-03-28T10:00:00Z"]]})
    );
    let e = get_ok(
        &s,
        &format!("{}?options=temporalValues&attrs=driver", temporal(VEHICLE)),
    )
    .await;
    assert!(e.get("speed").is_none(), "attrs restricts: {e}");
    // Aggregating the whole entity: the relationship is counted, the speed computed.
    let e = get_ok(
        &s,
        &format!(
            "{}?options=aggregatedValues&aggrMethods=totalCount,max",
            temporal(VEHICLE)
        ),
    )
    .await;
    assert_eq!(aggregated(&e["speed"], "max"), vec![json!(20)]);
    assert_eq!(aggregated(&e["driver"], "totalCount"), vec![json!(1)]);
    assert_eq!(e["driver"]["type"], json!("Relationship"));
    assert!(e["driver"].get("max").is_none(), "{e}");
}

#[tokio::test]
async fn aggregated_values_with_each_method() {
    let s = Server::start().await;
    create_meter(
        &s,
        [1, 2, 2, 3, 4]
            .iter()
            .enumerate()
            .map(|(i, v)| reading(json!(v), &format!("2026-03-10T0{}:00:00Z", i + 1)))
            .collect(),
    )
    .await;
    let e = get_ok(
        &s,
        &format!(
            "{}?options=aggregatedValues&aggrMethods=totalCount,distinctCount,sum,avg,min,max,stddev,sumsq\
             &aggrPeriodDuration=P1D&timerel=between&timeAt=2026-03-09T23:00:00Z&endTimeAt=2026-03-10T23:00:00Z",
            temporal(METER)
        ),
    )
    .await;
    let volume = &e["volume"];
    assert_eq!(volume["type"], json!("Property"));
    let one = |m: &str| {
        let v = aggregated(volume, m);
        assert_eq!(v.len(), 1, "one day for {m}: {volume}");
        v[0].as_f64().unwrap()
    };
    assert_eq!(one("totalCount"), 5.0);
    assert_eq!(one("distinctCount"), 4.0);
    assert_eq!(one("sum"), 12.0);
    assert!((one("avg") - 2.4).abs() < 1e-9);
    assert_eq!(one("min"), 1.0);
    assert_eq!(one("max"), 4.0);
    assert!((one("stddev") - 1.04_f64.sqrt()).abs() < 1e-9);
    assert_eq!(one("sumsq"), 34.0);
    let triple = &volume["sum"][0];
    assert!(triple[1].is_string() && triple[2].is_string(), "{triple}");
}

#[tokio::test]
async fn calendar_days_follow_the_paris_daylight_saving_change() {
    let s = Server::start().await;
    // Local days of 2026-03-28 (24 h) and 2026-03-29 (23 h: clocks go forward).
    create_meter(&s, hourly("2026-03-28T00:00:00+01:00", 47)).await;
    let e = get_ok(
        &s,
        &format!(
            "{}?options=aggregatedValues&aggrMethods=totalCount&aggrPeriodDuration=P1D\
             &timerel=between&timeAt=2026-03-27T23:00:00Z&endTimeAt=2026-03-29T22:00:00Z",
            temporal(METER)
        ),
    )
    .await;
    let days = e["volume"]["totalCount"].as_array().unwrap().clone();
    assert_eq!(
        aggregated(&e["volume"], "totalCount"),
        vec![json!(24), json!(23)]
    );
    assert_eq!(days[0][2], json!("2026-03-28T23:00:00Z"), "Paris midnight");
    assert_eq!(days[1][1], json!("2026-03-28T23:00:00Z"));

    // P1M: March and April in Paris time.
    let s = Server::start().await;
    create_meter(
        &s,
        ["2026-03-30", "2026-03-31", "2026-04-01", "2026-04-02"]
            .iter()
            .map(|d| reading(json!(1), &format!("{d}T10:00:00Z")))
            .collect(),
    )
    .await;
    let e = get_ok(
        &s,
        &format!(
            "{}?options=aggregatedValues&aggrMethods=totalCount,sum&aggrPeriodDuration=P1M\
             &timerel=between&timeAt=2026-03-01T00:00:00Z&endTimeAt=2026-05-01T00:00:00Z",
            temporal(METER)
        ),
    )
    .await;
    let months = e["volume"]["totalCount"].as_array().unwrap().clone();
    assert_eq!(
        aggregated(&e["volume"], "totalCount"),
        vec![json!(2), json!(2)]
    );
    assert_eq!(months[0][2], json!("2026-03-31T22:00:00Z"), "{months:?}");
    assert_eq!(months[1][1], json!("2026-03-31T22:00:00Z"), "{months:?}");
}

#[tokio::test]
async fn tenant_time_zone_changes_calendar_days() {
    let s = Server::start().await;
    let tenant_path = "/jumeau/v1/tenants/default";
    create_meter(&s, hourly("2026-03-28T00:00:00+01:00", 47)).await;
    let t = get_ok(&s, tenant_path).await;
    assert_eq!(t["timeZone"], json!("Europe/Paris"));
    let put = |body: Value, key: Key| {
        let rb = s
            .req_as(key, Method::PUT, tenant_path)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        s.send(rb)
    };
    let d = put(json!({"timeZone": "Mars/Olympus"}), Key::Admin)
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("IANA time zone"), "{d}");
    put(json!({"timeZone": "UTC"}), Key::Editor)
        .await
        .problem(403, "Forbidden");
    put(json!({"timeZone": "UTC"}), Key::None)
        .await
        .problem(401, "Unauthorized");
    let r = put(json!({"timeZone": "UTC"}), Key::Admin).await;
    r.expect(200);
    assert_eq!(r.json()["timeZone"], json!("UTC"));
    assert_eq!(r.json()["public"], json!(false), "public left as it was");
    assert_eq!(get_ok(&s, tenant_path).await["timeZone"], json!("UTC"));
    let e = get_ok(
        &s,
        &format!(
            "{}?options=aggregatedValues&aggrMethods=totalCount&aggrPeriodDuration=P1D\
             &timerel=between&timeAt=2026-03-27T23:00:00Z&endTimeAt=2026-03-29T22:00:00Z",
            temporal(METER)
        ),
    )
    .await;
    assert_eq!(
        aggregated(&e["volume"], "totalCount"),
        vec![json!(1), json!(24), json!(22)],
        "UTC days"
    );
}

#[tokio::test]
async fn deletions() {
    let s = Server::start().await;
    let body = json!({
        "id": VEHICLE, "type": "Vehicle",
        "speed": [reading(json!(10), "2026-03-28T10:00:00Z"),
                  reading(json!(20), "2026-03-28T10:10:00Z"),
                  {"type": "Property", "value": 99, "observedAt": "2026-03-28T10:00:00Z",
                   "datasetId": "urn:ngsi-ld:Dataset:gps"}],
        "heading": [reading(json!(90), "2026-03-28T10:00:00Z")]
    });
    s.post("/ngsi-ld/v1/temporal/entities", &body)
        .await
        .expect(201);
    let e = get_ok(&s, &temporal(VEHICLE)).await;
    assert_eq!(e["speed"].as_array().unwrap().len(), 3);
    let instance = e["speed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["value"] == json!(10))
        .unwrap()["instanceId"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("{}/attrs/speed/{}", temporal(VEHICLE), enc(&instance));
    s.send(s.req_as(Key::None, Method::DELETE, &path))
        .await
        .problem(401, "Unauthorized");
    s.delete(&path).await.expect(204);
    s.delete(&path).await.problem(404, "ResourceNotFound");
    let e = get_ok(&s, &temporal(VEHICLE)).await;
    let mut left: Vec<i64> = values(&e, "speed")
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, vec![20, 99], "{e}");

    // The instances of one datasetId, then all of an attribute.
    s.delete(&format!(
        "{}/attrs/speed?datasetId={}",
        temporal(VEHICLE),
        enc("urn:ngsi-ld:Dataset:gps")
    ))
    .await
    .expect(204);
    assert_eq!(
        values(&get_ok(&s, &temporal(VEHICLE)).await, "speed"),
        vec![json!(20)]
    );
    s.delete(&format!(
        "{}/attrs/heading?deleteAll=true",
        temporal(VEHICLE)
    ))
    .await
    .expect(204);
    s.delete(&format!("{}/attrs/heading", temporal(VEHICLE)))
        .await
        .problem(404, "ResourceNotFound");
    let e = get_ok(&s, &temporal(VEHICLE)).await;
    assert!(e.get("heading").is_none(), "{e}");

    // The whole entity: history and current state.
    s.delete(&temporal(VEHICLE)).await.expect(204);
    s.get(&temporal(VEHICLE))
        .await
        .problem(404, "ResourceNotFound");
    s.entity(VEHICLE).await.problem(404, "ResourceNotFound");
    s.delete(&temporal(VEHICLE))
        .await
        .problem(404, "ResourceNotFound");
}

#[tokio::test]
async fn entity_operations_query() {
    let s = Server::start().await;
    create_vehicle(
        &s,
        vec![
            reading(json!(10), "2026-03-28T10:00:00Z"),
            reading(json!(20), "2026-03-28T11:00:00Z"),
        ],
    )
    .await;
    create_meter(&s, vec![reading(json!(1), "2026-03-28T10:00:00Z")]).await;
    let query = json!({
        "type": "Query",
        "entities": [{"type": "Vehicle"}],
        "temporalQ": {"timerel": "after", "timeAt": "2026-03-28T10:30:00Z"}
    });
    let r = s
        .post("/ngsi-ld/v1/temporal/entityOperations/query", &query)
        .await;
    r.expect(200);
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], json!(VEHICLE));
    assert_eq!(values(&list[0], "speed"), vec![json!(20)]);
    let r = s
        .post(
            "/ngsi-ld/v1/temporal/entityOperations/query?options=temporalValues",
            &json!({"type": "Query", "attrs": ["volume"],
                    "temporalQ": {"timerel": "before", "timeAt": "2026-03-29T00:00:00Z"}}),
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.json(),
        json!([{"id": METER, "type": "WaterMeter",
                "volume": {"type": "Property", "values": [[1, "2026-03-28T10:00:00Z"]]}}])
    );
    let d = s
        .post(
            "/ngsi-ld/v1/temporal/entityOperations/query",
            &json!({"type": "Query", "temporalQ": {"timerel": "after"}}),
        )
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("timerel without timeAt"), "{d}");
    s.post(
        "/ngsi-ld/v1/temporal/entityOperations/query",
        &json!({"type": "Subscription"}),
    )
    .await
    .problem(400, "BadRequestData");
}

#[tokio::test]
async fn names_are_compacted_with_the_callers_context() {
    let s = Server::start().await;
    let body = json!({
        "@context": SDM_STREETLIGHTING,
        "id": "urn:ngsi-ld:Streetlight:s1", "type": "Streetlight",
        "powerState": [reading(json!("on"), "2026-03-28T18:00:00Z"),
                       reading(json!("off"), "2026-03-29T07:00:00Z")]
    });
    s.json_ld(Method::POST, "/ngsi-ld/v1/temporal/entities", &body)
        .await
        .expect(201);
    let path = temporal("urn:ngsi-ld:Streetlight:s1");
    // With the core context only, the names are full IRIs.
    let e = get_ok(&s, &path).await;
    assert!(
        e["https://smartdatamodels.org/dataModel.Streetlighting/powerState"].is_array(),
        "{e}"
    );
    assert_eq!(
        e["type"],
        json!("https://smartdatamodels.org/dataModel.Streetlighting/Streetlight")
    );
    // With the Smart Data Models context in a Link header, the terms.
    let r = s
        .send(
            s.req(Method::GET, &format!("{path}?options=temporalValues"))
                .header(LINK, link(SDM_STREETLIGHTING)),
        )
        .await;
    r.expect(200);
    let e = r.json();
    assert_eq!(e["type"], json!("Streetlight"));
    assert_eq!(
        e["powerState"]["values"],
        json!([
            ["on", "2026-03-28T18:00:00Z"],
            ["off", "2026-03-29T07:00:00Z"]
        ])
    );
    assert!(r.header("link").unwrap().contains(SDM_STREETLIGHTING));
    // As JSON-LD, the context is in the body; attrs is expanded with the Link context.
    let r = s
        .send(
            s.req(
                Method::GET,
                "/ngsi-ld/v1/temporal/entities?type=Streetlight&attrs=powerState&lastN=1",
            )
            .header(LINK, link(SDM_STREETLIGHTING))
            .header(ACCEPT, "application/ld+json"),
        )
        .await;
    r.expect(200);
    assert_eq!(r.content_type(), "application/ld+json");
    let list = r.json();
    assert_eq!(list[0]["@context"], json!(SDM_STREETLIGHTING));
    assert_eq!(values(&list[0], "powerState"), vec![json!("off")]);
    // GeoJSON is not a temporal representation.
    s.send(
        s.req(Method::GET, &path)
            .header(ACCEPT, "application/geo+json"),
    )
    .await
    .problem(406, "NotAcceptable");
}

#[tokio::test]
async fn retention_policies() {
    let s = Server::start().await;
    create_meter(&s, vec![reading(json!(1), "2026-03-28T10:00:00Z")]).await;
    let path = "/jumeau/v1/tenants/default/retention";
    let r = get_ok(&s, path).await;
    assert!(r["policies"].is_array() && r["reports"].is_array(), "{r}");
    let put = |body: Value, key: Key| {
        s.send(
            s.req_as(key, Method::PUT, path)
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string()),
        )
    };
    let policy = json!({"policies": [
        {"entityType": "WaterMeter", "rawDays": 396, "hourlyDays": 3653, "dailyDays": null},
        {"rawDays": 800}
    ]});
    put(policy.clone(), Key::None)
        .await
        .problem(401, "Unauthorized");
    put(policy.clone(), Key::Editor)
        .await
        .problem(403, "Forbidden");
    let d = put(json!({"policies": [{"rawDays": 0}]}), Key::Admin)
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("rawDays"), "{d}");
    let d = put(json!({"policies": [{"keep": 3}]}), Key::Admin)
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("'keep'"), "{d}");
    let r = put(policy, Key::Admin).await;
    r.expect(200);
    let policies = get_ok(&s, path).await["policies"].clone();
    let meter = policies
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["entityType"] == json!("WaterMeter"))
        .unwrap_or_else(|| panic!("{policies}"));
    assert_eq!(meter["rawDays"], json!(396));
    assert_eq!(meter["hourlyDays"], json!(3653));
    assert!(policies
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["entityType"].is_null() && p["rawDays"] == json!(800)));
    s.get("/jumeau/v1/tenants/nowhere/retention")
        .await
        .problem(404, "NonexistentTenant");
}

#[tokio::test]
async fn bad_queries_are_precise_problems() {
    let s = Server::start().await;
    create_vehicle(&s, vec![reading(json!(10), "2026-03-28T10:00:00Z")]).await;
    s.post(
        "/ngsi-ld/v1/temporal/entities",
        &json!({"id": "urn:ngsi-ld:Lamp:l1", "type": "Lamp",
                "status": [reading(json!("on"), "2026-03-28T10:00:00Z")]}),
    )
    .await
    .expect(201);
    let bad = |q: &'static str, needle: &'static str| {
        let path = format!("{}?{q}", temporal(VEHICLE));
        let s = &s;
        async move {
            let d = s.get(&path).await.problem(400, "BadRequestData");
            assert!(d.contains(needle), "{q}: {d}");
        }
    };
    bad(
        "options=aggregatedValues&aggrMethods=sum&aggrPeriodDuration=P1X",
        "aggrPeriodDuration",
    )
    .await;
    bad("timerel=after", "timerel without timeAt").await;
    bad(
        "timerel=between&timeAt=2026-03-28T00:00:00Z",
        "between without endTimeAt",
    )
    .await;
    bad("timerel=during&timeAt=2026-03-28T00:00:00Z", "'during'").await;
    bad("timerel=after&timeAt=yesterday", "'yesterday'").await;
    bad("lastN=0", "lastN").await;
    bad("lastN=100001", "lastN").await;
    bad("options=aggregatedValues&aggrMethods=median", "'median'").await;
    bad(
        "options=aggregatedValues",
        "aggregatedValues without aggrMethods",
    )
    .await;
    bad("timeproperty=observedat", "'observedat'").await;
    bad("options=fancy", "'fancy'").await;
    let d = s
        .get(&format!(
            "{}?options=aggregatedValues&aggrMethods=avg",
            temporal("urn:ngsi-ld:Lamp:l1")
        ))
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("aggregation of text values"), "{d}");
    assert!(d.contains("status"), "{d}");
    let d = s
        .get("/ngsi-ld/v1/temporal/entities?lastN=1")
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("needs timerel"), "{d}");
    s.get(&temporal("urn:ngsi-ld:Vehicle:none"))
        .await
        .problem(404, "ResourceNotFound");
    s.get(&temporal("not an id"))
        .await
        .problem(400, "BadRequestData");
    s.send(
        s.req(Method::GET, &temporal(VEHICLE))
            .header("NGSILD-Tenant", "nowhere"),
    )
    .await
    .problem(404, "NonexistentTenant");
    s.send(s.req_as(
        Key::None,
        Method::GET,
        "/ngsi-ld/v1/temporal/entities?type=Vehicle",
    ))
    .await
    .problem(401, "Unauthorized");
}

#[tokio::test]
async fn bad_instances_are_precise_problems() {
    let s = Server::start().await;
    let s = &s;
    let post = |body: Value| async move { s.post("/ngsi-ld/v1/temporal/entities", &body).await };
    let d = post(json!({"id": VEHICLE, "type": "Vehicle",
                        "speed": [reading(json!(1), "2026-03-28T10:00:00Z"),
                                  {"type": "Property", "value": 2}]}))
    .await
    .problem(400, "BadRequestData");
    assert!(
        d.contains("instance 2 of attribute 'speed' has no observedAt"),
        "{d}"
    );
    let d = post(json!({"id": VEHICLE, "type": "Vehicle",
                        "speed": [{"type": "Propriety", "value": 1,
                                   "observedAt": "2026-03-28T10:00:00Z"}]}))
    .await
    .problem(400, "BadRequestData");
    assert!(d.contains("Propriety"), "{d}");
    let d = post(json!({"id": VEHICLE, "type": "Vehicle",
                        "speed": [{"type": "Property", "value": 1, "observedAt": 12}]}))
    .await
    .problem(400, "BadRequestData");
    assert!(d.contains("observedAt"), "{d}");
    let d = post(json!({"id": VEHICLE, "speed": [reading(json!(1), "2026-03-28T10:00:00Z")]}))
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("no 'type'"), "{d}");
    post(json!([1, 2])).await.problem(400, "BadRequestData");
    s.send(
        s.req_as(Key::None, Method::POST, "/ngsi-ld/v1/temporal/entities")
            .header(CONTENT_TYPE, "application/json")
            .body(json!({"id": VEHICLE, "type": "Vehicle"}).to_string()),
    )
    .await
    .problem(401, "Unauthorized");
    s.send(
        s.req_as(Key::Reader, Method::POST, "/ngsi-ld/v1/temporal/entities")
            .header(CONTENT_TYPE, "application/json")
            .body(json!({"id": VEHICLE, "type": "Vehicle"}).to_string()),
    )
    .await
    .problem(403, "Forbidden");
    // Appending to an entity that does not exist.
    s.post(
        &format!("{}/attrs", temporal("urn:ngsi-ld:Vehicle:none")),
        &json!({"speed": [reading(json!(1), "2026-03-28T10:00:00Z")]}),
    )
    .await
    .problem(404, "ResourceNotFound");
    let d = s
        .post(
            &format!("{}/attrs", temporal(VEHICLE)),
            &json!({"speed": [{"type": "Property", "value": 1}]}),
        )
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("observedAt"), "{d}");
    s.send(s.req_as(Key::None, Method::DELETE, &temporal(VEHICLE)))
        .await
        .problem(401, "Unauthorized");
}

#[tokio::test]
async fn ids_patterns_and_geo_queries_select_on_the_current_state() {
    let s = Server::start().await;
    for (n, lon) in [(1, 2.35), (2, 5.72)] {
        let body = json!({
            "id": format!("urn:ngsi-ld:Vehicle:g{n}"), "type": "Vehicle",
            "speed": [reading(json!(n), "2026-03-28T10:00:00Z")],
            "location": [{"type": "GeoProperty",
                          "value": {"type": "Point", "coordinates": [lon, 45.0]},
                          "observedAt": "2026-03-28T10:00:00Z"}]
        });
        s.post("/ngsi-ld/v1/temporal/entities", &body)
            .await
            .expect(201);
    }
    let ids = |list: &Value| common::ids_of(list);
    let list = get_ok(
        &s,
        &format!(
            "/ngsi-ld/v1/temporal/entities?georel={}&geometry=Point&coordinates={}&attrs=speed",
            enc("near;maxDistance==10000"),
            enc("[2.35,45.0]")
        ),
    )
    .await;
    assert_eq!(ids(&list), vec!["urn:ngsi-ld:Vehicle:g1"]);
    let list = get_ok(
        &s,
        &format!(
            "/ngsi-ld/v1/temporal/entities?idPattern={}&lastN=1",
            enc("g2$")
        ),
    )
    .await;
    assert_eq!(ids(&list), vec!["urn:ngsi-ld:Vehicle:g2"]);
    let list = get_ok(
        &s,
        &format!(
            "/ngsi-ld/v1/temporal/entities?id={}&attrs=speed&lastN=1",
            enc("urn:ngsi-ld:Vehicle:g1,urn:ngsi-ld:Vehicle:g2")
        ),
    )
    .await;
    let mut got = ids(&list);
    got.sort();
    assert_eq!(
        got,
        common::sorted(&["urn:ngsi-ld:Vehicle:g1", "urn:ngsi-ld:Vehicle:g2"])
    );
    assert!(list[0].get("location").is_none(), "attrs=speed: {list}");
    let r = s
        .post(
            "/ngsi-ld/v1/temporal/entityOperations/query",
            &json!({"type": "Query",
                    "geoQ": {"georel": "near;maxDistance==10000", "geometry": "Point",
                             "coordinates": [5.72, 45.0]},
                    "temporalQ": {"timerel": "before", "timeAt": "2026-03-29T00:00:00Z"}}),
        )
        .await;
    r.expect(200);
    assert_eq!(ids(&r.json()), vec!["urn:ngsi-ld:Vehicle:g2"]);
    // A location history is kept like any attribute.
    let e = get_ok(&s, &temporal("urn:ngsi-ld:Vehicle:g2")).await;
    assert_eq!(e["location"][0]["type"], json!("GeoProperty"));
}
