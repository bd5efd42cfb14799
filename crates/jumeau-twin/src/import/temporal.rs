//! History import: a CSV file of readings, one per line, appended to the history of the
//! twin's entities (`jumeau import --temporal FILE.csv`).
//!
//! The header names the columns `entity`, `attribute`, `time`, `value` and optionally
//! `unitCode` (any order, matched ignoring case); the separator is `,` or `;`, whichever
//! the header uses. `entity` is an entity id (a URI), `attribute` an attribute name (a term
//! of the import's @context, expanded as the other importers' names are, or an IRI), `time`
//! an RFC 3339 date-time (the instance's `observedAt`), `value` a number (`.` or a decimal
//! comma: `12.5`, `12,5`), `true`/`false`, or text; `unitCode` a UN/CEFACT code.
//!
//! [`parse_temporal_csv`] is pure and turns every line into an instance or a [`Rejection`]
//! with its line number; [`load_temporal`] then appends the instances through the store's
//! history, in batches per entity, and is the one part of the importers that writes (like
//! [`crate::dump::load_entities`]). An entity the twin does not hold yet is created with the
//! latest reading of each attribute as its current value, as POST /temporal/entities does;
//! its type comes from its id (`urn:ngsi-ld:<Type>:<local id>`).

use std::collections::HashMap;

use jumeau_model::context::Context;
use jumeau_model::entity::validate_uri;
use jumeau_model::temporal::render::TemporalEntity;
use jumeau_model::time::parse_datetime;
use jumeau_model::{Attribute, AttributeValue, NgsiError};
use jumeau_store::WriteOp;
use serde_json::Value;

use super::common::decode;
use super::{ImportError, Rejection};
use crate::Twin;

/// The columns of a history file, in the order the documentation gives them.
const COLUMNS: [&str; 4] = ["entity", "attribute", "time", "value"];
/// The optional unit column.
const UNIT_COLUMN: &str = "unitCode";
/// Most instances sent to the store in one call.
const APPEND_BATCH: usize = 5_000;

/// One reading of a history file.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The 1-based line of the file (the header is line 1).
    pub row: usize,
    /// The entity id.
    pub entity: String,
    /// The expanded attribute name.
    pub attribute: String,
    /// The instance: the value as a Property, its `observedAt` and `unitCode`.
    pub instance: Attribute,
}

/// The readings of a history file and the lines refused, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemporalBatch {
    /// The readings.
    pub readings: Vec<Reading>,
    /// The lines that are not readings, and why.
    pub rejected: Vec<Rejection>,
}

/// What a history import did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemporalReport {
    /// Instances stored.
    pub stored: u64,
    /// Instances already in the history (same entity, attribute, time and value), stored
    /// once.
    pub duplicates: u64,
    /// Entities that did not exist in the twin and were created from their latest readings.
    pub created: usize,
    /// Lines not imported, each with its reason, in file order.
    pub rejected: Vec<Rejection>,
    /// What the user should know besides (an entity whose history was stored but which
    /// could not be created in the twin).
    pub notes: Vec<String>,
}

/// Picks `;` when the header line has more of them than `,`.
fn delimiter(text: &str) -> u8 {
    let header = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if header.matches(';').count() > header.matches(',').count() {
        b';'
    } else {
        b','
    }
}

/// The value of a reading: a number (`.` or a decimal comma, optional sign), a boolean, or
/// the text itself.
fn reading_value(text: &str) -> Value {
    if text.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if text.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let plain = !digits.is_empty()
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
        && digits.bytes().filter(|b| matches!(b, b'.' | b',')).count() <= 1
        && digits.bytes().any(|b| b.is_ascii_digit());
    if plain {
        let normalized = text.replace(',', ".");
        if !normalized.contains('.') {
            if let Ok(n) = normalized.parse::<i64>() {
                return Value::from(n);
            }
        }
        if let Some(n) = normalized
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

/// Reads one line into a reading, or says what is wrong with it.
fn reading(
    row: usize,
    cell: impl Fn(usize) -> Option<String>,
    columns: &[usize; 4],
    unit: Option<usize>,
    ctx: &Context,
) -> Result<Reading, String> {
    let [entity_col, attribute_col, time_col, value_col] = *columns;
    let entity = cell(entity_col).ok_or("the entity column is empty")?;
    validate_uri(&entity).map_err(|e| format!("the entity is not an entity id: {e}"))?;
    let name = cell(attribute_col).ok_or("the attribute column is empty")?;
    let attribute = ctx.expand(&name);
    if attribute.starts_with('@') || name.contains(char::is_whitespace) {
        return Err(format!(
            "'{name}' cannot name an attribute; give an attribute name such as temperature"
        ));
    }
    let time = cell(time_col).ok_or("the time column is empty")?;
    let time = parse_datetime(&time).map_err(|e| format!("the time {e}"))?;
    let value = cell(value_col).ok_or("the value column is empty; give the reading")?;
    let mut instance = Attribute::new(AttributeValue::Property(reading_value(&value)));
    instance.observed_at = Some(time);
    instance.unit_code = unit.and_then(&cell);
    Ok(Reading {
        row,
        entity,
        attribute,
        instance,
    })
}

/// Reads a history file (see the module documentation) into readings and rejected lines;
/// attribute names are expanded with `ctx`. A file without a header naming the four
/// columns is an [`ImportError`].
pub fn parse_temporal_csv(bytes: &[u8], ctx: &Context) -> Result<TemporalBatch, ImportError> {
    let text = decode(bytes)?;
    if text.trim().is_empty() {
        return Err(ImportError::NoHeader);
    }
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter(text))
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ImportError::Csv(e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let find = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let mut columns = [0usize; 4];
    for (slot, name) in columns.iter_mut().zip(COLUMNS) {
        *slot = find(name).ok_or_else(|| ImportError::MissingColumn {
            role: "history".into(),
            name: name.into(),
            columns: headers.clone(),
        })?;
    }
    let unit = find(UNIT_COLUMN);

    let mut batch = TemporalBatch::default();
    let mut record = ::csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(ImportError::Csv(e.to_string())),
        }
        let row = record
            .position()
            .and_then(|p| usize::try_from(p.line()).ok())
            .unwrap_or(0);
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if record.len() != headers.len() {
            batch.rejected.push(Rejection {
                row,
                id: None,
                reason: format!(
                    "the line has {} fields but the header has {}; put values holding the \
                     separator in double quotes",
                    record.len(),
                    headers.len()
                ),
            });
            continue;
        }
        let cell = |i: usize| {
            record
                .get(i)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        match reading(row, cell, &columns, unit, ctx) {
            Ok(r) => batch.readings.push(r),
            Err(reason) => batch.rejected.push(Rejection {
                row,
                id: record
                    .get(columns[0])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
                reason,
            }),
        }
    }
    Ok(batch)
}

/// The entity type an id names, `urn:ngsi-ld:<Type>:<local id>`, expanded with `ctx`.
fn type_from_id(id: &str, ctx: &Context) -> Option<String> {
    let rest = id.strip_prefix("urn:ngsi-ld:")?;
    let (t, local) = rest.split_once(':')?;
    let ok = !local.is_empty()
        && t.chars().next().is_some_and(char::is_alphabetic)
        && t.chars().all(|c| c.is_alphanumeric() || c == '_');
    ok.then(|| ctx.expand(t))
}

/// Appends the readings of a batch to the history of tenant `tenant`, one entity at a time
/// in file order (at most 5,000 instances per store call), creating the entities the twin
/// does not hold (see the module documentation). Lines that cannot be stored are added to
/// the report with their reason; an error is returned only when the store fails as a whole.
pub async fn load_temporal(
    twin: &Twin,
    tenant: &str,
    batch: TemporalBatch,
    ctx: &Context,
) -> Result<TemporalReport, NgsiError> {
    crate::validate_tenant(tenant)?;
    let mut report = TemporalReport {
        rejected: batch.rejected,
        ..Default::default()
    };
    let mut order: Vec<String> = Vec::new();
    let mut by_entity: HashMap<String, Vec<Reading>> = HashMap::new();
    for r in batch.readings {
        if !by_entity.contains_key(&r.entity) {
            order.push(r.entity.clone());
        }
        by_entity.entry(r.entity.clone()).or_default().push(r);
    }
    for id in order {
        let readings = by_entity.remove(&id).unwrap_or_default();
        let reject_all = |readings: &[Reading], reason: &str, report: &mut TemporalReport| {
            report.rejected.extend(readings.iter().map(|r| Rejection {
                row: r.row,
                id: Some(id.clone()),
                reason: reason.to_string(),
            }));
        };
        let existing = twin.store.get(tenant, &id).await?;
        let types = match (&existing, type_from_id(&id, ctx)) {
            (Some(e), _) => e.types.clone(),
            (None, Some(t)) => vec![t],
            (None, None) => {
                reject_all(
                    &readings,
                    "the entity is not in the twin and its id does not name a type \
                     (urn:ngsi-ld:<Type>:<id>); create the entity first",
                    &mut report,
                );
                continue;
            }
        };
        let mut appended = Vec::new();
        for chunk in readings.chunks(APPEND_BATCH) {
            let instances = chunk
                .iter()
                .map(|r| (r.attribute.clone(), r.instance.clone()))
                .collect();
            match twin
                .store
                .append_history(tenant, &id, &types, instances)
                .await
            {
                Ok(done) => {
                    report.stored += done.stored;
                    report.duplicates += done.duplicates;
                    appended.extend_from_slice(chunk);
                }
                Err(jumeau_store::StoreError::Rejected(e)) => {
                    reject_all(chunk, &e.detail, &mut report);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if existing.is_none() && !appended.is_empty() {
            let entity = TemporalEntity {
                id: id.clone(),
                types,
                instances: appended
                    .into_iter()
                    .map(|r| (r.attribute, r.instance))
                    .collect(),
            }
            .latest_state();
            let written = twin.write(tenant, vec![WriteOp::Create(entity)]).await?;
            match written.into_iter().next() {
                Some(Ok(_)) => report.created += 1,
                Some(Err(e)) if e.kind == jumeau_model::ErrorKind::AlreadyExists => {}
                Some(Err(e)) => report.notes.push(format!(
                    "{id}: the history was stored but the entity could not be created in the \
                     twin: {}",
                    e.detail
                )),
                None => {}
            }
        }
    }
    report.rejected.sort_by_key(|r| r.row);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> TemporalBatch {
        parse_temporal_csv(text.as_bytes(), &Context::core()).expect("readable")
    }

    #[test]
    fn values_are_numbers_with_either_decimal_mark() {
        assert_eq!(reading_value("12"), json!(12));
        assert_eq!(reading_value("12,5"), json!(12.5));
        assert_eq!(reading_value("-0.25"), json!(-0.25));
        assert_eq!(reading_value("TRUE"), json!(true));
        assert_eq!(reading_value("on"), json!("on"));
        assert_eq!(reading_value("1,2,3"), json!("1,2,3"));
        assert_eq!(reading_value(","), json!(","));
    }

    #[test]
    fn lines_become_readings_or_rejections() {
        let b = parse(
            "Entity;attribute;time;value;unitCode\n\
             urn:ngsi-ld:WaterMeter:m1;volume;2026-03-28T10:00:00Z;12,5;MTQ\n\
             urn:ngsi-ld:WaterMeter:m1;volume;hier;13;MTQ\n\
             pas un id;volume;2026-03-28T10:00:00Z;13;MTQ\n\
             urn:ngsi-ld:WaterMeter:m1;volume;2026-03-28T11:00:00+01:00;;MTQ\n\
             urn:ngsi-ld:WaterMeter:m1;volume;2026-03-28T12:00:00Z;14\n",
        );
        assert_eq!(b.readings.len(), 1);
        let r = &b.readings[0];
        assert_eq!(r.row, 2);
        assert_eq!(r.instance.unit_code.as_deref(), Some("MTQ"));
        assert_eq!(r.instance.value, AttributeValue::Property(json!(12.5)));
        let rows: Vec<usize> = b.rejected.iter().map(|r| r.row).collect();
        assert_eq!(rows, vec![3, 4, 5, 6]);
        assert!(b.rejected[0].reason.contains("hier"), "{:?}", b.rejected[0]);
        assert!(
            b.rejected[2].reason.contains("value"),
            "{:?}",
            b.rejected[2]
        );
        assert!(
            b.rejected[3].reason.contains("fields"),
            "{:?}",
            b.rejected[3]
        );
        let e = parse_temporal_csv(b"entity,attribute,value\n", &Context::core())
            .expect_err("no time column");
        assert!(e.to_string().contains("\"time\""), "{e}");
    }

    #[test]
    fn attribute_names_are_expanded_with_the_context() {
        let url = "https://raw.githubusercontent.com/smart-data-models/\
                   dataModel.Streetlighting/master/context.jsonld";
        let ctx = Context::build(&json!(url), &|_| None).expect("bundled context");
        let b = parse_temporal_csv(
            b"entity,attribute,time,value\n\
              urn:ngsi-ld:Streetlight:s1,powerState,2026-03-28T18:00:00Z,on\n",
            &ctx,
        )
        .expect("readable");
        assert_eq!(
            b.readings[0].attribute,
            "https://smartdatamodels.org/dataModel.Streetlighting/powerState"
        );
        assert_eq!(
            b.readings[0].instance.value,
            AttributeValue::Property(json!("on"))
        );
    }

    #[test]
    fn types_come_from_ngsi_ld_urns() {
        let ctx = Context::core();
        assert_eq!(
            type_from_id("urn:ngsi-ld:WaterMeter:m1", &ctx),
            Some(ctx.expand("WaterMeter"))
        );
        assert_eq!(type_from_id("urn:x:y", &ctx), None);
        assert_eq!(type_from_id("urn:ngsi-ld:Water Meter:m1", &ctx), None);
    }
}
