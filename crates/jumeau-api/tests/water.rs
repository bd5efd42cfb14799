//! Drinking water through the real server: an EPANET network imported with a
//! georeferencing transform, edited through NGSI-LD and exported back; what-if runs kept
//! apart from observations and drawn on the map; a DMA inlet meter fed by the generic
//! ingestion endpoint and its minimum night flow with alarms turned into leak alerts;
//! leak events and acoustic correlation; yearly indicators with the Grenelle verdict.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{enc, Key, Server};
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::{json, Value};

const SDM: &str = "https://smartdatamodels.org/dataModel.WaterDistributionManagementEPANET/";

fn net1() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../jumeau-water/tests/data/Net1.inp"
    );
    std::fs::read_to_string(path).unwrap()
}

fn import_body(id: &str, inp: &str) -> Value {
    json!({
        "id": id,
        "inp": inp,
        "georeference": {"originX": 842000.0, "originY": 6519000.0, "scale": 10.0}
    })
}

#[tokio::test]
async fn import_edit_export_simulate_and_map() {
    let s = Server::start().await;
    let r = s
        .post("/jumeau/v1/water/networks", &import_body("net1", &net1()))
        .await;
    r.expect(201);
    let v = r.json();
    assert_eq!(
        (
            v["junctions"].as_u64(),
            v["pipes"].as_u64(),
            v["pumps"].as_u64()
        ),
        (Some(9), Some(12), Some(1)),
        "{v}"
    );
    let list = s.get("/jumeau/v1/water/networks").await;
    list.expect(200);
    assert_eq!(list.json()[0]["id"], "net1");

    // The elements are NGSI-LD entities placed near Lyon.
    let pipe = "urn:ngsi-ld:Pipe:net1:10";
    let r = s.entity(pipe).await;
    r.expect(200);
    // A reader cannot import.
    s.send(
        s.req_as(Key::Reader, Method::POST, "/jumeau/v1/water/networks")
            .header(CONTENT_TYPE, "application/json")
            .body(import_body("x", &net1()).to_string()),
    )
    .await
    .problem(403, "Forbidden");

    // An edit in the twin shows in the exported file; everything else round-trips.
    let patch = json!({format!("{SDM}diameter"): {"type": "Property", "value": 20.0}});
    s.patch(&format!("/ngsi-ld/v1/entities/{}/attrs", enc(pipe)), &patch)
        .await
        .expect(204);
    let r = s.get("/jumeau/v1/water/networks/net1/inp").await;
    r.expect(200);
    assert!(r.content_type().starts_with("text/plain"));
    let back = jumeau_water::inp::parse(&r.text).unwrap();
    let orig = jumeau_water::inp::parse(&net1()).unwrap();
    let p10 = back.pipes.iter().find(|p| p.id == "10").unwrap();
    assert_eq!(p10.diameter, 20.0);
    assert_eq!(back.junctions, orig.junctions);
    assert_eq!(back.pipes.len(), orig.pipes.len());
    assert_eq!(back.coordinates, orig.coordinates);

    // A what-if leak: kept as a simulation of its own, the junction's entity untouched.
    let r = s
        .post(
            "/jumeau/v1/water/networks/net1/simulations",
            &json!({"changes": [{"type": "leak", "junction": "22", "diameterMm": 40.0}], "hours": 6}),
        )
        .await;
    r.expect(201);
    let sim = r.json();
    let run = sim["run"].as_str().unwrap().to_string();
    assert!(
        sim["summary"]["largestPressureDrop"]["value"]
            .as_f64()
            .unwrap()
            > 0.0,
        "{sim}"
    );
    let r = s
        .get(&format!("/jumeau/v1/water/networks/net1/simulations/{run}"))
        .await;
    r.expect(200);
    let nodes = &r.json()["results"]["nodes"];
    let (p, base) = (
        nodes["22"][0].as_f64().unwrap(),
        nodes["22"][1].as_f64().unwrap(),
    );
    assert!(p < base, "{p} {base}");
    let j = s.entity("urn:ngsi-ld:Junction:net1:22").await.json();
    assert!(
        j.as_object()
            .unwrap()
            .keys()
            .all(|k| !k.contains("ressure")),
        "{j}"
    );
    let r = s
        .get(&format!(
            "/jumeau/v1/water/networks/net1/map?simulation={run}"
        ))
        .await;
    r.expect(200);
    assert_eq!(r.content_type(), "application/geo+json");
    let m = r.json();
    let f = m["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"]["id"] == "22")
        .unwrap();
    assert_eq!(f["geometry"]["type"], "Point");
    assert!(f["properties"]["pressure"].is_number());
    // Bad changes and bad networks are refused clearly.
    let d = s
        .post(
            "/jumeau/v1/water/networks/net1/simulations",
            &json!({"changes": [{"type": "closePipe", "pipe": "nope"}]}),
        )
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("nope"), "{d}");
    s.get("/jumeau/v1/water/networks/none/inp")
        .await
        .problem(404, "ResourceNotFound");
    let bad = "[JUNCTIONS]\nA 0\n[PIPES]\np1 A B 100 100 100\n";
    let d = s
        .post("/jumeau/v1/water/networks", &import_body("bad", bad))
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("line") && d.contains('B'), "{d}");
}

/// Polls `f` every 50 ms until it returns Some, for at most 20 s.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..400 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn dma_night_flow_comes_from_ingestion_and_raises_alerts() {
    let s = Server::start().await;
    let meter = "urn:ngsi-ld:FlowMeter:dma1-inlet";
    let r = s
        .post(
            "/ingest/devices",
            &json!({
                "devEui": "0a0a0a0a0a0a0a0a",
                "entityId": meter,
                "entityType": "FlowMeter",
                "mappings": [{"field": "flow", "attribute": "flow", "unitCode": "MQH", "min": 0, "max": 1000}]
            }),
        )
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
    // Fourteen January nights read every 30 min from 01:00 to 02:30 UTC (02:00 to 03:30 in
    // Paris); the last two nights carry 4 m³/h more.
    let mut ups = Vec::new();
    let mut f_cnt = 0;
    for day in 1..=14 {
        for (h, m) in [(1, 0), (1, 30), (2, 0), (2, 30)] {
            f_cnt += 1;
            let flow = if day >= 13 {
                14.0
            } else {
                10.0 + 0.1 * f64::from(day % 3)
            };
            ups.push(json!({
                "devEui": "0a0a0a0a0a0a0a0a",
                "time": format!("2025-01-{day:02}T{h:02}:{m:02}:00Z"),
                "fCnt": f_cnt,
                "object": {"flow": flow}
            }));
        }
    }
    s.post("/ingest/http", &Value::Array(ups)).await.expect(202);

    let dma = json!({
        "name": "Secteur nord",
        "inlets": [{"entity": meter, "attribute": "flow"}],
        "nightWindow": [2, 4]
    });
    s.put("/jumeau/v1/water/dmas/nord", &dma).await.expect(201);
    let q = "from=2025-01-01T00:00:00Z&to=2025-02-01T00:00:00Z&history=5";
    let report = eventually("fourteen nights in the history", || async {
        let r = s
            .get(&format!("/jumeau/v1/water/dmas/nord/night-flow?{q}"))
            .await;
        r.expect(200);
        let v = r.json();
        (v["nights"].as_array().unwrap().len() == 14).then_some(v)
    })
    .await;
    let alarms = report["alarms"].as_array().unwrap();
    assert_eq!(alarms.len(), 2, "{report}");
    assert_eq!(alarms[0]["date"], "2025-01-13");
    assert!(
        (alarms[0]["excess"].as_f64().unwrap() - 4.0).abs() < 0.2,
        "{report}"
    );
    // The DMA's latest inlet reading.
    let st = s.get("/jumeau/v1/water/dmas/nord").await;
    st.expect(200);
    assert_eq!(st.json()["sensors"]["inlets"][0]["last"]["value"], 14.0);

    let r = s
        .send(s.req(
            Method::POST,
            &format!("/jumeau/v1/water/dmas/nord/night-flow/alerts?{q}"),
        ))
        .await;
    r.expect(201);
    assert_eq!(r.json().as_array().unwrap().len(), 2);
    let list = s.get("/jumeau/v1/water/leak-events").await;
    list.expect(200);
    let list = list.json();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert_eq!(list[0]["method"], "mnf");
    assert_eq!(list[0]["source"], "urn:ngsi-ld:DistrictMeteredArea:nord");
    // Bad parameters are named.
    let d = s
        .get("/jumeau/v1/water/dmas/nord/night-flow?gamma=0")
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("gamma"), "{d}");
    s.put("/jumeau/v1/water/dmas/empty", &json!({"inlets": []}))
        .await
        .problem(400, "BadRequestData");
}

#[tokio::test]
async fn leak_events_and_acoustic_correlation_become_alerts_on_the_map() {
    let s = Server::start().await;
    s.post("/jumeau/v1/water/networks", &import_body("net1", &net1()))
        .await
        .expect(201);
    let r = s
        .post(
            "/jumeau/v1/water/leak-events",
            &json!({
                "network": "net1",
                "start": "2025-03-01T02:00:00Z",
                "detectedAt": "2025-03-01T03:00:00Z",
                "candidatePipes": ["21", "22"],
                "uncertaintyM": 150.0,
                "estimatedFlowM3h": 7.5,
                "method": "pressure-residual-cusum"
            }),
        )
        .await;
    r.expect(201);
    let a = r.json();
    assert_eq!(a["candidatePipes"][0], "urn:ngsi-ld:Pipe:net1:21");
    assert_eq!(a["severity"], "high");
    let alert = s.entity(a["id"].as_str().unwrap()).await.json();
    assert_eq!(
        alert["type"],
        "https://smartdatamodels.org/dataModel.Alert/Alert"
    );
    assert_eq!(alert["location"]["value"]["type"], "LineString");
    let m = s.get("/jumeau/v1/water/networks/net1/map").await.json();
    let p21 = m["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"]["id"] == "21" && f["geometry"]["type"] == "LineString")
        .unwrap();
    assert_eq!(p21["properties"]["alert"], a["id"]);
    // Unknown pipes are refused.
    s.post(
        "/jumeau/v1/water/leak-events",
        &json!({"network": "net1", "start": "2025-03-01T02:00:00Z", "candidatePipes": ["nope"],
                "estimatedFlowM3h": 1.0, "method": "x"}),
    )
    .await
    .problem(400, "BadRequestData");
    // Acoustic: 200 m between loggers, 1 200 m/s, 0.1 s → 40 m from logger 1.
    let r = s
        .post(
            "/jumeau/v1/water/acoustic",
            &json!({"network": "net1", "pipe": "31", "distanceM": 200.0, "waveSpeedMs": 1200.0, "delayS": 0.1}),
        )
        .await;
    r.expect(201);
    assert!((r.json()["distanceFromLogger1M"].as_f64().unwrap() - 40.0).abs() < 1e-9);
    let d = s
        .post(
            "/jumeau/v1/water/acoustic",
            &json!({"network": "net1", "pipe": "31", "distanceM": 200.0, "waveSpeedMs": 1200.0, "delayS": 1.0}),
        )
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("outside"), "{d}");
}

#[tokio::test]
async fn indicators_with_the_grenelle_verdict_and_volumes_that_do_not_add_up() {
    let s = Server::start().await;
    // Worked example of the arrêté du 2 mai 2007 formulas (see jumeau-water).
    let r = s
        .put(
            "/jumeau/v1/water/indicators/sivom-nord/2024",
            &json!({"produced": 1000000, "imported": 100000, "exported": 50000, "metered": 800000,
                    "unmetered": 10000, "service": 5000, "lengthKm": 100}),
        )
        .await;
    r.expect(200);
    let v = r.json();
    assert!((v["indicators"]["P104.3"].as_f64().unwrap() - 78.636_363_6).abs() < 1e-6);
    assert!((v["indicators"]["P106.3"].as_f64().unwrap() - 6.438_356_16).abs() < 1e-6);
    assert!((v["grenelle"]["thresholdPercent"].as_f64().unwrap() - 69.739_726).abs() < 1e-5);
    assert_eq!(v["grenelle"]["compliant"], true);
    assert!((v["feeCoefficient"].as_f64().unwrap() - 0.0275 * (865.0 / 11.0 - 65.0)).abs() < 1e-9);
    let list = s
        .get("/jumeau/v1/water/indicators?service=sivom-nord")
        .await;
    list.expect(200);
    assert_eq!(list.json().as_array().unwrap().len(), 1);
    // Billed more than distributed.
    let d = s
        .put(
            "/jumeau/v1/water/indicators/sivom-nord/2023",
            &json!({"produced": 100000, "metered": 120000, "lengthKm": 10}),
        )
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("do not add up"), "{d}");
    s.put(
        "/jumeau/v1/water/indicators/sivom-nord/nineteen",
        &json!({"produced": 1, "lengthKm": 1}),
    )
    .await
    .problem(400, "BadRequestData");
}

/// A small deterministic noise source (xorshift), uniform in [-1, 1].
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Appends readings of one attribute to the history of an entity of the twin.
async fn post_history(s: &Server, entity: &str, attr: &str, readings: &[(String, f64)]) {
    let instances: Vec<Value> = readings
        .iter()
        .map(|(t, v)| json!({"type": "Property", "value": v, "observedAt": t}))
        .collect();
    s.post(
        &format!("/ngsi-ld/v1/temporal/entities/{}/attrs", enc(entity)),
        &json!({ format!("{SDM}{attr}"): instances }),
    )
    .await
    .expect(204);
}

/// Five days of 5-minute readings of Net1's sensors stored in the twin's history — the
/// inflow on pipe 10, the level of tank 2 and the pressure of six junctions — with a leak
/// on pipe 21 (between junctions 21 and 22) from 2025-03-04 14:00: the inflow grows by
/// 40 m³/h and the pressures near junction 22 drop beyond what the inflow explains. The
/// twin finds it from its own history, on the right pipe, and a second run over the same
/// period adds nothing.
#[tokio::test]
async fn leaks_are_found_in_the_history_of_the_network_sensors() {
    let s = Server::start().await;
    s.post("/jumeau/v1/water/networks", &import_body("net1", &net1()))
        .await
        .expect(201);
    let start = chrono::DateTime::parse_from_rfc3339("2025-03-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let leak_start = start + chrono::Duration::days(3) + chrono::Duration::hours(14);
    let steps = 5 * 288;
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut times = Vec::new();
    let mut inflow = Vec::new();
    let mut level = Vec::new();
    for k in 0..steps {
        let t = start + chrono::Duration::minutes(5 * k);
        let hours = k as f64 / 12.0;
        let demand = 300.0
            * (1.0 + 0.35 * (2.0 * std::f64::consts::PI * (hours - 8.0) / 24.0).sin())
            * (1.0 + 0.02 * noise.next());
        let leak = if t >= leak_start { 40.0 } else { 0.0 };
        times.push(t);
        inflow.push(demand + leak);
        level.push(120.0 + 8.0 * (2.0 * std::f64::consts::PI * (hours - 2.0) / 17.0).sin());
    }
    let stamp = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let series = |v: &[f64]| -> Vec<(String, f64)> {
        times
            .iter()
            .zip(v)
            .map(|(t, x)| (stamp(t), (x * 1000.0).round() / 1000.0))
            .collect()
    };
    post_history(&s, "urn:ngsi-ld:Pipe:net1:10", "flow", &series(&inflow)).await;
    post_history(&s, "urn:ngsi-ld:Tank:net1:2", "level", &series(&level)).await;
    // Junction: (base pressure, head-loss factor, extra drop with the leak).
    let junctions = [
        ("11", 85.0, 0.8, 0.3),
        ("13", 78.0, 1.3, 0.2),
        ("21", 80.0, 1.1, 1.2),
        ("22", 76.0, 1.4, 3.0),
        ("31", 74.0, 1.6, 0.3),
    ];
    for (node, base, loss, drop) in junctions {
        let p: Vec<f64> = (0..steps as usize)
            .map(|k| {
                let leak = if times[k] >= leak_start { drop } else { 0.0 };
                base + 0.4 * (level[k] - 120.0) - loss * inflow[k] * inflow[k] / 1.0e4 - leak
                    + 0.05 * noise.next()
            })
            .collect();
        let mut readings = series(&p);
        if node == "31" {
            // Two hours without readings on the second day.
            readings.drain(24 * 12 + 10 * 12..24 * 12 + 12 * 12);
        }
        post_history(
            &s,
            &format!("urn:ngsi-ld:Junction:net1:{node}"),
            "pressure",
            &readings,
        )
        .await;
    }
    // A frozen logger.
    post_history(
        &s,
        "urn:ngsi-ld:Junction:net1:32",
        "pressure",
        &series(&vec![50.0; steps as usize]),
    )
    .await;
    // The inflow meter is also the inlet of a DMA of the network (found once).
    s.put(
        "/jumeau/v1/water/dmas/centre",
        &json!({"network": "net1", "inlets": [{"entity": "urn:ngsi-ld:Pipe:net1:10", "attribute": format!("{SDM}flow")}]}),
    )
    .await
    .expect(201);

    let body = json!({
        "from": "2025-03-03T00:00:00Z",
        "to": "2025-03-06T00:00:00Z",
        "trainingFrom": "2025-03-01T00:00:00Z"
    });
    let path = "/jumeau/v1/water/networks/net1/detections";
    let r = s.post(path, &body).await;
    r.expect(201);
    let v = r.json();
    assert_eq!(
        v["sensors"]["pressures"].as_array().unwrap().len(),
        6,
        "{v}"
    );
    assert_eq!(v["sensors"]["flows"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["sensors"]["levels"][0]["element"], "2", "{v}");
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("Junction:net1:31") && w.contains("misses 24")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("'32' is dead")),
        "{warnings:?}"
    );
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{v}");
    let e = &events[0];
    assert_eq!(e["new"], true);
    assert_eq!(e["method"], "pressure-residual-cusum");
    // Pipe 21 runs from junction 21 to junction 22.
    assert_eq!(e["candidatePipes"][0], "urn:ngsi-ld:Pipe:net1:21", "{e}");
    assert!(e["locationUncertaintyM"].as_f64().unwrap() >= 0.0, "{e}");
    let found = chrono::DateTime::parse_from_rfc3339(e["validFrom"].as_str().unwrap()).unwrap();
    assert!(
        (found.with_timezone(&chrono::Utc) - leak_start)
            .num_minutes()
            .abs()
            <= 60,
        "{e}"
    );
    let flow = e["estimatedFlowM3h"].as_f64().unwrap();
    assert!((20.0..80.0).contains(&flow), "{e}");

    // The same period again: the same event, nothing new stored.
    let r = s.post(path, &body).await;
    r.expect(200);
    let again = r.json();
    assert_eq!(again["created"], 0, "{again}");
    assert_eq!(again["events"][0]["new"], false);
    assert_eq!(again["events"][0]["id"], e["id"]);
    // An overlapping period with another training period finds the same leak again.
    let r = s
        .post(
            path,
            &json!({"from": "2025-03-04T00:00:00Z", "to": "2025-03-06T00:00:00Z", "trainingFrom": "2025-03-02T00:00:00Z"}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["events"][0]["id"], e["id"], "{}", r.text);
    let list = s.get("/jumeau/v1/water/leak-events").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    // Refusals: a reader, a reversed period, a training period of part of a day, a date
    // that is not one, a network without readings, an unknown network.
    s.send(
        s.req_as(Key::Reader, Method::POST, path)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string()),
    )
    .await
    .problem(403, "Forbidden");
    let d = s
        .post(
            path,
            &json!({"from": "2025-03-05T00:00:00Z", "to": "2025-03-03T00:00:00Z"}),
        )
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("'to'"), "{d}");
    let d = s
        .post(
            path,
            &json!({"from": "2025-03-03T00:00:00Z", "to": "2025-03-05T00:00:00Z", "trainingFrom": "2025-03-01T06:00:00Z"}),
        )
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("trainingFrom"), "{d}");
    let d = s
        .post(
            path,
            &json!({"from": "3 March", "to": "2025-03-05T00:00:00Z"}),
        )
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("'from'"), "{d}");
    s.post("/jumeau/v1/water/networks", &import_body("quiet", &net1()))
        .await
        .expect(201);
    let d = s
        .post("/jumeau/v1/water/networks/quiet/detections", &body)
        .await
        .problem(400, "BadRequestData");
    assert!(d.contains("no sensor history"), "{d}");
    s.post("/jumeau/v1/water/networks/none/detections", &body)
        .await
        .problem(404, "ResourceNotFound");
}
