//! Jumeau's generic uplink format, for gateways and scripts that are not a network server.
//!
//! Some communes run a single gateway with its own small network server, or a script that
//! relays a vendor's cloud; they post one JSON object per uplink:
//!
//! ```json
//! {
//!   "devEui": "0004A30B001C0530",
//!   "time": "2024-05-01T12:00:00Z",
//!   "fCnt": 42,
//!   "fPort": 1,
//!   "data": "AQDiBgMI",
//!   "object": { "temperature": 22.6 },
//!   "rx": [ { "gatewayId": "0016c001f153a14c", "rssi": -92, "snr": 7.5 } ]
//! }
//! ```
//!
//! | field | required | meaning |
//! | --- | --- | --- |
//! | `devEui` | yes | 16 hexadecimal digits, any case (stored in lower case) |
//! | `time` | yes | RFC 3339 reception time, e.g. `2024-05-01T14:00:00+02:00` |
//! | `fCnt` | no, default 0 | uplink frame counter, 0 to 4294967295 — send it: deduplication relies on it |
//! | `fPort` | no | 0 to 255; 0 means a MAC-only frame |
//! | `data` | no | payload in base64 (standard or URL-safe, padding optional) |
//! | `hex` | no | payload in hexadecimal, instead of `data` (not both) |
//! | `object` | no | values already decoded, as a JSON object |
//! | `deviceName`, `application` | no | names shown next to the device |
//! | `confirmed` | no, default false | confirmed uplink |
//! | `frequency` | no | carrier frequency in Hz |
//! | `dr` | no | LoRaWAN data-rate index, 0 to 15 |
//! | `rx` | no | receptions: objects with `gatewayId` (required), `rssi`, `snr`, `time`, `location` `{latitude, longitude, altitude}` |
//! | `gatewayId`, `rssi`, `snr` | no | shorthand for one reception, instead of `rx` (not both) |
//!
//! Unlike the network servers' formats, this one refuses unknown fields: a misspelt `fcnt`
//! would otherwise read as counter 0 and every later uplink would be dropped as a duplicate.
//! An absent `snr` means "not reported" (no proto3 zero-omission here).

use serde_json::{Map, Value};

use super::error::{excerpt, UplinkError};
use super::json::{self, Obj};
use super::{NetworkServer, RxInfo, Uplink, UplinkParts};

const TOP_FIELDS: [&str; 16] = [
    "devEui",
    "time",
    "fCnt",
    "fPort",
    "data",
    "hex",
    "object",
    "deviceName",
    "application",
    "confirmed",
    "frequency",
    "dr",
    "rx",
    "gatewayId",
    "rssi",
    "snr",
];
const TOP_FIELDS_TEXT: &str = "devEui, time, fCnt, fPort, data, hex, object, deviceName, \
                               application, confirmed, frequency, dr, rx, gatewayId, rssi, snr";

const RX_FIELDS: [&str; 5] = ["gatewayId", "rssi", "snr", "time", "location"];
const RX_FIELDS_TEXT: &str = "gatewayId, rssi, snr, time, location";

/// Reads one uplink in Jumeau's [generic format](self).
///
/// # Errors
///
/// Invalid JSON; a missing `devEui` or `time`; an unknown field; both `data` and `hex`, or both
/// `rx` and the `gatewayId`/`rssi`/`snr` shorthand; and any malformed value (DevEUI, base64,
/// hexadecimal, counters out of range, times not RFC 3339).
pub fn parse_generic(body: &[u8]) -> Result<Uplink, UplinkError> {
    let map = json::parse_body(body)?;
    reject_unknown(&map, &TOP_FIELDS, TOP_FIELDS_TEXT, "")?;
    let root = Obj::root(&map);

    let dev_eui = root.dev_eui("devEui")?.ok_or(UplinkError::MissingField {
        field: "devEui".to_owned(),
        hint: "the generic format needs the device's DevEUI (16 hexadecimal digits) in `devEui`",
    })?;
    let received_at = root.time("time")?.ok_or(UplinkError::MissingField {
        field: "time".to_owned(),
        hint: "the generic format needs the reception time in `time`, in RFC 3339 \
               (e.g. 2024-05-01T12:00:00Z)",
    })?;

    let payload = match (root.has("data"), root.has("hex")) {
        (true, true) => {
            return Err(UplinkError::Conflict {
                field: "hex".to_owned(),
                detail: "the payload is given twice, in `data` (base64) and in `hex`; send \
                         only one of them",
            })
        }
        (false, true) => match root.str("hex")? {
            Some(hex) => super::codec::decode_hex(hex, "hex")?,
            None => Vec::new(),
        },
        _ => root.base64("data")?,
    };

    let shorthand = ["gatewayId", "rssi", "snr"]
        .into_iter()
        .find(|k| root.has(k));
    let rx = match (root.has("rx"), shorthand) {
        (true, Some(key)) => {
            return Err(UplinkError::Conflict {
                field: key.to_owned(),
                detail: "receptions are given twice, in `rx` and in the gatewayId/rssi/snr \
                         shorthand; put them all in `rx`",
            })
        }
        (false, Some(_)) => vec![reception(&root)?],
        _ => {
            let mut rx = Vec::new();
            for item in json::objects(root.array("rx")?, "rx") {
                let (map, path) = item?;
                reject_unknown(map, &RX_FIELDS, RX_FIELDS_TEXT, &path)?;
                rx.push(reception(&Obj::at(map, &path))?);
            }
            rx
        }
    };

    let dr = root.u8("dr", "a data rate index from 0 to 15")?;
    if let Some(dr) = dr.filter(|dr| *dr > 15) {
        return Err(UplinkError::InvalidValue {
            field: "dr".to_owned(),
            value: dr.to_string(),
            expected: "a data rate index from 0 to 15",
        });
    }

    Ok(UplinkParts {
        source: NetworkServer::Generic,
        dev_eui,
        device_name: root.text("deviceName")?,
        application: root.text("application")?,
        dev_addr: None,
        tags: Default::default(),
        f_cnt: root.u32("fCnt")?.unwrap_or(0),
        f_port: root.u8("fPort", "an FPort from 0 to 255")?,
        confirmed: root.flag("confirmed")?,
        payload,
        decoded: root.object("object")?.cloned(),
        decoder_warnings: Vec::new(),
        normalized: Vec::new(),
        received_at,
        rx,
        frequency_hz: root.uint("frequency", 10_000_000_000, "a frequency in Hz")?,
        dr,
        spreading_factor: None,
        bandwidth_hz: None,
        message_id: None,
        simulated: false,
    }
    .build())
}

/// One reception, from an `rx` entry or from the top-level shorthand.
fn reception(rx: &Obj<'_>) -> Result<RxInfo, UplinkError> {
    let gateway_id = rx
        .text("gatewayId")?
        .ok_or_else(|| UplinkError::MissingField {
            field: rx.path_of("gatewayId"),
            hint:
                "an RSSI or SNR describes one gateway's reception; name the gateway in `gatewayId`",
        })?;
    Ok(RxInfo {
        gateway_eui: super::codec::parse_dev_eui(&gateway_id, "")
            .ok()
            .map(|eui| eui.text),
        gateway_id,
        rssi: rx.int_in("rssi", -200, 50, "an RSSI in dBm from -200 to 50")?,
        snr: rx.f64("snr")?,
        time: rx.time("time")?,
        location: rx.location("location")?,
    })
}

fn reject_unknown(
    map: &Map<String, Value>,
    known: &[&str],
    known_text: &'static str,
    path: &str,
) -> Result<(), UplinkError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(UplinkError::UnknownField {
            field: json::join(path, &excerpt(unknown)),
            known: known_text,
        }),
        None => Ok(()),
    }
}
