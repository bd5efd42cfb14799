//! The BattLeDIM-style benchmark end to end: draws a leak schedule, simulates SCADA data
//! on L-Town, detects leaks and scores the detections.
//!
//! ```text
//! cargo run --release -p jumeau-water --example battledim -- \
//!     <L-TOWN.inp> <output dir> [days=365] [seed=2025] [leaks=20] [training days=14]
//! ```
//!
//! Writes the scenario CSV files, `leak_schedule.csv` and `detections.csv` to the output
//! directory and prints the score.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use jumeau_water::benchmark::{self, ScenarioSettings};
use jumeau_water::{inp, Result, WaterError};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> Result<T> {
    match args.get(i) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| WaterError::Data(format!("argument {i} '{s}' is not a number"))),
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(inp_path), Some(out)) = (args.get(1), args.get(2)) else {
        return Err(WaterError::Data(
            "usage: battledim <L-TOWN.inp> <output dir> [days] [seed] [leaks] [training days]"
                .into(),
        ));
    };
    let days: u32 = arg(&args, 3, 365)?;
    let seed: u64 = arg(&args, 4, 2025)?;
    let count: usize = arg(&args, 5, 20)?;
    let training: u32 = arg(&args, 6, 14)?;
    let out = PathBuf::from(out);
    let text = std::fs::read_to_string(inp_path)
        .map_err(|e| WaterError::Data(format!("{inp_path}: {e}")))?;
    let net = inp::parse(&text)?;
    let sensors = benchmark::ltown_2018()?.sensors;
    let start = Utc
        .with_ymd_and_hms(2019, 1, 1, 0, 0, 0)
        .single()
        .ok_or_else(|| WaterError::Data("bad start".into()))?;
    let leaks = benchmark::random_schedule(&net, seed, start, days, training, count);

    let t0 = Instant::now();
    let scenario = benchmark::generate(
        &net,
        &sensors,
        &leaks,
        &ScenarioSettings::new(start, days, seed),
    )?;
    let t_sim = t0.elapsed();
    benchmark::write_scenario(&scenario, &out)?;

    let t1 = Instant::now();
    let data = benchmark::read_scenario(&out)?;
    let (events, detections) = benchmark::detect(&net, &data, training)?;
    let t_detect = t1.elapsed();
    let path = out.join("detections.csv");
    std::fs::write(&path, benchmark::write_detections(&detections))
        .map_err(|e| WaterError::Data(format!("{}: {e}", path.display())))?;

    let s = benchmark::score(&net, &data.leaks, &data.leak_flows, &detections);
    println!(
        "days {days}, seed {seed}, leaks {}, training days {training}",
        leaks.len()
    );
    println!(
        "simulation {:.1} s, detection {:.1} s",
        t_sim.as_secs_f64(),
        t_detect.as_secs_f64()
    );
    for l in &data.leaks {
        println!(
            "leak {:>6} {} → {} d={:.4} {:?}",
            l.pipe,
            l.start.format(benchmark::TIME_FORMAT),
            l.end.format(benchmark::TIME_FORMAT),
            l.diameter_m,
            l.kind
        );
    }
    for (e, d) in events.iter().zip(&s.details) {
        println!(
            "detection {:>6} {} leak {:?} distance {:?} m, {:.0} €, uncertainty {:?} m, flow {:.1} m³/h",
            d.detection.pipe,
            d.detection.time.format(benchmark::TIME_FORMAT),
            d.leak.map(|i| data.leaks[i].pipe.clone()),
            d.distance_m.map(|x| x.round()),
            d.euros,
            e.uncertainty_m.map(f64::round),
            e.estimated_flow_m3h
        );
    }
    println!(
        "TP {} FP {} FN {} repeats {} mean distance {:?} m score {:.0} € (perfect detector {:.0} €)",
        s.true_positives,
        s.false_positives,
        s.false_negatives,
        s.repeats,
        s.mean_distance_m.map(|x| x.round()),
        s.euros,
        s.best_possible_euros
    );
    Ok(())
}
