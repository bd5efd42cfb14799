//! Update semantics.
