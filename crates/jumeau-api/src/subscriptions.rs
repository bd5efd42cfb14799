//! NGSI-LD subscriptions (ETSI GS CIM 009 §6.10, §6.11): who is told of which changes.

use axum::Router;

use crate::App;

/// The routes of this module, mounted under `/ngsi-ld/v1`.
pub(crate) fn routes() -> Router<App> {
    Router::new()
}
