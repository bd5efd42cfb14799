//! The physical models behind the demo's readings: weather, river, street lighting,
//! buildings and drinking water, each a pure function of time (and of the seed), so that
//! the year of history and the live readings tell the same story.
//!
//! Incidents are placed relative to the end of the history (the hour the demo was built):
//! a leak growing in district B for twelve days, an overheating school for six days, a
//! flood peak on the Drôme four days ago, a cable fault on a lighting street last night.

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Europe::Paris;

use super::calendar::{day_kind, DayKind};

/// Seconds in an hour.
const HOUR: i64 = 3600;

/// One instant as the models see it: UTC, local (Paris) hour and the kind of day.
#[derive(Debug, Clone, Copy)]
pub struct At {
    /// The instant.
    pub t: DateTime<Utc>,
    /// Hours since the Unix epoch (fractional).
    pub hours: f64,
    /// Local hour of the day, fractional (0 to 24).
    pub hour: f64,
    /// Day of the year, fractional (0 to 365).
    pub doy: f64,
    /// Kind of the local day.
    pub kind: DayKind,
    /// The local date.
    pub date: NaiveDate,
}

impl At {
    /// The models' view of `t`.
    pub fn new(t: DateTime<Utc>) -> Self {
        let offset = Paris
            .offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc();
        let local = t.naive_utc() + chrono::Duration::seconds(i64::from(offset));
        let hour = f64::from(local.hour()) + f64::from(local.minute()) / 60.0;
        Self {
            t,
            hours: t.timestamp() as f64 / HOUR as f64,
            hour,
            doy: f64::from(local.ordinal0()) + hour / 24.0,
            kind: day_kind(local.date()),
            date: local.date(),
        }
    }
}

/// A deterministic value in [-1, 1] for a key and a step (SplitMix64 of both).
pub fn noise(key: u64, step: i64) -> f64 {
    let mut z = key ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// A stable key for a name (FNV-1a), to seed the noise of one series.
pub fn key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Smooth noise: a value in about [-1, 1] varying over about `period` hours.
fn smooth(key: u64, hours: f64, period: f64) -> f64 {
    let x = hours / period;
    let i = x.floor();
    let f = x - i;
    let s = f * f * (3.0 - 2.0 * f);
    noise(key, i as i64) * (1.0 - s) + noise(key, i as i64 + 1) * s
}

/// Bell bump of height 1 centred on `c` (days of the year), `w` days wide.
fn bump(doy: f64, c: f64, w: f64) -> f64 {
    (-((doy - c) / w).powi(2)).exp()
}

/// The incidents and the seed of one demo build.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// The seed of every random choice.
    pub seed: u64,
    /// End of the history (the build's hour).
    pub end: DateTime<Utc>,
}

/// River gauges: (name, place, lag in hours behind the Crest gauge, level scale).
pub const GAUGES: [(&str, &str, f64, f64); 3] = [
    ("drome-pont", "Drôme au pont de Crest", 0.0, 1.0),
    ("drome-amont", "Drôme à Aouste-sur-Sye (amont)", -2.0, 0.85),
    ("drome-aval", "Drôme à Allex (aval)", 3.0, 1.12),
];

impl Scenario {
    fn hours_before_end(&self, at: &At) -> f64 {
        (self.end.timestamp() as f64 / HOUR as f64) - at.hours
    }

    /// When the leak of district B started (hours before the end).
    pub const LEAK_HOURS: f64 = 12.0 * 24.0;
    /// When the school's heating started to run away (hours before the end).
    pub const OVERHEAT_HOURS: f64 = 6.0 * 24.0 + 7.0;
    /// The flood peak at Crest (hours before the end).
    pub const FLOOD_HOURS: f64 = 4.0 * 24.0 - 5.0;
    /// The cable fault of one lighting street (hours before the end).
    pub const CABLE_FAULT_HOURS: f64 = 20.0;
    /// Peak level of the flood at Crest, metres.
    pub const FLOOD_PEAK_M: f64 = 3.12;

    /// Outdoor air temperature at Crest, °C: season, day and night, passing weather, a
    /// heat wave around the summer solstice.
    pub fn outdoor_temperature(&self, at: &At) -> f64 {
        self.outdoor_daily(at) + 5.0 * ((at.hour - 15.0) / 24.0 * std::f64::consts::TAU).cos()
    }

    /// The outdoor temperature without its daily swing (the day's mean), °C.
    pub fn outdoor_daily(&self, at: &At) -> f64 {
        let season = 12.8 - 9.2 * ((at.doy - 18.0) / 365.25 * std::f64::consts::TAU).cos();
        let weather = 2.2 * smooth(self.seed ^ 1, at.hours, 70.0)
            + 1.6 * smooth(self.seed ^ 2, at.hours, 190.0);
        season + weather + 6.5 * bump(at.doy, 174.0, 4.0)
    }

    /// Relative humidity (0 to 1).
    pub fn humidity(&self, at: &At) -> f64 {
        let rain = (self.rain(at) * 0.2).min(0.2);
        let v = 0.68 - 0.15 * ((at.hour - 15.0) / 24.0 * std::f64::consts::TAU).cos()
            + 0.08 * smooth(self.seed ^ 3, at.hours, 60.0)
            + rain;
        v.clamp(0.2, 1.0)
    }

    /// The river events of the year: (hours before the end of the peak at Crest, rise in
    /// metres above the base flow).
    fn river_events(&self) -> [(f64, f64); 6] {
        [
            (Self::FLOOD_HOURS, 0.0),
            (41.0 * 24.0 + 6.0, 1.05),
            (77.0 * 24.0 + 15.0, 0.7),
            (152.0 * 24.0 + 3.0, 0.85),
            (214.0 * 24.0 + 20.0, 1.25),
            (301.0 * 24.0 + 9.0, 0.6),
        ]
    }

    /// Rain at the weather station, mm in the hour: the storms before each river event and
    /// light showers on some days.
    pub fn rain(&self, at: &At) -> f64 {
        let before = self.hours_before_end(at);
        let mut mm = 0.0;
        for (i, (peak, rise)) in self.river_events().iter().enumerate() {
            let rise = if i == 0 { 2.6 } else { *rise };
            let dt = before - peak;
            if (6.0..20.0).contains(&dt) {
                mm += 3.5 * rise * (1.0 + 0.4 * noise(self.seed ^ 4, at.hours as i64));
            }
        }
        let day = (at.hours / 24.0).floor() as i64;
        if noise(self.seed ^ 5, day) > 0.55 && noise(self.seed ^ 6, at.hours as i64) > 0.2 {
            mm += 0.6 + 0.5 * noise(self.seed ^ 7, at.hours as i64);
        }
        (mm * 10.0).round() / 10.0
    }

    /// Water level at a gauge (index in [`GAUGES`]), metres: low in summer, higher in
    /// winter and spring, a hydrograph for each rain event.
    pub fn river_level(&self, gauge: usize, at: &At) -> f64 {
        let (_, _, lag, scale) = GAUGES[gauge.min(GAUGES.len() - 1)];
        let base = 0.62 + 0.28 * ((at.doy - 45.0) / 365.25 * std::f64::consts::TAU).cos();
        let before = self.hours_before_end(at) + lag;
        let mut level = base + 0.03 * smooth(self.seed ^ 8, at.hours, 30.0);
        for (i, (peak, rise)) in self.river_events().iter().enumerate() {
            let rise = if i == 0 {
                Self::FLOOD_PEAK_M - 0.62
            } else {
                *rise
            };
            let dt = peak - before; // hours after the peak
            let shape = if (-9.0..0.0).contains(&dt) {
                (1.0 - (std::f64::consts::PI * (dt + 9.0) / 9.0).cos()) / 2.0
            } else if dt >= 0.0 {
                (-dt / 22.0).exp()
            } else {
                0.0
            };
            level += rise * shape;
        }
        (level * scale * 100.0).round() / 100.0
    }

    /// Fraction of the hour starting at `at` when the street lights burn (sun below the
    /// horizon, with a ten-minute margin at dusk and dawn).
    pub fn dark_fraction(&self, at: &At, lat: f64, lon: f64) -> f64 {
        let n = f64::from(at.t.ordinal0());
        let decl = (23.44f64).to_radians() * ((284.0 + n) / 365.0 * std::f64::consts::TAU).sin();
        let phi = lat.to_radians();
        let cos_w =
            ((-0.833f64).to_radians().sin() - phi.sin() * decl.sin()) / (phi.cos() * decl.cos());
        let w = cos_w.clamp(-1.0, 1.0).acos().to_degrees() / 15.0;
        let noon = 12.0 - lon / 15.0;
        let (rise, set) = (noon - w - 1.0 / 6.0, noon + w + 1.0 / 6.0);
        let h0 = f64::from(at.t.hour());
        let lit = |a: f64, b: f64| (b.min(h0 + 1.0) - a.max(h0)).max(0.0);
        let day = lit(rise, set);
        1.0 - day
    }

    /// Energy used by a lighting cabinet in the hour starting at `at`, kWh: its lamps'
    /// power while dark, halved from 23:00 to 05:00 (night dimming); before its
    /// renovation (when `renovated`), the old lamps drew 35 % more.
    pub fn cabinet_energy(&self, at: &At, kw: f64, failed_kw: f64, renovated: bool) -> f64 {
        let (lat, lon) = super::territory::CENTRE_LATLON;
        let dark = self.dark_fraction(at, lat, lon);
        if dark <= 0.0 {
            return 0.0;
        }
        let dim = if at.hour >= 23.0 || at.hour < 5.0 {
            0.55
        } else {
            1.0
        };
        let before = self.hours_before_end(at);
        let mut p = kw;
        if before < Self::CABLE_FAULT_HOURS {
            p -= failed_kw;
        }
        if renovated && before > 240.0 * 24.0 {
            p *= 1.35;
        }
        p.max(0.0) * dark * dim
    }

    /// Whether the school `slug` has the heating fault at `at`.
    pub fn overheating(&self, at: &At) -> bool {
        self.hours_before_end(at) < Self::OVERHEAT_HOURS
    }

    /// Extra flow of the leak in district B, m³/h (0 before it starts, then growing over
    /// eight days to 4 m³/h).
    pub fn leak(&self, at: &At) -> f64 {
        let since = Self::LEAK_HOURS - self.hours_before_end(at);
        if since <= 0.0 {
            0.0
        } else {
            4.0 * (since / (8.0 * 24.0)).min(1.0)
        }
    }
}

/// How a public building is used, which drives its energy, temperature and CO2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Écoles: classes on school days.
    School,
    /// Crèches: open on working days, closed three weeks in August.
    Nursery,
    /// Mairie, services: office hours, Saturday morning.
    Office,
    /// Médiathèque: Tuesday to Saturday.
    Library,
    /// Gymnases: school sport by day, clubs in the evening and at weekends.
    Sport,
}

/// Occupancy of a building (0 to 1).
pub fn occupancy(u: Use, at: &At) -> f64 {
    let h = at.hour;
    let within = |a: f64, b: f64| h >= a && h < b;
    let wd = at.date.weekday().num_days_from_monday();
    match (u, at.kind) {
        (_, DayKind::Rest) if u != Use::Sport => 0.0,
        (Use::School, DayKind::School) if within(11.5, 13.5) => 0.55,
        (Use::School, DayKind::School) if within(8.5, 16.5) => 1.0,
        (Use::School, DayKind::Work) if within(8.0, 10.0) => 0.08,
        (Use::School, _) => 0.0,
        (Use::Nursery, DayKind::School | DayKind::Work)
            if within(7.5, 18.5) && !(at.date.month() == 8 && at.date.day() <= 21) =>
        {
            0.85
        }
        (Use::Nursery, _) => 0.0,
        (Use::Office, DayKind::School | DayKind::Work) if within(8.5, 17.5) => 0.9,
        (Use::Office, DayKind::Saturday) if within(9.0, 12.0) => 0.4,
        (Use::Office, _) => 0.0,
        (Use::Library, _) if wd == 0 => 0.0,
        (Use::Library, DayKind::Saturday) if within(10.0, 17.0) => 0.9,
        (Use::Library, DayKind::School | DayKind::Work) if within(10.0, 18.0) => 0.55,
        (Use::Library, _) => 0.0,
        (Use::Sport, DayKind::School) if within(8.5, 16.5) => 0.6,
        (Use::Sport, DayKind::Rest) if within(9.0, 12.0) => 0.5,
        (Use::Sport, DayKind::Saturday) if within(9.0, 18.0) => 0.8,
        (Use::Sport, DayKind::Rest) => 0.0,
        (Use::Sport, _) if within(17.5, 22.0) => 0.9,
        (Use::Sport, _) => 0.0,
    }
}

/// A public building's physical figures.
#[derive(Debug, Clone, Copy)]
pub struct BuildingPhysics {
    /// How it is used.
    pub usage: Use,
    /// Heated floor area, m².
    pub area: f64,
    /// Whether its heating regulation fails at the end of the history.
    pub faulty: bool,
    /// Noise key.
    pub key: u64,
}

impl BuildingPhysics {
    fn heating_season(s: &Scenario, at: &At) -> bool {
        s.outdoor_daily(at) < 14.5
    }

    fn setpoint(&self, s: &Scenario, at: &At) -> f64 {
        if self.faulty && s.overheating(at) {
            return 27.0;
        }
        // Heating starts two hours before people arrive.
        let ahead = At::new(at.t + chrono::Duration::hours(2));
        let occupied = occupancy(self.usage, at).max(occupancy(self.usage, &ahead)) > 0.0;
        match (occupied, self.usage) {
            (true, Use::Nursery) => 20.5,
            (true, Use::Sport) => 16.5,
            (true, _) => 19.5,
            (false, _) => 15.5,
        }
    }

    /// Energy used in the hour starting at `at` (electricity and heating), kWh.
    pub fn energy(&self, s: &Scenario, at: &At) -> f64 {
        let occ = occupancy(self.usage, at);
        let base = self.area * 0.003;
        let used = self.area * 0.011 * occ;
        let heat = if Self::heating_season(s, at) {
            let ua = self.area * 0.0016;
            ua * (self.setpoint(s, at) - s.outdoor_temperature(at)).max(0.0) / 0.9
        } else {
            0.0
        };
        (base + used + heat) * (1.0 + 0.04 * noise(self.key, at.hours as i64))
    }

    /// Indoor temperature of the main room, °C.
    pub fn indoor_temperature(&self, s: &Scenario, at: &At) -> f64 {
        let occ = occupancy(self.usage, at);
        let n = 0.25 * noise(self.key ^ 9, at.hours as i64);
        let v = if self.faulty && s.overheating(at) {
            25.2 + 1.6 * occ + 0.4 * (at.hour / 24.0 * std::f64::consts::TAU).sin().abs()
        } else if Self::heating_season(s, at) {
            let sp = self.setpoint(s, at);
            if sp > 16.0 {
                sp + 0.2 + 0.7 * occ
            } else {
                17.4
            }
        } else {
            let gain = 1.1
                * ((at.hour - 9.0) / 12.0 * std::f64::consts::PI)
                    .sin()
                    .max(0.0);
            9.5 + 0.6 * s.outdoor_daily(at) + 1.3 * occ + gain
        };
        ((v + n) * 10.0).round() / 10.0
    }

    /// CO2 concentration in the main room, ppm.
    pub fn co2(&self, at: &At) -> f64 {
        let occ = occupancy(self.usage, at);
        let peak = match self.usage {
            Use::School => 1250.0,
            Use::Nursery => 850.0,
            Use::Office => 520.0,
            Use::Library => 480.0,
            Use::Sport => 700.0,
        };
        let v = 425.0 + occ * peak * (0.85 + 0.15 * noise(self.key ^ 10, at.hours as i64));
        v.round()
    }
}

/// Daily shape of drinking-water demand (multiplier per local hour, weekday and weekend).
const DEMAND_WEEKDAY: [f64; 24] = [
    0.45, 0.38, 0.35, 0.34, 0.38, 0.6, 1.05, 1.55, 1.6, 1.35, 1.2, 1.2, 1.3, 1.15, 1.0, 0.95, 1.0,
    1.15, 1.35, 1.45, 1.3, 1.05, 0.8, 0.6,
];
const DEMAND_WEEKEND: [f64; 24] = [
    0.55, 0.45, 0.4, 0.37, 0.36, 0.42, 0.6, 0.95, 1.3, 1.5, 1.45, 1.35, 1.4, 1.2, 1.0, 0.95, 1.0,
    1.1, 1.3, 1.4, 1.3, 1.1, 0.85, 0.65,
];

/// Inflow of a district metered area, m³/h: demand shaped by the hour, the weekday, the
/// season (summer watering and visitors), plus background leakage and, in district B,
/// the leak.
pub fn dma_inflow(s: &Scenario, dma: usize, mean: f64, at: &At) -> f64 {
    let shape = match at.kind {
        DayKind::Saturday | DayKind::Rest => &DEMAND_WEEKEND,
        _ => &DEMAND_WEEKDAY,
    };
    let h = at.hour.floor() as usize % 24;
    let f = at.hour - at.hour.floor();
    let d = shape[h] * (1.0 - f) + shape[(h + 1) % 24] * f;
    let season = 1.0 + 0.3 * bump(at.doy, 205.0, 40.0);
    let background = 0.12 * mean;
    let leak = if dma == 1 { s.leak(at) } else { 0.0 };
    let v = mean * d * season * (1.0 + 0.05 * noise(key("dma") ^ dma as u64, at.hours as i64))
        + background
        + leak;
    (v * 100.0).round() / 100.0
}

/// Level of the tank T1, metres: filled by the pump at night, drawn down by day.
pub fn tank_level(at: &At) -> f64 {
    let v = 2.3
        + 0.95 * ((at.hour - 5.0) / 24.0 * std::f64::consts::TAU).cos()
        + 0.05 * noise(key("T1"), at.hours as i64);
    (v * 100.0).round() / 100.0
}

/// Pressure at a junction, metres of water: the head of its district's source, less the
/// elevation and the head lost in the pipes, which grows with the district's flow.
pub fn pressure(
    source_head: f64,
    elevation: f64,
    loss: f64,
    flow_ratio: f64,
    k: u64,
    at: &At,
) -> f64 {
    let v = source_head - elevation - loss * flow_ratio.max(0.0).powf(1.85)
        + 0.15 * noise(k, at.hours as i64);
    (v.max(0.0) * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> At {
        At::new(
            Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
                .single()
                .unwrap_or_default(),
        )
    }

    #[test]
    fn patterns_follow_the_calendar_and_the_seasons() {
        let s = Scenario {
            seed: 1,
            end: Utc
                .with_ymd_and_hms(2026, 11, 29, 12, 0, 0)
                .single()
                .unwrap_or_default(),
        };
        // Winter is colder than summer, at the same hour.
        assert!(
            s.outdoor_temperature(&at(2026, 1, 15, 13))
                < s.outdoor_temperature(&at(2026, 7, 15, 13))
        );
        // Lamps burn at night, not at noon.
        let (lat, lon) = super::super::territory::CENTRE_LATLON;
        assert_eq!(s.dark_fraction(&at(2026, 6, 21, 11), lat, lon), 0.0);
        assert_eq!(s.dark_fraction(&at(2026, 12, 21, 22), lat, lon), 1.0);
        // A school is full on a Monday morning in November, empty on a Sunday and in August.
        assert_eq!(occupancy(Use::School, &at(2026, 11, 23, 9)), 1.0);
        assert_eq!(occupancy(Use::School, &at(2026, 11, 22, 9)), 0.0);
        assert_eq!(occupancy(Use::School, &at(2026, 8, 10, 9)), 0.0);
        // The leak raises district B's night flow, not district A's.
        let night_before = at(2026, 11, 10, 2);
        let night_after = at(2026, 11, 28, 2);
        assert!(s.leak(&night_before) == 0.0 && s.leak(&night_after) > 3.0);
        // The flood peak exceeds the alert level at Crest four days before the end.
        let peak = At::new(s.end - chrono::Duration::hours(Scenario::FLOOD_HOURS as i64));
        assert!(s.river_level(0, &peak) > 2.5);
        assert!(s.river_level(0, &At::new(s.end)) < 2.5);
    }
}
