//! SCADA exports checked before detection: timestamps on a regular grid, gaps, duplicated
//! timestamps, empty cells and dead sensors.
//!
//! Real SCADA exports are never as clean as generated data. Reading is strict where a
//! wrong guess would mislead the detector (a timestamp that repeats or goes back, a cell
//! that is not a number: an error naming the file, line and column) and tolerant where the
//! data can still serve (a gap or an empty cell: a warning naming the line and column, the
//! missing values carried forward; a dead sensor: a warning, and the sensor left out).

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};

use crate::error::{Result, WaterError};
use crate::leaks::SensorTable;

/// Timestamp format of the CSV files (`2018-01-01 00:05`, UTC), as BattLeDIM writes them.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M";

/// A sensor is dead when more than this share of its readings is missing.
const DEAD_MISSING_SHARE: f64 = 0.5;

/// Parses a CSV timestamp (`2018-01-31 23:55`, UTC; seconds and an RFC 3339 form are
/// accepted too).
pub fn parse_time(s: &str) -> Result<DateTime<Utc>> {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, TIME_FORMAT)
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S"))
        .map(|t| Utc.from_utc_datetime(&t))
        .or_else(|_| DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)))
        .map_err(|e| {
            WaterError::Data(format!(
                "time '{s}' is not of the form 2018-01-31 23:55: {e}"
            ))
        })
}

/// Reads a SCADA table (`Timestamp` then one column per sensor) and checks it.
///
/// Errors (file, line and column named): a missing or repeated column name, a row with
/// the wrong number of cells, a timestamp that cannot be read, repeats an earlier one or
/// goes back in time, a cell that is neither a number nor empty. Warnings: empty or `NaN`
/// cells (per column, with the first line), gaps in the time grid (the missing rows are
/// added, empty). Empty values are left as `NaN`; [`fill_gaps`] carries them forward.
pub fn read_table_checked(text: &str, name: &str) -> Result<(SensorTable, Vec<String>)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| WaterError::Data(format!("{name} line 1: {e}")))?
        .clone();
    if headers.len() < 2 {
        return Err(WaterError::Data(format!(
            "{name} line 1: expected 'Timestamp' then one column per sensor"
        )));
    }
    let ids: Vec<String> = headers
        .iter()
        .skip(1)
        .map(|s| s.trim().to_string())
        .collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (k, id) in ids.iter().enumerate() {
        if id.is_empty() {
            return Err(WaterError::Data(format!(
                "{name} line 1, column {}: empty sensor name",
                k + 2
            )));
        }
        if let Some(first) = seen.insert(id, k + 2) {
            return Err(WaterError::Data(format!(
                "{name} line 1, column {}: sensor '{id}' is already column {first}",
                k + 2
            )));
        }
    }
    let mut t = SensorTable {
        times: Vec::new(),
        values: vec![Vec::new(); ids.len()],
        ids,
    };
    let mut lines: Vec<usize> = Vec::new();
    // Per column: number of empty cells and the first line with one.
    let mut empty: Vec<(usize, usize)> = vec![(0, 0); t.ids.len()];
    for rec in reader.records() {
        let rec = rec.map_err(|e| WaterError::Data(format!("{name}: {e}")))?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if rec.len() != t.ids.len() + 1 {
            return Err(WaterError::Data(format!(
                "{name} line {line}: {} cells where the header has {}",
                rec.len(),
                t.ids.len() + 1
            )));
        }
        let time = parse_time(rec.get(0).unwrap_or(""))
            .map_err(|e| WaterError::Data(format!("{name} line {line}, column 1: {e}")))?;
        if let (Some(&prev), Some(&prev_line)) = (t.times.last(), lines.last()) {
            if time == prev {
                return Err(WaterError::Data(format!(
                    "{name} line {line}, column 1: timestamp {} repeats line {prev_line}; keep one row per time",
                    time.format(TIME_FORMAT)
                )));
            }
            if time < prev {
                return Err(WaterError::Data(format!(
                    "{name} line {line}, column 1: timestamp {} is before line {prev_line} ({}); sort the rows by time",
                    time.format(TIME_FORMAT),
                    prev.format(TIME_FORMAT)
                )));
            }
        }
        t.times.push(time);
        lines.push(line);
        for (k, col) in t.values.iter_mut().enumerate() {
            let s = rec.get(k + 1).unwrap_or("").trim();
            let v = if s.is_empty() || s.eq_ignore_ascii_case("nan") {
                let e = &mut empty[k];
                if e.0 == 0 {
                    e.1 = line;
                }
                e.0 += 1;
                f64::NAN
            } else {
                s.parse::<f64>().map_err(|_| {
                    WaterError::Data(format!(
                        "{name} line {line}, column {} ({}): '{s}' is not a number",
                        k + 2,
                        t.ids[k]
                    ))
                })?
            };
            col.push(v);
        }
    }
    let mut warnings = Vec::new();
    for (k, (n, first)) in empty.iter().enumerate() {
        if *n > 0 {
            warnings.push(format!(
                "{name} column {} ({}): {n} empty readings, the first at line {first}",
                k + 2,
                t.ids[k]
            ));
        }
    }
    let t = regular_grid(t, &lines, name, &mut warnings);
    Ok((t, warnings))
}

/// The most common time step of a table (s), if it has two rows.
fn usual_step(times: &[DateTime<Utc>]) -> Option<i64> {
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for w in times.windows(2) {
        *counts.entry((w[1] - w[0]).num_seconds()).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|&(step, n)| (n, -step))
        .map(|(step, _)| step)
}

/// Puts a table on a regular grid of its usual step: rows missing in a gap are added with
/// `NaN` values, with a warning naming the line after the gap.
fn regular_grid(
    t: SensorTable,
    lines: &[usize],
    name: &str,
    warnings: &mut Vec<String>,
) -> SensorTable {
    let Some(step) = usual_step(&t.times).filter(|s| *s > 0) else {
        return t;
    };
    let has_gap = t
        .times
        .windows(2)
        .any(|w| (w[1] - w[0]).num_seconds() != step);
    if !has_gap {
        return t;
    }
    let mut out = SensorTable {
        times: Vec::with_capacity(t.times.len()),
        ids: t.ids.clone(),
        values: vec![Vec::with_capacity(t.times.len()); t.ids.len()],
    };
    for (r, &time) in t.times.iter().enumerate() {
        if let Some(&prev) = out.times.last() {
            let dt = (time - prev).num_seconds();
            if dt != step {
                let missing = (dt / step - 1).max(0);
                warnings.push(format!(
                    "{name} line {}: gap of {} min after {} ({missing} missing readings, carried forward)",
                    lines.get(r).copied().unwrap_or(0),
                    dt / 60,
                    prev.format(TIME_FORMAT)
                ));
                for k in 1..=missing {
                    out.times.push(prev + Duration::seconds(k * step));
                    for col in out.values.iter_mut() {
                        col.push(f64::NAN);
                    }
                }
            }
        }
        out.times.push(time);
        for (col, src) in out.values.iter_mut().zip(&t.values) {
            col.push(src[r]);
        }
    }
    out
}

/// Whether a series is dead: more than half of it missing, or not a single change (a
/// frozen sensor).
pub fn is_dead(series: &[f64]) -> bool {
    let present: Vec<f64> = series.iter().copied().filter(|v| v.is_finite()).collect();
    if present.len() as f64 <= series.len() as f64 * (1.0 - DEAD_MISSING_SHARE) {
        return true;
    }
    let (lo, hi) = present
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    hi - lo <= 0.0
}

/// Leaves dead sensors out of a table, with a warning each.
pub fn drop_dead(t: &mut SensorTable, name: &str, warnings: &mut Vec<String>) {
    let mut k = 0;
    while k < t.ids.len() {
        if is_dead(&t.values[k]) {
            warnings.push(format!(
                "{name}: sensor '{}' is dead (mostly empty or frozen); detection goes on without it",
                t.ids[k]
            ));
            t.ids.remove(k);
            t.values.remove(k);
        } else {
            k += 1;
        }
    }
}

/// Carries the last reading forward over missing values (the first reading backward over
/// a missing start).
pub fn fill_gaps(t: &mut SensorTable) {
    for col in t.values.iter_mut() {
        let first = col.iter().copied().find(|v| v.is_finite()).unwrap_or(0.0);
        let mut last = first;
        for v in col.iter_mut() {
            if v.is_finite() {
                last = *v;
            } else {
                *v = last;
            }
        }
    }
}

/// Most rows a table built by [`grid_table`] may have: a year of 5-minute readings.
pub const MAX_GRID_ROWS: usize = 366 * 288;

/// The readings of one sensor as a time-series store returns them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SensorReadings {
    /// The column id: the network element the sensor measures (node for a pressure or a
    /// level, link for a flow), which localisation needs.
    pub id: String,
    /// Where the readings come from (an entity and attribute), named in the warnings.
    pub source: String,
    /// Readings `(time, value)`, in any order; non-finite values count as missing.
    pub readings: Vec<(DateTime<Utc>, f64)>,
}

/// Puts sensor readings on a regular grid of `step` from `from` (included) to `to`
/// (excluded), as SCADA tables are: each reading goes to the first grid time at or after
/// it, the latest reading of a slot wins. Slots without a reading are left `NaN` (with a
/// warning per sensor: how many, and the first), for [`fill_gaps`] to carry forward; a
/// sensor without a single reading is left out, with a warning.
///
/// Errors: an empty or reversed period, a step that is not positive, more than
/// [`MAX_GRID_ROWS`] rows, two sensors with the same column id.
pub fn grid_table(
    name: &str,
    sensors: &[SensorReadings],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: Duration,
) -> Result<(SensorTable, Vec<String>)> {
    let step_s = step.num_seconds();
    if step_s <= 0 {
        return Err(WaterError::Data(format!(
            "the time step of the {name} table must be positive (300 s for 5-minute data)"
        )));
    }
    if to <= from {
        return Err(WaterError::Data(format!(
            "the period of the {name} table is empty: {} is not after {}",
            to.format(TIME_FORMAT),
            from.format(TIME_FORMAT)
        )));
    }
    let span = (to - from).num_seconds();
    let rows = usize::try_from((span + step_s - 1) / step_s).unwrap_or(usize::MAX);
    if rows > MAX_GRID_ROWS {
        return Err(WaterError::Data(format!(
            "{rows} rows of {step_s} s for the {name} table; at most {MAX_GRID_ROWS}: shorten the period"
        )));
    }
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for s in sensors {
        if let Some(other) = seen.insert(&s.id, &s.source) {
            return Err(WaterError::Data(format!(
                "{name}: {} and {} both measure '{}'; keep one sensor per element",
                other, s.source, s.id
            )));
        }
    }
    let times: Vec<DateTime<Utc>> = (0..rows)
        .map(|r| from + Duration::seconds(r as i64 * step_s))
        .collect();
    let mut t = SensorTable {
        times,
        ids: Vec::new(),
        values: Vec::new(),
    };
    let mut warnings = Vec::new();
    for s in sensors {
        let mut col = vec![f64::NAN; rows];
        let mut at: Vec<Option<DateTime<Utc>>> = vec![None; rows];
        for &(time, v) in &s.readings {
            if time < from || time >= to || !v.is_finite() {
                continue;
            }
            let offset = (time - from).num_seconds();
            let Ok(r) = usize::try_from((offset + step_s - 1) / step_s) else {
                continue;
            };
            if r >= rows || at[r].is_some_and(|prev| prev > time) {
                continue;
            }
            at[r] = Some(time);
            col[r] = v;
        }
        let missing = col.iter().filter(|v| !v.is_finite()).count();
        if missing == rows {
            warnings.push(format!(
                "{name}: {} has no reading from {} to {}; detection goes on without it",
                s.source,
                from.format(TIME_FORMAT),
                to.format(TIME_FORMAT)
            ));
            continue;
        }
        if missing > 0 {
            let first = col
                .iter()
                .position(|v| !v.is_finite())
                .map(|r| t.times[r].format(TIME_FORMAT).to_string())
                .unwrap_or_default();
            warnings.push(format!(
                "{name}: {} misses {missing} of {rows} readings, the first at {first} (carried forward)",
                s.source
            ));
        }
        t.ids.push(s.id.clone());
        t.values.push(col);
    }
    Ok((t, warnings))
}

/// Leaves out the sensors that have fewer than half of their readings in the first
/// `training_rows` rows, with a warning each: a model fitted on carried-forward values
/// would see a leak in every change.
pub fn drop_untrained(
    t: &mut SensorTable,
    training_rows: usize,
    name: &str,
    warnings: &mut Vec<String>,
) {
    let rows = training_rows.min(t.times.len());
    let mut k = 0;
    while k < t.ids.len() {
        let present = t.values[k][..rows.min(t.values[k].len())]
            .iter()
            .filter(|v| v.is_finite())
            .count();
        if rows > 0 && (present as f64) < rows as f64 * (1.0 - DEAD_MISSING_SHARE) {
            warnings.push(format!(
                "{name}: sensor '{}' has {present} of the {rows} readings of the training period; detection goes on without it",
                t.ids[k]
            ));
            t.ids.remove(k);
            t.values.remove(k);
        } else {
            k += 1;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn gaps_and_empty_cells_are_warnings() {
        let text = "Timestamp,n1,n4\n2019-01-01 00:00,50.1,40\n2019-01-01 00:05,,40.2\n2019-01-01 00:20,50.3,40.1\n2019-01-01 00:25,50.2,40.0\n";
        let (t, w) = read_table_checked(text, "Pressures.csv").unwrap();
        assert_eq!(t.times.len(), 6);
        assert!(
            w.iter()
                .any(|m| m.contains("column 2 (n1)") && m.contains("line 3")),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|m| m.contains("line 4") && m.contains("gap of 15 min")),
            "{w:?}"
        );
        let mut t = t;
        fill_gaps(&mut t);
        assert_eq!(t.values[0], vec![50.1, 50.1, 50.1, 50.1, 50.3, 50.2]);
    }

    #[test]
    fn repeated_times_and_bad_cells_are_errors() {
        let dup = "Timestamp,n1\n2019-01-01 00:00,1\n2019-01-01 00:05,2\n2019-01-01 00:05,3\n";
        let e = read_table_checked(dup, "P.csv").unwrap_err().to_string();
        assert!(
            e.contains("line 4, column 1") && e.contains("repeats line 3"),
            "{e}"
        );
        let back = "Timestamp,n1\n2019-01-01 00:05,1\n2019-01-01 00:00,2\n";
        let e = read_table_checked(back, "P.csv").unwrap_err().to_string();
        assert!(
            e.contains("line 3, column 1") && e.contains("before line 2"),
            "{e}"
        );
        let bad = "Timestamp,n1,n2\n2019-01-01 00:00,1,x\n";
        let e = read_table_checked(bad, "P.csv").unwrap_err().to_string();
        assert!(e.contains("line 2, column 3 (n2)"), "{e}");
        let cols = "Timestamp,n1,n1\n";
        let e = read_table_checked(cols, "P.csv").unwrap_err().to_string();
        assert!(
            e.contains("column 3") && e.contains("already column 2"),
            "{e}"
        );
        let short = "Timestamp,n1,n2\n2019-01-01 00:00,1\n";
        let e = read_table_checked(short, "P.csv").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("2 cells"), "{e}");
    }

    #[test]
    fn dead_sensors_are_left_out() {
        let mut t = SensorTable {
            times: Vec::new(),
            ids: vec!["a".into(), "frozen".into(), "empty".into()],
            values: vec![
                vec![1.0, 2.0, 3.0, 2.0],
                vec![5.0; 4],
                vec![f64::NAN, f64::NAN, f64::NAN, 1.0],
            ],
        };
        let mut w = Vec::new();
        drop_dead(&mut t, "P.csv", &mut w);
        assert_eq!(t.ids, vec!["a"]);
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("'frozen' is dead"), "{w:?}");
    }

    #[test]
    fn readings_go_on_a_grid() {
        let t0 = parse_time("2025-01-01 00:00").unwrap();
        let at = |m: i64| t0 + Duration::minutes(m);
        let sensors = vec![
            SensorReadings {
                id: "n1".into(),
                source: "urn:j:n1 pressure".into(),
                // 00:02 goes to 00:05; 00:10 is missing; 00:14 and 00:15 share a slot.
                readings: vec![(at(0), 1.0), (at(2), 2.0), (at(15), 4.0), (at(14), 3.0)],
            },
            SensorReadings {
                id: "n2".into(),
                source: "urn:j:n2 pressure".into(),
                readings: vec![(at(-5), 9.0), (at(20), 9.0)],
            },
        ];
        let (t, w) =
            grid_table("pressures", &sensors, at(0), at(20), Duration::minutes(5)).unwrap();
        assert_eq!(t.times, vec![at(0), at(5), at(10), at(15)]);
        assert_eq!(t.ids, vec!["n1"]);
        assert_eq!(t.values[0][..2], [1.0, 2.0]);
        assert!(t.values[0][2].is_nan());
        assert_eq!(t.values[0][3], 4.0);
        assert!(
            w.iter()
                .any(|m| m.contains("misses 1 of 4") && m.contains("00:10")),
            "{w:?}"
        );
        assert!(
            w.iter().any(|m| m.contains("n2 pressure has no reading")),
            "{w:?}"
        );
        let e = grid_table("p", &sensors, at(5), at(0), Duration::minutes(5))
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty"), "{e}");
        let twice = vec![sensors[0].clone(), sensors[0].clone()];
        let e = grid_table("p", &twice, at(0), at(20), Duration::minutes(5))
            .unwrap_err()
            .to_string();
        assert!(e.contains("both measure 'n1'"), "{e}");
        let mut t = t;
        let mut w = Vec::new();
        drop_untrained(&mut t, 4, "p", &mut w);
        assert_eq!(t.ids, vec!["n1"]);
        t.values[0][1] = f64::NAN;
        drop_untrained(&mut t, 3, "p", &mut w);
        assert!(t.ids.is_empty() && w.len() == 1, "{w:?}");
    }
}
