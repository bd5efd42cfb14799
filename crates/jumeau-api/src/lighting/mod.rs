//! Public lighting endpoints under `/jumeau/v1/lighting`: inventory import, compliance with
//! the arrêté of 27 December 2018, zones and their caps, programs checked against their
//! zones' rules, the 24-hour preview and the astronomical clock, commands to armoires and
//! groups with acknowledgement and retries, emergency lighting, energy and faults.
//!
//! The tenant is the `NGSILD-Tenant` header. Reads need read access to the tenant (the audit
//! log: a key covering it); importing, zones, programs and commands need an editor key;
//! settings need an admin key. An emergency override needs an admin key or a key whose id
//! the tenant's settings list in `emergencyKeyIds` (the rescue services' keys). Every
//! command, program decision, emergency request and deletion of a zone or program —
//! refusals included — is kept as a `LightingAuditRecord` entity: who (key id), when, why,
//! what, outcome; the log is read page by page.

mod extract;
mod runtime;
pub(crate) mod service;
mod store;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::NaiveDate;
use jumeau_lighting::import::Crs;
use jumeau_lighting::Zone;
use jumeau_model::NgsiError;
use serde::Deserialize;
use serde_json::{json, Value};

use extract::{Administer, Edit, JsonBody, Keyed, Params, Read, Tenant};
pub use runtime::LightingConfig;
pub(crate) use runtime::{spawn_reverter, Control};
use service::{CommandOutcome, FileFormat, ProgramRecord, Settings};

use crate::problem::{ApiError, ApiResult};
use crate::render;
use crate::request::{read_body, Meta};
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
    /// Programs and deletions of zones and programs: the reason of the change, for the
    /// audit log.
    why: Option<String>,
    /// Sun: latitude.
    lat: Option<f64>,
    /// Sun: longitude.
    lon: Option<f64>,
    /// Sun: the local date.
    date: Option<NaiveDate>,
    /// Energy: the year.
    year: Option<i32>,
    /// Audit: how many records, newest first ([`AUDIT_DEFAULT_LIMIT`] by default, at most
    /// [`AUDIT_MAX_LIMIT`]).
    limit: Option<usize>,
    /// Audit: how many of the newest records to skip (0 by default).
    offset: Option<usize>,
    /// Audit: accepted for NGSI-LD clients; the total is always in `NGSILD-Results-Count`.
    #[allow(dead_code)]
    count: Option<bool>,
}

const ACCEPTED: &str =
    "format, crs, dryRun, why, lat, lon, date (YYYY-MM-DD), year, limit, offset, count";

/// How many audit records a page holds when `limit` is not given.
const AUDIT_DEFAULT_LIMIT: usize = 100;
/// The largest page of audit records.
const AUDIT_MAX_LIMIT: usize = 1000;

fn ok(v: impl serde::Serialize) -> ApiResult {
    Ok(render::plain(StatusCode::OK, json!(v)))
}

/// GET /jumeau/v1/lighting/settings
async fn get_settings(State(app): State<App>, t: Tenant<Read>) -> ApiResult {
    ok(service::settings(&app, &t.name).await?)
}

/// PUT /jumeau/v1/lighting/settings (admin)
async fn put_settings(
    State(app): State<App>,
    t: Tenant<Administer>,
    JsonBody(s): JsonBody<Settings>,
) -> ApiResult {
    ok(service::save_settings(&app, &t.name, s).await?)
}

/// POST /jumeau/v1/lighting/inventory/import: a CSV or GeoJSON inventory file.
async fn import(
    State(app): State<App>,
    Params(q): Params,
    t: Tenant<Edit>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
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
        &t.name,
        format,
        crs,
        q.dry_run.unwrap_or(false),
        &bytes,
    )
    .await?;
    ok(report)
}

/// GET /jumeau/v1/lighting/map: points lumineux with state and compliance (GeoJSON).
async fn map(State(app): State<App>, t: Tenant<Read>) -> ApiResult {
    let mut resp = render::plain(StatusCode::OK, service::map(&app, &t.name).await?);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    Ok(resp)
}

/// GET /jumeau/v1/lighting/compliance: the report, as JSON or CSV (`format=csv` or
/// `Accept: text/csv`).
async fn compliance(
    State(app): State<App>,
    Params(q): Params,
    t: Tenant<Read>,
    headers: HeaderMap,
) -> ApiResult {
    let report = service::compliance(&app, &t.name).await?;
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
async fn list_zones(State(app): State<App>, t: Tenant<Read>) -> ApiResult {
    ok(service::zones(&app, &t.name).await?)
}

/// POST /jumeau/v1/lighting/zones
async fn create_zone(
    State(app): State<App>,
    t: Tenant<Edit>,
    JsonBody(mut v): JsonBody<Value>,
) -> ApiResult {
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
    let zone = service::save_zone(&app, &t.name, zone).await?;
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
async fn get_zone(State(app): State<App>, t: Tenant<Read>, Path(id): Path<String>) -> ApiResult {
    ok(service::zone(&app, &t.name, &id).await?)
}

/// PUT /jumeau/v1/lighting/zones/{id}: replaces the zone (its caps included).
async fn put_zone(
    State(app): State<App>,
    t: Tenant<Edit>,
    Path(id): Path<String>,
    JsonBody(mut v): JsonBody<Value>,
) -> ApiResult {
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), json!(id));
    }
    let zone: Zone = serde_json::from_value(v)
        .map_err(|e| ApiError(NgsiError::bad_data(format!("the body is not a zone: {e}"))))?;
    ok(service::save_zone(&app, &t.name, zone).await?)
}

/// DELETE /jumeau/v1/lighting/zones/{id}?why=: audited.
async fn delete_zone(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    Params(q): Params,
) -> ApiResult {
    let why = why_or(&q, "zone supprimée");
    service::delete(&app, &meta, &meta.tenant, store::ZONE, &id, &why).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// GET /jumeau/v1/lighting/programs
async fn list_programs(State(app): State<App>, t: Tenant<Read>) -> ApiResult {
    ok(service::programs(&app, &t.name).await?)
}

/// The reason of a change, for the audit log: `why` when given, else `default`.
fn why_or(q: &LightingQuery, default: &str) -> String {
    q.why
        .clone()
        .filter(|w| !w.trim().is_empty())
        .unwrap_or_else(|| default.into())
}

/// The reason of a program change, for the audit log.
fn program_why(q: &LightingQuery) -> String {
    why_or(q, "programme enregistré")
}

/// POST /jumeau/v1/lighting/programs: checked against the zones' rules, then saved.
async fn create_program(
    State(app): State<App>,
    meta: Meta,
    Params(q): Params,
    JsonBody(record): JsonBody<ProgramRecord>,
) -> ApiResult {
    let saved = service::save_program(&app, &meta, &meta.tenant, record, &program_why(&q)).await?;
    Ok(render::plain(StatusCode::CREATED, json!(saved)))
}

/// GET /jumeau/v1/lighting/programs/{id}
async fn get_program(State(app): State<App>, t: Tenant<Read>, Path(id): Path<String>) -> ApiResult {
    ok(service::program(&app, &t.name, &id).await?)
}

/// PUT /jumeau/v1/lighting/programs/{id}: checked against the zones' rules, then saved.
async fn put_program(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    Params(q): Params,
    JsonBody(mut v): JsonBody<Value>,
) -> ApiResult {
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

/// DELETE /jumeau/v1/lighting/programs/{id}?why=: its armoires and groups go back to dusk
/// to dawn at full power; audited.
async fn delete_program(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    Params(q): Params,
) -> ApiResult {
    let why = why_or(&q, "programme supprimé");
    service::delete(&app, &meta, &meta.tenant, store::PROGRAM, &id, &why).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// POST /jumeau/v1/lighting/preview: a program's light level over one night.
async fn preview(
    State(app): State<App>,
    t: Tenant<Read>,
    JsonBody(req): JsonBody<service::PreviewRequest>,
) -> ApiResult {
    ok(service::preview(&app, &t.name, req).await?)
}

/// GET /jumeau/v1/lighting/sun?lat=&lon=&date=
async fn sun(State(app): State<App>, Params(q): Params, t: Tenant<Read>) -> ApiResult {
    let (Some(lat), Some(lon)) = (q.lat, q.lon) else {
        return Err(ApiError(NgsiError::bad_data(
            "give lat and lon (WGS84 degrees), and optionally date (YYYY-MM-DD)",
        )));
    };
    ok(service::sun(&app, &t.name, lat, lon, q.date).await?)
}

/// POST /jumeau/v1/lighting/commands: on, off or dim, retried until acknowledged.
async fn command(
    State(app): State<App>,
    meta: Meta,
    JsonBody(req): JsonBody<service::CommandRequest>,
) -> ApiResult {
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
async fn list_emergencies(State(app): State<App>, t: Tenant<Read>) -> ApiResult {
    ok(service::emergencies(&app, &t.name).await?)
}

/// POST /jumeau/v1/lighting/emergency: a zone at 100 % for a while.
async fn start_emergency(
    State(app): State<App>,
    meta: Meta,
    JsonBody(req): JsonBody<service::EmergencyRequest>,
) -> ApiResult {
    let record = service::start_emergency(&app, &meta, &meta.tenant, req).await?;
    Ok(render::plain(StatusCode::CREATED, json!(record)))
}

/// GET /jumeau/v1/lighting/energy?year=
async fn energy(State(app): State<App>, Params(q): Params, t: Tenant<Read>) -> ApiResult {
    let year = match q.year {
        Some(y) => y,
        None => chrono::Datelike::year(&app.lighting.config.clock.now()),
    };
    ok(service::energy(&app, &t.name, year).await?)
}

/// GET /jumeau/v1/lighting/faults
async fn faults(State(app): State<App>, t: Tenant<Read>) -> ApiResult {
    ok(service::faults(&app, &t.name).await?)
}

/// GET /jumeau/v1/lighting/audit?limit=&offset=: one page of the log, newest first, with
/// the number of records in all in `NGSILD-Results-Count` and the next page in a `Link`
/// header (`rel="next"`). Needs a key covering the tenant, even when the tenant is public
/// (the log names keys).
async fn audit(State(app): State<App>, Params(q): Params, t: Tenant<Keyed>) -> ApiResult {
    let limit = q.limit.unwrap_or(AUDIT_DEFAULT_LIMIT);
    if !(1..=AUDIT_MAX_LIMIT).contains(&limit) {
        return Err(ApiError(NgsiError::bad_data(format!(
            "limit must be between 1 and {AUDIT_MAX_LIMIT}; page further with offset"
        ))));
    }
    let offset = q.offset.unwrap_or(0);
    let page = service::audit(&app, &t.name, limit, offset).await?;
    let mut resp = render::plain(StatusCode::OK, json!(page.records));
    let h = resp.headers_mut();
    h.insert(
        header::HeaderName::from_static("ngsild-results-count"),
        HeaderValue::from(page.total),
    );
    if offset.saturating_add(limit) < page.total {
        let next = format!(
            "</jumeau/v1/lighting/audit?limit={limit}&offset={}>; rel=\"next\"",
            offset + limit
        );
        if let Ok(v) = HeaderValue::from_str(&next) {
            h.insert(header::LINK, v);
        }
    }
    Ok(resp)
}
