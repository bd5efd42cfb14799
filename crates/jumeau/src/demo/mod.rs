//! `jumeau demo`: a living sample territory placed on real ground, built deterministically.
//!
//! The territory sits on the commune of Crest (Drôme, INSEE 26108): streets, points
//! lumineux on their armoires, public buildings with energy meters and comfort sensors,
//! the L-Town drinking-water network split into three district metered areas, river gauges
//! on the Drôme and a weather station. It is built once with a year of hourly readings
//! (daily, weekly and seasonal patterns, French public and zone A school holidays) and a
//! few incidents to find, then fed live by simulated LoRaWAN uplinks through the real
//! ingestion path while it serves. It is public (open data): a browser or curl reads it
//! without a key.

pub mod calendar;
mod history;
mod live;
mod model;
mod territory;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _};
use chrono::{DateTime, Duration, Utc};
use clap::ValueEnum;
use jumeau_api::{ApiConfig, App};
use jumeau_model::{Attribute, AttributeValue};
use jumeau_store::WriteOp;
use jumeau_twin::{dump, Twin};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use model::Scenario;
use territory::{Territory, STREETLIGHTING};

/// The tenant holding the demo territory.
pub const DEMO_TENANT: &str = "demo";
/// The seed of every random choice: the same territory and readings at every build.
pub const SEED: u64 = 26108;
/// The layout of a demo data directory; a directory of another layout is refused.
const FORMAT: u32 = 2;
/// The file saying what a data directory holds.
const MARKER: &str = "demo.json";
/// Hours in a year: the tests' history length.
#[cfg(test)]
const HISTORY_HOURS: i64 = 365 * 24;

/// How big a territory to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// A village: about 150 points lumineux, 6 buildings, one water district.
    Small,
    /// A commune of about 5,000 inhabitants: about 1,200 points lumineux on 28 armoires,
    /// 25 buildings, three water districts.
    Medium,
    /// A small département's worth of equipment: about 12,000 points lumineux, 100
    /// buildings.
    Large,
}

impl Size {
    fn name(self) -> &'static str {
        match self {
            Self::Small => "small",
            Self::Medium => "medium",
            Self::Large => "large",
        }
    }
}

/// What `jumeau demo` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    /// Data directory.
    pub data: PathBuf,
    /// Address to serve on.
    pub listen: SocketAddr,
    /// Territory size.
    pub size: Size,
    /// Build, then exit.
    pub no_serve: bool,
    /// Basemap style URL for the web interface.
    pub basemap: Option<String>,
}

/// The record a demo directory keeps of how it was built.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Marker {
    format: u32,
    jumeau: String,
    size: Size,
    seed: u64,
    /// `building` until the territory and its history are stored, then `ready`.
    state: String,
    /// The end of the history: the incidents are placed relative to it.
    history_end: DateTime<Utc>,
}

/// What is in the data directory before the demo starts.
#[derive(Debug)]
enum Found {
    /// Nothing yet: build.
    Nothing,
    /// A ready demo of the same version and size.
    Ready(Marker),
}

fn delete_hint(dir: &Path) -> String {
    format!(
        "delete it to build the demo again (rm -r {}), or choose another directory with --data",
        dir.display()
    )
}

/// Looks at the data directory: refuses one from another version, another size, an
/// interrupted build, or one that is not a demo directory.
fn inspect(dir: &Path, size: Size) -> anyhow::Result<Found> {
    if dir.exists() && !dir.is_dir() {
        bail!(
            "{} is a file, not a directory; choose a directory with --data",
            dir.display()
        );
    }
    let marker = dir.join(MARKER);
    if !marker.exists() {
        let empty = std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none());
        if empty {
            return Ok(Found::Nothing);
        }
        if dir.join("jumeau.db").exists() {
            bail!(
                "{} holds a Jumeau store that this version of 'jumeau demo' did not build (no {MARKER}: \
                 an older demo, or the data of 'jumeau serve'); the demo never writes into it: {}",
                dir.display(),
                delete_hint(dir)
            );
        }
        bail!(
            "{} is not empty and holds no demo territory; the demo needs an empty or new directory: \
             choose another one with --data",
            dir.display()
        );
    }
    let text =
        std::fs::read(&marker).with_context(|| format!("cannot read {}", marker.display()))?;
    let m: Marker = match serde_json::from_slice(&text) {
        Ok(m) => m,
        Err(_) => {
            let format = serde_json::from_slice::<Value>(&text)
                .ok()
                .and_then(|v| v["format"].as_u64());
            match format {
                Some(f) if f != u64::from(FORMAT) => bail!(
                    "{} holds a demo built by another version of Jumeau (demo format {f}, this \
                     version reads format {FORMAT}): {}",
                    dir.display(),
                    delete_hint(dir)
                ),
                _ => bail!(
                    "{} is damaged (not the record the demo writes): {}",
                    marker.display(),
                    delete_hint(dir)
                ),
            }
        }
    };
    if m.format != FORMAT {
        bail!(
            "{} holds a demo built by Jumeau {} (demo format {}, this version reads format {FORMAT}): {}",
            dir.display(),
            m.jumeau,
            m.format,
            delete_hint(dir)
        );
    }
    if m.state != "ready" {
        bail!(
            "the demo build in {} was interrupted before it finished: {}",
            dir.display(),
            delete_hint(dir)
        );
    }
    if m.size != size {
        bail!(
            "{} holds the {} demo, not the {} one: run 'jumeau demo --size {}', or {}",
            dir.display(),
            m.size.name(),
            size.name(),
            m.size.name(),
            delete_hint(dir)
        );
    }
    Ok(Found::Ready(m))
}

fn write_marker(dir: &Path, m: &Marker) -> anyhow::Result<()> {
    let path = dir.join(MARKER);
    let tmp = dir.join(format!("{MARKER}.partial"));
    let text = serde_json::to_vec_pretty(m)?;
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Says clearly when the address is taken, before minutes are spent building.
fn port_in_use(listen: SocketAddr, e: &std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        let mut other = listen;
        other.set_port(listen.port().wrapping_add(1).max(1024));
        anyhow::anyhow!(
            "the address {listen} is already in use (another 'jumeau demo' or server may be running \
             there): stop it, or choose another address, e.g. --listen {other}"
        )
    } else {
        anyhow::anyhow!("cannot listen on {listen}: {e}; choose another address with --listen")
    }
}

/// Opens the store, naming a damaged data file for what it is.
fn open(dir: &Path) -> anyhow::Result<Twin> {
    crate::cli::open_twin(dir).map_err(|e| {
        anyhow::anyhow!(
            "the data file of {} cannot be read ({e:#}); if it is damaged, {}",
            dir.display(),
            delete_hint(dir)
        )
    })
}

/// Runs `jumeau demo`: checks the directory and the address, builds the territory the
/// first time, then serves it with live readings.
pub async fn run(o: Options) -> anyhow::Result<()> {
    let found = inspect(&o.data, o.size)?;
    if !o.no_serve {
        std::net::TcpListener::bind(o.listen).map_err(|e| port_in_use(o.listen, &e))?;
    }
    let twin = open(&o.data)?;
    crate::cli::bootstrap_key(&twin).await?;
    let end = match found {
        Found::Nothing => build(&twin, o.size, &o.data).await?,
        Found::Ready(m) => {
            let tenant = twin.store.tenant(DEMO_TENANT).await.map_err(|e| {
                anyhow::anyhow!(
                    "the data file of {} cannot be read ({e}); if it is damaged, {}",
                    o.data.display(),
                    delete_hint(&o.data)
                )
            })?;
            if tenant.is_none() {
                bail!(
                    "{} says the demo is built, but its territory is missing: {}",
                    o.data.display(),
                    delete_hint(&o.data)
                );
            }
            eprintln!(
                "reusing the {} demo territory of {} (history up to {})",
                o.size.name(),
                o.data.display(),
                jumeau_model::time::format_datetime(&m.history_end)
            );
            m.history_end
        }
    };
    if o.no_serve {
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(o.listen)
        .await
        .map_err(|e| port_in_use(o.listen, &e))?;
    let addr = listener.local_addr()?;
    let app = App::new(twin, ApiConfig::default());
    let t = territory::territory(o.size, SEED)?;
    live::register(&app.ingest, DEMO_TENANT, &t.devices, &t.series).await?;
    let scenario = Scenario { seed: SEED, end };
    eprintln!(
        "live readings: {} simulated LoRaWAN devices, one ChirpStack uplink every {} ms",
        t.devices.len(),
        live::PERIOD.as_millis()
    );
    eprintln!("{}", first_steps(&addr.to_string()));
    let sim = tokio::spawn(live::run(
        app.ingest.clone(),
        DEMO_TENANT.to_string(),
        t.devices,
        t.series,
        scenario,
    ));
    let web = jumeau_web::WebConfig {
        basemap_style: o.basemap,
        default_tenant: DEMO_TENANT.to_string(),
    };
    let served = crate::cli::serve_on(listener, app, web, &o.data).await;
    sim.abort();
    served
}

/// Builds the territory and its year of history; returns the end of the history.
async fn build(twin: &Twin, size: Size, dir: &Path) -> anyhow::Result<DateTime<Utc>> {
    let started = Instant::now();
    let end = history::end_hour(Utc::now());
    let mut marker = Marker {
        format: FORMAT,
        jumeau: env!("CARGO_PKG_VERSION").to_string(),
        size,
        seed: SEED,
        state: "building".into(),
        history_end: end,
    };
    write_marker(dir, &marker)?;
    let scenario = Scenario { seed: SEED, end };
    let mut t = territory::territory(size, SEED)?;
    eprintln!(
        "building the {} demo territory on Crest (Drôme): {}",
        size.name(),
        t.summary
            .iter()
            .map(|(what, n)| format!("{n} {what}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let hours = (end - history::start_hour(end)).num_hours();
    let loaded = history::load(twin, DEMO_TENANT, &t.series, scenario, hours).await?;
    let history_secs = started.elapsed().as_secs_f64();
    current_values(twin, &mut t, &loaded.last, end).await?;
    let report = dump::load_entities(twin, DEMO_TENANT, &t.entities, None).await?;
    if let Some(r) = report.rejected.first() {
        bail!(
            "the demo territory has an invalid entity {:?}: {}",
            r.id,
            r.reason
        );
    }
    let mut created = report.created;
    for chunk in t.water.chunks(500) {
        let ops = chunk
            .iter()
            .map(|e| WriteOp::Upsert {
                entity: e.clone(),
                replace: true,
            })
            .collect();
        for r in twin.write(DEMO_TENANT, ops).await? {
            r.map_err(|e| {
                anyhow::anyhow!("the demo water network has an invalid entity: {}", e.detail)
            })?;
            created += 1;
        }
    }
    twin.store.set_tenant_public(DEMO_TENANT, true).await?;
    marker.state = "ready".into();
    write_marker(dir, &marker)?;
    eprintln!(
        "built the demo territory in {:.1} s: {created} entities, {} readings over {} days ({:.1} s) \
         (tenant '{DEMO_TENANT}', open data)",
        started.elapsed().as_secs_f64(),
        loaded.instances,
        hours / 24,
        history_secs
    );
    Ok(end)
}

/// Gives every sensor's entity its latest reading as current value, and dates the alerts.
async fn current_values(
    twin: &Twin,
    t: &mut Territory,
    last: &[f64],
    end: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut urls: Vec<&'static str> = t.series.iter().map(|s| s.context).collect();
    urls.push(territory::WATER);
    let ctxs = history::Contexts::resolve(twin, &urls).await?;
    let observed = jumeau_model::time::format_datetime(&end);
    for (s, v) in t.series.iter().zip(last) {
        if let Some(e) = t.entities.iter_mut().find(|e| e["id"] == s.entity.as_str()) {
            e[s.attr] =
                json!({"type": "Property", "value": v, "unitCode": s.unit, "observedAt": observed});
        } else if let Some(e) = t.water.iter_mut().find(|e| e.id == s.entity) {
            let mut a = Attribute::new(AttributeValue::Property(json!(v)));
            a.observed_at = Some(end);
            a.unit_code = Some(s.unit.to_string());
            e.attrs.insert(ctxs.expand(s.context, s.attr), vec![a]);
        }
    }
    // The district of each water element, under the name clients compact it to.
    let district = jumeau_water::ngsi::sdm("districtMeteredArea");
    let compact = ctxs.expand(territory::WATER, "districtMeteredArea");
    for e in &mut t.water {
        if let Some(a) = e.attrs.remove(&district) {
            e.attrs.insert(compact.clone(), a);
        }
    }
    for e in t.entities.iter_mut().filter(|e| e["type"] == "Alert") {
        let hours = if e["id"].as_str().unwrap_or_default().contains("fuite") {
            72.0
        } else {
            Scenario::OVERHEAT_HOURS - 20.0
        };
        let issued = end - Duration::minutes((hours * 60.0) as i64);
        e["dateIssued"] = json!({"type": "Property", "value": {"@type": "DateTime", "@value": jumeau_model::time::format_datetime(&issued)}});
    }
    Ok(())
}

/// What to try first once the demo serves on `listen`: the web interface, and a query a
/// reader can copy (the broken lamps).
pub fn first_steps(listen: &str) -> String {
    format!(
        "open http://{listen}/ in a browser (accueil des élus, carte, liste), or\ntry (the broken lamps, in plain key-values):\n  curl -G -H 'NGSILD-Tenant: {DEMO_TENANT}' \\\n    -H 'Link: <{STREETLIGHTING}>; rel=\"http://www.w3.org/ns/json-ld#context\"' \\\n    --data-urlencode 'type=Streetlight' --data-urlencode 'q=status!=\"ok\"' \\\n    --data-urlencode 'options=keyValues' http://{listen}/ngsi-ld/v1/entities"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn territory_is_deterministic_and_sized() {
        let a = territory::territory(Size::Small, SEED).expect("small territory");
        let b = territory::territory(Size::Small, SEED).expect("small territory");
        assert_eq!(a.entities, b.entities);
        let count = |t: &Territory, ty: &str| t.entities.iter().filter(|e| e["type"] == ty).count();
        let lamps = count(&a, "Streetlight");
        assert!((100..=300).contains(&lamps), "{lamps} lamps");
        let m = territory::territory(Size::Medium, SEED).expect("medium territory");
        let lamps = count(&m, "Streetlight");
        assert!((900..=1600).contains(&lamps), "{lamps} lamps");
        let cabinets = count(&m, "StreetlightControlCabinet");
        assert!((25..=35).contains(&cabinets), "{cabinets} armoires");
        assert_eq!(count(&m, "Building"), 25);
        assert!(count(&m, "RoadSegment") > 100);
        // Three district metered areas, each with its inflow meter.
        let mut districts: Vec<usize> = m
            .series
            .iter()
            .filter_map(|s| match s.signal {
                territory::Signal::Inflow(d, ..) => Some(d),
                _ => None,
            })
            .collect();
        districts.dedup();
        assert_eq!(districts, vec![0, 1, 2]);
        let pressure = m.series.iter().filter(|s| s.attr == "pressure").count();
        assert!(pressure >= 20, "{pressure} pressure sensors");
        // Every device has a distinct DevEUI.
        let mut euis: Vec<&str> = m.devices.iter().map(|d| d.dev_eui.as_str()).collect();
        euis.sort_unstable();
        euis.dedup();
        assert_eq!(euis.len(), m.devices.len());
        // Large stays feasible: about 12,000 lamps, 100 buildings, distinct ids.
        let l = territory::territory(Size::Large, SEED).expect("large territory");
        let lamps = count(&l, "Streetlight");
        assert!((10_000..=14_000).contains(&lamps), "{lamps} lamps");
        assert_eq!(count(&l, "Building"), 100);
        let mut ids: Vec<&str> = l.entities.iter().filter_map(|e| e["id"].as_str()).collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "entity ids are unique");
    }

    #[test]
    fn a_year_of_history_has_its_incidents() {
        let m = territory::territory(Size::Medium, SEED).expect("medium territory");
        let end = history::end_hour(
            DateTime::parse_from_rfc3339("2026-11-29T10:17:00Z")
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_default(),
        );
        let s = Scenario { seed: SEED, end };
        let times: Vec<model::At> = (0..=HISTORY_HOURS)
            .map(|k| model::At::new(end - Duration::hours(HISTORY_HOURS - k)))
            .collect();
        let find = |attr: &str, entity: &str| {
            m.series
                .iter()
                .find(|x| x.attr == attr && x.entity.contains(entity))
                .map(|x| history::values(x, &s, &times).0)
                .unwrap_or_default()
        };
        // Meters only go up.
        let cabinet = find("energyConsumed", "A01");
        assert!(cabinet.windows(2).all(|w| w[1] >= w[0]));
        // The overheating school is above 25 °C on its last school morning, not a month before.
        let school = find("temperature", "ecole-jules-ferry");
        let n = school.len();
        assert!(school[n - 24..].iter().any(|v| *v > 25.0));
        assert!(school[n - 24 * 30..n - 24 * 28].iter().all(|v| *v < 24.0));
        // The river went above its alert level (2.5 m) in the last week.
        let river = find("currentLevel", "drome-pont");
        assert!(river[n - 24 * 7..].iter().any(|v| *v > 2.5));
        // District B's minimum night flow rose with the leak.
        let b: Vec<f64> = m
            .series
            .iter()
            .filter(|x| matches!(x.signal, territory::Signal::Inflow(1, ..)))
            .map(|x| history::values(x, &s, &times).0)
            .fold(vec![0.0; n], |acc, v| {
                acc.iter().zip(v).map(|(a, b)| a + b).collect()
            });
        let night_min = |from: usize| b[from..from + 24].iter().copied().fold(f64::MAX, f64::min);
        assert!(night_min(n - 25) > night_min(n - 24 * 20) + 2.0);
    }
}
