//! Network-server uplink messages.
