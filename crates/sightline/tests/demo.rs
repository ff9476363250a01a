//! `sightline demo` from a clean data directory: the estate registered, cameras
//! recording within 10 s, accounts per role, and a clean stop on SIGINT that leaves
//! nothing for recovery to repair.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_records_within_ten_seconds_and_stops_cleanly() {
    let dir = TempDir::new("demo");
    let data = dir.path("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path("demo.log")).unwrap())
        .spawn()
        .unwrap();
    let mut logins = std::collections::HashMap::new();
    let mut printed = vec![];
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some((name, password)) = line
            .trim()
            .strip_prefix("login: ")
            .and_then(|l| l.split_once(" / "))
        {
            logins.insert(name.to_owned(), password.to_owned());
        }
        let done = line.starts_with("Press Ctrl-C");
        printed.push(line);
        if done {
            break;
        }
    }
    let pid = child.id() as i32;
    let mut proc = Proc(child);
    for role in [
        "operator",
        "supervisor",
        "evidence-officer",
        "disclosure-officer",
        "auditor",
        "administrator",
    ] {
        assert!(
            logins.contains_key(role),
            "no {role} account printed: {printed:#?}"
        );
    }

    // Signed in as the (uncleared) supervisor: the estate is there, some of it recording.
    let http = reqwest::Client::new();
    let (cookie, _) = sign_in(&base, "supervisor", &logins["supervisor"]).await;
    let cameras = loop {
        let list: Vec<Value> = http
            .get(format!("{base}/api/cameras"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let recording = list
            .iter()
            .filter(|c| c["status"]["state"] == "recording")
            .count();
        if recording > 0 {
            break list;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nothing recording 10 s after start"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let count = |key: &str, value: &str| cameras.iter().filter(|c| c[key] == value).count();
    assert_eq!(count("control", "owned"), 300);
    assert!(
        count("control", "partner") > 31,
        "the councils' shared feeds"
    );
    let owned = cameras.iter().filter(|c| c["control"] == "owned");
    assert!(owned
        .clone()
        .all(|c| c["borough"] == "Westminster" && c["lat"].is_f64()));
    assert!(
        owned.clone().any(|c| c["kind"] == "ptz") && owned.clone().any(|c| c["kind"] == "static")
    );
    assert!(
        cameras.iter().all(|c| c["covert"] == false),
        "covert cameras reach no uncleared user"
    );

    // Ctrl-C: a clean stop.
    // SAFETY: kill(2) on the child this test started and still holds.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = proc.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not stop within 30 s of SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");

    // A consistent index: nothing left open, nothing for recovery to repair, and an
    // intact audit chain.
    let store = sightline_store::Store::open(&data).await.unwrap();
    let report = store.recover().await.unwrap();
    assert_eq!(
        report,
        Default::default(),
        "recovery had work to do after a clean stop"
    );
    let recorded = store.recorded_totals().await.unwrap();
    assert!(recorded.iter().any(|t| t.video_frames > 0));
    store.close().await;
    let out = Command::new(BIN)
        .args(["audit", "verify", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
