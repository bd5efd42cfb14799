//! The entities of the demo territory on Crest (Drôme, INSEE 26108), and the series of
//! readings each sensor produces.
//!
//! Everything is placed on real ground: street grid, lamps, buildings and gauges are laid
//! out in metres around the town hall and converted to WGS84; the L-Town drinking-water
//! network (EPANET, BattLeDIM 2020) is georeferenced in Lambert-93 on the town with
//! `jumeau-water` and split into its three district metered areas.

use std::collections::{HashMap, HashSet, VecDeque};

use jumeau_model::Entity;
use jumeau_water::inp::Network;
use jumeau_water::Georeference;
use serde_json::{json, Value};

use super::model::{self, BuildingPhysics, Scenario, Use, GAUGES};
use super::Size;

/// Crest town hall, (latitude, longitude) WGS84.
pub const CENTRE_LATLON: (f64, f64) = (44.7286, 5.0224);
/// Metres per degree of latitude (mean).
const M_PER_DEG_LAT: f64 = 111_132.0;

/// Smart Data Models Streetlighting context.
pub const STREETLIGHTING: &str =
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Streetlighting/master/context.jsonld";
/// Smart Data Models Building context.
pub const BUILDING: &str =
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Building/master/context.jsonld";
/// Smart Data Models Environment context.
pub const ENVIRONMENT: &str =
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld";
/// Smart Data Models Alert context.
pub const ALERT: &str =
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Alert/master/context.jsonld";
/// Smart Data Models EPANET context (the water network's names).
pub const WATER: &str = "https://raw.githubusercontent.com/smart-data-models/dataModel.WaterDistributionManagementEPANET/master/context.jsonld";
/// The NGSI-LD core context only (roads: no bundled Transportation context, so their
/// terms fall under the default vocabulary).
pub const CORE: &str = "";

/// The L-Town network, compiled in (see `data/SOURCES.txt`).
const LTOWN: &str = include_str!("../../data/L-TOWN.inp");
/// Where the demo's water network sits: the id of the network in entity ids.
pub const NETWORK_ID: &str = "crest";

/// A small deterministic generator (SplitMix64), so every build is the same.
pub struct Seeded(pub u64);

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

/// Offsets the centre by metres east and north (WGS84, 6 decimals).
pub fn at(east_m: f64, north_m: f64) -> [f64; 2] {
    let (lat0, lon0) = CENTRE_LATLON;
    let lat = lat0 + north_m / M_PER_DEG_LAT;
    let lon = lon0 + east_m / (M_PER_DEG_LAT * lat0.to_radians().cos());
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

/// What a series of readings measures.
#[derive(Debug, Clone, Copy)]
pub enum Signal {
    /// A lighting cabinet's meter (kW of its lamps, kW lost to the cable fault, renovated).
    Cabinet(f64, f64, bool),
    /// A building's energy meter.
    BuildingEnergy(BuildingPhysics),
    /// A building's indoor temperature.
    Indoor(BuildingPhysics),
    /// A building's CO2.
    Co2(BuildingPhysics),
    /// Outdoor air temperature.
    Outdoor,
    /// Relative humidity.
    Humidity,
    /// Rain in the hour.
    Rain,
    /// A river gauge (index in [`GAUGES`]).
    River(usize),
    /// Inflow of a district (index 0, 1, 2 for A, B, C; mean m³/h; share of the inflow
    /// through this meter).
    Inflow(usize, f64, f64),
    /// Pressure at a junction (source head, elevation, head loss at mean flow, district,
    /// district mean flow).
    Pressure(f64, f64, f64, usize, f64),
    /// The level of tank T1.
    Tank,
}

impl Signal {
    /// Whether the series is a meter index (the sum of the hourly values).
    pub fn cumulative(&self) -> bool {
        matches!(self, Self::Cabinet(..) | Self::BuildingEnergy(_))
    }

    /// The value at `at` (for a meter: what it counts in the hour starting at `at`).
    pub fn sample(&self, s: &Scenario, at: &model::At, k: u64) -> f64 {
        match *self {
            Self::Cabinet(kw, failed, renovated) => s.cabinet_energy(at, kw, failed, renovated),
            Self::BuildingEnergy(b) => b.energy(s, at),
            Self::Indoor(b) => b.indoor_temperature(s, at),
            Self::Co2(b) => b.co2(at),
            Self::Outdoor => (s.outdoor_temperature(at) * 10.0).round() / 10.0,
            Self::Humidity => (s.humidity(at) * 100.0).round() / 100.0,
            Self::Rain => s.rain(at),
            Self::River(g) => s.river_level(g, at),
            Self::Inflow(dma, mean, share) => {
                (model::dma_inflow(s, dma, mean, at) * share * 100.0).round() / 100.0
            }
            Self::Pressure(head, elevation, loss, dma, mean) => {
                let flow = model::dma_inflow(s, dma, mean, at);
                model::pressure(head, elevation, loss, flow / mean, k, at)
            }
            Self::Tank => model::tank_level(at),
        }
    }
}

/// One series of readings: an attribute of an entity.
#[derive(Debug, Clone)]
pub struct Series {
    /// The entity id.
    pub entity: String,
    /// Its type, a term of `context`.
    pub entity_type: &'static str,
    /// The context naming the type and the attribute ([`CORE`] for none).
    pub context: &'static str,
    /// The attribute, a term of `context`.
    pub attr: &'static str,
    /// UN/CEFACT unit code.
    pub unit: &'static str,
    /// What it measures.
    pub signal: Signal,
    /// Where a meter index starts a year before the end.
    pub start_index: f64,
}

/// A simulated LoRaWAN device reporting some series of one entity.
#[derive(Debug, Clone)]
pub struct Device {
    /// DevEUI, 16 hexadecimal digits.
    pub dev_eui: String,
    /// A name for people.
    pub name: String,
    /// The ChirpStack device profile name.
    pub profile: &'static str,
    /// Decoded field names and the series (index in [`Territory::series`]) each reports.
    pub fields: Vec<(&'static str, usize)>,
}

/// The whole territory.
pub struct Territory {
    /// Entities in NGSI-LD normalized form with their @context.
    pub entities: Vec<Value>,
    /// The water network, already expanded by `jumeau-water`.
    pub water: Vec<Entity>,
    /// Every series of readings.
    pub series: Vec<Series>,
    /// The simulated devices.
    pub devices: Vec<Device>,
    /// Counts for the build report: (what, how many).
    pub summary: Vec<(&'static str, usize)>,
}

/// Real street names of Crest, given in turn to the streets of the grid.
const STREETS: [&str; 24] = [
    "Grande Rue",
    "Rue de l'Hôtel de Ville",
    "Avenue Georges-Clemenceau",
    "Rue Peysson",
    "Avenue Adrien-Fayolle",
    "Quai Maurice-Faure",
    "Rue Sadi-Carnot",
    "Rue du Marché",
    "Avenue de Provence",
    "Rue Archinard",
    "Rue des Cuiretteries",
    "Avenue Jean-Jaurès",
    "Rue de la République",
    "Rue Aimé-Bouvat",
    "Chemin des Alexis",
    "Rue Paul-Bert",
    "Avenue Henri-Grand",
    "Rue de la Calade",
    "Rue Gustave-Tardieu",
    "Chemin de la Plaine",
    "Rue Hector-Berlioz",
    "Rue de la Tour",
    "Montée des Cordeliers",
    "Rue Chabrillan",
];

/// The public buildings: slug, name, Smart Data Models category, use, floor area (m²).
const BUILDINGS: [(&str, &str, &str, Use, f64); 25] = [
    ("mairie", "Hôtel de ville", "townHall", Use::Office, 1800.0),
    (
        "ecole-jules-ferry",
        "École Jules-Ferry",
        "school",
        Use::School,
        2200.0,
    ),
    (
        "ecole-du-pont",
        "École du Pont",
        "school",
        Use::School,
        900.0,
    ),
    (
        "gymnase",
        "Gymnase municipal",
        "sportsHall",
        Use::Sport,
        2400.0,
    ),
    (
        "mediatheque",
        "Médiathèque",
        "library",
        Use::Library,
        1200.0,
    ),
    (
        "creche",
        "Crèche Les Petits Pas",
        "nursery",
        Use::Nursery,
        600.0,
    ),
    (
        "ecole-pierre-rey",
        "École Pierre-Rey",
        "school",
        Use::School,
        1600.0,
    ),
    (
        "ecole-saleine",
        "École maternelle de la Saleine",
        "school",
        Use::School,
        800.0,
    ),
    (
        "groupe-scolaire-tour",
        "Groupe scolaire de la Tour",
        "school",
        Use::School,
        2600.0,
    ),
    (
        "ecole-rochettes",
        "École maternelle des Rochettes",
        "school",
        Use::School,
        750.0,
    ),
    (
        "restaurant-scolaire",
        "Restaurant scolaire",
        "school",
        Use::School,
        700.0,
    ),
    (
        "gymnase-bourbonnais",
        "Gymnase du Bourbonnais",
        "sportsHall",
        Use::Sport,
        2000.0,
    ),
    (
        "vestiaires-stade",
        "Vestiaires du stade",
        "sportsHall",
        Use::Sport,
        400.0,
    ),
    (
        "espace-liberte",
        "Espace Liberté (salle des fêtes)",
        "sportsHall",
        Use::Sport,
        1100.0,
    ),
    (
        "creche-lutins",
        "Multi-accueil Les Lutins",
        "nursery",
        Use::Nursery,
        450.0,
    ),
    (
        "relais-petite-enfance",
        "Relais petite enfance",
        "nursery",
        Use::Nursery,
        250.0,
    ),
    (
        "bibliotheque-musique",
        "École de musique",
        "library",
        Use::Library,
        650.0,
    ),
    (
        "tour-de-crest",
        "Tour de Crest (accueil du donjon)",
        "library",
        Use::Library,
        500.0,
    ),
    (
        "centre-technique",
        "Centre technique municipal",
        "office",
        Use::Office,
        1500.0,
    ),
    (
        "police-municipale",
        "Police municipale",
        "office",
        Use::Office,
        300.0,
    ),
    (
        "office-tourisme",
        "Office de tourisme",
        "office",
        Use::Office,
        250.0,
    ),
    (
        "ccas",
        "Centre communal d'action sociale",
        "office",
        Use::Office,
        420.0,
    ),
    (
        "maison-associations",
        "Maison des associations",
        "office",
        Use::Office,
        900.0,
    ),
    ("halle", "Halle du marché", "office", Use::Office, 800.0),
    (
        "centre-social",
        "Centre social",
        "office",
        Use::Office,
        700.0,
    ),
];

/// Places of the first six buildings (metres east and north of the town hall).
const FIRST_PLACES: [(f64, f64); 6] = [
    (0.0, 0.0),
    (120.0, 90.0),
    (-150.0, -60.0),
    (200.0, -140.0),
    (-80.0, 130.0),
    (60.0, -110.0),
];

/// The index, in [`BUILDINGS`], of the school whose heating runs away.
pub const OVERHEATING_SCHOOL: usize = 1;

impl Size {
    /// Streets per side of the grid.
    fn grid(self) -> usize {
        match self {
            Self::Small => 4,
            Self::Medium => 10,
            Self::Large => 32,
        }
    }
    /// Public buildings.
    fn buildings(self) -> usize {
        match self {
            Self::Small => 6,
            Self::Medium => 25,
            Self::Large => 100,
        }
    }
    /// River gauges.
    fn gauges(self) -> usize {
        match self {
            Self::Small => 1,
            _ => 3,
        }
    }
}

/// Lays out the territory of a size.
pub fn territory(size: Size, seed: u64) -> anyhow::Result<Territory> {
    let mut t = Territory {
        entities: Vec::new(),
        water: Vec::new(),
        series: Vec::new(),
        devices: Vec::new(),
        summary: Vec::new(),
    };
    let mut rng = Seeded(seed);
    lighting_and_roads(&mut t, size, &mut rng);
    buildings(&mut t, size, &mut rng);
    environment(&mut t, size);
    water(&mut t, size)?;
    alerts(&mut t, size);
    Ok(t)
}

fn lighting_and_roads(t: &mut Territory, size: Size, rng: &mut Seeded) {
    let n = size.grid();
    let spacing = 180.0;
    let half = (n as f64 - 1.0) * spacing / 2.0;
    let lamp_step = 30.0;
    let per_cabinet = 40;
    let technologies = [
        ("LED", 3000, 40),
        ("LED", 2700, 30),
        ("HPS", 2000, 100),
        ("MH", 4000, 70),
        ("LED", 3000, 55),
    ];
    let mut lamps = Vec::new();
    let mut segments = 0usize;
    for street in 0..n {
        for horizontal in [true, false] {
            let fixed = street as f64 * spacing - half;
            let place = |s: f64| {
                if horizontal {
                    at(s, fixed)
                } else {
                    at(fixed + 8.0, s)
                }
            };
            let mut s = -half;
            while s <= half {
                lamps.push(place(s));
                s += lamp_step;
            }
            // The street, and its segments between crossings.
            let no = street * 2 + usize::from(!horizontal);
            let name = if no < STREETS.len() {
                STREETS[no].to_string()
            } else {
                format!(
                    "{} ({})",
                    STREETS[no % STREETS.len()],
                    no / STREETS.len() + 1
                )
            };
            let road = format!("urn:ngsi-ld:Road:crest:R{:03}", no + 1);
            let class = if street == n / 2 {
                "primary"
            } else {
                "residential"
            };
            t.entities.push(json!({
                "id": road,
                "type": "Road",
                "name": prop(json!(name)),
                "roadClass": prop(json!(class)),
                "length": prop_unit(json!(2.0 * half), "MTR"),
                "address": prop(json!({"addressLocality": "Crest", "postalCode": "26400", "addressCountry": "FR"})),
            }));
            for k in 0..n.saturating_sub(1) {
                let a = k as f64 * spacing - half;
                segments += 1;
                t.entities.push(json!({
                    "id": format!("urn:ngsi-ld:RoadSegment:crest:R{:03}-{:02}", no + 1, k + 1),
                    "type": "RoadSegment",
                    "name": prop(json!(format!("{name}, tronçon {}", k + 1))),
                    "refRoad": rel(&road),
                    "roadClass": prop(json!(class)),
                    "totalLaneNumber": prop(json!(if class == "primary" { 2 } else { 1 })),
                    "maximumAllowedSpeed": prop_unit(json!(if class == "primary" { 50 } else { 30 }), "KMH"),
                    "length": prop_unit(json!(spacing), "MTR"),
                    "location": {"type": "GeoProperty", "value": {"type": "LineString", "coordinates": [place(a), place(a + spacing)]}},
                }));
            }
        }
    }
    let cabinets = lamps.len().div_ceil(per_cabinet);
    let cable_cabinet = cabinets / 2;
    let mut cabinet_kw = vec![(0.0f64, 0.0f64); cabinets];
    let mut failed_count = 0;
    for (i, p) in lamps.iter().enumerate() {
        let (tech, cct, watts) = *rng.pick(&technologies);
        let random_failure = rng.unit() < 0.02;
        let c = i / per_cabinet;
        let cable_fault = c == cable_cabinet && (10..16).contains(&(i % per_cabinet));
        let status = if cable_fault {
            "columnIssue"
        } else if random_failure {
            "defectiveLamp"
        } else {
            "ok"
        };
        let kw = f64::from(watts) / 1000.0 * if tech == "LED" { 1.0 } else { 1.15 };
        cabinet_kw[c].0 += kw;
        if status != "ok" {
            cabinet_kw[c].1 += kw;
            failed_count += 1;
        }
        t.entities.push(json!({
            "id": format!("urn:ngsi-ld:Streetlight:crest:PL{:05}", i + 1),
            "type": "Streetlight",
            "location": point(*p),
            "status": prop(json!(status)),
            "powerState": prop(json!("off")),
            "lanternHeight": prop_unit(json!(if watts > 60 { 8 } else { 6 }), "MTR"),
            "lampTechnology": prop(json!(tech)),
            "colorTemperature": prop_unit(json!(cct), "KEL"),
            "powerRating": prop_unit(json!(watts), "WTT"),
            "refStreetlightControlCabinet": rel(&cabinet_id(c)),
            "@context": [STREETLIGHTING],
        }));
    }
    for (c, (kw, failed)) in cabinet_kw.iter().enumerate() {
        let id = cabinet_id(c);
        t.entities.push(json!({
            "id": id,
            "type": "StreetlightControlCabinet",
            "name": prop(json!(format!("Armoire A{:02}", c + 1))),
            "location": point(lamps[c * per_cabinet]),
            "cupboardMadeOf": prop(json!("plastic")),
            "brandName": prop(json!("Jumeau demo")),
            "maximumPowerAvailable": prop_unit(json!(((kw * 1.5) * 10.0).round() / 10.0), "KWT"),
            "@context": [STREETLIGHTING],
        }));
        t.series.push(Series {
            entity: id,
            entity_type: "StreetlightControlCabinet",
            context: STREETLIGHTING,
            attr: "energyConsumed",
            unit: "KWH",
            signal: Signal::Cabinet(*kw, *failed, c % 3 == 0),
            start_index: 20_000.0 + 1_500.0 * c as f64,
        });
    }
    t.summary.push(("points lumineux", lamps.len()));
    t.summary.push(("en panne", failed_count));
    t.summary.push(("armoires", cabinets));
    t.summary.push(("tronçons de rue", segments));
}

fn cabinet_id(c: usize) -> String {
    format!("urn:ngsi-ld:StreetlightControlCabinet:crest:A{:02}", c + 1)
}

fn buildings(t: &mut Territory, size: Size, rng: &mut Seeded) {
    let half = (size.grid() as f64 - 1.0) * 90.0;
    for i in 0..size.buildings() {
        let (slug, name, category, usage, area) = BUILDINGS[i % BUILDINGS.len()];
        let round = i / BUILDINGS.len();
        let (slug, name) = if round == 0 {
            (slug.to_string(), name.to_string())
        } else {
            (
                format!("{slug}-{}", round + 1),
                format!("{name} ({})", round + 1),
            )
        };
        let (e, n) = FIRST_PLACES.get(i).copied().unwrap_or_else(|| {
            (
                (rng.unit() * 2.0 - 1.0) * half,
                (rng.unit() * 2.0 - 1.0) * half,
            )
        });
        let id = format!("urn:ngsi-ld:Building:crest:{slug}");
        t.entities.push(json!({
            "id": id,
            "type": "Building",
            "name": prop(json!(name)),
            "category": prop(json!([category])),
            "location": point(at(e, n)),
            "floorArea": prop_unit(json!(area), "MTK"),
            "address": prop(json!({"addressLocality": "Crest", "postalCode": "26400", "addressCountry": "FR"})),
            "@context": [BUILDING],
        }));
        let physics = BuildingPhysics {
            usage,
            area,
            faulty: i == OVERHEATING_SCHOOL,
            key: model::key(&id),
        };
        let first = t.series.len();
        for (attr, unit, signal) in [
            ("energyConsumed", "KWH", Signal::BuildingEnergy(physics)),
            ("temperature", "CEL", Signal::Indoor(physics)),
            ("co2", "59", Signal::Co2(physics)),
        ] {
            t.series.push(Series {
                entity: id.clone(),
                entity_type: "Building",
                context: BUILDING,
                attr,
                unit,
                signal,
                start_index: (area * 60.0).round(),
            });
        }
        t.devices.push(Device {
            dev_eui: String::new(),
            name: format!("Capteur confort et CO2, {name}"),
            profile: "Capteur confort CO2",
            fields: vec![("temperature", first + 1), ("co2", first + 2)],
        });
    }
    t.summary.push(("bâtiments publics", size.buildings()));
}

fn environment(t: &mut Territory, size: Size) {
    let places = [(30.0, -420.0), (3200.0, -250.0), (-4100.0, -900.0)];
    for (g, (slug, name, _, scale)) in GAUGES.iter().enumerate().take(size.gauges()) {
        let id = format!("urn:ngsi-ld:FloodMonitoring:crest:{slug}");
        t.entities.push(json!({
            "id": id,
            "type": "FloodMonitoring",
            "name": prop(json!(name)),
            "location": point(at(places[g].0, places[g].1)),
            "alertLevel": prop_unit(json!(((2.5 * scale) * 100.0f64).round() / 100.0), "MTR"),
            "dangerLevel": prop_unit(json!(((3.4 * scale) * 100.0f64).round() / 100.0), "MTR"),
            "@context": [ENVIRONMENT],
        }));
        t.series.push(Series {
            entity: id,
            entity_type: "FloodMonitoring",
            context: ENVIRONMENT,
            attr: "currentLevel",
            unit: "MTR",
            signal: Signal::River(g),
            start_index: 0.0,
        });
        t.devices.push(Device {
            dev_eui: String::new(),
            name: format!("Limnimètre radar, {name}"),
            profile: "Limnimètre radar",
            fields: vec![("level", t.series.len() - 1)],
        });
    }
    let id = "urn:ngsi-ld:WeatherObserved:crest:station".to_string();
    t.entities.push(json!({
        "id": id,
        "type": "WeatherObserved",
        "name": prop(json!("Station météo des services techniques")),
        "location": point(at(-260.0, 210.0)),
        "@context": [ENVIRONMENT],
    }));
    let first = t.series.len();
    for (attr, unit, signal) in [
        ("temperature", "CEL", Signal::Outdoor),
        ("relativeHumidity", "P1", Signal::Humidity),
        ("precipitation", "MMT", Signal::Rain),
    ] {
        t.series.push(Series {
            entity: id.clone(),
            entity_type: "WeatherObserved",
            context: ENVIRONMENT,
            attr,
            unit,
            signal,
            start_index: 0.0,
        });
    }
    t.devices.push(Device {
        dev_eui: String::new(),
        name: "Station météo".into(),
        profile: "Station météo",
        fields: vec![
            ("temperature", first),
            ("humidity", first + 1),
            ("rain", first + 2),
        ],
    });
    t.summary.push(("limnimètres", size.gauges()));
}

/// The district metered areas of L-Town: A is fed by the reservoirs, C by the pump
/// through tank T1, B through the pressure-reducing valves. Returns the district of each
/// node.
fn districts(net: &Network) -> HashMap<String, usize> {
    let mut adj: HashMap<&str, Vec<&str>> = HashMap::new();
    for p in &net.pipes {
        adj.entry(&p.node1).or_default().push(&p.node2);
        adj.entry(&p.node2).or_default().push(&p.node1);
    }
    let mut out: HashMap<String, usize> = HashMap::new();
    let fill = |start: &str, d: usize, out: &mut HashMap<String, usize>| {
        let mut queue = VecDeque::from([start.to_string()]);
        while let Some(n) = queue.pop_front() {
            if out.contains_key(&n) {
                continue;
            }
            for m in adj.get(n.as_str()).map(Vec::as_slice).unwrap_or(&[]) {
                if !out.contains_key(*m) {
                    queue.push_back((*m).to_string());
                }
            }
            out.insert(n, d);
        }
    };
    for r in &net.reservoirs {
        fill(&r.id, 0, &mut out);
    }
    for tk in &net.tanks {
        fill(&tk.id, 2, &mut out);
    }
    for j in &net.junctions {
        fill(&j.id, 1, &mut out);
    }
    out
}

/// The pressure sensors of the BattLeDIM 2018 dataset.
const PRESSURE_SENSORS: [&str; 33] = [
    "n1", "n4", "n31", "n54", "n105", "n114", "n163", "n188", "n215", "n229", "n288", "n296",
    "n332", "n342", "n410", "n415", "n429", "n458", "n469", "n495", "n506", "n516", "n519", "n549",
    "n613", "n636", "n644", "n679", "n722", "n726", "n740", "n752", "n769",
];

/// Mean inflow of each district, m³/h (about 5,000 inhabitants in all).
const DMA_MEAN: [f64; 3] = [24.0, 7.5, 4.0];

fn water(t: &mut Territory, size: Size) -> anyhow::Result<()> {
    let mut net = jumeau_water::inp::parse(LTOWN)
        .map_err(|e| anyhow::anyhow!("the compiled-in L-Town network cannot be read: {e}"))?;
    let dma = districts(&net);
    if size == Size::Small {
        // A village: district C alone, with the pump that fills its tank.
        let keep: HashSet<String> = dma
            .iter()
            .filter(|(id, d)| **d == 2 || id.as_str() == "n54")
            .map(|(id, _)| id.clone())
            .collect();
        net.junctions.retain(|j| keep.contains(&j.id));
        net.reservoirs.clear();
        net.pipes
            .retain(|p| keep.contains(&p.node1) && keep.contains(&p.node2));
        net.valves.clear();
        net.pumps
            .retain(|p| keep.contains(&p.node1) && keep.contains(&p.node2));
        net.demands.retain(|d| keep.contains(&d.junction));
        net.coordinates.retain(|(id, _, _)| keep.contains(id));
        net.status.retain(|(id, _)| keep.contains(id));
        net.emitters.retain(|(id, _)| keep.contains(id));
    }
    // L-Town is drawn in metres, 2.7 km by 1.5 km: its centre goes on the town hall.
    let (lat, lon) = CENTRE_LATLON;
    let (x0, y0) = jumeau_geo::wgs84_to_lambert93(lon, lat)
        .map_err(|e| anyhow::anyhow!("cannot place the water network: {}", e.0))?;
    let georef = Georeference {
        origin_x: x0,
        origin_y: y0 - 250.0,
        local_origin: (1485.0, 847.0),
        scale: 1.0,
        rotation_deg: 0.0,
    };
    let mut entities = jumeau_water::ngsi::to_entities(&net, NETWORK_ID, &georef)
        .map_err(|e| anyhow::anyhow!("cannot turn the water network into entities: {e}"))?;
    // The model itself (its .inp and georeferencing), which the water view and the what-if
    // runs start from.
    entities.push(
        jumeau_water::records::model_entity(&net, NETWORK_ID, &georef)
            .map_err(|e| anyhow::anyhow!("cannot describe the water network model: {e}"))?,
    );
    // Every node and pipe says which district it belongs to.
    let dma_attr = jumeau_water::ngsi::sdm("districtMeteredArea");
    let names = ["A", "B", "C"];
    for e in &mut entities {
        let local = e.id.rsplit(':').next().unwrap_or_default().to_string();
        let node = net
            .pipes
            .iter()
            .find(|p| p.id == local)
            .map_or(local.clone(), |p| p.node1.clone());
        if let Some(d) = dma.get(&node) {
            e.attrs.insert(
                dma_attr.clone(),
                vec![jumeau_model::Attribute::new(
                    jumeau_model::AttributeValue::Property(json!(format!("Secteur {}", names[*d]))),
                )],
            );
        }
    }
    let elevation: HashMap<&str, f64> = net
        .junctions
        .iter()
        .map(|j| (j.id.as_str(), j.elevation))
        .collect();
    let head_of = |d: usize| -> f64 {
        match d {
            0 => net.reservoirs.first().map_or(100.0, |r| r.head),
            2 => net.tanks.first().map_or(98.7, |tk| tk.elevation + 2.3),
            _ => net
                .valves
                .iter()
                .find(|v| dma.get(&v.node2) == Some(&1))
                .and_then(|v| {
                    let setting: f64 = v.setting.parse().ok()?;
                    Some(elevation.get(v.node2.as_str()).copied().unwrap_or(0.0) + setting)
                })
                .unwrap_or(90.0),
        }
    };
    // District meters: A at the reservoir outlets, B at its valves, C at the pump.
    let mut meters: Vec<(&'static str, String, usize, f64)> = Vec::new();
    if size != Size::Small {
        meters.push(("Pipe", "p227".into(), 0, 0.55));
        meters.push(("Pipe", "p235".into(), 0, 0.45));
        let b_valves: Vec<&str> = net
            .valves
            .iter()
            .filter(|v| dma.get(&v.node2) == Some(&1))
            .map(|v| v.id.as_str())
            .collect();
        for v in &b_valves {
            meters.push(("Valve", (*v).to_string(), 1, 1.0 / b_valves.len() as f64));
        }
    }
    meters.push(("Pump", "PUMP_1".into(), 2, 1.0));
    for (kind, local, d, share) in meters {
        t.series.push(Series {
            entity: jumeau_water::ngsi::entity_id(kind, NETWORK_ID, &local),
            entity_type: kind,
            context: WATER,
            attr: "flow",
            unit: "MQH",
            signal: Signal::Inflow(d, DMA_MEAN[d], share),
            start_index: 0.0,
        });
        t.devices.push(Device {
            dev_eui: String::new(),
            name: format!("Débitmètre de sectorisation {local} (secteur {})", names[d]),
            profile: "Débitmètre",
            fields: vec![("flow", t.series.len() - 1)],
        });
    }
    let mut sensors = 0;
    for (i, node) in PRESSURE_SENSORS.iter().enumerate() {
        let (Some(&elev), Some(&d)) = (elevation.get(node), dma.get(*node)) else {
            continue;
        };
        if size == Size::Small && d != 2 {
            continue;
        }
        let loss = 1.0 + 5.0 * model::noise(model::key(node), 0).abs();
        let head = head_of(d);
        if head - elev < 5.0 {
            continue;
        }
        sensors += 1;
        let _ = i;
        t.series.push(Series {
            entity: jumeau_water::ngsi::entity_id("Junction", NETWORK_ID, node),
            entity_type: "Junction",
            context: WATER,
            attr: "pressure",
            unit: "MTR",
            signal: Signal::Pressure(head, elev, loss, d, DMA_MEAN[d]),
            start_index: 0.0,
        });
        t.devices.push(Device {
            dev_eui: String::new(),
            name: format!("Capteur de pression {node} (secteur {})", names[d]),
            profile: "Capteur de pression",
            fields: vec![("pressure", t.series.len() - 1)],
        });
    }
    t.series.push(Series {
        entity: jumeau_water::ngsi::entity_id("Tank", NETWORK_ID, "T1"),
        entity_type: "Tank",
        context: WATER,
        attr: "level",
        unit: "MTR",
        signal: Signal::Tank,
        start_index: 0.0,
    });
    t.devices.push(Device {
        dev_eui: String::new(),
        name: "Sonde de niveau du réservoir T1".into(),
        profile: "Sonde de niveau",
        fields: vec![("level", t.series.len() - 1)],
    });
    let junctions = entities
        .iter()
        .filter(|e| e.types.iter().any(|ty| ty.ends_with("/Junction")))
        .count();
    t.summary.push(("nœuds du réseau d'eau", junctions));
    t.summary.push(("capteurs de pression", sensors));
    t.water = entities;
    for (i, d) in t.devices.iter_mut().enumerate() {
        d.dev_eui = format!("70b3d5e75e{i:06x}");
    }
    Ok(())
}

fn alerts(t: &mut Territory, size: Size) {
    let school = BUILDINGS[OVERHEATING_SCHOOL];
    let mut list = vec![(
        "surchauffe-ecole",
        format!("Surchauffe : {}", school.1),
        "La température des classes dépasse 26 °C depuis six jours, chauffage compris : régulation à vérifier.",
        "environment",
        "high",
        format!("urn:ngsi-ld:Building:crest:{}", school.0),
        at(120.0, 90.0),
    )];
    if size != Size::Small {
        list.push((
            "fuite-secteur-b",
            "Fuite probable dans le secteur B".to_string(),
            "Le débit minimum de nuit du secteur B augmente depuis douze jours (+4 m³/h) : une fuite est probable.",
            "environment",
            "high",
            jumeau_water::ngsi::entity_id("Valve", NETWORK_ID, "PRV-1"),
            at(-300.0, 250.0),
        ));
    }
    for (slug, name, description, category, severity, source, place) in list {
        t.entities.push(json!({
            "id": format!("urn:ngsi-ld:Alert:crest:{slug}"),
            "type": "Alert",
            "name": prop(json!(name)),
            "description": prop(json!(description)),
            "category": prop(json!(category)),
            "severity": prop(json!(severity)),
            "alertSource": prop(json!(source)),
            "location": point(place),
            "@context": [ALERT],
        }));
    }
}
