//! JSON-LD @context handling.
use std::sync::Arc;

/// An active JSON-LD context: term definitions used to expand and compact names.
#[derive(Debug, Clone, Default)]
pub struct Context {}

impl Context {
    /// The NGSI-LD core context alone.
    pub fn core() -> Arc<Context> {
        Arc::new(Context {})
    }
    /// Expands a term to an IRI.
    pub fn expand(&self, term: &str) -> String {
        term.to_string()
    }
    /// Compacts an IRI to a term.
    pub fn compact(&self, iri: &str) -> String {
        iri.to_string()
    }
}
