//! Delivery over MQTT (the MQTT notification binding of ETSI GS CIM 009): the endpoint
//! `mqtt://[user:password@]host[:port]/topic` receives
//! `{"metadata": {...headers...}, "body": <notification>}` on `topic`, with the QoS of
//! notifierInfo `MQTT-QoS` (0 unless given).
//!
//! One client per broker, driven by a task of its own; a lost connection is dropped, and the
//! next notification for that broker connects again (nothing reconnects while idle, and a
//! connection unused for five minutes is closed). A
//! failed publication is never resent by the client itself: the outbox retries it, so a
//! notification is not published twice by a half-open session.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS,
};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use super::envelope::Envelope;

/// The MQTT port when the endpoint names none.
const DEFAULT_PORT: u16 = 1883;
/// How long a publication may take (connection included) when the endpoint sets no
/// `timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Keep-alive of broker connections.
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// A connection unused this long is closed (the next notification opens another).
const IDLE_CLOSE: Duration = Duration::from_secs(300);
/// Largest notification published, in bytes.
const MAX_PACKET: usize = 16 * 1024 * 1024;

/// One publication for a broker's task.
struct Job {
    topic: String,
    qos: QoS,
    payload: Vec<u8>,
    timeout: Duration,
    reply: oneshot::Sender<Result<(), String>>,
}

/// Where an MQTT endpoint points.
#[derive(Debug, PartialEq)]
struct Target {
    /// host:port and user, which identify the connection.
    key: String,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
    topic: String,
}

/// Reads `mqtt://[user:password@]host[:port]/topic`.
fn target(uri: &str) -> Result<Target, String> {
    let url = reqwest::Url::parse(uri)
        .map_err(|e| format!("'{uri}' is not a valid MQTT endpoint URI ({e})"))?;
    match url.scheme() {
        "mqtt" => {}
        "mqtts" => {
            return Err(format!(
                "{uri}: mqtts (MQTT over TLS) is not supported by this broker yet; use mqtt:// on a trusted network"
            ))
        }
        other => return Err(format!("{uri}: '{other}' is not an MQTT scheme")),
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("{uri} names no MQTT broker host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port().unwrap_or(DEFAULT_PORT);
    let topic = url.path().trim_start_matches('/').to_string();
    if topic.is_empty() || topic.contains(['+', '#']) || url.fragment().is_some() {
        return Err(format!(
            "{uri}: the path must be the topic to publish on, without wildcards (mqtt://host:1883/my/topic)"
        ));
    }
    let credentials = (!url.username().is_empty()).then(|| {
        (
            url.username().to_string(),
            url.password().unwrap_or("").to_string(),
        )
    });
    Ok(Target {
        key: format!("{}@{host}:{port}", url.username()),
        host,
        port,
        credentials,
        topic,
    })
}

/// Checks that notifications can be published to an MQTT endpoint URI; the error says
/// what is wrong with it.
pub(super) fn check_uri(uri: &str) -> Result<(), String> {
    target(uri).map(|_| ())
}

/// The QoS of notifierInfo `MQTT-QoS`.
fn qos(envelope: &Envelope) -> QoS {
    match envelope.endpoint.notifier_info("MQTT-QoS").map(str::trim) {
        Some("1") => QoS::AtLeastOnce,
        Some("2") => QoS::ExactlyOnce,
        _ => QoS::AtMostOnce,
    }
}

/// The message of the binding: the headers HTTP would carry as `metadata`, and the
/// notification as `body`.
fn message(tenant: &str, envelope: &Envelope) -> Value {
    let mut metadata = Map::new();
    metadata.insert(
        "Content-Type".into(),
        Value::String(envelope.content_type().into()),
    );
    if let Some(link) = envelope.link() {
        metadata.insert("Link".into(), Value::String(link));
    }
    if tenant != crate::DEFAULT_TENANT {
        metadata.insert("NGSILD-Tenant".into(), Value::String(tenant.into()));
    }
    for kv in &envelope.endpoint.receiver_info {
        metadata.insert(kv.key.clone(), Value::String(kv.value.clone()));
    }
    serde_json::json!({ "metadata": metadata, "body": envelope.body() })
}

/// Publishes notifications on MQTT brokers, one client per broker.
#[derive(Default)]
pub(super) struct MqttSender {
    brokers: Mutex<HashMap<String, mpsc::UnboundedSender<Job>>>,
}

impl MqttSender {
    /// Publishes one notification and waits for the broker to take it (written for QoS 0,
    /// acknowledged for QoS 1 and 2).
    pub(super) async fn send(&self, tenant: &str, envelope: &Envelope) -> Result<(), String> {
        let uri = &envelope.endpoint.uri;
        let target = target(uri)?;
        let timeout = envelope
            .endpoint
            .timeout
            .filter(|t| t.is_finite() && *t >= 1.0)
            .map(|ms| Duration::from_millis(ms as u64))
            .unwrap_or(DEFAULT_TIMEOUT);
        let (reply, answer) = oneshot::channel();
        let job = Job {
            topic: target.topic.clone(),
            qos: qos(envelope),
            payload: message(tenant, envelope).to_string().into_bytes(),
            timeout,
            reply,
        };
        self.broker(&target)
            .send(job)
            .map_err(|_| "the MQTT client is shutting down".to_string())?;
        answer
            .await
            .map_err(|_| "the MQTT client stopped before publishing".to_string())?
            .map_err(|e| format!("publishing to {uri} failed: {e}"))
    }

    /// The queue of the task of a broker, started on first use.
    fn broker(&self, target: &Target) -> mpsc::UnboundedSender<Job> {
        let mut brokers = match self.brokers.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(tx) = brokers.get(&target.key) {
            if !tx.is_closed() {
                return tx.clone();
            }
        }
        let mut id = [0u8; 6];
        let _ = getrandom::fill(&mut id);
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let mut options = MqttOptions::new(
            format!("jumeau-notifier-{id}"),
            target.host.clone(),
            target.port,
        );
        options
            .set_keep_alive(KEEP_ALIVE)
            .set_clean_session(true)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET);
        if let Some((user, password)) = &target.credentials {
            options.set_credentials(user.clone(), password.clone());
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_broker(options, rx));
        brokers.insert(target.key.clone(), tx.clone());
        tx
    }
}

/// What woke a broker's task.
enum Wake {
    Job(Option<Job>),
    Event,
    Lost(String),
    Idle,
}

/// The task of one broker: publishes jobs one at a time, keeps the connection alive between
/// them, and ends when the sender goes away.
async fn run_broker(options: MqttOptions, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut conn: Option<(AsyncClient, EventLoop)> = None;
    let mut last_used = tokio::time::Instant::now();
    loop {
        let wake = match conn.as_mut() {
            Some((_, events)) => tokio::select! {
                job = jobs.recv() => Wake::Job(job),
                event = events.poll() => match event {
                    Ok(_) => Wake::Event,
                    Err(e) => Wake::Lost(e.to_string()),
                },
                _ = tokio::time::sleep_until(last_used + IDLE_CLOSE) => Wake::Idle,
            },
            None => Wake::Job(jobs.recv().await),
        };
        let job = match wake {
            Wake::Job(Some(job)) => job,
            Wake::Job(None) => return,
            Wake::Event => continue,
            Wake::Lost(e) => {
                tracing::debug!(
                    "MQTT connection to {} lost: {e}",
                    options.broker_address().0
                );
                conn = None;
                continue;
            }
            Wake::Idle => {
                if let Some((client, mut events)) = conn.take() {
                    if client.try_disconnect().is_ok() {
                        let _ = tokio::time::timeout(Duration::from_secs(1), events.poll()).await;
                    }
                }
                continue;
            }
        };
        last_used = tokio::time::Instant::now();
        let (client, events) = conn.get_or_insert_with(|| AsyncClient::new(options.clone(), 16));
        let result = tokio::time::timeout(job.timeout, publish(client, events, &job))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "the broker did not take the message within {} ms",
                    job.timeout.as_millis()
                ))
            });
        if result.is_err() {
            // Start over with a fresh client: the failed message must not go out later.
            conn = None;
        }
        let _ = job.reply.send(result);
    }
}

/// Publishes one message and drives the connection until the broker has taken it.
async fn publish(client: &AsyncClient, events: &mut EventLoop, job: &Job) -> Result<(), String> {
    client
        .try_publish(job.topic.clone(), job.qos, false, job.payload.clone())
        .map_err(|e| format!("the message was refused by the client: {e}"))?;
    loop {
        let event = events.poll().await.map_err(|e| {
            format!("{e}; check that the MQTT broker runs and is reachable from the broker")
        })?;
        match (event, job.qos) {
            (Event::Incoming(Packet::ConnAck(ack)), _)
                if ack.code != ConnectReturnCode::Success =>
            {
                return Err(format!(
                    "the MQTT broker refused the connection ({:?})",
                    ack.code
                ))
            }
            (Event::Outgoing(Outgoing::Publish(_)), QoS::AtMostOnce)
            | (Event::Incoming(Packet::PubAck(_)), QoS::AtLeastOnce)
            | (Event::Incoming(Packet::PubComp(_)), QoS::ExactlyOnce) => return Ok(()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_name_broker_port_credentials_and_topic() {
        let t = target("mqtt://u:p@broker.example:1884/ville/notifs").expect("valid");
        assert_eq!(t.host, "broker.example");
        assert_eq!(t.port, 1884);
        assert_eq!(t.topic, "ville/notifs");
        assert_eq!(t.credentials, Some(("u".into(), "p".into())));
        assert_eq!(target("mqtt://127.0.0.1/t").map(|t| t.port), Ok(1883));
        assert!(target("mqtt://127.0.0.1:1883/").is_err());
        assert!(target("mqtt://127.0.0.1:1883/a/#").is_err());
        assert!(target("mqtt://127.0.0.1:1883/a/+/b").is_err());
        assert!(target("mqtts://127.0.0.1:8883/a")
            .expect_err("mqtts is refused")
            .contains("not supported"));
    }
}
