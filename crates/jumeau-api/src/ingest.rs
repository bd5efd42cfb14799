//! Sensor ingestion endpoints: network-server integrations, the device registry, dead
//! letters and counters.
//!
//! The tenant of an ingestion request is the `NGSILD-Tenant` header or, for senders that
//! cannot set headers, the `tenant` query parameter. Network servers send the editor key in
//! `Authorization: Bearer <key>` (ChirpStack's HTTP integration and The Things Stack's
//! webhooks both have custom headers). A message is answered 202 only once journaled.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use jumeau_ingest::message::Transport;
use jumeau_ingest::uplink::NetworkServer;
use jumeau_ingest::{registry, Incoming, Receipt};
use jumeau_model::{ErrorKind, NgsiError};
use jumeau_store::ingest::{DeadLetter, DeadLetterFilter, DeviceRecord};
use jumeau_twin::Role;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::problem::{ApiError, ApiResult};
use crate::render;
use crate::request::{read_body, require_json, Meta};
use crate::App;

/// The routes of this module, mounted under `/`.
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/ingest/chirpstack", post(chirpstack))
        .route(
            "/ingest/tts",
            post(|State(app): State<App>, meta, q, headers, body| {
                body_only(NetworkServer::TheThingsStack, app, meta, q, headers, body)
            }),
        )
        .route(
            "/ingest/http",
            post(|State(app): State<App>, meta, q, headers, body| {
                body_only(NetworkServer::Generic, app, meta, q, headers, body)
            }),
        )
        .route("/ingest/devices", get(list_devices).post(post_devices))
        .route("/ingest/devices/import", post(import_devices))
        .route(
            "/ingest/devices/{dev_eui}",
            get(get_device).put(put_device).delete(delete_device),
        )
        .route("/ingest/dead-letters", get(dead_letters))
        .route("/ingest/dead-letters/replay", post(replay))
        .route("/ingest/stats", get(stats))
        .route("/metrics", get(metrics))
}

/// Query parameters of the ingestion endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IngestQuery {
    /// The tenant, when the sender cannot set the NGSILD-Tenant header.
    tenant: Option<String>,
    /// The ChirpStack event type.
    event: Option<String>,
    /// Dead letters: of this device.
    #[serde(rename = "devEui")]
    dev_eui: Option<String>,
    /// Dead letters: after this id.
    after: Option<i64>,
    /// Dead letters: at most this many.
    limit: Option<usize>,
}

fn bad_query(e: impl std::fmt::Display) -> ApiError {
    ApiError(NgsiError::bad_data(format!(
        "invalid query parameters: {e}; accepted: tenant, event (ChirpStack), devEui, after, limit"
    )))
}

/// The query string, or a clear error.
fn query(
    q: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<IngestQuery> {
    q.map(|Query(q)| q).map_err(|e| bad_query(e.body_text()))
}

/// The tenant of a request (header or `tenant` parameter), checked against the caller's
/// key for `role`.
fn tenant(app: &App, meta: &Meta, q: &IngestQuery, role: Role) -> ApiResult<String> {
    let tenant = match (&q.tenant, meta.tenant_explicit) {
        (Some(t), true) if *t != meta.tenant => {
            return Err(ApiError(NgsiError::bad_data(format!(
                "the NGSILD-Tenant header names '{}' and the tenant parameter '{t}'; send one",
                meta.tenant
            ))))
        }
        (Some(t), _) => {
            jumeau_twin::validate_tenant(t)?;
            t.clone()
        }
        (None, _) => meta.tenant.clone(),
    };
    app.twin.auth.check_role(&meta.caller, &tenant, role)?;
    Ok(tenant)
}

/// Receives one body from a sender and answers with what became of it.
async fn receive(
    app: &App,
    meta: &Meta,
    q: &IngestQuery,
    headers: &HeaderMap,
    body: Body,
    source: NetworkServer,
    kind: String,
) -> ApiResult {
    let tenant = tenant(app, meta, q, Role::Editor)?;
    require_json(headers)?;
    let bytes = read_body(headers, body, app.config.max_body_bytes).await?;
    let incoming = Incoming {
        source,
        transport: Transport::Http,
        kind,
        body: bytes.to_vec(),
        received_at: Utc::now(),
    };
    let receipt = app
        .ingest
        .receive(&tenant, vec![incoming])
        .await?
        .pop()
        .unwrap_or_default();
    receipt_response(receipt)
}

fn receipt_response(receipt: Receipt) -> ApiResult {
    let rejected: Vec<Value> = receipt
        .rejected
        .iter()
        .map(|(i, dev, reason)| json!({"index": i, "devEui": dev, "reason": reason}))
        .collect();
    if receipt.journaled == 0 {
        let reasons: Vec<&str> = receipt
            .rejected
            .iter()
            .map(|(_, _, r)| r.as_str())
            .collect();
        return Err(ApiError(NgsiError::bad_data(format!(
            "{} (kept as a dead letter: GET /ingest/dead-letters)",
            reasons.join("; ")
        ))));
    }
    Ok(render::plain(
        StatusCode::ACCEPTED,
        json!({"journaled": receipt.journaled, "rejected": rejected}),
    ))
}

/// POST /ingest/chirpstack?event=up: ChirpStack v4 HTTP integration (JSON encoding).
async fn chirpstack(
    State(app): State<App>,
    meta: Meta,
    q: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let q = query(q)?;
    let event = q.event.clone().ok_or_else(|| {
        ApiError(NgsiError::bad_data(
            "the 'event' query parameter is missing; ChirpStack sends it (?event=up, join, status, ack, txack, log, location, integration)",
        ))
    })?;
    receive(
        &app,
        &meta,
        &q,
        &headers,
        body,
        NetworkServer::ChirpStack,
        event,
    )
    .await
}

/// POST /ingest/tts (The Things Stack v3 webhook, every message type) and POST /ingest/http
/// (Jumeau's generic format, one uplink or an array of them): the body alone says what it is.
async fn body_only(
    source: NetworkServer,
    app: App,
    meta: Meta,
    q: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let q = query(q)?;
    receive(&app, &meta, &q, &headers, body, source, String::new()).await
}

fn device_json(d: &DeviceRecord) -> Value {
    serde_json::to_value(d).unwrap_or(Value::Null)
}

/// A device registration from JSON, with the DevEUI of the path when given.
fn device_from(v: Value, path_eui: Option<&str>) -> ApiResult<DeviceRecord> {
    let mut v = v;
    if let (Some(eui), Some(obj)) = (path_eui, v.as_object_mut()) {
        match obj.get("devEui").and_then(Value::as_str) {
            Some(b) if !b.eq_ignore_ascii_case(eui) => {
                return Err(ApiError(NgsiError::bad_data(format!(
                    "the body names device {b} but the path {eui}"
                ))))
            }
            _ => {
                obj.insert("devEui".into(), Value::String(eui.to_string()));
            }
        }
    }
    serde_json::from_value(v).map_err(|e| {
        ApiError(NgsiError::bad_data(format!(
            "invalid device registration: {e}; expected {{devEui, entityId, entityType, profile?, context?, name?, intervalSeconds?, mappings: [{{field, attribute, unitCode?, scale?, min?, max?, onDevice?}}]}}"
        )))
    })
}

async fn json_body(app: &App, headers: &HeaderMap, body: Body) -> ApiResult<Value> {
    require_json(headers)?;
    let bytes = read_body(headers, body, app.config.max_body_bytes).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError(NgsiError::invalid(format!(
            "the body is not valid JSON: {e}"
        )))
    })
}

/// GET /ingest/devices
async fn list_devices(
    State(app): State<App>,
    meta: Meta,
    q: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let tenant = tenant(&app, &meta, &query(q)?, Role::Reader)?;
    let devices = app.twin.store.devices(&tenant).await?;
    Ok(render::plain(
        StatusCode::OK,
        Value::Array(devices.iter().map(device_json).collect()),
    ))
}

/// Registers devices; answers 201 when all are new, 200 otherwise.
async fn register(app: &App, tenant: &str, devices: Vec<DeviceRecord>) -> ApiResult {
    let mut created = 0;
    let n = devices.len();
    for d in devices {
        if app.ingest.put_device(tenant, d).await? {
            created += 1;
        }
    }
    let status = if created == n {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(render::plain(
        status,
        json!({"created": created, "updated": n - created}),
    ))
}

/// POST /ingest/devices: one registration or an array (created or replaced).
async fn post_devices(
    State(app): State<App>,
    meta: Meta,
    q: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let tenant = tenant(&app, &meta, &query(q)?, Role::Editor)?;
    let v = json_body(&app, &headers, body).await?;
    let list = match v {
        Value::Array(items) => items,
        other => vec![other],
    };
    let devices = list
        .into_iter()
        .map(|v| device_from(v, None))
        .collect::<ApiResult<Vec<_>>>()?;
    register(&app, &tenant, devices).await
}

/// POST /ingest/devices/import: a CSV inventory (text/csv), all or nothing.
async fn import_devices(
    State(app): State<App>,
    meta: Meta,
    q: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let tenant = tenant(&app, &meta, &query(q)?, Role::Editor)?;
    let csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/csv"));
    if !csv {
        return Err(ApiError(NgsiError::new(
            ErrorKind::UnsupportedMediaType,
            "send the inventory as Content-Type text/csv",
        )));
    }
    let bytes = read_body(&headers, body, app.config.max_body_bytes).await?;
    let devices = registry::parse_csv(&bytes)
        .map_err(|problems| ApiError(NgsiError::bad_data(problems.join("; "))))?;
    register(&app, &tenant, devices).await
}

/// GET /ingest/devices/{devEui}
async fn get_device(
    State(app): State<App>,
    meta: Meta,
    q: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
    Path(dev_eui): Path<String>,
) -> ApiResult {
    let tenant = tenant(&app, &meta, &query(q)?, Role::Reader)?;
    let eui = registry::normalize_dev_eui(&dev_eui).map_err(NgsiError::bad_data)?;
    let d = app.twin.store.device(&tenant, &eui).await?.ok_or_else(|| {
        NgsiError::not_found(format!(
            "device {eui} is not registered in tenant '{tenant}'"
        ))
    })?;
    Ok(render::plain(StatusCode::OK, device_json(&d)))
}

/// PUT /ingest/devices/{devEui}: creates or replaces a registration.
async fn put_device(
    State(app): State<App>,
    meta: Meta,
    q: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
    Path(dev_eui): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let tenant = tenant(&app, &meta, &query(q)?, Role::Editor)?;
    let v = json_body(&app, &headers, body).await?;
    let device = device_from(v, Some(&dev_eui))?;
    let created = app.ingest.put_device(&tenant, device).await?;
    Ok(StatusCode::from_u16(if created { 201 } else { 204 })
        .unwrap_or(StatusCode::NO_CONTENT)
        .into_response())
}

/// DELETE /ingest/devices/{devEui}
async fn delete_device(
    State(app): State<App>,
    meta: Meta,
    q: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
    Path(dev_eui): Path<String>,
) -> ApiResult {
    let tenant = tenant(&app, &meta, &query(q)?, Role::Editor)?;
    if !app.ingest.delete_device(&tenant, &dev_eui).await? {
        return Err(ApiError(NgsiError::not_found(format!(
            "device {dev_eui} is not registered in tenant '{tenant}'"
        ))));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The JSON of a dead letter: the body as text when it is UTF-8, else base64-free hex.
pub(crate) fn dead_letter_json(d: &DeadLetter) -> Value {
    let body = match std::str::from_utf8(&d.message.body) {
        Ok(text) => {
            serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_string()))
        }
        Err(_) => Value::String(d.message.body.iter().map(|b| format!("{b:02x}")).collect()),
    };
    json!({
        "id": d.id,
        "devEui": d.dev_eui,
        "source": d.message.source,
        "transport": d.message.transport,
        "kind": d.message.kind,
        "reason": d.reason,
        "receivedAt": jumeau_model::time::format_datetime(&d.message.received_at),
        "deadLetteredAt": jumeau_model::time::format_datetime(&d.created_at),
        "attempts": d.attempts,
        "body": body,
    })
}

fn filter_of(q: &IngestQuery) -> ApiResult<DeadLetterFilter> {
    let dev_eui = q
        .dev_eui
        .as_deref()
        .map(registry::normalize_dev_eui)
        .transpose()
        .map_err(NgsiError::bad_data)?;
    Ok(DeadLetterFilter {
        dev_eui,
        ids: Vec::new(),
        after_id: q.after,
        limit: q.limit.unwrap_or(100).min(1000),
    })
}

/// GET /ingest/dead-letters?devEui=&after=&limit=
async fn dead_letters(
    State(app): State<App>,
    meta: Meta,
    q: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let tenant = tenant(&app, &meta, &q, Role::Reader)?;
    let list = app
        .twin
        .store
        .dead_letters(&tenant, &filter_of(&q)?)
        .await?;
    Ok(render::plain(
        StatusCode::OK,
        Value::Array(list.iter().map(dead_letter_json).collect()),
    ))
}

/// Which dead letters to replay.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReplayBody {
    ids: Option<Vec<i64>>,
    dev_eui: Option<String>,
}

/// POST /ingest/dead-letters/replay: body `{}` (all), `{"ids": [..]}` or `{"devEui": ".."}`.
async fn replay(
    State(app): State<App>,
    meta: Meta,
    q: Result<Query<IngestQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let q = query(q)?;
    let tenant = tenant(&app, &meta, &q, Role::Editor)?;
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v != "0");
    let wanted: ReplayBody = if has_body {
        serde_json::from_value(json_body(&app, &headers, body).await?).map_err(|e| {
            ApiError(NgsiError::bad_data(format!(
                "invalid replay request: {e}; send {{}}, {{\"ids\": [1, 2]}} or {{\"devEui\": \"…\"}}"
            )))
        })?
    } else {
        ReplayBody::default()
    };
    let dev_eui = wanted
        .dev_eui
        .as_deref()
        .or(q.dev_eui.as_deref())
        .map(registry::normalize_dev_eui)
        .transpose()
        .map_err(NgsiError::bad_data)?;
    let filter = DeadLetterFilter {
        dev_eui,
        ids: wanted.ids.unwrap_or_default(),
        after_id: None,
        limit: 10_000,
    };
    let report = app.ingest.replay(&tenant, &filter).await?;
    Ok(render::plain(
        StatusCode::OK,
        json!({"replayed": report.replayed, "applied": report.applied, "failed": report.failed}),
    ))
}

/// The counters the caller's key covers.
async fn visible_counters(
    app: &App,
    meta: &Meta,
) -> ApiResult<Vec<jumeau_store::ingest::Counters>> {
    let Some(p) = &meta.caller else {
        return Err(ApiError(NgsiError::new(
            ErrorKind::Unauthorized,
            "ingestion counters need an API key: send 'Authorization: Bearer <key>'",
        )));
    };
    let mut all = app.twin.store.counters(None).await?;
    all.retain(|c| p.covers(&c.tenant));
    Ok(all)
}

/// GET /ingest/stats: the counters as JSON.
async fn stats(State(app): State<App>, meta: Meta) -> ApiResult {
    let counters = visible_counters(&app, &meta).await?;
    Ok(render::plain(
        StatusCode::OK,
        json!({"inFlight": app.ingest.in_flight(), "counters": counters}),
    ))
}

/// GET /metrics: the counters in the Prometheus text format.
async fn metrics(State(app): State<App>, meta: Meta) -> ApiResult<Response> {
    let counters = visible_counters(&app, &meta).await?;
    let text = jumeau_ingest::metrics::render(&counters, app.ingest.in_flight());
    let mut resp = (StatusCode::OK, text).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(jumeau_ingest::metrics::CONTENT_TYPE),
    );
    Ok(resp)
}
