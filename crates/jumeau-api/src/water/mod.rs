//! Drinking-water endpoints under `/jumeau/v1/water`: EPANET networks imported with a
//! georeferencing transform and exported back, what-if simulations kept apart from
//! observations, the network map, district metered areas with their minimum night flow
//! read from the temporal history, leak alerts for the water team (posted by a detector,
//! or found by the twin itself in the history of the network's sensors), and the yearly
//! regulatory indicators (arrêté du 2 mai 2007, décret n° 2012-97).
//!
//! The tenant is the `NGSILD-Tenant` header. Reads need read access to the tenant; writes
//! an editor key (`write_body` checks it before reading the body). Handlers are thin:
//! the work is in [`service`] and `jumeau-water`.

pub mod service;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::Router;
use chrono::{DateTime, Utc};
use jumeau_model::temporal::TimeRange;
use jumeau_model::NgsiError;
use jumeau_twin::Role;
use jumeau_water::leaks::LeakEvent;
use jumeau_water::Georeference;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::problem::{ApiError, ApiResult};
use crate::render;
use crate::request::{read_body, require_json, Meta};
use crate::App;

/// The routes of this module, mounted under `/`.
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route(
            "/jumeau/v1/water/networks",
            get(list_networks).post(import_network),
        )
        .route("/jumeau/v1/water/networks/{id}/inp", get(export_inp))
        .route("/jumeau/v1/water/networks/{id}/map", get(map))
        .route("/jumeau/v1/water/networks/{id}/simulations", post(simulate))
        .route(
            "/jumeau/v1/water/networks/{id}/detections",
            post(detect_leaks),
        )
        .route(
            "/jumeau/v1/water/networks/{id}/simulations/{run}",
            get(get_simulation),
        )
        .route("/jumeau/v1/water/dmas", get(list_dmas))
        .route("/jumeau/v1/water/dmas/{id}", put(put_dma).get(get_dma))
        .route("/jumeau/v1/water/dmas/{id}/night-flow", get(night_flow))
        .route(
            "/jumeau/v1/water/dmas/{id}/night-flow/alerts",
            post(night_flow_alerts),
        )
        .route(
            "/jumeau/v1/water/leak-events",
            get(list_leak_events).post(post_leak_event),
        )
        .route("/jumeau/v1/water/acoustic", post(acoustic))
        .route("/jumeau/v1/water/indicators", get(list_indicators))
        .route(
            "/jumeau/v1/water/indicators/{service}/{year}",
            put(put_indicators),
        )
}

/// Largest JSON body of the small water requests (an `.inp` import may use the server's
/// whole body limit).
const SMALL_BODY: usize = 256 * 1024;

/// Query parameters of the water endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaterQuery {
    /// Map: the simulation run whose results colour the map.
    simulation: Option<String>,
    /// Night flow: start of the range (RFC 3339).
    from: Option<String>,
    /// Night flow: end of the range (RFC 3339, excluded).
    to: Option<String>,
    /// Night flow: alarm ratio γ (0.2 by default).
    gamma: Option<f64>,
    /// Night flow: normal nights of reference (10 by default).
    history: Option<usize>,
    /// Indicators: only this service.
    service: Option<String>,
}

fn query(
    q: Result<Query<WaterQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<WaterQuery> {
    q.map(|Query(q)| q).map_err(|e| {
        ApiError(NgsiError::bad_data(format!(
            "invalid query parameters: {}; accepted: simulation, from, to, gamma, history, service",
            e.body_text()
        )))
    })
}

async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> ApiResult<T> {
    require_json(headers)?;
    let bytes = read_body(headers, body, limit).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError(NgsiError::bad_data(format!("the body does not fit: {e}"))))
}

async fn readable(app: &App, meta: &Meta) -> ApiResult<String> {
    app.readable_tenant(meta).await?;
    Ok(meta.tenant.clone())
}

fn writable(app: &App, meta: &Meta) -> ApiResult<String> {
    jumeau_twin::validate_tenant(&meta.tenant)?;
    app.twin
        .auth
        .check_role(&meta.caller, &meta.tenant, Role::Editor)?;
    Ok(meta.tenant.clone())
}

/// The prologue of every water write with a body: the request's tenant, checked, with an
/// editor key on it, then the JSON body (content type, size at most `limit`) read into
/// `T`. Checked in this order so that a caller without the right gets 401/403 before any
/// complaint about the body.
async fn write_body<T: DeserializeOwned>(
    app: &App,
    meta: &Meta,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> ApiResult<(String, T)> {
    let tenant = writable(app, meta)?;
    let value = read_json(headers, body, limit).await?;
    Ok((tenant, value))
}

fn ok(body: Value) -> ApiResult {
    Ok(render::plain(StatusCode::OK, body))
}

/// The body of an import.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImportBody {
    /// The network id (part of every entity id).
    id: String,
    /// The `.inp` text.
    inp: String,
    /// Where the local coordinates go.
    georeference: GeorefBody,
}

/// A georeferencing transform as the API writes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GeorefBody {
    /// Lambert-93 easting (m) of the local origin.
    origin_x: f64,
    /// Lambert-93 northing (m) of the local origin.
    origin_y: f64,
    /// Local point mapped to the origin ([0, 0] by default).
    #[serde(default)]
    local_origin: Option<(f64, f64)>,
    /// Metres per local unit (1 by default).
    #[serde(default)]
    scale: Option<f64>,
    /// Rotation (degrees, counter-clockwise; 0 by default).
    #[serde(default)]
    rotation_deg: Option<f64>,
}

impl GeorefBody {
    fn georeference(&self) -> Georeference {
        Georeference {
            origin_x: self.origin_x,
            origin_y: self.origin_y,
            local_origin: self.local_origin.unwrap_or((0.0, 0.0)),
            scale: self.scale.unwrap_or(1.0),
            rotation_deg: self.rotation_deg.unwrap_or(0.0),
        }
    }
}

/// POST /jumeau/v1/water/networks
async fn import_network(
    State(app): State<App>,
    meta: Meta,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let (tenant, b) =
        write_body::<ImportBody>(&app, &meta, &headers, body, app.config.max_body_bytes).await?;
    let r = service::import_network(
        &app.twin,
        &tenant,
        &b.inp,
        &b.id,
        &b.georeference.georeference(),
    )
    .await?;
    let body = serde_json::to_value(&r).map_err(|e| NgsiError::internal(e.to_string()))?;
    Ok(render::plain(StatusCode::CREATED, body))
}

/// GET /jumeau/v1/water/networks
async fn list_networks(State(app): State<App>, meta: Meta) -> ApiResult {
    let tenant = readable(&app, &meta).await?;
    ok(Value::Array(
        service::list_networks(&app.twin, &tenant).await?,
    ))
}

/// GET /jumeau/v1/water/networks/{id}/inp: the network as an EPANET file.
async fn export_inp(State(app): State<App>, meta: Meta, Path(id): Path<String>) -> ApiResult {
    let tenant = readable(&app, &meta).await?;
    let text = service::export_inp(&app.twin, &tenant, &id).await?;
    let mut resp = (StatusCode::OK, text).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.inp\"")) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// GET /jumeau/v1/water/networks/{id}/map?simulation=RUN
async fn map(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    q: Result<Query<WaterQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let tenant = readable(&app, &meta).await?;
    let v = service::map(&app.twin, &tenant, &id, q.simulation.as_deref()).await?;
    let mut resp = render::plain(StatusCode::OK, v);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    Ok(resp)
}

/// POST /jumeau/v1/water/networks/{id}/simulations
async fn simulate(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let (tenant, req) =
        write_body::<service::SimulationRequest>(&app, &meta, &headers, body, SMALL_BODY).await?;
    let v = service::run_simulation(&app.twin, &tenant, &id, &req).await?;
    Ok(render::plain(StatusCode::CREATED, v))
}

/// The body of a detection run: the searched period and, optionally, the start of the
/// leak-free training period that ends where the search begins.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DetectionBody {
    /// Start of the searched period (RFC 3339).
    from: String,
    /// End of the searched period (RFC 3339, excluded).
    to: String,
    /// Start of the training period (RFC 3339; the week before `from` by default).
    training_from: Option<String>,
}

/// POST /jumeau/v1/water/networks/{id}/detections: leaks looked for in the history of the
/// network's sensors and stored as leak alerts (201 when one is new, 200 otherwise).
async fn detect_leaks(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let (tenant, b) = write_body::<DetectionBody>(&app, &meta, &headers, body, SMALL_BODY).await?;
    let req = service::DetectionRequest {
        from: parse_time("from", &b.from)?,
        to: parse_time("to", &b.to)?,
        training_from: b
            .training_from
            .as_deref()
            .map(|s| parse_time("trainingFrom", s))
            .transpose()?,
    };
    let r = service::detect_leaks(&app.twin, &tenant, &id, &req).await?;
    let status = if r.created > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = serde_json::to_value(&r).map_err(|e| NgsiError::internal(e.to_string()))?;
    Ok(render::plain(status, body))
}

/// GET /jumeau/v1/water/networks/{id}/simulations/{run}
async fn get_simulation(
    State(app): State<App>,
    meta: Meta,
    Path((id, run)): Path<(String, String)>,
) -> ApiResult {
    let tenant = readable(&app, &meta).await?;
    ok(service::simulation(&app.twin, &tenant, &id, &run).await?)
}

/// Expands the attribute names of a DMA's sensors with the request's @context (Link
/// header), the core context otherwise.
async fn expand_dma(app: &App, meta: &Meta, dma: &mut service::Dma) -> ApiResult<()> {
    let ctx_value = meta.link_context.clone().map(Value::String);
    let ctx = app.twin.contexts.resolve(ctx_value.as_ref()).await?;
    for s in dma
        .inlets
        .iter_mut()
        .chain(dma.pressures.iter_mut())
        .chain(dma.levels.iter_mut())
    {
        s.attribute = ctx.expand(&s.attribute);
        if let Some(sign) = s.sign {
            if sign != 1.0 && sign != -1.0 {
                return Err(ApiError(NgsiError::bad_data(format!(
                    "inlet {}: sign {sign} must be 1 (into the DMA) or -1 (out of it)",
                    s.entity
                ))));
            }
        }
    }
    Ok(())
}

/// PUT /jumeau/v1/water/dmas/{id}
async fn put_dma(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let (tenant, mut dma) =
        write_body::<service::Dma>(&app, &meta, &headers, body, SMALL_BODY).await?;
    expand_dma(&app, &meta, &mut dma).await?;
    let created = service::put_dma(&app.twin, &tenant, &id, &dma).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(render::plain(status, json!({"id": id, "definition": dma})))
}

/// GET /jumeau/v1/water/dmas/{id}: the definition and the latest reading of each sensor.
async fn get_dma(State(app): State<App>, meta: Meta, Path(id): Path<String>) -> ApiResult {
    let tenant = readable(&app, &meta).await?;
    ok(service::dma_status(&app.twin, &tenant, &id).await?)
}

/// GET /jumeau/v1/water/dmas
async fn list_dmas(State(app): State<App>, meta: Meta) -> ApiResult {
    let tenant = readable(&app, &meta).await?;
    let list: Vec<Value> = service::list_dmas(&app.twin, &tenant)
        .await?
        .into_iter()
        .map(|(id, d)| json!({"id": id, "definition": d}))
        .collect();
    ok(Value::Array(list))
}

fn parse_time(name: &str, s: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ApiError(NgsiError::bad_data(format!(
                "'{name}' = '{s}' is not an RFC 3339 date-time (2024-03-01T00:00:00Z): {e}"
            )))
        })
}

/// The range of `from` and `to`: the last 60 days by default.
fn range(q: &WaterQuery) -> ApiResult<Option<TimeRange>> {
    let from = q
        .from
        .as_deref()
        .map(|s| parse_time("from", s))
        .transpose()?;
    let to = q.to.as_deref().map(|s| parse_time("to", s)).transpose()?;
    Ok(match (from, to) {
        (Some(a), Some(b)) if b <= a => {
            return Err(ApiError(NgsiError::bad_data("'to' must be after 'from'")))
        }
        (Some(a), Some(b)) => Some(TimeRange::Between(a, b)),
        (Some(a), None) => Some(TimeRange::After(a)),
        (None, Some(b)) => Some(TimeRange::Before(b)),
        (None, None) => Some(TimeRange::After(Utc::now() - chrono::Duration::days(60))),
    })
}

async fn night_flow_report(
    app: &App,
    tenant: &str,
    id: &str,
    q: &WaterQuery,
) -> ApiResult<service::NightFlowReport> {
    Ok(service::night_flow(
        &app.twin,
        tenant,
        id,
        range(q)?,
        q.gamma.unwrap_or(0.2),
        q.history.unwrap_or(10),
    )
    .await?)
}

/// GET /jumeau/v1/water/dmas/{id}/night-flow?from&to&gamma&history
async fn night_flow(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    q: Result<Query<WaterQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let tenant = readable(&app, &meta).await?;
    let r = night_flow_report(&app, &tenant, &id, &q).await?;
    ok(serde_json::to_value(&r).map_err(|e| NgsiError::internal(e.to_string()))?)
}

/// POST /jumeau/v1/water/dmas/{id}/night-flow/alerts: the alarms become leak alerts.
async fn night_flow_alerts(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    q: Result<Query<WaterQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let tenant = writable(&app, &meta)?;
    let r = night_flow_report(&app, &tenant, &id, &q).await?;
    let alerts = service::night_flow_alerts(&app.twin, &tenant, &r).await?;
    Ok(render::plain(StatusCode::CREATED, Value::Array(alerts)))
}

/// GET /jumeau/v1/water/leak-events
async fn list_leak_events(State(app): State<App>, meta: Meta) -> ApiResult {
    let tenant = readable(&app, &meta).await?;
    let mut list: Vec<Value> = service::leak_alerts(&app.twin, &tenant)
        .await?
        .iter()
        .map(service::alert_json)
        .collect();
    list.sort_by(|a, b| b["dateIssued"].as_str().cmp(&a["dateIssued"].as_str()));
    ok(Value::Array(list))
}

/// A leak event posted by a detector.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LeakEventBody {
    /// The network of the candidate pipes.
    network: Option<String>,
    /// The entity that found it (a DMA, a logger pair); the network by default.
    source: Option<String>,
    /// Estimated start.
    start: DateTime<Utc>,
    /// Detection time (the start by default).
    detected_at: Option<DateTime<Utc>>,
    /// Candidate pipes, most likely first.
    #[serde(default)]
    candidate_pipes: Vec<String>,
    /// Distance uncertainty (m).
    uncertainty_m: Option<f64>,
    /// Estimated flow (m³/h).
    estimated_flow_m3h: f64,
    /// Method.
    method: String,
}

/// POST /jumeau/v1/water/leak-events
async fn post_leak_event(
    State(app): State<App>,
    meta: Meta,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let (tenant, b) = write_body::<LeakEventBody>(&app, &meta, &headers, body, SMALL_BODY).await?;
    if !b.estimated_flow_m3h.is_finite() || b.estimated_flow_m3h < 0.0 {
        return Err(ApiError(NgsiError::bad_data(
            "estimatedFlowM3h must be a number ≥ 0",
        )));
    }
    let event = LeakEvent {
        start: b.start,
        detected_at: b.detected_at.unwrap_or(b.start).max(b.start),
        candidate_pipes: b.candidate_pipes,
        uncertainty_m: b.uncertainty_m,
        estimated_flow_m3h: b.estimated_flow_m3h,
        method: b.method,
    };
    let key = service::alert_key(
        b.network.as_deref(),
        &event.method,
        event.start,
        event.candidate_pipes.first(),
    );
    let v = service::store_leak_event(
        &app.twin,
        &tenant,
        b.network.as_deref(),
        b.source.as_deref(),
        &key,
        &event,
    )
    .await?;
    Ok(render::plain(StatusCode::CREATED, v))
}

/// An acoustic correlation of two loggers on one pipe.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AcousticBody {
    /// The network.
    network: String,
    /// The pipe the loggers sit on.
    pipe: String,
    /// Pipe length between the loggers (m).
    distance_m: f64,
    /// Wave speed in the pipe (m/s).
    wave_speed_ms: f64,
    /// Delay of logger 1 behind logger 2 (s).
    delay_s: f64,
    /// Resolution of the delay (s; one sample at 1 kHz by default).
    delay_resolution_s: Option<f64>,
    /// When the correlation was made (now by default).
    detected_at: Option<DateTime<Utc>>,
}

/// POST /jumeau/v1/water/acoustic: the leak position on the pipe, stored as an alert.
async fn acoustic(State(app): State<App>, meta: Meta, headers: HeaderMap, body: Body) -> ApiResult {
    let (tenant, b) = write_body::<AcousticBody>(&app, &meta, &headers, body, SMALL_BODY).await?;
    let at = b.detected_at.unwrap_or_else(Utc::now);
    let (x, event) = jumeau_water::leaks::acoustic_event(
        &b.pipe,
        at,
        b.distance_m,
        b.wave_speed_ms,
        b.delay_s,
        b.delay_resolution_s.unwrap_or(0.001),
    )
    .map_err(service::water_error)?;
    let key = service::alert_key(Some(&b.network), "acoustic", at, Some(&b.pipe));
    let mut v =
        service::store_leak_event(&app.twin, &tenant, Some(&b.network), None, &key, &event).await?;
    if let Some(o) = v.as_object_mut() {
        o.insert("distanceFromLogger1M".into(), json!(x));
    }
    Ok(render::plain(StatusCode::CREATED, v))
}

/// GET /jumeau/v1/water/indicators?service=S
async fn list_indicators(
    State(app): State<App>,
    meta: Meta,
    q: Result<Query<WaterQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let tenant = readable(&app, &meta).await?;
    ok(Value::Array(
        service::list_indicators(&app.twin, &tenant, q.service.as_deref()).await?,
    ))
}

/// PUT /jumeau/v1/water/indicators/{service}/{year}
async fn put_indicators(
    State(app): State<App>,
    meta: Meta,
    Path((svc, year)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let (tenant, input) =
        write_body::<service::VolumesInput>(&app, &meta, &headers, body, SMALL_BODY).await?;
    let year: i32 = year.parse().map_err(|_| {
        ApiError(NgsiError::bad_data(format!(
            "year '{year}' is not a year (2024)"
        )))
    })?;
    ok(service::put_indicators(&app.twin, &tenant, &svc, year, &input).await?)
}
