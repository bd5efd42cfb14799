//! The ingestion side of both engines: journal, recovery cursor, dead letters, device
//! registry and counters, tenants kept apart, and everything still there after reopening.
#![allow(clippy::unwrap_used, clippy::panic)]

mod engines;

use chrono::{Duration, Utc};
use jumeau_store::ingest::{
    Counters, DeadLetterFilter, DeviceRecord, FieldMapping, IngestCommit, NewDeadLetter,
    NewJournalEntry,
};
use jumeau_store::IngestStore;

use engines::{on_both_engines, Engine};

on_both_engines!(
    the_journal_keeps_entries_until_processed_and_survives_reopening,
    dead_letters_are_listed_per_tenant_replaced_and_resolved,
    devices_are_kept_per_tenant,
);

fn entry(body: &str) -> NewJournalEntry {
    NewJournalEntry {
        source: "generic".into(),
        transport: "http".into(),
        kind: String::new(),
        body: body.as_bytes().to_vec(),
        received_at: Utc::now(),
    }
}

fn counters(tenant: &str, dev: &str, received: u64, accepted: u64) -> Counters {
    Counters {
        tenant: tenant.into(),
        source: "generic".into(),
        dev_eui: dev.into(),
        received,
        accepted,
        ..Counters::default()
    }
}

fn device(dev_eui: &str) -> DeviceRecord {
    DeviceRecord {
        dev_eui: dev_eui.into(),
        entity_id: "urn:ngsi-ld:Room:1".into(),
        entity_type: "Room".into(),
        profile: Some("elsys/ers-co2".into()),
        context: None,
        name: None,
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
        created_at: Some(Utc::now()),
        modified_at: None,
    }
}

async fn the_journal_keeps_entries_until_processed_and_survives_reopening<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    {
        let s = place.open().await;
        let seqs = s
            .journal_append(
                "a",
                vec![entry("1"), entry("2")],
                vec![counters("a", "d1", 2, 0)],
            )
            .await
            .unwrap();
        assert_eq!(seqs.len(), 2);
        assert!(seqs[0] < seqs[1]);
        s.journal_append("b", vec![entry("3")], vec![])
            .await
            .unwrap();
        assert_eq!(s.journal_backlog("a").await.unwrap(), 2);
        s.ingest_commit(IngestCommit {
            processed: vec![seqs[0]],
            counters: vec![counters("a", "d1", 0, 1)],
            ..IngestCommit::default()
        })
        .await
        .unwrap();
    }
    let s = place.open().await;
    let pending = s.journal_pending(0, 10).await.unwrap();
    let bodies: Vec<(&str, &[u8])> = pending
        .iter()
        .map(|e| (e.tenant.as_str(), e.entry.body.as_slice()))
        .collect();
    assert_eq!(bodies, vec![("a", &b"2"[..]), ("b", &b"3"[..])]);
    assert_eq!(
        s.journal_pending(pending[0].seq, 10).await.unwrap().len(),
        1
    );
    assert_eq!(s.journal_backlog("a").await.unwrap(), 1);
    let c = s.counters(Some("a")).await.unwrap();
    assert_eq!((c[0].received, c[0].accepted), (2, 1));
    assert!(s.counters(Some("zz")).await.unwrap().is_empty());
    // Processed entries are pruned, pending ones never.
    assert_eq!(
        s.journal_prune(Utc::now() + Duration::hours(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.journal_pending(0, 10).await.unwrap().len(), 2);
}

async fn dead_letters_are_listed_per_tenant_replaced_and_resolved<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let s = place.open().await;
    let dl = |tenant: &str, dev: &str, replaces: Option<i64>, reason: &str| NewDeadLetter {
        tenant: tenant.into(),
        message: entry("{}"),
        dev_eui: Some(dev.into()),
        reason: reason.into(),
        replaces,
    };
    s.ingest_commit(IngestCommit {
        dead_letters: vec![
            dl("a", "d1", None, "unknown"),
            dl("a", "d2", None, "bad"),
            dl("b", "d1", None, "x"),
        ],
        ..IngestCommit::default()
    })
    .await
    .unwrap();
    let all = s
        .dead_letters("a", &DeadLetterFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].attempts, 1);
    let only = DeadLetterFilter {
        dev_eui: Some("d2".into()),
        ..DeadLetterFilter::default()
    };
    assert_eq!(s.dead_letters("a", &only).await.unwrap()[0].reason, "bad");
    let by_id = DeadLetterFilter {
        ids: vec![all[0].id],
        limit: 1,
        ..DeadLetterFilter::default()
    };
    assert_eq!(s.dead_letters("a", &by_id).await.unwrap().len(), 1);
    // A replay that fails again replaces the reason; one that succeeds removes the letter.
    s.ingest_commit(IngestCommit {
        dead_letters: vec![dl("a", "d1", Some(all[0].id), "still unknown")],
        resolved: vec![("a".into(), all[1].id), ("b".into(), all[0].id)],
        ..IngestCommit::default()
    })
    .await
    .unwrap();
    let all = s
        .dead_letters("a", &DeadLetterFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].reason.as_str(), all[0].attempts),
        ("still unknown", 2)
    );
    assert_eq!(
        s.dead_letters("b", &DeadLetterFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn devices_are_kept_per_tenant<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let s = place.open().await;
    assert!(s.put_device("a", device("0101010101010101")).await.unwrap());
    assert!(!s.put_device("a", device("0101010101010101")).await.unwrap());
    assert!(s.put_device("b", device("0101010101010101")).await.unwrap());
    assert!(s.put_device("a", device("0202020202020202")).await.unwrap());
    assert_eq!(s.devices("a").await.unwrap().len(), 2);
    assert_eq!(s.all_devices().await.unwrap().len(), 3);
    let d = s.device("a", "0101010101010101").await.unwrap().unwrap();
    assert_eq!(d, device_like(&d));
    assert!(s.delete_device("a", "0101010101010101").await.unwrap());
    assert!(!s.delete_device("a", "0101010101010101").await.unwrap());
    assert!(s.device("a", "0101010101010101").await.unwrap().is_none());
    assert!(s.device("b", "0101010101010101").await.unwrap().is_some());
}

/// The stored record with the fields the test sets, to compare ignoring clock precision.
fn device_like(d: &DeviceRecord) -> DeviceRecord {
    DeviceRecord {
        created_at: d.created_at,
        ..device("0101010101010101")
    }
}
