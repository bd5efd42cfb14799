//! A network as NGSI-LD entities of the Smart Data Models "WaterDistributionManagementEPANET"
//! subject (`WaterNetwork`, `Junction`, `Reservoir`, `Tank`, `Pipe`, `Pump`, `Valve`,
//! `Pattern`, `Curve`), with names expanded by the bundled context
//! (`jumeau-model/contexts/dataModel.WaterDistributionManagementEPANET.context.jsonld`), so
//! that the store keeps them as any client posting that context would.

use std::collections::HashMap;

use jumeau_model::entity::RelObject;
use jumeau_model::geo::Geometry;
use jumeau_model::{Attribute, AttributeValue, Entity};
use serde_json::{json, Value};

use crate::error::{Result, WaterError};
use crate::georef::Georeference;
use crate::inp::{LinkKind, Network, NodeKind};

/// Namespace of the Smart Data Models EPANET terms.
pub const SDM_EPANET: &str =
    "https://smartdatamodels.org/dataModel.WaterDistributionManagementEPANET/";
/// The NGSI-LD `location` GeoProperty.
pub const LOCATION: &str = "https://uri.etsi.org/ngsi-ld/location";
/// The Smart Data Models `name` property.
pub const NAME: &str = "https://smartdatamodels.org/name";
/// The Dublin Core `description` property the context maps `description` to.
pub const DESCRIPTION: &str = "http://purl.org/dc/terms/description";

/// The expanded IRI of a Smart Data Models EPANET term (`Pipe`, `diameter`...).
pub fn sdm(term: &str) -> String {
    format!("{SDM_EPANET}{term}")
}

/// The entity id of an element: `urn:ngsi-ld:<Type>:<network>:<EPANET id>`.
pub fn entity_id(entity_type: &str, network_id: &str, element_id: &str) -> String {
    format!("urn:ngsi-ld:{entity_type}:{network_id}:{element_id}")
}

/// UN/CEFACT common code of a flow unit (`MQH` for m³/h...), if there is one.
fn flow_unit_code(units: &str) -> Option<&'static str> {
    Some(match units {
        "LPS" => "G51",
        "LPM" => "L2",
        "CMH" => "MQH",
        "CMD" => "G52",
        "CMS" => "MQS",
        "GPM" => "G2",
        _ => return None,
    })
}

struct Builder<'a> {
    network_id: &'a str,
    georef: &'a Georeference,
    coords: HashMap<&'a str, (f64, f64)>,
    kinds: HashMap<&'a str, NodeKind>,
    length_code: &'static str,
    diameter_code: &'static str,
    flow_code: Option<&'static str>,
}

fn prop(value: Value, unit: Option<&str>) -> Attribute {
    let mut a = Attribute::new(AttributeValue::Property(value));
    a.unit_code = unit.map(String::from);
    a
}

fn rel(target: impl Into<RelObject>) -> Attribute {
    Attribute::new(AttributeValue::Relationship(target.into()))
}

fn set(e: &mut Entity, name: &str, a: Attribute) {
    e.attrs.insert(name.to_string(), vec![a]);
}

impl<'a> Builder<'a> {
    fn node_type(&self, id: &str) -> &'static str {
        match self.kinds.get(id) {
            Some(NodeKind::Reservoir) => "Reservoir",
            Some(NodeKind::Tank) => "Tank",
            _ => "Junction",
        }
    }

    fn node_uri(&self, id: &str) -> String {
        entity_id(self.node_type(id), self.network_id, id)
    }

    fn wgs84(&self, x: f64, y: f64) -> Result<Value> {
        let (lon, lat) = self.georef.to_wgs84(x, y)?;
        Ok(json!([lon, lat]))
    }

    fn new_entity(&self, entity_type: &str, id: &str) -> Entity {
        let mut e = Entity::new(
            entity_id(entity_type, self.network_id, id),
            sdm(entity_type),
        );
        set(&mut e, NAME, prop(json!(id), None));
        e
    }

    fn node(&self, entity_type: &str, id: &str, elevation: f64) -> Result<Entity> {
        let mut e = self.new_entity(entity_type, id);
        set(
            &mut e,
            &sdm("elevation"),
            prop(json!(elevation), Some(self.length_code)),
        );
        if let Some(&(x, y)) = self.coords.get(id) {
            let g = Geometry::from_parts("Point", &self.wgs84(x, y)?)
                .map_err(|e| WaterError::Geo(format!("node '{id}': {}", e.0)))?;
            set(
                &mut e,
                LOCATION,
                Attribute::new(AttributeValue::GeoProperty(g)),
            );
        }
        Ok(e)
    }

    fn link(
        &self,
        entity_type: &str,
        id: &str,
        node1: &str,
        node2: &str,
        vertices: &HashMap<&str, Vec<(f64, f64)>>,
    ) -> Result<Entity> {
        let mut e = self.new_entity(entity_type, id);
        set(&mut e, &sdm("startsAt"), rel(self.node_uri(node1)));
        set(&mut e, &sdm("endsAt"), rel(self.node_uri(node2)));
        if let (Some(&a), Some(&b)) = (self.coords.get(node1), self.coords.get(node2)) {
            let mut line = vec![self.wgs84(a.0, a.1)?];
            for &(x, y) in vertices.get(id).map(Vec::as_slice).unwrap_or(&[]) {
                line.push(self.wgs84(x, y)?);
            }
            line.push(self.wgs84(b.0, b.1)?);
            let g = Geometry::from_parts("LineString", &Value::Array(line))
                .map_err(|e| WaterError::Geo(format!("link '{id}': {}", e.0)))?;
            set(
                &mut e,
                LOCATION,
                Attribute::new(AttributeValue::GeoProperty(g)),
            );
        }
        Ok(e)
    }
}

/// The entities of a network: one `WaterNetwork` (first, composed of every element), then
/// its nodes, links, patterns and curves. Coordinates are placed with `georef`; elements
/// without coordinates get no `location`.
///
/// `network_id` becomes part of every entity id so that several networks can live in one
/// tenant; it must be a URN-safe token (letters, digits, `-`, `_`, `.`).
pub fn to_entities(net: &Network, network_id: &str, georef: &Georeference) -> Result<Vec<Entity>> {
    if network_id.is_empty()
        || !network_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(WaterError::Network(format!(
            "network id '{network_id}' must be non-empty letters, digits, '-', '_' or '.'"
        )));
    }
    georef.validate()?;
    let metric = net.is_metric();
    let units = net.flow_units();
    let b = Builder {
        network_id,
        georef,
        coords: net.coordinates_by_node(),
        kinds: net.node_kinds(),
        length_code: if metric { "MTR" } else { "FOT" },
        diameter_code: if metric { "MMT" } else { "INH" },
        flow_code: flow_unit_code(&units),
    };
    let mut vertices: HashMap<&str, Vec<(f64, f64)>> = HashMap::new();
    for (l, x, y) in &net.vertices {
        vertices.entry(l.as_str()).or_default().push((*x, *y));
    }
    let emitters: HashMap<&str, f64> = net.emitters.iter().map(|(j, c)| (j.as_str(), *c)).collect();
    let mut out = Vec::new();

    for j in &net.junctions {
        let mut e = b.node("Junction", &j.id, j.elevation)?;
        let demands = net.junction_demands(j);
        let base: f64 = demands.iter().map(|d| d.base).sum();
        set(&mut e, &sdm("baseDemand"), prop(json!(base), b.flow_code));
        if let Some(p) = demands.iter().find_map(|d| d.pattern.as_deref()) {
            set(
                &mut e,
                &sdm("demandPattern"),
                rel(entity_id("Pattern", network_id, p)),
            );
        }
        if let Some(c) = emitters.get(j.id.as_str()) {
            set(&mut e, &sdm("emitterCoefficient"), prop(json!(c), None));
        }
        out.push(e);
    }
    for r in &net.reservoirs {
        let mut e = b.node("Reservoir", &r.id, r.head)?;
        e.attrs.remove(&sdm("elevation"));
        set(
            &mut e,
            &sdm("reservoirHead"),
            prop(json!(r.head), Some(b.length_code)),
        );
        if let Some(p) = &r.pattern {
            set(
                &mut e,
                &sdm("headPattern"),
                rel(entity_id("Pattern", network_id, p)),
            );
        }
        out.push(e);
    }
    for t in &net.tanks {
        let mut e = b.node("Tank", &t.id, t.elevation)?;
        for (term, v) in [
            ("initLevel", t.init_level),
            ("minLevel", t.min_level),
            ("maxLevel", t.max_level),
        ] {
            set(&mut e, &sdm(term), prop(json!(v), Some(b.length_code)));
        }
        set(
            &mut e,
            &sdm("nominalDiameter"),
            prop(json!(t.diameter), Some(b.length_code)),
        );
        set(&mut e, &sdm("minVolume"), prop(json!(t.min_volume), None));
        if let Some(c) = t.extra.first().filter(|c| *c != "*") {
            set(
                &mut e,
                &sdm("volumeCurve"),
                rel(entity_id("Curve", network_id, c)),
            );
        }
        out.push(e);
    }
    for p in &net.pipes {
        let mut e = b.link("Pipe", &p.id, &p.node1, &p.node2, &vertices)?;
        set(
            &mut e,
            &sdm("length"),
            prop(json!(p.length), Some(b.length_code)),
        );
        set(
            &mut e,
            &sdm("diameter"),
            prop(json!(p.diameter), Some(b.diameter_code)),
        );
        set(&mut e, &sdm("roughness"), prop(json!(p.roughness), None));
        set(&mut e, &sdm("minorLoss"), prop(json!(p.minor_loss), None));
        set(
            &mut e,
            &sdm("initialStatus"),
            prop(json!(p.status.keyword().to_ascii_uppercase()), None),
        );
        out.push(e);
    }
    for p in &net.pumps {
        let mut e = b.link("Pump", &p.id, &p.node1, &p.node2, &vertices)?;
        if let Some(c) = p.property("HEAD") {
            set(
                &mut e,
                &sdm("headCurve"),
                rel(entity_id("Curve", network_id, c)),
            );
        }
        if let Some(v) = p.property("POWER").and_then(|v| v.parse::<f64>().ok()) {
            set(&mut e, &sdm("power"), prop(json!(v), Some("KWT")));
        }
        if let Some(v) = p.property("SPEED").and_then(|v| v.parse::<f64>().ok()) {
            set(&mut e, &sdm("speed"), prop(json!(v), None));
        }
        if let Some(pat) = p.property("PATTERN") {
            set(
                &mut e,
                &sdm("pumpPattern"),
                rel(entity_id("Pattern", network_id, pat)),
            );
        }
        out.push(e);
    }
    for v in &net.valves {
        let mut e = b.link("Valve", &v.id, &v.node1, &v.node2, &vertices)?;
        set(
            &mut e,
            &sdm("diameter"),
            prop(json!(v.diameter), Some(b.diameter_code)),
        );
        set(&mut e, &sdm("valveType"), prop(json!(v.kind), None));
        let setting = match v.setting.parse::<f64>() {
            Ok(x) => json!(x),
            Err(_) => json!(v.setting),
        };
        set(&mut e, &sdm("setting"), prop(setting, None));
        set(&mut e, &sdm("minorLoss"), prop(json!(v.minor_loss), None));
        out.push(e);
    }
    for p in &net.patterns {
        let mut e = b.new_entity("Pattern", &p.id);
        set(
            &mut e,
            &sdm("multipliers"),
            prop(json!(p.multipliers), None),
        );
        if let Some(step) = net.time_seconds(&["Pattern", "Timestep"]) {
            set(&mut e, &sdm("timeStep"), prop(json!(step), Some("SEC")));
        }
        out.push(e);
    }
    for c in &net.curves {
        let mut e = b.new_entity("Curve", &c.id);
        let xs: Vec<f64> = c.points.iter().map(|p| p.0).collect();
        let ys: Vec<f64> = c.points.iter().map(|p| p.1).collect();
        set(&mut e, &sdm("xData"), prop(json!(xs), None));
        set(&mut e, &sdm("yData"), prop(json!(ys), None));
        out.push(e);
    }

    let mut network = Entity::new(
        entity_id("WaterNetwork", network_id, "network"),
        sdm("WaterNetwork"),
    );
    set(&mut network, NAME, prop(json!(network_id), None));
    if !net.title.is_empty() {
        set(
            &mut network,
            DESCRIPTION,
            prop(json!(net.title.join("\n")), None),
        );
    }
    set(&mut network, &sdm("flowUnits"), prop(json!(units), None));
    if let Some(h) = net.option(&["Headloss"]).and_then(|v| v.first()) {
        set(
            &mut network,
            &sdm("headlossFormula"),
            prop(json!(h.to_ascii_uppercase()), None),
        );
    }
    let parts: Vec<String> = out.iter().map(|e| e.id.clone()).collect();
    if !parts.is_empty() {
        set(&mut network, &sdm("isComposedOf"), rel(parts));
    }
    out.insert(0, network);
    Ok(out)
}

/// The kind of entity a link becomes.
pub fn link_entity_type(kind: LinkKind) -> &'static str {
    match kind {
        LinkKind::Pipe => "Pipe",
        LinkKind::Pump => "Pump",
        LinkKind::Valve => "Valve",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::inp;

    #[test]
    fn net1_entities() {
        let net = inp::parse(&crate::test_support::reference("Net1.inp")).unwrap();
        // Net1 is drawn in feet-like units around (0..80); scale it up around Lyon.
        let g = Georeference {
            origin_x: 842_000.0,
            origin_y: 6_519_000.0,
            local_origin: (0.0, 0.0),
            scale: 10.0,
            rotation_deg: 0.0,
        };
        let es = to_entities(&net, "net1", &g).unwrap();
        assert_eq!(es[0].types, vec![sdm("WaterNetwork")]);
        let composed = es[0].attr(&sdm("isComposedOf")).unwrap();
        let AttributeValue::Relationship(r) = &composed.value else {
            panic!("not a relationship")
        };
        assert_eq!(r.uris().len(), es.len() - 1);
        let pipe = es
            .iter()
            .find(|e| e.id == "urn:ngsi-ld:Pipe:net1:10")
            .unwrap();
        assert_eq!(
            pipe.attr(&sdm("endsAt")).unwrap().value,
            AttributeValue::Relationship("urn:ngsi-ld:Junction:net1:11".into())
        );
        let pump = es
            .iter()
            .find(|e| e.id == "urn:ngsi-ld:Pump:net1:9")
            .unwrap();
        assert_eq!(
            pump.attr(&sdm("startsAt")).unwrap().value,
            AttributeValue::Relationship("urn:ngsi-ld:Reservoir:net1:9".into())
        );
        let length = pipe.attr(&sdm("length")).unwrap();
        assert_eq!(length.unit_code.as_deref(), Some("FOT"));
        let loc = pipe.geometries(LOCATION).next().unwrap();
        assert_eq!(loc.geometry_type(), "LineString");
        let junction = es
            .iter()
            .find(|e| e.id == "urn:ngsi-ld:Junction:net1:10")
            .unwrap();
        let pt = junction.geometries(LOCATION).next().unwrap().as_json();
        let lon = pt["coordinates"][0].as_f64().unwrap();
        let lat = pt["coordinates"][1].as_f64().unwrap();
        assert!(
            (4.0..5.5).contains(&lon) && (45.0..46.5).contains(&lat),
            "{pt}"
        );
        assert!(es.iter().any(|e| e.types == vec![sdm("Tank")]));
        assert!(es.iter().any(|e| e.types == vec![sdm("Pump")]));
        assert!(to_entities(&net, "bad id", &g).is_err());
    }

    /// Every type and attribute name is a term of the bundled Smart Data Models context,
    /// so a client using that context sees short names (`Pipe`, `diameter`).
    #[test]
    fn names_compact_with_the_smart_data_models_context() {
        let net = inp::parse(&crate::test_support::reference("Net3.inp")).unwrap();
        let g = Georeference {
            origin_x: 650_000.0,
            origin_y: 6_860_000.0,
            local_origin: (0.0, 0.0),
            scale: 0.3048,
            rotation_deg: 10.0,
        };
        let es = to_entities(&net, "net3", &g).unwrap();
        let url = "https://raw.githubusercontent.com/smart-data-models/dataModel.WaterDistributionManagementEPANET/master/context.jsonld";
        let ctx = jumeau_model::context::Context::build(&json!(url), &|_| None).unwrap();
        for e in &es {
            for name in e.types.iter().chain(e.attrs.keys()) {
                let short = ctx.compact(name);
                assert!(
                    !short.contains(':') && !short.contains('/'),
                    "{name} compacts to {short}"
                );
            }
        }
        assert_eq!(ctx.compact(&sdm("Pipe")), "Pipe");
    }
}
