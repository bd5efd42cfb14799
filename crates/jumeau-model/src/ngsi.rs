//! Parsing and rendering of NGSI-LD JSON forms.
