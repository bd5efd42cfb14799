//! The NGSI-LD entity model of Jumeau, the territorial digital twin.
//!
//! Every asset of a territory (point lumineux, armoire, pipe, meter, building, sensor,
//! alert, citizen report) is an [`Entity`] with attributes, as defined by ETSI GS CIM 009
//! (the NGSI-LD API). This crate holds the model and its pure rules: parsing and rendering
//! the JSON-LD forms, context expansion and compaction, the query language and the update
//! semantics. It never imports HTTP or SQL, so every engine and every front-end shares it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod context;
pub mod entity;
pub mod error;
pub mod ngsi;
pub mod ops;
pub mod query;
pub mod subscription;
pub mod temporal;
pub mod time;

pub use entity::{Attribute, AttributeValue, Entity};
pub use error::{ErrorKind, NgsiError, Result};
pub use jumeau_geo as geo;
