//! Unit tests of request handling, without sockets.

use super::*;
use crate::auth::Authenticator;
use crate::clip::{AccessUnit, Clip, ClipSpec};
use crate::prepared::PreparedClip;
use crate::timeline::CameraTimeline;
use crate::Scene;
use base64::Engine as _;
use bytes::Bytes;
use rtsp_types::headers::HeaderName;

fn shared(auth: Option<Authenticator>) -> Arc<Shared> {
    let spec = ClipSpec {
        width: 16,
        height: 16,
        fps: 25,
        seconds: 1,
    };
    let frames = (0..25)
        .map(|_| AccessUnit {
            nals: vec![Bytes::from_static(&[0x41, 1, 2])],
        })
        .collect();
    let clip = Clip {
        spec,
        sps: Bytes::from_static(&[0x67, 0x42, 0xc0, 0x1e]),
        pps: Bytes::from_static(&[0x68, 0xce]),
        frames,
    };
    let prepared = PreparedClip::new(&clip);
    Arc::new(Shared {
        scenes: vec![Scene { clip, prepared }],
        camera_scenes: vec![],
        sent: vec![Default::default(), Default::default()],
        late: vec![Default::default(), Default::default()],
        faults: vec![],
        cameras: vec![
            CameraTimeline {
                ssrc: 0x1111_1111,
                seq0: 100,
                ts0: 1000,
            },
            CameraTimeline {
                ssrc: 0x2222_2222,
                seq0: 200,
                ts0: 2000,
            },
        ],
        auth,
        epoch: tokio::time::Instant::now(),
        sdp_session_id: 7,
    })
}

fn req(method: Method, uri: &str, extra: &[(HeaderName, &str)]) -> Request<Vec<u8>> {
    let mut b = Request::builder(method, Version::V1_0)
        .request_uri(Url::parse(uri).unwrap())
        .header(CSEQ, "3");
    for (k, v) in extra {
        b = b.header(k.clone(), *v);
    }
    b.build(Vec::new())
}

fn header(resp: &Response<Vec<u8>>, name: &HeaderName) -> String {
    resp.header(name)
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

const TCP: &str = "RTP/AVP/TCP;unicast;interleaved=4-5";

#[test]
fn options_lists_methods_and_echoes_cseq() {
    let mut s = RtspSession::new(shared(None));
    let (resp, action) = s.handle(
        &req(Method::Options, "rtsp://h:1/cam/1", &[]),
        Duration::ZERO,
    );
    assert_eq!(resp.status(), StatusCode::Ok);
    assert_eq!(header(&resp, &CSEQ), "3");
    assert!(header(&resp, &PUBLIC).contains("GET_PARAMETER"));
    assert_eq!(action, Action::None);
}

#[test]
fn describe_known_and_unknown_cameras() {
    let mut s = RtspSession::new(shared(None));
    let (resp, _) = s.handle(
        &req(Method::Describe, "rtsp://h:1/cam/2", &[]),
        Duration::ZERO,
    );
    assert_eq!(resp.status(), StatusCode::Ok);
    assert_eq!(header(&resp, &CONTENT_BASE), "rtsp://h:1/cam/2/");
    assert_eq!(header(&resp, &CONTENT_TYPE), "application/sdp");
    assert!(String::from_utf8_lossy(resp.body()).contains("s=Sightline simulated camera 2"));
    for path in [
        "/cam/3",
        "/cam/0",
        "/cam/01",
        "/cam/x",
        "/other/1",
        "/cam/1/trackID=9",
    ] {
        let uri = format!("rtsp://h:1{path}");
        let (resp, _) = s.handle(&req(Method::Describe, &uri, &[]), Duration::ZERO);
        assert_eq!(resp.status(), StatusCode::NotFound, "{path}");
    }
}

#[test]
fn setup_rejects_udp_and_accepts_tcp_then_play_reports_rtp_info() {
    let mut s = RtspSession::new(shared(None));
    let udp = [(TRANSPORT, "RTP/AVP;unicast;client_port=5000-5001")];
    let (resp, _) = s.handle(
        &req(Method::Setup, "rtsp://h:1/cam/2/trackID=0", &udp),
        Duration::ZERO,
    );
    assert_eq!(resp.status(), StatusCode::UnsupportedTransport);

    let (resp, _) = s.handle(
        &req(
            Method::Setup,
            "rtsp://h:1/cam/2/trackID=0",
            &[(TRANSPORT, TCP)],
        ),
        Duration::ZERO,
    );
    assert_eq!(resp.status(), StatusCode::Ok);
    assert_eq!(
        header(&resp, &TRANSPORT),
        "RTP/AVP/TCP;unicast;interleaved=4-5;ssrc=22222222;mode=\"PLAY\""
    );
    let session = header(&resp, &SESSION);
    let id = session.split(';').next().unwrap().to_owned();
    assert!(session.ends_with(";timeout=60"), "{session}");

    // Wrong session id is refused.
    let (resp, _) = s.handle(
        &req(Method::Play, "rtsp://h:1/cam/2/", &[(SESSION, "nope")]),
        Duration::ZERO,
    );
    assert_eq!(resp.status(), StatusCode::SessionNotFound);

    // 1.5 s after the epoch the next IDR is frame 50 (the 1-frame-per-packet clip has 25
    // packets per loop): seq = 200 + 50, rtptime = 2000 + 50 * 3600.
    let (resp, action) = s.handle(
        &req(Method::Play, "rtsp://h:1/cam/2/", &[(SESSION, id.as_str())]),
        Duration::from_millis(1500),
    );
    assert_eq!(resp.status(), StatusCode::Ok);
    assert_eq!(
        header(&resp, &RTP_INFO),
        format!(
            "url=rtsp://h:1/cam/2/trackID=0;seq=250;rtptime={}",
            2000 + 50 * 3600
        )
    );
    assert_eq!(header(&resp, &RANGE), "npt=now-");
    assert_eq!(
        action,
        Action::Play {
            camera: 1,
            channel: 4,
            first_frame: 50
        }
    );
    assert!(s.is_playing());

    let (resp, _) = s.handle(
        &req(
            Method::GetParameter,
            "rtsp://h:1/cam/2/",
            &[(SESSION, id.as_str())],
        ),
        Duration::ZERO,
    );
    assert_eq!(resp.status(), StatusCode::Ok);
    let (resp, action) = s.handle(
        &req(
            Method::Teardown,
            "rtsp://h:1/cam/2/",
            &[(SESSION, id.as_str())],
        ),
        Duration::ZERO,
    );
    assert_eq!(resp.status(), StatusCode::Ok);
    assert_eq!(action, Action::Stop);
    assert!(!s.is_playing());
}

#[test]
fn play_without_setup_and_unknown_methods_fail() {
    let mut s = RtspSession::new(shared(None));
    let (resp, _) = s.handle(&req(Method::Play, "rtsp://h:1/cam/1/", &[]), Duration::ZERO);
    assert_eq!(resp.status(), StatusCode::SessionNotFound);
    for m in [
        Method::Announce,
        Method::Record,
        Method::Extension("FOO".into()),
    ] {
        let (resp, _) = s.handle(&req(m.clone(), "rtsp://h:1/cam/1/", &[]), Duration::ZERO);
        assert_eq!(resp.status(), StatusCode::NotImplemented, "{m:?}");
    }
}

#[test]
fn auth_challenges_every_failure_with_a_fresh_nonce() {
    let mut s = RtspSession::new(shared(Some(Authenticator::new("u".into(), "p".into()))));
    let (r1, _) = s.handle(
        &req(Method::Describe, "rtsp://h:1/cam/1", &[]),
        Duration::ZERO,
    );
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("u:x")
    );
    let (r2, _) = s.handle(
        &req(
            Method::Describe,
            "rtsp://h:1/cam/1",
            &[(AUTHORIZATION, wrong.as_str())],
        ),
        Duration::ZERO,
    );
    for r in [&r1, &r2] {
        assert_eq!(r.status(), StatusCode::Unauthorized);
        assert!(header(r, &WWW_AUTHENTICATE).starts_with("Digest realm=\"sightline-sim\""));
    }
    assert_ne!(
        header(&r1, &WWW_AUTHENTICATE),
        header(&r2, &WWW_AUTHENTICATE)
    );
    let right = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("u:p")
    );
    let (r3, _) = s.handle(
        &req(
            Method::Describe,
            "rtsp://h:1/cam/1",
            &[(AUTHORIZATION, right.as_str())],
        ),
        Duration::ZERO,
    );
    assert_eq!(r3.status(), StatusCode::Ok);
}
