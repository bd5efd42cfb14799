//! `jumeau demo` facing what people really have on their disks and machines: a data
//! directory from another version, a port already taken, a damaged data file. Each time the
//! command stops at once and says what to do.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

fn demo(data: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jumeau"))
        .arg("demo")
        .arg("--data")
        .arg(data)
        .args(extra)
        .output()
        .expect("the jumeau binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Builds the small demo once and checks it is reused by the next run.
fn built_small() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("demo");
    let out = demo(&data, &["--size", "small", "--no-serve"]);
    assert!(out.status.success(), "first build failed: {}", stderr(&out));
    assert!(stderr(&out).contains("built the demo territory"));
    let again = demo(&data, &["--size", "small", "--no-serve"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("reusing the small demo territory"),
        "{}",
        stderr(&again)
    );
    dir
}

#[test]
fn a_directory_of_another_version_size_or_kind_is_refused_with_what_to_do() {
    let dir = built_small();
    let data = dir.path().join("demo");
    // Another size.
    let out = demo(&data, &["--size", "medium", "--no-serve"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("holds the small demo") && e.contains("--size small"),
        "{e}"
    );
    // Another version: the record says another demo format.
    let marker = data.join("demo.json");
    let text = std::fs::read_to_string(&marker).expect("demo.json");
    let older = text.replacen("\"format\": 2", "\"format\": 1", 1);
    assert_ne!(older, text, "the record names its format");
    std::fs::write(&marker, older).expect("write demo.json");
    let out = demo(&data, &["--size", "small", "--no-serve"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("another version") || e.contains("demo format 1"),
        "{e}"
    );
    assert!(e.contains("rm -r") && e.contains("--data"), "{e}");
    // An older demo without the record, or a server's directory: never written into.
    std::fs::remove_file(&marker).expect("remove demo.json");
    let out = demo(&data, &["--size", "small", "--no-serve"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("did not build") && e.contains("never writes into it"),
        "{e}"
    );
    // A directory holding something else entirely.
    let other = dir.path().join("photos");
    std::fs::create_dir(&other).expect("dir");
    std::fs::write(other.join("mairie.jpg"), b"not a store").expect("file");
    let out = demo(&other, &["--no-serve"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not empty and holds no demo"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_interrupted_build_and_a_damaged_data_file_are_named() {
    let dir = built_small();
    let data = dir.path().join("demo");
    // A damaged data file: garbage where the store was.
    std::fs::write(data.join("jumeau.db"), vec![0x5a; 8192]).expect("damage the store");
    for f in ["jumeau.db-wal", "jumeau.db-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }
    let out = demo(&data, &["--size", "small", "--no-serve"]);
    assert!(!out.status.success(), "a damaged store was accepted");
    let e = stderr(&out);
    assert!(e.contains("cannot be read") && e.contains("rm -r"), "{e}");
    // A build stopped half-way (the record still says it is building).
    let marker = data.join("demo.json");
    let text = std::fs::read_to_string(&marker).expect("demo.json");
    std::fs::write(&marker, text.replace("\"ready\"", "\"building\"")).expect("write");
    let out = demo(&data, &["--size", "small", "--no-serve"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    // A record that is not one.
    std::fs::write(&marker, b"{ not json").expect("write");
    let out = demo(&data, &["--size", "small", "--no-serve"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is damaged"), "{}", stderr(&out));
}

#[test]
fn a_port_in_use_is_reported_before_building() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("demo");
    let out = demo(&data, &["--size", "small", "--listen", &addr]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("already in use") && e.contains("--listen"),
        "{e}"
    );
    // Nothing was built: the directory is left as it was.
    assert!(!data.join("demo.json").exists());
}
