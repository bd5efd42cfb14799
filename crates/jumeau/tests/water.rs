//! `jumeau water` end to end: a generated L-Town scenario with one abrupt leak found within
//! an hour and within 300 m, detection with a dead sensor, SCADA files with gaps or
//! repeated timestamps, a malformed network, and a network imported into the twin and
//! exported back.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jumeau"))
        .args(args)
        .output()
        .expect("the jumeau binary runs")
}

fn ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "jumeau {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn fails(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "jumeau {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A reference network of `jumeau-water`'s test data (sources in its SOURCES.txt).
fn network(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../jumeau-water/tests/data")
        .join(name)
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Copies a scenario directory, changing Pressures.csv with `edit`.
fn variant(from: &Path, to: &Path, edit: impl Fn(&str) -> String) {
    std::fs::create_dir_all(to).unwrap();
    for f in ["Pressures.csv", "Flows.csv", "Levels.csv", "Demands.csv"] {
        let text = std::fs::read_to_string(from.join(f)).unwrap();
        let text = if f == "Pressures.csv" {
            edit(&text)
        } else {
            text
        };
        std::fs::write(to.join(f), text).unwrap();
    }
}

#[test]
fn scenario_detect_score_and_bad_scada() {
    let dir = tempfile::tempdir().unwrap();
    let ltown = s(&network("L-TOWN.inp"));
    let schedule = dir.path().join("schedule.yaml");
    std::fs::write(
        &schedule,
        "times:\n  StartTime: 2019-05-01 00:00\n  EndTime: 2019-05-06 23:55\n\
         leakages:\n- # linkID, startTime, endTime, leakDiameter (m), leakType, peakTime\n\
         - p104, 2019-05-05 02:00, 2019-05-06 23:55, 0.03, abrupt, 2019-05-05 02:00\n",
    )
    .unwrap();
    let scada = dir.path().join("scada");
    ok(&[
        "water",
        "scenario",
        "--inp",
        &ltown,
        "--leaks",
        &s(&schedule),
        "--out",
        &s(&scada),
        "--seed",
        "5",
    ]);
    let pressures = std::fs::read_to_string(scada.join("Pressures.csv")).unwrap();
    let header: Vec<&str> = pressures.lines().next().unwrap().split(',').collect();
    assert_eq!(header.len(), 34, "Timestamp + 33 pressures");
    assert_eq!(pressures.lines().count(), 1 + 6 * 288);
    for (f, n) in [("Flows.csv", 4), ("Levels.csv", 2), ("Demands.csv", 83)] {
        let text = std::fs::read_to_string(scada.join(f)).unwrap();
        assert_eq!(text.lines().next().unwrap().split(',').count(), n, "{f}");
    }

    let det = dir.path().join("detections.csv");
    let events = dir.path().join("events.json");
    ok(&[
        "water",
        "detect",
        "--inp",
        &ltown,
        "--scada",
        &s(&scada),
        "--out",
        &s(&det),
        "--training-days",
        "3",
        "--events",
        &s(&events),
    ]);
    let text = std::fs::read_to_string(&det).unwrap();
    let first = text.lines().nth(1).expect("one detection at least");
    let time = first.split(',').nth(1).unwrap();
    assert!(
        ("2019-05-05 02:00"..="2019-05-05 03:00").contains(&time),
        "found within the hour: {first}"
    );
    let ev: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&events).unwrap()).unwrap();
    assert!(ev[0]["uncertainty_m"].is_number(), "{ev}");
    let out = ok(&[
        "water",
        "score",
        "--inp",
        &ltown,
        "--truth",
        &s(&scada),
        "--detections",
        &s(&det),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("TP 1 "), "{stdout}");
    assert!(stdout.contains("FN 0 "), "{stdout}");

    // A dead sensor (n1 empty from the start): a warning, and the leak is still found.
    let dead = dir.path().join("dead");
    variant(&scada, &dead, |text| {
        text.lines()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    return l.to_string();
                }
                let mut cells: Vec<&str> = l.split(',').collect();
                cells[1] = "";
                cells.join(",")
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let det2 = dir.path().join("detections-dead.csv");
    let out = ok(&[
        "water",
        "detect",
        "--inp",
        &ltown,
        "--scada",
        &s(&dead),
        "--out",
        &s(&det2),
        "--training-days",
        "3",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'n1' is dead"), "{stderr}");
    assert!(stderr.contains("column 2 (n1)"), "{stderr}");
    let out = ok(&[
        "water",
        "score",
        "--inp",
        &ltown,
        "--truth",
        &s(&scada),
        "--detections",
        &s(&det2),
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("TP 1 "));

    // A gap: a warning naming the line; repeated timestamps: an error naming line and column.
    let gap = dir.path().join("gap");
    variant(&scada, &gap, |text| {
        let mut lines: Vec<&str> = text.lines().collect();
        lines.drain(100..106);
        lines.join("\n")
    });
    let out = ok(&[
        "water",
        "detect",
        "--inp",
        &ltown,
        "--scada",
        &s(&gap),
        "--out",
        &s(&det2),
        "--training-days",
        "3",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Pressures.csv line 101: gap of 35 min"),
        "{stderr}"
    );
    let dup = dir.path().join("dup");
    variant(&scada, &dup, |text| {
        let mut lines: Vec<&str> = text.lines().collect();
        let l = lines[50];
        lines.insert(51, l);
        lines.join("\n")
    });
    let e = fails(&[
        "water",
        "detect",
        "--inp",
        &ltown,
        "--scada",
        &s(&dup),
        "--out",
        &s(&det2),
    ]);
    assert!(
        e.contains("Pressures.csv line 52, column 1") && e.contains("repeats line 51"),
        "{e}"
    );
}

#[test]
fn malformed_networks_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.inp");
    std::fs::write(
        &bad,
        "[JUNCTIONS]\nA 10\nB 10\n[PIPES]\np1 A B -5 100 100\n",
    )
    .unwrap();
    let schedule = dir.path().join("s.csv");
    std::fs::write(&schedule, "pipe,start,end,diameter_m,type,peak\n").unwrap();
    let e = fails(&[
        "water",
        "scenario",
        "--inp",
        &s(&bad),
        "--leaks",
        &s(&schedule),
        "--out",
        &s(&dir.path().join("out")),
    ]);
    assert!(e.contains("line 5") && e.contains("bad.inp"), "{e}");
}

#[test]
fn import_then_export_round_trips_a_network() {
    let dir = tempfile::tempdir().unwrap();
    let data = s(dir.path());
    let net1 = network("Net1.inp");
    let out = ok(&[
        "water",
        "import",
        "--data",
        &data,
        "--inp",
        &s(&net1),
        "--network",
        "net1",
        "--origin",
        "842000,6519000",
        "--scale",
        "10",
        "--tenant",
        "lyon",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("12 pipes"), "{stderr}");
    let file = dir.path().join("net1.inp");
    ok(&[
        "water",
        "export",
        "--data",
        &data,
        "--network",
        "net1",
        "--tenant",
        "lyon",
        "-o",
        &s(&file),
    ]);
    let a = jumeau_water::inp::parse(&std::fs::read_to_string(&net1).unwrap()).unwrap();
    let b = jumeau_water::inp::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(a, b);
    let e = fails(&[
        "water",
        "export",
        "--data",
        &data,
        "--network",
        "nope",
        "--tenant",
        "lyon",
    ]);
    assert!(e.contains("no water network 'nope'"), "{e}");
}
