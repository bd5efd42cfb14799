//! The NGSI-LD temporal API (ETSI GS CIM 009 §6.18 to §6.24): the history of entities,
//! raw or aggregated.

use axum::Router;

use crate::App;

/// The routes of this module, mounted under `/ngsi-ld/v1`.
pub(crate) fn routes() -> Router<App> {
    Router::new()
}
