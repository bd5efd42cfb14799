//! A BattLeDIM-style leak detection benchmark (Vrachimis et al., "BattLeDIM: Battle of the
//! Leakage Detection and Isolation Methods", 2020, L-Town network, KIOS Research Center).
//!
//! - [`generate`]: SCADA data (pressures, flows, tank levels, AMR demands at 5-minute steps)
//!   simulated with `epanet-rs` from a network, a sensor layout and a leak schedule, with
//!   varied demand patterns and sensor noise; [`write_scenario`] stores it as CSV files.
//! - [`detect`]: reads such data and returns detections (pipe, time).
//! - [`score`]: the BattLeDIM scoring rule — a detection is a true positive when its time
//!   lies between the leak's start and end and its localisation distance is at most 300 m;
//!   it earns 0.8 €/m³ of the leak volume from detection to the end of the evaluation
//!   period minus (distance/300) × 500 €; any other detection costs 500 €; a repeated
//!   detection of the same leak counts 0.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Result, WaterError};
use crate::graph::NetworkGraph;
use crate::hydraulics::{leak_sensitivity, orifice_coefficient_m3h, set_time, Runner};
use crate::inp::{Network, NodeKind, Pattern};
use crate::leaks::{detect_from_residuals, LeakEvent, Localiser, ResidualSettings, SensorTable};
use crate::scada::{self, parse_time};

pub use crate::scada::TIME_FORMAT;

/// How a leak grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeakKind {
    /// Full size at once (a burst).
    Abrupt,
    /// Grows linearly from nothing at the start to full size at the peak time.
    Incipient,
}

/// One leak of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakSpec {
    /// The leaking pipe.
    pub pipe: String,
    /// Start.
    pub start: DateTime<Utc>,
    /// End (repair).
    pub end: DateTime<Utc>,
    /// Equivalent orifice diameter (m).
    pub diameter_m: f64,
    /// Growth.
    pub kind: LeakKind,
    /// Time of full size (= start for an abrupt leak).
    pub peak: DateTime<Utc>,
}

impl LeakSpec {
    /// Fraction of the full orifice area open at `t` (0 outside the leak's life).
    pub fn opening(&self, t: DateTime<Utc>) -> f64 {
        if t < self.start || t > self.end {
            return 0.0;
        }
        match self.kind {
            LeakKind::Abrupt => 1.0,
            LeakKind::Incipient => {
                let total = (self.peak - self.start).num_seconds();
                if total <= 0 || t >= self.peak {
                    1.0
                } else {
                    (t - self.start).num_seconds() as f64 / total as f64
                }
            }
        }
    }
}

/// The sensor layout of a benchmark.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SensorLayout {
    /// Nodes with a pressure sensor.
    pub pressure: Vec<String>,
    /// Links with a flow meter.
    pub flow: Vec<String>,
    /// Tanks with a level sensor.
    pub level: Vec<String>,
    /// Junctions with an AMR demand meter.
    pub amr: Vec<String>,
}

/// A leak schedule and sensor layout, as in BattLeDIM's dataset configuration files.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Configuration {
    /// Start of the period, if given.
    pub start: Option<DateTime<Utc>>,
    /// End of the period, if given.
    pub end: Option<DateTime<Utc>>,
    /// The leaks.
    pub leaks: Vec<LeakSpec>,
    /// The sensors.
    pub sensors: SensorLayout,
}

/// Reads a BattLeDIM dataset configuration (`dataset_configuration_*.yalm`). Only its
/// simple structure is read: `times:` with `StartTime`/`EndTime`, `leakages:` items
/// `pipe, start, end, diameter, type, peak`, and the lists `pressure_sensors`,
/// `flow_sensors`, `level_sensors`, `amrs`. Times are taken as UTC.
pub fn parse_configuration(text: &str) -> Result<Configuration> {
    let mut cfg = Configuration::default();
    let mut key = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim_end();
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if !raw.starts_with(' ') && !raw.starts_with('-') && t.ends_with(':') {
            key = t.trim_end_matches(':').to_string();
            continue;
        }
        let err = |m: String| WaterError::Data(format!("configuration line {line_no}: {m}"));
        if let Some(item) = t.strip_prefix('-') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            match key.as_str() {
                "leakages" => {
                    let f: Vec<&str> = item.split(',').map(str::trim).collect();
                    if f.len() < 6 {
                        return Err(err(format!(
                            "a leak needs 6 fields (pipe, start, end, diameter, type, peak), found {}",
                            f.len()
                        )));
                    }
                    let kind = match f[4].to_ascii_lowercase().as_str() {
                        "abrupt" => LeakKind::Abrupt,
                        "incipient" => LeakKind::Incipient,
                        other => {
                            return Err(err(format!(
                                "leak type '{other}' is not 'abrupt' or 'incipient'"
                            )))
                        }
                    };
                    let diameter_m = f[3].parse::<f64>().map_err(|_| {
                        err(format!("leak diameter '{}' is not a number (m)", f[3]))
                    })?;
                    cfg.leaks.push(LeakSpec {
                        pipe: f[0].to_string(),
                        start: parse_time(f[1]).map_err(|e| err(e.to_string()))?,
                        end: parse_time(f[2]).map_err(|e| err(e.to_string()))?,
                        diameter_m,
                        kind,
                        peak: parse_time(f[5]).map_err(|e| err(e.to_string()))?,
                    });
                }
                "pressure_sensors" => cfg.sensors.pressure.push(item.to_string()),
                "flow_sensors" => cfg.sensors.flow.push(item.to_string()),
                "level_sensors" => cfg.sensors.level.push(item.to_string()),
                "amrs" => cfg.sensors.amr.push(item.to_string()),
                _ => {}
            }
        } else if key == "times" {
            if let Some((k, v)) = t.split_once(':') {
                match k.trim() {
                    "StartTime" => cfg.start = Some(parse_time(v).map_err(|e| err(e.to_string()))?),
                    "EndTime" => cfg.end = Some(parse_time(v).map_err(|e| err(e.to_string()))?),
                    _ => {}
                }
            }
        }
    }
    Ok(cfg)
}

/// A small deterministic generator (SplitMix64, Steele et al. 2014), so that scenarios
/// are reproducible from their seed without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize % n.max(1)
    }
}

/// A random leak schedule over `[start, start + days)`: `count` leaks on distinct pipes
/// whose first node is a junction, diameters 8–25 mm as in BattLeDIM, half abrupt, half
/// incipient, lasting 2 days to the end of the period, never in the first `quiet_days`
/// (kept leak-free for training).
pub fn random_schedule(
    net: &Network,
    seed: u64,
    start: DateTime<Utc>,
    days: u32,
    quiet_days: u32,
    count: usize,
) -> Vec<LeakSpec> {
    let mut rng = Rng::new(seed);
    let kinds = net.node_kinds();
    let candidates: Vec<&str> = net
        .pipes
        .iter()
        .filter(|p| kinds.get(p.node1.as_str()) == Some(&NodeKind::Junction))
        .map(|p| p.id.as_str())
        .collect();
    let mut used = BTreeSet::new();
    let mut out = Vec::new();
    let step_min = 5;
    let span_steps = ((days.saturating_sub(quiet_days)) as i64 * 24 * 60 / step_min).max(1);
    let end = start + Duration::days(days as i64) - Duration::minutes(step_min);
    while out.len() < count && used.len() < candidates.len() {
        let pipe = candidates[rng.below(candidates.len())];
        if !used.insert(pipe) {
            continue;
        }
        let offset =
            quiet_days as i64 * 24 * 60 + (rng.below(span_steps as usize) as i64) * step_min;
        let leak_start = start + Duration::minutes(offset);
        let remaining = (end - leak_start).num_minutes().max(step_min);
        let duration = if rng.uniform() < 0.4 {
            remaining
        } else {
            (2 * 24 * 60 + rng.below(remaining as usize) as i64).min(remaining)
        };
        let leak_end = leak_start + Duration::minutes(duration / step_min * step_min);
        let kind = if rng.uniform() < 0.5 {
            LeakKind::Abrupt
        } else {
            LeakKind::Incipient
        };
        let peak = match kind {
            LeakKind::Abrupt => leak_start,
            LeakKind::Incipient => {
                leak_start + Duration::minutes((duration as f64 * rng.uniform() * 0.8) as i64)
            }
        };
        out.push(LeakSpec {
            pipe: pipe.to_string(),
            start: leak_start,
            end: leak_end,
            diameter_m: 0.008 + 0.017 * rng.uniform(),
            kind,
            peak,
        });
    }
    out.sort_by_key(|l| l.start);
    out
}

/// Settings of a generated scenario.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScenarioSettings {
    /// First timestamp.
    pub start: DateTime<Utc>,
    /// Length in days.
    pub days: u32,
    /// Seed of the demand variations and sensor noise.
    pub seed: u64,
    /// Groups of junctions sharing one varied copy of each base pattern.
    pub demand_groups: usize,
    /// Standard deviation of the day-to-day demand factor.
    pub daily_sigma: f64,
    /// Standard deviation of the 5-minute demand noise (relative, AR(1) with 0.9).
    pub step_sigma: f64,
    /// Pressure sensor noise (m).
    pub pressure_noise_m: f64,
    /// Flow meter noise (relative).
    pub flow_noise: f64,
    /// Level sensor noise (m).
    pub level_noise_m: f64,
    /// AMR noise (relative).
    pub amr_noise: f64,
}

impl ScenarioSettings {
    /// Defaults for `days` days from `start`.
    pub fn new(start: DateTime<Utc>, days: u32, seed: u64) -> Self {
        Self {
            start,
            days,
            seed,
            demand_groups: 6,
            daily_sigma: 0.04,
            step_sigma: 0.03,
            pressure_noise_m: 0.05,
            flow_noise: 0.005,
            level_noise_m: 0.005,
            amr_noise: 0.02,
        }
    }
}

/// Generated SCADA data and the truth behind it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Scenario {
    /// Pressures (m) at the pressure sensors.
    pub pressures: SensorTable,
    /// Flows (m³/h) at the flow meters.
    pub flows: SensorTable,
    /// Levels (m) at the level sensors.
    pub levels: SensorTable,
    /// Demands (L/h) at the AMR meters.
    pub demands: SensorTable,
    /// The leak schedule.
    pub leaks: Vec<LeakSpec>,
    /// Outflow of each leak (m³/h) at every step: one column per leak, in schedule order.
    pub leak_flows: SensorTable,
}

fn table(times: &[DateTime<Utc>], ids: &[String]) -> SensorTable {
    SensorTable {
        times: times.to_vec(),
        ids: ids.to_vec(),
        values: vec![Vec::with_capacity(times.len()); ids.len()],
    }
}

/// Builds the demand patterns of the scenario: for each base pattern and group, the base
/// multipliers over the whole period × a daily factor (mean 1, `daily_sigma`, weekends
/// and a seasonal swing of ±8 % included) × AR(1) step noise. Junction demands are spread
/// over the groups. Returns the new network and, per junction, its (base, pattern index)
/// demands for the AMR readings.
fn vary_demands(
    net: &Network,
    s: &ScenarioSettings,
    steps: usize,
    step_s: u64,
    rng: &mut Rng,
) -> Network {
    let mut out = net.clone();
    let pattern_step = net
        .time_seconds(&["Pattern", "Timestep"])
        .unwrap_or(3600)
        .max(1);
    let groups = s.demand_groups.max(1);
    let mut new_patterns = Vec::new();
    for p in &net.patterns {
        for g in 0..groups {
            let mut values = Vec::with_capacity(steps);
            let mut ar = 0.0;
            let mut day_factor = 1.0;
            for k in 0..steps {
                let t = k as u64 * step_s;
                if (k as u64).is_multiple_of((86_400 / step_s).max(1)) {
                    let day = t / 86_400;
                    let date = s.start + Duration::days(day as i64);
                    let doy = chrono::Datelike::ordinal(&date) as f64;
                    let season =
                        1.0 + 0.08 * (2.0 * std::f64::consts::PI * (doy - 105.0) / 365.0).sin();
                    day_factor = season * (1.0 + s.daily_sigma * rng.normal());
                }
                ar = 0.9 * ar + (1.0_f64 - 0.81).sqrt() * s.step_sigma * rng.normal();
                let base_index = ((t / pattern_step) as usize) % p.multipliers.len().max(1);
                let base = p.multipliers.get(base_index).copied().unwrap_or(1.0);
                values.push((base * day_factor * (1.0 + ar)).max(0.0));
            }
            new_patterns.push(Pattern {
                id: format!("{}_g{g}", p.id),
                multipliers: values,
            });
        }
    }
    let group_of = |junction: &str| -> usize {
        junction
            .bytes()
            .fold(7usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
            % groups
    };
    let default = net.default_pattern().map(|p| p.id.clone());
    // Every demand goes to [DEMANDS] with its group's pattern.
    let mut demands = Vec::new();
    for j in &net.junctions {
        for mut d in net.junction_demands(j) {
            let base_pattern = d.pattern.clone().or_else(|| default.clone());
            d.pattern = base_pattern.map(|p| format!("{p}_g{}", group_of(&j.id)));
            demands.push(d);
        }
    }
    out.demands = demands;
    out.patterns.extend(new_patterns);
    out
}

/// Scenarios at least this long are simulated as two halves on two threads (see
/// [`generate`]); shorter ones in one run.
const SPLIT_MIN_DAYS: u32 = 60;

/// Days simulated before the second half's first step, so that its tank levels and pump
/// states come close to those of the first half. The tank of L-Town, started 1.5 m away
/// from the first half's level, is within 0.4 mm of it after 7 days with its base
/// demands (the pump's head curve and the outflow pull the level back); with a year's
/// varied demands the pump's on/off cycle keeps a small lag much longer: at the start of
/// July the two runs were 12.6 mm apart after 14 days, 6.5 mm after 30, pump in the same
/// state.
const WARM_UP_DAYS: u64 = 30;

/// Largest difference of any tank level (m) between the two halves over the hour before
/// the seam; beyond it the halves are thrown away and the period simulated in one run.
/// A centimetre is twice the level sensors' default noise and less than the level's usual
/// change over one 5-minute step while the pump runs or stops (about 2 cm on L-Town), so
/// the seam cannot be told from the data.
const SEAM_LEVEL_TOLERANCE_M: f64 = 0.01;

const SEAM_CHECK_STEPS: usize = 12;

/// What every part of a scenario's simulation shares.
struct ScenarioModel<'a> {
    net: &'a Network,
    sim_net: Network,
    sensors: &'a SensorLayout,
    leaks: &'a [LeakSpec],
    /// Per leak, its junction and emitter coefficient at full opening (flow units per √m).
    leak_nodes: Vec<(String, f64)>,
    /// Per AMR meter, its (base demand, index of its varied pattern in `sim_net`) pairs.
    amr_demands: Vec<Vec<(f64, Option<usize>)>>,
    settings: &'a ScenarioSettings,
    step_s: u64,
}

/// One part of the period: steps `first..end` are kept, the simulation starts
/// `warm_up` steps earlier.
#[derive(Clone, Copy)]
struct Span {
    first: usize,
    end: usize,
    warm_up: usize,
    /// The index of the part: it seeds the part's sensor noise.
    index: u64,
}

impl Span {
    /// The whole period in one run.
    fn whole(steps: usize) -> Self {
        Self {
            first: 0,
            end: steps,
            warm_up: 0,
            index: 0,
        }
    }
}

/// The readings of one part, column by column, and the noise-free state (tank levels,
/// link flows) at the steps compared at a seam.
struct SpanOutput {
    pressures: Vec<Vec<f64>>,
    flows: Vec<Vec<f64>>,
    levels: Vec<Vec<f64>>,
    demands: Vec<Vec<f64>>,
    leak_flows: Vec<Vec<f64>>,
    /// (step, tank levels, link flows) for the steps of `probe`.
    probes: Vec<(usize, Vec<f64>, Vec<f64>)>,
}

impl ScenarioModel<'_> {
    /// Simulates `span`, recording the raw state at the steps of `probe`.
    fn simulate(&self, span: Span, probe: std::ops::Range<usize>) -> Result<SpanOutput> {
        let step_s = self.step_s;
        let sim_start = span.first - span.warm_up;
        let offset_s = sim_start as u64 * step_s;
        let hhmm = |secs: u64| format!("{}:{:02}", secs / 3600, (secs % 3600) / 60);
        let mut net = self.sim_net.clone();
        set_time(
            &mut net,
            &["Duration"],
            &hhmm((span.end - 1 - sim_start) as u64 * step_s),
        );
        // The varied patterns cover the whole period: start reading them at this part.
        set_time(&mut net, &["Pattern", "Start"], &hhmm(offset_s));
        let flow_to_m3h = self.net.m3h_per_flow_unit();
        let mut runner = Runner::new(&net)?;
        let node_col = |id: &str| runner.node_ids().iter().position(|n| n == id);
        let link_col = |id: &str| runner.link_ids().iter().position(|n| n == id);
        let find =
            |ids: &[String], f: &dyn Fn(&str) -> Option<usize>, what: &str| -> Result<Vec<usize>> {
                ids.iter()
                    .map(|id| {
                        f(id).ok_or_else(|| {
                            WaterError::Data(format!("{what} '{id}' is not in the network"))
                        })
                    })
                    .collect()
            };
        let s = self.sensors;
        let p_cols = find(&s.pressure, &node_col, "pressure sensor node")?;
        let f_cols = find(&s.flow, &link_col, "flow sensor link")?;
        let l_cols = find(&s.level, &node_col, "level sensor tank")?;
        let leak_ids: Vec<String> = self.leak_nodes.iter().map(|(n, _)| n.clone()).collect();
        let leak_cols = find(&leak_ids, &node_col, "leak junction")?;
        let tank_ids: Vec<String> = self.net.tanks.iter().map(|t| t.id.clone()).collect();
        let tank_cols = find(&tank_ids, &node_col, "tank")?;
        let kept = span.end - span.first;
        let column = || Vec::with_capacity(kept);
        let mut out = SpanOutput {
            pressures: vec![column(); p_cols.len()],
            flows: vec![column(); f_cols.len()],
            levels: vec![column(); l_cols.len()],
            demands: vec![column(); self.amr_demands.len()],
            leak_flows: vec![column(); leak_cols.len()],
            probes: Vec::new(),
        };
        let settings = self.settings;
        let start = settings.start;
        let mut noise = Rng::new(settings.seed ^ 0x5EED ^ span.index.wrapping_mul(0x9E37_79B9));
        let leaks = self.leaks;
        let leak_nodes = &self.leak_nodes;
        runner.run(
            |t, r| {
                let now = start + Duration::seconds((offset_s + t) as i64);
                // Several leaks at one junction add up.
                let mut sums: HashMap<&str, f64> = HashMap::new();
                for (l, (node, coef)) in leaks.iter().zip(leak_nodes) {
                    *sums.entry(node.as_str()).or_default() += coef * l.opening(now);
                }
                for (node, c) in sums {
                    r.set_emitter(node, c)?;
                }
                Ok(())
            },
            |step| {
                let k = sim_start + (step.time_s / step_s) as usize;
                if probe.contains(&k) {
                    out.probes.push((
                        k,
                        tank_cols.iter().map(|&c| step.pressures[c]).collect(),
                        step.flows.to_vec(),
                    ));
                }
                if k < span.first || k >= span.end {
                    return Ok(());
                }
                let now = start + Duration::seconds((k as u64 * step_s) as i64);
                for (i, &c) in p_cols.iter().enumerate() {
                    let v = step.pressures[c] + settings.pressure_noise_m * noise.normal();
                    out.pressures[i].push((v * 100.0).round() / 100.0);
                }
                for (i, &c) in f_cols.iter().enumerate() {
                    let q = step.flows[c].abs() * flow_to_m3h;
                    let v = q * (1.0 + settings.flow_noise * noise.normal());
                    out.flows[i].push((v * 100.0).round() / 100.0);
                }
                for (i, &c) in l_cols.iter().enumerate() {
                    let v = step.pressures[c] + settings.level_noise_m * noise.normal();
                    out.levels[i].push((v * 1000.0).round() / 1000.0);
                }
                for (i, ds) in self.amr_demands.iter().enumerate() {
                    let q: f64 = ds
                        .iter()
                        .map(|(base, p)| {
                            let m = p
                                .and_then(|p| self.sim_net.patterns.get(p))
                                .and_then(|p| {
                                    p.multipliers.get(k % p.multipliers.len().max(1)).copied()
                                })
                                .unwrap_or(1.0);
                            base * m
                        })
                        .sum();
                    let v = q * flow_to_m3h * 1000.0 * (1.0 + settings.amr_noise * noise.normal());
                    out.demands[i].push((v.max(0.0) * 100.0).round() / 100.0);
                }
                for (i, (l, &c)) in leaks.iter().zip(&leak_cols).enumerate() {
                    // The emitter outflow at the node, shared among that node's open leaks.
                    let node = leak_nodes[i].0.as_str();
                    let total_open: f64 = leaks
                        .iter()
                        .zip(leak_nodes)
                        .filter(|(_, (n, _))| n == node)
                        .map(|(x, (_, coef))| coef * x.opening(now))
                        .sum();
                    let own = leak_nodes[i].1 * l.opening(now);
                    let share = if total_open > 0.0 {
                        own / total_open
                    } else {
                        0.0
                    };
                    let emitted = step.emitter_flows[c] * share * flow_to_m3h;
                    out.leak_flows[i].push(emitted);
                }
                Ok(())
            },
        )?;
        // A solver that stopped early leaves short columns: refuse rather than misalign.
        let got = out.pressures.first().map_or(kept, Vec::len);
        if got != kept {
            return Err(WaterError::Simulation(format!(
                "the simulation reported {got} of {kept} steps"
            )));
        }
        Ok(out)
    }
}

/// Whether two parts agree at their seam: every tank level within
/// [`SEAM_LEVEL_TOLERANCE_M`] and every link flow within 1 % (plus a ten-thousandth of the
/// largest flow), so pumps and valves are in the same state, at each compared step.
fn seam_agrees(a: &SpanOutput, b: &SpanOutput) -> bool {
    if a.probes.len() != b.probes.len() || a.probes.is_empty() {
        return false;
    }
    a.probes
        .iter()
        .zip(&b.probes)
        .all(|((ka, la, fa), (kb, lb, fb))| {
            // Closed links keep a residual flow of solver noise: the floor keeps it from
            // deciding.
            let scale = fa.iter().chain(fb).fold(0.0_f64, |m, q| m.max(q.abs()));
            ka == kb
                && la
                    .iter()
                    .zip(lb)
                    .all(|(x, y)| (x - y).abs() <= SEAM_LEVEL_TOLERANCE_M)
                && fa
                    .iter()
                    .zip(fb)
                    .all(|(x, y)| (x - y).abs() <= 0.01 * x.abs().max(y.abs()) + 1e-4 * scale)
        })
}

/// Prepares what every part of a scenario's simulation shares: the network with its
/// varied demand patterns and 5-minute steps, the leaks' junctions and coefficients, the
/// AMR meters' demands.
fn scenario_model<'a>(
    net: &'a Network,
    sensors: &'a SensorLayout,
    leaks: &'a [LeakSpec],
    settings: &'a ScenarioSettings,
    steps: usize,
    step_s: u64,
) -> Result<ScenarioModel<'a>> {
    let mut rng = Rng::new(settings.seed);
    let mut sim_net = vary_demands(net, settings, steps, step_s, &mut rng);
    let hhmm = |secs: u64| format!("{}:{:02}", secs / 3600, (secs % 3600) / 60);
    for k in [
        &["Hydraulic", "Timestep"][..],
        &["Pattern", "Timestep"][..],
        &["Report", "Timestep"][..],
        &["Quality", "Timestep"][..],
    ] {
        set_time(&mut sim_net, k, &hhmm(step_s));
    }
    set_time(&mut sim_net, &["Report", "Start"], "0:00");
    let flow_to_m3h = net.m3h_per_flow_unit();
    // Leak junctions and coefficients (flow units per √m).
    let kinds = net.node_kinds();
    let mut leak_nodes = Vec::new();
    for l in leaks {
        let pipe = net
            .pipes
            .iter()
            .find(|p| p.id == l.pipe)
            .ok_or_else(|| WaterError::Data(format!("leak on unknown pipe '{}'", l.pipe)))?;
        let node = [&pipe.node1, &pipe.node2]
            .into_iter()
            .find(|n| kinds.get(n.as_str()) == Some(&NodeKind::Junction))
            .ok_or_else(|| {
                WaterError::Data(format!("pipe '{}' has no junction end for a leak", l.pipe))
            })?;
        leak_nodes.push((
            node.clone(),
            orifice_coefficient_m3h(l.diameter_m) / flow_to_m3h,
        ));
    }
    // AMR readings from the demands (flow units → L/h) and the varied patterns.
    let patterns: HashMap<&str, usize> = sim_net
        .patterns
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let amr_demands: Vec<Vec<(f64, Option<usize>)>> = sensors
        .amr
        .iter()
        .map(|id| {
            sim_net
                .demands
                .iter()
                .filter(|d| &d.junction == id)
                .map(|d| {
                    (
                        d.base,
                        d.pattern.as_deref().and_then(|p| patterns.get(p).copied()),
                    )
                })
                .collect()
        })
        .collect();
    Ok(ScenarioModel {
        net,
        sim_net,
        sensors,
        leaks,
        leak_nodes,
        amr_demands,
        settings,
        step_s,
    })
}

/// Simulates `steps` as two halves on two threads, the second starting `warm_up` steps
/// early; if they do not agree at the seam, simulates the whole period again in one run.
fn simulate_halves(model: &ScenarioModel, steps: usize, warm_up: usize) -> Result<Vec<SpanOutput>> {
    let seam = steps / 2;
    let first = Span {
        end: seam,
        ..Span::whole(steps)
    };
    let second = Span {
        first: seam,
        end: steps,
        warm_up: warm_up.min(seam),
        index: 1,
    };
    let probe = seam.saturating_sub(SEAM_CHECK_STEPS)..seam;
    let (a, b) = std::thread::scope(|scope| {
        let later = scope.spawn(|| model.simulate(second, probe.clone()));
        let a = model.simulate(first, probe.clone());
        let b = later.join().unwrap_or_else(|_| {
            Err(WaterError::Simulation(
                "the simulation of the second half stopped unexpectedly".into(),
            ))
        });
        (a, b)
    });
    let (a, b) = (a?, b?);
    if seam_agrees(&a, &b) {
        Ok(vec![a, b])
    } else {
        Ok(vec![model.simulate(Span::whole(steps), 0..0)?])
    }
}

/// Simulates the scenario: the network with varied demands and the scheduled leaks (each
/// an emitter at the leaking pipe's first junction, coefficient from its orifice
/// diameter), sampled every 5 minutes at the sensors with noise. The network must use
/// metric units (m, m³/h for L-Town).
///
/// A scenario of [`SPLIT_MIN_DAYS`] days or more is simulated as two halves on two
/// threads: the only state carried from one step to the next is the tanks' levels (and
/// the pump and valve states they drive), so the second half starts [`WARM_UP_DAYS`]
/// early from the initial levels and, by its first kept step, has come close to the state
/// of the first half: the second half is a simulation of its own from a state that
/// differs from the first half's end by less than the sensors can show. The seam is
/// checked over the hour before it (tank levels within [`SEAM_LEVEL_TOLERANCE_M`], link
/// flows within 1 %); if it does not hold, the whole period is simulated again in one
/// run. The output depends on the seed only, never on the number of cores.
pub fn generate(
    net: &Network,
    sensors: &SensorLayout,
    leaks: &[LeakSpec],
    settings: &ScenarioSettings,
) -> Result<Scenario> {
    let step_s: u64 = 300;
    let steps = (settings.days as u64 * 86_400 / step_s) as usize;
    if steps == 0 {
        return Err(WaterError::Data("a scenario needs at least one day".into()));
    }
    if !net.is_metric() {
        return Err(WaterError::Data(
            "scenario generation needs a network in metric units (m, m³/h or L/s)".into(),
        ));
    }
    let model = scenario_model(net, sensors, leaks, settings, steps, step_s)?;
    let parts = if settings.days >= SPLIT_MIN_DAYS {
        simulate_halves(&model, steps, (WARM_UP_DAYS * 86_400 / step_s) as usize)?
    } else {
        vec![model.simulate(Span::whole(steps), 0..0)?]
    };
    let times: Vec<DateTime<Utc>> = (0..steps)
        .map(|k| settings.start + Duration::seconds((k as u64 * step_s) as i64))
        .collect();
    let join = |ids: &[String], pick: fn(&SpanOutput) -> &Vec<Vec<f64>>| -> SensorTable {
        let mut t = table(&times, ids);
        for part in &parts {
            for (column, values) in t.values.iter_mut().zip(pick(part)) {
                column.extend_from_slice(values);
            }
        }
        t
    };
    Ok(Scenario {
        pressures: join(&sensors.pressure, |p| &p.pressures),
        flows: join(&sensors.flow, |p| &p.flows),
        levels: join(&sensors.level, |p| &p.levels),
        demands: join(&sensors.amr, |p| &p.demands),
        leak_flows: join(
            &leaks.iter().map(|l| l.pipe.clone()).collect::<Vec<_>>(),
            |p| &p.leak_flows,
        ),
        leaks: leaks.to_vec(),
    })
}

/// Writes a table as CSV: `Timestamp` then one column per series.
pub fn write_table(t: &SensorTable) -> String {
    let mut out = String::from("Timestamp");
    for id in &t.ids {
        out.push(',');
        out.push_str(id);
    }
    out.push('\n');
    for (r, time) in t.times.iter().enumerate() {
        out.push_str(&time.format(TIME_FORMAT).to_string());
        for s in &t.values {
            let _ = write!(out, ",{}", s.get(r).copied().unwrap_or(f64::NAN));
        }
        out.push('\n');
    }
    out
}

/// Reads a table written by [`write_table`] (or BattLeDIM's comma-separated files),
/// checked by [`scada::read_table_checked`]; its warnings are dropped.
pub fn read_table(text: &str, name: &str) -> Result<SensorTable> {
    scada::read_table_checked(text, name).map(|(t, _)| t)
}

/// File names of a scenario directory.
pub const FILES: [&str; 5] = [
    "Pressures.csv",
    "Flows.csv",
    "Levels.csv",
    "Demands.csv",
    "Leaks.csv",
];

fn io_err(path: &Path, e: std::io::Error) -> WaterError {
    WaterError::Data(format!("{}: {e}", path.display()))
}

/// Writes a scenario as CSV files in a directory (created if needed), plus
/// `leak_schedule.csv` (pipe, start, end, diameter, type, peak), the truth for scoring.
pub fn write_scenario(sc: &Scenario, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    for (name, t) in FILES.iter().zip([
        &sc.pressures,
        &sc.flows,
        &sc.levels,
        &sc.demands,
        &sc.leak_flows,
    ]) {
        let p = dir.join(name);
        std::fs::write(&p, write_table(t)).map_err(|e| io_err(&p, e))?;
    }
    let p = dir.join("leak_schedule.csv");
    std::fs::write(&p, write_schedule(&sc.leaks)).map_err(|e| io_err(&p, e))
}

/// A leak schedule as CSV.
pub fn write_schedule(leaks: &[LeakSpec]) -> String {
    let mut out = String::from("pipe,start,end,diameter_m,type,peak\n");
    for l in leaks {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{}",
            l.pipe,
            l.start.format(TIME_FORMAT),
            l.end.format(TIME_FORMAT),
            l.diameter_m,
            match l.kind {
                LeakKind::Abrupt => "abrupt",
                LeakKind::Incipient => "incipient",
            },
            l.peak.format(TIME_FORMAT)
        );
    }
    out
}

/// Reads a schedule written by [`write_schedule`].
pub fn read_schedule(text: &str) -> Result<Vec<LeakSpec>> {
    let mut yaml = String::from("leakages:\n");
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        yaml.push_str("- ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    Ok(parse_configuration(&yaml)?.leaks)
}

/// Reads a scenario directory written by [`write_scenario`] (or SCADA exports in the same
/// form, without the truth files `Leaks.csv` and `leak_schedule.csv`).
pub fn read_scenario(dir: &Path) -> Result<Scenario> {
    read_scenario_checked(dir).map(|(sc, _)| sc)
}

/// [`read_scenario`] with the warnings of the checks (gaps, empty readings), each naming
/// the file, line and column.
pub fn read_scenario_checked(dir: &Path) -> Result<(Scenario, Vec<String>)> {
    let mut warnings = Vec::new();
    let mut table = |name: &str, optional: bool| -> Result<SensorTable> {
        let p = dir.join(name);
        // The truth (leak flows and schedule) is only there for generated data: real SCADA
        // exports have none, and detection does not need it.
        if optional && !p.exists() {
            return Ok(SensorTable::default());
        }
        let text = std::fs::read_to_string(&p).map_err(|e| io_err(&p, e))?;
        let (t, w) = scada::read_table_checked(&text, name)?;
        warnings.extend(w);
        Ok(t)
    };
    let pressures = table(FILES[0], false)?;
    let flows = table(FILES[1], false)?;
    let levels = table(FILES[2], false)?;
    let demands = table(FILES[3], true)?;
    let leak_flows = table(FILES[4], true)?;
    let schedule = dir.join("leak_schedule.csv");
    let leaks = if schedule.exists() {
        let text = std::fs::read_to_string(&schedule).map_err(|e| io_err(&schedule, e))?;
        read_schedule(&text)?
    } else {
        Vec::new()
    };
    Ok((
        Scenario {
            pressures,
            flows,
            levels,
            demands,
            leaks,
            leak_flows,
        },
        warnings,
    ))
}

/// Makes SCADA data fit for detection: dead pressure, flow and level sensors are left out,
/// the flow and level tables are put on the pressure table's timestamps, and missing
/// readings are carried forward. Returns the data and a warning per change, so that
/// detection degrades gracefully, and says so, when a sensor is missing.
pub fn prepare(data: &Scenario) -> (Scenario, Vec<String>) {
    let mut warnings = Vec::new();
    let mut out = data.clone();
    let times = out.pressures.times.clone();
    for (name, t) in [
        (FILES[0], &mut out.pressures),
        (FILES[1], &mut out.flows),
        (FILES[2], &mut out.levels),
    ] {
        if t.times != times {
            let index: HashMap<DateTime<Utc>, usize> =
                t.times.iter().enumerate().map(|(r, t)| (*t, r)).collect();
            let missing = times.iter().filter(|x| !index.contains_key(x)).count();
            if missing > 0 {
                warnings.push(format!(
                    "{name}: {missing} of the {} pressure timestamps have no row here (carried forward)",
                    times.len()
                ));
            }
            for col in t.values.iter_mut() {
                *col = times
                    .iter()
                    .map(|x| {
                        index
                            .get(x)
                            .and_then(|&r| col.get(r).copied())
                            .unwrap_or(f64::NAN)
                    })
                    .collect();
            }
            t.times = times.clone();
        }
        scada::drop_dead(t, name, &mut warnings);
        scada::fill_gaps(t);
    }
    (out, warnings)
}

/// One detection, as BattLeDIM asks for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The pipe believed to leak.
    pub pipe: String,
    /// When the leak was detected.
    pub time: DateTime<Utc>,
}

/// Detections as CSV (`pipe,time`).
pub fn write_detections(ds: &[Detection]) -> String {
    let mut out = String::from("pipe,time\n");
    for d in ds {
        let _ = writeln!(out, "{},{}", d.pipe, d.time.format(TIME_FORMAT));
    }
    out
}

/// Reads detections written by [`write_detections`].
pub fn read_detections(text: &str) -> Result<Vec<Detection>> {
    text.lines()
        .skip(1)
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let (pipe, time) = l.split_once(',').ok_or_else(|| {
                WaterError::Data(format!("detections line {}: expected 'pipe,time'", i + 2))
            })?;
            Ok(Detection {
                pipe: pipe.trim().to_string(),
                time: parse_time(time)?,
            })
        })
        .collect()
}

/// Detects leaks in SCADA data with the pressure-residual method of [`crate::leaks`]:
/// the first `training_days` are taken as leak-free. Returns the leak events (for their
/// candidates and uncertainty) and the BattLeDIM detections (first candidate, alarm time).
/// Pipes are ranked by distance from the most affected sensors: on the tuning schedule
/// (60 days, seed 99, 8 leaks) the model-based sensitivity ranking of
/// [`detect_with`]`(.., true)` found 1 to 3 leaks where the distance ranking found 4.
pub fn detect(
    net: &Network,
    data: &Scenario,
    training_days: u32,
) -> Result<(Vec<LeakEvent>, Vec<Detection>)> {
    detect_with(
        net,
        data,
        training_days,
        &ResidualSettings::default(),
        false,
    )
}

/// [`detect`] with explicit detector settings (`training_rows` and `rows_per_window` are
/// derived from `training_days` and the data's time step); `model_based` localises with
/// the leak sensitivity matrix of the network, else by distance from the most affected
/// sensors. The data go through [`prepare`] first: dead sensors are left out and missing
/// readings carried forward.
pub fn detect_with(
    net: &Network,
    data: &Scenario,
    training_days: u32,
    base: &ResidualSettings,
    model_based: bool,
) -> Result<(Vec<LeakEvent>, Vec<Detection>)> {
    let (data, _) = prepare(data);
    let data = &data;
    let graph = NetworkGraph::new(net);
    // Leak signatures at 03:00 for a 5 m³/h leak, flows in m³/h like the data.
    let to_m3h = net.m3h_per_flow_unit();
    let sensitivity = if model_based {
        let mut s = leak_sensitivity(
            net,
            3 * 3600,
            5.0 / to_m3h,
            &data.pressures.ids,
            &data.flows.ids,
        )?;
        for row in &mut s.flow {
            for q in row.iter_mut() {
                *q *= to_m3h;
            }
        }
        Some(s)
    } else {
        None
    };
    let localiser = Localiser {
        graph: &graph,
        sensor_nodes: data.pressures.ids.clone(),
        pipes: net.pipes.iter().map(|p| p.id.clone()).collect(),
        sensitivity: sensitivity.as_ref(),
    };
    let step = match data.pressures.times.as_slice() {
        [a, b, ..] => (*b - *a).num_seconds().max(1) as usize,
        _ => 300,
    };
    let settings = ResidualSettings {
        training_rows: training_days as usize * 86_400 / step,
        rows_per_window: (3600 / step).max(1),
        ..*base
    };
    let rows = data.pressures.times.len();
    let inflow: Vec<f64> = (0..rows)
        .map(|r| {
            data.flows
                .ids
                .iter()
                .zip(&data.flows.values)
                .filter(|(id, _)| !id.to_ascii_uppercase().starts_with("PUMP"))
                .map(|(_, v)| v.get(r).copied().unwrap_or(f64::NAN))
                .sum()
        })
        .collect();
    let events = detect_from_residuals(
        &data.pressures,
        &data.flows,
        &data.levels,
        &inflow,
        &localiser,
        &settings,
    )?;
    let detections = events
        .iter()
        .filter_map(|e| {
            Some(Detection {
                pipe: e.candidate_pipes.first()?.clone(),
                time: e.detected_at,
            })
        })
        .collect();
    Ok((events, detections))
}

/// The outcome of one detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredDetection {
    /// The detection.
    pub detection: Detection,
    /// The leak it found (schedule index), if a true positive or a repeat.
    pub leak: Option<usize>,
    /// Localisation distance to that leak (m).
    pub distance_m: Option<f64>,
    /// Its score (€).
    pub euros: f64,
}

/// The BattLeDIM score of a set of detections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// True positives (distinct leaks found in time and within 300 m).
    pub true_positives: usize,
    /// False positives.
    pub false_positives: usize,
    /// Leaks never found.
    pub false_negatives: usize,
    /// Repeated detections of an already found leak (scored 0).
    pub repeats: usize,
    /// Mean localisation distance of the true positives (m).
    pub mean_distance_m: Option<f64>,
    /// Total economic score (€).
    pub euros: f64,
    /// The score of a perfect detector, for scale: every leak found at its start, on the
    /// right pipe (0.8 € × its whole volume in the period).
    pub best_possible_euros: f64,
    /// Each detection's outcome.
    pub details: Vec<ScoredDetection>,
}

/// Price of water lost (€/m³) in the BattLeDIM score.
pub const EUROS_PER_M3: f64 = 0.8;
/// Cost of a false positive (€).
pub const FALSE_POSITIVE_EUROS: f64 = 500.0;
/// Largest localisation distance of a true positive (m).
pub const MAX_DISTANCE_M: f64 = 300.0;

/// Scores detections against the truth: leak specs and each leak's outflow series (m³/h
/// at the given times); the volume saved runs from the detection to the end of the
/// series (the evaluation period).
pub fn score(
    net: &Network,
    leaks: &[LeakSpec],
    leak_flows: &SensorTable,
    detections: &[Detection],
) -> Score {
    let graph = NetworkGraph::new(net);
    let step_h = match leak_flows.times.as_slice() {
        [a, b, ..] => (*b - *a).num_seconds() as f64 / 3600.0,
        _ => 5.0 / 60.0,
    };
    let volume_after = |leak: usize, t: DateTime<Utc>| -> f64 {
        let Some(series) = leak_flows.values.get(leak) else {
            return 0.0;
        };
        leak_flows
            .times
            .iter()
            .zip(series)
            .filter(|(time, _)| **time >= t)
            .map(|(_, q)| q * step_h)
            .sum()
    };
    let mut found = vec![false; leaks.len()];
    let mut tp_distances = Vec::new();
    let mut details = Vec::new();
    let mut sorted: Vec<&Detection> = detections.iter().collect();
    sorted.sort_by_key(|d| d.time);
    for d in sorted {
        // The nearest leak active at the detection time.
        let best = leaks
            .iter()
            .enumerate()
            .filter(|(_, l)| d.time >= l.start && d.time <= l.end)
            .map(|(i, l)| (i, graph.pipe_distance(&d.pipe, &l.pipe)))
            .filter(|(_, x)| *x <= MAX_DISTANCE_M)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let (leak, distance, euros) = match best {
            Some((i, x)) if !found[i] => {
                found[i] = true;
                tp_distances.push(x);
                let e = EUROS_PER_M3 * volume_after(i, d.time)
                    - x / MAX_DISTANCE_M * FALSE_POSITIVE_EUROS;
                (Some(i), Some(x), e)
            }
            Some((i, x)) => (Some(i), Some(x), 0.0),
            None => (None, None, -FALSE_POSITIVE_EUROS),
        };
        details.push(ScoredDetection {
            detection: d.clone(),
            leak,
            distance_m: distance,
            euros,
        });
    }
    let true_positives = found.iter().filter(|f| **f).count();
    let false_positives = details.iter().filter(|s| s.leak.is_none()).count();
    let repeats = details.len() - true_positives - false_positives;
    let mean_distance_m = if tp_distances.is_empty() {
        None
    } else {
        Some(tp_distances.iter().sum::<f64>() / tp_distances.len() as f64)
    };
    Score {
        true_positives,
        false_positives,
        false_negatives: leaks.len() - true_positives,
        repeats,
        mean_distance_m,
        euros: details.iter().map(|s| s.euros).sum(),
        best_possible_euros: leaks
            .iter()
            .enumerate()
            .map(|(i, l)| EUROS_PER_M3 * volume_after(i, l.start))
            .sum(),
        details,
    }
}

/// The BattLeDIM 2018 (historical) configuration of L-Town: its 14 leaks and its sensor
/// layout (KIOS-Research/BattLeDIM, EUPL-1.2; see `data/SOURCES.txt`). Used as the
/// training example; benchmark runs draw a different schedule with [`random_schedule`].
pub fn ltown_2018() -> Result<Configuration> {
    parse_configuration(include_str!("../data/ltown-2018-leaks-and-sensors.yaml"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::inp;
    use crate::test_support::reference;

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s).unwrap()
    }

    /// A small metric network whose tank floats on the system: a pump fills it, a second
    /// reservoir also feeds the junctions, so the tank level carries state from one step
    /// to the next.
    const FLOATING_TANK_INP: &str = "[JUNCTIONS]
 J1 10 0
 J2 12 8 P1
 J3 11 10 P1
 J4 9 6 P1
[RESERVOIRS]
 R1 5
 R2 52
[TANKS]
 T1 50 3 0 6 12 0
[PIPES]
 P1 J1 J2 500 200 110 0 Open
 P2 J2 J3 400 150 110 0 Open
 P3 J3 J4 300 150 110 0 Open
 P4 J2 T1 200 200 110 0 Open
 P5 R2 J4 600 150 110 0 Open
[PUMPS]
 PU1 R1 J1 HEAD C1
[CURVES]
 C1 15 60
[PATTERNS]
 P1 0.5 0.6 0.8 1.2 1.5 1.3 1.0 0.9 1.1 1.4 1.2 0.7
[TIMES]
 Duration 24:00
 Hydraulic Timestep 1:00
 Pattern Timestep 2:00
[OPTIONS]
 Units LPS
 Headloss H-W
[END]
";

    fn floating_tank(text: &str) -> (Network, SensorLayout) {
        let net = inp::parse(text).unwrap();
        let sensors = SensorLayout {
            pressure: vec!["J3".into(), "J4".into()],
            flow: vec!["PU1".into(), "P4".into()],
            level: vec!["T1".into()],
            amr: vec!["J2".into()],
        };
        (net, sensors)
    }

    #[test]
    fn the_second_half_follows_the_single_run_from_its_seam() {
        let (net, sensors) = floating_tank(FLOATING_TANK_INP);
        let leaks = vec![LeakSpec {
            pipe: "P2".into(),
            start: t("2019-01-20 06:00"),
            end: t("2019-02-20 00:00"),
            diameter_m: 0.01,
            kind: LeakKind::Abrupt,
            peak: t("2019-01-20 06:00"),
        }];
        let days = SPLIT_MIN_DAYS;
        let settings = ScenarioSettings::new(t("2019-01-01 00:00"), days, 7);
        let steps = days as usize * 288;
        let model = scenario_model(&net, &sensors, &leaks, &settings, steps, 300).unwrap();
        let seam = steps / 2;
        let whole = Span::whole(steps);
        let second = Span {
            first: seam,
            end: steps,
            warm_up: (WARM_UP_DAYS * 288) as usize,
            index: 1,
        };
        let single = model.simulate(whole, seam..steps).unwrap();
        let split = model.simulate(second, seam..steps).unwrap();
        // The tank level moved during the second half, so there was state to carry.
        let levels: Vec<f64> = single.probes.iter().map(|(_, l, _)| l[0]).collect();
        let (low, high) = levels
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &l| (a.min(l), b.max(l)));
        assert!(high - low > 0.5, "{low}..{high}");
        assert_eq!(single.probes.len(), split.probes.len());
        for ((k, a, _), (_, b, _)) in single.probes.iter().zip(&split.probes) {
            assert!(
                (a[0] - b[0]).abs() <= SEAM_LEVEL_TOLERANCE_M,
                "step {k}: {} vs {}",
                a[0],
                b[0]
            );
        }
        assert!(seam_agrees(&single, &split));
    }

    #[test]
    fn a_split_scenario_is_whole_and_deterministic() {
        let (net, sensors) = floating_tank(FLOATING_TANK_INP);
        let settings = ScenarioSettings::new(t("2019-01-01 00:00"), SPLIT_MIN_DAYS, 11);
        let a = generate(&net, &sensors, &[], &settings).unwrap();
        let b = generate(&net, &sensors, &[], &settings).unwrap();
        assert_eq!(a, b);
        let steps = SPLIT_MIN_DAYS as usize * 288;
        assert_eq!(a.levels.times.len(), steps);
        for table in [&a.pressures, &a.flows, &a.levels, &a.demands] {
            assert!(table.values.iter().all(|c| c.len() == steps));
        }
        // No jump at the seam beyond what the noise gives (level noise 5 mm).
        let level = &a.levels.values[0];
        let seam = steps / 2;
        let jump = (level[seam] - level[seam - 1]).abs();
        let typical = level
            .windows(2)
            .enumerate()
            .filter(|(i, _)| i + 1 != seam)
            .map(|(_, w)| (w[1] - w[0]).abs())
            .fold(0.0, f64::max);
        assert!(jump <= typical, "{jump} > {typical}");
    }

    #[test]
    fn halves_that_do_not_meet_are_simulated_again_in_one_run() {
        let (net, sensors) = floating_tank(FLOATING_TANK_INP);
        let days = SPLIT_MIN_DAYS;
        let settings = ScenarioSettings::new(t("2019-01-01 00:00"), days, 3);
        let steps = days as usize * 288;
        let model = scenario_model(&net, &sensors, &[], &settings, steps, 300).unwrap();
        // Without warm-up the second half starts from the initial tank level, far from
        // where the first half ends.
        let parts = simulate_halves(&model, steps, 0).unwrap();
        assert_eq!(parts.len(), 1);
        let single = model.simulate(Span::whole(steps), 0..0).unwrap();
        assert_eq!(parts[0].levels, single.levels);
        assert_eq!(parts[0].pressures, single.pressures);
        // With it, two halves.
        let parts = simulate_halves(&model, steps, (WARM_UP_DAYS * 288) as usize).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].levels[0].len() + parts[1].levels[0].len(), steps);
    }

    #[test]
    fn a_seam_whose_tank_levels_or_pumps_differ_is_refused() {
        let probe = |level: f64, pump: f64| SpanOutput {
            pressures: Vec::new(),
            flows: Vec::new(),
            levels: Vec::new(),
            demands: Vec::new(),
            leak_flows: Vec::new(),
            probes: vec![(5, vec![level], vec![pump, 3.0])],
        };
        assert!(seam_agrees(&probe(3.0, 10.0), &probe(3.005, 10.01)));
        assert!(!seam_agrees(&probe(3.0, 10.0), &probe(3.02, 10.0)));
        assert!(!seam_agrees(&probe(3.0, 10.0), &probe(3.0, 0.0)));
        let empty = SpanOutput {
            probes: Vec::new(),
            ..probe(3.0, 0.0)
        };
        assert!(!seam_agrees(&empty, &empty));
    }

    #[test]
    fn ltown_configuration() {
        let c = ltown_2018().unwrap();
        assert_eq!(c.leaks.len(), 14);
        assert_eq!(c.sensors.pressure.len(), 33);
        assert_eq!(c.sensors.flow, vec!["PUMP_1", "p227", "p235"]);
        assert_eq!(c.sensors.level, vec!["T1"]);
        assert_eq!(c.sensors.amr.len(), 82);
        assert_eq!(c.start, Some(t("2018-01-01 00:00")));
        let l = &c.leaks[0];
        assert_eq!(l.pipe, "p257");
        assert_eq!(l.kind, LeakKind::Incipient);
        assert!((l.diameter_m - 0.011843).abs() < 1e-12);
        // Incipient: half open half-way to the peak.
        let mid = l.start + (l.peak - l.start) / 2;
        assert!((l.opening(mid) - 0.5).abs() < 1e-3);
        assert_eq!(c.leaks[4].opening(c.leaks[4].start), 1.0);
        let e = parse_configuration("leakages:\n- p1, 2018-01-01 00:00\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        // The schedule CSV round-trips.
        assert_eq!(read_schedule(&write_schedule(&c.leaks)).unwrap(), c.leaks);
    }

    /// Scoring by hand on a line A-B-C-D (pipes 100, 200, 50 m); leak on p1 from 01:00 to
    /// 03:00, 10 m³/h, series at 1-hour steps from 00:00 to 04:00.
    /// - (p2, 01:00): distance 150 m ≤ 300 → TP; volume from 01:00 = 10 + 10 + 10 = 30 m³
    ///   (01:00, 02:00, 03:00) → 0.8 × 30 − 150/300 × 500 = 24 − 250 = −226 €.
    /// - (p1, 02:00): repeat → 0 €.
    /// - (p3, 02:00): 275 m but the leak is already found → repeat, 0 €.
    /// - (p1, 03:30): after the end → FP −500 €.
    #[test]
    fn scoring_by_hand() {
        let net = inp::parse(
            "[JUNCTIONS]\nA 0\nB 0\nC 0\nD 0\n[PIPES]\np1 A B 100 100 100\np2 B C 200 100 100\np3 C D 50 100 100\n[OPTIONS]\nUnits CMH\n",
        )
        .unwrap();
        let leaks = vec![LeakSpec {
            pipe: "p1".into(),
            start: t("2020-01-01 01:00"),
            end: t("2020-01-01 03:00"),
            diameter_m: 0.01,
            kind: LeakKind::Abrupt,
            peak: t("2020-01-01 01:00"),
        }];
        let flows = SensorTable {
            times: (0..5)
                .map(|h| t("2020-01-01 00:00") + Duration::hours(h))
                .collect(),
            ids: vec!["p1".into()],
            values: vec![vec![0.0, 10.0, 10.0, 10.0, 0.0]],
        };
        let d = |pipe: &str, time: &str| Detection {
            pipe: pipe.into(),
            time: t(time),
        };
        let ds = vec![
            d("p2", "2020-01-01 01:00"),
            d("p1", "2020-01-01 02:00"),
            d("p3", "2020-01-01 02:00"),
            d("p1", "2020-01-01 03:30"),
        ];
        let s = score(&net, &leaks, &flows, &ds);
        assert_eq!(s.true_positives, 1);
        assert_eq!(s.false_positives, 1);
        assert_eq!(s.false_negatives, 0);
        assert_eq!(s.repeats, 2);
        assert_eq!(s.mean_distance_m, Some(150.0));
        assert!((s.details[0].euros - (-226.0)).abs() < 1e-9);
        assert!((s.euros - (-726.0)).abs() < 1e-9);
        assert!((s.best_possible_euros - 24.0).abs() < 1e-9);
        // No detection at all: one false negative, 0 €.
        let none = score(&net, &leaks, &flows, &[]);
        assert_eq!((none.false_negatives, none.euros), (1, 0.0));
        // Detections CSV round trip.
        assert_eq!(read_detections(&write_detections(&ds)).unwrap(), ds);
    }

    #[test]
    fn random_schedules_are_reproducible() {
        let net = inp::parse(&reference("L-TOWN.inp")).unwrap();
        let start = t("2019-01-01 00:00");
        let a = random_schedule(&net, 2024, start, 60, 10, 8);
        let b = random_schedule(&net, 2024, start, 60, 10, 8);
        assert_eq!(a, b);
        assert_eq!(a.len(), 8);
        for l in &a {
            assert!(l.start >= start + Duration::days(10));
            assert!(l.end <= start + Duration::days(60));
            assert!(l.start <= l.peak && l.peak <= l.end);
            assert!((0.008..0.025).contains(&l.diameter_m));
        }
        assert_ne!(a, random_schedule(&net, 7, start, 60, 10, 8));
    }

    /// Two days of L-Town with one burst on day 2: the data have the BattLeDIM shape, the
    /// leak shows in its flow column and lowers the pressure nearby, and the CSV files
    /// read back to the same data.
    #[test]
    fn ltown_scenario() {
        let net = inp::parse(&reference("L-TOWN.inp")).unwrap();
        let cfg = ltown_2018().unwrap();
        let start = t("2019-03-01 00:00");
        let leak = LeakSpec {
            pipe: "p257".into(),
            start: t("2019-03-02 03:00"),
            end: t("2019-03-02 23:55"),
            diameter_m: 0.02,
            kind: LeakKind::Abrupt,
            peak: t("2019-03-02 03:00"),
        };
        let sc = generate(
            &net,
            &cfg.sensors,
            std::slice::from_ref(&leak),
            &ScenarioSettings::new(start, 2, 11),
        )
        .unwrap();
        assert_eq!(sc.pressures.times.len(), 576);
        assert_eq!(sc.pressures.ids.len(), 33);
        assert_eq!(sc.flows.ids.len(), 3);
        assert_eq!(sc.demands.ids.len(), 82);
        let q = &sc.leak_flows.values[0];
        assert_eq!(q[287], 0.0);
        // A 2 cm orifice under ~50 m: several m³/h.
        assert_eq!(q[323], 0.0);
        assert!(q[330] > 5.0 && q[330] < 60.0, "{}", q[330]);
        let p = &sc.pressures.values;
        assert!(p.iter().all(|s| s.iter().all(|v| (0.0..150.0).contains(v))));
        let level = &sc.levels.values[0];
        assert!(level.iter().all(|v| (0.0..10.0).contains(v)), "{level:?}");

        let dir = std::env::temp_dir().join(format!("jumeau-water-test-{}", std::process::id()));
        write_scenario(&sc, &dir).unwrap();
        let back = read_scenario(&dir).unwrap();
        std::fs::remove_file(dir.join("Leaks.csv")).unwrap();
        std::fs::remove_file(dir.join("leak_schedule.csv")).unwrap();
        let no_truth = read_scenario(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(no_truth.leaks.is_empty() && no_truth.leak_flows.ids.is_empty());
        assert_eq!(no_truth.pressures, back.pressures);
        assert_eq!(back.leaks, sc.leaks);
        assert_eq!(back.pressures.ids, sc.pressures.ids);
        assert_eq!(back.pressures.values[0], sc.pressures.values[0]);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod detection_tests {
    use super::*;
    use crate::inp;
    use crate::test_support::reference;

    /// Six days of L-Town, a 3 cm burst on p104 (next to pressure sensor n105) on day 5:
    /// the residual detector, trained on the first 3 days, raises an alarm within the hour
    /// after the burst, localises it within the BattLeDIM 300 m and scores it as a true
    /// positive.
    #[test]
    fn detects_a_burst() {
        let net = inp::parse(&reference("L-TOWN.inp")).unwrap();
        let cfg = ltown_2018().unwrap();
        let start = parse_time("2019-05-01 00:00").unwrap();
        let leak = LeakSpec {
            pipe: "p104".into(),
            start: parse_time("2019-05-05 02:00").unwrap(),
            end: parse_time("2019-05-06 23:55").unwrap(),
            diameter_m: 0.03,
            kind: LeakKind::Abrupt,
            peak: parse_time("2019-05-05 02:00").unwrap(),
        };
        let sc = generate(
            &net,
            &cfg.sensors,
            std::slice::from_ref(&leak),
            &ScenarioSettings::new(start, 6, 5),
        )
        .unwrap();
        let (events, detections) = detect(&net, &sc, 3).unwrap();
        // Misaligned tables are refused, not indexed out of bounds.
        let mut short = sc.clone();
        short.flows.values[1].pop();
        let e = detect(&net, &short, 3).unwrap_err().to_string();
        assert!(e.contains("flow table"), "{e}");
        assert!(!events.is_empty());
        let first = &events[0];
        assert!(first.detected_at >= leak.start, "{first:?}");
        // Found within the hour of the burst.
        assert!(
            first.detected_at <= leak.start + Duration::hours(1),
            "{first:?}"
        );
        assert!(first.start <= first.detected_at);
        assert!(first.uncertainty_m.is_some());
        let s = score(&net, &sc.leaks, &sc.leak_flows, &detections);
        assert_eq!(s.true_positives, 1, "{s:?}");
        assert!(s.mean_distance_m.unwrap() <= MAX_DISTANCE_M);
    }
}
