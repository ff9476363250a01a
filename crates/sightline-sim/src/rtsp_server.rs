//! One RTSP connection's I/O: reading requests, writing responses, pacing media out.
//!
//! Each accepted connection runs this loop in its own task, so a slow or dead client only ever
//! stalls itself. Requests are parsed with `rtsp-types` (interleaved data from the client, such
//! as RTCP receiver reports, is parsed and ignored) and answered by [`RtspSession`]. While
//! playing, one access unit goes out every `1/fps` s as a single write of pre-built
//! interleaved RTP bytes (see `prepared`), and an RTCP sender report about every 5 s.
//!
//! Frames are paced against their fixed schedule (a tokio interval with
//! [`MissedTickBehavior::Burst`]): if a write stalls, the frames that fell due meanwhile go
//! out back to back until the camera is on time again, as a real camera drains its buffer.
//! Every frame is still sent exactly once, in order, with gap-free sequence numbers and
//! timestamps, and its lateness against the schedule is what `late` counts: a frame more
//! than [`crate::LATE_AFTER`] late is one a real camera would have dropped. Every write is
//! bounded by [`WRITE_TIMEOUT`]; a client that cannot take a frame in that time is
//! disconnected.

use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Buf as _, BytesMut};
use rtsp_types::{Message, ParseError, Response, StatusCode, Version};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{interval_at, timeout, Instant, Interval, MissedTickBehavior};

use crate::rtcp::{ntp_timestamp, SenderReport, SENDER_REPORT_LEN};
use crate::rtp::interleaved_header;
use crate::session::{Action, RtspSession, SESSION_TIMEOUT_SECS};
use crate::timeline::{due_offset, CLOCK_RATE};
use crate::{Fault, Shared};

/// Longest a single write (one frame or one response) may take before the client is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Interval between RTCP sender reports.
pub const RTCP_INTERVAL: Duration = Duration::from_secs(5);
/// Largest buffered, still incomplete request accepted before the connection is dropped.
const MAX_PENDING_INPUT: usize = 64 * 1024;

/// Media state of a playing session.
struct Playback {
    camera: usize,
    channel: u8,
    next_frame: u64,
    frames: Interval,
    rtcp: Interval,
    packets: u32,
    octets: u32,
    /// When the last frame went out, and its RTP timestamp.
    last_sent: Option<(Instant, u32)>,
    /// The first frame this playback sent.
    first_frame: u64,
}

impl Playback {
    /// Whether a stalling camera has stopped sending: once the frames due in `after`
    /// since the first have gone (counted, not timed, so a loaded machine changes nothing).
    fn stalled(&self, shared: &Shared) -> bool {
        let Some(Fault::Stall { after }) = shared.fault(self.camera) else {
            return false;
        };
        let fps = shared.scene(self.camera).clip.spec.fps;
        let allowed = (after.as_secs_f64() * f64::from(fps)).round() as u64;
        self.next_frame - self.first_frame >= allowed
    }
}

async fn tick(interval: Option<&mut Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn write_bounded(wr: &mut OwnedWriteHalf, bytes: &[u8]) -> io::Result<()> {
    match timeout(WRITE_TIMEOUT, wr.write_all(bytes)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "client did not take {} bytes within {WRITE_TIMEOUT:?}",
                bytes.len()
            ),
        )),
    }
}

fn serialize(resp: &Response<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + resp.body().len());
    resp.write(&mut out)
        .expect("serializing an RTSP response into a Vec cannot fail");
    out
}

/// Serves one connection until the client leaves, errs, or `shutdown` fires.
pub async fn serve_connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer = stream.peer_addr().ok();
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    match run(&mut rd, &mut wr, &shared, &mut shutdown).await {
        Ok(()) => tracing::debug!(?peer, "RTSP connection closed"),
        Err(e) => tracing::debug!(?peer, error = %e, "RTSP connection dropped"),
    }
    let _ = wr.shutdown().await;
}

async fn run(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut OwnedWriteHalf,
    shared: &Arc<Shared>,
    shutdown: &mut watch::Receiver<bool>,
) -> io::Result<()> {
    let mut session = RtspSession::new(shared.clone());
    let mut input = BytesMut::with_capacity(4096);
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut playback: Option<Playback> = None;
    let idle = tokio::time::sleep(Duration::from_secs(SESSION_TIMEOUT_SECS));
    tokio::pin!(idle);
    loop {
        let playing = playback.is_some();
        let (frames, rtcp) = match playback.as_mut() {
            Some(p) => (Some(&mut p.frames), Some(&mut p.rtcp)),
            None => (None, None),
        };
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            () = &mut idle, if !playing => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "idle without a request"));
            }
            r = rd.read_buf(&mut input) => {
                if r? == 0 {
                    return Ok(());
                }
                idle.as_mut()
                    .reset(Instant::now() + Duration::from_secs(SESSION_TIMEOUT_SECS));
                handle_input(&mut input, &mut session, shared, wr, &mut playback).await?;
            }
            () = tick(frames) => {
                let p = playback.as_mut().expect("frame timer only runs while playing");
                if shared.down(p.camera) {
                    // A flapping camera dropping off the network.
                    return Ok(());
                }
                if !p.stalled(shared) {
                    send_frame(p, shared, wr, &mut out).await?;
                }
            }
            () = tick(rtcp) => {
                let p = playback.as_mut().expect("RTCP timer only runs while playing");
                if !p.stalled(shared) {
                    send_sender_report(p, shared, wr).await?;
                }
            }
        }
    }
}

/// Parses and answers every complete message in `input`.
async fn handle_input(
    input: &mut BytesMut,
    session: &mut RtspSession,
    shared: &Arc<Shared>,
    wr: &mut OwnedWriteHalf,
    playback: &mut Option<Playback>,
) -> io::Result<()> {
    loop {
        let (msg, consumed) = match Message::<Vec<u8>>::parse(&input[..]) {
            Ok(parsed) => parsed,
            Err(ParseError::Incomplete(_)) if input.len() <= MAX_PENDING_INPUT => return Ok(()),
            Err(ParseError::Incomplete(_)) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("over {MAX_PENDING_INPUT} bytes without a complete RTSP message"),
                ));
            }
            Err(ParseError::Error) => {
                let resp =
                    Response::builder(Version::V1_0, StatusCode::BadRequest).build(Vec::new());
                write_bounded(wr, &serialize(&resp)).await?;
                let start: String = String::from_utf8_lossy(&input[..input.len().min(40)]).into();
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unparseable RTSP message starting {start:?}"),
                ));
            }
        };
        input.advance(consumed);
        let Message::Request(req) = msg else {
            // Interleaved data (e.g. RTCP receiver reports) and stray responses are ignored.
            continue;
        };
        let (resp, action) = session.handle(&req, shared.epoch.elapsed());
        tracing::trace!(method = ?req.method(), status = ?resp.status(), "RTSP request");
        write_bounded(wr, &serialize(&resp)).await?;
        match action {
            Action::None => {}
            Action::Stop => *playback = None,
            Action::Play {
                camera,
                channel,
                first_frame,
            } => *playback = Some(start_playback(shared, camera, channel, first_frame)),
        }
    }
}

fn start_playback(shared: &Shared, camera: usize, channel: u8, first_frame: u64) -> Playback {
    let fps = shared.scene(camera).clip.spec.fps;
    let start = shared.epoch + due_offset(first_frame, fps);
    // A slow camera spaces its frames `factor` times wider than their timestamps say.
    let slowness = match shared.fault(camera) {
        Some(Fault::Slow { factor }) => factor,
        _ => 1,
    };
    let mut frames = interval_at(start, due_offset(1, fps) * slowness);
    frames.set_missed_tick_behavior(MissedTickBehavior::Burst);
    // The first report follows the first frame closely so receivers can map time early.
    let mut rtcp = interval_at(start + due_offset(1, fps) / 2, RTCP_INTERVAL);
    rtcp.set_missed_tick_behavior(MissedTickBehavior::Delay);
    Playback {
        camera,
        channel,
        next_frame: first_frame,
        frames,
        rtcp,
        packets: 0,
        octets: 0,
        last_sent: None,
        first_frame,
    }
}

async fn send_frame(
    p: &mut Playback,
    shared: &Shared,
    wr: &mut OwnedWriteHalf,
    out: &mut BytesMut,
) -> io::Result<()> {
    let n = p.next_frame;
    let tl = &shared.cameras[p.camera];
    let scene = shared.scene(p.camera);
    let ts = tl.ts_of_frame(n, scene.clip.spec.fps);
    out.clear();
    scene.prepared.render(
        n,
        p.channel,
        tl.ssrc,
        tl.seq_of_frame(n, &scene.prepared),
        ts,
        out,
    );
    write_bounded(wr, out).await?;
    shared.sent[p.camera].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // A slow camera is late on purpose; any other is late only when its client lags.
    let due = shared.epoch + due_offset(n, scene.clip.spec.fps);
    if due.elapsed() > crate::LATE_AFTER
        && !matches!(shared.fault(p.camera), Some(Fault::Slow { .. }))
    {
        shared.late[p.camera].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let frame = scene.prepared.frame(n);
    p.packets = p.packets.wrapping_add(frame.rtp_offsets.len() as u32);
    p.octets = p.octets.wrapping_add(frame.payload_octets);
    p.last_sent = Some((Instant::now(), ts));
    p.next_frame += 1;
    Ok(())
}

async fn send_sender_report(
    p: &mut Playback,
    shared: &Shared,
    wr: &mut OwnedWriteHalf,
) -> io::Result<()> {
    let Some((sent_at, ts)) = p.last_sent else {
        return Ok(());
    };
    let since = sent_at.elapsed();
    let ticks = (since.as_nanos() * u128::from(CLOCK_RATE) / 1_000_000_000) as u32;
    let sr = SenderReport {
        ssrc: shared.cameras[p.camera].ssrc,
        ntp: ntp_timestamp(SystemTime::now()),
        rtp_timestamp: ts.wrapping_add(ticks),
        packet_count: p.packets,
        octet_count: p.octets,
    };
    let mut buf = [0u8; 4 + SENDER_REPORT_LEN];
    buf[..4].copy_from_slice(&interleaved_header(
        p.channel.wrapping_add(1),
        SENDER_REPORT_LEN,
    ));
    buf[4..].copy_from_slice(&sr.to_bytes());
    write_bounded(wr, &buf).await
}
