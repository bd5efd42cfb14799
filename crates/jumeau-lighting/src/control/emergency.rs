//! The emergency override: a zone at 100 % for a while, then back to its program by itself.
//!
//! The seed report's priority: let rescue services switch a zone on remotely at night. The
//! override addresses the groups (or, for points lumineux without a group, the armoires) of
//! every point lumineux inside the area, commands them to 100 %, and when the duration is over
//! commands each back to the level its program gives at that instant — unless another
//! override still running covers it. Reverting happens in [`EmergencyManager::tick`], which
//! [`EmergencyManager::spawn_reverter`] calls periodically; tests drive it with a
//! [`ManualClock`](super::ManualClock).
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use jumeau_geo::Geometry;
use serde::{Deserialize, Serialize};

use super::{Acknowledgement, Action, Actor, CommandTracker, ControlError, Outcome, Target};
use crate::energy::Assignments;
use crate::inventory::Inventory;
use crate::schedule::Program;
use crate::zone::{distance_m, Shape};

/// Longest override accepted: one night.
const MAX_HOURS: i64 = 16;
/// Largest radius accepted, in metres: a neighbourhood, not a whole town by mistake.
const MAX_RADIUS_M: f64 = 10_000.0;

/// Where to light.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum EmergencyArea {
    /// Inside a Polygon or MultiPolygon (WGS84).
    Polygon {
        /// The area.
        geometry: Geometry,
    },
    /// Within a radius of a point.
    Circle {
        /// Longitude, WGS84 degrees.
        lon: f64,
        /// Latitude, WGS84 degrees.
        lat: f64,
        /// Radius in metres.
        #[serde(rename = "radiusM")]
        radius_m: f64,
    },
}

/// A running override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyOverride {
    /// An id.
    pub id: u64,
    /// Who started it.
    pub actor: String,
    /// Why.
    pub why: String,
    /// What it lights.
    pub targets: Vec<Target>,
    /// When it started.
    pub started: DateTime<Utc>,
    /// When it ends.
    pub until: DateTime<Utc>,
}

/// The level a target should have at an instant, from its program (0 by day).
pub type LevelFn = dyn Fn(&Target, DateTime<Utc>) -> f64 + Send + Sync;

/// The [`LevelFn`] of an inventory: each target gets the level its program gives at the
/// position of its armoire (a group: its own program, else its armoire's, else the default;
/// an armoire: its program, else the default; see
/// [`Assignments::program_for`]). Targets without a program, or whose program is not in
/// `programs`, run dusk to dawn at full power; a target the inventory does not know is
/// switched off.
pub fn program_levels(
    inventory: &Inventory,
    assignments: &Assignments,
    programs: &[Program],
    tz: Tz,
) -> Arc<LevelFn> {
    let find = |id: Option<&str>| {
        id.and_then(|id| programs.iter().find(|p| p.id == id))
            .cloned()
            .unwrap_or_else(|| Program::dusk_to_dawn("dusk-to-dawn"))
    };
    let position = |cabinet: Option<&str>, group: Option<&str>| {
        inventory
            .cabinets
            .iter()
            .find(|c| Some(c.id.as_str()) == cabinet)
            .map(|c| (c.lat, c.lon))
            .or_else(|| {
                inventory
                    .streetlights
                    .iter()
                    .find(|s| group.is_some() && s.group.as_deref() == group)
                    .map(|s| (s.lat, s.lon))
            })
    };
    let mut table: BTreeMap<Target, (Program, f64, f64)> = BTreeMap::new();
    for c in &inventory.cabinets {
        let program = find(assignments.program_for(None, Some(&c.id)).map(|(_, p)| p));
        table.insert(Target::Cabinet(c.id.clone()), (program, c.lat, c.lon));
    }
    let groups = inventory
        .groups
        .iter()
        .map(|g| (g.id.clone(), g.cabinet.clone()))
        .chain(
            inventory
                .streetlights
                .iter()
                .filter_map(|s| Some((s.group.clone()?, s.cabinet.clone()))),
        );
    for (g, cabinet) in groups {
        let target = Target::Group(g.clone());
        if table.contains_key(&target) {
            continue;
        }
        let program = find(
            assignments
                .program_for(Some(&g), cabinet.as_deref())
                .map(|(_, p)| p),
        );
        if let Some((lat, lon)) = position(cabinet.as_deref(), Some(&g)) {
            table.insert(target, (program, lat, lon));
        }
    }
    Arc::new(move |target: &Target, t: DateTime<Utc>| {
        table
            .get(target)
            .map_or(0.0, |(p, lat, lon)| p.level_at(t, *lat, *lon, tz))
    })
}

/// Starts overrides and reverts them when they end.
pub struct EmergencyManager {
    tracker: Arc<CommandTracker>,
    active: Mutex<Vec<EmergencyOverride>>,
}

impl EmergencyManager {
    /// A manager sending through `tracker` (whose clock decides when overrides end).
    pub fn new(tracker: Arc<CommandTracker>) -> Self {
        Self::with_active(tracker, Vec::new())
    }

    /// A manager taking up overrides started earlier (read back from storage), so that
    /// [`tick`](Self::tick) reverts them when they end.
    pub fn with_active(tracker: Arc<CommandTracker>, active: Vec<EmergencyOverride>) -> Self {
        Self {
            tracker,
            active: Mutex::new(active),
        }
    }

    fn active_mut<R>(&self, f: impl FnOnce(&mut Vec<EmergencyOverride>) -> R) -> R {
        match self.active.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// The overrides running.
    pub fn active(&self) -> Vec<EmergencyOverride> {
        self.active_mut(|a| a.clone())
    }

    /// Lights every group or armoire with a point lumineux in `area` at 100 % for
    /// `duration`. Refused (and audited) when the actor may not override, the duration is
    /// not between 1 minute and 16 hours, the area is not a polygon or holds no point
    /// lumineux, or the radius is not within 0–10 km. Targets that do not acknowledge are
    /// reported in the audit; the override runs for the others.
    pub async fn start(
        &self,
        actor: &Actor,
        why: &str,
        area: &EmergencyArea,
        duration: chrono::Duration,
        inventory: &Inventory,
    ) -> Result<EmergencyOverride, ControlError> {
        let tracker = &self.tracker;
        let refuse = |err: ControlError, reason: String| {
            tracker.audit().push(super::AuditRecord {
                at: tracker.clock().now(),
                actor: actor.name.clone(),
                why: why.to_string(),
                target: None,
                action: "éclairage d'urgence".into(),
                outcome: Outcome::Refused {
                    reasons: vec![reason],
                },
            });
            err
        };
        if !actor.may_override {
            return Err(refuse(
                ControlError::NotAllowed {
                    actor: actor.name.clone(),
                    what: "start an emergency override".into(),
                },
                "rôle sans droit d'éclairage d'urgence".into(),
            ));
        }
        if duration < chrono::Duration::minutes(1) || duration > chrono::Duration::hours(MAX_HOURS)
        {
            let reason = format!(
                "durée de {} min hors de 1 min à {MAX_HOURS} h",
                duration.num_minutes()
            );
            return Err(refuse(ControlError::Invalid(reason.clone()), reason));
        }
        let inside: Box<dyn Fn(f64, f64) -> bool + Send + Sync> = match area {
            EmergencyArea::Polygon { geometry } => match Shape::from_geometry(geometry) {
                Ok(shape) => Box::new(move |lon, lat| shape.contains(lon, lat)),
                Err(_) => {
                    let reason = format!(
                        "zone de type {} : donner un Polygon ou un MultiPolygon",
                        geometry.geometry_type()
                    );
                    return Err(refuse(ControlError::Invalid(reason.clone()), reason));
                }
            },
            EmergencyArea::Circle { lon, lat, radius_m } => {
                let (clon, clat, r) = (*lon, *lat, *radius_m);
                let valid = r > 0.0 && r <= MAX_RADIUS_M && clon.is_finite() && clat.is_finite();
                if !valid {
                    let reason = format!(
                        "rayon de {r} m autour de ({clon}, {clat}) : donner un point WGS84 et \
                         un rayon de plus de 0 m et d'au plus {MAX_RADIUS_M} m"
                    );
                    return Err(refuse(ControlError::Invalid(reason.clone()), reason));
                }
                Box::new(move |lon, lat| distance_m(clon, clat, lon, lat) <= r)
            }
        };
        let targets: BTreeSet<Target> = inventory
            .streetlights
            .iter()
            .filter(|s| inside(s.lon, s.lat))
            .filter_map(|s| match (&s.group, &s.cabinet) {
                (Some(g), _) => Some(Target::Group(g.clone())),
                (None, Some(c)) => Some(Target::Cabinet(c.clone())),
                (None, None) => None,
            })
            .collect();
        if targets.is_empty() {
            return Err(refuse(
                ControlError::NothingInArea,
                "aucun point lumineux commandable dans la zone".into(),
            ));
        }
        let operator = Actor {
            may_operate: true,
            ..actor.clone()
        };
        let mut lit = Vec::new();
        for t in targets {
            if tracker
                .execute(&operator, why, t.clone(), Action::On)
                .await
                .is_ok()
            {
                lit.push(t);
            }
        }
        let now = tracker.clock().now();
        let id = super::next_sequence();
        let o = EmergencyOverride {
            id,
            actor: actor.name.clone(),
            why: why.to_string(),
            targets: lit,
            started: now,
            until: now + duration,
        };
        self.active_mut(|a| a.push(o.clone()));
        Ok(o)
    }

    /// Ends the overrides whose time is over and commands each of their targets back to the
    /// level `level_of` gives now (off when 0), unless a running override still covers it.
    /// Returns the outcome per target.
    pub async fn tick(
        &self,
        level_of: &LevelFn,
    ) -> Vec<(Target, Result<Acknowledgement, ControlError>)> {
        let now = self.tracker.clock().now();
        let (ended, still): (Vec<EmergencyOverride>, BTreeSet<Target>) = self.active_mut(|a| {
            let (ended, running): (Vec<_>, Vec<_>) = a.drain(..).partition(|o| o.until <= now);
            let still = running
                .iter()
                .flat_map(|o| o.targets.iter().cloned())
                .collect();
            *a = running;
            (ended, still)
        });
        let system = Actor {
            name: "retour automatique".into(),
            may_operate: true,
            may_override: false,
        };
        let mut out = Vec::new();
        for o in ended {
            let why = format!("fin de l'éclairage d'urgence n°{} ({})", o.id, o.why);
            for t in o.targets {
                if still.contains(&t) {
                    continue;
                }
                let level = level_of(&t, now);
                let action = if level <= 0.0 {
                    Action::Off
                } else {
                    Action::Dim { level_pct: level }
                };
                let r = self.tracker.execute(&system, &why, t.clone(), action).await;
                out.push((t, r));
            }
        }
        out
    }

    /// Runs [`tick`](Self::tick) every `every` until the returned task is aborted.
    pub fn spawn_reverter(
        self: Arc<Self>,
        every: std::time::Duration,
        level_of: Arc<LevelFn>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            loop {
                interval.tick().await;
                self.tick(level_of.as_ref()).await;
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::control::{AuditLog, ManualClock, RetryPolicy, SimulatedCabinets};
    use crate::inventory::{LightingCategory, Luminaire, Streetlight, Technology};
    use chrono::TimeZone;

    fn lamp(id: &str, lon: f64, group: Option<&str>, cabinet: &str) -> Streetlight {
        Streetlight {
            id: id.into(),
            lon,
            lat: 45.0,
            luminaire: Luminaire::new(Technology::Led, 30.0),
            category: LightingCategory::Road,
            installed_on: None,
            mast_height_m: None,
            cabinet: Some(cabinet.into()),
            circuit: None,
            group: group.map(Into::into),
        }
    }

    fn rescuer() -> Actor {
        Actor {
            name: "SDIS".into(),
            may_operate: false,
            may_override: true,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_zone_is_lit_then_reverts_by_itself() {
        let t0 = Utc.with_ymd_and_hms(2025, 1, 10, 23, 30, 0).unwrap();
        let clock = Arc::new(ManualClock::new(t0));
        let sim = Arc::new(SimulatedCabinets::new(clock.clone()));
        let tracker = Arc::new(CommandTracker::new(
            sim.clone(),
            RetryPolicy::default(),
            clock.clone(),
            Arc::new(AuditLog::default()),
        ));
        let manager = Arc::new(EmergencyManager::new(tracker.clone()));
        // Two lamps near (4.0, 45.0) in group G1, one 1 km east on armoire A2 without group.
        let inv = Inventory {
            streetlights: vec![
                lamp("a", 4.0, Some("G1"), "A1"),
                lamp("b", 4.0005, Some("G1"), "A1"),
                lamp("c", 4.0127, None, "A2"),
            ],
            ..Inventory::default()
        };
        let area = EmergencyArea::Circle {
            lon: 4.0,
            lat: 45.0,
            radius_m: 200.0,
        };
        let o = manager
            .start(
                &rescuer(),
                "accident RD 12",
                &area,
                chrono::Duration::minutes(30),
                &inv,
            )
            .await
            .unwrap();
        assert_eq!(o.targets, vec![Target::Group("G1".into())]);
        assert_eq!(sim.level(&Target::Group("G1".into())), Some(100.0));
        assert_eq!(sim.level(&Target::Cabinet("A2".into())), None);

        // The program says 30 % at this hour.
        let level_of: Arc<LevelFn> = Arc::new(|_t: &Target, _now: DateTime<Utc>| 30.0);
        let reverter = manager
            .clone()
            .spawn_reverter(std::time::Duration::from_secs(60), level_of);
        clock.advance(chrono::Duration::minutes(10));
        tokio::time::sleep(std::time::Duration::from_secs(120)).await;
        assert_eq!(sim.level(&Target::Group("G1".into())), Some(100.0));
        assert_eq!(manager.active().len(), 1);
        clock.advance(chrono::Duration::minutes(21));
        tokio::time::sleep(std::time::Duration::from_secs(120)).await;
        assert_eq!(sim.level(&Target::Group("G1".into())), Some(30.0));
        assert!(manager.active().is_empty());
        reverter.abort();

        let records = tracker.audit().records();
        assert_eq!(records[0].actor, "SDIS");
        assert_eq!(records[0].action, "allumage");
        let last = records.last().unwrap();
        assert_eq!(last.actor, "retour automatique");
        assert!(
            last.why.starts_with(&format!(
                "fin de l'éclairage d'urgence n°{} (accident RD 12)",
                o.id
            )),
            "{}",
            last.why
        );
        assert_eq!(
            last.outcome,
            Outcome::Acknowledged {
                attempts: 1,
                level_pct: 30.0
            }
        );
    }

    #[test]
    fn levels_come_from_the_programs() {
        use crate::inventory::Cabinet;
        let inv = Inventory {
            streetlights: vec![
                lamp("a", 4.0, Some("G1"), "A1"),
                lamp("c", 4.01, None, "A2"),
            ],
            cabinets: vec![
                Cabinet {
                    id: "A1".into(),
                    lon: 4.0,
                    lat: 45.0,
                    circuits: vec![],
                    groups: vec![],
                },
                Cabinet {
                    id: "A2".into(),
                    lon: 4.01,
                    lat: 45.0,
                    circuits: vec![],
                    groups: vec![],
                },
            ],
            groups: vec![],
        };
        let half = Program {
            plan: crate::schedule::NightPlan {
                initial_level_pct: 50.0,
                ..Default::default()
            },
            ..Program::dusk_to_dawn("half")
        };
        let assignments = Assignments {
            by_group: [("G1".to_string(), "half".to_string())].into(),
            ..Assignments::default()
        };
        let levels = program_levels(&inv, &assignments, &[half], crate::PARIS);
        let night = Utc.with_ymd_and_hms(2025, 1, 10, 22, 0, 0).unwrap();
        let noon = Utc.with_ymd_and_hms(2025, 1, 10, 12, 0, 0).unwrap();
        assert_eq!(levels(&Target::Group("G1".into()), night), 50.0);
        assert_eq!(levels(&Target::Cabinet("A2".into()), night), 100.0);
        assert_eq!(levels(&Target::Cabinet("A2".into()), noon), 0.0);
        assert_eq!(levels(&Target::Cabinet("nowhere".into()), night), 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_and_overlaps() {
        let t0 = Utc.with_ymd_and_hms(2025, 1, 10, 23, 30, 0).unwrap();
        let clock = Arc::new(ManualClock::new(t0));
        let sim = Arc::new(SimulatedCabinets::new(clock.clone()));
        let tracker = Arc::new(CommandTracker::new(
            sim.clone(),
            RetryPolicy::default(),
            clock.clone(),
            Arc::new(AuditLog::default()),
        ));
        let manager = EmergencyManager::new(tracker.clone());
        let inv = Inventory {
            streetlights: vec![lamp("a", 4.0, None, "A1")],
            ..Inventory::default()
        };
        let area = EmergencyArea::Circle {
            lon: 4.0,
            lat: 45.0,
            radius_m: 50.0,
        };
        let clerk = Actor {
            name: "agent".into(),
            may_operate: true,
            may_override: false,
        };
        let err = manager
            .start(&clerk, "test", &area, chrono::Duration::minutes(30), &inv)
            .await
            .unwrap_err();
        assert!(matches!(err, ControlError::NotAllowed { .. }));
        let far = EmergencyArea::Circle {
            lon: 5.0,
            lat: 45.0,
            radius_m: 50.0,
        };
        assert_eq!(
            manager
                .start(&rescuer(), "x", &far, chrono::Duration::minutes(30), &inv)
                .await
                .unwrap_err(),
            ControlError::NothingInArea
        );
        assert!(matches!(
            manager
                .start(&rescuer(), "x", &area, chrono::Duration::hours(30), &inv)
                .await
                .unwrap_err(),
            ControlError::Invalid(_)
        ));
        assert_eq!(tracker.audit().records().len(), 3);

        // Two overlapping overrides: the first ending does not switch back the shared target.
        manager
            .start(&rescuer(), "un", &area, chrono::Duration::minutes(10), &inv)
            .await
            .unwrap();
        manager
            .start(
                &rescuer(),
                "deux",
                &area,
                chrono::Duration::minutes(20),
                &inv,
            )
            .await
            .unwrap();
        clock.advance(chrono::Duration::minutes(15));
        assert!(manager.tick(&|_: &Target, _| 0.0).await.is_empty());
        clock.advance(chrono::Duration::minutes(10));
        let back = manager.tick(&|_: &Target, _| 0.0).await;
        assert_eq!(back.len(), 1);
        assert_eq!(sim.level(&Target::Cabinet("A1".into())), Some(0.0));
    }
}
