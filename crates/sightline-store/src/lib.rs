//! Sightline's persistent state: metadata in a SQL database and media in an object store.
//!
//! Access control lives in this crate's queries: camera reads take the asker's
//! `Visibility` and filter with one SQL predicate (`visibility`), so no caller can
//! forget it. Accounts are in `users`, sessions and API tokens in `sessions`, shares of
//! camera groups in `grants`; the hash-chained audit trail is in `audit`.
//!
//! The embedded default keeps metadata in SQLite (`<data>/sightline.db`, WAL mode) and
//! media objects under `<data>/media`. Both sit behind this crate's API so PostgreSQL
//! (through the same `sqlx` queries and migrations) and S3-compatible storage (through
//! `object_store`) can replace them without touching the recorder or the server.
//!
//! The crash-safety contract lives here: a chunk row is inserted only after the bytes
//! it points at were fsynced, [`Store::recover`] truncates media past the last
//! committed row, and media deletion is two-phase through the `garbage` table.

pub mod audit;
pub mod cameras;
pub mod credentials;
mod error;
pub mod export;
pub mod grants;
pub mod media;
pub mod recordings;
mod secrets;
pub mod sessions;
pub mod users;
mod visibility;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use error::StoreError;
pub use media::{Media, SegmentFile};
pub use secrets::Sealer;

/// Applies pending migrations on one connection with foreign keys off, as SQLite's
/// table-rebuild procedure requires (with them on, dropping the old table would cascade
/// its deletion into every table that refers to it), then checks every reference.
async fn migrate(db_path: &Path, options: SqliteConnectOptions) -> Result<(), StoreError> {
    use sqlx::Connection;
    let ctx = || format!("migrating {}", db_path.display());
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| StoreError::db(ctx(), e))?;
    sqlx::migrate!("./migrations")
        .run(&mut conn)
        .await
        .map_err(|e| StoreError::Migrate {
            path: db_path.to_owned(),
            source: e,
        })?;
    let broken: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| StoreError::db(ctx(), e))?;
    if let Some((table,)) = broken.first() {
        return Err(StoreError::Corrupt(format!(
            "after migrating {}: {} rows of {table} (and maybe others) refer to missing rows",
            db_path.display(),
            broken.len()
        )));
    }
    conn.close().await.map_err(|e| StoreError::db(ctx(), e))
}

/// Handle to the metadata database and the media store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: SqlitePool,
    media: Media,
    sealer: Sealer,
    root: PathBuf,
    /// Serialises this process's audit appends (other processes wait on SQLite's lock).
    audit_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Bounds concurrent password hashing (see `users`).
    password_work: std::sync::Arc<tokio::sync::Semaphore>,
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
        migrate(&db_path, options.clone().foreign_keys(false)).await?;
        let db = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::db(format!("opening {}", db_path.display()), e))?;
        let media = Media::local(&data_dir.join("media"))?;
        let sealer = Sealer::load_or_create(&data_dir.join("keys").join("credentials.key"))?;
        Ok(Store {
            db,
            media,
            sealer,
            root: data_dir.to_owned(),
            audit_lock: Default::default(),
            password_work: std::sync::Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
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
