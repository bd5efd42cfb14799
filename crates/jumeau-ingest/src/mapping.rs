//! Decoded values to NGSI-LD attribute values, by a device's field mappings, with the
//! plausibility checks that keep a broken sensor out of the twin.
//!
//! Pure: the attribute names given here are already expanded by the caller.

use serde_json::{Map, Number, Value};

/// One field mapping with its attribute name expanded (see
/// [`jumeau_store::ingest::FieldMapping`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// The decoded field (a dotted path reaches into objects).
    pub field: String,
    /// The expanded attribute name.
    pub attribute: String,
    /// The UN/CEFACT unit code.
    pub unit_code: Option<String>,
    /// A factor applied to the number.
    pub scale: Option<f64>,
    /// The smallest plausible value, after scaling.
    pub min: Option<f64>,
    /// The largest plausible value, after scaling.
    pub max: Option<f64>,
    /// The attribute belongs to the device's own entity.
    pub on_device: bool,
}

/// One attribute value a reading gives.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedValue {
    /// The expanded attribute name.
    pub attribute: String,
    /// The value.
    pub value: Value,
    /// Its unit code.
    pub unit_code: Option<String>,
    /// It belongs to the device's own entity.
    pub on_device: bool,
}

/// The value of a field: the key itself, else a dotted path into nested objects.
fn lookup<'a>(values: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    if let Some(v) = values.get(field) {
        return Some(v);
    }
    let mut parts = field.split('.');
    let mut current = values.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// A number as decoders and network servers write them: JSON numbers, or numeric strings.
fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

/// A float as JSON, without the noise of binary fractions (`0.1 * 3` gives `0.3`).
fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        return Value::Number(Number::from(f as i64));
    }
    let rounded: f64 = format!("{f:.12}").parse().unwrap_or(f);
    Number::from_f64(rounded).map_or(Value::Null, Value::Number)
}

/// Applies the mappings of one device to the values of one reading.
///
/// Fields without a mapping are ignored, and so are mapped fields the reading does not
/// carry (devices send different frames). A number outside the plausible range refuses the
/// whole reading: a sensor that reports a 500 °C room is broken, and its other values cannot
/// be trusted either.
///
/// # Errors
///
/// A reason, naming the field and the fix, when a mapped value is not a number although the
/// mapping scales or bounds it, when a value is implausible, or when the reading has values
/// but none of them is mapped.
pub fn apply(
    values: &Map<String, Value>,
    mappings: &[Mapping],
    dev_eui: &str,
) -> Result<Vec<MappedValue>, String> {
    let mut out = Vec::with_capacity(mappings.len());
    for m in mappings {
        let Some(raw) = lookup(values, &m.field) else {
            continue;
        };
        if raw.is_null() {
            continue;
        }
        let numeric = m.scale.is_some() || m.min.is_some() || m.max.is_some();
        let value = match as_number(raw) {
            Some(n) if numeric || raw.is_number() => {
                let scaled = n * m.scale.unwrap_or(1.0);
                let below = m.min.is_some_and(|min| scaled < min);
                let above = m.max.is_some_and(|max| scaled > max);
                if below || above {
                    return Err(format!(
                        "field '{}' = {} is outside the plausible range {} to {} of attribute '{}' of device {dev_eui}; \
                         check the sensor, or widen min/max in the device's mapping, then replay",
                        m.field,
                        number(scaled),
                        m.min.map_or("-inf".to_string(), |v| v.to_string()),
                        m.max.map_or("+inf".to_string(), |v| v.to_string()),
                        m.attribute
                    ));
                }
                if m.scale.is_none() && raw.is_number() {
                    // Keep the number exactly as decoded (an integer stays an integer).
                    match raw {
                        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() != 0.0) => {
                            raw.clone()
                        }
                        _ => number(scaled),
                    }
                } else {
                    number(scaled)
                }
            }
            _ if numeric => {
                return Err(format!(
                    "field '{}' of device {dev_eui} is {raw}, not a number, but its mapping to '{}' \
                     has a scale or a plausible range; fix the decoder or the mapping, then replay",
                    m.field, m.attribute
                ));
            }
            _ => raw.clone(),
        };
        out.push(MappedValue {
            attribute: m.attribute.clone(),
            value,
            unit_code: m.unit_code.clone(),
            on_device: m.on_device,
        });
    }
    if out.is_empty() && !values.is_empty() {
        let fields: Vec<&str> = values.keys().map(String::as_str).take(20).collect();
        return Err(format!(
            "none of the decoded fields ({}) of device {dev_eui} has a mapping; add mappings to the \
             device (PUT /ingest/devices/{dev_eui}), then replay",
            fields.join(", ")
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(field: &str, min: Option<f64>, max: Option<f64>, scale: Option<f64>) -> Mapping {
        Mapping {
            field: field.into(),
            attribute: format!("https://example.org/{field}"),
            unit_code: None,
            scale,
            min,
            max,
            on_device: false,
        }
    }

    fn values(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn values_are_scaled_checked_and_kept_as_decoded() {
        let maps = [
            m("temperature", Some(-40.0), Some(85.0), None),
            m("volume", None, None, Some(0.001)),
            m("meter.index", None, None, None),
            m("state", None, None, None),
        ];
        let v = values(
            json!({"temperature": 22.6, "volume": 1234, "meter": {"index": 7.0}, "state": "open", "x": 1}),
        );
        let out = apply(&v, &maps, "0101010101010101").expect("mapped");
        let got: Vec<Value> = out.iter().map(|o| o.value.clone()).collect();
        assert_eq!(
            got,
            vec![json!(22.6), json!(1.234), json!(7), json!("open")]
        );
    }

    #[test]
    fn implausible_and_unmapped_readings_are_refused_with_the_field_named() {
        let maps = [m("temperature", Some(-40.0), Some(85.0), None)];
        let e = apply(&values(json!({"temperature": 500.0})), &maps, "d").expect_err("refused");
        assert!(e.contains("'temperature' = 500"), "{e}");
        let e = apply(&values(json!({"temperature": "hot"})), &maps, "d").expect_err("refused");
        assert!(e.contains("not a number"), "{e}");
        let e = apply(&values(json!({"humidity": 40})), &maps, "d").expect_err("refused");
        assert!(e.contains("humidity"), "{e}");
        assert_eq!(apply(&Map::new(), &maps, "d"), Ok(vec![]));
    }
}
