//! Engine-neutral index rows derived from entities.
//!
//! SQL engines keep one row per scalar value of every top-level attribute instance, so that
//! most `q` terms become index lookups (see [`crate::sqlite::qsql`]). The values are the ones
//! the query language compares ([`value_scalars`]), classified so that a lookup can pick
//! numbers, strings, booleans or date-times. Every attribute instance yields at least one
//! row, so "the attribute exists" is a lookup too.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use jumeau_model::query::q::{parse_temporal, value_scalars, ValueScalar};
use jumeau_model::{Attribute, AttributeValue, Entity};

/// The kind of an index row, stored in SQL as a stable one-letter code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// A JSON number; `num` holds it.
    Number,
    /// A string that is not a date or date-time; `txt` holds it.
    Text,
    /// A boolean; `num` holds 0 or 1.
    Bool,
    /// A string (or typed literal) that is an RFC 3339 date-time or a `YYYY-MM-DD` date:
    /// `num` holds the instant (a date: midnight UTC) as [`datetime_num`], `txt` the string.
    DateTime,
    /// A relationship object URI; `txt` holds it.
    Relationship,
    /// No scalar value (object, GeoProperty, null, empty array): the row only records that
    /// the attribute exists.
    Other,
}

impl ValueKind {
    /// The one-letter code stored in SQL; stable across versions.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Number => "n",
            Self::Text => "s",
            Self::Bool => "b",
            Self::DateTime => "d",
            Self::Relationship => "r",
            Self::Other => "o",
        }
    }

    /// The kind stored under a code, if the code is known.
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "n" => Self::Number,
            "s" => Self::Text,
            "b" => Self::Bool,
            "d" => Self::DateTime,
            "r" => Self::Relationship,
            "o" => Self::Other,
            _ => return None,
        })
    }
}

/// One indexed value of one top-level attribute of an entity.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexRow {
    /// The expanded attribute name.
    pub attr: String,
    /// What the value is.
    pub kind: ValueKind,
    /// The numeric form: numbers, booleans (0/1), date-times (epoch seconds).
    pub num: Option<f64>,
    /// The text form: strings, date-time strings as written, relationship objects.
    pub txt: Option<String>,
}

/// The number an instant is indexed as: seconds since the Unix epoch, to the millisecond
/// (sub-millisecond digits are dropped, rounding down). Monotonic, so range lookups on it
/// keep every candidate.
pub fn datetime_num(d: &DateTime<Utc>) -> f64 {
    d.timestamp_millis() as f64 / 1000.0
}

/// The index rows of an entity: for every top-level attribute, one row per distinct scalar
/// value over all its instances (arrays, lists, language maps and the objects of a
/// Relationship give one row per element),
/// and an [`ValueKind::Other`] row for an instance without any scalar value.
pub fn index_rows(e: &Entity) -> Vec<IndexRow> {
    let mut out = Vec::new();
    for (name, instances) in &e.attrs {
        attribute_rows(name, instances, &mut out);
    }
    out
}

/// The index rows of one attribute (all its instances), appended to `out`; see
/// [`index_rows`].
pub fn attribute_rows(name: &str, instances: &[Attribute], out: &mut Vec<IndexRow>) {
    for (kind, num, txt) in attribute_values(instances) {
        out.push(IndexRow {
            attr: name.to_string(),
            kind,
            num,
            txt: txt.map(str::to_string),
        });
    }
}

/// One indexed value of an attribute, borrowed from it: kind, number and text forms.
pub type IndexValue<'a> = (ValueKind, Option<f64>, Option<&'a str>);

/// An [`IndexValue`] in a form that compares and hashes exactly: the number as its bits.
pub type ValueKey<'a> = (ValueKind, Option<u64>, Option<&'a str>);

/// The comparable form of an indexed value.
pub fn value_key<'a>((kind, num, txt): &IndexValue<'a>) -> ValueKey<'a> {
    (*kind, num.map(f64::to_bits), *txt)
}

/// The distinct indexed values of one attribute (all its instances), in order, borrowed
/// from it: what [`attribute_rows`] indexes, without copying any text. A writer compares
/// the values of an attribute before and after a write with it.
pub fn attribute_values(instances: &[Attribute]) -> Vec<IndexValue<'_>> {
    let mut out: Vec<IndexValue<'_>> = Vec::new();
    let mut seen = HashSet::new();
    for a in instances {
        let relationship = matches!(
            a.value,
            AttributeValue::Relationship(_) | AttributeValue::ListRelationship(_)
        );
        let scalars = value_scalars(&a.value);
        if scalars.is_empty() {
            push_distinct((ValueKind::Other, None, None), &mut out, &mut seen);
        }
        for scalar in scalars {
            push_distinct(classify(scalar, relationship), &mut out, &mut seen);
        }
    }
    out
}

/// Appends `value` to `out` unless it is there already. Up to a few values, duplicates are
/// found by a scan; beyond, with the set `seen` (a list attribute may hold thousands).
fn push_distinct<'a>(
    value: IndexValue<'a>,
    out: &mut Vec<IndexValue<'a>>,
    seen: &mut HashSet<ValueKey<'a>>,
) {
    const SCAN_UP_TO: usize = 16;
    let fresh = if seen.is_empty() && out.len() < SCAN_UP_TO {
        let k = value_key(&value);
        !out.iter().any(|v| value_key(v) == k)
    } else {
        if seen.is_empty() {
            seen.extend(out.iter().map(value_key));
        }
        seen.insert(value_key(&value))
    };
    if fresh {
        out.push(value);
    }
}

/// The kind and forms of one scalar.
fn classify(s: ValueScalar<'_>, relationship: bool) -> (ValueKind, Option<f64>, Option<&str>) {
    match s {
        ValueScalar::Number(n) => (ValueKind::Number, Some(n), None),
        ValueScalar::Bool(b) => (ValueKind::Bool, Some(if b { 1.0 } else { 0.0 }), None),
        ValueScalar::Text(t) => match parse_temporal(t) {
            Some(when) => (
                ValueKind::DateTime,
                Some(datetime_num(&when.instant())),
                Some(t),
            ),
            None if relationship => (ValueKind::Relationship, None, Some(t)),
            None => (ValueKind::Text, None, Some(t)),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use jumeau_model::entity::RelObject;
    use jumeau_model::Attribute;
    use serde_json::json;

    fn entity(attrs: Vec<(&str, AttributeValue)>) -> Entity {
        let mut e = Entity::new("urn:ngsi-ld:T:1", "T");
        for (name, v) in attrs {
            e.attrs
                .entry(name.to_string())
                .or_default()
                .push(Attribute::new(v));
        }
        e
    }

    fn row(attr: &str, kind: ValueKind, num: Option<f64>, txt: Option<&str>) -> IndexRow {
        IndexRow {
            attr: attr.into(),
            kind,
            num,
            txt: txt.map(str::to_string),
        }
    }

    #[test]
    fn codes_round_trip() {
        for k in [
            ValueKind::Number,
            ValueKind::Text,
            ValueKind::Bool,
            ValueKind::DateTime,
            ValueKind::Relationship,
            ValueKind::Other,
        ] {
            assert_eq!(ValueKind::from_code(k.code()), Some(k));
            assert_eq!(k.code().len(), 1);
        }
        assert_eq!(ValueKind::from_code("x"), None);
    }

    #[test]
    fn scalars_become_typed_rows() {
        let e = entity(vec![
            ("n", AttributeValue::Property(json!(21.5))),
            ("i", AttributeValue::Property(json!(-3))),
            ("s", AttributeValue::Property(json!("on"))),
            ("b", AttributeValue::Property(json!(true))),
            ("f", AttributeValue::Property(json!(false))),
            (
                "d",
                AttributeValue::Property(json!("2024-01-15T12:00:00.250Z")),
            ),
            ("day", AttributeValue::Property(json!("2024-01-15"))),
            (
                "typed",
                AttributeValue::Property(
                    json!({"@type": "DateTime", "@value": "1970-01-01T00:00:01+00:00"}),
                ),
            ),
            ("r", AttributeValue::Relationship("urn:x:1".into())),
            ("o", AttributeValue::Property(json!({"a": 1}))),
            ("null", AttributeValue::Property(json!(null))),
            ("empty", AttributeValue::Property(json!([]))),
        ]);
        let rows = index_rows(&e);
        let want = vec![
            row("b", ValueKind::Bool, Some(1.0), None),
            row(
                "d",
                ValueKind::DateTime,
                Some(1_705_320_000.25),
                Some("2024-01-15T12:00:00.250Z"),
            ),
            row(
                "day",
                ValueKind::DateTime,
                Some(1_705_276_800.0),
                Some("2024-01-15"),
            ),
            row("empty", ValueKind::Other, None, None),
            row("f", ValueKind::Bool, Some(0.0), None),
            row("i", ValueKind::Number, Some(-3.0), None),
            row("n", ValueKind::Number, Some(21.5), None),
            row("null", ValueKind::Other, None, None),
            row("o", ValueKind::Other, None, None),
            row("r", ValueKind::Relationship, None, Some("urn:x:1")),
            row("s", ValueKind::Text, None, Some("on")),
            row(
                "typed",
                ValueKind::DateTime,
                Some(1.0),
                Some("1970-01-01T00:00:01+00:00"),
            ),
        ];
        assert_eq!(rows, want);
    }

    #[test]
    fn collections_give_one_row_per_distinct_element() {
        let mut langs = serde_json::Map::new();
        langs.insert("fr".into(), json!("armoire"));
        langs.insert("en".into(), json!("cabinet"));
        langs.insert("es".into(), json!("armoire"));
        let e = entity(vec![
            (
                "arr",
                AttributeValue::Property(json!([1, 2, 2, "x", {"k": 1}, true])),
            ),
            (
                "list",
                AttributeValue::ListProperty(vec![json!(3), json!(3), json!("2024-01-01")]),
            ),
            (
                "rels",
                AttributeValue::ListRelationship(vec![
                    "urn:a".into(),
                    "urn:b".into(),
                    "urn:a".into(),
                ]),
            ),
            (
                "refs",
                AttributeValue::Relationship(RelObject::Many(vec![
                    "urn:a".into(),
                    "urn:b".into(),
                    "urn:a".into(),
                ])),
            ),
            ("label", AttributeValue::LanguageProperty(langs)),
        ]);
        let rows = index_rows(&e);
        let of = |a: &str| rows.iter().filter(|r| r.attr == a).count();
        // A Relationship with several objects gives one Relationship row per object.
        assert_eq!(
            rows.iter().filter(|r| r.attr == "refs").collect::<Vec<_>>(),
            vec![
                &row("refs", ValueKind::Relationship, None, Some("urn:a")),
                &row("refs", ValueKind::Relationship, None, Some("urn:b")),
            ]
        );
        assert_eq!(of("arr"), 4);
        assert_eq!(of("list"), 2);
        assert_eq!(of("rels"), 2);
        assert_eq!(of("label"), 2);
        assert!(rows
            .iter()
            .any(|r| r.attr == "list" && r.kind == ValueKind::DateTime));
        assert!(rows
            .iter()
            .all(|r| r.attr != "rels" || r.kind == ValueKind::Relationship));
    }

    #[test]
    fn every_instance_is_indexed_and_deduplicated() {
        let mut e = entity(vec![("t", AttributeValue::Property(json!(5)))]);
        let mut second = Attribute::new(AttributeValue::Property(json!(5)));
        second.dataset_id = Some("urn:ds:1".into());
        let mut third = Attribute::new(AttributeValue::Property(json!(7)));
        third.dataset_id = Some("urn:ds:2".into());
        let fourth = Attribute::new(AttributeValue::Property(json!({"a": 1})));
        e.attrs
            .entry("t".into())
            .or_default()
            .extend([second, third, fourth]);
        let rows = index_rows(&e);
        assert_eq!(
            rows,
            vec![
                row("t", ValueKind::Number, Some(5.0), None),
                row("t", ValueKind::Number, Some(7.0), None),
                row("t", ValueKind::Other, None, None),
            ]
        );
    }

    #[test]
    fn datetime_num_is_monotonic_and_millisecond_precise() {
        let at = |s: &str| jumeau_model::time::parse_datetime(s).unwrap();
        assert_eq!(datetime_num(&at("1970-01-01T00:00:00Z")), 0.0);
        assert_eq!(datetime_num(&at("1969-12-31T23:59:59.999Z")), -0.001);
        assert_eq!(
            datetime_num(&at("2024-01-15T12:00:00.0009Z")),
            datetime_num(&at("2024-01-15T12:00:00Z"))
        );
        assert!(
            datetime_num(&at("2024-01-15T12:00:00.001Z"))
                > datetime_num(&at("2024-01-15T12:00:00Z"))
        );
    }
}
