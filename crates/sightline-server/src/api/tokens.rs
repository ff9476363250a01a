//! `/api/tokens`: API tokens for the CLI and scripts. Everyone manages their own;
//! administrators everyone's. The secret is shown once, at creation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sightline_core::{Action, Decision, Timestamp};
use sightline_store::sessions::ApiToken;
use utoipa::ToSchema;

use crate::access::{AuditNote, Caller};
use crate::{ApiError, AppState};

/// An API token's record.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct TokenView {
    pub id: i64,
    pub user: String,
    pub label: String,
    pub created: String,
    pub expires: Option<String>,
    pub last_used: Option<String>,
    pub revoked: Option<String>,
    /// The secret, shown once when the token is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

fn token_view(t: ApiToken, secret: Option<String>) -> TokenView {
    TokenView {
        id: t.id,
        user: t.user,
        label: t.label,
        created: t.created.to_rfc3339(),
        expires: t.expires.map(Timestamp::to_rfc3339),
        last_used: t.last_used.map(Timestamp::to_rfc3339),
        revoked: t.revoked.map(Timestamp::to_rfc3339),
        token: secret,
    }
}

/// A token to create for the signed-in user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for, e.g. `nightly export script`.
    pub label: String,
    /// Days until it expires; absent: until revoked.
    pub expires_days: Option<u32>,
}

/// Whether the caller manages everyone's tokens (administrators) or only their own.
fn sees_all_tokens(caller: &Caller) -> bool {
    caller.principal.decide(Action::ManageUsers) == Decision::Allow
}

/// Your API tokens (administrators: everyone's).
#[utoipa::path(get, path = "/api/tokens", tag = "users", responses((status = 200, body = Vec<TokenView>)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let user = (!sees_all_tokens(&caller)).then_some(caller.principal.name.as_str());
    Ok(Json(
        state
            .store
            .tokens(user)
            .await?
            .into_iter()
            .map(|t| token_view(t, None))
            .collect(),
    ))
}

/// Create an API token acting as you; the secret is in the answer and nowhere else.
#[utoipa::path(post, path = "/api/tokens", tag = "users", request_body = NewToken,
    responses((status = 201, body = TokenView), (status = 400)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Json(new): Json<NewToken>,
) -> Result<Response, ApiError> {
    let label = new.label.trim();
    if label.is_empty() || label.len() > 100 {
        return Err(ApiError::bad_request("label must be 1 to 100 characters"));
    }
    let expires = new
        .expires_days
        .map(|d| Timestamp::now().add_micros(i64::from(d) * 86_400 * 1_000_000));
    let user = state.store.user(&caller.principal.name).await?;
    let (token, secret) = state.store.create_token(&user, label, expires).await?;
    let note = AuditNote {
        target: Some(format!("token:{}", token.id)),
        detail: Some(format!("label={label:?}")),
        ..Default::default()
    };
    Ok(note.attach((StatusCode::CREATED, Json(token_view(token, Some(secret)))).into_response()))
}

/// Revoke an API token (your own; administrators: anyone's). Its next use is refused.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = TokenView), (status = 404), (status = 409)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let mine = state
        .store
        .tokens((!sees_all_tokens(&caller)).then_some(caller.principal.name.as_str()))
        .await?
        .into_iter()
        .any(|t| t.id == id);
    if !mine {
        return Err(ApiError::not_found(format!("no API token with id {id}")));
    }
    let token = state.store.revoke_token(id).await?;
    let note = AuditNote {
        target: Some(format!("token:{id}")),
        ..Default::default()
    };
    Ok(note.attach(Json(token_view(token, None)).into_response()))
}
