//! `/api/cameras`: add, list, show, update and remove cameras, with live status.
//!
//! Every change is applied to the registry first and then to the recorder
//! (`Recorder::sync_camera`), so the camera list never shows a camera the recorder
//! does not know about or vice versa.
//!
//! The list holds only cameras the caller may know of; single-camera routes receive
//! their camera from the access guard. Connection details (URL, username) are shown
//! only to those who may configure the camera.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sightline_core::{Action, CameraConfig, CameraStatus, Classification, Decision, Sensitivity};
use sightline_geo::LatLon;
use sightline_store::cameras::{Camera, CameraUpdate};
use utoipa::ToSchema;

use super::parse_field;
use crate::access::{AuditNote, Caller, Target};
use crate::{ApiError, AppState};

/// A camera with its live recording status.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct CameraView {
    pub id: i64,
    pub name: String,
    /// Owning organisation.
    pub owner: String,
    /// Camera group, which grants refer to.
    pub group: String,
    /// OFFICIAL, OFFICIAL-SENSITIVE or SECRET.
    pub classification: String,
    pub covert: bool,
    /// static, ptz, deployable or body-worn.
    pub kind: String,
    /// owned, partner, temporary or body-worn.
    pub control: String,
    /// WGS84 degrees, when known.
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// The borough the position lies in (derived; absent outside London).
    pub borough: Option<String>,
    /// RTSP URL, never with credentials; only for those who may configure the camera.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_password: Option<bool>,
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

fn view(state: &AppState, caller: &Caller, c: Camera) -> CameraView {
    let configures = caller
        .principal
        .decide_on(Action::ConfigureCamera, Some(&c.label()))
        == Decision::Allow;
    CameraView {
        status: state.recorder.status(c.id).into(),
        id: c.id.0,
        name: c.name,
        owner: c.owner_org,
        group: c.group,
        classification: c.sensitivity.classification.to_string(),
        covert: c.sensitivity.covert,
        kind: c.kind.to_string(),
        control: c.control.to_string(),
        lat: c.position.map(|p| p.lat),
        lon: c.position.map(|p| p.lon),
        borough: c.borough,
        url: configures.then_some(c.url),
        username: if configures { c.username } else { None },
        has_password: configures.then_some(c.has_password),
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
    /// Owning organisation (default: the caller's).
    pub owner: Option<String>,
    /// Camera group for grants (default: the owner).
    pub group: Option<String>,
    /// OFFICIAL (default), OFFICIAL-SENSITIVE or SECRET; not above the caller's clearance.
    pub classification: Option<String>,
    /// A covert asset: invisible to anyone not cleared for covert capability.
    pub covert: Option<bool>,
    /// static (default), ptz, deployable or body-worn.
    pub kind: Option<String>,
    /// owned (default), partner, temporary or body-worn.
    pub control: Option<String>,
    /// Position, WGS84 degrees (both or neither); the borough follows from it.
    pub lat: Option<f64>,
    pub lon: Option<f64>,
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
    pub owner: Option<String>,
    pub group: Option<String>,
    pub classification: Option<String>,
    pub covert: Option<bool>,
    pub kind: Option<String>,
    pub control: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

/// A position from `lat` and `lon`, which come together or not at all.
fn position(lat: Option<f64>, lon: Option<f64>) -> Result<Option<LatLon>, ApiError> {
    match (lat, lon) {
        (Some(lat), Some(lon)) => Ok(Some(LatLon { lat, lon })),
        (None, None) => Ok(None),
        _ => Err(ApiError::bad_request("lat and lon must be given together")),
    }
}

/// The label asked for, refused if above the caller's own clearance.
fn requested_sensitivity(
    caller: &Caller,
    current: Sensitivity,
    classification: Option<String>,
    covert: Option<bool>,
) -> Result<Sensitivity, ApiError> {
    let sensitivity = Sensitivity {
        classification: parse_field::<Classification>(classification)?
            .unwrap_or(current.classification),
        covert: covert.unwrap_or(current.covert),
    };
    match caller.principal.may_label(&sensitivity) {
        Decision::Allow => Ok(sensitivity),
        Decision::Forbidden(why) => Err(ApiError::new(StatusCode::FORBIDDEN, why)),
        Decision::Hidden => Err(crate::access::no_such_camera()),
    }
}

/// The audit note for a camera change: its id and the label it now has.
fn camera_note(camera: &Camera, detail: String) -> AuditNote {
    AuditNote {
        camera: Some((camera.id, camera.sensitivity)),
        detail: Some(detail),
        ..Default::default()
    }
}

/// List the cameras you may know of, with their status.
#[utoipa::path(get, path = "/api/cameras", tag = "cameras", responses((status = 200, body = Vec<CameraView>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<CameraView>>, ApiError> {
    let cameras = state.store.cameras(&caller.visibility()).await?;
    Ok(Json(
        cameras
            .into_iter()
            .map(|c| view(&state, &caller, c))
            .collect(),
    ))
}

/// Register a camera; recording starts at once if it is enabled.
#[utoipa::path(post, path = "/api/cameras", tag = "cameras", request_body = NewCamera,
    responses((status = 201, body = CameraView), (status = 400, description = "invalid camera"),
              (status = 403, description = "label above your clearance"), (status = 409, description = "name taken")))]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Json(new): Json<NewCamera>,
) -> Result<Response, ApiError> {
    let mut config = CameraConfig::new(new.name, new.url);
    config.username = new.username.filter(|u| !u.is_empty());
    config.password = new.password.filter(|p| !p.is_empty());
    config.transport = parse_field(new.transport)?.unwrap_or_default();
    config.enabled = new.enabled.unwrap_or(true);
    if let Some(days) = new.retention_days {
        config.retention_days = days;
    }
    config.owner_org = new.owner.unwrap_or_else(|| caller.principal.org.clone());
    config.group = new.group.unwrap_or_default();
    config.sensitivity = requested_sensitivity(
        &caller,
        Sensitivity::default(),
        new.classification,
        new.covert,
    )?;
    config.kind = parse_field(new.kind)?.unwrap_or_default();
    config.control = parse_field(new.control)?.unwrap_or_default();
    config.position = position(new.lat, new.lon)?;
    let camera = state.store.add_camera(&caller.visibility(), config).await?;
    tracing::info!(camera = %camera.id, "camera added");
    let note = camera_note(
        &camera,
        format!("name={:?} owner={}", camera.name, camera.owner_org),
    );
    // The camera is registered whatever the recorder says next: the entry must say so.
    let answer = match state.recorder.sync_camera(camera.id).await {
        Ok(()) => (StatusCode::CREATED, Json(view(&state, &caller, camera))).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    };
    Ok(note.attach(answer))
}

/// Show one camera with its status.
#[utoipa::path(get, path = "/api/cameras/{id}", tag = "cameras", params(("id" = i64, Path)),
    responses((status = 200, body = CameraView), (status = 404, description = "no such camera")))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Target(camera): Target,
) -> Json<CameraView> {
    Json(view(&state, &caller, camera))
}

/// Change a camera; its recording restarts with the new settings.
#[utoipa::path(patch, path = "/api/cameras/{id}", tag = "cameras", params(("id" = i64, Path)), request_body = CameraPatch,
    responses((status = 200, body = CameraView), (status = 400), (status = 403), (status = 404), (status = 409)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Target(current): Target,
    Json(patch): Json<CameraPatch>,
) -> Result<Response, ApiError> {
    let sensitivity = requested_sensitivity(
        &caller,
        current.sensitivity,
        patch.classification,
        patch.covert,
    )?;
    let update = CameraUpdate {
        name: patch.name,
        url: patch.url,
        username: patch.username.map(|u| Some(u).filter(|u| !u.is_empty())),
        password: patch.password.map(|p| Some(p).filter(|p| !p.is_empty())),
        transport: parse_field(patch.transport)?,
        enabled: patch.enabled,
        retention_days: patch.retention_days,
        owner_org: patch.owner,
        group: patch.group,
        sensitivity: Some(sensitivity),
        kind: parse_field(patch.kind)?,
        control: parse_field(patch.control)?,
        position: position(patch.lat, patch.lon)?.map(Some),
    };
    let camera = state
        .store
        .update_camera(&caller.visibility(), current.id, update)
        .await?;
    let note = camera_note(&camera, format!("name={:?}", camera.name));
    let answer = match state.recorder.sync_camera(camera.id).await {
        Ok(()) => Json(view(&state, &caller, camera)).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    };
    Ok(note.attach(answer))
}

/// Remove a camera and delete its recordings (refused while any is held as evidence).
#[utoipa::path(delete, path = "/api/cameras/{id}", tag = "cameras", params(("id" = i64, Path)),
    responses((status = 204), (status = 404), (status = 409, description = "recordings under hold")))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Target(camera): Target,
) -> Result<StatusCode, ApiError> {
    let id = camera.id;
    let visible = caller.visibility();
    let set_enabled = |enabled: bool| CameraUpdate {
        enabled: Some(enabled),
        ..Default::default()
    };
    // Stop recording first so no new segment appears while the rows go.
    state
        .store
        .update_camera(&visible, id, set_enabled(false))
        .await?;
    state.recorder.sync_camera(id).await?;
    if let Err(e) = state.store.remove_camera(&visible, id).await {
        state
            .store
            .update_camera(&visible, id, set_enabled(camera.enabled))
            .await?;
        state.recorder.sync_camera(id).await?;
        return Err(e.into());
    }
    state.store.collect_garbage().await?;
    state.recorder.sync_camera(id).await?;
    tracing::info!(camera = %id, "camera removed");
    Ok(StatusCode::NO_CONTENT)
}
