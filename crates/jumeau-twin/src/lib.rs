//! The Jumeau twin service: tenants, API keys, JSON-LD context resolution, import and export.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod import;
