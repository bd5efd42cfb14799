//! Public lighting endpoints against a real server: inventory import with rejected rows,
//! compliance report, programs refused by a zone rule with nothing applied, commands retried
//! until acknowledged, an armoire that does not answer, commands through a TALQ-style
//! gateway, emergency lighting refused without the role and reverting on time, and the audit
//! of every decision (deletions included), page by page.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeZone;
use common::{enc, Key, Resp, Server};
use jumeau_api::{ApiConfig, LightingConfig};
use jumeau_lighting::control::{ManualClock, RetryPolicy, SimulatedCabinets, Target};
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::{json, Value};

/// The tenant of the tests (covered by the `EditorA` and `ReaderA` keys).
const TENANT: &str = "city-a";
const BASE: &str = "/jumeau/v1/lighting";
const G1: &str = "urn:ngsi-ld:StreetlightGroup:Testville:G1";
const A1: &str = "urn:ngsi-ld:StreetlightControlCabinet:Testville:A1";
const A2: &str = "urn:ngsi-ld:StreetlightControlCabinet:Testville:A2";

/// A commune inventory: rows 3, 4 and 5 (lines of the file) have impossible values or
/// coordinates outside the commune; row 6 is a mercury lamp, row 7 a 4000 K LED.
const INVENTORY: &str = "id;puissance;tcouleur;type_lampe;armoire;groupe;lon;lat;date_pose\n\
    1;35;3000;LED;A1;G1;4.8500;45.7600;2021-05-01\n\
    2;0;3000;LED;A1;G1;4.8510;45.7600;2021\n\
    3;70;20000;LED;A1;;4.8520;45.7610;2021\n\
    4;100;;SHP;A2;;5.5000;45.7600;2010\n\
    5;100;2000;Ballon fluo;A2;;4.8530;45.7620;1990\n\
    6;40;4000;LED;A2;;4.8540;45.7610;2022\n";

/// The commune's boundary: a square around the village.
fn boundary() -> Value {
    json!({"type": "Polygon", "coordinates": [[[4.84, 45.75], [4.86, 45.75], [4.86, 45.77], [4.84, 45.77], [4.84, 45.75]]]})
}

struct Lab {
    s: Server,
    sim: Arc<SimulatedCabinets>,
    clock: Arc<ManualClock>,
}

impl Lab {
    /// A server whose armoires are simulated and whose clock is manual (10 January 2025,
    /// 13:00 in Paris), with short retry waits; the settings and inventory are in place.
    async fn start() -> Self {
        Self::start_with(None).await
    }

    /// [`Lab::start`], with commands sent to the TALQ-style gateway at `gateway` (with the
    /// token [`GATEWAY_TOKEN`]) instead of the simulated armoires.
    async fn start_with(gateway: Option<&str>) -> Self {
        let clock = Arc::new(ManualClock::new(
            chrono::Utc.with_ymd_and_hms(2025, 1, 10, 12, 0, 0).unwrap(),
        ));
        let sim = Arc::new(SimulatedCabinets::new(clock.clone()));
        let mut lighting = LightingConfig {
            driver: Some(sim.clone()),
            clock: clock.clone(),
            retry: RetryPolicy {
                max_attempts: 4,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(20),
                multiplier: 2,
            },
            revert_every: Duration::from_millis(50),
        };
        if let Some(url) = gateway {
            lighting = lighting
                .with_talq_gateway(url, Some(GATEWAY_TOKEN.into()), Duration::from_secs(10))
                .unwrap();
        }
        let s = Server::with_config(ApiConfig {
            lighting,
            ..ApiConfig::default()
        })
        .await;
        let lab = Self { s, sim, clock };
        lab.call(
            Key::Admin,
            Method::PUT,
            "/settings",
            Some(json!({"commune": "Testville", "communeBoundary": boundary()})),
        )
        .await
        .expect(200);
        let r = lab.import().await;
        r.expect(200);
        lab
    }

    /// A request to a lighting path in the test tenant.
    async fn call(&self, key: Key, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut rb = self
            .s
            .req_as(key, method, &format!("{BASE}{path}"))
            .header("NGSILD-Tenant", TENANT);
        if let Some(b) = body {
            rb = rb
                .header(CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        self.s.send(rb).await
    }

    async fn import(&self) -> Resp {
        let rb = self
            .s
            .req_as(
                Key::EditorA,
                Method::POST,
                &format!("{BASE}/inventory/import"),
            )
            .header("NGSILD-Tenant", TENANT)
            .header(CONTENT_TYPE, "text/csv")
            .body(INVENTORY);
        self.s.send(rb).await
    }

    /// The audit log, newest first (the first page: enough for these tests).
    async fn audit(&self) -> Vec<Value> {
        let r = self.call(Key::ReaderA, Method::GET, "/audit", None).await;
        r.expect(200);
        r.json().as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn import_rejects_impossible_rows_and_reports_compliance() {
    let lab = Lab::start().await;
    let r = lab.import().await;
    r.expect(200);
    let report = r.json();
    assert_eq!(report["imported"], json!(3), "{report}");
    assert_eq!(report["cabinets"], json!(2), "{report}");
    let rejected = report["rejected"].as_array().unwrap();
    let reasons = |line: u64| {
        rejected
            .iter()
            .find(|x| x["row"] == json!(line))
            .unwrap_or_else(|| panic!("line {line} not rejected: {report}"))["reasons"]
            .to_string()
    };
    assert!(reasons(3).contains("0 W"), "{}", reasons(3));
    assert!(reasons(4).contains("20000 K"), "{}", reasons(4));
    assert!(
        reasons(5).contains("hors du périmètre de la commune"),
        "{}",
        reasons(5)
    );
    assert_eq!(rejected.len(), 3);

    // A reader may not import; a file without coordinates is refused whole.
    let rb = lab
        .s
        .req_as(
            Key::ReaderA,
            Method::POST,
            &format!("{BASE}/inventory/import"),
        )
        .header("NGSILD-Tenant", TENANT)
        .header(CONTENT_TYPE, "text/csv")
        .body(INVENTORY);
    lab.s.send(rb).await.problem(403, "Forbidden");
    let rb = lab
        .s
        .req_as(
            Key::EditorA,
            Method::POST,
            &format!("{BASE}/inventory/import"),
        )
        .header("NGSILD-Tenant", TENANT)
        .header(CONTENT_TYPE, "text/csv")
        .body("id;puissance\n1;30\n");
    let detail = lab.s.send(rb).await.problem(400, "BadRequestData");
    assert!(detail.contains("coordinate"), "{detail}");

    // The points lumineux are NGSI-LD entities of the twin.
    let lamp = lab
        .s
        .send(
            lab.s
                .req_as(
                    Key::ReaderA,
                    Method::GET,
                    &format!(
                        "/ngsi-ld/v1/entities/{}",
                        enc("urn:ngsi-ld:Streetlight:Testville:1")
                    ),
                )
                .header("NGSILD-Tenant", TENANT),
        )
        .await;
    lamp.expect(200);

    let r = lab
        .call(Key::ReaderA, Method::GET, "/compliance", None)
        .await;
    r.expect(200);
    let c = r.json();
    assert_eq!(c["commune"], json!("Testville"));
    assert_eq!(c["streetlightsChecked"], json!(3));
    let findings = c["findings"].as_array().unwrap();
    let has = |id: &str, rule: &str| {
        findings
            .iter()
            .any(|f| f["subjectId"].as_str().unwrap().ends_with(id) && f["rule"] == json!(rule))
    };
    assert!(has(":5", "mercury"), "{c}");
    assert!(has(":6", "colourTemperature"), "{c}");
    assert!(!has(":1", "colourTemperature"), "{c}");

    let r = lab
        .call(Key::ReaderA, Method::GET, "/compliance?format=csv", None)
        .await;
    r.expect(200);
    assert!(r.content_type().starts_with("text/csv"), "{:?}", r.headers);
    assert!(r.text.starts_with("objet;identifiant;règle"), "{}", r.text);
    assert!(r.text.contains("4000 K"), "{}", r.text);

    let r = lab.call(Key::ReaderA, Method::GET, "/map", None).await;
    r.expect(200);
    let map = r.json();
    let features = map["features"].as_array().unwrap();
    assert_eq!(features.len(), 3);
    // By day, every lamp is off.
    assert!(features
        .iter()
        .all(|f| f["properties"]["state"] == json!("off")));
}

#[tokio::test]
async fn a_program_breaking_a_zone_rule_is_refused_and_nothing_is_applied() {
    let lab = Lab::start().await;
    let zone = json!({
        "id": "trame-noire",
        "name": "Corridor du ruisseau",
        "area": {"type": "Polygon", "coordinates": [[[4.845, 45.755], [4.852, 45.755], [4.852, 45.765], [4.845, 45.765], [4.845, 45.755]]]},
        "builtUp": false,
        "protection": "darkCorridor",
        "caps": {"requiredDarkWindow": {"start": "00:00:00", "end": "05:00:00"}}
    });
    let r = lab
        .call(Key::EditorA, Method::POST, "/zones", Some(zone))
        .await;
    r.expect(201);
    assert_eq!(
        r.json()["id"],
        json!("urn:ngsi-ld:LightingZone:trame-noire")
    );
    // A zone that is not a polygon is refused.
    let r = lab
        .call(
            Key::EditorA,
            Method::POST,
            "/zones",
            Some(json!({"name": "x", "builtUp": true, "area": {"type": "Point", "coordinates": [4.85, 45.76]}})),
        )
        .await;
    let detail = r.problem(400, "BadRequestData");
    assert!(detail.contains("Polygon"), "{detail}");

    let full_night = json!({
        "id": "plein-feu",
        "name": "Plein feu",
        "plan": {"initialLevelPct": 100},
        "targets": [{"kind": "group", "id": G1}]
    });
    let r = lab
        .call(
            Key::EditorA,
            Method::POST,
            "/programs?why=essai",
            Some(full_night),
        )
        .await;
    let detail = r.problem(400, "BadRequestData");
    assert!(detail.contains("00:00–05:00"), "{detail}");
    assert!(detail.contains("rien n'est appliqué"), "{detail}");
    let r = lab.call(Key::ReaderA, Method::GET, "/programs", None).await;
    r.expect(200);
    assert_eq!(r.json(), json!([]), "nothing applied");
    let last = &lab.audit().await[0];
    assert_eq!(last["outcome"]["outcome"], json!("refused"), "{last}");
    assert_eq!(last["keyId"], json!(lab.s.editor_a_id));
    assert_eq!(last["why"], json!("essai"));
    assert!(last["outcome"]["reasons"].to_string().contains("05:00"));

    // The same program with the switch-off window is accepted, and previewed.
    let eco = json!({
        "id": "eco",
        "name": "Éco",
        "plan": {"initialLevelPct": 100, "steps": [{"at": "22:00:00", "levelPct": 50}],
                 "switchOff": [{"start": "00:00:00", "end": "05:00:00"}]},
        "targets": [{"kind": "group", "id": G1}]
    });
    let r = lab
        .call(Key::EditorA, Method::POST, "/programs", Some(eco.clone()))
        .await;
    r.expect(201);
    let r = lab
        .call(
            Key::ReaderA,
            Method::GET,
            &format!("/programs/{}", enc("urn:ngsi-ld:LightingProgram:eco")),
            None,
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["targets"][0]["id"], json!(G1));
    let r = lab
        .call(
            Key::ReaderA,
            Method::POST,
            "/preview",
            Some(json!({"program": eco, "targets": [{"kind": "group", "id": G1}], "date": "2025-01-10", "stepMin": 60})),
        )
        .await;
    r.expect(200);
    let p = r.json();
    assert_eq!(p["problems"], json!([]), "{p}");
    let level = |hour: &str| {
        p["points"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["local"].as_str().unwrap().ends_with(hour))
            .unwrap_or_else(|| panic!("no point at {hour}: {p}"))["levelPct"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(level("14:00:00"), 0.0);
    assert_eq!(level("20:00:00"), 100.0);
    assert_eq!(level("23:00:00"), 50.0);
    assert_eq!(level("02:00:00"), 0.0);

    // A reader may not save programs; the refusal is audited.
    let r = lab
        .call(
            Key::ReaderA,
            Method::PUT,
            "/programs/eco",
            Some(json!({"name": "x", "targets": []})),
        )
        .await;
    r.problem(403, "Forbidden");
    assert_eq!(lab.audit().await[0]["outcome"]["outcome"], json!("refused"));
}

#[tokio::test]
async fn commands_are_retried_until_acknowledged_and_a_silent_armoire_is_reported() {
    let lab = Lab::start().await;
    lab.sim.fail_next(2);
    let r = lab
        .call(
            Key::EditorA,
            Method::POST,
            "/commands",
            Some(json!({"target": {"kind": "cabinet", "id": A1}, "action": "dim", "levelPct": 40, "why": "essai de gradation"})),
        )
        .await;
    r.expect(200);
    let ack = r.json();
    assert_eq!(ack["attempts"], json!(3), "{ack}");
    assert_eq!(ack["levelPct"], json!(40.0));
    assert_eq!(lab.sim.level(&Target::Cabinet(A1.into())), Some(40.0));
    let last = &lab.audit().await[0];
    assert_eq!(last["outcome"]["outcome"], json!("acknowledged"), "{last}");
    assert_eq!(last["outcome"]["attempts"], json!(3));
    assert_eq!(last["keyId"], json!(lab.s.editor_a_id));
    assert_eq!(last["action"], json!("gradation à 40 %"));

    lab.sim.set_unreachable(Target::Cabinet(A2.into()), true);
    let r = lab
        .call(
            Key::EditorA,
            Method::POST,
            "/commands",
            Some(json!({"target": {"kind": "cabinet", "id": A2}, "action": "on", "why": "essai"})),
        )
        .await;
    let detail = r.problem(504, "NotAcknowledged");
    assert!(detail.contains("after 4 attempt"), "{detail}");
    let last = &lab.audit().await[0];
    assert_eq!(last["outcome"]["outcome"], json!("failed"), "{last}");
    assert_eq!(last["outcome"]["attempts"], json!(4));

    // Refusals: a reader, an unknown armoire, a level out of range; each audited.
    let before = lab.audit().await.len();
    let r = lab
        .call(
            Key::ReaderA,
            Method::POST,
            "/commands",
            Some(json!({"target": {"kind": "cabinet", "id": A1}, "action": "off", "why": "curiosité"})),
        )
        .await;
    r.problem(403, "Forbidden");
    let r = lab
        .call(
            Key::EditorA,
            Method::POST,
            "/commands",
            Some(json!({"target": {"kind": "cabinet", "id": "urn:ngsi-ld:StreetlightControlCabinet:Testville:Z9"}, "action": "off", "why": "essai"})),
        )
        .await;
    r.problem(404, "ResourceNotFound");
    let r = lab
        .call(
            Key::EditorA,
            Method::POST,
            "/commands",
            Some(json!({"target": {"kind": "cabinet", "id": A1}, "action": "dim", "levelPct": 150, "why": "essai"})),
        )
        .await;
    r.problem(400, "BadRequestData");
    let audit = lab.audit().await;
    assert_eq!(audit.len(), before + 3);
    assert!(audit[..3]
        .iter()
        .all(|r| r["outcome"]["outcome"] == json!("refused")));
    assert_eq!(lab.sim.level(&Target::Cabinet(A1.into())), Some(40.0));
}

#[tokio::test]
async fn emergency_lighting_needs_the_role_and_reverts_on_time() {
    let lab = Lab::start().await;
    let request = json!({
        "area": {"kind": "circle", "lon": 4.85, "lat": 45.76, "radiusM": 150},
        "durationMin": 30,
        "why": "accident, secours sur place"
    });
    // An editor key not listed by the settings is refused, and the refusal is audited.
    let r = lab
        .call(
            Key::EditorA,
            Method::POST,
            "/emergency",
            Some(request.clone()),
        )
        .await;
    r.problem(403, "Forbidden");
    let last = &lab.audit().await[0];
    assert_eq!(last["outcome"]["outcome"], json!("refused"), "{last}");
    assert_eq!(last["keyId"], json!(lab.s.editor_a_id));
    assert_eq!(last["action"], json!("éclairage d'urgence"));
    assert_eq!(lab.sim.level(&Target::Group(G1.into())), None);

    // Once the admin lists the key (the rescue services'), it may.
    lab.call(
        Key::Admin,
        Method::PUT,
        "/settings",
        Some(json!({"commune": "Testville", "communeBoundary": boundary(), "emergencyKeyIds": [lab.s.editor_a_id]})),
    )
    .await
    .expect(200);
    let r = lab
        .call(Key::EditorA, Method::POST, "/emergency", Some(request))
        .await;
    r.expect(201);
    let o = r.json();
    assert_eq!(o["status"], json!("active"));
    assert!(
        o["targets"]
            .as_array()
            .unwrap()
            .contains(&json!({"kind": "group", "id": G1})),
        "{o}"
    );
    assert_eq!(lab.sim.level(&Target::Group(G1.into())), Some(100.0));
    let r = lab.call(Key::ReaderA, Method::GET, "/map", None).await;
    assert!(r.json()["features"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["properties"]["state"] == json!("emergency")));

    // Not before its end...
    lab.clock.advance(chrono::Duration::minutes(29));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = lab
        .call(Key::ReaderA, Method::GET, "/emergency", None)
        .await;
    assert_eq!(r.json()[0]["status"], json!("active"));
    assert_eq!(lab.sim.level(&Target::Group(G1.into())), Some(100.0));
    // ...and by itself once it is over: by day, back to off.
    lab.clock.advance(chrono::Duration::minutes(2));
    let mut ended = Value::Null;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = lab
            .call(Key::ReaderA, Method::GET, "/emergency", None)
            .await;
        if r.json()[0]["status"] == json!("ended") {
            ended = r.json()[0].clone();
            break;
        }
    }
    assert_eq!(
        ended["status"],
        json!("ended"),
        "the override did not revert"
    );
    assert_eq!(lab.sim.level(&Target::Group(G1.into())), Some(0.0));
    let last = &lab.audit().await[0];
    assert_eq!(last["actor"], json!("retour automatique"), "{last}");
    assert!(last["why"]
        .as_str()
        .unwrap()
        .starts_with("fin de l'éclairage d'urgence"));

    // Bad areas are refused (and audited) before anything is lit.
    let r = lab
        .call(
            Key::EditorA,
            Method::POST,
            "/emergency",
            Some(json!({"area": {"kind": "circle", "lon": 4.85, "lat": 45.76, "radiusM": 0}, "durationMin": 30, "why": "essai"})),
        )
        .await;
    r.problem(400, "BadRequestData");
}

#[tokio::test]
async fn sun_times_energy_and_faults() {
    let lab = Lab::start().await;
    let r = lab
        .call(
            Key::ReaderA,
            Method::GET,
            "/sun?lat=48.8566&lon=2.3522&date=2024-06-21",
            None,
        )
        .await;
    r.expect(200);
    let sun = r.json();
    let minutes = |hms: &str| {
        let p: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
        p[0] * 60 + p[1]
    };
    assert!(
        (minutes(sun["sunriseLocal"].as_str().unwrap()) - (5 * 60 + 47)).abs() <= 2,
        "{sun}"
    );
    assert!(
        (minutes(sun["sunsetLocal"].as_str().unwrap()) - (21 * 60 + 58)).abs() <= 2,
        "{sun}"
    );
    lab.call(Key::ReaderA, Method::GET, "/sun?lat=100&lon=2", None)
        .await
        .problem(400, "BadRequestData");

    let r = lab
        .call(Key::ReaderA, Method::GET, "/energy?year=2025", None)
        .await;
    r.expect(200);
    let e = r.json();
    assert_eq!(e["cabinets"].as_array().unwrap().len(), 2, "{e}");
    let jan = &e["totals"][0];
    // Without programs, everything runs dusk to dawn at full power: no savings.
    assert!(jan["baselineKwh"].as_f64().unwrap() > 0.0, "{jan}");
    assert!(jan["savingsKwh"].as_f64().unwrap().abs() < 1e-6, "{jan}");

    let r = lab.call(Key::ReaderA, Method::GET, "/faults", None).await;
    r.expect(200);
    assert_eq!(r.json()["faults"], json!([]));
}

/// The bearer token the test gateway expects.
const GATEWAY_TOKEN: &str = "talq-token-0123456789";

/// What the test gateway received: request line, `Authorization` header, JSON body.
type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

/// A TALQ-style gateway played by the test on a local port: it answers `fail_first`
/// requests with 503, then applies every command, and keeps what it received.
fn fake_gateway(fail_first: usize) -> (String, Seen) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/talq", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut sock) = stream else { continue };
            let Some((line, auth, body)) = read_request(&mut sock) else {
                continue;
            };
            log.lock().unwrap().push((line, auth, body.clone()));
            let (status, answer) = if n < fail_first {
                ("503 Service Unavailable", json!({"error": "busy"}))
            } else {
                (
                    "200 OK",
                    json!({"commandId": body["commandId"], "status": "applied",
                           "level": body["value"]["level"], "appliedAt": "2025-01-10T12:00:01Z"}),
                )
            };
            let out = answer.to_string();
            let _ = write!(
                sock,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{out}",
                out.len()
            );
        }
    });
    (url, seen)
}

/// One HTTP request: its first line, its `Authorization` header and its JSON body.
fn read_request(sock: &mut TcpStream) -> Option<(String, String, Value)> {
    sock.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let head = &text[..end];
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            let body = serde_json::from_slice(&buf[end + 4..end + 4 + len]).ok()?;
            let line = head.lines().next()?.to_string();
            return Some((line, header("authorization").unwrap_or_default(), body));
        }
    }
}

#[tokio::test]
async fn commands_reach_a_talq_gateway_with_its_token_and_are_tracked() {
    let (url, seen) = fake_gateway(1);
    let lab = Lab::start_with(Some(&url)).await;
    let r = lab
        .call(
            Key::EditorA,
            Method::POST,
            "/commands",
            Some(json!({"target": {"kind": "cabinet", "id": A1}, "action": "dim", "levelPct": 40, "why": "essai passerelle"})),
        )
        .await;
    r.expect(200);
    let ack = r.json();
    assert_eq!(ack["attempts"], json!(2), "the 503 was retried: {ack}");
    assert_eq!(ack["levelPct"], json!(40.0));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (line, auth, body) in &seen {
        assert!(line.starts_with("POST /talq/commands "), "{line}");
        assert_eq!(auth, &format!("Bearer {GATEWAY_TOKEN}"));
        assert_eq!(body["target"], json!({"kind": "cabinet", "id": A1}));
        assert_eq!(body["value"], json!({"lightState": "on", "level": 40.0}));
        assert_eq!(body["commandId"], ack["commandId"], "one id across retries");
    }
    // Nothing went to the simulated armoires; the acknowledgement is audited.
    assert_eq!(lab.sim.level(&Target::Cabinet(A1.into())), None);
    let last = &lab.audit().await[0];
    assert_eq!(last["outcome"]["outcome"], json!("acknowledged"), "{last}");
    assert_eq!(last["outcome"]["attempts"], json!(2));
    assert_eq!(last["why"], json!("essai passerelle"));
    assert_eq!(last["keyId"], json!(lab.s.editor_a_id));

    // A bad gateway address is refused before any server starts.
    for bad in [
        "gateway.example/talq",
        "ftp://gateway.example",
        "https://u:p@gw.example",
    ] {
        let err = LightingConfig::default()
            .with_talq_gateway(bad, None, Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lighting gateway URL"), "{bad}: {err}");
    }
}

#[tokio::test]
async fn deletions_of_programs_and_zones_are_audited() {
    let lab = Lab::start().await;
    let zone = json!({
        "id": "parc",
        "name": "Parc",
        "area": {"type": "Polygon", "coordinates": [[[4.845, 45.755], [4.852, 45.755], [4.852, 45.765], [4.845, 45.765], [4.845, 45.755]]]},
        "builtUp": true
    });
    lab.call(Key::EditorA, Method::POST, "/zones", Some(zone))
        .await
        .expect(201);
    let program = json!({"id": "nuit", "name": "Nuit", "plan": {"initialLevelPct": 100},
                         "targets": [{"kind": "group", "id": G1}]});
    lab.call(Key::EditorA, Method::POST, "/programs", Some(program))
        .await
        .expect(201);

    // A reader may not delete: refused, audited, nothing removed.
    lab.call(
        Key::ReaderA,
        Method::DELETE,
        "/programs/nuit?why=essai",
        None,
    )
    .await
    .problem(403, "Forbidden");
    let last = &lab.audit().await[0];
    assert_eq!(last["outcome"]["outcome"], json!("refused"), "{last}");
    assert_eq!(
        last["action"],
        json!("suppression du programme urn:ngsi-ld:LightingProgram:nuit")
    );
    lab.call(Key::ReaderA, Method::GET, "/programs/nuit", None)
        .await
        .expect(200);

    lab.call(
        Key::EditorA,
        Method::DELETE,
        "/programs/nuit?why=fin%20de%20l%27essai",
        None,
    )
    .await
    .expect(204);
    let last = &lab.audit().await[0];
    assert_eq!(last["outcome"]["outcome"], json!("deleted"), "{last}");
    assert_eq!(
        last["outcome"]["id"],
        json!("urn:ngsi-ld:LightingProgram:nuit")
    );
    assert_eq!(last["keyId"], json!(lab.s.editor_a_id));
    assert_eq!(last["actor"], json!(lab.s.editor_a_id));
    assert_eq!(last["why"], json!("fin de l'essai"));
    assert!(
        last["at"].as_str().unwrap().starts_with("2025-01-10T12:00"),
        "{last}"
    );
    let action = last["action"].as_str().unwrap();
    assert!(
        action.starts_with("suppression du programme urn:ngsi-ld:LightingProgram:nuit")
            && action.contains(G1),
        "{action}"
    );

    lab.call(Key::EditorA, Method::DELETE, "/zones/parc", None)
        .await
        .expect(204);
    let last = &lab.audit().await[0];
    assert_eq!(last["outcome"]["outcome"], json!("deleted"), "{last}");
    assert_eq!(
        last["outcome"]["id"],
        json!("urn:ngsi-ld:LightingZone:parc")
    );
    assert_eq!(last["why"], json!("zone supprimée"));
    assert_eq!(
        last["action"],
        json!("suppression de la zone urn:ngsi-ld:LightingZone:parc")
    );

    // Deleting what is not there changes nothing and leaves no record.
    let before = lab.audit().await.len();
    lab.call(Key::EditorA, Method::DELETE, "/zones/parc", None)
        .await
        .problem(404, "ResourceNotFound");
    assert_eq!(lab.audit().await.len(), before);
}

#[tokio::test]
async fn the_audit_log_is_paged_newest_first_with_its_count() {
    let lab = Lab::start().await;
    for level in [10, 20, 30, 40, 50] {
        lab.clock.advance(chrono::Duration::minutes(1));
        lab.call(
            Key::EditorA,
            Method::POST,
            "/commands",
            Some(json!({"target": {"kind": "cabinet", "id": A1}, "action": "dim", "levelPct": level, "why": format!("palier {level}")})),
        )
        .await
        .expect(200);
    }
    let page = |query: &'static str| {
        let lab = &lab;
        async move {
            let r = lab.call(Key::ReaderA, Method::GET, query, None).await;
            r.expect(200);
            let count: usize = r
                .header("ngsild-results-count")
                .expect("a count header")
                .parse()
                .unwrap();
            let whys: Vec<String> = r
                .json()
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["why"].as_str().unwrap().to_string())
                .collect();
            (whys, count, r.header("link"))
        }
    };
    let (all, count, link) = page("/audit").await;
    assert_eq!(count, 5);
    assert_eq!(
        all,
        [
            "palier 50",
            "palier 40",
            "palier 30",
            "palier 20",
            "palier 10"
        ]
    );
    assert_eq!(link, None, "one page holds everything");

    let (first, count, link) = page("/audit?limit=2").await;
    assert_eq!((first.as_slice(), count), (&all[..2], 5));
    assert_eq!(
        link.as_deref(),
        Some("</jumeau/v1/lighting/audit?limit=2&offset=2>; rel=\"next\"")
    );
    let (second, _, _) = page("/audit?limit=2&offset=2").await;
    assert_eq!(second, &all[2..4]);
    let (last, _, link) = page("/audit?limit=2&offset=4&count=true").await;
    assert_eq!(last, &all[4..]);
    assert_eq!(link, None);
    let (beyond, count, _) = page("/audit?offset=50").await;
    assert!(beyond.is_empty());
    assert_eq!(count, 5);

    for bad in ["/audit?limit=0", "/audit?limit=1001", "/audit?offset=-1"] {
        let detail = lab
            .call(Key::ReaderA, Method::GET, bad, None)
            .await
            .problem(400, "BadRequestData");
        assert!(
            detail.contains("limit") || detail.contains("offset"),
            "{bad}: {detail}"
        );
    }
    // The log names keys: a key covering the tenant is needed, even to page.
    lab.call(Key::None, Method::GET, "/audit?limit=2", None)
        .await
        .problem(401, "Unauthorized");
}
