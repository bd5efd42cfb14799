//! A year of hourly readings for every series of the territory, appended in bulk to the
//! temporal store (one call per entity), while the next entity's readings are computed.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jumeau_model::context::Context;
use jumeau_model::{Attribute, AttributeValue};
use jumeau_twin::Twin;
use serde_json::json;

use super::model::{self, At, Scenario};
use super::territory::Series;

/// Resolved contexts by URL ("" for the core context only).
pub struct Contexts(HashMap<&'static str, Arc<Context>>);

impl Contexts {
    /// Resolves the contexts the series name their types and attributes with.
    pub async fn resolve(twin: &Twin, urls: &[&'static str]) -> anyhow::Result<Self> {
        let mut map = HashMap::new();
        for &url in urls {
            if map.contains_key(url) {
                continue;
            }
            let value = (!url.is_empty()).then(|| json!(url));
            let ctx =
                twin.contexts.resolve(value.as_ref()).await.map_err(|e| {
                    anyhow::anyhow!("cannot resolve the context {url}: {}", e.detail)
                })?;
            map.insert(url, ctx);
        }
        Ok(Self(map))
    }

    /// The expanded IRI of a term of a context.
    pub fn expand(&self, url: &str, term: &str) -> String {
        self.0
            .get(url)
            .map_or_else(|| term.to_string(), |c| c.expand(term))
    }
}

/// What the load did.
pub struct Loaded {
    /// Instances appended.
    pub instances: u64,
    /// The last value of each series (same order as the territory's series).
    pub last: Vec<f64>,
}

/// Appends `hours` hourly readings, ending at the scenario's end, for every series.
pub async fn load(
    twin: &Twin,
    tenant: &str,
    series: &[Series],
    scenario: Scenario,
    hours: i64,
) -> anyhow::Result<Loaded> {
    let urls: Vec<&'static str> = series.iter().map(|s| s.context).collect();
    let ctxs = Contexts::resolve(twin, &urls).await?;
    // Entities in order of first appearance, with their series.
    let mut groups: Vec<(String, Vec<String>, Vec<usize>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, s) in series.iter().enumerate() {
        let g = *index.entry(s.entity.as_str()).or_insert_with(|| {
            groups.push((
                s.entity.clone(),
                vec![ctxs.expand(s.context, s.entity_type)],
                Vec::new(),
            ));
            groups.len() - 1
        });
        groups[g].2.push(i);
    }
    let names: Vec<String> = series
        .iter()
        .map(|s| ctxs.expand(s.context, s.attr))
        .collect();
    let times: Arc<Vec<At>> = Arc::new(
        (0..=hours)
            .map(|k| At::new(scenario.end - Duration::hours(hours - k)))
            .collect(),
    );
    let series: Arc<Vec<Series>> = Arc::new(series.to_vec());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(3);
    let producer = {
        let (series, times) = (series.clone(), times.clone());
        tokio::task::spawn_blocking(move || {
            for (entity, types, members) in groups {
                let mut instances = Vec::new();
                let mut lasts = Vec::new();
                for i in members {
                    let s = &series[i];
                    let (values, last) = values(s, &scenario, &times);
                    lasts.push((i, last));
                    for (at, v) in times.iter().zip(values) {
                        let mut a = Attribute::new(AttributeValue::Property(json!(v)));
                        a.observed_at = Some(at.t);
                        a.unit_code = Some(s.unit.to_string());
                        instances.push((names[i].clone(), a));
                    }
                }
                if tx
                    .blocking_send(Batch {
                        entity,
                        types,
                        instances,
                        lasts,
                    })
                    .is_err()
                {
                    return;
                }
            }
        })
    };
    let mut loaded = Loaded {
        instances: 0,
        last: vec![0.0; series.len()],
    };
    while let Some(b) = rx.recv().await {
        let report = twin
            .store
            .append_history(tenant, &b.entity, &b.types, b.instances)
            .await
            .map_err(|e| anyhow::anyhow!("cannot store the history of {}: {e}", b.entity))?;
        loaded.instances += report.stored + report.duplicates;
        for (i, v) in b.lasts {
            loaded.last[i] = v;
        }
    }
    producer
        .await
        .map_err(|e| anyhow::anyhow!("computing the readings failed: {e}"))?;
    Ok(loaded)
}

struct Batch {
    entity: String,
    types: Vec<String>,
    instances: Vec<(String, Attribute)>,
    lasts: Vec<(usize, f64)>,
}

/// The values of a series at `times`, and the last one. A meter's index adds what it
/// counted over each hour.
pub fn values(s: &Series, scenario: &Scenario, times: &[At]) -> (Vec<f64>, f64) {
    let k = model::key(&s.entity) ^ model::key(s.attr);
    let mut out = Vec::with_capacity(times.len());
    if s.signal.cumulative() {
        let mut index = s.start_index;
        for at in times {
            out.push((index * 10.0).round() / 10.0);
            index += s.signal.sample(scenario, at, k);
        }
    } else {
        for at in times {
            out.push(s.signal.sample(scenario, at, k));
        }
    }
    let last = out.last().copied().unwrap_or_default();
    (out, last)
}

/// Where the history starts: the first day of the same month a year before `end` (local
/// time), so that "this month against the same month last year" has both sides.
pub fn start_hour(end: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::{Datelike, TimeZone};
    let local = end.with_timezone(&chrono_tz::Europe::Paris);
    chrono::NaiveDate::from_ymd_opt(local.year() - 1, local.month(), 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| chrono_tz::Europe::Paris.from_local_datetime(&d).earliest())
        .map_or(end - Duration::days(365), |d| d.with_timezone(&Utc))
}

/// The hour a build ends its history at: the current hour.
pub fn end_hour(now: DateTime<Utc>) -> DateTime<Utc> {
    let secs = now.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(3600), 0).unwrap_or(now)
}
