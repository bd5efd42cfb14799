//! Leak detection and localisation.
//!
//! - Minimum night flow (MNF) per district metered area, 02:00–04:00 local time, with the
//!   alarm rule "today's MNF − min(MNF of the previous 10 normal days) > γ × that minimum"
//!   and the SANFLOW night-use defaults (McKenzie 1999, South African Water Research
//!   Commission report TT 109/99).
//! - Model-based detection from pressure residuals: each pressure sensor is fitted by least
//!   squares against the inflows and the tank level on a leak-free period; a leak shows as a
//!   persistent negative residual, detected with a one-sided CUSUM (Page 1954) on hourly
//!   standardised residuals — the approach of the LILA method used on BattLeDIM (Daniel et
//!   al., 2022).
//! - Localisation: candidate pipes ranked by network distance from the most affected
//!   sensors, with a distance uncertainty and an estimated leak flow.
//! - Acoustic correlation of two loggers: position of the leak from the delay.
//!
//! Every finding is a [`LeakEvent`].

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{Result, WaterError};
use crate::graph::NetworkGraph;
use crate::hydraulics::LeakSensitivity;

/// A leak found by a method: when it started, where it probably is, how sure, how big.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakEvent {
    /// Estimated start of the leak (for model-based detection, where the residual
    /// excursion began).
    pub start: DateTime<Utc>,
    /// When the method raised the alarm (never before `start`).
    pub detected_at: DateTime<Utc>,
    /// Candidate pipes, most likely first (empty when the method cannot localise, e.g. MNF
    /// only says "in this DMA").
    pub candidate_pipes: Vec<String>,
    /// Radius (m of network distance) around the first candidate that should hold the
    /// leak; `None` when the method does not localise (MNF: somewhere in the DMA).
    pub uncertainty_m: Option<f64>,
    /// Estimated leak flow (m³/h).
    pub estimated_flow_m3h: f64,
    /// The method that found it (`mnf`, `pressure-residual-cusum`, `acoustic`).
    pub method: String,
}

/// The minimum night flow of one night.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NightFlow {
    /// The local date of the night (the morning's date).
    pub date: NaiveDate,
    /// Mean flow over the night window (flow units of the input): with readings every 5 to
    /// 15 minutes, the window mean is steadier than a single noisy minimum.
    pub flow: f64,
}

/// Minimum night flow of a DMA inflow series: the mean of the readings whose local time
/// (in `tz`) lies in `[from_hour, to_hour)`, per local date. Nights without readings are
/// left out.
pub fn minimum_night_flow(
    series: &[(DateTime<Utc>, f64)],
    tz: Tz,
    from_hour: u32,
    to_hour: u32,
) -> Vec<NightFlow> {
    let mut nights: BTreeMap<NaiveDate, (f64, usize)> = BTreeMap::new();
    for (t, q) in series {
        let local = t.with_timezone(&tz);
        let h = local.hour();
        if h >= from_hour && h < to_hour && q.is_finite() {
            let e = nights.entry(local.date_naive()).or_insert((0.0, 0));
            e.0 += q;
            e.1 += 1;
        }
    }
    nights
        .into_iter()
        .map(|(date, (sum, n))| NightFlow {
            date,
            flow: sum / n as f64,
        })
        .collect()
}

/// An MNF alarm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MnfAlarm {
    /// The night.
    pub date: NaiveDate,
    /// Its MNF.
    pub flow: f64,
    /// min(MNF) of the previous normal nights.
    pub reference: f64,
    /// MNF − reference: the estimated new leakage.
    pub excess: f64,
}

/// The MNF alarm rule: a night alarms when MNF − min(MNF of the previous `history` normal
/// nights) > `gamma` × that minimum. Alarmed nights are not "normal" and do not enter later
/// references, so a leak keeps alarming until it is repaired. The first `history` nights
/// only build the reference.
pub fn mnf_alarms(nights: &[NightFlow], gamma: f64, history: usize) -> Vec<MnfAlarm> {
    let mut normal: Vec<f64> = Vec::new();
    let mut out = Vec::new();
    for n in nights {
        if normal.len() >= history.max(1) {
            let reference = normal[normal.len() - history.max(1)..]
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            let excess = n.flow - reference;
            if excess > gamma * reference {
                out.push(MnfAlarm {
                    date: n.date,
                    flow: n.flow,
                    reference,
                    excess,
                });
                continue;
            }
        }
        normal.push(n.flow);
    }
    out
}

impl MnfAlarm {
    /// The alarm as a leak event of the DMA: it starts at the beginning of the night
    /// window (`from_hour` local time in `tz`), is not localised, and its flow is the MNF
    /// excess (in the input's flow units, m³/h for the usual DMA meters).
    pub fn to_event(&self, tz: Tz, from_hour: u32) -> Option<LeakEvent> {
        let local = self.date.and_hms_opt(from_hour, 0, 0)?;
        let start = local.and_local_timezone(tz).earliest()?.with_timezone(&Utc);
        Some(LeakEvent {
            start,
            detected_at: start,
            candidate_pipes: Vec::new(),
            uncertainty_m: None,
            estimated_flow_m3h: self.excess,
            method: "mnf".into(),
        })
    }
}

/// Legitimate night use of a DMA (m³/h) with the SANFLOW defaults (McKenzie 1999): 6 % of
/// residents active at night, 10 L per toilet flush, one flush per active resident per
/// hour; 50 L/h per small non-domestic user; background losses of 40 L/km/h of mains.
/// MNF minus this estimate is the burst and unreported leakage.
pub fn expected_night_flow_m3h(residents: f64, non_domestic_users: f64, mains_km: f64) -> f64 {
    (residents * 0.06 * 10.0 + non_domestic_users * 50.0 + mains_km * 40.0) / 1000.0
}

/// Distance of a leak from logger 1 (m) by acoustic correlation: `(D − c·τ) / 2` where `D`
/// is the pipe length between the loggers (m), `c` the wave speed in the pipe (m/s, about
/// 1 200–1 400 for metal, 300–500 for PE/PVC) and `τ` the delay (s) of logger 1 behind
/// logger 2 (Hunaidi & Chu 1999). Refused when the result falls outside the pipe.
pub fn acoustic_position(distance_m: f64, wave_speed_ms: f64, delay_s: f64) -> Result<f64> {
    if !(distance_m > 0.0 && wave_speed_ms > 0.0 && delay_s.is_finite()) {
        return Err(WaterError::Data(format!(
            "acoustic correlation needs a positive logger spacing ({distance_m} m) and wave speed ({wave_speed_ms} m/s) and a finite delay ({delay_s} s)"
        )));
    }
    let x = (distance_m - wave_speed_ms * delay_s) / 2.0;
    if !(0.0..=distance_m).contains(&x) {
        return Err(WaterError::Data(format!(
            "delay {delay_s} s puts the leak {x:.1} m from logger 1, outside the {distance_m} m between the loggers; check the wave speed or the delay sign"
        )));
    }
    Ok(x)
}

/// An acoustic finding as a leak event: the leak lies on `pipe`, at [`acoustic_position`]
/// from logger 1; the uncertainty is the position error of a delay error of
/// `delay_resolution_s` (c·δτ/2, e.g. one sample of the correlation). The flow is not
/// measured (0).
pub fn acoustic_event(
    pipe: &str,
    detected_at: DateTime<Utc>,
    distance_m: f64,
    wave_speed_ms: f64,
    delay_s: f64,
    delay_resolution_s: f64,
) -> Result<(f64, LeakEvent)> {
    let x = acoustic_position(distance_m, wave_speed_ms, delay_s)?;
    Ok((
        x,
        LeakEvent {
            start: detected_at,
            detected_at,
            candidate_pipes: vec![pipe.to_string()],
            uncertainty_m: Some(wave_speed_ms * delay_resolution_s.abs() / 2.0),
            estimated_flow_m3h: 0.0,
            method: "acoustic".into(),
        },
    ))
}

/// A one-sided CUSUM (Page 1954) detecting a downward shift of standardised values:
/// `S = max(0, S − z − k)`, alarm when `S > h`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cusum {
    /// Allowance, in standard deviations (half the shift to detect).
    pub k: f64,
    /// Decision threshold.
    pub h: f64,
    /// Current statistic.
    pub s: f64,
    /// Index where the current excursion began (the estimated change time).
    pub start: usize,
}

impl Cusum {
    /// A CUSUM with allowance `k` and threshold `h`.
    pub fn new(k: f64, h: f64) -> Self {
        Self {
            k,
            h,
            s: 0.0,
            start: 0,
        }
    }

    /// Feeds value `z` at index `i`; true when the statistic crosses the threshold.
    pub fn push(&mut self, i: usize, z: f64) -> bool {
        if self.s == 0.0 {
            self.start = i;
        }
        self.s = (self.s - z - self.k).max(0.0);
        self.s > self.h
    }

    /// Back to 0.
    pub fn reset(&mut self) {
        self.s = 0.0;
    }
}

/// Ordinary least squares with a small ridge, by normal equations and Gaussian
/// elimination; `rows` are feature vectors of equal length.
pub fn least_squares(rows: &[Vec<f64>], y: &[f64], ridge: f64) -> Result<Vec<f64>> {
    let p = rows.first().map(Vec::len).unwrap_or(0);
    if p == 0 || rows.len() < p || rows.len() != y.len() {
        return Err(WaterError::Data(format!(
            "a fit needs at least as many samples as features ({} for {p})",
            rows.len()
        )));
    }
    let mut a = vec![vec![0.0; p + 1]; p];
    for (r, &yv) in rows.iter().zip(y) {
        for i in 0..p {
            for j in 0..p {
                a[i][j] += r[i] * r[j];
            }
            a[i][p] += r[i] * yv;
        }
    }
    for (i, row) in a.iter_mut().enumerate() {
        row[i] += ridge * (1.0 + row[i].abs());
    }
    for col in 0..p {
        let pivot = (col..p)
            .max_by(|&x, &z| a[x][col].abs().total_cmp(&a[z][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        let d = a[col][col];
        if d.abs() < 1e-12 {
            return Err(WaterError::Data(
                "the fit is singular: a feature is constant or duplicated".into(),
            ));
        }
        let pivot_row = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / d;
                if f != 0.0 {
                    for (x, pv) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                        *x -= f * pv;
                    }
                }
            }
        }
    }
    Ok((0..p).map(|i| a[i][p] / a[i][i]).collect())
}

/// Synchronised sensor readings: one timestamp column and named series.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SensorTable {
    /// Timestamps (UTC), increasing.
    pub times: Vec<DateTime<Utc>>,
    /// Series ids, in column order.
    pub ids: Vec<String>,
    /// `values[column][row]`.
    pub values: Vec<Vec<f64>>,
}

impl SensorTable {
    /// The series of an id.
    pub fn series(&self, id: &str) -> Option<&[f64]> {
        let k = self.ids.iter().position(|i| i == id)?;
        Some(&self.values[k])
    }
}

/// Settings of the pressure-residual detector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResidualSettings {
    /// Number of leading rows taken as leak-free for fitting.
    pub training_rows: usize,
    /// Rows per aggregation window (12 for hourly windows of 5-minute data).
    pub rows_per_window: usize,
    /// CUSUM allowance (standard deviations).
    pub cusum_k: f64,
    /// CUSUM threshold.
    pub cusum_h: f64,
    /// Windows after an alarm over which the new baseline is learnt (absorbing the leak so
    /// the next one can be seen).
    pub rebaseline_windows: usize,
    /// Sensors used to localise (the most affected).
    pub localisation_sensors: usize,
    /// Candidate pipes returned.
    pub candidates: usize,
    /// An alarm whose first candidate lies within this network distance (m) of an earlier
    /// event's first candidate is the same leak growing, not a new one.
    pub merge_distance_m: f64,
    /// An upward alarm (a repair) re-learns the baseline only while every downward
    /// statistic stays below this fraction of the threshold.
    pub repair_guard: f64,
    /// Threshold of the upward (repair) CUSUM, as a multiple of `cusum_h`.
    pub repair_h_factor: f64,
    /// A single window this many standard deviations below the baseline alarms at once
    /// (the Shewhart part of a combined Shewhart–CUSUM scheme, Lucas 1982), so that a burst
    /// is reported within the hour instead of after the CUSUM has accumulated.
    pub burst_z: f64,
}

impl Default for ResidualSettings {
    /// Hourly windows of 5-minute data, a week of training; CUSUM k = 0.5, h = 45 and two
    /// localisation sensors, chosen by the `battledim_tune` example on a 60-day L-Town
    /// schedule drawn with seed 99 (never on the benchmark's schedule).
    fn default() -> Self {
        Self {
            training_rows: 7 * 288,
            rows_per_window: 12,
            cusum_k: 0.5,
            cusum_h: 45.0,
            rebaseline_windows: 24,
            localisation_sensors: 2,
            candidates: 5,
            merge_distance_m: 300.0,
            repair_guard: 0.3,
            repair_h_factor: 2.0,
            burst_z: 8.0,
        }
    }
}

/// Per-sensor linear models of pressure against inflows (linear and squared, since head
/// losses grow with the square of the flow) and tank levels.
#[derive(Debug, Clone, PartialEq)]
pub struct ResidualModel {
    coefficients: Vec<Vec<f64>>,
    sigma: Vec<f64>,
}

fn features(flows: &SensorTable, levels: &SensorTable, row: usize) -> Vec<f64> {
    let q: Vec<f64> = flows.values.iter().map(|s| s[row]).collect();
    let l: Vec<f64> = levels.values.iter().map(|s| s[row]).collect();
    feature_vector(&q, &l)
}

/// The regressors of a pressure: 1, each inflow (/100), the squared total inflow (/10⁴),
/// each tank level.
fn feature_vector(flows: &[f64], levels: &[f64]) -> Vec<f64> {
    let mut f = vec![1.0];
    let total: f64 = flows.iter().sum();
    f.extend(flows.iter().map(|q| q / 100.0));
    f.push(total * total / 1.0e4);
    f.extend_from_slice(levels);
    f
}

impl ResidualModel {
    /// The change of a sensor's predicted pressure when the inflows move from `flows` to
    /// `flows + delta` (levels unchanged): what the model already explains of a leak.
    pub fn flow_response(
        &self,
        sensor: usize,
        flows: &[f64],
        delta: &[f64],
        levels: &[f64],
    ) -> f64 {
        let Some(c) = self.coefficients.get(sensor) else {
            return 0.0;
        };
        let moved: Vec<f64> = flows.iter().zip(delta).map(|(q, d)| q + d).collect();
        dot(c, &feature_vector(&moved, levels)) - dot(c, &feature_vector(flows, levels))
    }

    /// Fits every pressure sensor on the first `rows` rows.
    pub fn fit(
        pressures: &SensorTable,
        flows: &SensorTable,
        levels: &SensorTable,
        rows: usize,
    ) -> Result<Self> {
        let rows = rows.min(pressures.times.len());
        let x: Vec<Vec<f64>> = (0..rows).map(|r| features(flows, levels, r)).collect();
        let mut coefficients = Vec::new();
        let mut sigma = Vec::new();
        for s in &pressures.values {
            let c = least_squares(&x, &s[..rows], 1e-9)?;
            let res: Vec<f64> = (0..rows).map(|r| s[r] - dot(&c, &x[r])).collect();
            let var = res.iter().map(|v| v * v).sum::<f64>() / rows.max(1) as f64;
            coefficients.push(c);
            sigma.push(var.sqrt().max(1e-6));
        }
        Ok(Self {
            coefficients,
            sigma,
        })
    }

    /// Residuals (observed − predicted) of every sensor at every row: `[sensor][row]`.
    pub fn residuals(
        &self,
        pressures: &SensorTable,
        flows: &SensorTable,
        levels: &SensorTable,
    ) -> Vec<Vec<f64>> {
        let n = pressures.times.len();
        let x: Vec<Vec<f64>> = (0..n).map(|r| features(flows, levels, r)).collect();
        self.coefficients
            .iter()
            .zip(&pressures.values)
            .map(|(c, s)| (0..n).map(|r| s[r] - dot(c, &x[r])).collect())
            .collect()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// What the residual detector needs of the network: its graph and where each pressure
/// sensor sits.
pub struct Localiser<'a> {
    /// The network graph.
    pub graph: &'a NetworkGraph,
    /// Node id of each pressure sensor, in the pressure table's column order.
    pub sensor_nodes: Vec<String>,
    /// Pipe ids that may hold a leak (pipes only, not pumps or valves).
    pub pipes: Vec<String>,
    /// The leak sensitivity matrix of the network (sensors in the pressure table's order,
    /// meters in the flow table's order, flows in m³/h), for model-based localisation;
    /// without it pipes are ranked by distance from the most affected sensors.
    pub sensitivity: Option<&'a LeakSensitivity>,
}

impl Localiser<'_> {
    /// Model-based ranking: the junctions whose simulated leak signature (pressure change
    /// minus what the residual model explains by the extra inflow) is most similar (cosine)
    /// to the observed mean residuals; candidates are the pipes at those junctions, best
    /// first, and the uncertainty the largest distance from the first to the others.
    pub fn rank_by_signature(
        &self,
        observed: &[f64],
        sens: &LeakSensitivity,
        model: &ResidualModel,
        flows: &[f64],
        levels: &[f64],
        n: usize,
    ) -> (Vec<String>, f64) {
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let on = norm(observed);
        if on == 0.0 {
            return (Vec::new(), f64::INFINITY);
        }
        let mut scored: Vec<(f64, usize)> = sens
            .junctions
            .iter()
            .enumerate()
            .map(|(j, _)| {
                let sig: Vec<f64> = (0..observed.len())
                    .map(|s| {
                        let dp = sens.pressure[j].get(s).copied().unwrap_or(0.0);
                        dp - model.flow_response(s, flows, &sens.flow[j], levels)
                    })
                    .collect();
                let sn = norm(&sig);
                let cos = if sn > 0.0 {
                    dot(observed, &sig) / (on * sn)
                } else {
                    -1.0
                };
                (cos, j)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut chosen: Vec<String> = Vec::new();
        for (_, j) in &scored {
            let Some(node) = self.graph.node(&sens.junctions[*j]) else {
                continue;
            };
            for p in &self.pipes {
                if chosen.len() >= n.max(1) {
                    break;
                }
                if let Some((a, b, _)) = self.graph.link(p) {
                    if (a == node || b == node) && !chosen.contains(p) {
                        chosen.push(p.clone());
                    }
                }
            }
            if chosen.len() >= n.max(1) {
                break;
            }
        }
        let Some(first) = chosen.first() else {
            return (Vec::new(), f64::INFINITY);
        };
        let spread = chosen
            .iter()
            .map(|p| self.graph.pipe_distance(first, p))
            .fold(0.0, f64::max);
        (chosen, spread)
    }

    /// Pipes ranked by weighted network distance from the most affected sensors (weights:
    /// the squared standardised residuals), the best `n`, and an uncertainty radius: the
    /// largest distance from the first candidate to the others, at least half its
    /// distance to the most affected sensor.
    pub fn rank(&self, affected: &[(usize, f64)], n: usize) -> (Vec<String>, f64) {
        let dists: Vec<(Vec<f64>, f64)> = affected
            .iter()
            .filter_map(|&(sensor, w)| {
                let node = self.graph.node(self.sensor_nodes.get(sensor)?)?;
                Some((self.graph.distances_from(&[node]), w))
            })
            .collect();
        if dists.is_empty() {
            return (Vec::new(), f64::INFINITY);
        }
        let wsum: f64 = dists.iter().map(|d| d.1).sum::<f64>().max(1e-12);
        let mut scored: Vec<(f64, &String)> = self
            .pipes
            .iter()
            .map(|p| {
                let s = dists
                    .iter()
                    .map(|(d, w)| w * self.graph.node_to_link(d, p))
                    .sum::<f64>()
                    / wsum;
                (s, p)
            })
            .filter(|(s, _)| s.is_finite())
            .collect();
        scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
        let chosen: Vec<String> = scored
            .iter()
            .take(n.max(1))
            .map(|(_, p)| (*p).clone())
            .collect();
        let Some(first) = chosen.first() else {
            return (Vec::new(), f64::INFINITY);
        };
        let spread = chosen
            .iter()
            .map(|p| self.graph.pipe_distance(first, p))
            .fold(0.0, f64::max);
        let to_sensor = self.graph.node_to_link(&dists[0].0, first);
        (chosen, spread.max(to_sensor / 2.0))
    }
}

/// Detects leaks from pressure residuals: fit on the training rows, hourly standardised
/// residuals, one CUSUM per sensor; an alarm on any sensor is a leak, localised from the
/// sensors' mean residuals over the excursion; the baseline is then re-learnt over the
/// next `rebaseline_windows` windows so that the leak is not reported again.
/// `inflow_m3h` is the total inflow, used to estimate the leak flow (night inflow after
/// minus before).
pub fn detect_from_residuals(
    pressures: &SensorTable,
    flows: &SensorTable,
    levels: &SensorTable,
    inflow_m3h: &[f64],
    localiser: &Localiser<'_>,
    settings: &ResidualSettings,
) -> Result<Vec<LeakEvent>> {
    let rows = pressures.times.len();
    for (name, t) in [("pressure", pressures), ("flow", flows), ("level", levels)] {
        if t.values.iter().any(|v| v.len() != rows) || t.times.len() != rows {
            return Err(WaterError::Data(format!(
                "the {name} table does not have one value per timestamp of the {rows} pressure rows; give every table the same timestamps"
            )));
        }
    }
    if inflow_m3h.len() != rows {
        return Err(WaterError::Data(format!(
            "the inflow series has {} values for {rows} rows",
            inflow_m3h.len()
        )));
    }
    if settings.training_rows >= rows || settings.rows_per_window == 0 {
        return Err(WaterError::Data(format!(
            "{rows} rows of data do not cover the {} training rows plus a detection period",
            settings.training_rows
        )));
    }
    let model = ResidualModel::fit(pressures, flows, levels, settings.training_rows)?;
    let residuals = model.residuals(pressures, flows, levels);
    let w = settings.rows_per_window;
    let windows = rows / w;
    // Window means of the residuals: [sensor][window].
    let means: Vec<Vec<f64>> = residuals
        .iter()
        .map(|r| {
            (0..windows)
                .map(|k| r[k * w..(k + 1) * w].iter().sum::<f64>() / w as f64)
                .collect()
        })
        .collect();
    let train_windows = settings.training_rows / w;
    let mut offset: Vec<f64> = vec![0.0; means.len()];
    let sigma: Vec<f64> = means
        .iter()
        .map(|m| {
            let v =
                m[..train_windows].iter().map(|x| x * x).sum::<f64>() / train_windows.max(1) as f64;
            v.sqrt().max(1e-4)
        })
        .collect();
    let mut down: Vec<Cusum> = vec![Cusum::new(settings.cusum_k, settings.cusum_h); means.len()];
    // An upward shift (a repair) only re-learns the baseline.
    let mut up: Vec<Cusum> = vec![
        Cusum::new(
            settings.cusum_k,
            settings.cusum_h * settings.repair_h_factor
        );
        means.len()
    ];
    let mut events: Vec<LeakEvent> = Vec::new();
    let mut k = train_windows;
    while k < windows {
        let mut alarm: Option<usize> = None;
        let mut repaired = false;
        for s in 0..means.len() {
            let z = (means[s][k] - offset[s]) / sigma[s];
            let crossed = down[s].push(k, z);
            if (crossed || -z >= settings.burst_z) && alarm.is_none() {
                alarm = Some(s);
            }
            repaired |= up[s].push(k, -z);
        }
        // A leak also raises the residuals of sensors far from it (the model expects a
        // uniform drop for the extra inflow): only call it a repair when no sensor is
        // drifting down.
        if repaired && down.iter().any(|c| c.s > c.h * settings.repair_guard) {
            repaired = false;
            for c in up.iter_mut() {
                c.reset();
            }
        }
        if alarm.is_none() && !repaired {
            k += 1;
            continue;
        }
        if let Some(first) = alarm {
            let start = down[first].start;
            // The sensors' standardised mean residuals over the excursion.
            let mut affected: Vec<(usize, f64)> = (0..means.len())
                .map(|s| {
                    let m = means[s][start..=k].iter().sum::<f64>() / (k + 1 - start) as f64;
                    (s, -(m - offset[s]) / sigma[s])
                })
                .filter(|(_, z)| *z > 0.0)
                .collect();
            affected.sort_by(|a, b| b.1.total_cmp(&a.1));
            affected.truncate(settings.localisation_sensors.max(1));
            let weighted: Vec<(usize, f64)> = affected.iter().map(|&(s, z)| (s, z * z)).collect();
            let (candidates, uncertainty) = match localiser.sensitivity {
                Some(sens) => {
                    let span = start * w..((k + 1) * w).min(rows);
                    let mean_of = |t: &SensorTable| -> Vec<f64> {
                        t.values
                            .iter()
                            .map(|v| v[span.clone()].iter().sum::<f64>() / span.len().max(1) as f64)
                            .collect()
                    };
                    let q0 = mean_of(flows);
                    let l0 = mean_of(levels);
                    let observed: Vec<f64> = (0..means.len())
                        .map(|s| {
                            means[s][start..=k].iter().sum::<f64>() / (k + 1 - start) as f64
                                - offset[s]
                        })
                        .collect();
                    localiser.rank_by_signature(
                        &observed,
                        sens,
                        &model,
                        &q0,
                        &l0,
                        settings.candidates,
                    )
                }
                None => localiser.rank(&weighted, settings.candidates),
            };
            let same_leak = candidates.first().is_some_and(|c| {
                events.iter().any(|e| {
                    e.candidate_pipes.first().is_some_and(|p| {
                        localiser.graph.pipe_distance(p, c) <= settings.merge_distance_m
                    })
                })
            });
            if !same_leak {
                let before_end = start * w;
                let after_end = ((k + 1 + settings.rebaseline_windows) * w).min(rows);
                let flow = night_increase(&pressures.times, inflow_m3h, before_end, after_end);
                events.push(LeakEvent {
                    start: pressures.times[(start * w).min(rows - 1)],
                    detected_at: pressures.times[((k + 1) * w).min(rows - 1)],
                    candidate_pipes: candidates,
                    uncertainty_m: uncertainty.is_finite().then_some(uncertainty),
                    estimated_flow_m3h: flow,
                    method: "pressure-residual-cusum".into(),
                });
            }
        }
        // Re-learn each sensor's offset on the following windows.
        let from = k + 1;
        let to = (k + 1 + settings.rebaseline_windows).min(windows);
        if to > from {
            for s in 0..means.len() {
                offset[s] = means[s][from..to].iter().sum::<f64>() / (to - from) as f64;
            }
        }
        for c in down.iter_mut().chain(up.iter_mut()) {
            c.reset();
        }
        k = to;
    }
    Ok(events)
}

/// Increase of the smallest hourly inflow between the day before `split` and the day
/// after it (up to `end`): the leak flow seen at night when consumption is lowest.
fn night_increase(times: &[DateTime<Utc>], inflow: &[f64], split: usize, end: usize) -> f64 {
    if inflow.len() < times.len() || split == 0 {
        return 0.0;
    }
    let step = if times.len() > 1 {
        (times[1] - times[0]).num_seconds().max(1) as usize
    } else {
        300
    };
    let day = 86_400 / step;
    let hour = (3600 / step).max(1);
    let min_hourly = |from: usize, to: usize| -> Option<f64> {
        let mut best: Option<f64> = None;
        let mut i = from;
        while i + hour <= to {
            let m = inflow[i..i + hour].iter().sum::<f64>() / hour as f64;
            best = Some(best.map_or(m, |b: f64| b.min(m)));
            i += hour;
        }
        best
    };
    let before = min_hourly(split.saturating_sub(day), split);
    let after = min_hourly(split, end.min(split + 2 * day).min(inflow.len()));
    match (before, after) {
        (Some(b), Some(a)) => (a - b).max(0.0),
        _ => 0.0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn acoustic() {
        // D = 200 m, c = 1 200 m/s, τ = 0.1 s → (200 − 120) / 2 = 40 m from logger 1.
        assert!((acoustic_position(200.0, 1200.0, 0.1).unwrap() - 40.0).abs() < 1e-12);
        // No delay: the middle.
        assert_eq!(acoustic_position(200.0, 1200.0, 0.0).unwrap(), 100.0);
        // Negative delay: nearer logger 2.
        assert!((acoustic_position(200.0, 400.0, -0.25).unwrap() - 150.0).abs() < 1e-12);
        assert!(acoustic_position(200.0, 1200.0, 0.5).is_err());
        assert!(acoustic_position(0.0, 1200.0, 0.0).is_err());
        // One sample at 2 kHz: 1 200 × 0.0005 / 2 = 0.3 m.
        let t = Utc.with_ymd_and_hms(2024, 6, 1, 2, 0, 0).unwrap();
        let (x, e) = acoustic_event("p12", t, 200.0, 1200.0, 0.1, 0.0005).unwrap();
        assert!((x - 40.0).abs() < 1e-12);
        assert_eq!(e.candidate_pipes, vec!["p12".to_string()]);
        assert!((e.uncertainty_m.unwrap() - 0.3).abs() < 1e-12);
    }

    #[test]
    fn night_flow_and_alarm() {
        let tz: Tz = chrono_tz::Europe::Paris;
        // 20 days of 15-minute readings: 10 m³/h at night, 30 by day; a leak of 3 m³/h
        // from day 15 on.
        let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let mut series = Vec::new();
        for i in 0..20 * 96 {
            let t = start + chrono::Duration::minutes(15 * i);
            let local_h = t.with_timezone(&tz).hour();
            let base = if (1..5).contains(&local_h) {
                10.0
            } else {
                30.0
            };
            let leak = if i >= 15 * 96 { 3.0 } else { 0.0 };
            series.push((t, base + leak));
        }
        let nights = minimum_night_flow(&series, tz, 2, 4);
        assert_eq!(nights.len(), 20);
        assert!((nights[0].flow - 10.0).abs() < 1e-12);
        // Rule: 13 − 10 = 3 > 0.2 × 10 alarms; 0.5 × 10 would not.
        let alarms = mnf_alarms(&nights, 0.2, 10);
        assert_eq!(alarms.len(), 5);
        assert_eq!(
            alarms[0].date,
            NaiveDate::from_ymd_opt(2024, 1, 16).unwrap()
        );
        assert!((alarms[0].excess - 3.0).abs() < 1e-12);
        assert!(mnf_alarms(&nights, 0.5, 10).is_empty());
        // As an event: 02:00 in Paris in January is 01:00 UTC.
        let e = alarms[0].to_event(tz, 2).unwrap();
        assert_eq!(e.start, Utc.with_ymd_and_hms(2024, 1, 16, 1, 0, 0).unwrap());
        assert_eq!((e.method.as_str(), e.uncertainty_m), ("mnf", None));
        assert!((e.estimated_flow_m3h - 3.0).abs() < 1e-12);
        // SANFLOW: 5 000 residents, 20 businesses, 30 km → 3 + 1 + 1.2 = 5.2 m³/h.
        assert!((expected_night_flow_m3h(5000.0, 20.0, 30.0) - 5.2).abs() < 1e-12);
    }

    #[test]
    fn cusum_and_fit() {
        let mut c = Cusum::new(0.5, 4.0);
        let z = [0.1, -0.2, 0.3, -2.0, -2.0, -2.0, -2.0];
        let first = z.iter().enumerate().position(|(i, &v)| c.push(i, v));
        // S: 0, 0, 0, 1.5, 3, 4.5 → alarm at index 5; the excursion began at 3.
        assert_eq!(first, Some(5));
        assert_eq!(c.start, 3);
        let rows: Vec<Vec<f64>> = (0..10).map(|i| vec![1.0, i as f64]).collect();
        let y: Vec<f64> = (0..10).map(|i| 2.0 + 3.0 * i as f64).collect();
        let b = least_squares(&rows, &y, 0.0).unwrap();
        assert!((b[0] - 2.0).abs() < 1e-9 && (b[1] - 3.0).abs() < 1e-9);
        assert!(least_squares(&rows[..1], &y[..1], 0.0).is_err());
    }
}
