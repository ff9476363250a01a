//! The audit trail: an append-only, hash-chained log of every view, export, control
//! action, configuration change, sign-in and refusal.
//!
//! Each entry stores the SHA-256 of the previous entry and its own SHA-256 over the
//! previous hash and every field (length-prefixed, see [`entry_hash`]), so editing,
//! deleting, inserting or reordering a row breaks the chain at that row;
//! `audit_head` records the newest entry, so deleting the newest entries shows too.
//! Triggers refuse UPDATE and DELETE, so only someone bypassing Sightline can try.
//!
//! The hash is unkeyed: someone with write access to the database who rewrites every
//! entry from some point on, and the head, is caught only against a head recorded
//! elsewhere earlier (an anchor; see [`Store::verify_audit`]).
//!
//! Appends take SQLite's write lock for the read-previous-then-insert step
//! (`BEGIN IMMEDIATE`), so writers in several processes (the server and an offline
//! `sightline user add`) still form one chain.
//!
//! Each entry carries its target's sensitivity label at the time of writing; a reader
//! sees only entries their clearance covers (one SQL predicate in `visibility`).

use serde::Serialize;
use sha2::{Digest, Sha256};
use sightline_core::{CameraId, Classification, Sensitivity, Timestamp, Visibility};
use sqlx::Row;

use crate::visibility::{bind, label_args, VISIBLE_ENTRY};
use crate::{Store, StoreError};

/// How an audited request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    /// Refused by policy (the principal may know the target, not act on it).
    Denied,
    /// No such target, or one the principal may not know of (never distinguished).
    NotFound,
    /// Malformed or rejected input.
    Invalid,
    /// The request was allowed but failed.
    Failed,
    /// Refused because of too many recent failures (sign-in rate limit).
    Throttled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::NotFound => "not-found",
            Outcome::Invalid => "invalid",
            Outcome::Failed => "failed",
            Outcome::Throttled => "throttled",
        }
    }

    fn parse(s: &str) -> Result<Outcome, StoreError> {
        [
            Outcome::Ok,
            Outcome::Denied,
            Outcome::NotFound,
            Outcome::Invalid,
            Outcome::Failed,
            Outcome::Throttled,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
        .ok_or_else(|| StoreError::Corrupt(format!("audit outcome {s:?}")))
    }
}

/// What happened, as the caller describes it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditRecord {
    /// User name, `system`, or `cli` for offline commands.
    pub actor: String,
    /// Client address, or `local`.
    pub source: String,
    /// What was attempted, e.g. `camera.export`, `session.login`.
    pub action: String,
    /// What it was attempted on, e.g. `camera:5`, `user:alice`; empty for none.
    pub target: String,
    pub camera: Option<CameraId>,
    pub outcome: Outcome,
    /// Parameters and the answer, e.g. `from=... to=...; 200`.
    pub detail: String,
    /// The target's label: only principals cleared for it may read the entry.
    pub sensitivity: Sensitivity,
}

/// A stored entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: Timestamp,
    #[serde(flatten)]
    pub record: AuditRecord,
    #[serde(skip)]
    pub prev_sha256: Vec<u8>,
    #[serde(skip)]
    pub sha256: Vec<u8>,
}

/// Which entries to read; every filter is optional.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub camera: Option<CameraId>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// At most this many, newest first (default and cap 10 000).
    pub limit: Option<u32>,
}

/// The result of checking the whole chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainCheck {
    Intact {
        entries: i64,
        head: Vec<u8>,
    },
    /// The first entry at which the chain does not hold, and why.
    Broken {
        seq: i64,
        reason: String,
    },
}

/// The hash of an entry: SHA-256 over the previous hash, then each field, strings
/// length-prefixed (u32 big-endian) so no two field splits give the same bytes.
pub fn entry_hash(prev: &[u8], seq: i64, at: Timestamp, r: &AuditRecord) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(at.micros().to_be_bytes());
    for s in [&r.actor, &r.source, &r.action, &r.target, &r.detail] {
        h.update((s.len() as u32).to_be_bytes());
        h.update(s.as_bytes());
    }
    h.update(r.outcome.as_str().as_bytes());
    match r.camera {
        Some(c) => {
            h.update([1]);
            h.update(c.0.to_be_bytes());
        }
        None => h.update([0]),
    }
    h.update([
        r.sensitivity.classification.rank() as u8,
        u8::from(r.sensitivity.covert),
    ]);
    h.finalize().to_vec()
}

const GENESIS: [u8; 32] = [0; 32];
const MAX_ROWS: u32 = 10_000;

fn entry_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<AuditEntry, StoreError> {
    let rank: i64 = row.get("classification");
    Ok(AuditEntry {
        seq: row.get("seq"),
        at: Timestamp(row.get("at_us")),
        record: AuditRecord {
            actor: row.get("actor"),
            source: row.get("source"),
            action: row.get("action"),
            target: row.get("target"),
            camera: row.get::<Option<i64>, _>("camera_id").map(CameraId),
            outcome: Outcome::parse(row.get("outcome"))?,
            detail: row.get("detail"),
            sensitivity: Sensitivity {
                classification: Classification::from_rank(rank)
                    .ok_or_else(|| StoreError::Corrupt(format!("audit classification {rank}")))?,
                covert: row.get("covert"),
            },
        },
        prev_sha256: row.get("prev_sha256"),
        sha256: row.get("sha256"),
    })
}

impl Store {
    /// Appends an entry to the chain; returns its sequence number.
    pub async fn audit(&self, record: &AuditRecord) -> Result<i64, StoreError> {
        let ctx = || format!("writing audit entry {} {}", record.action, record.target);
        let _one_writer = self.audit_lock.lock().await;
        let mut tx = self.write_tx(&ctx()).await?;
        let last: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, sha256 FROM audit ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| StoreError::db(ctx(), e))?;
        let (seq, prev) = match last {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, GENESIS.to_vec()),
        };
        let at = Timestamp::now();
        let hash = entry_hash(&prev, seq, at, record);
        sqlx::query(
            "INSERT INTO audit (seq, at_us, actor, source, action, target, camera_id, outcome, detail,
                                classification, covert, prev_sha256, sha256)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(at.micros())
        .bind(&record.actor)
        .bind(&record.source)
        .bind(&record.action)
        .bind(&record.target)
        .bind(record.camera.map(|c| c.0))
        .bind(record.outcome.as_str())
        .bind(&record.detail)
        .bind(record.sensitivity.classification.rank())
        .bind(record.sensitivity.covert)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::db(ctx(), e))?;
        sqlx::query(
            "INSERT INTO audit_head (one, seq, sha256) VALUES (1, ?, ?)
             ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, sha256 = excluded.sha256",
        )
        .bind(seq)
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::db(ctx(), e))?;
        tx.commit().await.map_err(|e| StoreError::db(ctx(), e))?;
        Ok(seq)
    }

    /// Entries matching `query` that the reader is cleared for, newest first.
    pub async fn audit_entries(
        &self,
        visible: &Visibility,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let sql = format!(
            "SELECT * FROM audit a WHERE {VISIBLE_ENTRY}
               AND (? IS NULL OR a.actor = ?) AND (? IS NULL OR a.camera_id = ?)
               AND (? IS NULL OR a.at_us >= ?) AND (? IS NULL OR a.at_us < ?)
             ORDER BY a.seq DESC LIMIT ?"
        );
        let mut args = label_args(visible);
        for _ in 0..2 {
            bind(&mut args, query.actor.clone());
        }
        for _ in 0..2 {
            bind(&mut args, query.camera.map(|c| c.0));
        }
        for _ in 0..2 {
            bind(&mut args, query.from.map(Timestamp::micros));
        }
        for _ in 0..2 {
            bind(&mut args, query.to.map(Timestamp::micros));
        }
        bind(
            &mut args,
            i64::from(query.limit.unwrap_or(MAX_ROWS).min(MAX_ROWS)),
        );
        let rows = sqlx::query_with(&sql, args)
            .fetch_all(&self.db)
            .await
            .map_err(|e| StoreError::db("reading the audit trail", e))?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Walks the whole chain from the first entry and reports the first that does not
    /// hold: a changed field, a missing or inserted entry, or a missing newest entry.
    /// `anchor` is an entry's (seq, SHA-256) recorded elsewhere earlier: it must still be
    /// there, unchanged, which catches a chain rewritten wholesale with its head.
    ///
    /// It reads one snapshot (a read transaction), so entries appended meanwhile by a
    /// running server are neither checked nor mistaken for damage.
    pub async fn verify_audit(
        &self,
        anchor: Option<(i64, Vec<u8>)>,
    ) -> Result<ChainCheck, StoreError> {
        use futures::TryStreamExt;
        let ctx = |e| StoreError::db("reading the audit trail", e);
        let mut tx = self.db.begin().await.map_err(ctx)?;
        let head: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, sha256 FROM audit_head WHERE one = 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(ctx)?;
        let mut expected_seq = 1;
        let mut prev = GENESIS.to_vec();
        let mut anchored = None;
        let mut rows = sqlx::query("SELECT * FROM audit ORDER BY seq").fetch(&mut *tx);
        while let Some(row) = rows.try_next().await.map_err(ctx)? {
            let e = entry_from_row(&row)?;
            let broken = |reason: String| Ok(ChainCheck::Broken { seq: e.seq, reason });
            if e.seq > expected_seq {
                return Ok(ChainCheck::Broken {
                    seq: expected_seq,
                    reason: if e.seq == expected_seq + 1 {
                        format!("entry {expected_seq} is missing")
                    } else {
                        format!("entries {expected_seq} to {} are missing", e.seq - 1)
                    },
                });
            }
            if e.seq < expected_seq {
                return broken(format!("entry {} is out of order", e.seq));
            }
            if e.prev_sha256 != prev {
                return broken(format!(
                    "entry {} does not follow the entry before it (an entry was deleted or inserted before it)",
                    e.seq
                ));
            }
            if entry_hash(&prev, e.seq, e.at, &e.record) != e.sha256 {
                return broken(format!("entry {} was modified after it was written", e.seq));
            }
            if anchor.as_ref().is_some_and(|(seq, _)| *seq == e.seq) {
                anchored = Some(e.sha256.clone());
            }
            prev = e.sha256;
            expected_seq += 1;
        }
        drop(rows);
        let entries = expected_seq - 1;
        if let Some((seq, hash)) = anchor {
            match anchored {
                None => {
                    return Ok(ChainCheck::Broken {
                        seq,
                        reason: format!("entry {seq}, the recorded anchor, is missing: the log was cut short"),
                    })
                }
                Some(found) if found != hash => {
                    return Ok(ChainCheck::Broken {
                        seq,
                        reason: format!(
                            "entry {seq} differs from the recorded anchor: the chain was rewritten up to it"
                        ),
                    })
                }
                Some(_) => {}
            }
        }
        match head {
            None if entries == 0 => Ok(ChainCheck::Intact {
                entries,
                head: prev,
            }),
            Some((seq, hash)) if seq == entries && hash == prev => Ok(ChainCheck::Intact {
                entries,
                head: prev,
            }),
            Some((seq, _)) if seq > entries => Ok(ChainCheck::Broken {
                seq: entries + 1,
                reason: if seq == entries + 1 {
                    format!("entry {seq}, the newest the log recorded, is missing")
                } else {
                    format!(
                        "entries {} to {seq}, the newest the log recorded, are missing",
                        entries + 1
                    )
                },
            }),
            _ => Ok(ChainCheck::Broken {
                seq: entries,
                reason: format!("entry {entries} is not the newest entry the log recorded"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(action: &str) -> AuditRecord {
        AuditRecord {
            actor: "alice".into(),
            source: "127.0.0.1".into(),
            action: action.into(),
            target: "camera:1".into(),
            camera: Some(CameraId(1)),
            outcome: Outcome::Ok,
            detail: String::new(),
            sensitivity: Sensitivity::default(),
        }
    }

    #[test]
    fn every_field_is_in_the_hash() {
        let base = record("camera.show");
        let h = entry_hash(&GENESIS, 1, Timestamp(5), &base);
        let mut variants = vec![];
        let mut r = base.clone();
        r.actor = "alicf".into();
        variants.push(r);
        let mut r = base.clone();
        r.camera = Some(CameraId(2));
        variants.push(r);
        let mut r = base.clone();
        r.outcome = Outcome::Denied;
        variants.push(r);
        let mut r = base.clone();
        r.sensitivity.covert = true;
        variants.push(r);
        // Moving a character between adjacent fields changes the hash too.
        let mut r = base.clone();
        r.actor = "alice1".into();
        r.source = "27.0.0.1".into();
        variants.push(r);
        for v in variants {
            assert_ne!(entry_hash(&GENESIS, 1, Timestamp(5), &v), h, "{v:?}");
        }
        assert_ne!(entry_hash(&GENESIS, 2, Timestamp(5), &base), h);
        assert_ne!(entry_hash(&GENESIS, 1, Timestamp(6), &base), h);
        assert_ne!(entry_hash(&[1; 32], 1, Timestamp(5), &base), h);
    }
}
