//! /ngsi-ld/v1/types and /attributes: what kinds of things a territory holds (§5.7.5 to
//! §5.7.10).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use jumeau_model::NgsiError;
use serde_json::{json, Value};

use crate::entities::read_view;
use crate::params::Params;
use crate::problem::ApiResult;
use crate::render;
use crate::request::Meta;
use crate::App;

/// A stable id for a generated list resource of a tenant.
fn list_id(kind: &str, tenant: &str) -> String {
    format!(
        "urn:ngsi-ld:{kind}:{}",
        crate::entities::encode_segment(tenant)
    )
}

/// GET /types (`details=true` for attribute names)
pub async fn types(
    State(app): State<App>,
    meta: Meta,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult {
    let params = Params(params);
    let view = read_view(&app, &meta, &params).await?;
    let types = app.twin.store.types(&meta.tenant).await?;
    let body = if params.bool("details")? {
        Value::Array(
            types
                .iter()
                .map(|t| {
                    json!({
                        "id": t.type_iri,
                        "type": "EntityType",
                        "typeName": view.ctx.compact(&t.type_iri),
                        "attributeNames": t.attrs.iter().map(|a| view.ctx.compact(a)).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        )
    } else {
        json!({
            "id": list_id("EntityTypeList", &meta.tenant),
            "type": "EntityTypeList",
            "typeList": types.iter().map(|t| view.ctx.compact(&t.type_iri)).collect::<Vec<_>>(),
        })
    };
    Ok(render::json(StatusCode::OK, body, &view))
}

/// GET /types/{type}
pub async fn type_info(
    State(app): State<App>,
    meta: Meta,
    Path(name): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult {
    let params = Params(params);
    let view = read_view(&app, &meta, &params).await?;
    let iri = view.ctx.expand(&name);
    let types = app.twin.store.types(&meta.tenant).await?;
    let t = types
        .iter()
        .find(|t| t.type_iri == iri)
        .ok_or_else(|| NgsiError::not_found(format!("no entity of type {name} in this tenant")))?;
    let body = json!({
        "id": t.type_iri,
        "type": "EntityTypeInfo",
        "typeName": view.ctx.compact(&t.type_iri),
        "entityCount": t.count,
        "attributeDetails": t.attrs.iter().map(|a| json!({
            "id": a,
            "type": "Attribute",
            "attributeName": view.ctx.compact(a),
        })).collect::<Vec<_>>(),
    });
    Ok(render::json(StatusCode::OK, body, &view))
}

/// GET /attributes (`details=true` for counts and types)
pub async fn attributes(
    State(app): State<App>,
    meta: Meta,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult {
    let params = Params(params);
    let view = read_view(&app, &meta, &params).await?;
    let attrs = app.twin.store.attributes(&meta.tenant).await?;
    let body = if params.bool("details")? {
        Value::Array(attrs.iter().map(|a| attribute_json(a, &view.ctx)).collect())
    } else {
        json!({
            "id": list_id("AttributeList", &meta.tenant),
            "type": "AttributeList",
            "attributeList": attrs.iter().map(|a| view.ctx.compact(&a.attr)).collect::<Vec<_>>(),
        })
    };
    Ok(render::json(StatusCode::OK, body, &view))
}

fn attribute_json(a: &jumeau_store::AttrInfo, ctx: &jumeau_model::context::Context) -> Value {
    json!({
        "id": a.attr,
        "type": "Attribute",
        "attributeName": ctx.compact(&a.attr),
        "attributeCount": a.count,
        "typeNames": a.types.iter().map(|t| ctx.compact(t)).collect::<Vec<_>>(),
    })
}

/// GET /attributes/{attr}
pub async fn attribute_info(
    State(app): State<App>,
    meta: Meta,
    Path(name): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult {
    let params = Params(params);
    let view = read_view(&app, &meta, &params).await?;
    let iri = view.ctx.expand(&name);
    let attrs = app.twin.store.attributes(&meta.tenant).await?;
    let a = attrs.iter().find(|a| a.attr == iri).ok_or_else(|| {
        NgsiError::not_found(format!("no entity has an attribute {name} in this tenant"))
    })?;
    Ok(render::json(
        StatusCode::OK,
        attribute_json(a, &view.ctx),
        &view,
    ))
}
