//! Writing the header of an export: `ftyp`, `moov` and the `mdat` box header.
//!
//! [`BoxWriter`] appends big-endian fields to one buffer and back-patches each box's
//! 32-bit size when the box is closed, so the box functions below read like the
//! structure they produce. Input has been validated by [`super::layout`] before it
//! gets here; the only error left is a box too large for a 32-bit size.
//!
//! Chunk offsets (`co64`) point into the body, whose position is only known once the
//! header is complete; they are written relative to the body and fixed up at the end.
//! They are always 64-bit and the `mdat` header always carries a 64-bit largesize, so
//! the header's length depends only on the sample tables, never on the body's size.

use super::{Edit, ExportSpec, Mp4Error, Sample, Track, TrackKind};

/// Length of the `mdat` header: size 1, `mdat`, 64-bit largesize.
pub(super) const MDAT_HEADER_LEN: u64 = 16;

const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// A chunk as the sample tables see it.
pub(super) struct ChunkRef {
    pub sample_count: u32,
    /// 0-based index into the track's sample entries.
    pub sample_entry: u32,
    /// Offset of the chunk's first byte from the start of the body.
    pub body_offset: u64,
}

/// Appends boxes to a buffer, patching each box's size when it is closed.
#[derive(Default)]
pub(super) struct BoxWriter {
    buf: Vec<u8>,
    too_large: Option<[u8; 4]>,
}

impl BoxWriter {
    /// Writes a box whose contents `f` writes.
    pub fn boxed(&mut self, fourcc: &[u8; 4], f: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.u32(0);
        self.bytes(fourcc);
        f(self);
        match u32::try_from(self.buf.len() - start) {
            Ok(size) => self.buf[start..start + 4].copy_from_slice(&size.to_be_bytes()),
            Err(_) => self.too_large = self.too_large.or(Some(*fourcc)),
        }
    }

    /// Writes a full box (version and flags, then what `f` writes).
    pub fn full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32, f: impl FnOnce(&mut Self)) {
        self.boxed(fourcc, |w| {
            w.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
            f(w);
        });
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.bytes(&v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.bytes(&v.to_be_bytes());
    }
    /// A time or duration field: 64 bits in a version 1 box, else 32.
    fn time(&mut self, v1: bool, v: u64) {
        if v1 {
            self.u64(v);
        } else {
            self.u32(v as u32);
        }
    }
    pub fn pos(&self) -> usize {
        self.buf.len()
    }

    pub fn finish(self) -> Result<Vec<u8>, Mp4Error> {
        match self.too_large {
            Some(fourcc) => Err(Mp4Error::TooLarge {
                fourcc: String::from_utf8_lossy(&fourcc).into_owned(),
            }),
            None => Ok(self.buf),
        }
    }
}

/// Whether any of `values` needs a version 1 (64-bit) box.
fn needs_v1(values: &[u64]) -> bool {
    values.iter().any(|&v| v > u64::from(u32::MAX))
}

/// Track duration in the track's own timescale: the sum of its samples' durations.
pub(super) fn media_duration(track: &Track) -> u64 {
    track.samples.iter().map(|s| u64::from(s.duration)).sum()
}

/// Track duration in the movie timescale: the edits' total, or else the media
/// duration converted (rounded up).
pub(super) fn movie_duration(track: &Track, movie_timescale: u32) -> u64 {
    if !track.edits.is_empty() {
        return track.edits.iter().map(|e| e.duration).sum();
    }
    let media = u128::from(media_duration(track));
    let ts = u128::from(track.timescale);
    u64::try_from((media * u128::from(movie_timescale)).div_ceil(ts)).unwrap_or(u64::MAX)
}

/// The whole header; `tracks[i]` lists track `i`'s chunks in file order.
pub(super) fn write_header(
    spec: &ExportSpec,
    tracks: &[Vec<ChunkRef>],
    body_len: u64,
) -> Result<Vec<u8>, Mp4Error> {
    let mut w = BoxWriter::default();
    w.boxed(b"ftyp", |w| {
        w.bytes(b"isom");
        w.u32(0x200);
        for brand in [b"isom", b"iso2", b"avc1", b"mp41"] {
            w.bytes(brand);
        }
    });
    let mut co64_entries = Vec::new();
    w.boxed(b"moov", |w| {
        let duration = spec
            .tracks
            .iter()
            .map(|t| movie_duration(t, spec.movie_timescale))
            .max()
            .unwrap_or(0);
        let v1 = needs_v1(&[spec.creation_time, duration]);
        w.full(b"mvhd", u8::from(v1), 0, |w| {
            w.time(v1, spec.creation_time);
            w.time(v1, spec.creation_time);
            w.u32(spec.movie_timescale);
            w.time(v1, duration);
            w.u32(0x0001_0000); // rate 1.0
            w.u16(0x0100); // volume 1.0
            w.bytes(&[0; 10]);
            UNITY_MATRIX.iter().for_each(|&m| w.u32(m));
            w.bytes(&[0; 24]);
            w.u32(spec.tracks.len() as u32 + 1); // next_track_ID
        });
        for (i, (track, chunks)) in spec.tracks.iter().zip(tracks).enumerate() {
            write_trak(w, spec, i, track, chunks, &mut co64_entries);
        }
    });
    let header_len = w.pos() as u64 + MDAT_HEADER_LEN;
    w.u32(1);
    w.bytes(b"mdat");
    w.u64(MDAT_HEADER_LEN + body_len);
    let mut buf = w.finish()?;
    for pos in co64_entries {
        let field = &mut buf[pos..pos + 8];
        let relative = u64::from_be_bytes(field.try_into().expect("8 bytes"));
        field.copy_from_slice(&(relative + header_len).to_be_bytes());
    }
    Ok(buf)
}

fn write_trak(
    w: &mut BoxWriter,
    spec: &ExportSpec,
    index: usize,
    track: &Track,
    chunks: &[ChunkRef],
    co64_entries: &mut Vec<usize>,
) {
    let movie_duration = movie_duration(track, spec.movie_timescale);
    let media_duration = media_duration(track);
    w.boxed(b"trak", |w| {
        let v1 = needs_v1(&[spec.creation_time, movie_duration]);
        w.full(b"tkhd", u8::from(v1), 3, |w| {
            // flags: enabled | in_movie
            w.time(v1, spec.creation_time);
            w.time(v1, spec.creation_time);
            w.u32(index as u32 + 1); // track_ID
            w.u32(0);
            w.time(v1, movie_duration);
            w.bytes(&[0; 8]);
            w.u16(0); // layer
            w.u16(0); // alternate_group
            w.u16(if matches!(track.kind, TrackKind::Audio { .. }) {
                0x0100
            } else {
                0
            });
            w.u16(0);
            UNITY_MATRIX.iter().for_each(|&m| w.u32(m));
            let (width, height) = match track.kind {
                TrackKind::Video { width, height } => (width, height),
                TrackKind::Audio { .. } => (0, 0),
            };
            w.u32(u32::from(width) << 16);
            w.u32(u32::from(height) << 16);
        });
        if !track.edits.is_empty() {
            write_edts(w, &track.edits);
        }
        w.boxed(b"mdia", |w| {
            let v1 = needs_v1(&[spec.creation_time, media_duration]);
            w.full(b"mdhd", u8::from(v1), 0, |w| {
                w.time(v1, spec.creation_time);
                w.time(v1, spec.creation_time);
                w.u32(track.timescale);
                w.time(v1, media_duration);
                w.u16(0x55c4); // language "und"
                w.u16(0);
            });
            let (handler, name): (&[u8; 4], &[u8]) = match track.kind {
                TrackKind::Video { .. } => (b"vide", b"VideoHandler\0"),
                TrackKind::Audio { .. } => (b"soun", b"SoundHandler\0"),
            };
            w.full(b"hdlr", 0, 0, |w| {
                w.u32(0);
                w.bytes(handler);
                w.bytes(&[0; 12]);
                w.bytes(name);
            });
            w.boxed(b"minf", |w| {
                match track.kind {
                    TrackKind::Video { .. } => w.full(b"vmhd", 0, 1, |w| w.bytes(&[0; 8])),
                    TrackKind::Audio { .. } => w.full(b"smhd", 0, 0, |w| w.u32(0)),
                }
                w.boxed(b"dinf", |w| {
                    w.full(b"dref", 0, 0, |w| {
                        w.u32(1);
                        w.full(b"url ", 0, 1, |_| {}); // flag 1: media is in this file
                    });
                });
                write_stbl(w, track, chunks, co64_entries);
            });
        });
    });
}

fn write_edts(w: &mut BoxWriter, edits: &[Edit]) {
    let v1 = edits
        .iter()
        .any(|e| e.duration > u64::from(u32::MAX) || i32::try_from(e.media_time).is_err());
    w.boxed(b"edts", |w| {
        w.full(b"elst", u8::from(v1), 0, |w| {
            w.u32(edits.len() as u32);
            for e in edits {
                if v1 {
                    w.u64(e.duration);
                    w.i64(e.media_time);
                } else {
                    w.u32(e.duration as u32);
                    w.i32(e.media_time as i32);
                }
                w.u16(1); // media_rate_integer
                w.u16(0); // media_rate_fraction
            }
        });
    });
}

/// Run-length codes `values` into (count, value) pairs.
fn runs<T: PartialEq + Copy>(values: impl Iterator<Item = T>) -> Vec<(u32, T)> {
    let mut out: Vec<(u32, T)> = Vec::new();
    for v in values {
        match out.last_mut() {
            Some((n, last)) if *last == v => *n += 1,
            _ => out.push((1, v)),
        }
    }
    out
}

fn write_stbl(
    w: &mut BoxWriter,
    track: &Track,
    chunks: &[ChunkRef],
    co64_entries: &mut Vec<usize>,
) {
    let samples: &[Sample] = &track.samples;
    w.boxed(b"stbl", |w| {
        w.full(b"stsd", 0, 0, |w| {
            w.u32(track.sample_entries.len() as u32);
            track.sample_entries.iter().for_each(|e| w.bytes(e));
        });
        let stts = runs(samples.iter().map(|s| s.duration));
        w.full(b"stts", 0, 0, |w| {
            w.u32(stts.len() as u32);
            for (count, delta) in stts {
                w.u32(count);
                w.u32(delta);
            }
        });
        if samples.iter().any(|s| s.cts_offset != 0) {
            let ctts = runs(samples.iter().map(|s| s.cts_offset));
            w.full(b"ctts", 1, 0, |w| {
                w.u32(ctts.len() as u32);
                for (count, offset) in ctts {
                    w.u32(count);
                    w.i32(offset);
                }
            });
        }
        if matches!(track.kind, TrackKind::Video { .. }) && samples.iter().any(|s| !s.key) {
            let keys: Vec<u32> = (1..)
                .zip(samples)
                .filter(|(_, s)| s.key)
                .map(|(n, _)| n)
                .collect();
            w.full(b"stss", 0, 0, |w| {
                w.u32(keys.len() as u32);
                keys.into_iter().for_each(|n| w.u32(n));
            });
        }
        let mut stsc: Vec<(u32, u32, u32)> = Vec::new();
        for (n, c) in (1..).zip(chunks) {
            let entry = (c.sample_count, c.sample_entry + 1);
            if stsc.last().map(|&(_, count, sdi)| (count, sdi)) != Some(entry) {
                stsc.push((n, entry.0, entry.1));
            }
        }
        w.full(b"stsc", 0, 0, |w| {
            w.u32(stsc.len() as u32);
            for (first_chunk, count, sdi) in stsc {
                w.u32(first_chunk);
                w.u32(count);
                w.u32(sdi);
            }
        });
        w.full(b"stsz", 0, 0, |w| match samples.first() {
            Some(first) if samples.iter().all(|s| s.size == first.size) => {
                w.u32(first.size);
                w.u32(samples.len() as u32);
            }
            _ => {
                w.u32(0);
                w.u32(samples.len() as u32);
                samples.iter().for_each(|s| w.u32(s.size));
            }
        });
        w.full(b"co64", 0, 0, |w| {
            w.u32(chunks.len() as u32);
            for c in chunks {
                co64_entries.push(w.pos());
                w.u64(c.body_offset);
            }
        });
    });
}
