//! Load probe: CPU cost of many simulated cameras, each with one minimal TCP client.
//!
//! Ignored by default (it takes ~15 s and measures rather than checks much); run with
//! `cargo test -p sightline-sim --test load -- --ignored --nocapture`. The CPU figure covers
//! the whole process, so it includes the clients' reads as well as the server's writes.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sightline_sim::{SimConfig, SimServer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// utime + stime of this process, in clock ticks (1/100 s on Linux).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after_comm.split(' ').collect();
    // Fields 14 and 15 of stat(5), counted from the state field (3).
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

async fn minimal_client(url: String, bytes: Arc<AtomicU64>) {
    let addr = url
        .trim_start_matches("rtsp://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "SETUP {url}/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;interleaved=0-1\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.read(&mut buf).await.unwrap();
    let resp = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(resp.starts_with("RTSP/1.0 200"), "{resp}");
    let session = resp
        .lines()
        .find_map(|l| l.strip_prefix("Session: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let req = format!("PLAY {url}/ RTSP/1.0\r\nCSeq: 2\r\nSession: {session}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load measurement; run explicitly"]
async fn cpu_cost_of_many_cameras() {
    let cameras: u32 = std::env::var("SIM_LOAD_CAMERAS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let server = SimServer::start(SimConfig {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        cameras,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let bytes = Arc::new(AtomicU64::new(0));
    for n in 1..=cameras {
        tokio::spawn(minimal_client(server.camera_url(n), bytes.clone()));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (t0, c0, b0) = (Instant::now(), cpu_ticks(), bytes.load(Ordering::Relaxed));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (wall, cpu, got) = (
        t0.elapsed().as_secs_f64(),
        (cpu_ticks() - c0) as f64 / 100.0,
        bytes.load(Ordering::Relaxed) - b0,
    );
    let mbit = got as f64 * 8.0 / wall / 1e6;
    eprintln!(
        "{cameras} cameras: {:.1}% of one core ({:.3} ms CPU per camera-second), {mbit:.1} Mbit/s",
        cpu / wall * 100.0,
        cpu / wall / f64::from(cameras) * 1000.0,
    );
    // Every camera streams ~0.65 Mbit/s: the total must be in the right range.
    let per_camera = mbit / f64::from(cameras);
    assert!(
        (0.3..1.5).contains(&per_camera),
        "{per_camera} Mbit/s per camera"
    );
    server.shutdown().await;
}
