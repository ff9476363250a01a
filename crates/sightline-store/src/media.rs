//! Media objects: segment files written by the recorder, read back for export.
//!
//! Reads and deletes go through `object_store`, so a bucket can replace the local
//! directory later. Writing is different: a segment grows for about a minute and must
//! be fsynced every flush before its index rows commit, which object stores cannot do
//! in place. [`SegmentFile`] therefore appends to a local file; with a remote store
//! the closed file will be uploaded (the local directory acting as a spool).
//!
//! fsync failure: after a failed `sync_data` the kernel may have dropped the dirty
//! pages, so retrying the sync proves nothing. The writer reports the error and the
//! recorder abandons the segment; rows for unsynced bytes are never committed, and
//! recovery truncates the file to its last committed byte.

use std::fs::File;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;

use crate::StoreError;

/// The media store: an object store for reads and deletes plus a local spool for writes.
#[derive(Clone)]
pub struct Media {
    objects: Arc<dyn ObjectStore>,
    spool: PathBuf,
}

impl Media {
    /// Media kept in a local directory.
    pub fn local(dir: &Path) -> Result<Media, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::io(format!("creating media directory {}", dir.display()), e)
        })?;
        let objects = LocalFileSystem::new_with_prefix(dir).map_err(|e| StoreError::Object {
            context: format!("opening media directory {}", dir.display()),
            source: e,
        })?;
        Ok(Media {
            objects: Arc::new(objects),
            spool: dir.to_owned(),
        })
    }

    fn local_path(&self, key: &str) -> PathBuf {
        self.spool.join(key)
    }

    /// Creates a new, empty segment object for appending.
    pub fn create_segment(&self, key: &str) -> Result<SegmentFile, StoreError> {
        let path = self.local_path(key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::io(format!("creating directory {}", dir.display()), e))?;
        }
        let file = File::options()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| StoreError::io(format!("creating segment {}", path.display()), e))?;
        Ok(SegmentFile { file, path, len: 0 })
    }

    /// Reads `range` of an object.
    pub async fn read(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        self.objects
            .get_range(&ObjectPath::from(key), range.clone())
            .await
            .map_err(|e| StoreError::Object {
                context: format!("reading {key} bytes {range:?}"),
                source: e,
            })
    }

    /// Deletes an object; deleting one that is already gone succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.objects.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StoreError::Object {
                context: format!("deleting {key}"),
                source: e,
            }),
        }
    }

    /// Cuts an object back to `len` bytes (crash recovery of a local segment).
    pub fn truncate(&self, key: &str, len: u64) -> Result<u64, StoreError> {
        let path = self.local_path(key);
        let file = match File::options().write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(StoreError::io(format!("opening {}", path.display()), e)),
        };
        let before = file
            .metadata()
            .map_err(|e| StoreError::io(format!("reading size of {}", path.display()), e))?
            .len();
        if before > len {
            file.set_len(len)
                .and_then(|_| file.sync_all())
                .map_err(|e| {
                    StoreError::io(format!("truncating {} to {len} bytes", path.display()), e)
                })?;
        }
        Ok(before)
    }
}

/// A segment being appended to. Bytes count as stored only after [`SegmentFile::append_synced`] returns.
pub struct SegmentFile {
    file: File,
    path: PathBuf,
    len: u64,
}

impl SegmentFile {
    /// Appends `data` and fsyncs it; returns the offset it was written at.
    /// Blocking: call from a blocking thread.
    pub fn append_synced(&mut self, data: &[u8]) -> Result<u64, StoreError> {
        let offset = self.len;
        self.file
            .write_all(data)
            .and_then(|_| self.file.sync_data())
            .map_err(|e| {
                StoreError::io(
                    format!("writing {} bytes to {}", data.len(), self.path.display()),
                    e,
                )
            })?;
        self.len += data.len() as u64;
        Ok(offset)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}
