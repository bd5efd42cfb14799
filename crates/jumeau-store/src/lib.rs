//! Storage engines of the Jumeau twin.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod index;
pub mod sqlite;
