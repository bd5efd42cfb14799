//! Dragino LHT65: temperature and humidity (internal SHT sensor) with an optional external
//! probe (DS18B20 temperature, interrupt, illumination, ADC, counter).
//!
//! Profile `dragino/lht65`. Specification: `vendor/dragino/lht65.js` of The Things Network
//! device repository (commit 0a254aaa). Uplinks are 11 bytes on fPort 2; any other port is a
//! [`DecodeError::UnsupportedFPort`] (the vendor's decoder answers `unknown FPort`).
//!
//! Layout (big-endian): battery (2: 2 status bits + 14 bits of mV), SHT temperature (2,
//! signed hundredths of °C), SHT humidity (2, 12 bits of tenths of %), external sensor
//! byte (bits 0-3 type, bit 6 poll reply, bit 7 probe disconnected), external value (4).
//! Output fields as the vendor's decoder: `BatV` (V), `Bat_status` (0-3), `TempC_SHT` (°C),
//! `Hum_SHT` (%), `No_connect`, `Ext_sensor` / `Work_mode`, and by external type `TempC_DS`
//! (°C), `Exti_pin_level`, `Exti_status`, `ILL_lx`, `ADC_V`, `Exit_count`, `Systimestamp`, `ID`.
//!
//! Differences from the vendor's decoder, which outputs nothing at all for frames that are not
//! 11 bytes or that are poll replies: those give [`DecodeError::BadLength`] and
//! [`DecodeError::Unsupported`]. The 32-bit `Exit_count` (type 8) and `Systimestamp` (type 9)
//! are read unsigned; the vendor's JavaScript turns values from 2^31 up into negative numbers.

use serde_json::Value;

use super::util::{check_port, js_number, non_empty, Frame, Object};
use super::{DecodeError, Decoder};

/// Decoder of the `dragino/lht65` profile.
pub(crate) struct Lht65;

/// Length of every LHT65 uplink.
const LENGTH: usize = 11;

impl Decoder for Lht65 {
    fn profile(&self) -> &'static str {
        "dragino/lht65"
    }

    fn decode(&self, f_port: u8, bytes: &[u8]) -> Result<Object, DecodeError> {
        check_port(f_port, &[2], "2")?;
        non_empty(bytes)?;
        if bytes.len() != LENGTH {
            return Err(DecodeError::BadLength {
                actual: bytes.len(),
                expected: "an LHT65 uplink is 11 bytes",
            });
        }
        let f = Frame(bytes);
        let battery = f.u16_be(0, &"battery")?;
        let sht_temperature = f.i16_be(2, &"SHT temperature")?;
        let sht_humidity = f.u16_be(4, &"SHT humidity")?;
        let ext_byte = f.u8(6, &"external sensor type")?;
        let ext_value = f.u32_be(7, &"external sensor value")?;
        let [e0, e1, e2, e3] = ext_value.to_be_bytes();
        let ext = ext_byte & 0x0f;

        if ext_byte & 0x40 != 0 {
            return Err(DecodeError::Unsupported {
                what: "poll reply (datalog) frame".to_owned(),
                offset: 6,
                reason: "bit 6 of the external sensor byte marks a reply to a datalog poll, \
                         which the vendor's decoder does not decode either"
                    .to_owned(),
            });
        }

        let mut out = Object::new();
        let mut put = |key: &str, value: Value| {
            out.insert(key.to_owned(), value);
        };
        let hundredths = |raw: i16| js_number(f64::from(raw) / 100.0);
        let [b0, _] = battery.to_be_bytes();

        if ext == 0x09 {
            // The DS18B20 temperature takes the place of the battery voltage.
            put(
                "TempC_DS",
                hundredths(i16::from_be_bytes(battery.to_be_bytes())),
            );
            let [h0, _] = sht_humidity.to_be_bytes();
            put("Bat_status", (h0 >> 6).into());
        } else {
            put("BatV", js_number(f64::from(battery & 0x3fff) / 1000.0));
            put("Bat_status", (b0 >> 6).into());
        }
        if ext != 0x0f {
            put("TempC_SHT", hundredths(sht_temperature));
            put(
                "Hum_SHT",
                js_number(f64::from(sht_humidity & 0x0fff) / 10.0),
            );
        }
        if ext_byte & 0x80 != 0 {
            put("No_connect", "Sensor no connection".into());
        }
        match ext {
            0 => put("Ext_sensor", "No external sensor".into()),
            1 => {
                put("Ext_sensor", "Temperature Sensor".into());
                put("TempC_DS", hundredths(i16::from_be_bytes([e0, e1])));
            }
            4 => {
                put("Work_mode", "Interrupt Sensor send".into());
                put(
                    "Exti_pin_level",
                    if e0 != 0 { "High" } else { "Low" }.into(),
                );
                put("Exti_status", if e1 != 0 { "True" } else { "False" }.into());
            }
            5 => {
                put("Work_mode", "Illumination Sensor".into());
                put("ILL_lx", u16::from_be_bytes([e0, e1]).into());
            }
            6 => {
                put("Work_mode", "ADC Sensor".into());
                put(
                    "ADC_V",
                    js_number(f64::from(u16::from_be_bytes([e0, e1])) / 1000.0),
                );
            }
            7 => {
                put("Work_mode", "Interrupt Sensor count".into());
                put("Exit_count", u16::from_be_bytes([e0, e1]).into());
            }
            8 => {
                put("Work_mode", "Interrupt Sensor count".into());
                put("Exit_count", ext_value.into());
            }
            9 => {
                put("Work_mode", "DS18B20 & timestamp".into());
                put("Systimestamp", ext_value.into());
            }
            15 => {
                put("Work_mode", "DS18B20ID".into());
                // The probe's 64-bit ROM id, each byte as two hex digits and a space (the
                // vendor's format, trailing space included).
                let [t0, t1] = sht_temperature.to_be_bytes();
                let [h0, h1] = sht_humidity.to_be_bytes();
                let id: String = [t0, t1, h0, h1, e0, e1, e2, e3]
                    .iter()
                    .map(|b| format!("{b:02x} "))
                    .collect();
                put("ID", id.into());
            }
            // Types 2, 3 and 10 to 14: the vendor's decoder adds nothing.
            _ => {}
        }
        Ok(out)
    }
}
