//! Operational endpoints: health, the OpenAPI description, tenant settings.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use jumeau_model::NgsiError;
use jumeau_twin::Role;
use serde_json::{json, Value};

use crate::problem::ApiResult;
use crate::render;
use crate::request::{read_body, require_json, Meta};
use crate::App;

/// The OpenAPI 3 description of the core endpoints; each other module describes its own
/// paths and schemas in a fragment merged into it.
const OPENAPI_CORE: &str = include_str!("openapi.json");
/// The fragments of the other modules (`paths`, `components.schemas` and
/// `components.responses`).
const OPENAPI_FRAGMENTS: &[(&str, &str)] = &[
    ("temporal", include_str!("openapi_temporal.json")),
    ("subscriptions", include_str!("openapi_subscriptions.json")),
    ("ingest", include_str!("openapi_ingest.json")),
    ("water", include_str!("openapi_water.json")),
    ("lighting", include_str!("openapi_lighting.json")),
];

/// The whole OpenAPI document, built once.
fn openapi_document() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc: Value = serde_json::from_str(OPENAPI_CORE).unwrap_or_else(|e| {
            tracing::error!("openapi.json does not parse: {e}");
            Value::Null
        });
        for (name, text) in OPENAPI_FRAGMENTS {
            let fragment: Value = match serde_json::from_str(text) {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!("openapi_{name}.json does not parse: {e}");
                    continue;
                }
            };
            for section in ["paths", "components/schemas", "components/responses"] {
                let pointer = format!("/{section}");
                if let (Some(into), Some(Value::Object(from))) = (
                    doc.pointer_mut(&pointer).and_then(Value::as_object_mut),
                    fragment.pointer(&pointer),
                ) {
                    into.extend(from.clone());
                }
            }
        }
        doc.to_string()
    })
}

/// GET /health: answers 200 when the store answers.
pub async fn health(State(app): State<App>) -> ApiResult {
    app.twin.store.tenant(jumeau_twin::DEFAULT_TENANT).await?;
    Ok(render::plain(
        StatusCode::OK,
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
    ))
}

/// GET /openapi.json
pub async fn openapi() -> ApiResult {
    let mut resp = render::plain(StatusCode::OK, Value::Null);
    *resp.body_mut() = Body::from(openapi_document());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

fn tenant_json(t: &jumeau_store::TenantInfo) -> Value {
    json!({
        "name": t.name,
        "public": t.public,
        "createdAt": jumeau_model::time::format_datetime(&t.created_at),
    })
}

/// The JSON of a tenant with its time zone (that of its calendar aggregation periods).
async fn tenant_body(app: &App, t: &jumeau_store::TenantInfo) -> ApiResult<Value> {
    let mut v = tenant_json(t);
    let tz = app.twin.store.time_zone(&t.name).await?;
    if let Some(o) = v.as_object_mut() {
        o.insert("timeZone".into(), Value::String(tz.name().to_string()));
    }
    Ok(v)
}

/// Checks a request changing a tenant's settings (a valid tenant name, an admin key
/// covering it, a small JSON body) and returns the body.
pub(crate) async fn tenant_settings_body(
    app: &App,
    meta: &Meta,
    tenant: &str,
    headers: &axum::http::HeaderMap,
    body: Body,
) -> Result<Value, crate::problem::ApiError> {
    jumeau_twin::validate_tenant(tenant)?;
    app.twin
        .auth
        .check_role(&meta.caller, tenant, Role::Admin)?;
    require_json(headers)?;
    let bytes = read_body(headers, body, 64 * 1024).await?;
    Ok(serde_json::from_slice(&bytes)
        .map_err(|e| NgsiError::invalid(format!("the body is not valid JSON: {e}")))?)
}

/// GET /jumeau/v1/tenants: the tenants the caller's key covers.
pub async fn list_tenants(State(app): State<App>, meta: Meta) -> ApiResult {
    let Some(p) = &meta.caller else {
        return Err(NgsiError::new(
            jumeau_model::ErrorKind::Unauthorized,
            "listing tenants needs an API key: send 'Authorization: Bearer <key>'",
        )
        .into());
    };
    let all = app.twin.store.tenants().await?;
    let mut visible: Vec<Value> = Vec::new();
    for t in all.iter().filter(|t| p.covers(&t.name)) {
        visible.push(tenant_body(&app, t).await?);
    }
    Ok(render::plain(StatusCode::OK, Value::Array(visible)))
}

/// GET /jumeau/v1/tenants/{tenant}
pub async fn get_tenant(
    State(app): State<App>,
    meta: Meta,
    Path(tenant): Path<String>,
) -> ApiResult {
    jumeau_twin::validate_tenant(&tenant)?;
    let info = app.twin.store.tenant(&tenant).await?;
    let public = info.as_ref().is_some_and(|i| i.public);
    app.twin.auth.check_read(&meta.caller, &tenant, public)?;
    let info = info.ok_or_else(|| {
        NgsiError::new(
            jumeau_model::ErrorKind::NonexistentTenant,
            format!("tenant '{tenant}' does not exist"),
        )
    })?;
    Ok(render::plain(
        StatusCode::OK,
        tenant_body(&app, &info).await?,
    ))
}

/// PUT /jumeau/v1/tenants/{tenant}: `{"public": true}` opens a tenant to anonymous reads
/// (open data), `{"timeZone": "Europe/Paris"}` sets the IANA time zone of its calendar
/// aggregation periods (P1D and longer); either or both. Creates the tenant if needed.
/// Needs an admin key covering it.
pub async fn put_tenant(
    State(app): State<App>,
    meta: Meta,
    Path(tenant): Path<String>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ApiResult {
    let v = tenant_settings_body(&app, &meta, &tenant, &headers, body).await?;
    let usage = "the body must be {\"public\": true|false, \"timeZone\": \"Europe/Paris\"} \
                 with at least one of the two";
    let public = match v.get("public") {
        None => None,
        Some(p) => Some(p.as_bool().ok_or_else(|| NgsiError::bad_data(usage))?),
    };
    let time_zone = match v.get("timeZone") {
        None => None,
        Some(Value::String(name)) => Some(jumeau_model::temporal::parse_time_zone(name)?),
        Some(_) => return Err(NgsiError::bad_data(usage).into()),
    };
    if public.is_none() && time_zone.is_none() {
        return Err(NgsiError::bad_data(usage).into());
    }
    let current = app.twin.store.tenant(&tenant).await?;
    let public = public.unwrap_or_else(|| current.is_some_and(|t| t.public));
    let info = app.twin.store.set_tenant_public(&tenant, public).await?;
    if let Some(tz) = time_zone {
        app.twin.store.set_time_zone(&tenant, tz).await?;
    }
    app.forget_tenant(&tenant);
    Ok(render::plain(
        StatusCode::OK,
        tenant_body(&app, &info).await?,
    ))
}
