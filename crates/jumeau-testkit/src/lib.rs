//! Test helpers for Jumeau: real services started on free loopback ports, so that tests
//! speak to the same programs a deployment does (here, the Mosquitto MQTT broker from
//! Debian's `mosquitto` package, which `.ci/run` installs).
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

#[cfg(test)]
mod tests {
    use super::*;

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
