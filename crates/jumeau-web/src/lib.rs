//! The web interface of Jumeau, served by the binary itself: a map of the twin with a layer
//! per service, a list view giving the same information, entity panels with time-series
//! charts, and a home page for elected officials.
//!
//! Every asset is embedded in the binary (MapLibre GL JS included), so the interface works
//! on a network with no way out. Live updates come from `GET /jumeau/v1/events`, a stream of
//! server-sent events fed by the twin's change channel.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod assets;
mod compress;
mod events;

use axum::routing::get;
use axum::Router;
use jumeau_api::App;
use jumeau_twin::Twin;
use tokio::sync::watch;

/// Settings of the web interface.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// A MapLibre style URL drawn under the twin's layers; none by default, so the map
    /// needs no tile server.
    pub basemap_style: Option<String>,
    /// The tenant the interface shows when the page address names none (`?tenant=`).
    pub default_tenant: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            basemap_style: None,
            default_tenant: jumeau_twin::DEFAULT_TENANT.to_string(),
        }
    }
}

/// The routes of the interface: `/` (the application shell), `/assets/{version}/...`
/// and `/jumeau/v1/events` (server-sent events). Every other path is left to the API, so
/// its 404 answers stay ProblemDetails. Event streams end when `stop` turns true, which
/// lets a graceful shutdown finish while browsers are connected.
pub fn router(twin: Twin, config: &WebConfig, stop: watch::Receiver<bool>) -> Router {
    let assets = assets::Assets::new(config);
    Router::new()
        .merge(assets.routes())
        .route("/jumeau/v1/events", get(events::stream))
        .with_state(events::EventsState { twin, stop })
}

/// Serves the API and the web interface on a bound listener until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    config: WebConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let routes = jumeau_api::router(app.clone())
        .merge(router(app.twin.clone(), &config, stop_rx))
        .layer(axum::middleware::from_fn(compress::gzip_json));
    axum::serve(listener, routes)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Ends the event streams, which would otherwise keep the server waiting.
            let _ = stop_tx.send(true);
        })
        .await
}
