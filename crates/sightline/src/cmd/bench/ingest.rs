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
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use sightline_core::{Clearance, Role};
use sightline_store::users::NewUser;
use sightline_store::Store;

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
            let t = trial(n, args.seconds, args.bitrate).await?;
            eprintln!("{}", t.line());
            let clean = t.clean();
            trials.push(t);
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
    let last = trials.last().expect("at least one trial");
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

/// A child process that is killed if dropped, with its stdout lines on a channel.
struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Process {
    fn spawn(mut cmd: Command, log: &Path) -> anyhow::Result<Process> {
        let log =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(log)
            .env("SIGHTLINE_LOG", "warn")
            .spawn()
            .with_context(|| format!("starting {cmd:?}"))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Process { child, lines })
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Asks the process to stop as Ctrl-C would, and waits for it.
    fn interrupt(&mut self, within: Duration) -> anyhow::Result<()> {
        // SAFETY: kill(2) with a pid this process started and has not reaped yet.
        unsafe {
            libc::kill(self.pid(), libc::SIGINT);
        }
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("process {} did not stop within {within:?}", self.pid())
    }

    /// Lines up to and including the first one `done` accepts.
    fn lines_until(
        &self,
        within: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) -> anyhow::Result<Vec<String>> {
        let deadline = Instant::now() + within;
        let mut seen = vec![];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let stop = done(&line);
                    seen.push(line);
                    if stop {
                        return Ok(seen);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => bail!("timed out after {within:?}"),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(seen),
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) a process has used so far, from `/proc/PID/stat`.
fn cpu_seconds(pid: i32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks / per_second)
}

/// Peak resident memory of a process in MiB (`VmHWM`).
fn peak_rss_mib(pid: i32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmHWM in /proc status")?
        .parse()?;
    Ok(kib / 1024.0)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn trial(cameras: u32, seconds: u64, bitrate: Option<u32>) -> anyhow::Result<Trial> {
    let exe = std::env::current_exe().context("finding the sightline binary")?;
    let work = std::env::temp_dir().join(format!(
        "sightline-bench-ingest-{}-{cameras}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&work);
    let data = work.join("data");

    // An administrator to register the cameras, made before the server starts.
    let store = Store::open(&data).await?;
    let admin = store
        .add_user(NewUser {
            name: "bench-admin".into(),
            org: sightline_core::camera::DEFAULT_ORG.into(),
            role: Role::Administrator,
            clearance: Clearance::default(),
            password: sightline_store::credentials::new_secret(""),
            must_change_password: false,
        })
        .await?;
    let (_, token) = store.create_token(&admin, "bench", None).await?;
    store.close().await;

    // The cameras.
    let mut sim_cmd = Command::new(&exe);
    sim_cmd.args([
        "sim",
        "--cameras",
        &cameras.to_string(),
        "--listen",
        "127.0.0.1:0",
    ]);
    if let Some(b) = bitrate {
        sim_cmd.args(["--bitrate", &b.to_string()]);
    }
    let mut sim = Process::spawn(sim_cmd, &work.join("sim.log"))?;
    let urls: Vec<String> = sim
        .lines_until(Duration::from_secs(120), |l| {
            l.starts_with(&format!("camera {cameras} "))
        })
        .context("waiting for the simulator")?
        .iter()
        .filter_map(|l| l.split_once(" rtsp=").map(|(_, u)| u.to_owned()))
        .collect();
    anyhow::ensure!(
        urls.len() == cameras as usize,
        "the simulator listed {} cameras",
        urls.len()
    );

    // The recorder.
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut serve_cmd = Command::new(&exe);
    serve_cmd
        .args(["serve", "--data"])
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{port}")]);
    let mut server = Process::spawn(serve_cmd, &work.join("serve.log"))?;
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{base}/api/health")).send().await.is_err() {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the recorder did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ids = Vec::with_capacity(urls.len());
    let registering = Instant::now();
    for (n, url) in urls.iter().enumerate() {
        let resp = http
            .post(format!("{base}/api/cameras"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "name": format!("bench {}", n + 1), "url": url }))
            .send()
            .await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "registering camera {}: {}",
            n + 1,
            resp.text().await?
        );
        ids.push(
            resp.json::<serde_json::Value>().await?["id"]
                .as_i64()
                .context("camera id")?,
        );
    }
    // Steady state: every camera recording.
    loop {
        let list: Vec<serde_json::Value> = http
            .get(format!("{base}/api/cameras"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        let recording = list
            .iter()
            .filter(|c| c["status"]["state"] == "recording")
            .count();
        if recording == cameras as usize {
            break;
        }
        anyhow::ensure!(
            registering.elapsed() < Duration::from_secs(60 + u64::from(cameras) / 10),
            "only {recording} of {cameras} cameras recording after {:?}",
            registering.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let cpu0 = cpu_seconds(server.pid())?;
    let steady = Instant::now();
    eprintln!("{cameras} cameras recording; measuring for {seconds} s");
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let steady_s = steady.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds(server.pid())?;
    let peak = peak_rss_mib(server.pid())?;
    let recorded_s = registering.elapsed().as_secs_f64();

    // Stop the cameras first; they report what they sent in full.
    sim.interrupt(Duration::from_secs(30))?;
    let mut sent = vec![0u64; cameras as usize];
    let mut late = 0u64;
    for line in sim
        .lines_until(Duration::from_secs(5), |_| false)
        .unwrap_or_default()
    {
        let Some(rest) = line.strip_prefix("sent camera=") else {
            continue;
        };
        let mut fields = rest.split(' ');
        let n: usize = fields.next().context("a camera number")?.parse()?;
        for field in fields {
            match field.split_once('=') {
                Some(("frames", v)) => sent[n - 1] = v.parse()?,
                Some(("late", v)) => late += v.parse::<u64>()?,
                _ => {}
            }
        }
    }
    // The recorder may still be reading what the cameras sent last: wait until every
    // camera's session has seen its stream end (no camera left recording), then stop the
    // recorder, which drains everything it holds into the index on the way out.
    let draining = Instant::now();
    loop {
        let list: Vec<serde_json::Value> = http
            .get(format!("{base}/api/cameras"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        if !list.iter().any(|c| c["status"]["state"] == "recording") {
            break;
        }
        anyhow::ensure!(
            draining.elapsed() < Duration::from_secs(60),
            "cameras still recording 60 s after the simulator stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.interrupt(Duration::from_secs(60))?;

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
    if trial.clean() {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        eprintln!(
            "kept the run's data and logs for inspection: {}",
            work.display()
        );
    }
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
