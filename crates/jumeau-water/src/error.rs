//! Errors of the drinking-water domain.

/// Why a water network, a simulation, an indicator or a benchmark input was refused.
///
/// Every message says what was wrong and, where possible, how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WaterError {
    /// A line of an EPANET `.inp` file could not be read.
    #[error("line {line} of the .inp file, section [{section}]: {message}")]
    Inp {
        /// The 1-based line number in the file.
        line: usize,
        /// The section the line belongs to (`PIPES`...), empty before the first section.
        section: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The network refers to something it does not define, or is otherwise inconsistent.
    #[error("invalid network: {0}")]
    Network(String),
    /// A georeferencing transform or a coordinate conversion failed.
    #[error("georeferencing: {0}")]
    Geo(String),
    /// The hydraulic solver refused the network or did not converge.
    #[error("hydraulic simulation: {0}")]
    Simulation(String),
    /// Input volumes or lengths of an indicator are out of range.
    #[error("indicator: {0}")]
    Indicator(String),
    /// A CSV or YAML input of the leak-detection benchmark could not be read.
    #[error("benchmark data: {0}")]
    Data(String),
}

/// Result type of this crate.
pub type Result<T, E = WaterError> = std::result::Result<T, E>;
