//! /ngsi-ld/v1/jsonldContexts: @context documents hosted by the broker (§5.13), so that
//! clients on a closed network can use their own vocabulary.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use chrono::Utc;
use jumeau_model::NgsiError;
use jumeau_store::ContextRecord;
use jumeau_twin::Role;
use serde_json::{json, Value};

use crate::params::Params;
use crate::problem::ApiResult;
use crate::render;
use crate::request::{read_body, require_json, Meta};
use crate::App;

fn new_id() -> Result<String, NgsiError> {
    let mut buf = [0u8; 12];
    getrandom::fill(&mut buf).map_err(|e| NgsiError::internal(format!("no random source: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// POST /jsonldContexts: body `{"@context": {...}}`; answers 201 with its URL.
pub async fn create(
    State(app): State<App>,
    meta: Meta,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ApiResult {
    app.twin.auth.check_any(&meta.caller, Role::Editor)?;
    require_json(&headers)?;
    let bytes = read_body(&headers, body, app.config.max_body_bytes).await?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| NgsiError::invalid(format!("the body is not valid JSON: {e}")))?;
    let ctx = doc.get("@context").ok_or_else(|| {
        NgsiError::bad_data("the body must be a JSON-LD document with an @context member")
    })?;
    if !(ctx.is_object() || ctx.is_array() || ctx.is_string()) {
        return Err(NgsiError::bad_data("@context must be an object, an array or a URL").into());
    }
    // Check that it builds, so that a broken context is refused now rather than at use.
    jumeau_model::context::Context::build(&json!([ctx]), &|_| None)
        .map_err(|e| NgsiError::bad_data(format!("the context is not usable: {}", e.detail)))?;
    let id = new_id()?;
    app.twin
        .store
        .put_context(ContextRecord {
            url: id.clone(),
            body: doc,
            kind: "Hosted".into(),
            created_at: Utc::now(),
        })
        .await?;
    let mut resp = StatusCode::CREATED.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{}{id}", jumeau_twin::contexts::HOSTED_PATH)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// GET /jsonldContexts (`details=true` for kinds and dates)
pub async fn list(
    State(app): State<App>,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult {
    let params = Params(params);
    let all = app.twin.store.contexts().await?;
    let body = if params.bool("details")? {
        Value::Array(
            all.iter()
                .map(|c| {
                    json!({
                        "URL": shown_url(c),
                        "localId": c.url,
                        "kind": c.kind,
                        "createdAt": jumeau_model::time::format_datetime(&c.created_at),
                    })
                })
                .collect(),
        )
    } else {
        Value::Array(all.iter().map(|c| json!(shown_url(c))).collect())
    };
    Ok(render::plain(StatusCode::OK, body))
}

fn shown_url(c: &ContextRecord) -> String {
    if c.kind == "Hosted" {
        format!("{}{}", jumeau_twin::contexts::HOSTED_PATH, c.url)
    } else {
        c.url.clone()
    }
}

/// GET /jsonldContexts/{id}
pub async fn get(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    let c = app
        .twin
        .store
        .context(&id)
        .await?
        .ok_or_else(|| NgsiError::not_found(format!("no hosted @context with id {id}")))?;
    let mut resp = render::plain(StatusCode::OK, c.body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/ld+json"),
    );
    Ok(resp)
}

/// DELETE /jsonldContexts/{id}
pub async fn delete(State(app): State<App>, meta: Meta, Path(id): Path<String>) -> ApiResult {
    // Hosted contexts are shared by every tenant: only an admin of all tenants removes one.
    app.twin.auth.check_role(&meta.caller, "*", Role::Admin)?;
    if !app.twin.store.delete_context(&id).await? {
        return Err(NgsiError::not_found(format!("no hosted @context with id {id}")).into());
    }
    app.twin.contexts.invalidate();
    Ok(render::no_content())
}
