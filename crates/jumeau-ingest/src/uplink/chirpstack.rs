//! ChirpStack v4 integration events (JSON encoding).
//!
//! ChirpStack posts one JSON body per event to the HTTP integration, with the event type in the
//! `event` query parameter, and publishes the same bodies over MQTT on
//! `application/{application id}/device/{devEui}/event/{event}`. The bodies are the proto3 JSON
//! form of the `integration` package messages (`UplinkEvent`, `StatusEvent`, …): top-level
//! defaults are written out, but inside `rxInfo`/`txInfo` zero values are omitted.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::{excerpt, UplinkError};
use super::json::{self, Obj};
use super::{codec, Location, NetworkServer, RxInfo, Uplink, UplinkParts};

/// The ChirpStack event types, as named in the `event` query parameter and the MQTT topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ChirpStackEventKind {
    /// `up`: an uplink frame.
    Up,
    /// `join`: the device joined (sent with its first uplink after OTAA).
    Join,
    /// `status`: the device answered a DevStatusReq (battery and link margin).
    Status,
    /// `ack`: a confirmed downlink was acknowledged, or timed out.
    Ack,
    /// `txack`: a gateway accepted a downlink for transmission.
    TxAck,
    /// `log`: a device-related log or error (codec error, MIC error, frame-counter reset…).
    Log,
    /// `location`: a geolocation service solved the device's position.
    Location,
    /// `integration`: an event from an external integration (e.g. LoRa Cloud).
    Integration,
}

impl ChirpStackEventKind {
    /// Every event type, in documentation order.
    pub const ALL: [ChirpStackEventKind; 8] = [
        ChirpStackEventKind::Up,
        ChirpStackEventKind::Join,
        ChirpStackEventKind::Status,
        ChirpStackEventKind::Ack,
        ChirpStackEventKind::TxAck,
        ChirpStackEventKind::Log,
        ChirpStackEventKind::Location,
        ChirpStackEventKind::Integration,
    ];

    /// The name ChirpStack uses (`up`, `txack`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ChirpStackEventKind::Up => "up",
            ChirpStackEventKind::Join => "join",
            ChirpStackEventKind::Status => "status",
            ChirpStackEventKind::Ack => "ack",
            ChirpStackEventKind::TxAck => "txack",
            ChirpStackEventKind::Log => "log",
            ChirpStackEventKind::Location => "location",
            ChirpStackEventKind::Integration => "integration",
        }
    }

    /// Top-level fields only this event type has: a body declared as another type but
    /// carrying one of them was sent with the wrong event type.
    fn signature_fields(self) -> &'static [&'static str] {
        match self {
            ChirpStackEventKind::Up => {
                &["fPort", "fCnt", "data", "rxInfo", "adr", "dr", "confirmed"]
            }
            ChirpStackEventKind::Join => &[],
            ChirpStackEventKind::Status => &[
                "margin",
                "batteryLevel",
                "externalPowerSource",
                "batteryLevelUnavailable",
            ],
            ChirpStackEventKind::Ack => &["acknowledged"],
            ChirpStackEventKind::TxAck => &["downlinkId"],
            ChirpStackEventKind::Log => &["level", "code", "description"],
            ChirpStackEventKind::Location => &["location"],
            ChirpStackEventKind::Integration => &["integrationName", "eventType"],
        }
    }
}

impl FromStr for ChirpStackEventKind {
    type Err = UplinkError;

    /// Reads an event type name exactly as ChirpStack writes it (lower case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChirpStackEventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UplinkError::UnknownEvent { event: excerpt(s) })
    }
}

impl fmt::Display for ChirpStackEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The severity of a ChirpStack `log` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum LogLevel {
    /// `INFO` (also the meaning of an absent level, proto3's default).
    Info,
    /// `WARNING`.
    Warning,
    /// `ERROR`.
    Error,
    /// A level this module does not know, kept as written so the journal loses nothing.
    Other(String),
}

/// One ChirpStack integration event, read from its JSON body.
///
/// Only `up` carries a reading; the others update what the twin knows about a device (battery,
/// join, downlink delivery) or go to the ingestion journal (`log`).
#[allow(
    clippy::large_enum_variant,
    reason = "one message is handled at a time, never stored in bulk: a boxed uplink would \
              cost an allocation for nothing"
)]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ChirpStackEvent {
    /// An uplink frame.
    Up(Uplink),
    /// The device joined the network (OTAA).
    Join {
        /// The device's DevEUI, lower case.
        dev_eui: String,
        /// The device's name in ChirpStack.
        device_name: Option<String>,
        /// The device address of the new session, lower case.
        dev_addr: Option<String>,
        /// When ChirpStack emitted the event.
        time: Option<DateTime<Utc>>,
    },
    /// The device's answer to a DevStatusReq: battery and link margin.
    Status {
        /// The device's DevEUI, lower case.
        dev_eui: String,
        /// When ChirpStack emitted the event.
        time: Option<DateTime<Utc>>,
        /// Demodulation margin in dB of the last DevStatusReq as the device received it.
        margin: i32,
        /// Battery level in percent (0–100); `None` when the device said it cannot measure it,
        /// or that it runs on external power (then a level means nothing).
        battery_level: Option<f64>,
        /// The device runs on an external power source.
        external_power_source: bool,
    },
    /// A confirmed downlink was acknowledged by the device, or timed out.
    Ack {
        /// The device's DevEUI, lower case.
        dev_eui: String,
        /// When ChirpStack emitted the event.
        time: Option<DateTime<Utc>>,
        /// The identifier of the downlink queue item.
        queue_item_id: Option<String>,
        /// `true` if the device acknowledged, `false` on timeout.
        acknowledged: bool,
        /// The downlink frame counter the acknowledgement is about.
        f_cnt_down: u32,
    },
    /// A gateway accepted a downlink for transmission (not yet sent, nor received).
    TxAck {
        /// The device's DevEUI, lower case.
        dev_eui: String,
        /// When ChirpStack emitted the event.
        time: Option<DateTime<Utc>>,
        /// The identifier of the downlink queue item.
        queue_item_id: Option<String>,
        /// ChirpStack's downlink identifier.
        downlink_id: u32,
        /// The downlink frame counter.
        f_cnt_down: u32,
        /// The gateway that will transmit.
        gateway_id: Option<String>,
    },
    /// A device-related log entry (codec error, MIC error, frame-counter reset, …).
    Log {
        /// The device's DevEUI, lower case.
        dev_eui: String,
        /// When ChirpStack emitted the event.
        time: Option<DateTime<Utc>>,
        /// Severity.
        level: LogLevel,
        /// ChirpStack's code, e.g. `UPLINK_CODEC`, `UPLINK_F_CNT_RESET`, `UPLINK_MIC`.
        code: String,
        /// Human-readable description.
        description: String,
        /// Extra context (e.g. the `deduplication_id` of the uplink concerned).
        context: BTreeMap<String, String>,
    },
    /// A geolocation service solved the device's position.
    Location {
        /// The device's DevEUI, lower case.
        dev_eui: String,
        /// When ChirpStack emitted the event.
        time: Option<DateTime<Utc>>,
        /// The solved position.
        location: Location,
    },
    /// An event from an external integration (e.g. LoRa Cloud), kept for the journal.
    Integration {
        /// The device's DevEUI, lower case.
        dev_eui: String,
        /// When ChirpStack emitted the event.
        time: Option<DateTime<Utc>>,
        /// The integration's name, e.g. `loracloud`.
        integration_name: String,
        /// The integration's event type.
        event_type: String,
        /// The integration's payload.
        object: Option<Map<String, Value>>,
    },
}

impl ChirpStackEvent {
    /// The event's type.
    pub fn kind(&self) -> ChirpStackEventKind {
        match self {
            ChirpStackEvent::Up(_) => ChirpStackEventKind::Up,
            ChirpStackEvent::Join { .. } => ChirpStackEventKind::Join,
            ChirpStackEvent::Status { .. } => ChirpStackEventKind::Status,
            ChirpStackEvent::Ack { .. } => ChirpStackEventKind::Ack,
            ChirpStackEvent::TxAck { .. } => ChirpStackEventKind::TxAck,
            ChirpStackEvent::Log { .. } => ChirpStackEventKind::Log,
            ChirpStackEvent::Location { .. } => ChirpStackEventKind::Location,
            ChirpStackEvent::Integration { .. } => ChirpStackEventKind::Integration,
        }
    }

    /// The DevEUI of the device the event is about (lower case).
    pub fn dev_eui(&self) -> &str {
        match self {
            ChirpStackEvent::Up(up) => &up.dev_eui,
            ChirpStackEvent::Join { dev_eui, .. }
            | ChirpStackEvent::Status { dev_eui, .. }
            | ChirpStackEvent::Ack { dev_eui, .. }
            | ChirpStackEvent::TxAck { dev_eui, .. }
            | ChirpStackEvent::Log { dev_eui, .. }
            | ChirpStackEvent::Location { dev_eui, .. }
            | ChirpStackEvent::Integration { dev_eui, .. } => dev_eui,
        }
    }
}

/// Reads one ChirpStack v4 event.
///
/// `event` is the event type as ChirpStack names it: the `event` query parameter of the HTTP
/// integration (`?event=up`) or the last level of the MQTT topic. `body` is the JSON body
/// (ChirpStack's integrations must be set to JSON, not Protobuf).
///
/// Besides reading the fields, this checks that the body fits the declared type: a body with
/// `batteryLevel` declared as `up` is an [`UplinkError::EventMismatch`], and an `up` body with
/// none of `fPort`, `fCnt`, `data`, `rxInfo` is refused rather than read as an empty uplink.
///
/// # Errors
///
/// [`UplinkError::UnknownEvent`] for an event type other than `up`, `join`, `status`, `ack`,
/// `txack`, `log`, `location`, `integration`; otherwise whatever is wrong with the body.
pub fn parse_chirpstack_event(event: &str, body: &[u8]) -> Result<ChirpStackEvent, UplinkError> {
    let kind = event.parse::<ChirpStackEventKind>()?;
    let map = json::parse_body(body)?;
    parse_map(kind, &map)
}

/// Reads an already-parsed body; shared with the MQTT entry point.
pub(crate) fn parse_map(
    kind: ChirpStackEventKind,
    map: &Map<String, Value>,
) -> Result<ChirpStackEvent, UplinkError> {
    check_shape(kind, map)?;
    let root = Obj::root(map);
    let device = device_info(&root)?;
    let dev_eui = device.dev_eui.text.clone();
    let time = root.time("time")?;
    Ok(match kind {
        ChirpStackEventKind::Up => ChirpStackEvent::Up(parse_up(&root, device)?),
        ChirpStackEventKind::Join => ChirpStackEvent::Join {
            dev_eui,
            device_name: device.name,
            dev_addr: root.dev_addr("devAddr")?,
            time,
        },
        ChirpStackEventKind::Status => {
            let external_power_source = root.flag("externalPowerSource")?;
            let unavailable = root.flag("batteryLevelUnavailable")?;
            let level = root.f64("batteryLevel")?.unwrap_or(0.0);
            if !(0.0..=100.0).contains(&level) {
                return Err(UplinkError::InvalidValue {
                    field: "batteryLevel".to_owned(),
                    value: level.to_string(),
                    expected: "a battery level in percent, from 0 to 100",
                });
            }
            ChirpStackEvent::Status {
                dev_eui,
                time,
                margin: root
                    .int_in("margin", -128, 127, "a margin in dB from -128 to 127")?
                    .unwrap_or(0),
                battery_level: (!external_power_source && !unavailable).then_some(level),
                external_power_source,
            }
        }
        ChirpStackEventKind::Ack => ChirpStackEvent::Ack {
            dev_eui,
            time,
            queue_item_id: root.text("queueItemId")?,
            acknowledged: root.flag("acknowledged")?,
            f_cnt_down: root.u32("fCntDown")?.unwrap_or(0),
        },
        ChirpStackEventKind::TxAck => ChirpStackEvent::TxAck {
            dev_eui,
            time,
            queue_item_id: root.text("queueItemId")?,
            downlink_id: root.u32("downlinkId")?.unwrap_or(0),
            f_cnt_down: root.u32("fCntDown")?.unwrap_or(0),
            gateway_id: root.text("gatewayId")?,
        },
        ChirpStackEventKind::Log => ChirpStackEvent::Log {
            dev_eui,
            time,
            level: log_level(&root)?,
            code: log_code(&root)?,
            description: root.text("description")?.unwrap_or_default(),
            context: root.string_map("context")?,
        },
        ChirpStackEventKind::Location => ChirpStackEvent::Location {
            dev_eui,
            time,
            location: root
                .location("location")?
                .ok_or(UplinkError::MissingField {
                    field: "location.latitude".to_owned(),
                    hint: "a location event carries the solved position in `location`",
                })?,
        },
        ChirpStackEventKind::Integration => ChirpStackEvent::Integration {
            dev_eui,
            time,
            integration_name: root.text("integrationName")?.unwrap_or_default(),
            event_type: root.text("eventType")?.unwrap_or_default(),
            object: root.object("object")?.cloned(),
        },
    })
}

/// Refuses a body whose fields belong to another event type than the declared one.
fn check_shape(kind: ChirpStackEventKind, map: &Map<String, Value>) -> Result<(), UplinkError> {
    let root = Obj::root(map);
    for other in ChirpStackEventKind::ALL {
        if other == kind {
            continue;
        }
        if let Some(field) = other
            .signature_fields()
            .iter()
            .find(|f| root.has(f) && !kind.signature_fields().contains(f))
        {
            return Err(UplinkError::EventMismatch {
                declared: kind.as_str(),
                looks_like: other.as_str(),
                field,
            });
        }
    }
    if kind == ChirpStackEventKind::Up
        && !kind.signature_fields().iter().any(|f| root.has(f))
        && !root.has("object")
    {
        return Err(UplinkError::MissingField {
            field: "fPort, fCnt, data or rxInfo".to_owned(),
            hint: "an up event carries the frame's port, counter, payload and reception, and \
                   this body has none of them; check that it is an up event",
        });
    }
    Ok(())
}

/// What `deviceInfo` says about the device.
struct DeviceInfo {
    dev_eui: codec::DevEui,
    name: Option<String>,
    application: Option<String>,
    tags: BTreeMap<String, String>,
}

fn device_info(root: &Obj<'_>) -> Result<DeviceInfo, UplinkError> {
    let missing = || UplinkError::MissingField {
        field: "deviceInfo.devEui".to_owned(),
        hint: "ChirpStack v4 names the device in deviceInfo.devEui; a body without it is not a \
               ChirpStack v4 event (v3 used a top-level devEUI: upgrade or use the generic \
               format)",
    };
    let map = root.object("deviceInfo")?.ok_or_else(missing)?;
    let info = Obj::at(map, "deviceInfo");
    Ok(DeviceInfo {
        dev_eui: info.dev_eui("devEui")?.ok_or_else(missing)?,
        name: info.text("deviceName")?,
        application: info.text("applicationId")?,
        tags: info.string_map("tags")?,
    })
}

fn parse_up(root: &Obj<'_>, device: DeviceInfo) -> Result<Uplink, UplinkError> {
    // Transmission settings first: whether the uplink is LoRa decides how an absent SNR reads.
    let mut frequency_hz = None;
    let mut spreading_factor = None;
    let mut bandwidth_hz = None;
    let mut lora = false;
    if let Some(tx) = root.object("txInfo")? {
        let tx = Obj::at(tx, "txInfo");
        frequency_hz = tx.uint("frequency", 10_000_000_000, "a frequency in Hz")?;
        if let Some(modulation) = tx.object("modulation")? {
            let modulation = Obj::at(modulation, "txInfo.modulation");
            if let Some(params) = modulation.object("lora")? {
                let params = Obj::at(params, "txInfo.modulation.lora");
                lora = true;
                spreading_factor =
                    params.u8("spreadingFactor", "a spreading factor from 5 to 12")?;
                bandwidth_hz = params.u32("bandwidth")?;
            }
        }
    }

    let mut rx = Vec::new();
    for item in json::objects(root.array("rxInfo")?, "rxInfo") {
        let (map, path) = item?;
        rx.push(rx_info(&Obj::at(map, &path), lora)?);
    }

    let received_at = match root.time("time")? {
        Some(t) => t,
        None => rx
            .iter()
            .find_map(|r| r.time)
            .ok_or(UplinkError::MissingField {
                field: "time".to_owned(),
                hint:
                    "ChirpStack stamps every event with `time`; without it nor a gateway time in \
                   rxInfo there is no time to file the reading under",
            })?,
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
        source: NetworkServer::ChirpStack,
        dev_eui: device.dev_eui,
        device_name: device.name,
        application: device.application,
        dev_addr: root.dev_addr("devAddr")?,
        tags: device.tags,
        f_cnt: root.u32("fCnt")?.unwrap_or(0),
        f_port: root.u8("fPort", "an FPort from 0 to 255")?,
        confirmed: root.flag("confirmed")?,
        payload: root.base64("data")?,
        decoded: root.object("object")?.cloned(),
        decoder_warnings: Vec::new(),
        normalized: Vec::new(),
        received_at,
        rx,
        frequency_hz,
        dr,
        spreading_factor,
        bandwidth_hz,
        message_id: root.text("deduplicationId")?,
        simulated: false,
    }
    .build())
}

fn rx_info(rx: &Obj<'_>, lora: bool) -> Result<RxInfo, UplinkError> {
    let gateway_id = rx
        .text("gatewayId")?
        .ok_or_else(|| UplinkError::MissingField {
            field: rx.path_of("gatewayId"),
            hint: "each rxInfo entry names the gateway that received the frame",
        })?;
    let rssi = rx.int_in("rssi", -200, 50, "an RSSI in dBm from -200 to 50")?;
    let snr = match rx.f64("snr")? {
        Some(snr) => Some(snr),
        // proto3 omits 0: a LoRa reception with an RSSI but no SNR had an SNR of 0 dB.
        None if lora && rssi.is_some() => Some(0.0),
        None => None,
    };
    // `gwTime` since ChirpStack 4.1; the first 4.0 releases called it `time`.
    let time = match rx.time("gwTime")? {
        Some(t) => Some(t),
        None => match rx.time("time")? {
            Some(t) => Some(t),
            None => rx.time("nsTime")?,
        },
    };
    Ok(RxInfo {
        gateway_eui: codec::parse_dev_eui(&gateway_id, "")
            .ok()
            .map(|eui| eui.text),
        gateway_id: gateway_id.to_ascii_lowercase(),
        rssi,
        snr,
        time,
        location: rx.location("location")?,
    })
}

/// The names of ChirpStack's `LogLevel` values, by number.
const LOG_LEVELS: [&str; 3] = ["INFO", "WARNING", "ERROR"];

/// The names of ChirpStack's `LogCode` values, by number.
const LOG_CODES: [&str; 9] = [
    "UNKNOWN",
    "DOWNLINK_PAYLOAD_SIZE",
    "UPLINK_CODEC",
    "DOWNLINK_CODEC",
    "OTAA",
    "UPLINK_F_CNT_RESET",
    "UPLINK_MIC",
    "UPLINK_F_CNT_RETRANSMISSION",
    "DOWNLINK_GATEWAY",
];

/// Reads a proto3 enum written as its name or its number; `None` when absent.
fn enum_name(root: &Obj<'_>, key: &str, names: &[&str]) -> Result<Option<String>, UplinkError> {
    match root.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(_)) => {
            let n = root.uint(key, u64::from(u32::MAX), "an enum name or number")?;
            Ok(n.map(|n| {
                usize::try_from(n)
                    .ok()
                    .and_then(|i| names.get(i))
                    .map_or_else(|| n.to_string(), |name| (*name).to_owned())
            }))
        }
        Some(other) => Err(UplinkError::WrongType {
            field: root.path_of(key),
            expected: "an enum name (a string)",
            found: json::type_name(other),
        }),
    }
}

fn log_level(root: &Obj<'_>) -> Result<LogLevel, UplinkError> {
    Ok(match enum_name(root, "level", &LOG_LEVELS)?.as_deref() {
        None | Some("INFO") => LogLevel::Info,
        Some("WARNING") => LogLevel::Warning,
        Some("ERROR") => LogLevel::Error,
        Some(other) => LogLevel::Other(excerpt(other)),
    })
}

fn log_code(root: &Obj<'_>) -> Result<String, UplinkError> {
    Ok(enum_name(root, "code", &LOG_CODES)?.unwrap_or_else(|| "UNKNOWN".to_owned()))
}
