//! Proves that real players accept what [`Mp4Layout`] describes.
//!
//! ffmpeg encodes a short H.264 clip with B-frames into an MP4; the test takes its
//! samples (length-prefixed, in decode order), its `avc1` sample entry and the
//! presentation timestamps ffprobe reports, as the recorder gets them from a camera
//! (frames in decode order with RTP presentation times). It derives decode timing with
//! [`SampleTimer`], lays out an export over one in-memory "stored object" and writes the
//! bytes [`Mp4Layout::parts`] names. ffmpeg must then decode the export without a
//! single error, frame for frame identical to the source (`framemd5`), and honour an
//! edit list that starts the export ten frames in.
//!
//! ffmpeg is a hard requirement (the project's test script installs it): without it
//! these tests fail rather than skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bytes::Bytes;
use sightline_media::mp4::{
    Chunk, Edit, ExportSpec, Mp4Layout, Part, Sample, Slice, Track, TrackKind,
};
use sightline_media::timing::SampleTimer;

const FRAME: i64 = 3600; // 25 fps at 90 kHz
const FRAMES: usize = 50;

/// Runs a tool, failing the test (not skipping it) when it is missing or fails.
fn run(tool: &str, args: &[&str]) -> Output {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} (install Debian's ffmpeg package): {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A command line: fixed words, then a path (which may contain spaces).
fn args<'a>(words: &'a str, path: &'a Path) -> Vec<&'a str> {
    let mut v: Vec<&str> = words.split_whitespace().collect();
    v.push(path.to_str().expect("UTF-8 temp path"));
    v
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sightline-media-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The source clip: samples in decode order with their PTS, and its `avc1` entry.
struct Source {
    path: PathBuf,
    sample_entry: Bytes,
    /// (pts, key, bytes of the length-prefixed sample) in decode order.
    frames: Vec<(i64, bool, Vec<u8>)>,
}

fn make_source(dir: &Path) -> Source {
    let path = dir.join("src.mp4");
    run(
        "ffmpeg",
        &args(
            "-v error -y -f lavfi -i testsrc2=size=320x240:rate=25 -t 2 -c:v libx264 -bf 2 -g 25 \
             -pix_fmt yuv420p -video_track_timescale 90000",
            &path,
        ),
    );
    let file = std::fs::read(&path).unwrap();
    let probe = run(
        "ffprobe",
        &args(
            "-v error -select_streams v:0 -show_entries packet=pts,size,pos,flags -of compact",
            &path,
        ),
    );
    let mut frames = Vec::new();
    for line in String::from_utf8(probe.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("packet|"))
    {
        let field = |name: &str| -> &str {
            line.split('|')
                .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
                .unwrap_or_else(|| panic!("no {name} in {line}"))
        };
        let (pos, size): (usize, usize) = (
            field("pos").parse().unwrap(),
            field("size").parse().unwrap(),
        );
        frames.push((
            field("pts").parse().unwrap(),
            field("flags").starts_with('K'),
            file[pos..pos + size].to_vec(),
        ));
    }
    assert_eq!(frames.len(), FRAMES);
    let mut pts: Vec<i64> = frames.iter().map(|f| f.0).collect();
    assert!(
        pts.windows(2).any(|w| w[1] < w[0]),
        "decode order differs from presentation order"
    );
    pts.sort_unstable();
    assert_eq!(
        pts,
        (0..FRAMES as i64).map(|i| i * FRAME).collect::<Vec<_>>()
    );

    let stsd = find_box(&file, &["moov", "trak", "mdia", "minf", "stbl", "stsd"]);
    let entry = &stsd[16..]; // box header, version/flags, entry count
    let entry_len = u32::from_be_bytes(entry[..4].try_into().unwrap()) as usize;
    assert_eq!(&entry[4..8], b"avc1");
    let sample_entry = Bytes::copy_from_slice(&entry[..entry_len]);
    assert_avcc_uses_4_byte_lengths(&sample_entry);
    for (_, _, data) in &frames {
        assert_length_prefixed(data);
    }
    Source {
        path,
        sample_entry,
        frames,
    }
}

/// The whole box at `path` (header included) in a file of boxes.
fn find_box<'a>(mut data: &'a [u8], path: &[&str]) -> &'a [u8] {
    for (depth, name) in path.iter().enumerate() {
        let mut pos = 0;
        data = loop {
            assert!(pos + 8 <= data.len(), "no {name} box");
            let size = match u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) {
                1 => u64::from_be_bytes(data[pos + 8..pos + 16].try_into().unwrap()) as usize,
                0 => data.len() - pos,
                n => n as usize,
            };
            if &data[pos + 4..pos + 8] == name.as_bytes() {
                break &data[pos..pos + size];
            }
            pos += size;
        };
        if depth + 1 < path.len() {
            data = &data[8..];
        }
    }
    data
}

fn assert_avcc_uses_4_byte_lengths(avc1: &[u8]) {
    let at = avc1
        .windows(4)
        .position(|w| w == b"avcC")
        .expect("avcC in avc1");
    assert_eq!(avc1[at + 4 + 4] & 3, 3, "lengthSizeMinusOne");
}

/// A sample must be a sequence of 4-byte-length-prefixed NAL units.
fn assert_length_prefixed(mut data: &[u8]) {
    while !data.is_empty() {
        let len = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
        assert!(len > 0 && 4 + len <= data.len(), "bad NAL length {len}");
        data = &data[4 + len..];
    }
}

/// Times the source frames like the recorder does, lays out an export whose one
/// stored object holds the samples, writes its bytes and returns the file.
fn export(dir: &Path, source: &Source, edits: Vec<Edit>, name: &str) -> PathBuf {
    let mut timer = SampleTimer::new(8);
    let mut timed = Vec::new();
    for (i, (pts, _, _)) in source.frames.iter().enumerate() {
        timed.extend(timer.push(*pts, i));
    }
    timed.extend(timer.finish(FRAME as u32));
    assert_eq!(
        timed.iter().map(|t| t.payload).collect::<Vec<_>>(),
        (0..FRAMES).collect::<Vec<_>>()
    );

    let mut object = Vec::new();
    let mut samples = Vec::new();
    for t in &timed {
        let (_, key, data) = &source.frames[t.payload];
        object.extend_from_slice(data);
        samples.push(Sample {
            duration: t.duration,
            size: data.len() as u32,
            key: *key,
            cts_offset: t.cts_offset(),
        });
    }
    // Chunks of 7 samples over the object, with a prefix the export must not include.
    let prefix = 100u64;
    let mut chunks = Vec::new();
    let mut offset = prefix;
    for first in (0..FRAMES).step_by(7) {
        let count = 7.min(FRAMES - first);
        let len: u64 = samples[first..first + count]
            .iter()
            .map(|s| u64::from(s.size))
            .sum();
        chunks.push(Chunk {
            track: 0,
            first_sample: first,
            sample_count: count,
            sample_entry: 0,
            source: Slice {
                object: "segments/1".into(),
                offset,
                len,
            },
        });
        offset += len;
    }
    let stored = [vec![0xAB; prefix as usize], object].concat();
    let spec = ExportSpec {
        movie_timescale: 90_000,
        tracks: vec![Track {
            kind: TrackKind::Video {
                width: 320,
                height: 240,
            },
            timescale: 90_000,
            sample_entries: vec![source.sample_entry.clone()],
            samples,
            edits,
        }],
        chunks,
        creation_time: 3_800_000_000,
    };
    let layout = Mp4Layout::build(&spec).unwrap();
    let mut bytes = Vec::with_capacity(layout.len() as usize);
    for part in layout.parts(0..layout.len()) {
        match part {
            Part::Header(r) => bytes.extend_from_slice(&layout.header()[r]),
            Part::Body(s) => {
                assert_eq!(s.object, "segments/1");
                bytes.extend_from_slice(&stored[s.offset as usize..(s.offset + s.len) as usize]);
            }
        }
    }
    assert_eq!(bytes.len() as u64, layout.len());
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// ffmpeg must decode the file without printing anything at level error.
fn assert_decodes_cleanly(path: &Path) {
    let out = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            path.to_str().unwrap(),
            "-f",
            "null",
            "-",
        ],
    );
    let printed = [out.stdout, out.stderr].concat();
    assert!(
        printed.is_empty(),
        "ffmpeg complained about {path:?}: {}",
        String::from_utf8_lossy(&printed)
    );
}

/// The decoded frames' (pts, MD5) in output order.
fn framemd5(path: &Path) -> Vec<(i64, String)> {
    let out = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            path.to_str().unwrap(),
            "-map",
            "0:v",
            "-fps_mode",
            "passthrough",
            "-f",
            "framemd5",
            "-",
        ],
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split(',').map(str::trim).collect();
            (cols[2].parse().unwrap(), cols.last().unwrap().to_string())
        })
        .collect()
}

fn hashes(frames: &[(i64, String)]) -> Vec<&str> {
    frames.iter().map(|f| f.1.as_str()).collect()
}

#[test]
fn ffmpeg_decodes_the_export_frame_for_frame() {
    let dir = scratch_dir("export");
    let source = make_source(&dir);
    let exported = export(&dir, &source, vec![], "out.mp4");
    assert_decodes_cleanly(&exported);
    let want = framemd5(&source.path);
    let got = framemd5(&exported);
    assert_eq!(want.len(), FRAMES);
    assert_eq!(
        hashes(&got),
        hashes(&want),
        "frames differ in content, number or order"
    );
    // Presentation times survive too (framemd5 counts in frames at 25 fps).
    assert_eq!(got, want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ffmpeg_honours_an_edit_list_starting_ten_frames_in() {
    let dir = scratch_dir("edit");
    let source = make_source(&dir);
    let edits = vec![Edit {
        media_time: 10 * FRAME,
        duration: (FRAMES as u64 - 10) * FRAME as u64,
    }];
    let exported = export(&dir, &source, edits, "edited.mp4");
    assert_decodes_cleanly(&exported);
    let want = framemd5(&source.path);
    let got = framemd5(&exported);
    assert_eq!(got.len(), FRAMES - 10);
    assert_eq!(
        got[0].1, want[10].1,
        "the first frame shown is source frame 10"
    );
    assert_eq!(hashes(&got), hashes(&want[10..]));
    let pts: Vec<i64> = got.iter().map(|f| f.0).collect();
    assert_eq!(
        pts,
        (0..FRAMES as i64 - 10).collect::<Vec<_>>(),
        "playback starts at 0"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
