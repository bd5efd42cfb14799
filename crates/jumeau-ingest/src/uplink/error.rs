//! Why a network-server message could not be read.

/// Why a message was refused. Each message says what was wrong, where (a JSON path such as
/// `rxInfo[0].rssi`), and how to fix it, because the reader is usually the person configuring
/// a network-server integration for a commune.
///
/// Values quoted back are cut to a few dozen characters so that a hostile body cannot blow up
/// the logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UplinkError {
    /// The body is not JSON (or is cut short).
    #[error(
        "the body is not valid JSON ({detail}); send the network server's JSON encoding \
         (ChirpStack: JSON, not Protobuf, in the integration settings) and check that the body \
         was not cut short"
    )]
    InvalidJson {
        /// The JSON parser's own description, with line and column.
        detail: String,
    },

    /// The body is JSON, but not an object.
    #[error(
        "the body is JSON but {found}, not an object; a network-server message is one JSON \
         object {{...}}"
    )]
    NotAnObject {
        /// What was found instead (`"an array"`, `"a string"`, …).
        found: &'static str,
    },

    /// A field the message cannot do without is absent (or `null`).
    #[error("missing `{field}`: {hint}")]
    MissingField {
        /// The JSON path of the missing field, or the alternatives when any one will do.
        field: String,
        /// What the field is for and where it comes from.
        hint: &'static str,
    },

    /// A field has the wrong JSON type.
    #[error("`{field}` should be {expected} but is {found}")]
    WrongType {
        /// The JSON path of the field.
        field: String,
        /// What was expected (`"a string"`, `"a non-negative integer"`, …).
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },

    /// A field has the right type but a value outside what LoRaWAN allows.
    #[error("`{field}` = {value} is not valid: expected {expected}")]
    InvalidValue {
        /// The JSON path of the field.
        field: String,
        /// The value found, shortened.
        value: String,
        /// The allowed values or range.
        expected: &'static str,
    },

    /// A DevEUI is not 16 hexadecimal digits.
    #[error(
        "`{field}` = {value:?} is not a DevEUI: {problem}; a DevEUI is exactly 16 hexadecimal \
         digits (8 bytes) such as \"0004a30b001c0530\", without separators or 0x prefix"
    )]
    InvalidDevEui {
        /// Where the DevEUI was read (a JSON path or `"topic"`).
        field: String,
        /// The value found, shortened.
        value: String,
        /// What is wrong with it.
        problem: String,
    },

    /// A payload is not valid base64.
    #[error(
        "`{field}` is not valid base64: {detail}; network servers send payloads in standard \
         base64 (RFC 4648) — in the generic format, send hexadecimal in `hex` instead if that \
         is what you have"
    )]
    InvalidBase64 {
        /// The JSON path of the field.
        field: String,
        /// What is wrong, with the position.
        detail: String,
    },

    /// A payload is not valid hexadecimal.
    #[error(
        "`{field}` is not valid hexadecimal: {detail}; write two hex digits per byte, e.g. \
         \"01a2ff\", without spaces or 0x prefix"
    )]
    InvalidHex {
        /// The JSON path of the field.
        field: String,
        /// What is wrong, with the position.
        detail: String,
    },

    /// A time is not RFC 3339.
    #[error(
        "`{field}` = {value:?} is not an RFC 3339 time ({detail}); write it like \
         2024-05-01T12:00:00Z or 2024-05-01T14:00:00.123+02:00"
    )]
    InvalidTime {
        /// The JSON path of the field.
        field: String,
        /// The value found, shortened.
        value: String,
        /// The time parser's description.
        detail: String,
    },

    /// A ChirpStack event type this module does not know.
    #[error(
        "unknown ChirpStack event type {event:?}; expected one of up, join, status, ack, txack, \
         log, location, integration (the `event` query parameter of the HTTP integration or the \
         last level of the MQTT topic)"
    )]
    UnknownEvent {
        /// The event type given, shortened.
        event: String,
    },

    /// The event type given with a ChirpStack message does not match the body.
    #[error(
        "the message is declared as a ChirpStack `{declared}` event but its body has `{field}`, \
         which belongs to a `{looks_like}` event; check the `event` query parameter or MQTT \
         topic the integration uses"
    )]
    EventMismatch {
        /// The event type declared by the query parameter or topic.
        declared: &'static str,
        /// The event type the body looks like.
        looks_like: &'static str,
        /// The field that gave it away.
        field: &'static str,
    },

    /// Two fields say contradictory things.
    #[error("`{field}` conflicts with another field: {detail}")]
    Conflict {
        /// The JSON path of the field.
        field: String,
        /// What conflicts and which to keep.
        detail: &'static str,
    },

    /// The generic format got a field it does not define (often a misspelt one).
    #[error(
        "unknown field `{field}` in a generic uplink; the known fields are {known}; check the \
         spelling (fields are camelCase, e.g. `fCnt`, not `fcnt`)"
    )]
    UnknownField {
        /// The JSON path of the unknown field, shortened.
        field: String,
        /// The fields that are allowed there.
        known: &'static str,
    },

    /// An MQTT topic is not one of the uplink topics of ChirpStack v4 or The Things Stack v3.
    #[error(
        "MQTT topic {topic:?} is not an uplink event topic: {problem}; expected \
         application/{{application id}}/device/{{devEui}}/event/{{event}} (ChirpStack v4) or \
         v3/{{application id}}[@{{tenant id}}]/devices/{{device id}}/{{up|join|down/ack|…}} \
         (The Things Stack v3)"
    )]
    UnknownTopic {
        /// The topic, shortened.
        topic: String,
        /// What is wrong with it.
        problem: String,
    },

    /// The MQTT topic names a different device, application or event than the body.
    #[error(
        "the MQTT topic gives {what} {topic_value:?} but the body gives {body_value:?}; the \
         message was published on another device's or event's topic — check the broker's topic \
         mapping and the integration's topic template"
    )]
    TopicMismatch {
        /// What disagrees (`"the DevEUI"`, `"the event"`, …).
        what: &'static str,
        /// The value in the topic.
        topic_value: String,
        /// The value in the body.
        body_value: String,
    },
}

/// At most this many characters of a value are quoted back in an error.
const EXCERPT_CHARS: usize = 48;

/// A value shortened for an error message, on a character boundary.
pub(crate) fn excerpt(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}
