//! Grid search of the residual detector's CUSUM settings on a scenario directory written
//! by the `battledim` example (the tuning schedule, never the benchmark one).
//!
//! ```text
//! cargo run --release -p jumeau-water --example battledim_tune -- <L-TOWN.inp> <dir> [training days=14]
//! ```

use jumeau_water::benchmark;
use jumeau_water::leaks::ResidualSettings;
use jumeau_water::{inp, Result, WaterError};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(inp_path), Some(dir)) = (args.get(1), args.get(2)) else {
        return Err(WaterError::Data(
            "usage: battledim_tune <L-TOWN.inp> <dir> [training days]".into(),
        ));
    };
    let training: u32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(14);
    let text = std::fs::read_to_string(inp_path)
        .map_err(|e| WaterError::Data(format!("{inp_path}: {e}")))?;
    let net = inp::parse(&text)?;
    let data = benchmark::read_scenario(std::path::Path::new(dir))?;
    for model_based in [false, true] {
        for k in [0.5, 1.0] {
            for h in [20.0, 30.0, 45.0, 60.0] {
                for sensors in [1, 2, 3] {
                    let settings = ResidualSettings {
                        cusum_k: k,
                        cusum_h: h,
                        localisation_sensors: sensors,
                        ..Default::default()
                    };
                    let (_, det) =
                        benchmark::detect_with(&net, &data, training, &settings, model_based)?;
                    let s = benchmark::score(&net, &data.leaks, &data.leak_flows, &det);
                    println!(
                    "model {model_based:>5} k {k:>3} h {h:>4} sensors {sensors}: TP {} FP {} FN {} score {:>8.0} €",
                    s.true_positives, s.false_positives, s.false_negatives, s.euros
                );
                }
            }
        }
    }
    Ok(())
}
