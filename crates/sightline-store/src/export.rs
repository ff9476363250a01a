//! Plans the MP4 export of a time range from the index, without reading media.
//!
//! The result is an [`Mp4Layout`]: the header bytes plus the list of stored byte
//! ranges that form the body, which the server streams (or slices for HTTP range
//! requests) straight from segment objects. No transcoding and no temporary file.
//!
//! How time maps into the file: the export starts at the keyframe at or before `from`
//! and an edit list hides the frames before `from`, so playback begins exactly there.
//! Runs (uninterrupted recordings) are concatenated; across a gap the last sample before
//! it is stretched until the next run begins, so the file keeps the real timeline with
//! one edit per track (multi-edit lists with empty edits were mishandled by ffmpeg).
//! Audio is placed on the same wall-clock timeline, which is what keeps it in sync.

use std::collections::HashMap;

use bytes::Bytes;
use sightline_core::{CameraId, Timestamp};
use sightline_media::frame_index;
use sightline_media::mp4::{self, Chunk, Edit, ExportSpec, Mp4Layout, Sample, Slice, Track};

use crate::recordings::{StoredChunk, TrackKind};
use crate::{Store, StoreError};

/// Movie timescale: 90 kHz, the RTP video clock, so video edits are exact.
const MOVIE_TIMESCALE: u32 = 90_000;

/// A planned export.
pub struct ExportPlan {
    pub layout: Mp4Layout,
    /// Wall time at which playback of the file begins.
    pub start: Timestamp,
    /// Wall time at which it ends.
    pub end: Timestamp,
    pub video_frames: usize,
    pub audio_frames: usize,
}

/// One stored frame located in its segment.
#[derive(Clone)]
struct Frame {
    dts: i64,
    pts: i64,
    duration: u32,
    size: u32,
    key: bool,
    cts_offset: i32,
    stored_chunk: usize,
    offset: u64,
}

/// The frames of one run of one track, expanded from its chunks.
struct RunFrames {
    npt0: Timestamp,
    timescale: u32,
    chunks: Vec<StoredChunk>,
    frames: Vec<Frame>,
}

impl RunFrames {
    fn expand(chunks: Vec<StoredChunk>, timescale: u32) -> Result<RunFrames, StoreError> {
        let mut frames = Vec::new();
        for (ci, c) in chunks.iter().enumerate() {
            let entries = frame_index::decode(&c.frame_index)
                .map_err(|e| StoreError::Corrupt(format!("frame index of chunk {}: {e}", c.id)))?;
            if entries.len() != c.frame_count as usize {
                return Err(StoreError::Corrupt(format!(
                    "chunk {} lists {} frames but its index has {}",
                    c.id,
                    c.frame_count,
                    entries.len()
                )));
            }
            let (mut dts, mut offset) = (c.start_ts, c.byte_offset);
            for e in entries {
                frames.push(Frame {
                    dts,
                    pts: dts + i64::from(e.cts_offset),
                    duration: e.duration,
                    size: e.size,
                    key: e.key,
                    cts_offset: e.cts_offset,
                    stored_chunk: ci,
                    offset,
                });
                dts += i64::from(e.duration);
                offset += u64::from(e.size);
            }
            if offset != c.byte_offset + c.byte_len {
                return Err(StoreError::Corrupt(format!(
                    "chunk {} sizes do not add up to its length",
                    c.id
                )));
            }
        }
        let npt0 = chunks.first().map(|c| c.npt0).unwrap_or_default();
        Ok(RunFrames {
            npt0,
            timescale,
            chunks,
            frames,
        })
    }

    fn ticks(&self, t: Timestamp) -> i64 {
        Timestamp::micros_to_ticks(t.micros() - self.npt0.micros(), self.timescale)
    }

    fn wall(&self, ticks: i64) -> Timestamp {
        self.npt0
            .add_micros(Timestamp::ticks_to_micros(ticks, self.timescale))
    }

    /// Indices `[first, last]` of the frames needed to present `[from, to)`: from the
    /// keyframe at or before `from` (for video) to the last frame presented before `to`.
    fn select(&self, from: i64, to: i64, need_key: bool) -> Option<(usize, usize)> {
        let starts = |f: &Frame| !need_key || f.key;
        let first = self
            .frames
            .iter()
            .rposition(|f| starts(f) && f.pts <= from)
            .or_else(|| self.frames.iter().position(starts))?;
        let by_pts = self.frames.iter().rposition(|f| f.pts < to);
        let by_dts = self.frames.iter().rposition(|f| f.dts < to);
        let last = by_pts.max(by_dts)?;
        (last >= first).then_some((first, last))
    }
}

/// A track being assembled across runs.
///
/// Its presentation is one edit (after an empty edit if the track starts later than the
/// export, as audio may). Between runs, the last sample before a gap is stretched to
/// last until the next run begins: the file keeps the real timeline (the last frame
/// stays on screen through the gap) and players need no multi-edit support, which is
/// uneven across players.
struct TrackBuilder {
    timescale: u32,
    entries: Vec<i64>,
    samples: Vec<Sample>,
    /// Movie time before the track's media begins (an empty edit).
    lead: u64,
    /// Media time at which presentation starts, once the first run is added.
    media_start: Option<i64>,
    /// Movie time at which presentation ends.
    movie_end: u64,
}

impl TrackBuilder {
    fn new(timescale: u32) -> Self {
        TrackBuilder {
            timescale,
            entries: Vec::new(),
            samples: Vec::new(),
            lead: 0,
            media_start: None,
            movie_end: 0,
        }
    }

    fn media_duration(&self) -> i64 {
        self.samples.iter().map(|s| i64::from(s.duration)).sum()
    }

    /// Track ticks of a movie-timescale duration.
    fn track_ticks(&self, movie: u64) -> i64 {
        (i128::from(movie) * i128::from(self.timescale) / i128::from(MOVIE_TIMESCALE)) as i64
    }

    fn edits(&self) -> Vec<Edit> {
        let Some(media_time) = self.media_start else {
            return Vec::new();
        };
        let mut edits = Vec::new();
        if self.lead > 0 {
            edits.push(Edit {
                media_time: -1,
                duration: self.lead,
            });
        }
        edits.push(Edit {
            media_time,
            duration: self.movie_end.saturating_sub(self.lead),
        });
        edits
    }
}

fn movie_ticks(micros: i64) -> u64 {
    Timestamp::micros_to_ticks(micros.max(0), MOVIE_TIMESCALE) as u64
}

/// Appends frames `[first, last]` of a run to a track and to the chunk list; the run
/// is presented over wall time `[show_from, show_to)`, which starts at `movie_start`.
fn add_run(
    track_index: usize,
    track: &mut TrackBuilder,
    run: &RunFrames,
    (first, last): (usize, usize),
    (show_from, show_to): (Timestamp, Timestamp),
    movie_start: u64,
    out_chunks: &mut Vec<(Timestamp, Chunk)>,
) {
    let base = track.media_duration();
    let first_sample = track.samples.len();
    let frames = &run.frames[first..=last];
    for f in frames {
        track.samples.push(Sample {
            duration: f.duration,
            size: f.size,
            key: f.key,
            cts_offset: f.cts_offset,
        });
    }
    // Split the selected frames into contiguous byte ranges, one per stored chunk.
    let mut i = 0;
    while i < frames.len() {
        let sc = frames[i].stored_chunk;
        let n = frames[i..]
            .iter()
            .take_while(|f| f.stored_chunk == sc)
            .count();
        let stored = &run.chunks[sc];
        let entry = match track
            .entries
            .iter()
            .position(|&e| e == stored.sample_entry_id)
        {
            Some(p) => p,
            None => {
                track.entries.push(stored.sample_entry_id);
                track.entries.len() - 1
            }
        };
        let len = frames[i..i + n].iter().map(|f| u64::from(f.size)).sum();
        out_chunks.push((
            run.wall(frames[i].dts),
            Chunk {
                track: track_index,
                first_sample: first_sample + i,
                sample_count: n,
                sample_entry: entry,
                source: Slice {
                    object: stored.object_key.clone(),
                    offset: frames[i].offset,
                    len,
                },
            },
        ));
        i += n;
    }
    let earliest = frames.iter().map(|f| f.pts).min().unwrap_or(0);
    let start_ticks = run.ticks(show_from).max(earliest);
    let end_ticks = run.ticks(show_to).max(start_ticks);
    // Where this run's first presented instant belongs on the movie timeline.
    let at = movie_start + movie_ticks(run.wall(start_ticks).micros() - show_from.micros());
    let media_at = base + (start_ticks - frames[0].dts);
    match track.media_start {
        None => {
            track.lead = at;
            track.media_start = Some(media_at);
        }
        Some(media_start) => {
            // Stretch the sample before the gap so this run starts at its wall-clock time.
            let wanted = media_start + track.track_ticks(at - track.lead);
            if let Some(last) = track.samples[..first_sample].last_mut() {
                let stretch = u32::try_from((wanted - media_at).max(0)).unwrap_or(u32::MAX);
                last.duration = last.duration.saturating_add(stretch);
            }
        }
    }
    track.movie_end = at
        + movie_ticks(Timestamp::ticks_to_micros(
            end_ticks - start_ticks,
            run.timescale,
        ));
}

fn group_by_run(chunks: Vec<StoredChunk>) -> Vec<(i64, Vec<StoredChunk>)> {
    let mut runs: Vec<(i64, Vec<StoredChunk>)> = Vec::new();
    for c in chunks {
        match runs.last_mut() {
            Some((run, v)) if *run == c.run_id => v.push(c),
            _ => runs.push((c.run_id, vec![c])),
        }
    }
    runs
}

impl Store {
    /// Plans an MP4 of `camera`'s recordings in `[from, to)`.
    pub async fn plan_export(
        &self,
        camera: CameraId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<ExportPlan, StoreError> {
        if to <= from {
            return Err(StoreError::Invalid(format!(
                "export range {from} to {to} is empty"
            )));
        }
        // Chunks are shorter than a GOP: reading has to start at the keyframe before `from`.
        let read_from = self
            .keyframe_chunk_before(camera, from)
            .await?
            .map_or(from, |k| k.min(from));
        let video_runs = group_by_run(
            self.chunks_between(camera, TrackKind::Video, read_from, to)
                .await?,
        );
        let mut audio_runs: HashMap<i64, Vec<StoredChunk>> = group_by_run(
            self.chunks_between(camera, TrackKind::Audio, from, to)
                .await?,
        )
        .into_iter()
        .collect();
        let mut timescales: HashMap<i64, u32> = HashMap::new();
        let mut entry_data: HashMap<i64, crate::recordings::SampleEntry> = HashMap::new();
        let mut video = TrackBuilder::new(MOVIE_TIMESCALE);
        let mut audio: Option<TrackBuilder> = None;
        let mut chunks = Vec::new();
        let (mut start, mut end): (Option<Timestamp>, Timestamp) = (None, from);
        let mut movie_time = 0u64;

        for (run_id, run_chunks) in video_runs {
            for c in run_chunks
                .iter()
                .chain(audio_runs.get(&run_id).into_iter().flatten())
            {
                if let std::collections::hash_map::Entry::Vacant(v) =
                    entry_data.entry(c.sample_entry_id)
                {
                    let e = self.sample_entry(c.sample_entry_id).await?;
                    timescales.insert(c.sample_entry_id, e.timescale);
                    v.insert(e);
                }
            }
            let ts = timescales[&run_chunks[0].sample_entry_id];
            let run = RunFrames::expand(run_chunks, ts)?;
            let Some(sel) = run.select(run.ticks(from), run.ticks(to), true) else {
                continue;
            };
            let frames = &run.frames[sel.0..=sel.1];
            let first_pts = frames.iter().map(|f| f.pts).min().unwrap_or(0);
            let last_end = frames
                .iter()
                .map(|f| f.pts + i64::from(f.duration))
                .max()
                .unwrap_or(0);
            let show_from = from.max(run.wall(first_pts));
            let show_to = to.min(run.wall(last_end));
            if show_to <= show_from {
                continue;
            }
            if start.is_some() {
                movie_time += movie_ticks(show_from.micros() - end.micros());
            }
            start.get_or_insert(show_from);
            video.timescale = ts;
            add_run(
                0,
                &mut video,
                &run,
                sel,
                (show_from, show_to),
                movie_time,
                &mut chunks,
            );

            if let Some(achunks) = audio_runs.remove(&run_id) {
                let ats = timescales[&achunks[0].sample_entry_id];
                let arun = RunFrames::expand(achunks, ats)?;
                if let Some(asel) = arun.select(arun.ticks(show_from), arun.ticks(show_to), false) {
                    let track = audio.get_or_insert_with(|| TrackBuilder::new(ats));
                    add_run(
                        1,
                        track,
                        &arun,
                        asel,
                        (show_from, show_to),
                        movie_time,
                        &mut chunks,
                    );
                }
            }
            movie_time += movie_ticks(show_to.micros() - show_from.micros());
            end = show_to;
        }
        let start = start.ok_or_else(|| {
            StoreError::NotFound(format!(
                "camera {camera} has no recording between {from} and {to}"
            ))
        })?;
        chunks.sort_by_key(|(t, c)| (*t, c.track));

        let to_track = |b: TrackBuilder, video: bool| -> Result<Track, StoreError> {
            let first = &entry_data[&b.entries[0]];
            let kind = if video {
                mp4::TrackKind::Video {
                    width: first.dimensions.0 as u16,
                    height: first.dimensions.1 as u16,
                }
            } else {
                mp4::TrackKind::Audio {
                    sample_rate: first.dimensions.0,
                    channels: first.dimensions.1 as u16,
                }
            };
            let edits = b.edits();
            Ok(Track {
                kind,
                timescale: b.timescale,
                sample_entries: b
                    .entries
                    .iter()
                    .map(|e| Bytes::from(entry_data[e].data.clone()))
                    .collect(),
                samples: b.samples,
                edits,
            })
        };
        let video_frames = video.samples.len();
        let audio_frames = audio.as_ref().map_or(0, |a| a.samples.len());
        let mut tracks = vec![to_track(video, true)?];
        if let Some(a) = audio {
            tracks.push(to_track(a, false)?);
        }
        let spec = ExportSpec {
            movie_timescale: MOVIE_TIMESCALE,
            tracks,
            chunks: chunks.into_iter().map(|(_, c)| c).collect(),
            creation_time: start.mp4_seconds(),
        };
        let layout = Mp4Layout::build(&spec)
            .map_err(|e| StoreError::Corrupt(format!("building MP4: {e}")))?;
        Ok(ExportPlan {
            layout,
            start,
            end,
            video_frames,
            audio_frames,
        })
    }
}
