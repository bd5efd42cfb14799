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
use jumeau_model::{Attribute, AttributeValue, Entity, NgsiError};
use jumeau_store::WriteOp;
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
