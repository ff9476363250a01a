//! `/api/users`, `/api/tokens` and `/api/grants`: accounts, API tokens and shares of
//! camera groups with other organisations.
//!
//! Nobody gives an account a clearance above their own, so an administrator who is not
//! cleared for covert capability cannot create someone who is.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sightline_core::{
    Action, Classification, Clearance, Decision, Grant, Role, Sensitivity, Timestamp,
};
use sightline_store::users::{ApiToken, NewUser, StoredGrant, User, UserUpdate};
use utoipa::ToSchema;

use crate::access::{AuditNote, Caller};
use crate::{ApiError, AppState};

/// An account as administrators see it.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct UserView {
    pub name: String,
    pub org: String,
    pub role: String,
    pub clearance: String,
    pub covert_cleared: bool,
    pub must_change_password: bool,
    pub disabled: bool,
    pub created: String,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            name: u.name,
            org: u.org,
            role: u.role.to_string(),
            clearance: u.clearance.level.to_string(),
            covert_cleared: u.clearance.covert,
            must_change_password: u.must_change_password,
            disabled: u.disabled,
            created: u.created.to_rfc3339(),
        }
    }
}

/// An account to create. The person must choose a new password at first sign-in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub name: String,
    /// Organisation slug; defaults to the administrator's own.
    pub org: Option<String>,
    pub role: String,
    /// Default OFFICIAL.
    pub clearance: Option<String>,
    pub covert_cleared: Option<bool>,
    /// A temporary password (at least 12 characters).
    pub password: String,
}

/// Changes to an account; absent fields stay as they are.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub org: Option<String>,
    pub role: Option<String>,
    pub clearance: Option<String>,
    pub covert_cleared: Option<bool>,
    pub disabled: Option<bool>,
    /// A temporary password; the person must change it at next sign-in.
    pub password: Option<String>,
    /// End every session of the account now.
    pub end_sessions: Option<bool>,
}

fn parse<T: std::str::FromStr>(value: Option<String>) -> Result<Option<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    value
        .map(|v| {
            v.parse()
                .map_err(|e: T::Err| ApiError::bad_request(e.to_string()))
        })
        .transpose()
}

/// Refuses a clearance above the administrator's own.
fn within_own_clearance(caller: &Caller, clearance: Clearance) -> Result<(), ApiError> {
    match caller.principal.may_label(&Sensitivity {
        classification: clearance.level,
        covert: clearance.covert,
    }) {
        Decision::Allow => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "you may not give a clearance above your own",
        )),
    }
}

/// List the accounts you may know of (none cleared above you).
#[utoipa::path(get, path = "/api/users", tag = "users", responses((status = 200, body = Vec<UserView>), (status = 403)))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(
        state
            .store
            .users()
            .await?
            .into_iter()
            .filter(|u| {
                caller.principal.may_label(&clearance_label(u.clearance)) == Decision::Allow
            })
            .map(UserView::from)
            .collect(),
    ))
}
/// Refuses to create or change an auditor account: auditors read the trail of what
/// administrators do, so those accounts are managed offline (`sightline user ...`) by
/// whoever holds the data directory, never by an administrator over the API.
fn not_an_auditor(role: Role) -> Result<(), ApiError> {
    if role == Role::Auditor {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "auditor accounts are managed offline with `sightline user`, not by administrators",
        ));
    }
    Ok(())
}

/// An account the caller may not know of (cleared above them) answers like a missing one.
async fn visible_user(state: &AppState, caller: &Caller, name: &str) -> Result<User, ApiError> {
    let missing = || ApiError::not_found(format!("no user named {name:?}"));
    let user = state.store.user(name).await.map_err(|_| missing())?;
    if caller.principal.may_label(&clearance_label(user.clearance)) != Decision::Allow {
        return Err(missing());
    }
    Ok(user)
}

/// A clearance as the label of what reveals it: an entry saying someone is cleared for
/// covert capability is itself only for those cleared for it.
fn clearance_label(c: Clearance) -> Sensitivity {
    Sensitivity {
        classification: c.level,
        covert: c.covert,
    }
}

/// The audit note for a change to an account, labelled with its clearance.
fn note_user(user: &User, detail: String) -> AuditNote {
    AuditNote {
        target: Some(format!("user:{}", user.name)),
        detail: Some(detail),
        label: Some(clearance_label(user.clearance)),
        ..Default::default()
    }
}

/// Create an account (not an auditor's: those are made offline).
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = NewUserRequest,
    responses((status = 201, body = UserView), (status = 400), (status = 403), (status = 409)))]
pub async fn add_user(
    State(state): State<AppState>,
    caller: Caller,
    Json(new): Json<NewUserRequest>,
) -> Result<Response, ApiError> {
    let clearance = Clearance {
        level: parse::<Classification>(new.clearance)?.unwrap_or_default(),
        covert: new.covert_cleared.unwrap_or(false),
    };
    within_own_clearance(&caller, clearance)?;
    let role: Role = new
        .role
        .parse()
        .map_err(|e: sightline_core::access::AccessError| ApiError::bad_request(e.to_string()))?;
    not_an_auditor(role)?;
    let user = state
        .store
        .add_user(NewUser {
            name: new.name,
            org: new.org.unwrap_or_else(|| caller.principal.org.clone()),
            role,
            clearance,
            password: new.password,
            must_change_password: true,
        })
        .await?;
    let note = note_user(
        &user,
        format!(
            "role={} org={} clearance={} covert={}",
            user.role, user.org, user.clearance.level, user.clearance.covert
        ),
    );
    Ok(note.attach((StatusCode::CREATED, Json(UserView::from(user))).into_response()))
}

/// Change an account: role, org, clearance, disable, reset the password, end sessions.
/// Disabling, a password reset and ending sessions also revoke the account's API tokens.
/// Not your own account (use `/api/session/password`), and not an auditor's.
#[utoipa::path(patch, path = "/api/users/{name}", tag = "users", params(("name" = String, Path)), request_body = UserPatch,
    responses((status = 200, body = UserView), (status = 400), (status = 403), (status = 404)))]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Json(patch): Json<UserPatch>,
) -> Result<Response, ApiError> {
    let current = visible_user(&state, &caller, &name).await?;
    if current.id == caller.principal.user_id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "administrators do not change their own account; ask another administrator",
        ));
    }
    not_an_auditor(current.role)?;
    // Everything is checked before anything is written, so a refusal changes nothing.
    let clearance = Clearance {
        level: parse::<Classification>(patch.clearance)?.unwrap_or(current.clearance.level),
        covert: patch.covert_cleared.unwrap_or(current.clearance.covert),
    };
    within_own_clearance(&caller, clearance)?;
    let role = parse::<Role>(patch.role)?;
    if let Some(r) = role {
        not_an_auditor(r)?;
    }
    if let Some(password) = &patch.password {
        sightline_store::credentials::check_password_strength(password)?;
    }
    let mut changes = vec![];
    if let Some(r) = role {
        changes.push(format!("role={r}"));
    }
    if let Some(o) = &patch.org {
        changes.push(format!("org={o}"));
    }
    if clearance != current.clearance {
        changes.push(format!(
            "clearance={} covert={}",
            clearance.level, clearance.covert
        ));
    }
    if let Some(d) = patch.disabled {
        changes.push(format!("disabled={d}"));
    }
    let revoke = patch.password.is_some()
        || patch.end_sessions == Some(true)
        || patch.disabled == Some(true);
    let update = UserUpdate {
        org: patch.org,
        role,
        clearance: Some(clearance),
        disabled: patch.disabled,
    };
    let user = state.store.update_user(&name, update).await?;
    if let Some(password) = patch.password {
        state
            .store
            .set_password(user.id, &password, true, None)
            .await?;
        changes.push("password reset".into());
    }
    if revoke {
        state.store.end_sessions_of(user.id, None).await?;
        let revoked = state.store.revoke_tokens_of(user.id).await?;
        changes.push(format!("sessions ended, {revoked} token(s) revoked"));
    }
    let user = state.store.user(&name).await?;
    let mut note = note_user(&user, changes.join(" "));
    // The stricter of the clearance before and after.
    note.label = Some(Sensitivity {
        classification: clearance.level.max(current.clearance.level),
        covert: clearance.covert || current.clearance.covert,
    });
    Ok(note.attach(Json(UserView::from(user)).into_response()))
}

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
