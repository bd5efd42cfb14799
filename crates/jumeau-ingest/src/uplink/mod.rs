//! Network-server uplink messages, read into one normalized [`Uplink`].
//!
//! Communes run their LoRaWAN sensors behind one of two network servers, and some small
//! gateways post straight to Jumeau. Each speaks its own JSON; this module reads all of them,
//! as they really are, into the same structure so the rest of the ingestion (deduplication,
//! stale-device detection, device attributes, payload decoding) is written once.
//!
//! | source | entry point | transport |
//! | --- | --- | --- |
//! | ChirpStack v4 | [`parse_chirpstack_event`] | HTTP integration (`?event=up`), MQTT `application/{id}/device/{devEui}/event/{event}` |
//! | The Things Stack v3 | [`parse_tts_message`] | webhook body, MQTT `v3/{app}[@{tenant}]/devices/{device}/{up,join,…}` |
//! | a plain gateway | [`parse_generic`] | the documented [generic format](generic) |
//! | any MQTT message | [`parse_mqtt`] (with [`parse_topic`]) | checks that topic and body agree |
//!
//! # Quirks handled
//!
//! Both network servers encode Protocol Buffers messages with the proto3 JSON mapping:
//!
//! - **Zero values are omitted.** The Things Stack leaves out every `0`, `""` and `false`;
//!   ChirpStack does so inside `rxInfo` and `txInfo`, and its documentation example has no
//!   `fCnt`. An absent frame counter therefore means `0`, an absent SNR on a LoRa uplink that
//!   reports an RSSI means `0.0` dB (see [`RxInfo::snr`]), and an absent FPort is `None`.
//! - **64-bit integers may be strings** (`"frequency": "868500000"` in The Things Stack) and
//!   bytes are base64 (standard or URL-safe alphabet, padding optional).
//! - **Case**: The Things Stack writes DevEUIs in upper case, ChirpStack in lower case; Jumeau
//!   always stores them in lower case.
//! - **Decoded numbers**: ChirpStack's codecs hand every number back as a float (`776.0`), so
//!   read values of [`Uplink::decoded`] with [`Uplink::decoded_f64`] or
//!   [`serde_json::Value::as_f64`], never `as_u64`.
//!
//! Nothing here panics, whatever the input: every problem is an [`UplinkError`] that says what
//! was wrong and how to fix it.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

mod chirpstack;
mod codec;
mod error;
pub mod generic;
mod json;
mod topic;
mod tts;

pub use chirpstack::{parse_chirpstack_event, ChirpStackEvent, ChirpStackEventKind, LogLevel};
pub use error::UplinkError;
pub use generic::parse_generic;
pub use topic::{parse_mqtt, parse_topic, MqttMessage, TopicInfo};
pub use tts::{parse_tts_message, TtsDevice, TtsDownlinkEvent, TtsKind, TtsMessage};

/// Which kind of sender a message came from, so that later steps can tell, for instance, which
/// network server to send a downlink through or which quirks shaped a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum NetworkServer {
    /// ChirpStack v4 (HTTP or MQTT integration, JSON encoding).
    ChirpStack,
    /// The Things Stack v3 (webhook, MQTT or Pub/Sub), including The Things Network.
    TheThingsStack,
    /// A gateway or script posting Jumeau's own [generic format](generic).
    Generic,
}

impl NetworkServer {
    /// A short, stable name for logs and the ingestion journal.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkServer::ChirpStack => "chirpstack",
            NetworkServer::TheThingsStack => "the-things-stack",
            NetworkServer::Generic => "generic",
        }
    }
}

impl fmt::Display for NetworkServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity of one LoRaWAN frame, used to drop the copies of it that arrive more than once.
///
/// The same frame reaches Jumeau several times when a device repeats an unconfirmed uplink
/// (`NbTrans` > 1 keeps the frame counter), when two integrations forward it (HTTP and MQTT),
/// or when a frame is roamed between networks. The key is the pair (DevEUI, FCnt) and
/// deliberately leaves out the network server and the reception time: keep the keys seen in a
/// sliding window (a few minutes is plenty) and drop an uplink whose key is already there. The
/// window matters: frame counters restart at 0 after a rejoin or a reset, so the same key comes
/// back legitimately, much later.
///
/// It is small and `Copy` (the DevEUI is held as its 64-bit value) so that a window of recent
/// keys costs little memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct DedupKey {
    /// The DevEUI as a 64-bit number (`0x0101010101010101` for `"0101010101010101"`).
    pub dev_eui: u64,
    /// The uplink frame counter (FCntUp).
    pub f_cnt: u32,
}

impl fmt::Display for DedupKey {
    /// Writes `0101010101010101/42`: the DevEUI in lower-case hex, then the frame counter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}/{}", self.dev_eui, self.f_cnt)
    }
}

/// A geographic position as a network server reports it (WGS 84), used for gateway positions
/// and solved device positions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Location {
    /// Latitude in degrees, -90 to 90.
    pub latitude: f64,
    /// Longitude in degrees, -180 to 180.
    pub longitude: f64,
    /// Altitude in metres above mean sea level, when given (proto3 omits `0`, so an absent
    /// altitude may also mean sea level).
    pub altitude: Option<f64>,
}

/// How one gateway received an uplink: the raw material for coverage maps and for the link
/// quality (RSSI, SNR) a device entity carries as attributes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RxInfo {
    /// The gateway's identifier as the network server names it (ChirpStack: the gateway EUI in
    /// lower-case hex; The Things Stack: the gateway ID, e.g. `eui-0242020000247803`, or
    /// `packetbroker` for roamed traffic).
    pub gateway_id: String,
    /// The gateway's EUI in lower-case hex when the message gives it (The Things Stack's
    /// `gateway_ids.eui`; ChirpStack's gateway ID is already the EUI).
    pub gateway_eui: Option<String>,
    /// Received signal strength in dBm; `None` when not reported.
    pub rssi: Option<i32>,
    /// Signal-to-noise ratio in dB; `None` when not reported.
    ///
    /// proto3 JSON cannot tell "0 dB" from "not reported", and 0 dB is a common value at the
    /// edge of coverage. So for a LoRa uplink whose gateway reports an RSSI but no SNR, the SNR
    /// is taken to be `0.0`: dropping it would bias link-quality averages upwards exactly for
    /// the weakest devices. FSK and LR-FHSS have no SNR, and stay `None`.
    pub snr: Option<f64>,
    /// When the gateway (or, failing that, the network server) received the frame: ChirpStack
    /// `gwTime`, else `nsTime`; The Things Stack `gps_time`, else `time`, else `received_at`.
    pub time: Option<DateTime<Utc>>,
    /// The gateway's position, when the network server knows it.
    pub location: Option<Location>,
}

/// One uplink frame of one device, whatever network server delivered it.
///
/// Built only by the parsers of this module, so the invariants hold: `dev_eui` is 16 lower-case
/// hex digits, `dedup_key` matches `dev_eui` and `f_cnt`, and `received_at` is a real time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Uplink {
    /// Who delivered the message.
    pub source: NetworkServer,
    /// The device's DevEUI: exactly 16 lower-case hexadecimal digits. This is the key that
    /// links a sensor to its twin entity, whatever network server it moves to.
    pub dev_eui: String,
    /// The device's name at the network server (ChirpStack `deviceName`, The Things Stack
    /// `device_id`), or `None` when not given.
    pub device_name: Option<String>,
    /// The application's stable identifier at the network server (ChirpStack
    /// `applicationId`, a UUID; The Things Stack `application_id`).
    pub application: Option<String>,
    /// The device address in the current session (8 lower-case hex digits), if given.
    pub dev_addr: Option<String>,
    /// Tags attached to the device at the network server (ChirpStack `tags`, The Things Stack
    /// `attributes`); often how a commune notes the site or asset a sensor belongs to.
    pub tags: BTreeMap<String, String>,
    /// The uplink frame counter (FCntUp); `0` when the message omits it, as proto3 JSON does.
    pub f_cnt: u32,
    /// The FPort as reported. `Some(0)` is a MAC-only frame (the payload, if any, is MAC
    /// commands, not application data); `None` means the frame carried no port, which is also
    /// how The Things Stack writes port 0. See [`Uplink::application_port`].
    pub f_port: Option<u8>,
    /// Whether the device asked for an acknowledgement (confirmed uplink).
    pub confirmed: bool,
    /// The application payload (FRMPayload) bytes, decrypted by the network server; empty when
    /// the frame had none.
    pub payload: Vec<u8>,
    /// Values already decoded by the network server's payload codec (ChirpStack `object`, The
    /// Things Stack `decoded_payload`, or the generic `object`); `None` when no codec ran.
    /// ChirpStack writes every number here as a float.
    pub decoded: Option<Map<String, Value>>,
    /// Warnings the network server's codec reported while decoding (The Things Stack
    /// `decoded_payload_warnings`).
    pub decoder_warnings: Vec<String>,
    /// The Things Stack's normalized payload (`normalized_payload`: one object per
    /// measurement, with names such as `air.temperature`); empty when absent.
    pub normalized: Vec<Map<String, Value>>,
    /// When the network server received the frame. This is the time of the reading and the
    /// "last seen" of the device for stale-device detection.
    pub received_at: DateTime<Utc>,
    /// One entry per gateway (or antenna) that received the frame, in message order.
    pub rx: Vec<RxInfo>,
    /// Carrier frequency in Hz, if given.
    pub frequency_hz: Option<u64>,
    /// LoRaWAN data-rate index, if given (ChirpStack `dr`; The Things Stack only gives the
    /// modulation parameters below).
    pub dr: Option<u8>,
    /// LoRa spreading factor (7–12), if the uplink used LoRa modulation.
    pub spreading_factor: Option<u8>,
    /// Bandwidth in Hz (e.g. 125000), if given.
    pub bandwidth_hz: Option<u32>,
    /// The network server's own identifier of this message, for the journal and for tracing a
    /// reading back (ChirpStack `deduplicationId`; The Things Stack's `as:up:…` correlation ID).
    pub message_id: Option<String>,
    /// The Things Stack marks uplinks simulated from its console; they are not real readings.
    pub simulated: bool,
    /// The deduplication key of this frame; see [`DedupKey`].
    pub dedup_key: DedupKey,
}

impl Uplink {
    /// The FPort when it carries application data (1–255), `None` for MAC-only or port-less
    /// frames: the port to pick a payload decoder with.
    pub fn application_port(&self) -> Option<u8> {
        self.f_port.filter(|port| *port != 0)
    }

    /// The strongest RSSI among the receiving gateways, in dBm: the device's link quality as a
    /// single attribute.
    pub fn best_rssi(&self) -> Option<i32> {
        self.rx.iter().filter_map(|rx| rx.rssi).max()
    }

    /// The best SNR among the receiving gateways, in dB.
    pub fn best_snr(&self) -> Option<f64> {
        self.rx
            .iter()
            .filter_map(|rx| rx.snr)
            .fold(None, |best: Option<f64>, snr| match best {
                Some(b) if b >= snr => Some(b),
                _ => Some(snr),
            })
    }

    /// A number from the network server's decoded values (e.g. `"battery"`), whether written
    /// as an integer, a float (ChirpStack) or a numeric string; `None` if absent or not a
    /// finite number.
    pub fn decoded_f64(&self, key: &str) -> Option<f64> {
        match self.decoded.as_ref()?.get(key)? {
            Value::Number(n) => n.as_f64().filter(|v| v.is_finite()),
            Value::String(s) => s.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
            _ => None,
        }
    }
}

/// Everything a parser gathers before an [`Uplink`] exists; [`UplinkParts::build`] computes the
/// derived fields so that every source fills them the same way.
struct UplinkParts {
    source: NetworkServer,
    dev_eui: codec::DevEui,
    device_name: Option<String>,
    application: Option<String>,
    dev_addr: Option<String>,
    tags: BTreeMap<String, String>,
    f_cnt: u32,
    f_port: Option<u8>,
    confirmed: bool,
    payload: Vec<u8>,
    decoded: Option<Map<String, Value>>,
    decoder_warnings: Vec<String>,
    normalized: Vec<Map<String, Value>>,
    received_at: DateTime<Utc>,
    rx: Vec<RxInfo>,
    frequency_hz: Option<u64>,
    dr: Option<u8>,
    spreading_factor: Option<u8>,
    bandwidth_hz: Option<u32>,
    message_id: Option<String>,
    simulated: bool,
}

impl UplinkParts {
    fn build(self) -> Uplink {
        let dedup_key = DedupKey {
            dev_eui: self.dev_eui.value,
            f_cnt: self.f_cnt,
        };
        Uplink {
            source: self.source,
            dev_eui: self.dev_eui.text,
            device_name: self.device_name,
            application: self.application,
            dev_addr: self.dev_addr,
            tags: self.tags,
            f_cnt: self.f_cnt,
            f_port: self.f_port,
            confirmed: self.confirmed,
            payload: self.payload,
            decoded: self.decoded,
            decoder_warnings: self.decoder_warnings,
            normalized: self.normalized,
            received_at: self.received_at,
            rx: self.rx,
            frequency_hz: self.frequency_hz,
            dr: self.dr,
            spreading_factor: self.spreading_factor,
            bandwidth_hz: self.bandwidth_hz,
            message_id: self.message_id,
            simulated: self.simulated,
            dedup_key,
        }
    }
}
