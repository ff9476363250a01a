//! `sightline demo`: a server and four simulated cameras, registered and recording,
//! in one command. Stops cleanly on Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use sightline_core::{CameraConfig, Visibility};
use sightline_sim::{SimConfig, SimServer};
use sightline_store::cameras::CameraUpdate;

use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Data directory. Default ./sightline-data.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Address for the HTTP server. Default 127.0.0.1:8080.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Address for the simulated cameras.
    #[arg(long, default_value = "127.0.0.1:0")]
    sim_listen: SocketAddr,
}

const DEMO_CAMERAS: u32 = 4;

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let sim = SimServer::start(SimConfig {
        listen: args.sim_listen,
        cameras: DEMO_CAMERAS,
        ..SimConfig::default()
    })
    .await
    .context("starting the simulated cameras")?;
    let running =
        super::serve::start(Settings::resolve(None, args.data, args.listen, None)?).await?;
    let store = &running.state.store;
    let everything = Visibility::everything();
    let existing = store.cameras(&everything).await?;
    for n in 1..=DEMO_CAMERAS {
        let name = format!("Demo camera {n}");
        let url = sim.camera_url(n);
        let (action, id) = match existing.iter().find(|c| c.name == name) {
            // The simulator's port may differ from the last demo's: point the camera at it.
            Some(c) => {
                let update = CameraUpdate {
                    url: Some(url.clone()),
                    enabled: Some(true),
                    ..Default::default()
                };
                let id = store.update_camera(&everything, c.id, update).await?.id;
                ("camera.update", id)
            }
            None => {
                let config = CameraConfig::new(name, url.clone());
                (
                    "camera.add",
                    store.add_camera(&everything, config).await?.id,
                )
            }
        };
        super::offline::audit(
            store,
            action,
            &format!("camera:{id}"),
            format!("demo setup, {url}"),
        )
        .await?;
        running.state.recorder.sync_camera(id).await?;
    }
    let base = format!("http://{}", running.addr);
    println!("Sightline demo running: {DEMO_CAMERAS} simulated cameras are recording.");
    println!("  API:      {base}/api/cameras");
    println!("  metrics:  {base}/metrics");
    println!("  OpenAPI:  {base}/api/openapi.json");
    let data = running.state.store.root().display().to_string();
    println!(
        "  sign in:  POST {base}/api/session as \"admin\" with the one-time secret printed on"
    );
    println!("            the first run, then choose a new password (POST /api/session/password)");
    println!("  CLI:      sightline user add --data {data} --name me --role administrator --password-stdin");
    println!("            export SIGHTLINE_TOKEN=$(sightline token create --data {data} --user me | tail -n 1)");
    println!("            sightline camera list --server {base}");
    println!("Press Ctrl-C to stop.");
    super::serve::shutdown_signal().await;
    eprintln!("stopping the demo");
    running.stop().await?;
    sim.shutdown().await;
    Ok(())
}
