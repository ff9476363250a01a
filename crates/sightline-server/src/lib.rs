//! Sightline's HTTP server: the JSON API, exports, metrics and the OpenAPI description.
//!
//! Every route passes one gate (`access::guard`): it authenticates the caller
//! (`auth`), applies the route's entry in the policy table `access::ROUTES`, resolves
//! the camera a camera route names through the store's visibility filter, and writes
//! the audit entry. Handlers are thin: they receive the checked principal and camera,
//! call the store or the recorder, and turn errors into clear HTTP answers (`error`).
//! Routes are declared with `utoipa-axum`, so `/api/openapi.json` is generated from the
//! same code that serves the requests and cannot drift from it.

pub mod access;
pub mod api;
pub mod auth;
mod error;
mod metrics;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use sightline_recorder::Recorder;
use sightline_store::Store;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub recorder: Recorder,
    pub auth: Arc<auth::AuthConfig>,
    pub throttle: Arc<auth::LoginThrottle>,
}

impl AppState {
    pub fn new(store: Store, recorder: Recorder, auth: auth::AuthConfig) -> AppState {
        AppState {
            store,
            recorder,
            auth: Arc::new(auth),
            throttle: Default::default(),
        }
    }
}

#[derive(OpenApi)]
#[openapi(info(
    title = "Sightline API",
    description = "Cameras, recordings and evidence exports of a Sightline video management system."
))]
struct ApiDoc;

/// The OpenAPI description of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The routes, and their description completed with who may call each.
fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::routes())
        .merge(api::routes())
        .merge(metrics::routes())
        .split_for_parts();
    utoipa::Modify::modify(&access::DescribeAccess, &mut spec);
    (router, spec)
}

/// The application's routes, each behind the access guard.
pub fn router(state: AppState) -> Router {
    let (router, spec) = routes();
    let spec = Arc::new(spec);
    router
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let spec = spec.clone();
                async move { axum::Json(spec.as_ref().clone()) }
            }),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::guard,
        ))
        .with_state(state)
}

/// A loaded TLS certificate chain and private key.
pub type TlsConfig = axum_server::tls_rustls::RustlsConfig;

/// Loads a PEM certificate chain and private key for HTTPS.
pub async fn load_tls(cert: &Path, key: &Path) -> std::io::Result<TlsConfig> {
    TlsConfig::from_pem_file(cert, key).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "loading the TLS certificate {} and key {}: {e}",
                cert.display(),
                key.display()
            ),
        )
    })
}

/// Serves (over TLS when `tls` is given) until `shutdown` resolves, then finishes
/// in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    tls: Option<TlsConfig>,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let Some(tls) = tls else {
        return axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
    };
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    axum_server::from_tcp_rustls(listener.into_std()?, tls)?
        .handle(handle)
        .serve(app)
        .await
}
