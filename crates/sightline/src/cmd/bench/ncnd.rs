//! `bench ncnd`: never-confirm-nor-deny must hold in time as well as in bytes. Requests
//! for a covert camera and for an id that never existed, made by an uncleared user,
//! interleaved so that drift hits both alike, should take the same time.

use std::time::{Duration, Instant};

use anyhow::Context;
use sightline_core::{CameraConfig, Classification, Clearance, Role, Sensitivity, Visibility};
use sightline_store::users::NewUser;

use crate::settings::Settings;

/// Median and 90th percentile, in microseconds.
fn summary(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.9))
}

pub async fn run(requests: u32) -> anyhow::Result<()> {
    anyhow::ensure!(requests > 0, "--requests must be at least 1");
    let dir = std::env::temp_dir().join(format!("sightline-bench-ncnd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The account exists before the server starts, so no first-start secret is made.
    let store = sightline_store::Store::open(&dir).await?;
    let user = store
        .add_user(NewUser {
            name: "bench-operator".into(),
            org: sightline_core::camera::DEFAULT_ORG.into(),
            role: Role::Operator,
            clearance: Clearance::default(),
            password: "bench password 1234".into(),
            must_change_password: false,
        })
        .await?;
    let (_, token) = store.create_token(&user, "bench", None).await?;
    store.close().await;
    let mut settings = Settings::resolve(None, Some(dir.clone()), None, None)?;
    settings.listen = "127.0.0.1:0".parse().expect("a valid address");
    let running = crate::cmd::serve::start(settings).await?;
    let store = running.state.store.clone();
    let mut covert = CameraConfig::new("Observation post", "rtsp://127.0.0.1:9/none");
    covert.enabled = false;
    covert.sensitivity = Sensitivity {
        classification: Classification::Official,
        covert: true,
    };
    let covert = store.add_camera(&Visibility::everything(), covert).await?;
    let http = reqwest::Client::new();
    let base = format!("http://{}", running.addr);
    let missing = covert.id.0 + 1_000_003;
    let window = "from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z";

    println!(
        "| route | covert median µs | missing median µs | ratio | covert p90 µs | missing p90 µs |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for route in ["/api/cameras/{id}", "/api/cameras/{id}/export.mp4"] {
        let url = |id: i64| {
            let path = route.replace("{id}", &id.to_string());
            format!("{base}{path}?{window}")
        };
        let mut times = [Vec::new(), Vec::new()];
        for i in 0..requests + requests / 10 {
            // Alternate which goes first, so any drift falls on both alike.
            let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let id = [covert.id.0, missing][which];
                let started = Instant::now();
                let resp = http
                    .get(url(id))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .context("requesting")?;
                let status = resp.status();
                resp.bytes().await?;
                let took = started.elapsed();
                anyhow::ensure!(status == 404, "{route} for {id} answered {status}");
                // The first tenth warms caches and is not counted.
                if i >= requests / 10 {
                    times[which].push(took);
                }
            }
        }
        let [covert_times, missing_times] = times;
        let (c50, c90) = summary(covert_times);
        let (m50, m90) = summary(missing_times);
        println!(
            "| `{route}` | {c50:.0} | {m50:.0} | {:.3} | {c90:.0} | {m90:.0} |",
            c50 / m50
        );
    }
    running.stop().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
