//! The entities the water service keeps beside the network elements of [`crate::ngsi`]:
//! the network model (the `.inp` file and its georeferencing), what-if runs, district
//! metered areas, leak alerts for the water team and yearly indicator reports.
//!
//! Terms that no Smart Data Models context defines are in the NGSI-LD default vocabulary,
//! so that any client using the core context sees them by their short names
//! (`WaterSimulation`, `minPressure`...). Leak alerts are Smart Data Models `Alert`s.
//! Simulation results are entities of their own: they never overwrite an observed value.

use chrono::{DateTime, Utc};
use jumeau_model::entity::RelObject;
use jumeau_model::geo::Geometry;
use jumeau_model::{Attribute, AttributeValue, Entity};
use serde_json::{json, Value};

use crate::error::{Result, WaterError};
use crate::georef::Georeference;
use crate::inp::{self, Network, PipeStatus};
use crate::leaks::LeakEvent;
use crate::ngsi::{entity_id, sdm, DESCRIPTION, LOCATION, NAME};

/// The NGSI-LD default vocabulary, where terms without a context of their own expand.
pub const DEFAULT_VOCAB: &str = "https://uri.etsi.org/ngsi-ld/default-context/";
/// Namespace of the Smart Data Models `Alert` terms.
pub const SDM_ALERT: &str = "https://smartdatamodels.org/dataModel.Alert/";

/// The expanded IRI of a term of the default vocabulary.
pub fn term(name: &str) -> String {
    format!("{DEFAULT_VOCAB}{name}")
}

/// The expanded IRI of a Smart Data Models `Alert` term.
pub fn alert_term(name: &str) -> String {
    format!("{SDM_ALERT}{name}")
}

fn prop(value: Value) -> Attribute {
    Attribute::new(AttributeValue::Property(value))
}

fn prop_unit(value: Value, unit: &str) -> Attribute {
    let mut a = prop(value);
    a.unit_code = Some(unit.to_string());
    a
}

fn datetime(t: DateTime<Utc>) -> Attribute {
    prop(json!({"@type": "DateTime", "@value": jumeau_model::time::format_datetime(&t)}))
}

fn set(e: &mut Entity, name: String, a: Attribute) {
    e.attrs.insert(name, vec![a]);
}

/// The property value of an attribute, if it is a Property.
pub fn property<'a>(e: &'a Entity, name: &str) -> Option<&'a Value> {
    match &e.attr(name)?.value {
        AttributeValue::Property(v) | AttributeValue::JsonProperty(v) => Some(v),
        _ => None,
    }
}

/// Id of the model entity of a network.
pub fn model_id(network_id: &str) -> String {
    entity_id("WaterNetworkModel", network_id, "model")
}

/// The model entity of a network: its `.inp` text (as [`inp::write`] writes it) and its
/// georeferencing, so that it can be simulated and exported again.
pub fn model_entity(net: &Network, network_id: &str, georef: &Georeference) -> Result<Entity> {
    georef.validate()?;
    let mut e = Entity::new(model_id(network_id), term("WaterNetworkModel"));
    set(&mut e, NAME.to_string(), prop(json!(network_id)));
    set(&mut e, term("inp"), prop(json!(inp::write(net))));
    let g = serde_json::to_value(georef).map_err(|e| WaterError::Geo(e.to_string()))?;
    set(
        &mut e,
        term("georeference"),
        Attribute::new(AttributeValue::JsonProperty(g)),
    );
    set(
        &mut e,
        term("refWaterNetwork"),
        Attribute::new(AttributeValue::Relationship(RelObject::One(entity_id(
            "WaterNetwork",
            network_id,
            "network",
        )))),
    );
    Ok(e)
}

/// The network and georeferencing kept in a model entity.
pub fn model_from_entity(e: &Entity) -> Result<(Network, Georeference)> {
    let text = property(e, &term("inp"))
        .and_then(Value::as_str)
        .ok_or_else(|| WaterError::Network(format!("{} holds no .inp model", e.id)))?;
    let georef = property(e, &term("georeference"))
        .cloned()
        .ok_or_else(|| WaterError::Geo(format!("{} holds no georeference", e.id)))
        .and_then(|v| serde_json::from_value(v).map_err(|e| WaterError::Geo(e.to_string())))?;
    Ok((inp::parse(text)?, georef))
}

fn number(e: &Entity, name: &str) -> Option<f64> {
    property(e, &sdm(name)).and_then(Value::as_f64)
}

/// Applies the edits made in the twin to the element entities of a network (pipe length,
/// diameter, roughness, minor loss and status; junction elevation) to its model, so that
/// an export or a simulation sees the network as the twin holds it now. Returns how many
/// elements changed.
pub fn apply_entity_edits(net: &mut Network, network_id: &str, entities: &[Entity]) -> usize {
    let by_id: std::collections::HashMap<&str, &Entity> =
        entities.iter().map(|e| (e.id.as_str(), e)).collect();
    let mut changed = 0;
    for p in net.pipes.iter_mut() {
        let Some(e) = by_id.get(entity_id("Pipe", network_id, &p.id).as_str()) else {
            continue;
        };
        let before = p.clone();
        if let Some(v) = number(e, "length").filter(|v| *v > 0.0) {
            p.length = v;
        }
        if let Some(v) = number(e, "diameter").filter(|v| *v > 0.0) {
            p.diameter = v;
        }
        if let Some(v) = number(e, "roughness").filter(|v| *v > 0.0) {
            p.roughness = v;
        }
        if let Some(v) = number(e, "minorLoss").filter(|v| *v >= 0.0) {
            p.minor_loss = v;
        }
        match property(e, &sdm("initialStatus")).and_then(Value::as_str) {
            Some(s) if s.eq_ignore_ascii_case("closed") => p.status = PipeStatus::Closed,
            Some(s) if s.eq_ignore_ascii_case("open") && p.status == PipeStatus::Closed => {
                p.status = PipeStatus::Open
            }
            _ => {}
        }
        if *p != before {
            changed += 1;
        }
    }
    for j in net.junctions.iter_mut() {
        let Some(e) = by_id.get(entity_id("Junction", network_id, &j.id).as_str()) else {
            continue;
        };
        if let Some(v) = number(e, "elevation").filter(|v| (*v - j.elevation).abs() > 1e-12) {
            j.elevation = v;
            changed += 1;
        }
    }
    changed
}

/// A what-if run as an entity (`WaterSimulation`): what was changed, when it ran, and the
/// per-element results as a JSON property — model outputs, apart from any observation.
pub fn simulation_entity(
    network_id: &str,
    run_id: &str,
    changes: &Value,
    ran_at: DateTime<Utc>,
    summary: Value,
    results: Value,
) -> Entity {
    let mut e = Entity::new(
        entity_id("WaterSimulation", network_id, run_id),
        term("WaterSimulation"),
    );
    set(
        &mut e,
        term("refWaterNetwork"),
        Attribute::new(AttributeValue::Relationship(RelObject::One(entity_id(
            "WaterNetwork",
            network_id,
            "network",
        )))),
    );
    set(
        &mut e,
        term("changes"),
        Attribute::new(AttributeValue::JsonProperty(changes.clone())),
    );
    set(&mut e, term("ranAt"), datetime(ran_at));
    set(
        &mut e,
        term("summary"),
        Attribute::new(AttributeValue::JsonProperty(summary)),
    );
    set(
        &mut e,
        term("results"),
        Attribute::new(AttributeValue::JsonProperty(results)),
    );
    e
}

/// Where a leak alert comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSource<'a> {
    /// The network the candidate pipes belong to.
    pub network_id: Option<&'a str>,
    /// The entity that raised it (a DMA, the network, an acoustic logger pair).
    pub source: &'a str,
    /// Where to show it: the first candidate pipe's line, or the DMA.
    pub location: Option<Geometry>,
}

/// A leak event as a Smart Data Models `Alert` for the water team: category `water`,
/// subCategory `leak`, issued at detection, valid from the estimated start, with the
/// ranked candidate pipes (entity ids), the distance uncertainty (m), the estimated flow
/// (m³/h) and the method. `key` makes the id (the same finding twice is one alert).
pub fn leak_alert(event: &LeakEvent, key: &str, src: &AlertSource<'_>) -> Entity {
    let mut e = Entity::new(
        format!("urn:ngsi-ld:Alert:water-leak:{key}"),
        alert_term("Alert"),
    );
    set(&mut e, alert_term("category"), prop(json!("water")));
    set(&mut e, alert_term("subCategory"), prop(json!("leak")));
    let severity = if event.estimated_flow_m3h >= 5.0 {
        "high"
    } else {
        "medium"
    };
    set(&mut e, alert_term("severity"), prop(json!(severity)));
    set(
        &mut e,
        alert_term("dateIssued"),
        datetime(event.detected_at),
    );
    set(
        &mut e,
        "https://smartdatamodels.org/validFrom".to_string(),
        datetime(event.start),
    );
    let place = match (event.candidate_pipes.first(), event.uncertainty_m) {
        (Some(p), Some(u)) => format!(" près de la conduite {p} (± {u:.0} m)"),
        (Some(p), None) => format!(" près de la conduite {p}"),
        _ => String::new(),
    };
    set(
        &mut e,
        DESCRIPTION.to_string(),
        prop(json!(format!(
            "Fuite probable{place} : environ {:.1} m³/h depuis le {} (méthode {}).",
            event.estimated_flow_m3h,
            event.start.format("%d/%m/%Y %H:%M UTC"),
            event.method
        ))),
    );
    set(
        &mut e,
        alert_term("alertSource"),
        Attribute::new(AttributeValue::Relationship(RelObject::One(
            src.source.to_string(),
        ))),
    );
    if let Some(net) = src.network_id {
        let pipes: Vec<String> = event
            .candidate_pipes
            .iter()
            .map(|p| entity_id("Pipe", net, p))
            .collect();
        if !pipes.is_empty() {
            set(
                &mut e,
                term("candidatePipes"),
                Attribute::new(AttributeValue::ListRelationship(pipes)),
            );
        }
    }
    if let Some(u) = event.uncertainty_m {
        set(
            &mut e,
            term("locationUncertainty"),
            prop_unit(json!(u), "MTR"),
        );
    }
    set(
        &mut e,
        term("estimatedFlow"),
        prop_unit(json!(event.estimated_flow_m3h), "MQH"),
    );
    set(&mut e, term("detectionMethod"), prop(json!(event.method)));
    if let Some(g) = &src.location {
        set(
            &mut e,
            LOCATION.to_string(),
            Attribute::new(AttributeValue::GeoProperty(g.clone())),
        );
    }
    e
}

/// The WGS84 line of a pipe of a network, for placing an alert.
pub fn pipe_geometry(net: &Network, georef: &Georeference, pipe: &str) -> Option<Geometry> {
    let link = net.links().find(|l| l.id == pipe)?;
    let coords = net.coordinates_by_node();
    let a = coords.get(link.node1)?;
    let b = coords.get(link.node2)?;
    let mut line = vec![georef.to_wgs84(a.0, a.1).ok()?];
    for (_, x, y) in net.vertices.iter().filter(|(l, _, _)| l == pipe) {
        line.push(georef.to_wgs84(*x, *y).ok()?);
    }
    line.push(georef.to_wgs84(b.0, b.1).ok()?);
    let value = Value::Array(line.iter().map(|(x, y)| json!([x, y])).collect());
    Geometry::from_parts("LineString", &value).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::ngsi::to_entities;

    #[test]
    fn model_round_trip_and_edits() {
        let net = inp::parse(&crate::test_support::reference("Net1.inp")).unwrap();
        let g = Georeference {
            scale: 10.0,
            ..Georeference::offset(842_000.0, 6_519_000.0)
        };
        let m = model_entity(&net, "net1", &g).unwrap();
        let (back, g2) = model_from_entity(&m).unwrap();
        assert_eq!(g2, g);
        assert_eq!(back.pipes, net.pipes);
        let mut es = to_entities(&net, "net1", &g).unwrap();
        let pipe = es
            .iter_mut()
            .find(|e| e.id == "urn:ngsi-ld:Pipe:net1:10")
            .unwrap();
        pipe.attrs.insert(sdm("diameter"), vec![prop(json!(20.0))]);
        pipe.attrs
            .insert(sdm("initialStatus"), vec![prop(json!("CLOSED"))]);
        let mut edited = back.clone();
        assert_eq!(apply_entity_edits(&mut edited, "net1", &es), 1);
        let p = edited.pipes.iter().find(|p| p.id == "10").unwrap();
        assert_eq!((p.diameter, p.status), (20.0, PipeStatus::Closed));
    }

    #[test]
    fn alert_names_pipes_uncertainty_and_flow() {
        let net = inp::parse(&crate::test_support::reference("Net1.inp")).unwrap();
        let g = Georeference::offset(842_000.0, 6_519_000.0);
        let t = DateTime::parse_from_rfc3339("2024-03-01T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ev = LeakEvent {
            start: t,
            detected_at: t,
            candidate_pipes: vec!["10".into(), "11".into()],
            uncertainty_m: Some(120.0),
            estimated_flow_m3h: 6.5,
            method: "pressure-residual-cusum".into(),
        };
        let a = leak_alert(
            &ev,
            "net1-2024-03-01",
            &AlertSource {
                network_id: Some("net1"),
                source: "urn:ngsi-ld:WaterNetwork:net1:network",
                location: pipe_geometry(&net, &g, "10"),
            },
        );
        assert_eq!(a.types, vec![alert_term("Alert")]);
        assert_eq!(
            a.attr(&term("candidatePipes")).unwrap().value,
            AttributeValue::ListRelationship(vec![
                "urn:ngsi-ld:Pipe:net1:10".into(),
                "urn:ngsi-ld:Pipe:net1:11".into()
            ])
        );
        assert_eq!(property(&a, &alert_term("severity")), Some(&json!("high")));
        assert!(a.attr(LOCATION).is_some());
        let d = property(&a, DESCRIPTION).unwrap().as_str().unwrap();
        assert!(d.contains("conduite 10") && d.contains("120 m"), "{d}");
    }
}
