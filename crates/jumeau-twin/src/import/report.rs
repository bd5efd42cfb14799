//! The result of an import: the entities, and the validation report of what was refused.
use serde::Serialize;

/// The outcome of importing one file: the entities built, the rows refused with their
/// reasons, and notes about what was changed on the way (renamed attributes, derived
/// ids, converted coordinates). Every row of the file is either an entity or a rejection.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportBatch {
    /// The entities, in NGSI-LD normalized JSON with compact terms, in file order.
    pub entities: Vec<serde_json::Value>,
    /// The rows that were not imported, in file order.
    pub rejected: Vec<Rejection>,
    /// Changes made to the data that the user should know about, each reported once.
    pub notes: Vec<String>,
}

impl ImportBatch {
    /// Whether every row was imported.
    pub fn is_complete(&self) -> bool {
        self.rejected.is_empty()
    }
}

/// A row of the file that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The 1-based line number (CSV) or feature index (GeoJSON) of the row.
    pub row: usize,
    /// The entity id the row would have had, when it could be determined.
    pub id: Option<String>,
    /// What is wrong with the row, in words meant for the person who fixes the file.
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id) => write!(f, "row {} ({id}): {}", self.row, self.reason),
            None => write!(f, "row {}: {}", self.row, self.reason),
        }
    }
}
