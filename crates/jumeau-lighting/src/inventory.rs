//! The lighting inventory: points lumineux, their luminaires, armoires and groups.
//!
//! The fields are the ones the operator must keep per luminaire under art. 5 of the arrêté of
//! 27 December 2018 (ULR, code flux, colour temperature, power, flux, installation date),
//! plus what scheduling and energy need (armoire, circuit, group, dimming and presence
//! detection). Unknown values stay `None` rather than being guessed: the compliance report
//! lists what is missing.
use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::text::normalize_name;

/// The light source of a luminaire, as far as rules and energy models care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Technology {
    /// High-pressure sodium (sodium haute pression, SHP, NaHP, SON): orange light, the most
    /// common discharge lamp of French streets.
    HighPressureSodium,
    /// Mercury vapour (ballon fluorescent, vapeur de mercure, HPL): sale banned in the EU
    /// since April 2015 (Regulation (EC) No 245/2009), to replace.
    Mercury,
    /// Metal halide (iodures / halogénures métalliques, CMH, IM).
    MetalHalide,
    /// Light-emitting diodes (LED, DEL): dims about linearly with power.
    Led,
    /// A globe luminaire ("boule") sending much of its flux upward, lamp type unknown.
    Globe,
    /// Anything else (low-pressure sodium, fluorescent tubes, unknown).
    Other,
}

impl Technology {
    /// Reads the technology as communes write it (`SHP`, `Sodium haute pression`, `Ballon
    /// fluo`, `Iodures métalliques`, `LED`, `boule`...), ignoring case and accents. `None`
    /// when the text names no known technology.
    pub fn parse(text: &str) -> Option<Self> {
        let t = normalize_name(text);
        let tokens: Vec<&str> = t.split('_').collect();
        // Short codes must be whole words (`im` is in many words); long ones may be parts.
        let word = |ws: &[&str]| ws.iter().any(|w| tokens.contains(w));
        let part = |ws: &[&str]| ws.iter().any(|w| t.contains(w));
        if t.is_empty() {
            None
        } else if part(&["boule", "globe", "sphere"]) {
            Some(Self::Globe)
        } else if word(&["led", "del", "leds"]) {
            Some(Self::Led)
        } else if part(&["mercure", "ballon", "mercury"]) || word(&["hpl", "mbf", "hg", "bf"]) {
            Some(Self::Mercury)
        } else if part(&["basse_pression", "low_pressure"]) || word(&["sbp", "lps", "sox"]) {
            Some(Self::Other)
        } else if part(&["iodure", "halogenure", "metal_halide"])
            || word(&["cmh", "hpi", "im", "mh", "hit", "hqi"])
        {
            Some(Self::MetalHalide)
        } else if part(&["sodium_haute", "high_pressure_sodium", "sodium"])
            || word(&["shp", "sap", "nahp", "son", "hps", "sht"])
        {
            Some(Self::HighPressureSodium)
        } else if part(&["fluo", "autre", "other"]) {
            Some(Self::Other)
        } else {
            None
        }
    }

    /// Whether the source is a discharge lamp (sodium, mercury, metal halide), whose power
    /// does not fall in proportion to its light when dimmed (see [`crate::energy`]).
    pub fn is_discharge(self) -> bool {
        matches!(
            self,
            Self::HighPressureSodium | Self::Mercury | Self::MetalHalide
        )
    }

    /// The French label, for reports.
    pub fn label_fr(self) -> &'static str {
        match self {
            Self::HighPressureSodium => "sodium haute pression",
            Self::Mercury => "vapeur de mercure",
            Self::MetalHalide => "iodures métalliques",
            Self::Led => "LED",
            Self::Globe => "boule",
            Self::Other => "autre",
        }
    }

    /// The value written in the Smart Data Models `lampTechnology` property.
    pub fn sdm_name(self) -> &'static str {
        match self {
            Self::HighPressureSodium => "HPS",
            Self::Mercury => "mercury",
            Self::MetalHalide => "MH",
            Self::Led => "LED",
            Self::Globe => "globe",
            Self::Other => "other",
        }
    }
}

/// What a luminaire lights, as the arrêté's categories (art. 1) that this crate checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LightingCategory {
    /// Category a): roads and public spaces (voirie, espaces publics). The default.
    #[default]
    Road,
    /// Category e): car parks (parcs de stationnement).
    CarPark,
}

impl LightingCategory {
    /// The French label.
    pub fn label_fr(self) -> &'static str {
        match self {
            Self::Road => "voirie",
            Self::CarPark => "parking",
        }
    }

    /// Reads `voirie`, `route`, `rue`, `espace public` or `parking`, `stationnement`.
    pub fn parse(text: &str) -> Option<Self> {
        let t = normalize_name(text);
        if t.contains("parking") || t.contains("stationnement") || t == "e" {
            Some(Self::CarPark)
        } else if ["voirie", "route", "rue", "espace", "voie", "chemin", "a"]
            .iter()
            .any(|w| t.contains(w))
        {
            Some(Self::Road)
        } else {
            None
        }
    }
}

/// The luminaire of a point lumineux, with the values art. 5 of the arrêté asks the operator
/// to keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Luminaire {
    /// The light source.
    pub technology: Technology,
    /// Rated power in watts (lamp and its gear).
    pub power_w: f64,
    /// Luminous flux in lumens, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flux_lm: Option<f64>,
    /// Correlated colour temperature in kelvins, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colour_temperature_k: Option<f64>,
    /// Upward light ratio of the luminaire as rated by its maker, in % (ULR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ulr_rated_pct: Option<f64>,
    /// Upward light ratio as installed on site (tilt included), in %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ulr_installed_pct: Option<f64>,
    /// CIE flux code n°3: share of the downward flux within a 75.5° half-angle cone, in %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_flux_pct: Option<f64>,
    /// Whether the luminaire can be dimmed by its controller.
    #[serde(default)]
    pub dimmable: bool,
    /// Whether the luminaire has a presence detector (for the presence boost).
    #[serde(default)]
    pub presence_sensor: bool,
}

impl Luminaire {
    /// A luminaire of the given technology and power, with nothing else known.
    pub fn new(technology: Technology, power_w: f64) -> Self {
        Self {
            technology,
            power_w,
            flux_lm: None,
            colour_temperature_k: None,
            ulr_rated_pct: None,
            ulr_installed_pct: None,
            code_flux_pct: None,
            dimmable: technology == Technology::Led,
            presence_sensor: false,
        }
    }
}

/// A point lumineux (Smart Data Models `Streetlight`): a located luminaire on its mast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Streetlight {
    /// The entity id (`urn:ngsi-ld:Streetlight:<commune>:<n>`).
    pub id: String,
    /// Longitude in WGS84 degrees.
    pub lon: f64,
    /// Latitude in WGS84 degrees.
    pub lat: f64,
    /// The luminaire.
    pub luminaire: Luminaire,
    /// What it lights (art. 1 category).
    #[serde(default)]
    pub category: LightingCategory,
    /// Installation date of the luminaire (date de pose), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_on: Option<NaiveDate>,
    /// Height of the light point above the ground, in metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mast_height_m: Option<f64>,
    /// The id of the armoire feeding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cabinet: Option<String>,
    /// The circuit (départ) of the armoire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit: Option<String>,
    /// The id of its group, when it belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// An armoire (Smart Data Models `StreetlightControlCabinet`): the cabinet that feeds and
/// switches circuits of points lumineux, and where a meter measures their consumption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cabinet {
    /// The entity id.
    pub id: String,
    /// Longitude in WGS84 degrees (the sun times of its lamps are computed here).
    pub lon: f64,
    /// Latitude in WGS84 degrees.
    pub lat: f64,
    /// The circuits (départs) it feeds, by name.
    #[serde(default)]
    pub circuits: Vec<String>,
    /// The groups it controls.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// A group of points lumineux (Smart Data Models `StreetlightGroup`) that share a program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The entity id.
    pub id: String,
    /// The armoire controlling it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cabinet: Option<String>,
    /// The circuit it corresponds to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit: Option<String>,
    /// The points lumineux in the group.
    #[serde(default)]
    pub streetlights: Vec<String>,
}

/// A commune's lighting inventory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// The points lumineux.
    pub streetlights: Vec<Streetlight>,
    /// The armoires.
    pub cabinets: Vec<Cabinet>,
    /// The groups.
    pub groups: Vec<Group>,
}

impl Inventory {
    /// Adds the armoires and groups that points lumineux refer to but the inventory lacks:
    /// an armoire is placed at the mean position of its points lumineux (until its real
    /// position is known) with the circuits they name; a group gets its members. Existing
    /// armoires and groups gain the circuits and members they were missing.
    pub fn complete_references(&mut self) {
        let mut by_cabinet: BTreeMap<String, Vec<&Streetlight>> = BTreeMap::new();
        let mut by_group: BTreeMap<String, Vec<&Streetlight>> = BTreeMap::new();
        for s in &self.streetlights {
            if let Some(c) = &s.cabinet {
                by_cabinet.entry(c.clone()).or_default().push(s);
            }
            if let Some(g) = &s.group {
                by_group.entry(g.clone()).or_default().push(s);
            }
        }
        for (id, lamps) in by_cabinet {
            let n = lamps.len() as f64;
            let idx = match self.cabinets.iter().position(|c| c.id == id) {
                Some(i) => i,
                None => {
                    self.cabinets.push(Cabinet {
                        id: id.clone(),
                        lon: lamps.iter().map(|s| s.lon).sum::<f64>() / n,
                        lat: lamps.iter().map(|s| s.lat).sum::<f64>() / n,
                        circuits: Vec::new(),
                        groups: Vec::new(),
                    });
                    self.cabinets.len() - 1
                }
            };
            let cabinet = &mut self.cabinets[idx];
            for s in &lamps {
                if let Some(c) = &s.circuit {
                    if !cabinet.circuits.contains(c) {
                        cabinet.circuits.push(c.clone());
                    }
                }
                if let Some(g) = &s.group {
                    if !cabinet.groups.contains(g) {
                        cabinet.groups.push(g.clone());
                    }
                }
            }
        }
        for (id, lamps) in by_group {
            let idx = match self.groups.iter().position(|g| g.id == id) {
                Some(i) => i,
                None => {
                    self.groups.push(Group {
                        id: id.clone(),
                        cabinet: lamps.iter().find_map(|s| s.cabinet.clone()),
                        circuit: lamps.iter().find_map(|s| s.circuit.clone()),
                        streetlights: Vec::new(),
                    });
                    self.groups.len() - 1
                }
            };
            let group = &mut self.groups[idx];
            for s in lamps {
                if !group.streetlights.contains(&s.id) {
                    group.streetlights.push(s.id.clone());
                }
            }
        }
    }

    /// The points lumineux fed by an armoire.
    pub fn streetlights_of_cabinet<'a>(
        &'a self,
        cabinet_id: &'a str,
    ) -> impl Iterator<Item = &'a Streetlight> + 'a {
        self.streetlights
            .iter()
            .filter(move |s| s.cabinet.as_deref() == Some(cabinet_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn technologies_are_read_as_communes_write_them() {
        let cases = [
            ("SHP", Technology::HighPressureSodium),
            ("Sodium Haute Pression", Technology::HighPressureSodium),
            ("Ballon fluo", Technology::Mercury),
            ("Vapeur de mercure", Technology::Mercury),
            ("Iodures métalliques", Technology::MetalHalide),
            ("CMH", Technology::MetalHalide),
            ("LED", Technology::Led),
            ("Boule", Technology::Globe),
        ];
        for (text, tech) in cases {
            assert_eq!(Technology::parse(text), Some(tech), "{text}");
        }
        assert_eq!(Technology::parse("bougie"), None);
        assert_eq!(Technology::parse(""), None);
    }

    #[test]
    fn missing_cabinets_and_groups_are_added() {
        let lamp = |id: &str, lon: f64| Streetlight {
            id: id.into(),
            lon,
            lat: 45.0,
            luminaire: Luminaire::new(Technology::Led, 30.0),
            category: LightingCategory::Road,
            installed_on: None,
            mast_height_m: None,
            cabinet: Some("A1".into()),
            circuit: Some("C1".into()),
            group: Some("G1".into()),
        };
        let mut inv = Inventory {
            streetlights: vec![lamp("s1", 4.0), lamp("s2", 4.002)],
            ..Inventory::default()
        };
        inv.complete_references();
        assert_eq!(inv.cabinets.len(), 1);
        assert!((inv.cabinets[0].lon - 4.001).abs() < 1e-9);
        assert_eq!(inv.cabinets[0].circuits, vec!["C1".to_string()]);
        assert_eq!(inv.groups[0].streetlights, vec!["s1", "s2"]);
        assert_eq!(inv.streetlights_of_cabinet("A1").count(), 2);
    }
}
