//! Durability: writes acknowledged by `jumeau serve` survive `kill -9`.
//!
//! A write load runs against the real binary; the process is killed with SIGKILL while
//! writes are in flight; after a restart on the same data directory, every entity whose
//! creation was acknowledged must be there.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ADMIN_KEY: &str = "crash-test-admin-key-0123456789";

/// Starts the server and returns it with its address, read from its log.
fn start(data: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jumeau"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("JUMEAU_ADMIN_KEY", ADMIN_KEY)
        .env("JUMEAU_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the jumeau binary starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server logs its address")
            .expect("readable log");
        if let Some(rest) = line.split("listens on http://").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .expect("an address")
                .to_string();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

fn entity(i: usize) -> serde_json::Value {
    serde_json::json!({
        "id": format!("urn:ngsi-ld:Streetlight:crash-{i}"),
        "type": "Streetlight",
        "powerRating": {"type": "Property", "value": i, "unitCode": "WTT"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [5.02 + (i % 100) as f64 * 1e-4, 44.72]}}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, addr) = start(dir.path());
    let base = format!("http://{addr}/ngsi-ld/v1");
    let client = reqwest::Client::new();
    let acked: Arc<Mutex<Vec<usize>>> = Arc::default();

    let mut writers = Vec::new();
    for w in 0..8usize {
        let (client, base, acked) = (client.clone(), base.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for n in 0.. {
                let first = (w * 1_000_000) + n * 10;
                let batch: Vec<_> = (first..first + 10).map(entity).collect();
                let r = client
                    .post(format!("{base}/entityOperations/upsert"))
                    .header("NGSILD-Tenant", "crash")
                    .bearer_auth(ADMIN_KEY)
                    .json(&batch)
                    .send()
                    .await;
                match r {
                    Ok(resp) if resp.status().as_u16() == 201 || resp.status().as_u16() == 204 => {
                        acked.lock().expect("lock").extend(first..first + 10);
                    }
                    _ => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().expect("SIGKILL the server");
    child.wait().expect("reap the server");
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 100,
        "the load acknowledged only {} writes",
        acked.len()
    );

    let (mut child, addr) = start(dir.path());
    let base = format!("http://{addr}/ngsi-ld/v1");
    let r = client
        .get(format!(
            "{base}/entities?type=Streetlight&count=true&limit=0"
        ))
        .header("NGSILD-Tenant", "crash")
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .expect("query after restart");
    assert_eq!(r.status().as_u16(), 200);
    let count: usize = r.headers()["ngsild-results-count"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("number");
    assert!(
        count >= acked.len(),
        "{count} entities after restart, {} acknowledged",
        acked.len()
    );
    for i in acked.iter().step_by(7) {
        let r = client
            .get(format!("{base}/entities/urn:ngsi-ld:Streetlight:crash-{i}"))
            .header("NGSILD-Tenant", "crash")
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .expect("get after restart");
        assert_eq!(
            r.status().as_u16(),
            200,
            "acknowledged entity crash-{i} is missing"
        );
    }
    child.kill().expect("stop the server");
    let _ = child.wait();
}
