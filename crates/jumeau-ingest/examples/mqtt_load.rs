//! Load generator for the MQTT ingestion benchmark (docs/benchmarks.md, "Ingestion").
//!
//! Publishes ChirpStack v4 `up` events (QoS 1, decoded objects as ChirpStack writes them)
//! for `--devices` devices on a broker, as fast as the broker acknowledges them (or at
//! `--rate` messages per second in all, evenly spaced: an offered load, for latency at a given
//! throughput rather than under overload), and prints `RESULT published=N seconds=S rate=R`. Only for a broker on this machine: the host must
//! be a loopback address.
//!
//! ```text
//! cargo run --release -p jumeau-ingest --example mqtt_load -- --port 1883 --devices 1000 --messages 200000
//! ```

use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

struct Args {
    host: String,
    port: u16,
    devices: u32,
    messages: u32,
    first_f_cnt: u32,
    clients: u32,
    /// Messages per second over all clients; 0: as fast as possible.
    rate: u32,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 1883,
        devices: 1000,
        messages: 100_000,
        first_f_cnt: 1,
        clients: 2,
        rate: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = || {
            value
                .parse::<u32>()
                .map_err(|_| format!("{flag}: '{value}' is not a number"))
        };
        match flag.as_str() {
            "--host" => a.host = value.clone(),
            "--port" => a.port = u16::try_from(num()?).map_err(|_| "--port: too large".to_string())?,
            "--devices" => a.devices = num()?.max(1),
            "--messages" => a.messages = num()?,
            "--first-fcnt" => a.first_f_cnt = num()?,
            "--clients" => a.clients = num()?.max(1),
            "--rate" => a.rate = num()?,
            other => return Err(format!("unknown option {other}; options: --host --port --devices --messages --first-fcnt --clients --rate")),
        }
    }
    if !(a.host == "localhost" || a.host.starts_with("127.") || a.host == "::1") {
        return Err("the load generator only targets a broker on this machine (127.0.0.1)".into());
    }
    Ok(a)
}

/// The body ChirpStack publishes for uplink `k`.
fn body(dev: u32, f_cnt: u32, k: u32) -> (String, String) {
    let eui = format!("{:016x}", 0x00b0_0000_0000_0000u64 + u64::from(dev));
    // The reception time is the current time, as ChirpStack stamps it.
    let t = chrono::Utc::now();
    let body = serde_json::json!({
        "deduplicationId": format!("00000000-0000-0000-0000-{k:012}"),
        "time": t.to_rfc3339(),
        "deviceInfo": {"tenantId": "t", "applicationId": "bench", "devEui": eui, "deviceName": "", "tags": {}},
        "devAddr": "", "adr": false, "dr": 5, "fCnt": f_cnt, "fPort": 1, "confirmed": false,
        "data": "AQDiBgMI",
        "object": {"temperature": 20.0 + f64::from(k % 50) / 10.0, "co2": f64::from(400 + k % 600)},
        "rxInfo": [{"gatewayId": "0016c001f153a14c", "rssi": -70, "snr": 7.5}]
    });
    (
        format!("application/bench/device/{eui}/event/up"),
        body.to_string(),
    )
}

async fn publish(args: &Args, client_no: u32, count: u32) -> Result<(), String> {
    let mut o = MqttOptions::new(
        format!("jumeau-load-{client_no}-{}", std::process::id()),
        args.host.clone(),
        args.port,
    );
    o.set_keep_alive(Duration::from_secs(30))
        .set_inflight(1000)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(o, 10_000);
    let waiter = tokio::spawn(async move {
        let mut acked = 0u32;
        while acked < count {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => return Err(format!("broker connection failed: {e}")),
            }
        }
        Ok(())
    });
    // Each client sends its share of the rate, on a fixed schedule (not after each send), so
    // that a slow moment is caught up rather than lowering the offered load.
    let started = Instant::now();
    let spacing = (args.rate > 0)
        .then(|| Duration::from_secs_f64(f64::from(args.clients) / f64::from(args.rate)));
    for i in 0..count {
        if let Some(gap) = spacing {
            let due = started + gap * i;
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        let k = i * args.clients + client_no;
        let dev = k % args.devices;
        let f_cnt = args.first_f_cnt + k / args.devices;
        let (topic, payload) = body(dev, f_cnt, k);
        client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| e.to_string())?;
    }
    waiter.await.map_err(|e| e.to_string())?
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let args = std::sync::Arc::new(args);
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let a = args.clone();
        let count = a.messages / a.clients + u32::from(c < a.messages % a.clients);
        tasks.push(tokio::spawn(async move { publish(&a, c, count).await }));
    }
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let s = started.elapsed().as_secs_f64();
    println!(
        "RESULT published={} seconds={s:.3} rate={:.0}",
        args.messages,
        f64::from(args.messages) / s
    );
    std::process::ExitCode::SUCCESS
}
