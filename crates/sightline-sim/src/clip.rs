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
    Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
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
///
/// Every GOP starts with an IDR and references nothing before it, so runs of whole seconds are
/// encoded in parallel by separate encoders (one per available core) and concatenated; the
/// encoders share one configuration, and their SPS/PPS are checked to be identical.
pub fn generate(spec: ClipSpec) -> Result<Clip, SimError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let per_thread = spec.seconds.div_ceil(cores.clamp(1, spec.seconds.max(1)));
    let parts: Vec<Result<Part, SimError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..spec.seconds)
            .step_by(per_thread.max(1) as usize)
            .map(|first| {
                let last = (first + per_thread).min(spec.seconds);
                scope.spawn(move || encode_seconds(spec, first..last))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(SimError::Encode {
                        frame: 0,
                        message: "an encoder thread panicked".into(),
                    })
                })
            })
            .collect()
    });
    let mut frames = Vec::with_capacity((spec.fps * spec.seconds) as usize);
    let mut params: Option<(Bytes, Bytes)> = None;
    for part in parts {
        let part = part?;
        match &params {
            None => params = Some((part.sps, part.pps)),
            Some((sps, pps)) if *sps == part.sps && *pps == part.pps => {}
            Some(_) => {
                return Err(SimError::Encode {
                    frame: frames.len() as u32,
                    message: "parallel encoders produced different SPS/PPS".into(),
                })
            }
        }
        frames.extend(part.frames);
    }
    let (sps, pps) = params.ok_or(SimError::Encode {
        frame: 0,
        message: "clip has no frames".into(),
    })?;
    Ok(Clip {
        spec,
        sps,
        pps,
        frames,
    })
}

/// H.264 NAL unit type of filler data, which decoders discard.
pub const NAL_FILLER: u8 = 12;

/// Pads the clip to about `bitrate_bps` on average (if it is below it) by ending each
/// non-IDR picture with a filler-data NAL unit: the picture decodes the same, and a
/// recorder, a network and a disk carry the camera's real load. IDR pictures, already
/// the largest, are left alone.
pub fn pad_to_bitrate(clip: &mut Clip, bitrate_bps: u32) {
    let frames = clip.frames.len() as u64;
    let target = u64::from(bitrate_bps) / 8 * frames / u64::from(clip.spec.fps);
    let encoded: u64 = clip
        .frames
        .iter()
        .flat_map(|f| &f.nals)
        .map(|n| n.len() as u64)
        .sum();
    let fillable: Vec<usize> = (0..clip.frames.len())
        .filter(|i| !(*i as u32).is_multiple_of(clip.spec.fps))
        .collect();
    let Some(missing) = target.checked_sub(encoded).filter(|m| *m > 0) else {
        return;
    };
    if fillable.is_empty() {
        return;
    }
    // Header byte, 0xff payload, and the RBSP stop bit: at least two bytes each.
    let each = (missing / fillable.len() as u64).max(2) as usize;
    for i in fillable {
        let mut nal = vec![0xffu8; each];
        nal[0] = NAL_FILLER;
        nal[each - 1] = 0x80;
        clip.frames[i].nals.push(Bytes::from(nal));
    }
}

/// The frames of a run of whole seconds, with the parameter sets their encoder used.
struct Part {
    sps: Bytes,
    pps: Bytes,
    frames: Vec<AccessUnit>,
}

/// Encodes seconds `seconds` of the clip with a fresh encoder.
fn encode_seconds(spec: ClipSpec, seconds: std::ops::Range<u32>) -> Result<Part, SimError> {
    let encode_err = |frame: u32, e: openh264::Error| SimError::Encode {
        frame,
        message: e.to_string(),
    };
    let (w, h) = (usize::from(spec.width), usize::from(spec.height));
    let first = seconds.start * spec.fps;
    // Rate control off: constant quantizer (compact for this scene, ~0.7 Mbit/s at the
    // defaults) and, unlike the rate-controlled modes, no frame skipping to fight over.
    let config = EncoderConfig::new()
        .profile(Profile::Baseline)
        .usage_type(UsageType::CameraVideoRealTime)
        .rate_control_mode(RateControlMode::Off)
        .max_frame_rate(FrameRate::from_hz(spec.fps as f32))
        .skip_frames(false)
        .complexity(Complexity::Low)
        .scene_change_detect(false)
        .background_detection(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(spec.fps))
        .num_threads(1);
    let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(|e| encode_err(first, e))?;

    let mut yuv = vec![0u8; w * h * 3 / 2];
    let mut frames = Vec::with_capacity(((seconds.end - seconds.start) * spec.fps) as usize);
    let (mut sps, mut pps) = (None::<Bytes>, None::<Bytes>);
    for i in first..seconds.end * spec.fps {
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
                    if want_idr {
                        "an IDR"
                    } else {
                        "a non-IDR picture"
                    },
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
        frame: first,
        message: format!("encoder emitted no {what}"),
    };
    Ok(Part {
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
///
/// Written as row copies and fills rather than per-pixel arithmetic: this crate is built
/// unoptimized in dev builds, and the clip must still be ready in well under a second.
pub fn draw_frame(yuv: &mut [u8], w: usize, h: usize, i: u32, fps: u32) {
    let i = i as usize;
    let (y_plane, chroma) = yuv.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(w * h / 4);
    // Background: a diagonal luma ramp scrolling right; row y is a window into the ramp.
    let period = w + h;
    let ramp: Vec<u8> = (0..2 * period)
        .map(|k| ((k % period) * 180 / period) as u8 + 40)
        .collect();
    let shift = (i * 4) % period;
    for y in 0..h {
        let start = (y + period - shift) % period;
        y_plane[y * w..(y + 1) * w].copy_from_slice(&ramp[start..start + w]);
    }
    // Dark vertical bars, 8 px wide every 64 px, moving left.
    let bar_shift = (i * 6) % 64;
    let first_bar = (64 - bar_shift) % 64;
    for y in 0..h {
        let row = &mut y_plane[y * w..(y + 1) * w];
        for x in (first_bar..w).step_by(64) {
            row[x..(x + 8).min(w)].fill(24);
        }
    }
    // Chroma: U varies along x and V along y, both drifting with time.
    let (cw, ch) = (w / 2, h / 2);
    for (x, u) in u_plane[..cw].iter_mut().enumerate() {
        *u = (64 + (x * 128 / cw) + i) as u8;
    }
    for y in 1..ch {
        u_plane.copy_within(0..cw, y * cw);
    }
    for y in 0..ch {
        v_plane[y * cw..(y + 1) * cw].fill((64 + (y * 128 / ch) + 2 * i) as u8);
    }
    // A bright box bouncing around the picture.
    let bw = (w / 8).max(2) & !1;
    let bh = (h / 6).max(2) & !1;
    let bx = triangle(i * 7, w - bw) & !1;
    let by = triangle(i * 5, h - bh) & !1;
    fill(
        y_plane,
        u_plane,
        v_plane,
        w,
        (bx, by, bw, bh),
        (235, 90, 200),
    );
    // A strip of blocks at the top spelling the frame number in binary, plus a marker block
    // lit on the first frame of each second, so no two frames of the loop are alike.
    let block = (w / 20).max(2) & !1;
    let bits = i as u32
        | if i.is_multiple_of(fps as usize) {
            1 << 16
        } else {
            0
        };
    for bit in 0..17usize {
        let x = bit * block;
        if x + block <= w && block <= h {
            let luma = if bits & (1 << bit) != 0 { 235 } else { 16 };
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
    fn padding_reaches_the_bitrate_with_filler_after_the_picture() {
        let spec = ClipSpec {
            width: 160,
            height: 96,
            fps: 5,
            seconds: 2,
        };
        let mut clip = generate(spec).unwrap();
        let bytes = |c: &Clip| -> u64 {
            c.frames
                .iter()
                .flat_map(|f| &f.nals)
                .map(|n| n.len() as u64)
                .sum()
        };
        let before = bytes(&clip);
        pad_to_bitrate(&mut clip, 2_000_000);
        let after = bytes(&clip);
        // 2 s at 2 Mbit/s is 500,000 bytes; rounding per frame loses under one byte each.
        assert!(
            after > before && after.abs_diff(500_000) < 10,
            "{before} -> {after}"
        );
        for (i, f) in clip.frames.iter().enumerate() {
            let last = nal_type(f.nals.last().unwrap());
            assert_eq!(last == NAL_FILLER, i % 5 != 0, "frame {i}");
        }
        // Never below what was encoded.
        let mut small = generate(spec).unwrap();
        pad_to_bitrate(&mut small, 8);
        assert_eq!(bytes(&small), before);
    }

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
