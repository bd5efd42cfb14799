//! Adeunis Pulse (Pulse 4): a two-channel pulse counter for water, gas or electricity meters.
//!
//! Profile `adeunis/pulse`. Specification: the Adeunis codec library
//! `vendor/adeunis/pulse_lib.js` of The Things Network device repository (commit 0a254aaa),
//! read for its layout only. The library does not look at the fPort, so any application port
//! is accepted.
//!
//! The output is the library's, wrapped as the codec wraps it:
//! `{"bytes": {"type": "0x5a Pulse 4 data - channel A", "status": {...}, ...}}`. Frames:
//!
//! - `0x5a` / `0x5b` data of channel A / B: `counterValues`, the absolute index (u32) at t=0
//!   followed by the indexes at t-1, t-2... rebuilt from the 16-bit differences that follow it;
//! - `0x46` both channels' indexes, `0x47` flow alarm, `0x30` keep-alive with daily flow
//!   minimums and maximums and the tamper / leakage alarms;
//! - `0x10`, `0x11`, `0x12` configuration, `0x20` network configuration, `0x33` register write
//!   answer.
//!
//! When the status byte's bit 2 is set, a timestamp (seconds since 2013-01-01 UTC, written
//! `2023-12-28T19:22:17.000`) follows, at the end of `0x5a` / `0x5b` frames, at a fixed offset
//! in the others. Differences from the library: an unknown frame code is a
//! [`DecodeError::UnknownFrame`] (the library outputs `{"type": "Unsupported"}`); a frame too
//! short for its fields or a data frame with half a difference is an error (the library reads
//! the missing bytes as zero).

use serde_json::Value;

use super::adeunis::{
    self, frame_0x20, frame_0x33, has_timestamp, split_trailing_timestamp, unit_value, Content,
    Named,
};
use super::util::{check_app_port, Frame, Object};
use super::{DecodeError, Decoder};

/// Decoder of the `adeunis/pulse` profile.
pub(crate) struct Pulse;

impl Decoder for Pulse {
    fn profile(&self) -> &'static str {
        "adeunis/pulse"
    }

    fn decode(&self, f_port: u8, bytes: &[u8]) -> Result<Object, DecodeError> {
        check_app_port(f_port)?;
        let (code, status) = adeunis::header(bytes)?;
        let f = Frame(bytes);
        let content = match code {
            0x10 => configuration(f)?,
            0x11 => leakage_configuration(f)?,
            0x12 => tamper_configuration(f)?,
            0x20 => frame_0x20(f)?,
            0x30 => keep_alive(f, status)?,
            0x33 => frame_0x33(f)?,
            0x46 => indexes(f, status)?,
            0x47 => flow_alarm(f, status)?,
            0x5a => data(bytes, status, "0x5a Pulse 4 data - channel A")?,
            0x5b => data(bytes, status, "0x5b Pulse 4 data - channel B")?,
            _ => {
                return Err(DecodeError::UnknownFrame {
                    kind: "frame code",
                    code,
                    offset: 0,
                })
            }
        };
        Ok(content.wrap(adeunis::status(status, false)))
    }
}

/// Frames `0x5a` / `0x5b`: the index at t=0, then the consumption of each earlier period.
fn data(bytes: &[u8], status: u8, kind: &'static str) -> Result<Content, DecodeError> {
    let (body, timestamp_at) = split_trailing_timestamp(bytes, status)?;
    let mut c = Content::new(kind);
    if let Some(at) = timestamp_at {
        c.put("timestamp", adeunis::timestamp(Frame(bytes), at)?);
    }
    let mut index = i64::from(body.u32_be(2, &Named("0x5a/0x5b", "index"))?);
    let differences = body.0.get(6..).unwrap_or_default();
    if !differences.len().is_multiple_of(2) {
        return Err(DecodeError::Truncated {
            what: "difference of frame 0x5a/0x5b".to_owned(),
            offset: 6 + differences.len() - 1,
            needed: 2,
            available: 1,
        });
    }
    let mut values = vec![Value::from(index)];
    for pair in differences.chunks_exact(2) {
        if let [high, low] = *pair {
            index -= i64::from(u16::from_be_bytes([high, low]));
            values.push(index.into());
        }
    }
    c.put("decodingInfo", "counterValues: [t=0, t-1, t-2, ...]");
    c.put("counterValues", values);
    Ok(c)
}

/// Frame `0x46`: the indexes of both channels.
fn indexes(f: Frame<'_>, status: u8) -> Result<Content, DecodeError> {
    let mut c = Content::new("0x46 Pulse 4 data");
    if has_timestamp(status) {
        c.put("timestamp", adeunis::timestamp(f, 10)?);
    }
    let a = f.u32_be(2, &Named("0x46", "channel A index"))?;
    let b = f.u32_be(6, &Named("0x46", "channel B index"))?;
    c.put("decodingInfo", "counterValues: [Channel A, Channel B]");
    c.put("counterValues", vec![a, b]);
    Ok(c)
}

/// Frame `0x47`: flow alarm, the flows of both channels.
fn flow_alarm(f: Frame<'_>, status: u8) -> Result<Content, DecodeError> {
    let mut c = Content::new("0x47 Pulse 4 alarm");
    if has_timestamp(status) {
        c.put("timestamp", adeunis::timestamp(f, 6)?);
    }
    let a = f.u16_be(2, &Named("0x47", "channel A flow"))?;
    let b = f.u16_be(4, &Named("0x47", "channel B flow"))?;
    c.put("decodingInfo", "flowValues: [Channel A, Channel B]");
    c.put("flowValues", vec![a, b]);
    Ok(c)
}

/// Frame `0x30`: keep-alive, with each channel's daily flow extremes and alarms.
fn keep_alive(f: Frame<'_>, status: u8) -> Result<Content, DecodeError> {
    let mut c = Content::new("0x30 Pulse 4 keep alive");
    if has_timestamp(status) {
        c.put("timestamp", adeunis::timestamp(f, 11)?);
    }
    let what = |field| Named("0x30", field);
    let alarms = f.u8(2, &what("alarms"))?;
    let channel = |name: &str, flow_bit: u8, min_at, max_at, tamper_bit: u8, leak_bit: u8| {
        let mut flow = Object::new();
        flow.insert("alarm".to_owned(), (alarms & flow_bit != 0).into());
        flow.insert(
            "last24hMin".to_owned(),
            f.u16_be(min_at, &what("daily minimum flow"))?.into(),
        );
        flow.insert(
            "last24hMax".to_owned(),
            f.u16_be(max_at, &what("daily maximum flow"))?.into(),
        );
        let mut ch = Object::new();
        ch.insert("name".to_owned(), name.into());
        ch.insert("flow".to_owned(), Value::Object(flow));
        ch.insert("tamperAlarm".to_owned(), (alarms & tamper_bit != 0).into());
        ch.insert("leakageAlarm".to_owned(), (alarms & leak_bit != 0).into());
        Ok::<_, DecodeError>(Value::Object(ch))
    };
    let a = channel("channel A", 0x01, 7, 3, 0x04, 0x10)?;
    let b = channel("channel B", 0x02, 9, 5, 0x08, 0x20)?;
    c.put("channels", vec![a, b]);
    Ok(c)
}

/// Frame `0x10`: product configuration. 28-byte frames (LoRaWAN EU868) carry the leakage and
/// tamper settings; 11-byte frames (Sigfox) only the tamper activation.
fn configuration(f: Frame<'_>) -> Result<Content, DecodeError> {
    let mut c = Content::new("0x10 Pulse 4 configuration");
    let what = |field| Named("0x10", field);
    let mode = f.u8(2, &what("product mode"))?;
    let histories = f.u16_be(3, &what("historizations before sending"))?;
    let inputs = f.u8(5, &what("channel settings"))?;
    let period = f.u16_be(6, &what("sampling period"))?;
    let debouncing = f.u8(8, &what("debouncing"))?;
    let flow_period = f.u16_be(9, &what("flow calculation period"))?;
    let lora = f.len() == 28;
    let sigfox = f.len() == 11;

    c.put(
        "productMode",
        match mode {
            0 => "PARK",
            1 => "PRODUCTION",
            2 => "TEST",
            3 => "DEAD",
            _ => "",
        },
    );
    c.put("numberOfHistorizationBeforeSending", histories);
    c.put("samplingPeriod", unit_value("s", u32::from(period) * 2));
    c.put(
        "calculatedSendingPeriod",
        unit_value("s", u64::from(histories) * u64::from(period) * 2),
    );
    c.put(
        "flowCalculationPeriod",
        if mode == 2 {
            unit_value("s", u32::from(flow_period) * 20)
        } else {
            unit_value("m", flow_period)
        },
    );
    if lora {
        c.put("redundantSamples", f.u8(27, &what("redundant samples"))?);
    }

    let channel = |name: &str, shift: u32, debounce: u8, offsets: [usize; 5]| {
        let [overflow_at, threshold_at, daily_at, sample_at, tamper_threshold_at] = offsets;
        let mut ch = Object::new();
        ch.insert("name".to_owned(), name.into());
        let state = if inputs & (0x01 << shift) != 0 {
            "enabled"
        } else {
            "disabled"
        };
        let kind = if inputs & (0x02 << shift) != 0 {
            "gasPullUpOn"
        } else {
            "otherPullUpOff"
        };
        ch.insert("state".to_owned(), state.into());
        ch.insert("type".to_owned(), kind.into());
        ch.insert(
            "debouncingPeriod".to_owned(),
            unit_value("ms", debouncing_ms(debounce)),
        );
        let tamper_on = inputs & (0x08 << shift) != 0;
        if lora {
            let mut leakage = Object::new();
            leakage.insert(
                "overflowAlarmTriggerThreshold".to_owned(),
                f.u16_be(overflow_at, &what("overflow threshold"))?.into(),
            );
            leakage.insert(
                "threshold".to_owned(),
                f.u16_be(threshold_at, &what("leakage threshold"))?.into(),
            );
            leakage.insert(
                "dailyPeriodsBelowWhichLeakageAlarmTriggered".to_owned(),
                f.u16_be(daily_at, &what("leakage periods"))?.into(),
            );
            ch.insert("leakageDetection".to_owned(), Value::Object(leakage));
            let mut tamper = Object::new();
            tamper.insert("activated".to_owned(), tamper_on.into());
            tamper.insert(
                "samplePeriodForDetection".to_owned(),
                unit_value(
                    "s",
                    u32::from(f.u8(sample_at, &what("tamper sample period"))?) * 10,
                ),
            );
            tamper.insert(
                "threshold".to_owned(),
                f.u8(tamper_threshold_at, &what("tamper threshold"))?.into(),
            );
            ch.insert("tamper".to_owned(), Value::Object(tamper));
        } else if sigfox {
            let mut tamper = Object::new();
            tamper.insert("activated".to_owned(), tamper_on.into());
            ch.insert("tamper".to_owned(), Value::Object(tamper));
        }
        Ok::<_, DecodeError>(Value::Object(ch))
    };
    let a = channel("channel A", 0, debouncing & 0x0f, [11, 15, 19, 23, 24])?;
    let b = channel(
        "channel B",
        4,
        (debouncing & 0xf0) >> 4,
        [13, 17, 21, 25, 26],
    )?;
    c.put("channels", vec![a, b]);
    Ok(c)
}

/// The vendor's Pulse 4 debouncing periods in milliseconds.
fn debouncing_ms(v: u8) -> u32 {
    match v {
        1 => 1,
        2 => 10,
        3 => 20,
        4 => 50,
        5 => 100,
        6 => 200,
        7 => 500,
        8 => 1000,
        9 => 2000,
        10 => 5000,
        11 => 10_000,
        _ => 0,
    }
}

/// Frame `0x11`: leakage detection thresholds of both channels.
fn leakage_configuration(f: Frame<'_>) -> Result<Content, DecodeError> {
    let mut c = Content::new("0x11 Pulse 4 configuration");
    let what = Named("0x11", "leakage thresholds");
    let mut channels = Vec::new();
    for (name, overflow_at, threshold_at) in [("channel A", 2, 6), ("channel B", 4, 8)] {
        let mut leakage = Object::new();
        leakage.insert(
            "overflowAlarmTriggerThreshold".to_owned(),
            f.u16_be(overflow_at, &what)?.into(),
        );
        leakage.insert(
            "threshold".to_owned(),
            f.u16_be(threshold_at, &what)?.into(),
        );
        let mut ch = Object::new();
        ch.insert("name".to_owned(), name.into());
        ch.insert("leakageDetection".to_owned(), Value::Object(leakage));
        channels.push(Value::Object(ch));
    }
    c.put("channels", channels);
    Ok(c)
}

/// Frame `0x12`: leakage periods and tamper detection settings of both channels.
fn tamper_configuration(f: Frame<'_>) -> Result<Content, DecodeError> {
    let mut c = Content::new("0x12 Pulse 4 configuration");
    let what = Named("0x12", "leakage and tamper settings");
    let mut channels = Vec::new();
    for (name, daily_at, sample_at) in [("channel A", 2, 6), ("channel B", 4, 8)] {
        let mut leakage = Object::new();
        leakage.insert(
            "dailyPeriodsBelowWhichLeakageAlarmTriggered".to_owned(),
            f.u16_be(daily_at, &what)?.into(),
        );
        let mut tamper = Object::new();
        tamper.insert(
            "samplePeriodForDetection".to_owned(),
            unit_value("s", u32::from(f.u8(sample_at, &what)?) * 10),
        );
        tamper.insert("threshold".to_owned(), f.u8(sample_at + 1, &what)?.into());
        let mut ch = Object::new();
        ch.insert("name".to_owned(), name.into());
        ch.insert("leakageDetection".to_owned(), Value::Object(leakage));
        ch.insert("tamper".to_owned(), Value::Object(tamper));
        channels.push(Value::Object(ch));
    }
    c.put("channels", channels);
    Ok(c)
}
