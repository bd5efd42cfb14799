//! `jumeau demo`: a sample territory placed on real ground, built deterministically.
//!
//! The territory sits on the commune of Crest (Drôme, INSEE 26108): points lumineux along
//! a street grid, grouped on armoires, public buildings with energy meters, a river gauge
//! on the Drôme and a weather station. It is public (open data), so a browser or curl can
//! read it without a key.

use clap::ValueEnum;
use jumeau_twin::{dump, Twin};
use serde_json::{json, Value};

/// The tenant holding the demo territory.
pub const DEMO_TENANT: &str = "demo";
/// Centre of the territory (Crest town hall, WGS84).
const CENTRE: (f64, f64) = (5.0224, 44.7286);
/// Metres per degree of latitude (mean).
const M_PER_DEG_LAT: f64 = 111_132.0;

/// How big a territory to build.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Size {
    /// A village: about 150 points lumineux.
    Small,
    /// A small town: about 1,200 points lumineux.
    Medium,
    /// A group of communes: about 12,000 points lumineux.
    Large,
}

impl Size {
    /// Streets per side of the grid.
    fn grid(self) -> usize {
        match self {
            Self::Small => 4,
            Self::Medium => 10,
            Self::Large => 32,
        }
    }
}

/// A small deterministic generator (SplitMix64), so every build is the same.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A float in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// Offsets the centre by metres east and north.
fn at(east_m: f64, north_m: f64) -> [f64; 2] {
    let lat = CENTRE.1 + north_m / M_PER_DEG_LAT;
    let lon = CENTRE.0 + east_m / (M_PER_DEG_LAT * CENTRE.1.to_radians().cos());
    [(lon * 1e6).round() / 1e6, (lat * 1e6).round() / 1e6]
}

fn point(p: [f64; 2]) -> Value {
    json!({"type": "GeoProperty", "value": {"type": "Point", "coordinates": p}})
}

fn prop(v: Value) -> Value {
    json!({"type": "Property", "value": v})
}

fn prop_unit(v: Value, unit: &str) -> Value {
    json!({"type": "Property", "value": v, "unitCode": unit})
}

fn rel(id: &str) -> Value {
    json!({"type": "Relationship", "object": id})
}

const STREETLIGHTING: &str =
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Streetlighting/master/context.jsonld";
const BUILDING: &str =
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Building/master/context.jsonld";
const ENVIRONMENT: &str =
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld";

/// The entities of the territory, as NGSI-LD normalized JSON with their @context.
pub fn territory(size: Size) -> Vec<Value> {
    let mut rng = Seeded(26108);
    let mut out = Vec::new();
    let n = size.grid();
    let spacing = 180.0;
    let half = (n as f64 - 1.0) * spacing / 2.0;
    let lamp_step = 30.0;
    let per_cabinet = 40;
    let mut lamp_no = 0usize;
    let technologies = [
        ("LED", 3000, 40),
        ("LED", 2700, 30),
        ("HPS", 2000, 100),
        ("MH", 4000, 70),
        ("LED", 3000, 55),
    ];
    let mut lamps = Vec::new();
    for street in 0..n {
        for horizontal in [true, false] {
            let fixed = street as f64 * spacing - half;
            let mut s = -half;
            while s <= half {
                let (e, no) = if horizontal {
                    (s, fixed)
                } else {
                    (fixed + 8.0, s)
                };
                lamps.push(at(e, no));
                s += lamp_step;
            }
        }
    }
    let cabinets = lamps.len().div_ceil(per_cabinet);
    for c in 0..cabinets {
        let first = lamps[c * per_cabinet];
        out.push(json!({
            "id": format!("urn:ngsi-ld:StreetlightControlCabinet:crest:A{:02}", c + 1),
            "type": "StreetlightControlCabinet",
            "name": prop(json!(format!("Armoire A{:02}", c + 1))),
            "location": point(first),
            "cupboardMadeOf": prop(json!("plastic")),
            "brandName": prop(json!("Jumeau demo")),
            "@context": [STREETLIGHTING],
        }));
    }
    for (i, p) in lamps.iter().enumerate() {
        lamp_no += 1;
        let (tech, cct, watts) = *rng.pick(&technologies);
        let failed = rng.unit() < 0.02;
        out.push(json!({
            "id": format!("urn:ngsi-ld:Streetlight:crest:PL{lamp_no:05}"),
            "type": "Streetlight",
            "location": point(*p),
            "status": prop(json!(if failed { "defectiveLamp" } else { "ok" })),
            "powerState": prop(json!("off")),
            "lanternHeight": prop_unit(json!(if watts > 60 { 8 } else { 6 }), "MTR"),
            "lampTechnology": prop(json!(tech)),
            "colorTemperature": prop_unit(json!(cct), "KEL"),
            "powerRating": prop_unit(json!(watts), "WTT"),
            "refStreetlightControlCabinet": rel(&format!(
                "urn:ngsi-ld:StreetlightControlCabinet:crest:A{:02}", i / per_cabinet + 1
            )),
            "@context": [STREETLIGHTING],
        }));
    }
    let buildings = [
        ("mairie", "Hôtel de ville", "townHall", 0.0, 0.0),
        (
            "ecole-jules-ferry",
            "École Jules-Ferry",
            "school",
            120.0,
            90.0,
        ),
        ("ecole-du-pont", "École du Pont", "school", -150.0, -60.0),
        ("gymnase", "Gymnase municipal", "sportsHall", 200.0, -140.0),
        ("mediatheque", "Médiathèque", "library", -80.0, 130.0),
        ("creche", "Crèche Les Petits Pas", "nursery", 60.0, -110.0),
    ];
    for (slug, name, category, e, no) in buildings {
        out.push(json!({
            "id": format!("urn:ngsi-ld:Building:crest:{slug}"),
            "type": "Building",
            "name": prop(json!(name)),
            "category": prop(json!([category])),
            "location": point(at(e, no)),
            "address": prop(json!({"addressLocality": "Crest", "postalCode": "26400", "addressCountry": "FR"})),
            "@context": [BUILDING],
        }));
    }
    out.push(json!({
        "id": "urn:ngsi-ld:FloodMonitoring:crest:drome-pont",
        "type": "FloodMonitoring",
        "name": prop(json!("Drôme au pont de Crest")),
        "location": point(at(30.0, -420.0)),
        "currentLevel": prop_unit(json!(0.82), "MTR"),
        "alertLevel": prop_unit(json!(2.5), "MTR"),
        "dangerLevel": prop_unit(json!(3.4), "MTR"),
        "@context": [ENVIRONMENT],
    }));
    out.push(json!({
        "id": "urn:ngsi-ld:WeatherObserved:crest:station",
        "type": "WeatherObserved",
        "name": prop(json!("Station météo des services techniques")),
        "location": point(at(-260.0, 210.0)),
        "temperature": prop_unit(json!(9.5), "CEL"),
        "relativeHumidity": prop_unit(json!(0.71), "P1"),
        "@context": [ENVIRONMENT],
    }));
    out
}

/// Builds the demo territory once (later runs reuse it) and prints how to look at it.
pub async fn build(twin: &Twin, size: Size) -> anyhow::Result<()> {
    if twin.store.tenant(DEMO_TENANT).await?.is_none() {
        let entities = territory(size);
        let report = dump::load_entities(twin, DEMO_TENANT, &entities, None).await?;
        if let Some(r) = report.rejected.first() {
            anyhow::bail!(
                "the demo territory has an invalid entity {:?}: {}",
                r.id,
                r.reason
            );
        }
        twin.store.set_tenant_public(DEMO_TENANT, true).await?;
        eprintln!(
            "built the demo territory: {} entities (tenant '{DEMO_TENANT}', open data)",
            report.created
        );
    } else {
        eprintln!("reusing the demo territory already in this data directory");
    }
    Ok(())
}

/// What to try first once the demo serves on `listen`: the web interface, and a query a
/// reader can copy (the broken lamps).
pub fn first_steps(listen: &str) -> String {
    format!(
        "open http://{listen}/ in a browser (carte, liste, accueil des élus), or\ntry (the broken lamps, in plain key-values):\n  curl -G -H 'NGSILD-Tenant: {DEMO_TENANT}' \\\n    -H 'Link: <{STREETLIGHTING}>; rel=\"http://www.w3.org/ns/json-ld#context\"' \\\n    --data-urlencode 'type=Streetlight' --data-urlencode 'q=status==\"defectiveLamp\"' \\\n    --data-urlencode 'options=keyValues' http://{listen}/ngsi-ld/v1/entities"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn territory_is_deterministic_and_sized() {
        let a = territory(Size::Small);
        assert_eq!(a, territory(Size::Small));
        let lamps = a.iter().filter(|e| e["type"] == "Streetlight").count();
        assert!((100..=300).contains(&lamps), "{lamps} lamps");
        let medium = territory(Size::Medium)
            .iter()
            .filter(|e| e["type"] == "Streetlight")
            .count();
        assert!((900..=1600).contains(&medium), "{medium} lamps");
    }
}
