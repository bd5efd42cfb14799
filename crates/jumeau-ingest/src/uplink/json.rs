//! Reading proto3-style JSON by hand, with a JSON path in every error.
//!
//! The parsers walk a [`serde_json::Value`] rather than derive `Deserialize`, because the
//! proto3 JSON mapping is looser than serde's defaults: `null` means "default", 64-bit integers
//! may be strings, integers may be written as floats, and absent fields mean zero. Walking by
//! hand also lets every error name the exact path of the offending field.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::codec;
use super::error::{excerpt, UplinkError};

/// Parses a body into a JSON object.
pub(crate) fn parse_body(body: &[u8]) -> Result<Map<String, Value>, UplinkError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| UplinkError::InvalidJson {
        detail: excerpt(&e.to_string()),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(UplinkError::NotAnObject {
            found: type_name(&other),
        }),
    }
}

/// How a JSON value's type is named in errors.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object being read, with its path from the root for error messages.
#[derive(Clone, Copy)]
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

/// Joins a path and a key: `""` + `a` = `a`; `a` + `b` = `a.b`.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl<'a> Obj<'a> {
    /// The root object of a message.
    pub(crate) fn root(map: &'a Map<String, Value>) -> Self {
        Obj { map, path: "" }
    }

    /// An object found at `path`.
    pub(crate) fn at(map: &'a Map<String, Value>, path: &'a str) -> Self {
        Obj { map, path }
    }

    /// The underlying map.
    pub(crate) fn map(&self) -> &'a Map<String, Value> {
        self.map
    }

    /// The path of a field of this object.
    pub(crate) fn path_of(&self, key: &str) -> String {
        join(self.path, key)
    }

    /// A field's value; `null` counts as absent, as in proto3 JSON.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Whether a field is present and not `null`.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn wrong(&self, key: &str, expected: &'static str, found: &Value) -> UplinkError {
        UplinkError::WrongType {
            field: self.path_of(key),
            expected,
            found: type_name(found),
        }
    }

    /// A nested object, `None` when absent.
    pub(crate) fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, UplinkError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(self.wrong(key, "an object", other)),
        }
    }

    /// An array, empty when absent.
    pub(crate) fn array(&self, key: &str) -> Result<&'a [Value], UplinkError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong(key, "an array", other)),
        }
    }

    /// A string, `None` when absent.
    pub(crate) fn str(&self, key: &str) -> Result<Option<&'a str>, UplinkError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// A string, `None` when absent or empty (proto3 writes or omits `""` for "not set").
    pub(crate) fn text(&self, key: &str) -> Result<Option<String>, UplinkError> {
        Ok(self.str(key)?.filter(|s| !s.is_empty()).map(str::to_owned))
    }

    /// A boolean, `false` when absent.
    pub(crate) fn flag(&self, key: &str) -> Result<bool, UplinkError> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.wrong(key, "true or false", other)),
        }
    }

    /// A non-negative integer up to `max`, `None` when absent. Accepts what proto3 JSON
    /// parsers accept: a JSON integer, an integral float (`12.0`), or a decimal string.
    pub(crate) fn uint(
        &self,
        key: &str,
        max: u64,
        expected: &'static str,
    ) -> Result<Option<u64>, UplinkError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let invalid = |shown: String| UplinkError::InvalidValue {
            field: self.path_of(key),
            value: shown,
            expected,
        };
        let n = match value {
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    u
                } else {
                    // Negative, fractional or huge: only an integral float in range will do.
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    if f.is_finite() && f.fract() == 0.0 && (0.0..=max as f64).contains(&f) {
                        // Integral, non-negative and at most `max`: the conversion is exact
                        // enough for every field read this way (all are at most 2^53).
                        f as u64
                    } else {
                        return Err(invalid(excerpt(&n.to_string())));
                    }
                }
            }
            Value::String(s) => s
                .parse::<u64>()
                .map_err(|_| invalid(format!("{:?}", excerpt(s))))?,
            other => return Err(self.wrong(key, expected, other)),
        };
        if n > max {
            return Err(invalid(n.to_string()));
        }
        Ok(Some(n))
    }

    /// A `u32` field, `None` when absent.
    pub(crate) fn u32(&self, key: &str) -> Result<Option<u32>, UplinkError> {
        let n = self.uint(key, u64::from(u32::MAX), "an integer from 0 to 4294967295")?;
        Ok(n.and_then(|n| u32::try_from(n).ok()))
    }

    /// A `u8` field, `None` when absent; `expected` describes the allowed range.
    pub(crate) fn u8(&self, key: &str, expected: &'static str) -> Result<Option<u8>, UplinkError> {
        let n = self.uint(key, u64::from(u8::MAX), expected)?;
        Ok(n.and_then(|n| u8::try_from(n).ok()))
    }

    /// A finite number, `None` when absent; accepts numeric strings as proto3 JSON does.
    pub(crate) fn f64(&self, key: &str) -> Result<Option<f64>, UplinkError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let parsed = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.parse::<f64>().ok(),
            other => return Err(self.wrong(key, "a number", other)),
        };
        match parsed {
            Some(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(UplinkError::InvalidValue {
                field: self.path_of(key),
                value: excerpt(&value.to_string()),
                expected: "a finite number",
            }),
        }
    }

    /// A signed integer in `min..=max` (rounded if written as a float, as The Things Stack does
    /// for RSSI), `None` when absent.
    pub(crate) fn int_in(
        &self,
        key: &str,
        min: i32,
        max: i32,
        expected: &'static str,
    ) -> Result<Option<i32>, UplinkError> {
        let Some(f) = self.f64(key)? else {
            return Ok(None);
        };
        let rounded = f.round();
        if rounded < f64::from(min) || rounded > f64::from(max) {
            return Err(UplinkError::InvalidValue {
                field: self.path_of(key),
                value: f.to_string(),
                expected,
            });
        }
        // In range and integral, so the conversion is exact.
        Ok(Some(rounded as i32))
    }

    /// An RFC 3339 time, `None` when absent or empty.
    pub(crate) fn time(&self, key: &str) -> Result<Option<DateTime<Utc>>, UplinkError> {
        match self.str(key)? {
            None | Some("") => Ok(None),
            Some(raw) => parse_time(raw, &self.path_of(key)).map(Some),
        }
    }

    /// A DevEUI, `None` when absent or empty.
    pub(crate) fn dev_eui(&self, key: &str) -> Result<Option<codec::DevEui>, UplinkError> {
        match self.str(key)? {
            None | Some("") => Ok(None),
            Some(raw) => codec::parse_dev_eui(raw, &self.path_of(key)).map(Some),
        }
    }

    /// A device address, `None` when absent or empty.
    pub(crate) fn dev_addr(&self, key: &str) -> Result<Option<String>, UplinkError> {
        match self.str(key)? {
            None => Ok(None),
            Some(raw) => codec::parse_dev_addr(raw, &self.path_of(key)),
        }
    }

    /// Base64 bytes, empty when absent.
    pub(crate) fn base64(&self, key: &str) -> Result<Vec<u8>, UplinkError> {
        match self.str(key)? {
            None => Ok(Vec::new()),
            Some(raw) => codec::decode_base64(raw, &self.path_of(key)),
        }
    }

    /// A string map (tags, attributes). Non-string scalar values are kept as their JSON text
    /// rather than refused: tags are informative and must not block a reading.
    pub(crate) fn string_map(&self, key: &str) -> Result<BTreeMap<String, String>, UplinkError> {
        let Some(map) = self.object(key)? else {
            return Ok(BTreeMap::new());
        };
        Ok(map
            .iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k.clone(), s.clone())),
                Value::Number(_) | Value::Bool(_) => Some((k.clone(), v.to_string())),
                _ => None,
            })
            .collect())
    }

    /// A list of strings, empty when absent; non-string items are errors.
    pub(crate) fn strings(&self, key: &str) -> Result<Vec<String>, UplinkError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(UplinkError::WrongType {
                    field: format!("{}[{i}]", self.path_of(key)),
                    expected: "a string",
                    found: type_name(other),
                }),
            })
            .collect()
    }

    /// A location object (`latitude`, `longitude`, optional `altitude`), `None` when absent.
    /// A location without coordinates (proto3 omits 0.0) is taken as absent only when both are
    /// missing; a latitude or longitude outside its range is an error.
    pub(crate) fn location(&self, key: &str) -> Result<Option<super::Location>, UplinkError> {
        let Some(map) = self.object(key)? else {
            return Ok(None);
        };
        let path = self.path_of(key);
        let loc = Obj::at(map, &path);
        let latitude = loc.f64("latitude")?;
        let longitude = loc.f64("longitude")?;
        if latitude.is_none() && longitude.is_none() {
            return Ok(None);
        }
        let latitude = latitude.unwrap_or(0.0);
        let longitude = longitude.unwrap_or(0.0);
        if !(-90.0..=90.0).contains(&latitude) {
            return Err(UplinkError::InvalidValue {
                field: loc.path_of("latitude"),
                value: latitude.to_string(),
                expected: "a latitude from -90 to 90 degrees",
            });
        }
        if !(-180.0..=180.0).contains(&longitude) {
            return Err(UplinkError::InvalidValue {
                field: loc.path_of("longitude"),
                value: longitude.to_string(),
                expected: "a longitude from -180 to 180 degrees",
            });
        }
        Ok(Some(super::Location {
            latitude,
            longitude,
            altitude: loc.f64("altitude")?,
        }))
    }
}

/// Parses an RFC 3339 time into UTC.
pub(crate) fn parse_time(raw: &str, field: &str) -> Result<DateTime<Utc>, UplinkError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| UplinkError::InvalidTime {
            field: field.to_owned(),
            value: excerpt(raw),
            detail: e.to_string(),
        })
}

/// Iterates over the objects of an array field, each with its path (`rxInfo[0]`); non-object
/// items are errors.
pub(crate) fn objects<'a>(
    items: &'a [Value],
    path: &str,
) -> impl Iterator<Item = Result<(&'a Map<String, Value>, String), UplinkError>> + 'a {
    let path = path.to_owned();
    items.iter().enumerate().map(move |(i, v)| {
        let item_path = format!("{path}[{i}]");
        match v {
            Value::Object(map) => Ok((map, item_path)),
            other => Err(UplinkError::WrongType {
                field: item_path,
                expected: "an object",
                found: type_name(other),
            }),
        }
    })
}
