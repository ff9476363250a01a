//! Validating an [`ExportSpec`] and mapping byte ranges of the virtual file.
//!
//! The file is `header ++ body`, where the body is the chunks' slices in file order.
//! Validation happens once, up front, so a layout that exists is internally
//! consistent: every sample of every track lies in exactly one chunk, in order, and
//! each chunk's stored length equals the sum of its samples' sizes. That is what makes
//! the `co64` offsets and `stsz` sizes in the header agree with the body's bytes.
//!
//! Adjacent slices of the same object that continue each other are merged, so a reader
//! of the body issues one read per contiguous stored run rather than one per chunk.
//! The merge changes nothing in the file's bytes.

use std::ops::Range;

use bytes::Bytes;

use super::boxes::{self, ChunkRef};
use super::{ExportSpec, Mp4Error, Part, Slice};

/// An export file, described: its header bytes and the stored slices of its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mp4Layout {
    header: Bytes,
    /// Body slices in file order, contiguous ones merged, none empty.
    body: Vec<Slice>,
    /// File offset of each body slice.
    starts: Vec<u64>,
    len: u64,
}

impl Mp4Layout {
    /// Validates `spec` and lays out the file; errors name the offending track, chunk,
    /// sample entry or edit.
    pub fn build(spec: &ExportSpec) -> Result<Mp4Layout, Mp4Error> {
        let track_chunks = validate(spec)?;
        let body_len: u64 = spec.chunks.iter().map(|c| c.source.len).sum();
        let header = boxes::write_header(spec, &track_chunks, body_len)?;

        let mut body: Vec<Slice> = Vec::new();
        for s in spec.chunks.iter().map(|c| &c.source).filter(|s| s.len > 0) {
            match body.last_mut() {
                Some(last) if last.object == s.object && last.offset + last.len == s.offset => {
                    last.len += s.len
                }
                _ => body.push(s.clone()),
            }
        }
        let mut starts = Vec::with_capacity(body.len());
        let mut pos = header.len() as u64;
        for s in &body {
            starts.push(pos);
            pos += s.len;
        }
        Ok(Mp4Layout {
            header: Bytes::from(header),
            body,
            starts,
            len: pos,
        })
    }

    /// Total file size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Always false: a file has at least its header.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `ftyp`, `moov` and the `mdat` box header.
    pub fn header(&self) -> &Bytes {
        &self.header
    }

    /// The body's stored slices in file order (contiguous ones merged).
    pub fn body(&self) -> &[Slice] {
        &self.body
    }

    /// What to emit, in order, for `range` of the file (clamped to [`Self::len`]);
    /// empty for an empty or out-of-file range.
    pub fn parts(&self, range: Range<u64>) -> Vec<Part> {
        let (start, end) = (range.start.min(self.len), range.end.min(self.len));
        let mut out = Vec::new();
        if start >= end {
            return out;
        }
        let header_len = self.header.len() as u64;
        if start < header_len {
            out.push(Part::Header(start as usize..end.min(header_len) as usize));
        }
        let first = self
            .starts
            .partition_point(|&s| s <= start)
            .saturating_sub(1);
        for (slice, &slice_start) in self.body[first..].iter().zip(&self.starts[first..]) {
            if slice_start >= end {
                break;
            }
            let from = start.max(slice_start) - slice_start;
            let to = end.min(slice_start + slice.len) - slice_start;
            if from < to {
                out.push(Part::Body(Slice {
                    object: slice.object.clone(),
                    offset: slice.offset + from,
                    len: to - from,
                }));
            }
        }
        out
    }

    /// Bytes that determine the whole file and change whenever it does: the header,
    /// then each body slice as `object NUL offset len` (big-endian). Hash it for an
    /// ETag; reading no object is needed.
    pub fn etag_material(&self) -> Vec<u8> {
        let mut out = self.header.to_vec();
        for s in &self.body {
            out.extend_from_slice(s.object.as_bytes());
            out.push(0);
            out.extend_from_slice(&s.offset.to_be_bytes());
            out.extend_from_slice(&s.len.to_be_bytes());
        }
        out
    }
}

/// Checks `spec` and returns each track's chunks in file order.
fn validate(spec: &ExportSpec) -> Result<Vec<Vec<ChunkRef>>, Mp4Error> {
    if spec.tracks.is_empty() {
        return Err(Mp4Error::NoTracks);
    }
    if spec.movie_timescale == 0 {
        return Err(Mp4Error::MovieTimescale);
    }
    for (t, track) in spec.tracks.iter().enumerate() {
        if track.timescale == 0 {
            return Err(Mp4Error::TrackTimescale { track: t });
        }
        if track.sample_entries.is_empty() && !track.samples.is_empty() {
            return Err(Mp4Error::NoSampleEntries {
                track: t,
                samples: track.samples.len(),
            });
        }
        if u32::try_from(track.samples.len()).is_err() {
            return Err(Mp4Error::TooLarge {
                fourcc: "stsz".into(),
            });
        }
        for (e, entry) in track.sample_entries.iter().enumerate() {
            check_sample_entry(entry).map_err(|reason| Mp4Error::BadSampleEntry {
                track: t,
                entry: e,
                reason,
            })?;
        }
        if let Some((edit, e)) = track
            .edits
            .iter()
            .enumerate()
            .find(|(_, e)| e.media_time < -1)
        {
            return Err(Mp4Error::BadEdit {
                track: t,
                edit,
                media_time: e.media_time,
            });
        }
    }

    let mut tracks: Vec<Vec<ChunkRef>> = spec.tracks.iter().map(|_| Vec::new()).collect();
    let mut next_sample = vec![0usize; spec.tracks.len()];
    let mut body_offset = 0u64;
    for (i, chunk) in spec.chunks.iter().enumerate() {
        let t = chunk.track;
        let track = spec.tracks.get(t).ok_or(Mp4Error::ChunkTrack {
            chunk: i,
            track: t,
            tracks: spec.tracks.len(),
        })?;
        if chunk.sample_count == 0 {
            return Err(Mp4Error::EmptyChunk { chunk: i, track: t });
        }
        if chunk.sample_entry >= track.sample_entries.len() {
            return Err(Mp4Error::ChunkSampleEntry {
                chunk: i,
                track: t,
                sample_entry: chunk.sample_entry,
                entries: track.sample_entries.len(),
            });
        }
        if chunk.first_sample != next_sample[t] {
            return Err(Mp4Error::ChunkOutOfOrder {
                chunk: i,
                track: t,
                first_sample: chunk.first_sample,
                expected: next_sample[t],
            });
        }
        let end = chunk.first_sample.saturating_add(chunk.sample_count);
        if end > track.samples.len() {
            return Err(Mp4Error::ChunkPastEnd {
                chunk: i,
                track: t,
                end,
                samples: track.samples.len(),
            });
        }
        let sizes: u64 = track.samples[chunk.first_sample..end]
            .iter()
            .map(|s| u64::from(s.size))
            .sum();
        if sizes != chunk.source.len {
            return Err(Mp4Error::ChunkLength {
                chunk: i,
                track: t,
                object: chunk.source.object.clone(),
                source_len: chunk.source.len,
                sizes,
            });
        }
        next_sample[t] = end;
        tracks[t].push(ChunkRef {
            sample_count: chunk.sample_count as u32,
            sample_entry: chunk.sample_entry as u32,
            body_offset,
        });
        body_offset += chunk.source.len;
    }
    for (t, track) in spec.tracks.iter().enumerate() {
        if next_sample[t] != track.samples.len() {
            return Err(Mp4Error::SamplesNotCovered {
                track: t,
                covered: next_sample[t],
                samples: track.samples.len(),
            });
        }
    }
    Ok(tracks)
}

/// A sample entry must be exactly one box: its size field equals its length.
fn check_sample_entry(entry: &[u8]) -> Result<(), String> {
    let Some(size) = entry.get(..4) else {
        return Err(format!(
            "it is {} bytes, shorter than a box header",
            entry.len()
        ));
    };
    let size = u32::from_be_bytes(size.try_into().expect("4 bytes"));
    if entry.len() < 8 || size as usize != entry.len() {
        return Err(format!(
            "its size field says {size} bytes but it is {} bytes long",
            entry.len()
        ));
    }
    Ok(())
}
