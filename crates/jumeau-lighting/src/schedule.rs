//! Lighting programs: when the lights are on and at which level.
//!
//! A [`Program`] applies to an armoire or a group. Each night it switches on at sunset plus
//! an offset and off at sunrise plus an offset (the astronomical clock of [`crate::solar`]);
//! in between, a [`NightPlan`] gives the level: an initial level, dimming steps at local
//! clock times (`22:00 → 50 %`), and switch-off windows (`00:00–05:00`). Dated
//! [`Exception`]s (market days, festivals, holidays) replace the plan for one night. Luminaires
//! with a presence detector can be boosted for a while after a detection.
//!
//! # Nights and local time
//!
//! The night of local date D runs from local noon of D to local noon of D + 1; clock times
//! from 12:00 belong to the evening of D, times before 12:00 to the morning of D + 1. Times
//! are wall-clock times in the tenant's zone (Europe/Paris), so `22:00` stays 22:00 across the
//! daylight-saving changes. On the spring-forward night a time inside the missing hour takes
//! effect when the clock jumps (02:30 → 03:00); on the fall-back night a time in the repeated
//! hour takes effect at its first occurrence. Levels are evaluated from the wall-clock time of
//! each instant, so both days behave like the others, only one hour shorter or longer.
//!
//! Before it is applied, a program is checked against the caps of its zone
//! ([`check_program`]): a refused program comes with every reason, precisely.
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::solar::{sun_times, SunTable};
use crate::zone::Caps;

/// Seconds in a day.
const DAY: i64 = 86_400;
/// Seconds from midnight to noon.
const NOON: i64 = 43_200;

/// A window of local clock times during the night; it may span midnight (`22:00–05:00`) but
/// not noon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeWindow {
    /// When it starts (local time).
    pub start: NaiveTime,
    /// When it ends (local time, excluded).
    pub end: NaiveTime,
}

impl TimeWindow {
    /// A window from `start` to `end` given as hours and minutes; `None` for invalid times.
    pub fn hm(start: (u32, u32), end: (u32, u32)) -> Option<Self> {
        Some(Self {
            start: NaiveTime::from_hms_opt(start.0, start.1, 0)?,
            end: NaiveTime::from_hms_opt(end.0, end.1, 0)?,
        })
    }

    /// Start and end as seconds of the night (see [`night_second`]).
    fn night_range(&self) -> (i64, i64) {
        (night_second(self.start), night_second(self.end))
    }

    /// Whether a second of the night lies inside.
    fn contains(&self, s: i64) -> bool {
        let (a, b) = self.night_range();
        s >= a && s < b
    }
}

impl std::fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}–{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

/// Seconds since the local noon that opens the night: 12:00 → 0, 00:00 → 43,200,
/// 11:59 → 86,340.
pub fn night_second(t: NaiveTime) -> i64 {
    (i64::from(t.num_seconds_from_midnight()) - NOON).rem_euclid(DAY)
}

/// Formats a second of the night as a clock time.
fn clock(s: i64) -> String {
    let secs = (s + NOON).rem_euclid(DAY);
    format!("{:02}:{:02}", secs / 3600, (secs % 3600) / 60)
}

/// A dimming step: from this local time on, the level is `level_pct`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DimStep {
    /// Local clock time.
    pub at: NaiveTime,
    /// Light level in % of full output (0 switches off).
    pub level_pct: f64,
}

/// What a night looks like between switch-on and switch-off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NightPlan {
    /// The level at switch-on, in %.
    pub initial_level_pct: f64,
    /// Dimming steps, in any order (sorted by time of night when evaluated).
    #[serde(default)]
    pub steps: Vec<DimStep>,
    /// Windows when the lights are off whatever the steps say.
    #[serde(default)]
    pub switch_off: Vec<TimeWindow>,
}

impl Default for NightPlan {
    /// Full power all night.
    fn default() -> Self {
        Self {
            initial_level_pct: 100.0,
            steps: Vec::new(),
            switch_off: Vec::new(),
        }
    }
}

impl NightPlan {
    /// The level at a second of the night, assuming the lights are on (between the dusk and
    /// dawn switchings).
    pub fn level_at_night_second(&self, s: i64) -> f64 {
        if self.switch_off.iter().any(|w| w.contains(s)) {
            return 0.0;
        }
        self.steps
            .iter()
            .map(|st| (night_second(st.at), st.level_pct))
            .filter(|(at, _)| *at <= s)
            .max_by_key(|(at, _)| *at)
            .map_or(self.initial_level_pct, |(_, l)| l)
    }

    /// The clock times at which the level may change.
    fn change_times(&self) -> impl Iterator<Item = NaiveTime> + '_ {
        self.steps
            .iter()
            .map(|s| s.at)
            .chain(self.switch_off.iter().flat_map(|w| [w.start, w.end]))
    }

    /// The levels the plan can command, for cap checks.
    fn levels(&self) -> impl Iterator<Item = f64> + '_ {
        std::iter::once(self.initial_level_pct).chain(self.steps.iter().map(|s| s.level_pct))
    }

    /// Structural problems (levels outside 0–100, windows spanning noon), in French.
    fn problems(&self, label: &str) -> Vec<String> {
        let mut out = Vec::new();
        for l in self.levels() {
            if !(0.0..=100.0).contains(&l) {
                out.push(format!(
                    "{label} : le niveau {l} % n'est pas entre 0 et 100 %"
                ));
            }
        }
        for w in &self.switch_off {
            let (a, b) = w.night_range();
            if b <= a {
                out.push(format!(
                    "{label} : la plage d'extinction {w} franchit midi ou est vide ; une plage \
                     d'extinction est nocturne, par exemple 00:00–05:00"
                ));
            }
        }
        out
    }
}

/// A dated exception (market day, festival, holiday): another plan for one night.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exception {
    /// The local date whose evening opens the night.
    pub date: NaiveDate,
    /// Whether it recurs every year on the same day (14 July, 21 June).
    #[serde(default)]
    pub yearly: bool,
    /// Why (`Marché de Noël`, `Fête de la musique`), for the audit and the views.
    pub label: String,
    /// The plan of that night.
    pub plan: NightPlan,
}

impl Exception {
    /// Whether it applies to the night of `date`.
    pub fn applies_to(&self, date: NaiveDate) -> bool {
        if self.yearly {
            self.date.month() == date.month() && self.date.day() == date.day()
        } else {
            self.date == date
        }
    }
}

/// Presence-triggered boost, for luminaires with a detector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceBoost {
    /// The level after a detection, in %.
    pub level_pct: f64,
    /// How long the boost lasts after the last detection, in seconds.
    pub timeout_s: u32,
    /// Whether a detection lights the luminaire during switch-off windows too.
    #[serde(default)]
    pub during_switch_off: bool,
}

/// A lighting program for an armoire or a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Program {
    /// An id.
    pub id: String,
    /// A name for people (`Éco nuit centre`).
    pub name: String,
    /// Switch-on, in minutes after sunset (negative: before).
    #[serde(default)]
    pub on_offset_min: i32,
    /// Switch-off, in minutes after sunrise (negative: before).
    #[serde(default)]
    pub off_offset_min: i32,
    /// The usual night.
    #[serde(default)]
    pub plan: NightPlan,
    /// The presence boost, for equipped luminaires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<PresenceBoost>,
    /// Dated exceptions; the first that applies to a night wins.
    #[serde(default)]
    pub exceptions: Vec<Exception>,
}

/// Why a program was refused: every reason, in French, for the person who wrote it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("programme {program} refusé : {}", reasons.join(" ; "))]
pub struct ProgramRefusal {
    /// The program id.
    pub program: String,
    /// The reasons.
    pub reasons: Vec<String>,
}

impl Program {
    /// Full power from sunset to sunrise: the baseline of the energy comparisons.
    pub fn dusk_to_dawn(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: "Pleine puissance du coucher au lever du soleil".into(),
            on_offset_min: 0,
            off_offset_min: 0,
            plan: NightPlan::default(),
            presence: None,
            exceptions: Vec::new(),
        }
    }

    /// The plan of the night of `date` (its exception if one applies).
    pub fn plan_for(&self, date: NaiveDate) -> &NightPlan {
        self.exceptions
            .iter()
            .find(|e| e.applies_to(date))
            .map_or(&self.plan, |e| &e.plan)
    }

    /// Checks the program's own consistency: levels within 0–100 %, windows that do not span
    /// noon, offsets within ±3 h.
    pub fn validate(&self) -> Result<(), ProgramRefusal> {
        let mut reasons = self.plan.problems("nuit habituelle");
        for e in &self.exceptions {
            reasons.extend(
                e.plan
                    .problems(&format!("exception du {} ({})", e.date, e.label)),
            );
        }
        for (what, off) in [
            ("allumage", self.on_offset_min),
            ("extinction", self.off_offset_min),
        ] {
            if off.abs() > 180 {
                reasons.push(format!(
                    "décalage d'{what} de {off} min : au plus 180 min avant ou après le soleil"
                ));
            }
        }
        if let Some(p) = &self.presence {
            if !(0.0..=100.0).contains(&p.level_pct) {
                reasons.push(format!(
                    "détection de présence : le niveau {} % n'est pas entre 0 et 100 %",
                    p.level_pct
                ));
            }
        }
        self.refusal(reasons)
    }

    /// `Ok` without reasons, else the refusal.
    fn refusal(&self, reasons: Vec<String>) -> Result<(), ProgramRefusal> {
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(ProgramRefusal {
                program: self.id.clone(),
                reasons,
            })
        }
    }

    /// The night starting on local date `date` at a place with these sun times, compiled to
    /// UTC instants.
    pub fn night(&self, date: NaiveDate, tz: Tz) -> NightLevels {
        NightLevels::compile(self.plan_for(date), date, tz)
    }

    /// The switch-on and switch-off instants (Unix seconds) of a night with these sunset and
    /// next-sunrise instants.
    pub fn lit_span(&self, sunset: i64, sunrise: i64) -> (i64, i64) {
        (
            sunset + i64::from(self.on_offset_min) * 60,
            sunrise + i64::from(self.off_offset_min) * 60,
        )
    }

    /// The switch-on and switch-off instants (Unix seconds) of the night containing `t`, at a
    /// place; `None` when the sun does not set or rise that night.
    fn lit_span_at(
        &self,
        t: DateTime<Utc>,
        lat: f64,
        lon: f64,
        tz: Tz,
    ) -> Option<(NaiveDate, i64, i64)> {
        let date = night_date(t, tz);
        let set = sun_times(date, lat, lon, tz).sunset?;
        let rise = sun_times(date + chrono::Duration::days(1), lat, lon, tz).sunrise?;
        let (on, off) = self.lit_span(set.timestamp(), rise.timestamp());
        Some((date, on, off))
    }

    /// The light level (%) at an instant, at a place (the armoire's position), in time zone
    /// `tz`: 0 by day and in switch-off windows.
    pub fn level_at(&self, t: DateTime<Utc>, lat: f64, lon: f64, tz: Tz) -> f64 {
        let s = t.timestamp();
        match self.lit_span_at(t, lat, lon, tz) {
            Some((date, on, off)) if s >= on && s < off => self.night(date, tz).level_at(s),
            _ => 0.0,
        }
    }

    /// The level at an instant for a luminaire with a presence detector whose last detection
    /// was at `last_detection`: the boost level while the timeout runs, if higher. The boost
    /// only applies between switch-on and switch-off, and during switch-off windows only when
    /// [`PresenceBoost::during_switch_off`] is set.
    pub fn level_with_presence(
        &self,
        t: DateTime<Utc>,
        last_detection: Option<DateTime<Utc>>,
        lat: f64,
        lon: f64,
        tz: Tz,
    ) -> f64 {
        let base = self.level_at(t, lat, lon, tz);
        let (Some(boost), Some(seen)) = (self.presence, last_detection) else {
            return base;
        };
        let running = seen <= t && (t - seen).num_seconds() < i64::from(boost.timeout_s);
        let s = t.timestamp();
        let lit_night = self
            .lit_span_at(t, lat, lon, tz)
            .is_some_and(|(_, on, off)| s >= on && s < off);
        if running && lit_night && (base > 0.0 || boost.during_switch_off) {
            base.max(boost.level_pct)
        } else {
            base
        }
    }

    /// The level of one luminaire: with the presence boost when it has a detector
    /// ([`Luminaire::presence_sensor`](crate::inventory::Luminaire::presence_sensor)), else the
    /// programmed level.
    pub fn level_for(
        &self,
        luminaire: &crate::inventory::Luminaire,
        t: DateTime<Utc>,
        last_detection: Option<DateTime<Utc>>,
        lat: f64,
        lon: f64,
        tz: Tz,
    ) -> f64 {
        if luminaire.presence_sensor {
            self.level_with_presence(t, last_detection, lat, lon, tz)
        } else {
            self.level_at(t, lat, lon, tz)
        }
    }

    /// The 24-hour profile of the night of `date` (local noon to local noon), one point every
    /// `step_min` minutes of real time (so 23 or 25 hours on DST-change nights), for a
    /// preview chart.
    pub fn profile(
        &self,
        date: NaiveDate,
        lat: f64,
        lon: f64,
        tz: Tz,
        step_min: u32,
    ) -> Vec<ProfilePoint> {
        let table = SunTable::new(date, 1, lat, lon, tz);
        let levels = self.night(date, tz);
        let span = table.night(0).map(|(set, rise)| self.lit_span(set, rise));
        let step = i64::from(step_min.max(1)) * 60;
        let mut out = Vec::new();
        let mut s = levels.start;
        while s < levels.end {
            let level = match span {
                Some((on, off)) if s >= on && s < off => levels.level_at(s),
                _ => 0.0,
            };
            if let Some(utc) = DateTime::<Utc>::from_timestamp(s, 0) {
                out.push(ProfilePoint {
                    local: utc.with_timezone(&tz).naive_local(),
                    utc,
                    level_pct: level,
                });
            }
            s += step;
        }
        out
    }
}

/// One point of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfilePoint {
    /// Local wall-clock time.
    pub local: NaiveDateTime,
    /// The instant.
    pub utc: DateTime<Utc>,
    /// The level, in %.
    pub level_pct: f64,
}

/// The local date whose night contains the instant: before local noon, the previous day.
pub fn night_date(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    let local = t.with_timezone(&tz);
    if local.hour() < 12 {
        local.date_naive() - chrono::Duration::days(1)
    } else {
        local.date_naive()
    }
}

/// A local date and time as a UTC instant (Unix seconds): the first occurrence in the
/// repeated autumn hour; the instant the clock jumps to for a time inside the spring gap.
pub fn local_to_unix(date: NaiveDate, time: NaiveTime, tz: Tz) -> i64 {
    let ndt = date.and_time(time);
    if let Some(t) = tz.from_local_datetime(&ndt).earliest() {
        return t.timestamp();
    }
    // Inside a gap: the first valid local time after it (gaps are at most an hour here; try
    // minute by minute up to three hours for exotic zones).
    (1..=180)
        .find_map(|m| {
            let later = ndt + chrono::Duration::minutes(m);
            tz.from_local_datetime(&later)
                .earliest()
                .map(|t| t.timestamp())
        })
        .unwrap_or_else(|| ndt.and_utc().timestamp())
}

/// A night plan compiled to UTC: a piecewise-constant level from local noon of D to local
/// noon of D + 1, ignoring dusk and dawn (which depend on the place).
#[derive(Debug, Clone, PartialEq)]
pub struct NightLevels {
    /// Local noon of D, Unix seconds.
    pub start: i64,
    /// Local noon of D + 1, Unix seconds.
    pub end: i64,
    /// (instant, level %) from which the level holds until the next point; the first point is
    /// at `start`.
    pub points: Vec<(i64, f64)>,
}

impl NightLevels {
    /// Compiles `plan` for the night of local date `date`.
    pub fn compile(plan: &NightPlan, date: NaiveDate, tz: Tz) -> Self {
        let next = date + chrono::Duration::days(1);
        let noon = NaiveTime::from_hms_opt(12, 0, 0).unwrap_or(NaiveTime::MIN);
        let start = local_to_unix(date, noon, tz);
        let end = local_to_unix(next, noon, tz);
        let mut times: Vec<i64> = plan
            .change_times()
            .map(|t| {
                let day = if night_second(t) < NOON { date } else { next };
                local_to_unix(day, t, tz)
            })
            .filter(|s| *s > start && *s < end)
            .collect();
        times.push(start);
        times.sort_unstable();
        times.dedup();
        let mut points: Vec<(i64, f64)> = Vec::with_capacity(times.len());
        for s in times {
            let local = DateTime::<Utc>::from_timestamp(s, 0)
                .map(|u| u.with_timezone(&tz).time())
                .unwrap_or(noon);
            let level = plan.level_at_night_second(night_second(local));
            if points.last().is_none_or(|(_, l)| *l != level) {
                points.push((s, level));
            }
        }
        Self { start, end, points }
    }

    /// The level at Unix second `s` (assuming the lights are on).
    pub fn level_at(&self, s: i64) -> f64 {
        let i = self.points.partition_point(|(t, _)| *t <= s);
        if i == 0 {
            self.points.first().map_or(0.0, |p| p.1)
        } else {
            self.points[i - 1].1
        }
    }

    /// Calls `f(from, to, level)` for each constant-level piece of `[on, off)`.
    pub fn for_each_segment(&self, on: i64, off: i64, mut f: impl FnMut(i64, i64, f64)) {
        for (i, &(t, level)) in self.points.iter().enumerate() {
            let next = self.points.get(i + 1).map_or(self.end.max(off), |p| p.0);
            let (a, b) = (t.max(on), next.min(off));
            if b > a {
                f(a, b, level);
            }
        }
        // Lights lit before local noon of D (a switch-on offset that large is refused by
        // `Program::validate`) are not counted.
    }
}

/// Checks a program against the caps of its zone before it is applied: every reason it
/// breaks them, in French, or `Ok`. Includes [`Program::validate`].
///
/// Checked: the zone's required dark window (every night, exceptions included, must keep the
/// lights at 0 % throughout it, by switch-off windows or 0 % steps), the zone's highest level
/// (initial level, steps and presence boost), switching on before sunset where the zone
/// forbids it (art. 2 for façades), and presence boosts during the dark window where the zone
/// forbids them.
pub fn check_program(program: &Program, caps: &Caps) -> Result<(), ProgramRefusal> {
    let mut reasons = match program.validate() {
        Ok(()) => Vec::new(),
        Err(r) => r.reasons,
    };
    let plans = std::iter::once(("nuit habituelle".to_string(), &program.plan)).chain(
        program
            .exceptions
            .iter()
            .map(|e| (format!("exception du {} ({})", e.date, e.label), &e.plan)),
    );
    for (label, plan) in plans {
        if let Some(w) = caps.required_dark_window {
            for (a, b) in lit_gaps(plan, &w) {
                reasons.push(format!(
                    "{label} : la zone impose l'extinction de {w}, le programme laisse allumé \
                     de {} à {}",
                    clock(a),
                    clock(b)
                ));
            }
        }
        if let Some(max) = caps.max_level_pct {
            if let Some(l) = plan.levels().filter(|l| *l > max).reduce(f64::max) {
                reasons.push(format!(
                    "{label} : niveau de {l} % au-dessus du plafond de la zone ({max} %)"
                ));
            }
        }
    }
    if caps.on_not_before_sunset && program.on_offset_min < 0 {
        reasons.push(format!(
            "allumage {} min avant le coucher du soleil : la zone interdit d'allumer avant le \
             coucher du soleil (arrêté du 27 décembre 2018, art. 2)",
            -program.on_offset_min
        ));
    }
    if let Some(boost) = &program.presence {
        if let Some(max) = caps.max_level_pct {
            if boost.level_pct > max {
                reasons.push(format!(
                    "détection de présence : niveau de {} % au-dessus du plafond de la zone \
                     ({max} %)",
                    boost.level_pct
                ));
            }
        }
        if let (Some(w), false, true) = (
            caps.required_dark_window,
            caps.presence_in_dark_window,
            boost.during_switch_off,
        ) {
            reasons.push(format!(
                "détection de présence pendant l'extinction : la zone interdit tout allumage \
                 de {w}"
            ));
        }
    }
    program.refusal(reasons)
}

/// The parts of a window (seconds of the night) where the plan leaves the lights on.
fn lit_gaps(plan: &NightPlan, w: &TimeWindow) -> Vec<(i64, i64)> {
    let (a, b) = w.night_range();
    let mut cuts: Vec<i64> = plan
        .change_times()
        .map(night_second)
        .filter(|s| *s > a && *s < b)
        .collect();
    cuts.push(a);
    cuts.push(b);
    cuts.sort_unstable();
    cuts.dedup();
    let mut gaps: Vec<(i64, i64)> = Vec::new();
    for pair in cuts.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        if plan.level_at_night_second(from) > 0.0 {
            match gaps.last_mut() {
                Some(g) if g.1 == from => g.1 = to,
                _ => gaps.push((from, to)),
            }
        }
    }
    gaps
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::PARIS;

    const LAT: f64 = 48.8566;
    const LON: f64 = 2.3522;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn eco() -> Program {
        Program {
            id: "eco".into(),
            name: "Éco".into(),
            on_offset_min: 10,
            off_offset_min: -10,
            plan: NightPlan {
                initial_level_pct: 100.0,
                steps: vec![
                    DimStep {
                        at: t(22, 0),
                        level_pct: 50.0,
                    },
                    DimStep {
                        at: t(5, 0),
                        level_pct: 80.0,
                    },
                ],
                switch_off: vec![TimeWindow::hm((0, 0), (5, 0)).unwrap()],
            },
            presence: Some(PresenceBoost {
                level_pct: 100.0,
                timeout_s: 120,
                during_switch_off: false,
            }),
            exceptions: vec![Exception {
                date: NaiveDate::from_ymd_opt(2024, 7, 14).unwrap(),
                yearly: true,
                label: "Fête nationale".into(),
                plan: NightPlan::default(),
            }],
        }
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        PARIS
            .from_local_datetime(
                &NaiveDate::from_ymd_opt(y, mo, d)
                    .unwrap()
                    .and_hms_opt(h, mi, 0)
                    .unwrap(),
            )
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn levels_through_a_winter_night() {
        let p = eco();
        let level = |h, m, d| p.level_at(at(2024, 12, d, h, m), LAT, LON, PARIS);
        assert_eq!(level(14, 0, 10), 0.0); // day
        assert_eq!(level(18, 0, 10), 100.0); // after dusk + 10 min
        assert_eq!(level(22, 30, 10), 50.0);
        assert_eq!(level(1, 0, 11), 0.0); // switch-off window
        assert_eq!(level(5, 30, 11), 80.0);
        assert_eq!(level(8, 40, 11), 0.0); // after dawn - 10 min (sunrise ≈ 08:40)
    }

    #[test]
    fn exceptions_replace_the_night() {
        let p = eco();
        // 14 July 2025: full power at 01:00 on the night of the 14th, the usual plan the
        // next night (the exception is yearly).
        assert_eq!(p.level_at(at(2025, 7, 15, 1, 0), LAT, LON, PARIS), 100.0);
        assert_eq!(p.level_at(at(2025, 7, 16, 1, 0), LAT, LON, PARIS), 0.0);
    }

    #[test]
    fn presence_boost_times_out() {
        let p = eco();
        let now = at(2024, 12, 10, 23, 0);
        let seen = now - chrono::Duration::seconds(60);
        assert_eq!(
            p.level_with_presence(now, Some(seen), LAT, LON, PARIS),
            100.0
        );
        let old = now - chrono::Duration::seconds(600);
        assert_eq!(p.level_with_presence(now, Some(old), LAT, LON, PARIS), 50.0);
        // No boost during the switch-off window unless asked.
        let night = at(2024, 12, 11, 2, 0);
        assert_eq!(
            p.level_with_presence(night, Some(night), LAT, LON, PARIS),
            0.0
        );
        // Only luminaires with a detector are boosted.
        let mut lum = crate::inventory::Luminaire::new(crate::Technology::Led, 30.0);
        assert_eq!(p.level_for(&lum, now, Some(seen), LAT, LON, PARIS), 50.0);
        lum.presence_sensor = true;
        assert_eq!(p.level_for(&lum, now, Some(seen), LAT, LON, PARIS), 100.0);
    }

    #[test]
    fn dst_nights_keep_wall_clock_steps() {
        let p = eco();
        // Spring forward: night of 30 to 31 March 2024 has 23 hours.
        let spring = p.profile(
            NaiveDate::from_ymd_opt(2024, 3, 30).unwrap(),
            LAT,
            LON,
            PARIS,
            60,
        );
        assert_eq!(spring.len(), 23);
        // Fall back: night of 26 to 27 October 2024 has 25 hours.
        let autumn = p.profile(
            NaiveDate::from_ymd_opt(2024, 10, 26).unwrap(),
            LAT,
            LON,
            PARIS,
            60,
        );
        assert_eq!(autumn.len(), 25);
        for profile in [&spring, &autumn] {
            for pt in profile.iter() {
                let h = pt.local.hour();
                if (0..5).contains(&h) {
                    assert_eq!(pt.level_pct, 0.0, "{pt:?}");
                }
                if h == 22 || h == 23 {
                    assert_eq!(pt.level_pct, 50.0, "{pt:?}");
                }
            }
        }
        // The step at 02:30 on the spring night takes effect when the clock jumps to 03:00.
        let mut plan = NightPlan::default();
        plan.steps.push(DimStep {
            at: t(2, 30),
            level_pct: 30.0,
        });
        let levels =
            NightLevels::compile(&plan, NaiveDate::from_ymd_opt(2024, 3, 30).unwrap(), PARIS);
        let three = at(2024, 3, 31, 3, 0).timestamp();
        assert_eq!(levels.level_at(three - 1), 100.0);
        assert_eq!(levels.level_at(three), 30.0);
        assert_eq!(levels.end - levels.start, 23 * 3600);
    }

    #[test]
    fn programs_are_checked_against_zone_caps() {
        let caps = Caps {
            required_dark_window: TimeWindow::hm((23, 0), (5, 0)),
            max_level_pct: Some(80.0),
            on_not_before_sunset: true,
            presence_in_dark_window: false,
            ..Caps::default()
        };
        let mut p = eco();
        p.on_offset_min = -15;
        p.presence = Some(PresenceBoost {
            level_pct: 100.0,
            timeout_s: 60,
            during_switch_off: true,
        });
        let refusal = check_program(&p, &caps).unwrap_err();
        let all = refusal.reasons.join("\n");
        // The usual night is lit 23:00–00:00; the 14 July exception all through.
        assert!(all.contains("nuit habituelle : la zone impose l'extinction de 23:00–05:00, le programme laisse allumé de 23:00 à 00:00"), "{all}");
        assert!(all.contains("exception du 2024-07-14 (Fête nationale) : la zone impose l'extinction de 23:00–05:00, le programme laisse allumé de 23:00 à 05:00"), "{all}");
        assert!(
            all.contains("niveau de 100 % au-dessus du plafond de la zone (80 %)"),
            "{all}"
        );
        assert!(all.contains("15 min avant le coucher du soleil"), "{all}");
        assert!(
            all.contains("détection de présence pendant l'extinction"),
            "{all}"
        );

        // A compliant program passes.
        let ok = Program {
            plan: NightPlan {
                initial_level_pct: 80.0,
                steps: vec![DimStep {
                    at: t(22, 0),
                    level_pct: 40.0,
                }],
                switch_off: vec![TimeWindow::hm((23, 0), (5, 30)).unwrap()],
            },
            exceptions: Vec::new(),
            presence: None,
            on_offset_min: 0,
            ..eco()
        };
        assert_eq!(check_program(&ok, &caps), Ok(()));
        // Structural errors are reported too.
        let bad = Program {
            plan: NightPlan {
                initial_level_pct: 120.0,
                ..NightPlan::default()
            },
            ..ok
        };
        assert!(check_program(&bad, &Caps::default()).unwrap_err().reasons[0].contains("120"));
    }
}
