//! A camera's RTP timeline: which frame is due when, with which sequence number and timestamp.
//!
//! Each simulated camera behaves like a real one that has been running since the server
//! started: it has its own random SSRC, initial sequence number and initial RTP timestamp, and
//! frame `n` (counted from the server's start, looping over the clip forever) is due at
//! `epoch + n / fps`, carries RTP timestamp `ts0 + n * 90000 / fps` and starts at sequence number
//! `seq0 + packets before frame n`. These are closed-form, so a camera needs no task of its own
//! while nobody watches, and every viewer of a camera sees the same numbering, continuous
//! across loop boundaries. Kept free of clocks so it can be unit-tested.

use std::time::Duration;

use crate::prepared::PreparedClip;

/// The RTP clock rate for H.264 video.
pub const CLOCK_RATE: u64 = 90_000;

/// The per-camera constants of its RTP stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CameraTimeline {
    pub ssrc: u32,
    pub seq0: u16,
    pub ts0: u32,
}

impl CameraTimeline {
    /// A timeline with random SSRC, initial sequence number and timestamp (RFC 3550 §5.1).
    pub fn random() -> CameraTimeline {
        let mut b = [0u8; 10];
        getrandom::getrandom(&mut b).expect("operating system random source failed");
        CameraTimeline {
            ssrc: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            seq0: u16::from_be_bytes([b[4], b[5]]),
            ts0: u32::from_be_bytes([b[6], b[7], b[8], b[9]]),
        }
    }

    /// Sequence number of the first packet of global frame `n`.
    pub fn seq_of_frame(&self, n: u64, clip: &PreparedClip) -> u16 {
        let loops = n / clip.len();
        let within = (n % clip.len()) as usize;
        let packets = loops
            .wrapping_mul(clip.packets_per_loop())
            .wrapping_add(clip.packet_prefix[within]);
        self.seq0.wrapping_add(packets as u16)
    }

    /// RTP timestamp of global frame `n` at `fps` (90 kHz; exact on average when 90000 is not a
    /// multiple of `fps`).
    pub fn ts_of_frame(&self, n: u64, fps: u32) -> u32 {
        let ticks = (u128::from(n) * u128::from(CLOCK_RATE) / u128::from(fps)) as u32;
        self.ts0.wrapping_add(ticks)
    }
}

/// How long after the epoch frame `n` is due at `fps`.
pub fn due_offset(n: u64, fps: u32) -> Duration {
    Duration::from_nanos((u128::from(n) * 1_000_000_000 / u128::from(fps)) as u64)
}

/// The first frame a new viewer gets when it starts `elapsed` after the epoch: the first IDR
/// (a multiple of `gop` frames) that is not yet due, so playback starts decodable.
pub fn first_frame_for_viewer(elapsed: Duration, fps: u32, gop: u64) -> u64 {
    let n = (elapsed.as_nanos() * u128::from(fps)).div_ceil(1_000_000_000) as u64;
    n.div_ceil(gop) * gop
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clip::{AccessUnit, Clip, ClipSpec};
    use bytes::Bytes;

    fn clip_with_packets(counts: &[usize]) -> PreparedClip {
        let frames = counts
            .iter()
            .map(|&c| AccessUnit {
                nals: (0..c).map(|_| Bytes::from_static(&[0x41, 0])).collect(),
            })
            .collect();
        PreparedClip::new(&Clip {
            spec: ClipSpec {
                width: 16,
                height: 16,
                fps: 3,
                seconds: 1,
            },
            sps: Bytes::new(),
            pps: Bytes::new(),
            frames,
        })
    }

    #[test]
    fn sequence_numbers_continue_across_loops_and_wrap() {
        let clip = clip_with_packets(&[3, 1, 2]);
        let t = CameraTimeline {
            ssrc: 1,
            seq0: 65530,
            ts0: 0,
        };
        let seqs: Vec<u16> = (0..7).map(|n| t.seq_of_frame(n, &clip)).collect();
        // Frame n starts where frame n-1's packets end: 3, 1, 2 packets, repeating.
        assert_eq!(seqs, vec![65530, 65533, 65534, 0, 3, 4, 6]);
    }

    #[test]
    fn timestamps_advance_by_frame_duration_and_wrap() {
        let t = CameraTimeline {
            ssrc: 1,
            seq0: 0,
            ts0: u32::MAX - 3599,
        };
        assert_eq!(t.ts_of_frame(0, 25), u32::MAX - 3599);
        assert_eq!(t.ts_of_frame(1, 25), 0);
        assert_eq!(t.ts_of_frame(2, 25), 3600);
        // 30000/1001-like rates: 7 fps gives 12857 or 12858 per frame, exact over 7 frames.
        let t0 = CameraTimeline { ts0: 0, ..t };
        assert_eq!(t0.ts_of_frame(7, 7), 90_000);
        assert_eq!(t0.ts_of_frame(1, 7), 12_857);
    }

    #[test]
    fn viewer_starts_at_next_idr_not_yet_due() {
        assert_eq!(first_frame_for_viewer(Duration::ZERO, 25, 25), 0);
        assert_eq!(first_frame_for_viewer(Duration::from_millis(1), 25, 25), 25);
        assert_eq!(
            first_frame_for_viewer(Duration::from_millis(1000), 25, 25),
            25
        );
        assert_eq!(
            first_frame_for_viewer(Duration::from_millis(1001), 25, 25),
            50
        );
        assert_eq!(due_offset(25, 25), Duration::from_secs(1));
        assert_eq!(due_offset(1, 30), Duration::from_nanos(33_333_333));
    }
}
