//! Applies the retention policy (`sightline_core::retention`) to the store.
//!
//! The decision is pure and takes `now` from the caller; this module gathers its
//! inputs, deletes what it chose through the two-phase garbage list, and logs why.

use std::collections::HashMap;

use sightline_core::retention::{plan, DeleteReason, RetentionInput};
use sightline_core::Timestamp;
use sightline_store::{Store, StoreError};

/// What one retention pass deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub deleted_for_age: Vec<i64>,
    pub deleted_for_quota: Vec<i64>,
}

/// Deletes segments past their camera's age limit or beyond the disk quota, as of `now`.
pub async fn enforce(
    store: &Store,
    now: Timestamp,
    quota_bytes: Option<u64>,
) -> Result<RetentionReport, StoreError> {
    let segments = store.segment_summaries().await?;
    let holds = store.holds().await?;
    let max_age_days: HashMap<_, _> = store
        .cameras(&sightline_core::Visibility::everything())
        .await?
        .into_iter()
        .map(|c| (c.id, c.retention_days))
        .collect();
    let doomed = plan(&RetentionInput {
        now,
        segments: &segments,
        max_age_days: &max_age_days,
        holds: &holds,
        quota_bytes,
    });
    let mut report = RetentionReport::default();
    for (id, reason) in &doomed {
        match reason {
            DeleteReason::Age => report.deleted_for_age.push(*id),
            DeleteReason::Quota => report.deleted_for_quota.push(*id),
        }
    }
    if !doomed.is_empty() {
        let ids: Vec<i64> = doomed.iter().map(|(id, _)| *id).collect();
        store.delete_segments(&ids).await?;
        store.collect_garbage().await?;
        tracing::info!(
            age = report.deleted_for_age.len(),
            quota = report.deleted_for_quota.len(),
            "retention deleted segments"
        );
    }
    Ok(report)
}
