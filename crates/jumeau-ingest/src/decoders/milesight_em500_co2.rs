//! Milesight EM500-CO2: outdoor/indoor CO2, temperature, humidity and barometric pressure.
//!
//! Profile `milesight-iot/em500-co2`. Specification: `vendor/milesight-iot/em500-co2.js` of
//! The Things Network device repository (commit 0a254aaa, legacy `Decoder(bytes, port)`).
//! Any application port is accepted (the vendor's decoder does not look at it; Milesight sends
//! on port 85).
//!
//! Output fields as the vendor's decoder: `battery` (%), `temperature` (°C), `humidity` (%RH),
//! `co2` (ppm) and `pressure` (hPa). The vendor reads CO2 and pressure as signed 16-bit values;
//! so does this decoder (no sensor reading reaches the sign bit).

use super::milesight::{self, Channel, Read, BATTERY, HUMIDITY, TEMPERATURE};
use super::util::{check_app_port, Object};
use super::{DecodeError, Decoder};

/// Decoder of the `milesight-iot/em500-co2` profile.
pub(crate) struct Em500Co2;

const CHANNELS: [Channel; 5] = [
    BATTERY,
    TEMPERATURE,
    HUMIDITY,
    Channel {
        id: 0x05,
        kind: 0x7d,
        name: "CO2",
        read: Read::I16("co2"),
    },
    Channel {
        id: 0x06,
        kind: 0x73,
        name: "pressure",
        read: Read::I16Div("pressure", 10.0),
    },
];

impl Decoder for Em500Co2 {
    fn profile(&self) -> &'static str {
        "milesight-iot/em500-co2"
    }

    fn decode(&self, f_port: u8, bytes: &[u8]) -> Result<Object, DecodeError> {
        check_app_port(f_port)?;
        milesight::decode(bytes, &CHANNELS)
    }
}
