//! The camera registry: add, list, show, update and remove cameras.
//!
//! Passwords are sealed before they reach the database and are only ever opened for
//! the recorder ([`Store::camera_credentials`]); the [`Camera`] record returned to
//! the API says whether a password is set, never what it is.

use serde::{Deserialize, Serialize};
use sightline_core::{CameraConfig, CameraId, Timestamp, Transport};
use sqlx::Row;

use crate::{Store, StoreError};

/// A registered camera as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Camera {
    pub id: CameraId,
    pub name: String,
    pub url: String,
    pub username: Option<String>,
    pub has_password: bool,
    pub transport: Transport,
    pub enabled: bool,
    pub retention_days: u32,
    pub created: Timestamp,
    pub updated: Timestamp,
}

/// A partial change to a camera; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CameraUpdate {
    pub name: Option<String>,
    pub url: Option<String>,
    /// `Some(None)` or an empty string clears the username.
    pub username: Option<Option<String>>,
    pub password: Option<Option<String>>,
    pub transport: Option<Transport>,
    pub enabled: Option<bool>,
    pub retention_days: Option<u32>,
}

const COLUMNS: &str =
    "id, name, url, username, password_sealed IS NOT NULL AS has_password, transport, enabled, retention_days, created_us, updated_us";

fn camera_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Camera, StoreError> {
    let transport: String = row.get("transport");
    Ok(Camera {
        id: CameraId(row.get("id")),
        name: row.get("name"),
        url: row.get("url"),
        username: row.get("username"),
        has_password: row.get("has_password"),
        transport: transport
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("{e}")))?,
        enabled: row.get("enabled"),
        retention_days: row.get::<i64, _>("retention_days") as u32,
        created: Timestamp(row.get("created_us")),
        updated: Timestamp(row.get("updated_us")),
    })
}

fn map_unique(name: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::DuplicateName(name.to_owned())
        }
        _ => StoreError::db(format!("saving camera {name:?}"), e),
    }
}

impl Store {
    /// Validates and registers a camera.
    pub async fn add_camera(&self, config: CameraConfig) -> Result<Camera, StoreError> {
        let config = config
            .validated()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let now = Timestamp::now().micros();
        let sealed = config.password.as_deref().map(|p| self.sealer.seal(p));
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO cameras (name, url, username, password_sealed, transport, enabled, retention_days, created_us, updated_us)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&config.name)
        .bind(&config.url)
        .bind(&config.username)
        .bind(sealed)
        .bind(config.transport.as_str())
        .bind(config.enabled)
        .bind(i64::from(config.retention_days))
        .bind(now)
        .bind(now)
        .fetch_one(&self.db)
        .await
        .map_err(map_unique(&config.name))?;
        self.camera(CameraId(id)).await
    }

    /// All cameras, by id.
    pub async fn cameras(&self) -> Result<Vec<Camera>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM cameras ORDER BY id"))
            .fetch_all(&self.db)
            .await
            .map_err(|e| StoreError::db("listing cameras", e))?;
        rows.iter().map(camera_from_row).collect()
    }

    pub async fn camera(&self, id: CameraId) -> Result<Camera, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM cameras WHERE id = ?"))
            .bind(id.0)
            .fetch_optional(&self.db)
            .await
            .map_err(|e| StoreError::db(format!("reading camera {id}"), e))?
            .ok_or(StoreError::NoSuchCamera(id.0))?;
        camera_from_row(&row)
    }

    /// The camera's username and decrypted password, for connecting to it.
    pub async fn camera_credentials(
        &self,
        id: CameraId,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row: Option<(Option<String>, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT username, password_sealed FROM cameras WHERE id = ?")
                .bind(id.0)
                .fetch_optional(&self.db)
                .await
                .map_err(|e| StoreError::db(format!("reading credentials of camera {id}"), e))?;
        match row.ok_or(StoreError::NoSuchCamera(id.0))? {
            (Some(user), sealed) => {
                let password = sealed
                    .map(|s| self.sealer.open(&s))
                    .transpose()?
                    .unwrap_or_default();
                Ok(Some((user, password)))
            }
            (None, _) => Ok(None),
        }
    }

    /// Applies a partial update, validating the result as a whole.
    pub async fn update_camera(
        &self,
        id: CameraId,
        update: CameraUpdate,
    ) -> Result<Camera, StoreError> {
        let current = self.camera(id).await?;
        let mut config = CameraConfig {
            name: update.name.unwrap_or(current.name),
            url: update.url.unwrap_or(current.url),
            username: match update.username {
                Some(u) => u.filter(|u| !u.is_empty()),
                None => current.username,
            },
            password: None,
            transport: update.transport.unwrap_or(current.transport),
            enabled: update.enabled.unwrap_or(current.enabled),
            retention_days: update.retention_days.unwrap_or(current.retention_days),
        };
        let password_change = update.password.clone();
        if let Some(p) = &password_change {
            config.password = p.clone();
        }
        let config = config
            .validated()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        // The password column changes only if asked, or if credentials came in the URL.
        let new_password = match (password_change, &config.password) {
            (Some(p), _) => Some(p.filter(|p| !p.is_empty())),
            (None, Some(p)) => Some(Some(p.clone())),
            (None, None) => None,
        };
        let mut tx = self
            .db
            .begin()
            .await
            .map_err(|e| StoreError::db("starting update", e))?;
        sqlx::query(
            "UPDATE cameras SET name = ?, url = ?, username = ?, transport = ?, enabled = ?, retention_days = ?, updated_us = ?
             WHERE id = ?",
        )
        .bind(&config.name)
        .bind(&config.url)
        .bind(&config.username)
        .bind(config.transport.as_str())
        .bind(config.enabled)
        .bind(i64::from(config.retention_days))
        .bind(Timestamp::now().micros())
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(map_unique(&config.name))?;
        if let Some(p) = new_password {
            sqlx::query("UPDATE cameras SET password_sealed = ? WHERE id = ?")
                .bind(p.map(|p| self.sealer.seal(&p)))
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::db(format!("saving password of camera {id}"), e))?;
        }
        tx.commit()
            .await
            .map_err(|e| StoreError::db(format!("updating camera {id}"), e))?;
        self.camera(id).await
    }

    /// Removes a camera and queues its recordings for deletion. Refused while any of
    /// its recordings is under an evidential hold.
    pub async fn remove_camera(&self, id: CameraId) -> Result<(), StoreError> {
        let ctx = |what: &str| format!("removing camera {id}: {what}");
        let mut tx = self
            .db
            .begin()
            .await
            .map_err(|e| StoreError::db(ctx("begin"), e))?;
        let holds: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM holds WHERE camera_id = ?")
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| StoreError::db(ctx("counting holds"), e))?;
        if holds > 0 {
            return Err(StoreError::Conflict(format!(
                "camera {id} has {holds} evidential hold(s); release them before removing the camera"
            )));
        }
        sqlx::query("INSERT OR IGNORE INTO garbage (object_key, queued_us) SELECT object_key, ? FROM segments WHERE camera_id = ?")
            .bind(Timestamp::now().micros())
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::db(ctx("queueing media"), e))?;
        let gone = sqlx::query("DELETE FROM cameras WHERE id = ?")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::db(ctx("deleting"), e))?;
        if gone.rows_affected() == 0 {
            return Err(StoreError::NoSuchCamera(id.0));
        }
        tx.commit()
            .await
            .map_err(|e| StoreError::db(ctx("commit"), e))?;
        Ok(())
    }
}
