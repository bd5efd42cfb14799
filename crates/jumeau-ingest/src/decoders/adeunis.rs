//! Parts shared by the Adeunis frame formats: every frame starts with a frame code and a status
//! byte, optional timestamps count seconds since 2013-01-01 UTC, and the vendor's codec wraps
//! its result as `{"bytes": {"type": ..., "status": {...}, ...}}`.
//!
//! Specification: the Adeunis codec libraries of The Things Network device repository
//! (`vendor/adeunis/comfort_co2_lib.js`, `vendor/adeunis/pulse_lib.js`, commit 0a254aaa), read
//! for their layout only; field names, order and units follow them.

use std::fmt;

use serde_json::Value;

use super::util::{js_date_json_without_z, non_empty, Frame, Object};
use super::DecodeError;

/// Unix time of 2013-01-01T00:00:00Z, the origin of Adeunis timestamps.
const EPOCH_2013: i64 = 1_356_998_400;

/// Bit of the status byte saying a 4-byte timestamp is in the frame.
const TIMESTAMP_FLAG: u8 = 0x04;

/// The frame code and status byte of an Adeunis frame.
pub(crate) fn header(bytes: &[u8]) -> Result<(u8, u8), DecodeError> {
    non_empty(bytes)?;
    let f = Frame(bytes);
    Ok((f.u8(0, &"frame code")?, f.u8(1, &"status byte")?))
}

/// Whether the status byte announces a timestamp.
pub(crate) fn has_timestamp(status: u8) -> bool {
    status & TIMESTAMP_FLAG != 0
}

/// The status object of every frame. `extended` adds the Comfort CO2's
/// `configurationInconsistency`; both products add `timestamp` (whether one is present).
/// `hardwareError` is always `false`, as in the vendor's codec.
pub(crate) fn status(status: u8, extended: bool) -> Value {
    let mut s = Object::new();
    s.insert("frameCounter".to_owned(), ((status & 0xe0) >> 5).into());
    s.insert("hardwareError".to_owned(), false.into());
    s.insert("lowBattery".to_owned(), (status & 0x02 != 0).into());
    s.insert("configurationDone".to_owned(), (status & 0x01 != 0).into());
    if extended {
        s.insert(
            "configurationInconsistency".to_owned(),
            (status & 0x08 != 0).into(),
        );
    }
    s.insert("timestamp".to_owned(), has_timestamp(status).into());
    Value::Object(s)
}

/// The timestamp stored at `at` as the vendor writes it: `2023-12-28T19:22:17.000` (UTC).
pub(crate) fn timestamp(f: Frame<'_>, at: usize) -> Result<Value, DecodeError> {
    let seconds = f.u32_be(at, &"timestamp")?;
    js_date_json_without_z(i64::from(seconds) + EPOCH_2013)
        .map(Value::from)
        .ok_or_else(|| DecodeError::InvalidValue {
            what: "timestamp".to_owned(),
            offset: at,
            reason: "out of the calendar's range".to_owned(),
        })
}

/// A `{"unit": ..., "value": ...}` pair, the vendor's shape for physical values.
pub(crate) fn unit_value(unit: &str, value: impl Into<Value>) -> Value {
    let mut v = Object::new();
    v.insert("unit".to_owned(), unit.into());
    v.insert("value".to_owned(), value.into());
    Value::Object(v)
}

/// A decoded frame: its `type` text and its fields after the status.
pub(crate) struct Content {
    pub(crate) kind: &'static str,
    pub(crate) fields: Object,
}

impl Content {
    /// An empty content of the given `type` text.
    pub(crate) fn new(kind: &'static str) -> Self {
        Self {
            kind,
            fields: Object::new(),
        }
    }

    /// Adds a field.
    pub(crate) fn put(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.to_owned(), value.into());
    }

    /// The vendor codec's output: `{"bytes": {"type", "status", ...fields}}`.
    pub(crate) fn wrap(self, status: Value) -> Object {
        let mut inner = Object::new();
        inner.insert("type".to_owned(), self.kind.into());
        inner.insert("status".to_owned(), status);
        inner.extend(self.fields);
        let mut out = Object::new();
        out.insert("bytes".to_owned(), Value::Object(inner));
        out
    }
}

/// A frame too short for its code: names the frame in the truncation error.
pub(crate) struct Named(pub(crate) &'static str, pub(crate) &'static str);

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of frame {}", self.1, self.0)
    }
}

/// Frame `0x20`, network configuration. LoRaWAN frames are 4 bytes long; 3- and 5-byte
/// frames are Sigfox ones; any other length is marked `partialDecoding: 1`, as by the vendor.
pub(crate) fn frame_0x20(f: Frame<'_>) -> Result<Content, DecodeError> {
    let mut c = Content::new("0x20 Configuration");
    match f.len() {
        4 => {
            let config = f.u8(2, &"LoRaWAN options")?;
            let mode = f.u8(3, &"provisioning mode")?;
            c.put("loraAdr", config & 0x01 != 0);
            c.put(
                "loraProvisioningMode",
                if mode == 0 { "ABP" } else { "OTAA" },
            );
            c.put(
                "loraDutycyle",
                if config & 0x04 != 0 {
                    "activated"
                } else {
                    "deactivated"
                },
            );
            c.put(
                "loraClassMode",
                if config & 0x20 != 0 {
                    "CLASS C"
                } else {
                    "CLASS A"
                },
            );
        }
        3 | 5 => {
            c.put("sigfoxRetry", f.u8(2, &"Sigfox retries")? & 0x03);
            if f.len() == 5 {
                c.put(
                    "sigfoxDownlinkPeriod",
                    unit_value("m", f.i16_be(3, &"Sigfox downlink period")?),
                );
            }
        }
        _ => c.put("partialDecoding", 1),
    }
    Ok(c)
}

/// Frame `0x33`, answer to a register write.
pub(crate) fn frame_0x33(f: Frame<'_>) -> Result<Content, DecodeError> {
    let mut c = Content::new("0x33 Set register status");
    let status = match f.u8(2, &Named("0x33", "request status"))? {
        1 => "success",
        2 => "successNoUpdate",
        3 => "errorCoherency",
        4 => "errorInvalidRegister",
        5 => "errorInvalidValue",
        6 => "errorTruncatedValue",
        7 => "errorAccesNotAllowed",
        _ => "errorOtherReason",
    };
    c.put("requestStatus", status);
    c.put("registerId", f.u16_be(3, &Named("0x33", "register id"))?);
    Ok(c)
}

/// The frame without its trailing timestamp when the status announces one, and the
/// timestamp's offset.
pub(crate) fn split_trailing_timestamp(
    bytes: &[u8],
    status: u8,
) -> Result<(Frame<'_>, Option<usize>), DecodeError> {
    if !has_timestamp(status) {
        return Ok((Frame(bytes), None));
    }
    let at = bytes.len().checked_sub(4).filter(|&at| at >= 2);
    match at.and_then(|at| bytes.get(..at).map(|head| (head, at))) {
        Some((head, at)) => Ok((Frame(head), Some(at))),
        None => Err(DecodeError::Truncated {
            what: "trailing timestamp announced by the status byte".to_owned(),
            offset: 2,
            needed: 4,
            available: bytes.len().saturating_sub(2),
        }),
    }
}
