//! Simulated armoires and groups, in process, for the demo and the tests.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use super::{Acknowledgement, Clock, Command, DriverError, LightingDriver, Target};

/// The simulated field.
#[derive(Debug, Default)]
struct State {
    /// Level of each target that received a command.
    levels: BTreeMap<Target, f64>,
    /// So many next commands fail as unreachable.
    fail_next: u32,
    /// Targets that never answer.
    unreachable: BTreeSet<Target>,
    /// Targets that refuse every command.
    rejecting: BTreeSet<Target>,
    /// Commands received, acknowledged or not.
    received: usize,
}

/// In-process armoires: every command is applied at once unless a failure was configured.
pub struct SimulatedCabinets {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

impl SimulatedCabinets {
    /// A simulated field, stamping acknowledgements with `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            clock,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        match self.state.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// The next `n` commands, whatever their target, get no answer.
    pub fn fail_next(&self, n: u32) {
        self.with(|s| s.fail_next = n);
    }

    /// Makes a target unreachable (`true`) or reachable again.
    pub fn set_unreachable(&self, target: Target, unreachable: bool) {
        self.with(|s| {
            if unreachable {
                s.unreachable.insert(target);
            } else {
                s.unreachable.remove(&target);
            }
        });
    }

    /// Makes a target refuse every command.
    pub fn reject(&self, target: Target) {
        self.with(|s| s.rejecting.insert(target));
    }

    /// The level of a target, if it ever received a command.
    pub fn level(&self, target: &Target) -> Option<f64> {
        self.with(|s| s.levels.get(target).copied())
    }

    /// How many commands were received.
    pub fn commands_received(&self) -> usize {
        self.with(|s| s.received)
    }
}

#[async_trait::async_trait]
impl LightingDriver for SimulatedCabinets {
    async fn send(&self, command: &Command) -> Result<Acknowledgement, DriverError> {
        let target = command.target.clone();
        let now = self.clock.now();
        self.with(|s| {
            s.received += 1;
            if s.fail_next > 0 {
                s.fail_next -= 1;
                return Err(DriverError::Unreachable {
                    target,
                    reason: "simulated timeout".into(),
                });
            }
            if s.unreachable.contains(&target) {
                return Err(DriverError::Unreachable {
                    target,
                    reason: "simulated link down".into(),
                });
            }
            if s.rejecting.contains(&target) {
                return Err(DriverError::Rejected {
                    target,
                    reason: "simulated refusal".into(),
                });
            }
            let level = command.action.level_pct();
            s.levels.insert(target.clone(), level);
            Ok(Acknowledgement {
                command_id: command.id.clone(),
                target,
                level_pct: level,
                at: now,
            })
        })
    }
}
