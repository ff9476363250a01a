//! Decode timestamps, durations and composition offsets for frames that arrive in
//! decode order carrying only presentation timestamps.
//!
//! RTP timestamps are presentation times (PTS). With B-frames the camera sends frames
//! in decode order, so PTS goes up and down, while an MP4 sample table needs a
//! strictly increasing decode time (DTS) per sample, a duration (next DTS - this DTS)
//! and a composition offset (PTS - DTS). The DTS sequence is the sorted PTS sequence:
//! the i-th frame in decode order decodes at the i-th smallest PTS. This holds for any
//! stream whose reordering depth is bounded, and it gives every frame its exact
//! presentation time back (DTS + offset = PTS), with offsets that may be negative
//! (hence `ctts` version 1 in the MP4).
//!
//! [`SampleTimer`] finds the i-th smallest PTS with a min-heap over a sliding window
//! of `reorder_window` frames: once more than that many frames are waiting, the
//! smallest PTS in the heap is the next DTS. A frame's timing is final only when the
//! *next* DTS is known too (its duration depends on it), so the timer holds
//! `reorder_window + 1` frames at most. ffmpeg's RTSP recorder gets this wrong at the
//! start of a B-frame stream and loses frames; this timer never drops one.
//!
//! Streams that break the assumption (a PTS going backwards by more than the window,
//! a camera timestamp reset) are clamped rather than rejected: a DTS is never allowed
//! to be less than or equal to the previous one, so it becomes previous + 1. The
//! frame's PTS is kept, so its composition offset absorbs the difference.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// The reorder window used when the caller has no better idea (H.264 allows up to 16
/// reordered frames; real cameras use 0-2 B-frames).
pub const DEFAULT_REORDER_WINDOW: usize = 8;

/// A frame whose timing is final.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedSample<T> {
    /// Decode timestamp, strictly increasing across samples.
    pub dts: i64,
    /// Presentation timestamp, as pushed.
    pub pts: i64,
    /// Next DTS - this DTS (at least 1), saturated at `u32::MAX` across huge gaps.
    pub duration: u32,
    pub payload: T,
}

impl<T> TimedSample<T> {
    /// PTS - DTS, saturated to the `i32` range of an MP4 `ctts` v1 entry.
    pub fn cts_offset(&self) -> i32 {
        self.pts
            .saturating_sub(self.dts)
            .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    }
}

/// A frame with its DTS, waiting for the next DTS to learn its duration.
struct Held<T> {
    dts: i64,
    pts: i64,
    payload: T,
}

/// Turns frames in decode order with PTS into [`TimedSample`]s; see the module docs.
pub struct SampleTimer<T> {
    window: usize,
    /// Frames without a DTS yet, in decode order.
    waiting: VecDeque<(i64, T)>,
    /// The PTS of every frame in `waiting`.
    heap: BinaryHeap<Reverse<i64>>,
    /// The most recent frame with a DTS.
    held: Option<Held<T>>,
    last_dts: Option<i64>,
    last_duration: Option<u32>,
}

impl<T> Default for SampleTimer<T> {
    fn default() -> Self {
        Self::new(DEFAULT_REORDER_WINDOW)
    }
}

impl<T> SampleTimer<T> {
    /// A timer that assumes frames are reordered by at most `reorder_window` positions
    /// (0 means no reordering: DTS = PTS, clamped to increase).
    pub fn new(reorder_window: usize) -> Self {
        SampleTimer {
            window: reorder_window,
            waiting: VecDeque::with_capacity(reorder_window + 1),
            heap: BinaryHeap::with_capacity(reorder_window + 1),
            held: None,
            last_dts: None,
            last_duration: None,
        }
    }

    /// Frames in decode order with their PTS; returns the samples whose timing is now
    /// final (possibly none), in decode order.
    pub fn push(&mut self, pts: i64, payload: T) -> Vec<TimedSample<T>> {
        self.waiting.push_back((pts, payload));
        self.heap.push(Reverse(pts));
        let mut out = Vec::new();
        while self.waiting.len() > self.window {
            self.assign_next(&mut out);
        }
        out
    }

    /// Flushes everything still held (end of stream). The last sample gets the
    /// duration of the one before it, or `default_duration` when it is the only sample
    /// the timer has seen. Afterwards the timer is empty and starts afresh.
    pub fn finish(&mut self, default_duration: u32) -> Vec<TimedSample<T>> {
        let mut out = Vec::new();
        while !self.waiting.is_empty() {
            self.assign_next(&mut out);
        }
        if let Some(h) = self.held.take() {
            let duration = self.last_duration.unwrap_or(default_duration);
            out.push(TimedSample {
                dts: h.dts,
                pts: h.pts,
                duration,
                payload: h.payload,
            });
        }
        self.last_dts = None;
        self.last_duration = None;
        out
    }

    /// Frames pushed but not yet returned.
    pub fn pending(&self) -> usize {
        self.waiting.len() + usize::from(self.held.is_some())
    }

    /// Gives the oldest waiting frame the smallest waiting PTS as its DTS, releasing
    /// the previously held frame now that its duration is known.
    fn assign_next(&mut self, out: &mut Vec<TimedSample<T>>) {
        let (Some((pts, payload)), Some(Reverse(smallest))) =
            (self.waiting.pop_front(), self.heap.pop())
        else {
            return;
        };
        let dts = match self.last_dts {
            Some(last) if smallest <= last => last.saturating_add(1),
            _ => smallest,
        };
        self.last_dts = Some(dts);
        if let Some(h) = self.held.take() {
            let duration = dts
                .checked_sub(h.dts)
                .and_then(|d| u32::try_from(d).ok())
                .unwrap_or(u32::MAX);
            self.last_duration = Some(duration);
            out.push(TimedSample {
                dts: h.dts,
                pts: h.pts,
                duration,
                payload: h.payload,
            });
        }
        self.held = Some(Held { dts, pts, payload });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(window: usize, pts: &[i64], default: u32) -> Vec<TimedSample<usize>> {
        let mut timer = SampleTimer::new(window);
        let mut out = Vec::new();
        for (i, &p) in pts.iter().enumerate() {
            out.extend(timer.push(p, i));
            assert!(
                timer.pending() <= window + 1,
                "pending {} after frame {i}",
                timer.pending()
            );
        }
        out.extend(timer.finish(default));
        assert_eq!(timer.pending(), 0);
        out
    }

    fn assert_consistent(samples: &[TimedSample<usize>], pts: &[i64]) {
        // No frame lost, none duplicated, decode order kept.
        assert_eq!(
            samples.iter().map(|s| s.payload).collect::<Vec<_>>(),
            (0..pts.len()).collect::<Vec<_>>()
        );
        for (s, &p) in samples.iter().zip(pts) {
            assert_eq!(s.pts, p);
            let offset = i128::from(s.pts) - i128::from(s.dts);
            assert_eq!(
                i128::from(s.cts_offset()),
                offset.clamp(i32::MIN.into(), i32::MAX.into())
            );
        }
        for w in samples.windows(2) {
            assert!(w[1].dts > w[0].dts, "DTS {} then {}", w[0].dts, w[1].dts);
            let gap = i128::from(w[1].dts) - i128::from(w[0].dts);
            assert_eq!(i128::from(w[0].duration), gap.min(u32::MAX.into()));
        }
    }

    #[test]
    fn ipbbpbb_gets_sorted_dts_and_signed_offsets() {
        let pts: Vec<i64> = [0, 3, 1, 2, 6, 4, 5].iter().map(|p| p * 3000).collect();
        let samples = run(DEFAULT_REORDER_WINDOW, &pts, 1234);
        assert_consistent(&samples, &pts);
        assert_eq!(
            samples.iter().map(|s| s.dts).collect::<Vec<_>>(),
            (0..7).map(|i| i * 3000).collect::<Vec<_>>()
        );
        assert!(samples.iter().all(|s| s.duration == 3000), "{samples:?}");
        assert_eq!(
            samples.iter().map(|s| s.cts_offset()).collect::<Vec<_>>(),
            vec![0, 6000, -3000, -3000, 6000, -3000, -3000]
        );
    }

    #[test]
    fn window_of_two_suffices_for_two_b_frames_and_releases_early() {
        let pts: Vec<i64> = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8]
            .iter()
            .map(|p| p * 3600)
            .collect();
        let mut timer = SampleTimer::new(2);
        let mut released = Vec::new();
        for (i, &p) in pts.iter().enumerate() {
            let out = timer.push(p, i);
            // After the window fills, every push releases exactly one sample.
            if i >= 3 {
                assert_eq!(out.len(), 1, "frame {i}");
            }
            released.extend(out);
        }
        released.extend(timer.finish(0));
        assert_consistent(&released, &pts);
        assert!(released.iter().all(|s| s.duration == 3600));
    }

    #[test]
    fn stream_without_b_frames_has_zero_offsets() {
        let pts: Vec<i64> = (0..50).map(|i| 1_000_000 + i * 3600).collect();
        let samples = run(DEFAULT_REORDER_WINDOW, &pts, 0);
        assert_consistent(&samples, &pts);
        assert!(samples
            .iter()
            .all(|s| s.cts_offset() == 0 && s.dts == s.pts));
        assert!(samples.iter().all(|s| s.duration == 3600));
    }

    #[test]
    fn last_sample_gets_previous_duration_and_single_sample_the_default() {
        let samples = run(DEFAULT_REORDER_WINDOW, &[0, 3000, 7000], 99);
        assert_eq!(
            samples.iter().map(|s| s.duration).collect::<Vec<_>>(),
            vec![3000, 4000, 4000]
        );
        let single = run(DEFAULT_REORDER_WINDOW, &[500], 99);
        assert_eq!(single.len(), 1);
        assert_eq!(
            (single[0].dts, single[0].duration, single[0].cts_offset()),
            (500, 99, 0)
        );
        let mut timer: SampleTimer<()> = SampleTimer::new(4);
        assert!(timer.finish(1).is_empty());
    }

    #[test]
    fn timer_restarts_cleanly_after_finish() {
        let mut timer = SampleTimer::new(2);
        for (i, p) in [0, 3000, 6000].into_iter().enumerate() {
            timer.push(p, i);
        }
        assert_eq!(timer.finish(1).len(), 3);
        // A new stream whose clock starts lower is not clamped against the old one.
        let mut out = timer.push(10, 0);
        out.extend(timer.finish(7));
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].dts, out[0].duration), (10, 7));
    }

    #[test]
    fn pts_going_back_beyond_the_window_is_clamped_not_a_panic() {
        // Window 2; the frame with PTS 1000 arrives long after PTS 9000 was used as a DTS.
        let pts = [
            10_000, 11_000, 12_000, 13_000, 14_000, 1_000, 15_000, 16_000,
        ];
        let samples = run(2, &pts, 1000);
        assert_consistent(&samples, &pts);
        // The late frame's DTS was clamped to the previous DTS + 1, so its offset is negative.
        let late = &samples[5];
        assert_eq!(late.pts, 1_000);
        assert!(late.cts_offset() < 0);
        assert!(samples.iter().all(|s| s.duration >= 1));
    }

    #[test]
    fn camera_clock_reset_and_huge_gaps_do_not_panic() {
        let pts = [i64::MAX - 10, i64::MAX - 5, 0, -5, i64::MIN, 3, 1 << 40];
        for window in [0, 1, 3, 8] {
            let samples = run(window, &pts, 1);
            assert_consistent(&samples, &pts);
        }
    }

    #[test]
    fn window_zero_uses_pts_as_dts() {
        let pts = [0, 3600, 7200, 7200, 10_800];
        let samples = run(0, &pts, 3600);
        assert_consistent(&samples, &pts);
        assert_eq!(
            samples.iter().map(|s| s.dts).collect::<Vec<_>>(),
            vec![0, 3600, 7200, 7201, 10_800]
        );
    }

    #[test]
    fn pseudo_random_reordering_within_the_window_recovers_sorted_pts() {
        // Shuffle presentation order within blocks of 4 (depth 3) and check DTS = sorted PTS.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut pts = Vec::new();
        for block in 0..30i64 {
            let mut b: Vec<i64> = (0..4).map(|i| (block * 4 + i) * 1000).collect();
            for i in (1..4).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                b.swap(i, (state % (i as u64 + 1)) as usize);
            }
            pts.extend(b);
        }
        let samples = run(4, &pts, 1000);
        assert_consistent(&samples, &pts);
        let mut sorted = pts.clone();
        sorted.sort_unstable();
        assert_eq!(samples.iter().map(|s| s.dts).collect::<Vec<_>>(), sorted);
    }
}
