//! Entity writes on PostgreSQL: one transaction per call, a savepoint per operation.
//!
//! Each operation loads its entity (locking the row, so that concurrent updates of one
//! entity queue instead of losing each other's changes), lets [`crate::apply`] decide, then
//! stores the document and brings its index rows up to date in one statement. A refusal,
//! or a create that lost a race for its id, rolls back to the operation's savepoint and
//! leaves the other operations of the call intact.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use jumeau_geo::Geometry;
use jumeau_model::{Attribute, AttributeValue, Entity, NgsiError};
use tokio_postgres::error::SqlState;

use super::{pg_err, PgStore};
use crate::apply::{already_exists, apply, history_of};
use crate::index::{attribute_rows, IndexRow};
use crate::{StoreError, StoreResult, WriteOp, Written};

/// Characters of a text value kept in the value index (see `schema.sql`).
const TEXT_KEY_CHARS: usize = 200;

/// The indexed key of a text: cut at the first NUL (which PostgreSQL text cannot hold) and
/// after [`TEXT_KEY_CHARS`] characters. The key never sorts after the text, and
/// `a <= b` implies `key(a) <= key(b)`, so comparisons on keys keep every candidate.
pub(super) fn text_key(s: &str) -> &str {
    let s = s.split('\0').next().unwrap_or("");
    match s.char_indices().nth(TEXT_KEY_CHARS) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

const LOAD: &str = "SELECT seq, doc FROM entities WHERE tenant_id = $1 AND id = $2 FOR UPDATE";

const INSERT: &str = "WITH e AS (
        INSERT INTO entities (tenant_id, id, doc) VALUES ($1, $2, $3) RETURNING seq
    ), t AS (
        INSERT INTO entity_types (tenant_id, type, eseq)
        SELECT $1, x.t, e.seq FROM e, unnest($4::text[]) AS x(t)
    ), a AS (
        INSERT INTO attr_values (tenant_id, eseq, attr, vt, num, txt)
        SELECT $1, e.seq, x.attr, x.vt, x.num, x.txt
        FROM e, unnest($5::text[], $6::text[], $7::float8[], $8::text[]) AS x(attr, vt, num, txt)
    ), g AS (
        INSERT INTO geo_values (tenant_id, eseq, attr, geom)
        SELECT $1, e.seq, x.attr, ST_Force2D(ST_SetSRID(ST_GeomFromGeoJSON(x.g), 4326))
        FROM e, unnest($9::text[], $10::text[]) AS x(attr, g)
    )
    SELECT seq FROM e";

const UPDATE: &str = "WITH u AS (
        UPDATE entities SET doc = $3 WHERE tenant_id = $1 AND seq = $2
    ), dt AS (
        DELETE FROM entity_types WHERE $4::boolean AND tenant_id = $1 AND eseq = $2
    ), t AS (
        INSERT INTO entity_types (tenant_id, type, eseq)
        SELECT $1, x.t, $2 FROM unnest($5::text[]) AS x(t)
    ), da AS (
        DELETE FROM attr_values WHERE tenant_id = $1 AND eseq = $2 AND attr = ANY($6::text[])
    ), a AS (
        INSERT INTO attr_values (tenant_id, eseq, attr, vt, num, txt)
        SELECT $1, $2, x.attr, x.vt, x.num, x.txt
        FROM unnest($7::text[], $8::text[], $9::float8[], $10::text[]) AS x(attr, vt, num, txt)
    ), dg AS (
        DELETE FROM geo_values WHERE $11::boolean AND tenant_id = $1 AND eseq = $2
    ), g AS (
        INSERT INTO geo_values (tenant_id, eseq, attr, geom)
        SELECT $1, $2, x.attr, ST_Force2D(ST_SetSRID(ST_GeomFromGeoJSON(x.g), 4326))
        FROM unnest($12::text[], $13::text[]) AS x(attr, g)
    )
    SELECT 1";

const DELETE: &str = "WITH t AS (
        DELETE FROM entity_types WHERE tenant_id = $1 AND eseq = $2
    ), a AS (
        DELETE FROM attr_values WHERE tenant_id = $1 AND eseq = $2
    ), g AS (
        DELETE FROM geo_values WHERE tenant_id = $1 AND eseq = $2
    )
    DELETE FROM entities WHERE tenant_id = $1 AND seq = $2";

/// Index rows as the column arrays the statements unnest.
#[derive(Default)]
struct Rows {
    attr: Vec<String>,
    vt: Vec<&'static str>,
    num: Vec<Option<f64>>,
    txt: Vec<Option<String>>,
}

impl Rows {
    fn push(&mut self, r: IndexRow) {
        self.attr.push(r.attr);
        self.vt.push(r.kind.code());
        self.num.push(r.num);
        self.txt
            .push(r.txt.as_deref().map(|t| text_key(t).to_string()));
    }
}

/// The GeoProperty values of an entity: (attribute, geometry).
fn geometries(e: &Entity) -> Vec<(&str, &Geometry)> {
    e.attrs
        .iter()
        .flat_map(|(name, list)| {
            list.iter().filter_map(move |a| match &a.value {
                AttributeValue::GeoProperty(g) => Some((name.as_str(), g)),
                _ => None,
            })
        })
        .collect()
}

/// Geometries as the (attribute, GeoJSON) arrays the statements unnest.
fn geo_columns(geo: &[(&str, &Geometry)]) -> (Vec<String>, Vec<String>) {
    geo.iter()
        .map(|(a, g)| (a.to_string(), g.as_json().to_string()))
        .unzip()
}

fn encode(e: &Entity) -> StoreResult<String> {
    serde_json::to_string(e)
        .map_err(|err| StoreError::Corrupt(format!("cannot encode entity: {err}")))
}

/// Decodes a stored entity document.
pub(super) fn decode(doc: &str) -> StoreResult<Entity> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("entity document: {e}")))
}

impl PgStore {
    /// [`crate::Store::write_changes`]: every operation in one transaction, each behind a
    /// savepoint; answers after COMMIT.
    pub(super) async fn write_entities(
        &self,
        tenant: &str,
        ops: Vec<WriteOp>,
    ) -> StoreResult<Vec<Result<Written, NgsiError>>> {
        let mut ops = Some(ops);
        let mut client = self.client().await?;
        if let Some(out) = write_on(&mut client, tenant, &mut ops).await? {
            return Ok(out);
        }
        // The pooled connection was dead before anything was sent (the server restarted or
        // closed it): nothing happened, so run the write once more on a new connection.
        drop(client);
        self.forget_idle();
        let mut client = self.client().await?;
        match write_on(&mut client, tenant, &mut ops).await? {
            Some(out) => Ok(out),
            None => Err(StoreError::Unavailable(
                "PostgreSQL closed the connection; retry".into(),
            )),
        }
    }
}

/// Runs the writes on one connection; `Ok(None)` (with `ops` untouched) when the connection
/// fails at the start of the transaction.
async fn write_on(
    client: &mut deadpool_postgres::Object,
    tenant: &str,
    ops: &mut Option<Vec<WriteOp>>,
) -> StoreResult<Option<Vec<Result<Written, NgsiError>>>> {
    let tx = match client.transaction().await {
        Ok(tx) => tx,
        // BEGIN changes nothing: a connection lost there can be replaced.
        Err(e) => {
            return match pg_err(e) {
                StoreError::Unavailable(_) => Ok(None),
                other => Err(other),
            }
        }
    };
    let now = Utc::now();
    tx.execute(
        "INSERT INTO tenants (name, public, created_at) VALUES ($1, false, $2) \
         ON CONFLICT (name) DO NOTHING",
        &[&tenant, &jumeau_model::time::format_datetime(&now)],
    )
    .await
    .map_err(pg_err)?;
    let ops = ops.take().unwrap_or_default();
    let mut out = Vec::with_capacity(ops.len());
    let load = tx.prepare_cached(LOAD).await.map_err(pg_err)?;
    for (i, op) in ops.into_iter().enumerate() {
        let savepoint = if i == 0 {
            "SAVEPOINT op"
        } else {
            "RELEASE SAVEPOINT op; SAVEPOINT op"
        };
        // Sent together (one round trip), in this order: the savepoint, then the read.
        let id = op.entity_id().to_string();
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&tenant, &id];
        let (_, row) = tokio::try_join!(tx.batch_execute(savepoint), tx.query_opt(&load, &params))
            .map_err(pg_err)?;
        match apply_one(&tx, tenant, op, row, now).await {
            Ok(w) => out.push(Ok(w)),
            Err(StoreError::Rejected(e)) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT op")
                    .await
                    .map_err(pg_err)?;
                out.push(Err(e));
            }
            Err(e) => return Err(e),
        }
    }
    tx.commit().await.map_err(pg_err)?;
    Ok(Some(out))
}

/// Runs one operation inside the current savepoint, `row` being its entity as loaded
/// (and locked) there.
async fn apply_one(
    tx: &Transaction<'_>,
    tenant: &str,
    op: WriteOp,
    row: Option<tokio_postgres::Row>,
    now: DateTime<Utc>,
) -> StoreResult<Written> {
    let (seq, current) = match row {
        Some(r) => {
            let doc: String = r.get(1);
            (Some(r.get::<_, i64>(0)), Some(decode(&doc)?))
        }
        None => (None, None),
    };
    let applied = apply(op, current, now)?;
    let w = &applied.written;
    match (seq, &w.after) {
        (Some(seq), Some(new)) if !applied.recreate => {
            update(tx, tenant, seq, w.before.as_ref(), new).await?;
            record(tx, tenant, w.before.as_ref(), new, now).await?;
        }
        (seq, Some(new)) => {
            if let Some(seq) = seq {
                delete(tx, tenant, seq).await?;
            }
            insert(tx, tenant, new).await?;
            record(tx, tenant, None, new, now).await?;
        }
        (Some(seq), None) => delete(tx, tenant, seq).await?,
        (None, None) => {}
    }
    Ok(applied.written)
}

/// Appends the changed instances to the entity's history, in the write's transaction.
async fn record(
    tx: &Transaction<'_>,
    tenant: &str,
    old: Option<&Entity>,
    new: &Entity,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let history = history_of(old, new);
    if !history.is_empty() {
        super::temporal::record(tx, tenant, &new.id, &new.types, &history, now).await?;
    }
    Ok(())
}

async fn insert(tx: &Transaction<'_>, tenant: &str, e: &Entity) -> StoreResult<()> {
    let doc = encode(e)?;
    let mut rows = Rows::default();
    for r in crate::index::index_rows(e) {
        rows.push(r);
    }
    let (geo_attr, geo_json) = geo_columns(&geometries(e));
    let stmt = tx.prepare_cached(INSERT).await.map_err(pg_err)?;
    tx.execute(
        &stmt,
        &[
            &tenant, &e.id, &doc, &e.types, &rows.attr, &rows.vt, &rows.num, &rows.txt, &geo_attr,
            &geo_json,
        ],
    )
    .await
    .map_err(|err| {
        if err.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            // Another transaction created it since this one looked.
            StoreError::Rejected(already_exists(&e.id))
        } else {
            pg_err(err)
        }
    })?;
    Ok(())
}

/// The index rows of one attribute.
fn rows_of(name: &str, instances: Option<&Vec<Attribute>>) -> Vec<IndexRow> {
    let mut out = Vec::new();
    if let Some(list) = instances {
        attribute_rows(name, list, &mut out);
    }
    out
}

/// Rewrites an entity, touching only the index rows whose values changed.
async fn update(
    tx: &Transaction<'_>,
    tenant: &str,
    seq: i64,
    old: Option<&Entity>,
    new: &Entity,
) -> StoreResult<()> {
    let doc = encode(new)?;
    let types_changed = old.map(|o| &o.types) != Some(&new.types);
    let new_types: &[String] = if types_changed { &new.types } else { &[] };
    let names: BTreeSet<&String> = new
        .attrs
        .keys()
        .chain(old.into_iter().flat_map(|o| o.attrs.keys()))
        .collect();
    let mut changed = Vec::new();
    let mut rows = Rows::default();
    for name in names {
        let after = rows_of(name, new.attrs.get(name));
        if rows_of(name, old.and_then(|o| o.attrs.get(name))) != after {
            changed.push(name.clone());
            for r in after {
                rows.push(r);
            }
        }
    }
    let new_geo = geometries(new);
    let geo_changed = old.map(geometries).as_ref() != Some(&new_geo);
    let (geo_attr, geo_json) = if geo_changed {
        geo_columns(&new_geo)
    } else {
        Default::default()
    };
    let stmt = tx.prepare_cached(UPDATE).await.map_err(pg_err)?;
    tx.execute(
        &stmt,
        &[
            &tenant,
            &seq,
            &doc,
            &types_changed,
            &new_types,
            &changed,
            &rows.attr,
            &rows.vt,
            &rows.num,
            &rows.txt,
            &geo_changed,
            &geo_attr,
            &geo_json,
        ],
    )
    .await
    .map_err(pg_err)?;
    Ok(())
}

async fn delete(tx: &Transaction<'_>, tenant: &str, seq: i64) -> StoreResult<()> {
    let stmt = tx.prepare_cached(DELETE).await.map_err(pg_err)?;
    tx.execute(&stmt, &[&tenant, &seq]).await.map_err(pg_err)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::text_key;

    #[test]
    fn text_keys_are_short_nul_free_and_keep_order() {
        assert_eq!(text_key("abc"), "abc");
        assert_eq!(text_key("a\0b"), "a");
        let long = "é".repeat(500);
        assert_eq!(text_key(&long).chars().count(), 200);
        let mut words = vec!["", "a", "a\0", "a\0b", "ab", "b", "\u{10FFFF}"];
        words.push(&long);
        for a in &words {
            for b in &words {
                if a <= b {
                    assert!(text_key(a) <= text_key(b), "{a:?} {b:?}");
                }
            }
        }
    }
}
