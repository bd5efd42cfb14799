//! Conversions between the lighting types and NGSI-LD entities.
//!
//! Types and attributes are named with the Smart Data Models Streetlighting vocabulary
//! (`Streetlight`, `StreetlightControlCabinet`, `StreetlightGroup`, `lampTechnology`,
//! `powerRating`, `luminousFlux`, `colorTemperature`, `lanternHeight`, `dateServiceStarted`,
//! `locationCategory`, `circuit`, `circuitId`, `refStreetlightControlCabinet`,
//! `refStreetlightGroup`, `refStreetlight`), expanded with the bundled context
//! `https://raw.githubusercontent.com/smart-data-models/dataModel.Streetlighting/master/context.jsonld`
//! as the store keeps every name expanded. The values art. 5 of the arrêté asks for and the
//! model lacks (`upwardLightRatio`, `upwardLightRatioInstalled`, `codeFlux`, `dimmable`,
//! `presenceSensor`, `circuits`) are expanded with the same context, so they fall under the
//! NGSI-LD default vocabulary like any term a client sends without defining it.
//!
//! Units are UN/CEFACT common codes: `WTT` (watt), `LUM` (lumen), `KEL` (kelvin), `MTR`
//! (metre), `P1` (percent).
use std::sync::OnceLock;

use chrono::NaiveDate;
use jumeau_geo::Geometry;
use jumeau_model::context::Context;
use jumeau_model::entity::RelObject;
use jumeau_model::{Attribute, AttributeValue, Entity};
use serde_json::{json, Value};

use crate::inventory::{Cabinet, Group, LightingCategory, Luminaire, Streetlight, Technology};

/// The Smart Data Models Streetlighting context URL (bundled by `jumeau-model`).
pub const STREETLIGHTING_CONTEXT: &str =
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Streetlighting/master/context.jsonld";

/// Why an entity could not be read as a lighting object.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NgsiError {
    /// The entity has another type.
    #[error("entity {id} is not a {expected}; its types are {found:?}")]
    WrongType {
        /// The entity id.
        id: String,
        /// The type expected (compact).
        expected: &'static str,
        /// The types found (expanded).
        found: Vec<String>,
    },
    /// A required attribute is missing or has the wrong kind of value.
    #[error("entity {id}: {attribute} {problem}")]
    Attribute {
        /// The entity id.
        id: String,
        /// The attribute (compact).
        attribute: &'static str,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

/// The active context: core plus Streetlighting, built once.
fn context() -> &'static Context {
    static CTX: OnceLock<Context> = OnceLock::new();
    CTX.get_or_init(|| {
        Context::build(&json!(STREETLIGHTING_CONTEXT), &|_| None)
            .unwrap_or_else(|_| (*Context::core()).clone())
    })
}

/// The expanded IRI of a term of the Streetlighting context.
pub fn iri(term: &str) -> String {
    context().expand(term)
}

/// The term of an expanded IRI in the Streetlighting context (the reverse of [`iri`]).
pub fn term(iri: &str) -> String {
    context().compact(iri)
}

/// A Property with an optional unit.
fn prop(value: Value, unit: Option<&str>) -> Attribute {
    let mut a = Attribute::new(AttributeValue::Property(value));
    a.unit_code = unit.map(str::to_string);
    a
}

/// Builds an entity, attribute by attribute.
struct Builder(Entity);

impl Builder {
    fn new(id: &str, ty: &str) -> Self {
        Self(Entity::new(id, iri(ty)))
    }
    fn set(&mut self, term: &str, a: Attribute) {
        self.0.attrs.insert(iri(term), vec![a]);
    }
    fn num(&mut self, term: &str, v: Option<f64>, unit: &str) {
        if let Some(v) = v {
            self.set(term, prop(json!(v), Some(unit)));
        }
    }
    fn text(&mut self, term: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.set(term, prop(json!(v), None));
        }
    }
    fn rel(&mut self, term: &str, target: RelObject) {
        self.set(term, Attribute::new(AttributeValue::Relationship(target)));
    }
    fn point(&mut self, lon: f64, lat: f64) {
        if let Ok(g) = Geometry::point(lon, lat) {
            self.set("location", Attribute::new(AttributeValue::GeoProperty(g)));
        }
    }
}

/// Reads attributes of an entity.
struct Reader<'a> {
    e: &'a Entity,
}

impl<'a> Reader<'a> {
    fn check_type(e: &'a Entity, ty: &'static str) -> Result<Self, NgsiError> {
        if e.has_type(&iri(ty)) {
            Ok(Self { e })
        } else {
            Err(NgsiError::WrongType {
                id: e.id.clone(),
                expected: ty,
                found: e.types.clone(),
            })
        }
    }
    fn value(&self, term: &str) -> Option<&'a AttributeValue> {
        self.e.attr(&iri(term)).map(|a| &a.value)
    }
    fn property(&self, term: &str) -> Option<&'a Value> {
        match self.value(term)? {
            AttributeValue::Property(v) => Some(v),
            _ => None,
        }
    }
    fn num(&self, term: &str) -> Option<f64> {
        self.property(term).and_then(Value::as_f64)
    }
    fn text(&self, term: &str) -> Option<String> {
        self.property(term)
            .and_then(Value::as_str)
            .map(str::to_string)
    }
    fn flag(&self, term: &str) -> bool {
        self.property(term)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
    fn date(&self, term: &str) -> Option<NaiveDate> {
        let v = self.property(term)?;
        let s = v.get("@value").unwrap_or(v).as_str()?;
        crate::text::parse_date(s)
    }
    fn rels(&self, term: &str) -> Vec<String> {
        match self.value(term) {
            Some(AttributeValue::Relationship(r)) => r.uris().to_vec(),
            Some(AttributeValue::ListRelationship(us)) => us.clone(),
            _ => Vec::new(),
        }
    }
    fn rel(&self, term: &str) -> Option<String> {
        self.rels(term).into_iter().next()
    }
    fn strings(&self, term: &str) -> Vec<String> {
        self.property(term)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
    fn point(&self) -> Result<(f64, f64), NgsiError> {
        let problem = |p: &str| NgsiError::Attribute {
            id: self.e.id.clone(),
            attribute: "location",
            problem: p.to_string(),
        };
        let g = self
            .e
            .geometries(&iri("location"))
            .next()
            .ok_or_else(|| problem("is missing; give a GeoProperty Point in WGS84"))?;
        let c = g.as_json().get("coordinates");
        match (
            g.geometry_type(),
            c.and_then(|c| c.get(0)?.as_f64()),
            c.and_then(|c| c.get(1)?.as_f64()),
        ) {
            ("Point", Some(lon), Some(lat)) => Ok((lon, lat)),
            (t, _, _) => Err(problem(&format!(
                "is a {t}; a point lumineux or an armoire is located by a Point"
            ))),
        }
    }
}

impl Streetlight {
    /// The point lumineux as an NGSI-LD `Streetlight` entity (expanded names).
    pub fn to_entity(&self) -> Entity {
        let l = &self.luminaire;
        let mut b = Builder::new(&self.id, "Streetlight");
        b.point(self.lon, self.lat);
        b.text("lampTechnology", Some(l.technology.sdm_name()));
        b.num("powerRating", Some(l.power_w), "WTT");
        b.num("luminousFlux", l.flux_lm, "LUM");
        b.num("colorTemperature", l.colour_temperature_k, "KEL");
        b.num("upwardLightRatio", l.ulr_rated_pct, "P1");
        b.num("upwardLightRatioInstalled", l.ulr_installed_pct, "P1");
        b.num("codeFlux", l.code_flux_pct, "P1");
        b.num("lanternHeight", self.mast_height_m, "MTR");
        b.set("dimmable", prop(json!(l.dimmable), None));
        b.set("presenceSensor", prop(json!(l.presence_sensor), None));
        let category = match self.category {
            LightingCategory::Road => "road",
            LightingCategory::CarPark => "parking",
        };
        b.text("locationCategory", Some(category));
        if let Some(d) = self.installed_on {
            b.set(
                "dateServiceStarted",
                prop(
                    json!({"@type": "Date", "@value": d.format("%Y-%m-%d").to_string()}),
                    None,
                ),
            );
        }
        b.text("circuit", self.circuit.as_deref());
        if let Some(c) = &self.cabinet {
            b.rel("refStreetlightControlCabinet", c.as_str().into());
        }
        if let Some(g) = &self.group {
            b.rel("refStreetlightGroup", g.as_str().into());
        }
        b.0
    }

    /// Reads a `Streetlight` entity; `location` (a Point) and `powerRating` are required,
    /// an unknown `lampTechnology` reads as [`Technology::Other`].
    pub fn from_entity(e: &Entity) -> Result<Self, NgsiError> {
        let r = Reader::check_type(e, "Streetlight")?;
        let (lon, lat) = r.point()?;
        let power_w = r.num("powerRating").ok_or_else(|| NgsiError::Attribute {
            id: e.id.clone(),
            attribute: "powerRating",
            problem: "is missing or not a number; give the rated power in watts".into(),
        })?;
        let technology = r
            .text("lampTechnology")
            .and_then(|t| Technology::parse(&t))
            .unwrap_or(Technology::Other);
        Ok(Self {
            id: e.id.clone(),
            lon,
            lat,
            luminaire: Luminaire {
                technology,
                power_w,
                flux_lm: r.num("luminousFlux"),
                colour_temperature_k: r.num("colorTemperature"),
                ulr_rated_pct: r.num("upwardLightRatio"),
                ulr_installed_pct: r.num("upwardLightRatioInstalled"),
                code_flux_pct: r.num("codeFlux"),
                dimmable: r.flag("dimmable"),
                presence_sensor: r.flag("presenceSensor"),
            },
            category: r
                .text("locationCategory")
                .and_then(|c| LightingCategory::parse(&c))
                .unwrap_or_default(),
            installed_on: r.date("dateServiceStarted"),
            mast_height_m: r.num("lanternHeight"),
            cabinet: r.rel("refStreetlightControlCabinet"),
            circuit: r.text("circuit"),
            group: r.rel("refStreetlightGroup"),
        })
    }
}

impl Cabinet {
    /// The armoire as an NGSI-LD `StreetlightControlCabinet` entity.
    pub fn to_entity(&self) -> Entity {
        let mut b = Builder::new(&self.id, "StreetlightControlCabinet");
        b.point(self.lon, self.lat);
        if !self.circuits.is_empty() {
            b.set("circuits", prop(json!(self.circuits), None));
        }
        if !self.groups.is_empty() {
            b.rel("refStreetlightGroup", RelObject::Many(self.groups.clone()));
        }
        b.0
    }

    /// Reads a `StreetlightControlCabinet` entity; `location` (a Point) is required.
    pub fn from_entity(e: &Entity) -> Result<Self, NgsiError> {
        let r = Reader::check_type(e, "StreetlightControlCabinet")?;
        let (lon, lat) = r.point()?;
        Ok(Self {
            id: e.id.clone(),
            lon,
            lat,
            circuits: r.strings("circuits"),
            groups: r.rels("refStreetlightGroup"),
        })
    }
}

impl Group {
    /// The group as an NGSI-LD `StreetlightGroup` entity.
    pub fn to_entity(&self) -> Entity {
        let mut b = Builder::new(&self.id, "StreetlightGroup");
        b.text("circuitId", self.circuit.as_deref());
        if let Some(c) = &self.cabinet {
            b.rel("refStreetlightControlCabinet", c.as_str().into());
        }
        if !self.streetlights.is_empty() {
            b.rel("refStreetlight", RelObject::Many(self.streetlights.clone()));
        }
        b.0
    }

    /// Reads a `StreetlightGroup` entity.
    pub fn from_entity(e: &Entity) -> Result<Self, NgsiError> {
        let r = Reader::check_type(e, "StreetlightGroup")?;
        Ok(Self {
            id: e.id.clone(),
            cabinet: r.rel("refStreetlightControlCabinet"),
            circuit: r.text("circuitId"),
            streetlights: r.rels("refStreetlight"),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn streetlights_round_trip_with_sdm_names() {
        let s = Streetlight {
            id: "urn:ngsi-ld:Streetlight:exemple:1".into(),
            lon: 4.85,
            lat: 45.76,
            luminaire: Luminaire {
                flux_lm: Some(4_000.0),
                colour_temperature_k: Some(2700.0),
                ulr_rated_pct: Some(0.0),
                ulr_installed_pct: Some(0.5),
                code_flux_pct: Some(98.0),
                presence_sensor: true,
                ..Luminaire::new(Technology::Led, 35.0)
            },
            category: LightingCategory::CarPark,
            installed_on: NaiveDate::from_ymd_opt(2021, 3, 14),
            mast_height_m: Some(8.0),
            cabinet: Some("urn:ngsi-ld:StreetlightControlCabinet:A1".into()),
            circuit: Some("C2".into()),
            group: Some("urn:ngsi-ld:StreetlightGroup:G1".into()),
        };
        let e = s.to_entity();
        assert_eq!(
            e.types,
            vec!["https://smartdatamodels.org/dataModel.Streetlighting/Streetlight"]
        );
        let power = e
            .attr("https://smartdatamodels.org/dataModel.Streetlighting/powerRating")
            .unwrap();
        assert_eq!(power.unit_code.as_deref(), Some("WTT"));
        assert!(e.attr("https://uri.etsi.org/ngsi-ld/location").is_some());
        assert!(e
            .attr("https://smartdatamodels.org/dataModel.Streetlighting/colorTemperature")
            .is_some());
        assert_eq!(Streetlight::from_entity(&e).unwrap(), s);

        let c = Cabinet {
            id: "urn:ngsi-ld:StreetlightControlCabinet:A1".into(),
            lon: 4.85,
            lat: 45.76,
            circuits: vec!["C1".into(), "C2".into()],
            groups: vec!["urn:ngsi-ld:StreetlightGroup:G1".into()],
        };
        assert_eq!(Cabinet::from_entity(&c.to_entity()).unwrap(), c);
        let g = Group {
            id: "urn:ngsi-ld:StreetlightGroup:G1".into(),
            cabinet: Some(c.id.clone()),
            circuit: Some("C2".into()),
            streetlights: vec![s.id.clone()],
        };
        assert_eq!(Group::from_entity(&g.to_entity()).unwrap(), g);

        // A wrong type or a missing power are explained.
        let err = Streetlight::from_entity(&c.to_entity()).unwrap_err();
        assert!(err.to_string().contains("is not a Streetlight"), "{err}");
        let mut e2 = e.clone();
        e2.attrs.remove(&iri("powerRating"));
        assert!(Streetlight::from_entity(&e2)
            .unwrap_err()
            .to_string()
            .contains("powerRating"));
    }
}
