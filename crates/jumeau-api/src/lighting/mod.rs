//! Public lighting endpoints under `/jumeau/v1/lighting`: inventory import, compliance with
//! the arrêté of 27 December 2018, zones and their caps, programs checked against their
//! zones' rules, the 24-hour preview and the astronomical clock, commands to armoires and
//! groups with acknowledgement and retries, emergency lighting, energy and faults.
//!
//! The tenant is the `NGSILD-Tenant` header. Reads need read access to the tenant (the audit
//! log: a key covering it); importing, zones, programs and commands need an editor key;
//! settings need an admin key. An emergency override needs an admin key or a key whose id
//! the tenant's settings list in `emergencyKeyIds` (the rescue services' keys). Every
//! command, program decision and emergency request — refusals included — is kept as a
//! `LightingAuditRecord` entity: who (key id), when, why, what, outcome.

mod runtime;
pub(crate) mod service;
mod store;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::NaiveDate;
use jumeau_lighting::import::Crs;
use jumeau_lighting::Zone;
use jumeau_model::NgsiError;
use jumeau_twin::Role;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

pub use runtime::LightingConfig;
pub(crate) use runtime::{spawn_reverter, Control};
use service::{CommandOutcome, FileFormat, ProgramRecord, Settings};

use crate::problem::{ApiError, ApiResult};
use crate::render;
use crate::request::{read_body, require_json, Meta};
use crate::App;

/// The routes of this module, mounted under `/`.
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route(
            "/jumeau/v1/lighting/settings",
            get(get_settings).put(put_settings),
        )
        .route("/jumeau/v1/lighting/inventory/import", post(import))
        .route("/jumeau/v1/lighting/map", get(map))
        .route("/jumeau/v1/lighting/compliance", get(compliance))
        .route(
            "/jumeau/v1/lighting/zones",
            get(list_zones).post(create_zone),
        )
        .route(
            "/jumeau/v1/lighting/zones/{id}",
            get(get_zone).put(put_zone).delete(delete_zone),
        )
        .route(
            "/jumeau/v1/lighting/programs",
            get(list_programs).post(create_program),
        )
        .route(
            "/jumeau/v1/lighting/programs/{id}",
            get(get_program).put(put_program).delete(delete_program),
        )
        .route("/jumeau/v1/lighting/preview", post(preview))
        .route("/jumeau/v1/lighting/sun", get(sun))
        .route("/jumeau/v1/lighting/commands", post(command))
        .route(
            "/jumeau/v1/lighting/emergency",
            get(list_emergencies).post(start_emergency),
        )
        .route("/jumeau/v1/lighting/energy", get(energy))
        .route("/jumeau/v1/lighting/faults", get(faults))
        .route("/jumeau/v1/lighting/audit", get(audit))
}

/// Query parameters of the lighting endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LightingQuery {
    /// Import: `csv` or `geojson` (else from the Content-Type); compliance: `json` or `csv`.
    format: Option<String>,
    /// Import: `wgs84`, `lambert93` or `auto` (per row, the default).
    crs: Option<String>,
    /// Import: check only, write nothing.
    dry_run: Option<bool>,
    /// Programs: the reason of the change, for the audit log.
    why: Option<String>,
    /// Sun: latitude.
    lat: Option<f64>,
    /// Sun: longitude.
    lon: Option<f64>,
    /// Sun: the local date.
    date: Option<NaiveDate>,
    /// Energy: the year.
    year: Option<i32>,
    /// Audit: how many records, newest first (100 by default, at most 1000).
    limit: Option<usize>,
}

const ACCEPTED: &str = "format, crs, dryRun, why, lat, lon, date (YYYY-MM-DD), year, limit";

/// The query string, or a clear error.
fn query(
    q: Result<Query<LightingQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<LightingQuery> {
    q.map(|Query(q)| q).map_err(|e| {
        ApiError(NgsiError::bad_data(format!(
            "invalid query parameters: {}; accepted: {ACCEPTED}",
            e.body_text()
        )))
    })
}

type Q = Result<Query<LightingQuery>, axum::extract::rejection::QueryRejection>;

/// A JSON body read as `T`.
async fn json_body<T: DeserializeOwned>(
    app: &App,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<T> {
    require_json(headers)?;
    let bytes = read_body(headers, body, app.config.max_body_bytes).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError(NgsiError::bad_data(format!(
            "the body does not match what this endpoint takes: {e}; see /openapi.json"
        )))
    })
}

/// The tenant of a read, checked.
async fn readable(app: &App, meta: &Meta) -> ApiResult<String> {
    app.readable_tenant(meta).await?;
    Ok(meta.tenant.clone())
}

/// The tenant of a write, checked for `role`.
fn writable(app: &App, meta: &Meta, role: Role) -> ApiResult<String> {
    app.twin.auth.check_role(&meta.caller, &meta.tenant, role)?;
    Ok(meta.tenant.clone())
}

fn ok(v: impl serde::Serialize) -> ApiResult {
    Ok(render::plain(StatusCode::OK, json!(v)))
}

/// GET /jumeau/v1/lighting/settings
async fn get_settings(State(app): State<App>, meta: Meta) -> ApiResult {
    let tenant = readable(&app, &meta).await?;
    ok(service::settings(&app, &tenant).await?)
}

/// PUT /jumeau/v1/lighting/settings (admin)
async fn put_settings(
    State(app): State<App>,
    meta: Meta,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let tenant = writable(&app, &meta, Role::Admin)?;
    let s: Settings = json_body(&app, &headers, body).await?;
    ok(service::save_settings(&app, &tenant, s).await?)
}

/// POST /jumeau/v1/lighting/inventory/import: a CSV or GeoJSON inventory file.
async fn import(
    State(app): State<App>,
    meta: Meta,
    q: Q,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let q = query(q)?;
    let tenant = writable(&app, &meta, Role::Editor)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let format = match q.format.as_deref() {
        Some("csv") => FileFormat::Csv,
        Some("geojson") => FileFormat::GeoJson,
        Some(other) => {
            return Err(ApiError(NgsiError::bad_data(format!(
                "format '{other}' is not known; use csv or geojson"
            ))))
        }
        None if content_type.contains("csv") || content_type.starts_with("text/plain") => {
            FileFormat::Csv
        }
        None if content_type.contains("json") => FileFormat::GeoJson,
        None => {
            return Err(ApiError(NgsiError::bad_data(
                "say what the file is: Content-Type text/csv or application/geo+json, or \
                 format=csv|geojson",
            )))
        }
    };
    let crs = match q.crs.as_deref() {
        None | Some("auto") => Crs::Auto,
        Some("wgs84") => Crs::Wgs84,
        Some("lambert93") => Crs::Lambert93,
        Some(other) => {
            return Err(ApiError(NgsiError::bad_data(format!(
                "crs '{other}' is not known; use wgs84, lambert93 or auto"
            ))))
        }
    };
    let bytes = read_body(&headers, body, app.config.max_body_bytes).await?;
    let report = service::import(
        &app,
        &tenant,
        format,
        crs,
        q.dry_run.unwrap_or(false),
        &bytes,
    )
    .await?;
    ok(report)
}

/// GET /jumeau/v1/lighting/map: points lumineux with state and compliance (GeoJSON).
async fn map(State(app): State<App>, meta: Meta) -> ApiResult {
    let tenant = readable(&app, &meta).await?;
    let mut resp = render::plain(StatusCode::OK, service::map(&app, &tenant).await?);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    Ok(resp)
}

/// GET /jumeau/v1/lighting/compliance: the report, as JSON or CSV (`format=csv` or
/// `Accept: text/csv`).
async fn compliance(State(app): State<App>, meta: Meta, q: Q, headers: HeaderMap) -> ApiResult {
    let q = query(q)?;
    let tenant = readable(&app, &meta).await?;
    let report = service::compliance(&app, &tenant).await?;
    let wants_csv = match q.format.as_deref() {
        Some("csv") => true,
        Some("json") | None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")),
        Some(other) => {
            return Err(ApiError(NgsiError::bad_data(format!(
                "format '{other}' is not known; use json or csv"
            ))))
        }
    };
    if !wants_csv {
        return Ok(render::plain(StatusCode::OK, report.to_json()));
    }
    let file: String = report
        .commune
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut resp = (StatusCode::OK, report.to_csv()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"conformite-{file}-{}.csv\"",
        report.checked_on
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// GET /jumeau/v1/lighting/zones
async fn list_zones(State(app): State<App>, meta: Meta) -> ApiResult {
    let tenant = readable(&app, &meta).await?;
    ok(service::zones(&app, &tenant).await?)
}

/// POST /jumeau/v1/lighting/zones
async fn create_zone(
    State(app): State<App>,
    meta: Meta,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let tenant = writable(&app, &meta, Role::Editor)?;
    let mut v: Value = json_body(&app, &headers, body).await?;
    if let Some(o) = v.as_object_mut() {
        o.entry("id")
            .or_insert_with(|| json!(format!("urn:ngsi-ld:{}:{}", store::ZONE, uuid_like())));
    }
    let zone: Zone = serde_json::from_value(v).map_err(|e| {
        ApiError(NgsiError::bad_data(format!(
            "the body is not a zone: {e}; give name, area (Polygon), builtUp, and optionally \
             category, protection, caps"
        )))
    })?;
    let zone = service::save_zone(&app, &tenant, zone).await?;
    Ok(render::plain(StatusCode::CREATED, json!(zone)))
}

/// A short unique suffix for ids created by the server.
fn uuid_like() -> String {
    let mut buf = [0u8; 8];
    if getrandom::fill(&mut buf).is_err() {
        return chrono::Utc::now().timestamp_micros().to_string();
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// GET /jumeau/v1/lighting/zones/{id}
async fn get_zone(State(app): State<App>, meta: Meta, Path(id): Path<String>) -> ApiResult {
    let tenant = readable(&app, &meta).await?;
    ok(service::zone(&app, &tenant, &id).await?)
}

/// PUT /jumeau/v1/lighting/zones/{id}: replaces the zone (its caps included).
async fn put_zone(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let tenant = writable(&app, &meta, Role::Editor)?;
    let mut v: Value = json_body(&app, &headers, body).await?;
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), json!(id));
    }
    let zone: Zone = serde_json::from_value(v)
        .map_err(|e| ApiError(NgsiError::bad_data(format!("the body is not a zone: {e}"))))?;
    ok(service::save_zone(&app, &tenant, zone).await?)
}

/// DELETE /jumeau/v1/lighting/zones/{id}
async fn delete_zone(State(app): State<App>, meta: Meta, Path(id): Path<String>) -> ApiResult {
    let tenant = writable(&app, &meta, Role::Editor)?;
    service::delete(&app, &tenant, store::ZONE, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// GET /jumeau/v1/lighting/programs
async fn list_programs(State(app): State<App>, meta: Meta) -> ApiResult {
    let tenant = readable(&app, &meta).await?;
    ok(service::programs(&app, &tenant).await?)
}

/// The reason of a program change, for the audit log.
fn program_why(q: &LightingQuery) -> String {
    q.why
        .clone()
        .filter(|w| !w.trim().is_empty())
        .unwrap_or_else(|| "programme enregistré".into())
}

/// POST /jumeau/v1/lighting/programs: checked against the zones' rules, then saved.
async fn create_program(
    State(app): State<App>,
    meta: Meta,
    q: Q,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let q = query(q)?;
    let record: ProgramRecord = json_body(&app, &headers, body).await?;
    let saved = service::save_program(&app, &meta, &meta.tenant, record, &program_why(&q)).await?;
    Ok(render::plain(StatusCode::CREATED, json!(saved)))
}

/// GET /jumeau/v1/lighting/programs/{id}
async fn get_program(State(app): State<App>, meta: Meta, Path(id): Path<String>) -> ApiResult {
    let tenant = readable(&app, &meta).await?;
    ok(service::program(&app, &tenant, &id).await?)
}

/// PUT /jumeau/v1/lighting/programs/{id}: checked against the zones' rules, then saved.
async fn put_program(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    q: Q,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let q = query(q)?;
    let mut v: Value = json_body(&app, &headers, body).await?;
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), json!(id));
    }
    let record: ProgramRecord = serde_json::from_value(v).map_err(|e| {
        ApiError(NgsiError::bad_data(format!(
            "the body is not a program: {e}"
        )))
    })?;
    ok(service::save_program(&app, &meta, &meta.tenant, record, &program_why(&q)).await?)
}

/// DELETE /jumeau/v1/lighting/programs/{id}: its armoires and groups go back to dusk to
/// dawn at full power.
async fn delete_program(State(app): State<App>, meta: Meta, Path(id): Path<String>) -> ApiResult {
    let tenant = writable(&app, &meta, Role::Editor)?;
    service::delete(&app, &tenant, store::PROGRAM, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// POST /jumeau/v1/lighting/preview: a program's light level over one night.
async fn preview(State(app): State<App>, meta: Meta, headers: HeaderMap, body: Body) -> ApiResult {
    let tenant = readable(&app, &meta).await?;
    let req = json_body(&app, &headers, body).await?;
    ok(service::preview(&app, &tenant, req).await?)
}

/// GET /jumeau/v1/lighting/sun?lat=&lon=&date=
async fn sun(State(app): State<App>, meta: Meta, q: Q) -> ApiResult {
    let q = query(q)?;
    let tenant = readable(&app, &meta).await?;
    let (Some(lat), Some(lon)) = (q.lat, q.lon) else {
        return Err(ApiError(NgsiError::bad_data(
            "give lat and lon (WGS84 degrees), and optionally date (YYYY-MM-DD)",
        )));
    };
    ok(service::sun(&app, &tenant, lat, lon, q.date).await?)
}

/// POST /jumeau/v1/lighting/commands: on, off or dim, retried until acknowledged.
async fn command(State(app): State<App>, meta: Meta, headers: HeaderMap, body: Body) -> ApiResult {
    let req = json_body(&app, &headers, body).await?;
    match service::command(&app, &meta, &meta.tenant, req).await? {
        CommandOutcome::Acknowledged(v) => ok(v),
        CommandOutcome::NotAcknowledged(detail) => Ok(not_acknowledged(&detail)),
    }
}

/// The 504 ProblemDetails of a command the field did not acknowledge.
fn not_acknowledged(detail: &str) -> Response {
    let body = json!({
        "type": "https://jumeau.eu/errors/NotAcknowledged",
        "title": "The armoire or group did not acknowledge the command",
        "status": 504,
        "detail": detail,
    });
    let mut resp = (StatusCode::GATEWAY_TIMEOUT, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// GET /jumeau/v1/lighting/emergency: overrides, newest first.
async fn list_emergencies(State(app): State<App>, meta: Meta) -> ApiResult {
    let tenant = readable(&app, &meta).await?;
    ok(service::emergencies(&app, &tenant).await?)
}

/// POST /jumeau/v1/lighting/emergency: a zone at 100 % for a while.
async fn start_emergency(
    State(app): State<App>,
    meta: Meta,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let req = json_body(&app, &headers, body).await?;
    let record = service::start_emergency(&app, &meta, &meta.tenant, req).await?;
    Ok(render::plain(StatusCode::CREATED, json!(record)))
}

/// GET /jumeau/v1/lighting/energy?year=
async fn energy(State(app): State<App>, meta: Meta, q: Q) -> ApiResult {
    let q = query(q)?;
    let tenant = readable(&app, &meta).await?;
    let year = match q.year {
        Some(y) => y,
        None => chrono::Datelike::year(&app.lighting.config.clock.now()),
    };
    ok(service::energy(&app, &tenant, year).await?)
}

/// GET /jumeau/v1/lighting/faults
async fn faults(State(app): State<App>, meta: Meta) -> ApiResult {
    let tenant = readable(&app, &meta).await?;
    ok(service::faults(&app, &tenant).await?)
}

/// GET /jumeau/v1/lighting/audit?limit=: needs a key covering the tenant, even when the
/// tenant is public (the log names keys).
async fn audit(State(app): State<App>, meta: Meta, q: Q) -> ApiResult {
    let q = query(q)?;
    app.twin
        .auth
        .check_read(&meta.caller, &meta.tenant, false)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError(NgsiError::bad_data(
            "limit must be between 1 and 1000",
        )));
    }
    ok(service::audit(&app, &meta.tenant, limit).await?)
}
