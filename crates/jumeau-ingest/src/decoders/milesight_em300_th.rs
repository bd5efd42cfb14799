//! Milesight EM300-TH: temperature and humidity.
//!
//! Profile `milesight-iot/em300-th`. Specification: `vendor/milesight-iot/em300-th.js` of The
//! Things Network device repository (commit 00bd1a82). Any application port is accepted (the
//! vendor's decoder does not look at it; the vendor's example uses port 1, the device sends on
//! port 85).
//!
//! Output fields as the vendor's decoder (`Decoder`, not its `normalizeUplink`): `battery` (%),
//! `temperature` (°C), `humidity` (%RH).

use super::milesight::{self, Channel, BATTERY, HUMIDITY, TEMPERATURE};
use super::util::{check_app_port, Object};
use super::{DecodeError, Decoder};

/// Decoder of the `milesight-iot/em300-th` profile.
pub(crate) struct Em300Th;

const CHANNELS: [Channel; 3] = [BATTERY, TEMPERATURE, HUMIDITY];

impl Decoder for Em300Th {
    fn profile(&self) -> &'static str {
        "milesight-iot/em300-th"
    }

    fn decode(&self, f_port: u8, bytes: &[u8]) -> Result<Object, DecodeError> {
        check_app_port(f_port)?;
        milesight::decode(bytes, &CHANNELS)
    }
}
