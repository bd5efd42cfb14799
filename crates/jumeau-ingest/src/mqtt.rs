//! Subscription to the network servers' MQTT topics on an external broker (Mosquitto).
//!
//! QoS 1 with a persistent session (`clean_session = false`) and manual acknowledgements:
//! a publish is acknowledged to the broker only once it is journaled, so a message received
//! just before a crash is delivered again at the next connection; while Jumeau is stopped,
//! the broker keeps the messages of its session. The client reconnects by itself after a
//! broker restart (backing off up to 5 s) and subscribes again on every connection, since a
//! broker without persistence forgets subscriptions.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use tokio::sync::{mpsc, watch};

use crate::message::Transport;
use crate::service::{Incoming, IngestService};
use crate::uplink::{parse_topic, NetworkServer, TopicInfo};

/// The topics subscribed to by default: every ChirpStack v4 event and every The Things
/// Stack v3 upstream message.
pub const DEFAULT_TOPICS: [&str; 2] = ["application/+/device/+/event/+", "v3/+/devices/+/+"];

/// Most publishes journaled in one transaction (one journal entry).
const JOURNAL_BATCH: usize = 5000;

/// The `kind` of a journal entry holding a batch of publishes (see [`encode_batch`]): a
/// topic name never contains `#`, so no single publish has it.
pub(crate) const BATCH_KIND: &str = "#batch";

/// Encodes publishes (topic, payload) as the body of one journal entry: for each, the
/// length of the topic (4 bytes, little-endian), the topic, the length of the payload, the
/// payload. One entry per batch instead of one per publish: a batch is journaled, and later
/// marked processed, with one row.
pub(crate) fn encode_batch(messages: &[(&str, &[u8])]) -> Vec<u8> {
    let size = messages.iter().map(|(t, p)| 8 + t.len() + p.len()).sum();
    let mut out = Vec::with_capacity(size);
    for (topic, payload) in messages {
        for part in [topic.as_bytes(), payload] {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&part[..len as usize]);
        }
    }
    out
}

/// Reads back the publishes of [`encode_batch`]; `None` when the body is damaged.
pub(crate) fn decode_batch(mut body: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    fn part<'a>(body: &mut &'a [u8]) -> Option<&'a [u8]> {
        let (len, rest) = body.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        let (part, rest) = (rest.get(..len)?, rest.get(len..)?);
        *body = rest;
        Some(part)
    }
    let mut out = Vec::new();
    while !body.is_empty() {
        let topic = std::str::from_utf8(part(&mut body)?).ok()?.to_string();
        out.push((topic, part(&mut body)?.to_vec()));
    }
    Some(out)
}

/// One broker to subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttSource {
    /// Host name or address.
    pub host: String,
    /// Port (1883 by default).
    pub port: u16,
    /// The tenant the messages are for.
    pub tenant: String,
    /// The MQTT client id; keep it stable, the broker keeps the session under it.
    pub client_id: String,
    /// Topic filters.
    pub topics: Vec<String>,
    /// User name and password, if the broker asks for them.
    pub credentials: Option<(String, String)>,
}

impl MqttSource {
    /// Reads `mqtt://[user:password@]host[:port][?tenant=T&client_id=C&topic=F&topic=G]`.
    ///
    /// # Errors
    ///
    /// A reason when the URL is not of that form.
    pub fn parse(url: &str) -> Result<Self, String> {
        let hint = "write it as mqtt://[user:password@]host[:port][?tenant=NAME&client_id=ID&topic=FILTER]";
        let rest = url.strip_prefix("mqtt://").ok_or_else(|| {
            format!("'{url}' is not an mqtt:// URL (TLS is not supported); {hint}")
        })?;
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.trim_end_matches('/');
        let (credentials, hostport) = match authority.rsplit_once('@') {
            Some((cred, hp)) => {
                let (u, p) = cred.split_once(':').unwrap_or((cred, ""));
                (Some((u.to_string(), p.to_string())), hp)
            }
            None => (None, authority),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("'{p}' is not a port number in '{url}'; {hint}"))?,
            ),
            None => (hostport, 1883),
        };
        if host.is_empty() {
            return Err(format!("'{url}' names no host; {hint}"));
        }
        let mut source = Self {
            host: host.to_string(),
            port,
            tenant: jumeau_twin::DEFAULT_TENANT.to_string(),
            client_id: format!("jumeau-{}", host.replace(['.', ':'], "-")),
            topics: Vec::new(),
            credentials,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "tenant" => {
                    jumeau_twin::validate_tenant(v).map_err(|e| e.detail)?;
                    source.tenant = v.to_string();
                }
                "client_id" if !v.is_empty() => source.client_id = v.to_string(),
                "topic" if !v.is_empty() => source
                    .topics
                    .push(v.replace("%23", "#").replace("%2B", "+")),
                _ => {
                    return Err(format!(
                        "unknown or empty parameter '{k}' in '{url}'; {hint}"
                    ))
                }
            }
        }
        if source.topics.is_empty() {
            source.topics = DEFAULT_TOPICS.iter().map(|t| t.to_string()).collect();
        }
        Ok(source)
    }
}

/// Which network server publishes on a topic (ChirpStack when unknown: the parser reports
/// the topic as the reason of the dead letter).
pub(crate) fn source_of(topic: &str) -> NetworkServer {
    match parse_topic(topic) {
        Some(TopicInfo::TheThingsStack { .. }) => NetworkServer::TheThingsStack,
        _ if topic.starts_with("v3/") => NetworkServer::TheThingsStack,
        _ => NetworkServer::ChirpStack,
    }
}

/// Runs the subscription until `stop` turns true.
pub(crate) async fn run(
    service: IngestService,
    source: MqttSource,
    mut stop: watch::Receiver<bool>,
) {
    let mut options = MqttOptions::new(source.client_id.clone(), source.host.clone(), source.port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_max_packet_size(1024 * 1024, 64 * 1024)
        .set_inflight(100);
    if let Some((u, p)) = &source.credentials {
        options.set_credentials(u.clone(), p.clone());
    }
    let (client, mut eventloop) = AsyncClient::new(options, 20_000);
    // Unbounded, so that the event loop never waits on the journal: it must keep polling to
    // send the acknowledgements the journal loop queues (a bounded channel can deadlock the
    // two). The broker bounds it: it sends at most `max_inflight_messages` unacknowledged
    // publishes (Mosquitto: 20 by default).
    // Each publish goes with the time it was received, its receipt time in the journal.
    let (tx, rx) = mpsc::unbounded_channel::<(Publish, DateTime<Utc>)>();
    let journal = tokio::spawn(journal_loop(service, source.clone(), client.clone(), rx));
    let mut failures = 0u32;
    loop {
        let event = tokio::select! {
            e = eventloop.poll() => e,
            _ = stop.wait_for(|s| *s) => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                failures = 0;
                tracing::info!(
                    "MQTT connected to {}:{} (session present: {}); subscribing to {}",
                    source.host,
                    source.port,
                    ack.session_present,
                    source.topics.join(", ")
                );
                let filters = source
                    .topics
                    .iter()
                    .map(|t| rumqttc::SubscribeFilter::new(t.clone(), QoS::AtLeastOnce));
                if let Err(e) = client.try_subscribe_many(filters) {
                    tracing::warn!("cannot queue the MQTT subscription: {e}");
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if tx.send((p, Utc::now())).is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                failures = failures.saturating_add(1);
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(
                        "MQTT connection to {}:{} failed ({e}); reconnecting",
                        source.host,
                        source.port
                    );
                }
                let backoff =
                    Duration::from_millis(100u64.saturating_mul(u64::from(failures.min(50))));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        }
    }
    journal.abort();
}

/// Journals received publishes in batches, then acknowledges them.
async fn journal_loop(
    service: IngestService,
    source: MqttSource,
    client: AsyncClient,
    mut rx: mpsc::UnboundedReceiver<(Publish, DateTime<Utc>)>,
) {
    while let Some(first) = rx.recv().await {
        let mut publishes = vec![first];
        while publishes.len() < JOURNAL_BATCH {
            match rx.try_recv() {
                Ok(p) => publishes.push(p),
                Err(_) => break,
            }
        }
        let batch: Vec<Incoming> = publishes
            .iter()
            .map(|(p, received_at)| Incoming {
                source: source_of(&p.topic),
                transport: Transport::Mqtt,
                kind: p.topic.clone(),
                body: p.payload.to_vec(),
                received_at: *received_at,
            })
            .collect();
        let started = Utc::now();
        loop {
            match service.receive(&source.tenant, batch.clone()).await {
                Ok(_) => break,
                Err(crate::service::IngestError::Stopping) => return,
                Err(e) => {
                    tracing::warn!("cannot journal MQTT messages (retrying): {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        for (p, _) in &publishes {
            if client.ack(p).await.is_err() {
                return;
            }
        }
        if let Some((p, oldest)) = publishes.first() {
            tracing::debug!(
                "{} publishes (QoS {:?}) journaled and acknowledged: waited {} ms, journaled in {} ms",
                publishes.len(),
                p.qos,
                (started - *oldest).num_milliseconds(),
                (Utc::now() - started).num_milliseconds()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_of_publishes_read_back_whole_and_damage_is_told() {
        let messages: Vec<(&str, &[u8])> = vec![
            ("application/a/device/0101/event/up", &b"{\"x\":1}"[..]),
            ("v3/app@t/devices/d/up", &b""[..]),
        ];
        let body = encode_batch(&messages);
        let back = decode_batch(&body).expect("whole");
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].0, messages[0].0);
        assert_eq!(back[0].1, messages[0].1);
        assert!(back[1].1.is_empty());
        assert_eq!(decode_batch(&[]), Some(Vec::new()));
        assert!(decode_batch(&body[..body.len() - 1]).is_none());
        assert!(decode_batch(&[9, 0, 0, 0, b'a']).is_none());
        assert!(decode_batch(&[0xff, 0xff, 0xff, 0xff]).is_none());
    }

    #[test]
    fn broker_urls_are_read_with_their_options() {
        let s = MqttSource::parse("mqtt://u:p@broker.local:1884/?tenant=city-a&client_id=j1")
            .expect("valid");
        assert_eq!((s.host.as_str(), s.port), ("broker.local", 1884));
        assert_eq!(s.tenant, "city-a");
        assert_eq!(s.client_id, "j1");
        assert_eq!(s.credentials, Some(("u".into(), "p".into())));
        assert_eq!(s.topics.len(), 2);
        assert!(MqttSource::parse("mqtts://x").is_err());
        assert!(MqttSource::parse("mqtt://x:port").is_err());
        assert!(MqttSource::parse("mqtt://x?colour=red").is_err());
        assert_eq!(
            MqttSource::parse("mqtt://127.0.0.1").map(|s| s.port),
            Ok(1883)
        );
    }
}
