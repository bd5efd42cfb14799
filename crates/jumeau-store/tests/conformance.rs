//! Store conformance: every engine must give the exact answer of `EntityQuery::matches`,
//! page after page, and keep tenants apart. Runs against the SQLite engine.

use std::sync::Arc;

use jumeau_geo::{GeoQuery, Geometry};
use jumeau_model::query::{EntityQuery, GeoFilter, QExpr, TypeExpr};
use jumeau_model::{Attribute, AttributeValue, Entity, ErrorKind};
use jumeau_store::sqlite::{SqliteOptions, SqliteStore};
use jumeau_store::{Store, WriteOp, WriteOutcome};
use serde_json::json;

const LOC: &str = "https://uri.etsi.org/ngsi-ld/location";

fn ex(s: &str) -> String {
    format!("https://example.org/{s}")
}

fn lamp(i: usize) -> Entity {
    let mut e = Entity::new(
        format!("urn:ngsi-ld:Streetlight:{i}"),
        ex(if i.is_multiple_of(10) {
            "Cabinet"
        } else {
            "Streetlight"
        }),
    );
    let p = |v| vec![Attribute::new(AttributeValue::Property(v))];
    e.attrs.insert(ex("power"), p(json!(i % 200)));
    e.attrs.insert(
        ex("status"),
        p(json!(if i.is_multiple_of(97) { "broken" } else { "ok" })),
    );
    if i.is_multiple_of(3) {
        e.attrs.insert(ex("tech"), p(json!("LED")));
    }
    let g = Geometry::from_geojson(&json!({"type": "Point", "coordinates": [2.0 + (i % 50) as f64 * 0.001, 48.0 + (i / 50) as f64 * 0.001]}))
        .expect("valid point");
    e.attrs.insert(
        LOC.into(),
        vec![Attribute::new(AttributeValue::GeoProperty(g))],
    );
    e
}

async fn store_with(n: usize) -> (tempfile::TempDir, Arc<SqliteStore>, Vec<Entity>) {
    let dir = tempfile::tempdir().expect("dir");
    // A small scan budget so that queries take both passes (early-stopping walk, then
    // index-built candidate sets).
    let options = SqliteOptions {
        scan_budget: 150,
        ..Default::default()
    };
    let store = Arc::new(SqliteStore::open(dir.path(), options).expect("open"));
    let all: Vec<Entity> = (0..n).map(lamp).collect();
    for chunk in all.chunks(500) {
        let ops = chunk.iter().cloned().map(WriteOp::Create).collect();
        for r in store.write("t1", ops).await.expect("write") {
            assert_eq!(r.expect("created"), WriteOutcome::Created);
        }
    }
    // A second tenant with the same ids: must never leak into t1's answers.
    let ops = all.iter().take(50).cloned().map(WriteOp::Create).collect();
    store.write("t2", ops).await.expect("write t2");
    (dir, store, all)
}

fn parse_q(s: &str) -> QExpr {
    QExpr::parse(s, &|t| ex(t)).expect("valid q")
}

/// Every page of a query, compared with the reference semantics over all entities.
async fn check(store: &SqliteStore, all: &[Entity], mut q: EntityQuery, label: &str) {
    let expected: Vec<&str> = all
        .iter()
        .filter(|e| q.matches(e))
        .map(|e| e.id.as_str())
        .collect();
    q.count = true;
    q.limit = 0;
    let counted = store.query("t1", &q).await.expect("count");
    assert_eq!(counted.count, Some(expected.len() as u64), "{label}: count");
    q.count = false;
    q.limit = 97;
    let mut got = Vec::new();
    loop {
        let page = store.query("t1", &q).await.expect("query");
        let n = page.entities.len();
        got.extend(page.entities.into_iter().map(|e| e.id));
        if n < q.limit {
            break;
        }
        q.offset += q.limit;
    }
    assert_eq!(got, expected, "{label}: pages");
}

#[tokio::test]
async fn queries_match_the_reference_semantics_page_by_page() {
    let (_dir, store, all) = store_with(1200).await;
    let streetlight = || Some(TypeExpr::Type(ex("Streetlight")));
    let cases: Vec<(&str, EntityQuery)> = vec![
        ("type", EntityQuery { types: streetlight(), ..Default::default() }),
        ("dense q", EntityQuery { types: streetlight(), q: Some(parse_q("power>20;status==\"ok\"")), ..Default::default() }),
        ("sparse q", EntityQuery { types: streetlight(), q: Some(parse_q("status==\"broken\"")), ..Default::default() }),
        ("very sparse q", EntityQuery { q: Some(parse_q("power==199;tech==\"LED\"")), ..Default::default() }),
        ("or q", EntityQuery { q: Some(parse_q("(power<3|power>196);!tech")), ..Default::default() }),
        (
            "type or",
            EntityQuery {
                types: Some(TypeExpr::parse("Streetlight,Cabinet", &|t| ex(t)).expect("type")),
                q: Some(parse_q("power==5..9")),
                ..Default::default()
            },
        ),
        ("attrs", EntityQuery { attrs: vec![ex("tech")], ..Default::default() }),
        (
            "within",
            EntityQuery {
                types: streetlight(),
                geo: Some(GeoFilter {
                    query: GeoQuery::parse("within", "Polygon", "[[[2.0095,48.0095],[2.0305,48.0095],[2.0305,48.0305],[2.0095,48.0305],[2.0095,48.0095]]]")
                        .expect("geo"),
                    property: LOC.into(),
                }),
                ..Default::default()
            },
        ),
        (
            "near and q",
            EntityQuery {
                q: Some(parse_q("power>100")),
                geo: Some(GeoFilter {
                    query: GeoQuery::parse("near;maxDistance==800", "Point", "[2.02,48.02]").expect("geo"),
                    property: LOC.into(),
                }),
                ..Default::default()
            },
        ),
        (
            "ids",
            EntityQuery { ids: vec!["urn:ngsi-ld:Streetlight:7".into(), "urn:ngsi-ld:Streetlight:1199".into()], ..Default::default() },
        ),
    ];
    for (label, q) in cases {
        check(&store, &all, q, label).await;
    }
}

#[tokio::test]
async fn tenants_are_isolated_and_errors_are_per_operation() {
    let (_dir, store, _) = store_with(60).await;
    assert!(store
        .get("t2", "urn:ngsi-ld:Streetlight:55")
        .await
        .expect("get")
        .is_none());
    assert!(store
        .get("t3", "urn:ngsi-ld:Streetlight:1")
        .await
        .expect("get")
        .is_none());
    assert!(store.tenant("t3").await.expect("tenant").is_none());
    let results = store
        .write(
            "t1",
            vec![
                WriteOp::Create(lamp(1)),
                WriteOp::Create(lamp(1000)),
                WriteOp::Delete {
                    id: "urn:ngsi-ld:Streetlight:99999".into(),
                },
            ],
        )
        .await
        .expect("write");
    assert_eq!(
        results[0].as_ref().map_err(|e| e.kind),
        Err(ErrorKind::AlreadyExists)
    );
    assert_eq!(results[1], Ok(WriteOutcome::Created));
    assert_eq!(
        results[2].as_ref().map_err(|e| e.kind),
        Err(ErrorKind::ResourceNotFound)
    );
    assert!(store
        .get("t1", "urn:ngsi-ld:Streetlight:1000")
        .await
        .expect("get")
        .is_some());
    assert!(store
        .get("t2", "urn:ngsi-ld:Streetlight:1000")
        .await
        .expect("get")
        .is_none());
}

#[tokio::test]
async fn updates_keep_the_indexes_true() {
    let (_dir, store, _) = store_with(30).await;
    let mut change = Entity::new("urn:ngsi-ld:Streetlight:4", ex("Streetlight"));
    change.attrs.insert(
        ex("power"),
        vec![Attribute::new(AttributeValue::Property(json!(1234)))],
    );
    let g = Geometry::from_geojson(&json!({"type": "Point", "coordinates": [10.0, 10.0]}))
        .expect("point");
    change.attrs.insert(
        LOC.into(),
        vec![Attribute::new(AttributeValue::GeoProperty(g))],
    );
    store
        .write(
            "t1",
            vec![WriteOp::Upsert {
                entity: change,
                replace: false,
            }],
        )
        .await
        .expect("upsert");
    let q = EntityQuery {
        q: Some(parse_q("power==1234")),
        limit: 10,
        ..Default::default()
    };
    let page = store.query("t1", &q).await.expect("query");
    assert_eq!(page.entities.len(), 1);
    let near = EntityQuery {
        geo: Some(GeoFilter {
            query: GeoQuery::parse("near;maxDistance==10", "Point", "[10,10]").expect("geo"),
            property: LOC.into(),
        }),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        store
            .query("t1", &near)
            .await
            .expect("query")
            .entities
            .len(),
        1
    );
    let old = EntityQuery {
        q: Some(parse_q("power==4")),
        limit: 10,
        ..Default::default()
    };
    assert!(
        store
            .query("t1", &old)
            .await
            .expect("query")
            .entities
            .is_empty(),
        "stale index row"
    );
    store
        .write(
            "t1",
            vec![WriteOp::Delete {
                id: "urn:ngsi-ld:Streetlight:4".into(),
            }],
        )
        .await
        .expect("delete");
    assert!(store
        .query("t1", &q)
        .await
        .expect("query")
        .entities
        .is_empty());
    assert!(store
        .query("t1", &near)
        .await
        .expect("query")
        .entities
        .is_empty());
}
