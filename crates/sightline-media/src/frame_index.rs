//! The compact per-frame index stored in the database, one blob per stored chunk of
//! samples.
//!
//! A segment object is a plain concatenation of samples; this index is what makes it
//! usable: for each frame, its duration (in the track's timescale), its size in bytes,
//! whether it is a sync sample, and its signed composition offset (PTS - DTS). With
//! hundreds of cameras at 25 frames a second the index is written constantly and read
//! for every export, so it must be small and cheap to decode.
//!
//! # Format (version 1)
//!
//! ```text
//! version: u8 = 1
//! per frame, three LEB128 varints:
//!   (zigzag(duration - previous duration) << 1) | key
//!   zigzag(size - previous size)
//!   zigzag(cts_offset)
//! ```
//!
//! The "previous" values start at 0. Duration and size are delta-coded because a
//! steady stream repeats its duration exactly and its sizes vary little; the
//! composition offset is not, because with B-frames it alternates in sign, which
//! delta coding would make larger. A steady stream costs about 3-4 bytes a frame.
//! There is no frame count: the entries run to the end of the blob. Decoding never
//! panics: truncated or corrupt input yields an [`IndexError`] naming the byte offset.

use thiserror::Error;

/// The format version written as the first byte.
pub const FORMAT_VERSION: u8 = 1;

/// One frame of a stored chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameEntry {
    /// Duration in the track's timescale (next DTS - this DTS).
    pub duration: u32,
    /// Size of the stored sample in bytes.
    pub size: u32,
    /// Whether the frame is a sync sample (keyframe).
    pub key: bool,
    /// Composition offset, PTS - DTS, in the track's timescale; negative with B-frames.
    pub cts_offset: i32,
}

/// Why a frame index blob could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IndexError {
    #[error("frame index is empty: expected the version byte at byte offset 0")]
    Empty,
    #[error("frame index version {version} at byte offset 0 is not supported (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion { version: u8 },
    #[error("frame index is truncated: the {field} of frame {frame} starting at byte offset {offset} runs past the end of the {len}-byte blob")]
    Truncated {
        frame: usize,
        field: &'static str,
        offset: usize,
        len: usize,
    },
    #[error("frame index is corrupt: the {field} varint of frame {frame} at byte offset {offset} overflows 64 bits")]
    Overlong {
        frame: usize,
        field: &'static str,
        offset: usize,
    },
    #[error("frame index is corrupt: the {field} of frame {frame} at byte offset {offset} decodes to {value}, outside its range")]
    OutOfRange {
        frame: usize,
        field: &'static str,
        offset: usize,
        value: i128,
    },
}

/// Encodes `entries` in the current format.
pub fn encode(entries: &[FrameEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + entries.len() * 4);
    out.push(FORMAT_VERSION);
    let (mut prev_duration, mut prev_size) = (0i64, 0i64);
    for e in entries {
        let duration = i64::from(e.duration);
        let size = i64::from(e.size);
        put_varint(
            &mut out,
            (zigzag(duration - prev_duration) << 1) | u64::from(e.key),
        );
        put_varint(&mut out, zigzag(size - prev_size));
        put_varint(&mut out, zigzag(i64::from(e.cts_offset)));
        prev_duration = duration;
        prev_size = size;
    }
    out
}

/// Decodes a blob written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Vec<FrameEntry>, IndexError> {
    let (&version, _) = bytes.split_first().ok_or(IndexError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(IndexError::UnsupportedVersion { version });
    }
    let mut reader = Reader { bytes, pos: 1 };
    let mut entries = Vec::with_capacity((bytes.len() - 1) / 3);
    let (mut prev_duration, mut prev_size) = (0i128, 0i128);
    while reader.pos < bytes.len() {
        let frame = entries.len();
        let (offset, first) = reader.varint(frame, "duration and key flag")?;
        let duration = prev_duration + i128::from(unzigzag(first >> 1));
        let duration = in_range::<u32>(duration, frame, "duration", offset)?;
        let (offset, size) = reader.varint(frame, "size")?;
        let size = prev_size + i128::from(unzigzag(size));
        let size = in_range::<u32>(size, frame, "size", offset)?;
        let (offset, cts) = reader.varint(frame, "composition offset")?;
        let cts_offset = in_range::<i32>(
            i128::from(unzigzag(cts)),
            frame,
            "composition offset",
            offset,
        )?;
        entries.push(FrameEntry {
            duration,
            size,
            key: first & 1 == 1,
            cts_offset,
        });
        prev_duration = i128::from(duration);
        prev_size = i128::from(size);
    }
    Ok(entries)
}

fn in_range<T: TryFrom<i128>>(
    value: i128,
    frame: usize,
    field: &'static str,
    offset: usize,
) -> Result<T, IndexError> {
    T::try_from(value).map_err(|_| IndexError::OutOfRange {
        frame,
        field,
        offset,
        value,
    })
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    /// Reads one LEB128 varint; returns the offset it started at and its value.
    fn varint(&mut self, frame: usize, field: &'static str) -> Result<(usize, u64), IndexError> {
        let start = self.pos;
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(IndexError::Truncated {
                    frame,
                    field,
                    offset: start,
                    len: self.bytes.len(),
                });
            };
            self.pos += 1;
            let bits = u64::from(b & 0x7f);
            if shift >= 64 || (shift == 63 && bits > 1) {
                return Err(IndexError::Overlong {
                    frame,
                    field,
                    offset: start,
                });
            }
            value |= bits << shift;
            if b & 0x80 == 0 {
                return Ok((start, value));
            }
            shift += 7;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(duration: u32, size: u32, key: bool, cts_offset: i32) -> FrameEntry {
        FrameEntry {
            duration,
            size,
            key,
            cts_offset,
        }
    }

    #[test]
    fn round_trips_ordinary_and_extreme_values() {
        let entries = vec![
            entry(3000, 40_000, true, 0),
            entry(3000, 2_100, false, 6000),
            entry(3000, 900, false, -3000),
            entry(u32::MAX, u32::MAX, true, i32::MIN),
            entry(0, 0, false, i32::MAX),
            entry(u32::MAX, 0, true, -1),
            entry(0, u32::MAX, false, 1),
        ];
        let blob = encode(&entries);
        assert_eq!(blob[0], FORMAT_VERSION);
        assert_eq!(decode(&blob).unwrap(), entries);
    }

    #[test]
    fn empty_list_round_trips_to_just_the_version_byte() {
        assert_eq!(encode(&[]), vec![FORMAT_VERSION]);
        assert_eq!(decode(&[FORMAT_VERSION]).unwrap(), vec![]);
    }

    #[test]
    fn steady_stream_is_compact() {
        let entries: Vec<_> = (0..250)
            .map(|i| entry(3000, 1500 + (i % 7) * 10, i % 25 == 0, 0))
            .collect();
        let blob = encode(&entries);
        assert!(
            blob.len() <= 1 + 4 * entries.len(),
            "{} bytes for {} frames",
            blob.len(),
            entries.len()
        );
        assert_eq!(decode(&blob).unwrap(), entries);
    }

    #[test]
    fn b_frame_stream_stays_within_four_bytes_a_frame() {
        // I P B B at 90 kHz, 25 fps: offsets 0, +7200, -3600, -3600, ...
        let entries: Vec<_> = (0..100)
            .map(|i| {
                let cts = [0, 7200, -3600, -3600][i % 4];
                entry(3600, 1000 + (i as u32 % 5) * 30, i % 4 == 0, cts)
            })
            .collect();
        let blob = encode(&entries);
        assert!(blob.len() <= 1 + 5 * entries.len(), "{} bytes", blob.len());
        assert_eq!(decode(&blob).unwrap(), entries);
    }

    #[test]
    fn every_truncation_is_an_error_or_a_shorter_prefix_never_a_panic() {
        let entries = vec![
            entry(3000, 40_000, true, 0),
            entry(u32::MAX, 7, false, i32::MIN),
        ];
        let blob = encode(&entries);
        for cut in 0..blob.len() {
            match decode(&blob[..cut]) {
                Ok(decoded) => {
                    // Only a cut exactly at an entry boundary can decode.
                    assert!(decoded.len() < entries.len());
                    assert_eq!(decoded[..], entries[..decoded.len()]);
                    assert_eq!(encode(&decoded).len(), cut);
                }
                Err(IndexError::Empty) => assert_eq!(cut, 0),
                Err(IndexError::Truncated { offset, len, .. }) => {
                    assert_eq!(len, cut);
                    assert!(offset <= cut, "offset {offset} cut {cut}");
                }
                Err(other) => panic!("cut at {cut}: unexpected {other}"),
            }
        }
    }

    #[test]
    fn truncation_names_the_frame_field_and_offset() {
        let blob = encode(&[entry(3000, 300, true, 0), entry(3000, 300, false, 0)]);
        // Drop the last varint (composition offset of frame 1).
        let err = decode(&blob[..blob.len() - 1]).unwrap_err();
        assert_eq!(
            err,
            IndexError::Truncated {
                frame: 1,
                field: "composition offset",
                offset: blob.len() - 1,
                len: blob.len() - 1
            }
        );
        assert!(err.to_string().contains("byte offset"), "{err}");
    }

    #[test]
    fn corrupt_input_is_an_error() {
        assert_eq!(decode(&[]), Err(IndexError::Empty));
        assert_eq!(
            decode(&[2, 0, 0, 0]),
            Err(IndexError::UnsupportedVersion { version: 2 })
        );
        // An unterminated varint longer than 64 bits.
        let overlong = [
            FORMAT_VERSION,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0x01,
        ];
        assert!(matches!(
            decode(&overlong),
            Err(IndexError::Overlong {
                frame: 0,
                offset: 1,
                ..
            })
        ));
        // Duration delta of -1 from the initial 0.
        let mut negative = vec![FORMAT_VERSION];
        put_varint(&mut negative, zigzag(-1) << 1);
        put_varint(&mut negative, 0);
        put_varint(&mut negative, 0);
        assert!(matches!(
            decode(&negative),
            Err(IndexError::OutOfRange {
                frame: 0,
                field: "duration",
                offset: 1,
                value: -1
            })
        ));
        // Composition offset beyond i32.
        let mut wide = vec![FORMAT_VERSION, 0, 0];
        put_varint(&mut wide, zigzag(i64::from(i32::MAX) + 1));
        assert!(matches!(
            decode(&wide),
            Err(IndexError::OutOfRange {
                field: "composition offset",
                offset: 3,
                ..
            })
        ));
        // Size delta that overflows u32.
        let mut big = vec![FORMAT_VERSION];
        put_varint(&mut big, 0);
        put_varint(&mut big, zigzag(i64::from(u32::MAX) + 1));
        put_varint(&mut big, 0);
        assert!(matches!(
            decode(&big),
            Err(IndexError::OutOfRange { field: "size", .. })
        ));
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap deterministic fuzz: whatever the bytes, decode returns.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in 0..200 {
            let mut blob = vec![FORMAT_VERSION];
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                blob.push(state as u8);
            }
            if let Ok(entries) = decode(&blob) {
                assert_eq!(decode(&encode(&entries)).unwrap(), entries);
            }
        }
    }

    #[test]
    fn zigzag_round_trips_extremes() {
        for n in [
            0i64,
            1,
            -1,
            i64::MAX,
            i64::MIN,
            i64::from(u32::MAX),
            -i64::from(u32::MAX),
        ] {
            assert_eq!(unzigzag(zigzag(n)), n);
        }
    }
}
