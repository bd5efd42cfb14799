//! Milesight AM319: indoor ambience monitoring (temperature, humidity, PIR activity, light
//! level, CO2, TVOC, pressure, HCHO, PM2.5, PM10, O3).
//!
//! Profile `milesight-iot/am319`. Specification: `vendor/milesight-iot/am319.js` of The Things
//! Network device repository (commit a74c9129), which is the AM307 decoder with two field names
//! changed: the PIR channel is `activity` and PM2.5 is `pm2.5`. Any application port is
//! accepted (the vendor's decoder does not look at it; Milesight sends on port 85).
//!
//! Output fields as the vendor's decoder: `battery` (%), `temperature` (°C), `humidity` (%RH),
//! `activity` (`"trigger"` or `"idle"`), `light_level`, `co2` (ppm), `tvoc`, `pressure` (hPa),
//! `hcho` (mg/m³), `pm2.5`, `pm10` (µg/m³), `o3` (ppm), `beep` (`"yes"` or `"no"`).
//!
//! The vendor codec's (commented-out) example lists `battery: 92`, but its payload has no
//! battery channel; the output here has no `battery` either (see `DECISIONS.md`).

use super::milesight::{self, Channel, Read, BATTERY, HUMIDITY, TEMPERATURE};
use super::util::{check_app_port, Object};
use super::{DecodeError, Decoder};

/// Decoder of the `milesight-iot/am319` profile.
pub(crate) struct Am319;

const CHANNELS: [Channel; 13] = [
    BATTERY,
    TEMPERATURE,
    HUMIDITY,
    Channel {
        id: 0x05,
        kind: 0x00,
        name: "PIR activity",
        read: Read::Flag("activity", "trigger", "idle"),
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
        read: Read::U16("pm2.5"),
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

impl Decoder for Am319 {
    fn profile(&self) -> &'static str {
        "milesight-iot/am319"
    }

    fn decode(&self, f_port: u8, bytes: &[u8]) -> Result<Object, DecodeError> {
        check_app_port(f_port)?;
        milesight::decode(bytes, &CHANNELS)
    }
}
