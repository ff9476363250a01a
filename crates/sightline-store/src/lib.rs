//! Sightline's persistent state: metadata in a SQL database and media in an object store.
//!
//! The embedded default keeps metadata in SQLite (`<data>/sightline.db`, WAL mode) and
//! media objects under `<data>/media`. Both sit behind this crate's API so PostgreSQL
//! (through the same `sqlx` queries and migrations) and S3-compatible storage (through
//! `object_store`) can replace them without touching the recorder or the server.
//!
//! The crash-safety contract lives here: a chunk row is inserted only after the bytes
//! it points at were fsynced, [`Store::recover`] truncates media past the last
//! committed row, and media deletion is two-phase through the `garbage` table.

pub mod cameras;
mod error;
pub mod export;
pub mod media;
pub mod recordings;
mod secrets;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use error::StoreError;
pub use media::{Media, SegmentFile};
pub use secrets::Sealer;

/// Handle to the metadata database and the media store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: SqlitePool,
    media: Media,
    sealer: Sealer,
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store under `data_dir` and applies migrations.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::io(format!("creating data directory {}", data_dir.display()), e)
        })?;
        let db_path = data_dir.join("sightline.db");
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", db_path.display()))
            .map_err(|e| StoreError::db(format!("opening {}", db_path.display()), e))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a commit survives a process crash; an OS crash may lose the
            // last transactions but never corrupts the database.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(10))
            .foreign_keys(true);
        let db = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::db(format!("opening {}", db_path.display()), e))?;
        sqlx::migrate!("./migrations")
            .run(&db)
            .await
            .map_err(|e| StoreError::Migrate {
                path: db_path.clone(),
                source: e,
            })?;
        let media = Media::local(&data_dir.join("media"))?;
        let sealer = Sealer::load_or_create(&data_dir.join("keys").join("credentials.key"))?;
        Ok(Store {
            db,
            media,
            sealer,
            root: data_dir.to_owned(),
        })
    }

    pub fn media(&self) -> &Media {
        &self.media
    }

    /// The data directory this store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Closes the database pool, waiting for in-flight queries.
    pub async fn close(&self) {
        self.db.close().await;
    }
}
