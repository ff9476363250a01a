//! `sightline sim`: serve simulated RTSP cameras until interrupted.

use std::net::SocketAddr;

use sightline_sim::{Estate, Fault, SimConfig, SimServer};

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
    /// Pad every camera's stream to this many bits per second.
    #[arg(long)]
    bitrate: Option<u32>,
    /// Serve a whole simulated estate instead of --cameras (`london`).
    #[arg(long, value_parser = ["london"], conflicts_with_all = ["cameras", "bitrate", "faults", "fps"])]
    estate: Option<String>,
    /// The estate's seed: the same seed gives the same city.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Make camera N misbehave: N=flapping:UP:DOWN, N=wrong-credentials, N=stall:AFTER or
    /// N=slow:FACTOR (times in seconds). Repeatable.
    #[arg(long = "fault", value_parser = parse_fault)]
    faults: Vec<(u32, Fault)>,
}

fn parse_fault(s: &str) -> Result<(u32, Fault), String> {
    let (n, fault) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not CAMERA=FAULT, e.g. 3=stall:10"))?;
    let n: u32 = n
        .parse()
        .map_err(|_| format!("{n:?} in {s:?} is not a camera number"))?;
    let fault = fault
        .parse()
        .map_err(|e: sightline_sim::fault::FaultError| e.to_string())?;
    Ok((n, fault))
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
    if args.estate.is_some() {
        return serve_estate(args.listen, args.seed, credentials).await;
    }
    let config = SimConfig {
        listen: args.listen,
        cameras: args.cameras,
        credentials,
        fps: args.fps,
        bitrate_bps: args.bitrate,
        faults: args.faults,
        ..SimConfig::default()
    };
    let sim = SimServer::start(config).await?;
    for n in 1..=args.cameras {
        println!("camera {n} rtsp={}", sim.camera_url(n));
    }
    super::serve::shutdown_signal().await;
    let sent = sim.shutdown().await;
    // What each camera sent in full (and how much of it late), for whoever counts what
    // was recorded (bench ingest).
    for (n, (frames, late)) in sent.frames.iter().zip(&sent.late).enumerate() {
        println!("sent camera={} frames={frames} late={late}", n + 1);
    }
    Ok(())
}

/// Serves the simulated London estate; prints one line per streamed camera, then a
/// summary of what is not streamed (partner cameras not shared, body-worn devices).
async fn serve_estate(
    listen: SocketAddr,
    seed: u64,
    credentials: Option<(String, String)>,
) -> anyhow::Result<()> {
    let estate = Estate::london(seed);
    let plan = estate.stream_plan();
    let sim = SimServer::start(SimConfig {
        listen,
        credentials,
        ..plan.config
    })
    .await?;
    for (index, main, sub) in &plan.streams {
        let c = &estate.cameras[*index];
        println!(
            "camera {} rtsp={} sub={} owner={} control={} kind={} lat={:.6} lon={:.6} borough={:?} covert={}",
            c.key,
            sim.camera_url(*main),
            sim.camera_url(*sub),
            c.owner_org,
            c.control.as_str(),
            c.kind.as_str(),
            c.position.lat,
            c.position.lon,
            c.borough,
            c.covert,
        );
    }
    let partner: u32 = estate.councils.iter().map(|c| c.cameras).sum();
    let shared: u32 = estate.councils.iter().map(|c| c.shared).sum();
    println!(
        "estate london seed={seed}: {} cameras streamed; {} partner councils with {partner} cameras, {shared} shared; {} body-worn devices",
        plan.streams.len(),
        estate.councils.len(),
        estate.bwv.len()
    );
    super::serve::shutdown_signal().await;
    sim.shutdown().await;
    Ok(())
}
