//! The JSON forms of the temporal API (ETSI GS CIM 009): the normalized temporal
//! representation (§4.5.7, each attribute an array of its instances), the simplified one
//! (§4.5.9, `options=temporalValues`: `[value, time]` pairs) and the aggregated one
//! (§4.5.19, `options=aggregatedValues`: `[value, start, end]` triples per method); and the
//! parsing of temporal entity payloads (POST /temporal/entities and its attrs), whose
//! attributes are arrays of instances placed in time by their `observedAt`.
//!
//! Rendering reuses the entity rendering of [`crate::ngsi`] for each instance, so an instance
//! looks exactly as the attribute would in an entity; parsing reuses the entity parser for
//! each instance, so the same payload rules and messages apply. Everything here is pure: the
//! HTTP layer reads the history from the store and hands it over.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::aggregate::{Accumulator, AggrMethod};
use super::bucket::Bucket;
use super::query::TimeProperty;
use crate::context::{Context, NGSI_LD_NS};
use crate::ngsi::{self, RenderOptions};
use crate::time::format_datetime;
use crate::{Attribute, AttributeValue, Entity, NgsiError, Result};

/// One stored instance of an attribute as the renderer needs it: its id, the attribute as
/// it was, and when the broker stored it.
#[derive(Debug, Clone, Copy)]
pub struct InstanceRef<'a> {
    /// The `instanceId` (an absolute URI).
    pub instance_id: &'a str,
    /// The attribute instance: value, `observedAt`, `unitCode`, `datasetId`, sub-attributes.
    pub attribute: &'a Attribute,
    /// When the broker stored the instance (its `createdAt`).
    pub created_at: DateTime<Utc>,
}

impl InstanceRef<'_> {
    /// The time of the instance by `property`, the second member of a `[value, time]` pair.
    /// An instance without that time (no `observedAt`, or `deletedAt`, which instances do
    /// not carry) falls back to its `modifiedAt`, then to its `createdAt`, so that every pair
    /// has a time.
    pub fn time(&self, property: TimeProperty) -> DateTime<Utc> {
        let a = self.attribute;
        let chosen = match property {
            TimeProperty::ObservedAt => a.observed_at,
            TimeProperty::CreatedAt => Some(self.created_at),
            TimeProperty::ModifiedAt | TimeProperty::DeletedAt => a.modified_at,
        };
        chosen.or(a.modified_at).unwrap_or(self.created_at)
    }
}

/// The normalized temporal form of one attribute series (§4.5.7): one object per instance,
/// oldest first, each as the attribute is rendered in an entity (`type`, `value` or
/// `object`..., `observedAt`, `unitCode`, `datasetId`, sub-attributes) plus its
/// `instanceId`; with `opts.sys_attrs` its `createdAt` and `modifiedAt`. Only `opts.sys_attrs`
/// and `opts.lang` of the options apply.
pub fn normalized_instances(
    name_iri: &str,
    instances: &[InstanceRef<'_>],
    ctx: &Context,
    opts: &RenderOptions,
) -> Vec<Value> {
    let opts = RenderOptions {
        format: ngsi::Format::Normalized,
        sys_attrs: opts.sys_attrs,
        pick: None,
        omit: Default::default(),
        lang: opts.lang.clone(),
    };
    instances
        .iter()
        .map(|i| {
            let mut a = i.attribute.clone();
            a.created_at = Some(a.created_at.unwrap_or(i.created_at));
            a.modified_at = Some(a.modified_at.unwrap_or(i.created_at));
            // The entity renderer writes one instance exactly as an entity member.
            let mut holder = Entity::new("urn:ngsi-ld:instance", "Instance");
            holder.attrs.insert(name_iri.to_string(), vec![a]);
            let mut rendered = ngsi::render_entity(&holder, ctx, &opts);
            let mut value = rendered
                .remove(&ctx.compact(name_iri))
                .unwrap_or(Value::Null);
            if let Value::Object(o) = &mut value {
                o.insert(
                    "instanceId".into(),
                    Value::String(i.instance_id.to_string()),
                );
            }
            value
        })
        .collect()
}

/// The member names of the simplified temporal form (§4.5.9) for an attribute type: the
/// type name and the name of the array of pairs.
fn simplified_members(value: &AttributeValue) -> (&'static str, &'static str) {
    match value {
        AttributeValue::Property(_) => ("Property", "values"),
        AttributeValue::Relationship(_) => ("Relationship", "objects"),
        AttributeValue::GeoProperty(_) => ("GeoProperty", "values"),
        AttributeValue::LanguageProperty(_) => ("LanguageProperty", "languageMaps"),
        AttributeValue::JsonProperty(_) => ("JsonProperty", "jsons"),
        AttributeValue::VocabProperty(_) => ("VocabProperty", "vocabs"),
        AttributeValue::ListProperty(_) => ("ListProperty", "valueLists"),
        AttributeValue::ListRelationship(_) => ("ListRelationship", "objectLists"),
    }
}

/// The data of one instance as it appears in a `[value, time]` pair.
fn simplified_data(value: &AttributeValue, ctx: &Context) -> Value {
    match value {
        AttributeValue::Property(v) | AttributeValue::JsonProperty(v) => v.clone(),
        AttributeValue::Relationship(o) => o.to_json(),
        AttributeValue::GeoProperty(g) => g.as_json().clone(),
        AttributeValue::LanguageProperty(m) => Value::Object(m.clone()),
        AttributeValue::VocabProperty(v) => ctx.compact_vocab_value(v),
        AttributeValue::ListProperty(vs) => Value::Array(vs.clone()),
        AttributeValue::ListRelationship(us) => {
            Value::Array(us.iter().cloned().map(Value::String).collect())
        }
    }
}

/// The NGSI-LD type name of an attribute series: that of its latest instance
/// (`Property` for an empty series).
pub fn series_type(instances: &[InstanceRef<'_>]) -> &'static str {
    instances
        .last()
        .map_or("Property", |i| i.attribute.value.type_name())
}

/// The simplified temporal form of one attribute series (§4.5.9, `options=temporalValues`):
/// `{"type": "Property", "values": [[value, time], ...]}` with the time of `property`, oldest
/// first; `objects` for a Relationship, `languageMaps`, `jsons`, `vocabs`, `valueLists` and
/// `objectLists` for the other types; `datasetId` when the series has one.
pub fn temporal_values(
    dataset_id: Option<&str>,
    instances: &[InstanceRef<'_>],
    property: TimeProperty,
    ctx: &Context,
) -> Value {
    let (type_name, member) = instances.last().map_or(("Property", "values"), |i| {
        simplified_members(&i.attribute.value)
    });
    let pairs: Vec<Value> = instances
        .iter()
        .map(|i| {
            Value::Array(vec![
                simplified_data(&i.attribute.value, ctx),
                Value::String(format_datetime(&i.time(property))),
            ])
        })
        .collect();
    let mut o = Map::new();
    o.insert("type".into(), Value::String(type_name.into()));
    o.insert(member.into(), Value::Array(pairs));
    if let Some(d) = dataset_id {
        o.insert("datasetId".into(), Value::String(d.to_string()));
    }
    Value::Object(o)
}

/// The aggregated temporal form of one attribute series (§4.5.19,
/// `options=aggregatedValues`): `{"type": "Property", "avg": [[value, start, end], ...],
/// ...}`, one member per method in the order asked, one triple per period holding values
/// (a numeric method over a period without numbers writes no triple); `datasetId` when the
/// series has one. The numeric methods (sum, avg, min, max, stddev, sumsq) apply to
/// Properties only: other attribute types (a Relationship, a GeoProperty...) are counted
/// (`totalCount`, `distinctCount`) and get no member for the others, so that one request can
/// aggregate an entity holding both. A numeric method over a Property holding text values is
/// a BadRequestData error naming the attribute (`label`).
pub fn aggregated_values(
    label: &str,
    type_name: &str,
    dataset_id: Option<&str>,
    buckets: &[(Bucket, Accumulator)],
    methods: &[AggrMethod],
) -> Result<Value> {
    let mut o = Map::new();
    o.insert("type".into(), Value::String(type_name.to_string()));
    for &method in methods {
        if method.is_numeric() && type_name != "Property" {
            continue;
        }
        let mut triples = Vec::with_capacity(buckets.len());
        for (bucket, acc) in buckets {
            let result = acc.result(method).map_err(|e| {
                NgsiError::new(e.kind, format!("attribute '{label}': {}", e.detail))
            })?;
            if let Some(v) = result {
                triples.push(Value::Array(vec![
                    v.to_json(),
                    Value::String(format_datetime(&bucket.start)),
                    Value::String(format_datetime(&bucket.end)),
                ]));
            }
        }
        o.insert(method.as_str().into(), Value::Array(triples));
    }
    if let Some(d) = dataset_id {
        o.insert("datasetId".into(), Value::String(d.to_string()));
    }
    Ok(Value::Object(o))
}

/// Assembles a temporal entity: `id`, `type` (compacted with `ctx`, a string for one type)
/// and its attributes, `series` being `(expanded name, rendered series)` in order. The
/// series of one name are joined: arrays (normalized instances) are concatenated; objects
/// (simplified or aggregated, one per datasetId) stay one object when alone, else become an
/// array of them.
pub fn temporal_entity(
    id: &str,
    types: &[String],
    series: Vec<(String, Value)>,
    ctx: &Context,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), Value::String(id.to_string()));
    let mut compact: Vec<Value> = types
        .iter()
        .map(|t| Value::String(ctx.compact(t)))
        .collect();
    out.insert(
        "type".into(),
        if compact.len() == 1 {
            compact.remove(0)
        } else {
            Value::Array(compact)
        },
    );
    let mut grouped: Vec<(String, Vec<Value>, bool)> = Vec::new();
    for (name, value) in series {
        let position = match grouped.iter().position(|(n, _, _)| *n == name) {
            Some(p) => p,
            None => {
                grouped.push((name, Vec::new(), false));
                grouped.len() - 1
            }
        };
        let entry = &mut grouped[position];
        match value {
            Value::Array(items) => {
                entry.1.extend(items);
                entry.2 = true;
            }
            other => entry.1.push(other),
        }
    }
    for (name, mut values, is_array) in grouped {
        let member = if !is_array && values.len() == 1 {
            values.remove(0)
        } else {
            Value::Array(values)
        };
        out.insert(ctx.compact(&name), member);
    }
    out
}

/// A temporal entity as a client sends it to POST /temporal/entities: its id, types and
/// every attribute instance in payload order.
#[derive(Debug, Clone, PartialEq)]
pub struct TemporalEntity {
    /// The entity id.
    pub id: String,
    /// Expanded type IRIs, sorted.
    pub types: Vec<String>,
    /// `(expanded attribute name, instance)`, every instance with an `observedAt`.
    pub instances: Vec<(String, Attribute)>,
}

impl TemporalEntity {
    /// The entity whose attributes are the latest instance (by `observedAt`, the later in
    /// the payload on a tie) of each attribute and datasetId: the current state to create
    /// in the twin when the entity does not exist yet.
    pub fn latest_state(&self) -> Entity {
        let mut latest: BTreeMap<(&str, Option<&str>), &Attribute> = BTreeMap::new();
        for (name, a) in &self.instances {
            let key = (name.as_str(), a.dataset_id.as_deref());
            match latest.get(&key) {
                Some(current) if current.observed_at > a.observed_at => {}
                _ => {
                    latest.insert(key, a);
                }
            }
        }
        let mut e = Entity::new(self.id.clone(), String::new());
        e.types = self.types.clone();
        for ((name, _), a) in latest {
            e.attrs.entry(name.to_string()).or_default().push(a.clone());
        }
        e
    }
}

/// Whether an expanded member name belongs to the entity itself rather than naming an
/// attribute (`id`, `type`, `scope`, system times).
fn is_entity_member(iri: &str) -> bool {
    iri.starts_with('@')
        || matches!(
            iri.strip_prefix(NGSI_LD_NS),
            Some("scope" | "createdAt" | "modifiedAt" | "deletedAt")
        )
}

/// Splits a temporal payload into entity members and attributes with their instances, and
/// gives the payload of each round: round `k` holds the entity members and the `k`-th
/// instance of every attribute that has one, an ordinary entity payload the entity parser
/// checks.
fn rounds(json: &Value, ctx: &Context) -> Result<Vec<Value>> {
    let m = json.as_object().ok_or_else(|| {
        NgsiError::bad_data(
            "a temporal entity must be a JSON object with an id, a type and attributes, each \
             an array of instances with an observedAt",
        )
    })?;
    let mut head = Map::new();
    let mut attrs: Vec<(&String, Vec<&Value>)> = Vec::new();
    for (key, v) in m {
        if key == "@context" {
            continue;
        }
        let iri = if key.starts_with('@') {
            key.clone()
        } else {
            ctx.expand(key)
        };
        if is_entity_member(&iri) {
            head.insert(key.clone(), v.clone());
            continue;
        }
        let items: Vec<&Value> = match v {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        if items.is_empty() {
            return Err(NgsiError::bad_data(format!(
                "attribute '{key}' has no instance; give an array of at least one instance \
                 such as {{\"type\": \"Property\", \"value\": 12, \"observedAt\": \
                 \"2026-03-28T12:00:00Z\"}}, or leave the attribute out"
            )));
        }
        attrs.push((key, items));
    }
    let count = attrs.iter().map(|(_, i)| i.len()).max().unwrap_or(0);
    Ok((0..count.max(1))
        .map(|k| {
            let mut round = head.clone();
            for (key, items) in &attrs {
                if let Some(item) = items.get(k) {
                    round.insert((*key).clone(), (*item).clone());
                }
            }
            Value::Object(round)
        })
        .collect())
}

/// Attribute instances with their expanded names, in payload order.
type Instances = Vec<(String, Attribute)>;

/// Runs `parse` on every round of a temporal payload and collects the instances, each of
/// which must have an `observedAt`; errors say which instance is wrong.
fn parse_rounds<T>(
    json: &Value,
    ctx: &Context,
    parse: impl Fn(&Value) -> Result<(T, BTreeMap<String, Vec<Attribute>>)>,
) -> Result<(Vec<T>, Instances)> {
    let rounds = rounds(json, ctx)?;
    let several = rounds.len() > 1;
    let mut heads = Vec::with_capacity(rounds.len());
    let mut instances = Vec::new();
    for (k, round) in rounds.iter().enumerate() {
        let (head, attrs) = parse(round).map_err(|e| {
            if several {
                NgsiError::new(e.kind, format!("instance {}: {}", k + 1, e.detail))
            } else {
                e
            }
        })?;
        heads.push(head);
        for (name, list) in attrs {
            for a in list {
                if a.observed_at.is_none() {
                    return Err(NgsiError::bad_data(format!(
                        "instance {} of attribute '{}' has no observedAt; every instance of a \
                         temporal entity is placed in time by its observedAt: add one such as \
                         \"observedAt\": \"2026-03-28T12:00:00Z\"",
                        k + 1,
                        ctx.compact(&name)
                    )));
                }
                instances.push((name.clone(), a));
            }
        }
    }
    Ok((heads, instances))
}

/// Parses the body of POST /temporal/entities (§6.18.3.2): an entity whose attributes are
/// each an instance or an array of instances (normalized or concise form, several with the
/// same datasetId allowed), every instance with an `observedAt`. Names are expanded with
/// `ctx`; `id` and `type` are required.
pub fn parse_temporal_entity(json: &Value, ctx: &Context) -> Result<TemporalEntity> {
    let (heads, instances) = parse_rounds(json, ctx, |round| {
        let e = ngsi::parse_entity(round, ctx)?;
        Ok(((e.id, e.types), e.attrs))
    })?;
    let (id, types) = heads
        .into_iter()
        .next()
        .ok_or_else(|| NgsiError::bad_data("the temporal entity is empty"))?;
    Ok(TemporalEntity {
        id,
        types,
        instances,
    })
}

/// Parses the body of POST /temporal/entities/{id}/attrs (§6.20.3.1): attributes, each an
/// instance or an array of instances with an `observedAt`, as in
/// [`parse_temporal_entity`]; an `id` member, if present, must be `entity_id`. At least one
/// instance is required and null values are refused (the temporal API deletes with DELETE).
pub fn parse_temporal_attrs(
    json: &Value,
    entity_id: &str,
    ctx: &Context,
) -> Result<Vec<(String, Attribute)>> {
    let (_, instances) = parse_rounds(json, ctx, |round| {
        let f = ngsi::parse_fragment(round, ctx)?;
        if let Some(id) = f.id.as_deref().filter(|id| *id != entity_id) {
            return Err(NgsiError::bad_data(format!(
                "the body id {id} differs from the id {entity_id} in the path"
            )));
        }
        if let Some((name, _)) = f.nulls.first() {
            return Err(NgsiError::bad_data(format!(
                "attribute '{}' has a null instance; give each instance a value (instances are \
                 deleted with DELETE /temporal/entities/{{id}}/attrs/{{attr}})",
                ctx.compact(name)
            )));
        }
        Ok(((), f.attrs))
    })?;
    if instances.is_empty() {
        return Err(NgsiError::bad_data(
            "the body names no attribute instance; give at least one attribute with an array \
             of instances",
        ));
    }
    Ok(instances)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temporal::Accumulator;
    use crate::time::parse_datetime;
    use crate::ErrorKind;
    use serde_json::json;

    fn utc(s: &str) -> DateTime<Utc> {
        parse_datetime(s).expect("date")
    }

    fn speed(ctx: &Context) -> String {
        ctx.expand("speed")
    }

    #[test]
    fn parses_instances_with_repeated_dataset_ids() {
        let ctx = Context::core();
        let body = json!({
            "id": "urn:ngsi-ld:Vehicle:1",
            "type": "Vehicle",
            "speed": [
                {"type": "Property", "value": 80, "observedAt": "2026-03-28T10:00:00Z"},
                {"type": "Property", "value": 90, "observedAt": "2026-03-28T09:00:00Z"},
                {"value": 70, "observedAt": "2026-03-28T11:00:00Z"}
            ],
            "status": {"type": "Property", "value": "ok", "observedAt": "2026-03-28T09:30:00Z"}
        });
        let e = parse_temporal_entity(&body, &ctx).expect("valid");
        assert_eq!(e.id, "urn:ngsi-ld:Vehicle:1");
        assert_eq!(e.instances.len(), 4);
        let latest = e.latest_state();
        let a = latest.attr(&speed(&ctx)).expect("speed");
        assert_eq!(a.value, AttributeValue::Property(json!(70)));
        assert_eq!(latest.types, e.types);
    }

    #[test]
    fn refuses_instances_without_observed_at_or_with_wrong_types() {
        let ctx = Context::core();
        let no_time = json!({
            "id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle",
            "speed": [{"type": "Property", "value": 80, "observedAt": "2026-03-28T10:00:00Z"},
                      {"type": "Property", "value": 90}]
        });
        let e = parse_temporal_entity(&no_time, &ctx).expect_err("no observedAt");
        assert_eq!(e.kind, ErrorKind::BadRequestData);
        assert!(
            e.detail
                .contains("instance 2 of attribute 'speed' has no observedAt"),
            "{}",
            e.detail
        );
        let bad_type = json!({
            "id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle",
            "speed": [{"type": "Propriété", "value": 80, "observedAt": "2026-03-28T10:00:00Z"}]
        });
        let e = parse_temporal_entity(&bad_type, &ctx).expect_err("bad type");
        assert!(e.detail.contains("Propriété"), "{}", e.detail);
        let bad_time = json!({
            "id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle",
            "speed": [{"type": "Property", "value": 1, "observedAt": "2026-03-28T10:00:00Z"},
                      {"type": "Property", "value": 80, "observedAt": "hier"}]
        });
        let e = parse_temporal_entity(&bad_time, &ctx).expect_err("bad time");
        assert!(
            e.detail.starts_with("instance 2:") && e.detail.contains("hier"),
            "{}",
            e.detail
        );
        let e =
            parse_temporal_entity(&json!({"id": "urn:a:b", "speed": []}), &ctx).expect_err("empty");
        assert!(e.detail.contains("no instance"), "{}", e.detail);
        let e = parse_temporal_attrs(&json!({"speed": null}), "urn:a:b", &ctx).expect_err("null");
        assert!(e.detail.contains("null instance"), "{}", e.detail);
        let e = parse_temporal_attrs(&json!({}), "urn:a:b", &ctx).expect_err("empty");
        assert!(e.detail.contains("no attribute instance"), "{}", e.detail);
    }

    #[test]
    fn renders_the_three_representations() {
        let ctx = Context::core();
        let mut a1 = Attribute::new(AttributeValue::Property(json!(12)));
        a1.observed_at = Some(utc("2026-03-28T10:00:00Z"));
        a1.unit_code = Some("CEL".into());
        let mut a2 = a1.clone();
        a2.value = AttributeValue::Property(json!(14));
        a2.observed_at = Some(utc("2026-03-28T11:00:00Z"));
        let stored = utc("2026-03-29T00:00:00Z");
        let list = [
            InstanceRef {
                instance_id: "urn:ngsi-ld:Instance:1",
                attribute: &a1,
                created_at: stored,
            },
            InstanceRef {
                instance_id: "urn:ngsi-ld:Instance:2",
                attribute: &a2,
                created_at: stored,
            },
        ];
        let name = speed(&ctx);
        let normalized = normalized_instances(&name, &list, &ctx, &RenderOptions::default());
        assert_eq!(
            normalized[0],
            json!({"type": "Property", "value": 12, "observedAt": "2026-03-28T10:00:00Z",
                   "unitCode": "CEL", "instanceId": "urn:ngsi-ld:Instance:1"})
        );
        let simplified = temporal_values(None, &list, TimeProperty::ObservedAt, &ctx);
        assert_eq!(
            simplified,
            json!({"type": "Property", "values": [[12, "2026-03-28T10:00:00Z"],
                                                  [14, "2026-03-28T11:00:00Z"]]})
        );
        let mut acc = Accumulator::for_methods(&[AggrMethod::Sum]);
        acc.add(&json!(12));
        acc.add(&json!(14));
        let bucket = Bucket {
            start: utc("2026-03-28T00:00:00Z"),
            end: utc("2026-03-29T00:00:00Z"),
        };
        let aggregated = aggregated_values(
            "speed",
            "Property",
            Some("urn:d"),
            &[(bucket, acc)],
            &[AggrMethod::Sum, AggrMethod::TotalCount],
        )
        .expect("numbers");
        assert_eq!(
            aggregated,
            json!({"type": "Property",
                   "sum": [[26, "2026-03-28T00:00:00Z", "2026-03-29T00:00:00Z"]],
                   "totalCount": [[2, "2026-03-28T00:00:00Z", "2026-03-29T00:00:00Z"]],
                   "datasetId": "urn:d"})
        );
        let entity = temporal_entity(
            "urn:ngsi-ld:Vehicle:1",
            &[ctx.expand("Vehicle")],
            vec![
                (name.clone(), Value::Array(normalized[..1].to_vec())),
                (name.clone(), Value::Array(normalized[1..].to_vec())),
            ],
            &ctx,
        );
        assert_eq!(entity["type"], json!("Vehicle"));
        assert_eq!(entity["speed"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn text_is_not_aggregated() {
        let mut acc = Accumulator::for_methods(&[AggrMethod::Avg]);
        acc.add(&json!("on"));
        let bucket = Bucket {
            start: utc("2026-03-28T00:00:00Z"),
            end: utc("2026-03-29T00:00:00Z"),
        };
        let e = aggregated_values(
            "status",
            "Property",
            None,
            &[(bucket, acc)],
            &[AggrMethod::Avg],
        )
        .expect_err("text");
        let mut acc = Accumulator::for_methods(&[AggrMethod::Avg]);
        acc.add(&json!("urn:ngsi-ld:Person:p1"));
        let counted = aggregated_values(
            "driver",
            "Relationship",
            None,
            &[(bucket, acc)],
            &[AggrMethod::TotalCount, AggrMethod::Avg],
        )
        .expect("a relationship is counted");
        assert_eq!(
            counted,
            json!({"type": "Relationship",
                   "totalCount": [[1, "2026-03-28T00:00:00Z", "2026-03-29T00:00:00Z"]]})
        );
        assert_eq!(e.kind, ErrorKind::BadRequestData);
        assert!(
            e.detail
                .starts_with("attribute 'status': aggregation of text values"),
            "{}",
            e.detail
        );
    }
}
