//! Live readings while the demo serves: the territory's devices are registered with the
//! ingestion service, and a simulated ChirpStack v4 network server hands it one uplink
//! event at a time (the message its HTTP integration posts to `/ingest/chirpstack`), so
//! readings take the real path: journal, decoding, mapping, plausibility checks, entity
//! update, history and live views.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use jumeau_ingest::message::Transport;
use jumeau_ingest::uplink::NetworkServer;
use jumeau_ingest::{Incoming, IngestService};
use jumeau_store::ingest::{DeviceRecord, FieldMapping};
use serde_json::{json, Map, Value};

use super::model::{self, At, Scenario};
use super::territory::{Device, Series, CORE};

/// Time between two uplinks of the whole fleet (a few per second).
pub const PERIOD: Duration = Duration::from_millis(400);

/// Plausible range of a reading, by attribute, for the ingestion's checks.
fn range(attr: &str) -> (f64, f64) {
    match attr {
        "temperature" => (-30.0, 60.0),
        "co2" => (300.0, 5000.0),
        "relativeHumidity" => (0.0, 1.0),
        "precipitation" => (0.0, 200.0),
        "currentLevel" => (0.0, 12.0),
        "pressure" => (0.0, 150.0),
        "flow" => (0.0, 1000.0),
        "level" => (0.0, 10.0),
        _ => (-1e9, 1e9),
    }
}

/// Registers every device of the territory (idempotent: a registration is replaced).
pub async fn register(
    ingest: &IngestService,
    tenant: &str,
    devices: &[Device],
    series: &[Series],
) -> anyhow::Result<()> {
    let interval = (PERIOD.as_millis() as u64 * devices.len() as u64).div_ceil(1000) + 5;
    for d in devices {
        let Some(&(_, first)) = d.fields.first() else {
            continue;
        };
        let s = &series[first];
        let mappings = d
            .fields
            .iter()
            .map(|&(field, i)| {
                let (min, max) = range(series[i].attr);
                FieldMapping {
                    field: field.to_string(),
                    attribute: series[i].attr.to_string(),
                    unit_code: Some(series[i].unit.to_string()),
                    scale: None,
                    min: Some(min),
                    max: Some(max),
                    on_device: false,
                }
            })
            .collect();
        let record = DeviceRecord {
            dev_eui: d.dev_eui.clone(),
            entity_id: s.entity.clone(),
            entity_type: s.entity_type.to_string(),
            profile: None,
            context: (s.context != CORE).then(|| s.context.to_string()),
            name: Some(d.name.clone()),
            interval_seconds: Some(interval),
            mappings,
            created_at: None,
            modified_at: None,
        };
        ingest
            .put_device(tenant, record)
            .await
            .map_err(|e| anyhow::anyhow!("cannot register the demo device {}: {e}", d.dev_eui))?;
    }
    Ok(())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (the `data` field of ChirpStack events).
fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The ChirpStack v4 `up` event a device sends now: decoded values in `object` (the
/// device profile's codec), the raw payload in `data` (each value ×100 as a big-endian
/// 32-bit integer), radio metadata from one gateway.
pub fn uplink(d: &Device, series: &[Series], scenario: &Scenario, fcnt: u32) -> Value {
    let now = Utc::now();
    let at = At::new(now);
    let mut object = Map::new();
    let mut payload = Vec::new();
    for &(field, i) in &d.fields {
        let s = &series[i];
        let k = model::key(&s.entity) ^ model::key(s.attr);
        let v = s.signal.sample(scenario, &at, k);
        object.insert(field.to_string(), json!(v));
        payload.extend_from_slice(&((v * 100.0).round() as i32).to_be_bytes());
    }
    let radio = model::noise(model::key(&d.dev_eui), i64::from(fcnt));
    json!({
        "deduplicationId": format!("{}-{:04x}-4000-8000-{:012x}", &d.dev_eui[8..], fcnt & 0xffff, u64::from(fcnt)),
        "time": now.to_rfc3339_opts(SecondsFormat::Micros, true),
        "deviceInfo": {
            "tenantId": "0b2d4e5c-8f61-4c3a-9d7e-26108c0e0001",
            "tenantName": "Commune de Crest",
            "applicationId": "5f0c7a1e-3b2d-4e8f-a6c9-26108c0e0002",
            "applicationName": "Capteurs de la commune",
            "deviceProfileId": "9a8b7c6d-5e4f-4a3b-8c2d-26108c0e0003",
            "deviceProfileName": d.profile,
            "deviceName": d.name,
            "devEui": d.dev_eui,
            "tags": {"commune": "Crest"}
        },
        "devAddr": format!("26{}", &d.dev_eui[10..]),
        "adr": true,
        "dr": 5,
        "fCnt": fcnt,
        "fPort": 2,
        "confirmed": false,
        "data": base64(&payload),
        "object": object,
        "rxInfo": [{
            "gatewayId": "7076ff0064030b1e",
            "uplinkId": fcnt,
            "time": now.to_rfc3339_opts(SecondsFormat::Micros, true),
            "rssi": -95 + (12.0 * radio).round() as i64,
            "snr": ((6.5 + 3.0 * radio) * 10.0).round() / 10.0,
            "channel": 2,
            "context": "AAAAAA==",
            "metadata": {"region_config_id": "eu868", "region_common_name": "EU868"},
            "crcStatus": "CRC_OK"
        }],
        "txInfo": {
            "frequency": 868_500_000,
            "modulation": {"lora": {"bandwidth": 125_000, "spreadingFactor": 7, "codeRate": "CR_4_5"}}
        }
    })
}

/// Sends one uplink every [`PERIOD`], device after device, for ever (the task is aborted
/// when the server stops). A refused message is logged, never fatal.
pub async fn run(
    ingest: IngestService,
    tenant: String,
    devices: Vec<Device>,
    series: Vec<Series>,
    scenario: Scenario,
) {
    if devices.is_empty() {
        return;
    }
    let mut every = tokio::time::interval(PERIOD);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Frame counters go on from where a previous run left them (one frame per period).
    let mut fcnt = (Utc::now().timestamp()
        / (PERIOD.as_millis() as i64 * devices.len() as i64 / 1000).max(1))
        as u32;
    let mut next = 0usize;
    loop {
        every.tick().await;
        let d = &devices[next];
        let body = uplink(d, &series, &scenario, fcnt);
        let incoming = Incoming {
            source: NetworkServer::ChirpStack,
            transport: Transport::Http,
            kind: "up".into(),
            body: body.to_string().into_bytes(),
            received_at: Utc::now(),
        };
        match ingest.receive(&tenant, vec![incoming]).await {
            Ok(receipts) => {
                for r in receipts.iter().flat_map(|r| &r.rejected) {
                    tracing::warn!("demo uplink of {} refused: {}", d.dev_eui, r.2);
                }
            }
            Err(e) => {
                tracing::debug!("demo uplinks stop: {e}");
                return;
            }
        }
        next += 1;
        if next == devices.len() {
            next = 0;
            fcnt = fcnt.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_the_payload() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xaa]), "qg==");
    }
}
