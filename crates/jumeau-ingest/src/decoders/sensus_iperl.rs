//! Sensus iPERL: electromagnetic water meter whose LoRaWAN module forwards the meter's OMS
//! (wireless M-Bus) telegram: volume index, date and time, hourly index profile, alarms.
//!
//! Profile `sensus/iperl`. Specification: the codec `vendor/sensus/iperl-codec.yaml` and its
//! decoder `vendor/sensus/iperl-oms.js` of The Things Network device repository (commit
//! 44aafd7d), which decodes fPorts 20, 21 and 22 as OMS application-layer payloads; any other
//! port is a [`DecodeError::UnsupportedFPort`] (the vendor's decoder returns nothing for them).
//!
//! The payload parsing and its output (`identificationNo`, `accessNo`, `status`, `records`
//! with `vifType`, `value`, `scaledValue` in `unit` / `symbol`, compact-profile `values`,
//! `alarms`...) are the `oms` module's, which lists where it departs from the vendor's parser.
//! For the vendor's example (an SND-ALARM telegram): a volume index of 25041.978 m³ at
//! 2024-06-19 13:42 UTC, the eleven previous hourly indexes, and `LOW_BATTERY` from the status
//! byte.

use super::util::{check_port, Object};
use super::{oms, DecodeError, Decoder};

/// Decoder of the `sensus/iperl` profile.
pub(crate) struct Iperl;

impl Decoder for Iperl {
    fn profile(&self) -> &'static str {
        "sensus/iperl"
    }

    fn decode(&self, f_port: u8, bytes: &[u8]) -> Result<Object, DecodeError> {
        check_port(f_port, &[20, 21, 22], "20, 21 or 22")?;
        oms::decode(bytes)
    }
}
