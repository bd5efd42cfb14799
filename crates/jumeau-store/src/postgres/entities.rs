//! Entity writes on PostgreSQL: one transaction per call, one statement per table.
//!
//! A call locks the stored entities it names with one statement, in id order, so that
//! concurrent calls touching the same entities queue one behind the other instead of
//! deadlocking; a call that still meets a deadlock or a serialisation failure (or a create
//! that lost a race for its id) is rolled back and run again a few times before answering
//! "retry". [`crate::apply`] then decides each operation, in order, on the entities as the
//! previous operations of the call left them: a refusal changes nothing, so no savepoint is
//! needed. What the call changed is then written with one multi-row statement per kind of
//! change (rows deleted, rows rewritten with their value summary and only their changed
//! type and geometry rows, rows inserted in the order of their creation), and the history of every changed attribute
//! with one statement per history table ([`super::temporal::record_many`]).

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use deadpool_postgres::Transaction;
use jumeau_geo::Geometry;
use jumeau_model::{Attribute, AttributeValue, Entity, NgsiError};
use tokio_postgres::types::ToSql;

use super::summary::summary;
use super::temporal::{before_pg_min, pg_min_rejection, HistoryWrite};
use super::{pg_err, PgStore};
use crate::apply::{apply, history_of};
use crate::{StoreError, StoreResult, WriteOp, Written};

/// How many times a call is run when it meets a deadlock, a serialisation failure or a
/// lost race for a new id, before answering "retry".
const ATTEMPTS: u32 = 5;

/// Loads and locks the stored entities of a call, in id order.
const LOAD: &str =
    "SELECT id, seq, doc FROM entities WHERE tenant_id = $1 AND id = ANY($2::text[]) \
     ORDER BY id FOR UPDATE";

const TENANT: &str = "INSERT INTO tenants (name, public, created_at) VALUES ($1, false, $2) \
     ON CONFLICT (name) DO NOTHING";

/// New rows, numbered in the order given; rows whose id is taken are skipped (and missing
/// from the answer).
const INSERT: &str = "WITH x AS (
        SELECT * FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS x(id, doc, vals, o)
    ), e AS (
        INSERT INTO entities (tenant_id, id, doc, vals)
        SELECT $1, x.id, x.doc, x.vals::jsonb FROM x ORDER BY x.o
        ON CONFLICT (tenant_id, id) DO NOTHING RETURNING id, seq
    ), t AS (
        INSERT INTO entity_types (tenant_id, type, eseq)
        SELECT $1, y.t, e.seq FROM unnest($5::text[], $6::text[]) AS y(id, t)
        JOIN e ON e.id = y.id COLLATE \"C\"
    ), g AS (
        INSERT INTO geo_values (tenant_id, eseq, attr, geom)
        SELECT $1, e.seq, y.attr, ST_Force2D(ST_SetSRID(ST_GeomFromGeoJSON(y.g), 4326))
        FROM unnest($7::text[], $8::text[], $9::text[]) AS y(id, attr, g)
        JOIN e ON e.id = y.id COLLATE \"C\"
    )
    SELECT id FROM e";

/// Rewritten rows: the documents and value summaries, then only the index rows that
/// changed (all the types of the entities in $5, all the geometries of the entities in $8).
const UPDATE: &str = "WITH u AS (
        UPDATE entities e SET doc = x.doc, vals = x.vals::jsonb
        FROM unnest($2::bigint[], $3::text[], $4::text[]) AS x(seq, doc, vals)
        WHERE e.tenant_id = $1 AND e.seq = x.seq
    ), dt AS (
        DELETE FROM entity_types WHERE tenant_id = $1 AND eseq = ANY($5::bigint[])
    ), t AS (
        INSERT INTO entity_types (tenant_id, type, eseq)
        SELECT $1, y.t, y.s FROM unnest($6::bigint[], $7::text[]) AS y(s, t)
    ), dg AS (
        DELETE FROM geo_values WHERE tenant_id = $1 AND eseq = ANY($8::bigint[])
    ), g AS (
        INSERT INTO geo_values (tenant_id, eseq, attr, geom)
        SELECT $1, y.s, y.attr, ST_Force2D(ST_SetSRID(ST_GeomFromGeoJSON(y.g), 4326))
        FROM unnest($9::bigint[], $10::text[], $11::text[]) AS y(s, attr, g)
    )
    SELECT 1";

const DELETE: &str = "WITH t AS (
        DELETE FROM entity_types WHERE tenant_id = $1 AND eseq = ANY($2::bigint[])
    ), g AS (
        DELETE FROM geo_values WHERE tenant_id = $1 AND eseq = ANY($2::bigint[])
    )
    DELETE FROM entities WHERE tenant_id = $1 AND seq = ANY($2::bigint[])";

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

/// Geometries as the (entity, attribute, GeoJSON) arrays the statements unnest.
#[derive(Default)]
struct Geo<K> {
    key: Vec<K>,
    attr: Vec<String>,
    json: Vec<String>,
}

impl<K: Clone> Geo<K> {
    fn push(&mut self, key: &K, geo: &[(&str, &Geometry)]) {
        for (a, g) in geo {
            self.key.push(key.clone());
            self.attr.push(a.to_string());
            self.json.push(g.as_json().to_string());
        }
    }
}

fn encode(e: &Entity) -> StoreResult<String> {
    serde_json::to_string(e)
        .map_err(|err| StoreError::Corrupt(format!("cannot encode entity: {err}")))
}

/// Decodes a stored entity document.
pub(super) fn decode(doc: &str) -> StoreResult<Entity> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("entity document: {e}")))
}

/// The rows-to-be of one entity named by a call.
struct Slot {
    /// The stored row as loaded: sequence number and entity.
    stored: Option<(i64, Entity)>,
    /// The entity as the operations so far left it.
    current: Option<Entity>,
    /// The stored row is deleted (the entity was deleted, or stored anew).
    removed: bool,
    /// The current entity is stored as a new row, in the order of the operation that made
    /// it (creations are numbered in the order of the call).
    new_row: Option<usize>,
}

/// The changed attribute instances of one operation: entity id, its types, (expanded name,
/// instance), whether the operation created the entity.
type ChangedInstances = (String, Vec<String>, Vec<(String, Attribute)>, bool);

/// How one attempt at a call ended.
enum Attempt {
    Done(Vec<Result<Written, NgsiError>>),
    /// The connection failed before anything was sent: the call can run on another one.
    Reconnect,
    /// A deadlock, a serialisation failure or a lost race for an id: run it again.
    Conflict(StoreError),
}

/// Whether an error is a deadlock or a serialisation failure (as [`pg_err`] words them),
/// after which the whole transaction can run again.
fn is_conflict(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable(m) if m.ends_with("(40P01)") || m.ends_with("(40001)"))
}

impl PgStore {
    /// [`crate::Store::write_changes`]: every operation in one transaction; answers after
    /// COMMIT.
    pub(super) async fn write_entities(
        &self,
        tenant: &str,
        ops: Vec<WriteOp>,
    ) -> StoreResult<Vec<Result<Written, NgsiError>>> {
        let mut reconnected = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut client = self.client().await?;
            let result = match write_on(&mut client, tenant, &ops).await {
                Err(e) if is_conflict(&e) => Ok(Attempt::Conflict(e)),
                other => other,
            };
            match result? {
                Attempt::Done(out) => return Ok(out),
                // The pooled connection was dead before anything was sent (the server
                // restarted or closed it): nothing happened, so run the write once more on a
                // new connection.
                Attempt::Reconnect if !reconnected => {
                    drop(client);
                    self.forget_idle();
                    reconnected = true;
                }
                Attempt::Reconnect => {
                    return Err(StoreError::Unavailable(
                        "PostgreSQL closed the connection; retry".into(),
                    ))
                }
                Attempt::Conflict(e) if attempt >= ATTEMPTS => return Err(e),
                Attempt::Conflict(e) => {
                    tracing::debug!("{e}; running the write again");
                    drop(client);
                    // A short pause, longer at each attempt, lets the other writer finish.
                    tokio::time::sleep(Duration::from_millis(2 << attempt)).await;
                }
            }
        }
    }
}

/// Runs the writes of one call on one connection, in one transaction.
async fn write_on(
    client: &mut deadpool_postgres::Object,
    tenant: &str,
    ops: &[WriteOp],
) -> StoreResult<Attempt> {
    let tx = match client.transaction().await {
        Ok(tx) => tx,
        // BEGIN changes nothing: a connection lost there can be replaced.
        Err(e) => {
            return match pg_err(e) {
                StoreError::Unavailable(_) => Ok(Attempt::Reconnect),
                other => Err(other),
            }
        }
    };
    let now = Utc::now();
    let mut ids: Vec<&str> = ops.iter().map(WriteOp::entity_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let created = jumeau_model::time::format_datetime(&now);
    let tenant_stmt = tx.prepare_cached(TENANT).await.map_err(pg_err)?;
    let load = tx.prepare_cached(LOAD).await.map_err(pg_err)?;
    // Sent together (one round trip), in this order.
    let tenant_params: [&(dyn ToSql + Sync); 2] = [&tenant, &created];
    let load_params: [&(dyn ToSql + Sync); 2] = [&tenant, &ids];
    let (_, loaded) = tokio::try_join!(
        tx.execute(&tenant_stmt, &tenant_params),
        tx.query(&load, &load_params)
    )
    .map_err(pg_err)?;
    let mut slots: HashMap<String, Slot> = HashMap::with_capacity(ids.len());
    for row in loaded {
        let id: String = row.get(0);
        let e = decode(row.get(2))?;
        slots.insert(
            id,
            Slot {
                stored: Some((row.get(1), e.clone())),
                current: Some(e),
                removed: false,
                new_row: None,
            },
        );
    }
    // Each operation in order, on the entity as the previous ones left it.
    let mut out = Vec::with_capacity(ops.len());
    let mut history: Vec<ChangedInstances> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let slot = slots
            .entry(op.entity_id().to_string())
            .or_insert_with(|| Slot {
                stored: None,
                current: None,
                removed: false,
                new_row: None,
            });
        let applied = match apply(op.clone(), slot.current.clone(), now) {
            Ok(a) => a,
            Err(e) => {
                out.push(Err(e));
                continue;
            }
        };
        let w = &applied.written;
        if let Some(new) = w.after() {
            let old = if applied.recreate { None } else { w.before() };
            let changed = history_of(old, new);
            if let Some((name, _)) = changed.iter().find(|(_, a)| before_pg_min(a)) {
                out.push(Err(pg_min_rejection(name)));
                continue;
            }
            if !changed.is_empty() {
                history.push((
                    new.id.clone(),
                    new.types.clone(),
                    changed
                        .into_iter()
                        .map(|(n, a)| (n.to_string(), a.clone()))
                        .collect(),
                    w.before().is_none(),
                ));
            }
        }
        match (w.after(), slot.current.is_some()) {
            (None, _) => {
                if slot.new_row.take().is_none() && slot.stored.is_some() {
                    slot.removed = true;
                }
            }
            (Some(_), true) if !applied.recreate => {}
            (Some(_), _) => {
                if slot.new_row.is_none() && slot.stored.is_some() {
                    slot.removed = true;
                }
                slot.new_row = Some(i);
            }
        }
        slot.current = applied.written.after().cloned();
        out.push(Ok(applied.written));
    }
    if !store(&tx, tenant, &slots).await? {
        // A create lost the race for its id to a concurrent call: run the call again,
        // which will see that entity.
        return Ok(Attempt::Conflict(StoreError::Unavailable(
            "an entity of this call was created concurrently; retry".into(),
        )));
    }
    let writes: Vec<HistoryWrite<'_>> = history
        .iter()
        .map(|(entity, types, instances, created)| HistoryWrite {
            entity,
            types,
            instances: instances.iter().map(|(n, a)| (n.as_str(), a)).collect(),
            created: *created,
        })
        .collect();
    super::temporal::record_many(&tx, tenant, &writes, now).await?;
    tx.commit().await.map_err(pg_err)?;
    Ok(Attempt::Done(out))
}

/// Writes the final state of every entity of a call: deleted rows, rewritten rows, new
/// rows, in one round trip. `false` when a new row's id was taken meanwhile.
async fn store(
    tx: &Transaction<'_>,
    tenant: &str,
    slots: &HashMap<String, Slot>,
) -> StoreResult<bool> {
    let mut removed: Vec<i64> = Vec::new();
    let mut fresh: Vec<(usize, &Entity, String)> = Vec::new();
    let mut rewritten: Vec<(i64, &Entity, &Entity, String)> = Vec::new();
    for slot in slots.values() {
        match (&slot.stored, slot.removed, &slot.current) {
            (Some((seq, _)), true, _) => removed.push(*seq),
            (Some((seq, old)), false, Some(new)) if new != old => {
                rewritten.push((*seq, old, new, encode(new)?));
            }
            _ => {}
        }
        if let (Some(order), Some(new)) = (slot.new_row, &slot.current) {
            fresh.push((order, new, encode(new)?));
        }
    }
    // Rows numbered in the order the call created them.
    fresh.sort_by_key(|(order, _, _)| *order);
    removed.sort_unstable();
    rewritten.sort_by_key(|(seq, _, _, _)| *seq);
    let deleting = async {
        if removed.is_empty() {
            return Ok(());
        }
        let stmt = tx.prepare_cached(DELETE).await?;
        tx.execute(&stmt, &[&tenant, &removed]).await.map(|_| ())
    };
    let updating = update(tx, tenant, &rewritten);
    let inserting = insert(tx, tenant, &fresh);
    let (_, _, inserted) = tokio::try_join!(deleting, updating, inserting).map_err(pg_err)?;
    Ok(inserted == fresh.len())
}

/// Inserts new rows with their index rows; returns how many were inserted.
async fn insert(
    tx: &Transaction<'_>,
    tenant: &str,
    fresh: &[(usize, &Entity, String)],
) -> Result<usize, tokio_postgres::Error> {
    if fresh.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(fresh.len());
    let mut docs = Vec::with_capacity(fresh.len());
    let mut summaries = Vec::with_capacity(fresh.len());
    let (mut type_ids, mut types): (Vec<&str>, Vec<&str>) = Default::default();
    let mut geo: Geo<String> = Geo::default();
    for (_, e, doc) in fresh {
        ids.push(e.id.as_str());
        docs.push(doc.as_str());
        summaries.push(summary(e));
        for t in &e.types {
            type_ids.push(&e.id);
            types.push(t);
        }
        geo.push(&e.id, &geometries(e));
    }
    let stmt = tx.prepare_cached(INSERT).await?;
    let n = tx
        .query(
            &stmt,
            &[
                &tenant, &ids, &docs, &summaries, &type_ids, &types, &geo.key, &geo.attr, &geo.json,
            ],
        )
        .await?
        .len();
    Ok(n)
}

/// Rewrites entities with their value summaries, touching only the type and geometry rows
/// that changed.
async fn update(
    tx: &Transaction<'_>,
    tenant: &str,
    rewritten: &[(i64, &Entity, &Entity, String)],
) -> Result<(), tokio_postgres::Error> {
    if rewritten.is_empty() {
        return Ok(());
    }
    let mut seqs = Vec::with_capacity(rewritten.len());
    let mut docs = Vec::with_capacity(rewritten.len());
    let mut summaries = Vec::with_capacity(rewritten.len());
    let mut retyped: Vec<i64> = Vec::new();
    let (mut type_seqs, mut types): (Vec<i64>, Vec<&str>) = Default::default();
    let mut regeo: Vec<i64> = Vec::new();
    let mut geo: Geo<i64> = Geo::default();
    for (seq, old, new, doc) in rewritten {
        seqs.push(*seq);
        docs.push(doc.as_str());
        summaries.push(summary(new));
        if old.types != new.types {
            retyped.push(*seq);
            for t in &new.types {
                type_seqs.push(*seq);
                types.push(t);
            }
        }
        let new_geo = geometries(new);
        if geometries(old) != new_geo {
            regeo.push(*seq);
            geo.push(seq, &new_geo);
        }
    }
    let stmt = tx.prepare_cached(UPDATE).await?;
    tx.execute(
        &stmt,
        &[
            &tenant, &seqs, &docs, &summaries, &retyped, &type_seqs, &types, &regeo, &geo.key,
            &geo.attr, &geo.json,
        ],
    )
    .await?;
    Ok(())
}
