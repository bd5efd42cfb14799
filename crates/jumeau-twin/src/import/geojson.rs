//! GeoJSON (RFC 7946) FeatureCollection → NGSI-LD entities.
use serde_json::{Map, Value};

use super::common::{
    decode, locate, lookup, property, relationship, same_field, scalar_text, validate_options,
    Collector, Names,
};
use super::{Crs, ImportBatch, ImportError, ImportOptions};

/// Imports a GeoJSON FeatureCollection (or a single Feature): one entity per Feature.
///
/// The geometry becomes the `location` GeoProperty (a Feature without one is rejected:
/// the twin is geolocated), the properties become attributes (null values skipped, nested
/// objects and arrays kept as values). Coordinates are read according to `opts.crs`, or
/// to the file's legacy `crs` member when it declares EPSG:2154 or WGS84 and `opts.crs`
/// is [`Crs::Auto`]. Rows are numbered by feature, from 1. See the module documentation
/// for ids, names and the report.
pub fn import_geojson(bytes: &[u8], opts: &ImportOptions) -> Result<ImportBatch, ImportError> {
    validate_options(opts)?;
    let text = decode(bytes)?;
    let root: Value =
        serde_json::from_str(text).map_err(|e| ImportError::NotJson(e.to_string()))?;
    let features: Vec<&Value> = match root.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => match root.get("features") {
            Some(Value::Array(features)) => features.iter().collect(),
            _ => {
                return Err(ImportError::NotFeatureCollection {
                    found: "a FeatureCollection without a \"features\" array".into(),
                })
            }
        },
        Some("Feature") => vec![&root],
        Some(other) => {
            return Err(ImportError::NotFeatureCollection {
                found: format!("an object of type {other:?}"),
            })
        }
        None => {
            return Err(ImportError::NotFeatureCollection {
                found: match &root {
                    Value::Array(_) => "a JSON array".into(),
                    Value::Object(_) => "an object without a \"type\" member".into(),
                    other => format!("the JSON value {other}"),
                },
            })
        }
    };
    let crs = effective_crs(&root, opts.crs)?;

    let mut names = Names::new("property");
    let mut rows = Collector::new(opts, "feature");
    for (index, feature) in features.into_iter().enumerate() {
        import_feature(index + 1, feature, opts, crs, &mut names, &mut rows);
    }
    Ok(rows.finish(Vec::new(), names))
}

/// Turns one Feature into an entity or a rejection.
fn import_feature(
    row: usize,
    feature: &Value,
    opts: &ImportOptions,
    crs: Crs,
    names: &mut Names,
    rows: &mut Collector<'_>,
) {
    let Value::Object(feature) = feature else {
        rows.reject(
            row,
            format!("the feature is not a JSON object but {feature}"),
        );
        return;
    };
    let mut reasons = Vec::new();
    match feature.get("type").and_then(Value::as_str) {
        Some("Feature") => {}
        _ => reasons.push(format!(
            "the member \"type\" is {} instead of \"Feature\"",
            feature.get("type").unwrap_or(&Value::Null)
        )),
    }
    let empty = Map::new();
    let props = match feature.get("properties") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(props)) => props,
        Some(other) => {
            reasons.push(format!(
                "\"properties\" must be an object or null, found {other}"
            ));
            &empty
        }
    };

    let type_value = match &opts.type_field {
        Some(field) => match lookup(props, field).map(scalar_text) {
            None => None,
            Some(Ok(value)) => value,
            Some(Err(())) => {
                reasons.push(format!(
                    "the type property {field:?} must be a string or a number"
                ));
                None
            }
        },
        None => None,
    };
    let from_field = match &opts.id_field {
        Some(field) => match lookup(props, field).map(scalar_text) {
            None => None,
            Some(Ok(value)) => value.filter(|v| !v.trim().is_empty()),
            Some(Err(())) => {
                reasons.push(format!(
                    "the id property {field:?} must be a string or a number"
                ));
                None
            }
        },
        None => None,
    };
    let local_id = match from_field {
        Some(id) => Some(id),
        None => match feature.get("id").map(scalar_text) {
            None => None,
            Some(Ok(id)) => id,
            Some(Err(())) => {
                reasons.push("the Feature \"id\" must be a string or a number".into());
                None
            }
        },
    };
    let identity = rows.identify(row, type_value.as_deref(), local_id.as_deref());

    let location = match feature.get("geometry") {
        None => {
            reasons.push(
                "the feature has no \"geometry\" member; every entity of the twin is located: \
                 give it a geometry or remove it"
                    .into(),
            );
            None
        }
        Some(Value::Null) => {
            reasons.push(
                "the geometry is null; every entity of the twin is located: give the feature \
                 a geometry or remove it"
                    .into(),
            );
            None
        }
        Some(geometry) => locate(geometry, crs)
            .map_err(|reason| reasons.push(reason))
            .ok(),
    };

    let mut attributes = Vec::with_capacity(props.len());
    for (key, value) in props {
        if value.is_null() {
            continue;
        }
        let target = opts
            .relationship_fields
            .iter()
            .find(|(field, _)| same_field(field, key))
            .map(|(_, target)| target);
        let attribute = match target {
            None => property(value.clone()),
            Some(target) => match scalar_text(value) {
                Ok(Some(object)) => match relationship(target, &object) {
                    Ok(attribute) => attribute,
                    Err(reason) => {
                        reasons.push(format!("property {key:?}: {reason}"));
                        continue;
                    }
                },
                _ => {
                    reasons.push(format!(
                        "the relationship property {key:?} must be a string or a number \
                         (the id of the target entity), found {value}"
                    ));
                    continue;
                }
            },
        };
        attributes.push((names.attribute(key), attribute));
    }
    rows.finish_row(row, identity, location, attributes, reasons);
}

/// The CRS to read the coordinates in: the requested one, or the one declared by the
/// legacy `crs` member (GeoJSON 2008) when the request is [`Crs::Auto`].
fn effective_crs(root: &Value, requested: Crs) -> Result<Crs, ImportError> {
    let declared = match root.get("crs") {
        None | Some(Value::Null) => return Ok(requested),
        Some(member) => declared_crs(member)?,
    };
    match requested {
        Crs::Auto => Ok(declared),
        requested if requested == declared => Ok(requested),
        requested => Err(ImportError::CrsConflict {
            declared,
            requested,
        }),
    }
}

/// Reads a legacy `crs` member: `{"type": "name", "properties": {"name":
/// "urn:ogc:def:crs:EPSG::2154"}}` or `{"type": "EPSG", "properties": {"code": 2154}}`.
fn declared_crs(member: &Value) -> Result<Crs, ImportError> {
    let unsupported = || ImportError::UnsupportedCrs {
        declared: member.to_string(),
    };
    let props = member.get("properties");
    let name = props
        .and_then(|p| p.get("name").or_else(|| p.get("code")))
        .and_then(|v| scalar_text(v).ok().flatten())
        .ok_or_else(unsupported)?;
    let code = name
        .rsplit([':', '/'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match code.as_str() {
        "2154" => Ok(Crs::Lambert93),
        // RGF93 geographic (4171) coincides with WGS84 at the metre level.
        "4326" | "crs84" | "4171" => Ok(Crs::Wgs84),
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn legacy_crs_members_are_recognised() {
        let l93 = json!({"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}});
        assert_eq!(declared_crs(&l93), Ok(Crs::Lambert93));
        let code = json!({"type": "EPSG", "properties": {"code": 2154}});
        assert_eq!(declared_crs(&code), Ok(Crs::Lambert93));
        let crs84 =
            json!({"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}});
        assert_eq!(declared_crs(&crs84), Ok(Crs::Wgs84));
        let cc46 = json!({"type": "name", "properties": {"name": "EPSG:3946"}});
        assert!(matches!(
            declared_crs(&cc46),
            Err(ImportError::UnsupportedCrs { .. })
        ));
    }
}
