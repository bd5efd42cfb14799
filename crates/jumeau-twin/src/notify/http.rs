//! Delivery over HTTP (ETSI GS CIM 009 §7.2): a POST of the notification to the endpoint.

use std::error::Error as _;
use std::time::Duration;

use super::envelope::Envelope;

/// How long a delivery may take when the endpoint sets no `timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `timeout` honoured.
const MAX_TIMEOUT: Duration = Duration::from_secs(120);

/// Sends notifications over HTTP(S); one connection pool shared by every endpoint.
pub(super) struct HttpSender {
    client: Option<reqwest::Client>,
}

/// A reqwest error with its causes, which hold the useful part ("Connection refused").
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl HttpSender {
    /// A sender with its own connection pool.
    pub(super) fn new() -> Self {
        let client = reqwest::Client::builder()
            .user_agent(concat!("jumeau/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(DEFAULT_TIMEOUT)
            // A redirect is an answer to fix at the subscription, not one to follow blindly.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| tracing::error!("no HTTP client for notifications: {e}"))
            .ok();
        Self { client }
    }

    /// POSTs one notification: Content-Type per the endpoint's `accept`, the @context in a
    /// Link header (application/json) or in the body (application/ld+json), the tenant in
    /// NGSILD-Tenant, and the endpoint's receiverInfo as headers. Any 2xx answer is a
    /// success; anything else is a failure whose reason tells what to fix.
    pub(super) async fn send(&self, tenant: &str, envelope: &Envelope) -> Result<(), String> {
        let Some(client) = &self.client else {
            return Err("the broker has no HTTP client (TLS setup failed at start)".into());
        };
        let ep = &envelope.endpoint;
        let timeout = ep
            .timeout
            .filter(|t| t.is_finite() && *t >= 1.0)
            .map(|ms| Duration::from_millis(ms as u64).min(MAX_TIMEOUT))
            .unwrap_or(DEFAULT_TIMEOUT);
        let mut req = client
            .post(&ep.uri)
            .timeout(timeout)
            .header("Content-Type", envelope.content_type())
            .body(envelope.body().to_string());
        if let Some(link) = envelope.link() {
            req = req.header("Link", link);
        }
        if tenant != crate::DEFAULT_TENANT {
            req = req.header("NGSILD-Tenant", tenant);
        }
        for kv in &ep.receiver_info {
            req = req.header(kv.key.as_str(), kv.value.as_str());
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                format!(
                    "{} did not answer within {} ms; make the receiver answer faster or raise notification.endpoint.timeout",
                    ep.uri,
                    timeout.as_millis()
                )
            } else if e.is_builder() {
                format!(
                    "the notification to {} could not be built ({}); check notification.endpoint.uri and receiverInfo",
                    ep.uri,
                    describe(&e)
                )
            } else {
                format!(
                    "cannot reach {} ({}); check that the receiver runs and is reachable from the broker",
                    ep.uri,
                    describe(&e)
                )
            }
        })?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!(
                "{} answered HTTP {status}; a receiver must answer 2xx to acknowledge a notification",
                ep.uri
            ))
        }
    }
}
