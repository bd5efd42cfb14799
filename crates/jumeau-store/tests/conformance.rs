//! Store conformance: every engine must give the exact answer of `EntityQuery::matches`,
//! page after page, keep tenants apart, and answer writes and bad input identically. Every
//! check is one generic function run against each engine: the embedded SQLite engine, and
//! PostgreSQL + PostGIS on the cluster named by `JUMEAU_TEST_POSTGRES` (skipped when it is
//! not set outside CI).
#![allow(clippy::panic)]

use std::sync::Arc;

use jumeau_geo::{GeoQuery, Geometry};
use jumeau_model::query::{EntityQuery, GeoFilter, QExpr, TypeExpr};
use jumeau_model::{Attribute, AttributeValue, Entity, ErrorKind};
use jumeau_store::postgres::{PgOptions, PgStore};
use jumeau_store::sqlite::{SqliteOptions, SqliteStore};
use jumeau_store::{Store, WriteOp, WriteOutcome};
use serde_json::json;

/// A store under test and what keeps it alive.
struct Engine {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

impl std::ops::Deref for Engine {
    type Target = dyn Store;
    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

async fn sqlite() -> Engine {
    let dir = tempfile::tempdir().expect("dir");
    // A small scan budget so that queries take both passes (early-stopping walk, then
    // index-built candidate sets).
    let options = SqliteOptions {
        scan_budget: 150,
        ..Default::default()
    };
    let store = Arc::new(SqliteStore::open(dir.path(), options).expect("open"));
    Engine {
        store,
        _dir: Some(dir),
    }
}

/// A PgStore on a fresh database, or `None` when no cluster is configured.
async fn postgres() -> Option<Engine> {
    let url = jumeau_testkit::postgres_database().expect("test database")?;
    let store = PgStore::connect(&url, PgOptions::default())
        .await
        .expect("connect");
    Some(Engine {
        store: Arc::new(store),
        _dir: None,
    })
}

/// Two tests per check: one per engine.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $check() {
                    super::$check(super::sqlite().await).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $check() {
                    let Some(engine) = super::postgres().await else {
                        eprintln!("JUMEAU_TEST_POSTGRES is not set: skipped");
                        return;
                    };
                    super::$check(engine).await;
                }
            )*
        }
    };
}

conformance!(
    queries_match_the_reference_semantics_page_by_page,
    tenants_are_isolated_and_errors_are_per_operation,
    updates_keep_the_indexes_true,
    hostile_values_are_only_data,
    geo_relations_match_the_reference,
    writes_report_before_and_after,
    summaries_scans_tenants_keys_and_contexts,
    value_changes_of_every_kind_keep_the_value_index_true,
);

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

async fn store_with(engine: Engine, n: usize) -> (Engine, Vec<Entity>) {
    let all: Vec<Entity> = (0..n).map(lamp).collect();
    for chunk in all.chunks(500) {
        let ops = chunk.iter().cloned().map(WriteOp::Create).collect();
        for r in engine.write("t1", ops).await.expect("write") {
            assert_eq!(r.expect("created"), WriteOutcome::Created);
        }
    }
    // A second tenant with the same ids: must never leak into t1's answers.
    let ops = all.iter().take(50).cloned().map(WriteOp::Create).collect();
    engine.write("t2", ops).await.expect("write t2");
    (engine, all)
}

fn parse_q(s: &str) -> QExpr {
    QExpr::parse(s, &|t| ex(t)).expect("valid q")
}

/// Every page of a query, compared with the reference semantics over all entities.
async fn check(store: &dyn Store, all: &[Entity], mut q: EntityQuery, label: &str) {
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

async fn queries_match_the_reference_semantics_page_by_page(engine: Engine) {
    let (store, all) = store_with(engine, 1200).await;
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
        check(&*store, &all, q, label).await;
    }
}

async fn tenants_are_isolated_and_errors_are_per_operation(engine: Engine) {
    let (store, _) = store_with(engine, 60).await;
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

async fn updates_keep_the_indexes_true(engine: Engine) {
    let (store, _) = store_with(engine, 30).await;
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

/// A reading changes a number, a text, or the kind of a value (a number becoming a text and
/// back): q finds the entity by its new value only, whatever changed.
async fn value_changes_of_every_kind_keep_the_value_index_true(engine: Engine) {
    let (store, _) = store_with(engine, 30).await;
    let id = "urn:ngsi-ld:Streetlight:5";
    let found = |q: &'static str| {
        let store = &store;
        async move {
            let q = EntityQuery {
                q: Some(parse_q(q)),
                limit: 50,
                ..Default::default()
            };
            let page = store.query("t1", &q).await.expect("query");
            page.entities.iter().any(|e| e.id == id)
        }
    };
    let set = |name: &'static str, v: serde_json::Value| {
        let store = &store;
        async move {
            let mut e = Entity::new(id, ex("Streetlight"));
            e.attrs
                .insert(ex(name), vec![Attribute::new(AttributeValue::Property(v))]);
            let out = store
                .write(
                    "t1",
                    vec![WriteOp::Upsert {
                        entity: e,
                        replace: false,
                    }],
                )
                .await
                .expect("upsert");
            assert!(out[0].is_ok(), "{out:?}");
        }
    };
    // A text that changes.
    assert!(found("status==\"ok\"").await);
    set("status", json!("dimmed")).await;
    assert!(found("status==\"dimmed\"").await);
    assert!(!found("status==\"ok\"").await, "stale text row");
    // A number that becomes a text, then a number again.
    set("power", json!("unknown")).await;
    assert!(found("power==\"unknown\"").await);
    assert!(!found("power==5").await, "stale number row");
    assert!(!found("power>=0").await, "a text is not a number");
    set("power", json!(77)).await;
    assert!(found("power==77").await);
    assert!(!found("power==\"unknown\"").await, "stale text row");
    // The same value again changes nothing.
    set("power", json!(77)).await;
    assert!(found("power==77").await);
}

/// Values that would break a query built by concatenating text.
fn hostile() -> Vec<String> {
    vec![
        "'); DROP TABLE entities; --".into(),
        "a'b".into(),
        "\"quoted\"".into(),
        "back\\slash\\".into(),
        "semi;colon;".into(),
        "ünïcødé 🚦 ∑".into(),
        "x".repeat(10_000),
        format!("{}y", "x".repeat(10_000)),
        "nul\u{0}byte".into(),
        "nul".into(),
        "%_like*".into(),
        "$1".into(),
        "?1".into(),
        "".into(),
    ]
}

fn text_q(attr: &str, op: jumeau_model::query::q::CompOp, v: &str) -> QExpr {
    QExpr::Compare {
        path: jumeau_model::query::q::AttrPath::attr(attr),
        op,
        value: jumeau_model::query::q::QValue::Text(v.to_string()),
    }
}

async fn hostile_values_are_only_data(store: Engine) {
    use jumeau_model::query::q::CompOp;
    let odd_type = ex("T'; DROP TABLE entity_types; --");
    let odd_attr = ex("na'me\\\"; --");
    let all: Vec<Entity> = hostile()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let id = format!("urn:ngsi-ld:T:{i}'); DELETE FROM entities; --");
            let mut e = Entity::new(
                id,
                if i % 2 == 0 {
                    ex("T")
                } else {
                    odd_type.clone()
                },
            );
            e.attrs.insert(
                odd_attr.clone(),
                vec![Attribute::new(AttributeValue::Property(json!(v)))],
            );
            e
        })
        .collect();
    let ops = all.iter().cloned().map(WriteOp::Create).collect();
    for r in store.write("t1", ops).await.expect("write") {
        assert_eq!(r.expect("created"), WriteOutcome::Created);
    }
    for v in hostile() {
        for op in [CompOp::Eq, CompOp::Gt, CompOp::Le, CompOp::Ne] {
            let q = EntityQuery {
                q: Some(text_q(&odd_attr, op, &v)),
                ..Default::default()
            };
            check(&*store, &all, q, &format!("{op:?} {:.40}", v)).await;
        }
    }
    let typed = EntityQuery {
        types: Some(TypeExpr::Type(odd_type.clone())),
        ids: all.iter().map(|e| e.id.clone()).collect(),
        ..Default::default()
    };
    check(&*store, &all, typed, "odd type and ids").await;
    let pattern =
        QExpr::parse(&format!("{}~=\".*DROP.*\"", "n"), &|_| odd_attr.clone()).expect("q");
    let q = EntityQuery {
        q: Some(pattern),
        ..Default::default()
    };
    check(&*store, &all, q, "regex").await;
    let everything = EntityQuery {
        attrs: vec![odd_attr.clone()],
        ..Default::default()
    };
    check(&*store, &all, everything, "all still there").await;
    for e in &all {
        let got = store.get("t1", &e.id).await.expect("get").expect("present");
        assert_eq!(
            got.attrs[&odd_attr][0].value, e.attrs[&odd_attr][0].value,
            "{:.60}",
            e.id
        );
    }
}

fn geo_entity(i: usize, g: serde_json::Value) -> Entity {
    let mut e = Entity::new(format!("urn:ngsi-ld:G:{i}"), ex("G"));
    let g = Geometry::from_geojson(&g).expect("valid geometry");
    e.attrs.insert(
        LOC.into(),
        vec![Attribute::new(AttributeValue::GeoProperty(g))],
    );
    e
}

async fn geo_relations_match_the_reference(store: Engine) {
    let shapes = vec![
        json!({"type": "Point", "coordinates": [2.0, 48.0]}),
        json!({"type": "Point", "coordinates": [2.5, 48.5]}),
        json!({"type": "Point", "coordinates": [3.0, 48.5]}),
        json!({"type": "Point", "coordinates": [2.2, 48.2, 35.0]}),
        json!({"type": "Point", "coordinates": [2.0, 48.009]}),
        json!({"type": "LineString", "coordinates": [[1.5, 48.5], [3.5, 48.5]]}),
        json!({"type": "LineString", "coordinates": [[2.1, 48.1], [2.2, 48.2]]}),
        json!({"type": "Polygon", "coordinates": [[[2.0, 48.0], [3.0, 48.0], [3.0, 49.0], [2.0, 49.0], [2.0, 48.0]]]}),
        json!({"type": "Polygon", "coordinates": [[[2.2, 48.2], [2.4, 48.2], [2.4, 48.4], [2.2, 48.4], [2.2, 48.2]]]}),
        json!({"type": "Polygon", "coordinates": [[[0.0, 40.0], [10.0, 40.0], [10.0, 50.0], [0.0, 50.0], [0.0, 40.0]], [[1.0, 41.0], [9.0, 41.0], [9.0, 49.0], [1.0, 49.0], [1.0, 41.0]]]}),
        json!({"type": "MultiPoint", "coordinates": [[2.5, 48.5], [20.0, 20.0]]}),
        json!({"type": "Polygon", "coordinates": [[[-10.0, 48.0], [10.0, 48.0], [10.0, 48.9], [-10.0, 48.9], [-10.0, 48.0]]]}),
    ];
    let mut all: Vec<Entity> = shapes
        .into_iter()
        .enumerate()
        .map(|(i, g)| geo_entity(i, g))
        .collect();
    // An entity without any geometry, and one with two instances.
    all.push(Entity::new("urn:ngsi-ld:G:none", ex("G")));
    let mut two = geo_entity(99, json!({"type": "Point", "coordinates": [50.0, 10.0]}));
    let mut second = Attribute::new(AttributeValue::GeoProperty(
        Geometry::from_geojson(&json!({"type": "Point", "coordinates": [2.3, 48.3]}))
            .expect("point"),
    ));
    second.dataset_id = Some("urn:ds:2".into());
    two.attrs.get_mut(LOC).expect("loc").push(second);
    all.push(two);
    let ops = all.iter().cloned().map(WriteOp::Create).collect();
    for r in store.write("t1", ops).await.expect("write") {
        assert_eq!(r.expect("created"), WriteOutcome::Created);
    }
    let square = "[[[2.0,48.0],[3.0,48.0],[3.0,49.0],[2.0,49.0],[2.0,48.0]]]";
    let small = "[[[2.15,48.15],[2.45,48.15],[2.45,48.45],[2.15,48.45],[2.15,48.15]]]";
    let cases = [
        ("within", "Polygon", square),
        ("within", "Polygon", small),
        ("contains", "Polygon", small),
        ("contains", "Point", "[2.3,48.3]"),
        ("intersects", "Polygon", square),
        ("intersects", "LineString", "[[2.0,47.0],[2.0,50.0]]"),
        ("equals", "Polygon", square),
        ("equals", "Point", "[2.5,48.5]"),
        ("disjoint", "Polygon", small),
        ("overlaps", "Polygon", small),
        ("near;maxDistance==1000", "Point", "[2.0,48.0]"),
        ("near;maxDistance==100000", "Point", "[2.5,48.5]"),
        ("near;minDistance==1000", "Point", "[2.0,48.0]"),
        (
            "near;minDistance==1000;maxDistance==60000",
            "Point",
            "[2.0,48.0]",
        ),
        ("near;maxDistance==0", "Point", "[2.5,48.5]"),
    ];
    for (rel, geometry, coords) in cases {
        let q = EntityQuery {
            geo: Some(GeoFilter {
                query: GeoQuery::parse(rel, geometry, coords).expect("geo"),
                property: LOC.into(),
            }),
            ..Default::default()
        };
        check(&*store, &all, q, &format!("{rel} {geometry} {coords}")).await;
    }
}

async fn writes_report_before_and_after(store: Engine) {
    let id = "urn:ngsi-ld:Streetlight:1";
    let mut patch = jumeau_model::ops::AttrMap::new();
    patch.insert(
        ex("power"),
        vec![Attribute::new(AttributeValue::Property(json!(77)))],
    );
    let results = store
        .write_changes(
            "t1",
            vec![
                WriteOp::Create(lamp(1)),
                WriteOp::UpdateAttrs {
                    id: id.into(),
                    attrs: patch.clone(),
                },
                WriteOp::UpdateAttrs {
                    id: "urn:ngsi-ld:Streetlight:404".into(),
                    attrs: patch.clone(),
                },
                WriteOp::Create(lamp(1)),
                WriteOp::DeleteAttr {
                    id: id.into(),
                    name: ex("nothing"),
                    dataset_id: None,
                    delete_all: false,
                },
                WriteOp::Delete { id: id.into() },
                WriteOp::Restore(lamp(1)),
            ],
        )
        .await
        .expect("write");
    let ok = |i: usize| results[i].as_ref().expect("ok");
    assert_eq!(ok(0).outcome, WriteOutcome::Created);
    assert!(ok(0).before().is_none());
    assert!(ok(0).after().expect("after").created_at.is_some());
    let before = ok(1).before().expect("before");
    let after = ok(1).after().expect("after");
    assert_eq!(
        before.attrs[&ex("power")][0].value,
        AttributeValue::Property(json!(1))
    );
    assert_eq!(
        after.attrs[&ex("power")][0].value,
        AttributeValue::Property(json!(77))
    );
    let err = |i: usize| results[i].as_ref().expect_err("refused").clone();
    assert_eq!(
        (err(2).kind, err(2).detail),
        (
            ErrorKind::ResourceNotFound,
            "no entity with id urn:ngsi-ld:Streetlight:404 in this tenant".to_string()
        )
    );
    assert_eq!(
        (err(3).kind, err(3).detail),
        (
            ErrorKind::AlreadyExists,
            format!("an entity with id {id} already exists; use PATCH or PUT to change it")
        )
    );
    assert_eq!(err(4).kind, ErrorKind::ResourceNotFound);
    assert_eq!(ok(5).outcome, WriteOutcome::Deleted);
    assert!(ok(5).after().is_none());
    assert_eq!(ok(6).outcome, WriteOutcome::Created);
    let stored = store.get("t1", id).await.expect("get").expect("restored");
    assert_eq!(stored.attrs, lamp(1).attrs);
    // The refused operations left nothing behind: the index agrees with the document.
    let q = EntityQuery {
        q: Some(parse_q("power==77")),
        limit: 10,
        ..Default::default()
    };
    assert!(store
        .query("t1", &q)
        .await
        .expect("query")
        .entities
        .is_empty());
}

async fn summaries_scans_tenants_keys_and_contexts(engine: Engine) {
    let (store, all) = store_with(engine, 120).await;
    let types = store.types("t1").await.expect("types");
    let names: Vec<(&str, u64)> = types
        .iter()
        .map(|t| (t.type_iri.as_str(), t.count))
        .collect();
    assert_eq!(
        names,
        vec![
            (ex("Cabinet").as_str(), 12),
            (ex("Streetlight").as_str(), 108)
        ]
    );
    assert_eq!(
        types[0].attrs,
        vec![ex("power"), ex("status"), ex("tech"), LOC.to_string()]
    );
    let attrs = store.attributes("t1").await.expect("attributes");
    let counts: Vec<(&str, u64)> = attrs.iter().map(|a| (a.attr.as_str(), a.count)).collect();
    assert_eq!(
        counts,
        vec![
            (ex("power").as_str(), 120),
            (ex("status").as_str(), 120),
            (ex("tech").as_str(), 40),
            (LOC, 120)
        ]
    );
    assert_eq!(attrs[2].types, vec![ex("Cabinet"), ex("Streetlight")]);
    assert!(store.types("nobody").await.expect("types").is_empty());
    // A complete dump, page after page, in creation order.
    let mut cursor = None;
    let mut dumped = Vec::new();
    loop {
        let (page, next) = store.scan("t1", cursor, 7).await.expect("scan");
        dumped.extend(page.into_iter().map(|e| e.id));
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let ids: Vec<String> = all.iter().map(|e| e.id.clone()).collect();
    assert_eq!(dumped, ids);
    let bad = store.scan("t1", Some("x'--".into()), 7).await;
    assert!(matches!(bad, Err(jumeau_store::StoreError::Rejected(_))));
    // Tenants.
    let tenants: Vec<String> = store
        .tenants()
        .await
        .expect("tenants")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(tenants, vec!["t1".to_string(), "t2".to_string()]);
    let t = store.set_tenant_public("t3", true).await.expect("public");
    assert!(t.public);
    let again = store.tenant("t3").await.expect("tenant").expect("exists");
    assert_eq!(again, t);
    let t = store.set_tenant_public("t3", false).await.expect("private");
    assert!(!t.public);
    assert_eq!(t.created_at, again.created_at);
    // Keys.
    let key = jumeau_store::ApiKeyRecord {
        id: "k1".into(),
        name: "armoires'; --".into(),
        hash: "h1".into(),
        role: "editor".into(),
        tenants: vec!["t1".into(), "*".into()],
        created_at: chrono::Utc::now(),
        revoked_at: None,
    };
    store.put_key(key.clone()).await.expect("key");
    let dup = store.put_key(key.clone()).await.expect_err("duplicate");
    match dup {
        jumeau_store::StoreError::Rejected(e) => {
            assert_eq!(e.kind, ErrorKind::AlreadyExists);
            assert_eq!(e.detail, "a key with this id or value already exists");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.key_by_hash("h1").await.expect("key"),
        Some(key.clone())
    );
    assert!(store.revoke_key("k1").await.expect("revoke"));
    assert!(!store.revoke_key("k2").await.expect("revoke"));
    let keys = store.keys().await.expect("keys");
    assert_eq!(keys.len(), 1);
    assert!(keys[0].revoked_at.is_some());
    // Contexts.
    let ctx = jumeau_store::ContextRecord {
        url: "https://example.org/ctx.jsonld".into(),
        body: json!({"@context": {"b": "https://example.org/b", "a": "https://example.org/a"}}),
        kind: "Hosted".into(),
        created_at: chrono::Utc::now(),
    };
    store.put_context(ctx.clone()).await.expect("context");
    let mut replaced = ctx.clone();
    replaced.kind = "Cached".into();
    store.put_context(replaced.clone()).await.expect("context");
    assert_eq!(
        store.context(&ctx.url).await.expect("context"),
        Some(replaced.clone())
    );
    assert_eq!(store.contexts().await.expect("contexts"), vec![replaced]);
    assert!(store.delete_context(&ctx.url).await.expect("delete"));
    assert!(!store.delete_context(&ctx.url).await.expect("delete"));
}

/// PostgreSQL only: connections killed under the store (a server restart, a failover) make
/// the next calls reconnect instead of failing for good; a call that cannot be served
/// answers Unavailable (HTTP 503), never Corrupt.
#[tokio::test]
async fn postgres_recovers_from_lost_connections() {
    let Some(url) = jumeau_testkit::postgres_database().expect("test database") else {
        eprintln!("JUMEAU_TEST_POSTGRES is not set: skipped");
        return;
    };
    let store = PgStore::connect(&url, PgOptions::default())
        .await
        .expect("connect");
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(conn);
    let id = "urn:ngsi-ld:Streetlight:1";
    store
        .write("t1", vec![WriteOp::Create(lamp(1))])
        .await
        .expect("write");
    for round in 0..3 {
        // Several connections in the pool, then all of them killed.
        let (a, b, c) = tokio::join!(
            store.get("t1", id),
            store.get("t1", id),
            store.get("t1", id)
        );
        for r in [a, b, c] {
            assert!(r.expect("get").is_some());
        }
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .expect("terminate");
        let mut unavailable = 0;
        for i in 0..6 {
            let op = if (i + round) % 2 == 0 {
                store.get("t1", id).await.map(|_| ())
            } else {
                let q = EntityQuery {
                    q: Some(parse_q("power==1")),
                    limit: 5,
                    ..Default::default()
                };
                store
                    .query("t1", &q)
                    .await
                    .map(|p| assert_eq!(p.entities.len(), 1))
            };
            match op {
                Ok(()) => {}
                Err(jumeau_store::StoreError::Unavailable(_)) => unavailable += 1,
                Err(other) => panic!("round {round}: {other:?}"),
            }
        }
        assert!(
            unavailable <= 1,
            "round {round}: {unavailable} calls failed"
        );
        let mut patch = jumeau_model::ops::AttrMap::new();
        patch.insert(
            ex("status"),
            vec![Attribute::new(AttributeValue::Property(json!(format!(
                "r{round}"
            ))))],
        );
        let written = store
            .write(
                "t1",
                vec![WriteOp::UpdateAttrs {
                    id: id.into(),
                    attrs: patch,
                }],
            )
            .await
            .expect("write after reconnecting");
        assert!(written[0].is_ok());
    }
}

/// A rough timing of 10,000 creates (one per call, and in batches of 500) on each engine;
/// run by hand: `cargo test -p jumeau-store --test conformance -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn timing_of_ten_thousand_creates() {
    let mut engines = vec![("sqlite", sqlite().await)];
    if let Some(pg) = postgres().await {
        engines.push(("postgres", pg));
    }
    for (name, store) in engines {
        let start = std::time::Instant::now();
        for i in 0..10_000 {
            let r = store
                .write("one", vec![WriteOp::Create(lamp(i))])
                .await
                .expect("write");
            assert!(r[0].is_ok());
        }
        let single = start.elapsed();
        let start = std::time::Instant::now();
        let all: Vec<Entity> = (0..10_000).map(lamp).collect();
        for chunk in all.chunks(500) {
            let ops = chunk.iter().cloned().map(WriteOp::Create).collect();
            store.write("batch", ops).await.expect("write");
        }
        let batched = start.elapsed();
        let start = std::time::Instant::now();
        let q = EntityQuery {
            types: Some(TypeExpr::Type(ex("Streetlight"))),
            q: Some(parse_q("status==\"broken\"")),
            count: true,
            limit: 20,
            ..Default::default()
        };
        let page = store.query("batch", &q).await.expect("query");
        let queried = start.elapsed();
        eprintln!(
            "{name}: 10,000 creates one per call {single:?}, in batches of 500 {batched:?}; \
             sparse q with count over 10,000 {queried:?} ({:?} matches)",
            page.count
        );
    }
}
