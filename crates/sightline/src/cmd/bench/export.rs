//! `bench export`: an export, built lazily from the index and streamed over HTTP, against
//! reading the same sample bytes straight from the segment files, in one run.
//!
//! One simulated camera is recorded for a while through the real recorder, so the index
//! and segments are what production writes. Then, in interleaved rounds (so drift and
//! cache state hit both alike), the whole recording is exported through the API by a
//! supervisor and the camera's segment files are read from disk, each after the files
//! are dropped from the page cache, so both read the disk. The ratio of the two
//! throughputs says what the MP4 layout, the index reads and HTTP cost.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde::Serialize;

use super::rig::Rig;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Seconds to record before exporting.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// The camera's bits per second.
    #[arg(long, default_value_t = 4_000_000)]
    bitrate: u32,
    /// Rounds of each (the median counts).
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Where to write the results (JSON and Markdown).
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
}

#[derive(Debug, Serialize)]
struct ExportResult {
    recorded_seconds: u64,
    bitrate_bps: u32,
    rounds: u32,
    export_bytes: u64,
    raw_bytes: u64,
    export_mb_per_s: f64,
    raw_mb_per_s: f64,
    ratio: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Asks the kernel to drop `dir`'s files from the page cache, so the next read comes
/// from the disk (the files were fsynced, so their pages are clean and can go).
fn evict(dir: &Path) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    for entry in std::fs::read_dir(dir)? {
        let file = std::fs::File::open(entry?.path())?;
        // SAFETY: posix_fadvise on a descriptor this function owns; advice only.
        unsafe {
            libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
        }
    }
    Ok(())
}

/// Reads every file under `dir` in 1 MiB pieces; returns the bytes read.
fn read_all(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    let mut buf = vec![0u8; 1 << 20];
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let mut file = std::fs::File::open(entry?.path())?;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    Ok(total)
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rounds > 0, "--rounds must be at least 1");
    let mut rig = Rig::start("export", 1, Some(args.bitrate)).await?;
    rig.wait_recording(1).await?;
    eprintln!(
        "recording one camera at {} bit/s for {} s",
        args.bitrate, args.seconds
    );
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    rig.stop_cameras().await?;

    // Every span of the recording, once the index has stopped growing (the last rows
    // land with the next group commit).
    let id = rig.cameras[0];
    let now = sightline_core::Timestamp::now();
    let window = format!(
        "from={}&to={}",
        now.add_micros(-86_400_000_000).to_rfc3339(),
        now.add_micros(60_000_000).to_rfc3339()
    )
    .replace('+', "%2B");
    let mut last_total = None;
    let settled = Instant::now();
    let spans = loop {
        let r: serde_json::Value = rig
            .http
            .get(format!("{}/api/cameras/{id}/recordings?{window}", rig.base))
            .bearer_auth(&rig.viewer)
            .send()
            .await?
            .json()
            .await?;
        let spans = r["spans"].as_array().cloned().unwrap_or_default();
        let total: i64 = spans.iter().filter_map(|s| s["bytes"].as_i64()).sum();
        if last_total == Some(total) && total > 0 {
            break spans;
        }
        anyhow::ensure!(
            settled.elapsed() < Duration::from_secs(30),
            "the recording's index did not settle"
        );
        last_total = Some(total);
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (from, to) = (
        spans[0]["start"].as_str().context("a recorded span")?,
        spans[spans.len() - 1]["end"]
            .as_str()
            .context("a recorded span")?,
    );
    let url = format!(
        "{}/api/cameras/{id}/export.mp4?from={}&to={}",
        rig.base,
        from.replace('+', "%2B"),
        to.replace('+', "%2B")
    );
    let media = rig.data.join("media").join(id.to_string());

    let (mut export_rates, mut raw_rates) = (vec![], vec![]);
    let (mut export_bytes, mut raw_bytes) = (0, 0);
    for _ in 0..args.rounds {
        evict(&media)?;
        let started = Instant::now();
        let resp = rig.http.get(&url).bearer_auth(&rig.viewer).send().await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "export answered {}",
            resp.status()
        );
        let mut body = resp.bytes_stream();
        let mut bytes = 0u64;
        while let Some(piece) = body.next().await {
            bytes += piece?.len() as u64;
        }
        export_rates.push(bytes as f64 / started.elapsed().as_secs_f64() / 1e6);
        export_bytes = bytes;

        evict(&media)?;
        let started = Instant::now();
        let dir = media.clone();
        let bytes = tokio::task::spawn_blocking(move || read_all(&dir)).await??;
        raw_rates.push(bytes as f64 / started.elapsed().as_secs_f64() / 1e6);
        raw_bytes = bytes;
    }
    rig.stop_recorder()?;
    rig.finish(true);

    let result = ExportResult {
        recorded_seconds: args.seconds,
        bitrate_bps: args.bitrate,
        rounds: args.rounds,
        export_bytes,
        raw_bytes,
        export_mb_per_s: median(export_rates),
        raw_mb_per_s: median(raw_rates),
        ratio: 0.0,
    };
    let result = ExportResult {
        ratio: result.export_mb_per_s / result.raw_mb_per_s,
        ..result
    };
    std::fs::create_dir_all(&args.out)?;
    let stamp = sightline_core::Timestamp::now()
        .to_rfc3339()
        .replace([':', '.'], "");
    let json = args.out.join(format!("export-{stamp}.json"));
    std::fs::write(&json, serde_json::to_string_pretty(&result)?)?;
    let md = format!(
        "| recorded | bitrate | export MB | raw MB | export MB/s | raw MB/s | ratio |\n| --- | --- | --- | --- | --- | --- | --- |\n| {} s | {:.1} Mbit/s | {:.1} | {:.1} | {:.0} | {:.0} | {:.3} |\n",
        result.recorded_seconds,
        f64::from(result.bitrate_bps) / 1e6,
        result.export_bytes as f64 / 1e6,
        result.raw_bytes as f64 / 1e6,
        result.export_mb_per_s,
        result.raw_mb_per_s,
        result.ratio
    );
    std::fs::write(json.with_extension("md"), &md)?;
    eprintln!("results: {}", json.display());
    print!("{md}");
    println!(
        "export_mb_s={:.1} raw_mb_s={:.1} ratio={:.3} export_bytes={} raw_bytes={}",
        result.export_mb_per_s,
        result.raw_mb_per_s,
        result.ratio,
        result.export_bytes,
        result.raw_bytes
    );
    Ok(())
}
