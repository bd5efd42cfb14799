//! NGSI-LD subscriptions (ETSI GS CIM 009 §5.8, §6.10, §6.11): who is told of which changes.
//!
//! Handlers parse and render with the model's subscription module and store through the
//! twin's notifier, which also starts (or stops) matching the subscription at once.
//!
//! Reading subscriptions needs a key covering the tenant even when the tenant is public:
//! a subscription holds its receiver's address and `receiverInfo` headers, often the
//! receiver's own credentials.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use jumeau_model::context::CORE_CONTEXT_URL;
use jumeau_model::query::EntityQuery;
use jumeau_model::subscription::{merge_subscription, parse_subscription, render_subscription};
use jumeau_model::{ErrorKind, NgsiError};
use jumeau_store::subscriptions::SubscriptionRecord;
use serde_json::Value;

use crate::entities::{check_id, encode_segment};
use crate::params::Params;
use crate::problem::{ApiError, ApiResult};
use crate::render::{self, View};
use crate::request::{Accept, Meta};
use crate::App;

/// The routes of this module, mounted under `/ngsi-ld/v1`.
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/subscriptions", get(list).post(create))
        .route(
            "/subscriptions/{id}",
            get(retrieve).patch(update).delete(delete),
        )
}

/// A new subscription id, `urn:ngsi-ld:Subscription:<random>`.
fn new_id() -> Result<String, NgsiError> {
    let mut buf = [0u8; 12];
    getrandom::fill(&mut buf).map_err(|e| NgsiError::internal(format!("no random source: {e}")))?;
    let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("urn:ngsi-ld:Subscription:{hex}"))
}

fn not_found(id: &str) -> ApiError {
    ApiError(NgsiError::not_found(format!(
        "no subscription with id {id} in this tenant; list them with GET /ngsi-ld/v1/subscriptions"
    )))
}

/// Checks that the caller may read the tenant's subscriptions: a key covering it.
fn check_read(app: &App, meta: &Meta) -> ApiResult<()> {
    app.twin
        .auth
        .check_read(&meta.caller, &meta.tenant, false)?;
    if meta.accept == Accept::GeoJson {
        return Err(ApiError(NgsiError::new(
            ErrorKind::NotAcceptable,
            "subscriptions are answered as application/json or application/ld+json",
        )));
    }
    Ok(())
}

/// A stored subscription of the tenant, or 404.
async fn load(app: &App, meta: &Meta, id: &str) -> ApiResult<SubscriptionRecord> {
    check_id(id)?;
    app.twin
        .store
        .subscription(&meta.tenant, id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// How subscriptions are shown to this caller: names compacted with its Link context.
async fn view<'a>(app: &App, meta: &'a Meta) -> ApiResult<View<'a>> {
    Ok(View {
        meta,
        ctx: meta.read_context(app).await?,
        ctx_value: meta.context_value(None),
        opts: Default::default(),
        geometry_property: String::new(),
    })
}

/// POST /subscriptions: 201 with the Location of the new subscription.
pub async fn create(State(app): State<App>, meta: Meta, body: Body) -> ApiResult {
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    let (json, ctx_value, ctx) = meta.json_body(&app, body).await?;
    let sub = parse_subscription(&json, &ctx, Utc::now(), &new_id()?)?;
    check_id(&sub.id)?;
    let id = sub.id.clone();
    let context = ctx_value.unwrap_or_else(|| Value::String(CORE_CONTEXT_URL.into()));
    app.twin
        .notifier
        .create_subscription(&meta.tenant, sub, context)
        .await?;
    let mut resp = StatusCode::CREATED.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "/ngsi-ld/v1/subscriptions/{}",
        encode_segment(&id)
    )) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// GET /subscriptions (`limit`, `offset`, `count`)
pub async fn list(
    State(app): State<App>,
    meta: Meta,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult {
    check_read(&app, &meta)?;
    let mut paging = EntityQuery::default();
    Params(params).paging(&mut paging)?;
    let view = view(&app, &meta).await?;
    let (page, total) = app
        .twin
        .store
        .subscriptions(&meta.tenant, paging.offset, paging.limit)
        .await?;
    let now = Utc::now();
    let body = Value::Array(
        page.iter()
            .map(|r| render_subscription(&r.subscription, &r.status, &view.ctx, now))
            .collect(),
    );
    let mut resp = render::json(StatusCode::OK, body, &view);
    if paging.count {
        resp.headers_mut().insert(
            HeaderName::from_static("ngsild-results-count"),
            HeaderValue::from(total),
        );
    }
    Ok(resp)
}

/// GET /subscriptions/{id}, with its status and delivery statistics.
pub async fn retrieve(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    check_read(&app, &meta)?;
    let record = load(&app, &meta, &id).await?;
    let view = view(&app, &meta).await?;
    let body = render_subscription(&record.subscription, &record.status, &view.ctx, Utc::now());
    Ok(render::json(StatusCode::OK, body, &view))
}

/// PATCH /subscriptions/{id}: the members given replace the stored ones; 204.
pub async fn update(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    let record = load(&app, &meta, &id).await?;
    let (json, _, ctx) = meta.json_body(&app, body).await?;
    let sub = merge_subscription(&record.subscription, &json, &ctx, Utc::now())?;
    app.twin
        .notifier
        .update_subscription(&meta.tenant, sub)
        .await?;
    Ok(render::no_content())
}

/// DELETE /subscriptions/{id}: 204; its pending notifications are dropped.
pub async fn delete(State(app): State<App>, meta: Meta, Path(id): Path<String>) -> ApiResult {
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    check_id(&id)?;
    if !app
        .twin
        .notifier
        .delete_subscription(&meta.tenant, &id)
        .await?
    {
        return Err(not_found(&id));
    }
    Ok(render::no_content())
}
