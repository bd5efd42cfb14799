//! Sensor ingestion for Jumeau: what LoRaWAN network servers and gateways send, turned into
//! plain readings the twin can store.
//!
//! - [`uplink`] reads the messages of the network servers communes use (ChirpStack v4, The
//!   Things Stack v3) into one normalized [`uplink::Uplink`].
//! - [`decoders`] turns a device's payload bytes into named values when the network server
//!   did not decode them, one module per device profile.
//! - [`message`], [`dedup`], [`mapping`], [`registry`] and [`metrics`] are the pure steps of
//!   the pipeline: reading journaled bodies, dropping copies, mapping decoded fields onto
//!   NGSI-LD attributes with plausibility checks, checking registrations, rendering counters.
//! - [`service`] runs the pipeline (journal, processor, stale-device check) and [`mqtt`]
//!   subscribes to brokers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod decoders;
pub mod dedup;
pub mod mapping;
pub mod message;
pub mod metrics;
pub mod mqtt;
pub mod registry;
pub mod service;
pub mod uplink;

pub use mqtt::MqttSource;
pub use service::{Incoming, IngestConfig, IngestError, IngestService, Receipt, ReplayReport};
