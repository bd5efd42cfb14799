//! The NGSI-LD update semantics (ETSI GS CIM 009 §5.6), as pure functions on entities.
//!
//! Store engines call these inside their transactions (read, apply, write), so every engine
//! gives the same answer to append, update, merge, replace and delete.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::entity::RelObject;
use crate::{Attribute, AttributeValue, Entity, NgsiError, Result};

/// Attributes by expanded name, each with its instances.
pub type AttrMap = BTreeMap<String, Vec<Attribute>>;

/// An attribute that a partial operation left untouched, and why (the `notUpdated` member
/// of an NGSI-LD UpdateResult).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotUpdated {
    /// Expanded attribute name.
    pub attr: String,
    /// Why it was not updated.
    pub reason: String,
}

/// What a partial update did (the NGSI-LD UpdateResult).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateResult {
    /// Expanded names of the attributes written.
    pub updated: Vec<String>,
    /// Attributes left untouched, with the reason.
    pub not_updated: Vec<NotUpdated>,
}

/// Stamps a newly created entity: createdAt and modifiedAt on it and on every attribute.
pub fn stamp_new(e: &mut Entity, now: DateTime<Utc>) {
    e.created_at = Some(now);
    e.modified_at = Some(now);
    for instances in e.attrs.values_mut() {
        for a in instances {
            a.created_at = None;
            a.stamp(now, now);
        }
    }
    e.normalize_types();
}

/// Where an instance with the same datasetId sits in a list of instances.
fn instance_index(list: &[Attribute], dataset_id: Option<&str>) -> Option<usize> {
    list.iter()
        .position(|a| a.dataset_id.as_deref() == dataset_id)
}

/// Puts `new` in place of the instance with the same datasetId (keeping its createdAt), or
/// appends it.
fn put_instance(list: &mut Vec<Attribute>, mut new: Attribute, now: DateTime<Utc>) {
    match instance_index(list, new.dataset_id.as_deref()) {
        Some(i) => {
            new.created_at = list[i].created_at;
            new.stamp(now, now);
            list[i] = new;
        }
        None => {
            new.created_at = None;
            new.stamp(now, now);
            list.push(new);
        }
    }
}

/// Append Entity Attributes (§5.6.3, POST /entities/{id}/attrs; batch update and upsert
/// with `update`): adds the attributes, overwriting existing instances unless
/// `no_overwrite`, in which case existing instances are reported as not updated.
pub fn append_attrs(
    e: &mut Entity,
    attrs: AttrMap,
    no_overwrite: bool,
    now: DateTime<Utc>,
) -> UpdateResult {
    let mut result = UpdateResult::default();
    for (name, instances) in attrs {
        let list = e.attrs.entry(name.clone()).or_default();
        let mut wrote = false;
        for inst in instances {
            let exists = instance_index(list, inst.dataset_id.as_deref()).is_some();
            if exists && no_overwrite {
                result.not_updated.push(NotUpdated {
                    attr: name.clone(),
                    reason: "the attribute exists and noOverwrite was asked".into(),
                });
                continue;
            }
            put_instance(list, inst, now);
            wrote = true;
        }
        if wrote {
            result.updated.push(name);
        }
    }
    if !result.updated.is_empty() {
        e.modified_at = Some(now);
    }
    result
}

/// Update Entity Attributes (§5.6.2, PATCH /entities/{id}/attrs): replaces only the
/// instances that already exist; others are reported as not updated.
pub fn update_attrs(e: &mut Entity, attrs: AttrMap, now: DateTime<Utc>) -> UpdateResult {
    let mut result = UpdateResult::default();
    for (name, instances) in attrs {
        let Some(list) = e.attrs.get_mut(&name) else {
            result.not_updated.push(NotUpdated {
                attr: name,
                reason: "the entity has no such attribute; use POST /entities/{id}/attrs to add it"
                    .into(),
            });
            continue;
        };
        let mut wrote = false;
        for inst in instances {
            if instance_index(list, inst.dataset_id.as_deref()).is_none() {
                result.not_updated.push(NotUpdated {
                    attr: name.clone(),
                    reason: format!(
                        "the attribute has no instance with datasetId {}",
                        inst.dataset_id.as_deref().unwrap_or("(default)")
                    ),
                });
                continue;
            }
            put_instance(list, inst, now);
            wrote = true;
        }
        if wrote {
            result.updated.push(name);
        }
    }
    if !result.updated.is_empty() {
        e.modified_at = Some(now);
    }
    result
}

/// Merges one attribute instance into an existing one (JSON merge-patch semantics of
/// §5.6.17 and the partial attribute update of §5.6.4): the value and every metadata field
/// given replace the old ones, sub-attributes are merged, absent fields are kept.
fn merge_instance(old: &mut Attribute, new: Attribute, now: DateTime<Utc>) {
    old.value = new.value;
    if new.observed_at.is_some() {
        old.observed_at = new.observed_at;
    }
    if new.unit_code.is_some() {
        old.unit_code = new.unit_code;
    }
    for (name, subs) in new.sub {
        let list = old.sub.entry(name).or_default();
        for s in subs {
            match instance_index(list, s.dataset_id.as_deref()) {
                Some(i) => merge_instance(&mut list[i], s, now),
                None => put_instance(list, s, now),
            }
        }
    }
    old.modified_at = Some(now);
}

/// Partial Attribute Update (§5.6.4, PATCH /entities/{id}/attrs/{attrId}): merges into the
/// existing instance with the same datasetId; the attribute must exist.
pub fn patch_attr(e: &mut Entity, name: &str, new: Attribute, now: DateTime<Utc>) -> Result<()> {
    let list = e
        .attrs
        .get_mut(name)
        .ok_or_else(|| NgsiError::not_found(format!("entity {} has no attribute {name}", e.id)))?;
    let i = instance_index(list, new.dataset_id.as_deref()).ok_or_else(|| {
        NgsiError::not_found(format!(
            "attribute {name} of entity {} has no instance with datasetId {}",
            e.id,
            new.dataset_id.as_deref().unwrap_or("(default)")
        ))
    })?;
    if std::mem::discriminant(&list[i].value) != std::mem::discriminant(&new.value)
        && !matches!(new.value, AttributeValue::Property(_))
    {
        return Err(NgsiError::bad_data(format!(
            "attribute {name} is a {}; a partial update cannot turn it into a {} (use PUT to replace it)",
            list[i].value.type_name(),
            new.value.type_name()
        )));
    }
    if matches!(new.value, AttributeValue::Property(_))
        && !matches!(list[i].value, AttributeValue::Property(_))
    {
        // A bare value in a partial update keeps the attribute's own type.
        let mut typed = new;
        typed.value = retype_value(&list[i].value, typed.value)?;
        merge_instance(&mut list[i], typed, now);
    } else {
        merge_instance(&mut list[i], new, now);
    }
    e.modified_at = Some(now);
    Ok(())
}

/// Turns a bare value given in a partial update into the attribute type it updates.
fn retype_value(old: &AttributeValue, new: AttributeValue) -> Result<AttributeValue> {
    let AttributeValue::Property(v) = new else {
        return Ok(new);
    };
    Ok(match old {
        AttributeValue::Relationship(_) => match &v {
            Value::String(s) => {
                crate::entity::validate_uri(s).map_err(NgsiError::bad_data)?;
                AttributeValue::Relationship(RelObject::One(s.clone()))
            }
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(NgsiError::bad_data(
                        "a Relationship object array must hold at least one URI",
                    ));
                }
                let mut uris = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let Some(s) = item.as_str() else {
                        return Err(NgsiError::bad_data(format!(
                            "a Relationship object array holds URI strings; object[{i}] is \
                             {item}"
                        )));
                    };
                    crate::entity::validate_uri(s).map_err(|e| {
                        NgsiError::bad_data(format!("Relationship object[{i}]: {e}"))
                    })?;
                    uris.push(s.to_string());
                }
                AttributeValue::Relationship(RelObject::Many(uris))
            }
            _ => {
                return Err(NgsiError::bad_data(
                    "a Relationship object must be a URI string or an array of URI strings",
                ))
            }
        },
        AttributeValue::GeoProperty(_) => AttributeValue::GeoProperty(
            jumeau_geo::Geometry::from_geojson(&v).map_err(NgsiError::from)?,
        ),
        AttributeValue::JsonProperty(_) => AttributeValue::JsonProperty(v),
        _ => AttributeValue::Property(v),
    })
}

/// Replace Attribute (§5.6.19, PUT /entities/{id}/attrs/{attrId}): the instance with the
/// same datasetId is replaced whole; the attribute must exist.
pub fn replace_attr(e: &mut Entity, name: &str, new: Attribute, now: DateTime<Utc>) -> Result<()> {
    let list = e
        .attrs
        .get_mut(name)
        .ok_or_else(|| NgsiError::not_found(format!("entity {} has no attribute {name}", e.id)))?;
    if instance_index(list, new.dataset_id.as_deref()).is_none() {
        return Err(NgsiError::not_found(format!(
            "attribute {name} of entity {} has no instance with datasetId {}",
            e.id,
            new.dataset_id.as_deref().unwrap_or("(default)")
        )));
    }
    put_instance(list, new, now);
    e.modified_at = Some(now);
    Ok(())
}

/// Merge Entity (§5.6.17, PATCH /entities/{id}): attributes given are merged into the
/// existing ones or added; the names in `deletions` (with their datasetId) are removed;
/// `types`, when given, are added to the entity's types.
pub fn merge_entity(
    e: &mut Entity,
    attrs: AttrMap,
    deletions: &[(String, Option<String>)],
    types: Option<Vec<String>>,
    now: DateTime<Utc>,
) -> UpdateResult {
    let mut result = UpdateResult::default();
    for (name, instances) in attrs {
        let list = e.attrs.entry(name.clone()).or_default();
        for inst in instances {
            match instance_index(list, inst.dataset_id.as_deref()) {
                Some(i) => merge_instance(&mut list[i], inst, now),
                None => put_instance(list, inst, now),
            }
        }
        result.updated.push(name);
    }
    for (name, dataset_id) in deletions {
        match delete_attr(e, name, dataset_id.as_deref(), false) {
            Ok(()) => result.updated.push(name.clone()),
            Err(err) => result.not_updated.push(NotUpdated {
                attr: name.clone(),
                reason: err.detail,
            }),
        }
    }
    if let Some(types) = types {
        e.types.extend(types);
        e.normalize_types();
    }
    e.modified_at = Some(now);
    result
}

/// Replace Entity (§5.6.18, PUT /entities/{id}): everything but the id and createdAt is
/// replaced by `new`.
pub fn replace_entity(old: &Entity, mut new: Entity, now: DateTime<Utc>) -> Entity {
    stamp_new(&mut new, now);
    new.created_at = old.created_at;
    new
}

/// Delete Attribute (§5.6.5, DELETE /entities/{id}/attrs/{attrId}): removes the instance
/// with this datasetId, or every instance with `delete_all`.
pub fn delete_attr(
    e: &mut Entity,
    name: &str,
    dataset_id: Option<&str>,
    delete_all: bool,
) -> Result<()> {
    let Some(list) = e.attrs.get_mut(name) else {
        return Err(NgsiError::not_found(format!(
            "entity {} has no attribute {name}",
            e.id
        )));
    };
    if delete_all {
        e.attrs.remove(name);
        return Ok(());
    }
    let i = instance_index(list, dataset_id).ok_or_else(|| {
        NgsiError::not_found(format!(
            "attribute {name} of entity {} has no instance with datasetId {}",
            e.id,
            dataset_id.unwrap_or("(default)")
        ))
    })?;
    list.remove(i);
    if list.is_empty() {
        e.attrs.remove(name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prop(v: serde_json::Value) -> Attribute {
        Attribute::new(AttributeValue::Property(v))
    }

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap_or_default()
    }

    fn lamp() -> Entity {
        let mut e = Entity::new("urn:ngsi-ld:Streetlight:1", "https://ex.org/Streetlight");
        e.attrs.insert("p".into(), vec![prop(json!(100))]);
        stamp_new(&mut e, t(10));
        e
    }

    #[test]
    fn append_overwrites_unless_asked_not_to() {
        let mut e = lamp();
        let attrs = AttrMap::from([
            ("p".into(), vec![prop(json!(50))]),
            ("q".into(), vec![prop(json!(1))]),
        ]);
        let r = append_attrs(&mut e, attrs.clone(), true, t(20));
        assert_eq!(r.updated, vec!["q".to_string()]);
        assert_eq!(r.not_updated.len(), 1);
        assert_eq!(
            e.attr("p").map(|a| &a.value),
            Some(&AttributeValue::Property(json!(100)))
        );
        let r = append_attrs(&mut e, attrs, false, t(30));
        assert_eq!(r.updated.len(), 2);
        let p = e.attr("p").cloned().unwrap_or_else(|| prop(json!(null)));
        assert_eq!(p.value, AttributeValue::Property(json!(50)));
        assert_eq!(p.created_at, Some(t(10)), "createdAt survives an overwrite");
        assert_eq!(p.modified_at, Some(t(30)));
    }

    #[test]
    fn update_touches_only_existing_attributes() {
        let mut e = lamp();
        let attrs = AttrMap::from([
            ("p".into(), vec![prop(json!(7))]),
            ("x".into(), vec![prop(json!(1))]),
        ]);
        let r = update_attrs(&mut e, attrs, t(20));
        assert_eq!(r.updated, vec!["p".to_string()]);
        assert_eq!(r.not_updated[0].attr, "x");
        assert!(!e.attrs.contains_key("x"));
    }

    #[test]
    fn merge_keeps_metadata_and_deletes_nulls() {
        let mut e = lamp();
        if let Some(list) = e.attrs.get_mut("p") {
            list[0].unit_code = Some("WTT".into());
        }
        let r = merge_entity(
            &mut e,
            AttrMap::from([("p".into(), vec![prop(json!(60))])]),
            &[("missing".into(), None)],
            None,
            t(20),
        );
        assert_eq!(r.updated, vec!["p".to_string()]);
        assert_eq!(r.not_updated.len(), 1);
        let p = e.attr("p").cloned().unwrap_or_else(|| prop(json!(null)));
        assert_eq!(p.unit_code.as_deref(), Some("WTT"));
        assert_eq!(p.value, AttributeValue::Property(json!(60)));
        merge_entity(&mut e, AttrMap::new(), &[("p".into(), None)], None, t(30));
        assert!(e.attrs.is_empty());
    }

    #[test]
    fn datasets_are_separate_instances() {
        let mut e = lamp();
        let mut second = prop(json!(3));
        second.dataset_id = Some("urn:ngsi-ld:Dataset:b".into());
        append_attrs(
            &mut e,
            AttrMap::from([("p".into(), vec![second])]),
            false,
            t(20),
        );
        assert_eq!(e.attrs["p"].len(), 2);
        assert!(delete_attr(&mut e, "p", Some("urn:ngsi-ld:Dataset:c"), false).is_err());
        assert!(delete_attr(&mut e, "p", Some("urn:ngsi-ld:Dataset:b"), false).is_ok());
        assert_eq!(e.attrs["p"].len(), 1);
        assert!(delete_attr(&mut e, "p", None, true).is_ok());
        assert!(e.attrs.is_empty());
    }

    #[test]
    fn partial_update_keeps_relationship_type() {
        let mut e = lamp();
        e.attrs.insert(
            "r".into(),
            vec![Attribute::new(AttributeValue::Relationship(
                "urn:a:b".into(),
            ))],
        );
        assert!(patch_attr(&mut e, "r", prop(json!("urn:c:d")), t(20)).is_ok());
        assert_eq!(
            e.attr("r").map(|a| &a.value),
            Some(&AttributeValue::Relationship("urn:c:d".into()))
        );
        assert!(patch_attr(&mut e, "r", prop(json!("not a uri")), t(20)).is_err());
        // A bare array of URIs gives the Relationship several objects.
        assert!(patch_attr(&mut e, "r", prop(json!(["urn:c:d", "urn:c:e"])), t(21)).is_ok());
        assert_eq!(
            e.attr("r").map(|a| &a.value),
            Some(&AttributeValue::Relationship(RelObject::Many(vec![
                "urn:c:d".into(),
                "urn:c:e".into()
            ])))
        );
        for bad in [
            json!([]),
            json!(["urn:c:d", "nope"]),
            json!(["urn:c:d", 3]),
            json!(4),
        ] {
            let err = patch_attr(&mut e, "r", prop(bad.clone()), t(22)).expect_err("invalid");
            assert_eq!(err.kind, crate::ErrorKind::BadRequestData, "{bad}");
        }
        assert!(
            matches!(&e.attr("r").map(|a| &a.value), Some(AttributeValue::Relationship(o)) if o.is_many())
        );
        assert!(patch_attr(&mut e, "zzz", prop(json!(1)), t(20)).is_err());
    }

    #[test]
    fn replace_keeps_creation_time() {
        let old = lamp();
        let new = Entity::new("urn:ngsi-ld:Streetlight:1", "https://ex.org/Other");
        let r = replace_entity(&old, new, t(99));
        assert_eq!(r.created_at, Some(t(10)));
        assert_eq!(r.modified_at, Some(t(99)));
        assert!(r.attrs.is_empty());
    }
}
