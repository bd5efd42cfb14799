//! The Things Stack v3 application messages (webhooks, MQTT, Pub/Sub).
//!
//! Every message is an `ApplicationUp`: `end_device_ids`, `correlation_ids`, `received_at`,
//! and exactly one of `uplink_message`, `uplink_normalized`, `join_accept`, `downlink_ack`,
//! `downlink_nack`, `downlink_sent`, `downlink_failed`, `downlink_queued`,
//! `downlink_queue_invalidated`, `location_solved`, `service_data`. Field names are snake_case
//! and every zero value (`0`, `""`, `false`) is omitted.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::{excerpt, UplinkError};
use super::json::{self, Obj};
use super::{codec, Location, NetworkServer, RxInfo, Uplink, UplinkParts};

/// The kinds of The Things Stack application messages: the key that holds the message in the
/// body, and the MQTT topic suffix it is published on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TtsKind {
    /// `uplink_message`, topic `up`.
    Uplink,
    /// `uplink_normalized` (one message per normalized payload item); not published on MQTT.
    UplinkNormalized,
    /// `join_accept`, topic `join`.
    JoinAccept,
    /// `downlink_ack`, topic `down/ack`.
    DownlinkAck,
    /// `downlink_nack`, topic `down/nack`.
    DownlinkNack,
    /// `downlink_sent`, topic `down/sent`.
    DownlinkSent,
    /// `downlink_failed`, topic `down/failed`.
    DownlinkFailed,
    /// `downlink_queued`, topic `down/queued`.
    DownlinkQueued,
    /// `downlink_queue_invalidated`, topic `down/invalidated`.
    DownlinkQueueInvalidated,
    /// `location_solved`, topic `location/solved`.
    LocationSolved,
    /// `service_data`, topic `service/data`.
    ServiceData,
}

impl TtsKind {
    /// Every kind, in the order of the `ApplicationUp` definition.
    pub const ALL: [TtsKind; 11] = [
        TtsKind::Uplink,
        TtsKind::UplinkNormalized,
        TtsKind::JoinAccept,
        TtsKind::DownlinkAck,
        TtsKind::DownlinkNack,
        TtsKind::DownlinkSent,
        TtsKind::DownlinkFailed,
        TtsKind::DownlinkQueued,
        TtsKind::DownlinkQueueInvalidated,
        TtsKind::LocationSolved,
        TtsKind::ServiceData,
    ];

    /// The key holding this kind of message in the body, e.g. `uplink_message`.
    pub fn body_key(self) -> &'static str {
        match self {
            TtsKind::Uplink => "uplink_message",
            TtsKind::UplinkNormalized => "uplink_normalized",
            TtsKind::JoinAccept => "join_accept",
            TtsKind::DownlinkAck => "downlink_ack",
            TtsKind::DownlinkNack => "downlink_nack",
            TtsKind::DownlinkSent => "downlink_sent",
            TtsKind::DownlinkFailed => "downlink_failed",
            TtsKind::DownlinkQueued => "downlink_queued",
            TtsKind::DownlinkQueueInvalidated => "downlink_queue_invalidated",
            TtsKind::LocationSolved => "location_solved",
            TtsKind::ServiceData => "service_data",
        }
    }

    /// The MQTT topic suffix after `v3/{app}/devices/{device}/`, or `None` for the kinds The
    /// Things Stack does not publish on MQTT.
    pub fn topic_suffix(self) -> Option<&'static str> {
        Some(match self {
            TtsKind::Uplink => "up",
            TtsKind::UplinkNormalized => return None,
            TtsKind::JoinAccept => "join",
            TtsKind::DownlinkAck => "down/ack",
            TtsKind::DownlinkNack => "down/nack",
            TtsKind::DownlinkSent => "down/sent",
            TtsKind::DownlinkFailed => "down/failed",
            TtsKind::DownlinkQueued => "down/queued",
            TtsKind::DownlinkQueueInvalidated => "down/invalidated",
            TtsKind::LocationSolved => "location/solved",
            TtsKind::ServiceData => "service/data",
        })
    }
}

impl fmt::Display for TtsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.body_key())
    }
}

/// What happened to a downlink, for The Things Stack's downlink messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TtsDownlinkEvent {
    /// Queued in the Application Server.
    Queued,
    /// Sent by a gateway.
    Sent,
    /// A confirmed downlink was acknowledged by the device.
    Ack,
    /// A confirmed downlink was not acknowledged.
    Nack,
    /// The downlink could not be sent.
    Failed,
}

/// The device a The Things Stack message is about (`end_device_ids`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TtsDevice {
    /// The device ID within the application, e.g. `dev1` (what the MQTT topic names).
    pub device_id: String,
    /// The application ID, e.g. `app1`.
    pub application_id: String,
    /// The DevEUI in lower case; `None` for devices registered without one (some ABP devices).
    pub dev_eui: Option<String>,
    /// The JoinEUI (AppEUI) in lower case, if given.
    pub join_eui: Option<String>,
    /// The device address of the current session in lower case, if given.
    pub dev_addr: Option<String>,
}

/// One The Things Stack application message, read from its JSON body.
#[allow(
    clippy::large_enum_variant,
    reason = "one message is handled at a time, never stored in bulk: a boxed uplink would \
              cost an allocation for nothing"
)]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TtsMessage {
    /// An uplink frame (`uplink_message`).
    Up(Uplink),
    /// One normalized payload item of an uplink (`uplink_normalized`), with the normalized
    /// values in [`Uplink::decoded`]. It repeats a frame already delivered as
    /// [`TtsMessage::Up`] (same [`Uplink::dedup_key`]), so it is not a new reading.
    NormalizedUp(Uplink),
    /// The device joined (`join_accept`).
    JoinAccept {
        /// The device.
        device: TtsDevice,
        /// When the Network Server received the join-request.
        received_at: Option<DateTime<Utc>>,
    },
    /// A downlink changed state (`downlink_queued`, `_sent`, `_ack`, `_nack`, `_failed`).
    Downlink {
        /// What happened.
        event: TtsDownlinkEvent,
        /// The device.
        device: TtsDevice,
        /// The downlink's FPort (`None` when omitted, i.e. 0).
        f_port: Option<u8>,
        /// The downlink frame counter (0 when omitted).
        f_cnt: u32,
        /// Whether the downlink was confirmed.
        confirmed: bool,
        /// For `downlink_failed`: the error's name or message.
        error: Option<String>,
    },
    /// Downlinks in the queue were invalidated by a session change
    /// (`downlink_queue_invalidated`).
    DownlinkQueueInvalidated {
        /// The device.
        device: TtsDevice,
        /// The last downlink frame counter of the old session.
        last_f_cnt_down: u32,
    },
    /// A geolocation service solved the device's position (`location_solved`).
    LocationSolved {
        /// The device.
        device: TtsDevice,
        /// The service that solved it, e.g. `lora-cloud-geolocation-v3`.
        service: Option<String>,
        /// The position.
        location: Location,
        /// The location source as written, e.g. `SOURCE_GPS`.
        source: Option<String>,
    },
    /// Data from an application package (`service_data`).
    ServiceData {
        /// The device.
        device: TtsDevice,
        /// The service, e.g. `lora-cloud-device-management-v1`.
        service: Option<String>,
        /// The service's payload.
        data: Option<Map<String, Value>>,
    },
    /// A message kind this module does not know (a newer The Things Stack), kept whole so the
    /// ingestion journal can record it.
    Other {
        /// The key holding the message in the body.
        kind: String,
        /// The device.
        device: TtsDevice,
        /// The message under `kind`.
        content: Value,
    },
}

impl TtsMessage {
    /// The key that held the message in the body (`uplink_message`, `join_accept`, …).
    pub fn kind(&self) -> &str {
        match self {
            TtsMessage::Up(_) => TtsKind::Uplink.body_key(),
            TtsMessage::NormalizedUp(_) => TtsKind::UplinkNormalized.body_key(),
            TtsMessage::JoinAccept { .. } => TtsKind::JoinAccept.body_key(),
            TtsMessage::Downlink { event, .. } => match event {
                TtsDownlinkEvent::Queued => TtsKind::DownlinkQueued.body_key(),
                TtsDownlinkEvent::Sent => TtsKind::DownlinkSent.body_key(),
                TtsDownlinkEvent::Ack => TtsKind::DownlinkAck.body_key(),
                TtsDownlinkEvent::Nack => TtsKind::DownlinkNack.body_key(),
                TtsDownlinkEvent::Failed => TtsKind::DownlinkFailed.body_key(),
            },
            TtsMessage::DownlinkQueueInvalidated { .. } => {
                TtsKind::DownlinkQueueInvalidated.body_key()
            }
            TtsMessage::LocationSolved { .. } => TtsKind::LocationSolved.body_key(),
            TtsMessage::ServiceData { .. } => TtsKind::ServiceData.body_key(),
            TtsMessage::Other { kind, .. } => kind,
        }
    }
}

/// Envelope keys of `ApplicationUp` that are not the message itself.
const ENVELOPE_KEYS: [&str; 5] = [
    "end_device_ids",
    "correlation_ids",
    "received_at",
    "simulated",
    "unique_id",
];

/// Reads one The Things Stack v3 application message (webhook body, MQTT or Pub/Sub payload).
///
/// The message kind is found from the body (`uplink_message`, `join_accept`, …); a kind this
/// module does not know becomes [`TtsMessage::Other`] rather than an error, so that a newer
/// The Things Stack does not stop the ingestion.
///
/// # Errors
///
/// Invalid JSON, a body without `end_device_ids.device_id` or without any message, an uplink
/// whose device has no DevEUI, and any malformed field (DevEUI, base64, counters, times).
pub fn parse_tts_message(body: &[u8]) -> Result<TtsMessage, UplinkError> {
    let map = json::parse_body(body)?;
    parse_map(&map)
}

/// Reads an already-parsed body; shared with the MQTT entry point.
pub(crate) fn parse_map(map: &Map<String, Value>) -> Result<TtsMessage, UplinkError> {
    let root = Obj::root(map);
    let device = device_ids(&root)?;
    let simulated = root.flag("simulated")?;
    let envelope_time = root.time("received_at")?;
    let message_id = correlation_id(&root)?;

    for kind in TtsKind::ALL {
        let key = kind.body_key();
        let Some(inner) = root.object(key)? else {
            continue;
        };
        let msg = Obj::at(inner, key);
        return Ok(match kind {
            TtsKind::Uplink | TtsKind::UplinkNormalized => {
                let up = parse_uplink(&msg, kind, &device, envelope_time, message_id, simulated)?;
                if kind == TtsKind::Uplink {
                    TtsMessage::Up(up)
                } else {
                    TtsMessage::NormalizedUp(up)
                }
            }
            TtsKind::JoinAccept => TtsMessage::JoinAccept {
                received_at: msg.time("received_at")?.or(envelope_time),
                device,
            },
            TtsKind::DownlinkAck
            | TtsKind::DownlinkNack
            | TtsKind::DownlinkSent
            | TtsKind::DownlinkQueued
            | TtsKind::DownlinkFailed => downlink(kind, &msg, device)?,
            TtsKind::DownlinkQueueInvalidated => TtsMessage::DownlinkQueueInvalidated {
                device,
                last_f_cnt_down: msg.u32("last_f_cnt_down")?.unwrap_or(0),
            },
            TtsKind::LocationSolved => {
                let loc_map = msg.object("location")?;
                let source = match loc_map {
                    Some(m) => Obj::at(m, "location_solved.location").text("source")?,
                    None => None,
                };
                TtsMessage::LocationSolved {
                    service: msg.text("service")?,
                    location: msg.location("location")?.ok_or(UplinkError::MissingField {
                        field: "location_solved.location.latitude".to_owned(),
                        hint: "a location_solved message carries the position in `location`",
                    })?,
                    source,
                    device,
                }
            }
            TtsKind::ServiceData => TtsMessage::ServiceData {
                service: msg.text("service")?,
                data: msg.object("data")?.cloned(),
                device,
            },
        });
    }

    // No known kind: keep the first object-valued key that is not part of the envelope.
    let other = map
        .iter()
        .find(|(k, v)| v.is_object() && !ENVELOPE_KEYS.contains(&k.as_str()));
    match other {
        Some((kind, content)) => Ok(TtsMessage::Other {
            kind: excerpt(kind),
            device,
            content: content.clone(),
        }),
        None => Err(UplinkError::MissingField {
            field: "uplink_message (or join_accept, downlink_*, location_solved, service_data, \
                    uplink_normalized)"
                .to_owned(),
            hint: "a The Things Stack message holds exactly one message next to end_device_ids; \
                   this body has none",
        }),
    }
}

fn device_ids(root: &Obj<'_>) -> Result<TtsDevice, UplinkError> {
    let ids_map = root
        .object("end_device_ids")?
        .ok_or_else(|| UplinkError::MissingField {
            field: "end_device_ids".to_owned(),
            hint: "every The Things Stack message names its device in end_device_ids; is this a \
                   The Things Stack v3 message (v2 used dev_id/hardware_serial)?",
        })?;
    let ids = Obj::at(ids_map, "end_device_ids");
    let device_id = ids
        .text("device_id")?
        .ok_or_else(|| UplinkError::MissingField {
            field: "end_device_ids.device_id".to_owned(),
            hint: "The Things Stack always names the device by its device ID",
        })?;
    let application_id = match ids.object("application_ids")? {
        Some(app) => Obj::at(app, "end_device_ids.application_ids").text("application_id")?,
        None => None,
    }
    .ok_or_else(|| UplinkError::MissingField {
        field: "end_device_ids.application_ids.application_id".to_owned(),
        hint: "The Things Stack always names the device's application",
    })?;
    Ok(TtsDevice {
        device_id,
        application_id,
        dev_eui: ids.dev_eui("dev_eui")?.map(|e| e.text),
        join_eui: ids.dev_eui("join_eui")?.map(|e| e.text),
        dev_addr: ids.dev_addr("dev_addr")?,
    })
}

/// The Application Server's correlation ID (`as:up:…`), which identifies this message.
fn correlation_id(root: &Obj<'_>) -> Result<Option<String>, UplinkError> {
    Ok(root
        .strings("correlation_ids")?
        .into_iter()
        .find(|id| id.starts_with("as:up:")))
}

fn parse_uplink(
    msg: &Obj<'_>,
    kind: TtsKind,
    device: &TtsDevice,
    envelope_time: Option<DateTime<Utc>>,
    message_id: Option<String>,
    simulated: bool,
) -> Result<Uplink, UplinkError> {
    let dev_eui_text = device.dev_eui.as_deref().ok_or(UplinkError::MissingField {
        field: "end_device_ids.dev_eui".to_owned(),
        hint: "Jumeau files readings by DevEUI, and this device is registered in The Things \
               Stack without one (an ABP device?); set its DevEUI in the console",
    })?;
    let dev_eui = codec::parse_dev_eui(dev_eui_text, "end_device_ids.dev_eui")?;

    // Settings first: whether the uplink is LoRa decides how an absent SNR reads.
    let mut frequency_hz = None;
    let mut spreading_factor = None;
    let mut bandwidth_hz = None;
    let mut dr = None;
    let mut settings_time = None;
    let mut lora = false;
    if let Some(settings) = msg.object("settings")? {
        let settings_path = msg.path_of("settings");
        let settings = Obj::at(settings, &settings_path);
        frequency_hz = settings.uint("frequency", 10_000_000_000, "a frequency in Hz")?;
        settings_time = settings.time("time")?;
        dr = settings.u8("data_rate_index", "a data rate index from 0 to 15")?;
        if let Some(rate) = settings.object("data_rate")? {
            let rate_path = settings.path_of("data_rate");
            let rate = Obj::at(rate, &rate_path);
            if let Some(params) = rate.object("lora")? {
                let params_path = rate.path_of("lora");
                let params = Obj::at(params, &params_path);
                lora = true;
                spreading_factor =
                    params.u8("spreading_factor", "a spreading factor from 5 to 12")?;
                bandwidth_hz = params.u32("bandwidth")?;
            }
        }
    }

    let mut rx = Vec::new();
    for item in json::objects(msg.array("rx_metadata")?, &msg.path_of("rx_metadata")) {
        let (map, path) = item?;
        rx.push(rx_metadata(&Obj::at(map, &path), lora)?);
    }

    // The Network Server's reception time is the time of the reading; the Application
    // Server's (envelope) comes a little later; gateway times are the last resort.
    let received_at = msg
        .time("received_at")?
        .or(envelope_time)
        .or_else(|| rx.iter().find_map(|r| r.time))
        .or(settings_time)
        .ok_or(UplinkError::MissingField {
            field: "uplink_message.received_at".to_owned(),
            hint: "The Things Stack stamps uplinks with received_at; without it nor any gateway \
                   time there is no time to file the reading under",
        })?;

    let (decoded, normalized) = if kind == TtsKind::Uplink {
        let mut normalized = Vec::new();
        for item in json::objects(
            msg.array("normalized_payload")?,
            &msg.path_of("normalized_payload"),
        ) {
            normalized.push(item?.0.clone());
        }
        (msg.object("decoded_payload")?.cloned(), normalized)
    } else {
        (msg.object("normalized_payload")?.cloned(), Vec::new())
    };
    let warnings_key = if kind == TtsKind::Uplink {
        "decoded_payload_warnings"
    } else {
        "normalized_payload_warnings"
    };

    Ok(UplinkParts {
        source: NetworkServer::TheThingsStack,
        dev_eui,
        device_name: Some(device.device_id.clone()),
        application: Some(device.application_id.clone()),
        dev_addr: device.dev_addr.clone(),
        tags: msg.string_map("attributes")?,
        f_cnt: msg.u32("f_cnt")?.unwrap_or(0),
        f_port: msg.u8("f_port", "an FPort from 0 to 255")?,
        confirmed: msg.flag("confirmed")?,
        payload: msg.base64("frm_payload")?,
        decoded,
        decoder_warnings: msg.strings(warnings_key)?,
        normalized,
        received_at,
        rx,
        frequency_hz,
        dr,
        spreading_factor,
        bandwidth_hz,
        message_id,
        simulated,
    }
    .build())
}

fn rx_metadata(rx: &Obj<'_>, lora: bool) -> Result<RxInfo, UplinkError> {
    let missing = || UplinkError::MissingField {
        field: rx.path_of("gateway_ids.gateway_id"),
        hint: "each rx_metadata entry names the gateway that received the frame",
    };
    let ids_map = rx.object("gateway_ids")?.ok_or_else(missing)?;
    let ids_path = rx.path_of("gateway_ids");
    let ids = Obj::at(ids_map, &ids_path);
    let gateway_id = ids.text("gateway_id")?.ok_or_else(missing)?;
    let gateway_eui = ids.dev_eui("eui")?.map(|e| e.text);

    let rssi = match rx.int_in("rssi", -200, 50, "an RSSI in dBm from -200 to 50")? {
        Some(rssi) => Some(rssi),
        None => rx.int_in("channel_rssi", -200, 50, "an RSSI in dBm from -200 to 50")?,
    };
    let snr = match rx.f64("snr")? {
        Some(snr) => Some(snr),
        // proto3 omits 0: a LoRa reception with an RSSI but no SNR had an SNR of 0 dB.
        None if lora && rssi.is_some() => Some(0.0),
        None => None,
    };
    let time = match rx.time("gps_time")? {
        Some(t) => Some(t),
        None => match rx.time("time")? {
            Some(t) => Some(t),
            None => rx.time("received_at")?,
        },
    };
    Ok(RxInfo {
        gateway_id,
        gateway_eui,
        rssi,
        snr,
        time,
        location: rx.location("location")?,
    })
}

fn downlink(kind: TtsKind, msg: &Obj<'_>, device: TtsDevice) -> Result<TtsMessage, UplinkError> {
    let event = match kind {
        TtsKind::DownlinkAck => TtsDownlinkEvent::Ack,
        TtsKind::DownlinkNack => TtsDownlinkEvent::Nack,
        TtsKind::DownlinkSent => TtsDownlinkEvent::Sent,
        TtsKind::DownlinkFailed => TtsDownlinkEvent::Failed,
        _ => TtsDownlinkEvent::Queued,
    };
    // `downlink_failed` nests the downlink under `downlink`, next to `error`.
    let (body, error) = if event == TtsDownlinkEvent::Failed {
        let error = match msg.object("error")? {
            Some(err) => {
                let err = Obj::at(err, "downlink_failed.error");
                match err.text("name")? {
                    Some(name) => Some(name),
                    None => err.text("message_format")?,
                }
            }
            None => None,
        };
        let inner = msg.object("downlink")?;
        (inner, error)
    } else {
        (Some(msg.map()), None)
    };
    let path = if event == TtsDownlinkEvent::Failed {
        "downlink_failed.downlink".to_owned()
    } else {
        kind.body_key().to_owned()
    };
    let (f_port, f_cnt, confirmed) = match body {
        Some(map) => {
            let d = Obj::at(map, &path);
            (
                d.u8("f_port", "an FPort from 0 to 255")?,
                d.u32("f_cnt")?.unwrap_or(0),
                d.flag("confirmed")?,
            )
        }
        None => (None, 0, false),
    };
    Ok(TtsMessage::Downlink {
        event,
        device,
        f_port,
        f_cnt,
        confirmed,
        error,
    })
}
