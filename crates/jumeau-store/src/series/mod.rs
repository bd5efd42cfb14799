//! Engine-neutral pieces of the attribute history: the chunk [`codec`], which instances
//! are plain numbers, and the stable instance identifiers.

pub(crate) mod aggregate;
pub mod codec;

use jumeau_model::{Attribute, AttributeValue};

/// Most instances in one chunk: small enough that an out-of-order instance re-encodes
/// little, large enough that the per-row overhead of the table is amortized.
pub const CHUNK_MAX_POINTS: usize = 256;
/// Most bytes in one chunk, so that a chunk fits in one page of the database (values that
/// cannot be scaled take 8 bytes each).
pub const CHUNK_MAX_BYTES: usize = 1500;

/// The number an attribute instance holds if it is a plain number of the series: a
/// Property whose value is a JSON number that an `f64` holds exactly, without
/// sub-attributes, in the unit of the series. Everything else (text, booleans, objects,
/// Relationships, GeoProperties, numbers with sub-attributes or another unit, integers
/// beyond 2^53) is kept whole as a JSON document instead, so nothing is lost.
pub fn plain_number(attr: &Attribute, series_unit: Option<&str>) -> Option<f64> {
    if !attr.sub.is_empty() || attr.unit_code.as_deref() != series_unit {
        return None;
    }
    let AttributeValue::Property(v) = &attr.value else {
        return None;
    };
    let n = v.as_number()?;
    const EXACT: i128 = 1 << 53;
    if let Some(i) = n.as_i64() {
        return (i128::from(i).abs() <= EXACT).then_some(i as f64);
    }
    if let Some(u) = n.as_u64() {
        return (i128::from(u) <= EXACT).then_some(u as f64);
    }
    n.as_f64().filter(|x| x.is_finite())
}

/// The JSON number of a stored numeric value: an integer when it is whole and exactly
/// representable (so `21` reads back as `21`, not `21.0`), else a decimal.
pub fn number_json(x: f64) -> serde_json::Value {
    if x.fract() == 0.0 && x.abs() <= 9_007_199_254_740_992.0 {
        // Whole and within ±2^53: the cast is exact.
        serde_json::Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// A 64-bit FNV-1a hash: stable across builds and platforms (unlike the standard hasher),
/// so instance ids stay valid after an upgrade.
pub fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The hash of a numeric value in instance ids.
pub fn number_hash(x: f64) -> u64 {
    fnv64(&x.to_bits().to_le_bytes()) >> 1
}

/// The hash of a stored JSON document in instance ids (63 bits, so it fits SQL integers).
pub fn doc_hash(doc: &str) -> u64 {
    fnv64(doc.as_bytes()) >> 1
}

const INSTANCE_PREFIX: &str = "urn:ngsi-ld:instance:";

/// The `instanceId` of an instance: series number, time in microseconds and hash of the
/// value. Deterministic, so the same instance always gets the same id and
/// [`parse_instance_id`] finds it again.
pub fn instance_id(series: i64, time: i64, hash: u64) -> String {
    format!("{INSTANCE_PREFIX}{series}:{time}:{hash:016x}")
}

/// The (series, time, hash) of an id made by [`instance_id`], or `None` if it is not one.
pub fn parse_instance_id(id: &str) -> Option<(i64, i64, u64)> {
    let rest = id.strip_prefix(INSTANCE_PREFIX)?;
    let mut parts = rest.split(':');
    let series = parts.next()?.parse().ok()?;
    let time = parts.next()?.parse().ok()?;
    let hash = u64::from_str_radix(parts.next()?, 16).ok()?;
    parts.next().is_none().then_some((series, time, hash))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_documents() {
        let mut a = Attribute::new(AttributeValue::Property(json!(21.5)));
        assert_eq!(plain_number(&a, None), Some(21.5));
        assert_eq!(plain_number(&a, Some("CEL")), None);
        a.unit_code = Some("CEL".into());
        assert_eq!(plain_number(&a, Some("CEL")), Some(21.5));
        let big = Attribute::new(AttributeValue::Property(json!(9_007_199_254_740_993u64)));
        assert_eq!(plain_number(&big, None), None);
        let text = Attribute::new(AttributeValue::Property(json!("on")));
        assert_eq!(plain_number(&text, None), None);
        assert_eq!(number_json(21.0), json!(21));
        assert_eq!(number_json(21.5), json!(21.5));
    }

    #[test]
    fn instance_ids_round_trip() {
        let id = instance_id(12, -5, number_hash(1.5));
        assert_eq!(parse_instance_id(&id), Some((12, -5, number_hash(1.5))));
        assert_eq!(parse_instance_id("urn:ngsi-ld:instance:1:2"), None);
        assert_eq!(parse_instance_id("urn:x:1:2:3"), None);
    }
}
