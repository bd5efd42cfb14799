//! The drinking-water service over the twin: networks imported from and exported to
//! EPANET `.inp` files, what-if runs kept as entities of their own, district metered areas
//! read from the temporal history, leak alerts and yearly indicator reports. Every rule
//! is in `jumeau-water`; this module reads and writes the twin. The command line uses the
//! same functions.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use jumeau_model::query::types::TypeExpr;
use jumeau_model::query::EntityQuery;
use jumeau_model::temporal::{TemporalQuery, TimeRange};
use jumeau_model::{AttributeValue, Entity, NgsiError};
use jumeau_store::WriteOp;
use jumeau_twin::Twin;
use jumeau_water::hydraulics::{self, SimulationResults, WhatIf};
use jumeau_water::inp::{self, Network, NodeKind};
use jumeau_water::leaks::{self, LeakEvent, NightFlow};
use jumeau_water::ngsi::{self, entity_id, sdm};
use jumeau_water::records::{self, term, AlertSource};
use jumeau_water::{Georeference, WaterError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Entities written per transaction.
const WRITE_BATCH: usize = 500;
/// Page size of entity reads.
const PAGE: usize = 1000;

/// A domain error as an API error: every refusal of `jumeau-water` is about the input.
pub fn water_error(e: WaterError) -> NgsiError {
    NgsiError::bad_data(e.to_string())
}

/// Checks a network or DMA identifier (it becomes part of entity ids).
pub fn check_id(what: &str, id: &str) -> Result<(), NgsiError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(NgsiError::bad_data(format!(
            "{what} id '{id}' must be 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Writes entities (replacing those with the same ids) in batches; fails with the first
/// rejections if any entity was refused.
pub async fn write_entities(
    twin: &Twin,
    tenant: &str,
    entities: Vec<Entity>,
) -> Result<usize, NgsiError> {
    jumeau_twin::validate_tenant(tenant)?;
    let mut created = 0;
    let mut rejected = Vec::new();
    let mut it = entities.into_iter().peekable();
    while it.peek().is_some() {
        let ops: Vec<WriteOp> = it
            .by_ref()
            .take(WRITE_BATCH)
            .map(|entity| WriteOp::Upsert {
                entity,
                replace: true,
            })
            .collect();
        let ids: Vec<String> = ops.iter().map(|o| o.entity_id().to_string()).collect();
        for (id, r) in ids.into_iter().zip(twin.write(tenant, ops).await?) {
            match r {
                Ok(jumeau_store::WriteOutcome::Created) => created += 1,
                Ok(_) => {}
                Err(e) => rejected.push(format!("{id}: {}", e.detail)),
            }
        }
    }
    if !rejected.is_empty() {
        return Err(NgsiError::bad_data(format!(
            "{} entities were refused: {}",
            rejected.len(),
            rejected
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    Ok(created)
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Imported {
    /// The network id.
    pub network: String,
    /// Entities written (the model entity included).
    pub entities: usize,
    /// Of which new.
    pub created: usize,
    /// Elements by kind.
    pub junctions: usize,
    /// Reservoirs.
    pub reservoirs: usize,
    /// Tanks.
    pub tanks: usize,
    /// Pipes.
    pub pipes: usize,
    /// Pumps.
    pub pumps: usize,
    /// Valves.
    pub valves: usize,
}

/// Imports an EPANET `.inp` text as a network: its NGSI-LD elements placed with `georef`,
/// and its model entity (kept for simulations and export).
pub async fn import_network(
    twin: &Twin,
    tenant: &str,
    inp_text: &str,
    network_id: &str,
    georef: &Georeference,
) -> Result<Imported, NgsiError> {
    check_id("network", network_id)?;
    let net = inp::parse(inp_text).map_err(water_error)?;
    let mut entities = ngsi::to_entities(&net, network_id, georef).map_err(water_error)?;
    entities.push(records::model_entity(&net, network_id, georef).map_err(water_error)?);
    let n = entities.len();
    let created = write_entities(twin, tenant, entities).await?;
    Ok(Imported {
        network: network_id.to_string(),
        entities: n,
        created,
        junctions: net.junctions.len(),
        reservoirs: net.reservoirs.len(),
        tanks: net.tanks.len(),
        pipes: net.pipes.len(),
        pumps: net.pumps.len(),
        valves: net.valves.len(),
    })
}

/// Every entity of a query, page after page.
pub async fn query_all(
    twin: &Twin,
    tenant: &str,
    base: EntityQuery,
) -> Result<Vec<Entity>, NgsiError> {
    let mut out = Vec::new();
    loop {
        let q = EntityQuery {
            limit: PAGE,
            offset: out.len(),
            ..base.clone()
        };
        let page = twin.store.query(tenant, &q).await?;
        let n = page.entities.len();
        out.extend(page.entities);
        if n < PAGE {
            return Ok(out);
        }
    }
}

/// Entities of one type (expanded IRI).
pub async fn of_type(twin: &Twin, tenant: &str, ty: &str) -> Result<Vec<Entity>, NgsiError> {
    query_all(
        twin,
        tenant,
        EntityQuery {
            types: Some(TypeExpr::Type(ty.to_string())),
            ..EntityQuery::default()
        },
    )
    .await
}

/// The network of a tenant as the twin holds it now: the imported model with the edits
/// made since to its pipes and junctions, and its georeferencing.
pub async fn load_network(
    twin: &Twin,
    tenant: &str,
    network_id: &str,
) -> Result<(Network, Georeference), NgsiError> {
    check_id("network", network_id)?;
    let model = twin
        .store
        .get(tenant, &records::model_id(network_id))
        .await?
        .ok_or_else(|| {
            NgsiError::not_found(format!(
                "no water network '{network_id}' in tenant '{tenant}': import it with POST /jumeau/v1/water/networks or `jumeau water import`"
            ))
        })?;
    let (mut net, georef) = records::model_from_entity(&model).map_err(water_error)?;
    let pattern = regex::Regex::new(&format!(
        "^urn:ngsi-ld:(Pipe|Junction):{}:",
        regex::escape(network_id)
    ))
    .map_err(|e| NgsiError::internal(e.to_string()))?;
    let elements = query_all(
        twin,
        tenant,
        EntityQuery {
            id_pattern: Some(pattern),
            types: Some(TypeExpr::Or(vec![
                TypeExpr::Type(sdm("Pipe")),
                TypeExpr::Type(sdm("Junction")),
            ])),
            ..EntityQuery::default()
        },
    )
    .await?;
    records::apply_entity_edits(&mut net, network_id, &elements);
    Ok((net, georef))
}

/// The `.inp` text of a network as the twin holds it now.
pub async fn export_inp(twin: &Twin, tenant: &str, network_id: &str) -> Result<String, NgsiError> {
    let (net, _) = load_network(twin, tenant, network_id).await?;
    Ok(inp::write(&net))
}

/// The networks of a tenant: id, title and element counts.
pub async fn list_networks(twin: &Twin, tenant: &str) -> Result<Vec<Value>, NgsiError> {
    let mut out = Vec::new();
    for e in of_type(twin, tenant, &term("WaterNetworkModel")).await? {
        let id = records::property(&e, ngsi::NAME)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let Ok((net, georef)) = records::model_from_entity(&e) else {
            continue;
        };
        out.push(json!({
            "id": id,
            "title": net.title.join(" "),
            "flowUnits": net.flow_units(),
            "junctions": net.junctions.len(),
            "pipes": net.pipes.len(),
            "tanks": net.tanks.len(),
            "reservoirs": net.reservoirs.len(),
            "georeference": georef,
        }));
    }
    Ok(out)
}

/// A what-if request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimulationRequest {
    /// The changes (none: the network as it is).
    #[serde(default)]
    pub changes: Vec<Change>,
    /// Hours simulated from the start of the patterns (1 to 168; 24 by default).
    pub hours: Option<u32>,
}

/// One change, as the API writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Change {
    /// A pipe closed for works.
    ClosePipe {
        /// The pipe id.
        pipe: String,
    },
    /// Demands multiplied by a factor, at one junction or everywhere.
    ScaleDemand {
        /// The junction (none: every junction).
        junction: Option<String>,
        /// The multiplier.
        factor: f64,
    },
    /// A leak as an emitter.
    Leak {
        /// The junction.
        junction: String,
        /// Emitter coefficient (flow units per pressure unit^0.5); or give `diameterMm`.
        coefficient: Option<f64>,
        /// Equivalent orifice diameter (mm), converted with the orifice equation.
        #[serde(rename = "diameterMm")]
        diameter_mm: Option<f64>,
    },
    /// A fire flow at a hydrant.
    FireFlow {
        /// The junction.
        junction: String,
        /// Extra demand, in the network's flow units.
        flow: f64,
    },
}

impl Change {
    fn to_what_if(&self, net: &Network) -> Result<WhatIf, NgsiError> {
        Ok(match self.clone() {
            Self::ClosePipe { pipe } => WhatIf::ClosePipe { pipe },
            Self::ScaleDemand { junction, factor } => WhatIf::ScaleDemand { junction, factor },
            Self::FireFlow { junction, flow } => WhatIf::FireFlow { junction, flow },
            Self::Leak {
                junction,
                coefficient,
                diameter_mm,
            } => {
                let coefficient = match (coefficient, diameter_mm) {
                    (Some(c), None) => c,
                    (None, Some(d)) if d > 0.0 && d.is_finite() => {
                        hydraulics::orifice_coefficient_m3h(d / 1000.0) / net.m3h_per_flow_unit()
                    }
                    _ => {
                        return Err(NgsiError::bad_data(
                            "a leak needs either 'coefficient' or a positive 'diameterMm'",
                        ))
                    }
                };
                WhatIf::Leak {
                    junction,
                    coefficient,
                }
            }
        })
    }
}

/// Per element: the lowest pressure (nodes) or the largest flow magnitude (links) over
/// the run.
fn extremes(r: &SimulationResults) -> (HashMap<String, f64>, HashMap<String, f64>) {
    let nodes = r
        .node_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let m = r
                .pressures
                .iter()
                .filter_map(|step| step.get(i).copied())
                .fold(f64::INFINITY, f64::min);
            (id.clone(), m)
        })
        .collect();
    let links = r
        .link_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let m = r
                .flows
                .iter()
                .filter_map(|step| step.get(i).map(|q| q.abs()))
                .fold(0.0, f64::max);
            (id.clone(), m)
        })
        .collect();
    (nodes, links)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Runs a what-if simulation against the network as it is, and keeps it as a
/// `WaterSimulation` entity (apart from observations). Returns the entity id and summary.
pub async fn run_simulation(
    twin: &Twin,
    tenant: &str,
    network_id: &str,
    req: &SimulationRequest,
) -> Result<Value, NgsiError> {
    let (mut net, _) = load_network(twin, tenant, network_id).await?;
    let hours = req.hours.unwrap_or(24);
    if !(1..=168).contains(&hours) {
        return Err(NgsiError::bad_data(format!(
            "hours {hours} must be between 1 and 168"
        )));
    }
    hydraulics::set_time(&mut net, &["Duration"], &format!("{hours}:00"));
    hydraulics::set_time(&mut net, &["Report", "Timestep"], "1:00");
    hydraulics::set_time(&mut net, &["Report", "Start"], "0:00");
    let changes: Vec<WhatIf> = req
        .changes
        .iter()
        .map(|c| c.to_what_if(&net))
        .collect::<Result<_, _>>()?;
    let kinds: HashMap<String, NodeKind> = net
        .node_kinds()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let (base, run) = tokio::task::spawn_blocking(move || {
        let base = hydraulics::simulate(&net)?;
        let run = hydraulics::what_if(&net, &changes)?;
        Ok::<_, WaterError>((base, run))
    })
    .await
    .map_err(|e| NgsiError::internal(format!("the simulation stopped: {e}")))?
    .map_err(water_error)?;
    let (bn, bl) = extremes(&base);
    let (rn, rl) = extremes(&run);
    let mut nodes = serde_json::Map::new();
    let mut lowest: Option<(String, f64)> = None;
    let mut largest_drop: Option<(String, f64)> = None;
    let mut negative = 0;
    for (id, p) in &rn {
        let b = bn.get(id).copied().unwrap_or(*p);
        nodes.insert(id.clone(), json!([round3(*p), round3(b)]));
        if kinds.get(id) != Some(&NodeKind::Junction) {
            continue;
        }
        if lowest.as_ref().is_none_or(|(_, v)| p < v) {
            lowest = Some((id.clone(), *p));
        }
        if largest_drop.as_ref().is_none_or(|(_, v)| b - p > *v) {
            largest_drop = Some((id.clone(), b - p));
        }
        if *p < 0.0 {
            negative += 1;
        }
    }
    let links: serde_json::Map<String, Value> = rl
        .iter()
        .map(|(id, q)| {
            let b = bl.get(id).copied().unwrap_or(*q);
            (id.clone(), json!([round3(*q), round3(b)]))
        })
        .collect();
    let now = Utc::now();
    let run_id = format!(
        "{}-{:04x}",
        now.format("%Y%m%dT%H%M%S%3f"),
        now.timestamp_subsec_nanos() % 0xffff
    );
    let summary = json!({
        "hours": hours,
        "lowestPressure": lowest.map(|(n, v)| json!({"junction": n, "value": round3(v)})),
        "largestPressureDrop": largest_drop.map(|(n, v)| json!({"junction": n, "value": round3(v)})),
        "junctionsWithoutPressure": negative,
        "pressureUnit": if run.node_ids.is_empty() { "m" } else { "m or psi, as the network's units" },
    });
    let changes_json =
        serde_json::to_value(&req.changes).map_err(|e| NgsiError::internal(e.to_string()))?;
    let results = json!({
        "nodes": nodes,
        "links": links,
        "legend": "nodes: [lowest pressure of the run, the same without the changes]; links: [largest |flow|, the same without the changes]"
    });
    let e = records::simulation_entity(
        network_id,
        &run_id,
        &changes_json,
        now,
        summary.clone(),
        results,
    );
    let id = e.id.clone();
    write_entities(twin, tenant, vec![e]).await?;
    Ok(
        json!({"id": id, "run": run_id, "network": network_id, "changes": changes_json, "summary": summary}),
    )
}

/// A stored what-if run: its changes, summary and per-element results.
pub async fn simulation(
    twin: &Twin,
    tenant: &str,
    network_id: &str,
    run_id: &str,
) -> Result<Value, NgsiError> {
    let id = entity_id("WaterSimulation", network_id, run_id);
    let e = twin.store.get(tenant, &id).await?.ok_or_else(|| {
        NgsiError::not_found(format!(
            "no simulation '{run_id}' of network '{network_id}'"
        ))
    })?;
    let get = |name: &str| {
        records::property(&e, &term(name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    Ok(json!({
        "id": id,
        "run": run_id,
        "network": network_id,
        "changes": get("changes"),
        "summary": get("summary"),
        "results": get("results"),
    }))
}

/// The open leak alerts of a tenant.
pub async fn leak_alerts(twin: &Twin, tenant: &str) -> Result<Vec<Entity>, NgsiError> {
    let pattern = regex::Regex::new("^urn:ngsi-ld:Alert:water-leak:")
        .map_err(|e| NgsiError::internal(e.to_string()))?;
    query_all(
        twin,
        tenant,
        EntityQuery {
            id_pattern: Some(pattern),
            ..EntityQuery::default()
        },
    )
    .await
}

/// A leak alert as plain JSON for the water view.
pub fn alert_json(e: &Entity) -> Value {
    let p = |name: &str| records::property(e, name).cloned().unwrap_or(Value::Null);
    let date = |name: &str| match p(name) {
        Value::Object(o) => o.get("@value").cloned().unwrap_or(Value::Null),
        v => v,
    };
    let pipes: Vec<String> = match e.attr(&term("candidatePipes")).map(|a| &a.value) {
        Some(AttributeValue::ListRelationship(v)) => v.clone(),
        _ => Vec::new(),
    };
    let source = match e
        .attr(&records::alert_term("alertSource"))
        .map(|a| &a.value)
    {
        Some(AttributeValue::Relationship(r)) => r.uris().first().cloned(),
        _ => None,
    };
    json!({
        "id": e.id,
        "severity": p(&records::alert_term("severity")),
        "dateIssued": date(&records::alert_term("dateIssued")),
        "validFrom": date("https://smartdatamodels.org/validFrom"),
        "description": p(ngsi::DESCRIPTION),
        "candidatePipes": pipes,
        "locationUncertaintyM": p(&term("locationUncertainty")),
        "estimatedFlowM3h": p(&term("estimatedFlow")),
        "method": p(&term("detectionMethod")),
        "source": source,
    })
}

/// Stores a leak event as an alert for the water team; placed on its first candidate pipe
/// when the network is known.
pub async fn store_leak_event(
    twin: &Twin,
    tenant: &str,
    network_id: Option<&str>,
    source: Option<&str>,
    key: &str,
    event: &LeakEvent,
) -> Result<Value, NgsiError> {
    let mut location = None;
    if let Some(net_id) = network_id {
        let (net, georef) = load_network(twin, tenant, net_id).await?;
        for p in &event.candidate_pipes {
            if !net.links().any(|l| l.id == p) {
                return Err(NgsiError::bad_data(format!(
                    "candidate pipe '{p}' is not in network '{net_id}'"
                )));
            }
        }
        location = event
            .candidate_pipes
            .first()
            .and_then(|p| records::pipe_geometry(&net, &georef, p));
    }
    let network_uri = network_id.map(|n| entity_id("WaterNetwork", n, "network"));
    let source = source
        .map(str::to_string)
        .or(network_uri)
        .unwrap_or_else(|| "urn:ngsi-ld:WaterNetwork:unknown".to_string());
    let e = records::leak_alert(
        event,
        key,
        &AlertSource {
            network_id,
            source: &source,
            location,
        },
    );
    let json = alert_json(&e);
    write_entities(twin, tenant, vec![e]).await?;
    Ok(json)
}

/// A sensor reading series of a DMA: an entity and one of its attributes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SensorRef {
    /// The entity id (a flow meter, a pressure logger, a tank).
    pub entity: String,
    /// The attribute (a term of the request's @context, or an IRI).
    pub attribute: String,
    /// For inlets: +1 for a flow into the DMA, −1 for a flow out of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<f64>,
}

/// A district metered area: the inlet meters whose sum is its inflow, its pressure and
/// tank level sensors, and the night window of its minimum night flow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dma {
    /// A name for people.
    pub name: Option<String>,
    /// The network it belongs to.
    pub network: Option<String>,
    /// Inlet (and outlet) flow meters, m³/h.
    pub inlets: Vec<SensorRef>,
    /// Pressure sensors.
    #[serde(default)]
    pub pressures: Vec<SensorRef>,
    /// Tank level sensors.
    #[serde(default)]
    pub levels: Vec<SensorRef>,
    /// Pipes of the DMA (ids in the network), for the map.
    #[serde(default)]
    pub pipes: Vec<String>,
    /// Start and end hours (local time) of the night window; 2 to 4 by default.
    pub night_window: Option<(u32, u32)>,
}

/// Id of a DMA entity.
pub fn dma_id(id: &str) -> String {
    format!("urn:ngsi-ld:DistrictMeteredArea:{id}")
}

/// Stores a DMA (attribute names already expanded).
pub async fn put_dma(twin: &Twin, tenant: &str, id: &str, dma: &Dma) -> Result<bool, NgsiError> {
    check_id("DMA", id)?;
    if dma.inlets.is_empty() {
        return Err(NgsiError::bad_data(
            "a DMA needs at least one inlet flow meter in 'inlets'",
        ));
    }
    if let Some((a, b)) = dma.night_window {
        if a >= b || b > 24 {
            return Err(NgsiError::bad_data(format!(
                "nightWindow [{a}, {b}] must be two hours with start < end ≤ 24"
            )));
        }
    }
    if let Some(n) = &dma.network {
        load_network(twin, tenant, n).await?;
    }
    let mut e = Entity::new(dma_id(id), term("DistrictMeteredArea"));
    let v = serde_json::to_value(dma).map_err(|e| NgsiError::internal(e.to_string()))?;
    e.attrs.insert(
        term("definition"),
        vec![jumeau_model::Attribute::new(AttributeValue::JsonProperty(
            v,
        ))],
    );
    if let Some(name) = &dma.name {
        e.attrs.insert(
            ngsi::NAME.to_string(),
            vec![jumeau_model::Attribute::new(AttributeValue::Property(
                json!(name),
            ))],
        );
    }
    Ok(write_entities(twin, tenant, vec![e]).await? == 1)
}

/// A stored DMA.
pub async fn get_dma(twin: &Twin, tenant: &str, id: &str) -> Result<Dma, NgsiError> {
    check_id("DMA", id)?;
    let e = twin
        .store
        .get(tenant, &dma_id(id))
        .await?
        .ok_or_else(|| NgsiError::not_found(format!("no DMA '{id}' in tenant '{tenant}'")))?;
    let v = records::property(&e, &term("definition"))
        .cloned()
        .ok_or_else(|| NgsiError::internal(format!("{} has no definition", e.id)))?;
    serde_json::from_value(v)
        .map_err(|err| NgsiError::internal(format!("{} cannot be read as a DMA: {err}", e.id)))
}

/// The DMAs of a tenant, with their ids.
pub async fn list_dmas(twin: &Twin, tenant: &str) -> Result<Vec<(String, Dma)>, NgsiError> {
    let mut out = Vec::new();
    for e in of_type(twin, tenant, &term("DistrictMeteredArea")).await? {
        let Some(v) = records::property(&e, &term("definition")).cloned() else {
            continue;
        };
        if let Ok(d) = serde_json::from_value(v) {
            let id =
                e.id.trim_start_matches("urn:ngsi-ld:DistrictMeteredArea:")
                    .to_string();
            out.push((id, d));
        }
    }
    Ok(out)
}

/// The numeric readings of one sensor over a time range, oldest first.
pub async fn readings(
    twin: &Twin,
    tenant: &str,
    s: &SensorRef,
    range: Option<TimeRange>,
    last_n: Option<u32>,
) -> Result<Vec<(DateTime<Utc>, f64)>, NgsiError> {
    let q = TemporalQuery {
        time_range: range,
        last_n,
        ..TemporalQuery::default()
    };
    let attrs = [s.attribute.clone()];
    let hist = twin
        .store
        .history(tenant, std::slice::from_ref(&s.entity), Some(&attrs), &q)
        .await?;
    let mut out = Vec::new();
    for h in hist.iter().flat_map(|e| &e.attrs) {
        for i in &h.instances {
            let AttributeValue::Property(v) = &i.attribute.value else {
                continue;
            };
            if let (Some(t), Some(x)) = (i.attribute.observed_at.or(Some(i.created_at)), v.as_f64())
            {
                out.push((t, x));
            }
        }
    }
    out.sort_by_key(|(t, _)| *t);
    Ok(out)
}

/// Minimum night flow of a DMA over a range, with the alarm rule applied.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NightFlowReport {
    /// The DMA id.
    pub dma: String,
    /// The night window (local hours).
    pub night_window: (u32, u32),
    /// The tenant's time zone.
    pub time_zone: String,
    /// MNF per night (m³/h): the sum over the inlets of their mean night flows.
    pub nights: Vec<NightFlow>,
    /// Alarmed nights.
    pub alarms: Vec<leaks::MnfAlarm>,
    /// Inlets without readings in the range.
    pub missing_inlets: Vec<String>,
}

/// Computes the minimum night flow of a DMA from the history of its inlet meters (which
/// ingestion feeds) and the alarms of the rule MNF − min(previous `history` normal nights)
/// > `gamma` × that minimum.
pub async fn night_flow(
    twin: &Twin,
    tenant: &str,
    id: &str,
    range: Option<TimeRange>,
    gamma: f64,
    history: usize,
) -> Result<NightFlowReport, NgsiError> {
    if !(gamma.is_finite() && gamma > 0.0) || history == 0 {
        return Err(NgsiError::bad_data(format!(
            "gamma ({gamma}) must be > 0 and history ({history}) at least 1 night"
        )));
    }
    let dma = get_dma(twin, tenant, id).await?;
    let tz = twin.store.time_zone(tenant).await?;
    let (from, to) = dma.night_window.unwrap_or((2, 4));
    let mut per_night: std::collections::BTreeMap<NaiveDate, (f64, usize)> = Default::default();
    let mut missing = Vec::new();
    for inlet in &dma.inlets {
        let series = readings(twin, tenant, inlet, range, None).await?;
        if series.is_empty() {
            missing.push(inlet.entity.clone());
        }
        let sign = inlet.sign.unwrap_or(1.0);
        for n in leaks::minimum_night_flow(&series, tz, from, to) {
            let e = per_night.entry(n.date).or_insert((0.0, 0));
            e.0 += sign * n.flow;
            e.1 += 1;
        }
    }
    // Only nights every inlet covers: a night with a silent meter is not comparable.
    let inlets = dma.inlets.len();
    let nights: Vec<NightFlow> = per_night
        .into_iter()
        .filter(|(_, (_, n))| *n == inlets)
        .map(|(date, (flow, _))| NightFlow { date, flow })
        .collect();
    let alarms = leaks::mnf_alarms(&nights, gamma, history);
    Ok(NightFlowReport {
        dma: id.to_string(),
        night_window: (from, to),
        time_zone: tz.name().to_string(),
        nights,
        alarms,
        missing_inlets: missing,
    })
}

/// Stores the alarms of a night-flow report as leak alerts of the DMA (one per night; the
/// same night again replaces its alert). Returns them.
pub async fn night_flow_alerts(
    twin: &Twin,
    tenant: &str,
    report: &NightFlowReport,
) -> Result<Vec<Value>, NgsiError> {
    let tz = twin.store.time_zone(tenant).await?;
    let dma = get_dma(twin, tenant, &report.dma).await?;
    let mut out = Vec::new();
    for a in &report.alarms {
        let Some(event) = a.to_event(tz, report.night_window.0) else {
            continue;
        };
        let key = format!("{}-mnf-{}", report.dma, a.date);
        let mut event = event;
        if let Some(net) = &dma.network {
            event.candidate_pipes = dma.pipes.clone();
            out.push(
                store_leak_event(
                    twin,
                    tenant,
                    Some(net),
                    Some(&dma_id(&report.dma)),
                    &key,
                    &event,
                )
                .await?,
            );
        } else {
            out.push(
                store_leak_event(twin, tenant, None, Some(&dma_id(&report.dma)), &key, &event)
                    .await?,
            );
        }
    }
    Ok(out)
}

/// The latest reading of each sensor of a DMA.
pub async fn dma_status(twin: &Twin, tenant: &str, id: &str) -> Result<Value, NgsiError> {
    let dma = get_dma(twin, tenant, id).await?;
    let mut groups = serde_json::Map::new();
    for (name, list) in [
        ("inlets", &dma.inlets),
        ("pressures", &dma.pressures),
        ("levels", &dma.levels),
    ] {
        let mut out = Vec::new();
        for s in list {
            let last = readings(twin, tenant, s, None, Some(1)).await?;
            out.push(json!({
                "entity": s.entity,
                "attribute": s.attribute,
                "sign": s.sign,
                "last": last.last().map(|(t, v)| json!({"observedAt": jumeau_model::time::format_datetime(t), "value": v})),
            }));
        }
        groups.insert(name.into(), Value::Array(out));
    }
    Ok(json!({"id": id, "definition": dma, "sensors": groups}))
}

/// Volumes of a year as entered, or metered: each given meter's index difference over
/// the year (last reading − first reading, m³) replaces the entered volume.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumesInput {
    /// V produit (m³).
    #[serde(default)]
    pub produced: f64,
    /// V importé (m³).
    #[serde(default)]
    pub imported: f64,
    /// V exporté (m³).
    #[serde(default)]
    pub exported: f64,
    /// V comptabilisé (m³).
    #[serde(default)]
    pub metered: f64,
    /// V consommé sans comptage (m³).
    #[serde(default)]
    pub unmetered: f64,
    /// V de service (m³).
    #[serde(default)]
    pub service: f64,
    /// Network length without service connections (km).
    pub length_km: f64,
    /// More than 2 Mm³/yr taken from a zone de répartition des eaux.
    #[serde(default)]
    pub in_zre: bool,
    /// Volumes computed from meter indexes instead: `produced`, `imported`, `exported`,
    /// `metered` → the meters whose index (m³) counts them.
    #[serde(default)]
    pub meters: HashMap<String, Vec<SensorRef>>,
}

/// Id of a yearly report entity.
pub fn report_id(service: &str, year: i32) -> String {
    format!("urn:ngsi-ld:WaterServiceReport:{service}:{year}")
}

/// Computes and stores the indicators of a service for a year.
pub async fn put_indicators(
    twin: &Twin,
    tenant: &str,
    service: &str,
    year: i32,
    input: &VolumesInput,
) -> Result<Value, NgsiError> {
    check_id("service", service)?;
    if !(1990..=2200).contains(&year) {
        return Err(NgsiError::bad_data(format!("year {year} is out of range")));
    }
    let tz = twin.store.time_zone(tenant).await?;
    let start = tz
        .with_ymd_and_hms(year, 1, 1, 0, 0, 0)
        .earliest()
        .map(|t| t.with_timezone(&Utc));
    let end = tz
        .with_ymd_and_hms(year + 1, 1, 1, 0, 0, 0)
        .earliest()
        .map(|t| t.with_timezone(&Utc));
    let (Some(start), Some(end)) = (start, end) else {
        return Err(NgsiError::bad_data(format!("year {year} is out of range")));
    };
    let mut v = jumeau_water::indicators::AnnualVolumes {
        produced: input.produced,
        imported: input.imported,
        exported: input.exported,
        metered: input.metered,
        unmetered: input.unmetered,
        service: input.service,
        length_km: input.length_km,
    };
    let mut sources = serde_json::Map::new();
    for (name, meters) in &input.meters {
        let mut total = 0.0;
        for m in meters {
            let r = readings(twin, tenant, m, Some(TimeRange::Between(start, end)), None).await?;
            let (Some(first), Some(last)) = (r.first(), r.last()) else {
                return Err(NgsiError::bad_data(format!(
                    "meter {} has no '{}' reading in {year}",
                    m.entity, m.attribute
                )));
            };
            if last.1 < first.1 {
                return Err(NgsiError::bad_data(format!(
                    "meter {} went back from {} to {} m³ in {year}: a replaced meter needs its volume entered",
                    m.entity, first.1, last.1
                )));
            }
            total += last.1 - first.1;
        }
        let slot = match name.as_str() {
            "produced" => &mut v.produced,
            "imported" => &mut v.imported,
            "exported" => &mut v.exported,
            "metered" => &mut v.metered,
            other => {
                return Err(NgsiError::bad_data(format!(
                    "meters: '{other}' is not one of produced, imported, exported, metered"
                )))
            }
        };
        *slot = total;
        sources.insert(name.clone(), json!("meters"));
    }
    let report = v.report(input.in_zre).map_err(water_error)?;
    let body = json!({
        "service": service,
        "year": year,
        "inZre": input.in_zre,
        "volumes": {
            "produced": v.produced, "imported": v.imported, "exported": v.exported,
            "metered": v.metered, "unmetered": v.unmetered, "service": v.service,
            "lengthKm": v.length_km, "distributed": v.distributed(), "authorised": v.authorised(),
        },
        "meteredVolumes": sources,
        "indicators": {
            "P104.3": report.indicators.yield_percent,
            "P105.3": report.indicators.unmetered_index,
            "P106.3": report.indicators.loss_index,
            "ILC": report.indicators.consumption_index,
        },
        "grenelle": {
            "thresholdPercent": report.grenelle.threshold_percent,
            "yieldPercent": report.grenelle.yield_percent,
            "compliant": report.grenelle.compliant,
        },
        "feeCoefficient": report.fee_coefficient,
    });
    let mut e = Entity::new(report_id(service, year), term("WaterServiceReport"));
    e.attrs.insert(
        term("report"),
        vec![jumeau_model::Attribute::new(AttributeValue::JsonProperty(
            body.clone(),
        ))],
    );
    write_entities(twin, tenant, vec![e]).await?;
    Ok(body)
}

/// Stored yearly reports, for one service or all.
pub async fn list_indicators(
    twin: &Twin,
    tenant: &str,
    service: Option<&str>,
) -> Result<Vec<Value>, NgsiError> {
    let mut out: Vec<Value> = of_type(twin, tenant, &term("WaterServiceReport"))
        .await?
        .iter()
        .filter_map(|e| records::property(e, &term("report")).cloned())
        .filter(|r| service.is_none_or(|s| r["service"] == s))
        .collect();
    out.sort_by_key(|r| (r["service"].as_str().map(String::from), r["year"].as_i64()));
    Ok(out)
}

/// GeoJSON of a network for the map: nodes and links with their geometry, the results of
/// a stored simulation if asked (lowest pressure per node, largest flow per link, and the
/// same without the changes) and the pipes named by open leak alerts.
pub async fn map(
    twin: &Twin,
    tenant: &str,
    network_id: &str,
    run_id: Option<&str>,
) -> Result<Value, NgsiError> {
    let (net, georef) = load_network(twin, tenant, network_id).await?;
    let results = match run_id {
        Some(r) => Some(simulation(twin, tenant, network_id, r).await?["results"].clone()),
        None => None,
    };
    let mut alerted: HashMap<String, String> = HashMap::new();
    let prefix = entity_id("Pipe", network_id, "");
    for a in leak_alerts(twin, tenant).await? {
        let j = alert_json(&a);
        for p in j["candidatePipes"].as_array().into_iter().flatten() {
            if let Some(pipe) = p.as_str().and_then(|p| p.strip_prefix(&prefix)) {
                alerted
                    .entry(pipe.to_string())
                    .or_insert_with(|| a.id.clone());
            }
        }
    }
    let coords = net.coordinates_by_node();
    let kinds = net.node_kinds();
    let mut features = Vec::new();
    for (id, kind) in &kinds {
        let Some(&(x, y)) = coords.get(id) else {
            continue;
        };
        let (lon, lat) = georef.to_wgs84(x, y).map_err(water_error)?;
        let r = results.as_ref().map(|r| &r["nodes"][*id]);
        features.push(json!({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {
                "id": id,
                "kind": format!("{kind:?}"),
                "pressure": r.and_then(|v| v.get(0)).cloned(),
                "basePressure": r.and_then(|v| v.get(1)).cloned(),
            }
        }));
    }
    let mut vertices: HashMap<&str, Vec<(f64, f64)>> = HashMap::new();
    for (l, x, y) in &net.vertices {
        vertices.entry(l.as_str()).or_default().push((*x, *y));
    }
    for l in net.links() {
        let (Some(a), Some(b)) = (coords.get(l.node1), coords.get(l.node2)) else {
            continue;
        };
        let mut line = Vec::new();
        for &(x, y) in std::iter::once(a)
            .chain(vertices.get(l.id).map(Vec::as_slice).unwrap_or(&[]))
            .chain(std::iter::once(b))
        {
            let (lon, lat) = georef.to_wgs84(x, y).map_err(water_error)?;
            line.push(json!([lon, lat]));
        }
        let r = results.as_ref().map(|r| &r["links"][l.id]);
        features.push(json!({
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": line},
            "properties": {
                "id": l.id,
                "kind": ngsi::link_entity_type(l.kind),
                "flow": r.and_then(|v| v.get(0)).cloned(),
                "baseFlow": r.and_then(|v| v.get(1)).cloned(),
                "alert": alerted.get(l.id),
            }
        }));
    }
    Ok(json!({"type": "FeatureCollection", "features": features}))
}

/// The method name of the residual detector's events (part of their alert ids).
pub const RESIDUAL_METHOD: &str = "pressure-residual-cusum";
/// Sampling step of the SCADA tables built from the history (s): BattLeDIM's 5 minutes.
const GRID_STEP_S: i64 = 300;
/// Training period when the request gives none: the week before the searched period.
const DEFAULT_TRAINING_DAYS: i64 = 7;
/// Longest training period (days).
const MAX_TRAINING_DAYS: i64 = 60;
/// Longest searched period (days).
const MAX_PERIOD_DAYS: i64 = 92;
/// Entities per history read when looking for the readings of a network's elements.
const HISTORY_BATCH: usize = 200;
/// A finding whose first candidate pipe and start (within this many hours) match a stored
/// alert of the same network and method is that alert again, not a new leak.
const SAME_EVENT_HOURS: i64 = 24;

/// Key (last part of the alert id) of a leak event: network, method, start and first
/// candidate, so that the same finding stored twice is one alert.
pub fn alert_key(
    network: Option<&str>,
    method: &str,
    t: DateTime<Utc>,
    pipe: Option<&String>,
) -> String {
    format!(
        "{}-{}-{}-{}",
        clean_key(network.unwrap_or("none")),
        clean_key(method),
        t.format("%Y%m%dT%H%M"),
        clean_key(pipe.map(String::as_str).unwrap_or("dma"))
    )
}

fn clean_key(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A request to look for leaks in the history of a network's sensors.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DetectionRequest {
    /// Start of the searched period.
    pub from: DateTime<Utc>,
    /// End of the searched period (excluded).
    pub to: DateTime<Utc>,
    /// Start of the leak-free training period, which ends at `from` (a whole number of
    /// days before it; the week before `from` by default).
    pub training_from: Option<DateTime<Utc>>,
}

/// What a detection run read, found and stored.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DetectionReport {
    /// The network.
    pub network: String,
    /// The searched period `[from, to)`.
    pub from: DateTime<Utc>,
    /// End of the searched period (excluded).
    pub to: DateTime<Utc>,
    /// Start of the training period (which ends at `from`).
    pub training_from: DateTime<Utc>,
    /// The sensors used, by kind (`pressures`, `flows`, `levels`): entity and attribute.
    pub sensors: serde_json::Map<String, Value>,
    /// The leak alerts found, as `GET /leak-events` lists them, each with `new`: false
    /// when an earlier run had already stored it.
    pub events: Vec<Value>,
    /// How many of the events are new.
    pub created: usize,
    /// What the data lacked: sensors without readings, gaps carried forward, dead sensors.
    pub warnings: Vec<String>,
}

/// The kind of reading a sensor gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Pressure,
    Flow,
    Level,
}

impl Reading {
    fn table(self) -> &'static str {
        match self {
            Self::Pressure => "pressures",
            Self::Flow => "flows",
            Self::Level => "levels",
        }
    }
}

/// Readings of one sensor, oldest first.
type Series = Vec<(DateTime<Utc>, f64)>;

/// A sensor of the network found in the twin: what it reads, the network element it
/// measures (the column id of its SCADA table) and where its readings are.
#[derive(Debug, Clone)]
struct NetworkSensor {
    reading: Reading,
    column: String,
    sensor: SensorRef,
}

/// The element of `network_id` an entity id names, if it is `urn:ngsi-ld:<T>:<net>:<id>`
/// with `T` one of `types`.
fn element_of<'a>(network_id: &str, entity: &'a str, types: &[&str]) -> Option<&'a str> {
    let rest = entity.strip_prefix("urn:ngsi-ld:")?;
    let (ty, rest) = rest.split_once(':')?;
    let local = rest.strip_prefix(network_id)?.strip_prefix(':')?;
    (types.contains(&ty) && !local.is_empty()).then_some(local)
}

/// Reads the history of one attribute of many entities over a range: the numeric
/// readings of each entity that has some, by entity id.
async fn histories(
    twin: &Twin,
    tenant: &str,
    ids: &[String],
    attribute: &str,
    range: TimeRange,
) -> Result<HashMap<String, Series>, NgsiError> {
    let q = TemporalQuery {
        time_range: Some(range),
        ..TemporalQuery::default()
    };
    let attrs = [attribute.to_string()];
    let mut out: HashMap<String, Series> = HashMap::new();
    for chunk in ids.chunks(HISTORY_BATCH) {
        for h in twin.store.history(tenant, chunk, Some(&attrs), &q).await? {
            let series = out.entry(h.id.clone()).or_default();
            for i in h.attrs.iter().flat_map(|a| &a.instances) {
                let AttributeValue::Property(v) = &i.attribute.value else {
                    continue;
                };
                let t = i.attribute.observed_at.unwrap_or(i.created_at);
                if let Some(x) = v.as_f64() {
                    series.push((t, x));
                }
            }
        }
    }
    out.retain(|_, v| !v.is_empty());
    Ok(out)
}

/// The sensors of a network and their readings over a range. Two sources, the same
/// sensor counted once:
/// - the sensors of the network's DMAs (`inlets` are flows, `pressures`, `levels`), the
///   definitions that the night-flow endpoints already read; a pressure sensor must be a
///   node of the network (`urn:ngsi-ld:Junction:<net>:<id>`...) to be placed;
/// - the network's own elements that carry readings, as the twin's devices feed them:
///   `pressure` of its junctions, `flow` of its pipes, pumps and valves, `level` of its
///   tanks (Smart Data Models EPANET terms).
async fn network_sensors(
    twin: &Twin,
    tenant: &str,
    network_id: &str,
    net: &Network,
    range: TimeRange,
    warnings: &mut Vec<String>,
) -> Result<Vec<(NetworkSensor, Series)>, NgsiError> {
    let node_types = ["Junction", "Tank", "Reservoir"];
    let link_types = ["Pipe", "Pump", "Valve"];
    let mut found: Vec<(NetworkSensor, Series)> = Vec::new();
    let mut seen: std::collections::HashSet<(String, String)> = Default::default();
    let mut dmas = list_dmas(twin, tenant).await?;
    dmas.retain(|(_, d)| d.network.as_deref() == Some(network_id));
    dmas.sort_by(|a, b| a.0.cmp(&b.0));
    for (dma, d) in &dmas {
        for (reading, list) in [
            (Reading::Pressure, &d.pressures),
            (Reading::Flow, &d.inlets),
            (Reading::Level, &d.levels),
        ] {
            for s in list {
                if !seen.insert((s.entity.clone(), s.attribute.clone())) {
                    continue;
                }
                let types: &[&str] = if reading == Reading::Flow {
                    &link_types
                } else {
                    &node_types
                };
                let column = match element_of(network_id, &s.entity, types) {
                    Some(local) => local.to_string(),
                    None if reading == Reading::Pressure => {
                        warnings.push(format!(
                            "DMA '{dma}': pressure sensor {} is not a node of network '{network_id}' (urn:ngsi-ld:Junction:{network_id}:<id>), so it cannot be placed; detection goes on without it",
                            s.entity
                        ));
                        continue;
                    }
                    None => s.entity.clone(),
                };
                let series = readings(twin, tenant, s, Some(range), None).await?;
                found.push((
                    NetworkSensor {
                        reading,
                        column,
                        sensor: s.clone(),
                    },
                    series,
                ));
            }
        }
    }
    let mut elements: Vec<(Reading, &str, String)> = Vec::new();
    elements.extend(
        net.junctions
            .iter()
            .map(|j| (Reading::Pressure, "Junction", j.id.clone())),
    );
    elements.extend(net.links().map(|l| {
        (
            Reading::Flow,
            ngsi::link_entity_type(l.kind),
            l.id.to_string(),
        )
    }));
    elements.extend(
        net.tanks
            .iter()
            .map(|t| (Reading::Level, "Tank", t.id.clone())),
    );
    for (reading, attr) in [
        (Reading::Pressure, "pressure"),
        (Reading::Flow, "flow"),
        (Reading::Level, "level"),
    ] {
        let attribute = sdm(attr);
        let ids: Vec<(String, String)> = elements
            .iter()
            .filter(|(r, _, _)| *r == reading)
            .map(|(_, ty, local)| (entity_id(ty, network_id, local), local.clone()))
            .filter(|(id, _)| !seen.contains(&(id.clone(), attribute.clone())))
            .collect();
        let only: Vec<String> = ids.iter().map(|(id, _)| id.clone()).collect();
        let mut hist = histories(twin, tenant, &only, &attribute, range).await?;
        for (id, local) in ids {
            let Some(series) = hist.remove(&id) else {
                continue;
            };
            seen.insert((id.clone(), attribute.clone()));
            found.push((
                NetworkSensor {
                    reading,
                    column: local,
                    sensor: SensorRef {
                        entity: id,
                        attribute: attribute.clone(),
                        sign: None,
                    },
                },
                series,
            ));
        }
    }
    Ok(found)
}

/// The stored alert of this network and method that a finding repeats, if any: the same
/// first candidate pipe and a start within [`SAME_EVENT_HOURS`].
fn known_alert<'a>(known: &'a [Value], network_id: &str, event: &LeakEvent) -> Option<&'a Value> {
    let pipe = entity_id("Pipe", network_id, event.candidate_pipes.first()?);
    known.iter().find(|a| {
        a["method"] == event.method
            && a["candidatePipes"][0] == pipe.as_str()
            && a["validFrom"]
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .is_some_and(|t| {
                    (t.with_timezone(&Utc) - event.start).num_hours().abs() <= SAME_EVENT_HOURS
                })
    })
}

/// Looks for leaks in the history of a network's sensors with the detector of
/// `jumeau water detect` (pressure residuals against inflows and tank levels, CUSUM,
/// localisation by network distance), and stores each finding as a leak alert of the
/// network. The readings are put on a 5-minute grid from `training_from` to `to`, gaps
/// carried forward and dead sensors left out, each with a warning. Running it again over
/// the same period stores nothing new: a finding that repeats a stored alert (same
/// method, first candidate pipe and start within a day) is reported with `new: false`.
pub async fn detect_leaks(
    twin: &Twin,
    tenant: &str,
    network_id: &str,
    req: &DetectionRequest,
) -> Result<DetectionReport, NgsiError> {
    let (from, to) = (req.from, req.to);
    if to <= from {
        return Err(NgsiError::bad_data(format!(
            "'to' ({to}) must be after 'from' ({from})"
        )));
    }
    if to - from > chrono::Duration::days(MAX_PERIOD_DAYS) {
        return Err(NgsiError::bad_data(format!(
            "the period from {from} to {to} is longer than {MAX_PERIOD_DAYS} days; search it in parts"
        )));
    }
    if (to - from).num_seconds() < 2 * 3600 {
        return Err(NgsiError::bad_data(format!(
            "the period from {from} to {to} is shorter than 2 hours; the detector compares hourly means"
        )));
    }
    let training_from = req
        .training_from
        .unwrap_or(from - chrono::Duration::days(DEFAULT_TRAINING_DAYS));
    let training = from - training_from;
    let training_days = training.num_days();
    if training <= chrono::Duration::zero()
        || training != chrono::Duration::days(training_days)
        || training_days > MAX_TRAINING_DAYS
    {
        return Err(NgsiError::bad_data(format!(
            "'trainingFrom' ({training_from}) must be 1 to {MAX_TRAINING_DAYS} whole days before 'from' ({from}): the training period is the leak-free reference that ends where the search begins"
        )));
    }
    let (net, _) = load_network(twin, tenant, network_id).await?;
    let mut warnings = Vec::new();
    let range = TimeRange::Between(training_from, to);
    let found = network_sensors(twin, tenant, network_id, &net, range, &mut warnings).await?;
    if found.iter().all(|(_, r)| r.is_empty()) {
        return Err(NgsiError::bad_data(format!(
            "network '{network_id}' has no sensor history from {training_from} to {to}: no reading of the pressure of its junctions, the flow of its links or the level of its tanks, nor of the sensors of its DMAs; feed them (ingestion, POST /ngsi-ld/v1/temporal/entities/{{id}}/attrs) or choose a period with readings"
        )));
    }
    let mut sensors = serde_json::Map::new();
    let mut tables = Vec::new();
    for reading in [Reading::Pressure, Reading::Flow, Reading::Level] {
        let of_kind: Vec<&(NetworkSensor, Series)> =
            found.iter().filter(|(s, _)| s.reading == reading).collect();
        sensors.insert(
            reading.table().into(),
            Value::Array(
                of_kind
                    .iter()
                    .map(|(s, _)| json!({"entity": s.sensor.entity, "attribute": s.sensor.attribute, "element": s.column}))
                    .collect(),
            ),
        );
        let series: Vec<jumeau_water::scada::SensorReadings> = of_kind
            .iter()
            .map(|(s, r)| jumeau_water::scada::SensorReadings {
                id: s.column.clone(),
                source: format!("{} ({})", s.sensor.entity, s.sensor.attribute),
                readings: r.clone(),
            })
            .collect();
        let (mut table, w) = jumeau_water::scada::grid_table(
            reading.table(),
            &series,
            training_from,
            to,
            chrono::Duration::seconds(GRID_STEP_S),
        )
        .map_err(water_error)?;
        warnings.extend(w);
        let training_rows = (training.num_seconds() / GRID_STEP_S) as usize;
        jumeau_water::scada::drop_untrained(
            &mut table,
            training_rows,
            reading.table(),
            &mut warnings,
        );
        jumeau_water::scada::drop_dead(&mut table, reading.table(), &mut warnings);
        jumeau_water::scada::fill_gaps(&mut table);
        tables.push(table);
    }
    let levels = tables.pop().unwrap_or_default();
    let flows = tables.pop().unwrap_or_default();
    let pressures = tables.pop().unwrap_or_default();
    let data = jumeau_water::benchmark::Scenario {
        pressures,
        flows,
        levels,
        ..Default::default()
    };
    if data.pressures.ids.is_empty() {
        return Err(NgsiError::bad_data(format!(
            "network '{network_id}' has no live pressure sensor with readings over the training period {training_from} to {from} and the search to {to}: the detector needs the pressure of at least one junction; see the warnings: {}",
            warnings.join("; ")
        )));
    }
    let days = u32::try_from(training_days).unwrap_or(1);
    let detect_net = net.clone();
    let (events, _) = tokio::task::spawn_blocking(move || {
        jumeau_water::benchmark::detect(&detect_net, &data, days)
    })
    .await
    .map_err(|e| NgsiError::internal(format!("the detection stopped: {e}")))?
    .map_err(water_error)?;
    // The alerts of this network and detector (whoever stored them: this endpoint or a
    // detector posting to /leak-events with the same method).
    let prefix = format!(
        "urn:ngsi-ld:Alert:water-leak:{}-{}-",
        clean_key(network_id),
        clean_key(RESIDUAL_METHOD)
    );
    let mut known: Vec<Value> = leak_alerts(twin, tenant)
        .await?
        .iter()
        .filter(|e| e.id.starts_with(&prefix))
        .map(alert_json)
        .collect();
    let network_uri = entity_id("WaterNetwork", network_id, "network");
    let mut out = Vec::new();
    let mut created = 0;
    for event in events.iter().filter(|e| e.start >= from && e.start < to) {
        if let Some(a) = known_alert(&known, network_id, event) {
            let mut a = a.clone();
            a["new"] = json!(false);
            out.push(a);
            continue;
        }
        let key = alert_key(
            Some(network_id),
            &event.method,
            event.start,
            event.candidate_pipes.first(),
        );
        let mut a = store_leak_event(
            twin,
            tenant,
            Some(network_id),
            Some(&network_uri),
            &key,
            event,
        )
        .await?;
        known.push(a.clone());
        a["new"] = json!(true);
        created += 1;
        out.push(a);
    }
    Ok(DetectionReport {
        network: network_id.to_string(),
        from,
        to,
        training_from,
        sensors,
        events: out,
        created,
        warnings,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn sensors_are_placed_on_the_elements_their_ids_name() {
        let nodes = ["Junction", "Tank"];
        assert_eq!(
            element_of("net1", "urn:ngsi-ld:Junction:net1:22", &nodes),
            Some("22")
        );
        // Another network, another kind of element, a bare network id: not placed.
        assert_eq!(
            element_of("net1", "urn:ngsi-ld:Junction:net10:22", &nodes),
            None
        );
        assert_eq!(element_of("net1", "urn:ngsi-ld:Pipe:net1:22", &nodes), None);
        assert_eq!(
            element_of("net1", "urn:ngsi-ld:Junction:net1:", &nodes),
            None
        );
        assert_eq!(element_of("net1", "urn:ngsi-ld:Logger:7", &nodes), None);
    }

    #[test]
    fn a_finding_repeats_an_alert_of_the_same_pipe_within_a_day() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let event = LeakEvent {
            start: t("2025-03-04T13:00:00Z"),
            detected_at: t("2025-03-04T15:00:00Z"),
            candidate_pipes: vec!["21".into(), "22".into()],
            uncertainty_m: Some(100.0),
            estimated_flow_m3h: 40.0,
            method: RESIDUAL_METHOD.into(),
        };
        let stored = |pipe: &str, from: &str| json!({"method": RESIDUAL_METHOD, "candidatePipes": [entity_id("Pipe", "net1", pipe)], "validFrom": from});
        let known = [
            stored("22", "2025-03-04T12:00:00Z"),
            stored("21", "2025-03-03T14:00:00Z"),
        ];
        assert_eq!(known_alert(&known, "net1", &event), Some(&known[1]));
        let far = [stored("21", "2025-03-02T12:00:00Z")];
        assert_eq!(known_alert(&far, "net1", &event), None);
        assert_eq!(
            alert_key(
                Some("net 1"),
                RESIDUAL_METHOD,
                event.start,
                event.candidate_pipes.first()
            ),
            "net_1-pressure-residual-cusum-20250304T1300-21"
        );
    }
}
