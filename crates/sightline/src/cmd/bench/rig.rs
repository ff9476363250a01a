//! The benchmarks' test rig: the simulator and the recorder as separate processes on
//! loopback, as a camera network and a server would be, driven over the API.
//!
//! [`Rig::start`] makes a fresh data directory with an administrator (to register
//! cameras) and a supervisor (to export), starts `sightline sim` and `sightline serve`,
//! and registers every simulated camera. [`Rig::stop_cameras`] stops the simulator and
//! reads, per camera, what it sent; [`Rig::stop_recorder`] stops the recorder once every
//! session has seen its stream end, so everything received reaches the index.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sightline_core::{Clearance, Role};
use sightline_sim::SentCounts;
use sightline_store::users::NewUser;
use sightline_store::Store;

/// A child process that is killed if dropped, with its stdout lines on a channel.
pub struct Process {
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

    pub fn pid(&self) -> i32 {
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
            if let Some(status) = self.child.try_wait()? {
                anyhow::ensure!(
                    status.success(),
                    "process {} stopped with {status}: its counts cannot be trusted",
                    self.pid()
                );
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("process {} did not stop within {within:?}", self.pid())
    }

    /// Lines up to and including the first one `done` accepts (or to the end).
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
pub fn cpu_seconds(pid: i32) -> anyhow::Result<f64> {
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
pub fn peak_rss_mib(pid: i32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmHWM in /proc status")?
        .parse()?;
    Ok(kib / 1024.0)
}

/// A simulator and a recorder with cameras registered.
pub struct Rig {
    pub work: PathBuf,
    pub data: PathBuf,
    pub base: String,
    pub http: reqwest::Client,
    /// Token of the administrator who registered the cameras.
    pub admin: String,
    /// Token of a supervisor (who may play back and export).
    pub viewer: String,
    /// Registered camera ids, in simulator order.
    pub cameras: Vec<i64>,
    pub sim: Process,
    pub server: Process,
}

async fn account(store: &Store, name: &str, role: Role) -> anyhow::Result<String> {
    let user = store
        .add_user(NewUser {
            name: name.into(),
            org: sightline_core::camera::DEFAULT_ORG.into(),
            role,
            clearance: Clearance::default(),
            password: sightline_store::credentials::new_secret(""),
            must_change_password: false,
        })
        .await?;
    Ok(store.create_token(&user, "bench", None).await?.1)
}

impl Rig {
    /// Starts `cameras` simulated cameras (padded to `bitrate`) and a recorder in a fresh
    /// directory, and registers the cameras.
    pub async fn start(name: &str, cameras: u32, bitrate: Option<u32>) -> anyhow::Result<Rig> {
        let exe = std::env::current_exe().context("finding the sightline binary")?;
        let work = std::env::temp_dir().join(format!(
            "sightline-bench-{name}-{}-{cameras}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&work);
        let data = work.join("data");
        // Accounts made before the server starts (so it makes no one-time secret).
        let store = Store::open(&data).await?;
        let admin = account(&store, "bench-admin", Role::Administrator).await?;
        let viewer = account(&store, "bench-viewer", Role::Supervisor).await?;
        store.close().await;

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
        let sim = Process::spawn(sim_cmd, &work.join("sim.log"))?;
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

        // Port 0, and the address the server prints: no window for another process to
        // take a port picked in advance.
        let mut serve_cmd = Command::new(&exe);
        serve_cmd
            .args(["serve", "--data"])
            .arg(&data)
            .args(["--listen", "127.0.0.1:0"]);
        let server = Process::spawn(serve_cmd, &work.join("serve.log"))?;
        let base = server
            .lines_until(Duration::from_secs(60), |l| {
                l.starts_with("Sightline listening on ")
            })
            .context("waiting for the recorder")?
            .iter()
            .find_map(|l| l.strip_prefix("Sightline listening on ").map(str::to_owned))
            .context("the recorder did not say where it listens")?;
        let http = reqwest::Client::new();
        let mut ids = Vec::with_capacity(urls.len());
        for (n, url) in urls.iter().enumerate() {
            let resp = http
                .post(format!("{base}/api/cameras"))
                .bearer_auth(&admin)
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
        Ok(Rig {
            work,
            data,
            base,
            http,
            admin,
            viewer,
            cameras: ids,
            sim,
            server,
        })
    }

    /// How many cameras are recording now.
    async fn recording(&self) -> anyhow::Result<usize> {
        let list: Vec<serde_json::Value> = self
            .http
            .get(format!("{}/api/cameras", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await?
            .json()
            .await?;
        Ok(list
            .iter()
            .filter(|c| c["status"]["state"] == "recording")
            .count())
    }

    /// Waits until `count` cameras are recording.
    pub async fn wait_recording(&self, count: usize) -> anyhow::Result<()> {
        let started = Instant::now();
        let limit = Duration::from_secs(60 + count as u64 / 10);
        loop {
            let now = self.recording().await?;
            if now >= count {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < limit,
                "only {now} of {count} cameras recording after {:?}",
                started.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stops the simulator and returns what each camera sent; then waits until every
    /// camera's session has seen its stream end (the recorder may still be reading
    /// what was sent last).
    pub async fn stop_cameras(&mut self) -> anyhow::Result<SentCounts> {
        self.sim.interrupt(Duration::from_secs(30))?;
        let n = self.cameras.len();
        let mut sent = SentCounts {
            frames: vec![0; n],
            late: vec![0; n],
        };
        let mut reported = 0;
        for line in self.sim.lines_until(Duration::from_secs(5), |_| false)? {
            let Some(rest) = line.strip_prefix("sent camera=") else {
                continue;
            };
            let mut fields = rest.split(' ');
            let camera: usize = fields.next().context("a camera number")?.parse()?;
            reported += 1;
            for field in fields {
                match field.split_once('=') {
                    Some(("frames", v)) => sent.frames[camera - 1] = v.parse()?,
                    Some(("late", v)) => sent.late[camera - 1] = v.parse()?,
                    _ => {}
                }
            }
        }
        anyhow::ensure!(
            reported == n,
            "the simulator reported {reported} of {n} cameras' counts"
        );
        let draining = Instant::now();
        while self.recording().await? > 0 {
            anyhow::ensure!(
                draining.elapsed() < Duration::from_secs(60),
                "cameras still recording 60 s after the simulator stopped"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(sent)
    }

    /// Stops the recorder, which drains everything it holds into the index on the way out.
    pub fn stop_recorder(&mut self) -> anyhow::Result<()> {
        self.server.interrupt(Duration::from_secs(60))
    }

    /// Removes the run's directory; when it went wrong, keeps the logs and the index
    /// for inspection (and says where) but not the media, which at hundreds of cameras
    /// is gigabytes a run and would fill the disk over a `--find-max` search.
    pub fn finish(&self, clean: bool) {
        if clean {
            let _ = std::fs::remove_dir_all(&self.work);
        } else {
            let _ = std::fs::remove_dir_all(self.data.join("media"));
            eprintln!(
                "kept the run's logs and index for inspection: {}",
                self.work.display()
            );
        }
    }
}

impl Drop for Rig {
    /// A run abandoned on an error keeps its logs but never its media.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.data.join("media"));
    }
}
