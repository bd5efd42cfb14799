//! The NGSI-LD query language.
use crate::{Entity, Result};

/// A parsed q expression.
#[derive(Debug, Clone, PartialEq)]
pub enum QExpr {
    /// Placeholder.
    True,
}

impl QExpr {
    /// Parses a q expression, expanding attribute names with `expand`.
    pub fn parse(s: &str, expand: &dyn Fn(&str) -> String) -> Result<Self> {
        let _ = (s, expand);
        Ok(Self::True)
    }
    /// Whether an entity satisfies the expression.
    pub fn matches(&self, e: &Entity) -> bool {
        let _ = e;
        true
    }
}
