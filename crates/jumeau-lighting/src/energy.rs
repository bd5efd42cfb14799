//! Energy, money and carbon per armoire and month.
//!
//! Three consumptions are compared, in kWh, € (the tenant's tariff) and kgCO2e (the tenant's
//! emission factor):
//!
//! * the **baseline**: every lamp at full power from sunset to sunrise, every night;
//! * the **scheduled** consumption: the lamps' power at the level their program commands,
//!   integrated over the night (presence boosts are not counted: they depend on traffic);
//! * the **measured** consumption: the difference of the armoire meter's index between the
//!   first instants of two months, interpolated linearly between readings.
//!
//! # Power model
//!
//! * LED luminaires: the rated power includes the driver, and the power follows the level
//!   linearly: P = P_rated × level.
//! * Discharge lamps (sodium, mercury, metal halide) and unknown sources (boules, others):
//!   the line power is the lamp power plus the losses of its ferromagnetic ballast
//!   ([`PowerModel::discharge_gear_loss`], 10 % by default, the usual order of magnitude for
//!   magnetic gear), and dimming (bi-power ballasts or voltage reduction at the armoire)
//!   saves less power than light: P = P_line × (a + (1 − a) × max(level, m)), with a fixed
//!   share a = 35 % and a lowest stable level m = 50 % (a discharge lamp cannot run lower and
//!   stays at that level when asked for less but more than 0). These figures are editable
//!   ([`PowerModel`]); they make a 50 % level cost about 68 % of full power. This is a
//!   modelling assumption of the order bi-power ballasts give (about half the light for two
//!   thirds of the power), to calibrate against the armoires' meters where they exist.
//!
//! # Months
//!
//! Months are local months (Europe/Paris): the night of the 31st is split at local midnight,
//! so each month gets exactly what was consumed between its first and last local instants.
use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::inventory::{Inventory, Luminaire, Technology};
use crate::schedule::{local_to_unix, NightLevels, Program};
use crate::solar::SunTable;

/// Why an energy computation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnergyError {
    /// The meter index went down between two readings.
    #[error(
        "the meter index of {cabinet} goes down from {from} kWh to {to} kWh at {at}; if the \
         meter was replaced or reset, give the readings before and after as two series"
    )]
    IndexWentBackwards {
        /// The armoire.
        cabinet: String,
        /// The instant of the lower reading.
        at: DateTime<Utc>,
        /// The previous index.
        from: f64,
        /// The lower index.
        to: f64,
    },
    /// A reading is not a finite number.
    #[error("the meter reading of {cabinet} at {at} is not a finite number; remove or fix it")]
    NotFinite {
        /// The armoire.
        cabinet: String,
        /// The instant.
        at: DateTime<Utc>,
    },
    /// The year is out of range.
    #[error("year {0} is out of range; give a year between 1900 and 2200")]
    BadYear(i32),
    /// An assignment names a program that does not exist.
    #[error("{target} is assigned program {program}, which is not among the programs given")]
    UnknownProgram {
        /// The armoire or group.
        target: String,
        /// The program id.
        program: String,
    },
}

/// How lamps draw power when dimmed (see the module documentation). Editable data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PowerModel {
    /// Ballast losses of discharge lamps, as a share of the lamp power (0.10 = 10 %).
    pub discharge_gear_loss: f64,
    /// Share of a discharge lamp's power that dimming does not save.
    pub discharge_fixed_share: f64,
    /// Lowest level a discharge lamp can run at, in %.
    pub discharge_min_level_pct: f64,
}

impl Default for PowerModel {
    fn default() -> Self {
        Self {
            discharge_gear_loss: 0.10,
            discharge_fixed_share: 0.35,
            discharge_min_level_pct: 50.0,
        }
    }
}

impl PowerModel {
    /// The power a luminaire draws at a level, in watts.
    pub fn power_w(&self, luminaire: &Luminaire, level_pct: f64) -> f64 {
        let mut load = Load::default();
        load.add(self, luminaire);
        load.power_w(self, level_pct)
    }

    /// The relative power of a discharge lamp at a level (0–1).
    fn discharge_factor(&self, level_pct: f64) -> f64 {
        if level_pct <= 0.0 {
            0.0
        } else {
            let l = level_pct.max(self.discharge_min_level_pct).min(100.0) / 100.0;
            self.discharge_fixed_share + (1.0 - self.discharge_fixed_share) * l
        }
    }
}

/// The summed load of lamps sharing a program: LED watts and discharge line watts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Load {
    /// Rated power of the LED luminaires, W.
    pub led_w: f64,
    /// Line power at full output of the other luminaires (gear losses included), W.
    pub discharge_w: f64,
    /// Number of luminaires.
    pub count: usize,
}

impl Load {
    /// Adds a luminaire.
    pub fn add(&mut self, model: &PowerModel, l: &Luminaire) {
        if l.technology == Technology::Led {
            self.led_w += l.power_w;
        } else {
            self.discharge_w += l.power_w * (1.0 + model.discharge_gear_loss);
        }
        self.count += 1;
    }

    /// The power drawn at a level, W.
    pub fn power_w(&self, model: &PowerModel, level_pct: f64) -> f64 {
        self.led_w * (level_pct.clamp(0.0, 100.0) / 100.0)
            + self.discharge_w * model.discharge_factor(level_pct)
    }

    /// The power at full output, W.
    pub fn full_power_w(&self) -> f64 {
        self.led_w + self.discharge_w
    }
}

/// Which program drives which lamps: a group's program wins over its armoire's, which wins
/// over the default; lamps with none run dusk to dawn at full power.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignments {
    /// Program id by armoire id.
    #[serde(default)]
    pub by_cabinet: BTreeMap<String, String>,
    /// Program id by group id.
    #[serde(default)]
    pub by_group: BTreeMap<String, String>,
    /// The program of every other lamp.
    #[serde(default)]
    pub default: Option<String>,
}

impl Assignments {
    /// The program id for lamps of `group` fed by `cabinet`, and what it was assigned to
    /// (`group`, `cabinet` or `default`); `None` when nothing applies (dusk to dawn).
    pub fn program_for<'a>(
        &'a self,
        group: Option<&'a str>,
        cabinet: Option<&'a str>,
    ) -> Option<(&'a str, &'a str)> {
        group
            .and_then(|g| self.by_group.get(g).map(|p| (g, p.as_str())))
            .or_else(|| cabinet.and_then(|c| self.by_cabinet.get(c).map(|p| (c, p.as_str()))))
            .or_else(|| self.default.as_deref().map(|p| ("default", p)))
    }
}

/// The lamps of one armoire, summed per program.
#[derive(Debug, Clone, PartialEq)]
pub struct CabinetLoads {
    /// The armoire id.
    pub cabinet: String,
    /// Latitude of the armoire (its lamps share its sun times).
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// (index in the programs slice, load); index `None` = dusk to dawn at full power.
    pub loads: Vec<(Option<usize>, Load)>,
}

impl CabinetLoads {
    /// The whole load at full power, W.
    pub fn full_power_w(&self) -> f64 {
        self.loads.iter().map(|(_, l)| l.full_power_w()).sum()
    }

    /// The power the armoire should draw at instant `t` under its programs (`programs` is
    /// the slice the loads were summed with), W: what [`crate::faults::check_load`] compares
    /// the measured power with, and the number of lamps lit.
    pub fn expected_power_w(
        &self,
        programs: &[Program],
        model: &PowerModel,
        t: DateTime<Utc>,
        tz: Tz,
    ) -> (f64, usize) {
        let dusk_to_dawn = Program::dusk_to_dawn("dusk-to-dawn");
        self.loads
            .iter()
            .map(|(p, load)| {
                let program = p.and_then(|i| programs.get(i)).unwrap_or(&dusk_to_dawn);
                let level = program.level_at(t, self.lat, self.lon, tz);
                let lit = if level > 0.0 { load.count } else { 0 };
                (load.power_w(model, level), lit)
            })
            .fold((0.0, 0), |(w, n), (w2, n2)| (w + w2, n + n2))
    }
}

/// Sums the lamps of each armoire of the inventory per program. Lamps without an armoire are
/// not counted (their consumption is not metered at an armoire).
pub fn cabinet_loads(
    inventory: &Inventory,
    assignments: &Assignments,
    programs: &[Program],
    model: &PowerModel,
) -> Result<Vec<CabinetLoads>, EnergyError> {
    let index = |target: &str, id: &str| {
        programs
            .iter()
            .position(|p| p.id == id)
            .ok_or_else(|| EnergyError::UnknownProgram {
                target: target.to_string(),
                program: id.to_string(),
            })
    };
    let mut out: Vec<CabinetLoads> = inventory
        .cabinets
        .iter()
        .map(|c| CabinetLoads {
            cabinet: c.id.clone(),
            lat: c.lat,
            lon: c.lon,
            loads: Vec::new(),
        })
        .collect();
    let by_id: BTreeMap<&str, usize> = inventory
        .cabinets
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    for s in &inventory.streetlights {
        let Some(&ci) = s.cabinet.as_deref().and_then(|c| by_id.get(c)) else {
            continue;
        };
        let program = assignments
            .program_for(s.group.as_deref(), s.cabinet.as_deref())
            .map(|(target, p)| index(target, p))
            .transpose()?;
        let loads = &mut out[ci].loads;
        match loads.iter_mut().find(|(p, _)| *p == program) {
            Some((_, load)) => load.add(model, &s.luminaire),
            None => {
                let mut load = Load::default();
                load.add(model, &s.luminaire);
                loads.push((program, load));
            }
        }
    }
    Ok(out)
}

/// Baseline and scheduled kWh of one month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedMonth {
    /// Full power, dusk to dawn, kWh.
    pub baseline_kwh: f64,
    /// At the programmed levels, kWh.
    pub scheduled_kwh: f64,
}

/// The simulated year of an armoire: 12 months.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CabinetYear {
    /// The armoire id.
    pub cabinet: String,
    /// The year.
    pub year: i32,
    /// January to December.
    pub months: [SimulatedMonth; 12],
}

/// The programs of a year compiled once, shared by every armoire: their level changes do not
/// depend on the place, only dusk and dawn do.
#[derive(Debug, Clone)]
pub struct YearCalendar {
    /// The year.
    year: i32,
    /// Local date of the first night (31 December of the year before).
    first: NaiveDate,
    /// The time zone.
    tz: Tz,
    /// Per night: the local midnight instant that starts a new month during it, if any.
    month_split: Vec<Option<i64>>,
    /// Per night: the month index (0-11) of its evening; `None` for the night before the year.
    evening_month: Vec<Option<usize>>,
    /// Per program, per night.
    nights: Vec<Vec<NightLevels>>,
    /// Per program, its (on, off) offsets in seconds.
    offsets: Vec<(i64, i64)>,
}

impl YearCalendar {
    /// Compiles the programs for every night touching `year` in time zone `tz`.
    pub fn new(year: i32, programs: &[Program], tz: Tz) -> Result<Self, EnergyError> {
        let (Some(jan1), Some(next_jan1)) = (
            NaiveDate::from_ymd_opt(year, 1, 1).filter(|_| (1900..=2200).contains(&year)),
            NaiveDate::from_ymd_opt(year + 1, 1, 1),
        ) else {
            return Err(EnergyError::BadYear(year));
        };
        let first = jan1 - chrono::Duration::days(1);
        let count = usize::try_from((next_jan1 - first).num_days()).unwrap_or(0);
        let dates: Vec<NaiveDate> = first.iter_days().take(count).collect();
        let midnight = NaiveTime::MIN;
        let month_split = dates
            .iter()
            .map(|d| {
                let next = *d + chrono::Duration::days(1);
                (next.day() == 1).then(|| local_to_unix(next, midnight, tz))
            })
            .collect();
        let evening_month = dates
            .iter()
            .map(|d| (d.year() == year).then(|| d.month0() as usize))
            .collect();
        let nights = programs
            .iter()
            .map(|p| dates.iter().map(|d| p.night(*d, tz)).collect())
            .collect();
        let offsets = programs
            .iter()
            .map(|p| {
                (
                    i64::from(p.on_offset_min) * 60,
                    i64::from(p.off_offset_min) * 60,
                )
            })
            .collect();
        Ok(Self {
            year,
            first,
            tz,
            month_split,
            evening_month,
            nights,
            offsets,
        })
    }

    /// The number of nights (the year's days plus the night before 1 January).
    pub fn nights(&self) -> usize {
        self.month_split.len()
    }

    /// The sun table an armoire at (`lat`, `lon`) needs for this calendar.
    pub fn sun_table(&self, lat: f64, lon: f64) -> SunTable {
        SunTable::new(self.first, self.nights(), lat, lon, self.tz)
    }

    /// Simulates an armoire's year with its precomputed sun table.
    pub fn simulate(
        &self,
        loads: &CabinetLoads,
        sun: &SunTable,
        model: &PowerModel,
    ) -> CabinetYear {
        let mut months = [SimulatedMonth::default(); 12];
        let full = loads.full_power_w();
        for night in 0..self.nights() {
            let Some((set, rise)) = sun.night(night) else {
                continue;
            };
            let split = self.month_split[night];
            let before = self.evening_month[night];
            let after = split.map(|_| {
                if before == Some(11) {
                    None
                } else {
                    Some(before.map_or(0, |m| m + 1))
                }
            });
            // Adds `wh` watt-seconds of [a, b) to the right months.
            let mut add = |a: i64, b: i64, watts: f64, scheduled: bool| {
                let mut put = |month: Option<usize>, secs: i64| {
                    if let Some(m) = month {
                        let kwh = watts * secs as f64 / 3_600_000.0;
                        if scheduled {
                            months[m].scheduled_kwh += kwh;
                        } else {
                            months[m].baseline_kwh += kwh;
                        }
                    }
                };
                match (split, after) {
                    (Some(s), Some(next_month)) if s < b => {
                        put(before, (s.min(b) - a).max(0));
                        put(next_month, b - s.max(a));
                    }
                    _ => put(before, b - a),
                }
            };
            add(set, rise, full, false);
            for (program, load) in &loads.loads {
                match program {
                    Some(p) => {
                        let (on_off, off_off) = self.offsets[*p];
                        let levels = &self.nights[*p][night];
                        levels.for_each_segment(set + on_off, rise + off_off, |a, b, level| {
                            let w = load.power_w(model, level);
                            if w > 0.0 {
                                add(a, b, w, true);
                            }
                        });
                    }
                    None => add(set, rise, load.full_power_w(), true),
                }
            }
        }
        CabinetYear {
            cabinet: loads.cabinet.clone(),
            year: self.year,
            months,
        }
    }
}

/// Simulates every armoire for a year: one sun table per armoire (its lamps share it).
pub fn simulate_year(
    year: i32,
    cabinets: &[CabinetLoads],
    programs: &[Program],
    model: &PowerModel,
    tz: Tz,
) -> Result<Vec<CabinetYear>, EnergyError> {
    let calendar = YearCalendar::new(year, programs, tz)?;
    Ok(cabinets
        .iter()
        .map(|c| calendar.simulate(c, &calendar.sun_table(c.lat, c.lon), model))
        .collect())
}

/// One reading of an armoire meter: the cumulative index at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterReading {
    /// When it was read.
    pub at: DateTime<Utc>,
    /// The index, kWh.
    pub index_kwh: f64,
}

/// The measured kWh of each month of `year` (local months in `tz`) from meter readings in any
/// order; a month is `None` unless readings surround both its ends.
pub fn measured_by_month(
    cabinet: &str,
    readings: &[MeterReading],
    year: i32,
    tz: Tz,
) -> Result<[Option<f64>; 12], EnergyError> {
    let mut rs: Vec<MeterReading> = readings.to_vec();
    rs.sort_by_key(|r| r.at);
    for r in &rs {
        if !r.index_kwh.is_finite() {
            return Err(EnergyError::NotFinite {
                cabinet: cabinet.to_string(),
                at: r.at,
            });
        }
    }
    for w in rs.windows(2) {
        if w[1].index_kwh < w[0].index_kwh {
            return Err(EnergyError::IndexWentBackwards {
                cabinet: cabinet.to_string(),
                at: w[1].at,
                from: w[0].index_kwh,
                to: w[1].index_kwh,
            });
        }
    }
    let index_at = |s: i64| -> Option<f64> {
        let i = rs.partition_point(|r| r.at.timestamp() < s);
        let after = rs.get(i)?;
        if after.at.timestamp() == s {
            return Some(after.index_kwh);
        }
        let before = rs.get(i.checked_sub(1)?)?;
        let (t0, t1) = (before.at.timestamp() as f64, after.at.timestamp() as f64);
        Some(before.index_kwh + (after.index_kwh - before.index_kwh) * (s as f64 - t0) / (t1 - t0))
    };
    let mut out = [None; 12];
    for (m, slot) in out.iter_mut().enumerate() {
        let month = m as u32 + 1;
        let start = NaiveDate::from_ymd_opt(year, month, 1);
        let end = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        };
        let (Some(start), Some(end)) = (start, end) else {
            return Err(EnergyError::BadYear(year));
        };
        let a = index_at(local_to_unix(start, NaiveTime::MIN, tz));
        let b = index_at(local_to_unix(end, NaiveTime::MIN, tz));
        *slot = a.zip(b).map(|(a, b)| b - a);
    }
    Ok(out)
}

/// The tenant's prices and factors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tariff {
    /// Price of a kWh, € (all taxes the tenant wants counted).
    pub eur_per_kwh: f64,
    /// Emission factor of a kWh, kgCO2e (the tenant's source, e.g. ADEME Base Empreinte).
    pub kg_co2e_per_kwh: f64,
}

/// An amount of energy with its cost and emissions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Amount {
    /// kWh.
    pub kwh: f64,
    /// €.
    pub eur: f64,
    /// kgCO2e.
    pub kg_co2e: f64,
}

impl Amount {
    /// An energy priced with a tariff.
    pub fn of(kwh: f64, tariff: &Tariff) -> Self {
        Self {
            kwh,
            eur: kwh * tariff.eur_per_kwh,
            kg_co2e: kwh * tariff.kg_co2e_per_kwh,
        }
    }
}

/// One line of the energy report: an armoire and a month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthlyEnergy {
    /// The armoire.
    pub cabinet: String,
    /// The year.
    pub year: i32,
    /// The month, 1–12.
    pub month: u32,
    /// Full power dusk to dawn.
    pub baseline: Amount,
    /// At the programmed levels.
    pub scheduled: Amount,
    /// From the meter, when readings cover the month.
    pub measured: Option<Amount>,
    /// Baseline minus actual (measured when known, else scheduled).
    pub savings_vs_baseline: Amount,
    /// Savings against the baseline, % of the baseline.
    pub savings_vs_baseline_pct: f64,
    /// Last year's same month minus this year's actual, when last year is known.
    pub savings_vs_last_year: Option<Amount>,
}

/// The report lines of a simulated armoire year, with its measured months and last year's
/// (measured) months when known.
pub fn monthly_report(
    sim: &CabinetYear,
    measured: Option<&[Option<f64>; 12]>,
    last_year: Option<&[Option<f64>; 12]>,
    tariff: &Tariff,
) -> Vec<MonthlyEnergy> {
    sim.months
        .iter()
        .enumerate()
        .map(|(m, s)| {
            let measured_kwh = measured.and_then(|ms| ms[m]);
            let actual = measured_kwh.unwrap_or(s.scheduled_kwh);
            let saved = s.baseline_kwh - actual;
            MonthlyEnergy {
                cabinet: sim.cabinet.clone(),
                year: sim.year,
                month: m as u32 + 1,
                baseline: Amount::of(s.baseline_kwh, tariff),
                scheduled: Amount::of(s.scheduled_kwh, tariff),
                measured: measured_kwh.map(|k| Amount::of(k, tariff)),
                savings_vs_baseline: Amount::of(saved, tariff),
                savings_vs_baseline_pct: if s.baseline_kwh > 0.0 {
                    100.0 * saved / s.baseline_kwh
                } else {
                    0.0
                },
                savings_vs_last_year: last_year
                    .and_then(|ly| ly[m])
                    .map(|ly| Amount::of(ly - actual, tariff)),
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::inventory::{Cabinet, LightingCategory, Streetlight};
    use crate::schedule::{DimStep, NightPlan, TimeWindow};
    use crate::PARIS;
    use chrono::TimeZone;

    fn lamp(id: &str, tech: Technology, w: f64, group: Option<&str>) -> Streetlight {
        Streetlight {
            id: id.into(),
            lon: 2.35,
            lat: 48.85,
            luminaire: Luminaire::new(tech, w),
            category: LightingCategory::Road,
            installed_on: None,
            mast_height_m: None,
            cabinet: Some("A1".into()),
            circuit: None,
            group: group.map(Into::into),
        }
    }

    #[test]
    fn power_model() {
        let m = PowerModel::default();
        let led = Luminaire::new(Technology::Led, 40.0);
        assert_eq!(m.power_w(&led, 50.0), 20.0);
        assert_eq!(m.power_w(&led, 0.0), 0.0);
        let hps = Luminaire::new(Technology::HighPressureSodium, 100.0);
        // 110 W on the line at full power; at 50 %: 110 × (0.35 + 0.65 × 0.5) = 74.25 W.
        assert!((m.power_w(&hps, 100.0) - 110.0).abs() < 1e-9);
        assert!((m.power_w(&hps, 50.0) - 74.25).abs() < 1e-9);
        // Asked for 20 %, the lamp stays at its 50 % minimum.
        assert!((m.power_w(&hps, 20.0) - 74.25).abs() < 1e-9);
    }

    /// A hand-worked profile. One armoire with 10 LED of 50 W (500 W) in group G (program
    /// "eco": 100 % at dusk, 50 % from 22:00, off 00:00–05:00, back to 100 % at 05:00) and
    /// 2 sodium lamps of 100 W (220 W on the line) running dusk to dawn.
    ///
    /// Night of 10 to 11 December 2024 in Paris, computed from the sun table for the armoire:
    /// sunset S, sunrise R. Baseline = 720 W × (R − S).
    /// Scheduled = LED: 500 W × (22:00 − S) + 250 W × 2 h + 0 + 500 W × (R − 05:00);
    ///             sodium: 220 W × (R − S).
    #[test]
    fn savings_on_a_hand_worked_night() {
        let inv = Inventory {
            streetlights: (0..10)
                .map(|i| lamp(&format!("l{i}"), Technology::Led, 50.0, Some("G")))
                .chain((0..2).map(|i| {
                    lamp(
                        &format!("s{i}"),
                        Technology::HighPressureSodium,
                        100.0,
                        None,
                    )
                }))
                .collect(),
            cabinets: vec![Cabinet {
                id: "A1".into(),
                lon: 2.35,
                lat: 48.85,
                circuits: vec![],
                groups: vec![],
            }],
            groups: vec![],
        };
        let eco = Program {
            plan: NightPlan {
                initial_level_pct: 100.0,
                steps: vec![
                    DimStep {
                        at: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
                        level_pct: 50.0,
                    },
                    DimStep {
                        at: NaiveTime::from_hms_opt(5, 0, 0).unwrap(),
                        level_pct: 100.0,
                    },
                ],
                switch_off: vec![TimeWindow::hm((0, 0), (5, 0)).unwrap()],
            },
            ..Program::dusk_to_dawn("eco")
        };
        let assignments = Assignments {
            by_group: [("G".to_string(), "eco".to_string())].into(),
            ..Assignments::default()
        };
        let model = PowerModel::default();
        let loads = cabinet_loads(&inv, &assignments, std::slice::from_ref(&eco), &model).unwrap();
        assert_eq!(loads[0].full_power_w(), 720.0);

        // Expected armoire power at 23:00 (LED at 50 %, sodium full) and at 02:00 (LED off).
        let at = |d: u32, h: u32| {
            PARIS
                .with_ymd_and_hms(2024, 12, d, h, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        let (w, lit) =
            loads[0].expected_power_w(std::slice::from_ref(&eco), &model, at(10, 23), PARIS);
        assert!((w - 470.0).abs() < 1e-9 && lit == 12, "{w} {lit}");
        let (w, lit) =
            loads[0].expected_power_w(std::slice::from_ref(&eco), &model, at(11, 2), PARIS);
        assert!((w - 220.0).abs() < 1e-9 && lit == 2, "{w} {lit}");
        assert_eq!(
            assignments.program_for(Some("G"), Some("A1")),
            Some(("G", "eco"))
        );
        assert_eq!(assignments.program_for(None, Some("A1")), None);

        // One December night through the calendar machinery.
        let cal = YearCalendar::new(2024, std::slice::from_ref(&eco), PARIS).unwrap();
        let sun = cal.sun_table(48.85, 2.35);
        let night = cal
            .first
            .iter_days()
            .position(|d| d == NaiveDate::from_ymd_opt(2024, 12, 10).unwrap())
            .unwrap();
        let (s, r) = sun.night(night).unwrap();
        let h = |x: i64| x as f64 / 3600.0;
        let t22 = PARIS
            .with_ymd_and_hms(2024, 12, 10, 22, 0, 0)
            .unwrap()
            .timestamp();
        let t05 = PARIS
            .with_ymd_and_hms(2024, 12, 11, 5, 0, 0)
            .unwrap()
            .timestamp();
        let baseline = 0.720 * h(r - s);
        let scheduled = 0.5 * h(t22 - s) + 0.25 * 2.0 + 0.5 * h(r - t05) + 0.220 * h(r - s);
        // Sunset ≈ 16:53, sunrise ≈ 08:34: night ≈ 15.68 h, baseline ≈ 11.29 kWh;
        // scheduled ≈ 0.5×5.12 + 0.5 + 0.5×3.57 + 0.22×15.68 ≈ 8.29 kWh.
        assert!((baseline - 11.29).abs() < 0.05, "{baseline}");
        assert!((scheduled - 8.29).abs() < 0.05, "{scheduled}");

        // The same through `simulate`, on a one-night calendar slice: compare the whole
        // December against the sum of the hand formula over its nights.
        let years = simulate_year(2024, &loads, std::slice::from_ref(&eco), &model, PARIS).unwrap();
        let dec = years[0].months[11];
        let mut base_dec = 0.0;
        let mut sched_dec = 0.0;
        for d in 1..=31u32 {
            let date = NaiveDate::from_ymd_opt(2024, 12, d).unwrap();
            let i = cal.first.iter_days().position(|x| x == date).unwrap();
            let (s, r) = sun.night(i).unwrap();
            let t22 = PARIS
                .with_ymd_and_hms(2024, 12, d, 22, 0, 0)
                .unwrap()
                .timestamp();
            let next = date + chrono::Duration::days(1);
            let t00 = PARIS
                .from_local_datetime(&next.and_hms_opt(0, 0, 0).unwrap())
                .unwrap()
                .timestamp();
            let t05 = PARIS
                .from_local_datetime(&next.and_hms_opt(5, 0, 0).unwrap())
                .unwrap()
                .timestamp();
            // Only what falls before 1 January 00:00 belongs to December.
            let end = if d == 31 { t00 } else { r };
            base_dec += 0.720 * h(end - s);
            sched_dec += 0.5 * h(t22 - s) + 0.25 * 2.0 + 0.220 * h(end - s);
            if d != 31 {
                sched_dec += 0.5 * h(r - t05);
            }
        }
        // The night of 30 November belongs to November until midnight, then December.
        let nov30 = cal
            .first
            .iter_days()
            .position(|x| x == NaiveDate::from_ymd_opt(2024, 11, 30).unwrap())
            .unwrap();
        let (_, r) = sun.night(nov30).unwrap();
        let t00 = PARIS
            .with_ymd_and_hms(2024, 12, 1, 0, 0, 0)
            .unwrap()
            .timestamp();
        let t05 = PARIS
            .with_ymd_and_hms(2024, 12, 1, 5, 0, 0)
            .unwrap()
            .timestamp();
        base_dec += 0.720 * h(r - t00);
        sched_dec += 0.5 * h(r - t05) + 0.220 * h(r - t00);
        assert!(
            (dec.baseline_kwh - base_dec).abs() < 1e-6,
            "{} vs {base_dec}",
            dec.baseline_kwh
        );
        assert!(
            (dec.scheduled_kwh - sched_dec).abs() < 1e-6,
            "{} vs {sched_dec}",
            dec.scheduled_kwh
        );

        // Report: tariff 0.20 €/kWh, 0.05 kgCO2e/kWh; December measured 250 kWh, last year 300.
        let tariff = Tariff {
            eur_per_kwh: 0.20,
            kg_co2e_per_kwh: 0.05,
        };
        let mut measured = [None; 12];
        measured[11] = Some(250.0);
        let mut last = [None; 12];
        last[11] = Some(300.0);
        let report = monthly_report(&years[0], Some(&measured), Some(&last), &tariff);
        let dec = &report[11];
        assert_eq!(dec.month, 12);
        assert!((dec.savings_vs_baseline.kwh - (base_dec - 250.0)).abs() < 1e-6);
        assert!((dec.savings_vs_baseline.eur - 0.2 * (base_dec - 250.0)).abs() < 1e-6);
        let ly = dec.savings_vs_last_year.unwrap();
        assert!(
            (ly.kwh - 50.0).abs() < 1e-9
                && (ly.eur - 10.0).abs() < 1e-9
                && (ly.kg_co2e - 2.5).abs() < 1e-9
        );
        // Without measurements, the scheduled figure is the actual one.
        let report = monthly_report(&years[0], None, None, &tariff);
        assert!((report[11].savings_vs_baseline.kwh - (base_dec - sched_dec)).abs() < 1e-6);
        assert!(report[11].savings_vs_last_year.is_none());
    }

    /// Worked by hand with round numbers: 1,000 W of LED, lit from 17:00 to 08:00 local
    /// (15 h), 100 % until 22:00 (5 h → 5 kWh), 50 % until 00:00 (2 h → 1 kWh), off until
    /// 05:00, 100 % until 08:00 (3 h → 3 kWh): 9 kWh against a 15 kWh baseline, 6 kWh
    /// (40 %) saved; at 0.20 €/kWh and 0.05 kgCO2e/kWh: 1.20 € and 0.30 kgCO2e saved.
    /// The same night with 1,000 W of sodium on the line: 50 % costs 67.5 %, so
    /// 5 + 2 × 0.675 + 3 = 9.35 kWh.
    #[test]
    fn savings_on_round_numbers() {
        let plan = NightPlan {
            initial_level_pct: 100.0,
            steps: vec![
                DimStep {
                    at: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
                    level_pct: 50.0,
                },
                DimStep {
                    at: NaiveTime::from_hms_opt(5, 0, 0).unwrap(),
                    level_pct: 100.0,
                },
            ],
            switch_off: vec![TimeWindow::hm((0, 0), (5, 0)).unwrap()],
        };
        let date = NaiveDate::from_ymd_opt(2025, 1, 15).unwrap();
        let levels = NightLevels::compile(&plan, date, PARIS);
        let on = PARIS
            .with_ymd_and_hms(2025, 1, 15, 17, 0, 0)
            .unwrap()
            .timestamp();
        let off = PARIS
            .with_ymd_and_hms(2025, 1, 16, 8, 0, 0)
            .unwrap()
            .timestamp();
        let model = PowerModel::default();
        let kwh = |load: &Load| {
            let mut wh = 0.0;
            levels.for_each_segment(on, off, |a, b, level| {
                wh += load.power_w(&model, level) * (b - a) as f64 / 3600.0;
            });
            wh / 1000.0
        };
        let led = Load {
            led_w: 1000.0,
            discharge_w: 0.0,
            count: 10,
        };
        let scheduled = kwh(&led);
        let baseline = led.full_power_w() * 15.0 / 1000.0;
        assert!((scheduled - 9.0).abs() < 1e-9, "{scheduled}");
        assert!((baseline - 15.0).abs() < 1e-9);
        let tariff = Tariff {
            eur_per_kwh: 0.20,
            kg_co2e_per_kwh: 0.05,
        };
        let saved = Amount::of(baseline - scheduled, &tariff);
        assert!((saved.kwh - 6.0).abs() < 1e-9);
        assert!((saved.eur - 1.20).abs() < 1e-9);
        assert!((saved.kg_co2e - 0.30).abs() < 1e-9);
        let sodium = Load {
            led_w: 0.0,
            discharge_w: 1000.0,
            count: 10,
        };
        assert!((kwh(&sodium) - 9.35).abs() < 1e-9, "{}", kwh(&sodium));
    }

    #[test]
    fn measured_months_from_meter_readings() {
        let at = |m: u32, d: u32, h: u32| {
            PARIS
                .with_ymd_and_hms(2025, m, d, h, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        let readings = vec![
            MeterReading {
                at: at(2, 1, 0),
                index_kwh: 1_000.0,
            },
            MeterReading {
                at: at(1, 1, 0),
                index_kwh: 500.0,
            },
            // Halfway between 1 and 3 March (48 h apart): 1 March 12:00 and 2 March 12:00.
            MeterReading {
                at: at(2, 28, 12),
                index_kwh: 1_400.0,
            },
            MeterReading {
                at: at(3, 2, 12),
                index_kwh: 1_440.0,
            },
        ];
        let months = measured_by_month("A1", &readings, 2025, PARIS).unwrap();
        assert_eq!(months[0], Some(500.0));
        // 1 March 00:00 is 12 h after 28 Feb 12:00, of 48 h: 1,400 + 40 × 12/48 = 1,410.
        assert!((months[1].unwrap() - 410.0).abs() < 1e-9);
        assert_eq!(months[2], None);
        let back = vec![
            readings[0],
            MeterReading {
                at: at(3, 1, 0),
                index_kwh: 10.0,
            },
        ];
        assert!(matches!(
            measured_by_month("A1", &back, 2025, PARIS),
            Err(EnergyError::IndexWentBackwards { .. })
        ));
    }

    #[test]
    fn unknown_programs_are_reported() {
        let inv = Inventory {
            streetlights: vec![lamp("l", Technology::Led, 10.0, None)],
            cabinets: vec![Cabinet {
                id: "A1".into(),
                lon: 2.35,
                lat: 48.85,
                circuits: vec![],
                groups: vec![],
            }],
            groups: vec![],
        };
        let a = Assignments {
            default: Some("nope".into()),
            ..Assignments::default()
        };
        let err = cabinet_loads(&inv, &a, &[], &PowerModel::default()).unwrap_err();
        assert!(err.to_string().contains("nope"));
    }
}
