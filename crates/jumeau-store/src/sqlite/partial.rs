//! Writes that touch a few attributes of a stored entity without decoding the others.
//!
//! A reading changes one attribute of an entity that may hold ten. Decoding the whole
//! stored document and encoding it again took about a third of the writer's work per
//! update, for attributes that come out unchanged. Here the document is parsed only as far
//! as its own fields and the attributes the operation names; every other attribute stays
//! the JSON text it was and is copied back as is. The result is the document a whole
//! decode and encode would give, byte for byte (tested below).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use jumeau_model::{Attribute, AttributeValue, Entity};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::WriteOp;

/// The names of the attributes `op` reads and writes on an existing entity, when they are
/// all it touches: `None` for operations on the whole entity (create, replace, delete,
/// restore) and for operations that carry a geometry, whose spatial index rows are
/// rewritten from the whole entity.
pub(super) fn touched_names(op: &WriteOp) -> Option<Vec<String>> {
    fn names(attrs: &BTreeMap<String, Vec<Attribute>>) -> Option<Vec<String>> {
        if attrs.values().flatten().any(is_geo) {
            return None;
        }
        Some(attrs.keys().cloned().collect())
    }
    match op {
        WriteOp::Upsert {
            entity,
            replace: false,
        } => names(&entity.attrs),
        WriteOp::AppendAttrs { attrs, .. } | WriteOp::UpdateAttrs { attrs, .. } => names(attrs),
        WriteOp::PatchAttr { name, attr, .. } | WriteOp::ReplaceAttr { name, attr, .. } => {
            (!is_geo(attr)).then(|| vec![name.clone()])
        }
        WriteOp::Merge {
            attrs, deletions, ..
        } => {
            let mut touched = names(attrs)?;
            touched.extend(deletions.iter().map(|(name, _)| name.clone()));
            Some(touched)
        }
        WriteOp::DeleteAttr { name, .. } => Some(vec![name.clone()]),
        _ => None,
    }
}

fn is_geo(a: &Attribute) -> bool {
    matches!(a.value, AttributeValue::GeoProperty(_))
}

/// A stored entity document parsed down to its own fields, each attribute left as text.
/// Its fields mirror [`Entity`]'s serialised form.
#[derive(Deserialize)]
pub(super) struct Shell<'a> {
    /// Moved to the decoded part by [`read`].
    id: String,
    types: Vec<String>,
    #[serde(default)]
    scope: Option<Vec<String>>,
    #[serde(borrow, default)]
    attrs: BTreeMap<&'a str, &'a RawValue>,
    #[serde(default, with = "chrono::serde::ts_microseconds_option")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, with = "chrono::serde::ts_microseconds_option")]
    modified_at: Option<DateTime<Utc>>,
}

/// Parses `doc` and decodes the attributes named in `names`, giving the entity with only
/// those attributes. `None` when this document cannot be handled in part: it does not
/// parse this way (an attribute name written with escapes), or one of the named attributes
/// holds a geometry; the caller then decodes the whole document.
pub(super) fn read<'a>(doc: &'a str, names: &[String]) -> Option<(Shell<'a>, Entity)> {
    let mut shell: Shell<'a> = serde_json::from_str(doc).ok()?;
    let mut attrs = BTreeMap::new();
    for name in names {
        let Some(raw) = shell.attrs.get(name.as_str()) else {
            continue;
        };
        let mut instances: Vec<Attribute> = serde_json::from_str(raw.get()).ok()?;
        if instances.iter().any(is_geo) {
            return None;
        }
        instances.shrink_to_fit();
        attrs.insert(name.clone(), instances);
    }
    // The write gives the entity's own fields back in full: `splice` takes them from there.
    let part = Entity {
        id: std::mem::take(&mut shell.id),
        types: std::mem::take(&mut shell.types),
        scope: shell.scope.take(),
        attrs,
        created_at: shell.created_at,
        modified_at: shell.modified_at,
    };
    Some((shell, part))
}

/// One attribute of a spliced document: copied from the stored text, or encoded anew.
enum Slot<'a> {
    Kept(&'a RawValue),
    Written(&'a Vec<Attribute>),
}

/// The stored document of `new`, which holds the entity's own fields and the touched
/// attributes (`names`) as the write left them; every other attribute is copied from
/// `old`, name and value, as the text it was.
///
/// Written here rather than through serde because most of it is copying: the fields and
/// their order are those of [`Entity`]'s serialised form, and the result is the document
/// `serde_json::to_string` gives for the whole entity, byte for byte (tested below). The
/// name of a copied attribute was read without escapes (see [`Shell`]), so it is written
/// back between quotes as it is.
pub(super) fn splice(
    old: &Shell<'_>,
    names: &[String],
    new: &Entity,
) -> serde_json::Result<String> {
    let mut attrs: BTreeMap<&str, Slot<'_>> = old
        .attrs
        .iter()
        .filter(|(name, _)| !names.iter().any(|n| n == *name))
        .map(|(name, raw)| (*name, Slot::Kept(raw)))
        .collect();
    for (name, instances) in &new.attrs {
        attrs.insert(name.as_str(), Slot::Written(instances));
    }
    let size = old
        .attrs
        .values()
        .map(|raw| raw.get().len() + 80)
        .sum::<usize>()
        + 256;
    let mut out: Vec<u8> = Vec::with_capacity(size);
    out.extend_from_slice(b"{\"id\":");
    serde_json::to_writer(&mut out, &new.id)?;
    out.extend_from_slice(b",\"types\":");
    serde_json::to_writer(&mut out, &new.types)?;
    if let Some(scope) = &new.scope {
        out.extend_from_slice(b",\"scope\":");
        serde_json::to_writer(&mut out, scope)?;
    }
    if !attrs.is_empty() {
        out.extend_from_slice(b",\"attrs\":{");
        for (i, (name, slot)) in attrs.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match slot {
                Slot::Kept(raw) => {
                    out.push(b'"');
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b"\":");
                    out.extend_from_slice(raw.get().as_bytes());
                }
                Slot::Written(instances) => {
                    serde_json::to_writer(&mut out, name)?;
                    out.push(b':');
                    serde_json::to_writer(&mut out, instances)?;
                }
            }
        }
        out.push(b'}');
    }
    for (field, time) in [
        (&b",\"created_at\":"[..], new.created_at),
        (&b",\"modified_at\":"[..], new.modified_at),
    ] {
        if let Some(t) = time {
            out.extend_from_slice(field);
            out.extend_from_slice(t.timestamp_micros().to_string().as_bytes());
        }
    }
    out.push(b'}');
    String::from_utf8(out)
        .map_err(|e| serde::ser::Error::custom(format!("a spliced document is not UTF-8 ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::apply;
    use jumeau_geo::Geometry;
    use serde_json::json;

    const NS: &str = "https://smartdatamodels.org/dataModel.Streetlighting/";

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap_or_default()
    }

    fn prop(v: serde_json::Value) -> Vec<Attribute> {
        vec![Attribute::new(AttributeValue::Property(v))]
    }

    fn name(n: &str) -> String {
        format!("{NS}{n}")
    }

    /// A stored street light with several kinds of attributes, a geometry among them.
    fn stored() -> Entity {
        let mut e = Entity::new("urn:ngsi-ld:Streetlight:1", name("Streetlight"));
        e.attrs.insert(name("status"), prop(json!("ok")));
        e.attrs.insert(name("powerRating"), {
            let mut a = prop(json!(70));
            a[0].unit_code = Some("WTT".into());
            a
        });
        e.attrs.insert(name("dimmingLevel"), {
            let mut a = prop(json!(100));
            a.push(Attribute {
                dataset_id: Some("urn:ngsi-ld:Dataset:b".into()),
                ..Attribute::new(AttributeValue::Property(json!(40)))
            });
            a
        });
        e.attrs.insert(
            name("note"),
            prop(json!({"texte": "lampe \"ancienne\" \u{e9}\\", "liste": [1, 2.5, null]})),
        );
        let point = Geometry::from_geojson(&json!({"type": "Point", "coordinates": [5.72, 45.18]}))
            .expect("a valid point");
        e.attrs.insert(
            "location".into(),
            vec![Attribute::new(AttributeValue::GeoProperty(point))],
        );
        e.scope = Some(vec!["/Eclairage/Zone \"1\"".into()]);
        jumeau_model::ops::stamp_new(&mut e, at(1_700_000_000));
        e
    }

    fn reading(value: i64) -> BTreeMap<String, Vec<Attribute>> {
        BTreeMap::from([(name("dimmingLevel"), prop(json!(value)))])
    }

    /// Every operation that can be applied in part gives, applied in part and spliced, the
    /// very document (and outcome) the whole decode, apply and encode gives.
    #[test]
    fn a_write_in_part_gives_the_document_of_a_whole_write() {
        let id = "urn:ngsi-ld:Streetlight:1".to_string();
        let mut upsert = Entity::new(id.clone(), name("Streetlight"));
        upsert.types.push(name("Device"));
        upsert.attrs = reading(30);
        let mut new_attr = reading(55);
        new_attr.insert(name("colour"), prop(json!("3000K")));
        let ops = vec![
            WriteOp::Upsert {
                entity: upsert,
                replace: false,
            },
            WriteOp::AppendAttrs {
                id: id.clone(),
                attrs: new_attr.clone(),
                no_overwrite: false,
            },
            WriteOp::AppendAttrs {
                id: id.clone(),
                attrs: new_attr,
                no_overwrite: true,
            },
            WriteOp::UpdateAttrs {
                id: id.clone(),
                attrs: reading(20),
            },
            WriteOp::UpdateAttrs {
                id: id.clone(),
                attrs: BTreeMap::from([(name("missing"), prop(json!(1)))]),
            },
            WriteOp::PatchAttr {
                id: id.clone(),
                name: name("powerRating"),
                attr: Attribute::new(AttributeValue::Property(json!(35))),
            },
            WriteOp::ReplaceAttr {
                id: id.clone(),
                name: name("status"),
                attr: Attribute::new(AttributeValue::Property(json!("panne"))),
            },
            WriteOp::Merge {
                id: id.clone(),
                attrs: reading(10),
                deletions: vec![(name("note"), None), (name("missing"), None)],
                types: Some(vec![name("Lamp")]),
            },
            WriteOp::DeleteAttr {
                id: id.clone(),
                name: name("dimmingLevel"),
                dataset_id: Some("urn:ngsi-ld:Dataset:b".into()),
                delete_all: false,
            },
            WriteOp::DeleteAttr {
                id,
                name: name("status"),
                dataset_id: None,
                delete_all: true,
            },
        ];
        let old = stored();
        let doc = serde_json::to_string(&old).expect("encodes");
        let now = at(1_700_000_100);
        for op in ops {
            let names = touched_names(&op).expect("an operation on some attributes");
            let whole = apply(op.clone(), Some(old.clone()), now).map(|a| a.written.into_parts());
            let (shell, part) = read(&doc, &names).expect("the document parses in part");
            let in_part = apply(op.clone(), Some(part), now).map(|a| a.written.into_parts());
            assert_eq!(
                whole.is_ok(),
                in_part.is_ok(),
                "{op:?}: {whole:?} against {in_part:?}"
            );
            match (whole, in_part) {
                (Ok((outcome, _, after)), Ok((part_outcome, _, part_after))) => {
                    assert_eq!(outcome, part_outcome, "{op:?}");
                    let spliced = part_after.map(|a| splice(&shell, &names, &a).expect("encodes"));
                    let expected = after.map(|a| serde_json::to_string(&a).expect("encodes"));
                    assert!(expected.is_some(), "{op:?} leaves the entity");
                    assert_eq!(spliced, expected, "{op:?}");
                }
                (whole, in_part) => {
                    assert_eq!(whole.err(), in_part.err(), "{op:?}");
                }
            }
        }
    }

    #[test]
    fn geometries_and_whole_entity_operations_are_not_written_in_part() {
        let point = Geometry::from_geojson(&json!({"type": "Point", "coordinates": [5.7, 45.1]}))
            .expect("a valid point");
        let geo = BTreeMap::from([(
            "location".to_string(),
            vec![Attribute::new(AttributeValue::GeoProperty(point))],
        )]);
        let id = "urn:ngsi-ld:Streetlight:1".to_string();
        for op in [
            WriteOp::UpdateAttrs {
                id: id.clone(),
                attrs: geo,
            },
            WriteOp::Replace(stored()),
            WriteOp::Upsert {
                entity: stored(),
                replace: true,
            },
            WriteOp::Delete { id: id.clone() },
        ] {
            assert!(touched_names(&op).is_none(), "{op:?}");
        }
        // A bare value patched into a stored geometry turns into a geometry.
        let doc = serde_json::to_string(&stored()).expect("encodes");
        assert!(read(&doc, &["location".to_string()]).is_none());
        assert!(read(&doc, &[name("status")]).is_some());
    }

    #[test]
    fn a_document_that_does_not_parse_in_part_is_left_to_the_whole_decode() {
        let mut e = stored();
        e.attrs.insert("urn:x:\"quoted\"".into(), prop(json!(1)));
        let doc = serde_json::to_string(&e).expect("encodes");
        assert!(read(&doc, &[name("status")]).is_none());
    }
}
