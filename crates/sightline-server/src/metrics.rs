//! `GET /metrics`: per-camera recording counters and storage use in the Prometheus
//! text exposition format, for administrators. Like every other answer it covers only
//! the cameras the caller may know of, storage totals included.
//!
//! The format is a handful of lines per metric, so it is written directly rather than
//! through a metrics registry: the numbers already live in the recorder's status
//! board, and scraping reads them without any extra bookkeeping on the hot path.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use sightline_core::CameraState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Caller;
use crate::{ApiError, AppState};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// A per-camera metric: name, type, help, and how to read it from the counters.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&sightline_recorder::CameraCounters) -> f64,
);

/// Escapes a label value (backslash, double quote, newline).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain; version=0.0.4", description = "Prometheus text format")))]
pub async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let cameras = state.store.cameras(&caller.visibility()).await?;
    let names: std::collections::HashMap<_, _> =
        cameras.iter().map(|c| (c.id, c.name.as_str())).collect();
    let counters = state.recorder.board().all_counters();
    let mut out = String::new();
    let families: [Family; 5] = [
        (
            "sightline_camera_frames_total",
            "counter",
            "Video frames received from the camera.",
            |c| c.frames as f64,
        ),
        (
            "sightline_camera_bytes_total",
            "counter",
            "Media bytes received from the camera (all tracks).",
            |c| c.bytes as f64,
        ),
        (
            "sightline_camera_reconnects_total",
            "counter",
            "Times recording resumed after the camera connection was lost.",
            |c| c.reconnects as f64,
        ),
        (
            "sightline_camera_gaps_total",
            "counter",
            "Recording runs that ended because of a failure, each leaving a gap.",
            |c| c.gaps as f64,
        ),
        (
            "sightline_camera_recording_lag_seconds",
            "gauge",
            "Time from a chunk's first frame arriving to its index row committing.",
            |c| c.lag_seconds,
        ),
    ];
    for (name, kind, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (id, c) in &counters {
            let Some(cam) = names.get(id) else { continue };
            let _ = writeln!(
                out,
                "{name}{{camera=\"{id}\",name=\"{}\"}} {}",
                label(cam),
                value(c)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP sightline_camera_recording Whether the camera is recording now (1) or not (0)."
    );
    let _ = writeln!(out, "# TYPE sightline_camera_recording gauge");
    for cam in &cameras {
        let up = state.recorder.status(cam.id).state == CameraState::Recording;
        let _ = writeln!(
            out,
            "sightline_camera_recording{{camera=\"{}\",name=\"{}\"}} {}",
            cam.id,
            label(&cam.name),
            u8::from(up)
        );
    }
    let stored = state.store.stored_bytes(&caller.visibility()).await?;
    let _ = writeln!(
        out,
        "# HELP sightline_storage_used_bytes Bytes of recorded media in the store."
    );
    let _ = writeln!(
        out,
        "# TYPE sightline_storage_used_bytes gauge\nsightline_storage_used_bytes {stored}"
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}
