//! Simulated RTSP cameras for Sightline's demo, tests and benchmarks.
//!
//! A [`SimServer`] serves `N` H.264 cameras at `rtsp://ADDR/cam/1` .. `/cam/N` over RTSP with
//! RTP interleaved on the TCP connection, optionally behind Digest/Basic authentication. It
//! lets the recorder, live view and benchmarks run against "cameras" without hardware or
//! third-party servers, and lets one process stand in for hundreds of cameras.
//!
//! How it is built, and why:
//! * `clip`: a short synthetic clip is encoded once at start-up with openh264 (baseline, 1 s
//!   GOP, every loop starting with an IDR carrying SPS/PPS in-band).
//! * `rtp`, `prepared`: the clip is packetized once (RFC 6184 single NAL + FU-A) into
//!   ready-to-send interleaved bytes shared by all cameras; per camera and frame only the
//!   channel, sequence number, timestamp and SSRC are rewritten, so a camera costs little more
//!   than its socket writes.
//! * `timeline`: each camera has its own SSRC, sequence numbers and 90 kHz timestamps, all
//!   closed-form functions of the frame index, continuous across loop boundaries.
//! * `session` (sans-I/O request handling), `sdp`, `auth`, `rtcp`: the protocol pieces.
//! * `rtsp_server`: one task per connection, paced writes bounded by a timeout, so a slow or
//!   dead client never affects the others.
//! * `fault`: cameras that flap, refuse every password, stall or fall behind, on demand.
//! * `estate`: the simulated London estate (owned, partner, temporary and covert cameras,
//!   body-worn devices), a pure function of a seed.

mod auth;
mod clip;
pub mod estate;
pub mod fault;
mod prepared;
mod rtcp;
mod rtp;
mod rtsp_server;
mod sdp;
mod session;
mod timeline;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::auth::Authenticator;
use crate::clip::{Clip, ClipSpec};
pub use crate::estate::{Estate, StreamPlan};
pub use crate::fault::Fault;
use crate::prepared::PreparedClip;
use crate::timeline::CameraTimeline;

/// What to simulate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Where to listen, e.g. `127.0.0.1:8554`; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Cameras served at `rtsp://ADDR/cam/1` .. `/cam/N`.
    pub cameras: u32,
    /// When set, every request needs Digest (or Basic) authentication with these
    /// `(username, password)`; wrong credentials get 401.
    pub credentials: Option<(String, String)>,
    /// Picture width in pixels (even). Default 640.
    pub width: u16,
    /// Picture height in pixels (even). Default 360.
    pub height: u16,
    /// Frames per second. Default 25. The GOP is one second (an IDR every `fps` frames).
    pub fps: u32,
    /// Length of the generated loop in seconds. Default 4.
    pub clip_seconds: u32,
    /// Pad the default scene to this many bits per second (filler NAL units, which
    /// decoders discard), so load tests carry a camera's real bitrate. `None`: as encoded.
    pub bitrate_bps: Option<u32>,
    /// Further scenes (picture size and bitrate; same rate and loop length), numbered
    /// from 1 after the default scene 0.
    pub extra_scenes: Vec<SceneSpec>,
    /// The scene each camera streams, by camera index (0-based); cameras past the end of
    /// the list stream scene 0.
    pub camera_scenes: Vec<u8>,
    /// Cameras (numbered from 1) that misbehave, and how.
    pub faults: Vec<(u32, Fault)>,
}

/// How late a frame may go out before it counts as late: about what a real camera
/// buffers before it must drop frames.
pub const LATE_AFTER: Duration = Duration::from_secs(1);

/// What a simulator sent, per camera (index 0 is camera 1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SentCounts {
    /// Video frames written in full.
    pub frames: Vec<u64>,
    /// Of those, frames written more than [`LATE_AFTER`] after they were due. A real
    /// camera would have dropped frames instead of sending late.
    pub late: Vec<u64>,
}

/// A picture size and bitrate to generate a scene at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SceneSpec {
    pub width: u16,
    pub height: u16,
    pub bitrate_bps: Option<u32>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8554)),
            cameras: 1,
            credentials: None,
            width: 640,
            height: 360,
            fps: 25,
            clip_seconds: 4,
            bitrate_bps: None,
            extra_scenes: Vec::new(),
            camera_scenes: Vec::new(),
            faults: Vec::new(),
        }
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid simulator config: {field} = {value}: {reason}")]
    InvalidConfig {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("encoding frame {frame} of the simulated clip failed: {message}")]
    Encode { frame: u32, message: String },
    #[error("generating the simulated clip panicked or was cancelled: {0}")]
    ClipTask(String),
    #[error("cannot listen for RTSP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// One generated picture stream, shared by every camera that shows it.
pub(crate) struct Scene {
    /// The clip's parameters and parameter sets (its frames are dropped once prepared).
    pub(crate) clip: Clip,
    pub(crate) prepared: PreparedClip,
}

/// State shared by every connection of one server.
pub(crate) struct Shared {
    pub(crate) scenes: Vec<Scene>,
    pub(crate) cameras: Vec<CameraTimeline>,
    /// Video frames written in full to clients, per camera: what a recorder should hold.
    pub(crate) sent: Vec<std::sync::atomic::AtomicU64>,
    /// Of those, frames that went out more than [`LATE_AFTER`] after they were due,
    /// because the client did not read fast enough.
    pub(crate) late: Vec<std::sync::atomic::AtomicU64>,
    /// Each camera's index into `scenes`.
    pub(crate) camera_scenes: Vec<u8>,
    /// Each camera's fault, if it has one.
    pub(crate) faults: Vec<Option<Fault>>,
    pub(crate) auth: Option<Authenticator>,
    /// Frame 0 of every camera was due at this instant.
    pub(crate) epoch: tokio::time::Instant,
    /// The SDP `o=` session id.
    pub(crate) sdp_session_id: u64,
}

impl Shared {
    /// The fault of camera `camera` (0-based), if any.
    pub(crate) fn fault(&self, camera: usize) -> Option<Fault> {
        self.faults.get(camera).copied().flatten()
    }

    /// Whether camera `camera` (0-based) is in a flapping camera's down phase now.
    pub(crate) fn down(&self, camera: usize) -> bool {
        self.fault(camera)
            .is_some_and(|f| f.down_at(self.epoch.elapsed()))
    }

    /// The scene camera `camera` (0-based) streams.
    pub(crate) fn scene(&self, camera: usize) -> &Scene {
        let index = self.camera_scenes.get(camera).copied().unwrap_or(0);
        &self.scenes[usize::from(index)]
    }
}

/// A running simulator. Dropping it also stops it (without waiting).
pub struct SimServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

fn validate(c: &SimConfig) -> Result<(), SimError> {
    let invalid = |field, value: String, reason| {
        Err(SimError::InvalidConfig {
            field,
            value,
            reason,
        })
    };
    if c.cameras == 0 || c.cameras > 100_000 {
        return invalid("cameras", c.cameras.to_string(), "must be 1..=100000");
    }
    if !(16..=3840).contains(&c.width) || !c.width.is_multiple_of(2) {
        return invalid("width", c.width.to_string(), "must be even and 16..=3840");
    }
    if !(16..=2160).contains(&c.height) || !c.height.is_multiple_of(2) {
        return invalid("height", c.height.to_string(), "must be even and 16..=2160");
    }
    if !(1..=120).contains(&c.fps) {
        return invalid("fps", c.fps.to_string(), "must be 1..=120");
    }
    if !(1..=60).contains(&c.clip_seconds) {
        return invalid("clip_seconds", c.clip_seconds.to_string(), "must be 1..=60");
    }
    for scene in &c.extra_scenes {
        if !(16..=3840).contains(&scene.width) || !scene.width.is_multiple_of(2) {
            return invalid(
                "extra_scenes.width",
                scene.width.to_string(),
                "must be even and 16..=3840",
            );
        }
        if !(16..=2160).contains(&scene.height) || !scene.height.is_multiple_of(2) {
            return invalid(
                "extra_scenes.height",
                scene.height.to_string(),
                "must be even and 16..=2160",
            );
        }
    }
    if let Some((bad, _)) = c.faults.iter().find(|(n, _)| !(1..=c.cameras).contains(n)) {
        return invalid(
            "faults",
            bad.to_string(),
            "names a camera that does not exist",
        );
    }
    if let Some(&bad) = c
        .camera_scenes
        .iter()
        .find(|s| usize::from(**s) > c.extra_scenes.len())
    {
        return invalid(
            "camera_scenes",
            bad.to_string(),
            "names a scene that does not exist",
        );
    }
    Ok(())
}

impl SimServer {
    /// Generates the clip (on a blocking thread), binds `config.listen` and starts serving.
    pub async fn start(config: SimConfig) -> Result<SimServer, SimError> {
        validate(&config)?;
        let default_scene = SceneSpec {
            width: config.width,
            height: config.height,
            bitrate_bps: config.bitrate_bps,
        };
        let mut scenes = Vec::new();
        for scene in std::iter::once(default_scene).chain(config.extra_scenes.iter().copied()) {
            let spec = ClipSpec {
                width: scene.width,
                height: scene.height,
                fps: config.fps,
                seconds: config.clip_seconds,
            };
            let started = std::time::Instant::now();
            let made = tokio::task::spawn_blocking(move || {
                let mut clip = clip::generate(spec)?;
                if let Some(bps) = scene.bitrate_bps {
                    clip::pad_to_bitrate(&mut clip, bps);
                }
                let prepared = PreparedClip::new(&clip);
                clip.frames = Vec::new();
                Ok::<_, SimError>(Scene { clip, prepared })
            })
            .await
            .map_err(|e| SimError::ClipTask(e.to_string()))??;
            tracing::info!(
                elapsed = ?started.elapsed(),
                width = scene.width,
                height = scene.height,
                frames = made.prepared.len(),
                packets = made.prepared.packets_per_loop(),
                "generated simulated camera clip"
            );
            scenes.push(made);
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
        let mut id = [0u8; 8];
        getrandom::getrandom(&mut id).expect("operating system random source failed");
        let shared = Arc::new(Shared {
            scenes,
            camera_scenes: config.camera_scenes,
            cameras: (0..config.cameras)
                .map(|_| CameraTimeline::random())
                .collect(),
            sent: (0..config.cameras).map(|_| Default::default()).collect(),
            late: (0..config.cameras).map(|_| Default::default()).collect(),
            faults: (1..=config.cameras)
                .map(|n| config.faults.iter().find(|(c, _)| *c == n).map(|(_, f)| *f))
                .collect(),
            auth: config
                .credentials
                .map(|(user, pass)| Authenticator::new(user, pass)),
            epoch: tokio::time::Instant::now(),
            sdp_session_id: u64::from_be_bytes(id) >> 1,
        });
        let (shutdown, rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared.clone(), rx));
        tracing::info!(%local_addr, cameras = config.cameras, "simulated cameras listening");
        Ok(SimServer {
            local_addr,
            shared,
            shutdown,
            task: Some(task),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL of camera `n` (1-based), e.g. `rtsp://127.0.0.1:8554/cam/1`. An unspecified
    /// listen address is replaced by loopback so the URL is connectable.
    pub fn camera_url(&self, n: u32) -> String {
        let ip = match self.local_addr.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!(
            "rtsp://{}/cam/{n}",
            SocketAddr::new(ip, self.local_addr.port())
        )
    }

    /// What was sent to clients so far, per camera, over all connections: exactly
    /// what a recorder that loses nothing holds.
    pub fn sent(&self) -> SentCounts {
        let load = |v: &[std::sync::atomic::AtomicU64]| {
            v.iter()
                .map(|n| n.load(std::sync::atomic::Ordering::Relaxed))
                .collect()
        };
        SentCounts {
            frames: load(&self.shared.sent),
            late: load(&self.shared.late),
        }
    }

    /// Stops accepting, closes every connection and waits for the tasks to finish;
    /// returns the final [`Self::sent`] counts, which no longer change.
    pub async fn shutdown(mut self) -> SentCounts {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.sent()
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    conns.spawn(rtsp_server::serve_connection(
                        stream,
                        shared.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting an RTSP connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    // Connections see the same shutdown signal and close; abort any stuck in a write.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.shutdown().await;
}
