//! Moving a whole territory in and out: the complete export, and loading entities from
//! files (exports, NGSI-LD arrays, and the importers' output).
//!
//! Reversibility is a promise to communes: an export holds every entity with its system
//! timestamps and every registered @context, and [`load_dump`] restores it identically
//! (a round trip compares equal).

use std::io::Write;

use chrono::Utc;
use jumeau_model::context::Context;
use jumeau_model::ngsi::{self, Format, RenderOptions};
use jumeau_model::{Entity, NgsiError};
use jumeau_store::{ContextRecord, WriteOp, WriteOutcome};
use serde_json::{json, Value};

use crate::import::Rejection;
use crate::Twin;

/// The `format` member that marks a Jumeau export.
pub const DUMP_FORMAT: &str = "jumeau-export";
/// The export layout version.
pub const DUMP_VERSION: u64 = 1;
/// Entities per store transaction when loading.
const LOAD_BATCH: usize = 500;

/// What a load did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LoadReport {
    /// Entities created.
    pub created: usize,
    /// Entities that existed and were replaced.
    pub updated: usize,
    /// Entities refused, each with its reason.
    pub rejected: Vec<Rejection>,
}

/// Whether a JSON document is a Jumeau export.
pub fn is_dump(v: &Value) -> bool {
    v.get("format").and_then(Value::as_str) == Some(DUMP_FORMAT)
}

fn io_err(e: std::io::Error) -> NgsiError {
    NgsiError::internal(format!("cannot write the export: {e}"))
}

/// Writes a complete export of a tenant; returns how many entities it holds.
pub async fn export(twin: &Twin, tenant: &str, out: &mut dyn Write) -> Result<usize, NgsiError> {
    let info = twin.store.tenant(tenant).await?.ok_or_else(|| {
        NgsiError::new(
            jumeau_model::ErrorKind::NonexistentTenant,
            format!("tenant '{tenant}' does not exist"),
        )
    })?;
    let contexts: Vec<Value> = twin
        .store
        .contexts()
        .await?
        .into_iter()
        .filter(|c| c.kind == "Hosted")
        .map(|c| json!({"url": c.url, "body": c.body, "createdAt": jumeau_model::time::format_datetime(&c.created_at)}))
        .collect();
    let header = json!({
        "format": DUMP_FORMAT,
        "version": DUMP_VERSION,
        "tenant": info.name,
        "public": info.public,
        "exportedAt": jumeau_model::time::format_datetime(&Utc::now()),
        "@context": jumeau_model::context::CORE_CONTEXT_URL,
        "contexts": contexts,
    });
    let mut head =
        serde_json::to_string_pretty(&header).map_err(|e| NgsiError::internal(e.to_string()))?;
    // Open the entities array inside the header object.
    head.truncate(head.trim_end().len() - 1);
    write!(out, "{head},\n  \"entities\": [").map_err(io_err)?;
    let opts = RenderOptions {
        format: Format::Normalized,
        sys_attrs: true,
        ..Default::default()
    };
    let core = Context::core();
    let mut cursor = None;
    let mut n = 0usize;
    loop {
        let (page, next) = twin.store.scan(tenant, cursor, LOAD_BATCH).await?;
        for e in &page {
            let v = Value::Object(ngsi::render_entity(e, &core, &opts));
            let text = serde_json::to_string(&v).map_err(|e| NgsiError::internal(e.to_string()))?;
            write!(out, "{}\n    {text}", if n == 0 { "" } else { "," }).map_err(io_err)?;
            n += 1;
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    writeln!(out, "\n  ]\n}}").map_err(io_err)?;
    Ok(n)
}

/// Restores an export into `tenant` (its own tenant when `None`), identically: system
/// timestamps are kept and entities with the same ids are replaced.
pub async fn load_dump(
    twin: &Twin,
    dump: &Value,
    tenant: Option<&str>,
) -> Result<LoadReport, NgsiError> {
    let version = dump.get("version").and_then(Value::as_u64).unwrap_or(0);
    if version != DUMP_VERSION {
        return Err(NgsiError::bad_data(format!(
            "this export has version {version}; this Jumeau reads version {DUMP_VERSION}"
        )));
    }
    let tenant = match tenant {
        Some(t) => t.to_string(),
        None => dump
            .get("tenant")
            .and_then(Value::as_str)
            .ok_or_else(|| NgsiError::bad_data("the export names no tenant; pass --tenant"))?
            .to_string(),
    };
    crate::validate_tenant(&tenant)?;
    for c in dump
        .get("contexts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(url), Some(body)) = (c.get("url").and_then(Value::as_str), c.get("body")) else {
            return Err(NgsiError::bad_data(
                "a context of the export has no url or body",
            ));
        };
        let created_at = c
            .get("createdAt")
            .and_then(Value::as_str)
            .and_then(|s| jumeau_model::time::parse_datetime(s).ok())
            .unwrap_or_else(Utc::now);
        twin.store
            .put_context(ContextRecord {
                url: url.into(),
                body: body.clone(),
                kind: "Hosted".into(),
                created_at,
            })
            .await?;
    }
    let entities = dump
        .get("entities")
        .and_then(Value::as_array)
        .ok_or_else(|| NgsiError::bad_data("the export has no 'entities' array"))?;
    let core = Context::core();
    let mut parsed = Vec::with_capacity(entities.len());
    let mut report = LoadReport::default();
    for (i, v) in entities.iter().enumerate() {
        match ngsi::parse_entity_with_sys_attrs(v, &core) {
            Ok(e) => parsed.push((i + 1, WriteOp::Restore(e))),
            Err(err) => report.rejected.push(rejection(i + 1, v, err)),
        }
    }
    write_batches(twin, &tenant, parsed, &mut report).await?;
    if dump.get("public").and_then(Value::as_bool) == Some(true) {
        twin.store.set_tenant_public(&tenant, true).await?;
    }
    Ok(report)
}

fn rejection(row: usize, v: &Value, err: NgsiError) -> Rejection {
    Rejection {
        row,
        id: v.get("id").and_then(Value::as_str).map(str::to_string),
        reason: err.detail,
    }
}

/// Loads NGSI-LD entities (normalized or concise JSON, each possibly with its own
/// "@context"), replacing entities with the same ids, so a file can be imported again.
pub async fn load_entities(
    twin: &Twin,
    tenant: &str,
    values: &[Value],
    default_context: Option<&Value>,
) -> Result<LoadReport, NgsiError> {
    crate::validate_tenant(tenant)?;
    let mut report = LoadReport::default();
    let mut ops = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let ctx_value = v.get("@context").or(default_context);
        let parsed = match twin.contexts.resolve(ctx_value).await {
            Ok(ctx) => ngsi::parse_entity(v, &ctx),
            Err(e) => Err(e),
        };
        match parsed {
            Ok(e) => ops.push((
                i + 1,
                WriteOp::Upsert {
                    entity: e,
                    replace: true,
                },
            )),
            Err(err) => report.rejected.push(rejection(i + 1, v, err)),
        }
    }
    write_batches(twin, tenant, ops, &mut report).await?;
    Ok(report)
}

async fn write_batches(
    twin: &Twin,
    tenant: &str,
    ops: Vec<(usize, WriteOp)>,
    report: &mut LoadReport,
) -> Result<(), NgsiError> {
    let mut it = ops.into_iter().peekable();
    while it.peek().is_some() {
        let chunk: Vec<(usize, WriteOp)> = it.by_ref().take(LOAD_BATCH).collect();
        let rows: Vec<(usize, String)> = chunk
            .iter()
            .map(|(r, op)| (*r, op.entity_id().to_string()))
            .collect();
        let results = twin
            .write(tenant, chunk.into_iter().map(|(_, op)| op).collect())
            .await?;
        for ((row, id), r) in rows.into_iter().zip(results) {
            match r {
                Ok(WriteOutcome::Created) => report.created += 1,
                Ok(_) => report.updated += 1,
                Err(e) => report.rejected.push(Rejection {
                    row,
                    id: Some(id),
                    reason: e.detail,
                }),
            }
        }
    }
    Ok(())
}

/// Collects every entity of a tenant (for tests and small tenants).
pub async fn all_entities(twin: &Twin, tenant: &str) -> Result<Vec<Entity>, NgsiError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = twin.store.scan(tenant, cursor, LOAD_BATCH).await?;
        out.extend(page);
        match next {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}
