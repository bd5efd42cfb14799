//! The NGSI-LD temporal API (ETSI GS CIM 009 §6.18 to §6.24): the history of entities,
//! raw or aggregated, bulk history instances, and the retention policy of a tenant.
//!
//! Entities are selected on their current state (type, id, idPattern, q, geo-query, attrs)
//! with the entity query of GET /entities, then the history of the selected page of ids is
//! read from the store in one call. The representations are built by
//! `jumeau_model::temporal::render`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::Router;
use jumeau_model::context::Context;
use jumeau_model::temporal::render::{
    aggregated_values, normalized_instances, parse_temporal_attrs, parse_temporal_entity,
    temporal_entity, temporal_values, InstanceRef,
};
use jumeau_model::temporal::TemporalQuery;
use jumeau_model::time::format_datetime;
use jumeau_model::{Entity, ErrorKind, NgsiError};
use jumeau_store::temporal::{
    AttributeHistory, EntityAggregate, EntityHistory, RetentionPolicy, RetentionReport,
};
use jumeau_store::WriteOp;
use serde_json::{json, Map, Value};

use crate::entities::{check_id, encode_segment, read_view, write_one};
use crate::params::Params;
use crate::problem::ApiResult;
use crate::render::{self, View};
use crate::request::{Accept, Meta};
use crate::App;

/// The routes of this module, mounted under `/ngsi-ld/v1`.
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/temporal/entities", get(query).post(create))
        .route(
            "/temporal/entities/{id}",
            get(retrieve).delete(delete_entity),
        )
        .route("/temporal/entities/{id}/attrs", post(append))
        .route("/temporal/entities/{id}/attrs/{attr}", delete(delete_attr))
        .route(
            "/temporal/entities/{id}/attrs/{attr}/{instanceId}",
            delete(delete_instance),
        )
        .route("/temporal/entityOperations/query", post(query_post))
}

/// The routes of this module mounted at the root: the retention policy of a tenant.
pub(crate) fn root_routes() -> Router<App> {
    Router::new().route(
        "/jumeau/v1/tenants/{tenant}/retention",
        get(get_retention).put(put_retention),
    )
}

/// Query parameters that belong to the temporal query only.
const TEMPORAL_PARAMS: [&str; 7] = [
    "timerel",
    "timeAt",
    "endTimeAt",
    "timeproperty",
    "lastN",
    "aggrMethods",
    "aggrPeriodDuration",
];

/// `options` values that choose a temporal representation.
const TEMPORAL_OPTIONS: [&str; 2] = ["temporalValues", "aggregatedValues"];

/// Parameters that select entities; a temporal query needs one of them or `timerel`.
const ENTITY_FILTERS: [&str; 9] = [
    "type",
    "id",
    "idPattern",
    "q",
    "attrs",
    "georel",
    "geometry",
    "coordinates",
    "local",
];

/// Splits the query string into the temporal query and the parameters left to the entity
/// query and rendering (the temporal options removed, so that the entity parsing keeps
/// checking the others).
fn split_params(raw: Vec<(String, String)>) -> Result<(TemporalQuery, Params), NgsiError> {
    let temporal = TemporalQuery::from_params(raw.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let rest = raw
        .into_iter()
        .filter(|(k, _)| !TEMPORAL_PARAMS.contains(&k.as_str()))
        .filter_map(|(k, v)| {
            if k != "options" {
                return Some((k, v));
            }
            let kept: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty() && !TEMPORAL_OPTIONS.contains(o))
                .collect();
            (!kept.is_empty()).then(|| (k, kept.join(",")))
        })
        .collect();
    Ok((temporal, Params(rest)))
}

/// Refuses GeoJSON: the temporal representations are JSON or JSON-LD.
fn check_accept(meta: &Meta) -> Result<(), NgsiError> {
    if meta.accept == Accept::GeoJson {
        return Err(NgsiError::new(
            ErrorKind::NotAcceptable,
            "temporal representations are application/json or application/ld+json, not \
             application/geo+json",
        ));
    }
    Ok(())
}

/// The rendering settings of a temporal read: the view of an entity read (tenant checked),
/// with the @context of a query body when there is one.
async fn temporal_view<'a>(
    app: &App,
    meta: &'a Meta,
    params: &Params,
    body_context: Option<(Arc<Context>, Value)>,
) -> ApiResult<View<'a>> {
    check_accept(meta)?;
    let mut view = read_view(app, meta, params).await?;
    if let Some((ctx, value)) = body_context {
        view.ctx = ctx;
        view.ctx_value = value;
    }
    Ok(view)
}

/// The instances of a stored series, as the renderer takes them.
fn instance_refs(series: &AttributeHistory) -> Vec<InstanceRef<'_>> {
    series
        .instances
        .iter()
        .map(|i| InstanceRef {
            instance_id: &i.instance_id,
            attribute: &i.attribute,
            created_at: i.created_at,
        })
        .collect()
}

/// One entity's history in the normalized or simplified temporal representation.
fn render_history(h: &EntityHistory, tq: &TemporalQuery, view: &View<'_>) -> Value {
    let series = h
        .attrs
        .iter()
        .map(|s| {
            let refs = instance_refs(s);
            let v = if tq.temporal_values {
                temporal_values(s.dataset_id.as_deref(), &refs, tq.time_property, &view.ctx)
            } else {
                Value::Array(normalized_instances(&s.name, &refs, &view.ctx, &view.opts))
            };
            (s.name.clone(), v)
        })
        .collect();
    Value::Object(temporal_entity(&h.id, &h.types, series, &view.ctx))
}

/// The NGSI-LD type of an attribute as the current state of its entity has it (the store's
/// aggregates do not carry it); `Property` when the entity or attribute is gone.
fn current_type(current: Option<&Entity>, name: &str, dataset_id: Option<&str>) -> &'static str {
    let instances = current.and_then(|e| e.attrs.get(name));
    instances
        .and_then(|list| {
            list.iter()
                .find(|a| a.dataset_id.as_deref() == dataset_id)
                .or(list.first())
        })
        .map_or("Property", |a| a.value.type_name())
}

/// One entity's history in the aggregated temporal representation.
fn render_aggregate(
    a: &EntityAggregate,
    current: Option<&Entity>,
    tq: &TemporalQuery,
    view: &View<'_>,
) -> Result<Value, NgsiError> {
    let series = a
        .attrs
        .iter()
        .map(|s| {
            let v = aggregated_values(
                &view.ctx.compact(&s.name),
                current_type(current, &s.name, s.dataset_id.as_deref()),
                s.dataset_id.as_deref(),
                &s.buckets,
                &tq.aggr_methods,
            )?;
            Ok((s.name.clone(), v))
        })
        .collect::<Result<Vec<_>, NgsiError>>()?;
    Ok(Value::Object(temporal_entity(
        &a.id, &a.types, series, &view.ctx,
    )))
}

/// The temporal representations of the given entities (current states, in order), as the
/// query asks; entities without history in range are left out.
async fn temporal_bodies(
    app: &App,
    tenant: &str,
    entities: &[Entity],
    attrs: &[String],
    tq: &TemporalQuery,
    view: &View<'_>,
) -> ApiResult<Vec<Value>> {
    if entities.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = entities.iter().map(|e| e.id.clone()).collect();
    let attrs = (!attrs.is_empty()).then_some(attrs);
    let store = &app.twin.store;
    if tq.aggregated_values {
        let tz = store.time_zone(tenant).await?;
        let aggregates = store.aggregate(tenant, &ids, attrs, tq, tz).await?;
        let bodies = aggregates
            .iter()
            .map(|a| render_aggregate(a, entities.iter().find(|e| e.id == a.id), tq, view))
            .collect::<Result<Vec<_>, NgsiError>>()?;
        Ok(bodies)
    } else {
        let histories = store.history(tenant, &ids, attrs, tq).await?;
        Ok(histories
            .iter()
            .map(|h| render_history(h, tq, view))
            .collect())
    }
}

/// Answers a temporal query: entities selected on their current state by the entity
/// parameters (`local=true` added when only `timerel` restricts the query), then their
/// history.
async fn answer_query(
    app: &App,
    meta: &Meta,
    raw: Vec<(String, String)>,
    body_context: Option<(Arc<Context>, Value)>,
) -> ApiResult {
    let (tq, mut params) = split_params(raw)?;
    let filtered = params
        .0
        .iter()
        .any(|(k, _)| ENTITY_FILTERS.contains(&k.as_str()));
    if !filtered {
        if tq.time_range.is_none() {
            return Err(NgsiError::bad_data(
                "a temporal query needs timerel (with timeAt, and endTimeAt for between) or an \
                 entity filter: type, id, idPattern, q, attrs or a geo-query",
            )
            .into());
        }
        params.0.push(("local".into(), "true".into()));
    }
    let view = temporal_view(app, meta, &params, body_context).await?;
    let q = params.entity_query(&view.ctx)?;
    let page = app.twin.store.query(&meta.tenant, &q).await?;
    let bodies = temporal_bodies(app, &meta.tenant, &page.entities, &q.attrs, &tq, &view).await?;
    let mut resp = render::json(StatusCode::OK, Value::Array(bodies), &view);
    if let Some(n) = page.count {
        resp.headers_mut().insert(
            HeaderName::from_static("ngsild-results-count"),
            HeaderValue::from(n),
        );
    }
    Ok(resp)
}

/// GET /temporal/entities
pub async fn query(
    State(app): State<App>,
    meta: Meta,
    Query(raw): Query<Vec<(String, String)>>,
) -> ApiResult {
    answer_query(&app, &meta, raw, None).await
}

/// Appends a string member of a Query body as the query parameter of the same name.
fn push_member(
    out: &mut Vec<(String, String)>,
    obj: &Value,
    member: &str,
) -> Result<(), NgsiError> {
    match obj.get(member) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) => {
            out.push((member.to_string(), s.clone()));
            Ok(())
        }
        Some(other) => Err(NgsiError::bad_data(format!(
            "'{member}' of the query must be a string, not {other}"
        ))),
    }
}

/// The query parameters a Query body (§5.2.23) stands for: its entity selector, attrs, q,
/// geoQ and temporalQ, so that the body and the query string go through one parser.
fn query_body_params(json: &Value) -> Result<Vec<(String, String)>, NgsiError> {
    if json.get("type").and_then(Value::as_str) != Some("Query") {
        return Err(NgsiError::bad_data(
            "the body must be a Query object with \"type\": \"Query\"",
        ));
    }
    let mut out = Vec::new();
    if let Some(sel) = json.get("entities") {
        let list = sel
            .as_array()
            .ok_or_else(|| NgsiError::bad_data("'entities' must be an array of selectors"))?;
        if list.len() > 1 {
            return Err(NgsiError::new(
                ErrorKind::OperationNotSupported,
                "only one entity selector per query is supported; send one query per selector",
            ));
        }
        if let Some(s) = list.first() {
            for m in ["id", "type", "idPattern"] {
                push_member(&mut out, s, m)?;
            }
        }
    }
    if let Some(a) = json.get("attrs") {
        let names: Option<Vec<&str>> = a
            .as_array()
            .and_then(|l| l.iter().map(Value::as_str).collect());
        let names =
            names.ok_or_else(|| NgsiError::bad_data("'attrs' must be an array of names"))?;
        out.push(("attrs".into(), names.join(",")));
    }
    push_member(&mut out, json, "q")?;
    if let Some(g) = json.get("geoQ") {
        for m in ["georel", "geometry", "geoproperty"] {
            push_member(&mut out, g, m)?;
        }
        match g.get("coordinates") {
            Some(Value::String(s)) => out.push(("coordinates".into(), s.clone())),
            Some(c) => out.push(("coordinates".into(), c.to_string())),
            None => {}
        }
    }
    if let Some(t) = json.get("temporalQ") {
        if !t.is_object() {
            return Err(NgsiError::bad_data(
                "'temporalQ' must be an object with timerel, timeAt and endTimeAt",
            ));
        }
        for m in ["timerel", "timeAt", "endTimeAt", "timeproperty"] {
            push_member(&mut out, t, m)?;
        }
        match t.get("lastN") {
            None | Some(Value::Null) => {}
            Some(n) => out.push((
                "lastN".into(),
                n.as_str().map_or_else(|| n.to_string(), str::to_string),
            )),
        }
    }
    Ok(out)
}

/// POST /temporal/entityOperations/query: a Query object in the body; paging, options and
/// aggregation in the query string.
pub async fn query_post(
    State(app): State<App>,
    meta: Meta,
    Query(mut raw): Query<Vec<(String, String)>>,
    body: Body,
) -> ApiResult {
    let (json, body_ctx, ctx) = meta.json_body(&app, body).await?;
    for (k, _) in &raw {
        if ENTITY_FILTERS.contains(&k.as_str())
            || matches!(k.as_str(), "timerel" | "timeAt" | "endTimeAt")
        {
            return Err(NgsiError::bad_data(format!(
                "the parameter '{k}' goes in the Query body of entityOperations/query, not in \
                 the query string"
            ))
            .into());
        }
    }
    raw.extend(query_body_params(&json)?);
    let ctx_value = meta.context_value(body_ctx.as_ref());
    answer_query(&app, &meta, raw, Some((ctx, ctx_value))).await
}

/// GET /temporal/entities/{id}
pub async fn retrieve(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    Query(raw): Query<Vec<(String, String)>>,
) -> ApiResult {
    check_id(&id)?;
    let (tq, params) = split_params(raw)?;
    let view = temporal_view(&app, &meta, &params, None).await?;
    let attrs: Vec<String> = params
        .list("attrs")?
        .iter()
        .map(|a| view.ctx.expand(a))
        .collect();
    let current = app.twin.store.get(&meta.tenant, &id).await?;
    // An entity deleted from the twin may still have a history: it is read alone, with
    // the types recorded with it.
    let selected = match &current {
        Some(e) => vec![e.clone()],
        None => vec![Entity {
            types: Vec::new(),
            ..Entity::new(id.clone(), String::new())
        }],
    };
    let mut bodies = temporal_bodies(&app, &meta.tenant, &selected, &attrs, &tq, &view).await?;
    let body = match (bodies.pop(), current) {
        (Some(b), _) => b,
        (None, Some(e)) => Value::Object(temporal_entity(&e.id, &e.types, Vec::new(), &view.ctx)),
        (None, None) => {
            return Err(NgsiError::not_found(format!(
                "no entity with id {id} and no history of it in this tenant"
            ))
            .into())
        }
    };
    Ok(render::json(StatusCode::OK, body, &view))
}

/// POST /temporal/entities: creates a temporal entity from its instances (201; the entity is
/// created in the twin too, its current value of each attribute being the latest instance),
/// or appends the instances to the history of an existing one (204).
pub async fn create(State(app): State<App>, meta: Meta, body: Body) -> ApiResult {
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    let (json, _, ctx) = meta.json_body(&app, body).await?;
    let te = parse_temporal_entity(&json, &ctx)?;
    let existing = app.twin.store.get(&meta.tenant, &te.id).await?;
    let latest = existing.is_none().then(|| te.latest_state());
    // The history first: should creating the entity fail, sending the request again
    // stores each instance once and creates the entity then.
    app.twin
        .store
        .append_history(&meta.tenant, &te.id, &te.types, te.instances)
        .await?;
    let mut created = false;
    if let Some(entity) = latest {
        match write_one(&app, &meta.tenant, WriteOp::Create(entity)).await {
            Ok(_) => created = true,
            // Created meanwhile by another request: the instances were appended to it.
            Err(e) if e.0.kind == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    if !created {
        return Ok(render::no_content());
    }
    let mut resp = StatusCode::CREATED.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "/ngsi-ld/v1/temporal/entities/{}",
        encode_segment(&te.id)
    )) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// The current state of an entity a temporal write addresses (ResourceNotFound if none).
async fn existing_entity(app: &App, tenant: &str, id: &str) -> ApiResult<Entity> {
    app.twin.store.get(tenant, id).await?.ok_or_else(|| {
        NgsiError::not_found(format!(
            "no entity with id {id} in this tenant; create it with POST /temporal/entities"
        ))
        .into()
    })
}

/// POST /temporal/entities/{id}/attrs: appends attribute instances to the history (204).
pub async fn append(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult {
    check_id(&id)?;
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    let (json, _, ctx) = meta.json_body(&app, body).await?;
    let instances = parse_temporal_attrs(&json, &id, &ctx)?;
    let entity = existing_entity(&app, &meta.tenant, &id).await?;
    app.twin
        .store
        .append_history(&meta.tenant, &id, &entity.types, instances)
        .await?;
    Ok(render::no_content())
}

/// DELETE /temporal/entities/{id}: deletes the history of the entity and the entity.
pub async fn delete_entity(
    State(app): State<App>,
    meta: Meta,
    Path(id): Path<String>,
) -> ApiResult {
    check_id(&id)?;
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    let removed = app
        .twin
        .store
        .delete_history(&meta.tenant, &id, None, None, false, None)
        .await?;
    match write_one(&app, &meta.tenant, WriteOp::Delete { id: id.clone() }).await {
        Ok(_) => Ok(render::no_content()),
        Err(e) if e.0.kind == ErrorKind::ResourceNotFound && removed > 0 => {
            Ok(render::no_content())
        }
        Err(e) if e.0.kind == ErrorKind::ResourceNotFound => Err(NgsiError::not_found(format!(
            "no entity with id {id} and no history of it in this tenant"
        ))
        .into()),
        Err(e) => Err(e),
    }
}

/// DELETE /temporal/entities/{id}/attrs/{attr} (`datasetId=`, `deleteAll=true`): deletes
/// every instance of the attribute (of one datasetId, of the default one, or of all).
pub async fn delete_attr(
    State(app): State<App>,
    meta: Meta,
    Path((id, attr)): Path<(String, String)>,
    Query(raw): Query<Vec<(String, String)>>,
) -> ApiResult {
    check_id(&id)?;
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    let params = Params(raw);
    let dataset_id = params.get("datasetId")?;
    if let Some(d) = dataset_id {
        check_id(d)?;
    }
    let delete_all = params.bool("deleteAll")?;
    let name = meta.read_context(&app).await?.expand(&attr);
    let removed = app
        .twin
        .store
        .delete_history(&meta.tenant, &id, Some(&name), dataset_id, delete_all, None)
        .await?;
    if removed == 0 {
        return Err(NgsiError::not_found(format!(
            "entity {id} has no history of attribute {attr}{}",
            dataset_id
                .map(|d| format!(" with datasetId {d}"))
                .unwrap_or_default()
        ))
        .into());
    }
    Ok(render::no_content())
}

/// DELETE /temporal/entities/{id}/attrs/{attr}/{instanceId}: deletes one instance.
pub async fn delete_instance(
    State(app): State<App>,
    meta: Meta,
    Path((id, attr, instance_id)): Path<(String, String, String)>,
) -> ApiResult {
    check_id(&id)?;
    check_id(&instance_id)?;
    app.twin.auth.check_write(&meta.caller, &meta.tenant)?;
    let name = meta.read_context(&app).await?.expand(&attr);
    let removed = app
        .twin
        .store
        .delete_history(
            &meta.tenant,
            &id,
            Some(&name),
            None,
            false,
            Some(&instance_id),
        )
        .await?;
    if removed == 0 {
        return Err(NgsiError::not_found(format!(
            "entity {id} has no instance {instance_id} of attribute {attr}"
        ))
        .into());
    }
    Ok(render::no_content())
}

/// How many retention reports GET …/retention shows.
const RECENT_REPORTS: usize = 50;

fn policy_json(p: &RetentionPolicy, ctx: &Context) -> Value {
    json!({
        "entityType": p.entity_type.as_ref().map(|t| ctx.compact(t)),
        "rawDays": p.raw_days,
        "hourlyDays": p.hourly_days,
        "dailyDays": p.daily_days,
    })
}

fn report_json(r: &RetentionReport, ctx: &Context) -> Value {
    json!({
        "ranAt": format_datetime(&r.ran_at),
        "entityType": r.entity_type.as_ref().map(|t| ctx.compact(t)),
        "level": r.level,
        "cutoff": format_datetime(&r.cutoff),
        "removed": r.removed,
    })
}

/// A number of days of a retention policy: null (kept for ever) or 1 to 100 years of days.
fn policy_days(obj: &Map<String, Value>, member: &str) -> Result<Option<u32>, NgsiError> {
    match obj.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=36_525).contains(n))
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                NgsiError::bad_data(format!(
                    "'{member}' is {v}; give a number of days from 1 to 36525, or null to keep \
                     that level for ever"
                ))
            }),
    }
}

/// Parses one policy of a PUT …/retention body, the entity type expanded with `ctx`.
fn parse_policy(v: &Value, ctx: &Context) -> Result<RetentionPolicy, NgsiError> {
    let obj = v.as_object().ok_or_else(|| {
        NgsiError::bad_data(format!(
            "a retention policy is an object such as {{\"entityType\": \"Streetlight\", \
             \"rawDays\": 396, \"hourlyDays\": 3653}}, not {v}"
        ))
    })?;
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "entityType" | "rawDays" | "hourlyDays" | "dailyDays"
        ) {
            return Err(NgsiError::bad_data(format!(
                "a retention policy has no member '{key}'; its members are entityType, rawDays, \
                 hourlyDays and dailyDays"
            )));
        }
    }
    let entity_type = match obj.get("entityType") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if !t.is_empty() => Some(ctx.expand(t)),
        Some(other) => {
            return Err(NgsiError::bad_data(format!(
                "'entityType' is {other}; give a type name such as \"Streetlight\", or null \
                 for the default policy"
            )))
        }
    };
    Ok(RetentionPolicy {
        entity_type,
        raw_days: policy_days(obj, "rawDays")?,
        hourly_days: policy_days(obj, "hourlyDays")?,
        daily_days: policy_days(obj, "dailyDays")?,
    })
}

/// The retention settings of a tenant, as GET and PUT …/retention answer them.
async fn retention_response(app: &App, tenant: &str, ctx: &Context) -> ApiResult {
    let store = &app.twin.store;
    let policies = store.retention_policies(tenant).await?;
    let reports = store.retention_reports(tenant).await?;
    let body = json!({
        "tenant": tenant,
        "policies": policies.iter().map(|p| policy_json(p, ctx)).collect::<Vec<_>>(),
        "reports": reports
            .iter()
            .take(RECENT_REPORTS)
            .map(|r| report_json(r, ctx))
            .collect::<Vec<_>>(),
    });
    Ok(render::plain(StatusCode::OK, body))
}

/// GET /jumeau/v1/tenants/{tenant}/retention: the retention policies of a tenant and the
/// latest reports of what they removed.
pub async fn get_retention(
    State(app): State<App>,
    meta: Meta,
    Path(tenant): Path<String>,
) -> ApiResult {
    jumeau_twin::validate_tenant(&tenant)?;
    let info = app.twin.store.tenant(&tenant).await?;
    let public = info.as_ref().is_some_and(|i| i.public);
    app.twin.auth.check_read(&meta.caller, &tenant, public)?;
    if info.is_none() {
        return Err(NgsiError::new(
            ErrorKind::NonexistentTenant,
            format!("tenant '{tenant}' does not exist"),
        )
        .into());
    }
    let ctx = meta.read_context(&app).await?;
    retention_response(&app, &tenant, &ctx).await
}

/// PUT /jumeau/v1/tenants/{tenant}/retention: `{"policies": [...]}` sets the retention
/// policy of each entity type listed (`entityType` null or absent: the default policy);
/// policies not listed are kept. Needs an admin key covering the tenant.
pub async fn put_retention(
    State(app): State<App>,
    meta: Meta,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let v = crate::admin::tenant_settings_body(&app, &meta, &tenant, &headers, body).await?;
    let ctx = meta.read_context(&app).await?;
    let list = v
        .get("policies")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            NgsiError::bad_data(
                "the body must be {\"policies\": [{\"entityType\": \"Streetlight\", \
                 \"rawDays\": 396, \"hourlyDays\": 3653, \"dailyDays\": null}, ...]} with at \
                 least one policy",
            )
        })?;
    let policies = list
        .iter()
        .map(|p| parse_policy(p, &ctx))
        .collect::<Result<Vec<_>, NgsiError>>()?;
    if app.twin.store.tenant(&tenant).await?.is_none() {
        return Err(NgsiError::new(
            ErrorKind::NonexistentTenant,
            format!("tenant '{tenant}' does not exist; it is created by its first write"),
        )
        .into());
    }
    for p in policies {
        app.twin.store.set_retention_policy(&tenant, p).await?;
    }
    retention_response(&app, &tenant, &ctx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn temporal_parameters_are_split_from_entity_ones() {
        let (tq, rest) = split_params(pairs(&[
            ("type", "Streetlight"),
            ("timerel", "after"),
            ("timeAt", "2026-03-28T00:00:00Z"),
            ("options", "temporalValues,sysAttrs"),
            ("lastN", "3"),
        ]))
        .expect("valid");
        assert!(tq.temporal_values);
        assert_eq!(tq.last_n, Some(3));
        assert_eq!(
            rest.0,
            pairs(&[("type", "Streetlight"), ("options", "sysAttrs")])
        );
    }

    #[test]
    fn query_bodies_become_parameters() {
        let body = json!({
            "type": "Query",
            "entities": [{"type": "Streetlight"}],
            "attrs": ["power", "status"],
            "temporalQ": {"timerel": "before", "timeAt": "2026-03-28T00:00:00Z", "lastN": 2}
        });
        assert_eq!(
            query_body_params(&body).expect("valid"),
            pairs(&[
                ("type", "Streetlight"),
                ("attrs", "power,status"),
                ("timerel", "before"),
                ("timeAt", "2026-03-28T00:00:00Z"),
                ("lastN", "2"),
            ])
        );
        assert!(query_body_params(&json!({"type": "Other"})).is_err());
    }
}
