//! What every request carries besides its path: tenant, caller, @context, wanted
//! representation, and the checked JSON body.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use jumeau_model::context::Context;
use jumeau_model::{ErrorKind, NgsiError};
use jumeau_twin::auth::Caller;
use serde_json::Value;

use crate::problem::ApiError;
use crate::App;

/// The Link relation naming a JSON-LD context (JSON-LD 1.1 §6.2).
const CONTEXT_REL: &str = "http://www.w3.org/ns/json-ld#context";

/// Media types a response can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// application/json: the @context goes in a Link header.
    Json,
    /// application/ld+json: the @context goes in the body.
    JsonLd,
    /// application/geo+json: a GeoJSON Feature or FeatureCollection.
    GeoJson,
}

/// The request metadata every NGSI-LD handler needs.
pub struct Meta {
    /// The tenant (NGSILD-Tenant header, or the default tenant).
    pub tenant: String,
    /// Whether the client named the tenant explicitly.
    pub tenant_explicit: bool,
    /// The authenticated caller, if a key was sent.
    pub caller: Caller,
    /// The @context given in a Link header, if any.
    pub link_context: Option<String>,
    /// The representation the client accepts.
    pub accept: Accept,
    headers: HeaderMap,
    method: Method,
}

fn bad_header(name: &str, detail: impl std::fmt::Display) -> ApiError {
    ApiError(NgsiError::bad_data(format!(
        "the {name} header is not valid: {detail}"
    )))
}

/// Parses the Link headers and returns the JSON-LD context URL, if one is given.
fn link_context(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut found = None;
    for v in headers.get_all(header::LINK) {
        let s = v.to_str().map_err(|e| bad_header("Link", e))?;
        for link in s.split(',') {
            let link = link.trim();
            if !link.contains(CONTEXT_REL) {
                continue;
            }
            let url = link
                .strip_prefix('<')
                .and_then(|r| r.split_once('>'))
                .map(|(u, _)| u.trim().to_string())
                .filter(|u| !u.is_empty())
                .ok_or_else(|| bad_header("Link", format!("'{link}' has no <url>")))?;
            if found.replace(url).is_some() {
                return Err(bad_header("Link", "more than one JSON-LD context link"));
            }
        }
    }
    Ok(found)
}

/// Chooses the response media type from the Accept header.
fn negotiate(headers: &HeaderMap) -> Result<Accept, ApiError> {
    let Some(v) = headers.get(header::ACCEPT) else {
        return Ok(Accept::Json);
    };
    let s = v.to_str().map_err(|e| bad_header("Accept", e))?;
    let mut best: Option<(f32, Accept)> = None;
    for item in s.split(',') {
        let mut parts = item.split(';');
        let mt = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let kind = match mt.as_str() {
            "application/json" | "*/*" | "application/*" | "" => Accept::Json,
            "application/ld+json" => Accept::JsonLd,
            "application/geo+json" => Accept::GeoJson,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, kind));
        }
    }
    best.map(|(_, a)| a).ok_or_else(|| {
        ApiError(NgsiError::new(
            ErrorKind::NotAcceptable,
            format!("cannot answer with '{s}'; accepted: application/json, application/ld+json, application/geo+json"),
        ))
    })
}

impl FromRequestParts<App> for Meta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        let (tenant, tenant_explicit) = match headers.get("NGSILD-Tenant") {
            Some(v) => {
                let t = v
                    .to_str()
                    .map_err(|e| bad_header("NGSILD-Tenant", e))?
                    .trim()
                    .to_string();
                jumeau_twin::validate_tenant(&t)?;
                (t, true)
            }
            None => (jumeau_twin::DEFAULT_TENANT.to_string(), false),
        };
        let bearer = match headers.get(header::AUTHORIZATION) {
            Some(v) => {
                let s = v.to_str().map_err(|e| bad_header("Authorization", e))?;
                let token = s
                    .strip_prefix("Bearer ")
                    .or_else(|| s.strip_prefix("bearer "))
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        ApiError(NgsiError::new(
                            ErrorKind::Unauthorized,
                            "the Authorization header must be 'Bearer <key>'",
                        ))
                    })?;
                Some(token.to_string())
            }
            None => None,
        };
        let caller = app.twin.auth.authenticate(bearer.as_deref()).await?;
        Ok(Self {
            tenant,
            tenant_explicit,
            caller,
            link_context: link_context(headers)?,
            accept: negotiate(headers)?,
            headers: headers.clone(),
            method: parts.method.clone(),
        })
    }
}

impl Meta {
    /// The active context for reading: the Link header's, or the core context.
    pub async fn read_context(&self, app: &App) -> Result<Arc<Context>, ApiError> {
        let v = self.link_context.as_ref().map(|u| Value::String(u.clone()));
        Ok(app.twin.contexts.resolve(v.as_ref()).await?)
    }

    /// The @context value to echo in responses (a URL, or the inline value given).
    pub fn context_value(&self, body_context: Option<&Value>) -> Value {
        match (body_context, &self.link_context) {
            (Some(v), _) => v.clone(),
            (None, Some(u)) => Value::String(u.clone()),
            (None, None) => Value::String(jumeau_model::context::CORE_CONTEXT_URL.into()),
        }
    }

    /// Reads and checks a JSON request body: media type, length, size, syntax, and the
    /// @context rules of NGSI-LD §6.3.5 (in the body for application/ld+json, in a Link
    /// header for application/json). Returns the JSON and its active context.
    pub async fn json_body(
        &self,
        app: &App,
        body: Body,
    ) -> Result<(Value, Option<Value>, Arc<Context>), ApiError> {
        let ld = match content_type(&self.headers).as_deref() {
            Some("application/json") => false,
            Some("application/ld+json") => true,
            Some("application/merge-patch+json") if self.method == Method::PATCH => false,
            Some(other) => {
                return Err(ApiError(NgsiError::new(
                    ErrorKind::UnsupportedMediaType,
                    format!("Content-Type '{other}' is not accepted; use application/json or application/ld+json"),
                )))
            }
            None => {
                return Err(ApiError(NgsiError::new(
                    ErrorKind::UnsupportedMediaType,
                    "the request has no Content-Type; use application/json or application/ld+json",
                )))
            }
        };
        let bytes = read_body(&self.headers, body, app.config.max_body_bytes).await?;
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError(NgsiError::invalid(format!(
                "the body is not valid JSON: {e}"
            )))
        })?;
        let body_ctx = body_context(&json)?;
        let ctx_value = if ld {
            if self.link_context.is_some() {
                return Err(ApiError(NgsiError::bad_data(
                    "with Content-Type application/ld+json the @context goes in the body, not in a Link header",
                )));
            }
            Some(body_ctx.ok_or_else(|| {
                ApiError(NgsiError::bad_data(
                    "with Content-Type application/ld+json the body must carry an @context member (or send application/json)",
                ))
            })?)
        } else {
            if body_ctx.is_some() {
                return Err(ApiError(NgsiError::bad_data(
                    "with Content-Type application/json the body must not carry @context; send it in a Link header or use application/ld+json",
                )));
            }
            self.link_context.as_ref().map(|u| Value::String(u.clone()))
        };
        let ctx = app.twin.contexts.resolve(ctx_value.as_ref()).await?;
        Ok((json, ctx_value, ctx))
    }
}

/// The @context of a body: of the object, or shared by every element of an array.
fn body_context(json: &Value) -> Result<Option<Value>, ApiError> {
    match json {
        Value::Object(m) => Ok(m.get("@context").cloned()),
        Value::Array(items) => {
            let mut found: Option<Value> = None;
            for (i, item) in items.iter().enumerate() {
                let c = item.get("@context").cloned();
                if i == 0 {
                    found = c;
                } else if c != found {
                    return Err(ApiError(NgsiError::bad_data(
                        "every entity of a batch must carry the same @context (or none)",
                    )));
                }
            }
            Ok(found)
        }
        _ => Ok(None),
    }
}

/// The media type of a request body, lower-case and without parameters.
fn content_type(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// Checks that a body is declared as JSON (`application/json` or `application/ld+json`).
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = content_type(headers);
    match ct.as_deref() {
        Some("application/json" | "application/ld+json") => Ok(()),
        other => Err(ApiError(NgsiError::new(
            ErrorKind::UnsupportedMediaType,
            format!(
                "Content-Type '{}' is not accepted; use application/json or application/ld+json",
                other.unwrap_or("(none)")
            ),
        ))),
    }
}

/// Reads a body, enforcing Content-Length presence (411) and the size limit (413).
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers.get(header::CONTENT_LENGTH);
    if declared.is_none() && headers.get(header::TRANSFER_ENCODING).is_some() {
        return Err(ApiError(NgsiError::new(
            ErrorKind::LengthRequired,
            "send the body with a Content-Length header",
        )));
    }
    if let Some(n) = declared
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<usize>().ok())
    {
        if n > limit {
            return Err(too_large(limit));
        }
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large(limit))?;
    if bytes.is_empty() {
        return Err(ApiError(NgsiError::invalid(
            "the request body is empty; a JSON body is expected",
        )));
    }
    Ok(bytes)
}

fn too_large(limit: usize) -> ApiError {
    ApiError(NgsiError::new(
        ErrorKind::PayloadTooLarge,
        format!("the body is larger than {limit} bytes; split it into smaller batches"),
    ))
}
