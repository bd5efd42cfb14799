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
