//! Shared harness for end-to-end tests: the real `sightline` binary, real RTSP servers
//! (our simulator and GStreamer's), and real ffmpeg/ffprobe to check the output.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_sightline");

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("sightline-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Proc {
    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Spawns a process and waits for a line of its stdout containing `ready`.
fn spawn_until(mut cmd: Command, ready: &str, log: &Path) -> Proc {
    let log_file = std::fs::File::create(log).unwrap();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .expect("spawning a test process");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let ready = ready.to_owned();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(&ready) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(());
                }
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{cmd:?} did not become ready; see {}", log.display()));
    Proc(child)
}

/// The simulator with `cameras` cameras on `port`.
pub fn spawn_sim(dir: &TempDir, port: u16, cameras: u32, credentials: Option<&str>) -> Proc {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "sim",
        "--cameras",
        &cameras.to_string(),
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    if let Some(c) = credentials {
        cmd.args(["--credentials", c]);
    }
    spawn_until(
        cmd,
        &format!("camera {cameras} rtsp="),
        &dir.path(&format!("sim-{port}.log")),
    )
}

/// GStreamer's RTSP server (a camera we did not write), serving `rtsp://127.0.0.1:PORT/stream`.
pub fn spawn_gst(dir: &TempDir, port: u16, args: &[&str]) -> Proc {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/gst_camera.py");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(script).arg(port.to_string()).args(args);
    spawn_until(cmd, "ready", &dir.path(&format!("gst-{port}.log")))
}

/// Makes a test clip with ffmpeg: H.264 High profile with B-frames, optionally AAC audio.
pub fn make_clip(path: &Path, seconds: u32, audio: bool) {
    make_clip_with(
        path,
        seconds,
        audio,
        &["-c:v", "libx264", "-profile:v", "high"],
    );
}

/// Makes a test clip with B-frames and a keyframe every second, with the given video encoder arguments.
pub fn make_clip_with(path: &Path, seconds: u32, audio: bool, encoder: &[&str]) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size=640x360:rate=25:duration={seconds}"),
    ]);
    if audio {
        cmd.args([
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency=440:sample_rate=48000:duration={seconds}"),
        ]);
    }
    cmd.args(encoder)
        .args(["-bf", "2", "-g", "25", "-pix_fmt", "yuv420p"]);
    if audio {
        cmd.args(["-c:a", "aac", "-b:a", "96k"]);
    }
    cmd.arg(path);
    let out = cmd
        .output()
        .expect("running ffmpeg (scripts/install-test-deps.sh installs it)");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ffmpeg -f framemd5` of one stream: one (pts, hash) per decoded frame, in output order.
pub fn framemd5(path: &Path, stream: &str) -> Vec<(i64, String)> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", &format!("0:{stream}"), "-f", "framemd5", "-"])
        .output()
        .expect("running ffmpeg");
    assert!(
        out.status.success(),
        "framemd5 of {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split(',').map(str::trim).collect();
            (cols[2].parse().unwrap(), cols[5].to_owned())
        })
        .collect()
}

/// Everything `ffmpeg -v error` says while decoding the whole file (empty when clean).
pub fn decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
        + if out.status.success() {
            ""
        } else {
            "(ffmpeg failed)"
        }
}

/// Packet presentation times (seconds) of one stream, per ffprobe.
pub fn packet_times(path: &Path, stream: &str) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// A `sightline serve` process with its own data directory and port, and two signed-in
/// test accounts: an administrator (camera configuration, metrics) and a supervisor
/// (recordings and exports), both cleared for everything.
pub struct Server {
    pub proc: Proc,
    pub base: String,
    pub data: PathBuf,
    /// API token of the administrator `test-admin`.
    pub admin: String,
    /// API token of the supervisor `test-viewer`.
    pub viewer: String,
    http: reqwest::Client,
}

/// A password that passes the strength check.
pub const TEST_PASSWORD: &str = "test password 12345";

/// Runs an offline command on a data directory, feeding `stdin`; returns its stdout.
pub fn offline(data: &Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "sightline {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Creates an account offline and returns an API token for it.
pub fn add_user_with_token(
    data: &Path,
    name: &str,
    role: &str,
    org: &str,
    clearance: &[&str],
) -> String {
    let mut args = vec![
        "user",
        "add",
        "--name",
        name,
        "--role",
        role,
        "--org",
        org,
        "--password-stdin",
    ];
    args.extend_from_slice(clearance);
    offline(data, &args, TEST_PASSWORD);
    let out = offline(data, &["token", "create", "--user", name], "");
    out.lines().last().unwrap().trim().to_owned()
}

impl Server {
    pub async fn start(data: &Path) -> Server {
        Self::start_on(data, free_port()).await
    }

    pub async fn start_on(data: &Path, port: u16) -> Server {
        Self::start_with(data, port, &[]).await
    }

    /// Starts with a settings file (written into the data directory).
    pub async fn start_with_settings(data: &Path, toml: &str) -> Server {
        std::fs::create_dir_all(data).unwrap();
        let path = data.join("sightline.toml");
        std::fs::write(&path, toml).unwrap();
        Self::start_with(data, free_port(), &["--config", path.to_str().unwrap()]).await
    }

    pub async fn start_with(data: &Path, port: u16, extra: &[&str]) -> Server {
        std::fs::create_dir_all(data).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.join("server.log"))
            .unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--data"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("SIGHTLINE_LOG", "info,sightline_recorder=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Server {
            proc: Proc(child),
            base: format!("http://127.0.0.1:{port}"),
            data: data.to_owned(),
            admin: String::new(),
            viewer: String::new(),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server
            .http
            .get(format!("{}/api/health", server.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "server did not start; see {}/server.log",
                data.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The accounts survive restarts of the same data directory; so do their tokens.
        let tokens = data.join("test-tokens");
        if !tokens.exists() {
            let full = ["--clearance", "SECRET", "--covert"];
            let admin = add_user_with_token(data, "test-admin", "administrator", "force", &full);
            let viewer = add_user_with_token(data, "test-viewer", "supervisor", "force", &full);
            std::fs::write(&tokens, format!("{admin}\n{viewer}\n")).unwrap();
        }
        let text = std::fs::read_to_string(&tokens).unwrap();
        let mut lines = text.lines();
        server.admin = lines.next().unwrap().to_owned();
        server.viewer = lines.next().unwrap().to_owned();
        server
    }

    /// A request signed in with `token`.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        let url = if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        };
        self.http.request(method, url).bearer_auth(token)
    }

    /// GET as the supervisor.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_as(&self.viewer, path).await
    }

    /// GET with the given token.
    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path, token)
            .send()
            .await
            .unwrap()
    }

    pub async fn json(&self, path: &str) -> Value {
        let resp = self.get(path).await;
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    /// Registers a camera as the administrator.
    pub async fn add_camera(&self, name: &str, url: &str) -> i64 {
        let resp = self
            .request(reqwest::Method::POST, "/api/cameras", &self.admin)
            .json(&serde_json::json!({ "name": name, "url": url }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            201,
            "adding {name}: {}",
            resp.text().await.unwrap()
        );
        resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    /// A camera as the administrator sees it (with its URL).
    pub async fn camera(&self, id: i64) -> Value {
        let path = format!("/api/cameras/{id}");
        let resp = self.get_as(&self.admin, &path).await;
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    /// Recorded spans and gaps over the last hour and the next.
    pub async fn recordings(&self, id: i64) -> Value {
        let now = sightline_core::Timestamp::now();
        let from = now.add_micros(-3_600_000_000).to_rfc3339();
        let to = now.add_micros(3_600_000_000).to_rfc3339();
        self.json(&format!("/api/cameras/{id}/recordings?from={from}&to={to}"))
            .await
    }

    pub fn export_url(&self, id: i64, from: &str, to: &str) -> String {
        let enc = |s: &str| s.replace('+', "%2B");
        format!(
            "{}/api/cameras/{id}/export.mp4?from={}&to={}",
            self.base,
            enc(from),
            enc(to)
        )
    }

    /// Downloads an export to `path` and returns its bytes.
    pub async fn export(&self, id: i64, from: &str, to: &str, path: &Path) -> Vec<u8> {
        let resp = self.get(&self.export_url(id, from, to)).await;
        assert_eq!(resp.status(), 200, "export of camera {id} {from}..{to}");
        let bytes = resp.bytes().await.unwrap().to_vec();
        std::fs::write(path, &bytes).unwrap();
        bytes
    }

    /// Waits until `check` returns `Some`, polling every 200 ms, or panics after `timeout`.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, timeout: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; see {}/server.log",
                self.data.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Runs the CLI against a server as the administrator; returns (success, stdout, stderr).
pub fn cli(server: &Server, args: &[&str]) -> (bool, String, String) {
    cli_as(server, &server.admin, args)
}

/// Runs the CLI against a server with the given token.
pub fn cli_as(server: &Server, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("SIGHTLINE_SERVER", &server.base)
        .env("SIGHTLINE_TOKEN", token)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Signs in to the server at `base` with a password, checking the cookie's attributes;
/// returns the cookie header value and the session's CSRF token.
pub async fn sign_in(base: &str, user: &str, password: &str) -> (String, String) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/session"))
        .json(&serde_json::json!({ "username": user, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "signing in as {user}");
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    (cookie, body["csrf_token"].as_str().unwrap().to_owned())
}
