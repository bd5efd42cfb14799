//! `jumeau water`: EPANET networks in and out of the twin, and the BattLeDIM-style leak
//! detection benchmark — `schedule` draws leaks, `scenario` simulates a year of SCADA data
//! from a network and a leak schedule, `detect` finds leaks in SCADA files, `score`
//! applies the BattLeDIM rule.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _};
use chrono::{DateTime, TimeZone, Utc};
use clap::Subcommand;
use jumeau_api::water::service;
use jumeau_water::benchmark::{self, Configuration, ScenarioSettings};
use jumeau_water::{inp, Georeference, Network};

/// Water commands.
#[derive(Debug, Subcommand)]
pub enum WaterCommand {
    /// Simulate SCADA data (pressures, flows, tank levels, AMR demands at 5-minute steps)
    /// from a network and a leak schedule, as CSV files in a directory.
    Scenario {
        /// The EPANET network (L-TOWN.inp).
        #[arg(long)]
        inp: PathBuf,
        /// The leak schedule: a BattLeDIM configuration (.yaml: times, leakages and sensor
        /// lists) or a CSV written by this command (leak_schedule.csv).
        #[arg(long)]
        leaks: PathBuf,
        /// Output directory (created if needed).
        #[arg(long)]
        out: PathBuf,
        /// Seed of the demand variations and sensor noise.
        #[arg(long, default_value_t = 2025)]
        seed: u64,
        /// Length in days (the schedule's StartTime to EndTime, else 365).
        #[arg(long)]
        days: Option<u32>,
        /// First timestamp, "2019-01-01 00:00" UTC (the schedule's StartTime by default).
        #[arg(long)]
        start: Option<String>,
    },
    /// Draw a random leak schedule (pipes at random, 8 to 25 mm, half abrupt, half
    /// incipient, none in the training days) as a CSV for `scenario`.
    Schedule {
        /// The EPANET network.
        #[arg(long)]
        inp: PathBuf,
        /// CSV file to write.
        #[arg(long)]
        out: PathBuf,
        /// Number of leaks.
        #[arg(long, default_value_t = 20)]
        count: usize,
        /// Seed of the draw.
        #[arg(long, default_value_t = 2025)]
        seed: u64,
        /// First timestamp, "2019-01-01 00:00" UTC.
        #[arg(long, default_value = "2019-01-01 00:00")]
        start: String,
        /// Length in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Leading days without leaks (the detector's training period).
        #[arg(long, default_value_t = 14)]
        training_days: u32,
    },
    /// Detect leaks in SCADA CSV files (Pressures.csv, Flows.csv, Levels.csv) and write the
    /// detections (pipe, time).
    Detect {
        /// The EPANET network.
        #[arg(long)]
        inp: PathBuf,
        /// Directory of the SCADA files.
        #[arg(long)]
        scada: PathBuf,
        /// Detections CSV to write.
        #[arg(long)]
        out: PathBuf,
        /// Leading days taken as leak-free to learn the sensors' behaviour.
        #[arg(long, default_value_t = 14)]
        training_days: u32,
        /// Also write the leak events (start, ranked candidate pipes, uncertainty, flow) as
        /// JSON here.
        #[arg(long)]
        events: Option<PathBuf>,
    },
    /// Score detections with the BattLeDIM rule: a true positive is in time and within
    /// 300 m of network distance of a leak; economic score in euros.
    Score {
        /// The EPANET network.
        #[arg(long)]
        inp: PathBuf,
        /// The true schedule: a scenario directory, its leak_schedule.csv, or a BattLeDIM
        /// .yaml configuration.
        #[arg(long)]
        truth: PathBuf,
        /// The detections CSV.
        #[arg(long)]
        detections: PathBuf,
        /// The leak outflows (Leaks.csv) for the economic score; looked for next to the
        /// schedule by default.
        #[arg(long)]
        leak_flows: Option<PathBuf>,
    },
    /// Import an EPANET network into the twin, its local coordinates placed in Lambert-93.
    Import {
        /// The .inp file.
        #[arg(long)]
        inp: PathBuf,
        /// Network id (part of every entity id).
        #[arg(long)]
        network: String,
        /// Lambert-93 easting,northing (m) of the local origin, e.g. 842000,6519000.
        #[arg(long, value_parser = parse_point)]
        origin: (f64, f64),
        /// Local point mapped to the origin, x,y.
        #[arg(long, value_parser = parse_point, default_value = "0,0")]
        local_origin: (f64, f64),
        /// Metres per local unit (0.3048 for feet).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Counter-clockwise rotation (degrees).
        #[arg(long, default_value_t = 0.0)]
        rotation: f64,
        /// Target tenant.
        #[arg(long, default_value = jumeau_twin::DEFAULT_TENANT)]
        tenant: String,
    },
    /// Export a network of the twin as an EPANET .inp file (with the edits made since).
    Export {
        /// Network id.
        #[arg(long)]
        network: String,
        /// The tenant.
        #[arg(long, default_value = jumeau_twin::DEFAULT_TENANT)]
        tenant: String,
        /// Output file (standard output when absent or '-').
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

fn parse_point(s: &str) -> Result<(f64, f64), String> {
    let err = || format!("'{s}' must be two numbers x,y");
    let (a, b) = s.split_once(',').ok_or_else(err)?;
    let x: f64 = a.trim().parse().map_err(|_| err())?;
    let y: f64 = b.trim().parse().map_err(|_| err())?;
    Ok((x, y))
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_network(path: &Path) -> anyhow::Result<Network> {
    inp::parse(&read(path)?).with_context(|| format!("{}", path.display()))
}

/// A leak schedule from a BattLeDIM `.yaml` configuration or a `leak_schedule.csv`.
fn read_schedule(path: &Path) -> anyhow::Result<Configuration> {
    let text = read(path)?;
    let yaml = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "yalm"));
    let cfg = if yaml {
        benchmark::parse_configuration(&text)
    } else {
        benchmark::read_schedule(&text).map(|leaks| Configuration {
            leaks,
            ..Configuration::default()
        })
    };
    cfg.with_context(|| format!("{}", path.display()))
}

fn parse_start(s: &str) -> anyhow::Result<DateTime<Utc>> {
    Ok(jumeau_water::scada::parse_time(s)?)
}

/// Runs a water command.
pub async fn run(data: &Path, command: WaterCommand) -> anyhow::Result<()> {
    match command {
        WaterCommand::Scenario {
            inp,
            leaks,
            out,
            seed,
            days,
            start,
        } => scenario(&inp, &leaks, &out, seed, days, start.as_deref()),
        WaterCommand::Schedule {
            inp,
            out,
            count,
            seed,
            start,
            days,
            training_days,
        } => {
            let net = read_network(&inp)?;
            let leaks = benchmark::random_schedule(
                &net,
                seed,
                parse_start(&start)?,
                days,
                training_days,
                count,
            );
            std::fs::write(&out, benchmark::write_schedule(&leaks))
                .with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!("{} leaks written to {}", leaks.len(), out.display());
            Ok(())
        }
        WaterCommand::Detect {
            inp,
            scada,
            out,
            training_days,
            events,
        } => detect(&inp, &scada, &out, training_days, events.as_deref()),
        WaterCommand::Score {
            inp,
            truth,
            detections,
            leak_flows,
        } => score(&inp, &truth, &detections, leak_flows.as_deref()),
        WaterCommand::Import {
            inp,
            network,
            origin,
            local_origin,
            scale,
            rotation,
            tenant,
        } => {
            let georef = Georeference {
                origin_x: origin.0,
                origin_y: origin.1,
                local_origin,
                scale,
                rotation_deg: rotation,
            };
            let text = read(&inp)?;
            let twin = super::open_twin(data)?;
            let r = service::import_network(&twin, &tenant, &text, &network, &georef)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {}", inp.display(), e.detail))?;
            eprintln!(
                "network '{}' imported into tenant '{tenant}': {} entities ({} new): {} junctions, {} reservoirs, {} tanks, {} pipes, {} pumps, {} valves",
                r.network, r.entities, r.created, r.junctions, r.reservoirs, r.tanks, r.pipes, r.pumps, r.valves
            );
            Ok(())
        }
        WaterCommand::Export {
            network,
            tenant,
            output,
        } => {
            let twin = super::open_twin(data)?;
            let text = service::export_inp(&twin, &tenant, &network)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            match output.as_deref().filter(|p| p.as_os_str() != "-") {
                Some(p) => std::fs::write(p, text)
                    .with_context(|| format!("cannot write {}", p.display()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
    }
}

fn scenario(
    inp_path: &Path,
    leaks_path: &Path,
    out: &Path,
    seed: u64,
    days: Option<u32>,
    start: Option<&str>,
) -> anyhow::Result<()> {
    let net = read_network(inp_path)?;
    let cfg = read_schedule(leaks_path)?;
    let start = match (start, cfg.start) {
        (Some(s), _) => parse_start(s)?,
        (None, Some(s)) => s,
        (None, None) => Utc
            .with_ymd_and_hms(2019, 1, 1, 0, 0, 0)
            .single()
            .context("start date")?,
    };
    let days = match (days, cfg.end) {
        (Some(d), _) => d,
        (None, Some(end)) if end > start => {
            ((end - start).num_minutes() as f64 / 1440.0).ceil() as u32
        }
        _ => 365,
    };
    if days == 0 {
        bail!("--days must be at least 1");
    }
    let sensors = if cfg.sensors.pressure.is_empty() {
        benchmark::ltown_2018()?.sensors
    } else {
        cfg.sensors.clone()
    };
    let end = start + chrono::Duration::days(i64::from(days));
    for l in &cfg.leaks {
        if l.end < start || l.start >= end {
            eprintln!(
                "warning: leak on {} ({} to {}) lies outside the scenario ({} to {})",
                l.pipe,
                l.start.format(benchmark::TIME_FORMAT),
                l.end.format(benchmark::TIME_FORMAT),
                start.format(benchmark::TIME_FORMAT),
                end.format(benchmark::TIME_FORMAT)
            );
        }
    }
    let t0 = Instant::now();
    let sc = benchmark::generate(
        &net,
        &sensors,
        &cfg.leaks,
        &ScenarioSettings::new(start, days, seed),
    )?;
    let t_sim = t0.elapsed();
    benchmark::write_scenario(&sc, out)?;
    eprintln!(
        "{days} days from {} ({} steps of 5 min), {} leaks, seed {seed}: {} pressures, {} flows, {} levels, {} AMR demands written to {} (simulation {:.1} s, total {:.1} s)",
        start.format(benchmark::TIME_FORMAT),
        sc.pressures.times.len(),
        sc.leaks.len(),
        sc.pressures.ids.len(),
        sc.flows.ids.len(),
        sc.levels.ids.len(),
        sc.demands.ids.len(),
        out.display(),
        t_sim.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn detect(
    inp_path: &Path,
    scada: &Path,
    out: &Path,
    training_days: u32,
    events_path: Option<&Path>,
) -> anyhow::Result<()> {
    let net = read_network(inp_path)?;
    let t0 = Instant::now();
    let (data, mut warnings) = benchmark::read_scenario_checked(scada)?;
    let (data, w) = benchmark::prepare(&data);
    warnings.extend(w);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if data.pressures.ids.is_empty() {
        bail!(
            "no live pressure sensor is left in {}: nothing to detect with",
            scada.display()
        );
    }
    let (events, detections) = benchmark::detect(&net, &data, training_days)?;
    let elapsed = t0.elapsed();
    std::fs::write(out, benchmark::write_detections(&detections))
        .with_context(|| format!("cannot write {}", out.display()))?;
    if let Some(p) = events_path {
        let json = serde_json::to_string_pretty(&events)?;
        std::fs::write(p, json).with_context(|| format!("cannot write {}", p.display()))?;
    }
    eprintln!(
        "{} rows, {} pressure sensors: {} detections written to {} ({:.1} s)",
        data.pressures.times.len(),
        data.pressures.ids.len(),
        detections.len(),
        out.display(),
        elapsed.as_secs_f64()
    );
    Ok(())
}

fn score(
    inp_path: &Path,
    truth: &Path,
    detections_path: &Path,
    leak_flows: Option<&Path>,
) -> anyhow::Result<()> {
    let net = read_network(inp_path)?;
    let (schedule, dir) = if truth.is_dir() {
        (truth.join("leak_schedule.csv"), truth.to_path_buf())
    } else {
        (
            truth.to_path_buf(),
            truth.parent().map(Path::to_path_buf).unwrap_or_default(),
        )
    };
    let leaks = read_schedule(&schedule)?.leaks;
    let flows_path = leak_flows
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join("Leaks.csv"));
    let flows = if flows_path.exists() {
        benchmark::read_table(&read(&flows_path)?, "Leaks.csv")
            .with_context(|| format!("{}", flows_path.display()))?
    } else {
        eprintln!(
            "warning: no leak outflows ({}): the economic score counts only the penalties",
            flows_path.display()
        );
        Default::default()
    };
    let detections = benchmark::read_detections(&read(detections_path)?)
        .with_context(|| format!("{}", detections_path.display()))?;
    let s = benchmark::score(&net, &leaks, &flows, &detections);
    for d in &s.details {
        println!(
            "{} {:>6} {:<14} {:>8.0} €",
            d.detection.time.format(benchmark::TIME_FORMAT),
            d.detection.pipe,
            match (d.leak, d.distance_m) {
                (Some(i), Some(x)) => format!("{} at {x:.0} m", leaks[i].pipe),
                _ => "false positive".to_string(),
            },
            d.euros
        );
    }
    println!(
        "TP {} FP {} FN {} repeats {} mean distance {} score {:.0} € (perfect detector {:.0} €)",
        s.true_positives,
        s.false_positives,
        s.false_negatives,
        s.repeats,
        s.mean_distance_m
            .map_or("-".to_string(), |x| format!("{x:.0} m")),
        s.euros,
        s.best_possible_euros
    );
    Ok(())
}
