//! `/api/cameras/{id}/recordings` and `/api/cameras/{id}/export.mp4`.
//!
//! An export is planned from the index (`Store::plan_export`) and streamed part by
//! part from the segment objects (contiguous chunks merged, a piece read ahead of the
//! network), so memory use is bounded whatever the range. Single
//! HTTP ranges are honoured (players seek this way); the ETag is a digest of the
//! file's layout, so it changes exactly when the bytes would.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use headers::HeaderMapExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sightline_core::Timestamp;
use sightline_media::mp4::{Mp4Layout, Part};
use sightline_store::Store;
use utoipa::{IntoParams, ToSchema};

use crate::access::Target;
use crate::{ApiError, AppState};

/// Largest piece read from a stored object at once while streaming.
const READ_PIECE: u64 = 1 << 20;
/// Pieces read ahead of the one being sent.
const READ_AHEAD: usize = 2;

/// A time window, both ends RFC 3339.
#[derive(Deserialize, IntoParams, Debug)]
pub struct Window {
    /// Start, RFC 3339 (e.g. `2026-11-25T14:00:00Z`).
    from: String,
    /// End, RFC 3339; must be after `from`.
    to: String,
}

impl Window {
    fn parse(&self) -> Result<(Timestamp, Timestamp), ApiError> {
        let from: Timestamp = self
            .from
            .parse()
            .map_err(|e| ApiError::bad_request(format!("from: {e}")))?;
        let to: Timestamp = self
            .to
            .parse()
            .map_err(|e| ApiError::bad_request(format!("to: {e}")))?;
        if to <= from {
            return Err(ApiError::bad_request(format!(
                "to ({}) must be after from ({})",
                self.to, self.from
            )));
        }
        Ok((from, to))
    }
}

/// A span of continuous recording.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct SpanView {
    pub start: String,
    pub end: String,
    pub frames: i64,
    pub bytes: i64,
}

/// Time not recorded, with why the recording before it stopped.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct GapView {
    pub from: String,
    /// Absent while the camera is still not recording.
    pub to: Option<String>,
    pub reason: String,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct RecordingsView {
    pub camera: i64,
    pub spans: Vec<SpanView>,
    pub gaps: Vec<GapView>,
}

/// Recorded spans and gaps of a camera in a time window.
#[utoipa::path(get, path = "/api/cameras/{id}/recordings", tag = "recordings", params(("id" = i64, Path), Window),
    responses((status = 200, body = RecordingsView), (status = 400), (status = 404)))]
pub async fn recordings(
    State(state): State<AppState>,
    Target(target): Target,
    Query(window): Query<Window>,
) -> Result<Json<RecordingsView>, ApiError> {
    let (from, to) = window.parse()?;
    let camera = target.id;
    let id = camera.0;
    let r = state.store.recordings(camera, from, to).await?;
    Ok(Json(RecordingsView {
        camera: id,
        spans: r
            .spans
            .into_iter()
            .map(|s| SpanView {
                start: s.start.to_rfc3339(),
                end: s.end.to_rfc3339(),
                frames: s.frames,
                bytes: s.bytes,
            })
            .collect(),
        gaps: r
            .gaps
            .into_iter()
            .map(|g| GapView {
                from: g.from.to_rfc3339(),
                to: g.to.map(|t| t.to_rfc3339()),
                reason: g.reason,
            })
            .collect(),
    }))
}

/// An MP4 of a camera's recordings in a time window: starts at the keyframe before
/// `from`, with an edit list so playback begins at `from`. Supports single byte ranges.
#[utoipa::path(get, path = "/api/cameras/{id}/export.mp4", tag = "recordings", params(("id" = i64, Path), Window),
    responses((status = 200, content_type = "video/mp4", description = "the whole file"),
              (status = 206, content_type = "video/mp4", description = "the requested byte range"),
              (status = 304, description = "unchanged (If-None-Match)"),
              (status = 400), (status = 404, description = "no such camera or nothing recorded"), (status = 416)))]
pub async fn export(
    State(state): State<AppState>,
    Target(target): Target,
    Query(window): Query<Window>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (from, to) = window.parse()?;
    let camera = target.id;
    let id = camera.0;
    let plan = state.store.plan_export(camera, from, to).await?;
    let layout = plan.layout;
    let len = layout.len();
    let etag = format!("\"{}\"", etag(&layout));
    let mut out = HeaderMap::new();
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    out.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is a valid header"),
    );
    let filename = format!(
        "camera-{id}-{}.mp4",
        plan.start.to_rfc3339().replace(':', "")
    );
    out.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
            .expect("ascii filename"),
    );
    out.insert(
        "x-sightline-start",
        HeaderValue::from_str(&plan.start.to_rfc3339()).expect("ascii"),
    );
    out.insert(
        "x-sightline-end",
        HeaderValue::from_str(&plan.end.to_rfc3339()).expect("ascii"),
    );

    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.to_str().is_ok_and(|v| v == etag));
    let requested = if if_range_ok {
        headers.typed_get::<headers::Range>()
    } else {
        None
    };
    let (status, range) = match requested {
        None => (StatusCode::OK, 0..len),
        Some(r) => {
            let ranges: Vec<_> = r.satisfiable_ranges(len).collect();
            match ranges.as_slice() {
                [(start, end)] => {
                    let start = match start {
                        std::ops::Bound::Included(s) => *s,
                        std::ops::Bound::Excluded(s) => s + 1,
                        std::ops::Bound::Unbounded => 0,
                    };
                    let end = match end {
                        std::ops::Bound::Included(e) => e + 1,
                        std::ops::Bound::Excluded(e) => *e,
                        std::ops::Bound::Unbounded => len,
                    }
                    .min(len);
                    if start >= end {
                        out.insert(
                            header::CONTENT_RANGE,
                            HeaderValue::from_str(&format!("bytes */{len}")).unwrap(),
                        );
                        return Ok((StatusCode::RANGE_NOT_SATISFIABLE, out).into_response());
                    }
                    let cr = format!("bytes {start}-{}/{len}", end - 1);
                    out.insert(header::CONTENT_RANGE, HeaderValue::from_str(&cr).unwrap());
                    (StatusCode::PARTIAL_CONTENT, start..end)
                }
                [] => {
                    out.insert(
                        header::CONTENT_RANGE,
                        HeaderValue::from_str(&format!("bytes */{len}")).unwrap(),
                    );
                    return Ok((StatusCode::RANGE_NOT_SATISFIABLE, out).into_response());
                }
                // Several ranges: serving the whole file is allowed and simpler than multipart.
                _ => (StatusCode::OK, 0..len),
            }
        }
    };
    out.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(range.end - range.start),
    );
    let body = Body::from_stream(stream_parts(state.store.clone(), layout, range));
    Ok((status, out, body).into_response())
}

/// A digest of everything that determines the file's bytes.
fn etag(layout: &Mp4Layout) -> String {
    hex::encode(&Sha256::digest(layout.etag_material())[..16])
}

/// The bytes of `range`, read piece by piece from the stored objects.
fn stream_parts(
    store: Store,
    layout: Mp4Layout,
    range: std::ops::Range<u64>,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    let header = layout.header().clone();
    let pieces: Vec<Part> = coalesce(layout.parts(range))
        .into_iter()
        .flat_map(|p| match p {
            Part::Body(s) => (0..s.len.div_ceil(READ_PIECE))
                .map(|i| {
                    let offset = s.offset + i * READ_PIECE;
                    let len = READ_PIECE.min(s.offset + s.len - offset);
                    Part::Body(sightline_media::mp4::Slice {
                        object: s.object.clone(),
                        offset,
                        len,
                    })
                })
                .collect::<Vec<_>>(),
            header_part => vec![header_part],
        })
        .collect();
    // One piece is read ahead while the previous one is sent: the disk and the network
    // work at once, with a bounded number of pieces in memory.
    futures::stream::iter(pieces)
        .map(move |part| {
            let store = store.clone();
            let header = header.clone();
            async move {
                match part {
                    Part::Header(r) => Ok(header.slice(r)),
                    Part::Body(s) => {
                        let bytes = store
                            .media()
                            .read(&s.object, s.offset..s.offset + s.len)
                            .await
                            .map_err(std::io::Error::other)?;
                        if bytes.len() as u64 != s.len {
                            return Err(std::io::Error::other(format!(
                                "{} is shorter than its index says ({} of {} bytes at {})",
                                s.object,
                                bytes.len(),
                                s.len,
                                s.offset
                            )));
                        }
                        Ok(bytes)
                    }
                }
            }
        })
        .buffered(READ_AHEAD)
}

/// Merges body slices that continue each other in the same object (consecutive chunks
/// of a segment are stored back to back), so a long export reads large pieces instead
/// of one small read per half-second chunk.
fn coalesce(parts: Vec<Part>) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::with_capacity(parts.len());
    for part in parts {
        if let (Some(Part::Body(last)), Part::Body(next)) = (out.last_mut(), &part) {
            if last.object == next.object && last.offset + last.len == next.offset {
                last.len += next.len;
                continue;
            }
        }
        out.push(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use sightline_media::mp4::{Part, Slice};

    use super::coalesce;

    fn body(object: &str, offset: u64, len: u64) -> Part {
        Part::Body(Slice {
            object: object.into(),
            offset,
            len,
        })
    }

    #[test]
    fn adjacent_slices_of_one_object_merge_and_nothing_else_does() {
        let parts = vec![
            Part::Header(0..10),
            body("a", 0, 5),
            body("a", 5, 7),
            body("a", 20, 1),
            body("b", 21, 1),
            Part::Header(10..12),
            body("b", 22, 3),
        ];
        assert_eq!(
            coalesce(parts),
            vec![
                Part::Header(0..10),
                body("a", 0, 12),
                body("a", 20, 1),
                body("b", 21, 1),
                Part::Header(10..12),
                body("b", 22, 3),
            ]
        );
    }
}
