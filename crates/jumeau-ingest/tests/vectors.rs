//! Runs every example of The Things Network device repository codecs
//! (`tests/fixtures/ttn_device_repo_uplink_vectors.jsonl`) through the native decoder of its
//! profile and compares with the example's expected output, numbers within 1e-9.
//!
//! Where the decoders deliberately differ from the YAML example (the example disagrees with
//! the vendor's own decoder, or the decoder it documents is wrong; see
//! `src/decoders/DECISIONS.md`), the expected output is taken from [`OVERRIDES`], which says
//! why. Every override must match a vector, and every vector is checked.

use jumeau_ingest::decoders::{self, DecodeError};
use serde_json::{json, Value};

/// What a vector must decode to when it is not the YAML example's output.
enum Decided {
    /// This data instead of the example's.
    Data(Value),
    /// An error, checked by the function, instead of the example's data.
    Error(fn(&DecodeError) -> bool),
}

/// A decided output for one vector, and why.
struct Override {
    profile: &'static str,
    f_port: u8,
    bytes_hex: &'static str,
    decided: Decided,
    reason: &'static str,
}

fn overrides() -> Vec<Override> {
    vec![
        Override {
            profile: "milesight-iot/em500-udl",
            f_port: 85,
            bytes_hex: "01755c03821e00",
            decided: Decided::Data(json!({"battery": 92, "distance": 0.03})),
            reason: "MISMATCH: the vendor's JavaScript (em500-udl.js) gives the distance in metres \
                     (raw mm / 1000); the YAML example shows the raw 30 mm. Following the JavaScript.",
        },
        Override {
            profile: "milesight-iot/em500-udl",
            f_port: 85,
            bytes_hex: "01756403821e00",
            decided: Decided::Data(json!({"battery": 100, "distance": 0.03})),
            reason: "MISMATCH: as above, metres as in the vendor's JavaScript.",
        },
        Override {
            profile: "b-meters/iwmlr3",
            f_port: 1,
            bytes_hex: "2c4a2001002201000000000d02",
            decided: Decided::Data(json!({
                "application": 44, "valueCounter": 73802, "flowCounter": 290,
                "indexK": 0, "medium": 0, "vif": 13, "alarm": 2
            })),
            reason: "MISMATCH: the YAML example misspells `aplication` and writes the counters' \
                     bytes by hand (12074, 134); the vendor's JavaScript reads them: 0x0001204a \
                     = 73802 and 0x00000122 = 290. Following the JavaScript.",
        },
        Override {
            profile: "milesight-iot/am307",
            f_port: 85,
            bytes_hex: "01755c03673401046865056a4900",
            decided: Decided::Error(|e| {
                matches!(e, DecodeError::UnknownChannel { channel, offset: 10 } if channel == "0x05 0x6a")
            }),
            reason: "Not flagged by the source: channel 0x05 0x6a is the AM104/AM107 activity \
                     counter, not an AM307 channel (its PIR is 0x05 0x00); the vendor's JavaScript \
                     silently stops there, these decoders report unknown channels.",
        },
        Override {
            profile: "milesight-iot/am319",
            f_port: 85,
            bytes_hex: "0367340104686505000106cb02077da803087d2500097366270a7d04000b7d20000c7d3000",
            decided: Decided::Data(json!({
                "temperature": 30.8, "humidity": 50.5, "activity": "trigger",
                "light_level": 2, "co2": 936, "tvoc": 37, "pressure": 1008.6,
                "hcho": 0.04, "pm2.5": 32, "pm10": 48
            })),
            reason: "Not flagged by the source (no JavaScript saved): the commented-out YAML \
                     example lists battery: 92, but the payload has no battery channel 0x01 0x75.",
        },
        Override {
            profile: "dragino/ldds75",
            f_port: 2,
            bytes_hex: "0e1c0b05",
            decided: Decided::Error(|e| {
                matches!(e, DecodeError::BadLength { actual: 4, .. })
            }),
            reason: "Not flagged by the source (YAML and JavaScript agree): the vendor's \
                     JavaScript answers \"No Sensor\" for every payload that is not 5 bytes, \
                     including the device's real 8-byte uplink. The decoder follows the documented \
                     8-byte frame, for which this 4-byte payload is too short.",
        },
    ]
}

fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length: {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| {
            let pair = text.get(i..i + 2).expect("hex pair");
            u8::from_str_radix(pair, 16).expect("hex digit")
        })
        .collect()
}

/// Compares two JSON values, numbers within 1e-9; on difference, the path and both sides.
fn same(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Number(e), Value::Number(a)) => {
            let (e, a) = (e.as_f64(), a.as_f64());
            match (e, a) {
                (Some(e), Some(a)) if (e - a).abs() <= 1e-9 => Ok(()),
                _ => Err(format!("{path}: expected {e:?}, got {a:?}")),
            }
        }
        (Value::Object(e), Value::Object(a)) => {
            let mut ek: Vec<_> = e.keys().collect();
            let mut ak: Vec<_> = a.keys().collect();
            ek.sort();
            ak.sort();
            if ek != ak {
                return Err(format!("{path}: keys {ek:?} expected, got {ak:?}"));
            }
            for (k, ev) in e {
                let av = a.get(k).ok_or_else(|| format!("{path}.{k}: missing"))?;
                same(ev, av, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{path}: {} elements expected, got {}",
                    e.len(),
                    a.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                same(ev, av, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!("{path}: expected {expected}, got {actual}")),
    }
}

#[test]
fn every_vector_decodes_as_decided() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ttn_device_repo_uplink_vectors.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("vector file");
    let overrides = overrides();
    let mut used = vec![false; overrides.len()];
    let mut failures = Vec::new();
    let mut count = 0;

    for (line_no, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        count += 1;
        let v: Value = serde_json::from_str(line).expect("vector line is JSON");
        let profile = format!(
            "{}/{}",
            v["vendor"].as_str().expect("vendor"),
            v["device"].as_str().expect("device")
        );
        let f_port = u8::try_from(v["fPort"].as_u64().expect("fPort")).expect("fPort fits u8");
        let bytes_hex = v["bytes_hex"].as_str().expect("bytes_hex");
        let bytes = hex(bytes_hex);
        let label = format!(
            "line {} ({profile}, fPort {f_port}, {bytes_hex})",
            line_no + 1
        );

        let Some(decoder) = decoders::decoder(&profile) else {
            failures.push(format!("{label}: no decoder"));
            continue;
        };
        let result = decoder.decode(f_port, &bytes);

        let decided = overrides
            .iter()
            .position(|o| o.profile == profile && o.f_port == f_port && o.bytes_hex == bytes_hex);
        if let Some(i) = decided {
            if let Some(flag) = used.get_mut(i) {
                *flag = true;
            }
            let o = overrides.get(i).expect("override index");
            assert!(!o.reason.is_empty());
            match (&o.decided, &result) {
                (Decided::Data(expected), Ok(actual)) => {
                    if let Err(diff) = same(expected, &Value::Object(actual.clone()), "data") {
                        failures.push(format!("{label} (decided): {diff}"));
                    }
                }
                (Decided::Error(check), Err(e)) => {
                    if !check(e) {
                        failures.push(format!("{label} (decided): unexpected error: {e}"));
                    }
                }
                (Decided::Data(_), Err(e)) => {
                    failures.push(format!("{label} (decided): error {e}"));
                }
                (Decided::Error(_), Ok(data)) => {
                    failures.push(format!("{label} (decided): error expected, got {data:?}"));
                }
            }
            continue;
        }

        let expected = &v["expected"];
        let expects_errors = expected
            .get("errors")
            .and_then(Value::as_array)
            .is_some_and(|errors| !errors.is_empty());
        if expects_errors {
            match result {
                Err(DecodeError::UnsupportedFPort { .. }) => {}
                other => failures.push(format!("{label}: fPort error expected, got {other:?}")),
            }
            continue;
        }
        match result {
            Ok(actual) => {
                if let Err(diff) = same(&expected["data"], &Value::Object(actual), "data") {
                    failures.push(format!("{label}: {diff}"));
                }
            }
            Err(e) => failures.push(format!("{label}: {e}")),
        }
    }

    assert_eq!(count, 22, "the fixture holds 22 vectors");
    for (o, used) in overrides.iter().zip(&used) {
        if !used {
            failures.push(format!(
                "override for {} {} matches no vector",
                o.profile, o.bytes_hex
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_profile_of_the_vectors_is_registered() {
    let profiles: Vec<&str> = decoders::profiles().collect();
    assert_eq!(profiles.len(), 15);
    for p in &profiles {
        let d = decoders::decoder(p).expect("listed profiles resolve");
        assert_eq!(d.profile(), *p);
    }
    let mut sorted = profiles.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), profiles.len(), "profile ids are unique");
    assert!(decoders::decoder("elsys/ERS-CO2").is_none());
    assert!(decoders::decoder("unknown/device").is_none());
}
