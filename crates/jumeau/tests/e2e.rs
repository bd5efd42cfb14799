//! End-to-end test of the web interface: builds a small demo territory in a temporary
//! directory, serves it with the real binary, and runs `e2e/run.mjs` (headless Chromium
//! through playwright-core, axe-core) against it.
//!
//! It needs node, Debian's chromium and `npm ci --prefix e2e`; `.ci/run` installs them.
//! Where they are missing the test says so and passes, except under CI (`CI` set).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Kills the server even when an assertion fails.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn web_interface_end_to_end() {
    if jumeau_testkit::skip_without_browser("the web interface's end-to-end test") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let key = format!("e2e-admin-{nanos:032x}");
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("server.log");
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_jumeau"))
            .args(["demo", "--size", "small", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data")
            .arg(dir.path().join("data"))
            .env("JUMEAU_ADMIN_KEY", &key)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("server log file"))
            .spawn()
            .expect("start jumeau demo"),
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "jumeau demo did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let shots = jumeau_testkit::workspace_root().join("target/e2e-screenshots");
    let out = Command::new("node")
        .arg(jumeau_testkit::workspace_root().join("e2e/run.mjs"))
        .arg(&base)
        .arg(&shots)
        .env("JUMEAU_KEY", &key)
        .env("CHROMIUM", jumeau_testkit::chromium())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the end-to-end script failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
