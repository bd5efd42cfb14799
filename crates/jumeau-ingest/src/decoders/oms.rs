//! The OMS (Open Metering System, wireless M-Bus, EN 13757-3) application layer that water
//! meters such as the Sensus iPERL carry over LoRaWAN: a transport-layer header (CI field)
//! followed by data records (DIF, DIFEs, VIF, VIFEs, data), including compact profiles (a
//! series of past index values in one record).
//!
//! Specification: EN 13757-3 / OMS, and for the output the vendor's decoder
//! `vendor/sensus/iperl-oms.js` of The Things Network device repository (commit 44aafd7d, a
//! compiled Kotlin parser), read for its tables and behaviour only. The output has its shape
//! and names: `identificationNo`, `manufacturer`, `manufacturerCode`, `version`, `device`,
//! `accessNo`, `status`, `config`, `records`, `alarms`; each record has `dif`, `storage`,
//! `tariff`, `subUnit`, `function`, `vif`, `vifType`, `value`, `scaledValue`
//! (`value * 10^exponent`, computed as V8 computes it), `strValue`, `unit`, `symbol`,
//! `exponent`, `isCompactProfile`, `values` (`{timestamp, value, scaledValue, storage}`,
//! oldest first). Dates are read in UTC. Alarms come from an error-flags record when there is
//! one, from the header's status byte otherwise, with the vendor's alarm names.
//!
//! Differences from the vendor's parser (each only for payloads that parser gets wrong or
//! cannot read):
//!
//! - Integers are sign-extended correctly for every size; the vendor negates with a 16-bit
//!   mask whatever the size (so `0xff` as one byte becomes -65281).
//! - Data field 5 (32-bit real) is read as an IEEE single, data field 7 as a 64-bit integer
//!   (8 bytes); the vendor reads 5 and 7 bytes as integers and loses the record boundaries.
//! - A compact-profile element equal to the most negative value of its size is an invalid
//!   (skipped) element for every size, as EN 13757-3 defines; the vendor only recognises
//!   `0x8000`. A compact profile whose elements have no length (data field 0 or 8, which makes
//!   the vendor's parser loop forever), a variable length, or do not fill the profile exactly,
//!   is a [`DecodeError::Unsupported`] / [`DecodeError::InvalidValue`].
//! - Month-based compact profile spacing (`0xfe`) goes back in time for inverse profiles, as
//!   the other spacings do; the vendor forgets the direction there.
//! - A variable-length value running past the end, more than three DIFE or VIFE bytes (the
//!   vendor packs them into a 32-bit number and corrupts it), a plain-text VIF (its unit text,
//!   which the vendor does not skip), or an encrypted payload (configuration security mode not
//!   0, which the vendor parses as clear text) is an error.
//! - When several alarms apply, they are listed in the order of the vendor's checks.

use chrono::{DateTime, Months, NaiveDate};
use serde_json::Value;

use super::util::{js_number, js_pow10, non_empty, Object, Reader};
use super::DecodeError;

/// A base unit of the vendor's table, and its symbol.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Unit {
    name: &'static str,
    symbol: Option<&'static str>,
}

const fn unit(name: &'static str, symbol: Option<&'static str>) -> Unit {
    Unit { name, symbol }
}

const NO_UNIT: Unit = unit("NO_UNIT", None);
const WATT: Unit = unit("WATT", Some("W"));
const MEGA_WATT: Unit = unit("MEGA_WATT", Some("MW"));
const WATT_HOUR: Unit = unit("WATT_HOUR", Some("W*h"));
const KILO_JOULE: Unit = unit("KILO_JOULE", Some("kJ"));
const GIGA_JOULE_HOUR: Unit = unit("GIGA_JOULE_HOUR", Some("GJ/h"));
const KILO_JOULE_HOUR: Unit = unit("KILO_JOULE_HOUR", Some("kJ/h"));
const M3: Unit = unit("M3", Some("m^3"));
const M3_HOUR: Unit = unit("M3_HOUR", Some("m^3/h"));
const M3_SEC: Unit = unit("M3_SEC", Some("m^3/s"));
const M3_MIN: Unit = unit("M3_MIN", Some("m^3/min"));
const US_GALLON: Unit = unit("US_GALLON", Some("gal"));
const US_GALLON_HOUR: Unit = unit("US_GALLON_HOUR", Some("gal/h"));
const CUBIC_FOOT: Unit = unit("CUBIC_FOOT", Some("ft^3"));
const KILO_GRAM: Unit = unit("KILO_GRAM", Some("kg"));
const KILO_GRAM_SEC: Unit = unit("KILO_GRAM_SEC", Some("kg/s"));
const TIME: Unit = unit("TIME", None);
const DATETIME: Unit = unit("DATETIME", None);
const CELSIUS: Unit = unit("CELSIUS", Some("°C"));
const KELVIN: Unit = unit("KELVIN", Some("K"));
const FAHRENHEIT: Unit = unit("FAHRENHEIT", Some("°F"));
const BAR: Unit = unit("BAR", Some("bar"));
const CURRENCY: Unit = unit("CURRENCY", Some("$"));
const VOLTS: Unit = unit("VOLTS", Some("V"));
const AMPERS: Unit = unit("AMPERS", Some("A"));

/// The record kind of a time point, used by compact profiles.
const TIME_POINT: &str = "TIME_POINT";
/// The record kind carrying the meter's error flags.
const ERROR_FLAGS: &str = "ERROR_FLAGS";

/// One line of the vendor's VIF table: a VIF matches when `vif & mask == code`; the bits
/// outside the mask (shifted down when above the low byte) plus `offset` give the exponent.
struct VifEntry {
    code: u32,
    mask: u32,
    kind: &'static str,
    unit: Unit,
    offset: i32,
}

const fn primary(
    code: u32,
    low_mask: u32,
    kind: &'static str,
    unit: Unit,
    offset: i32,
) -> VifEntry {
    VifEntry {
        code,
        mask: 0xff00 | low_mask,
        kind,
        unit,
        offset,
    }
}

/// An entry of the `0xfd` extension table (VIFE code `x`, VIFE mask `m`).
const fn fd(x: u32, m: u32, kind: &'static str, unit: Unit, offset: i32) -> VifEntry {
    VifEntry {
        code: (x << 8) | 0xfd,
        mask: (m << 8) | 0xff,
        kind,
        unit,
        offset,
    }
}

/// An entry of the `0xfb` extension table (VIFE code `x`, VIFE mask `m`).
const fn fb(x: u32, m: u32, kind: &'static str, unit: Unit, offset: i32) -> VifEntry {
    VifEntry {
        code: (x << 8) | 0xfb,
        mask: (m << 8) | 0xff,
        kind,
        unit,
        offset,
    }
}

/// The vendor's VIF table, in its order (the first match wins).
const VIF_TABLE: [VifEntry; 94] = [
    primary(0x00, 0xf8, "ENERGY", WATT_HOUR, -3),
    primary(0x08, 0xf8, "ENERGY", KILO_JOULE, -3),
    primary(0x10, 0xf8, "VOLUME", M3, -6),
    primary(0x18, 0xf8, "MASS", KILO_GRAM, -3),
    primary(0x20, 0xfc, "ON_TIME", TIME, 0),
    primary(0x24, 0xfc, "OPERATING_TIME", TIME, 0),
    primary(0x28, 0xf8, "POWER", WATT, -3),
    primary(0x30, 0xf8, "POWER", KILO_JOULE_HOUR, -3),
    primary(0x38, 0xf8, "VOLUME_FLOW", M3_HOUR, -6),
    primary(0x40, 0xf8, "VOLUME_FLOW_EXT", M3_MIN, -7),
    primary(0x48, 0xf8, "VOLUME_FLOW_EXT", M3_SEC, -9),
    primary(0x50, 0xf8, "MASS_FLOW", KILO_GRAM_SEC, -3),
    primary(0x58, 0xfc, "FLOW_TEMPERATURE", CELSIUS, -3),
    primary(0x5c, 0xfc, "RETURN_TEMPERATURE", CELSIUS, -3),
    primary(0x60, 0xfc, "TEMPERATURE_DIFF", KELVIN, -3),
    primary(0x64, 0xfc, "EXTERNAL_TEMPERATURE", CELSIUS, -3),
    primary(0x68, 0xfc, "PRESSURE", BAR, -3),
    primary(0x6c, 0xff, TIME_POINT, DATETIME, 0),
    primary(0x6d, 0xff, TIME_POINT, DATETIME, 0),
    primary(0x6e, 0xff, "UNITS_HCA", NO_UNIT, 0),
    primary(0x70, 0xfc, "AVG_DURATION", TIME, 0),
    primary(0x74, 0xfc, "ACTUAL_DURATION", TIME, 0),
    primary(0x78, 0xff, "FABRICATION", NO_UNIT, 0),
    primary(0x79, 0xff, "IDENTIFICATION", NO_UNIT, 0),
    primary(0x7a, 0xff, "BUS_ADDRESS", NO_UNIT, 0),
    fd(0x00, 0xfc, "CREDIT", CURRENCY, -3),
    fd(0x04, 0xfc, "DEBIT", CURRENCY, -3),
    fd(0x08, 0xff, "ACCESS_NUMBER", NO_UNIT, 0),
    fd(0x09, 0xff, "MEDIUM", NO_UNIT, 0),
    fd(0x0a, 0xff, "MANUFACTURER", NO_UNIT, 0),
    fd(0x0b, 0xff, "PARAM_SET_ID", NO_UNIT, 0),
    fd(0x0c, 0xff, "MODEL_VERSION", NO_UNIT, 0),
    fd(0x0d, 0xff, "HW_VERSION", NO_UNIT, 0),
    fd(0x0e, 0xff, "FIRMWARE_VERSION", NO_UNIT, 0),
    fd(0x0f, 0xff, "SW_VERSION", NO_UNIT, 0),
    fd(0x10, 0xff, "CUSTOMER_LOCATION", NO_UNIT, 0),
    fd(0x11, 0xff, "CUSTOMER", NO_UNIT, 0),
    fd(0x12, 0xff, "ACCESS_CODE_USER", NO_UNIT, 0),
    fd(0x13, 0xff, "ACCESS_CODE_OPERATOR", NO_UNIT, 0),
    fd(0x14, 0xff, "ACCESS_CODE_SYS_OPERATOR", NO_UNIT, 0),
    fd(0x15, 0xff, "ACCESS_CODE_DEVELOPER", NO_UNIT, 0),
    fd(0x16, 0xff, "PASSWORD", NO_UNIT, 0),
    fd(0x17, 0xff, ERROR_FLAGS, NO_UNIT, 0),
    fd(0x18, 0xff, "ERROR_MASK", NO_UNIT, 0),
    fd(0x1a, 0xff, "DIGITAL_OUTPUT", NO_UNIT, 0),
    fd(0x1b, 0xff, "DIGITAL_INPUT", NO_UNIT, 0),
    fd(0x1c, 0xff, "BAUD_RATE", NO_UNIT, 0),
    fd(0x1d, 0xff, "RESP_DELAY_TIME", NO_UNIT, 0),
    fd(0x1e, 0xff, "RETRY", NO_UNIT, 0),
    fd(0x20, 0xff, "FIRST_STORAGE", NO_UNIT, 0),
    fd(0x21, 0xff, "LAST_STORAGE", NO_UNIT, 0),
    fd(0x22, 0xff, "SIZE_STORAGE_BLOCK", NO_UNIT, 0),
    fd(0x24, 0xfc, "STORAGE_INTERVAL", TIME, 0),
    fd(0x28, 0xff, "STORAGE_INTERVAL_MONTHS", NO_UNIT, 0),
    fd(0x29, 0xff, "STORAGE_INTERVAL_YEARS", NO_UNIT, 0),
    fd(0x2c, 0xfc, "DURATION_SINCE_READOUT", TIME, 0),
    fd(0x30, 0xff, "START_OF_TARIFF", DATETIME, 0),
    fd(0x30, 0xfc, "DURATION_OF_TARIFF", TIME, 0),
    fd(0x34, 0xfc, "PERIOD_OF_TARIFF", TIME, 0),
    fd(0x38, 0xff, "PERIOD_OF_TARIFF_MONTHS", NO_UNIT, 0),
    fd(0x39, 0xff, "PERIOD_OF_TARIFF_YEARS", NO_UNIT, 0),
    fd(0x3a, 0xff, "DIMENSIONLESS", NO_UNIT, 0),
    fd(0x40, 0xf0, "VOLTS", VOLTS, -9),
    fd(0x50, 0xf0, "AMPERS", AMPERS, -12),
    fd(0x60, 0xff, "RESET_COUNTER", NO_UNIT, 0),
    fd(0x61, 0xff, "CUMULATIVE_COUNTER", NO_UNIT, 0),
    fd(0x62, 0xff, "CONTROL_SIGNAL", NO_UNIT, 0),
    fd(0x63, 0xff, "DAY_OF_WEEK", NO_UNIT, 0),
    fd(0x64, 0xff, "WEEK_NUMBER", NO_UNIT, 0),
    fd(0x65, 0xff, "TIME_POINT_DAY_CHANGE", NO_UNIT, 0),
    fd(0x66, 0xff, "STATE_PAR_ACTIVATION", NO_UNIT, 0),
    fd(0x67, 0xff, "SPECIAL_SUP_INFORMATION", NO_UNIT, 0),
    fd(0x68, 0xfc, "DURATION_SINCE_LAST_CUM", TIME, 2),
    fd(0x6c, 0xfc, "OPERATING_TIME_BATTERY", TIME, 2),
    fd(0x70, 0xff, "DATE_TIME_BATTERY_CHANGE", NO_UNIT, 0),
    fd(0x74, 0xfc, "REMAINING_BATTERY_LIFE_TIME", TIME, 3),
    fb(0x00, 0xfe, "ENERGY", WATT_HOUR, 5),
    fb(0x08, 0xfe, "ENERGY", KILO_JOULE, 5),
    fb(0x10, 0xfe, "VOLUME", M3, 8),
    fb(0x18, 0xfe, "MASS", KILO_GRAM, 5),
    fb(0x21, 0xff, "VOLUME", CUBIC_FOOT, -1),
    fb(0x22, 0xfe, "VOLUME", US_GALLON, -1),
    fb(0x24, 0xff, "VOLUME", US_GALLON, -3),
    fb(0x25, 0xff, "VOLUME", US_GALLON, 0),
    fb(0x26, 0xff, "VOLUME", US_GALLON_HOUR, 0),
    fb(0x28, 0xfe, "POWER", MEGA_WATT, 5),
    fb(0x30, 0xfe, "POWER", GIGA_JOULE_HOUR, 8),
    fb(0x58, 0xfc, "FLOW_TEMPERATURE", FAHRENHEIT, -3),
    fb(0x5c, 0xfc, "RETURN_TEMPERATURE", FAHRENHEIT, -3),
    fb(0x60, 0xfc, "TEMPERATURE_DIFF", FAHRENHEIT, -3),
    fb(0x64, 0xfc, "EXTERNAL_TEMPERATURE", FAHRENHEIT, -3),
    fb(0x70, 0xfc, "TEMPERATURE_LIMIT", FAHRENHEIT, -3),
    fb(0x74, 0xfc, "TEMPERATURE_LIMIT", CELSIUS, -3),
    fb(0x78, 0xf8, "CUMULATIVE_MAX_POWER", WATT, -3),
];

/// What a VIF means: record kind, base unit and power of ten.
#[derive(Clone, Copy)]
struct VifInfo {
    kind: &'static str,
    unit: Unit,
    exponent: i32,
}

/// Looks a packed VIF (VIF byte, then VIFE bytes above it) up the vendor's way: the VIF and
/// the low 7 bits of the first VIFE for the extension tables `0xfb` / `0xfd` (and `0xfc` to
/// `0xff`), the primary VIF without its extension bit otherwise. A packed VIF of 0 is the
/// vendor's "no VIF" (its own quirk: VIF `0x00`, energy in mWh, is never looked up).
fn vif_info(packed: u32) -> VifInfo {
    if packed == 0 {
        return VifInfo {
            kind: "NO_TYPE",
            unit: NO_UNIT,
            exponent: 0,
        };
    }
    let mut n = packed & 0x7fff;
    if !matches!(n & 0xff, 0xfb..=0xff) {
        n &= 0x7f;
    }
    for entry in &VIF_TABLE {
        if n & entry.mask == entry.code {
            let mut rest = n & !entry.mask & 0xffff;
            if rest > 15 {
                rest >>= 8;
            }
            let rest = i32::try_from(rest).unwrap_or(0);
            return VifInfo {
                kind: entry.kind,
                unit: entry.unit,
                exponent: rest + entry.offset,
            };
        }
    }
    VifInfo {
        kind: "MAN_SPECIFIC",
        unit: NO_UNIT,
        exponent: 0,
    }
}

/// A record's value.
#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Real(f64),
}

impl Num {
    fn as_i64(self) -> i64 {
        match self {
            Num::Int(v) => v,
            // Saturating, NaN to 0: only used to chain compact profiles on real bases.
            Num::Real(v) => v as i64,
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::Int(v) => v as f64,
            Num::Real(v) => v,
        }
    }

    fn json(self) -> Value {
        match self {
            Num::Int(v) => v.into(),
            Num::Real(v) => js_number(v),
        }
    }
}

/// One point of a compact profile.
struct ProfilePoint {
    timestamp: i64,
    value: i64,
    storage: u32,
}

/// One data record.
struct Record {
    dif: u32,
    storage: u32,
    tariff: u32,
    sub_unit: u32,
    function: u32,
    vif: u32,
    info: VifInfo,
    value: Num,
    str_value: Option<String>,
    profile: Option<Vec<ProfilePoint>>,
}

/// The fields of a DIF and its DIFEs.
struct Dif {
    packed: u32,
    data_field: u8,
    function: u32,
    storage: u32,
    tariff: u32,
    sub_unit: u32,
}

/// Decodes an OMS application-layer payload.
pub(crate) fn decode(bytes: &[u8]) -> Result<Object, DecodeError> {
    non_empty(bytes)?;
    let mut r = Reader::new(bytes);
    let header = header(&mut r)?;
    let mut records: Vec<Record> = Vec::new();
    while !r.is_empty() {
        let offset = r.pos();
        let first = r.u8(&"DIF")?;
        if first == 0x2f || first == 0x00 {
            // Fill byte (and the vendor's treatment of a zero DIF).
            continue;
        }
        let dif = dif(&mut r, first, offset)?;
        if dif.data_field == 0x0f {
            // Manufacturer-specific data: the rest of the payload, as hexadecimal text.
            let rest: String = r.rest().iter().map(|b| format!("{b:02x}")).collect();
            records.push(Record {
                dif: dif.packed,
                storage: dif.storage,
                tariff: dif.tariff,
                sub_unit: dif.sub_unit,
                function: dif.function,
                vif: 0,
                info: vif_info(0),
                value: Num::Int(0),
                str_value: Some(format!("0x{rest}")),
                profile: None,
            });
            continue;
        }
        let vif_offset = r.pos();
        let vif_byte = r.u8(&"VIF")?;
        if vif_byte & 0x7f == 0x7c {
            return Err(DecodeError::Unsupported {
                what: "plain-text VIF".to_owned(),
                offset: vif_offset,
                reason: "records with a unit given as text are not decoded".to_owned(),
            });
        }
        let vif = packed(&mut r, vif_byte, vif_offset, "VIFE")?;
        let first_vife = (vif >> 8) & 0xff;
        let record = if dif.data_field == 0x0d && matches!(first_vife, 0x13 | 0x1e | 0x1f) {
            compact_profile(&mut r, &dif, vif, &records)?
        } else {
            let info = vif_info(vif);
            let (value, str_value) = value(&mut r, dif.data_field, info.unit)?;
            Record {
                dif: dif.packed,
                storage: dif.storage,
                tariff: dif.tariff,
                sub_unit: dif.sub_unit,
                function: dif.function,
                vif,
                info,
                value,
                str_value,
                profile: None,
            }
        };
        records.push(record);
    }

    let alarms = match records.iter().find(|rec| rec.info.kind == ERROR_FLAGS) {
        Some(flags) => error_flag_alarms(flags.value.as_i64() & 0xffff),
        None => status_alarms(header.status.unwrap_or(0)),
    };

    let mut out = Object::new();
    out.insert(
        "identificationNo".to_owned(),
        header.identification_no.into(),
    );
    out.insert("manufacturer".to_owned(), header.manufacturer.into());
    out.insert(
        "manufacturerCode".to_owned(),
        header.manufacturer_code.into(),
    );
    out.insert("version".to_owned(), header.version.into());
    out.insert("device".to_owned(), header.device.into());
    out.insert("accessNo".to_owned(), header.access_no.into());
    out.insert("status".to_owned(), header.status.into());
    out.insert("config".to_owned(), header.config.into());
    out.insert(
        "records".to_owned(),
        Value::Array(records.iter().map(record_json).collect()),
    );
    out.insert(
        "alarms".to_owned(),
        Value::Array(alarms.into_iter().map(Value::from).collect()),
    );
    Ok(out)
}

/// The transport-layer header fields (absent ones are `null` in the output).
#[derive(Default)]
struct Header {
    identification_no: Option<u32>,
    manufacturer: Option<u16>,
    manufacturer_code: Option<String>,
    version: Option<u8>,
    device: Option<u8>,
    access_no: Option<u8>,
    status: Option<u8>,
    config: Option<u16>,
}

/// Reads the optional authentication and fragmentation layer, the CI field and its header.
fn header(r: &mut Reader<'_>) -> Result<Header, DecodeError> {
    let mut offset = r.pos();
    let mut ci = r.u8(&"CI field")?;
    if ci == 0x90 {
        // Authentication and fragmentation layer: skipped, as by the vendor.
        let length = r.u8(&"AFL length")?;
        r.skip(
            usize::from(length),
            &"authentication and fragmentation layer",
        )?;
        offset = r.pos();
        ci = r.u8(&"CI field")?;
    }
    let mut h = Header::default();
    match ci {
        0x78 => return Ok(h),
        0x7a | 0x74 => {}
        0x72 | 0x75 => {
            let id = r.array::<4>(&"identification number")?;
            let manufacturer = r.u16_le(&"manufacturer")?;
            h.identification_no = Some(bcd_digits(&id).try_into().unwrap_or(u32::MAX));
            h.manufacturer = Some(manufacturer);
            h.manufacturer_code = Some(manufacturer_code(manufacturer));
            h.version = Some(r.u8(&"version")?);
            h.device = Some(r.u8(&"device type")?);
        }
        _ => {
            return Err(DecodeError::UnknownFrame {
                kind: "CI field",
                code: ci,
                offset,
            })
        }
    }
    h.access_no = Some(r.u8(&"access number")?);
    h.status = Some(r.u8(&"status")?);
    let config_offset = r.pos();
    let config = r.u16_le(&"configuration")?;
    let mode = (config >> 8) & 0x1f;
    if mode != 0 {
        return Err(DecodeError::Unsupported {
            what: "encrypted payload".to_owned(),
            offset: config_offset,
            reason: format!("configuration security mode {mode}; only clear payloads are decoded"),
        });
    }
    h.config = Some(config);
    Ok(h)
}

/// The three letters of an M-Bus manufacturer id (5 bits each, `A` = 1).
fn manufacturer_code(id: u16) -> String {
    [(id >> 10) & 0x1f, (id >> 5) & 0x1f, id & 0x1f]
        .iter()
        .map(|&c| char::from(64 + u8::try_from(c).unwrap_or(0)))
        .collect()
}

/// The number written in BCD by `bytes` (least significant byte first); nibbles above 9 count
/// as 0, as in the vendor's parser.
fn bcd_digits(bytes: &[u8]) -> i64 {
    bytes.iter().rev().fold(0i64, |acc, &b| {
        let digit = |n: u8| i64::from(if n > 9 { 0 } else { n });
        acc.saturating_mul(100)
            .saturating_add(digit(b >> 4) * 10 + digit(b & 0x0f))
    })
}

/// Reads the extension bytes following `first` (each announced by bit 7 of the previous one)
/// and packs them above it, least significant first, as the vendor's output does.
fn packed(
    r: &mut Reader<'_>,
    first: u8,
    offset: usize,
    extension: &str,
) -> Result<u32, DecodeError> {
    let mut value = u32::from(first);
    let mut last = first;
    let mut count = 0u32;
    while last & 0x80 != 0 {
        if count == 3 {
            return Err(DecodeError::Unsupported {
                what: format!("{extension} chain"),
                offset,
                reason: format!("more than 3 {extension} bytes"),
            });
        }
        count += 1;
        last = r.u8(&extension)?;
        value |= u32::from(last) << (8 * count);
    }
    Ok(value)
}

/// Reads a DIF's extension bytes and splits the fields.
fn dif(r: &mut Reader<'_>, first: u8, offset: usize) -> Result<Dif, DecodeError> {
    let packed = packed(r, first, offset, "DIFE")?;
    let mut storage = u32::from((first & 0x40) >> 6);
    let mut tariff = 0;
    let mut sub_unit = 0;
    for k in 1..=3u32 {
        let dife = (packed >> (8 * k)) & 0xff;
        storage += (dife & 0x0f) << (4 * (k - 1) + 1);
        tariff += ((dife & 0x30) >> 4) << (2 * (k - 1));
        sub_unit += ((dife & 0x40) >> 6) << (k - 1);
    }
    Ok(Dif {
        packed,
        data_field: first & 0x0f,
        function: u32::from((first & 0x30) >> 4),
        storage,
        tariff,
        sub_unit,
    })
}

/// Reads a signed little-endian integer of `size` bytes.
fn int(r: &mut Reader<'_>, size: usize, what: &str) -> Result<(i64, u64), DecodeError> {
    let bytes = r.take(size, &what)?;
    let raw = bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let bits = u32::try_from(size * 8).unwrap_or(64);
    let signed = if bits == 0 || bits >= 64 {
        raw as i64
    } else {
        let shift = 64 - bits;
        ((raw << shift) as i64) >> shift
    };
    Ok((signed, raw))
}

/// Reads a record's data as its data field says; date units are converted to Unix time with
/// their text.
fn value(
    r: &mut Reader<'_>,
    data_field: u8,
    unit: Unit,
) -> Result<(Num, Option<String>), DecodeError> {
    let offset = r.pos();
    let size = match data_field {
        0x00 | 0x08 => 0,
        0x01 => 1,
        0x02 => 2,
        0x03 => 3,
        0x04 => 4,
        0x06 => 6,
        0x07 => 8,
        0x05 => {
            let v = f32::from_le_bytes(r.array(&"32-bit real")?);
            return Ok((Num::Real(f64::from(v)), None));
        }
        0x09..=0x0c | 0x0e => {
            let size = match data_field {
                0x09 => 1,
                0x0a => 2,
                0x0b => 3,
                0x0c => 4,
                _ => 6,
            };
            let digits = r.take(size, &"BCD value")?;
            return Ok((Num::Int(bcd_digits(digits)), None));
        }
        0x0d => {
            let length = r.u8(&"LVAR length")?;
            let skip = match length {
                0x00..=0xbf => length,
                0xc0..=0xcf => length - 0xc0,
                0xd0..=0xdf => length - 0xd0,
                0xe0..=0xef => length - 0xe0,
                0xf0..=0xfa => length - 0xf0,
                _ => 0,
            };
            // The vendor does not decode variable-length values: it skips them, value 0.
            r.skip(usize::from(skip), &"variable-length value")?;
            return Ok((Num::Int(0), None));
        }
        _ => {
            return Err(DecodeError::Unsupported {
                what: format!("data field 0x{data_field:x}"),
                offset,
                reason: "not a data type".to_owned(),
            })
        }
    };
    let (signed, raw) = int(r, size, "integer value")?;
    if unit == DATETIME {
        let (unix, text) = date(raw, size).ok_or_else(|| DecodeError::InvalidValue {
            what: "date".to_owned(),
            offset,
            reason: format!("0x{raw:x} is not a valid date and time"),
        })?;
        return Ok((Num::Int(unix), Some(text)));
    }
    Ok((Num::Int(signed), None))
}

/// An M-Bus date (type G, 2 bytes), date and time (type F, 4 bytes) or date and time with
/// seconds (type I, 6 bytes) in UTC, as Unix time and `YYYY-MM-DD hh:mm:ss`. Other sizes give
/// 2000-01-01 00:00:00, as in the vendor's parser.
fn date(raw: u64, size: usize) -> Option<(i64, String)> {
    let field = |shift: u32, mask: u64| u32::try_from((raw >> shift) & mask).unwrap_or(u32::MAX);
    let (year, month, day, hour, minute, second) = match size {
        2 => (
            (field(9, 0x78) | field(5, 0x07)) + 2000,
            field(8, 0x0f),
            field(0, 0x1f),
            0,
            0,
            0,
        ),
        4 => (
            (field(25, 0x78) | field(21, 0x07)) + 2000,
            field(24, 0x0f),
            field(16, 0x1f),
            field(8, 0x1f),
            field(0, 0x3f),
            0,
        ),
        6 => (
            ((field(24, 0xe0) >> 5) | (field(32, 0xf0) >> 1)) + 2000,
            field(32, 0x0f),
            field(24, 0x1f),
            field(16, 0x1f),
            field(8, 0x3f),
            field(0, 0x3f),
        ),
        _ => (2000, 1, 1, 0, 0, 0),
    };
    let unix = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?
        .and_hms_opt(hour, minute, second)?
        .and_utc()
        .timestamp();
    let text = format!("{year}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}");
    Some((unix, text))
}

/// Reads a compact profile: a spacing, then values relative to the register value and time
/// point of the same storage number read earlier in the payload.
fn compact_profile(
    r: &mut Reader<'_>,
    dif: &Dif,
    vif: u32,
    earlier: &[Record],
) -> Result<Record, DecodeError> {
    let offset = r.pos();
    let length = usize::from(r.u8(&"compact profile length")?);
    let [control, spacing] = r.array::<2>(&"compact profile spacing")?;
    let element_field = control & 0x0f;
    let spacing_unit = (control & 0x30) >> 4;
    let increment_mode = (control & 0xc0) >> 6;
    let inverse = (vif >> 8) & 0xff == 0x13;
    let info = vif_info(vif);

    let (size, bcd) = match element_field {
        0x01 => (1, false),
        0x02 => (2, false),
        0x03 => (3, false),
        0x04 => (4, false),
        0x06 => (6, false),
        0x07 => (8, false),
        0x09 => (1, true),
        0x0a => (2, true),
        0x0b => (3, true),
        0x0c => (4, true),
        0x0e => (6, true),
        _ => {
            return Err(DecodeError::Unsupported {
                what: "compact profile element type".to_owned(),
                offset: offset + 1,
                reason: format!("data field 0x{element_field:x} has no fixed length"),
            })
        }
    };
    let Some(data_length) = length.checked_sub(2) else {
        return Err(DecodeError::InvalidValue {
            what: "compact profile length".to_owned(),
            offset,
            reason: format!("{length} byte(s), less than its 2 spacing bytes"),
        });
    };
    if !data_length.is_multiple_of(size) {
        return Err(DecodeError::InvalidValue {
            what: "compact profile length".to_owned(),
            offset,
            reason: format!("{data_length} byte(s) of elements of {size} byte(s)"),
        });
    }
    let elements = r.take(data_length, &"compact profile elements")?;

    let time_point = earlier
        .iter()
        .find(|rec| rec.info.kind == TIME_POINT && rec.storage == dif.storage);
    let base = earlier
        .iter()
        .find(|rec| rec.info.kind == info.kind && rec.storage == dif.storage);
    let base_time = time_point.map_or(-1, |rec| rec.value.as_i64());
    let base_value = base.map_or(0, |rec| rec.value.as_i64());
    let base_storage = base.map_or(0, |rec| rec.storage);

    let mut points = vec![ProfilePoint {
        timestamp: base_time,
        value: base_value,
        storage: base_storage,
    }];
    let mut current = base_value;
    let mut er = Reader::new(elements);
    let mut step: i64 = 1;
    while !er.is_empty() {
        let element = if bcd {
            Some(bcd_digits(er.take(size, &"compact profile element")?))
        } else {
            let (v, _) = int(&mut er, size, "compact profile element")?;
            // The most negative value of the size marks an invalid element.
            let bits = u32::try_from(size * 8).unwrap_or(64);
            let invalid = if bits >= 64 {
                i64::MIN
            } else {
                -(1i64 << (bits - 1))
            };
            (v != invalid).then_some(v)
        };
        let storage = u32::try_from((i64::from(base_storage) + step) & 0xff).unwrap_or(0);
        if let Some(element) = element {
            let timestamp = profile_time(base_time, step, spacing_unit, spacing, inverse)
                .ok_or_else(|| DecodeError::InvalidValue {
                    what: "compact profile time".to_owned(),
                    offset,
                    reason: "out of the calendar's range".to_owned(),
                })?;
            let sign: i64 = if inverse { -1 } else { 1 };
            current = match increment_mode {
                1 | 3 => current.checked_add(sign.saturating_mul(element)),
                2 => current.checked_sub(sign.saturating_mul(element)),
                _ => Some(element),
            }
            .ok_or_else(|| DecodeError::InvalidValue {
                what: "compact profile value".to_owned(),
                offset,
                reason: "overflows 64 bits".to_owned(),
            })?;
            points.push(ProfilePoint {
                timestamp,
                value: current,
                storage,
            });
        }
        step += 1;
    }
    points.sort_by_key(|p| p.timestamp);

    Ok(Record {
        dif: dif.packed,
        storage: dif.storage,
        tariff: dif.tariff,
        sub_unit: dif.sub_unit,
        function: dif.function,
        vif: vif & 0x7f,
        info,
        value: Num::Int(0),
        str_value: None,
        profile: Some(points),
    })
}

/// The time of the `step`-th point of a profile: `-1` when the base time or the spacing is
/// unknown, as in the vendor's parser; `None` when out of the calendar.
fn profile_time(base: i64, step: i64, unit: u8, spacing: u8, inverse: bool) -> Option<i64> {
    if base == -1 || spacing == 0 || !(spacing <= 250 || spacing == 254) {
        return Some(-1);
    }
    let sign: i64 = if inverse { -1 } else { 1 };
    if spacing <= 250 {
        let count = step.checked_mul(i64::from(spacing))?.checked_mul(sign)?;
        let seconds_per = match unit {
            0 => 1,
            1 => 60,
            2 => 3600,
            _ => 86_400,
        };
        return base.checked_add(count.checked_mul(seconds_per)?);
    }
    // 0xfe: month-based spacing (half-years, quarters or months).
    let months_per = match unit {
        1 => 6,
        2 => 3,
        3 => 1,
        _ => return Some(base),
    };
    let months = u32::try_from(step.checked_mul(months_per)?).ok()?;
    let start = DateTime::from_timestamp(base, 0)?;
    let moved = if inverse {
        start.checked_sub_months(Months::new(months))?
    } else {
        start.checked_add_months(Months::new(months))?
    };
    Some(moved.timestamp())
}

/// A record as the vendor's output writes it.
fn record_json(rec: &Record) -> Value {
    let scaled = |v: f64| -> Value {
        if rec.info.unit == NO_UNIT || rec.info.unit == DATETIME || rec.info.unit == TIME {
            Value::Null
        } else {
            js_number(v * js_pow10(rec.info.exponent))
        }
    };
    let mut o = Object::new();
    o.insert("dif".to_owned(), rec.dif.into());
    o.insert("storage".to_owned(), rec.storage.into());
    o.insert("tariff".to_owned(), rec.tariff.into());
    o.insert("subUnit".to_owned(), rec.sub_unit.into());
    o.insert("function".to_owned(), rec.function.into());
    o.insert("vif".to_owned(), rec.vif.into());
    o.insert("vifType".to_owned(), rec.info.kind.into());
    match &rec.profile {
        None => {
            o.insert("value".to_owned(), rec.value.json());
            o.insert("scaledValue".to_owned(), scaled(rec.value.as_f64()));
            o.insert("strValue".to_owned(), rec.str_value.clone().into());
        }
        Some(_) => {
            o.insert("value".to_owned(), Value::Null);
            o.insert("scaledValue".to_owned(), Value::Null);
            o.insert("strValue".to_owned(), Value::Null);
        }
    }
    o.insert("unit".to_owned(), rec.info.unit.name.into());
    o.insert("symbol".to_owned(), rec.info.unit.symbol.into());
    o.insert("exponent".to_owned(), rec.info.exponent.into());
    match &rec.profile {
        None => {
            o.insert("isCompactProfile".to_owned(), Value::Null);
            o.insert("values".to_owned(), Value::Null);
        }
        Some(points) => {
            o.insert("isCompactProfile".to_owned(), true.into());
            let values = points
                .iter()
                .map(|p| {
                    let mut v = Object::new();
                    v.insert("timestamp".to_owned(), p.timestamp.into());
                    v.insert("value".to_owned(), p.value.into());
                    v.insert("scaledValue".to_owned(), scaled(p.value as f64));
                    v.insert("storage".to_owned(), p.storage.into());
                    Value::Object(v)
                })
                .collect();
            o.insert("values".to_owned(), Value::Array(values));
        }
    }
    Value::Object(o)
}

/// Alarms from the error-flags record (its low 16 bits), the vendor's mapping.
fn error_flag_alarms(flags: i64) -> Vec<&'static str> {
    let low = flags & 0xff;
    let high = (flags >> 8) & 0xff;
    let mut alarms = Vec::new();
    let mut check = |set: bool, name| {
        if set {
            alarms.push(name);
        }
    };
    check(low & 0x01 != 0, "MECHANICAL_TAMPERING");
    check(low & 0x02 != 0, "LOW_BATTERY");
    check(low & 0x08 != 0, "BATTERY_CUT");
    check(low & 0x10 != 0, "HW_SW_ERROR");
    check(low & 0x40 != 0, "MAGNETIC_TAMPERING");
    if low & 0x80 != 0 {
        check(high & 0x04 != 0, "LEAKAGE");
        check(high & 0x08 != 0, "EMPTY_PIPE");
        check(high & 0x10 != 0, "BROKEN_PIPE");
        check(high & 0x20 != 0, "SENSOR_OUT_OF_RANGE");
        check(high & 0x40 != 0, "CLOCK_SYNC_ERROR");
    } else {
        const BITS: [&str; 7] = [
            "EF2_MAN_SPEC_BIT0",
            "EF2_MAN_SPEC_BIT1",
            "EF2_MAN_SPEC_BIT2",
            "EF2_MAN_SPEC_BIT3",
            "EF2_MAN_SPEC_BIT4",
            "EF2_MAN_SPEC_BIT5",
            "EF2_MAN_SPEC_BIT6",
        ];
        for (bit, name) in BITS.iter().enumerate() {
            check(high & (1 << bit) != 0, name);
        }
    }
    alarms
}

/// Alarms from the header's status byte, the vendor's mapping.
fn status_alarms(status: u8) -> Vec<&'static str> {
    let all = |mask: u8| status & mask == mask;
    let mut alarms = Vec::new();
    let checks = [
        (0x04, "LOW_BATTERY"),
        (0x90, "LEAKAGE"),
        (0x50, "MAGNETIC_TAMPERING"),
        (0x48, "HW_SW_ERROR"),
        (0x30, "SENSOR_OUT_OF_RANGE"),
        (0x90, "BROKEN_PIPE"),
        (0x30, "EMPTY_PIPE"),
    ];
    for (mask, name) in checks {
        if all(mask) {
            alarms.push(name);
        }
    }
    alarms
}
