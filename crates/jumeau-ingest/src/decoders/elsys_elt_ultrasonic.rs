//! Elsys ELT Ultrasonic: distance to a water or material surface, with the ELT's internal
//! temperature, humidity, accelerometer and pressure.
//!
//! Profile `elsys/elt-ultrasonic`. The payload is the common Elsys type-value format (see the
//! `elsys` module); the vendor codec (`vendor/elsys/elt-ultrasonic-codec.yaml`, decoder
//! `elsys.js`) does not look at the fPort, so any application port is accepted.
//!
//! Output fields as the vendor's codec: `distance` (mm), `temperature` (°C), `humidity` (%),
//! `x`, `y`, `z` (acceleration, 63 = 1 g), `pressure` (the sensor's raw value divided by 1000,
//! as the vendor's decoder does), `vdd` (mV).

use super::util::{check_app_port, Object};
use super::{elsys, DecodeError, Decoder};

/// Decoder of the `elsys/elt-ultrasonic` profile.
pub(crate) struct EltUltrasonic;

impl Decoder for EltUltrasonic {
    fn profile(&self) -> &'static str {
        "elsys/elt-ultrasonic"
    }

    fn decode(&self, f_port: u8, bytes: &[u8]) -> Result<Object, DecodeError> {
        check_app_port(f_port)?;
        elsys::decode(bytes)
    }
}
