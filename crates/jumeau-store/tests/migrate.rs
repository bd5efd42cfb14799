//! Moving a twin between engines loses nothing: SQLite → SQLite, and SQLite → PostgreSQL
//! → SQLite when a PostgreSQL cluster is configured (`JUMEAU_TEST_POSTGRES`, see
//! `.ci/postgres`). Entities, history, subscriptions, devices, dead letters, counters, keys
//! and contexts are compared between the source and the copy.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use jumeau_model::context::Context;
use jumeau_model::subscription::parse_subscription;
use jumeau_model::temporal::TemporalQuery;
use jumeau_model::{Attribute, AttributeValue, Entity};
use jumeau_store::ingest::{
    Counters, DeadLetterFilter, DeviceRecord, FieldMapping, IngestCommit, NewDeadLetter,
    NewJournalEntry,
};
use jumeau_store::migrate::migrate;
use jumeau_store::postgres::{PgOptions, PgStore};
use jumeau_store::sqlite::{SqliteOptions, SqliteStore};
use jumeau_store::temporal::RetentionPolicy;
use jumeau_store::{ApiKeyRecord, ContextRecord, Store, WriteOp};
use serde_json::{json, Value};

const TEMP: &str = "https://smartdatamodels.org/dataModel.Environment/temperature";
const NAME: &str = "https://smartdatamodels.org/name";

fn at(hour: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + TimeDelta::hours(hour)
}

fn reading(v: Value, t: DateTime<Utc>) -> Attribute {
    let mut a = Attribute::new(AttributeValue::Property(v));
    a.observed_at = Some(t);
    a.unit_code = Some("CEL".into());
    a
}

fn room(i: usize) -> Entity {
    let mut e = Entity::new(
        format!("urn:ngsi-ld:Room:{i}"),
        "https://smartdatamodels.org/dataModel.Building/Room",
    );
    e.attrs
        .insert(TEMP.into(), vec![reading(json!(19.5), at(48))]);
    e.attrs.insert(
        NAME.into(),
        vec![Attribute::new(AttributeValue::Property(json!(format!(
            "salle {i}"
        ))))],
    );
    e
}

/// A territory with something of every kind in two tenants.
async fn fill(store: &dyn Store) {
    for tenant in ["crest", "die"] {
        let ops = (0..30).map(room).map(WriteOp::Create).collect();
        for r in store.write(tenant, ops).await.unwrap() {
            r.unwrap();
        }
        for i in 0..30 {
            let instances = (0..48)
                .map(|h| {
                    (
                        TEMP.to_string(),
                        reading(json!(15.0 + (h % 7) as f64 * 0.5 + i as f64), at(h)),
                    )
                })
                .chain([(NAME.to_string(), {
                    let mut a = Attribute::new(AttributeValue::Property(json!("ancienne salle")));
                    a.observed_at = Some(at(3));
                    a
                })])
                .collect();
            store
                .append_history(
                    tenant,
                    &format!("urn:ngsi-ld:Room:{i}"),
                    &["https://smartdatamodels.org/dataModel.Building/Room".into()],
                    instances,
                )
                .await
                .unwrap();
        }
        let sub = parse_subscription(
            &json!({
                "id": format!("urn:ngsi-ld:Subscription:{tenant}"),
                "type": "Subscription",
                "entities": [{"type": "Room"}],
                "watchedAttributes": ["temperature"],
                "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}}
            }),
            &Context::core(),
            Utc::now(),
            "urn:ngsi-ld:Subscription:unused",
        )
        .unwrap();
        store
            .create_subscription(tenant, sub, json!(jumeau_model::context::CORE_CONTEXT_URL))
            .await
            .unwrap();
        store
            .put_device(
                tenant,
                DeviceRecord {
                    dev_eui: "a84041000181c061".into(),
                    entity_id: "urn:ngsi-ld:Room:1".into(),
                    entity_type: "Room".into(),
                    profile: Some("elsys/ers-co2".into()),
                    context: None,
                    name: Some("Capteur salle 1".into()),
                    interval_seconds: Some(600),
                    mappings: vec![FieldMapping {
                        field: "temperature".into(),
                        attribute: "temperature".into(),
                        unit_code: Some("CEL".into()),
                        scale: None,
                        min: Some(-40.0),
                        max: Some(85.0),
                        on_device: false,
                    }],
                    created_at: Some(at(0)),
                    modified_at: None,
                },
            )
            .await
            .unwrap();
        store
            .ingest_commit(IngestCommit {
                processed: vec![],
                dead_letters: vec![NewDeadLetter {
                    tenant: tenant.into(),
                    message: NewJournalEntry {
                        source: "chirpstack".into(),
                        transport: "http".into(),
                        kind: "up".into(),
                        body: b"{not json".to_vec(),
                        received_at: at(5),
                    },
                    dev_eui: Some("a84041000181c061".into()),
                    reason: "the body is not JSON: key must be a string at line 1 column 2".into(),
                    replaces: None,
                }],
                resolved: vec![],
                counters: vec![Counters {
                    tenant: tenant.into(),
                    source: "chirpstack".into(),
                    dev_eui: "a84041000181c061".into(),
                    received: 12,
                    accepted: 10,
                    duplicated: 1,
                    rejected: 1,
                }],
            })
            .await
            .unwrap();
    }
    store.set_tenant_public("crest", true).await.unwrap();
    store
        .set_time_zone("die", "Europe/Madrid".parse().unwrap())
        .await
        .unwrap();
    store
        .set_retention_policy(
            "crest",
            RetentionPolicy {
                entity_type: None,
                raw_days: Some(396),
                hourly_days: Some(3653),
                daily_days: None,
            },
        )
        .await
        .unwrap();
    store
        .put_key(ApiKeyRecord {
            id: "k1".into(),
            name: "agent".into(),
            hash: "ab".repeat(32),
            role: "editor".into(),
            tenants: vec!["crest".into()],
            created_at: at(0),
            revoked_at: None,
        })
        .await
        .unwrap();
    store
        .put_context(ContextRecord {
            url: "http://example.org/ctx.jsonld".into(),
            body: json!({"@context": {"salle": "https://example.org/salle"}}),
            kind: "Hosted".into(),
            created_at: at(0),
        })
        .await
        .unwrap();
}

/// Everything a territory holds, in a form that two engines give identically (history
/// without the engine-specific instance ids and times of receipt).
async fn snapshot(store: &dyn Store) -> Value {
    let mut out = serde_json::Map::new();
    for t in store.tenants().await.unwrap() {
        let tenant = t.name.as_str();
        let mut entities = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = store.scan(tenant, cursor, 7).await.unwrap();
            entities.extend(page);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let ids: Vec<String> = entities.iter().map(|e| e.id.clone()).collect();
        let history: Vec<Value> = store
            .history(tenant, &ids, None, &TemporalQuery::default())
            .await
            .unwrap()
            .into_iter()
            .map(|h| {
                json!({
                    "id": h.id,
                    "types": h.types,
                    "attrs": h.attrs.into_iter().map(|a| json!({
                        "name": a.name,
                        "datasetId": a.dataset_id,
                        "instances": a.instances.into_iter()
                            .map(|i| {
                                let mut a = i.attribute;
                                // Times of receipt: kept as instance times, compared there.
                                a.created_at = None;
                                a.modified_at = None;
                                json!([serde_json::to_value(&a).unwrap(), i.created_at])
                            })
                            .collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let (subs, _) = store.subscriptions(tenant, 0, 100).await.unwrap();
        let dead: Vec<Value> = store
            .dead_letters(
                tenant,
                &DeadLetterFilter {
                    limit: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .into_iter()
            .map(|d| json!([d.dev_eui, d.reason, d.message.body, d.message.received_at]))
            .collect();
        let counters: Vec<Value> = store
            .counters(Some(tenant))
            .await
            .unwrap()
            .into_iter()
            .map(|c| {
                json!([
                    c.source,
                    c.dev_eui,
                    c.received,
                    c.accepted,
                    c.duplicated,
                    c.rejected
                ])
            })
            .collect();
        out.insert(
            tenant.to_string(),
            json!({
                "public": t.public,
                "timeZone": store.time_zone(tenant).await.unwrap().name(),
                "retention": serde_json::to_value(store.retention_policies(tenant).await.unwrap()).unwrap(),
                "entities": serde_json::to_value(&entities).unwrap(),
                "history": history,
                "subscriptions": subs.into_iter().map(|s| json!([s.subscription.id, s.context])).collect::<Vec<_>>(),
                "devices": serde_json::to_value(store.devices(tenant).await.unwrap()).unwrap(),
                "deadLetters": dead,
                "counters": counters,
            }),
        );
    }
    let keys: Vec<Value> = store
        .keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| {
            json!([
                k.id,
                k.name,
                k.hash,
                k.role,
                k.tenants,
                k.revoked_at.is_some()
            ])
        })
        .collect();
    out.insert("keys".into(), json!(keys));
    let contexts: Vec<Value> = store
        .contexts()
        .await
        .unwrap()
        .into_iter()
        .map(|c| json!([c.url, c.body, c.kind]))
        .collect();
    out.insert("contexts".into(), json!(contexts));
    Value::Object(out)
}

/// Fails naming the first place where two snapshots differ (they are large).
fn assert_same(actual: &Value, expected: &Value, path: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(e.keys()).collect();
            for k in keys {
                match (a.get(k), e.get(k)) {
                    (Some(x), Some(y)) => assert_same(x, y, &format!("{path}/{k}")),
                    _ => panic!("{path}/{k}: present on one side only"),
                }
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{path}: lengths differ");
            for (i, (x, y)) in a.iter().zip(e).enumerate() {
                assert_same(x, y, &format!("{path}/{i}"));
            }
        }
        _ => assert_eq!(actual, expected, "{path}"),
    }
}

fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap())
}

#[tokio::test]
async fn sqlite_to_sqlite_copies_everything_and_a_rerun_changes_nothing() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (from, to) = (sqlite(&a), sqlite(&b));
    fill(from.as_ref()).await;
    let report = migrate(from.as_ref(), to.as_ref()).await.unwrap();
    assert_eq!(report.keys, 1);
    assert_eq!(report.contexts, 1);
    assert_eq!(report.tenants["crest"].entities, 30);
    // Per room: 48 temperatures and a former name appended, and the two values the
    // creation recorded.
    assert_eq!(report.tenants["crest"].instances, 30 * 51);
    assert_eq!(report.tenants["die"].dead_letters, 1);
    let expected = snapshot(from.as_ref()).await;
    assert_same(&snapshot(to.as_ref()).await, &expected, "");
    // A rerun (as after an interrupted migration) leaves the same copy.
    migrate(from.as_ref(), to.as_ref()).await.unwrap();
    assert_same(&snapshot(to.as_ref()).await, &expected, "");
}

#[tokio::test]
async fn sqlite_to_postgres_and_back_loses_nothing() {
    let Some(url) = jumeau_testkit::postgres_database().unwrap() else {
        eprintln!("skipped: no PostgreSQL (set JUMEAU_TEST_POSTGRES, see .ci/postgres)");
        return;
    };
    let (a, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let from = sqlite(&a);
    fill(from.as_ref()).await;
    let pg: Arc<dyn Store> = Arc::new(PgStore::connect(&url, PgOptions::default()).await.unwrap());
    migrate(from.as_ref(), pg.as_ref()).await.unwrap();
    let expected = snapshot(from.as_ref()).await;
    assert_same(&snapshot(pg.as_ref()).await, &expected, "");
    let back = sqlite(&c);
    migrate(pg.as_ref(), back.as_ref()).await.unwrap();
    assert_same(&snapshot(back.as_ref()).await, &expected, "");
}
