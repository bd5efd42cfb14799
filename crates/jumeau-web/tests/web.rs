//! The web routes on a real server: the shell, the embedded assets (types, caching,
//! gzip), the API's 404s left alone, and the server-sent events of entity changes.
#![allow(missing_docs, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use jumeau_api::{ApiConfig, App};
use jumeau_store::sqlite::{SqliteOptions, SqliteStore};
use jumeau_twin::{dump, Twin};
use jumeau_web::WebConfig;
use serde_json::json;

struct Server {
    base: String,
    twin: Twin,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    start_with(WebConfig {
        default_tenant: "open".into(),
        ..Default::default()
    })
    .await
}

async fn start_with(config: WebConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap();
    let twin = Twin::new(Arc::new(store));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = App::new(twin.clone(), ApiConfig::default());
    let task = tokio::spawn(jumeau_web::serve(listener, app, config, async move {
        let _ = stopped.await;
    }));
    Server {
        base,
        twin,
        stop: Some(stop),
        task,
        _dir: dir,
    }
}

async fn lamp(twin: &Twin, tenant: &str, n: u32) {
    let e = json!({"id": format!("urn:ngsi-ld:Streetlight:{n}"), "type": "Streetlight",
        "status": {"type": "Property", "value": "ok"}});
    let report = dump::load_entities(twin, tenant, &[e], None).await.unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
}

/// The asset path prefix the shell points to (`/assets/<version>/`).
fn asset_prefix(html: &str) -> String {
    let start = html.find("/assets/").unwrap();
    let end = html[start + 8..].find('/').unwrap() + start + 9;
    html[start..end].to_string()
}

#[tokio::test]
async fn shell_and_assets() {
    let s = start().await;
    let c = reqwest::Client::new();
    let r = c.get(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    let html = r.text().await.unwrap();
    assert!(html.contains("<html lang=\"fr\">"));
    assert!(html.contains(r#""tenant":"open""#), "{html}");
    let prefix = asset_prefix(&html);
    assert!(html.contains(&format!("{prefix}js/main.js")));
    // The map's data is asked for by a small module read before MapLibre, and the modules
    // are fetched together rather than one import after another.
    assert!(html.contains(&format!(
        r#"<script type="module" src="{prefix}js/early.js" async>"#
    )));
    assert!(html.contains(&format!(
        r#"<link rel="modulepreload" href="{prefix}js/services.js">"#
    )));

    let url = format!("{}{prefix}vendor/maplibre-gl.js", s.base);
    let plain = c.get(&url).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(
        plain.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        plain.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_len = plain.bytes().await.unwrap().len();
    let gz = c
        .get(&url)
        .header("Accept-Encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["vary"], "Accept-Encoding");
    let gz_len = gz.bytes().await.unwrap().len();
    assert!(gz_len * 3 < plain_len, "{gz_len} vs {plain_len}");

    let css = c
        .get(format!("{}{prefix}app.css", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    // A page loaded before an upgrade still gets the files, uncached.
    let old = c
        .get(format!("{}/assets/0123456789ab/js/main.js", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 200);
    assert_eq!(old.headers()["cache-control"], "no-cache");
    let early = c
        .get(format!("{}{prefix}js/early.js", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), 200);
    let missing = c
        .get(format!("{}{prefix}js/nothing.js", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // The API keeps answering its own 404s as ProblemDetails.
    for path in ["/nothing", "/ngsi-ld/v1/nothing"] {
        let r = c.get(format!("{}{path}", s.base)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.headers()["content-type"], "application/json", "{path}");
    }
}

/// Reads the event stream until `needle` shows up (or fails after 10 seconds).
async fn read_until(resp: &mut reqwest::Response, needle: &str) -> String {
    let mut seen = String::new();
    let read = async {
        while let Some(chunk) = resp.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(needle) {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap_or_else(|_| panic!("no {needle:?} in the stream: {seen:?}"));
    seen
}

#[tokio::test]
async fn entity_changes_are_pushed_to_readers() {
    let mut s = start().await;
    let c = reqwest::Client::new();
    lamp(&s.twin, "open", 1).await;
    lamp(&s.twin, "closed", 1).await;
    s.twin.store.set_tenant_public("open", true).await.unwrap();

    // A private tenant needs a key, as for every read.
    let r = c
        .get(format!("{}/jumeau/v1/events?tenant=closed", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(format!("{}/jumeau/v1/events?tenant=../x", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let mut events = c
        .get(format!("{}/jumeau/v1/events?tenant=open", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    // The stream is open once the response head has arrived: a change of another tenant,
    // then one of this tenant; only the second is sent.
    lamp(&s.twin, "closed", 2).await;
    lamp(&s.twin, "open", 2).await;
    let seen = read_until(&mut events, "urn:ngsi-ld:Streetlight:2").await;
    assert!(seen.contains("event: change"), "{seen}");
    assert!(seen.contains(r#""types":["Streetlight"]"#), "{seen}");
    assert!(seen.contains(r#""deleted":false"#), "{seen}");
    assert_eq!(
        seen.matches("urn:ngsi-ld:Streetlight:").count(),
        1,
        "{seen}"
    );

    // Stopping the server ends the open stream instead of waiting for it forever.
    s.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), &mut s.task)
        .await
        .expect("the server stops with a stream open")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_configured_basemap_reaches_the_page() {
    let s = start_with(WebConfig {
        basemap_style: Some("https://tiles.example.org/style.json?a=1&b=</script>".into()),
        default_tenant: "crest".into(),
    })
    .await;
    let r = reqwest::get(format!("{}/", s.base)).await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("connect-src 'self' https:"), "{csp}");
    let html = r.text().await.unwrap();
    // The URL is in the page's configuration, unable to close its script element.
    assert!(
        html.contains(r#""basemap":"https://tiles.example.org/style.json?a=1&b=<\/script>""#),
        "{html}"
    );
    assert!(html.contains(r#""tenant":"crest""#));
}

/// Points lumineux with a place, in a public tenant.
async fn placed_lamps(twin: &Twin, tenant: &str, n: u32) {
    let all: Vec<_> = (0..n)
        .map(|i| {
            json!({"id": format!("urn:ngsi-ld:Streetlight:{i}"), "type": "Streetlight",
                "status": {"type": "Property", "value": if i == 3 { "defectiveLamp" } else { "ok" }},
                "location": {"type": "GeoProperty", "value": {"type": "Point",
                    "coordinates": [5.0 + f64::from(i) * 1e-4, 44.7]}}})
        })
        .collect();
    let report = dump::load_entities(twin, tenant, &all, None).await.unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    twin.store.set_tenant_public(tenant, true).await.unwrap();
}

#[tokio::test]
async fn large_api_answers_are_gzipped_and_decode_to_the_same_json() {
    use std::io::Read as _;
    let s = start().await;
    placed_lamps(&s.twin, "open", 400).await;
    let c = reqwest::Client::new();
    for path in [
        "/jumeau/v1/map?type=Streetlight",
        "/ngsi-ld/v1/entities?type=Streetlight&options=keyValues&limit=1000",
    ] {
        let url = format!("{}{path}", s.base);
        let get = |gzip: bool| {
            let mut rb = c
                .get(&url)
                .header("NGSILD-Tenant", "open")
                .header("Accept", "application/geo+json");
            if gzip {
                rb = rb.header("Accept-Encoding", "gzip");
            }
            rb.send()
        };
        let plain = get(false).await.unwrap();
        assert_eq!(plain.status(), 200, "{path}");
        assert!(plain.headers().get("content-encoding").is_none(), "{path}");
        let plain = plain.bytes().await.unwrap();
        let gz = get(true).await.unwrap();
        assert_eq!(gz.status(), 200, "{path}");
        assert_eq!(gz.headers()["content-encoding"], "gzip", "{path}");
        assert_eq!(gz.headers()["content-type"], "application/geo+json");
        let packed = gz.bytes().await.unwrap();
        assert!(
            packed.len() * 5 < plain.len(),
            "{} vs {}",
            packed.len(),
            plain.len()
        );
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_end(&mut unpacked)
            .unwrap();
        let a: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        let b: serde_json::Value = serde_json::from_slice(&unpacked).unwrap();
        assert_eq!(a, b, "{path}");
        assert_eq!(a["features"].as_array().unwrap().len(), 400, "{path}");
    }
    // Small answers go as they are.
    let small = c
        .get(format!(
            "{}/ngsi-ld/v1/entities?type=Streetlight&limit=1",
            s.base
        ))
        .header("NGSILD-Tenant", "open")
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(small.headers().get("content-encoding").is_none());
}

/// A commune of 60 points lumineux in 150 m, one of them faulty: at a low zoom the working
/// points are grouped, the faulty one is still drawn on its own (tests/lighting_map.mjs,
/// in headless Chromium).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_lamp_stays_visible_on_its_own_at_low_zoom() {
    if jumeau_testkit::skip_without_browser("the lighting map's browser test") {
        return;
    }
    const ADMIN: &str = "web-test-admin-key-0123456789abcdef";
    let s = start_with(WebConfig {
        default_tenant: "bourg".into(),
        ..Default::default()
    })
    .await;
    assert!(s.twin.auth.bootstrap_admin(ADMIN).await.unwrap());
    let c = reqwest::Client::new();
    let lighting = |method: reqwest::Method, path: &str| {
        c.request(method, format!("{}/jumeau/v1/lighting{path}", s.base))
            .bearer_auth(ADMIN)
            .header("NGSILD-Tenant", "bourg")
    };
    let settings = json!({"commune": "Bourg", "communeBoundary": {"type": "Polygon",
        "coordinates": [[[4.84, 45.75], [4.86, 45.75], [4.86, 45.77], [4.84, 45.77], [4.84, 45.75]]]}});
    let r = lighting(reqwest::Method::PUT, "/settings")
        .header("Content-Type", "application/json")
        .body(settings.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let mut csv =
        String::from("id;puissance;tcouleur;type_lampe;armoire;groupe;lon;lat;date_pose\n");
    for i in 0..60 {
        let (x, y) = (i % 10, i / 10);
        csv.push_str(&format!(
            "{i};35;3000;LED;A1;G1;{:.5};{:.5};2021-05-01\n",
            4.85 + f64::from(x) * 0.00015,
            45.76 + f64::from(y) * 0.0002
        ));
    }
    let r = lighting(reqwest::Method::POST, "/inventory/import")
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let map = lighting(reqwest::Method::GET, "/map")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let map: serde_json::Value = serde_json::from_str(&map).unwrap();
    let features = map["features"].as_array().unwrap();
    assert_eq!(features.len(), 60, "{map}");
    // One lamp reports a failure (its first status).
    let faulty = features[17]["id"].as_str().unwrap().to_string();
    let r = c
        .post(format!("{}/ngsi-ld/v1/entities/{faulty}/attrs", s.base))
        .bearer_auth(ADMIN)
        .header("NGSILD-Tenant", "bourg")
        .header("Content-Type", "application/json")
        .header("Link", "<https://raw.githubusercontent.com/smart-data-models/dataModel.Streetlighting/master/context.jsonld>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\"")
        .body(json!({"status": {"type": "Property", "value": "defectiveLamp"}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    // Open data, through the API so that its cache of tenant settings is cleared.
    let r = c
        .put(format!("{}/jumeau/v1/tenants/bourg", s.base))
        .bearer_auth(ADMIN)
        .header("Content-Type", "application/json")
        .body(json!({"public": true}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lighting_map.mjs");
    let base = s.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .arg(base)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("ok"), "{stdout}");
}
