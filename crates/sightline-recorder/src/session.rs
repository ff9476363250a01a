//! One camera's recording task: connect with retina, record, reconnect.
//!
//! Each camera runs in its own task and owns its RTSP session, so a camera that
//! refuses connections, sends garbage or stalls only ever affects its own status.
//! Failures end the current run (which becomes a gap with a reason in the index) and
//! are retried with capped, jittered backoff until the camera is disabled or removed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use retina::client::{
    Credentials, InitialTimestampPolicy, PlayOptions, Session, SessionGroup, SessionOptions,
    SetupOptions, TcpTransportOptions, Transport as RtpTransport, UdpTransportOptions,
};
use retina::codec::{CodecItem, ParametersRef};
use sightline_core::camera::redact;
use sightline_core::{CameraId, CameraState, Timestamp, Transport};
use sightline_store::recordings::{SampleEntry, TrackKind};
use sightline_store::Store;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::index::IndexQueue;
use crate::status::CameraLive;
use crate::writer::{RunWriter, VideoPayload};
use crate::RecorderConfig;

/// What a camera task needs, cloned from the recorder.
#[derive(Clone)]
pub(crate) struct CameraTask {
    pub store: Store,
    pub index: IndexQueue,
    pub live: Arc<CameraLive>,
    pub camera: CameraId,
    pub config: RecorderConfig,
    pub group: Arc<SessionGroup>,
}

/// Why a recording attempt ended.
enum Ended {
    /// The recorder asked the task to stop.
    Cancelled,
    /// Worth retrying soon (network, camera restart, stall).
    Retry { reason: String, recorded: bool },
    /// The camera cannot be recorded as configured; retried at the slowest rate.
    Unrecordable(String),
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl CameraTask {
    pub(crate) async fn run(self, cancel: CancellationToken) {
        let mut backoff = Backoff::new(self.config.reconnect_min, self.config.reconnect_max);
        let mut ever_recorded = false;
        loop {
            self.live.set_state(CameraState::Connecting, None);
            let delay = match self.record_once(&cancel, ever_recorded).await {
                Ended::Cancelled => return,
                Ended::Retry { reason, recorded } => {
                    tracing::warn!(camera = %self.camera, %reason, "camera recording interrupted");
                    self.live.set_state(CameraState::Retrying, Some(reason));
                    if recorded {
                        ever_recorded = true;
                        backoff.reset();
                    }
                    backoff.next_delay()
                }
                Ended::Unrecordable(reason) => {
                    tracing::warn!(camera = %self.camera, %reason, "camera cannot be recorded");
                    self.live.set_state(CameraState::Failed, Some(reason));
                    self.config.reconnect_max.max(Duration::from_secs(30))
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn record_once(&self, cancel: &CancellationToken, reconnecting: bool) -> Ended {
        let camera = match self
            .store
            .camera(&sightline_core::Visibility::everything(), self.camera)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                return Ended::Retry {
                    reason: e.to_string(),
                    recorded: false,
                }
            }
        };
        let shown_url = redact(&camera.url);
        let url = match url::Url::parse(&camera.url) {
            Ok(u) => u,
            Err(e) => return Ended::Unrecordable(format!("invalid URL {shown_url:?}: {e}")),
        };
        let creds = match self.store.camera_credentials(self.camera).await {
            Ok(c) => c.map(|(username, password)| Credentials { username, password }),
            Err(e) => return Ended::Unrecordable(e.to_string()),
        };
        let options = SessionOptions::default()
            .creds(creds)
            .session_group(self.group.clone())
            .user_agent(format!("Sightline/{}", env!("CARGO_PKG_VERSION")));
        let describe = step("connecting to", &shown_url, Session::describe(url, options));
        let mut session = tokio::select! {
            _ = cancel.cancelled() => return Ended::Cancelled,
            r = describe => match r {
                Ok(s) => s,
                Err(ended) => return ended,
            },
        };

        let streams = session.streams();
        let Some(video_i) = streams.iter().position(|s| s.media() == "video") else {
            let media: Vec<String> = streams
                .iter()
                .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
                .collect();
            return Ended::Unrecordable(format!(
                "{shown_url} offers no video stream (it offers {media:?})"
            ));
        };
        let codec = streams[video_i].encoding_name().to_ascii_uppercase();
        if !matches!(codec.as_str(), "H264" | "H265") {
            return Ended::Unrecordable(format!(
                "{shown_url} streams {codec} video, which Sightline cannot record (supported: H.264, H.265)"
            ));
        }
        let audio_i = streams
            .iter()
            .position(|s| s.media() == "audio" && s.encoding_name() == "mpeg4-generic");
        let transport = match camera.transport {
            Transport::Tcp => RtpTransport::Tcp(TcpTransportOptions::default()),
            Transport::Udp => RtpTransport::Udp(UdpTransportOptions::default()),
        };
        for i in std::iter::once(video_i).chain(audio_i) {
            let setup = session.setup(i, SetupOptions::default().transport(transport.clone()));
            if let Err(ended) = step("setting up", &shown_url, setup).await {
                return ended;
            }
        }
        let play = session
            .play(PlayOptions::default().initial_timestamp(InitialTimestampPolicy::Permissive));
        let playing = match step("playing", &shown_url, play).await {
            Ok(p) => p,
            Err(ended) => return ended,
        };
        let mut demuxed = match playing.demuxed() {
            Ok(d) => d,
            Err(e) => {
                return Ended::Retry {
                    reason: format!("demuxing {shown_url}: {}", summarize(&e)),
                    recorded: false,
                }
            }
        };
        self.live.set_stream_info(codec.clone(), audio_i.is_some());

        let mut writer: Option<RunWriter> = None;
        let mut video_entry: Option<(i64, u32)> = None;
        let mut audio_entry: Option<(i64, u32)> = None;
        let mut flush = tokio::time::interval(self.config.flush_interval);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut rates = tokio::time::interval(Duration::from_secs(2));
        let mut last_frame = Instant::now();

        let outcome: Result<String, String> = loop {
            tokio::select! {
                _ = cancel.cancelled() => break Ok("recording stopped".into()),
                _ = flush.tick() => {
                    if let Some(w) = writer.as_mut() {
                        if let Err(e) = w.flush().await {
                            break Err(format!("storing recording: {e}"));
                        }
                    }
                    if last_frame.elapsed() > self.config.stall_timeout {
                        break Err(format!("{shown_url} sent no frame for {:?}", self.config.stall_timeout));
                    }
                }
                _ = rates.tick() => self.live.refresh_rates(),
                item = demuxed.next() => {
                    let item = match item {
                        None => break Err(format!("{shown_url} ended the stream")),
                        Some(Err(e)) => break Err(format!("receiving from {shown_url}: {}", summarize(&e))),
                        Some(Ok(item)) => item,
                    };
                    let received = Instant::now();
                    let result = match item {
                        CodecItem::VideoFrame(frame) => {
                            last_frame = received;
                            if frame.has_new_parameters() || video_entry.is_none() {
                                match self.sample_entry(demuxed.streams()[video_i].parameters()).await {
                                    Ok(e) => video_entry = Some(e),
                                    Err(e) => break Err(e),
                                }
                            }
                            let (entry, timescale) = video_entry.expect("set above");
                            let pts = frame.timestamp().elapsed();
                            if writer.is_none() && frame.is_random_access_point() {
                                let npt0 = Timestamp::now().add_micros(-Timestamp::ticks_to_micros(pts, timescale));
                                match RunWriter::open(self.store.clone(), self.index.clone(), self.live.clone(), self.camera, npt0, self.config.segment_duration).await {
                                    Ok(w) => {
                                        if reconnecting {
                                            self.live.reconnects.fetch_add(1, Ordering::Relaxed);
                                        }
                                        self.live.set_state(CameraState::Recording, None);
                                        writer = Some(w);
                                    }
                                    Err(e) => break Err(format!("starting a run: {e}")),
                                }
                            }
                            self.live.frame(frame.data().len(), true);
                            match writer.as_mut() {
                                Some(w) => {
                                    let key = frame.is_random_access_point();
                                    let data = frame.into_data();
                                    w.push_video(pts, VideoPayload { data, key, entry, received }, timescale).await
                                }
                                None => Ok(()),
                            }
                        }
                        CodecItem::AudioFrame(frame) => {
                            if audio_entry.is_none() {
                                let stream = audio_i.map(|i| &demuxed.streams()[i]);
                                match self.sample_entry(stream.and_then(|s| s.parameters())).await {
                                    Ok(e) => audio_entry = Some(e),
                                    Err(e) => break Err(e),
                                }
                            }
                            let (entry, timescale) = audio_entry.expect("set above");
                            self.live.frame(frame.data().len(), false);
                            match writer.as_mut() {
                                Some(w) => w.push_audio(frame.timestamp().elapsed(), frame.frame_length().get(), frame.data(), entry, timescale, received).await,
                                None => Ok(()),
                            }
                        }
                        _ => Ok(()),
                    };
                    if let Err(e) = result {
                        break Err(format!("storing recording: {e}"));
                    }
                }
            }
        };
        let recorded = writer.is_some();
        let reason = match &outcome {
            Ok(r) | Err(r) => r.clone(),
        };
        if let Some(w) = writer {
            if let Err(e) = w.finish(&reason).await {
                tracing::error!(camera = %self.camera, error = %e, "closing the run failed; recovery will finish it at next start");
            }
            if outcome.is_err() {
                self.live.gaps.fetch_add(1, Ordering::Relaxed);
            }
        }
        match outcome {
            Ok(_) => Ended::Cancelled,
            Err(reason) => Ended::Retry { reason, recorded },
        }
    }

    /// Stores the sample entry of a stream's current parameters; returns its id and timescale.
    async fn sample_entry(&self, params: Option<ParametersRef<'_>>) -> Result<(i64, u32), String> {
        let entry = match params {
            Some(ParametersRef::Video(v)) => {
                let data = v
                    .mp4_sample_entry()
                    .build()
                    .map_err(|e| format!("building video sample entry: {e}"))?;
                let (w, h) = v.pixel_dimensions();
                SampleEntry {
                    media: TrackKind::Video,
                    codec: v.rfc6381_codec().to_owned(),
                    timescale: 90_000,
                    dimensions: (w, h),
                    data,
                }
            }
            Some(ParametersRef::Audio(a)) => {
                let data = a
                    .mp4_sample_entry()
                    .build()
                    .map_err(|e| format!("building audio sample entry: {e}"))?;
                SampleEntry {
                    media: TrackKind::Audio,
                    codec: a.rfc6381_codec().unwrap_or("mp4a").to_owned(),
                    timescale: a.clock_rate(),
                    dimensions: (a.clock_rate(), u32::from(a.channels().get())),
                    data,
                }
            }
            _ => return Err("the stream's codec parameters are not known yet".into()),
        };
        let timescale = entry.timescale;
        let id = self
            .store
            .sample_entry_id(&entry)
            .await
            .map_err(|e| e.to_string())?;
        Ok((id, timescale))
    }
}

/// Runs one step of the RTSP handshake with a time limit, so a camera that accepts the
/// connection and then says nothing cannot hold its task forever.
async fn step<T, E: std::fmt::Display>(
    what: &str,
    url: &str,
    step: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, Ended> {
    let reason = match tokio::time::timeout(CONNECT_TIMEOUT, step).await {
        Ok(Ok(v)) => return Ok(v),
        Ok(Err(e)) => summarize(&e),
        Err(_) => format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
    };
    Err(Ended::Retry {
        reason: format!("{what} {url}: {reason}"),
        recorded: false,
    })
}

/// The first paragraph of a retina error (the rest is connection context for logs),
/// with a plain-words hint for authentication failures.
fn summarize(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let first = text.split("\n\n").next().unwrap_or(&text).trim().to_owned();
    if first.contains("Unauthorized") || first.starts_with("401") {
        format!("authentication failed, check the camera's username and password ({first})")
    } else {
        first
    }
}

#[cfg(test)]
mod tests {
    use super::summarize;

    #[test]
    fn summaries_keep_the_first_paragraph_and_explain_401() {
        let e = "401 Unauthorized response to DESCRIBE CSeq=2: Received Unauthorized after trying digest auth\n\nconn: x";
        let s = summarize(&e);
        assert!(s.starts_with("authentication failed"), "{s}");
        assert!(s.contains("401") && !s.contains("conn:"), "{s}");
        assert_eq!(
            summarize(&"Unable to connect to RTSP server: Connection refused (os error 111)"),
            "Unable to connect to RTSP server: Connection refused (os error 111)"
        );
    }
}
