//! Engine-neutral application of one [`WriteOp`] to the stored version of its entity.
//!
//! Every engine loads the entity an operation names, asks [`apply`] what the operation
//! makes of it, then stores the result with its own SQL. The NGSI-LD rules (and the
//! rejections with their exact messages) therefore live in one place, and both engines
//! answer every request identically.

use chrono::{DateTime, Utc};
use jumeau_model::ops;
use jumeau_model::{Attribute, Entity, ErrorKind, NgsiError};

use crate::{WriteOp, WriteOutcome, Written};

/// What an engine must store after one operation.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The outcome, with the entity before and after. `before: None` means a new row is
    /// inserted; `after: None` means the row is deleted; both set means the row is
    /// rewritten.
    pub written: Written,
    /// The entity is stored as a new row (deleting the old one first), so that it moves to
    /// the end of the stable scan order, as a restored entity does.
    pub recreate: bool,
}

/// The rejection of a write on an entity that does not exist.
pub fn not_found(id: &str) -> NgsiError {
    NgsiError::not_found(format!("no entity with id {id} in this tenant"))
}

/// The rejection of a create whose id is taken.
pub fn already_exists(id: &str) -> NgsiError {
    NgsiError::new(
        ErrorKind::AlreadyExists,
        format!("an entity with id {id} already exists; use PATCH or PUT to change it"),
    )
}

/// Applies `op` to `current` (the stored entity with the operation's id, if any) at time
/// `now`. Nothing is stored: the engine writes [`Applied`] afterwards, so a rejection
/// never leaves part of an operation behind.
pub fn apply(
    op: WriteOp,
    current: Option<Entity>,
    now: DateTime<Utc>,
) -> Result<Applied, NgsiError> {
    let done = |outcome, before, after| Applied {
        written: Written::new(outcome, before, after),
        recreate: false,
    };
    let existing = |current: Option<Entity>, id: &str| current.ok_or_else(|| not_found(id));
    match op {
        WriteOp::Create(mut e) => {
            if current.is_some() {
                return Err(already_exists(&e.id));
            }
            ops::stamp_new(&mut e, now);
            Ok(done(WriteOutcome::Created, None, Some(e)))
        }
        WriteOp::Replace(e) => {
            let old = existing(current, &e.id)?;
            let new = ops::replace_entity(&old, e, now);
            Ok(done(
                WriteOutcome::Updated(Default::default()),
                Some(old),
                Some(new),
            ))
        }
        WriteOp::Upsert {
            mut entity,
            replace,
        } => match current {
            None => {
                ops::stamp_new(&mut entity, now);
                Ok(done(WriteOutcome::Created, None, Some(entity)))
            }
            Some(old) => {
                let new = if replace {
                    ops::replace_entity(&old, entity, now)
                } else {
                    let mut cur = old.clone();
                    cur.types.extend(entity.types);
                    cur.normalize_types();
                    ops::append_attrs(&mut cur, entity.attrs, false, now);
                    cur.modified_at = Some(now);
                    cur
                };
                Ok(done(
                    WriteOutcome::Updated(Default::default()),
                    Some(old),
                    Some(new),
                ))
            }
        },
        WriteOp::AppendAttrs {
            id,
            attrs,
            no_overwrite,
        } => modify(existing(current, &id)?, |cur| {
            Ok(WriteOutcome::Updated(ops::append_attrs(
                cur,
                attrs,
                no_overwrite,
                now,
            )))
        }),
        WriteOp::UpdateAttrs { id, attrs } => modify(existing(current, &id)?, |cur| {
            Ok(WriteOutcome::Updated(ops::update_attrs(cur, attrs, now)))
        }),
        WriteOp::PatchAttr { id, name, attr } => modify(existing(current, &id)?, |cur| {
            ops::patch_attr(cur, &name, attr, now)?;
            Ok(WriteOutcome::Updated(Default::default()))
        }),
        WriteOp::ReplaceAttr { id, name, attr } => modify(existing(current, &id)?, |cur| {
            ops::replace_attr(cur, &name, attr, now)?;
            Ok(WriteOutcome::Updated(Default::default()))
        }),
        WriteOp::Merge {
            id,
            attrs,
            deletions,
            types,
        } => modify(existing(current, &id)?, |cur| {
            Ok(WriteOutcome::Updated(ops::merge_entity(
                cur, attrs, &deletions, types, now,
            )))
        }),
        WriteOp::DeleteAttr {
            id,
            name,
            dataset_id,
            delete_all,
        } => modify(existing(current, &id)?, |cur| {
            ops::delete_attr(cur, &name, dataset_id.as_deref(), delete_all)?;
            cur.modified_at = Some(now);
            Ok(WriteOutcome::Deleted)
        }),
        WriteOp::Delete { id } => {
            let old = existing(current, &id)?;
            Ok(done(WriteOutcome::Deleted, Some(old), None))
        }
        WriteOp::Restore(mut e) => {
            e.normalize_types();
            if e.created_at.is_none() {
                e.created_at = Some(now);
            }
            if e.modified_at.is_none() {
                e.modified_at = e.created_at;
            }
            let outcome = if current.is_some() {
                WriteOutcome::Updated(Default::default())
            } else {
                WriteOutcome::Created
            };
            Ok(Applied {
                written: Written::new(outcome, current, Some(e)),
                recreate: true,
            })
        }
    }
}

/// Applies `change` to a copy of an existing entity (it may refuse).
fn modify(
    old: Entity,
    change: impl FnOnce(&mut Entity) -> Result<WriteOutcome, NgsiError>,
) -> Result<Applied, NgsiError> {
    let mut cur = old.clone();
    let outcome = change(&mut cur)?;
    Ok(Applied {
        written: Written::new(outcome, Some(old), Some(cur)),
        recreate: false,
    })
}

/// The attribute instances whose history a write from `old` to `new` appends (expanded
/// name, instance): every instance whose value or `observedAt` changed.
pub fn history_of<'a>(old: Option<&Entity>, new: &'a Entity) -> Vec<(&'a str, &'a Attribute)> {
    let mut out = Vec::new();
    for (name, after) in &new.attrs {
        let before = old.and_then(|o| o.attrs.get(name));
        crate::temporal::changed_instances(name, before, Some(after), &mut out);
    }
    out
}
