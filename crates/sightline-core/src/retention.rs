//! Which stored segments to delete: the retention decision as a pure function.
//!
//! Two limits apply: each camera's maximum age, and one global disk quota that, when
//! exceeded, deletes the oldest segments first across all cameras. Neither may ever
//! delete a segment that overlaps an evidential hold or one still being written. The
//! caller supplies `now`, so tests drive a simulated clock without sleeping.

use std::collections::HashMap;

use crate::{CameraId, Timestamp};

/// A stored segment as retention sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    pub id: i64,
    pub camera: CameraId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub bytes: u64,
    /// Still being written by the recorder.
    pub open: bool,
}

/// A time range of one camera that must not be deleted (set by evidence handling).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub camera: CameraId,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// Why a segment is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteReason {
    /// Older than its camera's maximum age.
    Age,
    /// The store is over its disk quota and this was among the oldest.
    Quota,
}

/// Everything the decision depends on.
pub struct RetentionInput<'a> {
    pub now: Timestamp,
    pub segments: &'a [SegmentSummary],
    /// Maximum age in days per camera; cameras not listed keep everything by age.
    pub max_age_days: &'a HashMap<CameraId, u32>,
    pub holds: &'a [Hold],
    /// Global limit on the bytes of all segments.
    pub quota_bytes: Option<u64>,
}

/// Segments to delete with the reason for each, oldest first.
pub fn plan(input: &RetentionInput<'_>) -> Vec<(i64, DeleteReason)> {
    let held = |s: &SegmentSummary| {
        input
            .holds
            .iter()
            .any(|h| h.camera == s.camera && h.from < s.end && s.start < h.to)
    };
    let mut by_age: Vec<&SegmentSummary> = input.segments.iter().collect();
    by_age.sort_by_key(|s| (s.start, s.id));

    let mut doomed = Vec::new();
    let mut kept = Vec::new();
    for s in by_age {
        let deletable = !s.open && !held(s);
        let expired = input.max_age_days.get(&s.camera).is_some_and(|&days| {
            s.end.micros()
                < input.now.micros() - i64::from(days) * 86_400 * Timestamp::MICROS_PER_SECOND
        });
        if deletable && expired {
            doomed.push((s.id, DeleteReason::Age));
        } else {
            kept.push((s, deletable));
        }
    }

    if let Some(quota) = input.quota_bytes {
        let mut used: u64 = kept.iter().map(|(s, _)| s.bytes).sum();
        for (s, deletable) in kept {
            if used <= quota {
                break;
            }
            if deletable {
                used -= s.bytes;
                doomed.push((s.id, DeleteReason::Quota));
            }
        }
    }
    doomed
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn seg(id: i64, cam: i64, start_day: i64, bytes: u64) -> SegmentSummary {
        SegmentSummary {
            id,
            camera: CameraId(cam),
            start: Timestamp::from_secs(start_day * DAY),
            end: Timestamp::from_secs(start_day * DAY + 60),
            bytes,
            open: false,
        }
    }

    #[test]
    fn age_limit_is_per_camera_and_holds_survive() {
        let segments = [
            seg(1, 1, 0, 10),
            seg(2, 1, 5, 10),
            seg(3, 2, 0, 10),
            seg(4, 1, 1, 10),
        ];
        let ages = HashMap::from([(CameraId(1), 3), (CameraId(2), 30)]);
        let holds = [Hold {
            camera: CameraId(1),
            from: Timestamp::from_secs(DAY + 30),
            to: Timestamp::from_secs(DAY + 31),
        }];
        let input = RetentionInput {
            now: Timestamp::from_secs(6 * DAY),
            segments: &segments,
            max_age_days: &ages,
            holds: &holds,
            quota_bytes: None,
        };
        assert_eq!(plan(&input), vec![(1, DeleteReason::Age)]);
    }

    #[test]
    fn quota_deletes_oldest_first_skipping_held_and_open() {
        let mut open = seg(5, 2, 4, 10);
        open.open = true;
        let segments = [
            seg(3, 1, 2, 10),
            seg(1, 2, 0, 10),
            seg(2, 1, 1, 10),
            seg(4, 1, 3, 10),
            open,
        ];
        let holds = [Hold {
            camera: CameraId(2),
            from: Timestamp(0),
            to: Timestamp::from_secs(1),
        }];
        let input = RetentionInput {
            now: Timestamp::from_secs(5 * DAY),
            segments: &segments,
            max_age_days: &HashMap::new(),
            holds: &holds,
            quota_bytes: Some(25),
        };
        // 50 bytes used, quota 25: segment 1 is held, so 2, 3 and 4 go (oldest first).
        assert_eq!(
            plan(&input),
            vec![
                (2, DeleteReason::Quota),
                (3, DeleteReason::Quota),
                (4, DeleteReason::Quota)
            ]
        );
    }
}
