//! Who is calling: session cookies (browsers, with CSRF protection), bearer tokens
//! (CLI and scripts), sign-in with a throttle on failures, and the session routes.
//!
//! A browser signs in with `POST /api/session`, which sets an HttpOnly, SameSite=Strict
//! cookie and returns a CSRF token; every state-changing request made with the cookie
//! must send that token in `X-CSRF-Token`. Scripts send `Authorization: Bearer <token>`
//! and need no CSRF token (a browser never adds that header by itself).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sightline_core::Principal;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{AuditNote, Caller, ClientAddr};
use crate::{ApiError, AppState};

/// The session cookie's name.
pub const COOKIE: &str = "sightline_session";
/// The header that must carry the session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Session and sign-in settings (`[auth]` in the settings file).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// A session unused for this many seconds ends.
    pub session_idle_seconds: u64,
    /// No session lasts longer than this many seconds (a twelve-hour shift by default).
    pub session_max_seconds: u64,
    /// Failed sign-ins per user name (and ten times as many per address) after which
    /// each further attempt must wait, doubling from one second. Also applies to
    /// guesses of the current password when changing it.
    pub free_login_failures: u32,
    /// The longest wait the throttle imposes, in seconds.
    pub max_login_delay_seconds: u64,
    /// Mark the session cookie `Secure` (set when serving TLS).
    pub secure_cookie: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_idle_seconds: 30 * 60,
            session_max_seconds: 12 * 3600,
            free_login_failures: 5,
            max_login_delay_seconds: 15 * 60,
            secure_cookie: false,
        }
    }
}

/// Recent sign-in failures, by user name and by client address. In memory: a restart
/// forgets them, which costs an attacker a restart they cannot cause.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    /// How long the caller must still wait, if any, before another attempt for `key`.
    fn wait(
        failures: &HashMap<String, (u32, Instant)>,
        key: &str,
        free: u32,
        max: Duration,
    ) -> Option<Duration> {
        let (count, last) = *failures.get(key)?;
        let over = count.checked_sub(free)?;
        let delay = Duration::from_secs(1u64 << over.min(20)).min(max);
        delay.checked_sub(last.elapsed()).filter(|d| !d.is_zero())
    }

    /// Reserves one attempt for every `(key, free failures)`: refused with the wait if any
    /// key is throttled; otherwise counted as a failure at once, until [`Self::succeeded`]
    /// says otherwise. Checking and counting under one lock means parallel attempts
    /// cannot all slip through the same opening.
    fn reserve(&self, keys: &[(&str, u32)], max: Duration) -> Result<(), Duration> {
        let mut failures = self.failures.lock().expect("throttle lock");
        // Forget failures old enough, so the map does not grow without bound. The
        // window outlasts the longest wait, so waiting it out never resets the count.
        let window = max * 2 + Duration::from_secs(60);
        failures.retain(|_, (_, last)| last.elapsed() < window);
        if let Some(wait) = keys
            .iter()
            .filter_map(|(key, free)| Self::wait(&failures, key, *free, max))
            .max()
        {
            return Err(wait);
        }
        for (key, _) in keys {
            let entry = failures
                .entry((*key).to_owned())
                .or_insert((0, Instant::now()));
            entry.0 += 1;
            entry.1 = Instant::now();
        }
        Ok(())
    }

    /// The attempt reserved for these keys succeeded: the user's count starts again, and
    /// the address gets back the attempt it was charged.
    fn succeeded(&self, user_key: &str, other_keys: &[&str]) {
        let mut failures = self.failures.lock().expect("throttle lock");
        failures.remove(user_key);
        for key in other_keys {
            if let Some(entry) = failures.get_mut(*key) {
                entry.0 = entry.0.saturating_sub(1);
            }
        }
    }
}

/// 429 with `Retry-After`.
fn throttled(wait: Duration) -> ApiError {
    let secs = wait.as_secs().max(1);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many failed attempts for this user or address; try again in {secs} s"),
    )
    .retry_after(secs)
}

/// The result of looking at a request's credentials.
pub enum Authenticated {
    No,
    Yes {
        principal: Principal,
        session: Option<SessionRef>,
        must_change_password: bool,
    },
}

/// The browser session a request came with.
#[derive(Clone, Debug)]
pub struct SessionRef {
    pub id: i64,
    pub csrf_token: String,
}

/// 401 with a pointer to how to sign in.
pub fn unauthenticated() -> Response {
    let mut r = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "sign in first: POST /api/session, or send Authorization: Bearer <token>",
    )
    .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"sightline\""),
    );
    r
}

/// The answer to credentials that failed: as given, plus an instruction to drop the
/// session cookie when one was sent (an ended session's cookie is useless, and the
/// browser cannot remove an HttpOnly cookie by itself).
pub fn refusal(error: ApiError, headers: &HeaderMap) -> Response {
    let mut r = error.into_response();
    if cookie_value(headers, COOKIE).is_some() && r.status() == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::SET_COOKIE, HeaderValue::from_static(CLEAR_COOKIE));
    }
    r
}

/// A Set-Cookie value that removes the session cookie.
const CLEAR_COOKIE: &str = "sightline_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0";

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Reads the bearer token or session cookie. Bad credentials are a 401; a cookie
/// request that changes state without the session's CSRF token is a 403.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Authenticated, ApiError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let (user, session) = if let Some(token) = bearer {
        let user = state.store.token_user(token.trim()).await?.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the API token is not valid: unknown, expired or revoked",
            )
        })?;
        (user, None)
    } else if let Some(secret) = cookie_value(headers, COOKIE) {
        let idle = Duration::from_secs(state.auth.session_idle_seconds);
        let session = state.store.session(secret, idle).await?.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the session has ended (signed out, expired or revoked); sign in again",
            )
        })?;
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let csrf_ok = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| constant_time_eq(v.as_bytes(), session.csrf_token.as_bytes()));
        if !safe && !csrf_ok {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this request changes state and needs the session's CSRF token in X-CSRF-Token",
            ));
        }
        let session_ref = SessionRef {
            id: session.id,
            csrf_token: session.csrf_token,
        };
        (session.user, Some(session_ref))
    } else {
        return Ok(Authenticated::No);
    };
    Ok(Authenticated::Yes {
        principal: state.store.principal(&user).await?,
        session,
        must_change_password: user.must_change_password,
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login, whoami, logout))
        .routes(routes!(change_password))
        .routes(routes!(health))
}

/// Sign-in credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// The signed-in principal and the session's CSRF token.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct SessionView {
    pub username: String,
    pub org: String,
    /// operator, supervisor, evidence-officer, disclosure-officer, auditor or administrator.
    pub role: String,
    /// OFFICIAL, OFFICIAL-SENSITIVE or SECRET.
    pub clearance: String,
    pub covert_cleared: bool,
    /// Nothing but choosing a new password is allowed until this is false.
    pub must_change_password: bool,
    /// Send in `X-CSRF-Token` with state-changing requests made with the cookie.
    pub csrf_token: Option<String>,
}

fn session_view(p: &Principal, must_change: bool, csrf: Option<String>) -> SessionView {
    SessionView {
        username: p.name.clone(),
        org: p.org.clone(),
        role: p.role.to_string(),
        clearance: p.clearance.level.to_string(),
        covert_cleared: p.clearance.covert,
        must_change_password: must_change,
        csrf_token: csrf,
    }
}

/// Sign in; sets the session cookie. Repeated failures are throttled (429).
#[utoipa::path(post, path = "/api/session", tag = "session", request_body = Credentials,
    responses((status = 200, body = SessionView), (status = 401, description = "wrong name or password"),
              (status = 429, description = "too many failures; retry after the delay")))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(source): ClientAddr,
    Json(creds): Json<Credentials>,
) -> Response {
    let note = AuditNote {
        actor: Some(creds.username.clone()),
        target: Some(format!("user:{}", creds.username)),
        ..Default::default()
    };
    let result = sign_in(&state, &creds, &source).await;
    note.attach(result.unwrap_or_else(IntoResponse::into_response))
}

async fn sign_in(
    state: &AppState,
    creds: &Credentials,
    source: &str,
) -> Result<Response, ApiError> {
    let cfg = &state.auth;
    let max = Duration::from_secs(cfg.max_login_delay_seconds);
    let name_key = format!("user:{}", creds.username);
    let addr_key = format!("addr:{source}");
    state
        .throttle
        .reserve(
            &[
                (&name_key, cfg.free_login_failures),
                (&addr_key, cfg.free_login_failures * 10),
            ],
            max,
        )
        .map_err(throttled)?;
    let Some(user) = state
        .store
        .check_password(&creds.username, &creds.password)
        .await?
    else {
        tracing::warn!(user = %creds.username, %source, "failed sign-in");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong user name or password",
        ));
    };
    state.throttle.succeeded(&name_key, &[&addr_key]);
    let lifetime = Duration::from_secs(cfg.session_max_seconds);
    let (secret, session) = state.store.open_session(&user, source, lifetime).await?;
    let principal = state.store.principal(&user).await?;
    let cookie = format!(
        "{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        lifetime.as_secs(),
        if cfg.secure_cookie { "; Secure" } else { "" }
    );
    let mut r = Json(session_view(
        &principal,
        user.must_change_password,
        Some(session.csrf_token),
    ))
    .into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("hex cookie"),
    );
    Ok(r)
}

/// The signed-in principal (and, for a browser session, its CSRF token).
#[utoipa::path(get, path = "/api/session", tag = "session", responses((status = 200, body = SessionView), (status = 401)))]
pub async fn whoami(caller: Caller) -> Result<Json<SessionView>, ApiError> {
    Ok(Json(session_view(
        &caller.principal,
        caller.must_change_password,
        caller.session.map(|s| s.csrf_token),
    )))
}

/// Sign out: ends this session and clears the cookie.
#[utoipa::path(delete, path = "/api/session", tag = "session", responses((status = 204), (status = 401)))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    if let Some(session) = &caller.session {
        state.store.end_session(session.id).await?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_static(CLEAR_COOKIE));
    Ok(r)
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 12 characters.
    pub new_password: String,
}

/// Choose a new password (required after the first sign-in with a one-time secret).
/// Ends every other session of the user.
#[utoipa::path(post, path = "/api/session/password", tag = "session", request_body = PasswordChange,
    responses((status = 204), (status = 400, description = "too weak, or the same"), (status = 403, description = "current password wrong")))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Json(change): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let p = &caller.principal;
    // Guessing the current password here is throttled like signing in.
    let name_key = format!("user:{}", p.name);
    let cfg = &state.auth;
    state
        .throttle
        .reserve(
            &[(&name_key, cfg.free_login_failures)],
            Duration::from_secs(cfg.max_login_delay_seconds),
        )
        .map_err(throttled)?;
    if state
        .store
        .check_password(&p.name, &change.current_password)
        .await?
        .is_none()
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the current password is wrong",
        ));
    }
    state.throttle.succeeded(&name_key, &[]);
    if change.new_password == change.current_password {
        return Err(ApiError::bad_request(
            "the new password must differ from the current one",
        ));
    }
    state
        .store
        .set_password(
            p.user_id,
            &change.new_password,
            false,
            caller.session.as_ref().map(|s| s.id),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Liveness: answers without authentication and reveals nothing.
#[utoipa::path(get, path = "/api/health", tag = "operations", responses((status = 200, description = "serving")))]
pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_doubles_after_the_free_failures_and_waiting_does_not_reset_it() {
        let t = LoginThrottle::default();
        let max = Duration::from_secs(900);
        let keys = [("u", 3), ("addr", 30)];
        for _ in 0..3 {
            assert_eq!(t.reserve(&keys, max), Ok(()), "three free attempts");
        }
        let w = t
            .reserve(&keys, max)
            .expect_err("throttled after three failures");
        assert!(
            w <= Duration::from_secs(1) && w > Duration::from_millis(500),
            "{w:?}"
        );
        // A failure after the wait doubles it; a success clears the user's count and
        // gives the address back its attempt.
        {
            let mut f = t.failures.lock().unwrap();
            f.get_mut("u").unwrap().1 -= Duration::from_secs(2);
        }
        assert_eq!(t.reserve(&keys, max), Ok(()));
        assert!(t.reserve(&keys, max).unwrap_err() > Duration::from_millis(1500));
        // At the longest wait, waiting it out does not forget the failures.
        {
            let mut f = t.failures.lock().unwrap();
            *f.get_mut("u").unwrap() = (40, Instant::now() - max - Duration::from_secs(1));
        }
        assert_eq!(t.reserve(&keys, max), Ok(()));
        assert!(t.reserve(&keys, max).unwrap_err() > max - Duration::from_secs(5));
        t.succeeded("u", &["addr"]);
        assert_eq!(t.failures.lock().unwrap().get("addr").map(|e| e.0), Some(4));
        assert_eq!(t.reserve(&keys, max), Ok(()));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sightline_session=abc; b=2"),
        );
        assert_eq!(cookie_value(&h, COOKIE), Some("abc"));
        assert_eq!(cookie_value(&h, "c"), None);
    }
}
