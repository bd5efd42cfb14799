//! Dragino LDDS75: ultrasonic distance to a water or material level, with an optional DS18B20
//! temperature probe.
//!
//! Profile `dragino/ldds75`. Uplinks are 8 bytes on fPort 2 (big-endian): battery (2: 14 bits
//! of mV), distance (2, mm), interrupt flag (1), DS18B20 temperature (2, signed tenths of °C),
//! sensor flag (1). Any other port is a [`DecodeError::UnsupportedFPort`].
//!
//! Output fields, as Dragino's own decoder (`LDDS75/LDDS75_Decoder_V1.1.4.js` of
//! github.com/dragino/dragino-end-node-decoder): `Bat` (V), `Distance` (mm),
//! `Interrupt_flag`, `TempC_DS18B20` (°C, a number here; Dragino's decoder gives the text of
//! `toFixed(2)`), `Sensor_flag`. Its constant `Node_type` is left out.
//!
//! # Decision: not the Things Network codec
//!
//! The Things Network codec (`vendor/dragino/ldds75.js`, commit 0874a8f5, unchanged in later
//! versions) is wrong on every frame: for a 5-byte payload it reports the battery bits as
//! `distance` (and the distance as `value`), for any other length, including the device's
//! 8-byte uplink, it reports `{"distance": "No Sensor"}`. Its YAML example (4 bytes, "No
//! Sensor") only shows that second branch. Following it would throw every reading away, so this
//! decoder follows the device's documented frame; the 4-byte example payload is too short for
//! it and gives [`DecodeError::BadLength`]. See `DECISIONS.md`.

use super::util::{check_port, js_number, non_empty, Frame, Object};
use super::{DecodeError, Decoder};

/// Decoder of the `dragino/ldds75` profile.
pub(crate) struct Ldds75;

impl Decoder for Ldds75 {
    fn profile(&self) -> &'static str {
        "dragino/ldds75"
    }

    fn decode(&self, f_port: u8, bytes: &[u8]) -> Result<Object, DecodeError> {
        check_port(f_port, &[2], "2")?;
        non_empty(bytes)?;
        if bytes.len() != 8 {
            return Err(DecodeError::BadLength {
                actual: bytes.len(),
                expected: "an LDDS75 uplink is 8 bytes (battery, distance, interrupt flag, \
                           DS18B20 temperature, sensor flag)",
            });
        }
        let f = Frame(bytes);
        let battery = f.u16_be(0, &"battery")?;
        let distance = f.u16_be(2, &"distance")?;
        let interrupt = f.u8(4, &"interrupt flag")?;
        let temperature = f.i16_be(5, &"DS18B20 temperature")?;
        let sensor = f.u8(7, &"sensor flag")?;

        let mut out = Object::new();
        out.insert(
            "Bat".to_owned(),
            js_number(f64::from(battery & 0x3fff) / 1000.0),
        );
        out.insert("Distance".to_owned(), distance.into());
        out.insert("Interrupt_flag".to_owned(), interrupt.into());
        out.insert(
            "TempC_DS18B20".to_owned(),
            js_number(f64::from(temperature) / 10.0),
        );
        out.insert("Sensor_flag".to_owned(), sensor.into());
        Ok(out)
    }
}
