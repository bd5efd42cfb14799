//! Milesight EM500-UDL: ultrasonic distance to a water or material level.
//!
//! Profile `milesight-iot/em500-udl`. Specification: `vendor/milesight-iot/em500-udl.js` of
//! The Things Network device repository (commit 0e61ae32; the later stored version 62c8acdd
//! decodes the same way). Any application port is accepted (the vendor's decoder does not look
//! at it; Milesight sends on port 85).
//!
//! Output fields: `battery` (%) and `distance` in **metres**.
//!
//! # Decision: the JavaScript, not the YAML example
//!
//! The device sends the distance in millimetres (Milesight's payload table for the EM500-UDL);
//! the vendor's JavaScript divides it by 1000 and documents `distance` as `Unit: m`. The
//! codec's YAML examples (`vendor/milesight-iot/em500-udl-codec.yaml`) give the raw millimetres
//! instead (`03 82 1e 00` gives `distance: 30` there, `0.03` from the JavaScript): they were
//! copied from Milesight's own README, whose decoder outputs millimetres. The Things Stack
//! decodes real devices with the JavaScript, so this decoder follows it: `0.03` m. The value is
//! read as signed 16 bits, as the JavaScript does. See `DECISIONS.md`.

use super::milesight::{self, Channel, Read, BATTERY};
use super::util::{check_app_port, Object};
use super::{DecodeError, Decoder};

/// Decoder of the `milesight-iot/em500-udl` profile.
pub(crate) struct Em500Udl;

const CHANNELS: [Channel; 2] = [
    BATTERY,
    Channel {
        id: 0x03,
        kind: 0x82,
        name: "distance",
        read: Read::I16Div("distance", 1000.0),
    },
];

impl Decoder for Em500Udl {
    fn profile(&self) -> &'static str {
        "milesight-iot/em500-udl"
    }

    fn decode(&self, f_port: u8, bytes: &[u8]) -> Result<Object, DecodeError> {
        check_app_port(f_port)?;
        milesight::decode(bytes, &CHANNELS)
    }
}
