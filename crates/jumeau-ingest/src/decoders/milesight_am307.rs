//! Milesight AM307: indoor ambience monitoring (temperature, humidity, PIR, light level, CO2,
//! TVOC, pressure).
//!
//! Profile `milesight-iot/am307`. Specification: `vendor/milesight-iot/am307.js` of The Things
//! Network device repository (commit a74c9129, shared with the AM319 apart from two field
//! names) and Milesight's payload table for the AM300 series. The vendor's decoder does not
//! look at the fPort (Milesight sends on port 85), so any application port is accepted.
//!
//! Output fields as the vendor's decoder: `battery` (%), `temperature` (°C), `humidity` (%RH),
//! `pir` (`"trigger"` or `"idle"`), `light_level` (0 to 5), `co2` (ppm), `tvoc`, `pressure`
//! (hPa), `hcho` (mg/m³), `pm2_5`, `pm10` (µg/m³), `o3` (ppm), `beep` (`"yes"` or `"no"`).
//!
//! The vendor codec's first example (`vendor/milesight-iot/am307-codec.yaml`) ends with the
//! bytes `05 6a 49 00`: channel `0x05 0x6a` is the AM104/AM107 activity counter, which the
//! AM307 does not have (its PIR is `0x05 0x00`). The vendor's decoder silently stops there;
//! this decoder reports the unknown channel (see `DECISIONS.md`).

use super::milesight::{self, Channel, Read, BATTERY, HUMIDITY, TEMPERATURE};
use super::util::{check_app_port, Object};
use super::{DecodeError, Decoder};

/// Decoder of the `milesight-iot/am307` profile.
pub(crate) struct Am307;

const CHANNELS: [Channel; 13] = [
    BATTERY,
    TEMPERATURE,
    HUMIDITY,
    Channel {
        id: 0x05,
        kind: 0x00,
        name: "PIR",
        read: Read::Flag("pir", "trigger", "idle"),
    },
    Channel {
        id: 0x06,
        kind: 0xcb,
        name: "light level",
        read: Read::U8("light_level"),
    },
    Channel {
        id: 0x07,
        kind: 0x7d,
        name: "CO2",
        read: Read::U16("co2"),
    },
    Channel {
        id: 0x08,
        kind: 0x7d,
        name: "TVOC",
        read: Read::U16("tvoc"),
    },
    Channel {
        id: 0x09,
        kind: 0x73,
        name: "pressure",
        read: Read::U16Div("pressure", 10.0),
    },
    Channel {
        id: 0x0a,
        kind: 0x7d,
        name: "HCHO",
        read: Read::U16Div("hcho", 100.0),
    },
    Channel {
        id: 0x0b,
        kind: 0x7d,
        name: "PM2.5",
        read: Read::U16("pm2_5"),
    },
    Channel {
        id: 0x0c,
        kind: 0x7d,
        name: "PM10",
        read: Read::U16("pm10"),
    },
    Channel {
        id: 0x0d,
        kind: 0x7d,
        name: "O3",
        read: Read::U16Div("o3", 100.0),
    },
    Channel {
        id: 0x0e,
        kind: 0x01,
        name: "beep",
        read: Read::Flag("beep", "yes", "no"),
    },
];

impl Decoder for Am307 {
    fn profile(&self) -> &'static str {
        "milesight-iot/am307"
    }

    fn decode(&self, f_port: u8, bytes: &[u8]) -> Result<Object, DecodeError> {
        check_app_port(f_port)?;
        milesight::decode(bytes, &CHANNELS)
    }
}
