//! A year of schedules and energy for a département's lighting syndicate: 100,000 points
//! lumineux on 3,334 armoires (30 each), four programs, every night of 2025.
//!
//! `CARGO_TARGET_DIR=/work/target-lighting cargo bench -p jumeau-lighting --bench year`
//!
//! What is timed: summing the lamps per armoire and program, compiling the programs for the
//! year (once, shared), the sun table of each armoire (367 sunsets and sunrises), and the
//! monthly baseline and scheduled kWh of every armoire. Lamps share their armoire's sun
//! times, so the cost grows with armoires × nights, not lamps × minutes.
#![allow(missing_docs)]

use std::time::Duration;

use chrono::NaiveTime;
use criterion::{criterion_group, criterion_main, Criterion};
use jumeau_lighting::energy::{cabinet_loads, simulate_year, Assignments, PowerModel};
use jumeau_lighting::inventory::{
    Cabinet, Inventory, LightingCategory, Luminaire, Streetlight, Technology,
};
use jumeau_lighting::schedule::{DimStep, Exception, NightPlan, Program, TimeWindow};
use jumeau_lighting::PARIS;

const LAMPS: usize = 100_000;
const PER_CABINET: usize = 30;

/// A cheap deterministic generator.
fn mix(i: usize) -> u64 {
    (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("valid time")
}

fn programs() -> Vec<Program> {
    let eco = Program {
        id: "eco".into(),
        name: "Extinction 00:00–05:00".into(),
        on_offset_min: 10,
        off_offset_min: -10,
        plan: NightPlan {
            initial_level_pct: 100.0,
            steps: vec![DimStep {
                at: time(22, 0),
                level_pct: 50.0,
            }],
            switch_off: vec![TimeWindow::hm((0, 0), (5, 0)).expect("valid window")],
        },
        presence: None,
        exceptions: vec![Exception {
            date: chrono::NaiveDate::from_ymd_opt(2025, 7, 14).expect("valid date"),
            yearly: true,
            label: "Fête nationale".into(),
            plan: NightPlan::default(),
        }],
    };
    let dim = Program {
        id: "dim".into(),
        name: "Gradation 50 % de 22:00 à 06:00".into(),
        plan: NightPlan {
            initial_level_pct: 100.0,
            steps: vec![
                DimStep {
                    at: time(22, 0),
                    level_pct: 50.0,
                },
                DimStep {
                    at: time(6, 0),
                    level_pct: 100.0,
                },
            ],
            switch_off: vec![],
        },
        ..Program::dusk_to_dawn("dim")
    };
    let deep = Program {
        id: "deep".into(),
        name: "Détection, 20 % de 21:00 à 06:30".into(),
        plan: NightPlan {
            initial_level_pct: 80.0,
            steps: vec![
                DimStep {
                    at: time(21, 0),
                    level_pct: 20.0,
                },
                DimStep {
                    at: time(6, 30),
                    level_pct: 80.0,
                },
            ],
            switch_off: vec![TimeWindow::hm((1, 0), (4, 30)).expect("valid window")],
        },
        ..Program::dusk_to_dawn("deep")
    };
    vec![Program::dusk_to_dawn("full"), eco, dim, deep]
}

fn inventory() -> Inventory {
    let cabinets = LAMPS.div_ceil(PER_CABINET);
    let side = (cabinets as f64).sqrt().ceil() as usize;
    let cabinet_list: Vec<Cabinet> = (0..cabinets)
        .map(|c| Cabinet {
            id: format!("A{c}"),
            lon: 4.0 + (c % side) as f64 / side as f64,
            lat: 45.0 + (c / side) as f64 / side as f64,
            circuits: vec![],
            groups: vec![],
        })
        .collect();
    let streetlights = (0..LAMPS)
        .map(|i| {
            let c = &cabinet_list[i / PER_CABINET];
            let r = mix(i);
            let (tech, w) = match r % 10 {
                0..=5 => (Technology::Led, 20.0 + (r % 60) as f64),
                6..=8 => (
                    Technology::HighPressureSodium,
                    [70.0, 100.0, 150.0][(r % 3) as usize],
                ),
                _ => (Technology::MetalHalide, 100.0),
            };
            Streetlight {
                id: format!("S{i}"),
                lon: c.lon + (r % 100) as f64 * 1e-5,
                lat: c.lat,
                luminaire: Luminaire::new(tech, w),
                category: LightingCategory::Road,
                installed_on: None,
                mast_height_m: None,
                cabinet: Some(c.id.clone()),
                circuit: None,
                group: (i % PER_CABINET < 10).then(|| format!("G{}", i / PER_CABINET)),
            }
        })
        .collect();
    Inventory {
        streetlights,
        cabinets: cabinet_list,
        groups: vec![],
    }
}

fn assignments(inv: &Inventory) -> Assignments {
    let ids = ["full", "eco", "dim", "deep"];
    Assignments {
        by_cabinet: inv
            .cabinets
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), ids[i % 4].to_string()))
            .collect(),
        by_group: (0..inv.cabinets.len())
            .filter(|i| i % 3 == 0)
            .map(|i| (format!("G{i}"), "deep".to_string()))
            .collect(),
        default: None,
    }
}

fn year(c: &mut Criterion) {
    let inv = inventory();
    let programs = programs();
    let assignments = assignments(&inv);
    let model = PowerModel::default();
    let mut group = c.benchmark_group("lighting");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("year_100k_points_lumineux", |b| {
        b.iter(|| {
            let loads =
                cabinet_loads(&inv, &assignments, &programs, &model).expect("known programs");
            let years = simulate_year(2025, &loads, &programs, &model, PARIS).expect("valid year");
            let total: f64 = years
                .iter()
                .flat_map(|y| y.months.iter())
                .map(|m| m.scheduled_kwh)
                .sum();
            assert!(total > 0.0);
            years
        })
    });
    group.finish();

    // The figures, once, for the record.
    let loads = cabinet_loads(&inv, &assignments, &programs, &model).expect("known programs");
    let years = simulate_year(2025, &loads, &programs, &model, PARIS).expect("valid year");
    let (base, sched): (f64, f64) = years
        .iter()
        .flat_map(|y| y.months.iter())
        .fold((0.0, 0.0), |(b, s), m| {
            (b + m.baseline_kwh, s + m.scheduled_kwh)
        });
    println!(
        "{} armoires, {} points lumineux: baseline {:.1} GWh, scheduled {:.1} GWh ({:.0} % saved)",
        loads.len(),
        LAMPS,
        base / 1e6,
        sched / 1e6,
        100.0 * (1.0 - sched / base)
    );
}

criterion_group!(benches, year);
criterion_main!(benches);
