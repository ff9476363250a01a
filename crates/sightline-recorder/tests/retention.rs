//! Acceptance 7: with a simulated clock, recordings past the age limit and, separately,
//! past the disk quota are deleted oldest first, and a held range survives both.

use sightline_core::{CameraConfig, CameraId, Timestamp, Visibility};
use sightline_media::frame_index::{self, FrameEntry};
use sightline_recorder::retention::enforce;
use sightline_store::recordings::{NewChunk, SampleEntry, TrackKind};
use sightline_store::Store;

const DAY: i64 = 86_400_000_000;
const MINUTE: i64 = 60_000_000;

struct Fixture {
    store: Store,
    dir: std::path::PathBuf,
    entry: i64,
}

impl Fixture {
    async fn new(name: &str) -> Fixture {
        let dir =
            std::env::temp_dir().join(format!("sightline-retention-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).await.unwrap();
        let entry = store
            .sample_entry_id(&SampleEntry {
                media: TrackKind::Video,
                codec: "avc1.640028".into(),
                timescale: 90_000,
                dimensions: (640, 360),
                data: b"fake sample entry".to_vec(),
            })
            .await
            .unwrap();
        Fixture { store, dir, entry }
    }

    async fn camera(&self, name: &str, retention_days: u32) -> CameraId {
        let mut c = CameraConfig::new(name, "rtsp://127.0.0.1/x");
        c.retention_days = retention_days;
        c.enabled = false;
        self.store
            .add_camera(&Visibility::everything(), c)
            .await
            .unwrap()
            .id
    }

    /// A closed one-minute segment of `bytes` bytes starting at `start`; returns (id, key).
    async fn segment(&self, camera: CameraId, start: Timestamp, bytes: usize) -> (i64, String) {
        let run = self.store.open_run(camera, start, start).await.unwrap();
        let (id, key) = self.store.open_segment(camera, run, 0).await.unwrap();
        let mut file = self.store.media().create_segment(&key).unwrap();
        file.append_synced(&vec![7u8; bytes]).unwrap();
        let frame = FrameEntry {
            duration: 60 * 90_000,
            size: bytes as u32,
            key: true,
            cts_offset: 0,
        };
        self.store
            .commit_chunks(&[NewChunk {
                segment_id: id,
                run_id: run,
                camera,
                track: TrackKind::Video,
                sample_entry_id: self.entry,
                start,
                end: start.add_micros(MINUTE),
                start_ts: 0,
                duration_ts: 60 * 90_000,
                byte_offset: 0,
                byte_len: bytes as u64,
                frame_count: 1,
                key_count: 1,
                frame_index: frame_index::encode(&[frame]),
            }])
            .await
            .unwrap();
        self.store.close_segment(id, bytes as u64).await.unwrap();
        self.store.end_run(run, "test").await.unwrap();
        (id, key)
    }

    fn exists(&self, key: &str) -> bool {
        self.dir.join("media").join(key).exists()
    }

    async fn remaining(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .store
            .segment_summaries()
            .await
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect();
        ids.sort();
        ids
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn age_limit_deletes_expired_recordings_but_not_held_ones() {
    let f = Fixture::new("age").await;
    let cam = f.camera("short", 7).await;
    let other = f.camera("long", 31).await;
    let t0 = Timestamp(1_700_000_000_000_000);
    let (old, old_key) = f.segment(cam, t0, 100).await;
    let (held, held_key) = f.segment(cam, t0.add_micros(MINUTE), 100).await;
    let (recent, _) = f.segment(cam, t0.add_micros(6 * DAY), 100).await;
    let (other_old, _) = f.segment(other, t0, 100).await;
    f.store
        .add_hold(
            cam,
            t0.add_micros(MINUTE + 1),
            t0.add_micros(MINUTE + 2),
            "case 42",
        )
        .await
        .unwrap();

    // Eight days later only the unheld 7-day-old recording of the 7-day camera goes.
    let report = enforce(&f.store, t0.add_micros(8 * DAY), None)
        .await
        .unwrap();
    assert_eq!(report.deleted_for_age, vec![old]);
    assert!(report.deleted_for_quota.is_empty());
    assert_eq!(f.remaining().await, vec![held, recent, other_old]);
    assert!(
        !f.exists(&old_key),
        "deleted segment's media is still on disk"
    );
    assert!(f.exists(&held_key));

    // Far in the future everything past its age goes, except the hold.
    let report = enforce(&f.store, t0.add_micros(400 * DAY), None)
        .await
        .unwrap();
    assert_eq!(report.deleted_for_age, vec![other_old, recent]);
    assert_eq!(f.remaining().await, vec![held]);
}

#[tokio::test]
async fn quota_deletes_oldest_first_across_cameras_and_spares_holds() {
    let f = Fixture::new("quota").await;
    let a = f.camera("a", 31).await;
    let b = f.camera("b", 31).await;
    let t0 = Timestamp(1_700_000_000_000_000);
    let (a1, _) = f.segment(a, t0, 1000).await;
    let (b1, _) = f.segment(b, t0.add_micros(MINUTE), 1000).await;
    let (a2, _) = f.segment(a, t0.add_micros(2 * MINUTE), 1000).await;
    let (b2, _) = f.segment(b, t0.add_micros(3 * MINUTE), 1000).await;
    let (a3, a3_key) = f.segment(a, t0.add_micros(4 * MINUTE), 1000).await;
    f.store
        .add_hold(
            b,
            t0.add_micros(MINUTE),
            t0.add_micros(2 * MINUTE),
            "case 7",
        )
        .await
        .unwrap();
    assert_eq!(
        f.store
            .stored_bytes(&Visibility::everything())
            .await
            .unwrap(),
        5000
    );

    // Within the quota: nothing happens.
    let report = enforce(&f.store, t0.add_micros(DAY), Some(5000))
        .await
        .unwrap();
    assert_eq!(report, Default::default());

    // 2500 bytes allowed: the oldest unheld (a1, then a2, then b2) go; b1 is held.
    let report = enforce(&f.store, t0.add_micros(DAY), Some(2500))
        .await
        .unwrap();
    assert_eq!(report.deleted_for_quota, vec![a1, a2, b2]);
    assert_eq!(f.remaining().await, vec![b1, a3]);
    assert!(f.exists(&a3_key));
    assert_eq!(
        f.store
            .stored_bytes(&Visibility::everything())
            .await
            .unwrap(),
        2000
    );
}
