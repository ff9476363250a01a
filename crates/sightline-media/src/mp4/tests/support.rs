//! Test support for the MP4 unit tests: a tiny box walker that parses our own output
//! back (asserting that box sizes add up), and a two-track fixture whose stored
//! objects hold recognisable sample bytes at the offsets its chunks name.

use std::collections::HashMap;

use bytes::Bytes;

use crate::mp4::*;

/// A parsed box: its type, its contents (after the header) and its file offset.
#[derive(Clone, Copy)]
pub(super) struct Bx<'a> {
    pub(super) fourcc: [u8; 4],
    pub(super) data: &'a [u8],
    pub(super) start: usize,
}

pub(super) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().unwrap())
}
pub(super) fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().unwrap())
}

/// Splits `data` (starting at file offset `base`) into boxes, asserting that their
/// sizes add up exactly.
pub(super) fn walk(data: &[u8], base: usize) -> Vec<Bx<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        assert!(
            data.len() - pos >= 8,
            "trailing {} bytes at {}",
            data.len() - pos,
            base + pos
        );
        let mut size = be32(&data[pos..]) as usize;
        let mut header = 8;
        if size == 1 {
            size = be64(&data[pos + 8..]) as usize;
            header = 16;
        }
        assert!(
            size >= header && pos + size <= data.len(),
            "box at {} has size {size}",
            base + pos
        );
        let fourcc = data[pos + 4..pos + 8].try_into().unwrap();
        out.push(Bx {
            fourcc,
            data: &data[pos + header..pos + size],
            start: base + pos,
        });
        pos += size;
    }
    assert_eq!(pos, data.len());
    out
}

impl<'a> Bx<'a> {
    pub(super) fn children(&self, skip: usize) -> Vec<Bx<'a>> {
        walk(&self.data[skip..], self.start + 8 + skip)
    }
    pub(super) fn version(&self) -> u8 {
        self.data[0]
    }
    /// The only child called `name` (containers only).
    pub(super) fn child(&self, name: &str) -> Bx<'a> {
        one(&self.children(0), name)
    }
    pub(super) fn has(&self, name: &str) -> bool {
        self.children(0).iter().any(|b| b.fourcc == name.as_bytes())
    }
    /// Path below this container, e.g. "mdia/minf/stbl".
    pub(super) fn path(&self, path: &str) -> Bx<'a> {
        path.split('/').fold(*self, |b, name| b.child(name))
    }
    /// Entries of a full box table with `entry_count` first, each `width` bytes.
    pub(super) fn table(&self, width: usize) -> Vec<&'a [u8]> {
        let n = be32(&self.data[4..]) as usize;
        assert_eq!(
            self.data.len(),
            8 + n * width,
            "{} table size",
            String::from_utf8_lossy(&self.fourcc)
        );
        self.data[8..].chunks(width).collect()
    }
}

pub(super) fn one<'a>(boxes: &[Bx<'a>], name: &str) -> Bx<'a> {
    let found: Vec<_> = boxes
        .iter()
        .filter(|b| b.fourcc == name.as_bytes())
        .collect();
    assert_eq!(found.len(), 1, "expected one {name}");
    *found[0]
}

/// A fake but well-formed sample entry box.
pub(super) fn entry(fourcc: &[u8; 4], fill: u8) -> Bytes {
    let mut b = vec![0, 0, 0, 20];
    b.extend_from_slice(fourcc);
    b.extend_from_slice(&[fill; 12]);
    Bytes::from(b)
}

pub(super) fn sample_bytes(track: usize, i: usize, size: u32) -> Vec<u8> {
    (0..size)
        .map(|k| (track * 100 + i * 7 + k as usize) as u8)
        .collect()
}

/// Two tracks interleaved over two stored objects, with stored objects holding the
/// samples at the offsets the chunks name (plus unrelated bytes around them).
pub(super) fn fixture() -> (ExportSpec, HashMap<String, Vec<u8>>) {
    let video: Vec<Sample> = (0..12)
        .map(|i| Sample {
            duration: 3600,
            size: 50 + (i as u32 * 13) % 40,
            key: i % 6 == 0,
            cts_offset: [0, 7200, -3600, -3600, 7200, -3600][i % 6],
        })
        .collect();
    let audio: Vec<Sample> = (0..8)
        .map(|_| Sample {
            duration: 1024,
            size: 20,
            key: true,
            cts_offset: 0,
        })
        .collect();
    let mut objects: HashMap<String, Vec<u8>> = HashMap::new();
    let mut chunks = Vec::new();
    // (track, first, count, sample entry, object)
    let plan = [
        (0, 0, 4, 0, "seg/a"),
        (1, 0, 3, 0, "seg/a"),
        (0, 4, 2, 0, "seg/a"),
        (0, 6, 3, 1, "seg/b"),
        (0, 9, 3, 1, "seg/b"),
        (1, 3, 5, 0, "seg/b"),
    ];
    for (track, first, count, sample_entry, object) in plan {
        let samples = if track == 0 { &video } else { &audio };
        let data = objects
            .entry(object.to_string())
            .or_insert_with(|| vec![0xee; 5]);
        let offset = data.len() as u64;
        for (i, s) in samples.iter().enumerate().skip(first).take(count) {
            data.extend(sample_bytes(track, i, s.size));
        }
        let len = data.len() as u64 - offset;
        chunks.push(Chunk {
            track,
            first_sample: first,
            sample_count: count,
            sample_entry,
            source: Slice {
                object: object.to_string(),
                offset,
                len,
            },
        });
    }
    let spec = ExportSpec {
        movie_timescale: 90_000,
        tracks: vec![
            Track {
                kind: TrackKind::Video {
                    width: 320,
                    height: 240,
                },
                timescale: 90_000,
                sample_entries: vec![entry(b"avc1", 1), entry(b"avc1", 2)],
                samples: video,
                edits: vec![
                    Edit {
                        media_time: -1,
                        duration: 1800,
                    },
                    Edit {
                        media_time: 3600,
                        duration: 36_000,
                    },
                ],
            },
            Track {
                kind: TrackKind::Audio {
                    sample_rate: 8000,
                    channels: 1,
                },
                timescale: 8000,
                sample_entries: vec![entry(b"mp4a", 3)],
                samples: audio,
                edits: vec![],
            },
        ],
        chunks,
        creation_time: 3_800_000_000,
    };
    (spec, objects)
}

pub(super) fn assemble(
    layout: &Mp4Layout,
    objects: &HashMap<String, Vec<u8>>,
    range: std::ops::Range<u64>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for part in layout.parts(range) {
        match part {
            Part::Header(r) => out.extend_from_slice(&layout.header()[r]),
            Part::Body(s) => out.extend_from_slice(
                &objects[&s.object][s.offset as usize..(s.offset + s.len) as usize],
            ),
        }
    }
    out
}
