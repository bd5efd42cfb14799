//! Parsing and rendering of the NGSI-LD JSON forms of entities (ETSI GS CIM 009 §4.5).
//!
//! Clients send entities in the normalized form (every attribute an object with a `type`),
//! the concise form (§4.5.7: the `type` left out where the shape tells it) or the
//! simplified form (keyValues: attribute → bare value). Parsing accepts all three and gives
//! an [`Entity`] whose type and attribute names are expanded with the client's [`Context`];
//! rendering compacts them with the caller's context and writes the form asked for.
//!
//! Property values are kept as the client sent them (keys inside values are never
//! expanded); only VocabProperty values are vocabulary terms and so are expanded.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use jumeau_geo::Geometry;
use serde_json::{json, Map, Value};

use crate::context::{Context, NGSI_LD_NS};
use crate::entity::{validate_uri, RelObject};
use crate::time::{format_datetime, parse_datetime};
use crate::{Attribute, AttributeValue, Entity, NgsiError, Result};

/// The NGSI-LD Null: in a merge or partial update, a value meaning "delete this".
pub const NGSI_LD_NULL: &str = "urn:ngsi-ld:null";

/// How deep sub-attributes may nest.
const MAX_NESTING: usize = 32;

/// The GeoJSON geometry types (RFC 7946 §1.4).
const GEOMETRY_TYPES: [&str; 7] = [
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
];

/// The attribute types, as written in the `type` member of the normalized form.
const ATTRIBUTE_TYPES: &str = "Property, Relationship, GeoProperty, LanguageProperty, \
                               JsonProperty, VocabProperty, ListProperty or ListRelationship";

/// What a member of an attribute object is, told by its expanded name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Type,
    Value,
    Object,
    LanguageMap,
    Json,
    Vocab,
    ValueList,
    ObjectList,
    ObservedAt,
    UnitCode,
    DatasetId,
    CreatedAt,
    ModifiedAt,
    /// Accepted and not kept: deletedAt, instanceId, objectType, valueType.
    Ignored,
    /// A JSON-LD keyword other than @type.
    Keyword,
    /// Anything else: a sub-attribute.
    Sub,
}

impl Member {
    fn is_data(self) -> bool {
        matches!(
            self,
            Self::Value
                | Self::Object
                | Self::LanguageMap
                | Self::Json
                | Self::Vocab
                | Self::ValueList
                | Self::ObjectList
        )
    }

    /// The name of the member in the core context, for messages.
    fn key(self) -> &'static str {
        match self {
            Self::Value => "value",
            Self::Object => "object",
            Self::LanguageMap => "languageMap",
            Self::Json => "json",
            Self::Vocab => "vocab",
            Self::ValueList => "valueList",
            Self::ObjectList => "objectList",
            Self::Type => "type",
            Self::ObservedAt => "observedAt",
            Self::UnitCode => "unitCode",
            Self::DatasetId => "datasetId",
            Self::CreatedAt => "createdAt",
            Self::ModifiedAt => "modifiedAt",
            Self::Ignored | Self::Keyword | Self::Sub => "",
        }
    }
}

/// Classifies a member of an attribute object; returns its expanded name too.
fn classify(key: &str, ctx: &Context) -> (Member, String) {
    let iri = ctx.expand(key);
    let member = match iri.as_str() {
        "@type" => Member::Type,
        i if i.starts_with('@') => Member::Keyword,
        i => match i.strip_prefix(NGSI_LD_NS) {
            Some("hasValue") => Member::Value,
            Some("hasObject") => Member::Object,
            Some("hasLanguageMap") => Member::LanguageMap,
            Some("hasJSON") => Member::Json,
            Some("hasVocab") => Member::Vocab,
            Some("hasValueList") => Member::ValueList,
            Some("hasObjectList") => Member::ObjectList,
            Some("observedAt") => Member::ObservedAt,
            Some("unitCode") => Member::UnitCode,
            Some("datasetId") => Member::DatasetId,
            Some("createdAt") => Member::CreatedAt,
            Some("modifiedAt") => Member::ModifiedAt,
            Some("deletedAt" | "instanceId" | "hasObjectType" | "hasValueType") => Member::Ignored,
            _ => Member::Sub,
        },
    };
    (member, iri)
}

/// The NGSI-LD attribute types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Property,
    Relationship,
    GeoProperty,
    LanguageProperty,
    JsonProperty,
    VocabProperty,
    ListProperty,
    ListRelationship,
}

impl Kind {
    /// The attribute type a `type` string names (a term, compact IRI or IRI).
    fn parse(t: &str, ctx: &Context) -> Option<Kind> {
        Some(match ctx.expand(t).strip_prefix(NGSI_LD_NS)? {
            "Property" => Self::Property,
            "Relationship" => Self::Relationship,
            "GeoProperty" => Self::GeoProperty,
            "LanguageProperty" => Self::LanguageProperty,
            "JsonProperty" => Self::JsonProperty,
            // The name used by drafts of the specification and some brokers.
            "VocabProperty" | "VocabularyProperty" => Self::VocabProperty,
            "ListProperty" => Self::ListProperty,
            "ListRelationship" => Self::ListRelationship,
            _ => return None,
        })
    }

    /// The kind a concise attribute has, told by its data member.
    fn of_member(m: Member) -> Option<Kind> {
        Some(match m {
            Member::Value => Self::Property,
            Member::Object => Self::Relationship,
            Member::LanguageMap => Self::LanguageProperty,
            Member::Json => Self::JsonProperty,
            Member::Vocab => Self::VocabProperty,
            Member::ValueList => Self::ListProperty,
            Member::ObjectList => Self::ListRelationship,
            _ => return None,
        })
    }

    /// The member holding the data of this kind.
    fn member(self) -> Member {
        match self {
            Self::Property | Self::GeoProperty => Member::Value,
            Self::Relationship => Member::Object,
            Self::LanguageProperty => Member::LanguageMap,
            Self::JsonProperty => Member::Json,
            Self::VocabProperty => Member::Vocab,
            Self::ListProperty => Member::ValueList,
            Self::ListRelationship => Member::ObjectList,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Property => "Property",
            Self::Relationship => "Relationship",
            Self::GeoProperty => "GeoProperty",
            Self::LanguageProperty => "LanguageProperty",
            Self::JsonProperty => "JsonProperty",
            Self::VocabProperty => "VocabProperty",
            Self::ListProperty => "ListProperty",
            Self::ListRelationship => "ListRelationship",
        }
    }
}

/// Checks an attribute, sub-attribute or type name against ETSI GS CIM 009 §4.6.2.
fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("a name must not be empty".into());
    }
    if let Some(c) = name.chars().find(|c| {
        matches!(c, '<' | '>' | '"' | '\'' | '=' | ';' | '(' | ')')
            || c.is_whitespace()
            || c.is_control()
    }) {
        return Err(format!(
            "the name '{name}' contains the forbidden character {c:?}; NGSI-LD names may not \
             contain < > \" ' = ; ( ), spaces or control characters"
        ));
    }
    if let Some((scheme, _)) = name.split_once(':') {
        let mut chars = scheme.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !ok {
            return Err(format!(
                "the name '{name}' contains ':' but is neither an IRI nor a compact IRI \
                 (prefix:name); use ':' only in those"
            ));
        }
    }
    Ok(())
}

/// True when `v` has the shape of a GeoJSON geometry: a geometry `type` and its
/// `coordinates` (or `geometries` for a collection).
fn is_geometry_shaped(v: &Value) -> bool {
    let Some(m) = v.as_object() else { return false };
    match m.get("type").and_then(Value::as_str) {
        Some("GeometryCollection") => m.get("geometries").is_some_and(Value::is_array),
        Some(t) => GEOMETRY_TYPES.contains(&t) && m.get("coordinates").is_some_and(Value::is_array),
        None => false,
    }
}

/// True when `v` is an object whose `type` is a GeoJSON geometry type.
fn has_geometry_type(v: &Value) -> bool {
    v.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| GEOMETRY_TYPES.contains(&t))
}

/// The core GeoProperty names whose concise values are read as geometries.
fn is_core_geo_name(iri: &str) -> bool {
    matches!(
        iri.strip_prefix(NGSI_LD_NS),
        Some("location" | "observationSpace" | "operationSpace")
    )
}

/// True when a value would be read as a GeoProperty in the concise form.
fn reads_as_geometry(name_iri: &str, v: &Value) -> bool {
    has_geometry_type(v) && (is_core_geo_name(name_iri) || is_geometry_shaped(v))
}

/// True when a data member holds the NGSI-LD Null (or JSON null): a deletion request.
fn is_null_data(member: Member, v: &Value) -> bool {
    let is_null = |v: &Value| v.is_null() || v.as_str() == Some(NGSI_LD_NULL);
    match member {
        Member::LanguageMap => {
            is_null(v)
                || v.as_object()
                    .is_some_and(|m| m.len() == 1 && m.get("@none").is_some_and(is_null))
        }
        Member::ValueList | Member::ObjectList => {
            is_null(v) || v.as_array().is_some_and(|a| a.len() == 1 && is_null(&a[0]))
        }
        _ => is_null(v),
    }
}

/// Whether nulls are errors, deletion requests, and whether system timestamps are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Creation payloads: nulls are errors, system timestamps ignored.
    Create,
    /// Restoring an export: as Create, but createdAt/modifiedAt are kept.
    Restore,
    /// Update and merge payloads: nulls are deletion requests.
    Fragment,
}

/// One parsed attribute instance, or a request to delete one.
enum Instance {
    Attr(Attribute),
    /// Delete the instance with this datasetId (`None`: the default instance).
    Null(Option<String>),
}

/// The instances and deletion requests of one attribute member.
#[derive(Default)]
struct Parsed {
    instances: Vec<Attribute>,
    nulls: Vec<Option<String>>,
}

struct Parser<'a> {
    ctx: &'a Context,
    mode: Mode,
}

impl Parser<'_> {
    fn null_or_error(&self, label: &str, dataset_id: Option<String>) -> Result<Instance> {
        if self.mode == Mode::Fragment {
            Ok(Instance::Null(dataset_id))
        } else {
            Err(NgsiError::bad_data(format!(
                "attribute '{label}' has a null value; give it a value (null and \
                 \"{NGSI_LD_NULL}\" only delete attributes in a merge or partial update)"
            )))
        }
    }

    /// True when `v` is written as an attribute (normalized or concise object form) rather
    /// than as a plain value.
    fn looks_like_attribute(&self, v: &Value) -> bool {
        let Some(m) = v.as_object() else { return false };
        m.iter().any(|(k, val)| match classify(k, self.ctx).0 {
            Member::Type => val
                .as_str()
                .is_some_and(|t| Kind::parse(t, self.ctx).is_some()),
            m => m.is_data(),
        })
    }

    /// Parses the JSON of one attribute member: one instance, or an array of instances.
    fn member(&self, label: &str, name_iri: &str, json: &Value, depth: usize) -> Result<Parsed> {
        if depth > MAX_NESTING {
            return Err(NgsiError::bad_data(format!(
                "attribute '{label}' nests sub-attributes more than {MAX_NESTING} levels deep"
            )));
        }
        let mut out = Parsed::default();
        let items: Vec<&Value> = match json {
            Value::Array(items) if items.iter().any(|i| self.looks_like_attribute(i)) => {
                if !items.iter().all(|i| self.looks_like_attribute(i)) {
                    return Err(NgsiError::bad_data(format!(
                        "attribute '{label}' is an array mixing attribute instances and plain \
                         values; send either instances (objects with a type and a value) or \
                         one value"
                    )));
                }
                items.iter().collect()
            }
            other => vec![other],
        };
        let mut seen: BTreeSet<Option<String>> = BTreeSet::new();
        for item in items {
            let ds = match self.instance(label, name_iri, item, depth)? {
                Instance::Attr(a) => {
                    let ds = a.dataset_id.clone();
                    out.instances.push(a);
                    ds
                }
                Instance::Null(ds) => {
                    out.nulls.push(ds.clone());
                    ds
                }
            };
            if !seen.insert(ds.clone()) {
                return Err(NgsiError::bad_data(match ds {
                    Some(d) => format!(
                        "two instances of attribute '{label}' have the same datasetId '{d}'; \
                         give each instance its own datasetId"
                    ),
                    None => format!(
                        "two instances of attribute '{label}' have the same datasetId (none: \
                         both are the default instance); give the others distinct datasetIds"
                    ),
                }));
            }
        }
        Ok(out)
    }

    /// Parses one attribute instance.
    fn instance(
        &self,
        label: &str,
        name_iri: &str,
        json: &Value,
        depth: usize,
    ) -> Result<Instance> {
        match json {
            Value::Null => self.null_or_error(label, None),
            Value::String(s) if s == NGSI_LD_NULL => self.null_or_error(label, None),
            Value::Object(m) => self.object(label, name_iri, m, depth),
            // Concise and simplified forms: a bare value is a Property.
            other => Ok(Instance::Attr(Attribute::new(AttributeValue::Property(
                other.clone(),
            )))),
        }
    }

    /// A JSON object that is a plain value (simplified form), perhaps a geometry.
    fn plain_object(
        &self,
        label: &str,
        name_iri: &str,
        m: &Map<String, Value>,
    ) -> Result<Instance> {
        let v = Value::Object(m.clone());
        if reads_as_geometry(name_iri, &v) {
            let g = geometry(label, &v)?;
            return Ok(Instance::Attr(Attribute::new(AttributeValue::GeoProperty(
                g,
            ))));
        }
        Ok(Instance::Attr(Attribute::new(AttributeValue::Property(v))))
    }

    fn object(
        &self,
        label: &str,
        name_iri: &str,
        m: &Map<String, Value>,
        depth: usize,
    ) -> Result<Instance> {
        let members: Vec<(&String, &Value, Member, String)> = m
            .iter()
            .map(|(k, v)| {
                let (member, iri) = classify(k, self.ctx);
                (k, v, member, iri)
            })
            .collect();
        let type_value = members.iter().find(|x| x.2 == Member::Type).map(|x| x.1);
        let data: Vec<(&String, &Value, Member)> = members
            .iter()
            .filter(|x| x.2.is_data())
            .map(|x| (x.0, x.1, x.2))
            .collect();

        let kind = match type_value {
            Some(Value::String(t)) => match Kind::parse(t, self.ctx) {
                Some(k) => k,
                // A plain object that happens to have a "type" (a GeoJSON geometry, a
                // schema.org PostalAddress...) is a value in the simplified form.
                None if data.is_empty() => return self.plain_object(label, name_iri, m),
                None => {
                    return Err(NgsiError::bad_data(format!(
                        "attribute '{label}' has type '{t}'; an NGSI-LD attribute type is one \
                         of {ATTRIBUTE_TYPES}"
                    )))
                }
            },
            Some(other) => {
                return Err(NgsiError::bad_data(format!(
                    "attribute '{label}' has type {other}; the type of an attribute is a string, \
                     one of {ATTRIBUTE_TYPES}"
                )))
            }
            None => match data.as_slice() {
                [] => return self.plain_object(label, name_iri, m),
                [(_, v, member)] => match Kind::of_member(*member) {
                    Some(Kind::Property) if reads_as_geometry(name_iri, v) => Kind::GeoProperty,
                    Some(k) => k,
                    None => Kind::Property,
                },
                _ => {
                    let keys: Vec<&str> = data.iter().map(|d| d.0.as_str()).collect();
                    return Err(NgsiError::bad_data(format!(
                        "attribute '{label}' has several of {}; keep the one its type needs and \
                         add a \"type\" member",
                        keys.join(", ")
                    )));
                }
            },
        };

        for (key, _, member) in &data {
            if *member != kind.member() {
                return Err(NgsiError::bad_data(format!(
                    "attribute '{label}' is a {} and cannot have '{key}'; a {} holds its data \
                     in '{}'",
                    kind.name(),
                    kind.name(),
                    kind.member().key()
                )));
            }
        }

        let mut attr = Attribute::new(AttributeValue::Property(Value::Null));
        for (key, v, member, iri) in &members {
            match member {
                Member::Type
                | Member::Ignored
                | Member::Value
                | Member::Object
                | Member::LanguageMap
                | Member::Json
                | Member::Vocab
                | Member::ValueList
                | Member::ObjectList => {}
                Member::ObservedAt => {
                    let s = v.as_str().ok_or_else(|| {
                        NgsiError::bad_data(format!(
                            "attribute '{label}' has observedAt {v}; it must be a date-time \
                             string such as 2024-03-01T12:00:00Z"
                        ))
                    })?;
                    attr.observed_at = Some(parse_datetime(s).map_err(|e| {
                        NgsiError::bad_data(format!("attribute '{label}' has observedAt {e}"))
                    })?);
                }
                Member::UnitCode => match v.as_str() {
                    Some(s) if !s.is_empty() => attr.unit_code = Some(s.to_string()),
                    _ => {
                        return Err(NgsiError::bad_data(format!(
                            "attribute '{label}' has unitCode {v}; it must be a UN/CEFACT code \
                             string such as \"CEL\" or \"KWH\""
                        )))
                    }
                },
                Member::DatasetId => {
                    let s = v.as_str().ok_or_else(|| {
                        NgsiError::bad_data(format!(
                            "attribute '{label}' has datasetId {v}; it must be a URI string"
                        ))
                    })?;
                    validate_uri(s).map_err(|e| {
                        NgsiError::bad_data(format!(
                            "attribute '{label}' has an invalid datasetId: {e}"
                        ))
                    })?;
                    attr.dataset_id = Some(s.to_string());
                }
                Member::CreatedAt | Member::ModifiedAt => {
                    if self.mode == Mode::Restore {
                        let t = sys_time(&format!("{} of attribute '{label}'", member.key()), v)?;
                        if *member == Member::CreatedAt {
                            attr.created_at = Some(t);
                        } else {
                            attr.modified_at = Some(t);
                        }
                    }
                }
                Member::Keyword => {
                    return Err(NgsiError::bad_data(format!(
                        "attribute '{label}' has the member '{key}', a JSON-LD keyword; NGSI-LD \
                         attributes do not take JSON-LD keywords"
                    )))
                }
                Member::Sub => {
                    let sub_label = format!("{label}.{key}");
                    check_name(key).map_err(|e| {
                        NgsiError::bad_data(format!(
                            "sub-attribute '{sub_label}' is not valid: {e}"
                        ))
                    })?;
                    let parsed = self.member(&sub_label, iri, v, depth + 1)?;
                    // In a merge, a null sub-attribute is dropped from the new value.
                    if parsed.instances.is_empty() {
                        continue;
                    }
                    if attr.sub.insert(iri.clone(), parsed.instances).is_some() {
                        return Err(NgsiError::bad_data(format!(
                            "attribute '{label}' has two sub-attributes naming {iri}; send it once"
                        )));
                    }
                }
            }
        }

        let data_value = data.first().map(|d| d.1);
        let Some(raw) = data_value else {
            return Err(NgsiError::bad_data(format!(
                "attribute '{label}' is a {} without '{}'; give it one",
                kind.name(),
                kind.member().key()
            )));
        };
        if is_null_data(kind.member(), raw) {
            return self.null_or_error(label, attr.dataset_id);
        }
        attr.value = self.value(label, kind, raw)?;
        Ok(Instance::Attr(attr))
    }

    /// Checks and converts the data of an attribute of a known kind.
    fn value(&self, label: &str, kind: Kind, raw: &Value) -> Result<AttributeValue> {
        Ok(match kind {
            Kind::Property => AttributeValue::Property(raw.clone()),
            Kind::GeoProperty => AttributeValue::GeoProperty(geometry(label, raw)?),
            Kind::Relationship => match raw {
                Value::String(s) => {
                    AttributeValue::Relationship(RelObject::One(object_uri(label, s)?))
                }
                // NGSI-LD 1.8 §4.5.3: the object may be an array of URIs; it is kept as an
                // array, in order, so that it is rendered back as sent.
                Value::Array(items) => {
                    AttributeValue::Relationship(RelObject::Many(object_uris(label, items)?))
                }
                other => return Err(not_uri(label, other)),
            },
            Kind::LanguageProperty => {
                let map = raw.as_object().filter(|m| !m.is_empty()).ok_or_else(|| {
                    NgsiError::bad_data(format!(
                        "attribute '{label}' has languageMap {raw}; it must be an object of \
                         strings by language tag, such as \
                         {{\"fr\": \"armoire\", \"en\": \"cabinet\"}}"
                    ))
                })?;
                for (tag, text) in map {
                    let ok = text.is_string()
                        || text
                            .as_array()
                            .is_some_and(|a| a.iter().all(Value::is_string));
                    if tag.is_empty() || !ok {
                        return Err(NgsiError::bad_data(format!(
                            "attribute '{label}' has languageMap entry '{tag}': {text}; each \
                             entry maps a language tag (or @none) to a string or an array \
                             of strings"
                        )));
                    }
                }
                AttributeValue::LanguageProperty(map.clone())
            }
            Kind::JsonProperty => AttributeValue::JsonProperty(raw.clone()),
            Kind::VocabProperty => AttributeValue::VocabProperty(
                self.ctx.expand_vocab_value(raw).ok_or_else(|| {
                    NgsiError::bad_data(format!(
                        "attribute '{label}' has vocab {raw}; it must be a term or an array \
                         of terms"
                    ))
                })?,
            ),
            Kind::ListProperty => match raw {
                Value::Array(items) => AttributeValue::ListProperty(items.clone()),
                other => {
                    return Err(NgsiError::bad_data(format!(
                        "attribute '{label}' has valueList {other}; it must be an array"
                    )))
                }
            },
            Kind::ListRelationship => match raw {
                Value::Array(items) => AttributeValue::ListRelationship(
                    items
                        .iter()
                        .map(|i| {
                            let s = i
                                .as_str()
                                .or_else(|| i.get("object").and_then(Value::as_str));
                            match s {
                                Some(s) => object_uri(label, s),
                                None => Err(not_uri(label, i)),
                            }
                        })
                        .collect::<Result<_>>()?,
                ),
                other => {
                    return Err(NgsiError::bad_data(format!(
                        "attribute '{label}' has objectList {other}; it must be an array of URIs"
                    )))
                }
            },
        })
    }
}

fn geometry(label: &str, v: &Value) -> Result<Geometry> {
    Geometry::from_geojson(v).map_err(|e| {
        NgsiError::bad_data(format!(
            "attribute '{label}' is not a valid GeoJSON geometry: {e}"
        ))
    })
}

fn object_uri(label: &str, s: &str) -> Result<String> {
    validate_uri(s).map_err(|e| {
        NgsiError::bad_data(format!(
            "relationship '{label}' must point to an entity URI: {e}"
        ))
    })?;
    Ok(s.to_string())
}

/// Checks every element of a Relationship's object array: each must be a URI string, and
/// the array must not be empty.
fn object_uris(label: &str, items: &[Value]) -> Result<Vec<String>> {
    if items.is_empty() {
        return Err(NgsiError::bad_data(format!(
            "relationship '{label}' has an empty object array; give at least one entity URI"
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.as_str() {
            Some(s) => validate_uri(s).map(|()| s.to_string()).map_err(|e| {
                NgsiError::bad_data(format!(
                    "relationship '{label}': object[{i}] is not an entity URI: {e}"
                ))
            }),
            None => Err(NgsiError::bad_data(format!(
                "relationship '{label}': object[{i}] is {item}; each element of the object \
                 array must be an entity URI such as \"urn:ngsi-ld:Building:1\""
            ))),
        })
        .collect()
}

fn not_uri(label: &str, v: &Value) -> NgsiError {
    NgsiError::bad_data(format!(
        "relationship '{label}' has object {v}; it must be an entity URI such as \
         \"urn:ngsi-ld:Building:1\""
    ))
}

fn sys_time(what: &str, v: &Value) -> Result<DateTime<Utc>> {
    let s = v.as_str().ok_or_else(|| {
        NgsiError::bad_data(format!("{what} must be a date-time string, not {v}"))
    })?;
    parse_datetime(s).map_err(|e| NgsiError::bad_data(format!("{what} is invalid: {e}")))
}

/// Entity-level names that belong to attribute metadata and cannot name an attribute.
fn is_reserved_entity_member(iri: &str) -> bool {
    matches!(
        iri.strip_prefix(NGSI_LD_NS),
        Some(
            "observedAt"
                | "unitCode"
                | "datasetId"
                | "instanceId"
                | "hasObject"
                | "hasLanguageMap"
                | "hasJSON"
                | "hasVocab"
                | "hasValueList"
                | "hasObjectList"
                | "hasObjectType"
                | "hasValueType"
        )
    )
}

/// The members of an entity-shaped payload, before checking what the operation requires.
#[derive(Default)]
struct RawEntity {
    id: Option<String>,
    types: Option<Vec<String>>,
    scope: Option<Vec<String>>,
    scope_null: bool,
    attrs: BTreeMap<String, Vec<Attribute>>,
    nulls: Vec<(String, Option<String>)>,
    created_at: Option<DateTime<Utc>>,
    modified_at: Option<DateTime<Utc>>,
}

fn parse_id(v: &Value) -> Result<String> {
    let s = v.as_str().ok_or_else(|| {
        NgsiError::bad_data(format!(
            "the entity id {v} is not a string; use a URI such as 'urn:ngsi-ld:Streetlight:42'"
        ))
    })?;
    validate_uri(s).map_err(|e| NgsiError::bad_data(format!("the entity id is not valid: {e}")))?;
    Ok(s.to_string())
}

fn parse_types(v: &Value, ctx: &Context) -> Result<Vec<String>> {
    let names: Vec<&str> = match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str())
            .collect::<Option<_>>()
            .ok_or_else(|| bad_type_member(v))?,
        _ => return Err(bad_type_member(v)),
    };
    names
        .into_iter()
        .map(|n| {
            check_name(n)
                .map_err(|e| NgsiError::bad_data(format!("the entity type is not valid: {e}")))?;
            let iri = ctx.expand(n);
            if iri.starts_with('@') {
                return Err(NgsiError::bad_data(format!(
                    "the entity type '{n}' is a JSON-LD keyword; name a type such as 'Streetlight'"
                )));
            }
            Ok(iri)
        })
        .collect()
}

fn bad_type_member(v: &Value) -> NgsiError {
    NgsiError::bad_data(format!(
        "the entity type {v} is not valid; give a type name such as \"Streetlight\" or a \
         non-empty array of type names"
    ))
}

fn parse_scope(v: &Value) -> Result<Vec<String>> {
    let items: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .map(|i| match i.as_str() {
            Some(s)
                if s.starts_with('/')
                    && !s.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                Ok(s.to_string())
            }
            _ => Err(NgsiError::bad_data(format!(
                "the scope {i} is not valid; a scope is a path such as \"/Lighting/Zone1\" (or \
                 an array of them)"
            ))),
        })
        .collect()
}

fn parse_entity_members(json: &Value, ctx: &Context, mode: Mode) -> Result<RawEntity> {
    let m = json.as_object().ok_or_else(|| {
        NgsiError::bad_data(format!(
            "the payload must be a JSON object with an id, a type and attributes, not {}",
            kind_of_json(json)
        ))
    })?;
    let parser = Parser { ctx, mode };
    let mut raw = RawEntity::default();
    for (key, v) in m {
        if key == "@context" {
            continue;
        }
        let iri = if key.starts_with('@') {
            key.clone()
        } else {
            ctx.expand(key)
        };
        match iri.as_str() {
            "@id" => raw.id = Some(parse_id(v)?),
            "@type" => raw.types = Some(parse_types(v, ctx)?),
            i if i.starts_with('@') => {
                return Err(NgsiError::bad_data(format!(
                    "the member '{key}' is a JSON-LD keyword, which an NGSI-LD entity does not \
                     take; remove it"
                )))
            }
            i if i.strip_prefix(NGSI_LD_NS) == Some("scope") => {
                if v.is_null() && mode == Mode::Fragment {
                    raw.scope_null = true;
                } else {
                    raw.scope = Some(parse_scope(v)?);
                }
            }
            i if i.strip_prefix(NGSI_LD_NS) == Some("createdAt") => {
                if mode == Mode::Restore {
                    raw.created_at = Some(sys_time("the entity createdAt", v)?);
                }
            }
            i if i.strip_prefix(NGSI_LD_NS) == Some("modifiedAt") => {
                if mode == Mode::Restore {
                    raw.modified_at = Some(sys_time("the entity modifiedAt", v)?);
                }
            }
            i if i.strip_prefix(NGSI_LD_NS) == Some("deletedAt") => {}
            i if is_reserved_entity_member(i) => {
                return Err(NgsiError::bad_data(format!(
                    "'{key}' is reserved by NGSI-LD for attribute metadata and cannot name an \
                     attribute of an entity; rename the attribute"
                )))
            }
            _ => {
                check_name(key).map_err(|e| {
                    NgsiError::bad_data(format!("attribute '{key}' has an invalid name: {e}"))
                })?;
                let parsed = parser.member(key, &iri, v, 0)?;
                raw.nulls
                    .extend(parsed.nulls.into_iter().map(|ds| (iri.clone(), ds)));
                if parsed.instances.is_empty() {
                    continue;
                }
                if raw.attrs.insert(iri.clone(), parsed.instances).is_some() {
                    return Err(NgsiError::bad_data(format!(
                        "two members of the payload name the attribute {iri} (one is '{key}'); \
                         send it once, with several instances in an array if needed"
                    )));
                }
            }
        }
    }
    Ok(raw)
}

fn kind_of_json(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn into_entity(raw: RawEntity) -> Result<Entity> {
    let id = raw.id.ok_or_else(|| {
        NgsiError::bad_data(
            "the entity has no 'id'; give it a URI such as 'urn:ngsi-ld:Streetlight:42'",
        )
    })?;
    let types = raw.types.ok_or_else(|| {
        NgsiError::bad_data(format!(
            "the entity '{id}' has no 'type'; give it a type such as 'Streetlight'"
        ))
    })?;
    let mut e = Entity {
        id,
        types,
        scope: raw.scope,
        attrs: raw.attrs,
        created_at: raw.created_at,
        modified_at: raw.modified_at,
    };
    e.normalize_types();
    Ok(e)
}

/// Parses an entity creation payload (normalized, concise or simplified form) into the
/// model, expanding names with `ctx`. `id` and `type` are required; `@context` is ignored
/// (the caller builds `ctx` from it); system attributes (`createdAt`, `modifiedAt`) are
/// ignored, as the broker sets them.
pub fn parse_entity(json: &Value, ctx: &Context) -> Result<Entity> {
    into_entity(parse_entity_members(json, ctx, Mode::Create)?)
}

/// As [`parse_entity`], but keeps the `createdAt` and `modifiedAt` of the entity and of its
/// attributes: for restoring an export.
pub fn parse_entity_with_sys_attrs(json: &Value, ctx: &Context) -> Result<Entity> {
    into_entity(parse_entity_members(json, ctx, Mode::Restore)?)
}

/// Parses one attribute (`json` is the member value: one instance or an array of instances
/// with distinct datasetIds) named `name_iri` (expanded), in any of the three forms.
pub fn parse_attribute(name_iri: &str, json: &Value, ctx: &Context) -> Result<Vec<Attribute>> {
    let parser = Parser {
        ctx,
        mode: Mode::Create,
    };
    let label = ctx.compact(name_iri);
    Ok(parser.member(&label, name_iri, json, 0)?.instances)
}

/// The content of an attribute payload (append, update, merge): the attributes to write,
/// and what to delete.
///
/// Merge payloads may carry `id`, `type` and `scope`, returned apart from the attributes.
/// An attribute whose value is null, `{"value": null}` or the NGSI-LD Null
/// (`"urn:ngsi-ld:null"`) is a deletion request, listed in `nulls` instead of `attrs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fragment {
    /// The entity id, when the payload names one (it must then match the target entity).
    pub id: Option<String>,
    /// The expanded entity types, when the payload names them.
    pub types: Option<Vec<String>>,
    /// The new scope, when the payload sets one.
    pub scope: Option<Vec<String>>,
    /// True when the payload sets the scope to null (delete it).
    pub scope_null: bool,
    /// The attribute instances to write, by expanded name.
    pub attrs: BTreeMap<String, Vec<Attribute>>,
    /// Attribute instances to delete: (expanded name, datasetId; `None` is the default
    /// instance).
    pub nulls: Vec<(String, Option<String>)>,
}

/// Parses an attribute payload (POST or PATCH `/entities/{id}/attrs`, merge PATCH) into a
/// [`Fragment`]. `@context` and system attributes are ignored. In attribute values, a null
/// sub-attribute is dropped from the new value.
pub fn parse_fragment(json: &Value, ctx: &Context) -> Result<Fragment> {
    let raw = parse_entity_members(json, ctx, Mode::Fragment)?;
    Ok(Fragment {
        id: raw.id,
        types: raw.types,
        scope: raw.scope,
        scope_null: raw.scope_null,
        attrs: raw.attrs,
        nulls: raw.nulls,
    })
}

/// The JSON form of rendered entities (ETSI GS CIM 009 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Every attribute an object with its type and metadata (lossless).
    #[default]
    Normalized,
    /// The normalized form without the redundant types (§4.5.7, lossless).
    Concise,
    /// The simplified form (`options=keyValues`): attribute → value.
    KeyValues,
}

/// What to render and how.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// The JSON form.
    pub format: Format,
    /// Whether to include createdAt and modifiedAt (`options=sysAttrs`).
    pub sys_attrs: bool,
    /// Only these attributes (expanded names), when set; `id` and `type` are always written.
    pub pick: Option<BTreeSet<String>>,
    /// Leave out these attributes (expanded names).
    pub omit: BTreeSet<String>,
    /// Render each LanguageProperty as a Property holding the string in the best matching
    /// language (`lang=fr`, `lang=fr,en;q=0.8`, `lang=*`), with a `lang` member naming it.
    pub lang: Option<String>,
}

impl RenderOptions {
    fn keeps(&self, iri: &str) -> bool {
        self.pick.as_ref().is_none_or(|p| p.contains(iri)) && !self.omit.contains(iri)
    }
}

fn one_or_many(mut items: Vec<String>) -> Value {
    if items.len() == 1 {
        Value::String(items.remove(0))
    } else {
        Value::Array(items.into_iter().map(Value::String).collect())
    }
}

/// Picks the entry of a language map for a `lang` preference list: the first preference
/// matching a tag exactly, then by primary language; else `@none`, else the first entry.
fn pick_language(map: &Map<String, Value>, lang: &str) -> (String, Value) {
    let prefs: Vec<&str> = lang
        .split(',')
        .map(|p| p.split(';').next().unwrap_or("").trim())
        .filter(|p| !p.is_empty())
        .collect();
    let primary = |t: &str| t.split('-').next().unwrap_or(t).to_ascii_lowercase();
    for p in &prefs {
        if *p == "*" {
            if let Some((k, v)) = map
                .iter()
                .find(|(k, _)| k.as_str() != "@none")
                .or(map.iter().next())
            {
                return (k.clone(), v.clone());
            }
        }
        if let Some((k, v)) = map.iter().find(|(k, _)| k.eq_ignore_ascii_case(p)) {
            return (k.clone(), v.clone());
        }
        if let Some((k, v)) = map
            .iter()
            .find(|(k, _)| k.as_str() != "@none" && primary(k) == primary(p))
        {
            return (k.clone(), v.clone());
        }
    }
    if let Some(v) = map.get("@none") {
        return ("@none".to_string(), v.clone());
    }
    map.iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap_or_else(|| ("@none".to_string(), Value::Null))
}

/// True when a Property value can stand alone in the concise form without being read as
/// something else (an object would be read as an attribute, an array of objects as
/// instances).
fn bare_property_ok(v: &Value) -> bool {
    match v {
        Value::Object(_) | Value::Null => false,
        Value::Array(items) => !items.iter().any(Value::is_object),
        _ => true,
    }
}

/// The simplified (keyValues) value of one instance.
fn simplified(a: &Attribute, ctx: &Context, opts: &RenderOptions) -> Value {
    match &a.value {
        AttributeValue::Property(v) => v.clone(),
        AttributeValue::Relationship(o) => o.to_json(),
        AttributeValue::GeoProperty(g) => g.as_json().clone(),
        AttributeValue::LanguageProperty(map) => match &opts.lang {
            Some(lang) => pick_language(map, lang).1,
            None => json!({ "languageMap": map }),
        },
        AttributeValue::JsonProperty(v) => json!({ "json": v }),
        AttributeValue::VocabProperty(v) => json!({ "vocab": ctx.compact_vocab_value(v) }),
        AttributeValue::ListProperty(vs) => json!({ "valueList": vs }),
        AttributeValue::ListRelationship(us) => json!({ "objectList": us }),
    }
}

/// The normalized or concise rendering of one instance; `force_object` keeps the object
/// form in the concise format (several instances).
fn full(
    a: &Attribute,
    name_iri: &str,
    ctx: &Context,
    opts: &RenderOptions,
    force_object: bool,
) -> Value {
    let concise = opts.format == Format::Concise;
    let mut lang_tag = None;
    let (type_name, key, data) = match &a.value {
        AttributeValue::Property(v) => ("Property", "value", v.clone()),
        AttributeValue::Relationship(o) => ("Relationship", "object", o.to_json()),
        AttributeValue::GeoProperty(g) => ("GeoProperty", "value", g.as_json().clone()),
        AttributeValue::LanguageProperty(map) => match &opts.lang {
            Some(lang) => {
                let (tag, v) = pick_language(map, lang);
                lang_tag = Some(tag);
                ("Property", "value", v)
            }
            None => (
                "LanguageProperty",
                "languageMap",
                Value::Object(map.clone()),
            ),
        },
        AttributeValue::JsonProperty(v) => ("JsonProperty", "json", v.clone()),
        AttributeValue::VocabProperty(v) => ("VocabProperty", "vocab", ctx.compact_vocab_value(v)),
        AttributeValue::ListProperty(vs) => ("ListProperty", "valueList", Value::Array(vs.clone())),
        AttributeValue::ListRelationship(us) => (
            "ListRelationship",
            "objectList",
            Value::Array(us.iter().map(|u| json!({ "object": u })).collect()),
        ),
    };
    let has_sys = opts.sys_attrs && (a.created_at.is_some() || a.modified_at.is_some());
    let has_extra = a.observed_at.is_some()
        || a.unit_code.is_some()
        || a.dataset_id.is_some()
        || !a.sub.is_empty()
        || has_sys
        || lang_tag.is_some();
    if concise && !force_object && !has_extra {
        match &a.value {
            AttributeValue::Property(v) if bare_property_ok(v) => return v.clone(),
            AttributeValue::GeoProperty(g) => return g.as_json().clone(),
            _ => {}
        }
    }
    let mut o = Map::new();
    // In the concise form, a Property whose value looks like a geometry keeps its type so
    // that it is not read back as a GeoProperty.
    let keep_type = !concise
        || matches!(&a.value, AttributeValue::Property(v) if reads_as_geometry(name_iri, v));
    if keep_type {
        o.insert("type".into(), Value::String(type_name.into()));
    }
    o.insert(key.into(), data);
    if let Some(tag) = lang_tag {
        o.insert("lang".into(), Value::String(tag));
    }
    if let Some(t) = &a.observed_at {
        o.insert("observedAt".into(), Value::String(format_datetime(t)));
    }
    if let Some(u) = &a.unit_code {
        o.insert("unitCode".into(), Value::String(u.clone()));
    }
    if let Some(d) = &a.dataset_id {
        o.insert("datasetId".into(), Value::String(d.clone()));
    }
    if opts.sys_attrs {
        if let Some(t) = &a.created_at {
            o.insert("createdAt".into(), Value::String(format_datetime(t)));
        }
        if let Some(t) = &a.modified_at {
            o.insert("modifiedAt".into(), Value::String(format_datetime(t)));
        }
    }
    for (sub_iri, instances) in &a.sub {
        if !instances.is_empty() {
            o.insert(
                ctx.compact(sub_iri),
                render_instances(sub_iri, instances, ctx, opts),
            );
        }
    }
    Value::Object(o)
}

fn render_instances(
    name_iri: &str,
    instances: &[Attribute],
    ctx: &Context,
    opts: &RenderOptions,
) -> Value {
    match (opts.format, instances) {
        (Format::KeyValues, [one]) => simplified(one, ctx, opts),
        (Format::KeyValues, many) => {
            let mut by_dataset = Map::new();
            for a in many {
                let key = a.dataset_id.clone().unwrap_or_else(|| "@none".to_string());
                by_dataset.insert(key, simplified(a, ctx, opts));
            }
            json!({ "dataset": by_dataset })
        }
        (_, [one]) => full(one, name_iri, ctx, opts, false),
        (_, many) => Value::Array(
            many.iter()
                .map(|a| full(a, name_iri, ctx, opts, true))
                .collect(),
        ),
    }
}

/// Renders an entity in the form `opts` asks for, names compacted with `ctx` (no
/// `@context` member: the caller adds it or a Link header). Writes `id`, `type` (a string
/// for one type, an array for several), `scope`, the attributes (an array for several
/// instances; several instances in keyValues become `{"dataset": {datasetId: value}}`, the
/// default instance under `@none`), and with `sys_attrs` the createdAt and modifiedAt of the
/// entity and of its attributes (entity only in keyValues).
pub fn render_entity(e: &Entity, ctx: &Context, opts: &RenderOptions) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), Value::String(e.id.clone()));
    out.insert(
        "type".into(),
        one_or_many(e.types.iter().map(|t| ctx.compact(t)).collect()),
    );
    if let Some(scope) = e.scope.as_ref().filter(|s| !s.is_empty()) {
        out.insert("scope".into(), one_or_many(scope.clone()));
    }
    for (iri, instances) in &e.attrs {
        if instances.is_empty() || !opts.keeps(iri) {
            continue;
        }
        out.insert(
            ctx.compact(iri),
            render_instances(iri, instances, ctx, opts),
        );
    }
    if opts.sys_attrs {
        if let Some(t) = &e.created_at {
            out.insert("createdAt".into(), Value::String(format_datetime(t)));
        }
        if let Some(t) = &e.modified_at {
            out.insert("modifiedAt".into(), Value::String(format_datetime(t)));
        }
    }
    out
}

/// Renders an entity as a GeoJSON Feature (RFC 7946, ETSI GS CIM 009 §4.5.16): its id, its
/// geometry taken from the GeoProperty `geometry_property_iri` (the default instance, else
/// the first; null when there is none), and as `properties` the rendered entity without its
/// id (with its `type`).
pub fn render_geojson_feature(
    e: &Entity,
    ctx: &Context,
    opts: &RenderOptions,
    geometry_property_iri: &str,
) -> Value {
    let mut properties = render_entity(e, ctx, opts);
    properties.remove("id");
    let geometries: Vec<&Attribute> = e
        .attrs
        .get(geometry_property_iri)
        .into_iter()
        .flatten()
        .filter(|a| matches!(a.value, AttributeValue::GeoProperty(_)))
        .collect();
    let chosen = geometries
        .iter()
        .find(|a| a.dataset_id.is_none())
        .or(geometries.first());
    let geometry = match chosen.map(|a| &a.value) {
        Some(AttributeValue::GeoProperty(g)) => g.as_json().clone(),
        _ => Value::Null,
    };
    json!({
        "id": e.id,
        "type": "Feature",
        "geometry": geometry,
        "properties": properties,
    })
}

/// Renders entities as a GeoJSON FeatureCollection of [`render_geojson_feature`]s.
pub fn render_feature_collection<'a>(
    entities: impl IntoIterator<Item = &'a Entity>,
    ctx: &Context,
    opts: &RenderOptions,
    geometry_property_iri: &str,
) -> Value {
    let features: Vec<Value> = entities
        .into_iter()
        .map(|e| render_geojson_feature(e, ctx, opts, geometry_property_iri))
        .collect();
    json!({ "type": "FeatureCollection", "features": features })
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn no_docs(_: &str) -> Option<Arc<Value>> {
        None
    }

    fn fixtures() -> Vec<(String, Value)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("fixtures directory") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            if name.ends_with(".jsonld") {
                let text = std::fs::read_to_string(&path).expect("readable");
                out.push((name, serde_json::from_str(&text).expect("fixture is JSON")));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(out.len(), 32, "every example pair is present");
        out
    }

    fn ctx_of(doc: &Value) -> Context {
        Context::build(&doc["@context"], &no_docs).expect("bundled contexts answer the examples")
    }

    fn opts(format: Format) -> RenderOptions {
        RenderOptions {
            format,
            ..Default::default()
        }
    }

    /// What the normalized rendering of a fixture is expected to be: the input without
    /// @context and with observedAt in UTC (Relationships with several objects are given
    /// back as sent, an array under `object`).
    fn expected_normalized(doc: &Value) -> Value {
        fn fix(v: &mut Value) {
            if let Value::Object(m) = v {
                if let Some(Value::String(s)) = m.get("observedAt") {
                    let utc = format_datetime(&parse_datetime(s).expect("fixture dates are valid"));
                    m.insert("observedAt".into(), Value::String(utc));
                }
                for (k, child) in m.iter_mut() {
                    if k != "value" {
                        fix(child);
                    }
                }
            } else if let Value::Array(items) = v {
                items.iter_mut().for_each(fix);
            }
        }
        let mut v = doc.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("@context");
        }
        fix(&mut v);
        v
    }

    #[test]
    fn normalized_examples_round_trip() {
        let mut checked = 0;
        for (name, doc) in fixtures() {
            if !name.ends_with("-normalized.jsonld") {
                continue;
            }
            let ctx = ctx_of(&doc);
            let parsed = parse_entity(&doc, &ctx);
            match name.as_str() {
                // Known invalid upstream (see tests/fixtures/SOURCES.txt).
                "FloodMonitoring_example-normalized.jsonld" => {
                    let err = parsed.expect_err("attributes typed \"string\"");
                    assert_eq!(err.kind, ErrorKind::BadRequestData);
                    assert!(err.detail.contains("'floodLevelStatus'"), "{}", err.detail);
                    assert!(err.detail.contains("type 'string'"), "{}", err.detail);
                    assert!(
                        err.detail.contains("Property, Relationship, GeoProperty"),
                        "{}",
                        err.detail
                    );
                }
                "WaterObserved_example-normalized.jsonld" => {
                    let err = parsed.expect_err("a Relationship whose object is a date");
                    assert!(err.detail.contains("'dateObserved'"), "{}", err.detail);
                }
                _ => {
                    let e = parsed.unwrap_or_else(|err| panic!("{name}: {err}"));
                    let rendered =
                        Value::Object(render_entity(&e, &ctx, &opts(Format::Normalized)));
                    assert_eq!(rendered, expected_normalized(&doc), "{name}");
                    // The concise form is lossless too.
                    let concise = Value::Object(render_entity(&e, &ctx, &opts(Format::Concise)));
                    let again = parse_entity(&concise, &ctx)
                        .unwrap_or_else(|err| panic!("{name} concise: {err}"));
                    assert_eq!(again, e, "{name}: concise round trip\n{concise:#}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 14);
    }

    #[test]
    fn simplified_examples_parse() {
        for (name, doc) in fixtures() {
            if name.ends_with("-normalized.jsonld") {
                continue;
            }
            let ctx = ctx_of(&doc);
            let e = parse_entity(&doc, &ctx).unwrap_or_else(|err| panic!("{name}: {err}"));
            assert!(!e.attrs.is_empty(), "{name}");
            // Without values read as sub-attributes, keyValues gives the input back.
            if name != "Junction_example.jsonld" {
                let mut expected = doc.clone();
                expected.as_object_mut().map(|m| m.remove("@context"));
                let rendered = Value::Object(render_entity(&e, &ctx, &opts(Format::KeyValues)));
                assert_eq!(rendered, expected, "{name}");
            }
        }
        let (_, doc) = fixtures()
            .into_iter()
            .find(|(n, _)| n == "Streetlight_example.jsonld")
            .expect("fixture");
        let ctx = ctx_of(&doc);
        let e = parse_entity(&doc, &ctx).expect("valid");
        let location = e
            .attr("https://uri.etsi.org/ngsi-ld/location")
            .expect("location");
        assert!(matches!(location.value, AttributeValue::GeoProperty(_)));
        let info = e
            .attr("https://smartdatamodels.org/dataModel.Streetlighting/municipalityInfo")
            .expect("municipalityInfo");
        assert!(matches!(
            &info.value,
            AttributeValue::Property(Value::Object(_))
        ));
        assert_eq!(
            e.types,
            vec!["https://smartdatamodels.org/dataModel.Streetlighting/Streetlight"]
        );

        // Junction: concise values with sub-attributes.
        let (_, doc) = fixtures()
            .into_iter()
            .find(|(n, _)| n == "Junction_example.jsonld")
            .expect("fixture");
        let ctx = ctx_of(&doc);
        let e = parse_entity(&doc, &ctx).expect("valid");
        let demand = e
            .attr(&ctx.expand("demandCategory"))
            .expect("demandCategory");
        assert_eq!(demand.value, AttributeValue::Property(json!(1.763868462)));
        assert!(demand.sub.contains_key(&ctx.expand("baseDemand")));
    }

    #[test]
    fn different_contexts_see_the_same_data() {
        let a = Context::build(&json!({"temp": "https://example.org/temperature", "Sensor": "https://example.org/Sensor"}), &no_docs)
            .expect("ctx a");
        let b = Context::build(
            &json!({"ex": "https://example.org/", "temperature": "ex:temperature"}),
            &no_docs,
        )
        .expect("ctx b");
        let e = parse_entity(
            &json!({"id": "urn:ngsi-ld:Sensor:1", "type": "Sensor",
                    "temp": {"type": "Property", "value": 21.5, "unitCode": "CEL",
                             "observedAt": "2024-03-01T13:00:00+01:00"}}),
            &a,
        )
        .expect("valid");
        assert!(e.attrs.contains_key("https://example.org/temperature"));
        let rendered = Value::Object(render_entity(&e, &b, &opts(Format::Normalized)));
        assert_eq!(
            rendered,
            json!({"id": "urn:ngsi-ld:Sensor:1", "type": "ex:Sensor",
                   "temperature": {"type": "Property", "value": 21.5, "unitCode": "CEL",
                                   "observedAt": "2024-03-01T12:00:00Z"}})
        );
        // A client without context gets full IRIs where no short name exists.
        let core = Context::core();
        let plain = render_entity(&e, &core, &opts(Format::KeyValues));
        assert_eq!(plain["https://example.org/temperature"], json!(21.5));
        assert_eq!(plain["type"], json!("https://example.org/Sensor"));
    }

    #[test]
    fn core_terms_cannot_be_redefined() {
        let ctx = Context::build(
            &json!({"location": "https://example.org/where", "unitCode": "https://example.org/u"}),
            &no_docs,
        )
        .expect("ctx");
        let e = parse_entity(
            &json!({"id": "urn:a:1", "type": "T",
                    "location": {"type": "Point", "coordinates": [2.35, 48.85]},
                    "speed": {"value": 3, "unitCode": "KMH"}}),
            &ctx,
        )
        .expect("valid");
        assert!(e.attr("https://uri.etsi.org/ngsi-ld/location").is_some());
        let speed = e.attr(&ctx.expand("speed")).expect("speed");
        assert_eq!(speed.unit_code.as_deref(), Some("KMH"));
    }

    #[test]
    fn every_attribute_type_in_every_form() {
        let ctx = Context::core();
        let doc = json!({
            "id": "urn:ngsi-ld:Cabinet:1",
            "type": ["Cabinet", "Asset"],
            "scope": ["/Lighting/Zone1", "/Energy"],
            "power": {"type": "Property", "value": 3.2, "unitCode": "KWT",
                      "observedAt": "2024-03-01T12:00:00.500Z",
                      "source": {"type": "Relationship", "object": "urn:ngsi-ld:Meter:7"}},
            "feeds": {"type": "Relationship", "object": "urn:ngsi-ld:Streetlight:1"},
            "serves": {"type": "Relationship", "object": ["urn:ngsi-ld:Zone:1", "urn:ngsi-ld:Zone:2"]},
            "servedBy": {"type": "Relationship", "object": ["urn:ngsi-ld:Feeder:1"]},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.35, 48.85]}},
            "name": {"type": "LanguageProperty", "languageMap": {"fr": "armoire", "en": "cabinet"}},
            "config": {"type": "JsonProperty", "json": {"type": "Point", "k": [1, 2]}},
            "category": {"type": "VocabProperty", "vocab": ["lighting", "ngsi-ld:critical"]},
            "readings": {"type": "ListProperty", "valueList": [1, 2, 3]},
            "route": {"type": "ListRelationship", "objectList": [{"object": "urn:a:1"}, {"object": "urn:a:2"}]},
            "temperature": [
                {"type": "Property", "value": 20, "datasetId": "urn:ngsi-ld:Dataset:a"},
                {"type": "Property", "value": 21}
            ],
            "shape": {"type": "Property", "value": {"type": "Point", "coordinates": [1, 2]}},
            "address": {"type": "Property", "value": {"street": "rue X"}}
        });
        let e = parse_entity(&doc, &ctx).expect("valid");
        assert_eq!(e.types.len(), 2);
        let category = e.attr(&ctx.expand("category")).expect("category");
        assert_eq!(
            category.value,
            AttributeValue::VocabProperty(json!([
                "https://uri.etsi.org/ngsi-ld/default-context/lighting",
                "https://uri.etsi.org/ngsi-ld/critical"
            ]))
        );
        // A Relationship keeps its object as sent: one URI, or an array (even of one).
        let serves = e.attr(&ctx.expand("serves")).expect("serves");
        assert_eq!(
            serves.value,
            AttributeValue::Relationship(RelObject::Many(vec![
                "urn:ngsi-ld:Zone:1".into(),
                "urn:ngsi-ld:Zone:2".into()
            ]))
        );
        let feeds = e.attr(&ctx.expand("feeds")).expect("feeds");
        assert_eq!(
            feeds.value,
            AttributeValue::Relationship("urn:ngsi-ld:Streetlight:1".into())
        );
        // Normalized gives the input back (types sorted, observedAt as written in UTC).
        let normalized = Value::Object(render_entity(&e, &ctx, &opts(Format::Normalized)));
        let mut expected = doc.clone();
        expected["type"] = json!(["Asset", "Cabinet"]);
        assert_eq!(normalized, expected);
        // Concise is lossless.
        let concise = Value::Object(render_entity(&e, &ctx, &opts(Format::Concise)));
        assert_eq!(
            concise["feeds"],
            json!({"object": "urn:ngsi-ld:Streetlight:1"})
        );
        assert_eq!(
            concise["location"],
            json!({"type": "Point", "coordinates": [2.35, 48.85]})
        );
        assert_eq!(
            concise["serves"],
            json!({"object": ["urn:ngsi-ld:Zone:1", "urn:ngsi-ld:Zone:2"]})
        );
        assert_eq!(
            concise["servedBy"],
            json!({"object": ["urn:ngsi-ld:Feeder:1"]})
        );
        assert_eq!(concise["readings"], json!({"valueList": [1, 2, 3]}));
        assert_eq!(concise["shape"]["type"], json!("Property"));
        assert_eq!(concise["address"], json!({"value": {"street": "rue X"}}));
        assert_eq!(parse_entity(&concise, &ctx).expect("concise parses"), e);
        // keyValues.
        let kv = Value::Object(render_entity(&e, &ctx, &opts(Format::KeyValues)));
        assert_eq!(kv["power"], json!(3.2));
        assert_eq!(kv["feeds"], json!("urn:ngsi-ld:Streetlight:1"));
        assert_eq!(
            kv["serves"],
            json!(["urn:ngsi-ld:Zone:1", "urn:ngsi-ld:Zone:2"])
        );
        assert_eq!(kv["servedBy"], json!(["urn:ngsi-ld:Feeder:1"]));
        assert_eq!(
            kv["location"],
            json!({"type": "Point", "coordinates": [2.35, 48.85]})
        );
        assert_eq!(
            kv["name"],
            json!({"languageMap": {"fr": "armoire", "en": "cabinet"}})
        );
        assert_eq!(
            kv["config"],
            json!({"json": {"type": "Point", "k": [1, 2]}})
        );
        assert_eq!(
            kv["category"],
            json!({"vocab": ["lighting", "ngsi-ld:critical"]})
        );
        assert_eq!(kv["readings"], json!({"valueList": [1, 2, 3]}));
        assert_eq!(kv["route"], json!({"objectList": ["urn:a:1", "urn:a:2"]}));
        assert_eq!(
            kv["temperature"],
            json!({"dataset": {"urn:ngsi-ld:Dataset:a": 20, "@none": 21}})
        );
        assert_eq!(kv["scope"], json!(["/Lighting/Zone1", "/Energy"]));
        // pick / omit.
        let mut o = opts(Format::KeyValues);
        o.pick = Some(
            [ctx.expand("power"), ctx.expand("feeds")]
                .into_iter()
                .collect(),
        );
        o.omit = [ctx.expand("feeds")].into_iter().collect();
        let picked = render_entity(&e, &ctx, &o);
        let keys: Vec<&str> = picked.keys().map(String::as_str).collect();
        assert_eq!(keys, vec!["id", "type", "scope", "power"]);
    }

    #[test]
    fn languages_are_chosen_with_lang() {
        let ctx = Context::core();
        let e = parse_entity(
            &json!({"id": "urn:a:1", "type": "T",
                    "name": {"languageMap": {"fr": "armoire", "en-GB": "cabinet", "@none": "box"}}}),
            &ctx,
        )
        .expect("valid");
        let render = |format, lang: &str| {
            let o = RenderOptions {
                format,
                lang: Some(lang.into()),
                ..Default::default()
            };
            Value::Object(render_entity(&e, &ctx, &o))["name"].clone()
        };
        assert_eq!(render(Format::KeyValues, "fr"), json!("armoire"));
        assert_eq!(render(Format::KeyValues, "de,en;q=0.5"), json!("cabinet"));
        assert_eq!(render(Format::KeyValues, "de"), json!("box"));
        assert_eq!(
            render(Format::Normalized, "en"),
            json!({"type": "Property", "value": "cabinet", "lang": "en-GB"})
        );
        assert_eq!(
            render(Format::Concise, "fr"),
            json!({"value": "armoire", "lang": "fr"})
        );
    }

    #[test]
    fn system_attributes_are_kept_only_when_restoring() {
        let ctx = Context::core();
        let doc = json!({"id": "urn:a:1", "type": "T",
                         "createdAt": "2024-01-01T00:00:00Z", "modifiedAt": "2024-01-02T00:00:00Z",
                         "p": {"type": "Property", "value": 1,
                               "createdAt": "2024-01-01T00:00:00Z", "modifiedAt": "2024-01-02T00:00:00Z"}});
        let plain = parse_entity(&doc, &ctx).expect("valid");
        assert!(plain.created_at.is_none());
        assert!(plain
            .attr(&ctx.expand("p"))
            .expect("p")
            .created_at
            .is_none());
        let restored = parse_entity_with_sys_attrs(&doc, &ctx).expect("valid");
        assert!(restored.created_at.is_some());
        let o = RenderOptions {
            sys_attrs: true,
            ..Default::default()
        };
        assert_eq!(Value::Object(render_entity(&restored, &ctx, &o)), doc);
        // Without sysAttrs they are not rendered.
        let rendered = render_entity(&restored, &ctx, &RenderOptions::default());
        assert!(!rendered.contains_key("createdAt"));
    }

    fn error_of(doc: Value) -> String {
        let err = parse_entity(&doc, &Context::core()).expect_err("invalid");
        assert_eq!(err.kind, ErrorKind::BadRequestData, "{}", err.detail);
        err.detail
    }

    #[test]
    fn invalid_entities_are_explained() {
        assert!(error_of(json!([])).contains("JSON object"));
        assert!(error_of(json!({"type": "T"})).contains("no 'id'"));
        assert!(error_of(json!({"id": "urn:a:1"})).contains("no 'type'"));
        assert!(error_of(json!({"id": "not a uri", "type": "T"})).contains("not a uri"));
        assert!(error_of(json!({"id": "urn:a:1", "type": []})).contains("entity type"));
        assert!(
            error_of(json!({"id": "urn:a:1", "type": "T", "scope": "Zone1"})).contains("scope")
        );
        let d = error_of(json!({"id": "urn:a:1", "type": "T", "bad name": 1}));
        assert!(d.contains("'bad name'") && d.contains("' '"), "{d}");
        assert!(error_of(json!({"id": "urn:a:1", "type": "T", "a=b": 1})).contains("'='"));
        assert!(error_of(json!({"id": "urn:a:1", "type": "T", "": 1})).contains("empty"));
        assert!(error_of(json!({"id": "urn:a:1", "type": "T", "1x:y": 1})).contains("compact IRI"));
        assert!(error_of(
            json!({"id": "urn:a:1", "type": "T", "observedAt": "2024-01-01T00:00:00Z"})
        )
        .contains("reserved"));
        assert!(error_of(json!({"id": "urn:a:1", "type": "T", "@graph": []})).contains("keyword"));
        let d = error_of(json!({"id": "urn:a:1", "type": "T", "p": {"type": "Property"}}));
        assert!(d.contains("'p'") && d.contains("without 'value'"), "{d}");
        assert!(error_of(
            json!({"id": "urn:a:1", "type": "T", "p": {"type": "Property", "value": null}})
        )
        .contains("null"));
        assert!(error_of(json!({"id": "urn:a:1", "type": "T", "p": null})).contains("null"));
        assert!(
            error_of(json!({"id": "urn:a:1", "type": "T", "p": "urn:ngsi-ld:null"}))
                .contains("null")
        );
        let d = error_of(
            json!({"id": "urn:a:1", "type": "T", "r": {"type": "Relationship", "object": "nope"}}),
        );
        assert!(d.contains("'r'") && d.contains("URI"), "{d}");
        // Every element of an object array is checked; the error names the element.
        let d = error_of(json!({"id": "urn:a:1", "type": "T",
            "r": {"type": "Relationship", "object": ["urn:b:1", "not a uri"]}}));
        assert!(
            d.contains("'r'") && d.contains("object[1]") && d.contains("not a uri"),
            "{d}"
        );
        let d = error_of(json!({"id": "urn:a:1", "type": "T",
            "r": {"type": "Relationship", "object": ["urn:b:1", 5]}}));
        assert!(d.contains("'r'") && d.contains("object[1] is 5"), "{d}");
        let d = error_of(
            json!({"id": "urn:a:1", "type": "T", "r": {"object": ["urn:b:1", ["urn:b:2"]]}}),
        );
        assert!(d.contains("'r'") && d.contains("object[1]"), "{d}");
        let d = error_of(json!({"id": "urn:a:1", "type": "T",
            "r": {"type": "Relationship", "object": []}}));
        assert!(d.contains("'r'") && d.contains("empty object array"), "{d}");
        let d = error_of(json!({"id": "urn:a:1", "type": "T",
            "r": {"type": "Relationship", "object": {"id": "urn:b:1"}}}));
        assert!(d.contains("'r'") && d.contains("URI"), "{d}");
        let d = error_of(
            json!({"id": "urn:a:1", "type": "T", "p": {"value": 1, "observedAt": "yesterday"}}),
        );
        assert!(d.contains("observedAt") && d.contains("yesterday"), "{d}");
        assert!(
            error_of(json!({"id": "urn:a:1", "type": "T", "p": {"value": 1, "unitCode": 5}}))
                .contains("unitCode")
        );
        assert!(error_of(
            json!({"id": "urn:a:1", "type": "T", "p": {"value": 1, "datasetId": "x"}})
        )
        .contains("datasetId"));
        let d = error_of(json!({"id": "urn:a:1", "type": "T", "p": [{"value": 1}, {"value": 2}]}));
        assert!(
            d.contains("two instances of attribute 'p' have the same datasetId"),
            "{d}"
        );
        let d = error_of(json!({"id": "urn:a:1", "type": "T", "p": [
            {"value": 1, "datasetId": "urn:d:1"}, {"value": 2, "datasetId": "urn:d:1"}]}));
        assert!(d.contains("same datasetId 'urn:d:1'"), "{d}");
        assert!(error_of(
            json!({"id": "urn:a:1", "type": "T", "p": {"value": 1, "object": "urn:x:1"}})
        )
        .contains("several"));
        assert!(error_of(json!({"id": "urn:a:1", "type": "T", "p": {"type": "Property", "object": "urn:x:1", "value": 1}})).contains("cannot have 'object'"));
        assert!(
            error_of(json!({"id": "urn:a:1", "type": "T", "p": {"type": 3, "value": 1}}))
                .contains("type")
        );
        assert!(
            error_of(json!({"id": "urn:a:1", "type": "T", "p": {"languageMap": {"fr": 3}}}))
                .contains("languageMap")
        );
        assert!(
            error_of(json!({"id": "urn:a:1", "type": "T", "p": {"valueList": 3}}))
                .contains("valueList")
        );
        assert!(
            error_of(json!({"id": "urn:a:1", "type": "T", "p": {"vocab": 3}})).contains("vocab")
        );
        assert!(
            error_of(json!({"id": "urn:a:1", "type": "T", "p": [{"value": 1}, 2]}))
                .contains("mixing")
        );
        assert!(
            error_of(json!({"id": "urn:a:1", "type": "T", "p": {"value": 1, "@id": "urn:x"}}))
                .contains("keyword")
        );
        let d = error_of(
            json!({"id": "urn:a:1", "type": "T", "p": {"value": 1, "s": {"type": "Nope", "value": 1}}}),
        );
        assert!(d.contains("'p.s'") && d.contains("type 'Nope'"), "{d}");
        let d = error_of(
            json!({"id": "urn:a:1", "type": "T", "p": 1, "https://uri.etsi.org/ngsi-ld/default-context/p": 2}),
        );
        assert!(d.contains("send it once"), "{d}");
    }

    #[test]
    fn parse_attribute_handles_one_or_several_instances() {
        let ctx = Context::core();
        let iri = ctx.expand("temperature");
        let one =
            parse_attribute(&iri, &json!({"value": 20, "unitCode": "CEL"}), &ctx).expect("valid");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].unit_code.as_deref(), Some("CEL"));
        let two = parse_attribute(
            &iri,
            &json!([{"type": "Property", "value": 20}, {"type": "Property", "value": 21, "datasetId": "urn:d:1"}]),
            &ctx,
        )
        .expect("valid");
        assert_eq!(two.len(), 2);
        // An array of plain values is one Property.
        let list = parse_attribute(&iri, &json!([20, 21]), &ctx).expect("valid");
        assert_eq!(list[0].value, AttributeValue::Property(json!([20, 21])));
        let err = parse_attribute(&iri, &json!({"type": "string", "value": 1}), &ctx)
            .expect_err("bad type");
        assert!(
            err.detail
                .contains("attribute 'temperature' has type 'string'"),
            "{}",
            err.detail
        );
    }

    #[test]
    fn fragments_separate_deletions() {
        let ctx = Context::core();
        let f = parse_fragment(
            &json!({"@context": "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
                    "id": "urn:a:1", "type": "T",
                    "keep": {"value": 1, "note": null},
                    "a": null,
                    "b": {"value": null},
                    "c": {"type": "Relationship", "object": "urn:ngsi-ld:null", "datasetId": "urn:d:1"},
                    "d": {"languageMap": {"@none": "urn:ngsi-ld:null"}},
                    "e": "urn:ngsi-ld:null",
                    "f": [{"value": 3}, {"value": null, "datasetId": "urn:d:2"}],
                    "createdAt": "2020-01-01T00:00:00Z",
                    "scope": null}),
            &ctx,
        )
        .expect("valid");
        assert_eq!(f.id.as_deref(), Some("urn:a:1"));
        assert_eq!(f.types, Some(vec![ctx.expand("T")]));
        assert!(f.scope_null);
        let keep = &f.attrs[&ctx.expand("keep")][0];
        assert!(keep.sub.is_empty(), "a null sub-attribute is dropped");
        assert_eq!(f.attrs[&ctx.expand("f")].len(), 1);
        let nulls: Vec<(String, Option<String>)> = vec![
            (ctx.expand("a"), None),
            (ctx.expand("b"), None),
            (ctx.expand("c"), Some("urn:d:1".into())),
            (ctx.expand("d"), None),
            (ctx.expand("e"), None),
            (ctx.expand("f"), Some("urn:d:2".into())),
        ];
        assert_eq!(f.nulls, nulls);
        assert!(parse_fragment(&json!("x"), &ctx).is_err());
        assert!(parse_fragment(&json!({"p": {"type": "string", "value": 1}}), &ctx).is_err());
    }

    #[test]
    fn geojson_features() {
        let ctx = Context::core();
        let e = parse_entity(
            &json!({"id": "urn:a:1", "type": "T", "p": 1,
                    "location": {"type": "Point", "coordinates": [2.35, 48.85]}}),
            &ctx,
        )
        .expect("valid");
        let loc = ctx.expand("location");
        let f = render_geojson_feature(&e, &ctx, &opts(Format::KeyValues), &loc);
        assert_eq!(
            f,
            json!({"id": "urn:a:1", "type": "Feature",
                   "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
                   "properties": {"type": "T", "p": 1,
                                  "location": {"type": "Point", "coordinates": [2.35, 48.85]}}})
        );
        let none = render_geojson_feature(&e, &ctx, &opts(Format::Normalized), &ctx.expand("p"));
        assert_eq!(none["geometry"], Value::Null);
        assert_eq!(
            none["properties"]["p"],
            json!({"type": "Property", "value": 1})
        );
        let fc = render_feature_collection([&e, &e], &ctx, &opts(Format::KeyValues), &loc);
        assert_eq!(fc["type"], json!("FeatureCollection"));
        assert_eq!(fc["features"].as_array().map(Vec::len), Some(2));
    }
}
