//! The remote-control core: commands to armoires and groups, their acknowledgements, retries
//! and audit records, and the emergency override.
//!
//! * [`LightingDriver`] is what a central management system needs from the field: send a
//!   command (on, off, dim) to an armoire or a group and get an acknowledgement. Two drivers
//!   are provided: [`TalqDriver`] (TALQ-style JSON over HTTP) and [`SimulatedCabinets`]
//!   (in-process, with configurable failures, for the demo and tests).
//! * [`CommandTracker`] sends a command until it is acknowledged (exponential backoff, a
//!   bounded number of attempts), checks the caller's role flags and the program rules first,
//!   and records every outcome — acknowledged, failed or refused — as an [`AuditRecord`]:
//!   who, when, why, what, outcome.
//! * [`EmergencyManager`] lights every armoire or group with a point lumineux in a zone
//!   (polygon or radius around a point) at 100 % for a duration, for rescue services at
//!   night, and puts them back to their programmed level by itself when it ends.
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod emergency;
mod simulated;
mod talq;
mod tracker;

pub use emergency::{program_levels, EmergencyArea, EmergencyManager, EmergencyOverride, LevelFn};
pub use simulated::SimulatedCabinets;
pub use talq::{GatewayError, TalqDriver};
pub use tracker::{CommandTracker, RetryPolicy};

/// What a command addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "id")]
pub enum Target {
    /// An armoire (all its circuits).
    Cabinet(String),
    /// A group of points lumineux.
    Group(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cabinet(id) => write!(f, "armoire {id}"),
            Self::Group(id) => write!(f, "groupe {id}"),
        }
    }
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "action")]
pub enum Action {
    /// Switch on at full power.
    On,
    /// Switch off.
    Off,
    /// Set a level, in %.
    Dim {
        /// The level, 0–100 %.
        #[serde(rename = "levelPct")]
        level_pct: f64,
    },
}

impl Action {
    /// The level the action asks for, in %.
    pub fn level_pct(self) -> f64 {
        match self {
            Self::On => 100.0,
            Self::Off => 0.0,
            Self::Dim { level_pct } => level_pct,
        }
    }

    /// The action in French, for audit records.
    pub fn label_fr(self) -> String {
        match self {
            Self::On => "allumage".into(),
            Self::Off => "extinction".into(),
            Self::Dim { level_pct } => format!("gradation à {level_pct} %"),
        }
    }
}

/// A command as sent to a driver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    /// A unique id, repeated in the acknowledgement (so a retried command is recognised).
    pub id: String,
    /// What it addresses.
    pub target: Target,
    /// What to do.
    pub action: Action,
}

/// The field's acknowledgement of a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Acknowledgement {
    /// The command acknowledged.
    pub command_id: String,
    /// What was addressed.
    pub target: Target,
    /// The level now applied, in %.
    pub level_pct: f64,
    /// When the field applied it.
    pub at: DateTime<Utc>,
}

/// Why a driver could not get a command applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DriverError {
    /// The controller or gateway did not answer (network, timeout, server error): worth
    /// retrying.
    #[error("no answer from {target}: {reason}")]
    Unreachable {
        /// What was addressed.
        target: Target,
        /// Details.
        reason: String,
    },
    /// The controller refused the command (unknown target, command not supported): retrying
    /// does not help.
    #[error("{target} refused the command: {reason}")]
    Rejected {
        /// What was addressed.
        target: Target,
        /// The controller's reason.
        reason: String,
    },
}

impl DriverError {
    /// Whether sending again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

/// Sends commands to the field.
#[async_trait::async_trait]
pub trait LightingDriver: Send + Sync {
    /// Sends one command and waits for its acknowledgement.
    async fn send(&self, command: &Command) -> Result<Acknowledgement, DriverError>;
}

/// The time source, so that tests and the demo can control time.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// A process-wide sequence for command and override ids, starting from the Unix time in
/// milliseconds at first use, so that ids stay unique across trackers and restarts.
pub(crate) fn next_sequence() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static NEXT: OnceLock<AtomicU64> = OnceLock::new();
    NEXT.get_or_init(|| {
        let start = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(1);
        AtomicU64::new(start)
    })
    .fetch_add(1, Ordering::Relaxed)
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to, for tests and replays.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock showing `t`.
    pub fn new(t: DateTime<Utc>) -> Self {
        Self(Mutex::new(t))
    }

    /// Sets the time.
    pub fn set(&self, t: DateTime<Utc>) {
        if let Ok(mut g) = self.0.lock() {
            *g = t;
        }
    }

    /// Moves the time forward.
    pub fn advance(&self, d: chrono::Duration) {
        if let Ok(mut g) = self.0.lock() {
            *g += d;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
            .lock()
            .map(|g| *g)
            .unwrap_or_else(|p| *p.into_inner())
    }
}

/// Who asks, with the role flags the caller (the API, after checking the key) grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// A name for the audit (a user, a service, `horloge astronomique`).
    pub name: String,
    /// May switch and dim armoires and groups, and apply programs.
    pub may_operate: bool,
    /// May start an emergency override (rescue services, on-call staff).
    pub may_override: bool,
}

/// What happened to a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum Outcome {
    /// The field acknowledged.
    Acknowledged {
        /// Attempts made.
        attempts: u32,
        /// The level applied.
        level_pct: f64,
    },
    /// Every attempt failed.
    Failed {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        error: String,
    },
    /// Refused before sending (role, invalid command, program breaking a zone rule).
    Refused {
        /// Every reason, in French.
        reasons: Vec<String>,
    },
    /// A program was checked and accepted.
    ProgramAccepted {
        /// The program id.
        program: String,
    },
    /// A record (a program, a zone) was deleted, so that removals leave a trace as
    /// additions do.
    Deleted {
        /// The id of what was deleted.
        id: String,
    },
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// When the request was decided.
    pub at: DateTime<Utc>,
    /// Who asked.
    pub actor: String,
    /// Why (the reason the caller gave).
    pub why: String,
    /// What was addressed, if anything.
    pub target: Option<Target>,
    /// What was asked, in French.
    pub action: String,
    /// What happened.
    pub outcome: Outcome,
}

/// The audit trail, in memory; the caller persists it (as NGSI-LD entities or a journal).
#[derive(Debug, Default)]
pub struct AuditLog(Mutex<Vec<AuditRecord>>);

impl AuditLog {
    /// Appends a record.
    pub fn push(&self, r: AuditRecord) {
        match self.0.lock() {
            Ok(mut g) => g.push(r),
            Err(p) => p.into_inner().push(r),
        }
    }

    /// A copy of every record, oldest first.
    pub fn records(&self) -> Vec<AuditRecord> {
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// Why a control request failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControlError {
    /// The caller's role does not allow it.
    #[error("{actor} may not {what}: ask for the role that allows it")]
    NotAllowed {
        /// Who asked.
        actor: String,
        /// What, in words.
        what: String,
    },
    /// The command itself is invalid.
    #[error("invalid command: {0}")]
    Invalid(String),
    /// The program breaks its zone's rules.
    #[error(transparent)]
    ProgramRefused(#[from] crate::schedule::ProgramRefusal),
    /// No acknowledgement after every attempt.
    #[error("{target} did not acknowledge after {attempts} attempt(s): {last}; check the armoire's link")]
    NotAcknowledged {
        /// What was addressed.
        target: Target,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: String,
    },
    /// The emergency zone contains no point lumineux.
    #[error("no point lumineux in the emergency zone; check the position and the radius")]
    NothingInArea,
}
