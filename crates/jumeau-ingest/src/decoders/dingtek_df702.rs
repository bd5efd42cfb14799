//! Dingtek DF702: ultrasonic level sensor for tanks and bins (level, full / fire / tilt /
//! low-battery alarms, tilt angle, temperature, optional GPS).
//!
//! Profile `dingtek/df702`. Specification: `vendor/dingtek/df702.js` of The Things Network
//! device repository (commit 0a254aaa). Uplinks arrive on fPort 3 (any other port is a
//! [`DecodeError::UnsupportedFPort`]) and are 17 bytes (data) or 25 bytes (data with GPS, or,
//! with data type 3, a parameter report), framed by `0x80` ... `0x81`, byte 3 the data type and
//! byte 4 the frame length.
//!
//! Output fields as the vendor's decoder, as text with their unit, the way it writes them:
//! `level` (`"2000 mm"`), `full`, `fire`, `tilt`, `battery` (alarm booleans), `angle`
//! (`"0 °"`), `temperature` (`"25 ℃"`), and with GPS `longitude` / `latitude` (six decimals,
//! `"116.507430"`); parameter reports give `periodic_interval`, `detection_interval`,
//! `full_alarm_threshold`, `fire_alarm_threshold`, `tilt_alarm_threshold`, `tilt_enable`,
//! `ultrasonic_range`.
//!
//! The GPS coordinates reproduce the vendor's float conversion, which divides the 23-bit
//! mantissa by `0x7fffff` instead of `0x800000` (an error of at most one part in 8 million,
//! under 15 m), so that values match what the network server shows; its six decimals are
//! rounded as JavaScript's `toFixed` rounds.
//!
//! Differences from the vendor's decoder:
//!
//! - The angle's sign: the JavaScript means "negative when the low nibble of byte 9 is set"
//!   but, through an operator precedence slip (`bytes[9] & (0x0f === 0x00)`), always negates
//!   the angle. This decoder applies the intended sign.
//! - A frame whose head is not `0x80`, whose tail is not `0x81` or whose length byte does not
//!   match its length is a [`DecodeError::InvalidValue`] (the vendor's decoder decodes any 17
//!   or 25 bytes).
//! - A coordinate beyond ±180° / ±90° (a value the vendor's conversion produces only from
//!   garbage) is a [`DecodeError::InvalidValue`].

use serde_json::Value;

use super::util::{check_port, js_to_fixed, non_empty, Frame, Object};
use super::{DecodeError, Decoder};

/// Decoder of the `dingtek/df702` profile.
pub(crate) struct Df702;

impl Decoder for Df702 {
    fn profile(&self) -> &'static str {
        "dingtek/df702"
    }

    fn decode(&self, f_port: u8, bytes: &[u8]) -> Result<Object, DecodeError> {
        check_port(f_port, &[3], "3")?;
        non_empty(bytes)?;
        let length = bytes.len();
        if length != 17 && length != 25 {
            return Err(DecodeError::BadLength {
                actual: length,
                expected: "a DF702 uplink is 17 bytes, or 25 bytes with GPS or parameters",
            });
        }
        let f = Frame(bytes);
        check_framing(f)?;
        let data_type = f.u8(3, &"data type")?;
        let mut out = Object::new();
        if length == 25 && data_type == 0x03 {
            parameters(f, &mut out)?;
        } else if length == 25 {
            out.insert("level".to_owned(), level(f)?);
            out.insert(
                "longitude".to_owned(),
                coordinate(f, 8, 180.0, "longitude")?,
            );
            out.insert("latitude".to_owned(), coordinate(f, 12, 90.0, "latitude")?);
            alarms_angle_temperature(f, &mut out, 16)?;
        } else {
            out.insert("level".to_owned(), level(f)?);
            alarms_angle_temperature(f, &mut out, 8)?;
        }
        Ok(out)
    }
}

/// Checks the `0x80` head, the `0x81` tail and the length byte.
fn check_framing(f: Frame<'_>) -> Result<(), DecodeError> {
    let last = f.len().saturating_sub(1);
    let head = f.u8(0, &"frame head")?;
    let tail = f.u8(last, &"frame tail")?;
    let length = f.u8(4, &"frame length")?;
    let invalid = |what: &str, offset, reason: String| DecodeError::InvalidValue {
        what: what.to_owned(),
        offset,
        reason,
    };
    if head != 0x80 {
        return Err(invalid(
            "frame head",
            0,
            format!("0x{head:02x}, 0x80 expected"),
        ));
    }
    if tail != 0x81 {
        return Err(invalid(
            "frame tail",
            last,
            format!("0x{tail:02x}, 0x81 expected"),
        ));
    }
    if usize::from(length) != f.len() {
        return Err(invalid(
            "frame length",
            4,
            format!("{length}, but the frame is {} bytes", f.len()),
        ));
    }
    Ok(())
}

/// The level, bytes 5-6, in mm.
fn level(f: Frame<'_>) -> Result<Value, DecodeError> {
    Ok(format!("{} mm", f.u16_be(5, &"level")?).into())
}

/// Temperature, tilt angle and the four alarms, which start at `at` (8 in data frames, 16 in
/// GPS frames): temperature (1), angle sign (1), angle (1), full / fire nibbles (1), tilt /
/// battery nibbles (1).
fn alarms_angle_temperature(f: Frame<'_>, out: &mut Object, at: usize) -> Result<(), DecodeError> {
    let temperature = f.u8(at, &"temperature")?;
    let sign = f.u8(at + 1, &"angle sign")?;
    let angle = i16::from(f.u8(at + 2, &"angle")?);
    let full_fire = f.u8(at + 3, &"full and fire alarms")?;
    let tilt_battery = f.u8(at + 4, &"tilt and battery alarms")?;
    let angle = if sign & 0x0f == 0 { angle } else { -angle };
    out.insert("full".to_owned(), (full_fire >> 4 != 0).into());
    out.insert("fire".to_owned(), (full_fire & 0x0f != 0).into());
    out.insert("tilt".to_owned(), (tilt_battery >> 4 != 0).into());
    out.insert("battery".to_owned(), (tilt_battery & 0x0f != 0).into());
    out.insert("angle".to_owned(), format!("{angle} °").into());
    out.insert("temperature".to_owned(), format!("{temperature} ℃").into());
    Ok(())
}

/// A coordinate stored at `at` as a little-endian IEEE 754 single, converted as the vendor's
/// `hex2float` converts it, with six decimals.
fn coordinate(f: Frame<'_>, at: usize, limit: f64, what: &str) -> Result<Value, DecodeError> {
    let bits = f.u32_le(at, &what)?;
    let value = vendor_hex2float(bits);
    if !value.is_finite() || value.abs() > limit {
        return Err(DecodeError::InvalidValue {
            what: what.to_owned(),
            offset: at,
            reason: format!("{value} is beyond ±{limit}°"),
        });
    }
    Ok(js_to_fixed(value, 6).into())
}

/// The vendor's `hex2float`: sign, exponent and mantissa of an IEEE 754 single, with the
/// mantissa divided by `0x7fffff` (not `0x800000`) and no special case for zero, subnormals,
/// infinities or NaN.
fn vendor_hex2float(bits: u32) -> f64 {
    let sign = if bits & 0x8000_0000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::try_from((bits >> 23) & 0xff).unwrap_or(0) - 127;
    let mantissa = 1.0 + f64::from(bits & 0x007f_ffff) / f64::from(0x007f_ffff);
    sign * mantissa * 2f64.powi(exponent)
}

/// A parameter report (25 bytes, data type 3).
fn parameters(f: Frame<'_>, out: &mut Object) -> Result<(), DecodeError> {
    let periodic = f.u8(7, &"periodic interval")?;
    let detection = f.u8(8, &"detection interval")?;
    let full = f.u8(9, &"full alarm threshold")?;
    let fire = f.u8(10, &"fire alarm threshold")?;
    let tilt = f.u8(11, &"tilt alarm threshold")?;
    let tilt_enable = f.u8(12, &"tilt enable")?;
    let range = f.u8(13, &"ultrasonic range")?;
    let mut put = |key: &str, value: Value| {
        out.insert(key.to_owned(), value);
    };
    put("periodic_interval", format!("{periodic} hours").into());
    put("detection_interval", format!("{detection} minutes").into());
    put("full_alarm_threshold", format!("{full} cm").into());
    put("fire_alarm_threshold", format!("{fire} ℃").into());
    put("tilt_alarm_threshold", format!("{tilt} °").into());
    put("tilt_enable", (tilt_enable != 0).into());
    let range_mm = if range == 0 { 2000 } else { 5000 };
    put("ultrasonic_range", format!("{range_mm} mm").into());
    Ok(())
}
