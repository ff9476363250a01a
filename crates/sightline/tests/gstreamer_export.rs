//! Acceptance 1-3: a camera we did not write (GStreamer's RTSP server) plays a clip with
//! B-frames (and AAC audio) once in real time; Sightline records it, and the export
//! decodes to exactly the source's frames, with audio in sync, cleanly, with working
//! byte ranges and a stable ETag.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const CLIP_SECONDS: u32 = 6;

/// Records one play-through of `clip` and returns (server, camera id, first span).
async fn record_once(
    dir: &TempDir,
    clip: &std::path::Path,
    audio: bool,
) -> (Server, i64, Value, Proc) {
    record_once_as(dir, clip, "file", audio).await
}

/// As [`record_once`], with the camera script's `mode` (`file` for H.264, `h265`).
async fn record_once_as(
    dir: &TempDir,
    clip: &std::path::Path,
    mode: &str,
    audio: bool,
) -> (Server, i64, Value, Proc) {
    let port = free_port();
    let mut args = vec![mode, clip.to_str().unwrap()];
    if audio {
        args.push("audio");
    }
    let gst = spawn_gst(dir, port, &args);
    let server = Server::start(&dir.path("data")).await;
    let id = server
        .add_camera("gst", &format!("rtsp://127.0.0.1:{port}/stream"))
        .await;
    // The clip ends after CLIP_SECONDS; its run then ends with a gap.
    let span = server
        .wait_for("the clip's run to end", Duration::from_secs(60), || async {
            let r = server.recordings(id).await;
            (!r["gaps"].as_array().unwrap().is_empty()).then(|| r["spans"][0].clone())
        })
        .await;
    (server, id, span, gst)
}

/// Exports a whole span and checks that ffmpeg decodes it without a word of complaint.
async fn export_span_cleanly(
    server: &Server,
    id: i64,
    span: &Value,
    dir: &TempDir,
) -> std::path::PathBuf {
    let export = dir.path("export.mp4");
    let (from, to) = (
        span["start"].as_str().unwrap(),
        span["end"].as_str().unwrap(),
    );
    server.export(id, from, to, &export).await;
    assert_eq!(
        decode_errors(&export),
        "",
        "ffmpeg reported errors decoding the export"
    );
    export
}

fn hashes(v: &[(i64, String)]) -> Vec<&str> {
    v.iter().map(|(_, h)| h.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bframe_clip_exports_frame_exact_with_ranges() {
    let dir = TempDir::new("bframes");
    let clip = dir.path("source.mp4");
    make_clip(&clip, CLIP_SECONDS, false);
    let source = framemd5(&clip, "v:0");
    assert_eq!(source.len(), (CLIP_SECONDS * 25) as usize);

    let (server, id, span, _gst) = record_once(&dir, &clip, false).await;
    let (from, to) = (
        span["start"].as_str().unwrap(),
        span["end"].as_str().unwrap(),
    );
    let export = dir.path("export.mp4");
    let whole = server.export(id, from, to, &export).await;

    let exported = framemd5(&export, "v:0");
    assert_eq!(exported.len(), source.len(), "frame count differs");
    assert_eq!(
        hashes(&exported),
        hashes(&source),
        "decoded frames differ from the source's"
    );
    assert_eq!(
        decode_errors(&export),
        "",
        "ffmpeg reported errors decoding the export"
    );

    // Byte ranges return exactly the slices of the whole file.
    let url = server.export_url(id, from, to);
    let http = |url: &str| server.request(reqwest::Method::GET, url, &server.viewer);
    let len = whole.len();
    for (range, expect) in [
        ("bytes=0-99".to_string(), 0..100),
        (format!("bytes=1000-{}", len / 2), 1000..len / 2 + 1),
        (format!("bytes={}-", len - 777), len - 777..len),
        ("bytes=-500".to_string(), len - 500..len),
    ] {
        let resp = http(&url).header("Range", &range).send().await.unwrap();
        assert_eq!(resp.status(), 206, "{range}");
        let cr = resp.headers()["content-range"].to_str().unwrap().to_owned();
        assert_eq!(
            cr,
            format!("bytes {}-{}/{len}", expect.start, expect.end - 1)
        );
        assert_eq!(
            resp.bytes().await.unwrap().as_ref(),
            &whole[expect],
            "{range}"
        );
    }
    let resp = http(&url)
        .header("Range", format!("bytes={}-", len + 10))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 416);

    // The ETag is stable and honoured.
    let etag = http(&url).send().await.unwrap().headers()["etag"].clone();
    let again = http(&url).send().await.unwrap();
    assert_eq!(again.headers()["etag"], etag);
    let cached = http(&url)
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);

    // An export starting mid-clip begins at the keyframe before `from` with an edit list,
    // so playback starts exactly at `from`: the first decoded frame is the source frame there.
    let start: sightline_core::Timestamp = from.parse().unwrap();
    let mid = start.add_micros(2_520_000).to_rfc3339(); // frame 63, between keyframes 50 and 75
    let cut = dir.path("cut.mp4");
    server.export(id, &mid, to, &cut).await;
    let cut_frames = framemd5(&cut, "v:0");
    let first_at = source
        .iter()
        .position(|f| Some(&f.1) == cut_frames.first().map(|c| &c.1));
    assert_eq!(
        first_at,
        Some(63),
        "cut export starts at source frame {first_at:?}, not 63"
    );
    assert_eq!(hashes(&cut_frames), hashes(&source[63..]));
    assert_eq!(decode_errors(&cut), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn aac_audio_is_kept_in_sync() {
    let dir = TempDir::new("audio");
    let clip = dir.path("source.mp4");
    make_clip(&clip, CLIP_SECONDS, true);
    let (server, id, span, _gst) = record_once(&dir, &clip, true).await;
    let export = export_span_cleanly(&server, id, &span, &dir).await;
    assert_eq!(
        hashes(&framemd5(&export, "v:0")),
        hashes(&framemd5(&clip, "v:0"))
    );

    let frame = 1024.0 / 48000.0;
    let src = packet_times(&clip, "a:0");
    let exp = packet_times(&export, "a:0");
    let src_v0 = packet_times(&clip, "v:0")[0];
    let exp_v0 = packet_times(&export, "v:0")[0];
    assert!(
        exp.len() + 25 >= src.len(),
        "export has {} audio frames, source {}",
        exp.len(),
        src.len()
    );
    // Align on the first exported audio frame, then every frame must match within one
    // audio frame, measured relative to the first video frame of each file.
    let skip = src
        .iter()
        .take_while(|t| (*t - src_v0) < (exp[0] - exp_v0) - frame / 2.0)
        .count();
    assert!(
        skip < 25,
        "{skip} source audio frames missing from the start"
    );
    for (i, t) in exp.iter().enumerate() {
        let s = src[i + skip];
        let drift = ((t - exp_v0) - (s - src_v0)).abs();
        assert!(
            drift <= frame,
            "audio frame {i} is {drift:.4}s off (export {t}, source {s})"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn h265_clip_with_bframes_exports_frame_exact() {
    let dir = TempDir::new("h265");
    let clip = dir.path("source.mp4");
    make_clip_with(
        &clip,
        4,
        false,
        &[
            "-c:v",
            "libx265",
            "-tag:v",
            "hvc1",
            "-x265-params",
            "log-level=error:open-gop=0",
        ],
    );
    let source = framemd5(&clip, "v:0");
    let (server, id, span, _gst) = record_once_as(&dir, &clip, "h265", false).await;
    let export = export_span_cleanly(&server, id, &span, &dir).await;
    assert_eq!(hashes(&framemd5(&export, "v:0")), hashes(&source));
    let cam = server.camera(id).await;
    assert_eq!(cam["status"]["codec"], "H265");
}
