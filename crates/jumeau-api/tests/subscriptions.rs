//! NGSI-LD subscriptions against a real server: CRUD, bad input, and notifications delivered
//! to a real HTTP receiver and a real MQTT broker, with retries, isolation of a failing
//! endpoint, a restart with notifications pending, and periodic notifications.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use common::{link, Key, Server, ADMIN_KEY, DEFAULT_VOCAB};
use jumeau_api::{ApiConfig, App};
use jumeau_store::sqlite::{SqliteOptions, SqliteStore};
use jumeau_twin::Twin;
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::{json, Value};

/// Generous bound on every wait: deliveries take milliseconds, a loaded CI machine more.
const WAIT: Duration = Duration::from_secs(30);

const SUBS: &str = "/ngsi-ld/v1/subscriptions";

/// One notification as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Value,
    /// When it arrived (for the latency benchmark).
    at: std::time::Instant,
}

/// A tiny HTTP receiver on 127.0.0.1: records every POST; paths under `/fail` answer 500,
/// paths under `/slow` answer after five minutes.
#[derive(Clone)]
struct Receiver {
    base: String,
    got: Arc<Mutex<Vec<Received>>>,
}

async fn record(
    State(got): State<Arc<Mutex<Vec<Received>>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let at = std::time::Instant::now();
    let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
    got.lock().unwrap().push(Received {
        path: path.clone(),
        headers,
        body,
        at,
    });
    if path.starts_with("slow") {
        tokio::time::sleep(Duration::from_secs(300)).await;
    }
    if path.starts_with("fail") {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

impl Receiver {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener)
    }

    fn serve(listener: tokio::net::TcpListener) -> Self {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/{*path}", post(record))
            .with_state(got.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, got }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    /// What `path` received so far.
    fn at(&self, path: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` received at least `n` notifications, and returns them.
    async fn wait(&self, path: &str, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let got = self.at(path);
            if got.len() >= n {
                return got;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "{path} received {} notifications, not {n}: {got:?}",
                    got.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Waits until `check` holds of the subscription as GET returns it.
async fn wait_status(s: &Server, id: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = s.get(&format!("{SUBS}/{}", common::enc(id))).await;
        r.expect(200);
        let v = r.json();
        if check(&v) {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("the subscription never reached the expected state: {v}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn lamp(n: u32, power: &str, luminosity: u32) -> Value {
    json!({
        "id": format!("urn:ngsi-ld:Streetlight:{n}"),
        "type": "Streetlight",
        "powerState": {"type": "Property", "value": power},
        "luminosity": {"type": "Property", "value": luminosity},
    })
}

fn lamp_path(n: u32) -> String {
    format!(
        "/ngsi-ld/v1/entities/{}",
        common::enc(&format!("urn:ngsi-ld:Streetlight:{n}"))
    )
}

/// Creates a subscription (application/json, core context) and returns its id.
async fn subscribe(s: &Server, body: Value) -> String {
    let r = s.post(SUBS, &body).await;
    r.expect(201);
    let location = r.header("location").unwrap();
    let id = location.rsplit('/').next().unwrap().replace("%3A", ":");
    assert!(location.starts_with("/ngsi-ld/v1/subscriptions/"));
    id
}

fn watching(uri: &str) -> Value {
    json!({
        "type": "Subscription",
        "entities": [{"type": "Streetlight"}],
        "notification": {"endpoint": {"uri": uri}}
    })
}

#[tokio::test]
async fn subscriptions_are_created_listed_read_patched_and_deleted() {
    let s = Server::start().await;
    let mut body = watching("http://127.0.0.1:9/n");
    body["id"] = json!("urn:ngsi-ld:Subscription:crud");
    body["subscriptionName"] = json!("lampadaires");
    body["watchedAttributes"] = json!(["powerState"]);
    let id = subscribe(&s, body.clone()).await;
    assert_eq!(id, "urn:ngsi-ld:Subscription:crud");
    s.post(SUBS, &body).await.problem(409, "AlreadyExists");
    for i in 0..3 {
        subscribe(&s, watching(&format!("http://127.0.0.1:9/{i}"))).await;
    }

    let r = s.get(&format!("{SUBS}/{id}")).await;
    r.expect(200);
    assert_eq!(r.content_type(), "application/json");
    let v = r.json();
    assert_eq!(v["id"], json!(id));
    assert_eq!(v["type"], json!("Subscription"));
    assert_eq!(v["subscriptionName"], json!("lampadaires"));
    assert_eq!(v["entities"], json!([{"type": "Streetlight"}]));
    assert_eq!(v["watchedAttributes"], json!(["powerState"]));
    assert_eq!(v["status"], json!("active"));
    assert_eq!(v["isActive"], json!(true));
    assert_eq!(
        v["notification"]["endpoint"]["uri"],
        json!("http://127.0.0.1:9/n")
    );
    assert_eq!(v["notification"]["format"], json!("normalized"));

    // JSON-LD: the @context in the body.
    let r = s
        .send(
            s.req(Method::GET, &format!("{SUBS}/{id}"))
                .header("Accept", "application/ld+json"),
        )
        .await;
    r.expect(200);
    assert_eq!(r.content_type(), "application/ld+json");
    assert!(r.json()["@context"].is_string());

    // Paging and count.
    let r = s.get(&format!("{SUBS}?limit=2&offset=1&count=true")).await;
    r.expect(200);
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("4"));
    let page = r.json();
    assert_eq!(page.as_array().unwrap().len(), 2);
    assert_ne!(page[0]["id"], json!(id));
    assert_eq!(s.get(SUBS).await.json().as_array().unwrap().len(), 4);
    s.get(&format!("{SUBS}?limit=5000"))
        .await
        .problem(403, "TooManyResults");
    // Other tenants see none of them.
    let r = s
        .send(s.req(Method::GET, SUBS).header("NGSILD-Tenant", "city-b"))
        .await;
    r.expect(200);
    assert_eq!(r.json(), json!([]));

    // PATCH: members replaced, the others kept.
    s.patch(
        &format!("{SUBS}/{id}"),
        &json!({"isActive": false, "throttling": 5}),
    )
    .await
    .expect(204);
    let v = s.get(&format!("{SUBS}/{id}")).await.json();
    assert_eq!(v["isActive"], json!(false));
    assert_eq!(v["status"], json!("paused"));
    assert_eq!(v["throttling"], json!(5));
    assert_eq!(v["subscriptionName"], json!("lampadaires"));

    s.delete(&format!("{SUBS}/{id}")).await.expect(204);
    s.get(&format!("{SUBS}/{id}"))
        .await
        .problem(404, "ResourceNotFound");
    s.delete(&format!("{SUBS}/{id}"))
        .await
        .problem(404, "ResourceNotFound");
    s.patch(&format!("{SUBS}/{id}"), &json!({"isActive": true}))
        .await
        .problem(404, "ResourceNotFound");
    assert_eq!(s.get(SUBS).await.json().as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn subscriptions_need_keys_covering_the_tenant() {
    let s = Server::start().await;
    let body = watching("http://127.0.0.1:9/n");
    let create = |key| {
        s.req_as(key, Method::POST, SUBS)
            .header(CONTENT_TYPE, "application/json")
            .header("NGSILD-Tenant", "city-a")
            .body(body.to_string())
    };
    s.send(create(Key::None)).await.problem(401, "Unauthorized");
    s.send(create(Key::ReaderA)).await.problem(403, "Forbidden");
    let r = s.send(create(Key::EditorA)).await;
    r.expect(201);
    let path = r.header("location").unwrap();

    let read = |key, path: &str| {
        s.req_as(key, Method::GET, path)
            .header("NGSILD-Tenant", "city-a")
    };
    s.send(read(Key::None, SUBS))
        .await
        .problem(401, "Unauthorized");
    s.send(read(Key::None, &path))
        .await
        .problem(401, "Unauthorized");
    s.send(read(Key::ReaderA, &path)).await.expect(200);
    s.send(read(Key::ReaderA, SUBS)).await.expect(200);
    // A public tenant still hides its subscriptions (endpoints, receiverInfo) from anonymous
    // callers.
    s.send(
        s.req_as(Key::Admin, Method::PUT, "/jumeau/v1/tenants/city-a")
            .header(CONTENT_TYPE, "application/json")
            .body(json!({"public": true}).to_string()),
    )
    .await
    .expect(200);
    s.send(read(Key::None, SUBS))
        .await
        .problem(401, "Unauthorized");

    for (method, key) in [(Method::PATCH, Key::ReaderA), (Method::DELETE, Key::None)] {
        let r = s
            .send(
                s.req_as(key, method, &path)
                    .header(CONTENT_TYPE, "application/json")
                    .header("NGSILD-Tenant", "city-a")
                    .body(json!({"isActive": false}).to_string()),
            )
            .await;
        assert!(matches!(r.status, 401 | 403), "{}", r.text);
    }
    let bad = s
        .send(
            s.req_as(Key::None, Method::GET, SUBS)
                .header("Authorization", "Bearer nope"),
        )
        .await;
    bad.problem(401, "Unauthorized");
}

#[tokio::test]
async fn bad_subscriptions_are_refused_with_precise_problems() {
    let s = Server::start().await;
    let base = watching("http://127.0.0.1:9/n");
    let with = |member: &str, value: Value| {
        let mut b = base.clone();
        b[member] = value;
        b
    };
    let endpoint = |uri: &str| {
        let mut b = base.clone();
        b["notification"]["endpoint"]["uri"] = json!(uri);
        b
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("q", with("q", json!("luminosity==")), "q"),
        ("q unbalanced", with("q", json!("(a==1")), "q"),
        (
            "geoQ",
            with(
                "geoQ",
                json!({"geometry": "Point", "coordinates": [500, 2], "georel": "near;maxDistance==10"}),
            ),
            "geoQ",
        ),
        (
            "geoQ georel",
            with(
                "geoQ",
                json!({"geometry": "Point", "coordinates": [5, 45], "georel": "closeTo"}),
            ),
            "geoQ",
        ),
        (
            "watchedAttributes not a list",
            with("watchedAttributes", json!("powerState")),
            "watchedAttributes",
        ),
        (
            "watchedAttributes empty",
            with("watchedAttributes", json!([])),
            "watchedAttributes",
        ),
        (
            "watchedAttributes blank name",
            with("watchedAttributes", json!([""])),
            "watchedAttributes",
        ),
        ("endpoint not a URI", endpoint("not a uri"), "uri"),
        ("endpoint scheme", endpoint("ftp://example.org/n"), "uri"),
        (
            "mqtt without topic",
            endpoint("mqtt://127.0.0.1:1883"),
            "uri",
        ),
        (
            "mqtt wildcard",
            endpoint("mqtt://127.0.0.1:1883/a/+"),
            "uri",
        ),
        ("mqtts", endpoint("mqtts://127.0.0.1:8883/a"), "uri"),
        (
            "expiresAt past",
            with("expiresAt", json!("2001-01-01T00:00:00Z")),
            "expiresAt",
        ),
        (
            "expiresAt not a date",
            with("expiresAt", json!("tomorrow")),
            "expiresAt",
        ),
        (
            "throttling negative",
            with("throttling", json!(-1)),
            "throttling",
        ),
        (
            "throttling with timeInterval",
            {
                let mut b = with("throttling", json!(5));
                b["timeInterval"] = json!(10);
                b
            },
            "throttling",
        ),
        (
            "no notification",
            {
                let mut b = base.clone();
                b.as_object_mut().unwrap().remove("notification");
                b
            },
            "notification",
        ),
        ("wrong type", with("type", json!("Abonnement")), "type"),
    ];
    for (what, body, member) in cases {
        let r = s.post(SUBS, &body).await;
        let detail = r.problem(400, "BadRequestData");
        assert!(
            detail.contains(member),
            "{what}: the detail should name {member}: {detail}"
        );
    }
    // Not JSON at all.
    s.send(
        s.req(Method::POST, SUBS)
            .header(CONTENT_TYPE, "application/json")
            .body("{"),
    )
    .await
    .problem(400, "InvalidRequest");
    // A bad id in the path, a bad PATCH of an existing subscription.
    s.get(&format!("{SUBS}/not%20an%20id"))
        .await
        .problem(400, "BadRequestData");
    let id = subscribe(&s, base.clone()).await;
    s.patch(&format!("{SUBS}/{id}"), &json!({"throttling": -3}))
        .await
        .problem(400, "BadRequestData");
    s.patch(&format!("{SUBS}/{id}"), &json!({"q": "a=="}))
        .await
        .problem(400, "BadRequestData");
    // Nothing was changed by the refused patches.
    let v = s.get(&format!("{SUBS}/{id}")).await.json();
    assert!(v.get("throttling").is_none() && v.get("q").is_none(), "{v}");
}

#[tokio::test]
async fn entity_changes_are_notified_with_the_subscription_format_and_filters() {
    let s = Server::start().await;
    let rx = Receiver::start().await;
    // Creation, update of a watched attribute and deletion, normalized.
    let mut all = watching(&rx.url("all"));
    all["watchedAttributes"] = json!(["powerState"]);
    all["notificationTrigger"] = json!(["entityCreated", "attributeUpdated", "entityDeleted"]);
    all["notification"]["endpoint"]["receiverInfo"] =
        json!([{"key": "X-Token", "value": "s3cret"}]);
    let all_id = subscribe(&s, all).await;
    // Bright lamps only, keyValues, one attribute.
    let mut bright = watching(&rx.url("bright"));
    bright["q"] = json!("luminosity>50");
    bright["notification"]["format"] = json!("keyValues");
    bright["notification"]["attributes"] = json!(["luminosity"]);
    subscribe(&s, bright).await;
    // JSON-LD receiver.
    let mut ld = watching(&rx.url("ld"));
    ld["notification"]["endpoint"]["accept"] = json!("application/ld+json");
    subscribe(&s, ld).await;

    s.create(&lamp(1, "on", 80)).await;
    let got = rx.wait("all", 1).await;
    let n = &got[0];
    assert_eq!(
        n.headers["content-type"].to_str().unwrap(),
        "application/json"
    );
    assert!(n.headers["link"]
        .to_str()
        .unwrap()
        .contains("ngsi-ld-core-context"));
    assert_eq!(n.headers["x-token"].to_str().unwrap(), "s3cret");
    assert_eq!(n.body["type"], json!("Notification"));
    assert_eq!(n.body["subscriptionId"], json!(all_id));
    assert!(n.body["id"]
        .as_str()
        .unwrap()
        .starts_with("urn:ngsi-ld:Notification:"));
    assert!(n.body["notifiedAt"].is_string());
    let e = &n.body["data"][0];
    assert_eq!(e["id"], json!("urn:ngsi-ld:Streetlight:1"));
    assert_eq!(e["type"], json!("Streetlight"));
    assert_eq!(e["powerState"], json!({"type": "Property", "value": "on"}));

    let b = rx.wait("bright", 1).await;
    assert_eq!(
        b[0].body["data"],
        json!([{"id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight", "luminosity": 80}])
    );
    let l = rx.wait("ld", 1).await;
    assert_eq!(
        l[0].headers["content-type"].to_str().unwrap(),
        "application/ld+json"
    );
    assert!(l[0].body["@context"].is_string());
    assert!(l[0].headers.get("link").is_none());

    // An unwatched attribute changes: "all" says nothing (the next write it gets is the
    // watched one, as each endpoint gets its notifications in order).
    let attrs = format!("{}/attrs", lamp_path(1));
    s.patch(
        &attrs,
        &json!({"luminosity": {"type": "Property", "value": 20}}),
    )
    .await
    .expect(204);
    s.patch(
        &attrs,
        &json!({"powerState": {"type": "Property", "value": "off"}}),
    )
    .await
    .expect(204);
    let got = rx.wait("all", 2).await;
    assert_eq!(got[1].body["data"][0]["powerState"]["value"], json!("off"));
    // Another type is not selected.
    s.create(&json!({"id": "urn:ngsi-ld:Cabinet:1", "type": "Cabinet",
        "powerState": {"type": "Property", "value": "on"}}))
        .await;
    s.delete(&lamp_path(1)).await.expect(204);
    let got = rx.wait("all", 3).await;
    assert_eq!(
        got[2].body["data"],
        json!([{"id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight"}])
    );
    // The dim lamp never matched "bright" again; the ld endpoint got create and updates.
    rx.wait("ld", 3).await;
    assert_eq!(rx.at("bright").len(), 1);

    let v = wait_status(&s, &all_id, |v| v["notification"]["timesSent"] == json!(3)).await;
    assert_eq!(v["notification"]["status"], json!("ok"));
    assert!(v["notification"]["lastSuccess"].is_string());
    assert!(v["notification"]["lastNotification"].is_string());
    assert!(v["notification"].get("lastFailure").is_none());
}

#[tokio::test]
async fn throttling_holds_back_notifications_within_the_period() {
    let s = Server::start().await;
    let rx = Receiver::start().await;
    let mut slow = watching(&rx.url("throttled"));
    slow["throttling"] = json!(3600);
    subscribe(&s, slow).await;
    subscribe(&s, watching(&rx.url("every"))).await;
    s.create(&lamp(1, "on", 10)).await;
    let attrs = format!("{}/attrs", lamp_path(1));
    for v in 11..14 {
        s.patch(
            &attrs,
            &json!({"luminosity": {"type": "Property", "value": v}}),
        )
        .await
        .expect(204);
    }
    // Notifications are queued before each write returns: once "every" got its four, the
    // throttled subscription has all it will ever get for these writes.
    rx.wait("every", 4).await;
    let got = rx.wait("throttled", 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].body["data"][0]["luminosity"]["value"], json!(10));
}

#[tokio::test]
async fn notifications_are_published_on_mqtt() {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let broker = jumeau_testkit::Mosquitto::start().unwrap();
    let mut options = MqttOptions::new("jumeau-test-listener", "127.0.0.1", broker.port());
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut events) = AsyncClient::new(options, 16);
    client
        .subscribe("ville/lampadaires", QoS::AtLeastOnce)
        .await
        .unwrap();
    let (tx, mut messages) = tokio::sync::mpsc::unbounded_channel();
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut subscribed_tx = Some(subscribed_tx);
        while let Ok(event) = events.poll().await {
            match event {
                Event::Incoming(Packet::SubAck(_)) => {
                    if let Some(t) = subscribed_tx.take() {
                        let _ = t.send(());
                    }
                }
                Event::Incoming(Packet::Publish(p)) => {
                    let _ = tx.send((p.topic.clone(), p.qos, p.payload.to_vec()));
                }
                _ => {}
            }
        }
    });
    tokio::time::timeout(WAIT, subscribed)
        .await
        .unwrap()
        .unwrap();

    let s = Server::start().await;
    let mut body = watching(&format!("{}/ville/lampadaires", broker.url()));
    body["notification"]["endpoint"]["notifierInfo"] = json!([{"key": "MQTT-QoS", "value": "1"}]);
    body["notification"]["endpoint"]["receiverInfo"] =
        json!([{"key": "X-Origin", "value": "jumeau"}]);
    let id = subscribe(&s, body).await;
    s.create(&lamp(7, "on", 60)).await;

    let (topic, qos, payload) = tokio::time::timeout(WAIT, messages.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(topic, "ville/lampadaires");
    assert_eq!(qos, QoS::AtLeastOnce);
    let v: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(v["metadata"]["Content-Type"], json!("application/json"));
    assert_eq!(v["metadata"]["X-Origin"], json!("jumeau"));
    assert!(v["metadata"]["Link"].is_string());
    assert_eq!(v["body"]["type"], json!("Notification"));
    assert_eq!(v["body"]["subscriptionId"], json!(id));
    assert_eq!(
        v["body"]["data"][0]["id"],
        json!("urn:ngsi-ld:Streetlight:7")
    );
    wait_status(&s, &id, |v| v["notification"]["timesSent"] == json!(1)).await;

    // The broker restarts: the next notification reconnects.
    let mut broker = broker;
    broker.restart().unwrap();
    let attrs = format!("{}/attrs", lamp_path(7));
    s.patch(
        &attrs,
        &json!({"luminosity": {"type": "Property", "value": 61}}),
    )
    .await
    .expect(204);
    wait_status(&s, &id, |v| {
        v["notification"]["lastSuccess"].is_string()
            && v["notification"]["timesSent"].as_u64() >= Some(2)
    })
    .await;
}

#[tokio::test]
async fn a_failing_endpoint_neither_fails_writes_nor_delays_other_subscribers() {
    let s = Server::start().await;
    let rx = Receiver::start().await;
    // Nothing listens on a port just freed: connection refused.
    let refused = format!(
        "http://127.0.0.1:{}/n",
        jumeau_testkit::free_port().unwrap()
    );
    let down = subscribe(&s, watching(&refused)).await;
    let erroring = subscribe(&s, watching(&rx.url("fail"))).await;
    let mut slow = watching(&rx.url("slow"));
    slow["notification"]["endpoint"]["timeout"] = json!(120_000);
    subscribe(&s, slow).await;
    let up = subscribe(&s, watching(&rx.url("ok"))).await;

    s.create(&lamp(1, "on", 10)).await;
    rx.wait("ok", 1).await;
    let attrs = format!("{}/attrs", lamp_path(1));
    s.patch(
        &attrs,
        &json!({"luminosity": {"type": "Property", "value": 11}}),
    )
    .await
    .expect(204);
    rx.wait("ok", 2).await;
    wait_status(&s, &up, |v| v["notification"]["timesSent"] == json!(2)).await;
    // The slow receiver still holds the first notification (it answers in minutes, and may
    // take two): its second waits in its own queue, and delayed nobody else's.
    assert_eq!(rx.wait("slow", 1).await.len(), 1);

    // The failing ones are retried, and say why they fail.
    for id in [&down, &erroring] {
        let v = wait_status(&s, id, |v| {
            v["notification"]["timesFailed"].as_u64() >= Some(2)
        })
        .await;
        let n = &v["notification"];
        assert_eq!(n["status"], json!("failed"), "{v}");
        assert!(n["lastFailure"].is_string(), "{v}");
        assert!(n.get("lastSuccess").is_none(), "{v}");
        assert!(n["lastErrorReason"].is_string(), "{v}");
    }
    let v = s.get(&format!("{SUBS}/{down}")).await.json();
    assert!(
        v["notification"]["lastErrorReason"]
            .as_str()
            .unwrap()
            .contains("cannot reach"),
        "{v}"
    );
    let v = s.get(&format!("{SUBS}/{erroring}")).await.json();
    assert!(
        v["notification"]["lastErrorReason"]
            .as_str()
            .unwrap()
            .contains("500"),
        "{v}"
    );
    // The erroring receiver got the first notification again, not the second in between.
    let tries = rx.at("fail");
    assert!(tries.len() >= 2);
    assert_eq!(tries[0].body["id"], tries[1].body["id"]);
}

/// A server over a data directory of the test's own, which the test stops and starts again.
struct Instance {
    base: String,
    twin: Twin,
    notifier: jumeau_twin::NotifierHandle,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Instance {
    async fn start(dir: &std::path::Path) -> Self {
        let store = SqliteStore::open(dir, SqliteOptions::default()).unwrap();
        let twin = Twin::new(Arc::new(store));
        twin.auth.bootstrap_admin(ADMIN_KEY).await.unwrap();
        let notifier = twin.start_notifier();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = App::new(twin.clone(), ApiConfig::default());
        let served = tokio::spawn(jumeau_api::serve(listener, app, async {
            let _ = stopped.await;
        }));
        Self {
            base,
            twin,
            notifier,
            stop,
            served,
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut rb = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_KEY);
        if let Some(b) = body {
            rb = rb
                .header(CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn stop(self) {
        self.notifier.stop().await;
        let _ = self.stop.send(());
        self.served.await.unwrap().unwrap();
        drop(self.twin);
    }
}

#[tokio::test]
async fn pending_notifications_survive_a_restart_and_are_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = jumeau_testkit::free_port().unwrap();
    let first = Instance::start(dir.path()).await;
    let body = watching(&format!("http://127.0.0.1:{port}/n"));
    let (status, _) = first.send(Method::POST, SUBS, Some(&body)).await;
    assert_eq!(status, 201);
    for n in 1..=3 {
        let (status, _) = first
            .send(
                Method::POST,
                "/ngsi-ld/v1/entities",
                Some(&lamp(n, "on", n)),
            )
            .await;
        assert_eq!(status, 201);
    }
    // The receiver is down: wait for a failed attempt, then stop the server.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, list) = first.send(Method::GET, SUBS, None).await;
        if list[0]["notification"]["timesFailed"].as_u64() >= Some(1) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no attempt: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.stop().await;

    // The receiver comes up on its port, the server starts again over the same data.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let rx = Receiver::serve(listener);
    let second = Instance::start(dir.path()).await;
    let got = rx.wait("n", 3).await;
    // Once the outbox is empty nothing more can come: each was delivered exactly once.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !second
        .twin
        .store
        .pending_notifications()
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox never emptied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got_all = rx.at("n");
    assert_eq!(got_all.len(), 3, "{got:?}");
    let mut ids: Vec<String> = got_all
        .iter()
        .map(|r| r.body["data"][0]["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        (1..=3)
            .map(|n| format!("urn:ngsi-ld:Streetlight:{n}"))
            .collect::<Vec<_>>()
    );
    let (_, list) = second.send(Method::GET, SUBS, None).await;
    assert_eq!(list[0]["notification"]["status"], json!("ok"), "{list}");
    second.stop().await;
}

#[tokio::test]
async fn periodic_subscriptions_notify_every_interval() {
    let s = Server::start().await;
    let rx = Receiver::start().await;
    s.create(&lamp(1, "on", 80)).await;
    s.create(&lamp(2, "off", 0)).await;
    let mut body = watching(&rx.url("periodic"));
    body["timeInterval"] = json!(1);
    body["q"] = json!("powerState==\"on\"");
    let id = subscribe(&s, body).await;
    let got = rx.wait("periodic", 2).await;
    for n in &got[..2] {
        assert_eq!(n.body["subscriptionId"], json!(id));
        let data = n.body["data"].as_array().unwrap();
        assert_eq!(data.len(), 1, "{data:?}");
        assert_eq!(data[0]["id"], json!("urn:ngsi-ld:Streetlight:1"));
    }
    assert_ne!(got[0].body["id"], got[1].body["id"]);
    // Paused: no more notifications; nothing is sent for changes either.
    s.patch(&format!("{SUBS}/{id}"), &json!({"isActive": false}))
        .await
        .expect(204);
    let v = s.get(&format!("{SUBS}/{id}")).await.json();
    assert_eq!(v["status"], json!("paused"));
    assert_eq!(v["timeInterval"], json!(1));
}

#[tokio::test]
async fn subscriptions_compact_with_the_callers_context() {
    let s = Server::start().await;
    let r = s
        .send(
            s.req(Method::POST, SUBS)
                .header(CONTENT_TYPE, "application/ld+json")
                .body(
                    json!({
                        "type": "Subscription",
                        "entities": [{"type": "Streetlight"}],
                        "watchedAttributes": ["powerState"],
                        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}},
                        "@context": common::SDM_STREETLIGHTING,
                    })
                    .to_string(),
                ),
        )
        .await;
    r.expect(201);
    let path = r.header("location").unwrap();
    // Read with the core context: names come back expanded under the SDM vocabulary.
    let v = s.get(&path).await.json();
    let t = v["entities"][0]["type"].as_str().unwrap();
    assert!(t.starts_with("https://"), "{v}");
    assert!(!t.starts_with(DEFAULT_VOCAB), "{v}");
    // Read with the same context: short names.
    let v = s
        .send(
            s.req(Method::GET, &path)
                .header("Link", link(common::SDM_STREETLIGHTING)),
        )
        .await
        .json();
    assert_eq!(v["entities"][0]["type"], json!("Streetlight"));
    assert_eq!(v["watchedAttributes"], json!(["powerState"]));
}

/// The p-th percentile of sorted samples, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what}: {} notifications, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.95),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0),
    );
}

/// The latency benchmark of docs/benchmarks.md ("Notifications"): from the start of an
/// entity write over HTTP to the arrival of its notification at an HTTP receiver, with 100
/// active subscriptions. Run by hand:
/// `CARGO_TARGET_DIR=/work/target-bench cargo test --release -p jumeau-api --test subscriptions -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark, run by hand in release mode"]
async fn bench_notification_latency_with_100_subscriptions() {
    const SUBSCRIPTIONS: u32 = 100;
    let s = Server::start().await;
    let rx = Receiver::start().await;
    for n in 0..SUBSCRIPTIONS {
        s.create(&lamp(n, "on", 0)).await;
    }

    // One subscription per street light: each write notifies one receiver.
    let mut ids = Vec::new();
    for n in 0..SUBSCRIPTIONS {
        let mut body = watching(&rx.url(&format!("one/{n}")));
        body["entities"] =
            json!([{"type": "Streetlight", "id": format!("urn:ngsi-ld:Streetlight:{n}")}]);
        ids.push(subscribe(&s, body).await);
    }
    let mut samples = Vec::new();
    for w in 1..=1000u32 {
        let n = (w * 37) % SUBSCRIPTIONS;
        let path = format!("one/{n}");
        let before = rx.at(&path).len();
        let start = std::time::Instant::now();
        s.patch(
            &format!("{}/attrs", lamp_path(n)),
            &json!({"luminosity": {"type": "Property", "value": w}}),
        )
        .await
        .expect(204);
        let got = rx.wait(&path, before + 1).await;
        samples.push(got[before].at - start);
    }
    report("100 subscriptions, 1 notified per write", samples);

    // The same 100 subscriptions changed to watch every street light: each write notifies
    // 100 receivers.
    for id in &ids {
        s.patch(
            &format!("{SUBS}/{}", common::enc(id)),
            &json!({"entities": [{"type": "Streetlight"}]}),
        )
        .await
        .expect(204);
    }
    let mut samples = Vec::new();
    for w in 1..=200u32 {
        let counts: Vec<usize> = (0..SUBSCRIPTIONS)
            .map(|n| rx.at(&format!("one/{n}")).len())
            .collect();
        let start = std::time::Instant::now();
        s.patch(
            &format!("{}/attrs", lamp_path(0)),
            &json!({"luminosity": {"type": "Property", "value": 10_000 + w}}),
        )
        .await
        .expect(204);
        for n in 0..SUBSCRIPTIONS {
            let got = rx.wait(&format!("one/{n}"), counts[n as usize] + 1).await;
            samples.push(got[counts[n as usize]].at - start);
        }
    }
    report("100 subscriptions, all 100 notified per write", samples);
}

#[tokio::test]
async fn paused_and_expired_subscriptions_notify_nothing() {
    let s = Server::start().await;
    let rx = Receiver::start().await;
    // Three subscriptions on one endpoint, whose notifications therefore arrive in order.
    let marker = subscribe(&s, watching(&rx.url("shared"))).await;
    let mut paused = watching(&rx.url("shared"));
    paused["isActive"] = json!(false);
    let paused = subscribe(&s, paused).await;
    let mut expiring = watching(&rx.url("shared"));
    let soon = chrono::Utc::now() + chrono::TimeDelta::seconds(1);
    expiring["expiresAt"] = json!(soon.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let expiring = subscribe(&s, expiring).await;
    wait_status(&s, &expiring, |v| v["status"] == json!("expired")).await;

    s.create(&lamp(1, "on", 10)).await;
    rx.wait("shared", 1).await;
    // Every notification of that write was queued before it returned: once the outbox is
    // empty, the receiver has all there will be.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !s
        .twin
        .store
        .pending_notifications()
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox never emptied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = rx.at("shared");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].body["subscriptionId"], json!(marker));
    for id in [&paused, &expiring] {
        let v = s.get(&format!("{SUBS}/{id}")).await.json();
        assert!(v["notification"].get("timesSent").is_none(), "{v}");
    }
}
