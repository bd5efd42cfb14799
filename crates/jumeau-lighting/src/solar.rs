//! The astronomical clock: sunrise, sunset and the sun's position.
//!
//! Source: the NOAA solar calculator equations (Global Monitoring Laboratory, "General
//! Solar Position Calculations", after Jean Meeus, *Astronomical Algorithms*). Sunrise and
//! sunset are the instants when the sun's centre is at zenith 90.833° (0.833° below the
//! horizon: 34' of refraction plus the 16' solar semi-diameter). As in NOAA's spreadsheet, the
//! sun's declination and the equation of time are taken at the local solar noon of the day.
//! Against NREL's SPA test case (2003-10-17, Golden, Colorado) this gives sunrise 16 s late
//! and sunset 69 s early: "within about a minute", as NOAA states for latitudes within ±72°.
//! (Re-evaluating the parameters at the first estimate, as NOAA's web calculator does, gives
//! 0 s and 88 s on that case: no better overall, so the single evaluation is kept.)
//!
//! Days are LOCAL days (Europe/Paris for French communes): the night of local date D runs
//! from the sunset of D to the sunrise of D + 1, whatever the daylight-saving changes in
//! between; all instants are returned in UTC and converted to local time only for display.
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Zenith angle of the sun's centre at sunrise and sunset, in degrees.
pub const SUNRISE_ZENITH_DEG: f64 = 90.833;

/// Julian day of the Unix epoch (1970-01-01 00:00 UTC).
const JD_UNIX_EPOCH: f64 = 2_440_587.5;

/// Sunrise and sunset of one local day at one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SunTimes {
    /// The local date.
    pub date: NaiveDate,
    /// Sunrise, or `None` when the sun does not rise (polar night) or does not set.
    pub sunrise: Option<DateTime<Utc>>,
    /// Sunset, or `None` as above.
    pub sunset: Option<DateTime<Utc>>,
}

/// The sun's declination (radians) and the equation of time (minutes) at a Julian day.
fn sun_parameters(jd: f64) -> (f64, f64) {
    let t = (jd - 2_451_545.0) / 36_525.0;
    let l0 = (280.466_46 + t * (36_000.769_83 + t * 0.000_303_2)).rem_euclid(360.0);
    let m = 357.529_11 + t * (35_999.050_29 - 0.000_153_7 * t);
    let e = 0.016_708_634 - t * (0.000_042_037 + 0.000_000_126_7 * t);
    let mr = m.to_radians();
    let c = mr.sin() * (1.914_602 - t * (0.004_817 + 0.000_014 * t))
        + (2.0 * mr).sin() * (0.019_993 - 0.000_101 * t)
        + (3.0 * mr).sin() * 0.000_289;
    let true_long = l0 + c;
    let omega = (125.04 - 1_934.136 * t).to_radians();
    let apparent_long = (true_long - 0.005_69 - 0.004_78 * omega.sin()).to_radians();
    let eps0 =
        23.0 + (26.0 + (21.448 - t * (46.815 + t * (0.000_59 - t * 0.001_813))) / 60.0) / 60.0;
    let eps = (eps0 + 0.002_56 * omega.cos()).to_radians();
    let declination = (eps.sin() * apparent_long.sin()).asin();
    let y = (eps / 2.0).tan().powi(2);
    let l0r = l0.to_radians();
    let eq_time = 4.0
        * (y * (2.0 * l0r).sin() - 2.0 * e * mr.sin() + 4.0 * e * y * mr.sin() * (2.0 * l0r).cos()
            - 0.5 * y * y * (4.0 * l0r).sin()
            - 1.25 * e * e * (2.0 * mr).sin())
        .to_degrees();
    (declination, eq_time)
}

/// The Julian day of a UTC instant.
fn julian_day(t: DateTime<Utc>) -> f64 {
    JD_UNIX_EPOCH + t.timestamp() as f64 / 86_400.0
}

/// Sunrise and sunset as minutes after 00:00 UTC of `date`, with the sun's declination and
/// equation of time taken at local solar noon (as NOAA's spreadsheet does); `None` when the
/// sun stays above or below the horizon all day.
fn event_minutes(date: NaiveDate, lat_deg: f64, lon_deg: f64) -> Option<(f64, f64)> {
    let jd0 = JD_UNIX_EPOCH + date.and_time(NaiveTime::MIN).and_utc().timestamp() as f64 / 86_400.0;
    let (decl, eq_time) = sun_parameters(jd0 + 0.5 - lon_deg / 360.0);
    let lat = lat_deg.to_radians();
    let cos_h =
        SUNRISE_ZENITH_DEG.to_radians().cos() / (lat.cos() * decl.cos()) - lat.tan() * decl.tan();
    if !(-1.0..=1.0).contains(&cos_h) {
        return None;
    }
    let h = cos_h.acos().to_degrees();
    let noon = 720.0 - 4.0 * lon_deg - eq_time;
    Some((noon - 4.0 * h, noon + 4.0 * h))
}

/// Sunrise and sunset of the local date `date` in time zone `tz`, at (`lat`, `lon`) in WGS84
/// degrees (east positive).
///
/// The events are computed for the UTC date that holds the local date's noon, so the answer
/// belongs to the right local day on both sides of Greenwich and across the DST changes; an
/// event that would fall on a neighbouring local date (far from Greenwich) is moved by whole
/// days, judging local dates with the UTC offset of local noon (exact unless the event is
/// within an hour of local midnight on a DST-change day, which only happens near the poles).
/// One time-zone look-up per call.
pub fn sun_times(date: NaiveDate, lat: f64, lon: f64, tz: Tz) -> SunTimes {
    let noon = date.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or(NaiveTime::MIN));
    let offset = tz
        .from_local_datetime(&noon)
        .earliest()
        .map_or(0, |t| i64::from(t.offset().fix().local_minus_utc()));
    let utc_noon = noon.and_utc().timestamp() - offset;
    let utc_midnight = utc_noon.div_euclid(86_400) * 86_400;
    let utc_date =
        DateTime::<Utc>::from_timestamp(utc_midnight, 0).map_or(date, |t| t.date_naive());
    let events = event_minutes(utc_date, lat, lon);
    // Whole days to add so that the event falls on the local date asked for.
    let place = |minutes: f64| {
        let t = utc_midnight + (minutes * 60.0).round() as i64;
        let local_day = (t + offset).div_euclid(86_400);
        let wanted = date
            .and_time(NaiveTime::MIN)
            .and_utc()
            .timestamp()
            .div_euclid(86_400);
        DateTime::<Utc>::from_timestamp(t + (wanted - local_day) * 86_400, 0)
    };
    SunTimes {
        date,
        sunrise: events.and_then(|(rise, _)| place(rise)),
        sunset: events.and_then(|(_, set)| place(set)),
    }
}

/// The sun's position seen from a place at an instant: `(zenith, azimuth)` in degrees,
/// azimuth clockwise from north, zenith corrected for atmospheric refraction with NOAA's
/// approximation.
pub fn sun_position(t: DateTime<Utc>, lat_deg: f64, lon_deg: f64) -> (f64, f64) {
    let (decl, eq_time) = sun_parameters(julian_day(t));
    let minutes = f64::from(t.num_seconds_from_midnight()) / 60.0;
    let true_solar = (minutes + eq_time + 4.0 * lon_deg).rem_euclid(1_440.0);
    let hour_angle = true_solar / 4.0 - 180.0;
    let lat = lat_deg.to_radians();
    let ha = hour_angle.to_radians();
    let cos_zenith = (lat.sin() * decl.sin() + lat.cos() * decl.cos() * ha.cos()).clamp(-1.0, 1.0);
    let zenith = cos_zenith.acos();
    let elevation = 90.0 - zenith.to_degrees();
    let refraction = refraction_deg(elevation);
    let azimuth = {
        let denom = lat.cos() * zenith.sin();
        if denom.abs() < 1e-12 {
            0.0
        } else {
            let cos_az = ((lat.sin() * zenith.cos() - decl.sin()) / denom).clamp(-1.0, 1.0);
            let a = cos_az.acos().to_degrees();
            if hour_angle > 0.0 {
                (a + 180.0).rem_euclid(360.0)
            } else {
                (540.0 - a).rem_euclid(360.0)
            }
        }
    };
    (zenith.to_degrees() - refraction, azimuth)
}

/// The sun's elevation above the horizon in degrees (refraction included): positive by day.
pub fn sun_elevation(t: DateTime<Utc>, lat: f64, lon: f64) -> f64 {
    90.0 - sun_position(t, lat, lon).0
}

/// NOAA's approximation of atmospheric refraction, in degrees, at an apparent elevation.
fn refraction_deg(elevation: f64) -> f64 {
    if elevation > 85.0 {
        return 0.0;
    }
    let te = elevation.to_radians().tan();
    let arcsec = if elevation > 5.0 {
        58.1 / te - 0.07 / te.powi(3) + 0.000_086 / te.powi(5)
    } else if elevation > -0.575 {
        1_735.0
            + elevation * (-518.2 + elevation * (103.4 + elevation * (-12.79 + elevation * 0.711)))
    } else {
        -20.772 / te
    };
    arcsec / 3_600.0
}

/// Sunrise and sunset precomputed for consecutive local days at one place: lamps share their
/// armoire's table, so a year for a whole département costs one computation per armoire and
/// day, not per lamp and minute.
#[derive(Debug, Clone, PartialEq)]
pub struct SunTable {
    /// The first local date.
    first: NaiveDate,
    /// Sunset of each day then sunrise of each day, as Unix seconds (`i64::MIN` when the
    /// event does not happen).
    sunsets: Vec<i64>,
    /// See `sunsets`.
    sunrises: Vec<i64>,
}

impl SunTable {
    /// The table for `days` local days from `first` (plus one, so that the last night has its
    /// dawn) at (`lat`, `lon`).
    pub fn new(first: NaiveDate, days: usize, lat: f64, lon: f64, tz: Tz) -> Self {
        let mut sunsets = Vec::with_capacity(days + 1);
        let mut sunrises = Vec::with_capacity(days + 1);
        for date in first.iter_days().take(days + 1) {
            let st = sun_times(date, lat, lon, tz);
            sunsets.push(st.sunset.map_or(i64::MIN, |t| t.timestamp()));
            sunrises.push(st.sunrise.map_or(i64::MIN, |t| t.timestamp()));
        }
        Self {
            first,
            sunsets,
            sunrises,
        }
    }

    /// The first local date of the table.
    pub fn first(&self) -> NaiveDate {
        self.first
    }

    /// The number of nights the table covers.
    pub fn nights(&self) -> usize {
        self.sunsets.len().saturating_sub(1)
    }

    /// The night that starts on local date `first + index`: (sunset, next sunrise) as Unix
    /// seconds; `None` outside the table or when the sun does not set or rise.
    pub fn night(&self, index: usize) -> Option<(i64, i64)> {
        let set = *self.sunsets.get(index)?;
        let rise = *self.sunrises.get(index + 1)?;
        (set != i64::MIN && rise != i64::MIN).then_some((set, rise))
    }

    /// The index of a local date in the table.
    pub fn index_of(&self, date: NaiveDate) -> Option<usize> {
        usize::try_from((date - self.first).num_days())
            .ok()
            .filter(|i| *i < self.nights())
    }

    /// Whether the sun is up at the Unix second `t` (between a sunrise and the sunset of the
    /// same day of the table); `None` outside the table. A scan of the table: for a few
    /// look-ups, not for every sample of a year.
    pub fn is_day(&self, t: i64) -> Option<bool> {
        (0..self.sunsets.len()).find_map(|i| {
            let (rise, set) = (self.sunrises[i], self.sunsets[i]);
            (rise != i64::MIN && set != i64::MIN && t >= rise - 43_200 && t < set + 43_200)
                .then_some(t >= rise && t < set)
        })
    }
}

/// The number of days in a year (365 or 366), for callers building tables of whole years.
pub fn days_in_year(year: i32) -> usize {
    if NaiveDate::from_ymd_opt(year, 2, 29).is_some_and(|d| d.year() == year) {
        366
    } else {
        365
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::{Duration, FixedOffset, Timelike};

    fn local(t: DateTime<Utc>, tz: Tz) -> (u32, u32) {
        let l = t.with_timezone(&tz);
        (l.hour(), l.minute())
    }

    fn minutes(t: DateTime<Utc>, tz: Tz) -> i64 {
        let l = t.with_timezone(&tz);
        i64::from(l.hour()) * 60 + i64::from(l.minute()) + i64::from(l.second() >= 30)
    }

    #[test]
    fn nrel_spa_reference_case() {
        // NREL SPA test: 2003-10-17, 39.742476 N, -105.1786 E, UTC-7: sunrise 06:12:43,
        // sunset 17:20:19 local. A fixed UTC-7 zone: Etc/GMT+7.
        let tz = chrono_tz::Etc::GMTPlus7;
        let date = NaiveDate::from_ymd_opt(2003, 10, 17).unwrap();
        let st = sun_times(date, 39.742_476, -105.1786, tz);
        let off = FixedOffset::west_opt(7 * 3600).unwrap();
        let rise_ref = off
            .from_local_datetime(&date.and_hms_opt(6, 12, 43).unwrap())
            .unwrap()
            .with_timezone(&Utc);
        let set_ref = off
            .from_local_datetime(&date.and_hms_opt(17, 20, 19).unwrap())
            .unwrap()
            .with_timezone(&Utc);
        let rise_err = (st.sunrise.unwrap() - rise_ref).num_seconds().abs();
        let set_err = (st.sunset.unwrap() - set_ref).num_seconds().abs();
        assert!(rise_err <= 75, "sunrise off by {rise_err} s");
        assert!(set_err <= 75, "sunset off by {set_err} s");
        // Position at 12:30:30 local: zenith 50.111622°, azimuth 194.340241° (SPA).
        let t = off
            .from_local_datetime(&date.and_hms_opt(12, 30, 30).unwrap())
            .unwrap()
            .with_timezone(&Utc);
        let (zenith, azimuth) = sun_position(t, 39.742_476, -105.1786);
        assert!((zenith - 50.111_622).abs() < 0.1, "zenith {zenith}");
        assert!((azimuth - 194.340_241).abs() < 0.1, "azimuth {azimuth}");
    }

    #[test]
    fn paris_solstices() {
        let tz = chrono_tz::Europe::Paris;
        let june = sun_times(
            NaiveDate::from_ymd_opt(2024, 6, 21).unwrap(),
            48.8566,
            2.3522,
            tz,
        );
        let dec = sun_times(
            NaiveDate::from_ymd_opt(2024, 12, 21).unwrap(),
            48.8566,
            2.3522,
            tz,
        );
        let close = |t: DateTime<Utc>, h: i64, m: i64| (minutes(t, tz) - (h * 60 + m)).abs() <= 2;
        assert!(
            close(june.sunrise.unwrap(), 5, 47),
            "{:?}",
            local(june.sunrise.unwrap(), tz)
        );
        assert!(
            close(june.sunset.unwrap(), 21, 58),
            "{:?}",
            local(june.sunset.unwrap(), tz)
        );
        assert!(
            close(dec.sunrise.unwrap(), 8, 41),
            "{:?}",
            local(dec.sunrise.unwrap(), tz)
        );
        assert!(
            close(dec.sunset.unwrap(), 16, 56),
            "{:?}",
            local(dec.sunset.unwrap(), tz)
        );
    }

    #[test]
    fn daylight_saving_changes_shift_local_times_by_an_hour() {
        // 2024: summer time from 31 March, winter time from 27 October.
        let tz = chrono_tz::Europe::Paris;
        let at = |d: u32, m: u32| {
            sun_times(
                NaiveDate::from_ymd_opt(2024, m, d).unwrap(),
                48.8566,
                2.3522,
                tz,
            )
        };
        for (before, after) in [(at(30, 3), at(31, 3)), (at(26, 10), at(27, 10))] {
            // In UTC the sun moves by a couple of minutes a day...
            let utc_step = (after.sunset.unwrap() - before.sunset.unwrap() - Duration::days(1))
                .num_minutes()
                .abs();
            assert!(utc_step <= 3, "{utc_step}");
            // ...while the local clock jumps by an hour.
            let local_step =
                minutes(after.sunset.unwrap(), tz) - minutes(before.sunset.unwrap(), tz);
            assert!((local_step.abs() - 60).abs() <= 3, "{local_step}");
            // Each event belongs to its own local day.
            assert_eq!(
                after.sunrise.unwrap().with_timezone(&tz).date_naive(),
                after.date
            );
            assert_eq!(
                after.sunset.unwrap().with_timezone(&tz).date_naive(),
                after.date
            );
        }
    }

    #[test]
    fn tables_and_day_test() {
        let tz = chrono_tz::Europe::Paris;
        let first = NaiveDate::from_ymd_opt(2024, 12, 20).unwrap();
        let table = SunTable::new(first, 3, 48.8566, 2.3522, tz);
        assert_eq!(table.nights(), 3);
        let (set, rise) = table.night(1).unwrap();
        // A December night in Paris lasts about 15 h 45.
        let hours = (rise - set) as f64 / 3600.0;
        assert!((15.5..16.0).contains(&hours), "{hours}");
        assert_eq!(table.is_day(set - 60), Some(true));
        assert_eq!(table.is_day(set + 60), Some(false));
        assert_eq!(
            table.index_of(NaiveDate::from_ymd_opt(2024, 12, 21).unwrap()),
            Some(1)
        );
        assert!(
            sun_elevation(
                Utc.with_ymd_and_hms(2024, 6, 21, 12, 0, 0).unwrap(),
                48.85,
                2.35
            ) > 60.0
        );
        assert_eq!(days_in_year(2024), 366);
        assert_eq!(days_in_year(2025), 365);
    }

    #[test]
    fn polar_night_has_no_events() {
        let st = sun_times(
            NaiveDate::from_ymd_opt(2024, 12, 21).unwrap(),
            78.2,
            15.6,
            chrono_tz::Europe::Oslo,
        );
        assert!(st.sunrise.is_none() && st.sunset.is_none());
    }
}
