//! Sensor ingestion through the real server: ChirpStack and The Things Stack messages over
//! HTTP and through a real Mosquitto broker, the generic batch endpoint, deduplication, late
//! readings, dead letters and their replay, counters, stale devices, and restarts of Jumeau
//! and of the broker with a count check that nothing acknowledged was lost.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{enc, link, Key, Server, ADMIN_KEY};
use jumeau_api::{ApiConfig, App};
use jumeau_ingest::{IngestConfig, MqttSource};
use jumeau_store::sqlite::{SqliteOptions, SqliteStore};
use jumeau_twin::Twin;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::{json, Value};

const DEVICE_CONTEXT: &str = jumeau_ingest::service::DEVICE_CONTEXT;

/// A ChirpStack v4 `up` event (JSON encoding, as the HTTP integration posts it).
fn chirpstack_up(dev_eui: &str, f_cnt: u32, time: &str, object: Value, gateway: &str) -> Value {
    json!({
        "deduplicationId": format!("00000000-0000-0000-0000-{f_cnt:012}"),
        "time": time,
        "deviceInfo": {
            "tenantId": "t", "tenantName": "", "applicationId": "a", "applicationName": "",
            "deviceProfileId": "", "deviceProfileName": "Elsys ERS CO2", "deviceName": "",
            "devEui": dev_eui, "deviceClassEnabled": "CLASS_A", "tags": {}
        },
        "devAddr": "", "adr": false, "dr": 0, "fCnt": f_cnt, "fPort": 1, "confirmed": false,
        "data": "AQDiBgMI",
        "object": object,
        "rxInfo": [{"gatewayId": gateway, "rssi": -36, "snr": 10.5, "crcStatus": "CRC_OK"}],
        "regionConfigId": ""
    })
}

/// A The Things Stack v3 `uplink_message` without decoded payload (DevEUI upper case, zero
/// fields omitted as The Things Stack does).
fn tts_up(dev_eui_upper: &str, f_cnt: u32, received_at: &str, payload_b64: &str) -> Value {
    let mut up = json!({
        "frm_payload": payload_b64,
        "f_port": 1,
        "rx_metadata": [{"gateway_ids": {"gateway_id": "gtw1"}, "rssi": -90, "snr": 5}],
        "received_at": received_at
    });
    if f_cnt > 0 {
        up["f_cnt"] = json!(f_cnt);
    }
    json!({
        "end_device_ids": {
            "device_id": "dev1",
            "application_ids": {"application_id": "app1"},
            "dev_eui": dev_eui_upper
        },
        "received_at": received_at,
        "uplink_message": up
    })
}

fn generic_up(dev_eui: &str, f_cnt: u32, time: &str, object: Value) -> Value {
    json!({"devEui": dev_eui, "time": time, "fCnt": f_cnt, "object": object,
           "gatewayId": "0016c001f153a14d", "rssi": -100, "snr": -3.5})
}

fn room(dev_eui: &str, entity: &str) -> Value {
    json!({
        "devEui": dev_eui,
        "entityId": entity,
        "entityType": "Room",
        "profile": "elsys/ers-co2",
        "mappings": [
            {"field": "temperature", "attribute": "temperature", "unitCode": "CEL", "min": -40, "max": 85},
            {"field": "co2", "attribute": "co2", "unitCode": "59", "min": 0, "max": 10000},
            {"field": "humidity", "attribute": "relativeHumidity", "unitCode": "P1", "scale": 0.01, "min": 0, "max": 1},
            {"field": "seq", "attribute": "sequence"}
        ]
    })
}

async fn register(s: &Server, device: Value) {
    let r = s.post("/ingest/devices", &device).await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
}

/// Polls `f` every 20 ms until it returns Some, for at most 20 s.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..1000 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// An entity in keyValues form, once it exists and `pred` holds.
async fn entity_when(
    s: &Server,
    id: &str,
    ctx: Option<&str>,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    eventually(&format!("entity {id}"), || async {
        let mut rb = s.req(
            Method::GET,
            &format!("/ngsi-ld/v1/entities/{}?options=keyValues", enc(id)),
        );
        if let Some(c) = ctx {
            rb = rb.header("Link", link(c));
        }
        let r = s.send(rb).await;
        (r.status == 200).then(|| r.json()).filter(|v| pred(v))
    })
    .await
}

async fn stats(s: &Server) -> Value {
    let r = s.get("/ingest/stats").await;
    r.expect(200);
    r.json()
}

/// The counters of one device, summed over sources: (received, accepted, duplicated, rejected).
fn device_counts(stats: &Value, dev_eui: &str) -> (u64, u64, u64, u64) {
    let mut t = (0, 0, 0, 0);
    for c in stats["counters"].as_array().unwrap() {
        if c["devEui"] == dev_eui {
            t.0 += c["received"].as_u64().unwrap();
            t.1 += c["accepted"].as_u64().unwrap();
            t.2 += c["duplicated"].as_u64().unwrap();
            t.3 += c["rejected"].as_u64().unwrap();
        }
    }
    t
}

async fn idle(s: &Server) {
    eventually("the ingestion to be idle", || async {
        (stats(s).await["inFlight"] == 0).then_some(())
    })
    .await;
}

async fn dead_letters(s: &Server) -> Vec<Value> {
    let r = s.get("/ingest/dead-letters").await;
    r.expect(200);
    r.json().as_array().unwrap().clone()
}

#[tokio::test]
async fn a_chirpstack_uplink_updates_the_entity_and_the_device() {
    let s = Server::start().await;
    register(&s, room("0101010101010101", "urn:ngsi-ld:Room:mairie")).await;
    let body = chirpstack_up(
        "0101010101010101",
        7,
        "2024-05-01T12:00:00+00:00",
        json!({"temperature": 22.6, "co2": 776.0, "humidity": 41.0}),
        "0016c001f153a14c",
    );
    let r = s.post("/ingest/chirpstack?event=up", &body).await;
    r.expect(202);
    assert_eq!(r.json()["journaled"], 1);
    let e = entity_when(&s, "urn:ngsi-ld:Room:mairie", None, |v| {
        v.get("co2").is_some()
    })
    .await;
    assert_eq!(e["temperature"], 22.6);
    assert_eq!(e["co2"], 776);
    assert_eq!(e["relativeHumidity"], 0.41);
    let r = s.entity("urn:ngsi-ld:Room:mairie").await;
    assert_eq!(r.json()["temperature"]["unitCode"], "CEL");
    assert_eq!(
        r.json()["temperature"]["observedAt"],
        "2024-05-01T12:00:00Z"
    );
    let d = entity_when(
        &s,
        "urn:ngsi-ld:Device:0101010101010101",
        Some(DEVICE_CONTEXT),
        |_| true,
    )
    .await;
    assert_eq!(d["type"], "Device");
    assert_eq!(d["rssi"], -36);
    assert_eq!(d["snr"], 10.5);
    assert_eq!(d["deviceState"], "ok");
    assert_eq!(d["controlledAsset"], "urn:ngsi-ld:Room:mairie");
    assert_eq!(d["dateLastValueReported"]["@value"], "2024-05-01T12:00:00Z");
    // Other ChirpStack events are journaled and counted; status sets the battery.
    let status = json!({"deduplicationId": "x", "time": "2024-05-01T12:01:00+00:00",
        "deviceInfo": {"devEui": "0101010101010101", "applicationId": "a"},
        "margin": 7, "batteryLevel": 80.0});
    s.post("/ingest/chirpstack?event=status", &status)
        .await
        .expect(202);
    let join = json!({"deduplicationId": "y", "time": "2024-05-01T12:02:00+00:00",
        "deviceInfo": {"devEui": "0101010101010101", "applicationId": "a"}, "devAddr": "01020304"});
    s.post("/ingest/chirpstack?event=join", &join)
        .await
        .expect(202);
    entity_when(
        &s,
        "urn:ngsi-ld:Device:0101010101010101",
        Some(DEVICE_CONTEXT),
        |d| d["batteryLevel"] == 0.8,
    )
    .await;
    idle(&s).await;
    assert_eq!(
        device_counts(&stats(&s).await, "0101010101010101"),
        (3, 3, 0, 0)
    );
}

#[tokio::test]
async fn a_tts_webhook_without_decoded_payload_is_decoded_natively() {
    let s = Server::start().await;
    register(&s, room("0004a30b001c0530", "urn:ngsi-ld:Room:ecole")).await;
    // Elsys ERS CO2: temperature 22.6 °C, humidity 41 %.
    let body = tts_up("0004A30B001C0530", 0, "2024-05-01T12:00:00Z", "AQDiAik=");
    s.post("/ingest/tts", &body).await.expect(202);
    let e = entity_when(&s, "urn:ngsi-ld:Room:ecole", None, |v| {
        v.get("temperature").is_some()
    })
    .await;
    assert_eq!(e["temperature"], 22.6);
    assert_eq!(e["relativeHumidity"], 0.41);
    // Other message kinds are accepted and counted.
    let join = json!({"end_device_ids": {"device_id": "dev1", "application_ids": {"application_id": "app1"},
        "dev_eui": "0004A30B001C0530"}, "join_accept": {"session_key_id": "AXA="}});
    s.post("/ingest/tts", &join).await.expect(202);
    idle(&s).await;
    assert_eq!(device_counts(&stats(&s).await, "0004a30b001c0530").1, 2);
}

#[tokio::test]
async fn copies_from_several_gateways_and_servers_are_applied_once() {
    let s = Server::start().await;
    register(&s, room("0202020202020202", "urn:ngsi-ld:Room:gym")).await;
    let t = "2024-05-01T12:00:00+00:00";
    let obj = json!({"temperature": 19.5});
    for gw in ["0016c001f153a14c", "0016c001f153a14d", "0016c001f153a14e"] {
        s.post(
            "/ingest/chirpstack?event=up",
            &chirpstack_up("0202020202020202", 42, t, obj.clone(), gw),
        )
        .await
        .expect(202);
    }
    // The same frame relayed by a small gateway, a second later, in the generic form.
    s.post(
        "/ingest/http",
        &generic_up("0202020202020202", 42, "2024-05-01T12:00:01Z", obj.clone()),
    )
    .await
    .expect(202);
    // A flood of copies.
    let flood: Vec<Value> = (0..200)
        .map(|_| generic_up("0202020202020202", 42, "2024-05-01T12:00:02Z", obj.clone()))
        .collect();
    s.post("/ingest/http", &Value::Array(flood))
        .await
        .expect(202);
    // A frame-counter reset, an hour later: fCnt 42 again is a new reading.
    s.post(
        "/ingest/http",
        &generic_up(
            "0202020202020202",
            42,
            "2024-05-01T13:00:00Z",
            json!({"temperature": 21.0}),
        ),
    )
    .await
    .expect(202);
    s.post(
        "/ingest/http",
        &generic_up(
            "0202020202020202",
            0,
            "2024-05-01T13:10:00Z",
            json!({"temperature": 21.5}),
        ),
    )
    .await
    .expect(202);
    idle(&s).await;
    assert_eq!(
        device_counts(&stats(&s).await, "0202020202020202"),
        (206, 3, 203, 0)
    );
    let e = entity_when(&s, "urn:ngsi-ld:Room:gym", None, |_| true).await;
    assert_eq!(e["temperature"], 21.5);
}

#[tokio::test]
async fn an_older_reading_never_overwrites_the_current_value() {
    let s = Server::start().await;
    register(&s, room("0303030303030303", "urn:ngsi-ld:Room:hall")).await;
    s.post(
        "/ingest/http",
        &generic_up(
            "0303030303030303",
            10,
            "2024-05-01T12:00:00Z",
            json!({"temperature": 20.0}),
        ),
    )
    .await
    .expect(202);
    entity_when(&s, "urn:ngsi-ld:Room:hall", None, |v| {
        v["temperature"] == 20.0
    })
    .await;
    s.post(
        "/ingest/http",
        &generic_up(
            "0303030303030303",
            9,
            "2024-05-01T11:50:00Z",
            json!({"temperature": 10.0}),
        ),
    )
    .await
    .expect(202);
    idle(&s).await;
    let e = entity_when(&s, "urn:ngsi-ld:Room:hall", None, |_| true).await;
    assert_eq!(e["temperature"], 20.0);
    // Late and out of order: into the history, or kept as a dead letter until it can be.
    let (received, accepted, _, rejected) = device_counts(&stats(&s).await, "0303030303030303");
    assert_eq!((received, accepted + rejected), (2, 2));
    if rejected == 0 {
        let r = s
            .get(&format!(
                "/ngsi-ld/v1/temporal/entities/{}",
                enc("urn:ngsi-ld:Room:hall")
            ))
            .await;
        r.expect(200);
        assert!(r.text.contains("2024-05-01T11:50:00Z"), "{}", r.text);
        assert!(r.text.contains("2024-05-01T12:00:00Z"), "{}", r.text);
    }
    for d in dead_letters(&s).await {
        assert!(
            d["reason"]
                .as_str()
                .unwrap()
                .contains("older than the current value"),
            "{d}"
        );
    }
}

#[tokio::test]
async fn bad_input_ends_in_dead_letters_or_clear_errors_and_replays_once_fixed() {
    let s = Server::start().await;
    register(&s, room("0404040404040404", "urn:ngsi-ld:Room:a")).await;
    // Invalid base64: refused at once, and kept.
    let bad = json!({"devEui": "0404040404040404", "time": "2024-05-01T12:00:00Z", "data": "!!!"});
    let detail = s
        .post("/ingest/http", &bad)
        .await
        .problem(400, "BadRequestData");
    assert!(
        detail.contains("base64") && detail.contains("dead letter"),
        "{detail}"
    );
    // Not JSON; missing fields; wrong event.
    let r = s
        .send(
            s.req(Method::POST, "/ingest/chirpstack?event=up")
                .header(CONTENT_TYPE, "application/json")
                .body("{\"devEui"),
        )
        .await;
    r.problem(400, "BadRequestData");
    s.post("/ingest/http", &json!({"devEui": "0404040404040404"}))
        .await
        .problem(400, "BadRequestData");
    s.post("/ingest/chirpstack?event=bogus", &json!({}))
        .await
        .problem(400, "BadRequestData");
    s.post("/ingest/chirpstack", &json!({}))
        .await
        .problem(400, "BadRequestData");
    // A batch with one bad element: the good ones are journaled.
    let batch = json!([
        generic_up("0404040404040404", 1, "2024-05-01T12:00:00Z", json!({"temperature": 20.0})),
        {"devEui": "0404040404040404", "time": "yesterday"},
    ]);
    let r = s.post("/ingest/http", &batch).await;
    r.expect(202);
    assert_eq!(r.json()["journaled"], 1);
    assert_eq!(r.json()["rejected"][0]["index"], 1);
    // Implausible value (a 500 °C room), unknown device, wrong fPort and truncated payload
    // for the native decoder, fields without mappings.
    s.post(
        "/ingest/http",
        &generic_up(
            "0404040404040404",
            2,
            "2024-05-01T12:01:00Z",
            json!({"temperature": 500.0}),
        ),
    )
    .await
    .expect(202);
    s.post(
        "/ingest/http",
        &generic_up(
            "0505050505050505",
            1,
            "2024-05-01T12:00:00Z",
            json!({"temperature": 20.0}),
        ),
    )
    .await
    .expect(202);
    let wrong_port = json!({"devEui": "0404040404040404", "time": "2024-05-01T12:02:00Z", "fCnt": 3, "fPort": 224, "hex": "0100e2"});
    s.post("/ingest/http", &wrong_port).await.expect(202);
    let truncated = json!({"devEui": "0404040404040404", "time": "2024-05-01T12:03:00Z", "fCnt": 4, "fPort": 1, "hex": "0100"});
    s.post("/ingest/http", &truncated).await.expect(202);
    s.post(
        "/ingest/http",
        &generic_up(
            "0404040404040404",
            5,
            "2024-05-01T12:04:00Z",
            json!({"pressure": 1013}),
        ),
    )
    .await
    .expect(202);
    idle(&s).await;
    let letters = dead_letters(&s).await;
    let reasons: Vec<String> = letters
        .iter()
        .map(|d| d["reason"].as_str().unwrap().to_string())
        .collect();
    let has = |needle: &str| reasons.iter().any(|r| r.contains(needle));
    assert!(has("base64"), "{reasons:?}");
    assert!(has("'temperature' = 500"), "{reasons:?}");
    assert!(has("unknown device 0505050505050505"), "{reasons:?}");
    assert!(has("fPort 224"), "{reasons:?}");
    assert!(has("payload ends"), "{reasons:?}");
    assert!(has("pressure"), "{reasons:?}");
    let r = s.get("/ingest/dead-letters?devEui=0505050505050505").await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    assert_eq!(r.json()[0]["body"]["devEui"], "0505050505050505");
    // Register the unknown device, replay: it is applied and leaves the dead letters.
    register(&s, room("0505050505050505", "urn:ngsi-ld:Room:b")).await;
    let r = s
        .post(
            "/ingest/dead-letters/replay",
            &json!({"devEui": "0505050505050505"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json(), json!({"replayed": 1, "applied": 1, "failed": 0}));
    entity_when(&s, "urn:ngsi-ld:Room:b", None, |v| v["temperature"] == 20.0).await;
    assert!(s
        .get("/ingest/dead-letters?devEui=0505050505050505")
        .await
        .json()
        .as_array()
        .unwrap()
        .is_empty());
    // Replaying all: the rest fail again and stay, with one more attempt.
    let r = s.post("/ingest/dead-letters/replay", &json!({})).await;
    let failed = r.json()["failed"].as_u64().unwrap();
    assert!(failed >= 6, "{}", r.text);
    assert!(dead_letters(&s)
        .await
        .iter()
        .all(|d| d["attempts"] == 2 || d["reason"].as_str().unwrap().contains("base64")));
}

#[tokio::test]
async fn the_registry_is_managed_checked_and_imported_from_csv() {
    let s = Server::start().await;
    let bad = json!({"devEui": "xyz", "entityId": "not a uri", "entityType": "Room", "profile": "acme/none",
        "mappings": [{"field": "t", "attribute": "t", "min": 5, "max": 1}]});
    let detail = s
        .post("/ingest/devices", &bad)
        .await
        .problem(400, "BadRequestData");
    for needle in ["devEui", "entityId", "acme/none", "min 5 is above max 1"] {
        assert!(detail.contains(needle), "{needle}: {detail}");
    }
    s.put(
        "/ingest/devices/0606060606060606",
        &room("0606060606060606", "urn:ngsi-ld:Room:c"),
    )
    .await
    .expect(201);
    s.put(
        "/ingest/devices/0606060606060606",
        &room("0606060606060606", "urn:ngsi-ld:Room:d"),
    )
    .await
    .expect(204);
    let r = s.get("/ingest/devices/0606060606060606").await;
    assert_eq!(r.json()["entityId"], "urn:ngsi-ld:Room:d");
    assert!(r.json()["createdAt"].is_string());
    let csv = "devEui,entityId,entityType,field,attribute,unitCode,min,max\n\
               0707070707070707,urn:ngsi-ld:Room:e,Room,temperature,temperature,CEL,-40,85\n";
    let r = s
        .send(
            s.req(Method::POST, "/ingest/devices/import")
                .header(CONTENT_TYPE, "text/csv")
                .body(csv),
        )
        .await;
    r.expect(201);
    assert_eq!(
        s.get("/ingest/devices")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    s.delete("/ingest/devices/0707070707070707")
        .await
        .expect(204);
    s.delete("/ingest/devices/0707070707070707")
        .await
        .problem(404, "ResourceNotFound");
    // Keys: readers cannot send readings, other tenants' editors neither.
    let up = generic_up(
        "0606060606060606",
        1,
        "2024-05-01T12:00:00Z",
        json!({"temperature": 1}),
    );
    let r = s
        .send(
            s.req_as(Key::Reader, Method::POST, "/ingest/http")
                .header(CONTENT_TYPE, "application/json")
                .body(up.to_string()),
        )
        .await;
    r.problem(403, "Forbidden");
    let r = s
        .send(
            s.req_as(Key::None, Method::POST, "/ingest/http")
                .header(CONTENT_TYPE, "application/json")
                .body(up.to_string()),
        )
        .await;
    assert_eq!(r.status, 401);
    let r = s
        .send(
            s.req_as(Key::EditorA, Method::POST, "/ingest/http?tenant=city-b")
                .header(CONTENT_TYPE, "application/json")
                .body(up.to_string()),
        )
        .await;
    r.problem(403, "Forbidden");
    let r = s
        .send(
            s.req_as(Key::EditorA, Method::POST, "/ingest/http?tenant=city-a")
                .header(CONTENT_TYPE, "application/json")
                .body(up.to_string()),
        )
        .await;
    r.expect(202);
}

#[tokio::test]
async fn counters_are_exposed_for_prometheus() {
    let s = Server::start().await;
    register(&s, room("0808080808080808", "urn:ngsi-ld:Room:f")).await;
    let up = generic_up(
        "0808080808080808",
        1,
        "2024-05-01T12:00:00Z",
        json!({"temperature": 1}),
    );
    s.post("/ingest/http", &up).await.expect(202);
    s.post("/ingest/http", &up).await.expect(202);
    idle(&s).await;
    let r = s.get("/metrics").await;
    r.expect(200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let labels = "{tenant=\"default\",source=\"generic\",dev_eui=\"0808080808080808\"}";
    assert!(
        r.text
            .contains(&format!("jumeau_ingest_received_total{labels} 2")),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains(&format!("jumeau_ingest_accepted_total{labels} 1")),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains(&format!("jumeau_ingest_duplicated_total{labels} 1")),
        "{}",
        r.text
    );
    assert_eq!(
        s.send(s.req_as(Key::None, Method::GET, "/metrics"))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn a_silent_device_is_marked_stale_and_comes_back() {
    let s = Server::with_config(ApiConfig {
        ingest: IngestConfig {
            stale_after_intervals: 2,
            ..IngestConfig::default()
        },
        ..ApiConfig::default()
    })
    .await;
    let mut dev = room("0909090909090909", "urn:ngsi-ld:Room:g");
    dev["intervalSeconds"] = json!(1);
    register(&s, dev).await;
    let now = chrono::Utc::now();
    let time = jumeau_model::time::format_datetime(&now);
    s.post(
        "/ingest/http",
        &generic_up("0909090909090909", 1, &time, json!({"temperature": 1})),
    )
    .await
    .expect(202);
    let id = "urn:ngsi-ld:Device:0909090909090909";
    entity_when(&s, id, Some(DEVICE_CONTEXT), |d| {
        d["deviceState"] == "stale"
    })
    .await;
    let time = jumeau_model::time::format_datetime(&chrono::Utc::now());
    s.post(
        "/ingest/http",
        &generic_up("0909090909090909", 2, &time, json!({"temperature": 2})),
    )
    .await
    .expect(202);
    entity_when(&s, id, Some(DEVICE_CONTEXT), |d| d["deviceState"] == "ok").await;
}

/// A server of our own over a data directory, which can be crashed and started again.
struct Node {
    base: String,
    app: App,
    serve: tokio::task::JoinHandle<std::io::Result<()>>,
    client: reqwest::Client,
    editor: String,
}

impl Node {
    async fn start(dir: &Path, config: ApiConfig, editor: Option<String>) -> Self {
        let store = SqliteStore::open(dir, SqliteOptions::default()).unwrap();
        let twin = Twin::new(Arc::new(store));
        twin.auth.bootstrap_admin(ADMIN_KEY).await.unwrap();
        let editor = match editor {
            Some(e) => e,
            None => {
                twin.auth
                    .create_key("editor", jumeau_twin::Role::Editor, vec!["*".into()])
                    .await
                    .unwrap()
                    .0
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = App::new(twin, config);
        let serve = tokio::spawn(jumeau_api::serve(
            listener,
            app.clone(),
            std::future::pending(),
        ));
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        Self {
            base,
            app,
            serve,
            client,
            editor,
        }
    }

    /// Stops everything at once, as a crash would.
    fn crash(&self) {
        self.app.ingest.abort();
        self.serve.abort();
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Result<reqwest::Response> {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.editor)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
    }

    async fn get_json(&self, path: &str, ctx: Option<&str>) -> Option<Value> {
        let mut rb = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.editor);
        if let Some(c) = ctx {
            rb = rb.header("Link", link(c));
        }
        let r = rb.send().await.ok()?;
        if r.status() != 200 {
            return None;
        }
        r.json().await.ok()
    }

    async fn idle(&self) {
        eventually("the ingestion to be idle", || async {
            let s = self.get_json("/ingest/stats", None).await?;
            (s["inFlight"] == 0).then_some(())
        })
        .await;
    }

    /// The sequence value of a room, once it reaches `at_least`.
    async fn sequence_reaches(&self, room: &str, at_least: u64) -> u64 {
        eventually(&format!("{room} to reach {at_least}"), || async {
            let v = self
                .get_json(
                    &format!("/ngsi-ld/v1/entities/{}?options=keyValues", enc(room)),
                    None,
                )
                .await?;
            v["sequence"].as_u64().filter(|n| *n >= at_least)
        })
        .await
    }
}

fn seq_up(dev_eui: &str, seq: u32) -> Value {
    let t = chrono::DateTime::from_timestamp(1_714_564_800 + i64::from(seq), 0).unwrap();
    generic_up(
        dev_eui,
        seq,
        &jumeau_model::time::format_datetime(&t),
        json!({"seq": seq, "temperature": 20.0}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_under_load_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), ApiConfig::default(), None).await;
    let devices: Vec<String> = (0..4).map(|i| format!("0a0a0a0a0a0a0a{i:02x}")).collect();
    for (i, d) in devices.iter().enumerate() {
        let r = node
            .post(
                "/ingest/devices",
                &room(d, &format!("urn:ngsi-ld:Room:load{i}")),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let editor = node.editor.clone();
    // Senders post batches of 20 readings per device until the node dies.
    let node = Arc::new(node);
    let mut senders = Vec::new();
    for d in devices.clone() {
        let n = node.clone();
        senders.push(tokio::spawn(async move {
            let mut acked = 0u32;
            for batch in 0..1000u32 {
                let body = Value::Array((1..=20).map(|k| seq_up(&d, batch * 20 + k)).collect());
                match n.post("/ingest/http", &body).await {
                    Ok(r) if r.status() == 202 => acked = batch * 20 + 20,
                    _ => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    node.crash();
    let mut acked = Vec::new();
    for s in senders {
        acked.push(s.await.unwrap());
    }
    assert!(
        acked.iter().any(|a| *a > 0),
        "no message was acknowledged before the crash"
    );
    // Start again on the same data: the journal is applied.
    let node = Node::start(dir.path(), ApiConfig::default(), Some(editor)).await;
    for (i, a) in acked.iter().enumerate() {
        if *a > 0 {
            node.sequence_reaches(&format!("urn:ngsi-ld:Room:load{i}"), u64::from(*a))
                .await;
        }
    }
    node.idle().await;
    let stats = node.get_json("/ingest/stats", None).await.unwrap();
    for (d, a) in devices.iter().zip(&acked) {
        let (received, accepted, duplicated, rejected) = device_counts(&stats, d);
        assert!(
            received >= u64::from(*a),
            "{d}: received {received} < acknowledged {a}"
        );
        assert_eq!(rejected, 0, "{d}");
        assert_eq!(
            accepted + duplicated,
            received,
            "{d}: every journaled message is applied"
        );
        assert!(
            accepted >= u64::from(*a),
            "{d}: accepted {accepted} < acknowledged {a}"
        );
    }
    node.crash();
}

/// An MQTT client that publishes QoS 1 messages and waits until the broker acknowledged
/// them all.
struct Publisher {
    client: rumqttc::AsyncClient,
    acked: tokio::sync::mpsc::UnboundedReceiver<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    async fn connect(port: u16, id: &str) -> Self {
        let mut o = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(5)).set_inflight(200);
        let (client, mut ev) = rumqttc::AsyncClient::new(o, 1000);
        let (tx, acked) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match ev.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                        let _ = tx.send(());
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        Self {
            client,
            acked,
            task,
        }
    }

    async fn publish_all(&mut self, messages: Vec<(String, Value)>) {
        let n = messages.len();
        for (topic, body) in messages {
            self.client
                .publish(topic, rumqttc::QoS::AtLeastOnce, false, body.to_string())
                .await
                .unwrap();
        }
        for _ in 0..n {
            tokio::time::timeout(Duration::from_secs(20), self.acked.recv())
                .await
                .unwrap();
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn cs_topic(dev_eui: &str) -> String {
    format!("application/a/device/{dev_eui}/event/up")
}

fn mqtt_config(broker: &jumeau_testkit::Mosquitto, client_id: &str) -> ApiConfig {
    let url = format!("{}?client_id={client_id}", broker.url());
    ApiConfig {
        ingest: IngestConfig {
            mqtt: vec![MqttSource::parse(&url).unwrap()],
            ..IngestConfig::default()
        },
        ..ApiConfig::default()
    }
}

fn cs_seq(dev_eui: &str, seq: u32) -> Value {
    let t = chrono::DateTime::from_timestamp(1_714_564_800 + i64::from(seq), 0).unwrap();
    chirpstack_up(
        dev_eui,
        seq,
        &jumeau_model::time::format_datetime(&t),
        json!({"seq": seq as f64, "temperature": 20.0}),
        "0016c001f153a14c",
    )
}

/// Publishes one reading at a time until one newer than `above` is applied (the subscription
/// is up); returns the next sequence number to use.
async fn publish_until_applied(
    publisher: &mut Publisher,
    node: &Node,
    mut seq: u32,
    above: u64,
) -> u32 {
    let path = format!(
        "/ngsi-ld/v1/entities/{}?options=keyValues",
        enc("urn:ngsi-ld:Room:mqtt")
    );
    for _ in 0..200 {
        publisher
            .publish_all(vec![(
                cs_topic("0b0b0b0b0b0b0b0b"),
                cs_seq("0b0b0b0b0b0b0b0b", seq),
            )])
            .await;
        seq += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let got = node.get_json(&path, None).await;
        if got.is_some_and(|v| v["sequence"].as_u64().is_some_and(|n| n > above)) {
            return seq;
        }
    }
    panic!("no MQTT message was applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_messages_of_both_servers_survive_broker_and_jumeau_restarts() {
    let mut broker = jumeau_testkit::Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), mqtt_config(&broker, "jumeau-test"), None).await;
    let editor = node.editor.clone();
    node.post(
        "/ingest/devices",
        &room("0b0b0b0b0b0b0b0b", "urn:ngsi-ld:Room:mqtt"),
    )
    .await
    .unwrap();
    let mut tts_dev = room("0c0c0c0c0c0c0c0c", "urn:ngsi-ld:Room:tts");
    tts_dev["mappings"][1] = json!({"field": "humidity", "attribute": "humidity"});
    node.post("/ingest/devices", &tts_dev).await.unwrap();
    // Wait for the subscription: publish until a first message arrives.
    let mut publisher = Publisher::connect(broker.port(), "pub-1").await;
    let mut next = publish_until_applied(&mut publisher, &node, 1, 0).await;
    // ChirpStack and The Things Stack topics, malformed payloads and topics too.
    let tts = tts_up("0C0C0C0C0C0C0C0C", 5, "2024-05-01T12:00:00Z", "AQDiAik=");
    publisher
        .publish_all(vec![
            ("v3/app1@ttn/devices/dev1/up".into(), tts),
            (cs_topic("0b0b0b0b0b0b0b0b"), json!("not an event")),
            (
                "application/a/device/0b0b0b0b0b0b0b0b/event/bogus".into(),
                json!({}),
            ),
        ])
        .await;
    let msgs: Vec<(String, Value)> = (next..=200)
        .map(|i| (cs_topic("0b0b0b0b0b0b0b0b"), cs_seq("0b0b0b0b0b0b0b0b", i)))
        .collect();
    publisher.publish_all(msgs).await;
    node.sequence_reaches("urn:ngsi-ld:Room:mqtt", 200).await;
    let e = eventually("the TTS reading", || async {
        node.get_json(
            &format!(
                "/ngsi-ld/v1/entities/{}?options=keyValues",
                enc("urn:ngsi-ld:Room:tts")
            ),
            None,
        )
        .await
    })
    .await;
    assert_eq!(e["temperature"], 22.6);
    node.idle().await;
    let letters = node.get_json("/ingest/dead-letters", None).await.unwrap();
    assert_eq!(letters.as_array().unwrap().len(), 2, "{letters}");

    // The broker restarts (losing its sessions): Jumeau reconnects and subscribes again.
    broker.restart().unwrap();
    drop(publisher);
    let mut publisher = Publisher::connect(broker.port(), "pub-2").await;
    next = publish_until_applied(&mut publisher, &node, next.max(201), 200).await;
    let base = next;
    let msgs: Vec<(String, Value)> = (base..base + 300)
        .map(|i| (cs_topic("0b0b0b0b0b0b0b0b"), cs_seq("0b0b0b0b0b0b0b0b", i)))
        .collect();
    publisher.publish_all(msgs).await;
    node.sequence_reaches("urn:ngsi-ld:Room:mqtt", u64::from(base + 299))
        .await;

    // Jumeau crashes; the broker keeps its session's messages until it is back.
    node.idle().await;
    node.crash();
    let base = base + 300;
    let msgs: Vec<(String, Value)> = (base..base + 300)
        .map(|i| (cs_topic("0b0b0b0b0b0b0b0b"), cs_seq("0b0b0b0b0b0b0b0b", i)))
        .collect();
    publisher.publish_all(msgs).await;
    let node = Node::start(
        dir.path(),
        mqtt_config(&broker, "jumeau-test"),
        Some(editor),
    )
    .await;
    node.sequence_reaches("urn:ngsi-ld:Room:mqtt", u64::from(base + 299))
        .await;
    node.idle().await;
    let stats = node.get_json("/ingest/stats", None).await.unwrap();
    let (received, accepted, duplicated, rejected) = device_counts(&stats, "0b0b0b0b0b0b0b0b");
    assert_eq!(accepted + duplicated + rejected, received);
    assert!(accepted >= u64::from(base + 299 - 1), "accepted {accepted}");
    node.crash();
}
