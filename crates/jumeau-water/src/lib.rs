//! The drinking-water domain of Jumeau (chantier 2): EPANET networks, hydraulic what-if
//! runs, the French regulatory indicators and leak detection.
//!
//! - [`inp`]: EPANET `.inp` files read into plain types and written back;
//! - [`georef`] and [`ngsi`]: the network placed on the map and turned into NGSI-LD
//!   entities of the Smart Data Models EPANET subject;
//! - [`records`]: the model, what-if runs, leak alerts as entities;
//! - [`hydraulics`]: what-if simulations with the `epanet-rs` solver (EPANET 2.3);
//! - [`indicators`]: SISPEA / RPQS performance indicators and the "Grenelle" threshold;
//! - [`graph`]: network distances along pipes;
//! - [`leaks`]: minimum night flow, pressure residuals with CUSUM, localisation, acoustic
//!   correlation;
//! - [`scada`]: SCADA exports checked (gaps, repeated timestamps, dead sensors);
//! - [`benchmark`]: a BattLeDIM-style scenario generator, detector and scorer.
//!
//! The full benchmark run (a year of L-Town at 5-minute steps) is the `battledim` example:
//!
//! ```text
//! cargo run --release -p jumeau-water --example battledim -- \
//!     path/to/L-TOWN.inp /tmp/battledim 365 2025 20 14
//! ```
//!
//! Pure domain code: no HTTP, no SQL. Simulations write a temporary `.inp` file because
//! the solver reads networks from files.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod benchmark;
pub mod error;
pub mod georef;
pub mod graph;
pub mod hydraulics;
pub mod indicators;
pub mod inp;
pub mod leaks;
pub mod ngsi;
pub mod records;
pub mod scada;

pub use error::{Result, WaterError};
pub use georef::Georeference;
pub use inp::Network;

#[cfg(test)]
pub(crate) mod test_support {
    /// The text of a reference network copied into `tests/data` (sources in its SOURCES.txt).
    pub(crate) fn reference(name: &str) -> String {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        #[allow(clippy::panic)]
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}
