//! The JSON API under `/api`: the camera registry, recordings and exports.

mod cameras;
mod recordings;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub use cameras::{CameraView, NewCamera, StatusView};
pub use recordings::{GapView, RecordingsView, SpanView};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cameras::list, cameras::add))
        .routes(routes!(cameras::show, cameras::update, cameras::remove))
        .routes(routes!(recordings::recordings))
        .routes(routes!(recordings::export))
}
