//! Network-server messages read into `Uplink`: the reference examples of ChirpStack v4 and The
//! Things Stack v3 (tests/uplink/, see SOURCES.md), their quirks (omitted zeros, upper-case
//! DevEUIs, float numbers, string frequencies), every other event type, the generic format,
//! MQTT topics and their agreement with bodies, every class of error, and a no-panic loop over
//! mutated inputs.
#![allow(clippy::unwrap_used, clippy::panic)]

use chrono::{DateTime, Utc};
use jumeau_ingest::uplink::{
    parse_chirpstack_event, parse_generic, parse_mqtt, parse_topic, parse_tts_message,
    ChirpStackEvent, ChirpStackEventKind, DedupKey, LogLevel, MqttMessage, NetworkServer,
    TopicInfo, TtsDownlinkEvent, TtsKind, TtsMessage, Uplink, UplinkError,
};
use serde_json::{json, Value};

const CS_DOCS: &[u8] = include_bytes!("uplink/chirpstack-up-docs-example.json");
const CS_SERIALIZED: &[u8] = include_bytes!("uplink/chirpstack-up-serialized.json");
const TTS_WEBHOOK: &[u8] = include_bytes!("uplink/tts-uplink-example.json");
const TTS_MQTT: &[u8] = include_bytes!("uplink/tts-mqtt-uplink-example.json");

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn fixture(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn cs_up(body: &[u8]) -> Uplink {
    match parse_chirpstack_event("up", body) {
        Ok(ChirpStackEvent::Up(up)) => up,
        other => panic!("expected an up event, got {other:?}"),
    }
}

fn tts_up(body: &[u8]) -> Uplink {
    match parse_tts_message(body) {
        Ok(TtsMessage::Up(up)) => up,
        other => panic!("expected an uplink, got {other:?}"),
    }
}

fn cs_err(event: &str, body: &Value) -> UplinkError {
    parse_chirpstack_event(event, &bytes(body)).expect_err("should be refused")
}

fn tts_err(body: &Value) -> UplinkError {
    parse_tts_message(&bytes(body)).expect_err("should be refused")
}

fn generic_err(body: &Value) -> UplinkError {
    parse_generic(&bytes(body)).expect_err("should be refused")
}

/// Sets a value at a JSON pointer, adding the last key if absent: the parent must exist.
fn set(v: &mut Value, pointer: &str, new: Value) {
    if let Some(slot) = v.pointer_mut(pointer) {
        *slot = new;
        return;
    }
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    v.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("{parent} not found"))
        .insert(key.to_owned(), new);
}

/// Removes a field at a JSON pointer.
fn remove(v: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    v.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("{parent} not found"))
        .remove(key);
}

// ---------------------------------------------------------------------------------------------
// ChirpStack v4 reference examples

#[test]
fn chirpstack_docs_example_minimal_up() {
    let up = cs_up(CS_DOCS);
    assert_eq!(up.source, NetworkServer::ChirpStack);
    assert_eq!(up.dev_eui, "0101010101010101");
    assert_eq!(up.device_name.as_deref(), Some("Test device"));
    assert_eq!(
        up.application.as_deref(),
        Some("17c82e96-be03-4f38-aef3-f83d48582d97")
    );
    assert_eq!(up.tags.get("key").map(String::as_str), Some("value"));
    assert_eq!(up.dev_addr.as_deref(), Some("00189440"));
    // The docs example has no fCnt: an omitted counter is 0.
    assert_eq!(up.f_cnt, 0);
    assert_eq!(up.f_port, Some(1));
    assert_eq!(up.application_port(), Some(1));
    assert_eq!(up.payload, vec![0xaa]);
    assert!(!up.confirmed);
    assert_eq!(up.decoded, None, "no codec, no object");
    assert_eq!(up.received_at, time("2022-07-18T09:34:15.775023242+00:00"));
    assert_eq!(up.dr, Some(1));
    assert_eq!(up.frequency_hz, Some(867_100_000));
    assert_eq!(up.spreading_factor, Some(11));
    assert_eq!(up.bandwidth_hz, Some(125_000));
    assert_eq!(
        up.message_id.as_deref(),
        Some("3ac7e3c4-4401-4b8d-9386-a5c902f9202d")
    );
    assert_eq!(up.rx.len(), 1);
    let rx = &up.rx[0];
    assert_eq!(rx.gateway_id, "0016c001f153a14c");
    assert_eq!(rx.gateway_eui.as_deref(), Some("0016c001f153a14c"));
    assert_eq!(rx.rssi, Some(-36));
    assert_eq!(rx.snr, Some(10.5));
    assert_eq!(rx.time, None);
    assert_eq!(rx.location, None);
    assert_eq!(
        up.dedup_key,
        DedupKey {
            dev_eui: 0x0101_0101_0101_0101,
            f_cnt: 0
        }
    );
    assert_eq!(up.dedup_key.to_string(), "0101010101010101/0");
    assert!(!up.simulated);
}

#[test]
fn chirpstack_serialized_up_with_defaults_and_float_object() {
    let up = cs_up(CS_SERIALIZED);
    assert_eq!(up.dev_eui, "0101010101010101");
    assert_eq!(up.f_cnt, 0, "fCnt: 0 written out");
    assert_eq!(up.f_port, Some(1));
    // proto3 defaults written as "" read as absent.
    assert_eq!(up.device_name, None);
    assert_eq!(up.dev_addr, None);
    assert_eq!(up.application.as_deref(), Some("a"));
    assert_eq!(up.tags.get("site").map(String::as_str), Some("mairie"));
    assert_eq!(up.payload, vec![0x01, 0x00, 0xe2, 0x06, 0x03, 0x08]);
    assert_eq!(up.received_at, time("2023-11-14T22:13:20Z"));
    assert_eq!(up.frequency_hz, None, "no txInfo in this example");
    assert_eq!(up.dr, Some(0));

    // ChirpStack writes every decoded number as a float: 776.0, not 776.
    let object = up.decoded.as_ref().expect("object");
    let co2 = &object["co2"];
    assert!(co2.is_f64());
    assert_eq!(co2.as_u64(), None, "never read decoded numbers as integers");
    assert_eq!(co2.as_f64(), Some(776.0));
    assert_eq!(object["temperature"].as_f64(), Some(22.6));
    assert_eq!(up.decoded_f64("co2"), Some(776.0));
    assert_eq!(up.decoded_f64("temperature"), Some(22.6));
    assert_eq!(up.decoded_f64("absent"), None);

    let rx = &up.rx[0];
    let loc = rx.location.expect("gateway location");
    assert_eq!(
        (loc.latitude, loc.longitude, loc.altitude),
        (48.85, 2.35, None)
    );
    assert_eq!(rx.snr, Some(10.5));
}

#[test]
fn chirpstack_upper_case_dev_eui_and_rx_quirks() {
    let mut v = fixture(CS_DOCS);
    set(&mut v, "/deviceInfo/devEui", json!("0004A30B001C0530"));
    set(&mut v, "/devAddr", json!("00BCB929"));
    set(&mut v, "/fCnt", json!(463));
    // Inside rxInfo zero values are omitted: no snr (it was 0 dB), and gateway times.
    remove(&mut v, "/rxInfo/0/snr");
    set(&mut v, "/rxInfo/0/gwTime", json!("2022-07-18T09:34:15.7Z"));
    set(&mut v, "/rxInfo/0/nsTime", json!("2022-07-18T09:34:15.8Z"));
    let up = cs_up(&bytes(&v));
    assert_eq!(up.dev_eui, "0004a30b001c0530");
    assert_eq!(up.dev_addr.as_deref(), Some("00bcb929"));
    assert_eq!(up.f_cnt, 463);
    assert_eq!(up.dedup_key.dev_eui, 0x0004_a30b_001c_0530);
    assert_eq!(
        up.rx[0].snr,
        Some(0.0),
        "omitted SNR of a LoRa uplink is 0 dB"
    );
    assert_eq!(
        up.rx[0].time,
        Some(time("2022-07-18T09:34:15.7Z")),
        "gwTime first"
    );

    // Without LoRa modulation information an absent SNR stays unknown.
    remove(&mut v, "/txInfo");
    assert_eq!(cs_up(&bytes(&v)).rx[0].snr, None);

    // Without gwTime, nsTime; without the top-level time, the gateway's.
    remove(&mut v, "/rxInfo/0/gwTime");
    remove(&mut v, "/time");
    let up = cs_up(&bytes(&v));
    assert_eq!(up.rx[0].time, Some(time("2022-07-18T09:34:15.8Z")));
    assert_eq!(up.received_at, time("2022-07-18T09:34:15.8Z"));
}

#[test]
fn chirpstack_f_port_zero_is_mac_only_and_numbers_may_be_strings_or_floats() {
    let mut v = fixture(CS_SERIALIZED);
    set(&mut v, "/fPort", json!(0));
    set(&mut v, "/data", json!(""));
    set(&mut v, "/fCnt", json!("4294967295"));
    set(&mut v, "/dr", json!(5.0));
    let up = cs_up(&bytes(&v));
    assert_eq!(up.f_port, Some(0));
    assert_eq!(
        up.application_port(),
        None,
        "port 0 carries MAC commands only"
    );
    assert!(up.payload.is_empty());
    assert_eq!(up.f_cnt, u32::MAX);
    assert_eq!(up.dr, Some(5));
}

// ---------------------------------------------------------------------------------------------
// ChirpStack v4: the other event types

fn device_info() -> Value {
    json!({
        "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
        "tenantName": "Commune",
        "applicationId": "a1b2c3d4-0000-4000-8000-000000000001",
        "applicationName": "Capteurs",
        "deviceProfileId": "a1b2c3d4-0000-4000-8000-000000000002",
        "deviceProfileName": "Sonde CO2",
        "deviceName": "ecole-co2-1",
        "devEui": "70b3d57ed0000001",
        "tags": {"batiment": "ecole"}
    })
}

#[test]
fn chirpstack_status_event() {
    let body = json!({
        "deduplicationId": "00000000-0000-4000-8000-000000000010",
        "time": "2024-03-01T08:00:00.5+00:00",
        "deviceInfo": device_info(),
        "margin": 10,
        "externalPowerSource": false,
        "batteryLevelUnavailable": false,
        "batteryLevel": 88.3
    });
    match parse_chirpstack_event("status", &bytes(&body)).unwrap() {
        ChirpStackEvent::Status {
            dev_eui,
            time: t,
            margin,
            battery_level,
            external_power_source,
        } => {
            assert_eq!(dev_eui, "70b3d57ed0000001");
            assert_eq!(t, Some(time("2024-03-01T08:00:00.5Z")));
            assert_eq!(margin, 10);
            assert_eq!(battery_level, Some(88.3));
            assert!(!external_power_source);
        }
        other => panic!("{other:?}"),
    }

    // On mains power, or when the device cannot measure, there is no battery level.
    for flag in ["externalPowerSource", "batteryLevelUnavailable"] {
        let mut b = body.clone();
        set(&mut b, &format!("/{flag}"), json!(true));
        set(&mut b, "/batteryLevel", json!(0.0));
        match parse_chirpstack_event("status", &bytes(&b)).unwrap() {
            ChirpStackEvent::Status { battery_level, .. } => assert_eq!(battery_level, None),
            other => panic!("{other:?}"),
        }
    }

    // Negative margins are real (the docs' example shape, with omitted defaults).
    let b = json!({"deviceInfo": device_info(), "margin": -5, "batteryLevel": 12});
    match parse_chirpstack_event("status", &bytes(&b)).unwrap() {
        ChirpStackEvent::Status {
            margin,
            battery_level,
            time,
            ..
        } => {
            assert_eq!((margin, battery_level, time), (-5, Some(12.0), None));
        }
        other => panic!("{other:?}"),
    }

    let mut b = body.clone();
    set(&mut b, "/batteryLevel", json!(250));
    assert!(matches!(
        cs_err("status", &b),
        UplinkError::InvalidValue { ref field, .. } if field == "batteryLevel"
    ));
}

#[test]
fn chirpstack_join_ack_txack_log_location_integration() {
    let join = json!({
        "deduplicationId": "c9dbe358-2578-4fb7-b295-66b44edc45a6",
        "time": "2024-03-01T08:00:00Z",
        "deviceInfo": device_info(),
        "devAddr": "01AB02CD"
    });
    let ev = parse_chirpstack_event("join", &bytes(&join)).unwrap();
    assert_eq!(ev.kind(), ChirpStackEventKind::Join);
    assert_eq!(ev.dev_eui(), "70b3d57ed0000001");
    assert_eq!(
        ev,
        ChirpStackEvent::Join {
            dev_eui: "70b3d57ed0000001".into(),
            device_name: Some("ecole-co2-1".into()),
            dev_addr: Some("01ab02cd".into()),
            time: Some(time("2024-03-01T08:00:00Z")),
        }
    );

    let ack = json!({
        "deduplicationId": "856a03e7-80f6-4c26-b971-9dcb34a59c2e",
        "time": "2024-03-01T08:01:00Z",
        "deviceInfo": device_info(),
        "queueItemId": "1bbcab1d-6ec6-4136-b3f5-d63be1dc08de",
        "acknowledged": true,
        "fCntDown": 3
    });
    match parse_chirpstack_event("ack", &bytes(&ack)).unwrap() {
        ChirpStackEvent::Ack {
            acknowledged,
            f_cnt_down,
            queue_item_id,
            ..
        } => {
            assert!(acknowledged);
            assert_eq!(f_cnt_down, 3);
            assert_eq!(
                queue_item_id.as_deref(),
                Some("1bbcab1d-6ec6-4136-b3f5-d63be1dc08de")
            );
        }
        other => panic!("{other:?}"),
    }

    let txack = json!({
        "downlinkId": 3461958127u32,
        "time": "2024-03-01T08:02:00Z",
        "deviceInfo": device_info(),
        "queueItemId": "42cb6459-a640-46ec-9623-bdff39dc4736",
        "fCntDown": 2,
        "gatewayId": "0016c001f153a14c",
        "txInfo": {"frequency": 867900000, "power": 14,
                   "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 7,
                                           "codeRate": "CR_4_5", "polarizationInversion": true}},
                   "timing": {"delay": {"delay": "1s"}}, "context": "ICYVGw=="}
    });
    match parse_chirpstack_event("txack", &bytes(&txack)).unwrap() {
        ChirpStackEvent::TxAck {
            downlink_id,
            f_cnt_down,
            gateway_id,
            ..
        } => {
            assert_eq!(downlink_id, 3_461_958_127);
            assert_eq!(f_cnt_down, 2);
            assert_eq!(gateway_id.as_deref(), Some("0016c001f153a14c"));
        }
        other => panic!("{other:?}"),
    }

    let log = json!({
        "time": "2024-03-01T08:03:00Z",
        "deviceInfo": device_info(),
        "level": "ERROR",
        "code": "UPLINK_CODEC",
        "description": "ReferenceError: x is not defined",
        "context": {"deduplication_id": "4e91db13-5ce3-4c8c-ab0f-dfc626cf0771"}
    });
    match parse_chirpstack_event("log", &bytes(&log)).unwrap() {
        ChirpStackEvent::Log {
            level,
            code,
            description,
            context,
            ..
        } => {
            assert_eq!(level, LogLevel::Error);
            assert_eq!(code, "UPLINK_CODEC");
            assert_eq!(description, "ReferenceError: x is not defined");
            assert_eq!(
                context.get("deduplication_id").map(String::as_str),
                Some("4e91db13-5ce3-4c8c-ab0f-dfc626cf0771")
            );
        }
        other => panic!("{other:?}"),
    }
    // proto3: INFO (0) omitted; enums may also come as numbers.
    let log = json!({"deviceInfo": device_info(), "code": 5, "description": "reset"});
    match parse_chirpstack_event("log", &bytes(&log)).unwrap() {
        ChirpStackEvent::Log { level, code, .. } => {
            assert_eq!(level, LogLevel::Info);
            assert_eq!(code, "UPLINK_F_CNT_RESET");
        }
        other => panic!("{other:?}"),
    }

    let location = json!({
        "deduplicationId": "63d870b9-b769-4d88-8b33-8e43f58851a7",
        "time": "2024-03-01T08:04:00Z",
        "deviceInfo": device_info(),
        "location": {"latitude": 45.76, "longitude": 4.83, "altitude": 170}
    });
    match parse_chirpstack_event("location", &bytes(&location)).unwrap() {
        ChirpStackEvent::Location { location, .. } => {
            assert_eq!(location.latitude, 45.76);
            assert_eq!(location.longitude, 4.83);
            assert_eq!(location.altitude, Some(170.0));
        }
        other => panic!("{other:?}"),
    }

    let integration = json!({
        "deduplicationId": "39c68646-57f7-4973-8ac8-48839b5714d6",
        "time": "2024-03-01T08:05:00Z",
        "deviceInfo": device_info(),
        "integrationName": "loracloud",
        "eventType": "modem_UplinkResponse",
        "object": {"fports": {"gnssport": 198.0}}
    });
    match parse_chirpstack_event("integration", &bytes(&integration)).unwrap() {
        ChirpStackEvent::Integration {
            integration_name,
            event_type,
            object,
            ..
        } => {
            assert_eq!(integration_name, "loracloud");
            assert_eq!(event_type, "modem_UplinkResponse");
            assert!(object.unwrap().contains_key("fports"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn chirpstack_body_must_fit_the_declared_event() {
    let status = json!({"deviceInfo": device_info(), "margin": 3, "batteryLevel": 50.0});
    let err = cs_err("up", &status);
    assert_eq!(
        err,
        UplinkError::EventMismatch {
            declared: "up",
            looks_like: "status",
            field: "margin"
        }
    );
    assert!(err.to_string().contains("`event` query parameter"));

    // An up body sent as a status event.
    let err = cs_err("status", &fixture(CS_DOCS));
    assert!(matches!(
        err,
        UplinkError::EventMismatch {
            declared: "status",
            looks_like: "up",
            ..
        }
    ));

    // A join body declared as up has none of the fields of an uplink.
    let join = json!({"deviceInfo": device_info(), "devAddr": "01ab02cd",
                      "time": "2024-03-01T08:00:00Z"});
    let err = cs_err("up", &join);
    assert!(
        matches!(err, UplinkError::MissingField { ref field, .. } if field.contains("fPort")),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// The Things Stack v3 reference examples

#[test]
fn tts_webhook_example() {
    let up = tts_up(TTS_WEBHOOK);
    assert_eq!(up.source, NetworkServer::TheThingsStack);
    // Upper case in the body, lower case here.
    assert_eq!(up.dev_eui, "0004a30b001c0530");
    assert_eq!(up.dev_addr.as_deref(), Some("00bcb929"));
    assert_eq!(up.device_name.as_deref(), Some("dev1"));
    assert_eq!(up.application.as_deref(), Some("app1"));
    assert_eq!(up.f_cnt, 1);
    // This documented example has no f_port: omitted, as proto3 omits zeros.
    assert_eq!(up.f_port, None);
    assert_eq!(up.application_port(), None);
    assert_eq!(up.payload, vec![0x82, 0x41, 0xde]);
    let decoded = up.decoded.as_ref().expect("decoded_payload");
    assert_eq!(decoded["temperature"].as_f64(), Some(1.0));
    assert_eq!(decoded["luminosity"].as_f64(), Some(0.64));
    // The Network Server's reception time, not the Application Server's envelope time.
    assert_eq!(up.received_at, time("2020-02-12T15:15:45.789585559Z"));
    // frequency is a string (uint64 in proto3 JSON).
    assert_eq!(up.frequency_hz, Some(868_300_000));
    assert_eq!(up.spreading_factor, Some(7));
    assert_eq!(up.bandwidth_hz, Some(125_000));
    assert_eq!(up.dr, None);
    assert_eq!(up.tags.get("key1").map(String::as_str), Some("value1"));
    assert_eq!(
        up.message_id.as_deref(),
        Some("as:up:01E0WZGT6Y7657CPFPE5WEYDSQ")
    );
    let rx = &up.rx[0];
    assert_eq!(rx.gateway_id, "gtw1");
    assert_eq!(rx.gateway_eui.as_deref(), Some("9c5c8e00001a05c4"));
    assert_eq!(rx.rssi, Some(-35));
    assert_eq!(rx.snr, Some(5.0));
    assert_eq!(rx.time, Some(time("2020-02-12T15:15:45.787Z")));
    assert_eq!(
        up.dedup_key,
        DedupKey {
            dev_eui: 0x0004_a30b_001c_0530,
            f_cnt: 1
        }
    );
}

#[test]
fn tts_mqtt_example_without_f_cnt_nor_received_at() {
    let up = tts_up(TTS_MQTT);
    assert_eq!(up.dev_eui, "4200000000000000");
    assert_eq!(up.f_cnt, 0, "f_cnt omitted: 0");
    assert_eq!(up.f_port, Some(15));
    assert_eq!(up.payload, b"Temperature = 0.0");
    assert_eq!(up.decoded, None);
    // No received_at anywhere: the gateway's time is the best there is.
    assert_eq!(up.received_at, time("2019-01-29T13:02:34.981Z"));
    assert_eq!(up.frequency_hz, Some(868_500_000));
    assert_eq!(up.rx[0].gateway_id, "eui-0242020000247803");
    assert_eq!(up.rx[0].gateway_eui.as_deref(), Some("0242020000247803"));

    // The same over MQTT, on its documented topic.
    let msg = parse_mqtt("v3/app1@tenant1/devices/dev1/up", TTS_MQTT).unwrap();
    assert_eq!(msg, MqttMessage::TheThingsStack(TtsMessage::Up(up)));
}

#[test]
fn tts_omitted_zero_quirk() {
    // A message as The Things Stack writes frame counter 0 on port 0 with SNR 0: all omitted.
    let body = json!({
        "end_device_ids": {
            "device_id": "compteur-eau-3",
            "application_ids": {"application_id": "mairie"},
            "dev_eui": "70B3D57ED0000ABC"
        },
        "received_at": "2024-06-01T10:00:00.2Z",
        "uplink_message": {
            "rx_metadata": [{
                "gateway_ids": {"gateway_id": "gw-eglise"},
                "rssi": -118,
                "channel_rssi": -118
            }],
            "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 12}},
                         "frequency": "868100000"},
            "received_at": "2024-06-01T10:00:00.1Z"
        }
    });
    let up = tts_up(&bytes(&body));
    assert_eq!(up.f_cnt, 0);
    assert_eq!(up.f_port, None);
    assert!(up.payload.is_empty());
    assert!(!up.confirmed);
    assert_eq!(up.dev_eui, "70b3d57ed0000abc");
    assert_eq!(
        up.dedup_key,
        DedupKey {
            dev_eui: 0x70b3_d57e_d000_0abc,
            f_cnt: 0
        }
    );
    assert_eq!(
        up.rx[0].snr,
        Some(0.0),
        "LoRa, RSSI reported, SNR omitted: 0 dB"
    );
    assert_eq!(up.rx[0].gateway_eui, None);
    assert_eq!(up.received_at, time("2024-06-01T10:00:00.1Z"));

    // FSK has no SNR: absent stays absent.
    let mut fsk = body.clone();
    set(
        &mut fsk,
        "/uplink_message/settings/data_rate",
        json!({"fsk": {"bit_rate": 50000}}),
    );
    assert_eq!(tts_up(&bytes(&fsk)).rx[0].snr, None);

    // Without the NS time, the AS (envelope) time.
    let mut b = body.clone();
    remove(&mut b, "/uplink_message/received_at");
    assert_eq!(
        tts_up(&bytes(&b)).received_at,
        time("2024-06-01T10:00:00.2Z")
    );
}

#[test]
fn tts_normalized_payload_warnings_simulated_and_confirmed() {
    let mut v = fixture(TTS_WEBHOOK);
    set(&mut v, "/uplink_message/f_port", json!(2));
    set(&mut v, "/uplink_message/confirmed", json!(true));
    set(
        &mut v,
        "/uplink_message/decoded_payload_warnings",
        json!(["low battery"]),
    );
    set(
        &mut v,
        "/uplink_message/normalized_payload",
        json!([{"air": {"temperature": 21.5}}]),
    );
    set(&mut v, "/simulated", json!(true));
    let up = tts_up(&bytes(&v));
    assert_eq!(up.f_port, Some(2));
    assert!(up.confirmed);
    assert!(up.simulated);
    assert_eq!(up.decoder_warnings, vec!["low battery".to_owned()]);
    assert_eq!(up.normalized.len(), 1);
    assert_eq!(up.normalized[0]["air"]["temperature"].as_f64(), Some(21.5));
}

fn tts_envelope(kind: &str, content: Value) -> Value {
    json!({
        "end_device_ids": {
            "device_id": "dev1",
            "application_ids": {"application_id": "app1"},
            "dev_eui": "4200000000000000",
            "join_eui": "4200000000000000",
            "dev_addr": "01DA1F15"
        },
        "correlation_ids": ["as:up:01D2CT83AXQFQYQ35SR74CTWKH"],
        "received_at": "2024-06-01T10:00:00Z",
        kind: content
    })
}

#[test]
fn tts_other_message_kinds() {
    match parse_tts_message(&bytes(&tts_envelope(
        "join_accept",
        json!({"session_key_id": "AWiZpAyXrAfEkUNkBljRoA=="}),
    )))
    .unwrap()
    {
        TtsMessage::JoinAccept {
            device,
            received_at,
        } => {
            assert_eq!(device.device_id, "dev1");
            assert_eq!(device.application_id, "app1");
            assert_eq!(device.dev_eui.as_deref(), Some("4200000000000000"));
            assert_eq!(device.join_eui.as_deref(), Some("4200000000000000"));
            assert_eq!(device.dev_addr.as_deref(), Some("01da1f15"));
            assert_eq!(received_at, Some(time("2024-06-01T10:00:00Z")));
        }
        other => panic!("{other:?}"),
    }

    let cases = [
        ("downlink_ack", TtsDownlinkEvent::Ack),
        ("downlink_nack", TtsDownlinkEvent::Nack),
        ("downlink_sent", TtsDownlinkEvent::Sent),
        ("downlink_queued", TtsDownlinkEvent::Queued),
    ];
    for (kind, expected) in cases {
        let body = tts_envelope(
            kind,
            json!({"f_port": 15, "f_cnt": 11, "frm_payload": "vu8=", "confirmed": true,
                   "priority": "NORMAL"}),
        );
        let msg = parse_tts_message(&bytes(&body)).unwrap();
        assert_eq!(msg.kind(), kind);
        match msg {
            TtsMessage::Downlink {
                event,
                f_port,
                f_cnt,
                confirmed,
                error,
                ..
            } => {
                assert_eq!(event, expected);
                assert_eq!(
                    (f_port, f_cnt, confirmed, error),
                    (Some(15), 11, true, None)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    let failed = tts_envelope(
        "downlink_failed",
        json!({"downlink": {"f_port": 3, "frm_payload": "AQ=="},
               "error": {"namespace": "pkg/networkserver", "name": "application_downlink_too_long",
                         "message_format": "application downlink too long"}}),
    );
    match parse_tts_message(&bytes(&failed)).unwrap() {
        TtsMessage::Downlink {
            event,
            f_port,
            f_cnt,
            error,
            ..
        } => {
            assert_eq!(event, TtsDownlinkEvent::Failed);
            assert_eq!((f_port, f_cnt), (Some(3), 0));
            assert_eq!(error.as_deref(), Some("application_downlink_too_long"));
        }
        other => panic!("{other:?}"),
    }

    let invalidated = tts_envelope(
        "downlink_queue_invalidated",
        json!({"downlinks": [], "last_f_cnt_down": 42}),
    );
    match parse_tts_message(&bytes(&invalidated)).unwrap() {
        TtsMessage::DownlinkQueueInvalidated {
            last_f_cnt_down, ..
        } => assert_eq!(last_f_cnt_down, 42),
        other => panic!("{other:?}"),
    }

    let solved = tts_envelope(
        "location_solved",
        json!({"service": "lora-cloud-geolocation-v3",
               "location": {"latitude": 45.76, "longitude": 4.83, "accuracy": 20,
                            "source": "SOURCE_LORA_TDOA_GEOLOCATION"}}),
    );
    match parse_tts_message(&bytes(&solved)).unwrap() {
        TtsMessage::LocationSolved {
            service,
            location,
            source,
            ..
        } => {
            assert_eq!(service.as_deref(), Some("lora-cloud-geolocation-v3"));
            assert_eq!((location.latitude, location.longitude), (45.76, 4.83));
            assert_eq!(source.as_deref(), Some("SOURCE_LORA_TDOA_GEOLOCATION"));
        }
        other => panic!("{other:?}"),
    }

    let service = tts_envelope(
        "service_data",
        json!({"service": "lora-cloud-device-management-v1", "data": {"uptime": 12}}),
    );
    match parse_tts_message(&bytes(&service)).unwrap() {
        TtsMessage::ServiceData { service, data, .. } => {
            assert_eq!(service.as_deref(), Some("lora-cloud-device-management-v1"));
            assert_eq!(data.unwrap()["uptime"], json!(12));
        }
        other => panic!("{other:?}"),
    }

    // uplink_normalized: the same frame, normalized values in `decoded`.
    let normalized = tts_envelope(
        "uplink_normalized",
        json!({"f_port": 1, "f_cnt": 7, "frm_payload": "AQI=",
               "normalized_payload": {"air": {"temperature": 19.5}},
               "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 9}},
                            "frequency": "868100000"},
               "received_at": "2024-06-01T09:59:59Z"}),
    );
    match parse_tts_message(&bytes(&normalized)).unwrap() {
        TtsMessage::NormalizedUp(up) => {
            assert_eq!(up.f_cnt, 7);
            assert_eq!(
                up.decoded.unwrap()["air"]["temperature"].as_f64(),
                Some(19.5)
            );
            assert_eq!(up.received_at, time("2024-06-01T09:59:59Z"));
        }
        other => panic!("{other:?}"),
    }

    // A kind from a newer The Things Stack is kept for the journal.
    let future = tts_envelope("downlink_teleported", json!({"where": "moon"}));
    match parse_tts_message(&bytes(&future)).unwrap() {
        TtsMessage::Other {
            kind,
            content,
            device,
        } => {
            assert_eq!(kind, "downlink_teleported");
            assert_eq!(content, json!({"where": "moon"}));
            assert_eq!(device.device_id, "dev1");
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The generic format

#[test]
fn generic_full_example() {
    let body = json!({
        "devEui": "0004A30B001C0530",
        "time": "2024-05-01T14:00:00+02:00",
        "fCnt": 42,
        "fPort": 1,
        "data": "AQDiBgMI",
        "object": {"temperature": 22.6, "battery": "3.6", "status": "ok"},
        "deviceName": "salle-des-fetes",
        "application": "batiments",
        "confirmed": true,
        "frequency": 868100000,
        "dr": 5,
        "rx": [
            {"gatewayId": "0016C001F153A14C", "rssi": -92, "snr": 7.5,
             "time": "2024-05-01T12:00:00Z",
             "location": {"latitude": 45.0, "longitude": 5.0, "altitude": 300}},
            {"gatewayId": "gw-mairie", "rssi": -110, "snr": -3.25}
        ]
    });
    let up = parse_generic(&bytes(&body)).unwrap();
    assert_eq!(up.source, NetworkServer::Generic);
    assert_eq!(up.dev_eui, "0004a30b001c0530");
    assert_eq!(up.received_at, time("2024-05-01T12:00:00Z"));
    assert_eq!((up.f_cnt, up.f_port, up.confirmed), (42, Some(1), true));
    assert_eq!(up.payload, vec![1, 0, 0xe2, 6, 3, 8]);
    assert_eq!(up.decoded_f64("temperature"), Some(22.6));
    assert_eq!(
        up.decoded_f64("battery"),
        Some(3.6),
        "numeric strings count"
    );
    assert_eq!(up.decoded_f64("status"), None);
    assert_eq!(up.device_name.as_deref(), Some("salle-des-fetes"));
    assert_eq!(up.application.as_deref(), Some("batiments"));
    assert_eq!((up.frequency_hz, up.dr), (Some(868_100_000), Some(5)));
    assert_eq!(up.rx.len(), 2);
    assert_eq!(up.rx[0].gateway_eui.as_deref(), Some("0016c001f153a14c"));
    assert_eq!(up.rx[0].location.unwrap().altitude, Some(300.0));
    assert_eq!(up.rx[1].gateway_eui, None);
    assert_eq!(up.best_rssi(), Some(-92));
    assert_eq!(up.best_snr(), Some(7.5));
    assert_eq!(up.dedup_key.to_string(), "0004a30b001c0530/42");
}

#[test]
fn generic_hex_shorthand_and_defaults() {
    let up = parse_generic(&bytes(&json!({
        "devEui": "0004a30b001c0530",
        "time": "2024-05-01T12:00:00Z",
        "hex": "01A2ff",
        "gatewayId": "gw1",
        "rssi": -100
    })))
    .unwrap();
    assert_eq!(up.payload, vec![0x01, 0xa2, 0xff]);
    assert_eq!(up.f_cnt, 0);
    assert_eq!(up.f_port, None);
    assert_eq!(up.rx.len(), 1);
    assert_eq!(up.rx[0].rssi, Some(-100));
    assert_eq!(
        up.rx[0].snr, None,
        "no proto3 zero-omission in the generic format"
    );
    assert_eq!(up.decoded, None);

    // The bare minimum.
    let up =
        parse_generic(br#"{"devEui":"0004a30b001c0530","time":"2024-05-01T12:00:00Z"}"#).unwrap();
    assert!(up.payload.is_empty() && up.rx.is_empty());
}

#[test]
fn same_frame_from_two_sources_has_the_same_dedup_key() {
    let mut cs = fixture(CS_DOCS);
    set(&mut cs, "/deviceInfo/devEui", json!("0004a30b001c0530"));
    set(&mut cs, "/fCnt", json!(1));
    let from_chirpstack = cs_up(&bytes(&cs));
    let from_tts = tts_up(TTS_WEBHOOK);
    let from_generic =
        parse_generic(br#"{"devEui":"0004A30B001C0530","fCnt":1,"time":"2024-05-01T12:00:00Z"}"#)
            .unwrap();
    assert_eq!(from_chirpstack.dedup_key, from_tts.dedup_key);
    assert_eq!(from_tts.dedup_key, from_generic.dedup_key);
    set(&mut cs, "/fCnt", json!(2));
    assert_ne!(cs_up(&bytes(&cs)).dedup_key, from_tts.dedup_key);
}

// ---------------------------------------------------------------------------------------------
// MQTT topics

#[test]
fn topics_are_parsed() {
    assert_eq!(
        parse_topic(
            "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up"
        ),
        Some(TopicInfo::ChirpStack {
            application_id: "17c82e96-be03-4f38-aef3-f83d48582d97".into(),
            dev_eui: "0101010101010101".into(),
            event: ChirpStackEventKind::Up,
        })
    );
    // Upper-case DevEUI in a topic is normalized too.
    assert_eq!(
        parse_topic("application/a/device/0004A30B001C0530/event/txack"),
        Some(TopicInfo::ChirpStack {
            application_id: "a".into(),
            dev_eui: "0004a30b001c0530".into(),
            event: ChirpStackEventKind::TxAck,
        })
    );
    assert_eq!(
        parse_topic("v3/app1@tenant1/devices/dev1/up"),
        Some(TopicInfo::TheThingsStack {
            application_id: "app1".into(),
            tenant_id: Some("tenant1".into()),
            device_id: "dev1".into(),
            kind: TtsKind::Uplink,
        })
    );
    assert_eq!(
        parse_topic("v3/app1/devices/dev1/down/ack"),
        Some(TopicInfo::TheThingsStack {
            application_id: "app1".into(),
            tenant_id: None,
            device_id: "dev1".into(),
            kind: TtsKind::DownlinkAck,
        })
    );
    for (suffix, kind) in [
        ("join", TtsKind::JoinAccept),
        ("down/queued", TtsKind::DownlinkQueued),
        ("down/sent", TtsKind::DownlinkSent),
        ("down/nack", TtsKind::DownlinkNack),
        ("down/failed", TtsKind::DownlinkFailed),
        ("down/invalidated", TtsKind::DownlinkQueueInvalidated),
        ("location/solved", TtsKind::LocationSolved),
        ("service/data", TtsKind::ServiceData),
    ] {
        match parse_topic(&format!("v3/app1@ttn/devices/dev1/{suffix}")) {
            Some(TopicInfo::TheThingsStack { kind: k, .. }) => assert_eq!(k, kind),
            other => panic!("{suffix}: {other:?}"),
        }
    }
    for event in ChirpStackEventKind::ALL {
        let topic = format!("application/a/device/0101010101010101/event/{event}");
        assert!(parse_topic(&topic).is_some(), "{topic}");
    }
}

#[test]
fn topics_that_are_not_uplink_events_are_refused() {
    for topic in [
        "",
        "/",
        "application/a/device/0101010101010101/command/down",
        "application/a/device/0101010101010101/event/bogus",
        "application/a/device/01010101010101/event/up",
        "application/a/device/0101-0101-0101-0101/event/up",
        "application/a/device/0101010101010101/event/up/extra",
        "application//device/0101010101010101/event/up",
        "application/+/device/+/event/up",
        "v3/app1@tenant1/devices/dev1/down/push",
        "v3/app1@tenant1/devices/dev1/down/replace",
        "v3/app1@tenant1/devices/dev1/up/",
        "v3/app1@/devices/dev1/up",
        "v3/@tenant/devices/dev1/up",
        "v3/app1/devices/#",
        "v3/app1/dev1/up",
        "gateway/0016c001f153a14c/event/up",
        "my-app/devices/dev1/up",
    ] {
        assert_eq!(parse_topic(topic), None, "{topic:?}");
        let err = parse_mqtt(topic, TTS_MQTT).expect_err(topic);
        assert!(
            matches!(err, UplinkError::UnknownTopic { .. }),
            "{topic}: {err}"
        );
    }
}

#[test]
fn mqtt_topic_and_body_must_agree() {
    // ChirpStack: the right topic.
    let topic = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up";
    match parse_mqtt(topic, CS_DOCS).unwrap() {
        MqttMessage::ChirpStack(ChirpStackEvent::Up(up)) => assert_eq!(up.payload, vec![0xaa]),
        other => panic!("{other:?}"),
    }
    // Upper case on one side only is still the same DevEUI.
    let mut v = fixture(CS_DOCS);
    set(&mut v, "/deviceInfo/devEui", json!("0004A30B001C0530"));
    assert!(parse_mqtt(
        "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0004a30b001c0530/event/up",
        &bytes(&v)
    )
    .is_ok());
    set(&mut v, "/deviceInfo/devEui", json!("0004a30b001c0530"));
    assert!(parse_mqtt(
        "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0004A30B001C0530/event/up",
        &bytes(&v)
    )
    .is_ok());

    // Another device's topic.
    let err = parse_mqtt(
        "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0202020202020202/event/up",
        CS_DOCS,
    )
    .unwrap_err();
    assert_eq!(
        err,
        UplinkError::TopicMismatch {
            what: "the DevEUI",
            topic_value: "0202020202020202".into(),
            body_value: "0101010101010101".into(),
        }
    );
    assert!(err.to_string().contains("topic"));
    // Another application's topic.
    let err = parse_mqtt(
        "application/other/device/0101010101010101/event/up",
        CS_DOCS,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            UplinkError::TopicMismatch {
                what: "the application ID",
                ..
            }
        ),
        "{err}"
    );
    // Another event's topic.
    let err = parse_mqtt(
        "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/status",
        CS_DOCS,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            UplinkError::EventMismatch {
                declared: "status",
                ..
            }
        ),
        "{err}"
    );

    // The Things Stack: device, application and kind.
    let err = parse_mqtt("v3/app1@tenant1/devices/dev2/up", TTS_MQTT).unwrap_err();
    assert_eq!(
        err,
        UplinkError::TopicMismatch {
            what: "the device ID",
            topic_value: "dev2".into(),
            body_value: "dev1".into(),
        }
    );
    let err = parse_mqtt("v3/app2@tenant1/devices/dev1/up", TTS_MQTT).unwrap_err();
    assert!(matches!(
        err,
        UplinkError::TopicMismatch {
            what: "the application ID",
            ..
        }
    ));
    let err = parse_mqtt("v3/app1@tenant1/devices/dev1/join", TTS_MQTT).unwrap_err();
    assert_eq!(
        err,
        UplinkError::TopicMismatch {
            what: "the message kind",
            topic_value: "join_accept".into(),
            body_value: "uplink_message".into(),
        }
    );
    let join = tts_envelope(
        "join_accept",
        json!({"session_key_id": "AWiZpAyXrAfEkUNkBljRoA=="}),
    );
    assert!(matches!(
        parse_mqtt("v3/app1/devices/dev1/join", &bytes(&join)),
        Ok(MqttMessage::TheThingsStack(TtsMessage::JoinAccept { .. }))
    ));
}

// ---------------------------------------------------------------------------------------------
// Every class of error

#[test]
fn truncated_json_is_refused() {
    for (name, body) in [
        ("cs docs", CS_DOCS),
        ("cs serialized", CS_SERIALIZED),
        ("tts webhook", TTS_WEBHOOK),
        ("tts mqtt", TTS_MQTT),
    ] {
        for cut in [1, body.len() / 3, body.len() / 2, body.len() - 2] {
            let part = &body[..cut];
            for result in [
                parse_chirpstack_event("up", part).map(|_| ()),
                parse_tts_message(part).map(|_| ()),
                parse_generic(part).map(|_| ()),
            ] {
                let err = result.expect_err(name);
                assert!(
                    matches!(err, UplinkError::InvalidJson { .. }),
                    "{name} cut at {cut}: {err}"
                );
                assert!(err.to_string().contains("cut short"));
            }
        }
    }
    assert!(matches!(
        parse_tts_message(b""),
        Err(UplinkError::InvalidJson { .. })
    ));
    assert!(matches!(
        parse_generic(b"[1,2]"),
        Err(UplinkError::NotAnObject { found: "an array" })
    ));
    assert!(matches!(
        parse_chirpstack_event("up", b"\"up\""),
        Err(UplinkError::NotAnObject { found: "a string" })
    ));
}

#[test]
fn bad_base64_is_refused() {
    for bad in ["qg=", "q", "qg==x", "q g=", "%%%%", "qg===="] {
        let mut v = fixture(CS_DOCS);
        set(&mut v, "/data", json!(bad));
        let err = cs_err("up", &v);
        assert!(
            matches!(err, UplinkError::InvalidBase64 { ref field, .. } if field == "data"),
            "{bad}: {err}"
        );

        let mut v = fixture(TTS_WEBHOOK);
        set(&mut v, "/uplink_message/frm_payload", json!(bad));
        let err = tts_err(&v);
        assert!(
            matches!(err, UplinkError::InvalidBase64 { ref field, .. }
                     if field == "uplink_message.frm_payload"),
            "{bad}: {err}"
        );

        let err = generic_err(&json!({"devEui": "0004a30b001c0530",
                                      "time": "2024-05-01T12:00:00Z", "data": bad}));
        assert!(
            matches!(err, UplinkError::InvalidBase64 { .. }),
            "{bad}: {err}"
        );
    }
    let err = generic_err(
        &json!({"devEui": "0004a30b001c0530", "time": "2024-05-01T12:00:00Z",
                                  "hex": "0g"}),
    );
    assert!(matches!(err, UplinkError::InvalidHex { .. }), "{err}");
    assert!(err.to_string().contains("two hex digits per byte"));
}

#[test]
fn bad_dev_euis_are_refused() {
    for bad in [
        "010101010101010",
        "01010101010101010",
        "0101-0101-0101-01",
        "0x0101010101010101",
        "zz01010101010101",
        " 0101010101010101",
        "010101010101010é",
    ] {
        let mut v = fixture(CS_DOCS);
        set(&mut v, "/deviceInfo/devEui", json!(bad));
        let err = cs_err("up", &v);
        assert!(
            matches!(err, UplinkError::InvalidDevEui { ref field, .. } if field == "deviceInfo.devEui"),
            "{bad}: {err}"
        );
        assert!(err.to_string().contains("exactly 16 hexadecimal digits"));

        let mut v = fixture(TTS_WEBHOOK);
        set(&mut v, "/end_device_ids/dev_eui", json!(bad));
        assert!(
            matches!(tts_err(&v), UplinkError::InvalidDevEui { .. }),
            "{bad}"
        );

        let err = generic_err(&json!({"devEui": bad, "time": "2024-05-01T12:00:00Z"}));
        assert!(matches!(err, UplinkError::InvalidDevEui { .. }), "{bad}");
    }
    // A DevEUI that is a number, not a string.
    let err = generic_err(&json!({"devEui": 101010101010101u64, "time": "2024-05-01T12:00:00Z"}));
    assert!(matches!(
        err,
        UplinkError::WrongType {
            expected: "a string",
            found: "a number",
            ..
        }
    ));
}

#[test]
fn unknown_events_are_refused() {
    for event in ["", "UP", "uplink", "events", "up ", "gateway"] {
        let err = parse_chirpstack_event(event, CS_DOCS).unwrap_err();
        assert!(matches!(err, UplinkError::UnknownEvent { .. }), "{event:?}");
        assert!(err.to_string().contains("expected one of up, join, status"));
    }
}

#[test]
fn missing_required_fields_are_named() {
    let err = cs_err("up", &json!({}));
    assert!(matches!(err, UplinkError::MissingField { ref field, .. } if field.contains("fPort")));
    let err = cs_err("up", &json!({"fPort": 1, "data": "qg=="}));
    assert!(
        matches!(err, UplinkError::MissingField { ref field, .. } if field == "deviceInfo.devEui"),
        "{err}"
    );
    let err = cs_err("join", &json!({"deviceInfo": {"devEui": ""}}));
    assert!(
        matches!(err, UplinkError::MissingField { ref field, .. } if field == "deviceInfo.devEui")
    );
    let mut v = fixture(CS_DOCS);
    remove(&mut v, "/time");
    let err = cs_err("up", &v);
    assert!(
        matches!(err, UplinkError::MissingField { ref field, .. } if field == "time"),
        "{err}"
    );
    let mut v = fixture(CS_DOCS);
    remove(&mut v, "/rxInfo/0/gatewayId");
    let err = cs_err("up", &v);
    assert!(
        matches!(err, UplinkError::MissingField { ref field, .. } if field == "rxInfo[0].gatewayId"),
        "{err}"
    );
    let err = cs_err("location", &json!({"deviceInfo": device_info()}));
    assert!(matches!(err, UplinkError::MissingField { .. }), "{err}");

    let err = tts_err(&json!({}));
    assert!(
        matches!(err, UplinkError::MissingField { ref field, .. } if field == "end_device_ids")
    );
    let err = tts_err(&json!({"end_device_ids": {"device_id": "dev1",
                                                  "application_ids": {"application_id": "a"}}}));
    assert!(
        matches!(err, UplinkError::MissingField { ref field, .. } if field.starts_with("uplink_message")),
        "{err}"
    );
    // An uplink of a device registered without DevEUI.
    let mut v = fixture(TTS_MQTT);
    remove(&mut v, "/end_device_ids/dev_eui");
    let err = tts_err(&v);
    assert!(
        matches!(err, UplinkError::MissingField { ref field, .. } if field == "end_device_ids.dev_eui"),
        "{err}"
    );
    assert!(err.to_string().contains("set its DevEUI"));
    // No time anywhere.
    let mut v = fixture(TTS_MQTT);
    remove(&mut v, "/uplink_message/rx_metadata/0/time");
    let err = tts_err(&v);
    assert!(
        matches!(err, UplinkError::MissingField { ref field, .. } if field == "uplink_message.received_at")
    );

    let err = generic_err(&json!({}));
    assert!(matches!(err, UplinkError::MissingField { ref field, .. } if field == "devEui"));
    let err = generic_err(&json!({"devEui": "0004a30b001c0530"}));
    assert!(matches!(err, UplinkError::MissingField { ref field, .. } if field == "time"));
    let err = generic_err(
        &json!({"devEui": "0004a30b001c0530", "time": "2024-05-01T12:00:00Z",
                                  "rssi": -90}),
    );
    assert!(matches!(err, UplinkError::MissingField { ref field, .. } if field == "gatewayId"));
}

#[test]
fn out_of_range_and_wrong_types_are_refused() {
    let cases: [(&str, Value, &str); 12] = [
        ("/fPort", json!(256), "fPort"),
        ("/fPort", json!(-1), "fPort"),
        ("/fPort", json!("x"), "fPort"),
        ("/fCnt", json!(4_294_967_296u64), "fCnt"),
        ("/fCnt", json!(-1), "fCnt"),
        ("/fCnt", json!(1.5), "fCnt"),
        ("/fCnt", json!("12a"), "fCnt"),
        ("/dr", json!(16), "dr"),
        ("/rxInfo/0/rssi", json!(20000), "rxInfo[0].rssi"),
        ("/rxInfo/0/snr", json!("NaN"), "rxInfo[0].snr"),
        (
            "/txInfo/modulation/lora/spreadingFactor",
            json!(300),
            "txInfo.modulation.lora.spreadingFactor",
        ),
        ("/devAddr", json!("0018944"), "devAddr"),
    ];
    for (pointer, value, field) in cases {
        let mut v = fixture(CS_DOCS);
        set(&mut v, pointer, value.clone());
        let err = cs_err("up", &v);
        assert!(
            matches!(err, UplinkError::InvalidValue { field: ref f, .. } if f == field),
            "{pointer} = {value}: {err}"
        );
    }
    let wrong: [(&str, Value, &str); 5] = [
        ("/fPort", json!(true), "fPort"),
        ("/rxInfo", json!({}), "rxInfo"),
        ("/rxInfo/0", json!("gw"), "rxInfo[0]"),
        ("/data", json!([1, 2]), "data"),
        ("/deviceInfo", json!("0101010101010101"), "deviceInfo"),
    ];
    for (pointer, value, field) in wrong {
        let mut v = fixture(CS_DOCS);
        set(&mut v, pointer, value.clone());
        let err = cs_err("up", &v);
        assert!(
            matches!(err, UplinkError::WrongType { field: ref f, .. } if f == field),
            "{pointer} = {value}: {err}"
        );
    }
    let mut v = fixture(TTS_WEBHOOK);
    set(&mut v, "/uplink_message/f_port", json!(300));
    assert!(
        matches!(tts_err(&v), UplinkError::InvalidValue { ref field, .. } if field == "uplink_message.f_port")
    );
    let mut v = fixture(TTS_WEBHOOK);
    set(
        &mut v,
        "/uplink_message/settings/frequency",
        json!("868.1 MHz"),
    );
    assert!(matches!(tts_err(&v), UplinkError::InvalidValue { .. }));
    let mut v = fixture(TTS_WEBHOOK);
    set(
        &mut v,
        "/uplink_message/rx_metadata/0/location",
        json!({"latitude": 91, "longitude": 0}),
    );
    assert!(matches!(tts_err(&v), UplinkError::InvalidValue { .. }));
}

#[test]
fn bad_times_are_refused() {
    for bad in [
        "yesterday",
        "2024-05-01",
        "2024-05-01 12:00",
        "2024-13-01T00:00:00Z",
        "1714564800",
    ] {
        let mut v = fixture(CS_DOCS);
        set(&mut v, "/time", json!(bad));
        let err = cs_err("up", &v);
        assert!(
            matches!(err, UplinkError::InvalidTime { ref field, .. } if field == "time"),
            "{bad}: {err}"
        );
        assert!(err.to_string().contains("RFC 3339"));

        let mut v = fixture(TTS_WEBHOOK);
        set(&mut v, "/uplink_message/rx_metadata/0/time", json!(bad));
        let err = tts_err(&v);
        assert!(
            matches!(err, UplinkError::InvalidTime { ref field, .. }
                         if field == "uplink_message.rx_metadata[0].time"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn generic_refuses_unknown_fields_and_conflicts() {
    let err = generic_err(
        &json!({"devEui": "0004a30b001c0530", "time": "2024-05-01T12:00:00Z",
                                  "fcnt": 3}),
    );
    assert_eq!(
        err,
        UplinkError::UnknownField {
            field: "fcnt".into(),
            known: "devEui, time, fCnt, fPort, data, hex, object, deviceName, application, \
                    confirmed, frequency, dr, rx, gatewayId, rssi, snr",
        }
    );
    assert!(err.to_string().contains("not `fcnt`"));
    let err = generic_err(
        &json!({"devEui": "0004a30b001c0530", "time": "2024-05-01T12:00:00Z",
                                  "rx": [{"gatewayId": "g", "rsi": -3}]}),
    );
    assert!(matches!(err, UplinkError::UnknownField { ref field, .. } if field == "rx[0].rsi"));
    let err = generic_err(
        &json!({"devEui": "0004a30b001c0530", "time": "2024-05-01T12:00:00Z",
                                  "data": "AQ==", "hex": "01"}),
    );
    assert!(matches!(err, UplinkError::Conflict { .. }));
    let err = generic_err(
        &json!({"devEui": "0004a30b001c0530", "time": "2024-05-01T12:00:00Z",
                                  "rx": [], "rssi": -3}),
    );
    assert!(matches!(err, UplinkError::Conflict { ref field, .. } if field == "rssi"));
    let err = generic_err(
        &json!({"devEui": "0004a30b001c0530", "time": "2024-05-01T12:00:00Z",
                                  "object": [1]}),
    );
    assert!(matches!(
        err,
        UplinkError::WrongType {
            expected: "an object",
            ..
        }
    ));
}

#[test]
fn errors_quote_values_briefly() {
    let long = "z".repeat(10_000);
    let err = generic_err(&json!({"devEui": long, "time": "2024-05-01T12:00:00Z"}));
    assert!(err.to_string().len() < 600, "{}", err.to_string().len());
    let err = parse_chirpstack_event(&long, CS_DOCS).unwrap_err();
    assert!(err.to_string().len() < 600);
    let err = parse_mqtt(&format!("v3/{long}"), TTS_MQTT).unwrap_err();
    assert!(err.to_string().len() < 800);
}

// ---------------------------------------------------------------------------------------------
// No panic, whatever the input

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap()
    }
}

const INTERESTING_BYTES: &[u8] = b"{}[]\",:0123456789-+.eE\\/ nulltruefalse=\xff\xc3\x00";

fn mutate_bytes(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(6) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
            }
            2 if !out.is_empty() => {
                let cut = rng.below(out.len());
                out.truncate(cut);
            }
            3 if !out.is_empty() => {
                let i = rng.below(out.len());
                out.remove(i);
            }
            4 => {
                let i = rng.below(out.len() + 1);
                out.insert(i, INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())]);
            }
            _ => {
                let i = rng.below(out.len() + 1);
                let (a, b) = (rng.below(input.len()), rng.below(input.len()));
                let (a, b) = (a.min(b), a.max(b));
                let slice = input[a..b].to_vec();
                out.splice(i..i, slice);
            }
        }
    }
    out
}

/// Replacement values that exercise every type check and range check.
fn odd_value(rng: &mut Rng) -> Value {
    match rng.below(16) {
        0 => Value::Null,
        1 => json!(-1),
        2 => json!(0),
        3 => json!(1.5),
        4 => json!(u64::MAX),
        5 => json!(i64::MIN),
        6 => json!(1e300),
        7 => json!("NaN"),
        8 => json!(""),
        9 => json!("0101010101010101"),
        10 => json!("ÿÿÿ"),
        11 => json!([]),
        12 => json!({}),
        13 => json!(true),
        14 => json!("2024-02-30T25:61:61Z"),
        _ => json!("-4294967296"),
    }
}

fn pointers(v: &Value, prefix: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = format!("{prefix}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let p = format!("{prefix}/{i}");
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        _ => {}
    }
}

fn mutate_value(rng: &mut Rng, input: &Value) -> Value {
    let mut v = input.clone();
    for _ in 0..=rng.below(3) {
        let mut all = Vec::new();
        pointers(&v, String::new(), &mut all);
        if all.is_empty() {
            break;
        }
        let p = &all[rng.below(all.len())];
        if rng.below(4) == 0 {
            if let Some((parent, key)) = p.rsplit_once('/') {
                if let Some(obj) = v.pointer_mut(parent).and_then(Value::as_object_mut) {
                    obj.remove(key);
                    continue;
                }
            }
        }
        let new = odd_value(rng);
        if let Some(slot) = v.pointer_mut(p) {
            *slot = new;
        }
    }
    v
}

/// Runs every entry point on one input; any of them may refuse it, none may panic, and every
/// error must render.
fn run_all(body: &[u8]) -> usize {
    let mut errors = Vec::new();
    for event in ChirpStackEventKind::ALL {
        if let Err(e) = parse_chirpstack_event(event.as_str(), body) {
            errors.push(e);
        }
    }
    if let Err(e) = parse_tts_message(body) {
        errors.push(e);
    }
    if let Err(e) = parse_generic(body) {
        errors.push(e);
    }
    for topic in [
        "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up",
        "v3/app1@tenant1/devices/dev1/up",
    ] {
        if let Err(e) = parse_mqtt(topic, body) {
            errors.push(e);
        }
    }
    errors.iter().map(|e| e.to_string().len()).sum()
}

#[test]
fn mutated_inputs_never_panic() {
    let seeds: Vec<Vec<u8>> = vec![
        CS_DOCS.to_vec(),
        CS_SERIALIZED.to_vec(),
        TTS_WEBHOOK.to_vec(),
        TTS_MQTT.to_vec(),
        bytes(
            &json!({"deviceInfo": device_info(), "margin": 10, "batteryLevel": 88.3,
                      "time": "2024-03-01T08:00:00Z"}),
        ),
        bytes(&tts_envelope(
            "downlink_failed",
            json!({"downlink": {"f_port": 3}, "error": {"name": "x"}}),
        )),
        bytes(
            &json!({"devEui": "0004A30B001C0530", "time": "2024-05-01T14:00:00+02:00",
                      "fCnt": 42, "fPort": 1, "hex": "0102", "object": {"t": 1.0},
                      "rx": [{"gatewayId": "g", "rssi": -92, "snr": 7.5,
                              "location": {"latitude": 45.0, "longitude": 5.0}}]}),
        ),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut rendered = 0usize;
    for seed in &seeds {
        let value: Value = serde_json::from_slice(seed).unwrap();
        for _ in 0..600 {
            rendered += run_all(&mutate_bytes(&mut rng, seed));
            rendered += run_all(&bytes(&mutate_value(&mut rng, &value)));
        }
    }
    assert!(rendered > 0);

    // Topics too: mutated topics with an untouched body.
    let base = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/up";
    for _ in 0..2000 {
        let mutated = mutate_bytes(&mut rng, base.as_bytes());
        let topic = String::from_utf8_lossy(&mutated);
        let _ = parse_topic(&topic);
        let _ = parse_mqtt(&topic, CS_DOCS).map_err(|e| e.to_string());
    }

    // Deep nesting stops at the JSON parser's depth limit instead of overflowing the stack.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(
        parse_generic(deep.as_bytes()),
        Err(UplinkError::InvalidJson { .. })
    ));
}
