//! Parsing and merging the JSON of subscriptions (ETSI GS CIM 009 §5.2.12 to §5.2.15, §5.8.1
//! and §5.8.2).

use chrono::{DateTime, Utc};
use jumeau_geo::GeoQuery;
use serde_json::{Map, Value};

use super::{
    format_from_name, Endpoint, EntitySelector, GeoQ, KeyValuePair, NotificationAccept,
    NotificationParams, NotificationTrigger, QFilter, Subscription, SUBSCRIPTION_TYPE,
};
use crate::context::Context;
use crate::entity::validate_uri;
use crate::ngsi::{Format, NGSI_LD_NULL};
use crate::query::TypeExpr;
use crate::time::parse_datetime;
use crate::{ErrorKind, NgsiError, Result};

/// The longest endpoint URI accepted, in bytes.
const MAX_URI_LEN: usize = 2048;

/// The GeoProperty a geoQ compares unless `geoproperty` names another.
const DEFAULT_GEOPROPERTY: &str = "location";

/// The members of the Subscription data type this module reads (others are ignored).
const KNOWN_MEMBERS: [&str; 18] = [
    "id",
    "type",
    "subscriptionName",
    "description",
    "entities",
    "watchedAttributes",
    "notificationTrigger",
    "timeInterval",
    "q",
    "geoQ",
    "isActive",
    "expiresAt",
    "throttling",
    "notification",
    "lang",
    "jsonldContext",
    "csf",
    "scopeQ",
];

/// Whether a payload creates a subscription or patches one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Patch,
}

fn bad(detail: impl Into<String>) -> NgsiError {
    NgsiError::bad_data(detail)
}

/// A JSON null or the NGSI-LD Null: "remove this member" in a PATCH fragment.
fn is_null(v: &Value) -> bool {
    v.is_null() || v.as_str() == Some(NGSI_LD_NULL)
}

/// A short description of a JSON value's kind, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses the payload of a Create Subscription request (ETSI GS CIM 009 §5.8.1) into a
/// [`Subscription`], type and attribute names expanded with `ctx`.
///
/// `new_id` is the id given to the subscription when the payload has none: the caller
/// generates it (such as `urn:ngsi-ld:Subscription:<uuid>`), and checks that an id the
/// client chose is not taken. `now` is the creation time: `expiresAt` must be after it.
///
/// Every violation of §5.2.12 is a BadRequestData whose detail names the member (such as
/// `entities[1].idPattern` or `notification.endpoint.uri`) and how to fix it; an expression
/// too long or too deeply nested is a TooComplexQuery; `csf` and `scopeQ` are
/// OperationNotSupported.
pub fn parse_subscription(
    json: &Value,
    ctx: &Context,
    now: DateTime<Utc>,
    new_id: &str,
) -> Result<Subscription> {
    let obj = json.as_object().ok_or_else(|| {
        bad(format!(
            "the subscription is {}, not a JSON object; send an object such as \
             {{\"type\": \"Subscription\", \"entities\": [{{\"type\": \"Streetlight\"}}], \
             \"notification\": {{\"endpoint\": {{\"uri\": \"https://example.org/notify\"}}}}}}",
            kind(json)
        ))
    })?;
    match obj.get("type") {
        Some(t) => check_type(t, ctx)?,
        None => {
            return Err(bad(
                "the member type is missing; write \"type\": \"Subscription\"",
            ))
        }
    }
    let id = match obj.get("id") {
        Some(v) => parse_id(v)?,
        None => new_id.to_string(),
    };
    let notification = match obj.get("notification") {
        Some(v) => parse_notification(v, ctx, Mode::Create)?,
        None => {
            return Err(bad("the member notification is missing; give at least \
                 {\"endpoint\": {\"uri\": \"https://example.org/notify\"}}"))
        }
    };
    let mut sub = Subscription {
        id,
        name: None,
        description: None,
        entities: Vec::new(),
        watched_attributes: None,
        notification_trigger: None,
        time_interval: None,
        q: None,
        geo_q: None,
        is_active: true,
        expires_at: None,
        throttling: None,
        notification,
        lang: None,
        jsonld_context: None,
    };
    for (key, value) in obj {
        apply_member(&mut sub, key, value, ctx, now, Mode::Create)?;
    }
    check_consistency(&sub)?;
    Ok(sub)
}

/// Applies the fragment of an Update Subscription request (ETSI GS CIM 009 §5.8.2) to `old`
/// and returns the updated subscription; `old` is left as it was.
///
/// Each member given replaces the old one whole (`notification` included: give it complete)
/// and is checked as on creation; a null (or `urn:ngsi-ld:null`) removes an optional member,
/// restoring its default. The result must satisfy the same rules as a new subscription. An
/// `id` in the fragment must be the subscription's; a fragment that names no member of a
/// subscription is a BadRequestData.
pub fn merge_subscription(
    old: &Subscription,
    fragment: &Value,
    ctx: &Context,
    now: DateTime<Utc>,
) -> Result<Subscription> {
    let obj = fragment.as_object().ok_or_else(|| {
        bad(format!(
            "the subscription fragment is {}, not a JSON object; send the members to change, \
             such as {{\"isActive\": false}}",
            kind(fragment)
        ))
    })?;
    let mut sub = old.clone();
    let mut changed = false;
    for (key, value) in obj {
        changed |= apply_member(&mut sub, key, value, ctx, now, Mode::Patch)?;
    }
    if !changed {
        return Err(bad(
            "the fragment changes no member of the subscription; give the members to change, \
             such as isActive, expiresAt, q or notification",
        ));
    }
    check_consistency(&sub)?;
    Ok(sub)
}

/// Reads one top-level member into `sub`; true when it is a member the fragment changes.
fn apply_member(
    sub: &mut Subscription,
    key: &str,
    v: &Value,
    ctx: &Context,
    now: DateTime<Utc>,
    mode: Mode,
) -> Result<bool> {
    if !KNOWN_MEMBERS.contains(&key) {
        // Extensibility: members this broker does not know are ignored, and so are the
        // read-only members (status, createdAt...) a client may send back.
        return Ok(false);
    }
    if mode == Mode::Create && matches!(key, "id" | "type" | "notification") {
        // Read before the other members.
        return Ok(false);
    }
    let remove = is_null(v);
    if remove && mode == Mode::Create {
        return Err(bad(format!(
            "the member {key} is null; leave it out instead (null only removes a member when \
             updating a subscription)"
        )));
    }
    match key {
        "id" => {
            let id = parse_id(v)?;
            if id != sub.id {
                return Err(bad(format!(
                    "the fragment has the id '{id}' but updates the subscription '{}'; leave \
                     id out (a subscription id cannot change)",
                    sub.id
                )));
            }
            return Ok(false);
        }
        "type" => {
            check_type(v, ctx)?;
            return Ok(false);
        }
        "csf" | "scopeQ" if !remove => {
            return Err(NgsiError::new(
                ErrorKind::OperationNotSupported,
                format!(
                    "the member {key} is not supported by this broker; leave it out \
                     (filter with entities, q or geoQ instead)"
                ),
            ));
        }
        "notification" => {
            if remove {
                return Err(bad(
                    "notification cannot be removed: a subscription needs an endpoint; give a \
                     complete notification object",
                ));
            }
            sub.notification = parse_notification(v, ctx, mode)?;
        }
        "isActive" => {
            sub.is_active = if remove {
                true
            } else {
                v.as_bool()
                    .ok_or_else(|| bad(format!("isActive is {}; write true or false", kind(v))))?
            };
        }
        _ if remove => match key {
            "subscriptionName" => sub.name = None,
            "description" => sub.description = None,
            "entities" => sub.entities.clear(),
            "watchedAttributes" => sub.watched_attributes = None,
            "notificationTrigger" => sub.notification_trigger = None,
            "timeInterval" => sub.time_interval = None,
            "q" => sub.q = None,
            "geoQ" => sub.geo_q = None,
            "expiresAt" => sub.expires_at = None,
            "throttling" => sub.throttling = None,
            "lang" => sub.lang = None,
            "jsonldContext" => sub.jsonld_context = None,
            _ => {}
        },
        "subscriptionName" => sub.name = Some(text("subscriptionName", v)?),
        "description" => sub.description = Some(text("description", v)?),
        "entities" => sub.entities = parse_entities(v, ctx)?,
        "watchedAttributes" => sub.watched_attributes = Some(names("watchedAttributes", v, ctx)?),
        "notificationTrigger" => sub.notification_trigger = Some(parse_triggers(v)?),
        "timeInterval" => sub.time_interval = Some(number("timeInterval", v, Bound::Positive)?),
        "throttling" => sub.throttling = Some(number("throttling", v, Bound::NonNegative)?),
        "q" => sub.q = Some(parse_q(v, ctx)?),
        "geoQ" => sub.geo_q = Some(parse_geo_q(v, ctx)?),
        "expiresAt" => sub.expires_at = Some(parse_expires_at(v, now)?),
        "lang" => sub.lang = Some(parse_lang(v)?),
        "jsonldContext" => sub.jsonld_context = Some(parse_uri_member("jsonldContext", v)?),
        _ => {}
    }
    Ok(true)
}

/// The rules of §5.2.12 that involve several members.
fn check_consistency(sub: &Subscription) -> Result<()> {
    if sub.time_interval.is_some() && sub.watched_attributes.is_some() {
        return Err(bad(
            "timeInterval and watchedAttributes cannot be given together: a subscription \
             notifies either periodically (timeInterval) or on changes (watchedAttributes); \
             remove one of them",
        ));
    }
    if sub.time_interval.is_some() && sub.throttling.is_some() {
        return Err(bad(
            "timeInterval and throttling cannot be given together: throttling only limits \
             notifications on changes; remove one of them",
        ));
    }
    if sub.entities.is_empty() && sub.watched_attributes.is_none() {
        return Err(bad(
            "the subscription has neither entities nor watchedAttributes; give entities (such \
             as [{\"type\": \"Streetlight\"}]) or watchedAttributes, or both",
        ));
    }
    if sub.notification.show_changes && sub.notification.format == Format::KeyValues {
        return Err(bad(
            "notification.showChanges cannot be true with the keyValues format, which has no \
             place for previous values; use the normalized or concise format, or set \
             showChanges to false",
        ));
    }
    Ok(())
}

fn check_type(v: &Value, ctx: &Context) -> Result<()> {
    match v.as_str() {
        Some(t) if t == "Subscription" || ctx.expand(t) == SUBSCRIPTION_TYPE => Ok(()),
        _ => Err(bad(format!(
            "the member type is {v}, but a subscription has the type \"Subscription\"; write \
             \"type\": \"Subscription\""
        ))),
    }
}

fn parse_id(v: &Value) -> Result<String> {
    let s = v.as_str().ok_or_else(|| {
        bad(format!(
            "the subscription id is {}, not a string; use a URI such as \
             'urn:ngsi-ld:Subscription:streetlights'",
            kind(v)
        ))
    })?;
    validate_uri(s).map_err(|e| bad(format!("the subscription id is not valid: {e}")))?;
    Ok(s.to_string())
}

fn text(path: &str, v: &Value) -> Result<String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| bad(format!("{path} is {}; write a string", kind(v))))
}

/// An absolute URI member such as `jsonldContext` or an entity selector's `id`.
fn parse_uri_member(path: &str, v: &Value) -> Result<String> {
    let s = v.as_str().ok_or_else(|| {
        bad(format!(
            "{path} is {}; write a URI such as 'urn:ngsi-ld:Streetlight:42'",
            kind(v)
        ))
    })?;
    validate_uri(s).map_err(|e| bad(format!("{path} is not valid: {e}")))?;
    Ok(s.to_string())
}

/// Converts an error of a query parser (written for query parameters) into one about the
/// member `path` of a payload: BadRequestData, except TooComplexQuery which stays.
fn member_error(path: &str, e: NgsiError) -> NgsiError {
    let kind = match e.kind {
        ErrorKind::TooComplexQuery => ErrorKind::TooComplexQuery,
        _ => ErrorKind::BadRequestData,
    };
    NgsiError::new(kind, format!("{path} is not valid: {}", e.detail))
}

fn parse_entities(v: &Value, ctx: &Context) -> Result<Vec<EntitySelector>> {
    let items = match v {
        Value::Array(items) if !items.is_empty() => items,
        Value::Array(_) => {
            return Err(bad(
                "entities is an empty array; give at least one selector such as \
                 {\"type\": \"Streetlight\"}, or leave entities out and give watchedAttributes",
            ))
        }
        other => {
            return Err(bad(format!(
                "entities is {}; write an array of selectors such as [{{\"type\": \
                 \"Streetlight\"}}]",
                kind(other)
            )))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_selector(&format!("entities[{i}]"), item, ctx))
        .collect()
}

fn parse_selector(path: &str, v: &Value, ctx: &Context) -> Result<EntitySelector> {
    let obj = v.as_object().ok_or_else(|| {
        bad(format!(
            "{path} is {}; write an object such as {{\"type\": \"Streetlight\"}}",
            kind(v)
        ))
    })?;
    let types = match obj.get("type") {
        Some(Value::String(t)) => {
            let expand = |s: &str| ctx.expand(s);
            TypeExpr::parse(t, &expand).map_err(|e| member_error(&format!("{path}.type"), e))?
        }
        Some(other) => {
            return Err(bad(format!(
                "{path}.type is {}; write a type or a type expression as a string, such as \
                 \"Streetlight\" or \"Streetlight,Cabinet\"",
                kind(other)
            )))
        }
        None => {
            return Err(bad(format!(
                "{path} has no type; every entity selector names the entity type, such as \
                 {{\"type\": \"Streetlight\"}}"
            )))
        }
    };
    let id = obj
        .get("id")
        .map(|v| parse_uri_member(&format!("{path}.id"), v))
        .transpose()?;
    let id_pattern = match obj.get("idPattern") {
        None => None,
        Some(Value::String(p)) => Some(crate::query::q::compile_regex(p).map_err(|e| {
            bad(format!(
                "{path}.idPattern '{p}' is not a valid regular expression: {e}"
            ))
        })?),
        Some(other) => {
            return Err(bad(format!(
                "{path}.idPattern is {}; write a regular expression as a string, such as \
                 \"^urn:ngsi-ld:Streetlight:\"",
                kind(other)
            )))
        }
    };
    Ok(EntitySelector {
        id,
        id_pattern,
        types,
    })
}

/// A non-empty array of attribute names, expanded with `ctx`, without duplicates.
fn names(path: &str, v: &Value, ctx: &Context) -> Result<Vec<String>> {
    let items = match v {
        Value::Array(items) if !items.is_empty() => items,
        Value::Array(_) => {
            return Err(bad(format!(
                "{path} is an empty array; name at least one attribute, or leave {path} out"
            )))
        }
        other => {
            return Err(bad(format!(
                "{path} is {}; write an array of attribute names such as [\"temperature\"]",
                kind(other)
            )))
        }
    };
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let name = item.as_str().ok_or_else(|| {
            bad(format!(
                "{path}[{i}] is {}; write an attribute name as a string",
                kind(item)
            ))
        })?;
        let iri = attribute_name(&format!("{path}[{i}]"), name, ctx)?;
        if !out.contains(&iri) {
            out.push(iri);
        }
    }
    Ok(out)
}

/// Checks an attribute name (ETSI GS CIM 009 §4.6.2) and expands it.
fn attribute_name(path: &str, name: &str, ctx: &Context) -> Result<String> {
    if name.is_empty() {
        return Err(bad(format!("{path} is an empty name; name an attribute")));
    }
    if let Some(c) = name.chars().find(|c| {
        matches!(c, '<' | '>' | '"' | '\'' | '=' | ';' | '(' | ')')
            || c.is_whitespace()
            || c.is_control()
    }) {
        return Err(bad(format!(
            "{path} '{name}' contains the forbidden character {c:?}; attribute names may not \
             contain < > \" ' = ; ( ), spaces or control characters"
        )));
    }
    let iri = ctx.expand(name);
    if iri.starts_with('@') {
        return Err(bad(format!(
            "{path} '{name}' is not an attribute but the JSON-LD keyword {iri}; name an \
             attribute such as 'temperature'"
        )));
    }
    Ok(iri)
}

fn parse_triggers(v: &Value) -> Result<Vec<NotificationTrigger>> {
    let all = NotificationTrigger::ALL
        .map(NotificationTrigger::as_str)
        .join(", ");
    let items = match v {
        Value::Array(items) if !items.is_empty() => items,
        Value::Array(_) => {
            return Err(bad(format!(
                "notificationTrigger is an empty array; give one or more of {all}, or leave \
                 it out for the default (attributeCreated, attributeUpdated)"
            )))
        }
        other => {
            return Err(bad(format!(
                "notificationTrigger is {}; write an array of triggers such as \
                 [\"entityCreated\", \"attributeUpdated\"]",
                kind(other)
            )))
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let trigger = item
            .as_str()
            .and_then(NotificationTrigger::from_name)
            .ok_or_else(|| {
                bad(format!(
                    "notificationTrigger[{i}] is {item}, which is not a trigger; use one of \
                     {all}"
                ))
            })?;
        if !out.contains(&trigger) {
            out.push(trigger);
        }
    }
    Ok(out)
}

/// The lower bound a number member must respect.
#[derive(Debug, Clone, Copy)]
enum Bound {
    /// > 0 (timeInterval, seconds).
    Positive,
    /// >= 0 (throttling, seconds).
    NonNegative,
    /// >= 1 (timeout and cooldown, milliseconds).
    AtLeastOne,
}

fn number(path: &str, v: &Value, bound: Bound) -> Result<f64> {
    let (ok, rule): (fn(f64) -> bool, &str) = match bound {
        Bound::Positive => (|n| n > 0.0, "a number of seconds greater than 0"),
        Bound::NonNegative => (|n| n >= 0.0, "a number of seconds, 0 or more"),
        Bound::AtLeastOne => (|n| n >= 1.0, "a number of milliseconds, 1 or more"),
    };
    match v.as_f64() {
        Some(n) if n.is_finite() && ok(n) => Ok(n),
        Some(_) => Err(bad(format!("{path} is {v}; write {rule}"))),
        None => Err(bad(format!("{path} is {}; write {rule}", kind(v)))),
    }
}

fn parse_q(v: &Value, ctx: &Context) -> Result<QFilter> {
    let s = v.as_str().ok_or_else(|| {
        bad(format!(
            "q is {}; write a query as a string, such as \"temperature>20\"",
            kind(v)
        ))
    })?;
    let expand = |t: &str| ctx.expand(t);
    QFilter::parse(s, &expand).map_err(|e| member_error("q", e))
}

fn parse_geo_q(v: &Value, ctx: &Context) -> Result<GeoQ> {
    let obj = v.as_object().ok_or_else(|| {
        bad(format!(
            "geoQ is {}; write an object such as {{\"georel\": \"near;maxDistance==500\", \
             \"geometry\": \"Point\", \"coordinates\": [2.35, 48.85]}}",
            kind(v)
        ))
    })?;
    let member = |name: &str| -> Result<&str> {
        match obj.get(name) {
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(other) => Err(bad(format!(
                "geoQ.{name} is {}; write a string",
                kind(other)
            ))),
            None => Err(bad(format!(
                "geoQ has no {name}; a geo-query needs georel, geometry and coordinates"
            ))),
        }
    };
    let georel = member("georel")?;
    let geometry = member("geometry")?;
    let coordinates = match obj.get("coordinates") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => Value::Array(a.clone()).to_string(),
        Some(other) => {
            return Err(bad(format!(
                "geoQ.coordinates is {}; write the coordinates as a JSON array such as \
                 [2.35, 48.85], or as a string holding that array",
                kind(other)
            )))
        }
        None => {
            return Err(bad(
                "geoQ has no coordinates; a geo-query needs georel, geometry and coordinates",
            ))
        }
    };
    let query = GeoQuery::parse(georel, geometry, &coordinates)
        .map_err(|e| bad(format!("geoQ is not valid: {}", e.0)))?;
    let property = match obj.get("geoproperty") {
        None => ctx.expand(DEFAULT_GEOPROPERTY),
        Some(Value::String(p)) => attribute_name("geoQ.geoproperty", p, ctx)?,
        Some(other) => {
            return Err(bad(format!(
                "geoQ.geoproperty is {}; write the name of a GeoProperty such as \"location\"",
                kind(other)
            )))
        }
    };
    Ok(GeoQ { query, property })
}

fn parse_expires_at(v: &Value, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let s = v.as_str().ok_or_else(|| {
        bad(format!(
            "expiresAt is {}; write a date-time such as \"2030-01-01T00:00:00Z\"",
            kind(v)
        ))
    })?;
    let t = parse_datetime(s).map_err(|e| bad(format!("expiresAt is not valid: {e}")))?;
    if t <= now {
        return Err(bad(format!(
            "expiresAt {s} is not in the future; give a later date-time, or leave expiresAt \
             out for a subscription that never expires"
        )));
    }
    Ok(t)
}

fn parse_lang(v: &Value) -> Result<String> {
    let s = v.as_str().ok_or_else(|| {
        bad(format!(
            "lang is {}; write language tags as a string, such as \"fr\" or \"fr,en;q=0.8\"",
            kind(v)
        ))
    })?;
    let ok = !s.trim().is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | ',' | ';' | '=' | '.' | '*' | ' ')
        });
    if !ok {
        return Err(bad(format!(
            "lang '{s}' is not a list of language tags; write tags such as \"fr\", \
             \"fr,en;q=0.8\" or \"*\""
        )));
    }
    Ok(s.to_string())
}

/// The value of `key` in `obj`: `None` when absent, or null in a PATCH (the fragment replaces
/// the whole notification, so a null member is simply absent); an error when null on
/// creation.
fn member<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
    mode: Mode,
) -> Result<Option<&'a Value>> {
    match obj.get(key) {
        Some(v) if is_null(v) => match mode {
            Mode::Create => Err(bad(format!("{path} is null; leave it out instead"))),
            Mode::Patch => Ok(None),
        },
        other => Ok(other),
    }
}

fn parse_notification(v: &Value, ctx: &Context, mode: Mode) -> Result<NotificationParams> {
    let obj = v.as_object().ok_or_else(|| {
        bad(format!(
            "notification is {}; write an object such as {{\"endpoint\": {{\"uri\": \
             \"https://example.org/notify\"}}}}",
            kind(v)
        ))
    })?;
    let endpoint = match member(obj, "endpoint", "notification.endpoint", mode)? {
        Some(e) => parse_endpoint(e, mode)?,
        None => {
            return Err(bad(
                "notification has no endpoint; give one such as {\"uri\": \
                 \"https://example.org/notify\"}",
            ))
        }
    };
    let attributes = member(obj, "attributes", "notification.attributes", mode)?
        .map(|a| names("notification.attributes", a, ctx))
        .transpose()?;
    let format = match member(obj, "format", "notification.format", mode)? {
        None => Format::Normalized,
        Some(f) => f.as_str().and_then(format_from_name).ok_or_else(|| {
            bad(format!(
                "notification.format is {f}; use \"normalized\", \"concise\" or \"keyValues\""
            ))
        })?,
    };
    let flag = |key: &str| -> Result<bool> {
        let path = format!("notification.{key}");
        match member(obj, key, &path, mode)? {
            None => Ok(false),
            Some(b) => b
                .as_bool()
                .ok_or_else(|| bad(format!("{path} is {}; write true or false", kind(b)))),
        }
    };
    Ok(NotificationParams {
        attributes,
        format,
        sys_attrs: flag("sysAttrs")?,
        show_changes: flag("showChanges")?,
        endpoint,
    })
}

fn parse_endpoint(v: &Value, mode: Mode) -> Result<Endpoint> {
    let obj = v.as_object().ok_or_else(|| {
        bad(format!(
            "notification.endpoint is {}; write an object such as {{\"uri\": \
             \"https://example.org/notify\"}}",
            kind(v)
        ))
    })?;
    let uri = match member(obj, "uri", "notification.endpoint.uri", mode)? {
        Some(Value::String(u)) => {
            check_endpoint_uri(u)
                .map_err(|e| bad(format!("notification.endpoint.uri is not valid: {e}")))?;
            u.clone()
        }
        Some(other) => {
            return Err(bad(format!(
                "notification.endpoint.uri is {}; write a URL such as \
                 \"https://example.org/notify\"",
                kind(other)
            )))
        }
        None => {
            return Err(bad(
                "notification.endpoint has no uri; give the URL to notify, such as \
                 \"https://example.org/notify\" or \"mqtt://broker.example.org/topic\"",
            ))
        }
    };
    let accept = match member(obj, "accept", "notification.endpoint.accept", mode)? {
        None => NotificationAccept::Json,
        Some(a) => a
            .as_str()
            .and_then(NotificationAccept::from_media_type)
            .ok_or_else(|| {
                bad(format!(
                    "notification.endpoint.accept is {a}; use \"application/json\", \
                     \"application/ld+json\" or \"application/geo+json\""
                ))
            })?,
    };
    let millis = |key: &str| -> Result<Option<f64>> {
        let path = format!("notification.endpoint.{key}");
        member(obj, key, &path, mode)?
            .map(|n| number(&path, n, Bound::AtLeastOne))
            .transpose()
    };
    let timeout = millis("timeout")?;
    let cooldown = millis("cooldown")?;
    let receiver_info = match member(
        obj,
        "receiverInfo",
        "notification.endpoint.receiverInfo",
        mode,
    )? {
        None => Vec::new(),
        Some(r) => key_values("notification.endpoint.receiverInfo", r)?,
    };
    let notifier_info = match member(
        obj,
        "notifierInfo",
        "notification.endpoint.notifierInfo",
        mode,
    )? {
        None => Vec::new(),
        Some(n) => key_values("notification.endpoint.notifierInfo", n)?,
    };
    check_notifier_info(&notifier_info)?;
    Ok(Endpoint {
        uri,
        accept,
        timeout,
        cooldown,
        receiver_info,
        notifier_info,
    })
}

/// Checks a notification URL: an `http`, `https`, `mqtt` or `mqtts` URL with a host (and for
/// MQTT a topic as its path), without spaces or control characters.
fn check_endpoint_uri(uri: &str) -> std::result::Result<(), String> {
    if uri.len() > MAX_URI_LEN {
        return Err(format!(
            "it is {} bytes long, more than the {MAX_URI_LEN} accepted",
            uri.len()
        ));
    }
    if let Some(c) = uri.chars().find(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '<' | '>' | '"' | '{' | '}' | '|' | '\\' | '^' | '`')
    }) {
        return Err(format!(
            "'{uri}' contains the forbidden character {c:?}; percent-encode it"
        ));
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(format!(
            "'{uri}' is not a URL; write one such as 'https://example.org/notify' or \
             'mqtt://broker.example.org:1883/jumeau/alerts'"
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    let mqtt = match scheme.as_str() {
        "http" | "https" => false,
        "mqtt" | "mqtts" => true,
        other => {
            return Err(format!(
                "the scheme '{other}' of '{uri}' is not supported; notify an http, https, \
                 mqtt or mqtts URL"
            ))
        }
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(after) = host_port.strip_prefix('[') {
        let Some((h, tail)) = after.split_once(']') else {
            return Err(format!("the IPv6 host of '{uri}' has no closing ']'"));
        };
        match tail {
            "" => (h, None),
            t => match t.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return Err(format!("unexpected '{t}' after the host of '{uri}'")),
            },
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(format!(
            "'{uri}' has no host; write one such as 'https://example.org/notify'"
        ));
    }
    if let Some(p) = port {
        if p.parse::<u16>().ok().filter(|n| *n > 0).is_none() {
            return Err(format!(
                "the port '{p}' of '{uri}' is not a number from 1 to 65535"
            ));
        }
    }
    if mqtt {
        let topic = path
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .trim_start_matches('/');
        if topic.is_empty() {
            return Err(format!(
                "'{uri}' names no topic; an MQTT endpoint gives the topic as its path, such \
                 as 'mqtt://broker.example.org:1883/jumeau/alerts'"
            ));
        }
    }
    Ok(())
}

/// An array of `{key, value}` string pairs (§5.2.22). Keys are HTTP header names (RFC 9110
/// tokens) and values carry no control characters, so that a pair never injects a header.
fn key_values(path: &str, v: &Value) -> Result<Vec<KeyValuePair>> {
    let items = v.as_array().ok_or_else(|| {
        bad(format!(
            "{path} is {}; write an array of pairs such as [{{\"key\": \"X-Source\", \
             \"value\": \"jumeau\"}}]",
            kind(v)
        ))
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("{path}[{i}]");
            let obj = item.as_object().ok_or_else(|| {
                bad(format!(
                    "{at} is {}; write an object such as {{\"key\": \"X-Source\", \"value\": \
                     \"jumeau\"}}",
                    kind(item)
                ))
            })?;
            let key = match obj.get("key") {
                Some(Value::String(k)) => k,
                Some(other) => {
                    return Err(bad(format!("{at}.key is {}; write a string", kind(other))))
                }
                None => return Err(bad(format!("{at} has no key; give a key and a value"))),
            };
            let value = match obj.get("value") {
                Some(Value::String(val)) => val,
                Some(other) => {
                    return Err(bad(format!(
                        "{at}.value is {}; write the value as a string",
                        kind(other)
                    )))
                }
                None => return Err(bad(format!("{at} has no value; give a key and a value"))),
            };
            let token = |c: char| {
                c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        '!' | '#'
                            | '$'
                            | '%'
                            | '&'
                            | '\''
                            | '*'
                            | '+'
                            | '-'
                            | '.'
                            | '^'
                            | '_'
                            | '`'
                            | '|'
                            | '~'
                    )
            };
            if key.is_empty() || !key.chars().all(token) {
                return Err(bad(format!(
                    "{at}.key '{key}' is not a valid header name; use letters, digits and \
                     - (such as 'X-Source')"
                )));
            }
            if value.chars().any(|c| c.is_control() && c != '\t') {
                return Err(bad(format!(
                    "{at}.value contains a control character (such as a line break); remove it"
                )));
            }
            Ok(KeyValuePair {
                key: key.clone(),
                value: value.clone(),
            })
        })
        .collect()
}

/// Checks the notifierInfo keys that the MQTT notification binding of ETSI GS CIM 009
/// defines: `MQTT-Version` and `MQTT-QoS`.
fn check_notifier_info(info: &[KeyValuePair]) -> Result<()> {
    for kv in info {
        match kv.key.as_str() {
            "MQTT-Version" if !matches!(kv.value.as_str(), "mqtt3.1.1" | "mqtt5.0") => {
                return Err(bad(format!(
                    "notification.endpoint.notifierInfo MQTT-Version is '{}'; use \
                     \"mqtt3.1.1\" or \"mqtt5.0\"",
                    kv.value
                )))
            }
            "MQTT-QoS" if !matches!(kv.value.as_str(), "0" | "1" | "2") => {
                return Err(bad(format!(
                    "notification.endpoint.notifierInfo MQTT-QoS is '{}'; use \"0\", \"1\" or \
                     \"2\"",
                    kv.value
                )))
            }
            _ => {}
        }
    }
    Ok(())
}
