//! The Milesight IoT payload format, shared by the AM and EM series: a sequence of channels,
//! each a channel id byte, a channel type byte, then a value whose length the pair fixes.
//!
//! Each device module lists the channels of its vendor decoder (The Things Network device
//! repository, `vendor/milesight-iot/<device>.js`); this module walks the payload. Differences
//! from the vendor's decoders, for every Milesight profile:
//!
//! - A channel id and type pair the device's decoder does not define is a
//!   [`DecodeError::UnknownChannel`]; the vendor's decoders silently stop there and return what
//!   they read before. Since the pair does not say how long its value is, nothing after it can
//!   be read. This includes the `0xff` device-information channels sent after a join, which the
//!   cited decoders do not decode either.
//! - A value cut short by the end of the payload is a [`DecodeError::Truncated`]; the vendor's
//!   decoders read missing bytes as `undefined` and output `NaN` or garbage.

use std::fmt;

use serde_json::Value;

use super::util::{js_number, non_empty, Object, Reader};
use super::DecodeError;

/// How a channel's value is read and named.
#[derive(Clone, Copy)]
pub(crate) enum Read {
    /// One unsigned byte.
    U8(&'static str),
    /// One unsigned byte divided by the factor (humidity: / 2).
    U8Div(&'static str, f64),
    /// Signed 16 bits little-endian.
    I16(&'static str),
    /// Signed 16 bits little-endian divided by the factor.
    I16Div(&'static str, f64),
    /// Unsigned 16 bits little-endian.
    U16(&'static str),
    /// Unsigned 16 bits little-endian divided by the factor.
    U16Div(&'static str, f64),
    /// Unsigned 32 bits little-endian.
    U32(&'static str),
    /// One byte: `on` when it is 1, `off` otherwise, as the vendor's decoders do.
    Flag(&'static str, &'static str, &'static str),
    /// A layout of its own, read by the function.
    Custom(fn(&mut Reader<'_>, &mut Object, &dyn fmt::Display) -> Result<(), DecodeError>),
}

/// One channel of a device: its id and type bytes, a name for error messages, and its value.
pub(crate) struct Channel {
    pub(crate) id: u8,
    pub(crate) kind: u8,
    pub(crate) name: &'static str,
    pub(crate) read: Read,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "channel 0x{:02x} 0x{:02x} ({})",
            self.id, self.kind, self.name
        )
    }
}

/// Decodes a Milesight payload made of the given channels (any fPort check is the caller's).
pub(crate) fn decode(bytes: &[u8], channels: &[Channel]) -> Result<Object, DecodeError> {
    non_empty(bytes)?;
    let mut r = Reader::new(bytes);
    let mut out = Object::new();
    while !r.is_empty() {
        let offset = r.pos();
        let [id, kind] = r.array::<2>(&"channel header (id and type)")?;
        let channel = channels
            .iter()
            .find(|c| c.id == id && c.kind == kind)
            .ok_or_else(|| DecodeError::UnknownChannel {
                channel: format!("0x{id:02x} 0x{kind:02x}"),
                offset,
            })?;
        let (key, value) = match channel.read {
            Read::U8(key) => (key, r.u8(channel)?.into()),
            Read::U8Div(key, by) => (key, js_number(f64::from(r.u8(channel)?) / by)),
            Read::I16(key) => (key, r.i16_le(channel)?.into()),
            Read::I16Div(key, by) => (key, js_number(f64::from(r.i16_le(channel)?) / by)),
            Read::U16(key) => (key, r.u16_le(channel)?.into()),
            Read::U16Div(key, by) => (key, js_number(f64::from(r.u16_le(channel)?) / by)),
            Read::U32(key) => (key, r.u32_le(channel)?.into()),
            Read::Flag(key, on, off) => {
                let state = if r.u8(channel)? == 1 { on } else { off };
                (key, Value::from(state))
            }
            Read::Custom(read) => {
                read(&mut r, &mut out, channel)?;
                continue;
            }
        };
        out.insert(key.to_owned(), value);
    }
    Ok(out)
}

/// Battery level, channel `0x01 0x75`, in %.
pub(crate) const BATTERY: Channel = Channel {
    id: 0x01,
    kind: 0x75,
    name: "battery",
    read: Read::U8("battery"),
};

/// Temperature, channel `0x03 0x67`, signed tenths of °C.
pub(crate) const TEMPERATURE: Channel = Channel {
    id: 0x03,
    kind: 0x67,
    name: "temperature",
    read: Read::I16Div("temperature", 10.0),
};

/// Relative humidity, channel `0x04 0x68`, in half percent.
pub(crate) const HUMIDITY: Channel = Channel {
    id: 0x04,
    kind: 0x68,
    name: "humidity",
    read: Read::U8Div("humidity", 2.0),
};
