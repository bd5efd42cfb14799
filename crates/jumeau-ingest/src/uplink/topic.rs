//! MQTT topics of ChirpStack v4 and The Things Stack v3, and MQTT messages checked against them.

use serde::Serialize;
use serde_json::{Map, Value};

use super::chirpstack::{self, ChirpStackEvent, ChirpStackEventKind};
use super::codec;
use super::error::{excerpt, UplinkError};
use super::json::{self, Obj};
use super::tts::{self, TtsKind, TtsMessage};

/// What an MQTT topic says about the message published on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TopicInfo {
    /// ChirpStack v4: `application/{application_id}/device/{dev_eui}/event/{event}`.
    ChirpStack {
        /// The application's ID (a UUID).
        application_id: String,
        /// The device's DevEUI, lower case.
        dev_eui: String,
        /// The event type.
        event: ChirpStackEventKind,
    },
    /// The Things Stack v3: `v3/{application_id}[@{tenant_id}]/devices/{device_id}/{kind}`.
    TheThingsStack {
        /// The application ID.
        application_id: String,
        /// The tenant ID (`ttn` on The Things Network); `None` on Open Source deployments,
        /// whose topics have no `@tenant`.
        tenant_id: Option<String>,
        /// The device ID (not the DevEUI: The Things Stack's topics name devices by ID).
        device_id: String,
        /// The message kind.
        kind: TtsKind,
    },
}

/// Reads an MQTT topic of ChirpStack v4 (default event topic template) or The Things Stack v3
/// (upstream topics), so the ingestion knows which parser to use and what to check.
///
/// Returns `None` for anything else, including downlink topics (`…/command/down`,
/// `…/down/push`), topics with wildcards or empty levels, a DevEUI that is not 16 hexadecimal
/// digits and unknown event types. [`parse_mqtt`] reports the precise reason.
pub fn parse_topic(topic: &str) -> Option<TopicInfo> {
    topic_info(topic).ok()
}

/// A message received over MQTT, read with the parser its topic calls for.
#[allow(
    clippy::large_enum_variant,
    reason = "one message is handled at a time, never stored in bulk: a boxed uplink would \
              cost an allocation for nothing"
)]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum MqttMessage {
    /// From ChirpStack v4.
    ChirpStack(ChirpStackEvent),
    /// From The Things Stack v3.
    TheThingsStack(TtsMessage),
}

/// Reads a message received over MQTT: picks the parser from the topic, then checks that the
/// body is about the device, application and event the topic names.
///
/// A disagreement means a broker bridge or topic template is misconfigured, and filing the
/// reading under the topic's device or the body's device would both be guesses; so it is an
/// error.
///
/// # Errors
///
/// [`UplinkError::UnknownTopic`] for a topic [`parse_topic`] does not accept,
/// [`UplinkError::TopicMismatch`] when the topic and the body disagree on the DevEUI (ChirpStack),
/// the device ID (The Things Stack), the application or the message kind,
/// [`UplinkError::EventMismatch`] when a ChirpStack body belongs to another event type, and
/// anything wrong with the body itself.
pub fn parse_mqtt(topic: &str, body: &[u8]) -> Result<MqttMessage, UplinkError> {
    let info = topic_info(topic)?;
    let map = json::parse_body(body)?;
    match info {
        TopicInfo::ChirpStack {
            application_id,
            dev_eui,
            event,
        } => {
            let parsed = chirpstack::parse_map(event, &map)?;
            agree("the DevEUI", &dev_eui, parsed.dev_eui())?;
            if let Some(body_app) = body_text(&map, &["deviceInfo", "applicationId"]) {
                agree("the application ID", &application_id, body_app)?;
            }
            Ok(MqttMessage::ChirpStack(parsed))
        }
        TopicInfo::TheThingsStack {
            application_id,
            device_id,
            kind,
            ..
        } => {
            let parsed = tts::parse_map(&map)?;
            agree("the message kind", kind.body_key(), parsed.kind())?;
            if let Some(body_device) = body_text(&map, &["end_device_ids", "device_id"]) {
                agree("the device ID", &device_id, body_device)?;
            }
            if let Some(body_app) = body_text(
                &map,
                &["end_device_ids", "application_ids", "application_id"],
            ) {
                agree("the application ID", &application_id, body_app)?;
            }
            Ok(MqttMessage::TheThingsStack(parsed))
        }
    }
}

fn agree(what: &'static str, topic_value: &str, body_value: &str) -> Result<(), UplinkError> {
    if topic_value == body_value {
        Ok(())
    } else {
        Err(UplinkError::TopicMismatch {
            what,
            topic_value: excerpt(topic_value),
            body_value: excerpt(body_value),
        })
    }
}

/// A non-empty string at a path of nested objects, if there is one.
fn body_text<'a>(map: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (last, parents) = path.split_last()?;
    let mut current = map;
    for key in parents {
        current = current.get(*key)?.as_object()?;
    }
    Obj::root(current)
        .str(last)
        .ok()
        .flatten()
        .filter(|s| !s.is_empty())
}

fn topic_info(topic: &str) -> Result<TopicInfo, UplinkError> {
    let fail = |problem: String| UplinkError::UnknownTopic {
        topic: excerpt(topic),
        problem,
    };
    if topic.contains(['+', '#']) {
        return Err(fail(
            "it contains an MQTT wildcard (+ or #), which a published message's topic cannot"
                .to_owned(),
        ));
    }
    let levels: Vec<&str> = topic.split('/').collect();
    if levels.iter().any(|l| l.is_empty()) {
        return Err(fail(
            "it has an empty level (a leading, trailing or double /)".to_owned(),
        ));
    }
    match levels.as_slice() {
        ["application", application_id, "device", dev_eui, "event", event] => {
            let dev_eui = codec::parse_dev_eui(dev_eui, "topic")
                .map_err(|e| fail(format!("its DevEUI level is invalid ({e})")))?;
            let event = event.parse::<ChirpStackEventKind>().map_err(|_| {
                fail(format!(
                    "{:?} is not a ChirpStack event type",
                    excerpt(event)
                ))
            })?;
            Ok(TopicInfo::ChirpStack {
                application_id: (*application_id).to_owned(),
                dev_eui: dev_eui.text,
                event,
            })
        }
        ["application", ..] => Err(fail(
            "a ChirpStack topic has exactly six levels: \
             application/{id}/device/{devEui}/event/{event}"
                .to_owned(),
        )),
        ["v3", app, "devices", device_id, rest @ ..] => {
            let suffix = rest.join("/");
            let kind = TtsKind::ALL
                .into_iter()
                .find(|k| k.topic_suffix() == Some(suffix.as_str()))
                .ok_or_else(|| {
                    fail(format!(
                        "{:?} is not an upstream message of The Things Stack (up, join, \
                         down/queued, down/sent, down/ack, down/nack, down/failed, \
                         down/invalidated, location/solved, service/data)",
                        excerpt(&suffix)
                    ))
                })?;
            let (application_id, tenant_id) = match app.split_once('@') {
                Some((app, tenant)) if !app.is_empty() && !tenant.is_empty() => {
                    (app.to_owned(), Some(tenant.to_owned()))
                }
                Some(_) => {
                    return Err(fail(
                        "its application level must be {application id}@{tenant id} with both \
                         parts present"
                            .to_owned(),
                    ))
                }
                None => ((*app).to_owned(), None),
            };
            Ok(TopicInfo::TheThingsStack {
                application_id,
                tenant_id,
                device_id: (*device_id).to_owned(),
                kind,
            })
        }
        ["v3", ..] => Err(fail(
            "a The Things Stack topic reads v3/{application id}[@{tenant id}]/devices/{device \
             id}/{message}"
                .to_owned(),
        )),
        _ => Err(fail(
            "it starts with neither `application/` (ChirpStack) nor `v3/` (The Things Stack)"
                .to_owned(),
        )),
    }
}
