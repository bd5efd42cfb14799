//! The subscription store of both engines: subscriptions per tenant, their delivery
//! statistics, and the outbox of pending notifications, which must survive a reopening.
#![allow(clippy::unwrap_used, clippy::panic)]

mod engines;

use chrono::{SubsecRound, TimeDelta, Utc};
use jumeau_model::context::Context;
use jumeau_model::subscription::{parse_subscription, Subscription};
use jumeau_model::ErrorKind;
use jumeau_store::subscriptions::NewNotification;
use jumeau_store::{StoreError, SubscriptionStore};
use serde_json::{json, Value};

use engines::{on_both_engines, Engine};

on_both_engines!(
    subscriptions_are_created_read_paged_updated_and_deleted_per_tenant,
    the_outbox_survives_reopening_and_records_deliveries_and_failures,
    given_up_notifications_are_kept_up_to_a_thousand_per_subscription,
);

fn sub(id: &str, uri: &str) -> Subscription {
    parse_subscription(
        &json!({
            "id": id,
            "type": "Subscription",
            "entities": [{"type": "Streetlight"}],
            "watchedAttributes": ["powerState"],
            "notification": {"endpoint": {"uri": uri}}
        }),
        &Context::core(),
        Utc::now(),
        "urn:ngsi-ld:Subscription:unused",
    )
    .unwrap()
}

fn ctx() -> Value {
    json!(jumeau_model::context::CORE_CONTEXT_URL)
}

fn item(sub_id: &str, uri: &str, n: u64) -> NewNotification {
    NewNotification {
        subscription_id: sub_id.into(),
        endpoint: uri.into(),
        payload: json!({"n": n}),
        next_attempt: Utc::now(),
    }
}

fn rejected_kind(e: StoreError) -> ErrorKind {
    match e {
        StoreError::Rejected(e) => e.kind,
        other => panic!("expected a rejection, got {other}"),
    }
}

async fn subscriptions_are_created_read_paged_updated_and_deleted_per_tenant<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = place.open().await;
    for i in 0..5 {
        store
            .create_subscription(
                "city-a",
                sub(&format!("urn:ngsi-ld:Subscription:{i}"), "http://h/n"),
                ctx(),
            )
            .await
            .unwrap();
    }
    // The same id in another tenant is another subscription.
    store
        .create_subscription(
            "city-b",
            sub("urn:ngsi-ld:Subscription:0", "http://b/n"),
            ctx(),
        )
        .await
        .unwrap();
    let taken = store
        .create_subscription(
            "city-a",
            sub("urn:ngsi-ld:Subscription:0", "http://x/n"),
            ctx(),
        )
        .await
        .unwrap_err();
    assert_eq!(rejected_kind(taken), ErrorKind::AlreadyExists);

    let rec = store
        .subscription("city-a", "urn:ngsi-ld:Subscription:0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.tenant, "city-a");
    assert_eq!(
        rec.subscription,
        sub("urn:ngsi-ld:Subscription:0", "http://h/n")
    );
    assert_eq!(rec.context, ctx());
    assert_eq!(rec.status.times_sent, 0);
    assert_eq!(
        store
            .subscription("city-b", "urn:ngsi-ld:Subscription:0")
            .await
            .unwrap()
            .unwrap()
            .subscription
            .notification
            .endpoint
            .uri,
        "http://b/n"
    );
    assert!(store
        .subscription("city-c", "urn:ngsi-ld:Subscription:0")
        .await
        .unwrap()
        .is_none());

    let (page, total) = store.subscriptions("city-a", 1, 2).await.unwrap();
    assert_eq!(total, 5);
    let ids: Vec<&str> = page.iter().map(|r| r.subscription.id.as_str()).collect();
    assert_eq!(
        ids,
        ["urn:ngsi-ld:Subscription:1", "urn:ngsi-ld:Subscription:2"]
    );
    assert_eq!(store.all_subscriptions().await.unwrap().len(), 6);

    let mut changed = sub("urn:ngsi-ld:Subscription:1", "http://h/other");
    changed.is_active = false;
    store
        .update_subscription("city-a", changed.clone())
        .await
        .unwrap();
    let rec = store
        .subscription("city-a", "urn:ngsi-ld:Subscription:1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.subscription, changed);
    assert!(rec.modified_at >= rec.created_at);
    let missing = store
        .update_subscription("city-a", sub("urn:ngsi-ld:Subscription:9", "http://h/n"))
        .await
        .unwrap_err();
    assert_eq!(rejected_kind(missing), ErrorKind::ResourceNotFound);
    let other_tenant = store
        .update_subscription("city-z", sub("urn:ngsi-ld:Subscription:1", "http://h/n"))
        .await
        .unwrap_err();
    assert_eq!(rejected_kind(other_tenant), ErrorKind::ResourceNotFound);

    assert!(store
        .delete_subscription("city-a", "urn:ngsi-ld:Subscription:1")
        .await
        .unwrap());
    assert!(!store
        .delete_subscription("city-a", "urn:ngsi-ld:Subscription:1")
        .await
        .unwrap());
    assert!(store
        .delete_subscription("city-b", "urn:ngsi-ld:Subscription:1")
        .await
        .is_ok_and(|found| !found));
    assert_eq!(store.subscriptions("city-a", 0, 100).await.unwrap().1, 4);
}

async fn the_outbox_survives_reopening_and_records_deliveries_and_failures<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let (s1, s2) = ("urn:ngsi-ld:Subscription:1", "urn:ngsi-ld:Subscription:2");
    let seqs = {
        let store = place.open().await;
        store
            .create_subscription("city-a", sub(s1, "http://h/1"), ctx())
            .await
            .unwrap();
        store
            .create_subscription("city-a", sub(s2, "http://h/2"), ctx())
            .await
            .unwrap();
        let stored = store
            .enqueue_notifications(
                "city-a",
                vec![
                    item(s1, "http://h/1", 1),
                    item(s2, "http://h/2", 2),
                    item(s1, "http://h/1", 3),
                ],
            )
            .await
            .unwrap();
        assert_eq!(stored.len(), 3);
        assert!(stored.windows(2).all(|w| w[0].seq < w[1].seq));
        assert!(stored
            .iter()
            .all(|p| p.tenant == "city-a" && p.attempts == 0));
        stored.iter().map(|p| p.seq).collect::<Vec<_>>()
    };

    // Reopened: everything is still pending, in order.
    let store = place.open().await;
    let pending = store.pending_notifications().await.unwrap();
    assert_eq!(pending.iter().map(|p| p.seq).collect::<Vec<_>>(), seqs);
    assert_eq!(pending[1].payload, json!({"n": 2}));
    assert_eq!(pending[1].endpoint, "http://h/2");
    assert_eq!(pending[1].subscription_id, s2);

    // To the microsecond, as every engine keeps times.
    let at = Utc::now().trunc_subsecs(6);
    // A delivery from another tenant's point of view touches nothing.
    store
        .notification_delivered("city-b", seqs[0], at)
        .await
        .unwrap();
    assert_eq!(store.pending_notifications().await.unwrap().len(), 3);

    store
        .notification_delivered("city-a", seqs[0], at)
        .await
        .unwrap();
    let retry = at + TimeDelta::seconds(1);
    store
        .notification_failed("city-a", seqs[1], at, "connection refused", Some(retry))
        .await
        .unwrap();
    let pending = store.pending_notifications().await.unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].seq, seqs[1]);
    assert_eq!(pending[0].attempts, 1);
    assert_eq!(pending[0].last_error.as_deref(), Some("connection refused"));
    assert_eq!(pending[0].next_attempt, retry);

    // Retries exhausted: kept as failed, no longer pending.
    store
        .notification_failed("city-a", seqs[1], at, "still refused", None)
        .await
        .unwrap();
    let pending = store.pending_notifications().await.unwrap();
    assert_eq!(pending.iter().map(|p| p.seq).collect::<Vec<_>>(), [seqs[2]]);
    let failed = store.failed_notifications("city-a", s2).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attempts, 2);
    assert!(failed[0].failed_at.is_some());
    assert!(store
        .failed_notifications("city-b", s2)
        .await
        .unwrap()
        .is_empty());

    let st1 = store
        .subscription("city-a", s1)
        .await
        .unwrap()
        .unwrap()
        .status;
    assert_eq!((st1.times_sent, st1.times_failed), (1, 0));
    assert_eq!(st1.last_success, Some(at));
    let st2 = store
        .subscription("city-a", s2)
        .await
        .unwrap()
        .unwrap()
        .status;
    assert_eq!((st2.times_sent, st2.times_failed), (2, 2));
    assert_eq!(st2.last_failure, Some(at));
    assert_eq!(st2.last_error_reason.as_deref(), Some("still refused"));
    assert_eq!(st2.delivery_status(), Some("failed"));

    // Deleting a subscription drops its notifications; numbers are never reused.
    assert!(store.delete_subscription("city-a", s1).await.unwrap());
    assert!(store.pending_notifications().await.unwrap().is_empty());
    let next = store
        .enqueue_notifications("city-a", vec![item(s2, "http://h/2", 4)])
        .await
        .unwrap();
    assert!(next[0].seq > seqs[2]);
    assert!(store
        .enqueue_notifications("city-a", Vec::new())
        .await
        .unwrap()
        .is_empty());
}

async fn given_up_notifications_are_kept_up_to_a_thousand_per_subscription<E: Engine>() {
    let Some(place) = E::fresh() else { return };
    let store = std::sync::Arc::new(place.open().await);
    let id = "urn:ngsi-ld:Subscription:gone";
    store
        .create_subscription("city-a", sub(id, "http://h/gone"), ctx())
        .await
        .unwrap();
    let items = (0..1005).map(|n| item(id, "http://h/gone", n)).collect();
    let stored = store.enqueue_notifications("city-a", items).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for p in &stored {
        let (store, seq) = (store.clone(), p.seq);
        tasks.spawn(async move {
            store
                .notification_failed("city-a", seq, Utc::now(), "gone", None)
                .await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    let kept = store.failed_notifications("city-a", id).await.unwrap();
    assert_eq!(kept.len(), 1000);
    // The newest are kept.
    assert_eq!(kept.last().unwrap().seq, stored.last().unwrap().seq);
    assert_eq!(kept[0].seq, stored[5].seq);
    let status = store
        .subscription("city-a", id)
        .await
        .unwrap()
        .unwrap()
        .status;
    assert_eq!(status.times_failed, 1005);
}
