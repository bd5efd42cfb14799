//! Device payload decoders, one module per device profile.
