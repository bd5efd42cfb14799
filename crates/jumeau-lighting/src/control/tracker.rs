//! Sending commands until they are acknowledged, and auditing every request.
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    Acknowledgement, Action, Actor, AuditLog, AuditRecord, Clock, Command, ControlError,
    LightingDriver, Outcome, Target,
};
use crate::schedule::{check_program, Program};
use crate::zone::Caps;

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt.
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// Each wait is the previous one times this.
    pub multiplier: u32,
}

impl Default for RetryPolicy {
    /// 5 attempts, waiting 1 s, 2 s, 4 s, 8 s: about 15 s before giving up, short enough for
    /// an operator waiting for the answer.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            multiplier: 2,
        }
    }
}

/// Sends commands through a driver with retries, and keeps the audit trail.
pub struct CommandTracker {
    driver: Arc<dyn LightingDriver>,
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    audit: Arc<AuditLog>,
}

impl CommandTracker {
    /// A tracker over a driver, with a retry policy, a clock for the audit timestamps and
    /// the audit log to write to.
    pub fn new(
        driver: Arc<dyn LightingDriver>,
        policy: RetryPolicy,
        clock: Arc<dyn Clock>,
        audit: Arc<AuditLog>,
    ) -> Self {
        Self {
            driver,
            policy,
            clock,
            audit,
        }
    }

    /// The audit log.
    pub fn audit(&self) -> &Arc<AuditLog> {
        &self.audit
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn record(
        &self,
        actor: &Actor,
        why: &str,
        target: Option<&Target>,
        action: String,
        outcome: Outcome,
    ) {
        self.audit.push(AuditRecord {
            at: self.clock.now(),
            actor: actor.name.clone(),
            why: why.to_string(),
            target: target.cloned(),
            action,
            outcome,
        });
    }

    /// Records a refusal and returns the error.
    fn refuse(
        &self,
        actor: &Actor,
        why: &str,
        target: Option<&Target>,
        action: String,
        err: ControlError,
        reasons: Vec<String>,
    ) -> ControlError {
        self.record(actor, why, target, action, Outcome::Refused { reasons });
        err
    }

    /// Sends `action` to `target` for `actor`, giving `why`, until the field acknowledges it
    /// or the attempts run out; records the outcome. Refused (and recorded) when the actor
    /// may not operate or the level is outside 0–100 %.
    pub async fn execute(
        &self,
        actor: &Actor,
        why: &str,
        target: Target,
        action: Action,
    ) -> Result<Acknowledgement, ControlError> {
        let label = action.label_fr();
        if !actor.may_operate {
            let what = format!("commander {target}");
            return Err(self.refuse(
                actor,
                why,
                Some(&target),
                label,
                ControlError::NotAllowed {
                    actor: actor.name.clone(),
                    what,
                },
                vec!["rôle sans droit de commande".into()],
            ));
        }
        let level = action.level_pct();
        if !(0.0..=100.0).contains(&level) {
            let reason = format!("niveau de {level} % hors de 0–100 %");
            return Err(self.refuse(
                actor,
                why,
                Some(&target),
                label,
                ControlError::Invalid(reason.clone()),
                vec![reason],
            ));
        }
        let command = Command {
            id: format!("cmd-{}", super::next_sequence()),
            target: target.clone(),
            action,
        };
        let attempts = self.policy.max_attempts.max(1);
        let mut backoff = self.policy.initial_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.driver.send(&command).await {
                Ok(ack) => {
                    self.record(
                        actor,
                        why,
                        Some(&target),
                        label,
                        Outcome::Acknowledged {
                            attempts: attempt,
                            level_pct: ack.level_pct,
                        },
                    );
                    return Ok(ack);
                }
                Err(e) if e.is_retryable() && attempt < attempts => {
                    tokio::time::sleep(backoff).await;
                    backoff =
                        (backoff * self.policy.multiplier.max(1)).min(self.policy.max_backoff);
                }
                Err(e) => {
                    self.record(
                        actor,
                        why,
                        Some(&target),
                        label,
                        Outcome::Failed {
                            attempts: attempt,
                            error: e.to_string(),
                        },
                    );
                    return Err(ControlError::NotAcknowledged {
                        target,
                        attempts: attempt,
                        last: e.to_string(),
                    });
                }
            }
        }
    }

    /// Checks a program against its zone's caps before it is applied to `target`, and
    /// records the decision. Refused (and recorded with every reason) when the actor may not
    /// operate or the program breaks a rule ([`check_program`]).
    pub fn apply_program(
        &self,
        actor: &Actor,
        why: &str,
        target: &Target,
        program: &Program,
        caps: &Caps,
    ) -> Result<(), ControlError> {
        let label = format!("programme {}", program.id);
        if !actor.may_operate {
            let what = format!("programmer {target}");
            return Err(self.refuse(
                actor,
                why,
                Some(target),
                label,
                ControlError::NotAllowed {
                    actor: actor.name.clone(),
                    what,
                },
                vec!["rôle sans droit de commande".into()],
            ));
        }
        match check_program(program, caps) {
            Ok(()) => {
                self.record(
                    actor,
                    why,
                    Some(target),
                    label,
                    Outcome::ProgramAccepted {
                        program: program.id.clone(),
                    },
                );
                Ok(())
            }
            Err(refusal) => {
                let reasons = refusal.reasons.clone();
                Err(self.refuse(
                    actor,
                    why,
                    Some(target),
                    label,
                    ControlError::ProgramRefused(refusal),
                    reasons,
                ))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::control::{ManualClock, SimulatedCabinets};
    use crate::schedule::TimeWindow;
    use chrono::TimeZone;

    fn setup(failures: u32) -> (Arc<SimulatedCabinets>, CommandTracker) {
        let clock = Arc::new(ManualClock::new(
            chrono::Utc.with_ymd_and_hms(2025, 1, 10, 21, 0, 0).unwrap(),
        ));
        let sim = Arc::new(SimulatedCabinets::new(clock.clone()));
        sim.fail_next(failures);
        let tracker = CommandTracker::new(
            sim.clone(),
            RetryPolicy::default(),
            clock,
            Arc::new(AuditLog::default()),
        );
        (sim, tracker)
    }

    fn operator() -> Actor {
        Actor {
            name: "agent.voirie".into(),
            may_operate: true,
            may_override: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_acknowledged() {
        let (sim, tracker) = setup(3);
        let target = Target::Cabinet("A1".into());
        let ack = tracker
            .execute(
                &operator(),
                "essai",
                target.clone(),
                Action::Dim { level_pct: 40.0 },
            )
            .await
            .unwrap();
        assert_eq!(ack.level_pct, 40.0);
        assert_eq!(sim.level(&target), Some(40.0));
        assert_eq!(sim.commands_received(), 4);
        let records = tracker.audit().records();
        assert_eq!(records.len(), 1);
        assert_eq!(
            records[0].outcome,
            Outcome::Acknowledged {
                attempts: 4,
                level_pct: 40.0
            }
        );
        assert_eq!(records[0].why, "essai");
        assert_eq!(records[0].action, "gradation à 40 %");
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_bounded_attempts() {
        let (sim, tracker) = setup(10);
        let err = tracker
            .execute(&operator(), "essai", Target::Group("G".into()), Action::On)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ControlError::NotAcknowledged { attempts: 5, .. }),
            "{err}"
        );
        assert_eq!(sim.commands_received(), 5);
        assert!(matches!(
            tracker.audit().records()[0].outcome,
            Outcome::Failed { attempts: 5, .. }
        ));
        // A rejection is not retried.
        let (sim, tracker) = setup(0);
        sim.reject(Target::Cabinet("X".into()));
        let err = tracker
            .execute(
                &operator(),
                "essai",
                Target::Cabinet("X".into()),
                Action::Off,
            )
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ControlError::NotAcknowledged { attempts: 1, .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_are_audited() {
        let (sim, tracker) = setup(0);
        let viewer = Actor {
            name: "lecteur".into(),
            may_operate: false,
            may_override: false,
        };
        let err = tracker
            .execute(
                &viewer,
                "curiosité",
                Target::Cabinet("A1".into()),
                Action::Off,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ControlError::NotAllowed { .. }));
        let err = tracker
            .execute(
                &operator(),
                "test",
                Target::Cabinet("A1".into()),
                Action::Dim { level_pct: 150.0 },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ControlError::Invalid(_)));
        assert_eq!(sim.commands_received(), 0);

        let caps = Caps {
            required_dark_window: TimeWindow::hm((0, 0), (5, 0)),
            ..Caps::default()
        };
        let program = Program::dusk_to_dawn("plein");
        let err = tracker
            .apply_program(
                &operator(),
                "nouvelle saison",
                &Target::Group("G".into()),
                &program,
                &caps,
            )
            .unwrap_err();
        assert!(err.to_string().contains("00:00–05:00"), "{err}");
        let records = tracker.audit().records();
        assert_eq!(records.len(), 3);
        assert!(records
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Refused { .. })));
        let Outcome::Refused { reasons } = &records[2].outcome else {
            panic!()
        };
        assert!(
            reasons[0].contains("laisse allumé de 00:00 à 05:00"),
            "{reasons:?}"
        );

        tracker
            .apply_program(
                &operator(),
                "ok",
                &Target::Group("G".into()),
                &program,
                &Caps::default(),
            )
            .unwrap();
        assert!(matches!(
            tracker.audit().records()[3].outcome,
            Outcome::ProgramAccepted { .. }
        ));
    }
}
