//! Lighting records kept in the twin as NGSI-LD entities, so that every store engine keeps
//! them the same way: zones, programs, settings, audit records and emergency overrides, next
//! to the inventory (`Streetlight`, `StreetlightControlCabinet`, `StreetlightGroup`).
//!
//! Types and attribute names are expanded with the Smart Data Models Streetlighting context,
//! as `jumeau_lighting::ngsi` does for the inventory; names the context does not define fall
//! under the NGSI-LD default vocabulary. The area of a zone or of an emergency is the
//! entity's `location` GeoProperty, so NGSI-LD geo-queries find them too.

use jumeau_geo::Geometry;
use jumeau_lighting::ngsi::{iri, term};
use jumeau_lighting::{Cabinet, Group, Inventory, Streetlight};
use jumeau_model::query::{EntityQuery, TypeExpr, MAX_LIMIT};
use jumeau_model::{Attribute, AttributeValue, Entity, ErrorKind, NgsiError};
use jumeau_store::{WriteOp, WriteOutcome};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::problem::ApiError;
use crate::App;

/// Entity type of a lighting zone.
pub(crate) const ZONE: &str = "LightingZone";
/// Entity type of a lighting program.
pub(crate) const PROGRAM: &str = "LightingProgram";
/// Entity type of a tenant's lighting settings.
pub(crate) const SETTINGS: &str = "LightingSettings";
/// Entity type of an audit record.
pub(crate) const AUDIT: &str = "LightingAuditRecord";
/// Entity type of an emergency override.
pub(crate) const EMERGENCY: &str = "LightingEmergency";

/// A record as an entity: each member of its JSON form becomes a Property, except `id` and
/// the member `geo_key` (a GeoJSON geometry), which becomes the `location` GeoProperty.
pub(crate) fn to_entity<T: Serialize>(
    id: &str,
    ty: &str,
    record: &T,
    geo_key: Option<&str>,
) -> Result<Entity, ApiError> {
    let value = serde_json::to_value(record)
        .map_err(|e| NgsiError::internal(format!("{ty} {id} cannot be written: {e}")))?;
    let mut e = Entity::new(id, iri(ty));
    let Value::Object(members) = value else {
        return Err(NgsiError::internal(format!("{ty} {id} is not a JSON object")).into());
    };
    for (k, v) in members {
        if k == "id" || v.is_null() {
            continue;
        }
        if Some(k.as_str()) == geo_key {
            let g = Geometry::from_geojson(&v)
                .map_err(|err| NgsiError::bad_data(format!("{k}: {err}")))?;
            e.attrs.insert(
                iri("location"),
                vec![Attribute::new(AttributeValue::GeoProperty(g))],
            );
        } else {
            e.attrs
                .insert(iri(&k), vec![Attribute::new(AttributeValue::Property(v))]);
        }
    }
    Ok(e)
}

/// Reads a record back from its entity (see [`to_entity`]).
pub(crate) fn from_entity<T: DeserializeOwned>(
    e: &Entity,
    geo_key: Option<&str>,
) -> Result<T, NgsiError> {
    let mut m = Map::new();
    m.insert("id".into(), Value::String(e.id.clone()));
    let location = iri("location");
    for (name, attrs) in &e.attrs {
        let Some(a) = attrs.first() else { continue };
        let key = match (name == &location, geo_key) {
            (true, Some(k)) => k.to_string(),
            _ => term(name),
        };
        match &a.value {
            AttributeValue::Property(v) => {
                m.insert(key, v.clone());
            }
            AttributeValue::GeoProperty(g) => {
                m.insert(key, g.as_json().clone());
            }
            _ => {}
        }
    }
    serde_json::from_value(Value::Object(m)).map_err(|err| {
        NgsiError::internal(format!(
            "entity {} cannot be read as a lighting record ({err}); fix or delete it through \
             the NGSI-LD API",
            e.id
        ))
    })
}

/// Every entity of a type in a tenant, page after page.
pub(crate) async fn list(app: &App, tenant: &str, ty: &str) -> Result<Vec<Entity>, ApiError> {
    let mut out = Vec::new();
    loop {
        let query = EntityQuery {
            types: Some(TypeExpr::Type(iri(ty))),
            limit: MAX_LIMIT,
            offset: out.len(),
            ..EntityQuery::default()
        };
        let page = app.twin.store.query(tenant, &query).await?;
        let n = page.entities.len();
        out.extend(page.entities);
        if n < MAX_LIMIT {
            return Ok(out);
        }
    }
}

/// Every record of a type, read back.
pub(crate) async fn records<T: DeserializeOwned>(
    app: &App,
    tenant: &str,
    ty: &str,
    geo_key: Option<&str>,
) -> Result<Vec<T>, ApiError> {
    list(app, tenant, ty)
        .await?
        .iter()
        .map(|e| from_entity(e, geo_key).map_err(ApiError::from))
        .collect()
}

/// One record by id, if it exists and has the type.
pub(crate) async fn record<T: DeserializeOwned>(
    app: &App,
    tenant: &str,
    ty: &str,
    id: &str,
    geo_key: Option<&str>,
) -> Result<Option<T>, ApiError> {
    match app.twin.store.get(tenant, id).await? {
        Some(e) if e.has_type(&iri(ty)) => Ok(Some(from_entity(&e, geo_key)?)),
        _ => Ok(None),
    }
}

/// Runs writes in batches of [`MAX_LIMIT`]; the first failed write is the error.
pub(crate) async fn write(app: &App, tenant: &str, ops: Vec<WriteOp>) -> Result<(), ApiError> {
    let mut ops = ops.into_iter().peekable();
    while ops.peek().is_some() {
        let batch: Vec<WriteOp> = ops.by_ref().take(MAX_LIMIT).collect();
        for r in app.twin.write(tenant, batch).await? {
            r?;
        }
    }
    Ok(())
}

/// Where the batches of [`write_all_or_nothing`] go: the twin (with its notifications), or,
/// in tests, a twin that fails on purpose.
pub(crate) trait BatchSink: Sync {
    /// Runs one batch of writes; one result per operation, in order.
    async fn write_batch(
        &self,
        tenant: &str,
        batch: Vec<WriteOp>,
    ) -> Result<Vec<Result<WriteOutcome, NgsiError>>, ApiError>;
}

impl BatchSink for jumeau_twin::Twin {
    async fn write_batch(
        &self,
        tenant: &str,
        batch: Vec<WriteOp>,
    ) -> Result<Vec<Result<WriteOutcome, NgsiError>>, ApiError> {
        Ok(self.write(tenant, batch).await?)
    }
}

/// The entities that exist now among `ids`, by id.
async fn snapshot(
    app: &App,
    tenant: &str,
    ids: &[String],
) -> Result<std::collections::HashMap<String, Entity>, ApiError> {
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(MAX_LIMIT) {
        let query = EntityQuery {
            ids: chunk.to_vec(),
            limit: MAX_LIMIT,
            ..EntityQuery::default()
        };
        for e in app.twin.store.query(tenant, &query).await?.entities {
            out.insert(e.id.clone(), e);
        }
    }
    Ok(out)
}

/// Writes every operation or none of them, in batches of [`MAX_LIMIT`].
///
/// The store runs each batch in one transaction but offers no transaction spanning several
/// batches, and isolates each operation of a batch (one failure does not undo the others).
/// So this reads, before each batch, the entities it is about to touch, and when any write
/// fails — an operation refused, or a whole batch lost — it undoes every write already made,
/// newest first: an entity the failed run created is deleted, one it changed is put back as
/// it was read (system timestamps included). The error then says that nothing was kept.
///
/// What an undo cannot take back: the attribute history keeps the values that were written
/// then undone, subscribers are notified of both the writes and the undo, and a change made
/// by someone else to the same entities between the write and the undo is overwritten by
/// the undo. If the undo itself fails, the error lists the entities left changed; running
/// the same import again (its writes are upserts) completes it.
pub(crate) async fn write_all_or_nothing(
    app: &App,
    sink: &impl BatchSink,
    tenant: &str,
    ops: Vec<WriteOp>,
) -> Result<(), ApiError> {
    let mut undo: Vec<WriteOp> = Vec::new();
    let mut ops = ops.into_iter().peekable();
    let mut done = 0usize;
    while ops.peek().is_some() {
        let batch: Vec<WriteOp> = ops.by_ref().take(MAX_LIMIT).collect();
        let ids: Vec<String> = batch.iter().map(|o| o.entity_id().to_string()).collect();
        let before = match snapshot(app, tenant, &ids).await {
            Ok(b) => b,
            Err(e) => return Err(undone(sink, tenant, undo, done, e).await),
        };
        let restore = |id: &String| match before.get(id) {
            Some(e) => WriteOp::Restore(e.clone()),
            None => WriteOp::Delete { id: id.clone() },
        };
        let results = match sink.write_batch(tenant, batch).await {
            Ok(r) => r,
            Err(e) => {
                // The batch may or may not have landed: put all of it back too.
                undo.extend(ids.iter().map(restore));
                return Err(undone(sink, tenant, undo, done, e).await);
            }
        };
        let mut failed = None;
        for (id, r) in ids.iter().zip(results) {
            match r {
                Ok(_) => undo.push(restore(id)),
                Err(e) if failed.is_none() => {
                    failed = Some(ApiError(NgsiError::new(
                        e.kind,
                        format!("{id}: {}", e.detail),
                    )));
                }
                Err(_) => {}
            }
        }
        if let Some(e) = failed {
            return Err(undone(sink, tenant, undo, done, e).await);
        }
        done += ids.len();
    }
    Ok(())
}

/// Undoes the writes of a failed [`write_all_or_nothing`] (newest first) and returns the
/// error to answer: the cause, and whether everything was put back.
async fn undone(
    sink: &impl BatchSink,
    tenant: &str,
    mut undo: Vec<WriteOp>,
    done: usize,
    cause: ApiError,
) -> ApiError {
    undo.reverse();
    let mut left: Vec<String> = Vec::new();
    let mut ops = undo.into_iter().peekable();
    while ops.peek().is_some() {
        let batch: Vec<WriteOp> = ops.by_ref().take(MAX_LIMIT).collect();
        let ids: Vec<String> = batch.iter().map(|o| o.entity_id().to_string()).collect();
        let deletes: Vec<bool> = batch
            .iter()
            .map(|o| matches!(o, WriteOp::Delete { .. }))
            .collect();
        match sink.write_batch(tenant, batch).await {
            Ok(results) => {
                for ((id, delete), r) in ids.into_iter().zip(deletes).zip(results) {
                    match r {
                        Ok(_) => {}
                        // Already absent: nothing to take back.
                        Err(e) if delete && e.kind == ErrorKind::ResourceNotFound => {}
                        Err(_) => left.push(id),
                    }
                }
            }
            Err(_) => left.extend(ids),
        }
    }
    let mut err = cause;
    if left.is_empty() {
        err.0.detail = format!(
            "{}; the write was stopped after {done} operation(s) and every change was undone: \
             nothing was kept, fix the cause and send the same request again",
            err.0.detail
        );
    } else {
        tracing::error!(
            "lighting: {} entities of tenant {tenant} could not be put back after a failed \
             write: {}",
            left.len(),
            left.join(", ")
        );
        left.truncate(20);
        err.0.detail = format!(
            "{}; the write was stopped and its changes could not all be undone (still changed: \
             {}); send the same request again to complete it",
            err.0.detail,
            left.join(", ")
        );
    }
    err
}

/// Creates or replaces whole entities.
pub(crate) async fn put(app: &App, tenant: &str, entities: Vec<Entity>) -> Result<(), ApiError> {
    let ops = entities
        .into_iter()
        .map(|entity| WriteOp::Upsert {
            entity,
            replace: true,
        })
        .collect();
    write(app, tenant, ops).await
}

/// The tenant's inventory, with the controller status of each point lumineux that reports
/// one (`status`, Smart Data Models Streetlight) and the ids of entities that could not be
/// read.
pub(crate) struct Loaded {
    /// Points lumineux, armoires and groups.
    pub inventory: Inventory,
    /// (point lumineux id, status) where a status is known.
    pub statuses: Vec<(String, String)>,
    /// Entities of the inventory types that could not be read, with why.
    pub unreadable: Vec<String>,
}

/// Reads the inventory of a tenant.
pub(crate) async fn inventory(app: &App, tenant: &str) -> Result<Loaded, ApiError> {
    let mut loaded = Loaded {
        inventory: Inventory::default(),
        statuses: Vec::new(),
        unreadable: Vec::new(),
    };
    let status = iri("status");
    for e in list(app, tenant, "Streetlight").await? {
        match Streetlight::from_entity(&e) {
            Ok(s) => {
                if let Some(AttributeValue::Property(Value::String(v))) =
                    e.attr(&status).map(|a| &a.value)
                {
                    loaded.statuses.push((s.id.clone(), v.clone()));
                }
                loaded.inventory.streetlights.push(s);
            }
            Err(err) => loaded.unreadable.push(err.to_string()),
        }
    }
    for e in list(app, tenant, "StreetlightControlCabinet").await? {
        match Cabinet::from_entity(&e) {
            Ok(c) => loaded.inventory.cabinets.push(c),
            Err(err) => loaded.unreadable.push(err.to_string()),
        }
    }
    for e in list(app, tenant, "StreetlightGroup").await? {
        match Group::from_entity(&e) {
            Ok(g) => loaded.inventory.groups.push(g),
            Err(err) => loaded.unreadable.push(err.to_string()),
        }
    }
    Ok(loaded)
}
