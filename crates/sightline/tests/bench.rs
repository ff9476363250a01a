//! The benchmarks, short: `bench ingest` (simulator and recorder as separate processes,
//! every frame sent counted against every frame recorded, camera by camera) and
//! `bench export`.

mod common;

use common::*;

/// Runs `sightline bench ARGS --out DIR/results`, which must succeed; returns the
/// contract line it ends with.
fn bench(dir: &TempDir, args: &[&str]) -> String {
    let out = std::process::Command::new(BIN)
        .arg("bench")
        .args(args)
        .arg("--out")
        .arg(dir.path("results"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().last().unwrap().to_owned()
}

/// A `name=value` number from a contract line.
fn field(line: &str, name: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} missing from {line:?}"))
        .parse()
        .unwrap()
}

#[test]
fn fifty_cameras_for_twenty_seconds_lose_no_frame() {
    let dir = TempDir::new("bench-ingest");
    let last = bench(&dir, &["ingest", "--cameras", "50", "--seconds", "20"]);
    let f = |name| field(&last, name);
    assert_eq!((f("cameras"), f("seconds")), (50.0, 20.0));
    assert_eq!(f("lost"), 0.0);
    assert_eq!(f("frames_sent"), f("frames_recorded"));
    // 50 cameras at 25 fps for at least the 20 measured seconds.
    assert!(f("frames_sent") >= 50.0 * 25.0 * 20.0, "{last}");
    assert!(f("recorder_cpu_s_per_camera_hour") > 0.0);
    assert!(f("peak_rss_mib") > 1.0);
    // Results as JSON and a Markdown table.
    let files: Vec<_> = std::fs::read_dir(dir.path("results"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let json = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let trials: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    assert_eq!(trials[0]["lost"], 0);
    assert_eq!(trials[0]["late"], 0, "nothing sent late");
    assert!(files
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "md")));
}

/// `bench export` runs end to end and reports both throughputs and their ratio (the
/// figure itself is a benchmark's, recorded in the README, not a test's).
#[test]
fn the_export_benchmark_reports_a_ratio() {
    let dir = TempDir::new("bench-export");
    let last = bench(&dir, &["export", "--seconds", "3", "--rounds", "2"]);
    let f = |name| field(&last, name);
    assert!(f("ratio") > 0.0 && f("export_mb_s") > 0.0 && f("raw_mb_s") > 0.0);
    // The export carries every recorded byte, plus its MP4 header.
    assert!(f("export_bytes") > f("raw_bytes"), "{last}");
}
