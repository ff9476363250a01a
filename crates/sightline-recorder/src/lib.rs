//! Recording: RTSP ingest, segment writing, crash recovery and retention.
//!
//! [`Recorder`] supervises one task per enabled camera (see `session`), a group
//! committer for the index (`index`), and a periodic retention pass (`retention`).
//! On start it first runs the store's crash recovery, so recording never resumes on
//! top of a half-written segment.

mod backoff;
mod config;
mod index;
pub mod retention;
mod session;
pub mod status;
mod writer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use retina::client::SessionGroup;
use sightline_core::{CameraId, CameraState, CameraStatus, Timestamp, Visibility};
use sightline_store::{Store, StoreError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::RecorderConfig;
pub use status::{CameraCounters, StatusBoard};

use crate::index::IndexQueue;
use crate::session::CameraTask;

/// Runs and supervises the recording of every enabled camera.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: RecorderConfig,
    board: StatusBoard,
    index: IndexQueue,
    group: Arc<SessionGroup>,
    tasks: tokio::sync::Mutex<HashMap<CameraId, (CancellationToken, JoinHandle<()>)>>,
    stop: CancellationToken,
    retention_task: Mutex<Option<JoinHandle<()>>>,
}

impl Recorder {
    /// Recovers the store after any crash, then starts recording every enabled camera.
    pub async fn start(store: Store, config: RecorderConfig) -> Result<Recorder, StoreError> {
        let report = store.recover().await?;
        if report != Default::default() {
            tracing::warn!(?report, "recovered from an unclean shutdown");
        }
        let recorder = Recorder {
            inner: Arc::new(Inner {
                index: IndexQueue::start(store.clone()),
                store,
                config,
                board: StatusBoard::default(),
                group: Arc::new(SessionGroup::default()),
                tasks: Default::default(),
                stop: CancellationToken::new(),
                retention_task: Mutex::new(None),
            }),
        };
        for camera in recorder
            .inner
            .store
            .cameras(&Visibility::everything())
            .await?
        {
            recorder.sync_camera(camera.id).await?;
        }
        let handle = tokio::spawn(recorder.clone().retention_loop());
        *recorder.inner.retention_task.lock().unwrap() = Some(handle);
        Ok(recorder)
    }

    /// Brings a camera's task in line with the registry after it was added, changed or
    /// removed: stops any running task and starts a new one if the camera is enabled.
    pub async fn sync_camera(&self, id: CameraId) -> Result<(), StoreError> {
        let mut tasks = self.inner.tasks.lock().await;
        if let Some((cancel, handle)) = tasks.remove(&id) {
            cancel.cancel();
            let _ = handle.await;
        }
        let camera = match self.inner.store.camera(&Visibility::everything(), id).await {
            Ok(c) => c,
            Err(StoreError::NoSuchCamera(_)) => {
                self.inner.board.remove(id);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let live = self.inner.board.camera(id);
        if !camera.enabled || self.inner.stop.is_cancelled() {
            live.set_state(CameraState::Disabled, None);
            return Ok(());
        }
        let cancel = self.inner.stop.child_token();
        let task = CameraTask {
            store: self.inner.store.clone(),
            index: self.inner.index.clone(),
            live,
            camera: id,
            config: self.inner.config.clone(),
            group: self.inner.group.clone(),
        };
        let handle = tokio::spawn(task.run(cancel.clone()));
        tasks.insert(id, (cancel, handle));
        Ok(())
    }

    /// A camera's live status (disabled if the recorder has no task for it).
    pub fn status(&self, id: CameraId) -> CameraStatus {
        match self.inner.board.get(id) {
            Some(live) => live.status(),
            None => CameraStatus {
                state: CameraState::Disabled,
                ..Default::default()
            },
        }
    }

    pub fn board(&self) -> &StatusBoard {
        &self.inner.board
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Runs one retention pass as of `now`.
    pub async fn enforce_retention(
        &self,
        now: Timestamp,
    ) -> Result<retention::RetentionReport, StoreError> {
        retention::enforce(&self.inner.store, now, self.inner.config.disk_quota_bytes).await
    }

    async fn retention_loop(self) {
        let mut tick = tokio::time::interval(self.inner.config.retention_interval);
        loop {
            tokio::select! {
                _ = self.inner.stop.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(e) = self.enforce_retention(Timestamp::now()).await {
                        tracing::error!(error = %e, "retention pass failed");
                    }
                }
            }
        }
    }

    /// Stops every camera task, letting each flush, close its segment and end its run.
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        let tasks: Vec<_> = self.inner.tasks.lock().await.drain().collect();
        for (_, (_, handle)) in tasks {
            let _ = handle.await;
        }
        let retention = self.inner.retention_task.lock().unwrap().take();
        if let Some(h) = retention {
            let _ = h.await;
        }
    }
}
