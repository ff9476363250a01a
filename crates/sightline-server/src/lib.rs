//! Sightline's HTTP server: the JSON API, exports, metrics and the OpenAPI description.
//!
//! Handlers are thin: they parse and validate input, call the store or the recorder,
//! and turn errors into clear HTTP answers (`error`). Routes are declared with
//! `utoipa-axum`, so `/api/openapi.json` is generated from the same code that serves
//! the requests and cannot drift from it. Users and access control arrive in a later
//! issue; every handler takes its inputs through extractors so a principal can be
//! added the same way.

pub mod api;
mod error;
mod metrics;

use std::net::SocketAddr;
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
}

#[derive(OpenApi)]
#[openapi(info(
    title = "Sightline API",
    description = "Cameras, recordings and evidence exports of a Sightline video management system."
))]
struct ApiDoc;

/// The application's routes and their OpenAPI description.
pub fn router(state: AppState) -> Router {
    let (router, spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api::routes())
        .merge(metrics::routes())
        .split_for_parts();
    let spec = Arc::new(spec);
    router
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let spec = spec.clone();
                async move { axum::Json(spec.as_ref().clone()) }
            }),
        )
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
