//! RTSP request handling for one connection: authentication, method dispatch, session state.
//!
//! Sans-I/O: a parsed request and the time since the server's epoch go in, a response and an
//! [`Action`] for the connection's I/O loop come out, so every status code the simulator can
//! return is testable without a socket. Supported: `OPTIONS`, `DESCRIBE`, `SETUP` (TCP
//! interleaved only; anything else gets 461), `PLAY`, `GET_PARAMETER`, `TEARDOWN`. Unknown
//! cameras get 404 and other methods 501. One RTSP session (one video track) per connection,
//! which is what cameras offer and what recorders use.

use std::sync::Arc;
use std::time::Duration;

use rtsp_types::headers::{
    AUTHORIZATION, CONTENT_BASE, CONTENT_TYPE, CSEQ, PUBLIC, RANGE, RTP_INFO, SERVER, SESSION,
    TRANSPORT, WWW_AUTHENTICATE,
};
use rtsp_types::{Method, Request, Response, StatusCode, Url, Version};

use crate::sdp::{self, SdpParams, TRACK_CONTROL};
use crate::timeline::first_frame_for_viewer;
use crate::{Fault, Shared};

/// Seconds a session may go without a request before the server may drop it.
pub const SESSION_TIMEOUT_SECS: u64 = 60;

const PUBLIC_METHODS: &str = "OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN";

/// What the connection loop must do after sending the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    None,
    /// Start sending camera `camera` (0-based) on `channel` (RTCP on `channel + 1`), beginning
    /// with global frame `first_frame`.
    Play {
        camera: usize,
        channel: u8,
        first_frame: u64,
    },
    /// Stop sending media (TEARDOWN).
    Stop,
}

#[derive(Clone, Copy, Debug)]
struct Setup {
    camera: usize,
    channel: u8,
}

/// One connection's RTSP state.
pub struct RtspSession {
    shared: Arc<Shared>,
    session_id: Option<String>,
    setup: Option<Setup>,
    playing: bool,
}

/// Which camera (1-based) a request path names: `/cam/N`, `/cam/N/` or `/cam/N/trackID=0`.
fn parse_camera_path(path: &str, cameras: u32) -> Option<u32> {
    let rest = path.strip_prefix("/cam/")?;
    let (num, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if !(tail.is_empty() || tail == TRACK_CONTROL) || num.starts_with(['+', '0']) {
        return None;
    }
    let n: u32 = num.parse().ok()?;
    (1..=cameras).contains(&n).then_some(n)
}

/// The aggregate (base) URL of camera `n` as reached through `uri`: `rtsp://host:port/cam/n/`.
fn base_url(uri: &Url, n: u32) -> String {
    let mut base = uri.clone();
    base.set_path(&format!("/cam/{n}/"));
    base.set_query(None);
    base.set_fragment(None);
    let _ = base.set_username("");
    let _ = base.set_password(None);
    base.to_string()
}

/// Parses the interleaved channel pair from a TCP transport spec, e.g. `interleaved=2-3`.
fn interleaved_channel(spec: &str) -> Option<Option<u8>> {
    for part in spec.split(';') {
        if let Some(v) = part.trim().strip_prefix("interleaved=") {
            let first = v.split('-').next().unwrap_or("");
            return match first.trim().parse::<u8>() {
                Ok(c) if c < 255 => Some(Some(c)),
                _ => None,
            };
        }
    }
    Some(None)
}

impl RtspSession {
    pub fn new(shared: Arc<Shared>) -> RtspSession {
        RtspSession {
            shared,
            session_id: None,
            setup: None,
            playing: false,
        }
    }

    /// Whether media is being sent.
    #[cfg(test)]
    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Handles one request; `elapsed` is the time since the server's epoch.
    pub fn handle(
        &mut self,
        req: &Request<Vec<u8>>,
        elapsed: Duration,
    ) -> (Response<Vec<u8>>, Action) {
        let cseq = req.header(&CSEQ).map(|v| v.as_str().to_owned());
        let respond = |status: StatusCode| {
            let mut b = Response::builder(Version::V1_0, status).header(SERVER, "sightline-sim");
            if let Some(c) = &cseq {
                b = b.header(CSEQ, c.as_str());
            }
            b
        };
        if let Some(auth) = &self.shared.auth {
            let authorization = req.header(&AUTHORIZATION).map(|v| v.as_str());
            if let Err(e) = auth.check(req.method().into(), authorization) {
                tracing::debug!(method = ?req.method(), error = %e, "rejected RTSP request");
                let resp = respond(StatusCode::Unauthorized)
                    .header(WWW_AUTHENTICATE, auth.challenge())
                    .build(Vec::new());
                return (resp, Action::None);
            }
        }
        let camera = req
            .request_uri()
            .and_then(|u| parse_camera_path(u.path(), self.shared.cameras.len() as u32));
        if let Some(n) = camera {
            let index = n as usize - 1;
            if self.shared.fault(index) == Some(Fault::WrongCredentials) {
                let challenge = match &self.shared.auth {
                    Some(auth) => auth.challenge(),
                    None => "Basic realm=\"sightline-sim\"".to_owned(),
                };
                let resp = respond(StatusCode::Unauthorized)
                    .header(WWW_AUTHENTICATE, challenge)
                    .build(Vec::new());
                return (resp, Action::None);
            }
            if self.shared.down(index) {
                return (
                    respond(StatusCode::ServiceUnavailable).build(Vec::new()),
                    Action::None,
                );
            }
        }
        match req.method() {
            Method::Options => (
                respond(StatusCode::Ok)
                    .header(PUBLIC, PUBLIC_METHODS)
                    .build(Vec::new()),
                Action::None,
            ),
            Method::GetParameter => {
                if !self.session_matches(req) {
                    return (
                        respond(StatusCode::SessionNotFound).build(Vec::new()),
                        Action::None,
                    );
                }
                (respond(StatusCode::Ok).build(Vec::new()), Action::None)
            }
            Method::Describe => match (camera, req.request_uri()) {
                (Some(n), Some(uri)) => {
                    let clip = &self.shared.scene(n as usize - 1).clip;
                    let body = sdp::render(&SdpParams {
                        camera: n,
                        session_id: self.shared.sdp_session_id,
                        sps: &clip.sps,
                        pps: &clip.pps,
                        fps: clip.spec.fps,
                        width: clip.spec.width,
                        height: clip.spec.height,
                    });
                    let resp = respond(StatusCode::Ok)
                        .header(CONTENT_TYPE, "application/sdp")
                        .header(CONTENT_BASE, base_url(uri, n))
                        .build(body.into_bytes());
                    (resp, Action::None)
                }
                _ => (
                    respond(StatusCode::NotFound).build(Vec::new()),
                    Action::None,
                ),
            },
            Method::Setup => {
                let Some(n) = camera else {
                    return (
                        respond(StatusCode::NotFound).build(Vec::new()),
                        Action::None,
                    );
                };
                self.setup(req, n, respond)
            }
            Method::Play => {
                if !self.session_matches(req) || self.session_id.is_none() {
                    return (
                        respond(StatusCode::SessionNotFound).build(Vec::new()),
                        Action::None,
                    );
                }
                let (Some(setup), Some(uri)) = (self.setup, req.request_uri()) else {
                    return (
                        respond(StatusCode::MethodNotValidInThisState).build(Vec::new()),
                        Action::None,
                    );
                };
                if camera.is_some_and(|n| n as usize != setup.camera + 1) {
                    return (
                        respond(StatusCode::NotFound).build(Vec::new()),
                        Action::None,
                    );
                }
                let session = self.session_header();
                if self.playing {
                    let resp = respond(StatusCode::Ok)
                        .header(SESSION, session)
                        .header(RANGE, "npt=now-")
                        .build(Vec::new());
                    return (resp, Action::None);
                }
                let scene = self.shared.scene(setup.camera);
                let fps = scene.clip.spec.fps;
                let first_frame = first_frame_for_viewer(elapsed, fps, u64::from(fps));
                let tl = &self.shared.cameras[setup.camera];
                let seq = tl.seq_of_frame(first_frame, &scene.prepared);
                let rtptime = tl.ts_of_frame(first_frame, fps);
                let track_url =
                    format!("{}{TRACK_CONTROL}", base_url(uri, setup.camera as u32 + 1));
                self.playing = true;
                let resp = respond(StatusCode::Ok)
                    .header(SESSION, session)
                    .header(RANGE, "npt=now-")
                    .header(
                        RTP_INFO,
                        format!("url={track_url};seq={seq};rtptime={rtptime}"),
                    )
                    .build(Vec::new());
                let action = Action::Play {
                    camera: setup.camera,
                    channel: setup.channel,
                    first_frame,
                };
                (resp, action)
            }
            Method::Teardown => {
                if !self.session_matches(req) || self.session_id.is_none() {
                    return (
                        respond(StatusCode::SessionNotFound).build(Vec::new()),
                        Action::None,
                    );
                }
                self.session_id = None;
                self.setup = None;
                self.playing = false;
                (respond(StatusCode::Ok).build(Vec::new()), Action::Stop)
            }
            _ => (
                respond(StatusCode::NotImplemented).build(Vec::new()),
                Action::None,
            ),
        }
    }

    fn setup(
        &mut self,
        req: &Request<Vec<u8>>,
        n: u32,
        respond: impl Fn(StatusCode) -> rtsp_types::ResponseBuilder,
    ) -> (Response<Vec<u8>>, Action) {
        let none = |status| (respond(status).build(Vec::new()), Action::None);
        if self.playing || self.setup.is_some_and(|s| s.camera + 1 != n as usize) {
            return none(StatusCode::MethodNotValidInThisState);
        }
        if self.session_id.is_some() && !self.session_matches(req) {
            return none(StatusCode::SessionNotFound);
        }
        let Some(transport) = req.header(&TRANSPORT) else {
            return none(StatusCode::BadRequest);
        };
        let tcp = transport.as_str().split(',').find(|spec| {
            spec.trim_start()
                .to_ascii_uppercase()
                .starts_with("RTP/AVP/TCP")
        });
        let Some(tcp) = tcp else {
            return none(StatusCode::UnsupportedTransport);
        };
        let Some(channel) = interleaved_channel(tcp) else {
            return none(StatusCode::BadRequest);
        };
        let channel = channel.unwrap_or(0);
        if self.session_id.is_none() {
            let mut r = [0u8; 8];
            getrandom::getrandom(&mut r).expect("operating system random source failed");
            self.session_id = Some(hex::encode_upper(r));
        }
        self.setup = Some(Setup {
            camera: n as usize - 1,
            channel,
        });
        let ssrc = self.shared.cameras[n as usize - 1].ssrc;
        let resp = respond(StatusCode::Ok)
            .header(
                TRANSPORT,
                format!(
                    "RTP/AVP/TCP;unicast;interleaved={channel}-{};ssrc={ssrc:08X};mode=\"PLAY\"",
                    channel + 1
                ),
            )
            .header(SESSION, self.session_header())
            .build(Vec::new());
        (resp, Action::None)
    }

    fn session_header(&self) -> String {
        format!(
            "{};timeout={SESSION_TIMEOUT_SECS}",
            self.session_id.as_deref().unwrap_or_default()
        )
    }

    /// True when the request's Session header (if any) names this connection's session.
    fn session_matches(&self, req: &Request<Vec<u8>>) -> bool {
        match req.header(&SESSION) {
            None => true,
            Some(v) => {
                let id = v.as_str().split(';').next().unwrap_or("").trim();
                self.session_id.as_deref() == Some(id)
            }
        }
    }
}

#[cfg(test)]
mod tests;
