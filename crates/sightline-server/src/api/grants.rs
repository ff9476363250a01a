//! `/api/grants`: camera groups shared with other organisations, for administrators.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sightline_core::Grant;
use sightline_store::grants::StoredGrant;
use utoipa::ToSchema;

use crate::access::AuditNote;
use crate::{ApiError, AppState};

/// A share of a camera group with an organisation.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct GrantView {
    pub id: i64,
    pub org: String,
    pub camera_group: String,
    /// Comma-separated: live, playback, export, ptz.
    pub rights: String,
    pub ptz_priority: u8,
}

impl From<StoredGrant> for GrantView {
    fn from(g: StoredGrant) -> Self {
        GrantView {
            id: g.id,
            org: g.grant.org,
            camera_group: g.grant.camera_group,
            rights: g.grant.rights.to_string(),
            ptz_priority: g.grant.ptz_priority,
        }
    }
}

/// A grant to make (replaces an earlier one of the same group to the same org).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    pub org: String,
    pub camera_group: String,
    /// Comma-separated: live, playback, export, ptz.
    pub rights: String,
    /// 0 to 100; default 0.
    pub ptz_priority: Option<u8>,
}

/// List grants.
#[utoipa::path(get, path = "/api/grants", tag = "grants", responses((status = 200, body = Vec<GrantView>)))]
pub async fn list_grants(State(state): State<AppState>) -> Result<Json<Vec<GrantView>>, ApiError> {
    Ok(Json(
        state
            .store
            .grants()
            .await?
            .into_iter()
            .map(GrantView::from)
            .collect(),
    ))
}

/// Share a camera group with an organisation.
#[utoipa::path(post, path = "/api/grants", tag = "grants", request_body = NewGrant,
    responses((status = 201, body = GrantView), (status = 400)))]
pub async fn put_grant(
    State(state): State<AppState>,
    Json(new): Json<NewGrant>,
) -> Result<Response, ApiError> {
    let grant = Grant {
        org: new.org,
        camera_group: new.camera_group,
        rights: new
            .rights
            .parse()
            .map_err(|e: sightline_core::access::AccessError| {
                ApiError::bad_request(e.to_string())
            })?,
        ptz_priority: new.ptz_priority.unwrap_or(0),
    };
    let stored = state.store.put_grant(&grant).await?;
    let note = AuditNote {
        target: Some(format!("grant:{}", stored.id)),
        detail: Some(format!(
            "{} may {} on group {}",
            grant.org, grant.rights, grant.camera_group
        )),
        ..Default::default()
    };
    Ok(note.attach((StatusCode::CREATED, Json(GrantView::from(stored))).into_response()))
}

/// Withdraw a grant.
#[utoipa::path(delete, path = "/api/grants/{id}", tag = "grants", params(("id" = i64, Path)),
    responses((status = 200, body = GrantView), (status = 404)))]
pub async fn remove_grant(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let removed = state.store.remove_grant(id).await?;
    let note = AuditNote {
        target: Some(format!("grant:{id}")),
        ..Default::default()
    };
    Ok(note.attach(Json(GrantView::from(removed)).into_response()))
}
