//! The simulated cameras' picture: a short synthetic H.264 clip, encoded once at start-up.
//!
//! Every simulated camera loops the same clip, so it is generated once with the `openh264`
//! encoder and shared. The scene is drawn straight into I420 planes (no RGB conversion, so
//! generation stays cheap): a scrolling diagonal gradient, vertical bars that move left, a box
//! that bounces around and a strip of blocks that spells the frame number in binary, so every
//! frame differs from every other and motion is obvious to a person watching a tile.
//!
//! The encoder runs baseline profile (no B-frames, so decode order is presentation order) and is
//! forced to emit an IDR at every multiple of `fps` frames: a one-second GOP whose first frame is
//! the clip's first frame, so every loop iteration restarts with an IDR. Each IDR access unit is
//! checked to carry SPS and PPS in-band, so a client joining at any IDR can decode.

use bytes::Bytes;
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
    RateControlMode, UsageType,
};
use openh264::formats::YUVBuffer;
use openh264::OpenH264API;

use crate::SimError;

/// H.264 NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// H.264 NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 8;
/// H.264 NAL unit type of an IDR slice.
#[cfg(test)]
pub const NAL_IDR: u8 = 5;

/// What to generate: picture size, rate and loop length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClipSpec {
    pub width: u16,
    pub height: u16,
    pub fps: u32,
    pub seconds: u32,
}

/// One encoded picture: its NAL units without Annex B start codes, in decode order. An IDR
/// picture's list starts with SPS and PPS.
#[derive(Clone, Debug)]
pub struct AccessUnit {
    pub nals: Vec<Bytes>,
}

/// The encoded loop, shared by all cameras.
#[derive(Clone, Debug)]
pub struct Clip {
    pub spec: ClipSpec,
    /// The sequence parameter set (NAL header included), for the SDP.
    pub sps: Bytes,
    /// The picture parameter set (NAL header included), for the SDP.
    pub pps: Bytes,
    /// `spec.fps * spec.seconds` pictures; every `spec.fps`-th one (starting at 0) is an IDR.
    pub frames: Vec<AccessUnit>,
}

/// Returns the NAL unit type (low five bits of the first byte).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// Strips an Annex B start code (`00 00 01` or `00 00 00 01`) from the front of a NAL unit.
pub fn strip_start_code(nal: &[u8]) -> &[u8] {
    if let Some(rest) = nal.strip_prefix(&[0, 0, 0, 1]) {
        rest
    } else if let Some(rest) = nal.strip_prefix(&[0, 0, 1]) {
        rest
    } else {
        nal
    }
}

/// Encodes the clip described by `spec`. Blocking and CPU-bound: run it on a blocking thread.
pub fn generate(spec: ClipSpec) -> Result<Clip, SimError> {
    let encode_err = |frame: u32, e: openh264::Error| SimError::Encode {
        frame,
        message: e.to_string(),
    };
    let (w, h) = (usize::from(spec.width), usize::from(spec.height));
    let total = spec.fps * spec.seconds;
    // About 0.1 bit per pixel: sharp enough for the synthetic scene, small enough to serve
    // hundreds of cameras.
    let bitrate = (u64::from(spec.width) * u64::from(spec.height) * u64::from(spec.fps) / 10)
        .clamp(100_000, 8_000_000) as u32;
    let config = EncoderConfig::new()
        .profile(Profile::Baseline)
        .usage_type(UsageType::CameraVideoRealTime)
        .rate_control_mode(RateControlMode::Off)
        .bitrate(BitRate::from_bps(bitrate))
        .max_frame_rate(FrameRate::from_hz(spec.fps as f32))
        .skip_frames(false)
        .complexity(Complexity::Low)
        .scene_change_detect(false)
        .background_detection(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(spec.fps))
        .num_threads(1);
    let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(|e| encode_err(0, e))?;

    let mut yuv = vec![0u8; w * h * 3 / 2];
    let mut frames = Vec::with_capacity(total as usize);
    let (mut sps, mut pps) = (None::<Bytes>, None::<Bytes>);
    for i in 0..total {
        draw_frame(&mut yuv, w, h, i, spec.fps);
        let want_idr = i % spec.fps == 0;
        if want_idr {
            encoder.force_intra_frame();
        }
        let buf = YUVBuffer::from_vec(std::mem::take(&mut yuv), w, h);
        let stream = encoder.encode(&buf).map_err(|e| encode_err(i, e))?;
        let frame_type = stream.frame_type();
        let mut nals = Vec::new();
        for l in 0..stream.num_layers() {
            let layer = stream.layer(l).expect("layer index below num_layers");
            for n in 0..layer.nal_count() {
                let nal = strip_start_code(layer.nal_unit(n).expect("nal index below count"));
                if !nal.is_empty() {
                    nals.push(Bytes::copy_from_slice(nal));
                }
            }
        }
        yuv = buf_into_vec(buf, w, h);
        let idr = frame_type == FrameType::IDR;
        if idr != want_idr || nals.is_empty() {
            return Err(SimError::Encode {
                frame: i,
                message: format!(
                    "encoder produced a {frame_type:?} frame with {} NAL units; \
                     wanted {} (GOP of {} frames)",
                    nals.len(),
                    if want_idr { "an IDR" } else { "a non-IDR picture" },
                    spec.fps
                ),
            });
        }
        if idr {
            for nal in &nals {
                match nal_type(nal) {
                    NAL_SPS => sps = Some(nal.clone()),
                    NAL_PPS => pps = Some(nal.clone()),
                    _ => {}
                }
            }
            ensure_parameter_sets(&mut nals, sps.as_ref(), pps.as_ref(), i)?;
        }
        frames.push(AccessUnit { nals });
    }
    let missing = |what: &str| SimError::Encode {
        frame: 0,
        message: format!("encoder emitted no {what} for the clip"),
    };
    Ok(Clip {
        spec,
        sps: sps.ok_or_else(|| missing("SPS"))?,
        pps: pps.ok_or_else(|| missing("PPS"))?,
        frames,
    })
}

/// Makes an IDR access unit start with SPS then PPS, prepending the latest ones if the encoder
/// did not repeat them, so that a client joining at this picture can decode.
fn ensure_parameter_sets(
    nals: &mut Vec<Bytes>,
    sps: Option<&Bytes>,
    pps: Option<&Bytes>,
    frame: u32,
) -> Result<(), SimError> {
    let (Some(sps), Some(pps)) = (sps, pps) else {
        return Err(SimError::Encode {
            frame,
            message: "IDR picture without SPS/PPS seen so far".into(),
        });
    };
    nals.retain(|n| !matches!(nal_type(n), NAL_SPS | NAL_PPS));
    nals.insert(0, pps.clone());
    nals.insert(0, sps.clone());
    Ok(())
}

/// Recovers the pixel buffer from a `YUVBuffer` so it can be reused for the next frame.
fn buf_into_vec(buf: YUVBuffer, w: usize, h: usize) -> Vec<u8> {
    // `YUVBuffer` does not give its Vec back; copying the planes out costs ~0.3 ms at 640x360,
    // far less than encoding, and keeps to the crate's safe API.
    use openh264::formats::YUVSource;
    let mut v = Vec::with_capacity(w * h * 3 / 2);
    v.extend_from_slice(buf.y());
    v.extend_from_slice(buf.u());
    v.extend_from_slice(buf.v());
    v
}

/// Draws frame `i` of the synthetic scene into an I420 buffer of `w` x `h` (both even).
pub fn draw_frame(yuv: &mut [u8], w: usize, h: usize, i: u32, fps: u32) {
    let i = i as usize;
    let (y_plane, chroma) = yuv.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(w * h / 4);
    // Background: a diagonal luma gradient scrolling right, with vertical bars moving left.
    let shift = i * 4;
    let bar_period = 64;
    let bar_shift = (i * 6) % bar_period;
    for y in 0..h {
        let row = &mut y_plane[y * w..(y + 1) * w];
        for (x, px) in row.iter_mut().enumerate() {
            let base = (((x + y + w - shift % w) % (w + h)) * 180 / (w + h)) as u8 + 40;
            let in_bar = (x + bar_shift) % bar_period < 8;
            *px = if in_bar { base / 2 } else { base };
        }
    }
    // Chroma: slow horizontal/vertical colour gradients that drift with time.
    let (cw, ch) = (w / 2, h / 2);
    for y in 0..ch {
        for x in 0..cw {
            u_plane[y * cw + x] = (64 + (x * 128 / cw) + i) as u8;
            v_plane[y * cw + x] = (64 + (y * 128 / ch) + 2 * i) as u8;
        }
    }
    // A bright box bouncing around the picture.
    let bw = (w / 8).max(2) & !1;
    let bh = (h / 6).max(2) & !1;
    let bx = triangle(i * 7, w - bw) & !1;
    let by = triangle(i * 5, h - bh) & !1;
    fill(y_plane, u_plane, v_plane, w, (bx, by, bw, bh), (235, 90, 200));
    // A strip of 16 blocks at the top spelling the frame number in binary (and a marker block
    // that is lit on the first frame of each second), so no two frames of the loop are alike.
    let block = (w / 20).max(2) & !1;
    let bits = i as u32 | if i % fps as usize == 0 { 1 << 16 } else { 0 };
    for bit in 0..17usize {
        let lit = bits & (1 << bit) != 0;
        let luma = if lit { 235 } else { 16 };
        let x = (bit * block) % w;
        if x + block <= w && block <= h {
            fill(
                y_plane,
                u_plane,
                v_plane,
                w,
                (x, 0, block, block),
                (luma, 128, 128),
            );
        }
    }
}

/// A triangle wave over `0..=max` (for bouncing motion).
fn triangle(t: usize, max: usize) -> usize {
    if max == 0 {
        return 0;
    }
    let p = t % (2 * max);
    if p <= max {
        p
    } else {
        2 * max - p
    }
}

/// Fills a rectangle (`x, y, w, h`, all even) with colour `(y, u, v)`.
fn fill(
    y_plane: &mut [u8],
    u_plane: &mut [u8],
    v_plane: &mut [u8],
    stride: usize,
    (x0, y0, rw, rh): (usize, usize, usize, usize),
    (cy, cu, cv): (u8, u8, u8),
) {
    for y in y0..y0 + rh {
        y_plane[y * stride + x0..y * stride + x0 + rw].fill(cy);
    }
    let cs = stride / 2;
    for y in y0 / 2..(y0 + rh) / 2 {
        u_plane[y * cs + x0 / 2..y * cs + (x0 + rw) / 2].fill(cu);
        v_plane[y * cs + x0 / 2..y * cs + (x0 + rw) / 2].fill(cv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_has_idr_every_second_with_parameter_sets() {
        let spec = ClipSpec {
            width: 160,
            height: 96,
            fps: 5,
            seconds: 2,
        };
        let clip = generate(spec).unwrap();
        assert_eq!(clip.frames.len(), 10);
        assert_eq!(nal_type(&clip.sps), NAL_SPS);
        assert_eq!(nal_type(&clip.pps), NAL_PPS);
        for (i, f) in clip.frames.iter().enumerate() {
            let types: Vec<u8> = f.nals.iter().map(|n| nal_type(n)).collect();
            if i % 5 == 0 {
                assert_eq!(&types[..2], &[NAL_SPS, NAL_PPS], "frame {i}");
                assert!(types.contains(&NAL_IDR), "frame {i}: {types:?}");
            } else {
                assert!(!types.contains(&NAL_IDR), "frame {i}: {types:?}");
            }
        }
    }

    #[test]
    fn every_frame_of_the_scene_differs() {
        let (w, h) = (64, 32);
        let mut seen = std::collections::HashSet::new();
        for i in 0..100 {
            let mut yuv = vec![0u8; w * h * 3 / 2];
            draw_frame(&mut yuv, w, h, i, 25);
            assert!(seen.insert(yuv), "frame {i} repeats an earlier frame");
        }
    }

    #[test]
    fn strips_both_start_code_lengths() {
        assert_eq!(strip_start_code(&[0, 0, 0, 1, 0x67, 1]), &[0x67, 1]);
        assert_eq!(strip_start_code(&[0, 0, 1, 0x68]), &[0x68]);
        assert_eq!(strip_start_code(&[0x65, 0]), &[0x65, 0]);
    }
}
