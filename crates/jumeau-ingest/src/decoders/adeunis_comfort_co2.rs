//! Adeunis Comfort CO2: indoor temperature, humidity and CO2, with alarms, a daily summary and
//! two digital inputs.
//!
//! Profile `adeunis/comfort-co2`. Specification: the Adeunis codec library
//! `vendor/adeunis/comfort_co2_lib.js` of The Things Network device repository (commit
//! 0a254aaa), read for its layout only. The library does not look at the fPort, so any
//! application port is accepted.
//!
//! The output is the library's, wrapped as the codec wraps it:
//! `{"bytes": {"type": "0x6a Comfort CO2 data", "status": {...}, ...}}`. Frames:
//!
//! - `0x6a` data: `temperature` (°C), `humidity` (%), `co2` (ppm), each
//!   `{"unit", "values": [t=0, t-1, ...]}`, from 5-byte samples (temperature i16 / 10,
//!   humidity u8, CO2 u16, big-endian), newest first;
//! - `0x6b` alarm, `0x30` daily summary, `0x51` / `0x52` digital input alarms;
//! - `0x10` product configuration, `0x1f` digital input configuration, `0x20` network
//!   configuration, `0x33` register write answer, `0x37` software version.
//!
//! When the status byte's bit 2 is set, a timestamp (seconds since 2013-01-01 UTC, written
//! `2023-12-28T19:22:17.000`) follows, at the end of `0x6a` and `0x6b` frames, at a fixed
//! offset in the others. Differences from the library: an unknown frame code is a
//! [`DecodeError::UnknownFrame`] (the library outputs `{"type": "Unsupported"}`); a frame too
//! short for its fields, a data frame whose length is not a whole number of samples, or a data
//! frame without any sample is an error (the library outputs `NaN` or empty lists).

use super::adeunis::{
    self, frame_0x20, frame_0x33, has_timestamp, split_trailing_timestamp, unit_value, Content,
    Named,
};
use super::util::{check_app_port, js_number, Frame, Object};
use super::{DecodeError, Decoder};

/// Decoder of the `adeunis/comfort-co2` profile.
pub(crate) struct ComfortCo2;

/// Length of one `0x6a` sample.
const SAMPLE: usize = 5;

impl Decoder for ComfortCo2 {
    fn profile(&self) -> &'static str {
        "adeunis/comfort-co2"
    }

    fn decode(&self, f_port: u8, bytes: &[u8]) -> Result<Object, DecodeError> {
        check_app_port(f_port)?;
        let (code, status) = adeunis::header(bytes)?;
        let f = Frame(bytes);
        let content = match code {
            0x10 => configuration(f)?,
            0x1f => input_configuration(f)?,
            0x20 => frame_0x20(f)?,
            0x30 => daily(f, status)?,
            0x33 => frame_0x33(f)?,
            0x37 => version(f)?,
            0x51 => input_alarm(f, status, "0x51 digital input 1 alarm")?,
            0x52 => input_alarm(f, status, "0x52 digital input 2 alarm")?,
            0x6a => data(bytes, status)?,
            0x6b => alarm(bytes, status)?,
            _ => {
                return Err(DecodeError::UnknownFrame {
                    kind: "frame code",
                    code,
                    offset: 0,
                })
            }
        };
        Ok(content.wrap(adeunis::status(status, true)))
    }
}

/// Frame `0x6a`: samples of temperature, humidity and CO2, newest first.
fn data(bytes: &[u8], status: u8) -> Result<Content, DecodeError> {
    let (body, timestamp_at) = split_trailing_timestamp(bytes, status)?;
    let mut c = Content::new("0x6a Comfort CO2 data");
    if let Some(at) = timestamp_at {
        c.put("timestamp", adeunis::timestamp(Frame(bytes), at)?);
    }
    let samples = body.0.get(2..).unwrap_or_default();
    if samples.is_empty() || !samples.len().is_multiple_of(SAMPLE) {
        return Err(DecodeError::InvalidValue {
            what: "samples of frame 0x6a".to_owned(),
            offset: 2,
            reason: format!(
                "{} byte(s) of samples; a whole, non-zero number of {SAMPLE}-byte samples expected",
                samples.len()
            ),
        });
    }
    let (mut temperature, mut humidity, mut co2) = (Vec::new(), Vec::new(), Vec::new());
    for sample in samples.chunks_exact(SAMPLE) {
        let s = Frame(sample);
        let what = Named("0x6a", "sample");
        temperature.push(js_number(f64::from(s.i16_be(0, &what)?) / 10.0));
        humidity.push(s.u8(2, &what)?.into());
        co2.push(s.u16_be(3, &what)?.into());
    }
    c.put("decodingInfo", "values: [t=0, t-1, t-2, ...]");
    c.put("temperature", values("°C", temperature));
    c.put("humidity", values("%", humidity));
    c.put("co2", values("ppm", co2));
    Ok(c)
}

/// A `{"unit", "values"}` series.
fn values(unit: &str, values: Vec<serde_json::Value>) -> serde_json::Value {
    let mut v = Object::new();
    v.insert("unit".to_owned(), unit.into());
    v.insert("values".to_owned(), values.into());
    serde_json::Value::Object(v)
}

/// Frame `0x6b`: threshold alarms on temperature, humidity and CO2.
fn alarm(bytes: &[u8], status: u8) -> Result<Content, DecodeError> {
    let (f, timestamp_at) = split_trailing_timestamp(bytes, status)?;
    let mut c = Content::new("0x6b Comfort CO2 alarm");
    if let Some(at) = timestamp_at {
        c.put("timestamp", adeunis::timestamp(Frame(bytes), at)?);
    }
    let what = |field| Named("0x6b", field);
    let flags = f.u8(2, &what("alarm flags"))?;
    let state = |bit: u8| {
        if flags & bit != 0 {
            "active"
        } else {
            "inactive"
        }
    };
    let temperature = f64::from(f.i16_be(3, &what("temperature"))?) / 10.0;
    let humidity = f.u8(5, &what("humidity"))?;
    let co2 = f.i16_be(6, &what("CO2"))?;
    c.put(
        "alarmTemperature",
        pair(
            "temperature",
            state(0x10),
            unit_value("°C", js_number(temperature)),
        ),
    );
    c.put(
        "alarmHumidity",
        pair("humidity", state(0x01), unit_value("%", humidity)),
    );
    c.put("alarmCo2", pair("co2", state(0x20), unit_value("ppm", co2)));
    Ok(c)
}

/// `{"alarmStatus": ..., <key>: {"unit", "value"}}`.
fn pair(key: &str, state: &str, value: serde_json::Value) -> serde_json::Value {
    let mut v = Object::new();
    v.insert("alarmStatus".to_owned(), state.into());
    v.insert(key.to_owned(), value);
    serde_json::Value::Object(v)
}

/// Frame `0x30`: the daily summary (maximums and minimums, averages in the long form).
fn daily(f: Frame<'_>, status: u8) -> Result<Content, DecodeError> {
    let mut c = Content::new("0x30 Comfort CO2 Daily frame");
    let what = |field| Named("0x30", field);
    if has_timestamp(status) {
        c.put("timestamp", adeunis::timestamp(f, 19)?);
    }
    c.put("icone", f.u8(2, &what("icon"))?);
    c.put(
        "qaiRedDuration",
        unit_value(
            "min",
            u32::from(f.u8(3, &what("red air quality duration"))?) * 10,
        ),
    );
    c.put(
        "temperatureMax",
        tenths_c(f, 4, &what("maximum temperature"))?,
    );
    c.put(
        "co2Max",
        unit_value("ppm", f.u16_be(6, &what("maximum CO2"))?),
    );
    c.put(
        "humidityMax",
        unit_value("%", f.u8(8, &what("maximum humidity"))?),
    );
    c.put(
        "temperatureMin",
        tenths_c(f, 9, &what("minimum temperature"))?,
    );
    match f.len() {
        11 => {}
        19 | 23 => {
            c.put(
                "co2Min",
                unit_value("ppm", f.u16_be(11, &what("minimum CO2"))?),
            );
            c.put(
                "humidityMin",
                unit_value("%", f.u8(13, &what("minimum humidity"))?),
            );
            c.put(
                "temperatureAverage",
                tenths_c(f, 14, &what("average temperature"))?,
            );
            c.put(
                "co2Average",
                unit_value("ppm", f.u16_be(16, &what("average CO2"))?),
            );
            c.put(
                "humidityAverage",
                unit_value("%", f.u8(18, &what("average humidity"))?),
            );
        }
        _ => c.put("partialDecoding", 1),
    }
    Ok(c)
}

/// A signed tenth of °C at `at`, as `{"unit": "°C", "value"}`.
fn tenths_c(
    f: Frame<'_>,
    at: usize,
    what: &dyn std::fmt::Display,
) -> Result<serde_json::Value, DecodeError> {
    Ok(unit_value(
        "°C",
        js_number(f64::from(f.i16_be(at, what)?) / 10.0),
    ))
}

/// Frame `0x10`: the product configuration (periods are in seconds, the device counts 2 s).
fn configuration(f: Frame<'_>) -> Result<Content, DecodeError> {
    let mut c = Content::new("0x10 Comfort CO2 configuration");
    let what = |field| Named("0x10", field);
    let daily = f.u16_be(2, &what("daily frame"))?;
    let histories = f.u16_be(4, &what("historizations before sending"))?;
    let samplings = f.u16_be(6, &what("samplings before historization"))?;
    let period = f.u16_be(8, &what("sampling period"))?;
    let redundant = f.u8(10, &what("redundant samples"))?;
    let period_s = u64::from(period) * 2;
    c.put("dailyFrameActivated", daily != 0);
    c.put("numberOfHistorizationBeforeSending", histories);
    c.put("numberOfSamplingBeforeHistorization", samplings);
    c.put("samplingPeriod", unit_value("s", period_s));
    c.put("redundantSamples", redundant);
    c.put(
        "calculatedPeriodRecording",
        unit_value("s", period_s * u64::from(samplings)),
    );
    c.put(
        "calculatedSendingPeriod",
        unit_value("s", period_s * u64::from(samplings) * u64::from(histories)),
    );
    if f.len() >= 12 {
        c.put(
            "blackOutDuration",
            unit_value("h", f.u8(11, &what("black-out duration"))?),
        );
    }
    if f.len() >= 13 {
        c.put(
            "blackOutStartTime",
            unit_value("h", f.u8(12, &what("black-out start"))?),
        );
    }
    Ok(c)
}

/// Frame `0x1f`: configuration of the two digital inputs.
fn input_configuration(f: Frame<'_>) -> Result<Content, DecodeError> {
    let mut c = Content::new("0x1f digital input configuration");
    for (key, at) in [("digitalInput1", 2), ("digitalInput2", 5)] {
        let what = Named("0x1f", "digital input configuration");
        let config = f.u8(at, &what)?;
        let threshold = f.u16_be(at + 1, &what)?;
        let mut input = Object::new();
        input.insert("type".to_owned(), edge_type(config & 0x0f).into());
        input.insert(
            "debouncingPeriod".to_owned(),
            unit_value("ms", debouncing_ms((config & 0xf0) >> 4)),
        );
        input.insert("threshold".to_owned(), threshold.into());
        c.put(key, serde_json::Value::Object(input));
    }
    Ok(c)
}

/// The vendor's names of the digital input trigger modes.
fn edge_type(v: u8) -> &'static str {
    match v {
        0 => "deactivated",
        1 => "highEdge",
        2 => "lowEdge",
        3 => "bothEdges",
        _ => "",
    }
}

/// The vendor's debouncing periods in milliseconds (its table has 500 ms at both 3 and 6).
fn debouncing_ms(v: u8) -> u32 {
    match v {
        1 => 10,
        2 => 20,
        3 | 6 => 500,
        4 => 100,
        5 => 200,
        7 => 1000,
        8 => 2000,
        9 => 5000,
        10 => 10_000,
        11 => 20_000,
        12 => 40_000,
        13 => 60_000,
        14 => 300_000,
        15 => 600_000,
        _ => 0,
    }
}

/// Frame `0x37`: application and radio software versions.
fn version(f: Frame<'_>) -> Result<Content, DecodeError> {
    let mut c = Content::new("0x37 Software version");
    let what = Named("0x37", "version");
    let version_at = |at: usize| -> Result<String, DecodeError> {
        Ok(format!(
            "{}.{}.{}",
            f.u8(at, &what)?,
            f.u8(at + 1, &what)?,
            f.u8(at + 2, &what)?
        ))
    };
    c.put("appVersion", version_at(2)?);
    c.put("rtuVersion", version_at(5)?);
    Ok(c)
}

/// Frames `0x51` and `0x52`: a digital input changed state.
fn input_alarm(f: Frame<'_>, status: u8, kind: &'static str) -> Result<Content, DecodeError> {
    let mut c = Content::new(kind);
    let what = |field| Named("0x51/0x52", field);
    if has_timestamp(status) {
        c.put("timestamp", adeunis::timestamp(f, 9)?);
    }
    let state = f.u8(2, &what("input state"))?;
    let global = f.u32_be(3, &what("global counter"))?;
    let instantaneous = f.u16_be(7, &what("instantaneous counter"))?;
    let mut s = Object::new();
    s.insert("previousFrame".to_owned(), ((state >> 1) & 1 == 1).into());
    s.insert("current".to_owned(), (state & 1 == 1).into());
    c.put("state", serde_json::Value::Object(s));
    let mut counter = Object::new();
    counter.insert("global".to_owned(), global.into());
    counter.insert("instantaneous".to_owned(), instantaneous.into());
    c.put("counter", serde_json::Value::Object(counter));
    Ok(c)
}
