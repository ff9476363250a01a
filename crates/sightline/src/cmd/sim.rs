//! `sightline sim`: serve simulated RTSP cameras until interrupted.

use std::net::SocketAddr;

use sightline_sim::{SimConfig, SimServer};

#[derive(clap::Args, Debug)]
pub struct SimArgs {
    /// Number of cameras, served at rtsp://ADDR/cam/1 ... /cam/N.
    #[arg(long, default_value_t = 4)]
    cameras: u32,
    #[arg(long, default_value = "127.0.0.1:8554")]
    listen: SocketAddr,
    /// Require these credentials (USER:PASSWORD) from clients.
    #[arg(long)]
    credentials: Option<String>,
    #[arg(long, default_value_t = 25)]
    fps: u32,
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let credentials = match args.credentials {
        Some(c) => {
            let (u, p) = c
                .split_once(':')
                .ok_or_else(|| anyhow::anyhow!("--credentials must be USER:PASSWORD"))?;
            Some((u.to_owned(), p.to_owned()))
        }
        None => None,
    };
    let config = SimConfig {
        listen: args.listen,
        cameras: args.cameras,
        credentials,
        fps: args.fps,
        ..SimConfig::default()
    };
    let sim = SimServer::start(config).await?;
    for n in 1..=args.cameras {
        println!("camera {n} rtsp={}", sim.camera_url(n));
    }
    super::serve::shutdown_signal().await;
    sim.shutdown().await;
    Ok(())
}
