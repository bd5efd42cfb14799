//! The HTTP API of Jumeau: NGSI-LD under `/ngsi-ld/v1` (ETSI GS CIM 009), plus health,
//! tenant settings and the OpenAPI description.
//!
//! Handlers are thin: they parse the request into the model's terms, call the twin
//! service, and render the answer. Every rule lives in the crates below.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admin;
mod batch;
mod contexts;
mod entities;
mod info;
mod ingest;
mod lighting;
mod map;
pub mod params;
pub mod problem;
mod render;
pub mod request;
mod subscriptions;
mod temporal;
pub mod water;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use jumeau_model::{ErrorKind, NgsiError};
use jumeau_store::TenantInfo;
use jumeau_twin::Twin;

pub use lighting::LightingConfig;
use problem::ApiError;

/// Settings of the HTTP API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Most entities in one batch operation.
    pub max_batch: usize,
    /// Sensor ingestion settings (MQTT brokers, deduplication window, stale devices).
    pub ingest: jumeau_ingest::IngestConfig,
    /// Public lighting remote control (driver, clock, retries).
    pub lighting: LightingConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            max_batch: 1000,
            ingest: jumeau_ingest::IngestConfig::default(),
            lighting: LightingConfig::default(),
        }
    }
}

/// How long tenant settings are reused before being read again.
const TENANT_TTL: Duration = Duration::from_secs(5);

/// Shared state of the handlers.
#[derive(Clone)]
pub struct App {
    /// The twin service.
    pub twin: Twin,
    /// API settings.
    pub config: Arc<ApiConfig>,
    /// The sensor ingestion service (journal, processor, MQTT subscriptions).
    pub ingest: jumeau_ingest::IngestService,
    lighting: Arc<lighting::Control>,
    tenants: Arc<Mutex<HashMap<String, (Instant, TenantInfo)>>>,
}

impl App {
    /// State over a twin; starts the sensor ingestion service (so it must be called inside
    /// a Tokio runtime).
    pub fn new(twin: Twin, config: ApiConfig) -> Self {
        let app = Self {
            ingest: jumeau_ingest::IngestService::start(twin.clone(), config.ingest.clone()),
            lighting: Arc::new(lighting::Control::new(config.lighting.clone())),
            twin,
            config: Arc::new(config),
            tenants: Arc::new(Mutex::new(HashMap::new())),
        };
        lighting::spawn_reverter(app.clone());
        app
    }

    /// The tenant a read addresses: it must exist (NonexistentTenant otherwise), and the
    /// caller must be allowed to read it.
    pub async fn readable_tenant(&self, meta: &request::Meta) -> Result<TenantInfo, ApiError> {
        let info = self.tenant_info(&meta.tenant).await?;
        let Some(info) = info else {
            // Without read rights, an unknown tenant looks the same as a forbidden one.
            self.twin
                .auth
                .check_read(&meta.caller, &meta.tenant, false)?;
            return Err(ApiError(NgsiError::new(
                ErrorKind::NonexistentTenant,
                format!(
                    "tenant '{}' does not exist; it is created by its first write",
                    meta.tenant
                ),
            )));
        };
        self.twin
            .auth
            .check_read(&meta.caller, &meta.tenant, info.public)?;
        Ok(info)
    }

    async fn tenant_info(&self, name: &str) -> Result<Option<TenantInfo>, ApiError> {
        if let Some((at, info)) = self.tenants.lock().ok().and_then(|t| t.get(name).cloned()) {
            if at.elapsed() < TENANT_TTL {
                return Ok(Some(info));
            }
        }
        let info = self.twin.store.tenant(name).await?;
        if let (Some(i), Ok(mut t)) = (&info, self.tenants.lock()) {
            t.insert(name.to_string(), (Instant::now(), i.clone()));
        }
        Ok(info)
    }

    /// Forgets cached tenant settings after a change.
    pub fn forget_tenant(&self, name: &str) {
        if let Ok(mut t) = self.tenants.lock() {
            t.remove(name);
        }
    }
}

/// The complete router of the server.
pub fn router(app: App) -> Router {
    Router::new()
        .nest(
            "/ngsi-ld/v1",
            ngsi_ld_routes()
                .merge(temporal::routes())
                .merge(subscriptions::routes()),
        )
        .merge(ingest::routes())
        .merge(water::routes())
        .merge(lighting::routes())
        .merge(temporal::root_routes())
        .route("/jumeau/v1/map", get(map::features))
        .route("/health", get(admin::health))
        .route("/openapi.json", get(admin::openapi))
        .route("/jumeau/v1/tenants", get(admin::list_tenants))
        .route(
            "/jumeau/v1/tenants/{tenant}",
            get(admin::get_tenant).put(admin::put_tenant),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

fn ngsi_ld_routes() -> Router<App> {
    use axum::routing::post;
    Router::new()
        .route("/entities", get(entities::query).post(entities::create))
        .route(
            "/entities/{id}",
            get(entities::retrieve)
                .put(entities::replace)
                .patch(entities::merge)
                .delete(entities::delete),
        )
        .route(
            "/entities/{id}/attrs",
            post(entities::append).patch(entities::update),
        )
        .route(
            "/entities/{id}/attrs/{attr}",
            axum::routing::patch(entities::patch_attr)
                .put(entities::replace_attr)
                .delete(entities::delete_attr),
        )
        .route("/entityOperations/create", post(batch::create))
        .route("/entityOperations/upsert", post(batch::upsert))
        .route("/entityOperations/update", post(batch::update))
        .route("/entityOperations/merge", post(batch::merge))
        .route("/entityOperations/delete", post(batch::delete))
        .route("/entityOperations/query", post(batch::query))
        .route("/types", get(info::types))
        .route("/types/{type}", get(info::type_info))
        .route("/attributes", get(info::attributes))
        .route("/attributes/{attr}", get(info::attribute_info))
        .route(
            "/jsonldContexts",
            get(contexts::list).post(contexts::create),
        )
        .route(
            "/jsonldContexts/{id}",
            get(contexts::get).delete(contexts::delete),
        )
}

async fn not_found() -> ApiError {
    ApiError(NgsiError::not_found(
        "no such endpoint; see /openapi.json for the API",
    ))
}

async fn method_not_allowed() -> Response {
    let e = NgsiError::new(
        ErrorKind::MethodNotAllowed,
        "this method is not allowed on this resource; see /openapi.json",
    );
    let mut r = ApiError(e).into_response();
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}

/// Serves the API on a bound listener until the future `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}
