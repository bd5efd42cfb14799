//! A TALQ-style driver: JSON over HTTP between the twin (the central management system) and a
//! lighting gateway.
//!
//! TALQ (v2.5.1, 2023) defines REST/JSON exchanges where the CMS sets attributes of the
//! gateway's functions; switching and dimming is the `targetLightCommand` of a lamp actuator.
//! This driver follows that shape without claiming certification; the wire format is:
//!
//! ```text
//! POST {base_url}/commands            (Authorization: Bearer <token> when set)
//! {"commandId": "cmd-7", "target": {"kind": "cabinet", "id": "A1"},
//!  "function": "LampActuator", "attribute": "targetLightCommand",
//!  "value": {"lightState": "on", "level": 40.0}}
//!
//! 200/202 {"commandId": "cmd-7", "status": "applied", "level": 40.0,
//!          "appliedAt": "2025-01-10T21:00:03Z"}
//!      or {"commandId": "cmd-7", "status": "rejected", "reason": "unknown group"}
//! ```
//!
//! No answer, a timeout, 408, 429 or a 5xx status is [`DriverError::Unreachable`] (worth
//! retrying); another 4xx status, a `rejected` status or an answer that cannot be read is
//! [`DriverError::Rejected`].
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{Acknowledgement, Action, Command, DriverError, LightingDriver, Target};

/// Why a TALQ-style driver could not be set up: caught at start, before any command is
/// sent, so that a misconfigured gateway is fixed before the first switch-on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The gateway address is not a usable `http` or `https` URL.
    #[error(
        "the lighting gateway URL '{url}' is not usable: {reason}; give the gateway's base \
         URL, such as https://gateway.example/talq (commands go to <URL>/commands)"
    )]
    InvalidUrl {
        /// The address as given (never one holding credentials: those are not echoed).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL holds a user name or password, which would show in logs and the process
    /// list.
    #[error(
        "the lighting gateway URL holds a user name or password; remove them from the URL \
         and give the gateway's bearer token in JUMEAU_LIGHTING_GATEWAY_TOKEN instead"
    )]
    CredentialsInUrl,
    /// The per-request timeout is zero.
    #[error("the lighting gateway timeout must be at least 1 second")]
    ZeroTimeout,
    /// The HTTP client could not be built (TLS set-up of the platform).
    #[error("the HTTP client of the lighting gateway could not be built: {0}")]
    Client(String),
}

/// The TALQ-style HTTP driver.
#[derive(Clone)]
pub struct TalqDriver {
    base_url: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl std::fmt::Debug for TalqDriver {
    /// Shows the gateway, never the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TalqDriver")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl TalqDriver {
    /// A driver for the gateway at `base_url` (`https://gateway.example/talq`), with an
    /// optional bearer token and a per-request timeout.
    ///
    /// The URL is checked here rather than at the first command: it must be `http` or
    /// `https`, name a host, and hold neither credentials (the token is for that), a query
    /// nor a fragment (commands are posted to `<base_url>/commands`).
    pub fn new(
        base_url: impl Into<String>,
        token: Option<String>,
        timeout: Duration,
    ) -> Result<Self, GatewayError> {
        let given = base_url.into();
        let trimmed = given.trim();
        let invalid = |reason: &str| GatewayError::InvalidUrl {
            url: trimmed.to_string(),
            reason: reason.to_string(),
        };
        let url = reqwest::Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(GatewayError::CredentialsInUrl);
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(&format!(
                "the scheme is '{}', not http or https",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it names no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("it holds a query or a fragment"));
        }
        if timeout.is_zero() {
            return Err(GatewayError::ZeroTimeout);
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| GatewayError::Client(e.to_string()))?;
        Ok(Self {
            base_url: url.as_str().trim_end_matches('/').to_string(),
            token: token.filter(|t| !t.trim().is_empty()),
            client,
        })
    }

    /// The gateway's base URL, as commands are posted under it.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The request body for a command.
    pub fn body(command: &Command) -> Value {
        let (kind, id) = match &command.target {
            Target::Cabinet(id) => ("cabinet", id),
            Target::Group(id) => ("group", id),
        };
        let state = if matches!(command.action, Action::Off) || command.action.level_pct() <= 0.0 {
            "off"
        } else {
            "on"
        };
        json!({
            "commandId": command.id,
            "target": {"kind": kind, "id": id},
            "function": "LampActuator",
            "attribute": "targetLightCommand",
            "value": {"lightState": state, "level": command.action.level_pct()},
        })
    }
}

#[async_trait::async_trait]
impl LightingDriver for TalqDriver {
    async fn send(&self, command: &Command) -> Result<Acknowledgement, DriverError> {
        let target = command.target.clone();
        let unreachable = |reason: String| DriverError::Unreachable {
            target: target.clone(),
            reason,
        };
        let rejected = |reason: String| DriverError::Rejected {
            target: target.clone(),
            reason,
        };
        let body = serde_json::to_vec(&Self::body(command)).map_err(|e| rejected(e.to_string()))?;
        let mut req = self
            .client
            .post(format!("{}/commands", self.base_url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = req.send().await.map_err(|e| unreachable(e.to_string()))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| unreachable(e.to_string()))?;
        let text = String::from_utf8_lossy(&bytes);
        if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            return Err(unreachable(format!("HTTP {status}: {text}")));
        }
        if !status.is_success() {
            return Err(rejected(format!("HTTP {status}: {text}")));
        }
        let answer: Value = serde_json::from_slice(&bytes)
            .map_err(|e| rejected(format!("unreadable answer ({e}): {text}")))?;
        match answer.get("status").and_then(Value::as_str) {
            Some("applied") | Some("accepted") => {}
            Some("rejected") => {
                let reason = answer
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("no reason given");
                return Err(rejected(reason.to_string()));
            }
            other => return Err(rejected(format!("unexpected status {other:?} in {text}"))),
        }
        if answer.get("commandId").and_then(Value::as_str) != Some(command.id.as_str()) {
            return Err(rejected(format!(
                "the answer is for another command: {text}"
            )));
        }
        let at = answer
            .get("appliedAt")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
        Ok(Acknowledgement {
            command_id: command.id.clone(),
            target,
            level_pct: answer
                .get("level")
                .and_then(Value::as_f64)
                .unwrap_or(command.action.level_pct()),
            at,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-shot HTTP server answering `status` and a body built from the request body.
    async fn serve_once(
        status: &'static str,
        answer: impl Fn(Value) -> Value + Send + 'static,
    ) -> (String, tokio::task::JoinHandle<Value>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/talq", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let body = loop {
                let n = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        assert!(text.starts_with("POST /talq/commands"), "{text}");
                        break serde_json::from_slice::<Value>(&buf[end + 4..end + 4 + len])
                            .unwrap();
                    }
                }
            };
            let out = answer(body.clone()).to_string();
            let resp = format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{out}", out.len());
            sock.write_all(resp.as_bytes()).await.unwrap();
            body
        });
        (url, handle)
    }

    fn command() -> Command {
        Command {
            id: "cmd-1".into(),
            target: Target::Group("G1".into()),
            action: Action::Dim { level_pct: 40.0 },
        }
    }

    #[tokio::test]
    async fn acknowledged_commands() {
        let (url, server) = serve_once("200 OK", |req| json!({"commandId": req["commandId"], "status": "applied", "level": 40.0, "appliedAt": "2025-01-10T21:00:03Z"})).await;
        let driver = TalqDriver::new(url, Some("secret".into()), Duration::from_secs(5)).unwrap();
        let ack = driver.send(&command()).await.unwrap();
        assert_eq!(ack.level_pct, 40.0);
        assert_eq!(ack.at.to_rfc3339(), "2025-01-10T21:00:03+00:00");
        let sent = server.await.unwrap();
        assert_eq!(sent["target"], json!({"kind": "group", "id": "G1"}));
        assert_eq!(sent["value"], json!({"lightState": "on", "level": 40.0}));
    }

    #[test]
    fn bad_gateway_urls_are_refused_at_construction() {
        let t = Duration::from_secs(5);
        for bad in [
            "gateway.example",
            "ftp://gateway.example/talq",
            "http://",
            "http://gw/talq?x=1",
        ] {
            let err = TalqDriver::new(bad, None, t).unwrap_err();
            assert!(
                matches!(err, GatewayError::InvalidUrl { .. })
                    && err.to_string().contains("https://gateway.example/talq"),
                "{bad}: {err}"
            );
        }
        let err = TalqDriver::new("https://user:pw@gw.example/talq", None, t).unwrap_err();
        assert_eq!(err, GatewayError::CredentialsInUrl);
        assert!(!err.to_string().contains("pw@"), "{err}");
        assert_eq!(
            TalqDriver::new("https://gw.example/talq", None, Duration::ZERO).unwrap_err(),
            GatewayError::ZeroTimeout
        );
        let ok = TalqDriver::new(" https://gw.example/talq/ ", Some("s3cret".into()), t).unwrap();
        assert_eq!(ok.base_url(), "https://gw.example/talq");
        assert!(
            !format!("{ok:?}").contains("s3cret"),
            "the token never shows"
        );
    }

    #[tokio::test]
    async fn errors_are_classified() {
        let (url, _s) = serve_once("503 Service Unavailable", |_| json!({})).await;
        let err = TalqDriver::new(url, None, Duration::from_secs(5))
            .unwrap()
            .send(&command())
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
        let (url, _s) = serve_once("200 OK", |req| json!({"commandId": req["commandId"], "status": "rejected", "reason": "unknown group"})).await;
        let err = TalqDriver::new(url, None, Duration::from_secs(5))
            .unwrap()
            .send(&command())
            .await
            .unwrap_err();
        assert!(
            !err.is_retryable() && err.to_string().contains("unknown group"),
            "{err}"
        );
        // Nobody listening.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let err = TalqDriver::new(url, None, Duration::from_secs(5))
            .unwrap()
            .send(&command())
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }
}
