//! The gate every request passes: the route policy table, authentication, the access
//! decision, and the audit entry.
//!
//! [`ROUTES`] names, for each method and route, what it needs: nothing (sign-in,
//! health), any signed-in principal, a system [`Action`], or an action on the camera
//! named by the route's `{id}`. [`guard`] runs on every route (as a route layer): a
//! route missing from the table is refused (fail closed), and a test checks the table
//! against the OpenAPI description so a new route cannot be added without a policy.
//!
//! For camera routes the guard resolves the camera through the store's visibility
//! filter; a camera the principal may not know of gets exactly the response of an id
//! that never existed, after exactly the same work (one query, one audit entry).
//! Handlers receive the resolved camera as [`Target`] and the principal as [`Caller`],
//! so none of them can forget the rules.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sightline_core::{Action, CameraId, Decision, Principal, Sensitivity, Visibility};
use sightline_store::audit::{AuditRecord, Outcome};
use sightline_store::cameras::Camera;

use crate::auth::{self, Authenticated};
use crate::{ApiError, AppState};

/// What a route needs from the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in principal, even one who must change their password first.
    Session,
    /// Any signed-in principal.
    Any,
    /// A system action the principal's role must include.
    Do(Action),
    /// An action on the camera named by the route's `{id}`.
    Camera(Action),
}

/// One row of the policy table.
#[derive(Clone, Debug)]
pub struct RouteRule {
    pub method: Method,
    /// The route as declared, e.g. `/api/cameras/{id}`.
    pub path: &'static str,
    pub access: Access,
    /// The audit action name; empty for routes that are not audited (health only).
    pub audit: &'static str,
}

const fn rule(
    method: Method,
    path: &'static str,
    access: Access,
    audit: &'static str,
) -> RouteRule {
    RouteRule {
        method,
        path,
        access,
        audit,
    }
}

/// The policy table: every route Sightline serves, what it needs, how it is audited.
pub const ROUTES: &[RouteRule] = &[
    rule(Method::GET, "/api/health", Access::Public, ""),
    rule(
        Method::POST,
        "/api/session",
        Access::Public,
        "session.login",
    ),
    rule(Method::GET, "/api/session", Access::Session, "session.show"),
    rule(
        Method::DELETE,
        "/api/session",
        Access::Session,
        "session.logout",
    ),
    rule(
        Method::POST,
        "/api/session/password",
        Access::Session,
        "session.password",
    ),
    rule(
        Method::GET,
        "/api/openapi.json",
        Access::Any,
        "api.describe",
    ),
    rule(
        Method::GET,
        "/api/cameras",
        Access::Do(Action::ListCameras),
        "camera.list",
    ),
    rule(
        Method::POST,
        "/api/cameras",
        Access::Do(Action::AddCamera),
        "camera.add",
    ),
    rule(
        Method::GET,
        "/api/cameras/{id}",
        Access::Camera(Action::ShowCamera),
        "camera.show",
    ),
    rule(
        Method::PATCH,
        "/api/cameras/{id}",
        Access::Camera(Action::ConfigureCamera),
        "camera.update",
    ),
    rule(
        Method::DELETE,
        "/api/cameras/{id}",
        Access::Camera(Action::ConfigureCamera),
        "camera.remove",
    ),
    rule(
        Method::GET,
        "/api/cameras/{id}/recordings",
        Access::Camera(Action::PlayBack),
        "camera.recordings",
    ),
    rule(
        Method::GET,
        "/api/cameras/{id}/export.mp4",
        Access::Camera(Action::Export),
        "camera.export",
    ),
    rule(
        Method::GET,
        "/metrics",
        Access::Do(Action::ReadMetrics),
        "metrics.read",
    ),
    rule(
        Method::GET,
        "/api/audit",
        Access::Do(Action::ReadAudit),
        "audit.query",
    ),
    rule(
        Method::GET,
        "/api/audit.csv",
        Access::Do(Action::ReadAudit),
        "audit.export",
    ),
    rule(
        Method::GET,
        "/api/users",
        Access::Do(Action::ManageUsers),
        "user.list",
    ),
    rule(
        Method::POST,
        "/api/users",
        Access::Do(Action::ManageUsers),
        "user.add",
    ),
    rule(
        Method::PATCH,
        "/api/users/{name}",
        Access::Do(Action::ManageUsers),
        "user.update",
    ),
    rule(Method::GET, "/api/tokens", Access::Any, "token.list"),
    rule(Method::POST, "/api/tokens", Access::Any, "token.create"),
    rule(
        Method::DELETE,
        "/api/tokens/{id}",
        Access::Any,
        "token.revoke",
    ),
    rule(
        Method::GET,
        "/api/grants",
        Access::Do(Action::ManageGrants),
        "grant.list",
    ),
    rule(
        Method::POST,
        "/api/grants",
        Access::Do(Action::ManageGrants),
        "grant.put",
    ),
    rule(
        Method::DELETE,
        "/api/grants/{id}",
        Access::Do(Action::ManageGrants),
        "grant.remove",
    ),
];

/// The rule for a request, by method and declared route. HEAD follows GET's rule
/// (the router answers HEAD with the GET handler).
pub fn rule_for(method: &Method, path: &str) -> Option<&'static RouteRule> {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}

/// The signed-in principal, for handlers.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    /// The browser session, when signed in by cookie (not by API token).
    pub session: Option<auth::SessionRef>,
    pub must_change_password: bool,
    /// Client address.
    pub source: String,
}

impl Caller {
    pub fn visibility(&self) -> Visibility {
        self.principal.visibility()
    }
}

/// The client's address, for every request (sign-in needs it before there is a caller).
#[derive(Clone, Debug)]
pub struct ClientAddr(pub String);

/// The camera a camera route acts on, already checked against the policy.
#[derive(Clone, Debug)]
pub struct Target(pub Camera);

/// What a handler adds to its audit entry: a target the guard could not know (a new
/// camera's id, a user's name), a stricter label, and details.
#[derive(Clone, Debug, Default)]
pub struct AuditNote {
    pub actor: Option<String>,
    pub target: Option<String>,
    pub camera: Option<(CameraId, Sensitivity)>,
    /// A stricter label for the entry than its camera's (e.g. a user's clearance).
    pub label: Option<Sensitivity>,
    pub detail: Option<String>,
}

impl AuditNote {
    /// Attaches the note to a response.
    pub fn attach(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self);
        response
    }
}

fn from_extensions<T: Clone + Send + Sync + 'static>(parts: &Parts) -> Result<T, ApiError> {
    parts.extensions.get::<T>().cloned().ok_or_else(|| {
        tracing::error!(path = %parts.uri.path(), "handler reached without the access guard");
        ApiError::internal("request reached a handler without passing the access guard")
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        from_extensions(parts)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        from_extensions(parts)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Target {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        from_extensions(parts)
    }
}

/// The fixed answer for a camera that does not exist or may not be known of. It names
/// nothing from the request, so both cases are byte-identical.
pub fn no_such_camera() -> ApiError {
    ApiError::not_found("no such camera")
}

/// The route layer: authenticate, decide, run the handler, audit.
///
/// The work runs in its own task, so a client that disconnects cannot cancel it between
/// the action and its audit entry. If the entry cannot be written, the answer is a 500
/// and no data is served: nothing happens off the record.
pub async fn guard(
    State(state): State<AppState>,
    params: RawPathParams,
    req: Request,
    next: Next,
) -> Response {
    let task = tokio::spawn(guarded(state, params, req, next));
    task.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "request task failed");
        ApiError::internal("the request failed").into_response()
    })
}

async fn guarded(state: AppState, params: RawPathParams, mut req: Request, next: Next) -> Response {
    let source = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
    req.extensions_mut().insert(ClientAddr(source.clone()));
    let rule = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|m| rule_for(req.method(), m.as_str()));
    let Some(rule) = rule else {
        tracing::error!(method = %req.method(), path = %req.uri().path(), "route has no access policy");
        return ApiError::internal("this route has no access policy, so it is refused")
            .into_response();
    };
    let mut record = AuditRecord {
        actor: "anonymous".into(),
        source: source.clone(),
        action: rule.audit.into(),
        target: String::new(),
        camera: None,
        outcome: Outcome::Ok,
        detail: match req.uri().query() {
            Some(q) => format!("{} {}?{q}", req.method(), req.uri().path()),
            None => format!("{} {}", req.method(), req.uri().path()),
        },
        sensitivity: Sensitivity::default(),
    };
    let mut response = match admit(&state, rule, &params, &source, &mut req, &mut record).await {
        Ok(()) => next.run(req).await,
        Err(refusal) => refusal.into_response(),
    };
    if !rule.audit.is_empty() {
        finish_record(&mut record, &response);
        if let Err(e) = state.store.audit(&record).await {
            tracing::error!(error = %e, action = rule.audit, "could not write the audit entry");
            response = ApiError::internal(
                "the audit trail could not be written, so the answer is withheld",
            )
            .into_response();
        }
    }
    // Nothing behind the gate belongs in a shared or browser cache.
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Authenticates and applies the rule; on success the request carries [`Caller`] (and
/// [`Target`] for camera routes).
async fn admit(
    state: &AppState,
    rule: &RouteRule,
    params: &RawPathParams,
    source: &str,
    req: &mut Request,
    record: &mut AuditRecord,
) -> Result<(), Response> {
    let authenticated = match auth::authenticate(state, req.headers(), req.method()).await {
        Ok(a) => a,
        // A stale cookie or token must not stand in the way of signing in again.
        Err(_) if rule.access == Access::Public => Authenticated::No,
        Err(refusal) => return Err(auth::refusal(refusal, req.headers())),
    };
    let caller = match authenticated {
        Authenticated::Yes {
            principal,
            session,
            must_change_password,
        } => Caller {
            principal,
            session,
            must_change_password,
            source: source.to_owned(),
        },
        Authenticated::No if rule.access == Access::Public => return Ok(()),
        Authenticated::No => return Err(auth::unauthenticated()),
    };
    record.actor = caller.principal.name.clone();
    let result = decide(state, rule, params, &caller, record).await;
    req.extensions_mut().insert(caller);
    if let Some(camera) = result.map_err(IntoResponse::into_response)? {
        req.extensions_mut().insert(Target(camera));
    }
    Ok(())
}

/// The access decision for a signed-in caller; a camera route yields its camera.
async fn decide(
    state: &AppState,
    rule: &RouteRule,
    params: &RawPathParams,
    caller: &Caller,
    record: &mut AuditRecord,
) -> Result<Option<Camera>, ApiError> {
    let must_change = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "you must choose a new password first (POST /api/session/password)",
        )
    };
    let refuse = |d: Decision| match d {
        Decision::Allow => Ok(()),
        Decision::Forbidden(why) => Err(ApiError::new(StatusCode::FORBIDDEN, why)),
        Decision::Hidden => Err(no_such_camera()),
    };
    match rule.access {
        Access::Public | Access::Session => Ok(None),
        _ if caller.must_change_password => Err(must_change()),
        Access::Any => Ok(None),
        Access::Do(action) => refuse(caller.principal.decide(action)).map(|()| None),
        Access::Camera(action) => {
            let raw = params
                .iter()
                .find(|(k, _)| *k == "id")
                .map(|(_, v)| v)
                .unwrap_or_default();
            let id: i64 = raw
                .parse()
                .map_err(|_| ApiError::bad_request(format!("camera id {raw:?} is not a number")))?;
            record.target = format!("camera:{id}");
            record.camera = Some(CameraId(id));
            // One query whether the camera is missing or hidden.
            let camera = match state.store.camera(&caller.visibility(), CameraId(id)).await {
                Ok(c) => Some(c),
                Err(sightline_store::StoreError::NoSuchCamera(_)) => None,
                Err(e) => return Err(e.into()),
            };
            // Once the caller may know of the camera, the entry carries its label, whether
            // the action is then allowed or refused: a refusal names a real camera.
            if let Some(c) = &camera {
                record.sensitivity = c.sensitivity;
            }
            let label = camera.as_ref().map(Camera::label);
            refuse(caller.principal.decide_on(action, label.as_ref()))?;
            Ok(camera)
        }
    }
}

/// Completes the audit entry from the response: outcome, status and the handler's note.
fn finish_record(record: &mut AuditRecord, response: &Response) {
    let status = response.status();
    record.outcome = match status.as_u16() {
        200..=399 => Outcome::Ok,
        401 | 403 => Outcome::Denied,
        404 => Outcome::NotFound,
        429 => Outcome::Throttled,
        400..=499 => Outcome::Invalid,
        _ => Outcome::Failed,
    };
    record.detail = format!("{}; {}", record.detail, status.as_u16());
    if let Some(note) = response.extensions().get::<AuditNote>() {
        if let Some(actor) = &note.actor {
            record.actor.clone_from(actor);
        }
        if let Some(target) = &note.target {
            record.target.clone_from(target);
        }
        if let Some((id, _)) = note.camera {
            record.camera = Some(id);
            record.target = format!("camera:{id}");
        }
        // The stricter of the labels before and after the action.
        for label in note.camera.map(|(_, l)| l).into_iter().chain(note.label) {
            record.sensitivity = Sensitivity {
                classification: record.sensitivity.classification.max(label.classification),
                covert: record.sensitivity.covert || label.covert,
            };
        }
        if let Some(detail) = &note.detail {
            record.detail = format!("{}; {detail}", record.detail);
        }
    }
}

/// Adds to the OpenAPI description how to sign in (bearer token or session cookie) and,
/// for every route, who may call it, read from [`ROUTES`] so the two cannot disagree.
pub(crate) struct DescribeAccess;

impl utoipa::Modify for DescribeAccess {
    fn modify(&self, spec: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
        };
        let components = spec.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::COOKIE))),
        );
        let signed_in = vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("session", Vec::<String>::new()),
        ];
        spec.security = Some(signed_in);
        for rule in ROUTES {
            let Some(item) = spec.paths.paths.get_mut(rule.path) else {
                continue;
            };
            let operation = match rule.method {
                Method::GET => &mut item.get,
                Method::POST => &mut item.post,
                Method::PATCH => &mut item.patch,
                Method::DELETE => &mut item.delete,
                Method::PUT => &mut item.put,
                _ => continue,
            };
            let Some(operation) = operation.as_mut() else {
                continue;
            };
            if rule.access == Access::Public {
                operation.security = Some(vec![SecurityRequirement::default()]);
            }
            let who = describe(rule.access);
            operation.description = Some(match operation.description.take() {
                Some(d) => format!("{d}\n\nAccess: {who}"),
                None => format!("Access: {who}"),
            });
        }
    }
}

/// Who may call a route, in words.
fn describe(access: Access) -> String {
    let roles = |action: Action| {
        sightline_core::Role::ALL
            .iter()
            .filter(|r| r.allows(action))
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match access {
        Access::Public => "anyone, signed in or not.".into(),
        Access::Session => "any signed-in user, even one who must change their password.".into(),
        Access::Any => "any signed-in user.".into(),
        Access::Do(a) => format!("{} ({}).", roles(a), a.as_str()),
        Access::Camera(a) => format!(
            "{} ({}), on cameras their organisation owns or has been granted; a camera the \
             caller may not know of gets exactly the 404 of one that does not exist.",
            roles(a),
            a.as_str()
        ),
    }
}
