//! /ngsi-ld/v1/entities: create, retrieve, query, replace, merge, delete, and attributes.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use jumeau_model::context::Context;
use jumeau_model::ngsi;
use jumeau_model::ops::UpdateResult;
use jumeau_model::query::EntityQuery;
use jumeau_model::{Attribute, NgsiError, Result as ModelResult};
use jumeau_store::{WriteOp, WriteOutcome};
use serde_json::json;

use crate::params::{Params, LOCATION};
use crate::problem::ApiResult;
use crate::render::{self, View};
use crate::request::Meta;
use crate::App;

/// Runs one write and returns its outcome (or its error).
pub(crate) async fn write_one(app: &App, tenant: &str, op: WriteOp) -> ApiResult<WriteOutcome> {
    let mut results = app.twin.write(tenant, vec![op]).await?;
    match results.pop() {
        Some(r) => Ok(r?),
        None => Err(NgsiError::internal("the store returned no result for a write").into()),
    }
}

/// Renders an UpdateResult: 204 when everything was updated, else 207 with the details.
fn update_response(outcome: WriteOutcome, ctx: &Context) -> Response {
    let WriteOutcome::Updated(r) = outcome else {
        return render::no_content();
    };
    update_result(r, ctx)
}

fn update_result(r: UpdateResult, ctx: &Context) -> Response {
    if r.not_updated.is_empty() {
        return render::no_content();
    }
    let body = json!({
        "updated": r.updated.iter().map(|a| ctx.compact(a)).collect::<Vec<_>>(),
        "notUpdated": r.not_updated.iter().map(|n| json!({
            "attributeName": ctx.compact(&n.attr),
            "reason": n.reason,
        })).collect::<Vec<_>>(),
    });
    render::plain(StatusCode::MULTI_STATUS, body)
}

/// Checks an entity id taken from the path.
pub(crate) fn check_id(id: &str) -> ModelResult<()> {
    jumeau_model::entity::validate_uri(id).map_err(NgsiError::bad_data)
}

/// The view (rendering settings) of a read request, once the tenant is known to exist and
/// the caller may read it.
pub(crate) async fn read_view<'a>(
    app: &App,
    meta: &'a Meta,
    params: &Params,
) -> ApiResult<View<'a>> {
    app.readable_tenant(meta).await?;
    let ctx = meta.read_context(app).await?;
    let opts = params.render_options(&ctx)?;
    let geometry_property = ctx.expand(params.get("geometryProperty")?.unwrap_or(LOCATION));
    let ctx_value = meta.context_value(None);
    Ok(View {
        meta,
        ctx,
        ctx_value,
        opts,
        geometry_property,
    })
}

/// Percent-encodes an id for use as a path segment.
pub(crate) fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// POST /entities
pub async fn create(State(app): State<App>, meta: Meta, body: Body) -> ApiResult {
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    let (json, _, ctx) = meta.json_body(&app, body).await?;
    let e = ngsi::parse_entity(&json, &ctx)?;
    let id = e.id.clone();
    write_one(&app, &meta.tenant, WriteOp::Create(e)).await?;
    let mut resp = StatusCode::CREATED.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/ngsi-ld/v1/entities/{}", encode_segment(&id))) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// GET /entities/{id}
pub async fn retrieve(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult {
    let params = Params(params);
    check_id(&id)?;
    let view = read_view(&app, &meta, &params).await?;
    let e = app
        .twin
        .store
        .get(&meta.tenant, &id)
        .await?
        .ok_or_else(|| NgsiError::not_found(format!("no entity with id {id} in this tenant")))?;
    if let Some(t) = params.get("type")? {
        let q = jumeau_model::query::TypeExpr::parse(t, &|s| view.ctx.expand(s))?;
        if !q.matches(&e.types) {
            return Err(NgsiError::not_found(format!("entity {id} is not of type {t}")).into());
        }
    }
    Ok(render::entity(&e, &view))
}

/// Answers an entity query with the given view.
pub(crate) async fn answer_query(
    app: &App,
    meta: &Meta,
    q: &EntityQuery,
    view: &View<'_>,
) -> ApiResult {
    let page = app.twin.store.query(&meta.tenant, q).await?;
    Ok(render::entities(&page.entities, page.count, view))
}

/// GET /entities
pub async fn query(
    State(app): State<App>,
    meta: Meta,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult {
    let params = Params(params);
    let view = read_view(&app, &meta, &params).await?;
    let q = params.entity_query(&view.ctx)?;
    answer_query(&app, &meta, &q, &view).await
}

/// Parses the entity of a PUT /entities/{id} body, which may omit the id.
fn body_entity(
    json: &serde_json::Value,
    id: &str,
    ctx: &Context,
) -> ModelResult<jumeau_model::Entity> {
    let mut json = json.clone();
    if let Some(obj) = json.as_object_mut() {
        match obj.get("id").and_then(|v| v.as_str()) {
            Some(body_id) if body_id != id => {
                return Err(NgsiError::bad_data(format!(
                    "the body id {body_id} differs from the id {id} in the path"
                )))
            }
            _ => {
                obj.insert("id".into(), json!(id));
            }
        }
    }
    ngsi::parse_entity(&json, ctx)
}

/// PUT /entities/{id}
pub async fn replace(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    check_id(&id)?;
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    let (json, _, ctx) = meta.json_body(&app, body).await?;
    let e = body_entity(&json, &id, &ctx)?;
    write_one(&app, &meta.tenant, WriteOp::Replace(e)).await?;
    Ok(render::no_content())
}

/// PATCH /entities/{id} (merge-patch)
pub async fn merge(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    check_id(&id)?;
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    let (json, _, ctx) = meta.json_body(&app, body).await?;
    let frag = ngsi::parse_fragment(&json, &ctx)?;
    if let Some(body_id) = &frag.id {
        if body_id != &id {
            return Err(NgsiError::bad_data(format!(
                "the body id {body_id} differs from the id {id} in the path"
            ))
            .into());
        }
    }
    let op = WriteOp::Merge {
        id,
        attrs: frag.attrs,
        deletions: frag.nulls,
        types: frag.types,
    };
    let outcome = write_one(&app, &meta.tenant, op).await?;
    Ok(update_response(outcome, &ctx))
}

/// DELETE /entities/{id}
pub async fn delete(State(app): State<App>, meta: Meta, Path(id): Path<String>) -> ApiResult {
    check_id(&id)?;
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    write_one(&app, &meta.tenant, WriteOp::Delete { id }).await?;
    Ok(render::no_content())
}

/// Parses an attributes body; refuses an empty one.
fn attrs_body(json: &serde_json::Value, ctx: &Context) -> ModelResult<ngsi::Fragment> {
    let frag = ngsi::parse_fragment(json, ctx)?;
    if frag.attrs.is_empty() && frag.nulls.is_empty() {
        return Err(NgsiError::bad_data("the body names no attribute"));
    }
    Ok(frag)
}

/// POST /entities/{id}/attrs (append, `options=noOverwrite` to keep existing values)
pub async fn append(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    body: Body,
) -> ApiResult {
    check_id(&id)?;
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    let no_overwrite = Params(params).options()?.contains("noOverwrite");
    let (json, _, ctx) = meta.json_body(&app, body).await?;
    let frag = attrs_body(&json, &ctx)?;
    let outcome = write_one(
        &app,
        &meta.tenant,
        WriteOp::AppendAttrs {
            id,
            attrs: frag.attrs,
            no_overwrite,
        },
    )
    .await?;
    Ok(update_response(outcome, &ctx))
}

/// PATCH /entities/{id}/attrs (update existing attributes only)
pub async fn update(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    check_id(&id)?;
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    let (json, _, ctx) = meta.json_body(&app, body).await?;
    let frag = attrs_body(&json, &ctx)?;
    let outcome = write_one(
        &app,
        &meta.tenant,
        WriteOp::UpdateAttrs {
            id,
            attrs: frag.attrs,
        },
    )
    .await?;
    Ok(update_response(outcome, &ctx))
}

/// Parses the body of an attribute endpoint: one attribute instance.
fn one_attribute(name: &str, json: &serde_json::Value, ctx: &Context) -> ModelResult<Attribute> {
    let mut json = json.clone();
    if let Some(obj) = json.as_object_mut() {
        obj.remove("@context");
    }
    let mut list = ngsi::parse_attribute(name, &json, ctx)?;
    if list.len() != 1 {
        return Err(NgsiError::bad_data(
            "this endpoint takes exactly one attribute instance",
        ));
    }
    list.pop()
        .ok_or_else(|| NgsiError::bad_data("the body holds no attribute"))
}

/// PATCH /entities/{id}/attrs/{attr}
pub async fn patch_attr(
    State(app): State<App>,
    meta: Meta,
    Path((id, attr)): Path<(String, String)>,
    body: Body,
) -> ApiResult {
    write_attr(&app, &meta, id, &attr, body, |id, name, attr| {
        WriteOp::PatchAttr { id, name, attr }
    })
    .await
}

/// PUT /entities/{id}/attrs/{attr}
pub async fn replace_attr(
    State(app): State<App>,
    meta: Meta,
    Path((id, attr)): Path<(String, String)>,
    body: Body,
) -> ApiResult {
    write_attr(&app, &meta, id, &attr, body, |id, name, attr| {
        WriteOp::ReplaceAttr { id, name, attr }
    })
    .await
}

/// Writes the one attribute instance of a request body with the operation `op` builds.
async fn write_attr(
    app: &App,
    meta: &Meta,
    id: String,
    attr: &str,
    body: Body,
    op: impl FnOnce(String, String, Attribute) -> WriteOp,
) -> ApiResult {
    check_id(&id)?;
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    let (json, _, ctx) = meta.json_body(app, body).await?;
    let name = ctx.expand(attr);
    let a = one_attribute(&name, &json, &ctx)?;
    write_one(app, &meta.tenant, op(id, name, a)).await?;
    Ok(render::no_content())
}

/// DELETE /entities/{id}/attrs/{attr} (`datasetId=`, `deleteAll=true`)
pub async fn delete_attr(
    State(app): State<App>,
    meta: Meta,
    Path((id, attr)): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult {
    check_id(&id)?;
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    let params = Params(params);
    let ctx = meta.read_context(&app).await?;
    let dataset_id = params.get("datasetId")?.map(String::from);
    if let Some(d) = &dataset_id {
        check_id(d)?;
    }
    let delete_all = params.bool("deleteAll")?;
    let op = WriteOp::DeleteAttr {
        id,
        name: ctx.expand(&attr),
        dataset_id,
        delete_all,
    };
    write_one(&app, &meta.tenant, op).await?;
    Ok(render::no_content())
}
