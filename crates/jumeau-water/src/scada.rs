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
}
