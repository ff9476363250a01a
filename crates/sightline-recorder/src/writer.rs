//! Writes one run (an uninterrupted RTSP session) into segments and the index.
//!
//! Video frames arrive in decode order with presentation timestamps; a
//! [`SampleTimer`] derives decode timestamps and durations (B-frames need this).
//! Samples are buffered per track, and every flush appends both tracks' bytes to the
//! open segment in one write, fsyncs, and only then submits the chunk rows for group
//! commit. A new segment starts at the first keyframe after `segment_duration`, or
//! when the codec parameters change, so every segment decodes on its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sightline_core::{CameraId, Timestamp};
use sightline_media::frame_index::{self, FrameEntry};
use sightline_media::timing::{SampleTimer, TimedSample};
use sightline_store::recordings::{NewChunk, TrackKind};
use sightline_store::{SegmentFile, Store, StoreError};

use crate::index::IndexQueue;
use crate::status::CameraLive;

/// Frames held back to derive decode order; deeper than any common encoder's reordering.
const REORDER_WINDOW: usize = 8;

/// A video frame waiting for its decode timestamp.
pub struct VideoPayload {
    pub data: Vec<u8>,
    pub key: bool,
    pub entry: i64,
    pub received: Instant,
}

/// Samples of one track since the last flush.
struct ChunkBuf {
    track: TrackKind,
    timescale: u32,
    entry: i64,
    start_ts: i64,
    duration_ts: i64,
    data: Vec<u8>,
    frames: Vec<FrameEntry>,
    keys: u32,
    oldest: Option<Instant>,
}

impl ChunkBuf {
    fn new(track: TrackKind) -> Self {
        ChunkBuf {
            track,
            timescale: 1,
            entry: 0,
            start_ts: 0,
            duration_ts: 0,
            data: Vec::new(),
            frames: Vec::new(),
            keys: 0,
            oldest: None,
        }
    }

    fn push(&mut self, dts: i64, frame: FrameEntry, data: &[u8], received: Instant) {
        if self.frames.is_empty() {
            self.start_ts = dts;
            self.duration_ts = 0;
            self.oldest = Some(received);
        }
        self.duration_ts += i64::from(frame.duration);
        self.keys += u32::from(frame.key);
        self.frames.push(frame);
        self.data.extend_from_slice(data);
    }

    fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

struct OpenSegment {
    id: i64,
    key: String,
    file: Option<SegmentFile>,
    opened: Instant,
}

/// Everything a run writer needs from its camera task.
pub struct RunWriter {
    store: Store,
    index: IndexQueue,
    live: Arc<CameraLive>,
    camera: CameraId,
    run: i64,
    npt0: Timestamp,
    segment_duration: Duration,
    timer: SampleTimer<VideoPayload>,
    segment: Option<OpenSegment>,
    segments_opened: u32,
    video: ChunkBuf,
    audio: ChunkBuf,
    last_video_duration: u32,
    /// Until the first keyframe nothing is decodable, so nothing is written.
    started: bool,
}

impl RunWriter {
    pub async fn open(
        store: Store,
        index: IndexQueue,
        live: Arc<CameraLive>,
        camera: CameraId,
        npt0: Timestamp,
        segment_duration: Duration,
    ) -> Result<RunWriter, StoreError> {
        let run = store.open_run(camera, npt0, Timestamp::now()).await?;
        Ok(RunWriter {
            store,
            index,
            live,
            camera,
            run,
            npt0,
            segment_duration,
            timer: SampleTimer::new(REORDER_WINDOW),
            segment: None,
            segments_opened: 0,
            video: ChunkBuf::new(TrackKind::Video),
            audio: ChunkBuf::new(TrackKind::Audio),
            last_video_duration: 0,
            started: false,
        })
    }

    /// Adds a video frame (decode order) with its presentation time in 90 kHz ticks.
    pub async fn push_video(
        &mut self,
        pts: i64,
        frame: VideoPayload,
        timescale: u32,
    ) -> Result<(), StoreError> {
        if !self.started && !frame.key {
            return Ok(());
        }
        self.started = true;
        if self.segment.is_none() {
            // Open now rather than when the reorder window releases the first sample, so
            // audio arriving meanwhile has somewhere to go.
            self.open_segment().await?;
        }
        self.video.timescale = timescale;
        for sample in self.timer.push(pts, frame) {
            self.append_video(sample).await?;
        }
        Ok(())
    }

    /// Adds an audio frame; audio before the first video keyframe has no segment to go to.
    pub async fn push_audio(
        &mut self,
        ts: i64,
        duration: u32,
        data: &[u8],
        entry: i64,
        timescale: u32,
        received: Instant,
    ) -> Result<(), StoreError> {
        if self.segment.is_none() {
            return Ok(());
        }
        if !self.audio.is_empty() && self.audio.entry != entry {
            self.flush().await?;
        }
        self.audio.entry = entry;
        self.audio.timescale = timescale;
        let frame = FrameEntry {
            duration,
            size: data.len() as u32,
            key: true,
            cts_offset: 0,
        };
        self.audio.push(ts, frame, data, received);
        Ok(())
    }

    async fn append_video(&mut self, sample: TimedSample<VideoPayload>) -> Result<(), StoreError> {
        let payload = &sample.payload;
        let roll = payload.key
            && self
                .segment
                .as_ref()
                .is_some_and(|s| s.opened.elapsed() >= self.segment_duration);
        let new_entry = !self.video.is_empty() && self.video.entry != payload.entry;
        if roll || (new_entry && payload.key) {
            self.close_segment().await?;
        } else if new_entry {
            self.flush().await?;
        }
        if self.segment.is_none() {
            self.open_segment().await?;
        }
        self.last_video_duration = sample.duration;
        self.video.entry = payload.entry;
        let frame = FrameEntry {
            duration: sample.duration,
            size: payload.data.len() as u32,
            key: payload.key,
            cts_offset: sample.cts_offset(),
        };
        self.video
            .push(sample.dts, frame, &payload.data, payload.received);
        Ok(())
    }

    async fn open_segment(&mut self) -> Result<(), StoreError> {
        let (id, key) = self
            .store
            .open_segment(self.camera, self.run, self.segments_opened)
            .await?;
        self.segments_opened += 1;
        let file = self.store.media().create_segment(&key)?;
        self.segment = Some(OpenSegment {
            id,
            key,
            file: Some(file),
            opened: Instant::now(),
        });
        Ok(())
    }

    /// Writes, fsyncs and indexes everything buffered.
    pub async fn flush(&mut self) -> Result<(), StoreError> {
        if self.video.is_empty() && self.audio.is_empty() {
            return Ok(());
        }
        let Some(segment) = self.segment.as_mut() else {
            return Ok(());
        };
        let mut file = segment
            .file
            .take()
            .expect("segment file is present between flushes");
        let mut bytes = std::mem::take(&mut self.video.data);
        let video_len = bytes.len() as u64;
        bytes.extend_from_slice(&self.audio.data);
        self.audio.data.clear();
        let committed = file.len();
        let (file, written) = tokio::task::spawn_blocking(move || {
            let r = file.append_synced(&bytes);
            (file, r)
        })
        .await
        .expect("segment write task panicked");
        segment.file = Some(file);
        let offset = match written {
            Ok(offset) => offset,
            Err(e) => {
                // The bytes may be partly on disk but were never indexed: cut them off.
                let _ = self.store.media().truncate(&segment.key, committed);
                return Err(e);
            }
        };
        let mut chunks = Vec::with_capacity(2);
        let mut oldest = Instant::now();
        let mut byte_offset = offset;
        for buf in [&mut self.video, &mut self.audio] {
            if buf.is_empty() {
                continue;
            }
            let byte_len = buf.frames.iter().map(|f| u64::from(f.size)).sum::<u64>();
            debug_assert!(buf.track != TrackKind::Video || byte_len == video_len);
            let to_wall = |ts: i64| {
                self.npt0
                    .add_micros(Timestamp::ticks_to_micros(ts, buf.timescale))
            };
            chunks.push(NewChunk {
                segment_id: segment.id,
                run_id: self.run,
                camera: self.camera,
                track: buf.track,
                sample_entry_id: buf.entry,
                start: to_wall(buf.start_ts),
                end: to_wall(buf.start_ts + buf.duration_ts),
                start_ts: buf.start_ts,
                duration_ts: buf.duration_ts,
                byte_offset,
                byte_len,
                frame_count: buf.frames.len() as u32,
                key_count: buf.keys,
                frame_index: frame_index::encode(&buf.frames),
            });
            byte_offset += byte_len;
            oldest = oldest.min(buf.oldest.unwrap_or(oldest));
            buf.frames.clear();
            buf.keys = 0;
            buf.oldest = None;
        }
        self.index
            .commit(chunks, oldest, self.live.clone())
            .await
            .map_err(|e| {
                StoreError::Invalid(format!(
                    "indexing camera {} run {}: {e}",
                    self.camera, self.run
                ))
            })?;
        self.live.mark_frame_time();
        Ok(())
    }

    async fn close_segment(&mut self) -> Result<(), StoreError> {
        self.flush().await?;
        if let Some(segment) = self.segment.take() {
            let len = segment.file.as_ref().map_or(0, SegmentFile::len);
            if len == 0 {
                self.store.delete_segments(&[segment.id]).await?;
                self.store.collect_garbage().await?;
            } else {
                self.store.close_segment(segment.id, len).await?;
            }
        }
        Ok(())
    }

    /// Drains the reorder window, writes everything, closes the segment and records
    /// why the run ended.
    pub async fn finish(mut self, reason: &str) -> Result<(), StoreError> {
        let default = self.last_video_duration.max(1);
        for sample in self.timer.finish(default) {
            self.append_video(sample).await?;
        }
        self.close_segment().await?;
        self.store.end_run(self.run, reason).await
    }
}
