//! Acceptance 4-6: a crash loses at most a second and never corrupts the index; a
//! camera that drops out comes back on its own; bad cameras fail clearly and alone.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use sightline_core::Timestamp;

fn ts(v: &Value) -> Timestamp {
    v.as_str().unwrap().parse().unwrap()
}

async fn wait_recording(server: &Server, id: i64) {
    server
        .wait_for(
            &format!("camera {id} to record"),
            Duration::from_secs(30),
            || async {
                let r = server.recordings(id).await;
                r["spans"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["frames"].as_i64().unwrap() > 25)
                    .then_some(())
            },
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_loses_at_most_a_second_and_recording_resumes() {
    let dir = TempDir::new("crash");
    let sim_port = free_port();
    let _sim = spawn_sim(&dir, sim_port, 4, None);
    let data = dir.path("data");
    let port = free_port();
    let mut server = Server::start_on(&data, port).await;
    let mut ids = Vec::new();
    for n in 1..=4 {
        ids.push(
            server
                .add_camera(
                    &format!("cam{n}"),
                    &format!("rtsp://127.0.0.1:{sim_port}/cam/{n}"),
                )
                .await,
        );
    }
    for id in &ids {
        wait_recording(&server, *id).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let killed_at = Timestamp::now();
    server.proc.kill9();
    drop(server);

    let server = Server::start_on(&data, port).await;
    for &id in &ids {
        // Recording resumes by itself: a second span appears.
        let r = server
            .wait_for(
                &format!("camera {id} to resume"),
                Duration::from_secs(30),
                || async {
                    let r = server.recordings(id).await;
                    (r["spans"].as_array().unwrap().len() >= 2).then_some(r)
                },
            )
            .await;
        let first = &r["spans"][0];
        let lost = killed_at.micros() - ts(&first["end"]).micros();
        assert!(
            lost <= 1_000_000,
            "camera {id} lost {lost} µs of recording before the crash"
        );
        assert_eq!(r["gaps"][0]["reason"], "server stopped unexpectedly");
        // Every committed frame of the interrupted run exports and decodes cleanly.
        let path = dir.path(&format!("crash-{id}.mp4"));
        server
            .export(
                id,
                first["start"].as_str().unwrap(),
                first["end"].as_str().unwrap(),
                &path,
            )
            .await;
        assert_eq!(decode_errors(&path), "", "camera {id}");
        let frames = framemd5(&path, "v:0").len() as i64;
        assert_eq!(
            frames,
            first["frames"].as_i64().unwrap(),
            "camera {id}: exported frames differ from the index"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn camera_that_disappears_records_again_within_3s_and_others_are_untouched() {
    let dir = TempDir::new("churn");
    let (flaky_port, steady_port) = (free_port(), free_port());
    let mut flaky_sim = spawn_sim(&dir, flaky_port, 1, None);
    let _steady_sim = spawn_sim(&dir, steady_port, 2, None);
    let server = Server::start(&dir.path("data")).await;
    let flaky = server
        .add_camera("flaky", &format!("rtsp://127.0.0.1:{flaky_port}/cam/1"))
        .await;
    let steady: Vec<i64> = vec![
        server
            .add_camera("steady1", &format!("rtsp://127.0.0.1:{steady_port}/cam/1"))
            .await,
        server
            .add_camera("steady2", &format!("rtsp://127.0.0.1:{steady_port}/cam/2"))
            .await,
    ];
    wait_recording(&server, flaky).await;
    for id in &steady {
        wait_recording(&server, *id).await;
    }
    flaky_sim.kill9();
    let gone_at = Timestamp::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let _flaky_again = spawn_sim(&dir, flaky_port, 1, None);
    let back_at = Timestamp::now();
    let r = server
        .wait_for(
            "the flaky camera to record again",
            Duration::from_secs(10),
            || async {
                let r = server.recordings(flaky).await;
                (r["spans"].as_array().unwrap().len() >= 2).then_some(r)
            },
        )
        .await;
    let resumed = ts(&r["spans"][1]["start"]);
    let delay = resumed.micros() - back_at.micros();
    assert!(
        delay <= 3_000_000,
        "recording resumed {delay} µs after the camera returned"
    );
    let gap = &r["gaps"][0];
    assert!(
        (ts(&gap["from"]).micros() - gone_at.micros()).abs() < 2_000_000,
        "gap starts at {}",
        gap["from"]
    );
    assert_eq!(ts(&gap["to"]), resumed);
    assert!(!gap["reason"].as_str().unwrap().is_empty());
    // An export across the gap holds both spans' frames and plays the gap as a gap.
    let both = dir.path("across-gap.mp4");
    let end = ts(&r["spans"][1]["end"]);
    server
        .export(
            flaky,
            r["spans"][0]["start"].as_str().unwrap(),
            &end.to_rfc3339(),
            &both,
        )
        .await;
    assert_eq!(decode_errors(&both), "", "export across the gap");
    let frames =
        r["spans"][0]["frames"].as_i64().unwrap() + r["spans"][1]["frames"].as_i64().unwrap();
    assert_eq!(framemd5(&both, "v:0").len() as i64, frames);
    let times = packet_times(&both, "v:0");
    let longest_step = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(
        longest_step > 9.0,
        "the 10 s gap is not kept in the export's timeline ({longest_step} s)"
    );
    let status = server.camera(flaky).await;
    assert!(
        status["status"]["reconnects"].as_u64().unwrap() >= 1,
        "{status}"
    );

    for id in steady {
        let r = server.recordings(id).await;
        assert_eq!(
            r["spans"].as_array().unwrap().len(),
            1,
            "steady camera {id} has a gap: {r}"
        );
        assert!(r["gaps"].as_array().unwrap().is_empty(), "{r}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_cameras_fail_clearly_and_alone() {
    let dir = TempDir::new("bad");
    let (good_port, locked_port, mjpeg_port) = (free_port(), free_port(), free_port());
    let _good = spawn_sim(&dir, good_port, 1, None);
    let _locked = spawn_sim(&dir, locked_port, 1, Some("admin:right"));
    let _mjpeg = spawn_gst(&dir, mjpeg_port, &["mjpeg"]);
    let server = Server::start(&dir.path("data")).await;

    // A URL that is not RTSP is refused at registration, saying why.
    let (ok, _, err) = cli(
        &server,
        &[
            "camera",
            "add",
            "--name",
            "web",
            "--url",
            "http://example.invalid/x",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("rtsp or rtsps") && err.contains("http://example.invalid/x"),
        "{err}"
    );

    let good = server
        .add_camera("good", &format!("rtsp://127.0.0.1:{good_port}/cam/1"))
        .await;
    let bad = [
        (
            "unresolvable",
            "rtsp://camera.invalid/stream".to_owned(),
            "camera.invalid",
        ),
        (
            "refused",
            format!("rtsp://127.0.0.1:{}/stream", free_port()),
            "refused",
        ),
        (
            "wrongpass",
            format!("rtsp://admin:wrong@127.0.0.1:{locked_port}/cam/1"),
            "authentication failed",
        ),
        (
            "mjpeg",
            format!("rtsp://127.0.0.1:{mjpeg_port}/stream"),
            "JPEG video, which Sightline cannot record",
        ),
    ];
    let mut ids = Vec::new();
    for (name, url, _) in &bad {
        ids.push(server.add_camera(name, url).await);
    }
    for ((name, _, expect), id) in bad.iter().zip(&ids) {
        server
            .wait_for(
                &format!("{name}'s error"),
                Duration::from_secs(30),
                || async {
                    let c = server.camera(*id).await;
                    let err = c["status"]["last_error"].as_str().unwrap_or("").to_owned();
                    err.contains(expect).then_some(())
                },
            )
            .await;
    }
    wait_recording(&server, good).await;
    // `camera list` shows each error next to its camera, and the good camera records.
    let (ok, table, _) = cli(&server, &["camera", "list"]);
    assert!(ok);
    for (name, _, expect) in &bad {
        let line = table
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{table}"));
        assert!(line.contains(expect), "{name}: {line}");
    }
    let before = server.recordings(good).await["spans"][0]["frames"]
        .as_i64()
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.recordings(good).await;
    assert_eq!(after["spans"].as_array().unwrap().len(), 1, "{after}");
    assert!(
        after["spans"][0]["frames"].as_i64().unwrap() >= before + 25,
        "good camera stopped recording"
    );
    let (ok, json, _) = cli(&server, &["camera", "list", "--json"]);
    assert!(ok);
    let list: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 5);
    assert_eq!(list[0]["status"]["state"], "recording");
}
