//! Sensor ingestion for Jumeau: what LoRaWAN network servers and gateways send, turned into
//! plain readings the twin can store.
//!
//! - [`uplink`] reads the messages of the network servers communes use (ChirpStack v4, The
//!   Things Stack v3) into one normalized [`uplink::Uplink`].
//! - [`decoders`] turns a device's payload bytes into named values when the network server
//!   did not decode them, one module per device profile.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod decoders;
pub mod uplink;
