//! Entity type selection expressions.
use crate::Result;

/// A type expression.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeExpr {
    /// One type (expanded IRI).
    Type(String),
}

impl TypeExpr {
    /// Parses a type expression, expanding each type name with `expand`.
    pub fn parse(s: &str, expand: &dyn Fn(&str) -> String) -> Result<Self> {
        Ok(Self::Type(expand(s)))
    }
    /// Whether an entity with these types matches.
    pub fn matches(&self, types: &[String]) -> bool {
        match self {
            Self::Type(t) => types.contains(t),
        }
    }
    /// Every type named in the expression (for an index prefilter).
    pub fn mentioned(&self) -> Vec<&str> {
        match self {
            Self::Type(t) => vec![t.as_str()],
        }
    }
}
