//! Faults seen from the data: failed lamps and lights burning by day.
//!
//! * A lamp failure is reported by the luminaire's controller (a TALQ-style lamp status), or
//!   deduced at the armoire when its measured power falls below the load its lamps should
//!   draw at the commanded level (a failed lamp draws nothing, or little).
//! * Lights burning by day are measured power at an armoire while the sun is well above the
//!   horizon: a stuck contactor, a broken photocell, a clock out of time.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::solar::sun_elevation;

/// The lamp status a controller reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LampStatus {
    /// Working.
    Ok,
    /// The lamp does not light (controller lamp-failure event).
    LampFailure,
    /// The controller does not answer.
    NoCommunication,
}

/// A detected fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Fault {
    /// A controller reports a failed lamp.
    LampFailure {
        /// The point lumineux.
        streetlight: String,
        /// When it was reported.
        at: DateTime<Utc>,
    },
    /// A controller does not answer.
    NoCommunication {
        /// The point lumineux.
        streetlight: String,
        /// When it was noticed.
        at: DateTime<Utc>,
    },
    /// The armoire draws less than its lamps should at the commanded level.
    LoadDrop {
        /// The armoire.
        cabinet: String,
        /// When it was measured.
        at: DateTime<Utc>,
        /// Expected power, W.
        expected_w: f64,
        /// Measured power, W.
        measured_w: f64,
        /// Rough number of failed lamps (missing power / mean lamp power).
        estimated_failed_lamps: u32,
    },
    /// The armoire draws power while the sun is up.
    BurningByDay {
        /// The armoire.
        cabinet: String,
        /// First sample of the span.
        from: DateTime<Utc>,
        /// Last sample of the span.
        to: DateTime<Utc>,
        /// Highest power seen, W.
        max_w: f64,
    },
}

impl Fault {
    /// The French label, for the views.
    pub fn label_fr(&self) -> &'static str {
        match self {
            Self::LampFailure { .. } => "lampe en panne",
            Self::NoCommunication { .. } => "contrôleur muet",
            Self::LoadDrop { .. } => "baisse de charge à l'armoire",
            Self::BurningByDay { .. } => "allumé en plein jour",
        }
    }
}

/// Faults from controller statuses: one per point lumineux not `Ok`.
pub fn from_controller_status<'a>(
    statuses: impl IntoIterator<Item = (&'a str, LampStatus, DateTime<Utc>)>,
) -> Vec<Fault> {
    statuses
        .into_iter()
        .filter_map(|(id, status, at)| match status {
            LampStatus::Ok => None,
            LampStatus::LampFailure => Some(Fault::LampFailure {
                streetlight: id.to_string(),
                at,
            }),
            LampStatus::NoCommunication => Some(Fault::NoCommunication {
                streetlight: id.to_string(),
                at,
            }),
        })
        .collect()
}

/// Active power from an armoire's current: P = V × I × cos φ per phase, summed over phases
/// (`currents_a` one value per phase, `voltage_v` phase-to-neutral).
pub fn power_from_currents(currents_a: &[f64], voltage_v: f64, power_factor: f64) -> f64 {
    currents_a
        .iter()
        .map(|i| i * voltage_v * power_factor)
        .sum()
}

/// Compares an armoire's measured power with the load expected at the commanded level.
///
/// A drop is a fault when the missing power exceeds both `tolerance_pct` of the expected
/// load (measurement noise, lamp ageing) and half the mean lamp power (so one failed lamp of
/// many still shows). `lamp_count` is the number of lamps lit.
pub fn check_load(
    cabinet: &str,
    at: DateTime<Utc>,
    expected_w: f64,
    measured_w: f64,
    lamp_count: usize,
    tolerance_pct: f64,
) -> Option<Fault> {
    if expected_w <= 0.0 || lamp_count == 0 {
        return None;
    }
    let missing = expected_w - measured_w;
    let mean = expected_w / lamp_count as f64;
    if missing > expected_w * tolerance_pct / 100.0 && missing > mean / 2.0 {
        Some(Fault::LoadDrop {
            cabinet: cabinet.to_string(),
            at,
            expected_w,
            measured_w,
            estimated_failed_lamps: (missing / mean).round().clamp(1.0, lamp_count as f64) as u32,
        })
    } else {
        None
    }
}

/// Spans of power drawn by day: samples (instant, W) with more than `threshold_w` while the
/// sun is more than `min_elevation_deg` above the horizon at the armoire (2° leaves the
/// usual minutes of switch-off offset around dawn and dusk alone). Consecutive such samples
/// make one span.
pub fn burning_by_day(
    cabinet: &str,
    lat: f64,
    lon: f64,
    samples: &[(DateTime<Utc>, f64)],
    threshold_w: f64,
    min_elevation_deg: f64,
) -> Vec<Fault> {
    let mut sorted: Vec<&(DateTime<Utc>, f64)> = samples.iter().collect();
    sorted.sort_by_key(|s| s.0);
    let mut out = Vec::new();
    let mut current: Option<(DateTime<Utc>, DateTime<Utc>, f64)> = None;
    for &&(t, w) in &sorted {
        let burning = w > threshold_w && sun_elevation(t, lat, lon) > min_elevation_deg;
        current = match (current, burning) {
            (Some((from, _, max)), true) => Some((from, t, max.max(w))),
            (None, true) => Some((t, t, w)),
            (Some((from, to, max_w)), false) => {
                out.push(Fault::BurningByDay {
                    cabinet: cabinet.to_string(),
                    from,
                    to,
                    max_w,
                });
                None
            }
            (None, false) => None,
        };
    }
    if let Some((from, to, max_w)) = current {
        out.push(Fault::BurningByDay {
            cabinet: cabinet.to_string(),
            from,
            to,
            max_w,
        });
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn statuses_and_load_drops() {
        let at = Utc.with_ymd_and_hms(2025, 1, 10, 20, 0, 0).unwrap();
        let faults = from_controller_status([
            ("s1", LampStatus::Ok, at),
            ("s2", LampStatus::LampFailure, at),
            ("s3", LampStatus::NoCommunication, at),
        ]);
        assert_eq!(faults.len(), 2);
        assert_eq!(faults[0].label_fr(), "lampe en panne");

        // 20 lamps of 100 W at full power; 3 do not light.
        let p = power_from_currents(&[3.0, 3.0, 2.4], 230.0, 0.9);
        assert!((p - 1_738.8).abs() < 1e-6, "{p}");
        let fault = check_load("A1", at, 2_000.0, 1_700.0, 20, 5.0).unwrap();
        assert!(matches!(
            fault,
            Fault::LoadDrop {
                estimated_failed_lamps: 3,
                ..
            }
        ));
        // 2 % down is noise.
        assert_eq!(check_load("A1", at, 2_000.0, 1_960.0, 20, 5.0), None);
    }

    #[test]
    fn lights_on_at_noon_are_found() {
        let t = |h: u32| Utc.with_ymd_and_hms(2025, 6, 10, h, 0, 0).unwrap();
        // Paris, June: on at 00:00–03:00 UTC (night), then still on 04:00–06:00 UTC (sun up
        // from about 03:45 UTC), then off.
        let samples: Vec<_> = (0..10)
            .map(|h| (t(h), if h <= 6 { 900.0 } else { 0.0 }))
            .collect();
        let faults = burning_by_day("A1", 48.85, 2.35, &samples, 50.0, 2.0);
        assert_eq!(faults.len(), 1);
        let Fault::BurningByDay {
            from, to, max_w, ..
        } = &faults[0]
        else {
            panic!()
        };
        assert_eq!((*from, *to, *max_w), (t(5), t(6), 900.0));
    }
}
