//! The device registry's rules: what a valid registration is, and the CSV form inventories
//! are imported from.
//!
//! Pure: storing registrations is the store's job, expanding names the service's.

use std::collections::BTreeMap;

use jumeau_store::ingest::{DeviceRecord, FieldMapping};

use crate::decoders;

/// The header of the CSV import, one row per field mapping; rows of the same `devEui` make
/// one device, whose device columns are taken from its first row.
pub const CSV_COLUMNS: [&str; 14] = [
    "devEui",
    "entityId",
    "entityType",
    "profile",
    "context",
    "name",
    "intervalSeconds",
    "field",
    "attribute",
    "unitCode",
    "scale",
    "min",
    "max",
    "onDevice",
];

/// A DevEUI in its stored form (16 lower-case hexadecimal digits).
///
/// # Errors
///
/// A reason when it is not 16 hexadecimal digits.
pub fn normalize_dev_eui(dev_eui: &str) -> Result<String, String> {
    let t = dev_eui.trim();
    if t.len() == 16 && t.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(t.to_ascii_lowercase())
    } else {
        Err(format!(
            "'{dev_eui}' is not a DevEUI: write it as 16 hexadecimal digits, e.g. 0004a30b001c0530"
        ))
    }
}

/// Checks a registration and puts it in its stored form (DevEUI in lower case).
///
/// # Errors
///
/// Every problem found, each saying what to change.
pub fn validate(mut device: DeviceRecord) -> Result<DeviceRecord, Vec<String>> {
    let mut problems = Vec::new();
    match normalize_dev_eui(&device.dev_eui) {
        Ok(d) => device.dev_eui = d,
        Err(e) => problems.push(format!("devEui: {e}")),
    }
    if let Err(e) = jumeau_model::entity::validate_uri(&device.entity_id) {
        problems.push(format!(
            "entityId '{}': {e} (for example urn:ngsi-ld:AirQualityObserved:salle-1)",
            device.entity_id
        ));
    }
    if device.entity_type.trim().is_empty() {
        problems.push(
            "entityType is empty; name the type of the entity, e.g. AirQualityObserved".into(),
        );
    }
    if let Some(p) = &device.profile {
        if decoders::decoder(p).is_none() {
            let known: Vec<&str> = decoders::profiles().collect();
            problems.push(format!(
                "profile '{p}' has no native decoder; use one of {} or leave it out when the network server decodes",
                known.join(", ")
            ));
        }
    }
    if device.interval_seconds == Some(0) {
        problems.push("intervalSeconds must be at least 1 (or absent: never marked stale)".into());
    }
    let mut seen = BTreeMap::new();
    for (i, m) in device.mappings.iter().enumerate() {
        let at = format!("mappings[{i}]");
        if m.field.trim().is_empty() {
            problems.push(format!(
                "{at}.field is empty; name the decoded field, e.g. temperature"
            ));
        }
        if m.attribute.trim().is_empty() {
            problems.push(format!(
                "{at}.attribute is empty; name the NGSI-LD attribute"
            ));
        }
        if m.scale.is_some_and(|s| !s.is_finite() || s == 0.0) {
            problems.push(format!("{at}.scale must be a finite number other than 0"));
        }
        if m.min.is_some_and(|v| !v.is_finite()) || m.max.is_some_and(|v| !v.is_finite()) {
            problems.push(format!("{at}: min and max must be finite numbers"));
        }
        if let (Some(lo), Some(hi)) = (m.min, m.max) {
            if lo > hi {
                problems.push(format!("{at}: min {lo} is above max {hi}"));
            }
        }
        if let Some(j) = seen.insert((m.attribute.clone(), m.on_device), i) {
            problems.push(format!(
                "{at} writes attribute '{}' like mappings[{j}]; map each attribute once",
                m.attribute
            ));
        }
    }
    if problems.is_empty() {
        Ok(device)
    } else {
        Err(problems)
    }
}

/// Reads a device inventory in CSV (see [`CSV_COLUMNS`]; the header row is required and
/// columns may come in any order; only devEui, entityId and entityType are required).
///
/// # Errors
///
/// Every problem, with its line number: unreadable CSV, unknown columns, numbers that are
/// not numbers, and registrations [`validate`] refuses.
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<DeviceRecord>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(bytes);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![format!("cannot read the CSV header: {e}")]),
    };
    let mut problems = Vec::new();
    for h in &headers {
        if !CSV_COLUMNS.contains(&h) {
            problems.push(format!(
                "unknown column '{h}'; the columns are {}",
                CSV_COLUMNS.join(",")
            ));
        }
    }
    for required in ["devEui", "entityId", "entityType"] {
        if !headers.iter().any(|h| h == required) {
            problems.push(format!("the column '{required}' is missing"));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut devices: Vec<DeviceRecord> = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let get = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .and_then(|p| row.get(p))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let mut num = |name: &str| -> Option<f64> {
            let v = get(name)?;
            match v.parse::<f64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    problems.push(format!("line {line}: {name} '{v}' is not a number"));
                    None
                }
            }
        };
        let (scale, min, max, interval) =
            (num("scale"), num("min"), num("max"), num("intervalSeconds"));
        let dev_eui = get("devEui")
            .map(|d| normalize_dev_eui(&d).unwrap_or(d))
            .unwrap_or_default();
        let mapping = match (get("field"), get("attribute")) {
            (Some(field), attribute) => Some(FieldMapping {
                attribute: attribute.unwrap_or_else(|| field.clone()),
                field,
                unit_code: get("unitCode"),
                scale,
                min,
                max,
                on_device: get("onDevice").is_some_and(|v| {
                    matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "1")
                }),
            }),
            (None, Some(_)) => {
                problems.push(format!("line {line}: attribute given without field"));
                None
            }
            (None, None) => None,
        };
        if let Some(d) = devices.iter_mut().find(|d| d.dev_eui == dev_eui) {
            d.mappings.extend(mapping);
            continue;
        }
        devices.push(DeviceRecord {
            dev_eui,
            entity_id: get("entityId").unwrap_or_default(),
            entity_type: get("entityType").unwrap_or_default(),
            profile: get("profile"),
            context: get("context"),
            name: get("name"),
            interval_seconds: interval.map(|v| v.max(0.0) as u64),
            mappings: mapping.into_iter().collect(),
            created_at: None,
            modified_at: None,
        });
    }
    let mut out = Vec::with_capacity(devices.len());
    for d in devices {
        let eui = d.dev_eui.clone();
        match validate(d) {
            Ok(d) => out.push(d),
            Err(ps) => problems.extend(ps.into_iter().map(|p| format!("device {eui}: {p}"))),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inventory_is_read_one_mapping_per_row() {
        let csv = "devEui,entityId,entityType,profile,intervalSeconds,field,attribute,unitCode,min,max,onDevice\n\
                   0004A30B001C0530,urn:ngsi-ld:Room:1,Room,elsys/ers-co2,600,temperature,temperature,CEL,-40,85,\n\
                   0004A30B001C0530,,,,,co2,co2,59,0,10000,\n\
                   0004a30b001c0531,urn:ngsi-ld:Room:2,Room,,,battery,batteryLevel,,,,true\n";
        let devices = parse_csv(csv.as_bytes()).expect("valid inventory");
        assert_eq!(devices.len(), 2);
        assert_eq!(devices[0].dev_eui, "0004a30b001c0530");
        assert_eq!(devices[0].mappings.len(), 2);
        assert_eq!(devices[0].interval_seconds, Some(600));
        assert!(devices[1].mappings[0].on_device);
    }

    #[test]
    fn bad_inventories_say_which_line_and_what() {
        let csv = "devEui,entityId,entityType,colour\nzz,urn:x:1,T,red\n";
        let e = parse_csv(csv.as_bytes()).expect_err("refused");
        assert!(e[0].contains("colour"), "{e:?}");
        let csv = "devEui,entityId,entityType,min,field\nzz,not a uri,T,abc,t\n";
        let e = parse_csv(csv.as_bytes()).expect_err("refused").join("\n");
        assert!(e.contains("line 2: min 'abc'"), "{e}");
        assert!(e.contains("DevEUI"), "{e}");
    }
}
