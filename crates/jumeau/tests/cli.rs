//! The command line end to end: import of the files communes publish, and the export that
//! `import` restores identically (reversibility is a promise to communes).

use std::path::Path;
use std::process::{Command, Output};

fn jumeau(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_jumeau"))
        .args(args)
        .output()
        .expect("the jumeau binary runs");
    assert!(
        out.status.success(),
        "jumeau {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../jumeau-twin/tests/fixtures/import")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn export(data: &Path, tenant: &str) -> serde_json::Value {
    let file = data.join(format!("{tenant}-export.json"));
    jumeau(&[
        "export",
        "--data",
        &data.to_string_lossy(),
        "--tenant",
        tenant,
        "-o",
        &file.to_string_lossy(),
    ]);
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("export written"))
            .expect("export is JSON");
    v.as_object_mut().expect("an object").remove("exportedAt");
    v
}

#[test]
fn export_then_import_restores_a_territory_identically() {
    let a = tempfile::tempdir().expect("dir");
    let b = tempfile::tempdir().expect("dir");
    let a_data = a.path().to_string_lossy().into_owned();
    jumeau(&["demo", "--data", &a_data, "--no-serve"]);
    let csv = jumeau(&[
        "import",
        &fixture("eclairage_wgs84.csv"),
        "--data",
        &a_data,
        "--tenant",
        "demo",
        "--type",
        "Streetlight",
        "--id-field",
        "identifiant",
    ]);
    let report = String::from_utf8_lossy(&csv.stderr);
    assert!(
        report.contains("rejected row"),
        "the CSV's bad rows are reported: {report}"
    );
    let first = export(a.path(), "demo");
    let entities = first["entities"].as_array().expect("entities").len();
    assert!(entities > 150, "{entities} entities exported");
    assert_eq!(first["public"], true);

    let dump = a.path().join("demo-export.json");
    jumeau(&[
        "import",
        &dump.to_string_lossy(),
        "--data",
        &b.path().to_string_lossy(),
    ]);
    let second = export(b.path(), "demo");
    assert_eq!(
        first, second,
        "the restored territory differs from the exported one"
    );
}

#[test]
fn lambert93_csv_lands_in_wgs84_and_bad_rows_are_listed() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().to_string_lossy().into_owned();
    let out = jumeau(&[
        "import",
        &fixture("eclairage_lambert93.csv"),
        "--data",
        &data,
        "--tenant",
        "bourg",
        "--type",
        "Streetlight",
        "--crs",
        "lambert93",
    ]);
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(report.contains("created"), "{report}");
    let v = export(dir.path(), "bourg");
    for e in v["entities"].as_array().expect("entities") {
        let c = &e["location"]["value"]["coordinates"];
        let (lon, lat) = (c[0].as_f64().expect("lon"), c[1].as_f64().expect("lat"));
        assert!(
            (-5.5..10.0).contains(&lon) && (41.0..51.5).contains(&lat),
            "{lon},{lat} is not in France"
        );
    }
}

#[test]
fn keys_are_created_listed_and_revoked() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().to_string_lossy().into_owned();
    let created = jumeau(&[
        "keys",
        "create",
        "--data",
        &data,
        "--name",
        "armoires",
        "--role",
        "editor",
        "--tenants",
        "crest,die",
    ]);
    let secret = String::from_utf8_lossy(&created.stdout).trim().to_string();
    assert!(secret.starts_with("jmk_") && secret.len() > 60, "{secret}");
    let list =
        String::from_utf8_lossy(&jumeau(&["keys", "list", "--data", &data]).stdout).into_owned();
    assert!(
        list.contains("armoires") && list.contains("crest,die") && list.contains("active"),
        "{list}"
    );
    assert!(!list.contains(&secret), "a listing never shows secrets");
    let id = list
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .expect("a key id")
        .to_string();
    jumeau(&["keys", "revoke", "--data", &data, &id]);
    let list =
        String::from_utf8_lossy(&jumeau(&["keys", "list", "--data", &data]).stdout).into_owned();
    assert!(list.contains("revoked"), "{list}");
    let bad = Command::new(env!("CARGO_BIN_EXE_jumeau"))
        .args([
            "keys",
            "create",
            "--data",
            &data,
            "--name",
            "x",
            "--role",
            "superuser",
            "--tenants",
            "a",
        ])
        .output()
        .expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("reader, editor or admin"));
}

#[tokio::test]
async fn temporal_csv_is_appended_to_the_history() {
    use jumeau_model::temporal::TemporalQuery;
    use jumeau_store::sqlite::{SqliteOptions, SqliteStore};
    use jumeau_store::TemporalStore;

    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let file = dir.path().join("releves.csv");
    std::fs::write(
        &file,
        "entity;attribute;time;value;unitCode\n\
         urn:ngsi-ld:WaterMeter:m1;volume;2026-03-28T10:00:00Z;12,5;MTQ\n\
         urn:ngsi-ld:WaterMeter:m1;volume;2026-03-28T09:00:00Z;11;MTQ\n\
         urn:ngsi-ld:WaterMeter:m1;volume;hier;13;MTQ\n\
         urn:ngsi-ld:WaterMeter:m2;volume;2026-03-28T10:00:00+01:00;7.25;\n",
    )
    .expect("written");
    let args = [
        "import",
        "--temporal",
        &file.to_string_lossy(),
        "--data",
        &data.to_string_lossy(),
        "--tenant",
        "eau",
    ]
    .map(String::from);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let report = String::from_utf8_lossy(&jumeau(&args).stderr).into_owned();
    assert!(report.contains("3 instances stored"), "{report}");
    assert!(report.contains("2 entities created"), "{report}");
    assert!(
        report.contains("rejected row 4 (urn:ngsi-ld:WaterMeter:m1)") && report.contains("hier"),
        "{report}"
    );
    // Importing again stores nothing twice.
    let again = String::from_utf8_lossy(&jumeau(&args).stderr).into_owned();
    assert!(
        again.contains("0 instances stored, 3 duplicates"),
        "{again}"
    );

    let store = SqliteStore::open(&data, SqliteOptions::default()).expect("store");
    let ids = ["urn:ngsi-ld:WaterMeter:m1".to_string()];
    let history = store
        .history("eau", &ids, None, &TemporalQuery::default())
        .await
        .expect("history");
    let values: Vec<Option<serde_json::Value>> = history[0].attrs[0]
        .instances
        .iter()
        .map(|i| match &i.attribute.value {
            jumeau_model::AttributeValue::Property(v) => Some(v.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        values,
        vec![Some(serde_json::json!(11)), Some(serde_json::json!(12.5))]
    );
    assert_eq!(
        history[0].attrs[0].instances[0]
            .attribute
            .unit_code
            .as_deref(),
        Some("MTQ")
    );
}

#[test]
fn migrate_moves_a_territory_between_engines_and_back_identically() {
    let a = tempfile::tempdir().expect("dir");
    let b = tempfile::tempdir().expect("dir");
    let a_data = a.path().to_string_lossy().into_owned();
    let b_data = b.path().to_string_lossy().into_owned();
    jumeau(&["demo", "--data", &a_data, "--no-serve"]);
    // Through PostgreSQL when a cluster is configured (always under CI), else directly
    // between two data directories.
    match jumeau_testkit::postgres_database().expect("PostgreSQL for the tests") {
        Some(url) => {
            let out = jumeau(&["migrate", "--from", &a_data, "--to", &url]);
            assert!(String::from_utf8_lossy(&out.stdout).contains("demo:"));
            jumeau(&["migrate", "--from", &url, "--to", &b_data]);
        }
        None => {
            jumeau(&["migrate", "--from", &a_data, "--to", &b_data]);
        }
    }
    assert_eq!(export(b.path(), "demo"), export(a.path(), "demo"));
    // Run again, as after an interruption: the same copy.
    jumeau(&["migrate", "--from", &a_data, "--to", &b_data]);
    assert_eq!(export(b.path(), "demo"), export(a.path(), "demo"));
}

#[test]
fn migrate_refuses_a_folder_without_jumeau_data() {
    let empty = tempfile::tempdir().expect("dir");
    let other = tempfile::tempdir().expect("dir");
    let out = Command::new(env!("CARGO_BIN_EXE_jumeau"))
        .args([
            "migrate",
            "--from",
            &empty.path().to_string_lossy(),
            "--to",
            &other.path().join("copy").to_string_lossy(),
        ])
        .output()
        .expect("the jumeau binary runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no Jumeau data"), "{err}");
}

/// Kills a server started by a test, even when an assertion fails.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the test gateway received: request line, `Authorization` header, JSON body.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, String, serde_json::Value)>>>;

/// A TALQ-style lighting gateway played by the test on a local port: it applies every
/// command it receives and keeps each request.
fn fake_talq_gateway() -> (String, Seen) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
    let url = format!("http://{}/talq", listener.local_addr().expect("an address"));
    let seen: Seen = Seen::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut sock) = stream else { continue };
            let _ = sock.set_read_timeout(Some(std::time::Duration::from_secs(30)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let request = loop {
                let Ok(n) = sock.read(&mut chunk) else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                let Some(end) = text.find("\r\n\r\n") else {
                    continue;
                };
                let head = text[..end].to_string();
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
                    let body: serde_json::Value =
                        serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap_or_default();
                    let line = head.lines().next().unwrap_or_default().to_string();
                    break Some((line, header("authorization").unwrap_or_default(), body));
                }
            };
            let Some((line, auth, body)) = request else {
                continue;
            };
            let answer = serde_json::json!({"commandId": body["commandId"], "status": "applied",
                                            "level": body["value"]["level"]})
            .to_string();
            if let Ok(mut seen) = log.lock() {
                seen.push((line, auth, body));
            }
            let _ = write!(
                sock,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, seen)
}

#[tokio::test]
async fn serve_sends_lighting_commands_to_the_gateway_given() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let help = String::from_utf8_lossy(&jumeau(&["serve", "--help"]).stdout).into_owned();
    assert!(
        help.contains("--lighting-gateway <URL>")
            && help.contains("JUMEAU_LIGHTING_GATEWAY_TOKEN")
            && help.contains("--lighting-gateway-timeout <SECS>"),
        "{help}"
    );

    // A bad gateway address stops the start with a clear message.
    let dir = tempfile::tempdir().expect("dir");
    for (bad, says) in [
        ("ftp://gateway.example/talq", "not http or https"),
        ("gateway.example", "is not usable"),
        (
            "https://user:secret@gateway.example",
            "JUMEAU_LIGHTING_GATEWAY_TOKEN",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_jumeau"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--lighting-gateway",
                bad,
            ])
            .arg("--data")
            .arg(dir.path().join("refused"))
            .env_remove("JUMEAU_STORE")
            .output()
            .expect("the jumeau binary runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad} was accepted");
        assert!(
            err.contains("--lighting-gateway") && err.contains(says) && !err.contains("secret"),
            "{bad}: {err}"
        );
    }

    let (gateway, seen) = fake_talq_gateway();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let admin = "cli-lighting-admin-0123456789abcdef";
    let token = "gateway-token-0123456789";
    let log = dir.path().join("server.log");
    let server = Served(
        Command::new(env!("CARGO_BIN_EXE_jumeau"))
            .args(["serve", "--lighting-gateway-timeout", "5", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data")
            .arg(dir.path().join("data"))
            .env_remove("JUMEAU_STORE")
            .env("JUMEAU_LIGHTING_GATEWAY", &gateway)
            .env("JUMEAU_LIGHTING_GATEWAY_TOKEN", token)
            .env("JUMEAU_ADMIN_KEY", admin)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("server log file"))
            .spawn()
            .expect("start jumeau serve"),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "jumeau serve did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The token is nowhere in the process's command line.
    if let Ok(cmdline) = std::fs::read(format!("/proc/{}/cmdline", server.0.id())) {
        assert!(!String::from_utf8_lossy(&cmdline).contains(token));
    }

    let base = format!("http://127.0.0.1:{port}/jumeau/v1/lighting");
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let call = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(admin)
            .header("NGSILD-Tenant", "ville")
    };
    let r = call(reqwest::Method::PUT, "/settings")
        .json(&serde_json::json!({"commune": "Testville"}))
        .send()
        .await
        .expect("settings");
    assert_eq!(r.status(), 200);
    let r = call(reqwest::Method::POST, "/inventory/import")
        .header("Content-Type", "text/csv")
        .body(
            "id;puissance;tcouleur;type_lampe;armoire;groupe;lon;lat;date_pose\n\
             1;35;3000;LED;A1;G1;4.8500;45.7600;2021\n",
        )
        .send()
        .await
        .expect("import");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());

    let cabinet = "urn:ngsi-ld:StreetlightControlCabinet:Testville:A1";
    let r = call(reqwest::Method::POST, "/commands")
        .json(
            &serde_json::json!({"target": {"kind": "cabinet", "id": cabinet},
                                  "action": "dim", "levelPct": 30, "why": "essai passerelle"}),
        )
        .send()
        .await
        .expect("command");
    let status = r.status();
    let ack: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(
        status,
        200,
        "{ack}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(ack["levelPct"], serde_json::json!(30.0), "{ack}");
    assert_eq!(ack["attempts"], serde_json::json!(1), "{ack}");

    let seen = seen.lock().expect("gateway log").clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (line, auth, body) = &seen[0];
    assert!(line.starts_with("POST /talq/commands "), "{line}");
    assert_eq!(auth, &format!("Bearer {token}"));
    assert_eq!(body["commandId"], ack["commandId"]);
    assert_eq!(
        body["target"],
        serde_json::json!({"kind": "cabinet", "id": cabinet})
    );
    assert_eq!(
        body["value"],
        serde_json::json!({"lightState": "on", "level": 30.0})
    );

    let audit: serde_json::Value = call(reqwest::Method::GET, "/audit?limit=1")
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        audit[0]["outcome"]["outcome"],
        serde_json::json!("acknowledged"),
        "{audit}"
    );
    assert_eq!(audit[0]["outcome"]["attempts"], serde_json::json!(1));
    assert_eq!(audit[0]["why"], serde_json::json!("essai passerelle"));
    drop(server);
}
