//! Responses: entities rendered in the representation the client accepts, with the
//! @context where NGSI-LD puts it (a Link header for JSON, the body for JSON-LD).

use std::sync::Arc;

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use jumeau_model::context::Context;
use jumeau_model::ngsi::{self, RenderOptions};
use jumeau_model::Entity;
use serde_json::Value;

use crate::request::{Accept, Meta};

/// How entities are to be shown.
pub struct View<'a> {
    /// The request metadata (Accept, tenant).
    pub meta: &'a Meta,
    /// The context to compact with.
    pub ctx: Arc<Context>,
    /// The @context value echoed to the client.
    pub ctx_value: Value,
    /// Representation options.
    pub opts: RenderOptions,
    /// The GeoProperty used as Feature geometry in GeoJSON (expanded).
    pub geometry_property: String,
}

fn link_header(ctx_value: &Value) -> Option<HeaderValue> {
    let url = ctx_value.as_str()?;
    HeaderValue::from_str(&format!(
        "<{url}>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""
    ))
    .ok()
}

/// A JSON response in the accepted media type, with the @context placed accordingly.
pub fn json(status: StatusCode, body: Value, view: &View<'_>) -> Response {
    let (body, ct) = match view.meta.accept {
        Accept::JsonLd => (with_context(body, &view.ctx_value), "application/ld+json"),
        Accept::GeoJson => (body, "application/geo+json"),
        Accept::Json => (body, "application/json"),
    };
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    if view.meta.accept != Accept::JsonLd {
        if let Some(link) = link_header(&view.ctx_value) {
            h.insert(header::LINK, link);
        }
    }
    if view.meta.tenant_explicit {
        if let Ok(v) = HeaderValue::from_str(&view.meta.tenant) {
            h.insert(HeaderName::from_static("ngsild-tenant"), v);
        }
    }
    resp
}

/// Adds "@context" to an object, or to each object of an array.
fn with_context(body: Value, ctx: &Value) -> Value {
    match body {
        Value::Object(mut m) => {
            m.insert("@context".into(), ctx.clone());
            Value::Object(m)
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|i| with_context(i, ctx)).collect())
        }
        other => other,
    }
}

/// One entity, as JSON, JSON-LD or a GeoJSON Feature.
pub fn entity(e: &Entity, view: &View<'_>) -> Response {
    let body = if view.meta.accept == Accept::GeoJson {
        ngsi::render_geojson_feature(e, &view.ctx, &view.opts, &view.geometry_property)
    } else {
        Value::Object(ngsi::render_entity(e, &view.ctx, &view.opts))
    };
    json(StatusCode::OK, body, view)
}

/// A list of entities (a FeatureCollection for GeoJSON), with the total count if known.
pub fn entities(list: &[Entity], count: Option<u64>, view: &View<'_>) -> Response {
    let body = if view.meta.accept == Accept::GeoJson {
        ngsi::render_feature_collection(list, &view.ctx, &view.opts, &view.geometry_property)
    } else {
        Value::Array(
            list.iter()
                .map(|e| Value::Object(ngsi::render_entity(e, &view.ctx, &view.opts)))
                .collect(),
        )
    };
    let mut resp = json(StatusCode::OK, body, view);
    if let Some(n) = count {
        resp.headers_mut().insert(
            HeaderName::from_static("ngsild-results-count"),
            HeaderValue::from(n),
        );
    }
    resp
}

/// An empty success (204).
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// A plain JSON object response without @context handling (admin endpoints).
pub fn plain(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
