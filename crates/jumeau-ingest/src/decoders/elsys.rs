//! The Elsys payload format, shared by every Elsys sensor: a sequence of type-value pairs,
//! one type byte followed by a value whose length the type fixes.
//!
//! Specification: the vendor's decoder `vendor/elsys/elsys.js` of The Things Network device
//! repository (commit 0a254aaa), which both the ERS CO2 and the ELT Ultrasonic codecs use.
//! Field names, scales and signedness follow it, with these differences:
//!
//! - A type byte the vendor's table does not define (including `0x3d`, debug, which it
//!   declares but does not decode) is a [`DecodeError::UnknownChannel`]; the vendor's decoder
//!   silently stops there and returns what it read before.
//! - A value cut short by the end of the payload is a [`DecodeError::Truncated`]; the vendor's
//!   decoder reads missing bytes as zero.
//! - `pulseAbs` and `pulseAbs2` are read as unsigned 32-bit counters (0 to 4294967295, as the
//!   vendor's own comment says); the vendor's JavaScript shifts the top byte into the sign bit
//!   and gives negative counts above 2^31. `pressure` and `analogUv` stay signed, as in the
//!   vendor's decoder.

use serde_json::Value;

use super::util::{js_number, non_empty, Object, Reader};
use super::DecodeError;

/// The name of each type byte of the vendor's table, used in error messages.
fn type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        0x01 => "temperature",
        0x02 => "humidity",
        0x03 => "acceleration",
        0x04 => "light",
        0x05 => "motion",
        0x06 => "co2",
        0x07 => "vdd",
        0x08 => "analog1",
        0x09 => "gps",
        0x0a => "pulse1",
        0x0b => "pulse1 absolute",
        0x0c => "external temperature",
        0x0d => "digital input",
        0x0e => "distance",
        0x0f => "acceleration motion",
        0x10 => "IR temperature",
        0x11 => "occupancy",
        0x12 => "water leak",
        0x13 => "grideye",
        0x14 => "pressure",
        0x15 => "sound",
        0x16 => "pulse2",
        0x17 => "pulse2 absolute",
        0x18 => "analog2",
        0x19 => "external temperature 2",
        0x1a => "digital input 2",
        0x1b => "analog uV",
        0x1c => "tvoc",
        _ => return None,
    })
}

/// Decodes an Elsys payload (any fPort check is the caller's).
pub(crate) fn decode(bytes: &[u8]) -> Result<Object, DecodeError> {
    non_empty(bytes)?;
    let mut r = Reader::new(bytes);
    let mut out = Object::new();
    while !r.is_empty() {
        let offset = r.pos();
        let t = r.u8(&"type byte")?;
        let name = type_name(t).ok_or_else(|| DecodeError::UnknownChannel {
            channel: format!("type 0x{t:02x}"),
            offset,
        })?;
        let what = format!("type 0x{t:02x} ({name})");
        let what = &what;
        let mut put = |key: &str, value: Value| {
            out.insert(key.to_owned(), value);
        };
        match t {
            0x01 => put("temperature", tenths(r.i16_be(what)?)),
            0x02 => put("humidity", r.u8(what)?.into()),
            0x03 => {
                let [x, y, z] = r.array::<3>(what)?.map(|b| i8::from_be_bytes([b]));
                put("x", x.into());
                put("y", y.into());
                put("z", z.into());
            }
            0x04 => put("light", r.u16_be(what)?.into()),
            0x05 => put("motion", r.u8(what)?.into()),
            0x06 => put("co2", r.u16_be(what)?.into()),
            0x07 => put("vdd", r.u16_be(what)?.into()),
            0x08 => put("analog1", r.u16_be(what)?.into()),
            0x09 => {
                let lat = r.u24_be(what)?;
                let long = r.u24_be(what)?;
                put("lat", lat.into());
                put("long", long.into());
            }
            0x0a => put("pulse1", r.u16_be(what)?.into()),
            0x0b => put("pulseAbs", r.u32_be(what)?.into()),
            0x0c => put("externalTemperature", tenths(r.i16_be(what)?)),
            0x0d => put("digital", r.u8(what)?.into()),
            0x0e => put("distance", r.u16_be(what)?.into()),
            0x0f => put("accMotion", r.u8(what)?.into()),
            0x10 => {
                let internal = r.i16_be(what)?;
                let external = r.i16_be(what)?;
                put("irInternalTemperature", tenths(internal));
                put("irExternalTemperature", tenths(external));
            }
            0x11 => put("occupancy", r.u8(what)?.into()),
            0x12 => put("waterleak", r.u8(what)?.into()),
            0x13 => {
                let reference = f64::from(r.u8(what)?);
                let pixels = r.take(64, what)?;
                let temperatures = pixels
                    .iter()
                    .map(|&p| js_number(reference + f64::from(p) / 10.0))
                    .collect();
                put("grideye", Value::Array(temperatures));
            }
            0x14 => put("pressure", js_number(f64::from(r.i32_be(what)?) / 1000.0)),
            0x15 => {
                let [peak, avg] = r.array::<2>(what)?;
                put("soundPeak", peak.into());
                put("soundAvg", avg.into());
            }
            0x16 => put("pulse2", r.u16_be(what)?.into()),
            0x17 => put("pulseAbs2", r.u32_be(what)?.into()),
            0x18 => put("analog2", r.u16_be(what)?.into()),
            0x19 => {
                // Repeated values (several probes) become an array, as in the vendor's decoder.
                let value = tenths(r.i16_be(what)?);
                match out.get_mut("externalTemperature2") {
                    Some(Value::Array(values)) => values.push(value),
                    Some(previous) => {
                        let first = previous.take();
                        *previous = Value::Array(vec![first, value]);
                    }
                    None => {
                        out.insert("externalTemperature2".to_owned(), value);
                    }
                }
            }
            0x1a => put("digital2", r.u8(what)?.into()),
            0x1b => put("analogUv", r.i32_be(what)?.into()),
            0x1c => put("tvoc", r.u16_be(what)?.into()),
            _ => {
                return Err(DecodeError::UnknownChannel {
                    channel: format!("type 0x{t:02x}"),
                    offset,
                })
            }
        }
    }
    Ok(out)
}

/// A signed tenth, as the vendor divides by 10.
fn tenths(raw: i16) -> Value {
    js_number(f64::from(raw) / 10.0)
}
