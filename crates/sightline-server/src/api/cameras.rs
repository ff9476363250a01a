//! `/api/cameras`: add, list, show, update and remove cameras, with live status.
//!
//! Every change is applied to the registry first and then to the recorder
//! (`Recorder::sync_camera`), so the camera list never shows a camera the recorder
//! does not know about or vice versa.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use sightline_core::{CameraConfig, CameraId, CameraStatus, Transport};
use sightline_store::cameras::{Camera, CameraUpdate};
use utoipa::ToSchema;

use crate::{ApiError, AppState};

/// A camera with its live recording status.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct CameraView {
    pub id: i64,
    pub name: String,
    /// RTSP URL, never with credentials.
    pub url: String,
    pub username: Option<String>,
    pub has_password: bool,
    /// `tcp` or `udp`.
    pub transport: String,
    pub enabled: bool,
    pub retention_days: u32,
    /// RFC 3339.
    pub created: String,
    pub updated: String,
    pub status: StatusView,
}

/// What the recorder is doing with a camera now.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct StatusView {
    /// `disabled`, `connecting`, `recording`, `retrying` or `failed`.
    pub state: String,
    pub last_frame_at: Option<String>,
    pub fps: f64,
    pub bitrate_bps: f64,
    pub last_error: Option<String>,
    pub reconnects: u64,
    pub codec: Option<String>,
    pub has_audio: bool,
}

impl From<CameraStatus> for StatusView {
    fn from(s: CameraStatus) -> Self {
        StatusView {
            state: serde_json::to_value(s.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            last_frame_at: s.last_frame_at.map(|t| t.to_rfc3339()),
            fps: (s.fps * 10.0).round() / 10.0,
            bitrate_bps: s.bitrate_bps.round(),
            last_error: s.last_error,
            reconnects: s.reconnects,
            codec: s.codec,
            has_audio: s.has_audio,
        }
    }
}

fn view(state: &AppState, c: Camera) -> CameraView {
    CameraView {
        status: state.recorder.status(c.id).into(),
        id: c.id.0,
        name: c.name,
        url: c.url,
        username: c.username,
        has_password: c.has_password,
        transport: c.transport.as_str().to_owned(),
        enabled: c.enabled,
        retention_days: c.retention_days,
        created: c.created.to_rfc3339(),
        updated: c.updated.to_rfc3339(),
    }
}

/// A camera to register. Credentials may be given separately or inside the URL; either
/// way they are stored encrypted and removed from the URL.
#[derive(Deserialize, Serialize, ToSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewCamera {
    pub name: String,
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `tcp` (default) or `udp`.
    pub transport: Option<String>,
    pub enabled: Option<bool>,
    /// Maximum age of recordings in days (default 31).
    pub retention_days: Option<u32>,
}

/// Fields to change; absent fields stay as they are. An empty username or password clears it.
#[derive(Deserialize, Serialize, ToSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct CameraPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub transport: Option<String>,
    pub enabled: Option<bool>,
    pub retention_days: Option<u32>,
}

fn parse_transport(t: Option<String>) -> Result<Option<Transport>, ApiError> {
    t.map(|t| {
        t.parse::<Transport>()
            .map_err(|e| ApiError::bad_request(e.to_string()))
    })
    .transpose()
}

/// List cameras with their status.
#[utoipa::path(get, path = "/api/cameras", tag = "cameras", responses((status = 200, body = Vec<CameraView>)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<CameraView>>, ApiError> {
    let cameras = state.store.cameras().await?;
    Ok(Json(cameras.into_iter().map(|c| view(&state, c)).collect()))
}

/// Register a camera; recording starts at once if it is enabled.
#[utoipa::path(post, path = "/api/cameras", tag = "cameras", request_body = NewCamera,
    responses((status = 201, body = CameraView), (status = 400, description = "invalid camera"), (status = 409, description = "name taken")))]
pub async fn add(
    State(state): State<AppState>,
    Json(new): Json<NewCamera>,
) -> Result<(StatusCode, Json<CameraView>), ApiError> {
    let mut config = CameraConfig::new(new.name, new.url);
    config.username = new.username.filter(|u| !u.is_empty());
    config.password = new.password.filter(|p| !p.is_empty());
    config.transport = parse_transport(new.transport)?.unwrap_or_default();
    config.enabled = new.enabled.unwrap_or(true);
    if let Some(days) = new.retention_days {
        config.retention_days = days;
    }
    let camera = state.store.add_camera(config).await?;
    state.recorder.sync_camera(camera.id).await?;
    tracing::info!(camera = %camera.id, name = %camera.name, "camera added");
    Ok((StatusCode::CREATED, Json(view(&state, camera))))
}

/// Show one camera with its status.
#[utoipa::path(get, path = "/api/cameras/{id}", tag = "cameras", params(("id" = i64, Path)),
    responses((status = 200, body = CameraView), (status = 404, description = "no such camera")))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<CameraView>, ApiError> {
    let camera = state.store.camera(CameraId(id)).await?;
    Ok(Json(view(&state, camera)))
}

/// Change a camera; its recording restarts with the new settings.
#[utoipa::path(patch, path = "/api/cameras/{id}", tag = "cameras", params(("id" = i64, Path)), request_body = CameraPatch,
    responses((status = 200, body = CameraView), (status = 400), (status = 404), (status = 409)))]
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(patch): Json<CameraPatch>,
) -> Result<Json<CameraView>, ApiError> {
    let update = CameraUpdate {
        name: patch.name,
        url: patch.url,
        username: patch.username.map(|u| Some(u).filter(|u| !u.is_empty())),
        password: patch.password.map(|p| Some(p).filter(|p| !p.is_empty())),
        transport: parse_transport(patch.transport)?,
        enabled: patch.enabled,
        retention_days: patch.retention_days,
    };
    let camera = state.store.update_camera(CameraId(id), update).await?;
    state.recorder.sync_camera(camera.id).await?;
    Ok(Json(view(&state, camera)))
}

/// Remove a camera and delete its recordings (refused while any is held as evidence).
#[utoipa::path(delete, path = "/api/cameras/{id}", tag = "cameras", params(("id" = i64, Path)),
    responses((status = 204), (status = 404), (status = 409, description = "recordings under hold")))]
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let id = CameraId(id);
    let was_enabled = state.store.camera(id).await?.enabled;
    // Stop recording first so no new segment appears while the rows go.
    state
        .store
        .update_camera(
            id,
            CameraUpdate {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await?;
    state.recorder.sync_camera(id).await?;
    if let Err(e) = state.store.remove_camera(id).await {
        state
            .store
            .update_camera(
                id,
                CameraUpdate {
                    enabled: Some(was_enabled),
                    ..Default::default()
                },
            )
            .await?;
        state.recorder.sync_camera(id).await?;
        return Err(e.into());
    }
    state.store.collect_garbage().await?;
    state.recorder.sync_camera(id).await?;
    tracing::info!(camera = %id, "camera removed");
    Ok(StatusCode::NO_CONTENT)
}
