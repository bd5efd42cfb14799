//! Fuzzing with proptest: every native decoder, and every message reader, takes arbitrary
//! bytes (and any fPort, any topic) without panicking; they answer a value or an error.

use jumeau_ingest::decoders;
use jumeau_ingest::mapping::{self, Mapping};
use jumeau_ingest::message::{read_body, Transport};
use jumeau_ingest::uplink::NetworkServer;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn no_decoder_panics_on_any_bytes_and_port(
        bytes in proptest::collection::vec(any::<u8>(), 0..96),
        f_port in any::<u8>(),
    ) {
        for profile in decoders::profiles() {
            if let Some(d) = decoders::decoder(profile) {
                let _ = d.decode(f_port, &bytes);
            }
        }
    }

    #[test]
    fn no_decoder_panics_on_plausible_channel_streams(
        // Payloads built from small channel-like chunks reach deeper into the decoders than
        // uniform bytes do.
        chunks in proptest::collection::vec(
            (0u8..16, proptest::collection::vec(any::<u8>(), 0..6)), 0..12),
        f_port in prop_oneof![Just(1u8), Just(2), Just(5), Just(85), Just(100), any::<u8>()],
    ) {
        let mut bytes = Vec::new();
        for (head, tail) in chunks {
            bytes.push(head);
            bytes.extend(tail);
        }
        for profile in decoders::profiles() {
            if let Some(d) = decoders::decoder(profile) {
                let _ = d.decode(f_port, &bytes);
            }
        }
    }

    #[test]
    fn no_message_reader_panics_on_any_body(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        topic in "[a-z0-9/+#@]{0,60}",
    ) {
        for source in [NetworkServer::ChirpStack, NetworkServer::TheThingsStack, NetworkServer::Generic] {
            let read = read_body(source, Transport::Http, "up", &body);
            prop_assert!(!read.is_empty());
        }
        let read = read_body(NetworkServer::ChirpStack, Transport::Mqtt, &topic, &body);
        prop_assert_eq!(read.len(), 1);
    }

    #[test]
    fn no_message_reader_panics_on_json_shaped_bodies(
        dev_eui in "[0-9a-fA-F]{0,18}",
        f_cnt in any::<i64>(),
        f_port in any::<i32>(),
        data in "[A-Za-z0-9+/=!]{0,40}",
        time in "(2024-05-01T12:00:00Z|yesterday|)",
    ) {
        let generic = serde_json::json!({"devEui": dev_eui, "time": time, "fCnt": f_cnt, "fPort": f_port, "data": data});
        let _ = read_body(NetworkServer::Generic, Transport::Http, "", generic.to_string().as_bytes());
        let batch = serde_json::json!([generic, generic]);
        let _ = read_body(NetworkServer::Generic, Transport::Http, "", batch.to_string().as_bytes());
        let cs = serde_json::json!({"deviceInfo": {"devEui": dev_eui}, "fCnt": f_cnt, "fPort": f_port, "data": data, "time": time});
        let _ = read_body(NetworkServer::ChirpStack, Transport::Http, "up", cs.to_string().as_bytes());
        let tts = serde_json::json!({"end_device_ids": {"device_id": "d", "dev_eui": dev_eui},
            "uplink_message": {"f_cnt": f_cnt, "f_port": f_port, "frm_payload": data}, "received_at": time});
        let _ = read_body(NetworkServer::TheThingsStack, Transport::Http, "", tts.to_string().as_bytes());
    }

    #[test]
    fn mapping_never_panics_on_decoded_values(
        value in prop_oneof![
            any::<f64>().prop_map(|f| serde_json::json!(f)),
            any::<i64>().prop_map(|i| serde_json::json!(i)),
            ".{0,10}".prop_map(|s| serde_json::json!(s)),
            Just(serde_json::Value::Null),
        ],
        scale in proptest::option::of(any::<f64>()),
    ) {
        let maps = [Mapping {
            field: "v".into(),
            attribute: "https://example.org/v".into(),
            unit_code: None,
            scale,
            min: Some(-1e6),
            max: Some(1e6),
            on_device: false,
        }];
        let mut values = serde_json::Map::new();
        values.insert("v".into(), value);
        let _ = mapping::apply(&values, &maps, "0101010101010101");
    }
}
