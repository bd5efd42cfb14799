//! Device payload decoders, one module per device profile.
//!
//! When the network server did not decode an uplink (no codec configured, or a server that
//! does not run codecs at all), Jumeau turns the raw LoRaWAN payload bytes into named values
//! itself. Each supported device profile has its own module (`<vendor>_<device>.rs`) whose
//! output reproduces the vendor's own codec from The Things Network device repository: same
//! field names, same units, same numbers (for example `22.6`, not `22.599999`), so that a reading
//! decoded here looks exactly like one decoded by the network server. Where the vendor's codec
//! is wrong, the module says so in its documentation and in `DECISIONS.md` beside this file.
//!
//! # Use
//!
//! ```
//! use jumeau_ingest::decoders;
//!
//! let decoder = decoders::decoder("elsys/ers-co2").expect("known profile");
//! let bytes = [0x01, 0x00, 0xe2, 0x02, 0x29];
//! let values = decoder.decode(1, &bytes).expect("valid payload");
//! assert_eq!(values["temperature"], 22.6);
//! assert_eq!(values["humidity"], 41);
//! ```
//!
//! # Payloads come from the radio
//!
//! Every decoder accepts any byte slice and any fPort without panicking. A payload that is
//! empty, truncated, of the wrong length, sent on a port the device does not use for uplinks,
//! or that contains a channel, frame type or value the format does not define gives a
//! [`DecodeError`] that says what was wrong and at which byte. Decoders never return partial
//! data: where the vendor's JavaScript silently stops at the first byte it does not understand,
//! these decoders report it, because the rest of such a payload cannot be trusted.
//!
//! # Profiles
//!
//! Profile ids are the `vendor/device` ids of The Things Network device repository, which
//! network servers and device inventories already use. [`profiles`] lists them.

use serde_json::{Map, Value};

mod util;

mod adeunis;
mod elsys;
mod milesight;
mod oms;

mod adeunis_comfort_co2;
mod adeunis_pulse;
mod bmeters_iwmlr3;
mod dingtek_df702;
mod dragino_ldds75;
mod dragino_lht65;
mod elsys_elt_ultrasonic;
mod elsys_ers_co2;
mod milesight_am307;
mod milesight_am319;
mod milesight_em300_di;
mod milesight_em300_th;
mod milesight_em500_co2;
mod milesight_em500_udl;
mod sensus_iperl;

/// A payload decoder for one device profile.
///
/// Implementations are stateless unit values, shared as `&'static dyn Decoder` through
/// [`decoder`], so that any thread can decode any uplink without setup.
pub trait Decoder: Send + Sync {
    /// The stable profile id of the device, `vendor/device` as in The Things Network device
    /// repository (for example `"elsys/ers-co2"`); device inventories refer to decoders by it.
    fn profile(&self) -> &'static str;

    /// Decodes the payload `bytes` of an uplink received on `f_port` into named values, with
    /// the field names and units of the vendor's codec.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when the port is not one the device uses for uplinks, or the payload
    /// is empty, truncated, of the wrong length, or holds something the format does not define.
    fn decode(&self, f_port: u8, bytes: &[u8]) -> Result<Map<String, Value>, DecodeError>;
}

/// Why a payload could not be decoded. The messages name the offending byte offset so that an
/// operator can compare with the raw payload in the network server's console.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The payload has no byte at all.
    #[error("payload is empty")]
    Empty,

    /// The uplink arrived on a port the device does not send measurements on.
    #[error("fPort {f_port} is not an uplink port of this device (expected {expected})")]
    UnsupportedFPort {
        /// The port the uplink arrived on.
        f_port: u8,
        /// The port or ports the device uses, in words.
        expected: &'static str,
    },

    /// The payload ends before a value it announces.
    #[error(
        "payload ends inside {what} at byte {offset}: {needed} byte(s) expected, {available} left"
    )]
    Truncated {
        /// The channel, frame part or field being read.
        what: String,
        /// Offset of the first byte of that value.
        offset: usize,
        /// How many bytes the value takes.
        needed: usize,
        /// How many bytes were left in the payload.
        available: usize,
    },

    /// A fixed-layout payload has a length the format does not define.
    #[error("payload is {actual} bytes long; {expected}")]
    BadLength {
        /// The length received.
        actual: usize,
        /// The length or lengths of the format, in words.
        expected: &'static str,
    },

    /// A channel (type byte, or channel id and type) the format does not define; the rest of
    /// the payload cannot be delimited after it.
    #[error("unknown channel {channel} at byte {offset}")]
    UnknownChannel {
        /// The channel bytes, in hexadecimal.
        channel: String,
        /// Offset of the channel's first byte.
        offset: usize,
    },

    /// A frame type (frame code, header field) the format does not define.
    #[error("unknown {kind} 0x{code:02x} at byte {offset}")]
    UnknownFrame {
        /// What the byte is (for example `"frame code"`).
        kind: &'static str,
        /// The byte's value.
        code: u8,
        /// Offset of the byte.
        offset: usize,
    },

    /// A value that the format defines but that is out of its range (an impossible date, a
    /// coordinate beyond the poles, a frame marker with the wrong value).
    #[error("invalid {what} at byte {offset}: {reason}")]
    InvalidValue {
        /// The field.
        what: String,
        /// Offset of its first byte.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// Something the format allows but these decoders do not decode (and the vendor's codec
    /// does not either, or decodes wrongly).
    #[error("unsupported {what} at byte {offset}: {reason}")]
    Unsupported {
        /// The construct.
        what: String,
        /// Offset of its first byte.
        offset: usize,
        /// Why it is not decoded.
        reason: String,
    },
}

/// Every decoder, in the order [`profiles`] lists them.
static DECODERS: [&dyn Decoder; 15] = [
    &elsys_ers_co2::ErsCo2,
    &elsys_elt_ultrasonic::EltUltrasonic,
    &milesight_am307::Am307,
    &milesight_am319::Am319,
    &milesight_em500_co2::Em500Co2,
    &milesight_em300_th::Em300Th,
    &milesight_em500_udl::Em500Udl,
    &milesight_em300_di::Em300Di,
    &adeunis_comfort_co2::ComfortCo2,
    &adeunis_pulse::Pulse,
    &dragino_lht65::Lht65,
    &dragino_ldds75::Ldds75,
    &dingtek_df702::Df702,
    &bmeters_iwmlr3::Iwmlr3,
    &sensus_iperl::Iperl,
];

/// The decoder of a device profile, looked up by its exact id (for example `"elsys/ers-co2"`),
/// or `None` when Jumeau has no native decoder for it.
pub fn decoder(profile: &str) -> Option<&'static dyn Decoder> {
    DECODERS.iter().copied().find(|d| d.profile() == profile)
}

/// The ids of every device profile Jumeau can decode natively, so that an inventory can be
/// checked against them.
pub fn profiles() -> impl Iterator<Item = &'static str> {
    DECODERS.iter().map(|d| d.profile())
}
