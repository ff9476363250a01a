//! Live per-camera status and counters, shared between camera tasks, the index
//! committer and the server (camera list, `/metrics`).
//!
//! Counters are atomics so the hot path (every frame) takes no lock; the textual
//! status sits behind a mutex touched a few times a second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use sightline_core::{CameraId, CameraState, CameraStatus, Timestamp};

/// Counters and status of one camera.
#[derive(Default)]
pub struct CameraLive {
    status: Mutex<CameraStatus>,
    rate: Mutex<Option<RateWindow>>,
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    pub reconnects: AtomicU64,
    pub gaps: AtomicU64,
    /// Microseconds from a chunk's first frame arriving to its index row committing.
    pub lag_us: AtomicU64,
}

struct RateWindow {
    since: Instant,
    frames: u64,
    bytes: u64,
}

/// Snapshot of a camera's counters, for metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CameraCounters {
    pub frames: u64,
    pub bytes: u64,
    pub reconnects: u64,
    pub gaps: u64,
    pub lag_seconds: f64,
}

impl CameraLive {
    pub fn set_state(&self, state: CameraState, error: Option<String>) {
        let mut s = self.status.lock().unwrap();
        s.state = state;
        if error.is_some() {
            s.last_error = error;
        }
        if state != CameraState::Recording {
            s.fps = 0.0;
            s.bitrate_bps = 0.0;
        }
    }

    pub fn set_stream_info(&self, codec: String, has_audio: bool) {
        let mut s = self.status.lock().unwrap();
        s.codec = Some(codec);
        s.has_audio = has_audio;
    }

    /// Counts one received frame of `bytes` (any track); `video` frames count for fps.
    pub fn frame(&self, bytes: usize, video: bool) {
        if video {
            self.frames.fetch_add(1, Ordering::Relaxed);
        }
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Recomputes fps and bitrate over the window since the last call (about every 2 s).
    pub fn refresh_rates(&self) {
        let now = Instant::now();
        let frames = self.frames.load(Ordering::Relaxed);
        let bytes = self.bytes.load(Ordering::Relaxed);
        let mut window = self.rate.lock().unwrap();
        if let Some(w) = window.as_ref() {
            let secs = now.duration_since(w.since).as_secs_f64();
            if secs < 1.0 {
                return;
            }
            let mut s = self.status.lock().unwrap();
            s.fps = (frames - w.frames) as f64 / secs;
            s.bitrate_bps = (bytes - w.bytes) as f64 * 8.0 / secs;
        }
        *window = Some(RateWindow {
            since: now,
            frames,
            bytes,
        });
    }

    /// Records that frames up to now are stored (called after each committed flush).
    pub fn mark_frame_time(&self) {
        self.status.lock().unwrap().last_frame_at = Some(Timestamp::now());
    }

    pub fn status(&self) -> CameraStatus {
        let mut s = self.status.lock().unwrap().clone();
        s.reconnects = self.reconnects.load(Ordering::Relaxed);
        s
    }

    pub fn counters(&self) -> CameraCounters {
        CameraCounters {
            frames: self.frames.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            gaps: self.gaps.load(Ordering::Relaxed),
            lag_seconds: self.lag_us.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// All cameras' live state.
#[derive(Default)]
pub struct StatusBoard {
    cameras: RwLock<HashMap<CameraId, Arc<CameraLive>>>,
}

impl StatusBoard {
    /// The camera's entry, created on first use.
    pub fn camera(&self, id: CameraId) -> Arc<CameraLive> {
        if let Some(c) = self.cameras.read().unwrap().get(&id) {
            return c.clone();
        }
        self.cameras.write().unwrap().entry(id).or_default().clone()
    }

    pub fn get(&self, id: CameraId) -> Option<Arc<CameraLive>> {
        self.cameras.read().unwrap().get(&id).cloned()
    }

    pub fn remove(&self, id: CameraId) {
        self.cameras.write().unwrap().remove(&id);
    }

    /// Every camera's counters, by id.
    pub fn all_counters(&self) -> Vec<(CameraId, CameraCounters)> {
        let mut v: Vec<_> = self
            .cameras
            .read()
            .unwrap()
            .iter()
            .map(|(id, c)| (*id, c.counters()))
            .collect();
        v.sort_by_key(|(id, _)| *id);
        v
    }
}
