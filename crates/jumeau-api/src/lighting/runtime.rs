//! The remote-control runtime of public lighting: the driver that reaches the armoires, the
//! clock, the retry policy, and the task that ends emergency overrides on time.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jumeau_lighting::control::{
    AuditLog, Clock, CommandTracker, GatewayError, LightingDriver, RetryPolicy, SimulatedCabinets,
    SystemClock, TalqDriver,
};

use crate::App;

/// Settings of the lighting remote control.
#[derive(Clone)]
pub struct LightingConfig {
    /// How commands reach the field: a TALQ-style gateway
    /// (`jumeau_lighting::control::TalqDriver`) or, when `None`, in-process simulated
    /// armoires (for the demo and tests).
    pub driver: Option<Arc<dyn LightingDriver>>,
    /// The time source of audit records, emergency ends and schedules.
    pub clock: Arc<dyn Clock>,
    /// Attempts and waits before a command is reported as not acknowledged.
    pub retry: RetryPolicy,
    /// How often ended emergency overrides are looked for and reverted.
    pub revert_every: Duration,
}

impl Default for LightingConfig {
    /// Simulated armoires, the system clock, the default retry policy (5 attempts, about
    /// 15 s), and a check for ended overrides every 15 s.
    fn default() -> Self {
        Self {
            driver: None,
            clock: Arc::new(SystemClock),
            retry: RetryPolicy::default(),
            revert_every: Duration::from_secs(15),
        }
    }
}

impl LightingConfig {
    /// The environment variable holding the bearer token of the lighting gateway. The token
    /// is taken from the environment only, never from the command line, so that it does not
    /// show in the process list.
    pub const GATEWAY_TOKEN_ENV: &'static str = "JUMEAU_LIGHTING_GATEWAY_TOKEN";

    /// The default wait for one attempt of a command at the gateway.
    pub const DEFAULT_GATEWAY_TIMEOUT: Duration = Duration::from_secs(10);

    /// These settings with commands sent to the TALQ-style gateway at `url` (commands are
    /// posted to `<url>/commands`, with `Authorization: Bearer <token>` when a token is
    /// given) instead of the simulated armoires. `timeout` bounds each attempt; the retry
    /// policy still decides how many attempts are made.
    ///
    /// The URL is checked now, so that a server does not start with a gateway it could
    /// never reach: see [`TalqDriver::new`] for what is refused.
    pub fn with_talq_gateway(
        mut self,
        url: &str,
        token: Option<String>,
        timeout: Duration,
    ) -> Result<Self, GatewayError> {
        let driver = TalqDriver::new(url, token, timeout)?;
        self.driver = Some(Arc::new(driver));
        Ok(self)
    }
}

impl std::fmt::Debug for LightingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LightingConfig")
            .field(
                "driver",
                &self.driver.as_ref().map_or("simulated", |_| "configured"),
            )
            .field("clock", &self.clock.now())
            .field("retry", &self.retry)
            .field("revert_every", &self.revert_every)
            .finish()
    }
}

/// The lighting control state shared by the handlers.
pub(crate) struct Control {
    /// The driver in use.
    driver: Arc<dyn LightingDriver>,
    /// The settings.
    pub config: LightingConfig,
    /// Tenants that held an override since the start (kept: a tenant is looked at again
    /// cheaply, and dropping one could race with a new override); `None` until the first
    /// pass has looked at every tenant (overrides started before a restart).
    watched: Mutex<Option<BTreeSet<String>>>,
}

impl Control {
    /// The control state for these settings.
    pub fn new(config: LightingConfig) -> Self {
        let driver = config
            .driver
            .clone()
            .unwrap_or_else(|| Arc::new(SimulatedCabinets::new(config.clock.clone())));
        Self {
            driver,
            config,
            watched: Mutex::new(None),
        }
    }

    /// A command tracker for one request, with its own audit log (persisted by the caller
    /// in the request's tenant).
    pub fn tracker(&self) -> (Arc<CommandTracker>, Arc<AuditLog>) {
        let audit = Arc::new(AuditLog::default());
        let tracker = CommandTracker::new(
            self.driver.clone(),
            self.config.retry,
            self.config.clock.clone(),
            audit.clone(),
        );
        (Arc::new(tracker), audit)
    }

    /// Notes that a tenant holds a running override.
    pub fn watch(&self, tenant: &str) {
        if let Ok(mut w) = self.watched.lock() {
            if let Some(set) = w.as_mut() {
                set.insert(tenant.to_string());
            }
        }
    }

    /// The tenants to look at: every tenant on the first pass, then the watched ones.
    async fn tenants(&self, app: &App) -> Vec<String> {
        let known = self.watched.lock().ok().and_then(|w| w.clone());
        match known {
            Some(set) => set.into_iter().collect(),
            None => match app.twin.store.tenants().await {
                Ok(all) => {
                    let names: BTreeSet<String> = all.into_iter().map(|t| t.name).collect();
                    if let Ok(mut w) = self.watched.lock() {
                        *w = Some(names.clone());
                    }
                    names.into_iter().collect()
                }
                Err(e) => {
                    tracing::warn!("lighting: the tenants could not be listed: {e}");
                    Vec::new()
                }
            },
        }
    }
}

/// Starts the task that reverts ended emergency overrides, every
/// [`LightingConfig::revert_every`]; it stops with the runtime.
pub(crate) fn spawn_reverter(app: App) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(app.lighting.config.revert_every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            for tenant in app.lighting.tenants(&app).await {
                if let Err(e) = super::service::revert_ended(&app, &tenant).await {
                    tracing::warn!(
                        "lighting: ended emergency overrides of tenant {tenant} could not be \
                         reverted: {}",
                        e.0
                    );
                }
            }
        }
    });
}
