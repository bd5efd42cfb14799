//! /ngsi-ld/v1/entityOperations: batch create, upsert, update, merge, delete and query
//! (§6.14 to §6.31). One request is one store transaction; each entity succeeds or fails
//! on its own, and the answer lists both (207 when some failed).

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jumeau_model::context::Context;
use jumeau_model::query::{EntityQuery, QExpr, TypeExpr};
use jumeau_model::{ngsi, NgsiError};
use jumeau_store::{WriteOp, WriteOutcome};
use serde_json::{json, Value};

use crate::entities::{answer_query, read_view};
use crate::params::{compile_pattern, geo_filter, Params};
use crate::problem::{problem_json, ApiResult};
use crate::render;
use crate::request::Meta;
use crate::App;

/// The operations' per-entity error, in BatchOperationResult form.
fn batch_error(id: &str, e: &NgsiError) -> Value {
    json!({"entityId": id, "error": problem_json(e)})
}

/// Reads a batch body: a JSON array, not larger than the configured batch size.
async fn batch_body(
    app: &App,
    meta: &Meta,
    body: Body,
) -> ApiResult<(Vec<Value>, std::sync::Arc<Context>)> {
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    let (json, _, ctx) = meta.json_body(app, body).await?;
    let Value::Array(items) = json else {
        return Err(NgsiError::bad_data("a batch operation takes a JSON array").into());
    };
    if items.is_empty() {
        return Err(NgsiError::bad_data("the batch is empty").into());
    }
    if items.len() > app.config.max_batch {
        return Err(NgsiError::new(
            jumeau_model::ErrorKind::PayloadTooLarge,
            format!(
                "the batch holds {} entities; send at most {} per request",
                items.len(),
                app.config.max_batch
            ),
        )
        .into());
    }
    Ok((items, ctx))
}

fn item_id(v: &Value) -> String {
    v.get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Parses each item with `parse`, runs the valid ones in one transaction, and builds the
/// BatchOperationResult. `created_status` tells whether creations answer 201 with ids.
async fn run_batch(
    app: &App,
    meta: &Meta,
    items: Vec<Value>,
    parse: impl Fn(&Value) -> Result<WriteOp, NgsiError>,
    created_status: bool,
) -> ApiResult {
    let mut errors = Vec::new();
    let mut ops = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::new();
    for item in &items {
        match parse(item) {
            Ok(op) => {
                if !seen.insert(op.entity_id().to_string()) {
                    errors.push(batch_error(
                        op.entity_id(),
                        &NgsiError::bad_data("the same entity id appears twice in the batch"),
                    ));
                    continue;
                }
                ops.push(op);
            }
            Err(e) => errors.push(batch_error(&item_id(item), &e)),
        }
    }
    let ids: Vec<String> = ops.iter().map(|o| o.entity_id().to_string()).collect();
    let results = if ops.is_empty() {
        Vec::new()
    } else {
        app.twin.write(&meta.tenant, ops).await?
    };
    let mut success = Vec::new();
    let mut created = Vec::new();
    for (id, r) in ids.into_iter().zip(results) {
        match r {
            Ok(WriteOutcome::Updated(u)) if !u.not_updated.is_empty() => errors.push(batch_error(
                &id,
                &NgsiError::bad_data(
                    u.not_updated
                        .iter()
                        .map(|n| format!("{}: {}", n.attr, n.reason))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            )),
            Ok(o) => {
                if o == WriteOutcome::Created {
                    created.push(id.clone());
                }
                success.push(id);
            }
            Err(e) => errors.push(batch_error(&id, &e)),
        }
    }
    Ok(batch_response(success, created, errors, created_status))
}

fn batch_response(
    success: Vec<String>,
    created: Vec<String>,
    errors: Vec<Value>,
    created_status: bool,
) -> Response {
    if !errors.is_empty() {
        return render::plain(
            StatusCode::MULTI_STATUS,
            json!({"success": success, "errors": errors}),
        );
    }
    if created_status && !created.is_empty() {
        return render::plain(StatusCode::CREATED, json!(created));
    }
    render::no_content()
}

/// POST /entityOperations/create
pub async fn create(State(app): State<App>, meta: Meta, body: Body) -> ApiResult {
    let (items, ctx) = batch_body(&app, &meta, body).await?;
    run_batch(
        &app,
        &meta,
        items,
        |v| Ok(WriteOp::Create(ngsi::parse_entity(v, &ctx)?)),
        true,
    )
    .await
}

/// POST /entityOperations/upsert (`options=replace`, the default, or `update`)
pub async fn upsert(
    State(app): State<App>,
    meta: Meta,
    Query(params): Query<Vec<(String, String)>>,
    body: Body,
) -> ApiResult {
    let opts = Params(params).options()?;
    let replace = !opts.contains("update");
    let (items, ctx) = batch_body(&app, &meta, body).await?;
    run_batch(
        &app,
        &meta,
        items,
        |v| {
            Ok(WriteOp::Upsert {
                entity: ngsi::parse_entity(v, &ctx)?,
                replace,
            })
        },
        true,
    )
    .await
}

/// Splits an item of update/merge into its id and attributes.
fn fragment_of(v: &Value, ctx: &Context) -> Result<(String, ngsi::Fragment), NgsiError> {
    let frag = ngsi::parse_fragment(v, ctx)?;
    let id = frag
        .id
        .clone()
        .ok_or_else(|| NgsiError::bad_data("each entity of the batch needs an id"))?;
    jumeau_model::entity::validate_uri(&id).map_err(NgsiError::bad_data)?;
    Ok((id, frag))
}

/// POST /entityOperations/update (`options=noOverwrite`)
pub async fn update(
    State(app): State<App>,
    meta: Meta,
    Query(params): Query<Vec<(String, String)>>,
    body: Body,
) -> ApiResult {
    let no_overwrite = Params(params).options()?.contains("noOverwrite");
    let (items, ctx) = batch_body(&app, &meta, body).await?;
    run_batch(
        &app,
        &meta,
        items,
        |v| {
            let (id, frag) = fragment_of(v, &ctx)?;
            Ok(WriteOp::AppendAttrs {
                id,
                attrs: frag.attrs,
                no_overwrite,
            })
        },
        false,
    )
    .await
}

/// POST /entityOperations/merge
pub async fn merge(State(app): State<App>, meta: Meta, body: Body) -> ApiResult {
    let (items, ctx) = batch_body(&app, &meta, body).await?;
    run_batch(
        &app,
        &meta,
        items,
        |v| {
            let (id, frag) = fragment_of(v, &ctx)?;
            Ok(WriteOp::Merge {
                id,
                attrs: frag.attrs,
                deletions: frag.nulls,
                types: frag.types,
            })
        },
        false,
    )
    .await
}

/// POST /entityOperations/delete (an array of ids)
pub async fn delete(State(app): State<App>, meta: Meta, body: Body) -> ApiResult {
    let (items, _) = batch_body(&app, &meta, body).await?;
    run_batch(
        &app,
        &meta,
        items,
        |v| {
            let id = v.as_str().ok_or_else(|| {
                NgsiError::bad_data("the delete batch takes an array of entity ids")
            })?;
            jumeau_model::entity::validate_uri(id).map_err(NgsiError::bad_data)?;
            Ok(WriteOp::Delete { id: id.to_string() })
        },
        false,
    )
    .await
}

/// POST /entityOperations/query: the query in the body (§5.2.23), paging in the URL.
pub async fn query(
    State(app): State<App>,
    meta: Meta,
    Query(params): Query<Vec<(String, String)>>,
    body: Body,
) -> ApiResult {
    let params = Params(params);
    let mut view = read_view(&app, &meta, &params).await?;
    let (json, body_ctx, ctx) = meta.json_body(&app, body).await?;
    if json.get("type").and_then(Value::as_str) != Some("Query") {
        return Err(NgsiError::bad_data(
            "the body must be a Query object with \"type\": \"Query\"",
        )
        .into());
    }
    let mut q = EntityQuery::default();
    let expand = |s: &str| ctx.expand(s);
    if let Some(sel) = json.get("entities") {
        let list = sel
            .as_array()
            .ok_or_else(|| NgsiError::bad_data("'entities' must be an array"))?;
        if list.len() > 1 {
            return Err(NgsiError::new(
                jumeau_model::ErrorKind::OperationNotSupported,
                "only one entity selector per query is supported; send one query per selector",
            )
            .into());
        }
        if let Some(s) = list.first() {
            if let Some(t) = s.get("type").and_then(Value::as_str) {
                q.types = Some(TypeExpr::parse(t, &expand)?);
            }
            if let Some(id) = s.get("id").and_then(Value::as_str) {
                q.ids = vec![id.to_string()];
            }
            if let Some(p) = s.get("idPattern").and_then(Value::as_str) {
                q.id_pattern = Some(compile_pattern(p)?);
            }
        }
    }
    if let Some(a) = json.get("attrs") {
        let list = a
            .as_array()
            .ok_or_else(|| NgsiError::bad_data("'attrs' must be an array of names"))?;
        q.attrs = list
            .iter()
            .filter_map(Value::as_str)
            .map(|s| ctx.expand(s))
            .collect();
    }
    if let Some(s) = json.get("q") {
        let s = s
            .as_str()
            .ok_or_else(|| NgsiError::bad_data("'q' must be a string"))?;
        q.q = Some(QExpr::parse(s, &expand)?);
    }
    if let Some(g) = json.get("geoQ") {
        let coords = g.get("coordinates").map(|c| {
            if let Some(s) = c.as_str() {
                s.to_string()
            } else {
                c.to_string()
            }
        });
        q.geo = geo_filter(
            g.get("georel").and_then(Value::as_str),
            g.get("geometry").and_then(Value::as_str),
            coords.as_deref(),
            g.get("geoproperty").and_then(Value::as_str),
            &ctx,
        )?;
        if q.geo.is_none() {
            return Err(NgsiError::bad_data("geoQ needs georel, geometry and coordinates").into());
        }
    }
    params.paging(&mut q)?;
    if !q.attrs.is_empty() {
        // The body's attrs select entities and, as in GET /entities, project the answer.
        let attrs: std::collections::BTreeSet<String> = q.attrs.iter().cloned().collect();
        view.opts.pick = Some(match view.opts.pick.take() {
            Some(p) => p.intersection(&attrs).cloned().collect(),
            None => attrs,
        });
    }
    view.ctx = ctx;
    view.ctx_value = meta.context_value(body_ctx.as_ref());
    answer_query(&app, &meta, &q, &view).await
}
