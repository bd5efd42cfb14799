//! Unit tests of the subscription module.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use jumeau_geo::Geometry;
use serde_json::{json, Value};

use super::*;
use crate::context::Context;
use crate::{Attribute, AttributeValue, ErrorKind, NgsiError};

const GENERATED: &str = "urn:ngsi-ld:Subscription:generated";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
}

fn core() -> Arc<Context> {
    Context::core()
}

/// A user context mapping two terms outside the default vocabulary.
fn user_ctx() -> Context {
    Context::build(
        &json!({
            "Streetlight": "https://example.org/model/Streetlight",
            "lum": "https://example.org/model/luminosity",
        }),
        &|_| None,
    )
    .unwrap()
}

/// The expansion of a term with the core context (the default vocabulary for most terms;
/// some, such as `status`, are core terms).
fn dv(term: &str) -> String {
    core().expand(term)
}

fn minimal() -> Value {
    json!({
        "type": "Subscription",
        "entities": [{"type": "Streetlight"}],
        "notification": {"endpoint": {"uri": "https://example.org/notify"}}
    })
}

/// `base` with the member at `path` set to `value` (objects created as needed).
fn with(mut base: Value, path: &str, value: Value) -> Value {
    let mut cur = &mut base;
    let parts: Vec<&str> = path.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        cur = cur
            .as_object_mut()
            .unwrap()
            .entry(p.to_string())
            .or_insert_with(|| json!({}));
    }
    cur.as_object_mut()
        .unwrap()
        .insert(parts[parts.len() - 1].to_string(), value);
    base
}

/// `base` without the member at `path`.
fn without(mut base: Value, path: &str) -> Value {
    let mut cur = &mut base;
    let parts: Vec<&str> = path.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        cur = cur.get_mut(*p).unwrap();
    }
    cur.as_object_mut().unwrap().remove(parts[parts.len() - 1]);
    base
}

fn parse(v: &Value) -> crate::Result<Subscription> {
    parse_subscription(v, &core(), now(), GENERATED)
}

fn parse_ok(v: &Value) -> Subscription {
    match parse(v) {
        Ok(s) => s,
        Err(e) => panic!("{v} was refused: {e}"),
    }
}

fn err(v: &Value) -> NgsiError {
    match parse(v) {
        Ok(_) => panic!("{v} was accepted"),
        Err(e) => e,
    }
}

fn prop(v: Value) -> Vec<Attribute> {
    vec![Attribute::new(AttributeValue::Property(v))]
}

fn light(id: &str, attrs: &[(&str, Value)]) -> Entity {
    let mut e = Entity::new(id, dv("Streetlight"));
    for (name, v) in attrs {
        e.attrs.insert(dv(name), prop(v.clone()));
    }
    e
}

fn created(e: &Entity) -> Change<'_> {
    Change {
        before: None,
        after: Some(e),
    }
}

fn updated<'a>(before: &'a Entity, after: &'a Entity) -> Change<'a> {
    Change {
        before: Some(before),
        after: Some(after),
    }
}

fn deleted(e: &Entity) -> Change<'_> {
    Change {
        before: Some(e),
        after: None,
    }
}

// ---------------------------------------------------------------------------------------
// Parsing: valid subscriptions

#[test]
fn minimal_subscription_gets_the_defaults() {
    let s = parse_ok(&minimal());
    assert_eq!(s.id, GENERATED);
    assert!(s.is_active);
    assert_eq!(s.entities.len(), 1);
    assert_eq!(s.entities[0].types, TypeExpr::Type(dv("Streetlight")));
    assert!(s.entities[0].id.is_none() && s.entities[0].id_pattern.is_none());
    assert_eq!(s.watched_attributes, None);
    assert_eq!(s.notification_trigger, None);
    assert_eq!(
        s.effective_triggers(),
        EffectiveTriggers {
            attribute_created: true,
            attribute_updated: true,
            ..EffectiveTriggers::default()
        }
    );
    assert_eq!(s.notification.format, Format::Normalized);
    assert_eq!(s.notification.endpoint.accept, NotificationAccept::Json);
    assert_eq!(s.notification.attributes, None);
    assert!(!s.notification.sys_attrs && !s.notification.show_changes);
    assert_eq!(s.state(now()), SubscriptionState::Active);
}

#[test]
fn every_member_is_read() {
    let v = json!({
        "id": "urn:ngsi-ld:Subscription:lights",
        "type": "Subscription",
        "subscriptionName": "Lights",
        "description": "Broken streetlights of the north district",
        "entities": [
            {"type": "Streetlight", "idPattern": "^urn:ngsi-ld:Streetlight:N"},
            {"type": "(Streetlight,Cabinet);Device", "id": "urn:ngsi-ld:Device:1"}
        ],
        "watchedAttributes": ["status", "status", "lum"],
        "notificationTrigger": ["entityCreated", "attributeUpdated", "entityCreated"],
        "q": "status==\"broken\"",
        "geoQ": {
            "georel": "near;maxDistance==2000",
            "geometry": "Point",
            "coordinates": "[2.35,48.85]",
            "geoproperty": "observationSpace"
        },
        "isActive": false,
        "expiresAt": "2030-01-01T00:00:00+01:00",
        "throttling": 5,
        "lang": "fr,en;q=0.8",
        "jsonldContext": "https://example.org/context.jsonld",
        "notification": {
            "attributes": ["status", "location"],
            "format": "concise",
            "sysAttrs": true,
            "showChanges": true,
            "endpoint": {
                "uri": "mqtts://user:pw@broker.example.org:8883/jumeau/lights",
                "accept": "application/ld+json",
                "timeout": 500,
                "cooldown": 1000,
                "receiverInfo": [{"key": "X-Source", "value": "jumeau"}],
                "notifierInfo": [
                    {"key": "MQTT-Version", "value": "mqtt5.0"},
                    {"key": "MQTT-QoS", "value": "1"}
                ]
            }
        }
    });
    let ctx = user_ctx();
    let s = parse_subscription(&v, &ctx, now(), GENERATED).unwrap();
    assert_eq!(s.id, "urn:ngsi-ld:Subscription:lights");
    assert_eq!(s.name.as_deref(), Some("Lights"));
    assert!(s.description.as_deref().unwrap().starts_with("Broken"));
    let lamp = "https://example.org/model/Streetlight".to_string();
    assert_eq!(s.entities[0].types, TypeExpr::Type(lamp.clone()));
    assert_eq!(
        s.entities[0].id_pattern.as_ref().unwrap().as_str(),
        "^urn:ngsi-ld:Streetlight:N"
    );
    assert_eq!(
        s.entities[1].types,
        TypeExpr::And(vec![
            TypeExpr::Or(vec![TypeExpr::Type(lamp), TypeExpr::Type(dv("Cabinet"))]),
            TypeExpr::Type(dv("Device")),
        ])
    );
    assert_eq!(s.entities[1].id.as_deref(), Some("urn:ngsi-ld:Device:1"));
    // Duplicates are dropped, names expanded with the client's context.
    assert_eq!(
        s.watched_attributes,
        Some(vec![
            dv("status"),
            "https://example.org/model/luminosity".to_string()
        ])
    );
    assert_eq!(
        s.notification_trigger,
        Some(vec![
            NotificationTrigger::EntityCreated,
            NotificationTrigger::AttributeUpdated
        ])
    );
    let q = s.q.as_ref().unwrap();
    assert_eq!(q.source, "status==\"broken\"");
    assert_eq!(q.terms.get("status"), Some(&dv("status")));
    let g = s.geo_q.as_ref().unwrap();
    assert_eq!(g.property, "https://uri.etsi.org/ngsi-ld/observationSpace");
    assert_eq!(g.query.geometry.geometry_type(), "Point");
    assert!(!s.is_active);
    assert_eq!(
        s.expires_at,
        Some(Utc.with_ymd_and_hms(2029, 12, 31, 23, 0, 0).unwrap())
    );
    assert_eq!(s.throttling, Some(5.0));
    assert_eq!(s.lang.as_deref(), Some("fr,en;q=0.8"));
    assert_eq!(
        s.jsonld_context.as_deref(),
        Some("https://example.org/context.jsonld")
    );
    let n = &s.notification;
    assert_eq!(
        n.attributes,
        Some(vec![
            dv("status"),
            "https://uri.etsi.org/ngsi-ld/location".to_string()
        ])
    );
    assert_eq!(n.format, Format::Concise);
    assert!(n.sys_attrs && n.show_changes);
    assert_eq!(n.endpoint.accept, NotificationAccept::JsonLd);
    assert!(n.endpoint.is_mqtt());
    assert_eq!(n.endpoint.timeout, Some(500.0));
    assert_eq!(n.endpoint.cooldown, Some(1000.0));
    assert_eq!(n.endpoint.receiver_info[0].key, "X-Source");
    assert_eq!(n.endpoint.notifier_info("MQTT-QoS"), Some("1"));
    assert_eq!(s.state(now()), SubscriptionState::Paused);
}

#[test]
fn periodic_and_watch_only_forms_are_accepted() {
    let periodic = parse_ok(&with(minimal(), "timeInterval", json!(60)));
    assert_eq!(periodic.time_interval, Some(60.0));
    let watch_only = parse_ok(&with(
        without(minimal(), "entities"),
        "watchedAttributes",
        json!(["status"]),
    ));
    assert!(watch_only.entities.is_empty());
    assert_eq!(watch_only.watched_attributes, Some(vec![dv("status")]));
    let zero_throttling = parse_ok(&with(minimal(), "throttling", json!(0)));
    assert_eq!(zero_throttling.throttling, Some(0.0));
}

#[test]
fn geo_q_takes_coordinates_as_array_or_string_and_defaults_to_location() {
    for coordinates in [json!([2.35, 48.85]), json!("[2.35, 48.85]")] {
        let s = parse_ok(&with(
            minimal(),
            "geoQ",
            json!({"georel": "within", "geometry": "Polygon", "coordinates":
            if coordinates.is_string() {
                json!("[[[2.3,48.8],[2.4,48.8],[2.4,48.9],[2.3,48.8]]]")
            } else {
                json!([[[2.3, 48.8], [2.4, 48.8], [2.4, 48.9], [2.3, 48.8]]])
            }}),
        ));
        let g = s.geo_q.unwrap();
        assert_eq!(g.property, "https://uri.etsi.org/ngsi-ld/location");
        assert_eq!(g.query.geometry.geometry_type(), "Polygon");
    }
}

#[test]
fn unknown_and_read_only_members_are_ignored() {
    let v = with(
        with(
            with(minimal(), "status", json!("expired")),
            "x-custom",
            json!({"any": "thing"}),
        ),
        "notification.timesSent",
        json!(42),
    );
    let v = with(
        with(v, "@context", json!(["https://example.org/c.jsonld"])),
        "createdAt",
        json!(null),
    );
    let v = with(v, "entities", json!([{"type": "Streetlight", "extra": 1}]));
    let s = parse_ok(&v);
    assert_eq!(s, parse_ok(&minimal()));
}

#[test]
fn the_expanded_type_is_accepted() {
    let s = parse_ok(&with(
        minimal(),
        "type",
        json!("https://uri.etsi.org/ngsi-ld/Subscription"),
    ));
    assert_eq!(s.id, GENERATED);
}

#[test]
fn endpoint_urls_are_checked() {
    for ok in [
        "http://example.org",
        "https://example.org:8443/notify?token=abc",
        "HTTPS://Example.org/n",
        "http://[::1]:8080/notify",
        "http://user:pw@10.0.0.1/n",
        "mqtt://broker:1883/topic",
        "mqtts://broker/a/b/c",
    ] {
        let v = with(minimal(), "notification.endpoint.uri", json!(ok));
        assert!(parse(&v).is_ok(), "{ok} should be accepted");
    }
    for (bad_uri, needle) in [
        ("ftp://example.org/x", "scheme 'ftp'"),
        ("example.org/notify", "not a URL"),
        ("urn:ngsi-ld:x", "not a URL"),
        ("http:///path", "no host"),
        ("http://host:99999/", "port '99999'"),
        ("http://host:0/", "port '0'"),
        ("http://host:abc/", "port 'abc'"),
        ("http://[::1/", "closing ']'"),
        ("http://exa mple.org/", "forbidden character ' '"),
        ("http://example.org/\n", "forbidden character"),
        ("mqtt://broker:1883", "names no topic"),
        ("mqtt://broker:1883/", "names no topic"),
    ] {
        let e = err(&with(
            minimal(),
            "notification.endpoint.uri",
            json!(bad_uri),
        ));
        assert_eq!(e.kind, ErrorKind::BadRequestData, "{bad_uri}");
        assert!(
            e.detail.contains("notification.endpoint.uri") && e.detail.contains(needle),
            "{bad_uri}: {}",
            e.detail
        );
    }
    let long = format!("https://example.org/{}", "a".repeat(3000));
    assert!(
        err(&with(minimal(), "notification.endpoint.uri", json!(long)))
            .detail
            .contains("bytes long")
    );
}

// ---------------------------------------------------------------------------------------
// Parsing: every error case

#[test]
fn each_invalid_subscription_is_refused_naming_the_member() {
    let m = minimal;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("not an object", json!([1]), "not a JSON object"),
        ("type missing", without(m(), "type"), "type is missing"),
        (
            "type wrong",
            with(m(), "type", json!("Entity")),
            "\"Subscription\"",
        ),
        (
            "type number",
            with(m(), "type", json!(3)),
            "member type is 3",
        ),
        (
            "id not a URI",
            with(m(), "id", json!("sub 1")),
            "subscription id is not valid",
        ),
        (
            "id number",
            with(m(), "id", json!(1)),
            "subscription id is a number",
        ),
        (
            "notification missing",
            without(m(), "notification"),
            "notification is missing",
        ),
        (
            "notification string",
            with(m(), "notification", json!("x")),
            "notification is a string",
        ),
        (
            "endpoint missing",
            with(m(), "notification", json!({})),
            "notification has no endpoint",
        ),
        (
            "endpoint array",
            with(m(), "notification.endpoint", json!([])),
            "notification.endpoint is an array",
        ),
        (
            "uri missing",
            with(m(), "notification.endpoint", json!({})),
            "notification.endpoint has no uri",
        ),
        (
            "uri number",
            with(m(), "notification.endpoint.uri", json!(1)),
            "notification.endpoint.uri is a number",
        ),
        (
            "accept",
            with(m(), "notification.endpoint.accept", json!("text/plain")),
            "notification.endpoint.accept",
        ),
        (
            "format",
            with(m(), "notification.format", json!("simplified")),
            "notification.format",
        ),
        (
            "attributes empty",
            with(m(), "notification.attributes", json!([])),
            "notification.attributes is an empty array",
        ),
        (
            "attributes string",
            with(m(), "notification.attributes", json!("a")),
            "notification.attributes is a string",
        ),
        (
            "attribute number",
            with(m(), "notification.attributes", json!(["a", 2])),
            "notification.attributes[1] is a number",
        ),
        (
            "attribute space",
            with(m(), "notification.attributes", json!(["a b"])),
            "notification.attributes[0] 'a b'",
        ),
        (
            "attribute keyword",
            with(m(), "notification.attributes", json!(["id"])),
            "JSON-LD keyword @id",
        ),
        (
            "attribute empty",
            with(m(), "notification.attributes", json!([""])),
            "notification.attributes[0] is an empty name",
        ),
        (
            "sysAttrs",
            with(m(), "notification.sysAttrs", json!("yes")),
            "notification.sysAttrs is a string",
        ),
        (
            "showChanges keyValues",
            with(
                with(m(), "notification.showChanges", json!(true)),
                "notification.format",
                json!("keyValues"),
            ),
            "showChanges",
        ),
        (
            "timeout 0",
            with(m(), "notification.endpoint.timeout", json!(0)),
            "notification.endpoint.timeout",
        ),
        (
            "cooldown string",
            with(m(), "notification.endpoint.cooldown", json!("1")),
            "notification.endpoint.cooldown is a string",
        ),
        (
            "receiverInfo object",
            with(m(), "notification.endpoint.receiverInfo", json!({})),
            "notification.endpoint.receiverInfo is an object",
        ),
        (
            "receiverInfo item",
            with(m(), "notification.endpoint.receiverInfo", json!(["a"])),
            "receiverInfo[0] is a string",
        ),
        (
            "receiverInfo no key",
            with(
                m(),
                "notification.endpoint.receiverInfo",
                json!([{"value": "v"}]),
            ),
            "receiverInfo[0] has no key",
        ),
        (
            "receiverInfo no value",
            with(
                m(),
                "notification.endpoint.receiverInfo",
                json!([{"key": "k"}]),
            ),
            "receiverInfo[0] has no value",
        ),
        (
            "receiverInfo value number",
            with(
                m(),
                "notification.endpoint.receiverInfo",
                json!([{"key": "k", "value": 1}]),
            ),
            "receiverInfo[0].value is a number",
        ),
        (
            "receiverInfo key space",
            with(
                m(),
                "notification.endpoint.receiverInfo",
                json!([{"key": "X Y", "value": "v"}]),
            ),
            "receiverInfo[0].key 'X Y'",
        ),
        (
            "receiverInfo header injection",
            with(
                m(),
                "notification.endpoint.receiverInfo",
                json!([{"key": "X", "value": "a\r\nSet-Cookie: x"}]),
            ),
            "receiverInfo[0].value contains a control character",
        ),
        (
            "MQTT-QoS",
            with(
                m(),
                "notification.endpoint.notifierInfo",
                json!([{"key": "MQTT-QoS", "value": "3"}]),
            ),
            "MQTT-QoS",
        ),
        (
            "MQTT-Version",
            with(
                m(),
                "notification.endpoint.notifierInfo",
                json!([{"key": "MQTT-Version", "value": "4"}]),
            ),
            "MQTT-Version",
        ),
        (
            "entities object",
            with(m(), "entities", json!({"type": "A"})),
            "entities is an object",
        ),
        (
            "entities empty",
            with(m(), "entities", json!([])),
            "entities is an empty array",
        ),
        (
            "selector string",
            with(m(), "entities", json!(["Streetlight"])),
            "entities[0] is a string",
        ),
        (
            "selector without type",
            with(m(), "entities", json!([{"type": "A"}, {"id": "urn:a:1"}])),
            "entities[1] has no type",
        ),
        (
            "selector type number",
            with(m(), "entities", json!([{"type": 1}])),
            "entities[0].type is a number",
        ),
        (
            "selector type expression",
            with(m(), "entities", json!([{"type": "A,"}])),
            "entities[0].type is not valid",
        ),
        (
            "selector id",
            with(m(), "entities", json!([{"type": "A", "id": "not a uri"}])),
            "entities[0].id is not valid",
        ),
        (
            "selector idPattern regex",
            with(m(), "entities", json!([{"type": "A", "idPattern": "("}])),
            "entities[0].idPattern '('",
        ),
        (
            "selector idPattern number",
            with(m(), "entities", json!([{"type": "A", "idPattern": 1}])),
            "entities[0].idPattern is a number",
        ),
        (
            "watchedAttributes empty",
            with(m(), "watchedAttributes", json!([])),
            "watchedAttributes is an empty array",
        ),
        (
            "watchedAttributes string",
            with(m(), "watchedAttributes", json!("status")),
            "watchedAttributes is a string",
        ),
        (
            "nothing selected",
            without(m(), "entities"),
            "neither entities nor watchedAttributes",
        ),
        (
            "trigger empty",
            with(m(), "notificationTrigger", json!([])),
            "notificationTrigger is an empty array",
        ),
        (
            "trigger unknown",
            with(m(), "notificationTrigger", json!(["entityChanged"])),
            "notificationTrigger[0]",
        ),
        (
            "trigger case",
            with(m(), "notificationTrigger", json!(["EntityCreated"])),
            "notificationTrigger[0]",
        ),
        (
            "trigger string",
            with(m(), "notificationTrigger", json!("entityCreated")),
            "notificationTrigger is a string",
        ),
        (
            "timeInterval 0",
            with(m(), "timeInterval", json!(0)),
            "timeInterval is 0",
        ),
        (
            "timeInterval negative",
            with(m(), "timeInterval", json!(-5)),
            "timeInterval is -5",
        ),
        (
            "timeInterval string",
            with(m(), "timeInterval", json!("10")),
            "timeInterval is a string",
        ),
        (
            "timeInterval with watchedAttributes",
            with(
                with(m(), "timeInterval", json!(10)),
                "watchedAttributes",
                json!(["a"]),
            ),
            "timeInterval and watchedAttributes",
        ),
        (
            "timeInterval with throttling",
            with(
                with(m(), "timeInterval", json!(10)),
                "throttling",
                json!(30),
            ),
            "timeInterval and throttling",
        ),
        (
            "throttling negative",
            with(m(), "throttling", json!(-1)),
            "throttling is -1",
        ),
        (
            "throttling bool",
            with(m(), "throttling", json!(true)),
            "throttling is a boolean",
        ),
        ("q number", with(m(), "q", json!(1)), "q is a number"),
        (
            "q syntax",
            with(m(), "q", json!("temperature>")),
            "position",
        ),
        (
            "geoQ string",
            with(m(), "geoQ", json!("near")),
            "geoQ is a string",
        ),
        (
            "geoQ no georel",
            with(
                m(),
                "geoQ",
                json!({"geometry": "Point", "coordinates": [1, 2]}),
            ),
            "geoQ has no georel",
        ),
        (
            "geoQ no coordinates",
            with(
                m(),
                "geoQ",
                json!({"georel": "within", "geometry": "Point"}),
            ),
            "geoQ has no coordinates",
        ),
        (
            "geoQ georel",
            with(
                m(),
                "geoQ",
                json!({"georel": "around", "geometry": "Point", "coordinates": [1, 2]}),
            ),
            "geoQ is not valid",
        ),
        (
            "geoQ geometry number",
            with(
                m(),
                "geoQ",
                json!({"georel": "within", "geometry": 1, "coordinates": [1, 2]}),
            ),
            "geoQ.geometry is a number",
        ),
        (
            "geoQ coordinates object",
            with(
                m(),
                "geoQ",
                json!({"georel": "within", "geometry": "Point", "coordinates": {}}),
            ),
            "geoQ.coordinates is an object",
        ),
        (
            "geoQ coordinates invalid",
            with(
                m(),
                "geoQ",
                json!({"georel": "within", "geometry": "Point", "coordinates": [500, 2]}),
            ),
            "geoQ is not valid",
        ),
        (
            "geoQ geoproperty",
            with(
                m(),
                "geoQ",
                json!({"georel": "within", "geometry": "Point", "coordinates": [1, 2], "geoproperty": 3}),
            ),
            "geoQ.geoproperty is a number",
        ),
        (
            "isActive",
            with(m(), "isActive", json!("yes")),
            "isActive is a string",
        ),
        (
            "expiresAt past",
            with(m(), "expiresAt", json!("2020-01-01T00:00:00Z")),
            "expiresAt 2020-01-01T00:00:00Z is not in the future",
        ),
        (
            "expiresAt now",
            with(m(), "expiresAt", json!("2025-06-01T12:00:00Z")),
            "not in the future",
        ),
        (
            "expiresAt format",
            with(m(), "expiresAt", json!("tomorrow")),
            "expiresAt is not valid",
        ),
        (
            "expiresAt number",
            with(m(), "expiresAt", json!(1)),
            "expiresAt is a number",
        ),
        (
            "lang number",
            with(m(), "lang", json!(1)),
            "lang is a number",
        ),
        (
            "lang chars",
            with(m(), "lang", json!("fr<script>")),
            "lang 'fr<script>'",
        ),
        ("lang empty", with(m(), "lang", json!("")), "lang ''"),
        (
            "jsonldContext",
            with(m(), "jsonldContext", json!("context.jsonld")),
            "jsonldContext is not valid",
        ),
        (
            "subscriptionName",
            with(m(), "subscriptionName", json!(["a"])),
            "subscriptionName is an array",
        ),
        (
            "description",
            with(m(), "description", json!({})),
            "description is an object",
        ),
        (
            "null member",
            with(m(), "q", json!(null)),
            "the member q is null",
        ),
        (
            "NGSI-LD Null member",
            with(m(), "expiresAt", json!("urn:ngsi-ld:null")),
            "the member expiresAt is null",
        ),
        (
            "null inside notification",
            with(m(), "notification.format", json!(null)),
            "notification.format is null",
        ),
    ];
    for (name, payload, needle) in cases {
        let e = err(&payload);
        assert_eq!(e.kind, ErrorKind::BadRequestData, "{name}: {}", e.detail);
        assert!(e.detail.contains(needle), "{name}: {}", e.detail);
    }
}

#[test]
fn complex_expressions_and_unsupported_members_have_their_own_kinds() {
    let long_q = vec!["a==1"; 3000].join(";");
    let e = err(&with(minimal(), "q", json!(long_q)));
    assert_eq!(e.kind, ErrorKind::TooComplexQuery);
    assert!(e.detail.starts_with("q is not valid"), "{}", e.detail);
    let deep = format!("{}A{}", "(".repeat(40), ")".repeat(40));
    let e = err(&with(minimal(), "entities", json!([{"type": deep}])));
    assert_eq!(e.kind, ErrorKind::TooComplexQuery);
    assert!(e.detail.contains("entities[0].type"), "{}", e.detail);
    for member in ["csf", "scopeQ"] {
        let e = err(&with(minimal(), member, json!("x")));
        assert_eq!(e.kind, ErrorKind::OperationNotSupported, "{member}");
        assert!(e.detail.contains(member));
    }
}

#[test]
fn hostile_payloads_never_panic() {
    for v in [
        json!(null),
        json!("Subscription"),
        json!({"type": "Subscription", "notification": null}),
        json!({"type": "Subscription", "entities": [null], "notification": {"endpoint": {"uri": "http://a/"}}}),
        with(
            minimal(),
            "notification.endpoint.uri",
            json!("http://é.example/ü"),
        ),
        with(minimal(), "notification.endpoint.uri", json!("mqtt://@/")),
        with(minimal(), "notification.endpoint.uri", json!("http://:80/")),
        with(minimal(), "throttling", json!(1e308)),
        with(
            minimal(),
            "entities",
            json!([{"type": "((((", "idPattern": "a{1000}{1000}"}]),
        ),
        with(minimal(), "q", json!("\u{0}")),
    ] {
        let _ = parse(&v);
    }
}

// ---------------------------------------------------------------------------------------
// Rendering

#[test]
fn rendering_compacts_names_with_the_callers_context() {
    let ctx = user_ctx();
    let v = json!({
        "type": "Subscription",
        "entities": [
            {"type": "(Streetlight,Cabinet);Device", "idPattern": "^urn:"},
            {"type": "Streetlight", "id": "urn:ngsi-ld:Streetlight:1"}
        ],
        "watchedAttributes": ["lum"],
        "q": "lum>10",
        "geoQ": {"georel": "near;maxDistance==500", "geometry": "Point", "coordinates": [2.35, 48.85]},
        "throttling": 2.5,
        "notification": {
            "attributes": ["lum", "location"],
            "format": "keyValues",
            "endpoint": {"uri": "https://example.org/n", "receiverInfo": [{"key": "A", "value": "b"}]}
        }
    });
    let s = parse_subscription(&v, &ctx, now(), GENERATED).unwrap();
    let out = render_subscription(&s, &SubscriptionStatus::default(), &ctx, now());
    assert_eq!(
        out,
        json!({
            "id": GENERATED,
            "type": "Subscription",
            "entities": [
                {"idPattern": "^urn:", "type": "(Streetlight,Cabinet);Device"},
                {"id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight"}
            ],
            "watchedAttributes": ["lum"],
            "q": "lum>10",
            "geoQ": {
                "geometry": "Point",
                "coordinates": [2.35, 48.85],
                "georel": "near;maxDistance==500",
                "geoproperty": "location"
            },
            "isActive": true,
            "throttling": 2.5,
            "status": "active",
            "notification": {
                "attributes": ["lum", "location"],
                "format": "keyValues",
                "endpoint": {
                    "uri": "https://example.org/n",
                    "accept": "application/json",
                    "receiverInfo": [{"key": "A", "value": "b"}]
                }
            }
        })
    );
    // With the core context alone, the user's terms come out as full IRIs.
    let core_view = render_subscription(&s, &SubscriptionStatus::default(), &core(), now());
    assert_eq!(
        core_view["watchedAttributes"],
        json!(["https://example.org/model/luminosity"])
    );
    assert_eq!(
        core_view["entities"][1]["type"],
        json!("https://example.org/model/Streetlight")
    );
}

#[test]
fn rendering_then_parsing_gives_the_same_subscription() {
    let v = json!({
        "id": "urn:ngsi-ld:Subscription:x",
        "type": "Subscription",
        "subscriptionName": "n",
        "description": "d",
        "entities": [{"type": "A;(B|C)", "idPattern": "x$"}],
        "notificationTrigger": ["entityDeleted"],
        "timeInterval": 30,
        "q": "a>1",
        "geoQ": {"georel": "intersects", "geometry": "Point", "coordinates": [1, 2]},
        "expiresAt": "2031-02-03T04:05:06Z",
        "lang": "fr",
        "jsonldContext": "https://example.org/c.jsonld",
        "notification": {
            "attributes": ["a"],
            "format": "concise",
            "sysAttrs": true,
            "showChanges": true,
            "endpoint": {"uri": "https://example.org/n", "accept": "application/geo+json", "timeout": 10, "cooldown": 20}
        }
    });
    let s = parse_ok(&v);
    let rendered = render_subscription(&s, &SubscriptionStatus::default(), &core(), now());
    assert_eq!(rendered["timeInterval"], json!(30));
    assert_eq!(rendered["entities"][0]["type"], json!("A;(B,C)"));
    assert_eq!(rendered["expiresAt"], json!("2031-02-03T04:05:06Z"));
    assert_eq!(parse_ok(&rendered), s);
}

#[test]
fn rendering_reports_state_and_delivery_statistics() {
    let mut s = parse_ok(&with(minimal(), "expiresAt", json!("2026-01-01T00:00:00Z")));
    let mut status = SubscriptionStatus::default();
    let out = render_subscription(&s, &status, &core(), now());
    let n = out["notification"].as_object().unwrap();
    for absent in [
        "status",
        "timesSent",
        "timesFailed",
        "lastNotification",
        "lastSuccess",
        "lastFailure",
        "lastErrorReason",
    ] {
        assert!(!n.contains_key(absent), "{absent}");
    }
    let t1 = now() + Duration::seconds(1);
    let t2 = now() + Duration::seconds(2);
    status.record_success(t1);
    status.record_failure(t2, "HTTP 503 from https://example.org/notify");
    let out = render_subscription(&s, &status, &core(), now());
    let n = &out["notification"];
    assert_eq!(n["status"], json!("failed"));
    assert_eq!(n["timesSent"], json!(2));
    assert_eq!(n["timesFailed"], json!(1));
    assert_eq!(n["lastNotification"], json!("2025-06-01T12:00:02Z"));
    assert_eq!(n["lastSuccess"], json!("2025-06-01T12:00:01Z"));
    assert_eq!(n["lastFailure"], json!("2025-06-01T12:00:02Z"));
    assert_eq!(
        n["lastErrorReason"],
        json!("HTTP 503 from https://example.org/notify")
    );
    status.record_success(now() + Duration::seconds(3));
    assert_eq!(status.delivery_status(), Some("ok"));
    assert_eq!(status.times_sent, 3);

    assert_eq!(out["status"], json!("active"));
    s.is_active = false;
    let later = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(
        render_subscription(&s, &status, &core(), now())["status"],
        json!("paused")
    );
    assert_eq!(
        render_subscription(&s, &status, &core(), later)["status"],
        json!("expired")
    );
}

#[test]
fn delivery_status_follows_the_last_attempt() {
    let mut st = SubscriptionStatus::default();
    assert_eq!(st.delivery_status(), None);
    st.record_failure(now(), "timeout");
    assert_eq!(st.delivery_status(), Some("failed"));
    st.record_success(now() + Duration::seconds(1));
    assert_eq!(st.delivery_status(), Some("ok"));
    assert_eq!((st.times_sent, st.times_failed), (2, 1));
    assert_eq!(st.last_error_reason.as_deref(), Some("timeout"));
}

// ---------------------------------------------------------------------------------------
// Merge (PATCH)

#[test]
fn merge_replaces_the_members_given() {
    let old = parse_ok(&with(
        with(minimal(), "q", json!("a>1")),
        "expiresAt",
        json!("2030-01-01T00:00:00Z"),
    ));
    let new = merge_subscription(
        &old,
        &json!({
            "isActive": false,
            "q": null,
            "expiresAt": "urn:ngsi-ld:null",
            "watchedAttributes": ["status"],
            "notification": {"format": "keyValues", "endpoint": {"uri": "http://example.org/b"}},
            "unknown": 1
        }),
        &core(),
        now(),
    )
    .unwrap();
    assert!(!new.is_active);
    assert_eq!(new.q, None);
    assert_eq!(new.expires_at, None);
    assert_eq!(new.watched_attributes, Some(vec![dv("status")]));
    assert_eq!(new.notification.format, Format::KeyValues);
    assert_eq!(new.notification.endpoint.uri, "http://example.org/b");
    assert_eq!(new.entities, old.entities);
    assert_eq!(new.id, old.id);
    // The old subscription is untouched.
    assert!(old.is_active && old.q.is_some());

    // null restores a default.
    let back = merge_subscription(&new, &json!({"isActive": null}), &core(), now()).unwrap();
    assert!(back.is_active);
    // The same id and type may be repeated.
    let same = merge_subscription(
        &old,
        &json!({"id": old.id, "type": "Subscription", "description": "x"}),
        &core(),
        now(),
    )
    .unwrap();
    assert_eq!(same.description.as_deref(), Some("x"));
}

#[test]
fn merge_checks_as_on_creation() {
    let old = parse_ok(&with(minimal(), "watchedAttributes", json!(["status"])));
    let cases: Vec<(Value, ErrorKind, &str)> = vec![
        (json!([]), ErrorKind::BadRequestData, "not a JSON object"),
        (json!({}), ErrorKind::BadRequestData, "changes no member"),
        (
            json!({"foo": 1}),
            ErrorKind::BadRequestData,
            "changes no member",
        ),
        (
            json!({"id": "urn:ngsi-ld:Subscription:other"}),
            ErrorKind::BadRequestData,
            "cannot change",
        ),
        (
            json!({"type": "Entity", "isActive": true}),
            ErrorKind::BadRequestData,
            "\"Subscription\"",
        ),
        (
            json!({"timeInterval": 10}),
            ErrorKind::BadRequestData,
            "timeInterval and watchedAttributes",
        ),
        (
            json!({"entities": null, "watchedAttributes": null}),
            ErrorKind::BadRequestData,
            "neither entities nor watchedAttributes",
        ),
        (
            json!({"notification": null}),
            ErrorKind::BadRequestData,
            "notification cannot be removed",
        ),
        (
            json!({"notification": {"format": "keyValues"}}),
            ErrorKind::BadRequestData,
            "notification has no endpoint",
        ),
        (
            json!({"expiresAt": "2001-01-01T00:00:00Z"}),
            ErrorKind::BadRequestData,
            "not in the future",
        ),
        (json!({"q": "a>"}), ErrorKind::BadRequestData, "position"),
        (
            json!({"isActive": "no"}),
            ErrorKind::BadRequestData,
            "isActive is a string",
        ),
        (
            json!({"scopeQ": "/a"}),
            ErrorKind::OperationNotSupported,
            "scopeQ",
        ),
    ];
    for (fragment, kind, needle) in cases {
        let e = merge_subscription(&old, &fragment, &core(), now()).unwrap_err();
        assert_eq!(e.kind, kind, "{fragment}: {}", e.detail);
        assert!(e.detail.contains(needle), "{fragment}: {}", e.detail);
    }
    // Removing the watched attributes makes timeInterval possible.
    let periodic = merge_subscription(
        &old,
        &json!({"watchedAttributes": null, "timeInterval": 10}),
        &core(),
        now(),
    )
    .unwrap();
    assert_eq!(periodic.time_interval, Some(10.0));
}

// ---------------------------------------------------------------------------------------
// Storage form

#[test]
fn stored_form_round_trips_without_the_context() {
    let ctx = user_ctx();
    let v = json!({
        "id": "urn:ngsi-ld:Subscription:s",
        "type": "Subscription",
        "entities": [{"type": "(Streetlight,Cabinet);Device", "idPattern": "^urn:ngsi-ld:"}],
        "watchedAttributes": ["lum"],
        "notificationTrigger": ["entityCreated", "attributeDeleted"],
        "q": "lum>10;status==\"on\"",
        "geoQ": {"georel": "near;minDistance==10;maxDistance==500", "geometry": "Point", "coordinates": [2.35, 48.85], "geoproperty": "location"},
        "throttling": 1.5,
        "expiresAt": "2030-01-01T00:00:00Z",
        "notification": {"attributes": ["lum"], "format": "concise", "endpoint": {"uri": "https://a.example/n", "accept": "application/ld+json", "notifierInfo": [{"key": "k", "value": "v"}]}}
    });
    let s = parse_subscription(&v, &ctx, now(), GENERATED).unwrap();
    let stored = serde_json::to_string(&s).unwrap();
    let back: Subscription = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, s);
    // The q names kept their expansion from the client's context.
    let mut e = Entity::new(
        "urn:ngsi-ld:Device:1",
        "https://example.org/model/Streetlight",
    );
    e.types.push(dv("Device"));
    e.attrs.insert(
        "https://example.org/model/luminosity".into(),
        prop(json!(20)),
    );
    e.attrs.insert(dv("status"), prop(json!("on")));
    assert!(back.q.as_ref().unwrap().expr.matches(&e));
    assert!(back.selects(&e));

    let status = SubscriptionStatus {
        times_sent: 3,
        last_success: Some(now()),
        ..SubscriptionStatus::default()
    };
    let st: SubscriptionStatus =
        serde_json::from_str(&serde_json::to_string(&status).unwrap()).unwrap();
    assert_eq!(st, status);
}

#[test]
fn corrupt_stored_forms_are_errors_not_panics() {
    let s = parse_ok(&with(minimal(), "q", json!("a>1")));
    let mut stored = serde_json::to_value(&s).unwrap();
    stored["q"]["source"] = json!("a>");
    assert!(serde_json::from_value::<Subscription>(stored).is_err());
    let mut stored = serde_json::to_value(&s).unwrap();
    stored["entities"][0]["id_pattern"] = json!("(");
    assert!(serde_json::from_value::<Subscription>(stored).is_err());
    let mut stored = serde_json::to_value(&s).unwrap();
    stored["notification"]["format"] = json!("xml");
    assert!(serde_json::from_value::<Subscription>(stored).is_err());
}

// ---------------------------------------------------------------------------------------
// Matching

fn sub(extra: &[(&str, Value)]) -> Subscription {
    let mut v = minimal();
    for (path, value) in extra {
        v = with(v, path, value.clone());
    }
    parse_ok(&v)
}

#[test]
fn creation_notifies_with_the_default_triggers() {
    let s = sub(&[]);
    let e = light("urn:ngsi-ld:Streetlight:1", &[("status", json!("on"))]);
    assert!(triggers(&s, &created(&e), now()));
    // An entity without attributes creates none.
    let bare = light("urn:ngsi-ld:Streetlight:2", &[]);
    assert!(!triggers(&s, &created(&bare), now()));
    // Only when a watched attribute comes with it.
    let watching = sub(&[("watchedAttributes", json!(["power"]))]);
    assert!(!triggers(&watching, &created(&e), now()));
    let with_power = light("urn:ngsi-ld:Streetlight:3", &[("power", json!(40))]);
    assert!(triggers(&watching, &created(&with_power), now()));
}

#[test]
fn entity_created_ignores_watched_attributes() {
    let s = sub(&[
        ("notificationTrigger", json!(["entityCreated"])),
        ("watchedAttributes", json!(["power"])),
    ]);
    let bare = light("urn:ngsi-ld:Streetlight:1", &[]);
    assert!(triggers(&s, &created(&bare), now()));
    // But an update is not a creation.
    let after = light("urn:ngsi-ld:Streetlight:1", &[("power", json!(1))]);
    assert!(!triggers(&s, &updated(&bare, &after), now()));
}

#[test]
fn updates_notify_only_real_changes_of_watched_attributes() {
    let s = sub(&[("watchedAttributes", json!(["status"]))]);
    let before = light(
        "urn:ngsi-ld:Streetlight:1",
        &[("status", json!("on")), ("power", json!(40))],
    );
    let mut after = before.clone();
    after.attrs.insert(dv("status"), prop(json!("off")));
    assert!(triggers(&s, &updated(&before, &after), now()));

    // Another attribute changed: not watched.
    let mut other = before.clone();
    other.attrs.insert(dv("power"), prop(json!(60)));
    assert!(!triggers(&s, &updated(&before, &other), now()));
    // Without watchedAttributes, any attribute is watched.
    assert!(triggers(&sub(&[]), &updated(&before, &other), now()));

    // The same value rewritten (only the broker's timestamps differ): no change.
    let mut stamped = before.clone();
    for instances in stamped.attrs.values_mut() {
        for a in instances {
            a.stamp(now(), now() + Duration::seconds(5));
        }
    }
    stamped.modified_at = Some(now());
    assert!(!triggers(&s, &updated(&before, &stamped), now()));

    // Metadata the client sees is a change: observedAt, unitCode, sub-attributes.
    let mut observed = before.clone();
    observed.attrs.get_mut(&dv("status")).unwrap()[0].observed_at = Some(now());
    assert!(triggers(&s, &updated(&before, &observed), now()));
    let mut unit = before.clone();
    unit.attrs.get_mut(&dv("status")).unwrap()[0].unit_code = Some("C62".into());
    assert!(triggers(&s, &updated(&before, &unit), now()));
    let mut nested = before.clone();
    nested.attrs.get_mut(&dv("status")).unwrap()[0]
        .sub
        .insert(dv("reason"), prop(json!("storm")));
    assert!(triggers(&s, &updated(&before, &nested), now()));

    // A new instance (datasetId) of the watched attribute is an update of it.
    let mut instances = before.clone();
    let mut second = Attribute::new(AttributeValue::Property(json!("on")));
    second.dataset_id = Some("urn:ngsi-ld:Dataset:b".into());
    instances.attrs.get_mut(&dv("status")).unwrap().push(second);
    assert!(triggers(&s, &updated(&before, &instances), now()));
    // Instances compare by datasetId, whatever their order.
    let mut reordered = instances.clone();
    reordered.attrs.get_mut(&dv("status")).unwrap().reverse();
    assert!(!triggers(&s, &updated(&instances, &reordered), now()));
}

#[test]
fn triggers_select_the_kinds_of_attribute_change() {
    let before = light("urn:ngsi-ld:Streetlight:1", &[("status", json!("on"))]);
    let mut added = before.clone();
    added.attrs.insert(dv("power"), prop(json!(40)));
    let removed = light("urn:ngsi-ld:Streetlight:1", &[]);
    let mut changed = before.clone();
    changed.attrs.insert(dv("status"), prop(json!("off")));

    let default = sub(&[]);
    assert!(triggers(&default, &updated(&before, &added), now()));
    assert!(triggers(&default, &updated(&before, &changed), now()));
    assert!(!triggers(&default, &updated(&before, &removed), now()));

    let only_updates = sub(&[("notificationTrigger", json!(["attributeUpdated"]))]);
    assert!(!triggers(&only_updates, &updated(&before, &added), now()));
    assert!(triggers(&only_updates, &updated(&before, &changed), now()));
    assert!(!triggers(&only_updates, &created(&before), now()));

    let only_deletions = sub(&[("notificationTrigger", json!(["attributeDeleted"]))]);
    assert!(triggers(
        &only_deletions,
        &updated(&before, &removed),
        now()
    ));
    assert!(!triggers(
        &only_deletions,
        &updated(&before, &changed),
        now()
    ));

    let entity_updated = sub(&[("notificationTrigger", json!(["entityUpdated"]))]);
    assert!(triggers(&entity_updated, &updated(&before, &added), now()));
    assert!(triggers(
        &entity_updated,
        &updated(&before, &changed),
        now()
    ));
    assert!(triggers(
        &entity_updated,
        &updated(&before, &removed),
        now()
    ));
    assert!(!triggers(&entity_updated, &deleted(&before), now()));

    // A deleted attribute that is not watched does not notify.
    let watched = sub(&[
        ("notificationTrigger", json!(["attributeDeleted"])),
        ("watchedAttributes", json!(["power"])),
    ]);
    assert!(!triggers(&watched, &updated(&before, &removed), now()));
}

#[test]
fn deletion_notifies_only_entity_deleted_and_filters_on_the_entity_before() {
    let e = light("urn:ngsi-ld:Streetlight:1", &[("status", json!("broken"))]);
    assert!(!triggers(&sub(&[]), &deleted(&e), now()));
    let s = sub(&[
        ("notificationTrigger", json!(["entityDeleted"])),
        ("q", json!("status==\"broken\"")),
    ]);
    assert!(triggers(&s, &deleted(&e), now()));
    let ok = light("urn:ngsi-ld:Streetlight:2", &[("status", json!("on"))]);
    assert!(!triggers(&s, &deleted(&ok), now()));
    assert!(!triggers(
        &s,
        &Change {
            before: None,
            after: None
        },
        now()
    ));
}

#[test]
fn inactive_expired_and_periodic_subscriptions_do_not_trigger() {
    let e = light("urn:ngsi-ld:Streetlight:1", &[("status", json!("on"))]);
    assert!(!triggers(
        &sub(&[("isActive", json!(false))]),
        &created(&e),
        now()
    ));
    let expiring = sub(&[("expiresAt", json!("2025-06-01T13:00:00Z"))]);
    assert!(triggers(&expiring, &created(&e), now()));
    let after_expiry = Utc.with_ymd_and_hms(2025, 6, 1, 13, 0, 0).unwrap();
    assert!(!triggers(&expiring, &created(&e), after_expiry));
    assert_eq!(expiring.state(after_expiry), SubscriptionState::Expired);
    assert!(!triggers(
        &sub(&[("timeInterval", json!(60))]),
        &created(&e),
        now()
    ));
}

#[test]
fn entity_selectors_match_id_pattern_and_type_expressions() {
    let e = light("urn:ngsi-ld:Streetlight:N42", &[("status", json!("on"))]);
    let mut device = e.clone();
    device.types.push(dv("Device"));
    let check = |selectors: Value, entity: &Entity| {
        let s = sub(&[("entities", selectors)]);
        triggers(&s, &created(entity), now())
    };
    assert!(check(json!([{"type": "Streetlight"}]), &e));
    assert!(!check(json!([{"type": "Cabinet"}]), &e));
    assert!(check(
        json!([{"type": "Cabinet"}, {"type": "Streetlight"}]),
        &e
    ));
    assert!(check(json!([{"type": "Cabinet|Streetlight"}]), &e));
    assert!(!check(json!([{"type": "Streetlight;Device"}]), &e));
    assert!(check(json!([{"type": "Streetlight;Device"}]), &device));
    assert!(check(
        json!([{"type": "Streetlight", "id": "urn:ngsi-ld:Streetlight:N42"}]),
        &e
    ));
    assert!(!check(
        json!([{"type": "Streetlight", "id": "urn:ngsi-ld:Streetlight:1"}]),
        &e
    ));
    assert!(check(
        json!([{"type": "Streetlight", "idPattern": ":N\\d+$"}]),
        &e
    ));
    assert!(!check(
        json!([{"type": "Streetlight", "idPattern": ":S\\d+$"}]),
        &e
    ));
    // id takes precedence over idPattern.
    assert!(check(
        json!([{"type": "Streetlight", "id": "urn:ngsi-ld:Streetlight:N42", "idPattern": "^nothing$"}]),
        &e
    ));
    assert!(!check(
        json!([{"type": "Streetlight", "id": "urn:ngsi-ld:Streetlight:1", "idPattern": "N42"}]),
        &e
    ));
    // Without entities, watchedAttributes selects any entity.
    let any = parse_ok(&with(
        without(minimal(), "entities"),
        "watchedAttributes",
        json!(["status"]),
    ));
    let mut other = Entity::new("urn:x:1", dv("Cabinet"));
    other.attrs.insert(dv("status"), prop(json!("on")));
    assert!(triggers(&any, &created(&other), now()));
}

#[test]
fn q_is_evaluated_on_the_entity_after_the_change() {
    let s = sub(&[("q", json!("brightness>50"))]);
    let low = light("urn:ngsi-ld:Streetlight:1", &[("brightness", json!(10))]);
    let high = light("urn:ngsi-ld:Streetlight:1", &[("brightness", json!(80))]);
    assert!(triggers(&s, &updated(&low, &high), now()));
    assert!(!triggers(&s, &updated(&high, &low), now()));
    assert!(!triggers(&s, &created(&low), now()));
}

#[test]
fn geo_q_is_evaluated_on_the_geoproperty() {
    let s = sub(&[(
        "geoQ",
        json!({"georel": "near;maxDistance==1000", "geometry": "Point", "coordinates": [2.3522, 48.8566]}),
    )]);
    let at = |lon: f64, lat: f64| {
        let mut e = light("urn:ngsi-ld:Streetlight:1", &[]);
        e.attrs.insert(
            "https://uri.etsi.org/ngsi-ld/location".into(),
            vec![Attribute::new(AttributeValue::GeoProperty(
                Geometry::point(lon, lat).unwrap(),
            ))],
        );
        e
    };
    assert!(triggers(&s, &created(&at(2.353, 48.857)), now()));
    assert!(!triggers(&s, &created(&at(4.83, 45.76)), now()));
    // An entity without the GeoProperty does not match.
    let nowhere = light("urn:ngsi-ld:Streetlight:1", &[("status", json!("on"))]);
    assert!(!triggers(&s, &created(&nowhere), now()));
    // Another geoproperty is compared when named.
    let other = sub(&[(
        "geoQ",
        json!({"georel": "near;maxDistance==1000", "geometry": "Point", "coordinates": [2.3522, 48.8566], "geoproperty": "observationSpace"}),
    )]);
    assert!(!triggers(&other, &created(&at(2.353, 48.857)), now()));
}

#[test]
fn throttling_holds_back_notifications_for_its_period() {
    let s = sub(&[("throttling", json!(10))]);
    let last = now();
    assert!(!throttled(&s, None, now()));
    assert!(throttled(&s, Some(last), last + Duration::seconds(9)));
    assert!(!throttled(&s, Some(last), last + Duration::seconds(10)));
    assert!(!throttled(&s, Some(last), last + Duration::seconds(11)));
    let fractional = sub(&[("throttling", json!(0.5))]);
    assert!(throttled(
        &fractional,
        Some(last),
        last + Duration::milliseconds(400)
    ));
    assert!(!throttled(
        &fractional,
        Some(last),
        last + Duration::milliseconds(500)
    ));
    assert!(!throttled(&sub(&[]), Some(last), last));
    assert!(!throttled(
        &sub(&[("throttling", json!(0))]),
        Some(last),
        last
    ));
    // A period too long to represent never elapses, and never panics.
    assert!(throttled(
        &sub(&[("throttling", json!(1e300))]),
        Some(last),
        last + Duration::days(36500)
    ));
}

#[test]
fn periodic_subscriptions_are_due_every_interval() {
    let s = sub(&[("timeInterval", json!(60))]);
    assert!(periodic_due(&s, None, now()));
    assert!(!periodic_due(
        &s,
        Some(now()),
        now() + Duration::seconds(59)
    ));
    assert!(periodic_due(&s, Some(now()), now() + Duration::seconds(60)));
    assert!(!periodic_due(&sub(&[]), None, now()));
    let paused = sub(&[("timeInterval", json!(60)), ("isActive", json!(false))]);
    assert!(!periodic_due(&paused, None, now()));
    let expiring = sub(&[
        ("timeInterval", json!(60)),
        ("expiresAt", json!("2025-06-01T12:30:00Z")),
    ]);
    let later = Utc.with_ymd_and_hms(2025, 6, 1, 12, 30, 0).unwrap();
    assert!(!periodic_due(&expiring, None, later));
    assert!(!periodic_due(
        &sub(&[("timeInterval", json!(1e300))]),
        Some(now()),
        now() + Duration::days(36500)
    ));
}

// ---------------------------------------------------------------------------------------
// Notification payload

fn lamp_with_data() -> Entity {
    let mut e = light(
        "urn:ngsi-ld:Streetlight:1",
        &[("status", json!("on")), ("power", json!(40))],
    );
    e.attrs.insert(
        "https://uri.etsi.org/ngsi-ld/location".into(),
        vec![Attribute::new(AttributeValue::GeoProperty(
            Geometry::point(2.35, 48.85).unwrap(),
        ))],
    );
    let mut name = serde_json::Map::new();
    name.insert("fr".into(), json!("lampadaire"));
    name.insert("en".into(), json!("streetlight"));
    e.attrs.insert(
        dv("name"),
        vec![Attribute::new(AttributeValue::LanguageProperty(name))],
    );
    e.created_at = Some(now());
    e.modified_at = Some(now());
    e
}

#[test]
fn notification_has_the_shape_of_clause_5_3_1() {
    let s = sub(&[("id", json!("urn:ngsi-ld:Subscription:s1"))]);
    let e = lamp_with_data();
    let n = notification(
        &s,
        std::slice::from_ref(&e),
        &core(),
        "urn:ngsi-ld:Notification:1",
        now(),
    );
    assert_eq!(n["id"], json!("urn:ngsi-ld:Notification:1"));
    assert_eq!(n["type"], json!("Notification"));
    assert_eq!(n["subscriptionId"], json!("urn:ngsi-ld:Subscription:s1"));
    assert_eq!(n["notifiedAt"], json!("2025-06-01T12:00:00Z"));
    let keys: Vec<&str> = n.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "type", "subscriptionId", "notifiedAt", "data"]);
    let data = n["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], json!("urn:ngsi-ld:Streetlight:1"));
    assert_eq!(data[0]["type"], json!("Streetlight"));
    assert_eq!(
        data[0]["status"],
        json!({"type": "Property", "value": "on"})
    );
    assert_eq!(data[0]["location"]["type"], json!("GeoProperty"));
    assert!(data[0].get("createdAt").is_none());
    // No entities: an empty data array.
    let empty = notification(&s, &[], &core(), "urn:ngsi-ld:Notification:2", now());
    assert_eq!(empty["data"], json!([]));
}

#[test]
fn notification_projects_attributes_and_applies_the_format() {
    let e = lamp_with_data();
    let s = sub(&[
        ("notification.attributes", json!(["status", "name"])),
        ("notification.format", json!("keyValues")),
        ("notification.sysAttrs", json!(true)),
        ("lang", json!("fr")),
    ]);
    let n = notification(&s, std::slice::from_ref(&e), &core(), "urn:x:1", now());
    assert_eq!(
        n["data"][0],
        json!({
            "id": "urn:ngsi-ld:Streetlight:1",
            "type": "Streetlight",
            "name": "lampadaire",
            "status": "on",
            "createdAt": "2025-06-01T12:00:00Z",
            "modifiedAt": "2025-06-01T12:00:00Z"
        })
    );
    let concise = sub(&[
        ("notification.attributes", json!(["power"])),
        ("notification.format", json!("concise")),
    ]);
    let n = notification(
        &concise,
        std::slice::from_ref(&e),
        &core(),
        "urn:x:2",
        now(),
    );
    assert_eq!(
        n["data"][0],
        json!({"id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight", "power": 40})
    );
}

#[test]
fn notification_names_are_compacted_with_the_given_context() {
    let ctx = user_ctx();
    let v = json!({
        "type": "Subscription",
        "entities": [{"type": "Streetlight"}],
        "notification": {"attributes": ["lum"], "format": "keyValues", "endpoint": {"uri": "http://a.example/n"}}
    });
    let s = parse_subscription(&v, &ctx, now(), GENERATED).unwrap();
    let mut e = Entity::new(
        "urn:ngsi-ld:Streetlight:1",
        "https://example.org/model/Streetlight",
    );
    e.attrs.insert(
        "https://example.org/model/luminosity".into(),
        prop(json!(12)),
    );
    e.attrs.insert(dv("status"), prop(json!("on")));
    assert!(triggers(&s, &created(&e), now()));
    let n = notification(&s, std::slice::from_ref(&e), &ctx, "urn:x:1", now());
    assert_eq!(
        n["data"],
        json!([{"id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight", "lum": 12}])
    );
}

#[test]
fn geojson_notifications_carry_a_feature_collection() {
    let s = sub(&[
        (
            "notification.endpoint.accept",
            json!("application/geo+json"),
        ),
        ("notification.attributes", json!(["status"])),
    ]);
    let n = notification(&s, &[lamp_with_data()], &core(), "urn:x:1", now());
    let data = &n["data"];
    assert_eq!(data["type"], json!("FeatureCollection"));
    let feature = &data["features"][0];
    assert_eq!(feature["id"], json!("urn:ngsi-ld:Streetlight:1"));
    assert_eq!(
        feature["geometry"],
        json!({"type": "Point", "coordinates": [2.35, 48.85]})
    );
    assert_eq!(
        feature["properties"]["status"],
        json!({"type": "Property", "value": "on"})
    );
    assert!(feature["properties"].get("power").is_none());
}
