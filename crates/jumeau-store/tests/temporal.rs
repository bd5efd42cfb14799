//! Attribute history against both engines: history written by entity writes and bulk
//! appends, queries, deletion, rollups against raw aggregation, retention and restart.
#![allow(clippy::unwrap_used, clippy::panic)]

mod engines;

use chrono::{DateTime, Duration as TimeDelta, TimeZone, Utc};
use jumeau_model::temporal::{
    Accumulator, AggrMethod, AggrPeriod, BucketGrid, Duration, TemporalQuery, TimeProperty,
    TimeRange,
};
use jumeau_model::{Attribute, AttributeValue, Entity, ErrorKind};
use jumeau_store::postgres::{PgOptions, PgStore};
use jumeau_store::temporal::{EntityHistory, RetentionPolicy};
use jumeau_store::{Store, TemporalStore, WriteOp};
use proptest::prelude::*;
use serde_json::{json, Value};

const TEMP: &str = "https://example.org/temperature";
const STATUS: &str = "https://example.org/status";
const SENSOR: &str = "https://example.org/Sensor";
const ID: &str = "urn:ngsi-ld:Sensor:1";

use engines::{on_both_engines, Engine};

on_both_engines!(
    entity_writes_append_history,
    every_kind_of_entity_write_appends_history,
    bulk_append_with_duplicates_and_disorder,
    many_values_at_one_time_and_late_arrivals,
    last_n_and_time_ranges,
    created_at_time_property,
    delete_history_by_instance_attribute_entity,
    text_values_and_tenant_isolation,
    daily_aggregation_across_daylight_saving_changes,
    retention_thins_with_reports,
    history_survives_a_restart,
    far_past_and_far_future_instances,
    retention_of_whole_months,
    a_new_entity_in_the_place_of_a_deleted_one_has_its_own_history,
    several_entities_aggregate_as_each_alone,
);

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid time")
        .with_timezone(&Utc)
}

fn reading(value: Value, observed: Option<DateTime<Utc>>) -> Attribute {
    let mut a = Attribute::new(AttributeValue::Property(value));
    a.observed_at = observed;
    a
}

fn sensor(temp: Value, observed: DateTime<Utc>) -> Entity {
    let mut e = Entity::new(ID, SENSOR);
    e.attrs
        .insert(TEMP.into(), vec![reading(temp, Some(observed))]);
    e
}

fn query(range: Option<TimeRange>) -> TemporalQuery {
    TemporalQuery {
        time_range: range,
        ..Default::default()
    }
}

async fn history_of<S: TemporalStore>(
    store: &S,
    tenant: &str,
    q: &TemporalQuery,
) -> Vec<EntityHistory> {
    store
        .history(tenant, &[ID.to_string()], None, q)
        .await
        .expect("history")
}

fn values(h: &[EntityHistory], attr: &str) -> Vec<Value> {
    h.iter()
        .flat_map(|e| &e.attrs)
        .filter(|a| a.name == attr)
        .flat_map(|a| &a.instances)
        .map(|i| match &i.attribute.value {
            AttributeValue::Property(v) => v.clone(),
            other => json!(other.type_name()),
        })
        .collect()
}

fn hourly(start: DateTime<Utc>, n: i64, step_minutes: i64) -> Vec<(String, Attribute)> {
    (0..n)
        .map(|i| {
            (
                TEMP.to_string(),
                reading(
                    json!(i % 10),
                    Some(start + TimeDelta::minutes(i * step_minutes)),
                ),
            )
        })
        .collect()
}

async fn entity_writes_append_history<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = place.open().await;
    let t0 = at("2024-05-01T10:00:00Z");
    let upsert = |e: Entity| WriteOp::Upsert {
        entity: e,
        replace: false,
    };
    store
        .write("t", vec![WriteOp::Create(sensor(json!(20.5), t0))])
        .await
        .unwrap();
    for (i, v) in [21.0, 21.5, 21.5].iter().enumerate() {
        store
            .write(
                "t",
                vec![upsert(sensor(
                    json!(v),
                    t0 + TimeDelta::minutes(10 * (i as i64 + 1)),
                ))],
            )
            .await
            .unwrap()[0]
            .as_ref()
            .unwrap();
    }
    // The same value at the same observedAt: no change, no instance.
    store
        .write(
            "t",
            vec![upsert(sensor(json!(21.5), t0 + TimeDelta::minutes(30)))],
        )
        .await
        .unwrap();
    // A text attribute without observedAt: at the time of the write.
    let mut patch = Entity::new(ID, SENSOR);
    patch
        .attrs
        .insert(STATUS.into(), vec![reading(json!("ok"), None)]);
    store.write("t", vec![upsert(patch)]).await.unwrap();
    store
        .write(
            "t",
            vec![WriteOp::UpdateAttrs {
                id: ID.into(),
                attrs: [(STATUS.to_string(), vec![reading(json!("broken"), None)])].into(),
            }],
        )
        .await
        .unwrap();

    let h = history_of(&store, "t", &query(None)).await;
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].types, vec![SENSOR.to_string()]);
    assert_eq!(
        values(&h, TEMP),
        vec![json!(20.5), json!(21), json!(21.5), json!(21.5)]
    );
    assert_eq!(values(&h, STATUS), vec![json!("ok"), json!("broken")]);
    let temp = h[0].attrs.iter().find(|a| a.name == TEMP).unwrap();
    assert_eq!(temp.instances[0].attribute.observed_at, Some(t0));
    let status = h[0].attrs.iter().find(|a| a.name == STATUS).unwrap();
    assert_eq!(status.instances[0].attribute.observed_at, None);
    assert!(status.instances[0].created_at <= status.instances[1].created_at);
    // attrs filter
    let only = store
        .history(
            "t",
            &[ID.to_string()],
            Some(&[STATUS.to_string()]),
            &query(None),
        )
        .await
        .unwrap();
    assert_eq!(only[0].attrs.len(), 1);
    assert_eq!(only[0].attrs[0].name, STATUS);
}

async fn every_kind_of_entity_write_appends_history<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = place.open().await;
    let t0 = at("2024-05-01T10:00:00Z");
    let minute = |m: i64| t0 + TimeDelta::minutes(m);
    let with_dataset = |v: f64, m: i64, ds: &str| {
        let mut a = reading(json!(v), Some(minute(m)));
        a.dataset_id = Some(ds.to_string());
        a
    };
    let mut e = sensor(json!(1), minute(0));
    e.attrs
        .get_mut(TEMP)
        .unwrap()
        .push(with_dataset(10.0, 0, "urn:ds:b"));
    store.write("t", vec![WriteOp::Create(e)]).await.unwrap();
    let ops = vec![
        WriteOp::PatchAttr {
            id: ID.into(),
            name: TEMP.into(),
            attr: reading(json!(2), Some(minute(1))),
        },
        WriteOp::ReplaceAttr {
            id: ID.into(),
            name: TEMP.into(),
            attr: reading(json!(3), Some(minute(2))),
        },
        WriteOp::Merge {
            id: ID.into(),
            attrs: [(TEMP.to_string(), vec![with_dataset(11.0, 3, "urn:ds:b")])].into(),
            deletions: Vec::new(),
            types: None,
        },
        WriteOp::AppendAttrs {
            id: ID.into(),
            attrs: [(TEMP.to_string(), vec![reading(json!(4), Some(minute(4)))])].into(),
            no_overwrite: false,
        },
        WriteOp::Replace(sensor(json!(5), minute(5))),
        // Only observedAt changes: a new instance of the same value.
        WriteOp::Upsert {
            entity: sensor(json!(5), minute(6)),
            replace: false,
        },
    ];
    for op in ops {
        store.write("t", vec![op]).await.unwrap()[0]
            .as_ref()
            .unwrap();
    }
    let h = history_of(&store, "t", &query(None)).await;
    let series: Vec<(Option<&str>, Vec<Value>)> = h[0]
        .attrs
        .iter()
        .map(|a| {
            (
                a.dataset_id.as_deref(),
                a.instances
                    .iter()
                    .map(|i| match &i.attribute.value {
                        AttributeValue::Property(v) => v.clone(),
                        _ => Value::Null,
                    })
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        series,
        vec![
            (
                None,
                vec![json!(1), json!(2), json!(3), json!(4), json!(5), json!(5)]
            ),
            (Some("urn:ds:b"), vec![json!(10), json!(11)]),
        ]
    );
}

async fn bulk_append_with_duplicates_and_disorder<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = place.open().await;
    let t0 = at("2024-01-01T00:00:00Z");
    let mut batch = hourly(t0, 1000, 10);
    batch.reverse();
    // Shuffle deterministically, and add duplicates.
    batch.sort_by_key(|(_, a)| (a.observed_at.unwrap().timestamp() * 7919) % 1009);
    let dups: Vec<_> = batch.iter().take(100).cloned().collect();
    batch.extend(dups);
    let report = store
        .append_history("t", ID, &[SENSOR.into()], batch)
        .await
        .unwrap();
    assert_eq!((report.stored, report.duplicates), (1000, 100));
    // Again, partly overlapping, out of order, with a new value at an existing time.
    let mut again = hourly(t0 + TimeDelta::minutes(5000), 600, 10);
    again.push((TEMP.into(), reading(json!(99.25), Some(t0))));
    let report = store
        .append_history("t", ID, &[SENSOR.into()], again)
        .await
        .unwrap();
    assert_eq!((report.stored, report.duplicates), (101, 500));

    let h = history_of(&store, "t", &query(None)).await;
    let instances = &h[0].attrs[0].instances;
    assert_eq!(instances.len(), 1101);
    let times: Vec<_> = instances
        .iter()
        .map(|i| i.attribute.observed_at.unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(times[0], t0);
    assert_eq!(times[1], t0);
    let first_two: Vec<_> = instances[..2]
        .iter()
        .map(|i| i.attribute.value.clone())
        .collect();
    assert!(first_two.contains(&AttributeValue::Property(json!(99.25))));
    let ids: std::collections::HashSet<_> = instances.iter().map(|i| &i.instance_id).collect();
    assert_eq!(ids.len(), instances.len());
    let stats = store.history_stats("t").await.unwrap();
    assert_eq!(stats.instances, 1101);
    assert!(stats.hourly_rows > 0 && stats.daily_rows > 0);
    assert!(stats.raw_bytes.unwrap() > 0);
}

async fn many_values_at_one_time_and_late_arrivals<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = place.open().await;
    let t0 = at("2024-07-01T00:00:00Z");
    // 300 different values at one time: more than a chunk holds, never split.
    let same_time: Vec<_> = (0..300)
        .map(|i| (TEMP.to_string(), reading(json!(i), Some(t0))))
        .collect();
    let report = store
        .append_history("t", ID, &[], same_time.clone())
        .await
        .unwrap();
    assert_eq!((report.stored, report.duplicates), (300, 0));
    // Around them, in three late and overlapping batches, with repeats of all of them.
    for offset in [600i64, -600, 0] {
        let mut batch = hourly(t0 + TimeDelta::minutes(offset), 700, 1);
        batch.extend(same_time.iter().cloned());
        store.append_history("t", ID, &[], batch).await.unwrap();
    }
    let h = history_of(&store, "t", &query(None)).await;
    let instances = &h[0].attrs[0].instances;
    // 300 at t0, plus minutes -600 to 1299 (the value i % 10 at t0 repeats one of the 300).
    assert_eq!(instances.len(), 300 + 1900 - 1);
    let times: Vec<_> = instances
        .iter()
        .map(|i| i.attribute.observed_at.unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(store.history_stats("t").await.unwrap().instances, 2199);
}

async fn last_n_and_time_ranges<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = place.open().await;
    let t0 = at("2024-02-01T00:00:00Z");
    store
        .append_history("t", ID, &[], hourly(t0, 2000, 1))
        .await
        .unwrap();
    store
        .append_history(
            "t",
            ID,
            &[],
            vec![
                (STATUS.into(), reading(json!("a"), Some(t0))),
                (
                    STATUS.into(),
                    reading(json!("b"), Some(t0 + TimeDelta::minutes(1999))),
                ),
            ],
        )
        .await
        .unwrap();
    let minute = |m: i64| t0 + TimeDelta::minutes(m);
    let mut q = query(None);
    q.last_n = Some(3);
    let h = history_of(&store, "t", &q).await;
    assert_eq!(values(&h, TEMP), vec![json!(7), json!(8), json!(9)]);
    assert_eq!(values(&h, STATUS), vec![json!("a"), json!("b")]);
    let count = |h: &[EntityHistory]| values(h, TEMP).len();
    let h = history_of(&store, "t", &query(Some(TimeRange::Before(minute(10))))).await;
    assert_eq!(count(&h), 10);
    let h = history_of(&store, "t", &query(Some(TimeRange::After(minute(1990))))).await;
    assert_eq!(count(&h), 10);
    let h = history_of(
        &store,
        "t",
        &query(Some(TimeRange::Between(minute(300), minute(800)))),
    )
    .await;
    assert_eq!(count(&h), 500);
    let mut q = query(Some(TimeRange::Between(minute(300), minute(800))));
    q.last_n = Some(2);
    let h = history_of(&store, "t", &q).await;
    let temps = &h[0]
        .attrs
        .iter()
        .find(|a| a.name == TEMP)
        .unwrap()
        .instances;
    assert_eq!(temps[0].attribute.observed_at, Some(minute(798)));
    assert_eq!(temps[1].attribute.observed_at, Some(minute(799)));
    let h = history_of(&store, "t", &query(Some(TimeRange::Before(t0)))).await;
    assert!(h.is_empty());
}

async fn created_at_time_property<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = place.open().await;
    let t0 = at("2020-01-01T00:00:00Z");
    store
        .append_history("t", ID, &[], hourly(t0, 5, 60))
        .await
        .unwrap();
    let between = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .append_history("t", ID, &[], hourly(t0 + TimeDelta::hours(5), 3, 60))
        .await
        .unwrap();
    let mut q = query(Some(TimeRange::After(between)));
    q.time_property = TimeProperty::CreatedAt;
    let h = history_of(&store, "t", &q).await;
    assert_eq!(values(&h, TEMP).len(), 3);
    for i in &h[0].attrs[0].instances {
        assert!(i.created_at >= between);
        assert_eq!(i.attribute.modified_at, Some(i.created_at));
    }
    q.time_range = Some(TimeRange::Before(between));
    assert_eq!(values(&history_of(&store, "t", &q).await, TEMP).len(), 5);
    // Aggregation by createdAt sees the same split.
    q.aggr_methods = vec![AggrMethod::TotalCount];
    let a = store
        .aggregate("t", &[ID.into()], None, &q, chrono_tz::UTC)
        .await
        .unwrap();
    assert_eq!(a[0].attrs[0].buckets[0].1.total_count(), 5);
}

async fn delete_history_by_instance_attribute_entity<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = place.open().await;
    let t0 = at("2024-03-01T00:00:00Z");
    store
        .append_history("t", ID, &[], hourly(t0, 30, 10))
        .await
        .unwrap();
    store
        .append_history(
            "t",
            ID,
            &[],
            vec![(STATUS.into(), reading(json!("x"), Some(t0)))],
        )
        .await
        .unwrap();
    let h = history_of(&store, "t", &query(None)).await;
    let temp = &h[0]
        .attrs
        .iter()
        .find(|a| a.name == TEMP)
        .unwrap()
        .instances;
    let victim = temp[3].instance_id.clone();
    // Another tenant or entity cannot reach it.
    assert_eq!(
        store
            .delete_history("other", ID, None, None, false, Some(&victim))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .delete_history("t", "urn:x", None, None, false, Some(&victim))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .delete_history("t", ID, Some(TEMP), None, false, Some(&victim))
            .await
            .unwrap(),
        1
    );
    let mut q = query(None);
    q.aggr_methods = vec![AggrMethod::TotalCount, AggrMethod::Sum];
    q.aggr_period = Some(AggrPeriod::WholeRange);
    let agg = store
        .aggregate("t", &[ID.into()], Some(&[TEMP.into()]), &q, chrono_tz::UTC)
        .await
        .unwrap();
    let acc = &agg[0].attrs[0].buckets[0].1;
    assert_eq!(acc.total_count(), 29);
    let expected: i64 = (0..30).map(|i| i % 10).sum::<i64>() - 3;
    assert_eq!(
        acc.result(AggrMethod::Sum).unwrap().unwrap().to_json(),
        json!(expected)
    );
    let status = &h[0]
        .attrs
        .iter()
        .find(|a| a.name == STATUS)
        .unwrap()
        .instances;
    assert_eq!(
        store
            .delete_history("t", ID, None, None, false, Some(&status[0].instance_id))
            .await
            .unwrap(),
        1
    );
    assert!(store
        .delete_history("t", ID, None, None, false, Some("urn:nope"))
        .await
        .is_err());
    assert_eq!(
        store
            .delete_history("t", ID, Some(TEMP), None, false, None)
            .await
            .unwrap(),
        29
    );
    assert!(history_of(&store, "t", &query(None)).await.is_empty());
    assert_eq!(store.history_stats("t").await.unwrap().hourly_rows, 0);
}

async fn text_values_and_tenant_isolation<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = place.open().await;
    let t0 = at("2024-04-01T00:00:00Z");
    let mut rel = Attribute::new(AttributeValue::Relationship(
        jumeau_model::entity::RelObject::One("urn:ngsi-ld:Cabinet:1".into()),
    ));
    rel.observed_at = Some(t0);
    let mut with_unit = reading(json!(3), Some(t0));
    with_unit.unit_code = Some("CEL".into());
    let mut with_sub = reading(json!(4), Some(t0 + TimeDelta::minutes(1)));
    with_sub
        .sub
        .insert(STATUS.into(), vec![reading(json!("estimated"), None)]);
    store
        .append_history(
            "a",
            ID,
            &[],
            vec![
                (STATUS.into(), reading(json!("on"), Some(t0))),
                (STATUS.into(), reading(json!(true), Some(t0))),
                (STATUS.into(), reading(json!({"k": [1, 2]}), Some(t0))),
                (TEMP.into(), with_unit.clone()),
                (TEMP.into(), with_sub.clone()),
                (
                    TEMP.into(),
                    reading(json!(5), Some(t0 + TimeDelta::minutes(2))),
                ),
                ("https://example.org/feeds".into(), rel.clone()),
            ],
        )
        .await
        .unwrap();
    store
        .append_history("b", ID, &[], hourly(t0, 2, 10))
        .await
        .unwrap();
    let h = history_of(&store, "a", &query(None)).await;
    assert_eq!(h[0].attrs.len(), 3);
    let temps = &h[0]
        .attrs
        .iter()
        .find(|a| a.name == TEMP)
        .unwrap()
        .instances;
    assert_eq!(temps[0].attribute.unit_code.as_deref(), Some("CEL"));
    assert_eq!(temps[1].attribute.sub, with_sub.sub);
    // A number without the series' unit is kept whole, without a unit.
    assert_eq!(temps[2].attribute.unit_code, None);
    let feeds = &h[0]
        .attrs
        .iter()
        .find(|a| a.name.ends_with("feeds"))
        .unwrap()
        .instances;
    assert_eq!(feeds[0].attribute.value, rel.value);
    assert_eq!(values(&h, STATUS).len(), 3);
    assert_eq!(
        values(&history_of(&store, "b", &query(None)).await, TEMP).len(),
        2
    );
    assert!(history_of(&store, "c", &query(None)).await.is_empty());

    // Numeric methods over text: a clear error; counts work.
    let mut q = query(None);
    q.aggr_methods = vec![AggrMethod::Avg];
    q.aggr_period = Some(AggrPeriod::WholeRange);
    let agg = store
        .aggregate(
            "a",
            &[ID.into()],
            Some(&[STATUS.into()]),
            &q,
            chrono_tz::UTC,
        )
        .await
        .unwrap();
    let acc = &agg[0].attrs[0].buckets[0].1;
    assert_eq!(acc.total_count(), 3);
    let err = acc.result(AggrMethod::Avg).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequestData);
    assert!(err.detail.contains("text"), "{}", err.detail);
}

async fn daily_aggregation_across_daylight_saving_changes<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = place.open().await;
    let paris = chrono_tz::Europe::Paris;
    assert_eq!(store.time_zone("t").await.unwrap(), paris);
    // One reading of 1 every hour from 29 March to 2 April, and 25 to 29 October 2024.
    for start in ["2024-03-29T00:00:00Z", "2024-10-25T00:00:00Z"] {
        let batch: Vec<_> = (0..24 * 4)
            .map(|h| {
                (
                    TEMP.to_string(),
                    reading(json!(1), Some(at(start) + TimeDelta::hours(h))),
                )
            })
            .collect();
        store.append_history("t", ID, &[], batch).await.unwrap();
    }
    let day = |y, m, d| paris.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap().to_utc();
    let mut q = query(Some(TimeRange::Between(day(2024, 3, 30), day(2024, 4, 1))));
    q.aggr_methods = vec![AggrMethod::TotalCount, AggrMethod::Sum];
    q.aggr_period = Some(AggrPeriod::parse("P1D").unwrap());
    let counts = |agg: &[jumeau_store::temporal::EntityAggregate]| -> Vec<(DateTime<Utc>, u64)> {
        agg[0].attrs[0]
            .buckets
            .iter()
            .map(|(b, a)| (b.start, a.total_count()))
            .collect()
    };
    let agg = store
        .aggregate("t", &[ID.into()], None, &q, paris)
        .await
        .unwrap();
    assert_eq!(
        counts(&agg),
        vec![(day(2024, 3, 30), 24), (day(2024, 3, 31), 23)]
    );
    q.time_range = Some(TimeRange::Between(day(2024, 10, 26), day(2024, 10, 28)));
    let agg = store
        .aggregate("t", &[ID.into()], None, &q, paris)
        .await
        .unwrap();
    assert_eq!(
        counts(&agg),
        vec![(day(2024, 10, 26), 24), (day(2024, 10, 27), 25)]
    );
    // In another zone than the tenant's, the answer comes from hourly rollups and is the same
    // day by day of that zone.
    let utc = store
        .aggregate("t", &[ID.into()], None, &q, chrono_tz::UTC)
        .await
        .unwrap();
    assert_eq!(utc[0].attrs[0].buckets.len(), 3);
    // Switching the tenant to UTC rebuilds the daily rollups.
    store.set_time_zone("t", chrono_tz::UTC).await.unwrap();
    let rebuilt = store
        .aggregate("t", &[ID.into()], None, &q, chrono_tz::UTC)
        .await
        .unwrap();
    assert_eq!(counts(&rebuilt), counts(&utc));
    assert_eq!(store.time_zone("t").await.unwrap(), chrono_tz::UTC);
}

async fn retention_thins_with_reports<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = place.open().await;
    let t0 = at("2024-01-01T00:00:00Z");
    // 60 days of 10-minute readings.
    store
        .append_history("t", ID, &[SENSOR.into()], hourly(t0, 6 * 24 * 60, 10))
        .await
        .unwrap();
    store
        .append_history(
            "t",
            "urn:other",
            &["https://example.org/Meter".into()],
            hourly(t0, 6 * 24 * 60, 10),
        )
        .await
        .unwrap();
    store
        .set_retention_policy(
            "t",
            RetentionPolicy {
                entity_type: Some(SENSOR.into()),
                raw_days: Some(30),
                hourly_days: Some(45),
                daily_days: None,
            },
        )
        .await
        .unwrap();
    store
        .set_retention_policy(
            "t",
            RetentionPolicy {
                entity_type: None,
                raw_days: Some(50),
                hourly_days: Some(52),
                daily_days: Some(55),
            },
        )
        .await
        .unwrap();
    assert_eq!(store.retention_policies("t").await.unwrap().len(), 2);
    let inverted = RetentionPolicy {
        entity_type: None,
        raw_days: Some(10),
        hourly_days: None,
        daily_days: Some(5),
    };
    let err = store.set_retention_policy("t", inverted).await.unwrap_err();
    assert!(err.to_string().contains("no longer than"), "{err}");
    let mut q = query(None);
    q.aggr_methods = vec![AggrMethod::TotalCount, AggrMethod::Sum];
    q.aggr_period = Some(AggrPeriod::WholeRange);
    let whole = store
        .aggregate("t", &[ID.into()], None, &q, chrono_tz::Europe::Paris)
        .await
        .unwrap();
    assert_eq!(whole[0].attrs[0].buckets[0].1.total_count(), 8640);

    let now = at("2024-03-01T12:34:00Z");
    let reports = store.apply_retention(now).await.unwrap();
    assert_eq!(reports.len(), 5);
    let raw = reports
        .iter()
        .find(|r| r.level == "raw" && r.entity_type.as_deref() == Some(SENSOR))
        .unwrap();
    // Raw instances older than 30 days (cut on the hour) are gone.
    assert_eq!(raw.cutoff, at("2024-01-31T12:00:00Z"));
    assert_eq!(raw.removed, 30 * 144 + 12 * 6);
    let h = history_of(&store, "t", &query(None)).await;
    assert_eq!(h[0].attrs[0].instances.len(), 8640 - 30 * 144 - 72);
    // Days of the thinned range are still answered from daily rollups, and so is the
    // whole history.
    let paris = chrono_tz::Europe::Paris;
    let midnight = |d| {
        paris
            .with_ymd_and_hms(2024, 1, d, 0, 0, 0)
            .unwrap()
            .to_utc()
    };
    let mut daily = q.clone();
    daily.time_range = Some(TimeRange::Between(midnight(10), midnight(20)));
    daily.aggr_period = Some(AggrPeriod::parse("P1D").unwrap());
    let per_day = store
        .aggregate("t", &[ID.into()], None, &daily, paris)
        .await
        .unwrap();
    let counts: Vec<u64> = per_day[0].attrs[0]
        .buckets
        .iter()
        .map(|(_, a)| a.total_count())
        .collect();
    assert_eq!(counts, vec![144; 10]);
    let whole = store
        .aggregate("t", &[ID.into()], None, &q, paris)
        .await
        .unwrap();
    assert_eq!(whole[0].attrs[0].buckets[0].1.total_count(), 8640);
    let other = reports
        .iter()
        .find(|r| r.level == "raw" && r.entity_type.is_none())
        .unwrap();
    assert_eq!(other.removed, 10 * 144 + 12 * 6);
    let listed = store.retention_reports("t").await.unwrap();
    assert_eq!(listed.len(), 5);
    let default_daily = reports
        .iter()
        .find(|r| r.level == "daily" && r.entity_type.is_none())
        .unwrap();
    // 55 days before 1 March 12:34 UTC is 6 January: the daily rows of 1 to 5 January go.
    assert_eq!(default_daily.removed, 5);
    // A second pass, later: newest reports first.
    let later = store
        .apply_retention(now + TimeDelta::days(1))
        .await
        .unwrap();
    assert_eq!(
        later
            .iter()
            .find(|r| r.level == "raw" && r.entity_type.is_some())
            .unwrap()
            .removed,
        144
    );
    let listed = store.retention_reports("t").await.unwrap();
    assert_eq!(listed.len(), 10);
    assert_eq!(listed[0].ran_at, now + TimeDelta::days(1));
    assert_eq!(listed[9].ran_at, now);
    assert!(store.retention_reports("nobody").await.unwrap().is_empty());
}

async fn history_survives_a_restart<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let t0 = at("2024-06-01T00:00:00Z");
    {
        let store = place.open().await;
        store
            .append_history("t", ID, &[SENSOR.into()], hourly(t0, 500, 10))
            .await
            .unwrap();
        store
            .write(
                "t",
                vec![WriteOp::Create(sensor(json!(42), t0 + TimeDelta::days(30)))],
            )
            .await
            .unwrap();
    }
    let store = place.open().await;
    let h = history_of(&store, "t", &query(None)).await;
    assert_eq!(h[0].attrs[0].instances.len(), 501);
    assert_eq!(h[0].types, vec![SENSOR.to_string()]);
    // Writes after the restart keep going into the same series.
    store
        .write(
            "t",
            vec![WriteOp::Upsert {
                entity: sensor(json!(43), t0 + TimeDelta::days(31)),
                replace: false,
            }],
        )
        .await
        .unwrap();
    let h = history_of(&store, "t", &query(None)).await;
    assert_eq!(h[0].attrs[0].instances.len(), 502);
}

async fn far_past_and_far_future_instances<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = place.open().await;
    // Far outside any partition made ahead: each lands in a month of its own.
    let times = [
        "0044-03-15T12:00:00Z",
        "1066-10-14T09:00:00Z",
        "2024-02-29T23:59:59.999999Z",
        "2999-12-31T23:00:00Z",
        "9999-12-31T23:59:59Z",
    ];
    let batch: Vec<_> = times
        .iter()
        .enumerate()
        .map(|(i, t)| (TEMP.to_string(), reading(json!(i), Some(at(t)))))
        .collect();
    let report = store
        .append_history("t", ID, &[SENSOR.into()], batch.clone())
        .await
        .unwrap();
    assert_eq!((report.stored, report.duplicates), (5, 0));
    let report = store
        .append_history("t", ID, &[SENSOR.into()], batch)
        .await
        .unwrap();
    assert_eq!((report.stored, report.duplicates), (0, 5));
    let h = history_of(&store, "t", &query(None)).await;
    let got: Vec<_> = h[0].attrs[0]
        .instances
        .iter()
        .map(|i| i.attribute.observed_at.unwrap())
        .collect();
    assert_eq!(got, times.iter().map(|t| at(t)).collect::<Vec<_>>());
    let mut q = query(Some(TimeRange::Before(at("1900-01-01T00:00:00Z"))));
    // distinctCount reads raw instances only, not the rollups of eighteen centuries.
    q.aggr_methods = vec![
        AggrMethod::TotalCount,
        AggrMethod::DistinctCount,
        AggrMethod::Sum,
    ];
    q.aggr_period = Some(AggrPeriod::WholeRange);
    let agg = store
        .aggregate("t", &[ID.into()], None, &q, chrono_tz::Europe::Paris)
        .await
        .unwrap();
    let acc = &agg[0].attrs[0].buckets[0].1;
    assert_eq!(acc.total_count(), 2);
    assert_eq!(
        acc.result(AggrMethod::Sum).unwrap().unwrap().to_json(),
        json!(1)
    );
    // Deleting the oldest by its id.
    let oldest = h[0].attrs[0].instances[0].instance_id.clone();
    assert_eq!(
        store
            .delete_history("t", ID, None, None, false, Some(&oldest))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.history_stats("t").await.unwrap().instances, 4);
}

/// Months that every policy has expired are removed whole (on PostgreSQL, by dropping their
/// partitions); what a month still needs (text, another tenant without a policy) is kept.
async fn retention_of_whole_months<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = place.open().await;
    let t0 = at("2023-01-01T00:00:00Z");
    // Three months of 10-minute readings for two tenants, and text in February for one.
    for tenant in ["a", "b"] {
        store
            .append_history(tenant, ID, &[SENSOR.into()], hourly(t0, 90 * 144, 10))
            .await
            .unwrap();
    }
    store
        .append_history(
            "a",
            ID,
            &[SENSOR.into()],
            vec![(
                STATUS.into(),
                reading(json!("maintenance"), Some(at("2023-02-10T08:00:00Z"))),
            )],
        )
        .await
        .unwrap();
    // A recent reading, kept.
    store
        .append_history(
            "a",
            ID,
            &[SENSOR.into()],
            vec![(
                TEMP.into(),
                reading(json!(7), Some(at("2023-12-15T00:00:00Z"))),
            )],
        )
        .await
        .unwrap();
    let policy = RetentionPolicy {
        entity_type: None,
        raw_days: Some(30),
        hourly_days: None,
        daily_days: None,
    };
    store.set_retention_policy("a", policy).await.unwrap();
    let reports = store
        .apply_retention(at("2024-01-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].removed, 90 * 144);
    let h = history_of(&store, "a", &query(None)).await;
    assert_eq!(values(&h, TEMP), vec![json!(7)]);
    assert_eq!(values(&h, STATUS), vec![json!("maintenance")]);
    // Tenant b has no policy: nothing of it goes.
    assert_eq!(store.history_stats("b").await.unwrap().instances, 90 * 144);
    // The days are still answered, from rollups.
    let mut q = query(Some(TimeRange::Between(t0, t0 + TimeDelta::days(90))));
    q.aggr_methods = vec![AggrMethod::TotalCount];
    q.aggr_period = Some(AggrPeriod::WholeRange);
    let agg = store
        .aggregate(
            "a",
            &[ID.into()],
            Some(&[TEMP.into()]),
            &q,
            chrono_tz::Europe::Paris,
        )
        .await
        .unwrap();
    assert_eq!(agg[0].attrs[0].buckets[0].1.total_count(), 90 * 144);
    // Late readings of an expired month are taken again.
    let report = store
        .append_history("a", ID, &[SENSOR.into()], hourly(t0, 3, 1))
        .await
        .unwrap();
    assert_eq!(report.stored, 3);
}

/// Aggregation over raw instances only, as the reference.
fn reference(
    instances: &[(i64, f64)],
    q: &TemporalQuery,
    tz: chrono_tz::Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, Accumulator)> {
    let mut out: Vec<(DateTime<Utc>, Accumulator)> = Vec::new();
    let buckets: Vec<_> = match &q.aggr_period {
        Some(AggrPeriod::Every(d)) => BucketGrid::new(d, tz, q.aggregation_origin())
            .buckets(from, to)
            .collect(),
        _ => vec![jumeau_model::temporal::Bucket {
            start: from,
            end: to,
        }],
    };
    for b in buckets {
        let mut acc = Accumulator::for_methods(&q.aggr_methods);
        for (t, v) in instances {
            let t = DateTime::from_timestamp(*t, 0).unwrap();
            if b.contains(t) && t >= from && t < to {
                acc.add(&json!(v));
            }
        }
        if acc.total_count() > 0 {
            out.push((b.start, acc));
        }
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * (1.0 + a.abs().max(b.abs()))
}

/// The PostgreSQL database shared by the cases of the property test (a tenant per case),
/// when a cluster is available.
fn shared_postgres() -> Option<&'static str> {
    static URL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    URL.get_or_init(|| jumeau_testkit::postgres_database().unwrap())
        .as_deref()
}

/// One case of the property test on one store: aggregations served by rollups equal
/// aggregations over raw instances.
async fn rollups_case<S: TemporalStore>(
    store: &S,
    tenant: &str,
    raw: &[(i64, i64)],
    edges: (i64, i64),
    period: usize,
    paris: bool,
) -> Result<(), TestCaseError> {
    // Two months around the October daylight saving change.
    let base = at("2024-09-15T00:00:00Z").timestamp();
    let instances: Vec<(i64, f64)> = raw
        .iter()
        .map(|(t, v)| (base + t, *v as f64 / 4.0))
        .collect();
    let batch = instances
        .iter()
        .map(|(t, v)| {
            (
                TEMP.to_string(),
                reading(json!(v), Some(DateTime::from_timestamp(*t, 0).unwrap())),
            )
        })
        .collect();
    store.append_history(tenant, ID, &[], batch).await.unwrap();
    let tz = if paris {
        chrono_tz::Europe::Paris
    } else {
        chrono_tz::UTC
    };
    let from = DateTime::from_timestamp(base + edges.0, 0).unwrap();
    let to = from + TimeDelta::seconds(edges.1);
    let mut q = query(Some(TimeRange::Between(from, to)));
    q.aggr_methods = vec![
        AggrMethod::TotalCount,
        AggrMethod::Sum,
        AggrMethod::Min,
        AggrMethod::Max,
        AggrMethod::Avg,
        AggrMethod::StdDev,
    ];
    q.aggr_period = Some(match period {
        0 => AggrPeriod::Every(Duration::parse("PT1H").unwrap()),
        1 => AggrPeriod::Every(Duration::parse("P1D").unwrap()),
        2 => AggrPeriod::Every(Duration::parse("P1M").unwrap()),
        _ => AggrPeriod::WholeRange,
    });
    let got = store
        .aggregate(tenant, &[ID.into()], None, &q, tz)
        .await
        .unwrap();
    let expected = reference(&instances, &q, tz, from, to);
    let got: Vec<_> = got
        .first()
        .map(|e| e.attrs[0].buckets.clone())
        .unwrap_or_default();
    prop_assert_eq!(got.len(), expected.len());
    for ((b, acc), (start, reference)) in got.iter().zip(&expected) {
        prop_assert_eq!(b.start.max(from), (*start).max(from));
        prop_assert_eq!(acc.total_count(), reference.total_count());
        for m in [
            AggrMethod::Sum,
            AggrMethod::Min,
            AggrMethod::Max,
            AggrMethod::Avg,
            AggrMethod::StdDev,
        ] {
            let a = acc
                .result(m)
                .unwrap()
                .map(|v| v.to_json().as_f64().unwrap());
            let r = reference
                .result(m)
                .unwrap()
                .map(|v| v.to_json().as_f64().unwrap());
            match (a, r) {
                (Some(a), Some(r)) => prop_assert!(close(a, r), "{m}: {a} vs {r}"),
                (a, r) => prop_assert_eq!(a, r),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn rollups_agree_with_raw(
        raw in prop::collection::vec((0i64..90 * 86_400, -5000i64..5000), 1..400),
        edges in (0i64..40 * 86_400, 1i64..50 * 86_400),
        period in 0usize..4,
        paris in any::<bool>(),
    ) {
        static CASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let place = engines::Sqlite::fresh().unwrap();
            let sqlite = place.open().await;
            rollups_case(&sqlite, "t", &raw, edges, period, paris).await?;
            if let Some(url) = shared_postgres() {
                let pg = PgStore::connect(url, PgOptions::default()).await.unwrap();
                let case = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                rollups_case(&pg, &format!("case-{case}"), &raw, edges, period, paris).await?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }
}

/// An entity deleted, then another created (the embedded engine may give it the deleted
/// one's row): each keeps its own history, however the writer remembers series.
async fn a_new_entity_in_the_place_of_a_deleted_one_has_its_own_history<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = place.open().await;
    let t0 = at("2024-05-01T10:00:00Z");
    let other = "urn:ngsi-ld:Sensor:2";
    let reading_of = |id: &str, v: f64, minutes: i64| {
        let mut e = Entity::new(id, SENSOR);
        e.attrs.insert(
            TEMP.into(),
            vec![reading(json!(v), Some(t0 + TimeDelta::minutes(minutes)))],
        );
        WriteOp::Upsert {
            entity: e,
            replace: false,
        }
    };
    for op in [
        reading_of(ID, 1.5, 0),
        reading_of(ID, 2.5, 10),
        WriteOp::Delete { id: ID.into() },
        reading_of(other, 3.5, 20),
        reading_of(other, 4.5, 30),
    ] {
        store.write("t", vec![op]).await.unwrap()[0]
            .as_ref()
            .expect("written");
    }
    let first = store
        .history("t", &[ID.to_string()], None, &query(None))
        .await
        .unwrap();
    let second = store
        .history("t", &[other.to_string()], None, &query(None))
        .await
        .unwrap();
    assert_eq!(values(&first, TEMP), vec![json!(1.5), json!(2.5)]);
    assert_eq!(values(&second, TEMP), vec![json!(3.5), json!(4.5)]);
}

/// An aggregation of several entities (which an engine may read in groups of series) gives
/// exactly what each entity gives alone: over a bounded range with ragged edges (rollups and
/// raw numbers), with a text attribute (documents), without rollups (distinct counts), over
/// an open range, and with an entity asked twice.
async fn several_entities_aggregate_as_each_alone<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = place.open().await;
    let ids: Vec<String> = (1..=3)
        .map(|i| format!("urn:ngsi-ld:Sensor:{i}"))
        .chain(["urn:ngsi-ld:Sensor:without-history".to_string()])
        .collect();
    let start = at("2024-03-29T00:00:00Z");
    for (k, id) in ids.iter().take(3).enumerate() {
        // A reading every 40 minutes for three days, different for each entity.
        let mut batch: Vec<_> = (0..108)
            .map(|i| {
                let v = json!(((i * (k as i64 + 3)) % 17) as f64 / 2.0);
                (
                    TEMP.to_string(),
                    reading(v, Some(start + TimeDelta::minutes(40 * i))),
                )
            })
            .collect();
        if k == 1 {
            batch.extend((0..6).map(|i| {
                let v = json!(if i % 2 == 0 { "ok" } else { "faulty" });
                (
                    STATUS.to_string(),
                    reading(v, Some(start + TimeDelta::hours(11 * i))),
                )
            }));
        }
        store.append_history("t", id, &[], batch).await.unwrap();
    }
    let paris = chrono_tz::Europe::Paris;
    let bounded = TimeRange::Between(at("2024-03-29T05:30:00Z"), at("2024-03-31T17:15:00Z"));
    let mut queries = Vec::new();
    for (range, methods) in [
        (
            Some(bounded),
            vec![AggrMethod::TotalCount, AggrMethod::Sum, AggrMethod::Max],
        ),
        (
            Some(bounded),
            vec![AggrMethod::DistinctCount, AggrMethod::TotalCount],
        ),
        (None, vec![AggrMethod::TotalCount, AggrMethod::Min]),
    ] {
        let mut q = query(range);
        q.aggr_methods = methods;
        q.aggr_period = Some(AggrPeriod::parse("P1D").unwrap());
        queries.push(q);
    }
    // The first entity asked twice is answered twice.
    let asked: Vec<String> = ids.iter().chain(&ids[..1]).cloned().collect();
    for q in &queries {
        let together = store.aggregate("t", &asked, None, q, paris).await.unwrap();
        let mut alone = Vec::new();
        for id in &asked {
            alone.extend(
                store
                    .aggregate("t", std::slice::from_ref(id), None, q, paris)
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(together.len(), 4, "the entity without history is left out");
        assert_eq!(together[1].attrs.len(), 2, "numbers and texts");
        assert!(together.iter().all(|e| !e.attrs[0].buckets.is_empty()));
        assert_eq!(format!("{together:?}"), format!("{alone:?}"), "{q:?}");
    }
}
