//! Journaled bodies read back into what the pipeline acts on.
//!
//! The journal keeps each body exactly as received, with the little the parser needs besides
//! it (the ChirpStack event type, or the MQTT topic). [`read_body`] turns one journaled body
//! into its messages: one for the network servers, one per element for a batch of the
//! generic format. Each message keeps its own bytes, so that a message that cannot be applied
//! becomes a dead letter on its own and can be replayed on its own.
//!
//! Pure: no I/O, no clock.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::uplink::{
    self, ChirpStackEvent, Location, MqttMessage, NetworkServer, TtsMessage, Uplink,
};

/// How a message reached Jumeau.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// An HTTP POST (integration, webhook or the generic endpoint).
    Http,
    /// A publish on an MQTT broker.
    Mqtt,
}

impl Transport {
    /// The name kept in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Mqtt => "mqtt",
        }
    }
}

/// The source named in the journal (`chirpstack`, …) back to its [`NetworkServer`].
pub fn source_from_str(s: &str) -> Option<NetworkServer> {
    [
        NetworkServer::ChirpStack,
        NetworkServer::TheThingsStack,
        NetworkServer::Generic,
    ]
    .into_iter()
    .find(|n| n.as_str() == s)
}

/// What a message asks of the twin.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A reading.
    Uplink(Box<Uplink>),
    /// The device reported its battery (ChirpStack `status`).
    Status {
        /// The device.
        dev_eui: String,
        /// When the network server emitted the event.
        time: Option<DateTime<Utc>>,
        /// Battery level in percent, when the device can tell.
        battery_percent: Option<f64>,
        /// The device runs on external power.
        external_power: bool,
    },
    /// A geolocation service solved the device's position.
    Location {
        /// The device.
        dev_eui: String,
        /// When the event was emitted.
        time: Option<DateTime<Utc>>,
        /// The position.
        location: Location,
    },
    /// A message with nothing for the twin (join, acknowledgements, logs, downlink events,
    /// normalized repeats of an uplink): counted, journaled, nothing more.
    Informational {
        /// The device, when the message names it by DevEUI.
        dev_eui: Option<String>,
        /// The message kind (`join`, `txack`, `downlink_sent`, …).
        kind: String,
    },
}

impl Inbound {
    /// The device the message is about, when known.
    pub fn dev_eui(&self) -> Option<&str> {
        match self {
            Inbound::Uplink(up) => Some(&up.dev_eui),
            Inbound::Status { dev_eui, .. } | Inbound::Location { dev_eui, .. } => Some(dev_eui),
            Inbound::Informational { dev_eui, .. } => dev_eui.as_deref(),
        }
    }
}

/// One message of a body: its own bytes, and what it says or why it cannot be read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadMessage {
    /// The message's bytes (the whole body, or one element of a generic batch).
    pub raw: Vec<u8>,
    /// The message, or the reason it cannot be read.
    pub result: Result<Inbound, Unreadable>,
}

/// A message that cannot be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    /// The DevEUI, when it could be picked out of the body despite the error.
    pub dev_eui: Option<String>,
    /// What is wrong, and how to fix it.
    pub reason: String,
}

/// Reads one journaled body from `source`; `kind` is the ChirpStack event type (HTTP), the
/// MQTT topic (MQTT), or empty.
///
/// Never fails as a whole: a body that is not a message at all gives one [`Unreadable`].
pub fn read_body(
    source: NetworkServer,
    transport: Transport,
    kind: &str,
    body: &[u8],
) -> Vec<ReadMessage> {
    if transport == Transport::Mqtt {
        let result = uplink::parse_mqtt(kind, body)
            .map(|m| match m {
                MqttMessage::ChirpStack(e) => from_chirpstack(e),
                MqttMessage::TheThingsStack(m) => from_tts(m),
            })
            .map_err(|e| unreadable(body, e.to_string()));
        return vec![ReadMessage {
            raw: body.to_vec(),
            result,
        }];
    }
    match source {
        NetworkServer::ChirpStack => vec![ReadMessage {
            raw: body.to_vec(),
            result: uplink::parse_chirpstack_event(kind, body)
                .map(from_chirpstack)
                .map_err(|e| unreadable(body, e.to_string())),
        }],
        NetworkServer::TheThingsStack => vec![ReadMessage {
            raw: body.to_vec(),
            result: uplink::parse_tts_message(body)
                .map(from_tts)
                .map_err(|e| unreadable(body, e.to_string())),
        }],
        NetworkServer::Generic => read_generic(body),
    }
}

/// A generic body: one object, or an array of them (a batch).
fn read_generic(body: &[u8]) -> Vec<ReadMessage> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'[') {
        return vec![generic_one(body)];
    }
    match serde_json::from_slice::<Vec<&RawValue>>(body) {
        Ok(items) if items.is_empty() => vec![ReadMessage {
            raw: body.to_vec(),
            result: Err(Unreadable {
                dev_eui: None,
                reason: "the batch is an empty array; send at least one uplink".into(),
            }),
        }],
        Ok(items) => items
            .into_iter()
            .map(|item| generic_one(item.get().as_bytes()))
            .collect(),
        Err(e) => vec![ReadMessage {
            raw: body.to_vec(),
            result: Err(Unreadable {
                dev_eui: None,
                reason: format!(
                    "the body is not a valid JSON array of uplinks ({e}); send one uplink object or an array of them"
                ),
            }),
        }],
    }
}

fn generic_one(raw: &[u8]) -> ReadMessage {
    ReadMessage {
        raw: raw.to_vec(),
        result: uplink::parse_generic(raw)
            .map(|up| Inbound::Uplink(Box::new(up)))
            .map_err(|e| unreadable(raw, e.to_string())),
    }
}

fn unreadable(body: &[u8], reason: String) -> Unreadable {
    Unreadable {
        dev_eui: guess_dev_eui(body),
        reason,
    }
}

/// The DevEUI of a body that failed to parse, where one of the usual places holds 16
/// hexadecimal digits, so that its dead letter can be listed by device.
pub fn guess_dev_eui(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let candidates = [
        v.get("devEui"),
        v.pointer("/deviceInfo/devEui"),
        v.pointer("/end_device_ids/dev_eui"),
    ];
    let found = candidates
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|s| s.len() == 16 && s.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase);
    found
}

fn from_chirpstack(e: ChirpStackEvent) -> Inbound {
    let kind = e.kind().as_str().to_string();
    match e {
        ChirpStackEvent::Up(up) => Inbound::Uplink(Box::new(up)),
        ChirpStackEvent::Status {
            dev_eui,
            time,
            battery_level,
            external_power_source,
            ..
        } => Inbound::Status {
            dev_eui,
            time,
            battery_percent: battery_level,
            external_power: external_power_source,
        },
        ChirpStackEvent::Location {
            dev_eui,
            time,
            location,
        } => Inbound::Location {
            dev_eui,
            time,
            location,
        },
        other => Inbound::Informational {
            dev_eui: Some(other.dev_eui().to_string()),
            kind,
        },
    }
}

fn from_tts(m: TtsMessage) -> Inbound {
    let kind = m.kind().to_string();
    match m {
        TtsMessage::Up(up) => Inbound::Uplink(Box::new(up)),
        TtsMessage::LocationSolved {
            device, location, ..
        } if device.dev_eui.is_some() => Inbound::Location {
            dev_eui: device.dev_eui.unwrap_or_default(),
            time: None,
            location,
        },
        TtsMessage::NormalizedUp(up) => Inbound::Informational {
            dev_eui: Some(up.dev_eui),
            kind,
        },
        TtsMessage::JoinAccept { device, .. }
        | TtsMessage::Downlink { device, .. }
        | TtsMessage::DownlinkQueueInvalidated { device, .. }
        | TtsMessage::LocationSolved { device, .. }
        | TtsMessage::ServiceData { device, .. }
        | TtsMessage::Other { device, .. } => Inbound::Informational {
            dev_eui: device.dev_eui,
            kind,
        },
    }
}

/// Joins message bytes back into one generic batch body (`[m1,m2,…]`), to journal only the
/// readable elements of a batch.
pub fn generic_batch(messages: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(messages.iter().map(|m| m.len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(m);
    }
    out.push(b']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generic_batch_is_split_and_each_element_keeps_its_bytes() {
        let body = br#"[{"devEui":"0101010101010101","time":"2024-05-01T12:00:00Z","fCnt":1},
                        {"devEui":"zz","time":"2024-05-01T12:00:00Z"}]"#;
        let read = read_body(NetworkServer::Generic, Transport::Http, "", body);
        assert_eq!(read.len(), 2);
        assert!(read[0].result.is_ok());
        assert!(read[1].result.is_err());
        assert_eq!(
            read[1].raw,
            br#"{"devEui":"zz","time":"2024-05-01T12:00:00Z"}"#
        );
        let joined = generic_batch(&[&read[0].raw]);
        assert_eq!(
            read_body(NetworkServer::Generic, Transport::Http, "", &joined).len(),
            1
        );
    }

    #[test]
    fn unreadable_bodies_keep_the_dev_eui_when_one_is_there() {
        let body = br#"{"devEui":"0101010101010101","fCnt":"x"}"#;
        let read = read_body(NetworkServer::Generic, Transport::Http, "", body);
        let e = read[0].result.clone().expect_err("unreadable");
        assert_eq!(e.dev_eui.as_deref(), Some("0101010101010101"));
        let read = read_body(NetworkServer::Generic, Transport::Http, "", b"[1,");
        assert!(read[0].result.is_err());
        assert_eq!(
            read_body(NetworkServer::Generic, Transport::Http, "", b"[]").len(),
            1
        );
    }
}
