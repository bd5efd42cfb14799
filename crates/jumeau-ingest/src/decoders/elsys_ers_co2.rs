//! Elsys ERS CO2: indoor temperature, humidity, light, motion (PIR count) and CO2.
//!
//! Profile `elsys/ers-co2`. The payload is the common Elsys type-value format (see the
//! `elsys` module); the vendor codec (`vendor/elsys/ers-co2-codec.yaml`, decoder `elsys.js`)
//! does not look at the fPort, so any application port is accepted (Elsys devices send on
//! port 5 by default; the vendor's example uses port 1).
//!
//! Output fields as the vendor's codec: `temperature` (°C, one decimal), `humidity` (%),
//! `light` (lux), `motion` (PIR count since the last uplink), `co2` (ppm), `vdd` (mV), and any
//! other Elsys type the sensor sends.

use super::util::{check_app_port, Object};
use super::{elsys, DecodeError, Decoder};

/// Decoder of the `elsys/ers-co2` profile.
pub(crate) struct ErsCo2;

impl Decoder for ErsCo2 {
    fn profile(&self) -> &'static str {
        "elsys/ers-co2"
    }

    fn decode(&self, f_port: u8, bytes: &[u8]) -> Result<Object, DecodeError> {
        check_app_port(f_port)?;
        elsys::decode(bytes)
    }
}
