//! Group commit of chunk rows: one database transaction for many cameras' flushes.
//!
//! Every camera task sends its fsynced chunks here instead of writing to the database
//! itself. The committer takes everything queued, commits it in one transaction and
//! acknowledges. With hundreds of cameras flushing every second this turns hundreds of
//! transactions (each with its own WAL sync) into a few, and it keeps SQLite's single
//! writer out of the camera tasks' way.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use sightline_store::recordings::NewChunk;
use sightline_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::status::CameraLive;

/// The most chunks committed in one transaction.
const MAX_BATCH: usize = 2048;

/// One camera flush: rows to index, and who to tell when they are committed.
pub struct Flush {
    pub chunks: Vec<NewChunk>,
    /// When the oldest frame in these chunks arrived, for the recording-lag metric.
    pub oldest_frame: Instant,
    pub live: Arc<CameraLive>,
    pub done: oneshot::Sender<Result<(), Arc<StoreError>>>,
}

/// Handle for camera tasks to submit flushes.
#[derive(Clone)]
pub struct IndexQueue {
    tx: mpsc::Sender<Flush>,
}

impl IndexQueue {
    /// Starts the committer task.
    pub fn start(store: Store) -> IndexQueue {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(store, rx));
        IndexQueue { tx }
    }

    /// Queues chunks and waits until they are committed.
    pub async fn commit(
        &self,
        chunks: Vec<NewChunk>,
        oldest_frame: Instant,
        live: Arc<CameraLive>,
    ) -> Result<(), Arc<StoreError>> {
        let (done, wait) = oneshot::channel();
        let closed = || {
            Arc::new(StoreError::Invalid(
                "the index committer has stopped".into(),
            ))
        };
        self.tx
            .send(Flush {
                chunks,
                oldest_frame,
                live,
                done,
            })
            .await
            .map_err(|_| closed())?;
        wait.await.map_err(|_| closed())?
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Flush>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let rows: Vec<NewChunk> = batch
            .iter()
            .flat_map(|f| f.chunks.iter().cloned())
            .collect();
        let result = store.commit_chunks(&rows).await.map_err(Arc::new);
        if let Err(e) = &result {
            tracing::error!(error = %e, rows = rows.len(), "index commit failed");
        }
        let now = Instant::now();
        for flush in batch.drain(..) {
            if result.is_ok() {
                flush.live.lag_us.store(
                    now.duration_since(flush.oldest_frame).as_micros() as u64,
                    Ordering::Relaxed,
                );
            }
            let _ = flush.done.send(result.clone());
        }
    }
}
