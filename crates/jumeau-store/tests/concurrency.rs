//! Concurrent batch writes against both engines: batches that name the same entities in
//! different orders all succeed (none is lost to a deadlock), every update is kept, and the
//! history holds one instance per update.
#![allow(clippy::unwrap_used, clippy::panic)]

mod engines;

use std::sync::Arc;

use jumeau_model::query::{EntityQuery, QExpr, TypeExpr};
use jumeau_model::temporal::TemporalQuery;
use jumeau_model::{Attribute, AttributeValue, Entity};
use jumeau_store::{Store, TemporalStore, WriteOp, WriteOutcome};
use serde_json::json;

use engines::{on_both_engines, Engine};

on_both_engines!(
    overlapping_batches_in_opposite_orders_all_succeed,
    batches_mixing_creates_updates_and_deletes_of_one_entity,
);

const KIND: &str = "https://example.org/Lamp";
const LEVEL: &str = "https://example.org/level";
const COUNT: &str = "https://example.org/count";

fn lamp(i: usize) -> Entity {
    let mut e = Entity::new(format!("urn:ngsi-ld:Lamp:{i:03}"), KIND.to_string());
    e.attrs.insert(
        LEVEL.to_string(),
        vec![Attribute::new(AttributeValue::Property(json!(0)))],
    );
    e
}

fn level(writer: usize, round: usize, i: usize) -> WriteOp {
    let mut e = Entity::new(format!("urn:ngsi-ld:Lamp:{i:03}"), KIND.to_string());
    e.attrs.insert(
        LEVEL.to_string(),
        // Never 0, the value at creation: every update changes the value.
        vec![Attribute::new(AttributeValue::Property(json!(
            writer * 1000 + round + 1
        )))],
    );
    WriteOp::Upsert {
        entity: e,
        replace: false,
    }
}

async fn overlapping_batches_in_opposite_orders_all_succeed<E: Engine>()
where
    E::Store: TemporalStore + 'static,
{
    let Some((_place, store)) = engines::fresh::<E>().await else {
        return;
    };
    const N: usize = 40;
    const WRITERS: usize = 6;
    const ROUNDS: usize = 8;
    let created = store
        .write("t", (0..N).map(|i| WriteOp::Create(lamp(i))).collect())
        .await
        .unwrap();
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for r in 0..ROUNDS {
                // Every batch names every entity: ascending for even writers, descending for
                // odd ones, starting at a different place each round.
                let mut order: Vec<usize> = (0..N).map(|k| (k + r * 7 + w * 3) % N).collect();
                if w % 2 == 1 {
                    order.reverse();
                }
                let ops = order.into_iter().map(|i| level(w, r, i)).collect();
                let out = store.write("t", ops).await.expect("no batch fails");
                for o in out {
                    assert!(
                        matches!(o, Ok(WriteOutcome::Updated(_))),
                        "every update applies: {o:?}"
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Every entity holds a value one of the writers wrote, and its history the creation
    // and one instance per update.
    let q = EntityQuery {
        types: Some(TypeExpr::Type(KIND.to_string())),
        limit: 1000,
        count: true,
        ..Default::default()
    };
    let page = store.query("t", &q).await.unwrap();
    assert_eq!(page.count, Some(N as u64));
    for e in &page.entities {
        let v = e.attrs[LEVEL][0].value.clone();
        let AttributeValue::Property(v) = v else {
            panic!("a property: {v:?}")
        };
        let v = v.as_u64().unwrap() as usize;
        assert!(
            v / 1000 < WRITERS && (1..=ROUNDS).contains(&(v % 1000)),
            "{} holds {v}",
            e.id
        );
        let history = store
            .history(
                "t",
                std::slice::from_ref(&e.id),
                None,
                &TemporalQuery::default(),
            )
            .await
            .unwrap();
        let instances: usize = history
            .iter()
            .flat_map(|h| &h.attrs)
            .map(|a| a.instances.len())
            .sum();
        // The creation's instance, then one per update.
        assert_eq!(instances, 1 + WRITERS * ROUNDS, "history of {}", e.id);
    }
}

async fn batches_mixing_creates_updates_and_deletes_of_one_entity<E: Engine>() {
    let Some((_place, store)) = engines::fresh::<E>().await else {
        return;
    };
    let count = |n: i64| {
        let mut m = std::collections::BTreeMap::new();
        m.insert(
            COUNT.to_string(),
            vec![Attribute::new(AttributeValue::Property(json!(n)))],
        );
        m
    };
    let id = || "urn:ngsi-ld:Lamp:001".to_string();
    let out = store
        .write(
            "t",
            vec![
                WriteOp::Create(lamp(1)),
                WriteOp::AppendAttrs {
                    id: id(),
                    attrs: count(1),
                    no_overwrite: false,
                },
                WriteOp::Create(lamp(1)),
                WriteOp::Delete { id: id() },
                WriteOp::AppendAttrs {
                    id: id(),
                    attrs: count(2),
                    no_overwrite: false,
                },
                WriteOp::Create(lamp(2)),
                WriteOp::Create(lamp(1)),
                WriteOp::AppendAttrs {
                    id: id(),
                    attrs: count(3),
                    no_overwrite: false,
                },
            ],
        )
        .await
        .unwrap();
    let ok: Vec<bool> = out.iter().map(Result::is_ok).collect();
    assert_eq!(
        ok,
        vec![true, true, false, true, false, true, true, true],
        "{out:?}"
    );
    // The entity created last comes after lamp 2 in the stable order, with only what was
    // written after its creation.
    let (all, _) = store.scan("t", None, 10).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, vec!["urn:ngsi-ld:Lamp:002", "urn:ngsi-ld:Lamp:001"]);
    let one = store.get("t", &id()).await.unwrap().unwrap();
    assert_eq!(
        one.attrs[COUNT][0].value,
        AttributeValue::Property(json!(3))
    );
    // The value index follows: q finds the entity by its last count only.
    for (n, found) in [(1, 0), (2, 0), (3, 1)] {
        let q = EntityQuery {
            q: Some(
                QExpr::parse(&format!("count=={n}"), &|t| {
                    format!("https://example.org/{t}")
                })
                .unwrap(),
            ),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(
            store.query("t", &q).await.unwrap().entities.len(),
            found,
            "count=={n}"
        );
    }
}
