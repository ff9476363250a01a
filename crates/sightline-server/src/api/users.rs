//! `/api/users`: accounts, for administrators.
//!
//! Nobody gives an account a clearance above their own, so an administrator who is not
//! cleared for covert capability cannot create someone who is; accounts cleared above
//! an administrator do not exist for them. Administrators manage neither auditors nor
//! their own account, so the people the audit trail watches do not control who reads it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sightline_core::{Classification, Clearance, Decision, Role, Sensitivity};
use sightline_store::users::{NewUser, User, UserUpdate};
use utoipa::ToSchema;

use super::parse_field;
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
        level: parse_field::<Classification>(new.clearance)?.unwrap_or_default(),
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
        level: parse_field::<Classification>(patch.clearance)?.unwrap_or(current.clearance.level),
        covert: patch.covert_cleared.unwrap_or(current.clearance.covert),
    };
    within_own_clearance(&caller, clearance)?;
    let role = parse_field::<Role>(patch.role)?;
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
