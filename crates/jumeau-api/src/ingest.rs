//! Sensor ingestion endpoints: network-server integrations, the device registry, dead
//! letters and counters.

use axum::Router;

use crate::App;

/// The routes of this module, mounted under `/`.
pub(crate) fn routes() -> Router<App> {
    Router::new()
}
