//! Rendering subscriptions (ETSI GS CIM 009 §5.2.12, §5.8.3) and building notifications
//! (§5.3.1).

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Number, Value};

use super::{format_name, KeyValuePair, Subscription, SubscriptionStatus};
use crate::context::{Context, NGSI_LD_NS};
use crate::ngsi::{render_entity, render_feature_collection};
use crate::query::TypeExpr;
use crate::time::format_datetime;
use crate::Entity;

use super::NotificationAccept;

/// A JSON number for a stored count of seconds or milliseconds: an integer when it has no
/// fraction, so that `5` renders back as `5`, not `5.0`.
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        // Exact: the bound keeps the integer within f64's exact range.
        Value::from(n as i64)
    } else {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// Writes a type expression with compacted names: `,` for OR, `;` for AND, parentheses
/// around an OR inside an AND.
fn type_text(e: &TypeExpr, ctx: &Context) -> String {
    match e {
        TypeExpr::Type(t) => ctx.compact(t),
        TypeExpr::Or(items) => items
            .iter()
            .map(|i| type_text(i, ctx))
            .collect::<Vec<_>>()
            .join(","),
        TypeExpr::And(items) => items
            .iter()
            .map(|i| match i {
                TypeExpr::Or(_) => format!("({})", type_text(i, ctx)),
                _ => type_text(i, ctx),
            })
            .collect::<Vec<_>>()
            .join(";"),
    }
}

fn key_values(items: &[KeyValuePair]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|kv| json!({ "key": kv.key, "value": kv.value }))
            .collect(),
    )
}

fn compact_all(names: &[String], ctx: &Context) -> Value {
    Value::Array(
        names
            .iter()
            .map(|n| Value::String(ctx.compact(n)))
            .collect(),
    )
}

/// Renders a subscription as the API returns it (ETSI GS CIM 009 §5.8.3, §5.8.4): the members
/// the client gave, type and attribute names compacted with `ctx`, the `q` as written, the
/// read-only `status` (active, paused or expired at `now`) and, in `notification`, the
/// delivery statistics of `status`: `status` (ok or failed), `timesSent`, `timesFailed`,
/// `lastNotification`, `lastSuccess`, `lastFailure` and `lastErrorReason` (a Jumeau
/// extension), each only once known. No `@context` member: the caller adds it or a Link
/// header.
pub fn render_subscription(
    sub: &Subscription,
    status: &SubscriptionStatus,
    ctx: &Context,
    now: DateTime<Utc>,
) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), Value::String(sub.id.clone()));
    o.insert("type".into(), Value::String("Subscription".into()));
    if let Some(n) = &sub.name {
        o.insert("subscriptionName".into(), Value::String(n.clone()));
    }
    if let Some(d) = &sub.description {
        o.insert("description".into(), Value::String(d.clone()));
    }
    if !sub.entities.is_empty() {
        let selectors = sub
            .entities
            .iter()
            .map(|s| {
                let mut m = Map::new();
                if let Some(id) = &s.id {
                    m.insert("id".into(), Value::String(id.clone()));
                }
                if let Some(p) = &s.id_pattern {
                    m.insert("idPattern".into(), Value::String(p.as_str().to_string()));
                }
                m.insert("type".into(), Value::String(type_text(&s.types, ctx)));
                Value::Object(m)
            })
            .collect();
        o.insert("entities".into(), Value::Array(selectors));
    }
    if let Some(w) = &sub.watched_attributes {
        o.insert("watchedAttributes".into(), compact_all(w, ctx));
    }
    if let Some(t) = &sub.notification_trigger {
        o.insert(
            "notificationTrigger".into(),
            Value::Array(t.iter().map(|t| Value::String(t.as_str().into())).collect()),
        );
    }
    if let Some(t) = sub.time_interval {
        o.insert("timeInterval".into(), number(t));
    }
    if let Some(q) = &sub.q {
        o.insert("q".into(), Value::String(q.source.clone()));
    }
    if let Some(g) = &sub.geo_q {
        let geometry = g.query.geometry.as_json();
        o.insert(
            "geoQ".into(),
            json!({
                "geometry": g.query.geometry.geometry_type(),
                "coordinates": geometry.get("coordinates").cloned().unwrap_or(Value::Null),
                "georel": g.query.georel.to_string(),
                "geoproperty": ctx.compact(&g.property),
            }),
        );
    }
    o.insert("isActive".into(), Value::Bool(sub.is_active));
    if let Some(t) = &sub.expires_at {
        o.insert("expiresAt".into(), Value::String(format_datetime(t)));
    }
    if let Some(t) = sub.throttling {
        o.insert("throttling".into(), number(t));
    }
    if let Some(l) = &sub.lang {
        o.insert("lang".into(), Value::String(l.clone()));
    }
    if let Some(c) = &sub.jsonld_context {
        o.insert("jsonldContext".into(), Value::String(c.clone()));
    }
    o.insert(
        "status".into(),
        Value::String(sub.state(now).as_str().into()),
    );
    o.insert(
        "notification".into(),
        render_notification_params(sub, status, ctx),
    );
    Value::Object(o)
}

fn render_notification_params(
    sub: &Subscription,
    status: &SubscriptionStatus,
    ctx: &Context,
) -> Value {
    let params = &sub.notification;
    let mut n = Map::new();
    if let Some(a) = &params.attributes {
        n.insert("attributes".into(), compact_all(a, ctx));
    }
    n.insert(
        "format".into(),
        Value::String(format_name(params.format).into()),
    );
    if params.sys_attrs {
        n.insert("sysAttrs".into(), Value::Bool(true));
    }
    if params.show_changes {
        n.insert("showChanges".into(), Value::Bool(true));
    }
    let ep = &params.endpoint;
    let mut e = Map::new();
    e.insert("uri".into(), Value::String(ep.uri.clone()));
    e.insert(
        "accept".into(),
        Value::String(ep.accept.media_type().into()),
    );
    if let Some(t) = ep.timeout {
        e.insert("timeout".into(), number(t));
    }
    if let Some(c) = ep.cooldown {
        e.insert("cooldown".into(), number(c));
    }
    if !ep.receiver_info.is_empty() {
        e.insert("receiverInfo".into(), key_values(&ep.receiver_info));
    }
    if !ep.notifier_info.is_empty() {
        e.insert("notifierInfo".into(), key_values(&ep.notifier_info));
    }
    n.insert("endpoint".into(), Value::Object(e));
    if let Some(s) = status.delivery_status() {
        n.insert("status".into(), Value::String(s.into()));
    }
    if status.times_sent > 0 {
        n.insert("timesSent".into(), Value::from(status.times_sent));
    }
    if status.times_failed > 0 {
        n.insert("timesFailed".into(), Value::from(status.times_failed));
    }
    for (key, t) in [
        ("lastNotification", &status.last_notification),
        ("lastSuccess", &status.last_success),
        ("lastFailure", &status.last_failure),
    ] {
        if let Some(t) = t {
            n.insert(key.into(), Value::String(format_datetime(t)));
        }
    }
    if let Some(r) = &status.last_error_reason {
        n.insert("lastErrorReason".into(), Value::String(r.clone()));
    }
    Value::Object(n)
}

/// Builds the Notification of ETSI GS CIM 009 §5.3.1 sent for `sub`: `id` (the
/// `notification_id` the caller generated, a URI), `type` "Notification", `subscriptionId`,
/// `notifiedAt` (`now`) and `data`, the entities rendered with the subscription's
/// notification format, sysAttrs, attribute projection (`notification.attributes`; `id` and
/// `type` are always written) and `lang`, names compacted with `ctx` (the subscription's
/// context). With `accept` application/geo+json, `data` is a GeoJSON FeatureCollection whose
/// geometries are the entities' `location`.
///
/// No `@context` member: for application/ld+json the caller adds the subscription's context
/// (its `jsonldContext`, else the one it was created with); for application/json it goes in
/// a Link header.
pub fn notification(
    sub: &Subscription,
    entities: &[Entity],
    ctx: &Context,
    notification_id: &str,
    now: DateTime<Utc>,
) -> Value {
    let opts = sub.render_options();
    let data = match sub.notification.endpoint.accept {
        NotificationAccept::GeoJson => {
            let location = format!("{NGSI_LD_NS}location");
            render_feature_collection(entities, ctx, &opts, &location)
        }
        NotificationAccept::Json | NotificationAccept::JsonLd => Value::Array(
            entities
                .iter()
                .map(|e| Value::Object(render_entity(e, ctx, &opts)))
                .collect(),
        ),
    };
    json!({
        "id": notification_id,
        "type": "Notification",
        "subscriptionId": sub.id,
        "notifiedAt": format_datetime(&now),
        "data": data,
    })
}
