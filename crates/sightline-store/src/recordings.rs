//! The recordings index: runs, segments and chunks, written by the recorder and read
//! by playback, export and retention.
//!
//! Write order is the crash-safety contract: a run row, then a segment row, then the
//! segment's object is created; chunk rows are committed (many cameras per
//! transaction) only after their bytes were fsynced. [`Store::recover`] undoes
//! whatever a crash left half-done.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sightline_core::retention::{Hold, SegmentSummary};
use sightline_core::{CameraId, Timestamp, Visibility};
use sqlx::Row;

use crate::visibility::{camera_args, VISIBLE_CAMERA};
use crate::{Store, StoreError};

/// The media kind of a track.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackKind {
    Video,
    Audio,
}

impl TrackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackKind::Video => "video",
            TrackKind::Audio => "audio",
        }
    }
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "video" => Ok(TrackKind::Video),
            "audio" => Ok(TrackKind::Audio),
            other => Err(StoreError::Corrupt(format!("unknown track kind {other:?}"))),
        }
    }
}

/// A codec configuration as it goes into an MP4 `stsd` box.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleEntry {
    pub media: TrackKind,
    /// RFC 6381 codec string, e.g. `avc1.640028`.
    pub codec: String,
    pub timescale: u32,
    /// Video: width and height in pixels. Audio: sample rate and channels.
    pub dimensions: (u32, u32),
    /// The whole sample entry box (`avc1`, `hvc1`, `mp4a`).
    pub data: Vec<u8>,
}

/// A chunk ready to be indexed: its bytes are already fsynced in the segment.
#[derive(Clone, Debug)]
pub struct NewChunk {
    pub segment_id: i64,
    pub run_id: i64,
    pub camera: CameraId,
    pub track: TrackKind,
    pub sample_entry_id: i64,
    pub start: Timestamp,
    pub end: Timestamp,
    pub start_ts: i64,
    pub duration_ts: i64,
    pub byte_offset: u64,
    pub byte_len: u64,
    pub frame_count: u32,
    pub key_count: u32,
    pub frame_index: Vec<u8>,
}

/// A stored chunk, as export reads it.
#[derive(Clone, Debug)]
pub struct StoredChunk {
    pub id: i64,
    pub run_id: i64,
    pub npt0: Timestamp,
    pub object_key: String,
    pub track: TrackKind,
    pub sample_entry_id: i64,
    pub start: Timestamp,
    pub end: Timestamp,
    pub start_ts: i64,
    pub duration_ts: i64,
    pub byte_offset: u64,
    pub byte_len: u64,
    pub frame_count: u32,
    pub frame_index: Vec<u8>,
}

/// A continuously recorded span of one camera (one run, possibly trimmed by retention).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Span {
    pub run: i64,
    pub start: Timestamp,
    pub end: Timestamp,
    pub frames: i64,
    pub bytes: i64,
}

/// Time with no recording between two spans, or after the last one.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Gap {
    pub from: Timestamp,
    /// `None`: the camera has not recorded since.
    pub to: Option<Timestamp>,
    /// Why the preceding span ended.
    pub reason: String,
}

/// What was recorded in a time window.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Recordings {
    pub spans: Vec<Span>,
    pub gaps: Vec<Gap>,
}

/// What [`Store::recover`] found and mended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments_closed: u64,
    pub bytes_truncated: u64,
    pub empty_segments_removed: u64,
    pub runs_marked_interrupted: u64,
}

/// The end reason recorded for runs that were open when the server died.
pub const INTERRUPTED: &str = "server stopped unexpectedly";

fn db_err(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let context = context.into();
    move |e| StoreError::db(context, e)
}

/// What is recorded of one camera, in total.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedTotals {
    pub camera: CameraId,
    pub video_frames: u64,
    /// Media bytes (all tracks).
    pub bytes: u64,
    /// Bytes of the compact per-frame tables in the index.
    pub index_bytes: u64,
    /// Index rows.
    pub chunks: u64,
}

impl Store {
    /// Returns the id of a sample entry, storing it on first use.
    pub async fn sample_entry_id(&self, entry: &SampleEntry) -> Result<i64, StoreError> {
        let sha = Sha256::digest(&entry.data).to_vec();
        if let Some(id) = sqlx::query_scalar("SELECT id FROM sample_entries WHERE sha256 = ?")
            .bind(&sha)
            .fetch_optional(&self.db)
            .await
            .map_err(db_err("looking up sample entry"))?
        {
            return Ok(id);
        }
        let (w, h) = entry.dimensions;
        let video = entry.media == TrackKind::Video;
        sqlx::query_scalar(
            "INSERT INTO sample_entries (sha256, media, codec, timescale, width, height, sample_rate, channels, data)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (sha256) DO UPDATE SET sha256 = excluded.sha256 RETURNING id",
        )
        .bind(&sha)
        .bind(entry.media.as_str())
        .bind(&entry.codec)
        .bind(i64::from(entry.timescale))
        .bind(video.then_some(i64::from(w)))
        .bind(video.then_some(i64::from(h)))
        .bind((!video).then_some(i64::from(w)))
        .bind((!video).then_some(i64::from(h)))
        .bind(&entry.data)
        .fetch_one(&self.db)
        .await
        .map_err(db_err(format!("storing {} sample entry", entry.codec)))
    }

    /// Sample entry boxes and timescales by id.
    pub async fn sample_entry(&self, id: i64) -> Result<SampleEntry, StoreError> {
        let row = sqlx::query("SELECT media, codec, timescale, width, height, sample_rate, channels, data FROM sample_entries WHERE id = ?")
            .bind(id)
            .fetch_one(&self.db)
            .await
            .map_err(db_err(format!("reading sample entry {id}")))?;
        let media = TrackKind::parse(row.get("media"))?;
        let pair = |a: &str, b: &str| {
            (
                row.get::<Option<i64>, _>(a).unwrap_or(0) as u32,
                row.get::<Option<i64>, _>(b).unwrap_or(0) as u32,
            )
        };
        Ok(SampleEntry {
            media,
            codec: row.get("codec"),
            timescale: row.get::<i64, _>("timescale") as u32,
            dimensions: match media {
                TrackKind::Video => pair("width", "height"),
                TrackKind::Audio => pair("sample_rate", "channels"),
            },
            data: row.get("data"),
        })
    }

    /// Starts a run: one RTSP session's worth of continuous recording.
    pub async fn open_run(
        &self,
        camera: CameraId,
        npt0: Timestamp,
        started: Timestamp,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO runs (camera_id, npt0_us, started_us) VALUES (?, ?, ?) RETURNING id",
        )
        .bind(camera.0)
        .bind(npt0.micros())
        .bind(started.micros())
        .fetch_one(&self.db)
        .await
        .map_err(db_err(format!("opening a run for camera {camera}")))
    }

    /// Records why a run ended.
    pub async fn end_run(&self, run: i64, reason: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET end_reason = ? WHERE id = ?")
            .bind(reason)
            .bind(run)
            .execute(&self.db)
            .await
            .map_err(db_err(format!("ending run {run}")))?;
        Ok(())
    }

    /// Registers the `seq`-th segment of a run; returns its id and object key.
    pub async fn open_segment(
        &self,
        camera: CameraId,
        run: i64,
        seq: u32,
    ) -> Result<(i64, String), StoreError> {
        let key = format!("{}/{run}-{seq:05}.seg", camera.0);
        let id = sqlx::query_scalar(
            "INSERT INTO segments (camera_id, run_id, object_key) VALUES (?, ?, ?) RETURNING id",
        )
        .bind(camera.0)
        .bind(run)
        .bind(&key)
        .fetch_one(&self.db)
        .await
        .map_err(db_err(format!("opening segment {key}")))?;
        Ok((id, key))
    }

    /// Marks a segment complete at `bytes` long.
    pub async fn close_segment(&self, segment: i64, bytes: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE segments SET open = 0, bytes = ? WHERE id = ?")
            .bind(bytes as i64)
            .bind(segment)
            .execute(&self.db)
            .await
            .map_err(db_err(format!("closing segment {segment}")))?;
        Ok(())
    }

    /// Indexes many chunks (usually of many cameras) in one transaction.
    pub async fn commit_chunks(&self, chunks: &[NewChunk]) -> Result<(), StoreError> {
        let mut tx = self
            .db
            .begin()
            .await
            .map_err(db_err("starting index commit"))?;
        for c in chunks {
            sqlx::query(
                "INSERT INTO chunks (segment_id, run_id, camera_id, track, sample_entry_id, start_us, end_us, start_ts,
                   duration_ts, byte_offset, byte_len, frame_count, key_count, frame_index)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(c.segment_id)
            .bind(c.run_id)
            .bind(c.camera.0)
            .bind(c.track.as_str())
            .bind(c.sample_entry_id)
            .bind(c.start.micros())
            .bind(c.end.micros())
            .bind(c.start_ts)
            .bind(c.duration_ts)
            .bind(c.byte_offset as i64)
            .bind(c.byte_len as i64)
            .bind(i64::from(c.frame_count))
            .bind(i64::from(c.key_count))
            .bind(&c.frame_index)
            .execute(&mut *tx)
            .await
            .map_err(db_err(format!("indexing a chunk of camera {} segment {}", c.camera, c.segment_id)))?;
        }
        tx.commit()
            .await
            .map_err(db_err(format!("committing {} chunk rows", chunks.len())))
    }

    /// Recorded spans and gaps of a camera overlapping `[from, to)`.
    pub async fn recordings(
        &self,
        camera: CameraId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Recordings, StoreError> {
        let rows = sqlx::query(
            "SELECT c.run_id AS run, MIN(c.start_us) AS start_us, MAX(c.end_us) AS end_us, SUM(c.frame_count) AS frames,
                    SUM(c.byte_len) AS bytes, r.end_reason AS end_reason
             FROM chunks c JOIN runs r ON r.id = c.run_id
             WHERE c.camera_id = ? AND c.track = 'video' AND c.end_us > ? AND c.start_us < ?
             GROUP BY c.run_id ORDER BY start_us",
        )
        .bind(camera.0)
        .bind(from.micros())
        .bind(to.micros())
        .fetch_all(&self.db)
        .await
        .map_err(db_err(format!("listing recordings of camera {camera}")))?;
        let mut spans = Vec::with_capacity(rows.len());
        let mut gaps = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let span = Span {
                run: row.get("run"),
                start: Timestamp(row.get("start_us")),
                end: Timestamp(row.get("end_us")),
                frames: row.get("frames"),
                bytes: row.get("bytes"),
            };
            let reason: Option<String> = row.get("end_reason");
            if let Some(reason) = reason {
                let next_start = rows.get(i + 1).map(|n| Timestamp(n.get("start_us")));
                gaps.push(Gap {
                    from: span.end,
                    to: next_start,
                    reason,
                });
            }
            spans.push(span);
        }
        Ok(Recordings { spans, gaps })
    }

    /// Chunks of one track overlapping `[from, to)`, in recording order.
    pub async fn chunks_between(
        &self,
        camera: CameraId,
        track: TrackKind,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredChunk>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.id, c.run_id, r.npt0_us, s.object_key, c.track, c.sample_entry_id, c.start_us, c.end_us, c.start_ts,
                    c.duration_ts, c.byte_offset, c.byte_len, c.frame_count, c.frame_index
             FROM chunks c JOIN segments s ON s.id = c.segment_id JOIN runs r ON r.id = c.run_id
             WHERE c.camera_id = ? AND c.track = ? AND c.end_us > ? AND c.start_us < ?
             ORDER BY r.npt0_us, c.run_id, c.start_ts",
        )
        .bind(camera.0)
        .bind(track.as_str())
        .bind(from.micros())
        .bind(to.micros())
        .fetch_all(&self.db)
        .await
        .map_err(db_err(format!("reading {} chunks of camera {camera}", track.as_str())))?;
        rows.iter()
            .map(|r| {
                Ok(StoredChunk {
                    id: r.get("id"),
                    run_id: r.get("run_id"),
                    npt0: Timestamp(r.get("npt0_us")),
                    object_key: r.get("object_key"),
                    track: TrackKind::parse(r.get("track"))?,
                    sample_entry_id: r.get("sample_entry_id"),
                    start: Timestamp(r.get("start_us")),
                    end: Timestamp(r.get("end_us")),
                    start_ts: r.get("start_ts"),
                    duration_ts: r.get("duration_ts"),
                    byte_offset: r.get::<i64, _>("byte_offset") as u64,
                    byte_len: r.get::<i64, _>("byte_len") as u64,
                    frame_count: r.get::<i64, _>("frame_count") as u32,
                    frame_index: r.get("frame_index"),
                })
            })
            .collect()
    }

    /// Start of the latest video chunk holding a keyframe that starts at or before `t`:
    /// where an export starting at `t` has to begin reading.
    pub async fn keyframe_chunk_before(
        &self,
        camera: CameraId,
        t: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let start: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(start_us) FROM chunks WHERE camera_id = ? AND track = 'video' AND key_count > 0 AND start_us <= ?",
        )
        .bind(camera.0)
        .bind(t.micros())
        .fetch_one(&self.db)
        .await
        .map_err(db_err(format!("finding the keyframe before {t} of camera {camera}")))?;
        Ok(start.map(Timestamp))
    }

    /// Every segment with its time range and size, for retention.
    /// Per camera: video frames and media bytes indexed, and the bytes of their index
    /// rows' frame tables. What `bench ingest` counts against what a camera sent.
    pub async fn recorded_totals(&self) -> Result<Vec<RecordedTotals>, StoreError> {
        let rows = sqlx::query(
            "SELECT camera_id,
                    COALESCE(SUM(CASE WHEN track = 'video' THEN frame_count ELSE 0 END), 0) AS frames,
                    COALESCE(SUM(byte_len), 0) AS bytes,
                    COALESCE(SUM(length(frame_index)), 0) AS index_bytes,
                    COUNT(*) AS chunks
             FROM chunks GROUP BY camera_id ORDER BY camera_id",
        )
        .fetch_all(&self.db)
        .await
        .map_err(db_err("totalling recordings"))?;
        Ok(rows
            .iter()
            .map(|r| RecordedTotals {
                camera: CameraId(r.get("camera_id")),
                video_frames: r.get::<i64, _>("frames") as u64,
                bytes: r.get::<i64, _>("bytes") as u64,
                index_bytes: r.get::<i64, _>("index_bytes") as u64,
                chunks: r.get::<i64, _>("chunks") as u64,
            })
            .collect())
    }

    /// Bytes the recordings index occupies on disk: the pages of the chunk rows and
    /// their indexes (SQLite's `dbstat`).
    pub async fn index_size_bytes(&self) -> Result<u64, StoreError> {
        let bytes: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat
             WHERE name IN ('chunks', 'chunks_camera_time', 'chunks_segment')",
        )
        .fetch_one(&self.db)
        .await
        .map_err(db_err("measuring the index"))?;
        Ok(bytes as u64)
    }

    pub async fn segment_summaries(&self) -> Result<Vec<SegmentSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.id, s.camera_id, s.open, MIN(c.start_us) AS start_us, MAX(c.end_us) AS end_us,
                    COALESCE(SUM(c.byte_len), 0) AS bytes
             FROM segments s JOIN chunks c ON c.segment_id = s.id GROUP BY s.id",
        )
        .fetch_all(&self.db)
        .await
        .map_err(db_err("summarising segments"))?;
        Ok(rows
            .iter()
            .map(|r| SegmentSummary {
                id: r.get("id"),
                camera: CameraId(r.get("camera_id")),
                start: Timestamp(r.get("start_us")),
                end: Timestamp(r.get("end_us")),
                bytes: r.get::<i64, _>("bytes") as u64,
                open: r.get("open"),
            })
            .collect())
    }

    /// Places an evidential hold on a camera's recordings in `[from, to)`.
    pub async fn add_hold(
        &self,
        camera: CameraId,
        from: Timestamp,
        to: Timestamp,
        reason: &str,
    ) -> Result<i64, StoreError> {
        if to <= from {
            return Err(StoreError::Invalid(format!(
                "hold range {from} to {to} is empty"
            )));
        }
        sqlx::query_scalar("INSERT INTO holds (camera_id, from_us, to_us, reason, created_us) VALUES (?, ?, ?, ?, ?) RETURNING id")
            .bind(camera.0)
            .bind(from.micros())
            .bind(to.micros())
            .bind(reason)
            .bind(Timestamp::now().micros())
            .fetch_one(&self.db)
            .await
            .map_err(db_err(format!("placing a hold on camera {camera}")))
    }

    pub async fn holds(&self) -> Result<Vec<Hold>, StoreError> {
        let rows: Vec<(i64, i64, i64)> =
            sqlx::query_as("SELECT camera_id, from_us, to_us FROM holds")
                .fetch_all(&self.db)
                .await
                .map_err(db_err("listing holds"))?;
        Ok(rows
            .into_iter()
            .map(|(c, f, t)| Hold {
                camera: CameraId(c),
                from: Timestamp(f),
                to: Timestamp(t),
            })
            .collect())
    }

    /// Removes segments from the index and queues their media for deletion (phase one).
    pub async fn delete_segments(&self, ids: &[i64]) -> Result<(), StoreError> {
        let mut tx = self
            .db
            .begin()
            .await
            .map_err(db_err("starting segment deletion"))?;
        let now = Timestamp::now().micros();
        for id in ids {
            sqlx::query("INSERT OR IGNORE INTO garbage (object_key, queued_us) SELECT object_key, ? FROM segments WHERE id = ?")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err(format!("queueing segment {id} for deletion")))?;
            sqlx::query("DELETE FROM segments WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err(format!("deleting segment {id}")))?;
        }
        tx.commit()
            .await
            .map_err(db_err(format!("deleting {} segments", ids.len())))
    }

    /// Deletes queued media objects and then their garbage rows (phase two).
    pub async fn collect_garbage(&self) -> Result<u64, StoreError> {
        let keys: Vec<String> = sqlx::query_scalar("SELECT object_key FROM garbage")
            .fetch_all(&self.db)
            .await
            .map_err(db_err("listing garbage"))?;
        for key in &keys {
            self.media.delete(key).await?;
            sqlx::query("DELETE FROM garbage WHERE object_key = ?")
                .bind(key)
                .execute(&self.db)
                .await
                .map_err(db_err(format!("forgetting deleted object {key}")))?;
        }
        Ok(keys.len() as u64)
    }

    /// Bytes of indexed media of the cameras one may know of. Closed segments carry their size, so only the few
    /// open ones need their chunks summed (a scrape must not scan the whole index).
    pub async fn stored_bytes(&self, visible: &Visibility) -> Result<u64, StoreError> {
        let sql = format!(
            "SELECT COALESCE(SUM(CASE WHEN s.open = 0 THEN s.bytes
                    ELSE (SELECT COALESCE(SUM(k.byte_len), 0) FROM chunks k WHERE k.segment_id = s.id) END), 0)
             FROM segments s JOIN cameras c ON c.id = s.camera_id WHERE {VISIBLE_CAMERA}"
        );
        let bytes: i64 = sqlx::query_scalar_with(&sql, camera_args(visible))
            .fetch_one(&self.db)
            .await
            .map_err(db_err("summing stored bytes"))?;
        Ok(bytes as u64)
    }

    /// Brings the index and media back to a consistent state after a crash: truncates
    /// open segments to their last committed byte, drops segments with no committed
    /// chunk, marks open runs as interrupted, and finishes queued deletions.
    pub async fn recover(&self) -> Result<RecoveryReport, StoreError> {
        let mut report = RecoveryReport::default();
        let open: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT s.id, s.object_key, COALESCE(MAX(c.byte_offset + c.byte_len), 0)
             FROM segments s LEFT JOIN chunks c ON c.segment_id = s.id WHERE s.open = 1 GROUP BY s.id",
        )
        .fetch_all(&self.db)
        .await
        .map_err(db_err("finding open segments"))?;
        for (id, key, committed) in open {
            let committed = committed as u64;
            let before = self.media.truncate(&key, committed)?;
            report.bytes_truncated += before.saturating_sub(committed);
            if committed == 0 {
                self.delete_segments(&[id]).await?;
                report.empty_segments_removed += 1;
            } else {
                self.close_segment(id, committed).await?;
                report.segments_closed += 1;
            }
        }
        let marked = sqlx::query("UPDATE runs SET end_reason = ? WHERE end_reason IS NULL")
            .bind(INTERRUPTED)
            .execute(&self.db)
            .await
            .map_err(db_err("marking interrupted runs"))?;
        report.runs_marked_interrupted = marked.rows_affected();
        sqlx::query("DELETE FROM runs WHERE id NOT IN (SELECT run_id FROM segments)")
            .execute(&self.db)
            .await
            .map_err(db_err("removing empty runs"))?;
        self.collect_garbage().await?;
        Ok(report)
    }
}
