//! Behaviour of every native payload decoder on bad input (empty, truncated, wrong port,
//! unknown channel or frame), a few frames the vendor examples do not cover, and random
//! bytes: a clear error, never a panic.

use jumeau_ingest::decoders::{self, DecodeError, Decoder};
use serde_json::{json, Map, Value};

fn hex(text: &str) -> Vec<u8> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (0..text.len())
        .step_by(2)
        .map(|i| {
            let pair = text.get(i..i + 2).expect("hex pair");
            u8::from_str_radix(pair, 16).expect("hex digit")
        })
        .collect()
}

fn decoder(profile: &str) -> &'static dyn Decoder {
    decoders::decoder(profile).expect("registered profile")
}

fn decode(profile: &str, f_port: u8, payload: &str) -> Result<Map<String, Value>, DecodeError> {
    decoder(profile).decode(f_port, &hex(payload))
}

fn ok(profile: &str, f_port: u8, payload: &str) -> Value {
    let result = decode(profile, f_port, payload);
    assert!(result.is_ok(), "{profile} {payload}: {result:?}");
    Value::Object(result.unwrap_or_default())
}

fn err(profile: &str, f_port: u8, payload: &str) -> DecodeError {
    let result = decode(profile, f_port, payload);
    assert!(
        result.is_err(),
        "{profile} {payload}: error expected, got {result:?}"
    );
    result.err().unwrap_or(DecodeError::Empty)
}

/// A valid uplink of each profile, and a port it is valid on.
const SAMPLES: [(&str, u8, &str); 15] = [
    ("elsys/ers-co2", 5, "0100e202290400270506060308070e10"),
    ("elsys/elt-ultrasonic", 5, "0100e202290301270514060101110e2311"),
    (
        "milesight-iot/am307",
        85,
        "01755c 03673401 046865 050001 06cb02 077de704 087d0700 09733f27 0a7d0400 0b7d2000 \
         0c7d3000 0d7d0500 0e0101",
    ),
    (
        "milesight-iot/am319",
        85,
        "0367340104686505000106cb02077da803087d2500097366270a7d04000b7d20000c7d3000",
    ),
    ("milesight-iot/em500-co2", 85, "01755c03673401046865057d670406736827"),
    ("milesight-iot/em300-th", 85, "0175320367c80004683c"),
    ("milesight-iot/em500-udl", 85, "01755c03821e00"),
    (
        "milesight-iot/em300-di",
        85,
        "01755c 05c800010000 20ce 00000065 c800 3c 02 00 10000000",
    ),
    ("adeunis/comfort-co2", 1, "6a8001b33e01a401b43f01a5"),
    ("adeunis/pulse", 1, "5a6700000127000100020003000414aba3e9"),
    ("dragino/lht65", 2, "cbf60b0d0376010add7fff"),
    ("dragino/ldds75", 2, "0e1c0b050000fa01"),
    ("dingtek/df702", 3, "800001011907d001cd03e942ef272042190000000000000081"),
    ("b-meters/iwmlr3", 1, "2c4a2001002201000000000d02"),
    (
        "sensus/iperl",
        20,
        "7a060400008404133a1c7e0184046d2a2d13368d04931318d23c34002e0034002e0039002e0034002e00340033003400",
    ),
];

#[test]
fn samples_cover_every_profile_and_decode() {
    let mut profiles: Vec<&str> = decoders::profiles().collect();
    let mut sampled: Vec<&str> = SAMPLES.iter().map(|(p, _, _)| *p).collect();
    profiles.sort_unstable();
    sampled.sort_unstable();
    assert_eq!(profiles, sampled);
    for (profile, port, payload) in SAMPLES {
        let data = ok(profile, port, payload);
        assert!(data.as_object().is_some_and(|o| !o.is_empty()), "{profile}");
    }
}

#[test]
fn empty_payloads_are_an_error() {
    for (profile, port, _) in SAMPLES {
        assert_eq!(
            decoder(profile).decode(port, &[]),
            Err(DecodeError::Empty),
            "{profile}"
        );
    }
    assert_eq!(DecodeError::Empty.to_string(), "payload is empty");
}

#[test]
fn wrong_ports_are_an_error() {
    for (profile, _, payload) in SAMPLES {
        for port in [0, 224, 255] {
            assert!(
                matches!(
                    decode(profile, port, payload),
                    Err(DecodeError::UnsupportedFPort { f_port, .. }) if f_port == port
                ),
                "{profile} on port {port}"
            );
        }
    }
    // Devices whose vendor codec only decodes some ports.
    for (profile, wrong) in [
        ("dragino/lht65", 42),
        ("dragino/ldds75", 42),
        ("dingtek/df702", 2),
        ("b-meters/iwmlr3", 2),
        ("sensus/iperl", 1),
    ] {
        let sample = SAMPLES
            .iter()
            .find(|(p, _, _)| *p == profile)
            .expect("sample");
        let e = err(profile, wrong, sample.2);
        assert!(
            matches!(e, DecodeError::UnsupportedFPort { .. }),
            "{profile}"
        );
    }
    assert_eq!(
        err("dragino/lht65", 42, "cbf60b0d0376010add7fff").to_string(),
        "fPort 42 is not an uplink port of this device (expected 2)"
    );
    // Ports 21 and 22 are OMS ports too.
    let iperl = SAMPLES
        .iter()
        .find(|(p, _, _)| *p == "sensus/iperl")
        .expect("sample");
    assert!(decode("sensus/iperl", 21, iperl.2).is_ok());
}

#[test]
fn every_truncation_is_an_error_or_a_shorter_valid_payload() {
    for (profile, port, payload) in SAMPLES {
        let bytes = hex(payload);
        for len in 1..bytes.len() {
            let cut = bytes.get(..len).expect("prefix");
            match decoder(profile).decode(port, cut) {
                Ok(data) => assert!(!data.is_empty(), "{profile} cut at {len}"),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
}

#[test]
fn truncated_channels_say_where() {
    let e = err("milesight-iot/em300-th", 85, "0175");
    assert_eq!(
        e,
        DecodeError::Truncated {
            what: "channel 0x01 0x75 (battery)".to_owned(),
            offset: 2,
            needed: 1,
            available: 0
        }
    );
    assert_eq!(
        e.to_string(),
        "payload ends inside channel 0x01 0x75 (battery) at byte 2: 1 byte(s) expected, 0 left"
    );
    assert!(matches!(
        err("milesight-iot/em300-th", 85, "0175320367c8"),
        DecodeError::Truncated {
            offset: 5,
            needed: 2,
            available: 1,
            ..
        }
    ));
    // A lone channel id byte: the header itself is cut.
    assert!(matches!(
        err("milesight-iot/em500-udl", 85, "01755c03"),
        DecodeError::Truncated {
            offset: 3,
            needed: 2,
            available: 1,
            ..
        }
    ));
    assert!(matches!(
        err("elsys/ers-co2", 5, "0100e20600"),
        DecodeError::Truncated { ref what, offset: 4, needed: 2, available: 1 } if what == "type 0x06 (co2)"
    ));
    assert!(matches!(
        err("milesight-iot/em300-di", 85, "20ce0000006500"),
        DecodeError::Truncated {
            offset: 2,
            needed: 13,
            ..
        }
    ));
    assert!(matches!(
        err("adeunis/pulse", 1, "5a00000001"),
        DecodeError::Truncated {
            offset: 2,
            needed: 4,
            ..
        }
    ));
    assert!(matches!(
        err("adeunis/comfort-co2", 1, "6b8010"),
        DecodeError::Truncated { offset: 3, .. }
    ));
    assert!(matches!(
        err("sensus/iperl", 20, "7a0604000084041301"),
        DecodeError::Truncated {
            offset: 8,
            needed: 4,
            available: 1,
            ..
        }
    ));
    // Fixed-length frames.
    for (profile, port, payload) in [
        ("dragino/lht65", 2, "cbf60b0d0376010add7f"),
        ("dragino/ldds75", 2, "0e1c0b05"),
        ("dingtek/df702", 3, "800001011107d0001900000000000081"),
        ("b-meters/iwmlr3", 1, "2c4a2001002201000000000d"),
    ] {
        assert!(
            matches!(err(profile, port, payload), DecodeError::BadLength { .. }),
            "{profile}"
        );
    }
}

#[test]
fn unknown_channels_and_frames_are_an_error() {
    assert_eq!(
        err("elsys/ers-co2", 5, "0100e23d01020304"),
        DecodeError::UnknownChannel {
            channel: "type 0x3d".to_owned(),
            offset: 3
        }
    );
    assert_eq!(
        err("elsys/elt-ultrasonic", 5, "ff").to_string(),
        "unknown channel type 0xff at byte 0"
    );
    // A Milesight device-information channel, and a channel of another model.
    assert_eq!(
        err("milesight-iot/em300-th", 85, "01755cff0bff"),
        DecodeError::UnknownChannel {
            channel: "0xff 0x0b".to_owned(),
            offset: 3
        }
    );
    for profile in [
        "milesight-iot/am307",
        "milesight-iot/am319",
        "milesight-iot/em500-co2",
        "milesight-iot/em300-th",
        "milesight-iot/em500-udl",
        "milesight-iot/em300-di",
    ] {
        assert!(
            matches!(
                err(profile, 85, "01755c 0e7d 0000"),
                DecodeError::UnknownChannel { offset: 3, .. }
            ),
            "{profile}"
        );
    }
    assert!(matches!(
        err("milesight-iot/em500-udl", 85, "0367c800"),
        DecodeError::UnknownChannel { offset: 0, .. }
    ));
    for profile in ["adeunis/comfort-co2", "adeunis/pulse"] {
        assert_eq!(
            err(profile, 1, "990000"),
            DecodeError::UnknownFrame {
                kind: "frame code",
                code: 0x99,
                offset: 0
            }
        );
    }
    assert_eq!(
        err("sensus/iperl", 20, "51060400").to_string(),
        "unknown CI field 0x51 at byte 0"
    );
    assert!(matches!(
        err("dingtek/df702", 3, "810001011107d000190000000000000081"),
        DecodeError::InvalidValue { offset: 0, .. }
    ));
    assert!(matches!(
        err("dingtek/df702", 3, "800001011107d000190000000000000080"),
        DecodeError::InvalidValue { offset: 16, .. }
    ));
    assert!(matches!(
        err("dingtek/df702", 3, "800001011207d000190000000000000081"),
        DecodeError::InvalidValue { offset: 4, .. }
    ));
}

#[test]
fn milesight_em300_di_history() {
    let data = ok(
        "milesight-iot/em300-di",
        85,
        "20ce 00000065 c800 3c 02 00 10000000 20ce 01000065 38ff 40 01 01 00000000",
    );
    assert_eq!(
        data,
        json!({"history": [
            {"timestamp": 1_694_498_816u32, "temperature": 20, "humidity": 30, "pulse": 16},
            {"timestamp": 1_694_498_817u32, "temperature": -20, "humidity": 32, "gpio": 1}
        ]})
    );
}

#[test]
fn elsys_repeated_and_signed_values() {
    let data = ok("elsys/ers-co2", 5, "19ff38 190064 0bffffffff 14ffffffff");
    assert_eq!(data["externalTemperature2"], json!([-20, 10]));
    assert_eq!(data["pulseAbs"], json!(4_294_967_295u32));
    assert_eq!(data["pressure"], json!(-0.001));
}

#[test]
fn adeunis_frames_beyond_the_examples() {
    // Data with a timestamp.
    let data = ok("adeunis/comfort-co2", 1, "6a8401b33e01a414aba3e9");
    assert_eq!(data["bytes"]["timestamp"], "2023-12-28T19:22:17.000");
    assert_eq!(data["bytes"]["status"]["timestamp"], true);
    assert_eq!(data["bytes"]["co2"]["values"], json!([420]));
    // Half a sample, or none.
    assert!(matches!(
        err("adeunis/comfort-co2", 1, "6a8001b33e"),
        DecodeError::InvalidValue { .. }
    ));
    assert!(matches!(
        err("adeunis/comfort-co2", 1, "6a80"),
        DecodeError::InvalidValue { .. }
    ));
    // Alarm: temperature alarm active, CO2 1200 ppm.
    let data = ok("adeunis/comfort-co2", 1, "6b2030 00e6 32 04b0");
    assert_eq!(
        data["bytes"]["alarmTemperature"],
        json!({"alarmStatus": "active", "temperature": {"unit": "°C", "value": 23}})
    );
    assert_eq!(
        data["bytes"]["alarmCo2"],
        json!({"alarmStatus": "active", "co2": {"unit": "ppm", "value": 1200}})
    );
    // Daily summary, long form.
    let data = ok(
        "adeunis/comfort-co2",
        1,
        "3000 02 03 00e6 04b0 3c 00c8 0190 28 00d2 02bc 32",
    );
    assert_eq!(data["bytes"]["type"], "0x30 Comfort CO2 Daily frame");
    assert_eq!(
        data["bytes"]["qaiRedDuration"],
        json!({"unit": "min", "value": 30})
    );
    assert_eq!(
        data["bytes"]["temperatureMin"],
        json!({"unit": "°C", "value": 20})
    );
    assert_eq!(
        data["bytes"]["humidityAverage"],
        json!({"unit": "%", "value": 50})
    );
    // Software version, network configuration.
    let data = ok("adeunis/comfort-co2", 1, "3700 010203 040506");
    assert_eq!(data["bytes"]["appVersion"], "1.2.3");
    let data = ok("adeunis/comfort-co2", 1, "2000 25 01");
    assert_eq!(data["bytes"]["loraClassMode"], "CLASS C");
    assert_eq!(data["bytes"]["loraProvisioningMode"], "OTAA");
    // Pulse: both indexes, keep-alive, configuration (LoRaWAN form, 28 bytes).
    let data = ok("adeunis/pulse", 1, "4620 00000010 00000020");
    assert_eq!(data["bytes"]["counterValues"], json!([16, 32]));
    let data = ok("adeunis/pulse", 1, "3000 15 0010 0020 0001 0002");
    assert_eq!(
        data["bytes"]["channels"][0],
        json!({"name": "channel A", "flow": {"alarm": true, "last24hMin": 1, "last24hMax": 16},
               "tamperAlarm": true, "leakageAlarm": true})
    );
    let data = ok(
        "adeunis/pulse",
        1,
        "1000 01 0006 19 0e10 21 003c 0001 0002 0003 0004 0005 0006 06 07 08 09 01",
    );
    assert_eq!(data["bytes"]["productMode"], "PRODUCTION");
    assert_eq!(data["bytes"]["redundantSamples"], 1);
    assert_eq!(data["bytes"]["channels"][1]["state"], "enabled");
    assert_eq!(
        data["bytes"]["channels"][1]["tamper"],
        json!({"activated": false, "samplePeriodForDetection": {"unit": "s", "value": 80}, "threshold": 9})
    );
    // Odd number of difference bytes.
    assert!(matches!(
        err("adeunis/pulse", 1, "5a000000012700"),
        DecodeError::Truncated { .. }
    ));
}

#[test]
fn dragino_lht65_external_sensors() {
    // Type 9: DS18B20 temperature in place of the battery, and a timestamp.
    let data = ok("dragino/lht65", 2, "0add0b0dc376096500000a");
    assert_eq!(data["TempC_DS"], 27.81);
    assert_eq!(data["Bat_status"], 3);
    assert_eq!(data["Systimestamp"], 1_694_498_826u32);
    assert!(data.get("BatV").is_none());
    // Type 15: probe id; probe not connected.
    let data = ok("dragino/lht65", 2, "cbf6282f0376 8f 01020304");
    assert_eq!(data["ID"], "28 2f 03 76 01 02 03 04 ");
    assert_eq!(data["No_connect"], "Sensor no connection");
    assert!(data.get("TempC_SHT").is_none());
    // Poll replies are not decoded.
    assert!(matches!(
        err("dragino/lht65", 2, "cbf60b0d0376410add7fff"),
        DecodeError::Unsupported { offset: 6, .. }
    ));
}

#[test]
fn dragino_ldds75_documented_frame() {
    assert_eq!(
        ok("dragino/ldds75", 2, "0e1c0b05 00 ff9c 01"),
        json!({"Bat": 3.612, "Distance": 2821, "Interrupt_flag": 0, "TempC_DS18B20": -10, "Sensor_flag": 1})
    );
}

#[test]
fn dingtek_df702_angle() {
    let data = ok("dingtek/df702", 3, "800001021107d000190105101000000081");
    assert_eq!(data["angle"], "-5 °");
    assert_eq!(data["full"], true);
    assert_eq!(data["fire"], false);
    assert_eq!(data["tilt"], true);
    let data = ok("dingtek/df702", 3, "800001021107d000190005000000000081");
    assert_eq!(data["angle"], "5 °");
    // A longitude beyond 180°.
    assert!(matches!(
        err(
            "dingtek/df702",
            3,
            "800001011907d001cd03e947ef272042190000000000000081"
        ),
        DecodeError::InvalidValue { offset: 8, .. }
    ));
}

#[test]
fn bmeters_iwmlr3_vif_and_alarm() {
    let data = ok("b-meters/iwmlr3", 1, "2cffffffff2201000000000e07");
    assert_eq!(data["valueCounter"], 4_294_967_295u32);
    assert_eq!(data["vif"], 14);
    assert_eq!(data["alarm"], "error");
}

#[test]
fn oms_long_header_error_flags_and_manufacturer_data() {
    let data = ok(
        "sensus/iperl",
        20,
        "72 78563412 ae4c 68 07 01 00 0000 04133a1c7e01 02fd170200 2f 0f0102",
    );
    assert_eq!(data["identificationNo"], 12_345_678);
    assert_eq!(data["manufacturerCode"], "SEN");
    assert_eq!(data["device"], 7);
    assert_eq!(data["alarms"], json!(["LOW_BATTERY"]));
    let records = data["records"].as_array().expect("records");
    assert_eq!(records.len(), 3);
    assert_eq!(records[1]["vifType"], "ERROR_FLAGS");
    assert_eq!(records[1]["vif"], 0x17fd);
    assert_eq!(records[1]["scaledValue"], Value::Null);
    assert_eq!(records[2]["strValue"], "0x0102");
    assert_eq!(records[2]["vifType"], "NO_TYPE");
}

#[test]
fn oms_rejects_what_it_cannot_read() {
    // Encrypted (security mode 5).
    assert!(matches!(
        err("sensus/iperl", 20, "7a01000005 04133a1c7e01"),
        DecodeError::Unsupported { offset: 3, .. }
    ));
    // Impossible date (month 13).
    assert!(matches!(
        err("sensus/iperl", 20, "7a01000000 046d2a2d133d"),
        DecodeError::InvalidValue { .. }
    ));
    // Compact profile without element length (the vendor's parser loops forever on it).
    assert!(matches!(
        err("sensus/iperl", 20, "7a01000000 0d931304d03c0000"),
        DecodeError::Unsupported { .. }
    ));
    // Four DIFEs.
    assert!(matches!(
        err("sensus/iperl", 20, "7a01000000 8484848404133a1c7e01"),
        DecodeError::Unsupported { .. }
    ));
    // Plain-text VIF.
    assert!(matches!(
        err("sensus/iperl", 20, "7a01000000 047c03616263"),
        DecodeError::Unsupported { .. }
    ));
    // A variable-length value longer than the payload.
    assert!(matches!(
        err("sensus/iperl", 20, "7a01000000 0d7820414243"),
        DecodeError::Truncated { .. }
    ));
}

/// A small deterministic generator (xorshift64*), so that failures can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }
}

/// Random bytes of random lengths, on valid and invalid ports, to every decoder: each call
/// returns (the test fails on a panic), and a success is a non-empty object that serializes.
#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for profile in decoders::profiles() {
        let d = decoder(profile);
        for _ in 0..3000 {
            let len = rng.below(72);
            let bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            let port = [0, 1, 2, 3, 5, 20, 21, 85, rng.byte()][rng.below(9)];
            if let Ok(data) = d.decode(port, &bytes) {
                assert!(!data.is_empty(), "{profile}: empty success");
                assert!(serde_json::to_string(&data).is_ok());
            }
        }
    }
}

/// Mutations of valid payloads (changed bytes, cuts, extensions) reach deeper than random
/// bytes: they keep a valid header and break the rest.
#[test]
fn mutated_payloads_never_panic() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for (profile, port, payload) in SAMPLES {
        let d = decoder(profile);
        let original = hex(payload);
        for _ in 0..3000 {
            let mut bytes = original.clone();
            for _ in 0..=rng.below(3) {
                match rng.below(4) {
                    0 if !bytes.is_empty() => {
                        let i = rng.below(bytes.len());
                        if let Some(b) = bytes.get_mut(i) {
                            *b = rng.byte();
                        }
                    }
                    1 if !bytes.is_empty() => {
                        let i = rng.below(bytes.len());
                        if let Some(b) = bytes.get_mut(i) {
                            *b ^= 1 << rng.below(8);
                        }
                    }
                    2 => bytes.truncate(rng.below(bytes.len() + 1)),
                    _ => bytes.extend((0..rng.below(6)).map(|_| rng.byte())),
                }
            }
            if let Ok(data) = d.decode(port, &bytes) {
                assert!(!data.is_empty(), "{profile}: empty success");
                assert!(serde_json::to_string(&data).is_ok());
            }
        }
    }
}
