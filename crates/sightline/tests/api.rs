//! The HTTP and CLI contract: OpenAPI, metrics, the camera registry round trip, and
//! clear errors for bad requests.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn registry_metrics_and_openapi_follow_the_contract() {
    let dir = TempDir::new("api");
    let sim_port = free_port();
    let _sim = spawn_sim(&dir, sim_port, 2, None);
    let server = Server::start(&dir.path("data")).await;

    // `camera add` prints the new id alone on the last line; credentials leave the URL.
    let url = format!("rtsp://viewer:s3cret@127.0.0.1:{sim_port}/cam/1");
    let (ok, out, err) = cli(
        &server,
        &["camera", "add", "--name", "North Gate", "--url", &url],
    );
    assert!(ok, "{err}");
    let id: i64 = out
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .expect("last line is the id");
    let cam = server.camera(id).await;
    assert_eq!(cam["url"], format!("rtsp://127.0.0.1:{sim_port}/cam/1"));
    assert_eq!(cam["username"], "viewer");
    assert_eq!(cam["has_password"], true);
    assert!(
        !cam.to_string().contains("s3cret"),
        "password leaked: {cam}"
    );
    let db = std::fs::read(dir.path("data").join("sightline.db")).unwrap();
    assert!(
        !db.windows(6).any(|w| w == b"s3cret"),
        "password stored in clear"
    );

    // The same name twice is a conflict that names the camera.
    let (ok, _, err) = cli(
        &server,
        &["camera", "add", "--name", "North Gate", "--url", &url],
    );
    assert!(
        !ok && err.contains("409") && err.contains("North Gate"),
        "{err}"
    );

    server
        .wait_for("recording", Duration::from_secs(20), || async {
            (server.camera(id).await["status"]["state"] == "recording").then_some(())
        })
        .await;
    let (ok, _, err) = cli(
        &server,
        &[
            "camera",
            "update",
            &id.to_string(),
            "--disable",
            "--retention-days",
            "7",
        ],
    );
    assert!(ok, "{err}");
    let cam = server.camera(id).await;
    assert_eq!(cam["status"]["state"], "disabled");
    assert_eq!(cam["retention_days"], 7);
    assert_eq!(
        server.recordings(id).await["gaps"][0]["reason"],
        "recording stopped"
    );

    // Metrics carry per-camera counters and storage used.
    let metrics = server
        .get_as(&server.admin, "/metrics")
        .await
        .text()
        .await
        .unwrap();
    for needle in [
        format!("sightline_camera_frames_total{{camera=\"{id}\",name=\"North Gate\"}}"),
        "sightline_camera_reconnects_total".into(),
        "sightline_camera_gaps_total".into(),
        "sightline_camera_recording_lag_seconds".into(),
        "sightline_storage_used_bytes".into(),
    ] {
        assert!(
            metrics.contains(&needle),
            "metrics lack {needle}:\n{metrics}"
        );
    }
    let frames: f64 = metrics
        .lines()
        .find(|l| l.starts_with(&format!("sightline_camera_frames_total{{camera=\"{id}\"")))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(frames > 0.0);

    // OpenAPI describes every route of the contract.
    let spec = server.json("/api/openapi.json").await;
    for path in [
        "/api/cameras",
        "/api/cameras/{id}",
        "/api/cameras/{id}/recordings",
        "/api/cameras/{id}/export.mp4",
        "/metrics",
    ] {
        assert!(spec["paths"][path].is_object(), "OpenAPI lacks {path}");
    }

    // Bad requests say what was wrong and with which input.
    let resp = server
        .get(&format!(
            "/api/cameras/{id}/recordings?from=yesterday&to=2026-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("yesterday"));
    let resp = server
        .get("/api/cameras/999/recordings?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z")
        .await;
    assert_eq!(resp.status(), 404);
    let resp = server
        .get(&format!(
            "/api/cameras/{id}/export.mp4?from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00Z"
        ))
        .await;
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().contains("no recording"));

    // `sightline export` writes a playable file.
    let r = server.recordings(id).await;
    let span = &r["spans"][0];
    let out_file = dir.path("cli.mp4");
    let (ok, _, err) = cli_as(
        &server,
        &server.viewer,
        &[
            "export",
            "--camera",
            &id.to_string(),
            "--from",
            span["start"].as_str().unwrap(),
            "--to",
            span["end"].as_str().unwrap(),
            "--output",
            out_file.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(decode_errors(&out_file), "");
    assert_eq!(
        framemd5(&out_file, "v:0").len() as i64,
        span["frames"].as_i64().unwrap()
    );

    // Removing deletes the camera and its media.
    let (ok, _, err) = cli(&server, &["camera", "remove", &id.to_string()]);
    assert!(ok, "{err}");
    assert_eq!(
        server
            .get_as(&server.admin, &format!("/api/cameras/{id}"))
            .await
            .status(),
        404
    );
    let media = dir.path("data").join("media").join(id.to_string());
    let left = std::fs::read_dir(&media).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "media of a removed camera remains");

    // Registry fields: kind, control and a position, from which the borough follows.
    let (ok, out, err) = cli(
        &server,
        &[
            "camera",
            "add",
            "--name",
            "Trafalgar",
            "--url",
            &url,
            "--disabled",
            "--kind",
            "ptz",
            "--lat",
            "51.5080",
            "--lon",
            "-0.1281",
        ],
    );
    assert!(ok, "{err}");
    let placed = server
        .camera(out.lines().last().unwrap().trim().parse().unwrap())
        .await;
    assert_eq!(placed["kind"], "ptz");
    assert_eq!(placed["control"], "owned");
    assert_eq!(placed["borough"], "Westminster");
    let (ok, _, err) = cli(
        &server,
        &[
            "camera", "add", "--name", "Odd", "--url", &url, "--kind", "drone",
        ],
    );
    assert!(!ok && err.contains("400") && err.contains("drone"), "{err}");
    let resp = server
        .request(reqwest::Method::POST, "/api/cameras", &server.admin)
        .json(&serde_json::json!({ "name": "Half", "url": url, "lat": 51.5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("lat and lon"));

    // Labels on `camera add`: a covert SECRET camera, invisible to an uncleared operator.
    let (ok, out, err) = cli(
        &server,
        &[
            "camera",
            "add",
            "--name",
            "Obs post",
            "--url",
            &url,
            "--disabled",
            "--covert",
            "--classification",
            "SECRET",
            "--owner",
            "unit-a",
        ],
    );
    assert!(ok, "{err}");
    let hidden: i64 = out.lines().last().unwrap().trim().parse().unwrap();
    let cam = server.camera(hidden).await;
    assert_eq!(
        (cam["covert"].clone(), cam["classification"].clone()),
        (true.into(), "SECRET".into())
    );
    assert!(
        hidden > i64::from(i32::MAX),
        "a covert camera's id is not in the overt sequence"
    );
    let data = dir.path("data");
    let operator = add_user_with_token(&data, "api-operator", "operator", "unit-a", &[]);
    let (ok, list, err) = cli_as(&server, &operator, &["camera", "list", "--json"]);
    assert!(ok, "{err}");
    assert_eq!(list.trim(), "[]");
    let (ok, _, err) = cli_as(&server, &operator, &["camera", "show", &hidden.to_string()]);
    assert!(
        !ok && err.contains("404") && err.contains("no such camera"),
        "{err}"
    );

    // The audit trail from the CLI, as a table and as CSV.
    let auditor = add_user_with_token(
        &data,
        "api-auditor",
        "auditor",
        "force",
        &["--clearance", "SECRET", "--covert"],
    );
    let (ok, table, err) = cli_as(
        &server,
        &auditor,
        &["audit", "list", "--user", "api-operator"],
    );
    assert!(ok, "{err}");
    assert!(
        table.lines().any(|l| l.contains("camera.show")
            && l.contains(&format!("camera:{hidden}"))
            && l.contains("not-found")),
        "{table}"
    );
    let (ok, csv, err) = cli_as(
        &server,
        &auditor,
        &["audit", "list", "--user", "api-operator", "--csv"],
    );
    assert!(ok, "{err}");
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("seq,at,actor,source,action,target,outcome,detail")
    );
    assert_eq!(rows.count(), table.lines().count());
    let (ok, _, err) = cli_as(&server, &operator, &["audit", "list"]);
    assert!(
        !ok && err.contains("403"),
        "an operator may not read the trail: {err}"
    );
}
