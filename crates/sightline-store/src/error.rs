//! The store's error type: every variant says what was being done and to what.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context}: {source}")]
    Db {
        context: String,
        source: sqlx::Error,
    },
    #[error("migrating database {path}: {source}")]
    Migrate {
        path: PathBuf,
        source: sqlx::migrate::MigrateError,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Object {
        context: String,
        source: object_store::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("no camera with id {0}")]
    NoSuchCamera(i64),
    #[error("a camera named {0:?} already exists")]
    DuplicateName(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("stored index is damaged: {0}")]
    Corrupt(String),
    #[error("credentials key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
}

impl StoreError {
    pub(crate) fn db(context: impl Into<String>, source: sqlx::Error) -> Self {
        StoreError::Db {
            context: context.into(),
            source,
        }
    }
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }
}
