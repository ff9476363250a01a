//! The camera registry: add, list, show, update and remove cameras.
//!
//! Every read and write takes the [`Visibility`] of whoever asks, and every query is
//! limited by the one SQL predicate in `visibility`: a camera the asker may not know of
//! is absent from lists and answers [`StoreError::NoSuchCamera`], exactly like a
//! missing id. Names are unique among the cameras one principal can see, so a name
//! clash never confirms a hidden camera.
//!
//! Passwords are sealed before they reach the database and are only ever opened for
//! the recorder ([`Store::camera_credentials`]); the [`Camera`] record returned to
//! the API says whether a password is set, never what it is.

use serde::{Deserialize, Serialize};
use sightline_core::{
    CameraConfig, CameraId, CameraKind, CameraLabel, Classification, ControlClass, Sensitivity,
    Timestamp, Transport, Visibility,
};
use sightline_geo::LatLon;
use sqlx::sqlite::SqliteArguments;
use sqlx::Row;

use crate::visibility::{bind, camera_args, VISIBLE_CAMERA};
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
    pub owner_org: String,
    pub group: String,
    pub sensitivity: Sensitivity,
    pub kind: CameraKind,
    pub control: ControlClass,
    pub position: Option<LatLon>,
    /// Derived from `position` when the camera was saved.
    pub borough: Option<String>,
    pub created: Timestamp,
    pub updated: Timestamp,
}

impl Camera {
    /// What access control needs to know about the camera.
    pub fn label(&self) -> CameraLabel {
        CameraLabel {
            owner_org: self.owner_org.clone(),
            group: self.group.clone(),
            sensitivity: self.sensitivity,
        }
    }
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
    pub owner_org: Option<String>,
    pub group: Option<String>,
    pub sensitivity: Option<Sensitivity>,
    pub kind: Option<CameraKind>,
    pub control: Option<ControlClass>,
    /// `Some(None)` removes the position.
    pub position: Option<Option<LatLon>>,
}

const COLUMNS: &str =
    "c.id, c.name, c.url, c.username, c.password_sealed IS NOT NULL AS has_password, \
     c.transport, c.enabled, c.retention_days, c.owner_org, c.camera_group, c.classification, \
     c.covert, c.kind, c.control, c.lat, c.lon, c.borough, c.created_us, c.updated_us";

fn camera_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Camera, StoreError> {
    let transport: String = row.get("transport");
    let rank: i64 = row.get("classification");
    let corrupt = |e: sightline_core::CameraError| StoreError::Corrupt(e.to_string());
    let position = match (
        row.get::<Option<f64>, _>("lat"),
        row.get::<Option<f64>, _>("lon"),
    ) {
        (Some(lat), Some(lon)) => Some(LatLon { lat, lon }),
        _ => None,
    };
    Ok(Camera {
        kind: row.get::<String, _>("kind").parse().map_err(corrupt)?,
        control: row.get::<String, _>("control").parse().map_err(corrupt)?,
        position,
        borough: row.get("borough"),
        owner_org: row.get("owner_org"),
        group: row.get("camera_group"),
        sensitivity: Sensitivity {
            classification: Classification::from_rank(rank)
                .ok_or_else(|| StoreError::Corrupt(format!("classification rank {rank}")))?,
            covert: row.get("covert"),
        },
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

/// The columns a [`CameraConfig`] sets, in the order [`bind_config`] binds them.
const CONFIG_COLUMNS: &str = "name, url, username, transport, enabled, retention_days, owner_org, \
     camera_group, classification, covert, kind, control, lat, lon, borough";
const CONFIG_VALUES: &str = "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?";

/// Binds a validated configuration's values for [`CONFIG_COLUMNS`]; adding and
/// updating a camera write the same fields the same way.
fn bind_config<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, SqliteArguments<'q>>,
    c: &'q CameraConfig,
) -> sqlx::query::Query<'q, sqlx::Sqlite, SqliteArguments<'q>> {
    q.bind(&c.name)
        .bind(&c.url)
        .bind(&c.username)
        .bind(c.transport.as_str())
        .bind(c.enabled)
        .bind(i64::from(c.retention_days))
        .bind(&c.owner_org)
        .bind(&c.group)
        .bind(c.sensitivity.classification.rank())
        .bind(c.sensitivity.covert)
        .bind(c.kind.as_str())
        .bind(c.control.as_str())
        .bind(c.position.map(|p| p.lat))
        .bind(c.position.map(|p| p.lon))
        .bind(&c.borough)
}

/// Ids of cameras everyone may know of (OFFICIAL, overt) count up from 1 below this,
/// never reused; the others are drawn at random above it, up to 2^53 (safe in
/// JavaScript).
const SENSITIVE_IDS: i64 = 1 << 31;
const MAX_ID: i64 = 1 << 53;

/// The id for a new camera. Sequential ids for all cameras would confirm hidden ones:
/// an uncleared user who sees 3 and 5 would know that 4 exists. So only cameras that
/// everyone may know of are numbered in sequence (among themselves), and a covert or
/// classified camera gets a random id that leaves no gap.
async fn new_camera_id(
    tx: &mut sqlx::SqliteConnection,
    sensitivity: Sensitivity,
) -> Result<i64, StoreError> {
    let ctx = |e| StoreError::db("choosing a camera id", e);
    if sensitivity == Sensitivity::default() {
        return sqlx::query_scalar(
            "UPDATE counters SET value = value + 1 WHERE name = 'overt_camera_id' RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(ctx);
    }
    loop {
        let mut bytes = [0u8; 8];
        getrandom::getrandom(&mut bytes)
            .map_err(|e| StoreError::Invalid(format!("no randomness for a camera id: {e}")))?;
        let id =
            SENSITIVE_IDS + (u64::from_le_bytes(bytes) % (MAX_ID - SENSITIVE_IDS) as u64) as i64;
        let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cameras WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(ctx)?;
        if taken == 0 {
            return Ok(id);
        }
    }
}

/// Refuses `name` if a camera the principal can see (other than `except`) has it.
async fn name_is_free(
    tx: &mut sqlx::SqliteConnection,
    visible: &Visibility,
    name: &str,
    except: Option<CameraId>,
) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT COUNT(*) FROM cameras c WHERE {VISIBLE_CAMERA} AND c.name = ? AND c.id IS NOT ?"
    );
    let mut args: SqliteArguments = camera_args(visible);
    bind(&mut args, name.to_owned());
    bind(&mut args, except.map(|c| c.0));
    let clashes: i64 = sqlx::query_scalar_with(&sql, args)
        .fetch_one(tx)
        .await
        .map_err(|e| StoreError::db(format!("checking camera name {name:?}"), e))?;
    if clashes > 0 {
        return Err(StoreError::DuplicateName(name.to_owned()));
    }
    Ok(())
}

impl Store {
    /// Validates and registers a camera; its name must not clash with a camera the
    /// registering principal can see.
    pub async fn add_camera(
        &self,
        visible: &Visibility,
        config: CameraConfig,
    ) -> Result<Camera, StoreError> {
        let config = config
            .validated()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let now = Timestamp::now().micros();
        let sealed = config.password.as_deref().map(|p| self.sealer.seal(p));
        let mut tx = self
            .write_tx(&format!("adding camera {:?}", config.name))
            .await?;
        name_is_free(&mut tx, visible, &config.name, None).await?;
        let id = new_camera_id(&mut tx, config.sensitivity).await?;
        let sql = format!(
            "INSERT INTO cameras ({CONFIG_COLUMNS}, id, password_sealed, created_us, updated_us)
             VALUES ({CONFIG_VALUES}, ?, ?, ?, ?)"
        );
        bind_config(sqlx::query(&sql), &config)
            .bind(id)
            .bind(sealed)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::db(format!("saving camera {:?}", config.name), e))?;
        tx.commit()
            .await
            .map_err(|e| StoreError::db(format!("saving camera {:?}", config.name), e))?;
        self.camera(&Visibility::everything(), CameraId(id)).await
    }

    /// The cameras the principal may know of, by id.
    pub async fn cameras(&self, visible: &Visibility) -> Result<Vec<Camera>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM cameras c WHERE {VISIBLE_CAMERA} ORDER BY c.id");
        let rows = sqlx::query_with(&sql, camera_args(visible))
            .fetch_all(&self.db)
            .await
            .map_err(|e| StoreError::db("listing cameras", e))?;
        rows.iter().map(camera_from_row).collect()
    }

    /// One camera, or [`StoreError::NoSuchCamera`] if it does not exist or the principal
    /// may not know of it (one query either way).
    pub async fn camera(&self, visible: &Visibility, id: CameraId) -> Result<Camera, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM cameras c WHERE {VISIBLE_CAMERA} AND c.id = ?");
        let mut args = camera_args(visible);
        bind(&mut args, id.0);
        let row = sqlx::query_with(&sql, args)
            .fetch_optional(&self.db)
            .await
            .map_err(|e| StoreError::db(format!("reading camera {id}"), e))?
            .ok_or(StoreError::NoSuchCamera(id.0))?;
        camera_from_row(&row)
    }

    /// Starts a transaction that holds SQLite's write lock from its first statement, so
    /// a check and the write that depends on it cannot interleave with another writer.
    pub(crate) async fn write_tx(
        &self,
        what: &str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.db
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| StoreError::db(format!("{what}: starting a transaction"), e))
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
        visible: &Visibility,
        id: CameraId,
        update: CameraUpdate,
    ) -> Result<Camera, StoreError> {
        let current = self.camera(visible, id).await?;
        let mut config = CameraConfig {
            owner_org: update.owner_org.unwrap_or(current.owner_org),
            group: update.group.unwrap_or(current.group),
            sensitivity: update.sensitivity.unwrap_or(current.sensitivity),
            kind: update.kind.unwrap_or(current.kind),
            control: update.control.unwrap_or(current.control),
            position: update.position.unwrap_or(current.position),
            borough: None,
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
        let mut tx = self.write_tx(&format!("updating camera {id}")).await?;
        name_is_free(&mut tx, visible, &config.name, Some(id)).await?;
        let sql = format!(
            "UPDATE cameras SET ({CONFIG_COLUMNS}, updated_us) = ({CONFIG_VALUES}, ?) WHERE id = ?"
        );
        bind_config(sqlx::query(&sql), &config)
            .bind(Timestamp::now().micros())
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::db(format!("updating camera {id}"), e))?;
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
        self.camera(&Visibility::everything(), id).await
    }

    /// Removes a camera and queues its recordings for deletion. Refused while any of
    /// its recordings is under an evidential hold.
    pub async fn remove_camera(
        &self,
        visible: &Visibility,
        id: CameraId,
    ) -> Result<(), StoreError> {
        let ctx = |what: &str| format!("removing camera {id}: {what}");
        self.camera(visible, id).await?;
        let mut tx = self.write_tx(&ctx("begin")).await?;
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
