//! End-to-end tests: the `retina` RTSP client (what the recorder uses) against a SimServer.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use retina::client::{
    Credentials, PacketItem, PlayOptions, Session, SessionOptions, SetupOptions, Transport,
};
use retina::codec::{CodecItem, FrameFormat};
use sightline_sim::{SimConfig, SimServer};

fn config(cameras: u32) -> SimConfig {
    SimConfig {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        cameras,
        // Small pictures keep the tests quick; the protocol path is the same.
        width: 320,
        height: 180,
        clip_seconds: 1,
        ..SimConfig::default()
    }
}

fn creds(user: &str, pass: &str) -> Option<Credentials> {
    Some(Credentials {
        username: user.into(),
        password: pass.into(),
    })
}

async fn play(
    url: &str,
    creds: Option<Credentials>,
) -> Result<Session<retina::client::Playing>, retina::Error> {
    let url = url::Url::parse(url).unwrap();
    let mut session = Session::describe(url, SessionOptions::default().creds(creds)).await?;
    let setup = SetupOptions::default()
        .transport(Transport::Tcp(Default::default()))
        .frame_format(FrameFormat::SIMPLE);
    session.setup(0, setup).await?;
    session.play(PlayOptions::default()).await
}

#[tokio::test]
async fn camera_streams_keyframe_first_with_continuous_timestamps_across_loops() {
    let server = SimServer::start(config(3)).await.unwrap();
    let playing = play(&server.camera_url(2), None).await.unwrap();
    let mut demuxed = playing.demuxed().unwrap();
    let mut decoder = openh264::decoder::Decoder::new().unwrap();
    let (mut frames, mut sender_reports) = (Vec::new(), 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    // 60 frames at 25 fps = 2.4 s: crosses the 1 s loop boundary twice.
    while frames.len() < 60 {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let item = tokio::time::timeout(remaining, demuxed.next())
            .await
            .expect("60 frames within 10 s")
            .expect("stream ended early")
            .expect("stream error");
        match item {
            CodecItem::VideoFrame(f) => {
                let decoded = decoder.decode(f.data()).expect("frame decodes");
                frames.push((
                    f.timestamp(),
                    f.is_random_access_point(),
                    f.loss(),
                    decoded.is_some(),
                ));
            }
            CodecItem::Rtcp(r) => {
                if r.rtp_timestamp().is_some() {
                    sender_reports += 1;
                }
            }
            other => panic!("unexpected item {other:?}"),
        }
    }
    // The first frame is the IDR announced by RTP-Info (elapsed 0), and IDRs recur every second.
    assert_eq!(
        frames[0].0.elapsed(),
        0,
        "first frame has the RTP-Info rtptime"
    );
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.1, i % 25 == 0, "frame {i}: random access point");
        assert_eq!(f.2, 0, "frame {i}: loss");
        assert!(f.3, "frame {i}: decoder produced no picture");
    }
    for (i, w) in frames.windows(2).enumerate() {
        assert_eq!(
            w[1].0.timestamp() - w[0].0.timestamp(),
            3600,
            "frames {i}..{}",
            i + 1
        );
    }
    assert!(sender_reports >= 1, "an RTCP sender report arrived");
    server.shutdown().await;
}

/// Collects RTP packets from one playing session for `dur`: (distinct SSRCs, marker count).
async fn rtp_ssrcs(mut s: Session<retina::client::Playing>, dur: Duration) -> (Vec<u32>, usize) {
    let (mut ssrcs, mut markers) = (Vec::new(), 0);
    let end = tokio::time::Instant::now() + dur;
    while let Ok(Some(item)) = tokio::time::timeout_at(end, s.next()).await {
        if let PacketItem::Rtp(p) = item.expect("stream error") {
            if !ssrcs.contains(&p.ssrc()) {
                ssrcs.push(p.ssrc());
            }
            markers += usize::from(p.mark());
        }
    }
    (ssrcs, markers)
}

#[tokio::test]
async fn two_cameras_stream_at_once_with_different_ssrcs() {
    let server = SimServer::start(config(3)).await.unwrap();
    let (url_a, url_b) = (server.camera_url(1), server.camera_url(3));
    let (a, b) = tokio::join!(play(&url_a, None), play(&url_b, None));
    let dur = Duration::from_millis(2500);
    let ((ssrcs_a, frames_a), (ssrcs_b, frames_b)) =
        tokio::join!(rtp_ssrcs(a.unwrap(), dur), rtp_ssrcs(b.unwrap(), dur));
    assert_eq!(ssrcs_a.len(), 1, "camera 1 uses one SSRC: {ssrcs_a:x?}");
    assert_eq!(ssrcs_b.len(), 1, "camera 3 uses one SSRC: {ssrcs_b:x?}");
    assert_ne!(ssrcs_a, ssrcs_b);
    // Each waits up to 1 s for its first IDR, then gets 25 frames/s.
    for (cam, n) in [(1, frames_a), (3, frames_b)] {
        assert!((20..=65).contains(&n), "camera {cam}: {n} frames in 2.5 s");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn credentials_are_required_and_checked() {
    let server = SimServer::start(SimConfig {
        credentials: Some(("admin".into(), "s3cret".into())),
        ..config(1)
    })
    .await
    .unwrap();
    let url = server.camera_url(1);

    let playing = play(&url, creds("admin", "s3cret")).await.unwrap();
    let mut demuxed = playing.demuxed().unwrap();
    let first = loop {
        let item = tokio::time::timeout(Duration::from_secs(5), demuxed.next())
            .await
            .expect("a frame within 5 s")
            .unwrap()
            .unwrap();
        if let CodecItem::VideoFrame(f) = item {
            break f;
        }
    };
    assert!(first.is_random_access_point());

    for wrong in [creds("admin", "wrong"), creds("someone", "s3cret"), None] {
        let err = play(&url, wrong.clone())
            .await
            .err()
            .expect("wrong creds must fail")
            .to_string();
        assert!(err.contains("401"), "{wrong:?}: {err}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_camera_is_not_found() {
    let server = SimServer::start(config(2)).await.unwrap();
    let url = server.camera_url(3);
    let err = play(&url, None)
        .await
        .err()
        .expect("camera 3 does not exist")
        .to_string();
    assert!(err.contains("404"), "{err}");
    let url = format!("rtsp://{}/nothing/here", server.local_addr());
    let err = play(&url, None)
        .await
        .err()
        .expect("path does not exist")
        .to_string();
    assert!(err.contains("404"), "{err}");
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_playing_sessions() {
    let server = SimServer::start(config(1)).await.unwrap();
    let mut playing = play(&server.camera_url(1), None).await.unwrap();
    let got_packet = tokio::time::timeout(Duration::from_secs(3), playing.next()).await;
    assert!(matches!(got_packet, Ok(Some(Ok(_)))), "{got_packet:?}");
    server.shutdown().await;
    // After shutdown the stream ends or errors promptly instead of stalling.
    let end = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match playing.next().await {
                None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(end.is_ok(), "stream still open 3 s after shutdown");
}

#[tokio::test]
async fn default_clip_generation_is_fast() {
    let started = Instant::now();
    let server = SimServer::start(SimConfig {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let took = started.elapsed();
    eprintln!("default 640x360 25 fps 4 s clip: started in {took:?}");
    assert!(took < Duration::from_secs(4), "start took {took:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn cameras_stream_their_own_scene_at_its_bitrate_and_it_decodes() {
    let server = SimServer::start(SimConfig {
        extra_scenes: vec![sightline_sim::SceneSpec {
            width: 640,
            height: 360,
            bitrate_bps: Some(2_000_000),
        }],
        camera_scenes: vec![0, 1],
        ..config(2)
    })
    .await
    .unwrap();
    let mut sizes = vec![];
    for camera in [1, 2] {
        let playing = play(&server.camera_url(camera), None).await.unwrap();
        let params = match playing.streams()[0].parameters() {
            Some(retina::codec::ParametersRef::Video(v)) => v.pixel_dimensions(),
            other => panic!("no video parameters: {other:?}"),
        };
        let mut demuxed = playing.demuxed().unwrap();
        let mut decoder = openh264::decoder::Decoder::new().unwrap();
        let (mut frames, mut bytes) = (0u64, 0u64);
        while frames < 50 {
            let item = tokio::time::timeout(Duration::from_secs(10), demuxed.next())
                .await
                .expect("frames within 10 s")
                .expect("stream ended early")
                .expect("stream error");
            if let CodecItem::VideoFrame(f) = item {
                assert!(decoder.decode(f.data()).is_ok(), "a padded frame decodes");
                bytes += f.data().len() as u64;
                frames += 1;
            }
        }
        sizes.push((params, bytes * 8 * 25 / frames));
    }
    assert_eq!(sizes[0].0, (320, 180));
    assert_eq!(sizes[1].0, (640, 360));
    // Two seconds at 25 fps: the padded scene averages close to its 2 Mbit/s.
    let rate = sizes[1].1;
    assert!((1_800_000..=2_200_000).contains(&rate), "{rate} bit/s");
    assert!(sizes[0].1 < 1_000_000, "the default scene is not padded");
}

#[tokio::test]
async fn faulty_cameras_misbehave_as_asked() {
    use sightline_sim::Fault;
    let server = SimServer::start(SimConfig {
        faults: vec![
            (1, Fault::WrongCredentials),
            (
                2,
                Fault::Stall {
                    after: Duration::from_millis(800),
                },
            ),
            (3, Fault::Slow { factor: 2 }),
            (
                4,
                Fault::Flapping {
                    up: Duration::from_secs(60),
                    down: Duration::from_secs(60),
                },
            ),
            (
                5,
                Fault::Flapping {
                    up: Duration::from_nanos(1),
                    down: Duration::from_secs(60),
                },
            ),
        ],
        ..config(5)
    })
    .await
    .unwrap();

    // Wrong credentials: refused whatever is sent.
    for creds in [None, creds("admin", "admin")] {
        let err = play(&server.camera_url(1), creds)
            .await
            .err()
            .expect("refused");
        assert!(err.to_string().contains("401"), "{err}");
    }
    // Down: refused while down.
    let err = play(&server.camera_url(5), None).await.err().expect("down");
    assert!(err.to_string().contains("503"), "{err}");

    // Frames in the 1.6 s after each camera's first (which waits for the next IDR): a
    // stall stops after 0.8 s, a slow camera sends half, a flapping camera in its up
    // phase streams normally.
    let count = |url: String| async move {
        let mut demuxed = play(&url, None).await.unwrap().demuxed().unwrap();
        let mut first = None;
        let mut frames = 0;
        loop {
            let until = first.map_or(tokio::time::Instant::now() + Duration::from_secs(3), |f| {
                f + Duration::from_millis(1600)
            });
            match tokio::time::timeout_at(until, demuxed.next()).await {
                Ok(Some(item)) => {
                    if let CodecItem::VideoFrame(_) = item.unwrap() {
                        first.get_or_insert_with(tokio::time::Instant::now);
                        frames += 1;
                    }
                }
                _ => return frames,
            }
        }
    };
    let (stalled, slow, up) = tokio::join!(
        count(server.camera_url(2)),
        count(server.camera_url(3)),
        count(server.camera_url(4))
    );
    assert!(
        (10..=23).contains(&stalled),
        "stalled camera sent {stalled}"
    );
    assert!((10..=26).contains(&slow), "slow camera sent {slow}");
    assert!(up >= 32, "flapping camera in its up phase sent {up}");
}
