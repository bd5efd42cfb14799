//! Milesight EM300-DI: pulse counter (water or gas meter with a pulse output) or digital input,
//! with temperature and humidity.
//!
//! Profile `milesight-iot/em300-di`. Specification: `vendor/milesight-iot/em300-di.js` of The
//! Things Network device repository (commit 27d8ce26). Any application port is accepted (the
//! vendor's decoder does not look at it; Milesight sends on port 85).
//!
//! Output fields as the vendor's decoder: `battery` (%), `temperature` (°C), `humidity` (%RH),
//! `gpio` (digital input level), `pulse` (pulse count, unsigned 32 bits), and `history`, an
//! array of stored points `{timestamp, temperature, humidity, gpio | pulse}` (Unix seconds).
//!
//! A history record is 13 bytes: timestamp (4), temperature (2), humidity (1), mode (1), GPIO
//! level (1), pulse count (4); mode 1 reports `gpio`, mode 2 `pulse`. The vendor's decoder
//! stops silently when fewer than 12 bytes remain (and reads past the end with exactly 12);
//! this decoder requires the 13 bytes and reports a truncated record.

use std::fmt;

use serde_json::Value;

use super::milesight::{self, Channel, Read, BATTERY, HUMIDITY, TEMPERATURE};
use super::util::{check_app_port, js_number, Object, Reader};
use super::{DecodeError, Decoder};

/// Decoder of the `milesight-iot/em300-di` profile.
pub(crate) struct Em300Di;

const CHANNELS: [Channel; 6] = [
    BATTERY,
    TEMPERATURE,
    HUMIDITY,
    Channel {
        id: 0x05,
        kind: 0x00,
        name: "GPIO",
        read: Read::U8("gpio"),
    },
    Channel {
        id: 0x05,
        kind: 0xc8,
        name: "pulse counter",
        read: Read::U32("pulse"),
    },
    Channel {
        id: 0x20,
        kind: 0xce,
        name: "history record",
        read: Read::Custom(history),
    },
];

/// Reads one 13-byte history record and appends it to `history`.
fn history(
    r: &mut Reader<'_>,
    out: &mut Object,
    what: &dyn fmt::Display,
) -> Result<(), DecodeError> {
    let record = r.take(13, what)?;
    let mut rec = Reader::new(record);
    let timestamp = rec.u32_le(what)?;
    let temperature = rec.i16_le(what)?;
    let humidity = rec.u8(what)?;
    let mode = rec.u8(what)?;
    let gpio = rec.u8(what)?;
    let pulse = rec.u32_le(what)?;

    let mut point = Object::new();
    point.insert("timestamp".to_owned(), timestamp.into());
    point.insert(
        "temperature".to_owned(),
        js_number(f64::from(temperature) / 10.0),
    );
    point.insert("humidity".to_owned(), js_number(f64::from(humidity) / 2.0));
    match mode {
        1 => {
            point.insert("gpio".to_owned(), gpio.into());
        }
        2 => {
            point.insert("pulse".to_owned(), pulse.into());
        }
        _ => {}
    }

    let entry = out
        .entry("history")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(points) = entry {
        points.push(Value::Object(point));
    }
    Ok(())
}

impl Decoder for Em300Di {
    fn profile(&self) -> &'static str {
        "milesight-iot/em300-di"
    }

    fn decode(&self, f_port: u8, bytes: &[u8]) -> Result<Object, DecodeError> {
        check_app_port(f_port)?;
        milesight::decode(bytes, &CHANNELS)
    }
}
