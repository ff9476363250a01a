//! `bench ingest`: how many cameras one machine records without losing a frame.
//!
//! The simulator and the recorder run as separate processes on loopback, as a camera
//! network and a server would. After the run the simulator stops first and reports,
//! per camera, the frames it wrote in full; the recorder is then stopped cleanly (which
//! drains every buffer into the index) and the index is read directly. Loss is counted
//! exactly, camera by camera: sent minus recorded. A camera with more recorded than sent
//! means the counts do not add up, which is an error too.
//!
//! Also reported: the recorder's CPU seconds per camera-hour (from `/proc`), its peak
//! resident memory, media bytes written per second, and the index's size per
//! camera-day. Results go to `bench/results/` as JSON and a Markdown table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use sightline_store::Store;

use super::rig::{cpu_seconds, peak_rss_mib, Rig};

#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    /// Simulated cameras.
    #[arg(long, default_value_t = 50)]
    cameras: u32,
    /// Seconds of steady recording (after every camera is recording).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Bits per second per camera (the simulator pads its stream to it). Default: the
    /// plain 640×360 scene, about 0.4 Mbit/s.
    #[arg(long)]
    bitrate: Option<u32>,
    /// Find the largest camera count recorded with zero loss: double from --cameras
    /// until a run loses frames, then bisect.
    #[arg(long)]
    find_max: bool,
    /// Where to write the results (JSON and Markdown).
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
}

/// One run's figures.
#[derive(Clone, Debug, Serialize)]
pub struct Trial {
    pub cameras: u32,
    pub seconds: u64,
    pub bitrate_bps: Option<u32>,
    pub frames_sent: u64,
    pub frames_recorded: u64,
    pub lost: u64,
    /// Frames the simulator sent more than a second late because the recorder did not
    /// read fast enough; a real camera would have dropped them. Counted as failure.
    pub late: u64,
    /// Cameras that lost frames, with how many.
    pub cameras_losing: Vec<(u32, u64)>,
    /// Cameras with more frames recorded than sent (the counts do not add up).
    pub cameras_over: Vec<(u32, u64)>,
    pub recorder_cpu_s_per_camera_hour: f64,
    pub peak_rss_mib: f64,
    pub bytes_written_per_s: f64,
    pub index_bytes_per_camera_day: f64,
}

impl Trial {
    /// The contract line `bench ingest` ends with.
    pub fn line(&self) -> String {
        format!(
            "cameras={} seconds={} frames_sent={} frames_recorded={} lost={} recorder_cpu_s_per_camera_hour={:.1} peak_rss_mib={:.1}",
            self.cameras,
            self.seconds,
            self.frames_sent,
            self.frames_recorded,
            self.lost,
            self.recorder_cpu_s_per_camera_hour,
            self.peak_rss_mib
        )
    }

    /// Zero loss, nothing sent late, and counts that add up.
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.late == 0 && self.cameras_over.is_empty()
    }
}

/// Sent against recorded, camera by camera (cameras numbered from 1).
#[derive(Debug, PartialEq, Eq)]
pub struct Accounting {
    /// Cameras that recorded fewer frames than they sent, with how many fewer.
    pub losing: Vec<(u32, u64)>,
    /// Cameras that recorded more than they sent: the counts do not add up.
    pub over: Vec<(u32, u64)>,
    pub lost: u64,
}

pub fn account(sent: &[u64], recorded: &[u64]) -> Accounting {
    let mut a = Accounting {
        losing: vec![],
        over: vec![],
        lost: 0,
    };
    for (i, (&s, &r)) in sent.iter().zip(recorded).enumerate() {
        let camera = i as u32 + 1;
        if r < s {
            a.losing.push((camera, s - r));
            a.lost += s - r;
        } else if r > s {
            a.over.push((camera, r - s));
        }
    }
    a
}

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.cameras > 0, "--cameras must be at least 1");
    anyhow::ensure!(args.seconds > 0, "--seconds must be at least 1");
    let mut trials = vec![];
    if args.find_max {
        let (mut good, mut bad) = (0u32, None::<u32>);
        let mut n = args.cameras;
        loop {
            // A trial that cannot even get every camera recording has failed, like one
            // that loses frames: the search goes on.
            let clean = match trial(n, args.seconds, args.bitrate).await {
                Ok(t) => {
                    eprintln!("{}", t.line());
                    let clean = t.clean();
                    trials.push(t);
                    clean
                }
                Err(e) => {
                    eprintln!("cameras={n}: failed: {e:#}");
                    false
                }
            };
            if clean {
                good = n;
            } else {
                bad = Some(n);
            }
            n = match bad {
                None => n * 2,
                Some(b) if b - good > (good / 10).max(1) => (good + b) / 2,
                Some(_) => break,
            };
            if n == good || n == 0 {
                break;
            }
        }
        println!("largest camera count recorded with zero loss: {good}");
    } else {
        trials.push(trial(args.cameras, args.seconds, args.bitrate).await?);
    }
    let written = write_results(&args.out, &trials)?;
    eprintln!("results: {}", written.display());
    let last = trials.last().context("no trial finished")?;
    let failed = if args.find_max {
        None
    } else {
        (!last.clean()).then(|| {
            format!(
                "{} frames lost (cameras {:?}), {} sent late, counts over (cameras {:?})",
                last.lost, last.cameras_losing, last.late, last.cameras_over
            )
        })
    };
    println!("{}", last.line());
    if let Some(why) = failed {
        bail!("{why}");
    }
    Ok(())
}

async fn trial(cameras: u32, seconds: u64, bitrate: Option<u32>) -> anyhow::Result<Trial> {
    let mut rig = Rig::start("ingest", cameras, bitrate).await?;
    let registering = Instant::now();
    rig.wait_recording(cameras as usize).await?;
    let pid = rig.server.pid();
    let cpu0 = cpu_seconds(pid)?;
    let steady = Instant::now();
    eprintln!("{cameras} cameras recording; measuring for {seconds} s");
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let steady_s = steady.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds(pid)?;
    let peak = peak_rss_mib(pid)?;
    let recorded_s = registering.elapsed().as_secs_f64();
    let sent = rig.stop_cameras().await?;
    rig.stop_recorder()?;
    let (data, ids) = (rig.data.clone(), rig.cameras.clone());
    let late: u64 = sent.late.iter().sum();
    let sent = sent.frames;

    let store = Store::open(&data).await?;
    let totals: HashMap<i64, sightline_store::recordings::RecordedTotals> = store
        .recorded_totals()
        .await?
        .into_iter()
        .map(|t| (t.camera.0, t))
        .collect();
    let index_bytes = store.index_size_bytes().await?;
    store.close().await;
    let recorded: Vec<u64> = ids
        .iter()
        .map(|id| totals.get(id).map_or(0, |t| t.video_frames))
        .collect();
    let bytes: u64 = totals.values().map(|t| t.bytes).sum();
    let Accounting { losing, over, lost } = account(&sent, &recorded);
    let camera_seconds = f64::from(cameras) * recorded_s;
    let trial = Trial {
        cameras,
        seconds,
        bitrate_bps: bitrate,
        frames_sent: sent.iter().sum(),
        frames_recorded: recorded.iter().sum(),
        lost,
        late,
        cameras_losing: losing,
        cameras_over: over,
        recorder_cpu_s_per_camera_hour: (cpu1 - cpu0) / (f64::from(cameras) * steady_s / 3600.0),
        peak_rss_mib: peak,
        bytes_written_per_s: bytes as f64 / recorded_s,
        index_bytes_per_camera_day: index_bytes as f64 / camera_seconds * 86_400.0,
    };
    rig.finish(trial.clean());
    Ok(trial)
}

/// Writes `ingest-<time>.json` and `.md` under `dir`; returns the JSON's path.
fn write_results(dir: &Path, trials: &[Trial]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stamp = sightline_core::Timestamp::now()
        .to_rfc3339()
        .replace([':', '.'], "");
    let json = dir.join(format!("ingest-{stamp}.json"));
    std::fs::write(&json, serde_json::to_string_pretty(trials)?)?;
    let mut md = String::from(
        "| cameras | seconds | bitrate | frames sent | recorded | lost | sent late | recorder CPU s / camera-hour | peak RSS MiB | MB/s written | index MB / camera-day |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for t in trials {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.2} | {:.2} |\n",
            t.cameras,
            t.seconds,
            t.bitrate_bps.map_or("plain".into(), |b| format!(
                "{:.1} Mbit/s",
                f64::from(b) / 1e6
            )),
            t.frames_sent,
            t.frames_recorded,
            t.lost,
            t.late,
            t.recorder_cpu_s_per_camera_hour,
            t.peak_rss_mib,
            t.bytes_written_per_s / 1e6,
            t.index_bytes_per_camera_day / 1e6,
        ));
    }
    std::fs::write(json.with_extension("md"), md)?;
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounting_is_exact_per_camera() {
        let a = account(&[100, 100, 100], &[100, 97, 101]);
        assert_eq!(a.losing, vec![(2, 3)]);
        assert_eq!(a.over, vec![(3, 1)]);
        assert_eq!(a.lost, 3);
        let a = account(&[5, 6], &[5, 6]);
        assert!(a.losing.is_empty() && a.over.is_empty() && a.lost == 0);
    }

    #[test]
    fn the_contract_line_and_the_verdict() {
        let mut t = Trial {
            cameras: 2,
            seconds: 3,
            bitrate_bps: None,
            frames_sent: 150,
            frames_recorded: 150,
            lost: 0,
            late: 0,
            cameras_losing: vec![],
            cameras_over: vec![],
            recorder_cpu_s_per_camera_hour: 12.34,
            peak_rss_mib: 45.67,
            bytes_written_per_s: 1.0,
            index_bytes_per_camera_day: 1.0,
        };
        assert_eq!(
            t.line(),
            "cameras=2 seconds=3 frames_sent=150 frames_recorded=150 lost=0 recorder_cpu_s_per_camera_hour=12.3 peak_rss_mib=45.7"
        );
        assert!(t.clean());
        t.cameras_over.push((1, 1));
        assert!(!t.clean(), "more recorded than sent does not add up");
        t.cameras_over.clear();
        t.lost = 1;
        assert!(!t.clean());
        t.lost = 0;
        t.late = 1;
        assert!(
            !t.clean(),
            "a frame sent late is one a real camera would have dropped"
        );
    }
}
