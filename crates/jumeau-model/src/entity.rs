//! Entities and attributes, in the broker's canonical (expanded) form.
//!
//! Type and attribute names are held as full IRIs, as JSON-LD expansion gives them, so that
//! two clients using different @contexts address the same data; rendering compacts them back
//! with the caller's context. This form is also what the stores persist.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use jumeau_geo::Geometry;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One NGSI-LD entity: a thing of the territory with an URI id, one or more types and its
/// attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// The entity id, an absolute URI (`urn:ngsi-ld:Streetlight:42`).
    pub id: String,
    /// Expanded type IRIs, sorted and without duplicates.
    pub types: Vec<String>,
    /// NGSI-LD scopes, if any (hierarchical tags such as `/Lighting/Zone1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    /// Attributes by expanded name; several instances are told apart by their datasetId.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, Vec<Attribute>>,
    /// When the broker first stored the entity.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "chrono::serde::ts_microseconds_option"
    )]
    pub created_at: Option<DateTime<Utc>>,
    /// When the broker last changed the entity.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "chrono::serde::ts_microseconds_option"
    )]
    pub modified_at: Option<DateTime<Utc>>,
}

/// One attribute instance: a value of some NGSI-LD attribute type and its metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// The value, tagged with its NGSI-LD attribute type.
    #[serde(rename = "v")]
    pub value: AttributeValue,
    /// Tells several instances of one attribute apart (for example two sensors of the same
    /// quantity); `None` is the default instance.
    #[serde(rename = "ds", default, skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<String>,
    /// When the value was observed (for readings), in UTC.
    #[serde(
        rename = "oa",
        default,
        skip_serializing_if = "Option::is_none",
        with = "chrono::serde::ts_microseconds_option"
    )]
    pub observed_at: Option<DateTime<Utc>>,
    /// The unit as a UN/CEFACT common code (KWH, WTT, MTR, CEL...).
    #[serde(rename = "uc", default, skip_serializing_if = "Option::is_none")]
    pub unit_code: Option<String>,
    /// Sub-attributes (properties of the property), by expanded name.
    #[serde(rename = "sub", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sub: BTreeMap<String, Vec<Attribute>>,
    /// When the broker first stored this attribute instance.
    #[serde(
        rename = "ca",
        default,
        skip_serializing_if = "Option::is_none",
        with = "chrono::serde::ts_microseconds_option"
    )]
    pub created_at: Option<DateTime<Utc>>,
    /// When the broker last changed this attribute instance.
    #[serde(
        rename = "ma",
        default,
        skip_serializing_if = "Option::is_none",
        with = "chrono::serde::ts_microseconds_option"
    )]
    pub modified_at: Option<DateTime<Utc>>,
}

/// The value of an attribute, one variant per NGSI-LD attribute type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AttributeValue {
    /// A Property: any JSON value (number, string, boolean, array, object, typed literal).
    Property(Value),
    /// A Relationship: the URI of the target entity, or the URIs of several (NGSI-LD allows
    /// `object` to be a URI or an array of URIs).
    Relationship(RelObject),
    /// A GeoProperty: a validated GeoJSON geometry in WGS84.
    GeoProperty(Geometry),
    /// A LanguageProperty: strings by language tag (`{"fr": "armoire", "en": "cabinet"}`).
    LanguageProperty(serde_json::Map<String, Value>),
    /// A JsonProperty: a JSON value kept as is, never expanded.
    JsonProperty(Value),
    /// A VocabProperty: expanded IRI (or IRIs) naming terms of a vocabulary.
    VocabProperty(Value),
    /// A ListProperty: an ordered list of values.
    ListProperty(Vec<Value>),
    /// A ListRelationship: an ordered list of target entity URIs.
    ListRelationship(Vec<String>),
}

/// The `object` of a Relationship: one target URI, or an array of them as the client sent
/// it (NGSI-LD 1.8 §4.5.3).
///
/// Serialized untagged, so a stored single object is a plain string, as it always was, and
/// several objects are an array of strings. An array keeps its form even with one element,
/// so that what a client wrote as an array is rendered back as an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RelObject {
    /// A single target URI (`"object": "urn:..."`).
    One(String),
    /// An array of target URIs (`"object": ["urn:...", ...]`), in the order given.
    Many(Vec<String>),
}

impl RelObject {
    /// The target URIs, in order (one for [`RelObject::One`]).
    pub fn uris(&self) -> &[String] {
        match self {
            Self::One(u) => std::slice::from_ref(u),
            Self::Many(us) => us,
        }
    }

    /// Iterates over the target URIs, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.uris().iter()
    }

    /// True when the object was given as an array.
    pub fn is_many(&self) -> bool {
        matches!(self, Self::Many(_))
    }

    /// The JSON form of the object: a string, or an array of strings.
    pub fn to_json(&self) -> Value {
        match self {
            Self::One(u) => Value::String(u.clone()),
            Self::Many(us) => Value::Array(us.iter().cloned().map(Value::String).collect()),
        }
    }
}

impl From<String> for RelObject {
    fn from(u: String) -> Self {
        Self::One(u)
    }
}

impl From<&str> for RelObject {
    fn from(u: &str) -> Self {
        Self::One(u.to_string())
    }
}

impl From<Vec<String>> for RelObject {
    fn from(us: Vec<String>) -> Self {
        Self::Many(us)
    }
}

impl<'a> IntoIterator for &'a RelObject {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl AttributeValue {
    /// The NGSI-LD attribute type name, as written in the normalized form.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Property(_) => "Property",
            Self::Relationship(_) => "Relationship",
            Self::GeoProperty(_) => "GeoProperty",
            Self::LanguageProperty(_) => "LanguageProperty",
            Self::JsonProperty(_) => "JsonProperty",
            Self::VocabProperty(_) => "VocabProperty",
            Self::ListProperty(_) => "ListProperty",
            Self::ListRelationship(_) => "ListRelationship",
        }
    }
}

impl Attribute {
    /// An attribute with a value and no metadata.
    pub fn new(value: AttributeValue) -> Self {
        Self {
            value,
            dataset_id: None,
            observed_at: None,
            unit_code: None,
            sub: BTreeMap::new(),
            created_at: None,
            modified_at: None,
        }
    }

    /// Sets the system timestamps of this instance and of its sub-attributes: `created`
    /// only where none is known yet, `modified` always.
    pub fn stamp(&mut self, created: DateTime<Utc>, modified: DateTime<Utc>) {
        if self.created_at.is_none() {
            self.created_at = Some(created);
        }
        self.modified_at = Some(modified);
        for instances in self.sub.values_mut() {
            for a in instances {
                a.stamp(created, modified);
            }
        }
    }
}

impl Entity {
    /// An entity with an id and one type, and no attributes.
    pub fn new(id: impl Into<String>, entity_type: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            types: vec![entity_type.into()],
            scope: None,
            attrs: BTreeMap::new(),
            created_at: None,
            modified_at: None,
        }
    }

    /// The default instance (no datasetId) of an attribute, if present.
    pub fn attr(&self, name: &str) -> Option<&Attribute> {
        self.attrs
            .get(name)?
            .iter()
            .find(|a| a.dataset_id.is_none())
    }

    /// The geometries of a GeoProperty attribute (every instance).
    pub fn geometries<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Geometry> + 'a {
        self.attrs
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|a| match &a.value {
                AttributeValue::GeoProperty(g) => Some(g),
                _ => None,
            })
    }

    /// True when the entity has any of the given types.
    pub fn has_type(&self, t: &str) -> bool {
        self.types.iter().any(|x| x == t)
    }

    /// Puts the types in canonical order (sorted, no duplicates).
    pub fn normalize_types(&mut self) {
        self.types.sort();
        self.types.dedup();
    }
}

/// Checks that `id` is an absolute URI (RFC 3986 §3: a scheme, a colon, then no spaces or
/// control characters), as NGSI-LD requires of entity ids and relationship objects.
pub fn validate_uri(id: &str) -> Result<(), String> {
    let Some((scheme, rest)) = id.split_once(':') else {
        return Err(format!(
            "'{id}' is not a URI: it has no scheme; use an id such as 'urn:ngsi-ld:Streetlight:42'"
        ));
    };
    let mut chars = scheme.chars();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(format!(
            "'{id}' is not a URI: '{scheme}' is not a valid URI scheme"
        ));
    }
    if rest.is_empty() {
        return Err(format!("'{id}' is not a URI: nothing follows the scheme"));
    }
    if let Some(c) = id.chars().find(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '<' | '>' | '"' | '{' | '}' | '|' | '\\' | '^' | '`')
    }) {
        return Err(format!(
            "'{id}' is not a URI: it contains the forbidden character {c:?}"
        ));
    }
    if id.len() > 2048 {
        return Err("an entity id longer than 2048 characters is not accepted".into());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn relationship_objects_keep_their_stored_form() {
        // A single object is stored as a plain string, as before several were allowed.
        let one = Attribute::new(AttributeValue::Relationship("urn:a:1".into()));
        let stored = serde_json::to_value(&one).unwrap();
        assert_eq!(
            stored,
            serde_json::json!({"v": {"Relationship": "urn:a:1"}})
        );
        let back: Attribute = serde_json::from_value(stored).unwrap();
        assert_eq!(back, one);

        let many = Attribute::new(AttributeValue::Relationship(RelObject::Many(vec![
            "urn:a:1".into(),
            "urn:a:2".into(),
        ])));
        let stored = serde_json::to_value(&many).unwrap();
        assert_eq!(
            stored,
            serde_json::json!({"v": {"Relationship": ["urn:a:1", "urn:a:2"]}})
        );
        let back: Attribute = serde_json::from_value(stored).unwrap();
        assert_eq!(back, many);

        // An array of one stays an array.
        let single_array = RelObject::Many(vec!["urn:a:1".into()]);
        let back: RelObject =
            serde_json::from_value(serde_json::to_value(&single_array).unwrap()).unwrap();
        assert_eq!(back, single_array);
        assert_eq!(back.to_json(), serde_json::json!(["urn:a:1"]));
        assert_eq!(back.uris(), RelObject::from("urn:a:1").uris());
        assert!(back.is_many() && !RelObject::from("urn:a:1").is_many());
    }

    #[test]
    fn uris_are_checked() {
        assert!(validate_uri("urn:ngsi-ld:Streetlight:42").is_ok());
        assert!(validate_uri("https://example.org/a/b").is_ok());
        assert!(validate_uri("Streetlight42").is_err());
        assert!(validate_uri("urn:ngsi ld:x").is_err());
        assert!(validate_uri("1urn:x").is_err());
        assert!(validate_uri("urn:").is_err());
    }
}
