//! Test helpers for Jumeau: real services started on free loopback ports, so that tests
//! speak to the same programs a deployment does (here, the Mosquitto MQTT broker from
//! Debian's `mosquitto` package, which `.ci/run` installs, and a PostgreSQL + PostGIS
//! cluster that `.ci/postgres` starts).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian installs the broker; `PATH` is tried too.
const MOSQUITTO_PATHS: &[&str] = &["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "mosquitto"];

/// Why a service could not be started.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> Result<u16, StartError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| StartError(format!("no free port on 127.0.0.1: {e}")))
}

/// A Mosquitto broker of its own for one test, on a free port, stopped when dropped.
pub struct Mosquitto {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts a broker on a free loopback port (anonymous access, no persistence) and waits
    /// until it accepts connections.
    pub fn start() -> Result<Self, StartError> {
        let dir = tempfile::tempdir()
            .map_err(|e| StartError(format!("cannot create a folder for the broker: {e}")))?;
        let mut broker = Self {
            port: free_port()?,
            dir,
            child: None,
        };
        broker.launch()?;
        Ok(broker)
    }

    /// The port the broker listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Kills the broker (as a crash would), leaving its port to be reused by [`Self::restart`].
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the broker if it runs, then starts it again on the same port.
    pub fn restart(&mut self) -> Result<(), StartError> {
        self.stop();
        self.launch()
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }

    fn launch(&mut self) -> Result<(), StartError> {
        let conf = self.config_path();
        let write = std::fs::File::create(&conf).and_then(|mut f| {
            writeln!(
                f,
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000",
                self.port
            )
        });
        write.map_err(|e| StartError(format!("cannot write {}: {e}", conf.display())))?;
        let mut last = String::new();
        for bin in MOSQUITTO_PATHS {
            match Command::new(bin)
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(child) => {
                    self.child = Some(child);
                    return self.wait_ready();
                }
                Err(e) => last = format!("{bin}: {e}"),
            }
        }
        Err(StartError(format!(
            "cannot start mosquitto ({last}); install Debian's package: apt-get install mosquitto"
        )))
    }

    fn wait_ready(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(StartError(format!(
                    "mosquitto exited at start ({status}); is port {} taken?",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(StartError(format!(
            "mosquitto did not listen on port {} within 10 s",
            self.port
        )))
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Chromium the browser tests drive: `CHROMIUM`, else Debian's `/usr/bin/chromium`
/// (which `.ci/run` installs; tools that download their own browser fail here).
pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// The root of the workspace, where `e2e/` keeps the browser tests' npm packages.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Why the browser tests cannot run here (node, Chromium or `e2e/node_modules` missing);
/// `None` when they can.
pub fn browser_missing() -> Option<String> {
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is not installed".into());
    }
    if !chromium().exists() {
        return Some(format!("{} is not installed", chromium().display()));
    }
    if !workspace_root()
        .join("e2e/node_modules/playwright-core")
        .exists()
    {
        return Some("e2e/node_modules is missing (npm ci --prefix e2e)".into());
    }
    None
}

/// Whether the browser test `test` must be skipped here: it then says why. Under CI (`CI`
/// set) a missing browser fails the test instead, since a skipped test would hide failures.
pub fn skip_without_browser(test: &str) -> bool {
    let Some(why) = browser_missing() else {
        return false;
    };
    assert!(std::env::var_os("CI").is_none(), "{test} cannot run: {why}");
    eprintln!("{test} skipped: {why}");
    true
}

/// The variable holding the URL of a PostgreSQL + PostGIS cluster for tests, as printed by
/// `.ci/postgres start` (e.g. `postgres://postgres@127.0.0.1:55432/postgres`). The role
/// must be allowed to create databases.
pub const POSTGRES_ENV: &str = "JUMEAU_TEST_POSTGRES";

/// A fresh, empty database of its own for one test on the cluster named by
/// [`POSTGRES_ENV`], returned as a connection URL. `Ok(None)` when no cluster is configured
/// and the tests run outside CI (they then skip); an error under CI (`CI` set), where a
/// skipped engine would hide failures.
pub fn postgres_database() -> Result<Option<String>, StartError> {
    let Some(admin) = postgres_admin()? else {
        return Ok(None);
    };
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!("jumeau_test_{}_{n}_{nanos}", std::process::id());
    psql(&admin, &format!("CREATE DATABASE {name}"))?;
    Ok(Some(replace_database(&admin, &name)))
}

/// A database named `name` on the cluster named by [`POSTGRES_ENV`], kept from one run to
/// the next (benchmarks build a large dataset once), created when missing, or created anew
/// when `anew`. `name` is a fixed identifier of the caller, never input. `Ok(None)` as for
/// [`postgres_database`].
pub fn postgres_database_named(name: &str, anew: bool) -> Result<Option<String>, StartError> {
    let Some(admin) = postgres_admin()? else {
        return Ok(None);
    };
    if anew {
        psql(
            &admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )?;
    }
    let exists = psql(
        &admin,
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
    )?;
    if exists.trim() == "0" {
        psql(&admin, &format!("CREATE DATABASE {name}"))?;
    }
    Ok(Some(replace_database(&admin, name)))
}

/// The administrator URL of the cluster named by [`POSTGRES_ENV`] (see [`postgres_database`]
/// for when there is none).
fn postgres_admin() -> Result<Option<String>, StartError> {
    match std::env::var(POSTGRES_ENV).ok().filter(|v| !v.is_empty()) {
        Some(admin) => Ok(Some(admin)),
        None if std::env::var_os("CI").is_some() => Err(StartError(format!(
            "{POSTGRES_ENV} is not set; start a cluster with `export {POSTGRES_ENV}=$(.ci/postgres start)`"
        ))),
        None => Ok(None),
    }
}

/// Runs one SQL command with `psql` on the database at `url` (a test or benchmark
/// database, or the cluster's administrator URL); returns what it printed (unaligned,
/// tuples only).
pub fn psql(url: &str, sql: &str) -> Result<String, StartError> {
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-At", "-c"])
        .arg(sql)
        .output()
        .map_err(|e| {
            StartError(format!(
                "cannot run psql (apt-get install postgresql-client): {e}"
            ))
        })?;
    if !out.status.success() {
        return Err(StartError(format!(
            "psql failed on `{sql}`: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `url` with its database (the last path segment, before any `?`) replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[authority_end..].find('/') {
        Some(i) => &base[..authority_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            replace_database("postgres://u@h:5/postgres", "t1"),
            "postgres://u@h:5/t1"
        );
        assert_eq!(
            replace_database("postgres://u@h:5/postgres?sslmode=disable", "t1"),
            "postgres://u@h:5/t1?sslmode=disable"
        );
        assert_eq!(
            replace_database("postgres://u@h:5", "t1"),
            "postgres://u@h:5/t1"
        );
    }

    #[test]
    fn a_broker_starts_accepts_connections_and_restarts_on_its_port() {
        let mut b = Mosquitto::start().expect("mosquitto starts");
        let port = b.port();
        assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
        b.stop();
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
        b.restart().expect("restarts");
        assert_eq!(b.port(), port);
        assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    }
}
