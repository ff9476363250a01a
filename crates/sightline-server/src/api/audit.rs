//! `/api/audit` and `/api/audit.csv`: the audit trail for auditors, by user, camera and
//! time, as JSON or CSV.
//!
//! An auditor sees only entries their clearance covers. Sequence numbers are shown only
//! to an auditor cleared for everything: a gap in them would reveal a hidden entry.
//! Filtering by a camera the auditor may not know of answers like a missing camera.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sightline_core::{CameraId, Clearance, Timestamp};
use sightline_store::audit::{AuditEntry, AuditQuery};
use utoipa::{IntoParams, ToSchema};

use crate::access::{no_such_camera, AuditNote, Caller};
use crate::{ApiError, AppState};

/// Filters; all optional.
#[derive(Deserialize, IntoParams, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    /// Only entries by this user.
    user: Option<String>,
    /// Only entries about this camera.
    camera: Option<i64>,
    /// From this time (RFC 3339), inclusive.
    from: Option<String>,
    /// Until this time (RFC 3339), exclusive.
    to: Option<String>,
    /// At most this many entries, newest first (default and cap 10000).
    limit: Option<u32>,
}

/// One audit entry.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct AuditEntryView {
    /// Position in the chain; shown only to auditors cleared for everything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    pub at: String,
    pub actor: String,
    pub source: String,
    pub action: String,
    pub target: String,
    /// ok, denied, not-found, invalid, failed or throttled.
    pub outcome: String,
    pub detail: String,
}

fn view(e: AuditEntry, show_seq: bool) -> AuditEntryView {
    AuditEntryView {
        seq: show_seq.then_some(e.seq),
        at: e.at.to_rfc3339(),
        actor: e.record.actor,
        source: e.record.source,
        action: e.record.action,
        target: e.record.target,
        outcome: e.record.outcome.as_str().to_owned(),
        detail: e.record.detail,
    }
}

/// The entries, and the audit note for this query: a query about a camera is labelled
/// like that camera, since its answer confirms the camera exists.
async fn entries(
    state: &AppState,
    caller: &Caller,
    filter: AuditFilter,
) -> Result<(Vec<AuditEntryView>, AuditNote), ApiError> {
    let visible = caller.visibility();
    let mut note = AuditNote::default();
    if let Some(id) = filter.camera {
        // The same lookup, and the same answer, for a missing and a hidden camera.
        let camera = state
            .store
            .camera(&visible, CameraId(id))
            .await
            .map_err(|_| no_such_camera())?;
        note.camera = Some((camera.id, camera.sensitivity));
    }
    let time = |name: &str, v: Option<String>| {
        v.map(|v| {
            v.parse::<Timestamp>()
                .map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
        })
        .transpose()
    };
    let query = AuditQuery {
        actor: filter.user,
        camera: filter.camera.map(CameraId),
        from: time("from", filter.from)?,
        to: time("to", filter.to)?,
        limit: filter.limit,
    };
    let show_seq = caller.principal.clearance == Clearance::FULL;
    let rows = state
        .store
        .audit_entries(&visible, &query)
        .await?
        .into_iter()
        .map(|e| view(e, show_seq))
        .collect();
    Ok((rows, note))
}

/// Audit entries, newest first.
#[utoipa::path(get, path = "/api/audit", tag = "audit", params(AuditFilter),
    responses((status = 200, body = Vec<AuditEntryView>), (status = 400), (status = 403), (status = 404, description = "no such camera")))]
pub async fn query(
    State(state): State<AppState>,
    caller: Caller,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, ApiError> {
    let (rows, note) = entries(&state, &caller, filter).await?;
    Ok(note.attach(Json(rows).into_response()))
}

/// Audit entries as CSV (RFC 4180), newest first.
#[utoipa::path(get, path = "/api/audit.csv", tag = "audit", params(AuditFilter),
    responses((status = 200, content_type = "text/csv", description = "one row per entry"), (status = 400), (status = 403), (status = 404)))]
pub async fn export_csv(
    State(state): State<AppState>,
    caller: Caller,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, ApiError> {
    let (rows, note) = entries(&state, &caller, filter).await?;
    let mut out = String::from("seq,at,actor,source,action,target,outcome,detail\r\n");
    for r in rows {
        let fields = [
            r.seq.map(|s| s.to_string()).unwrap_or_default(),
            r.at,
            r.actor,
            r.source,
            r.action,
            r.target,
            r.outcome,
            r.detail,
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    let mut response = out.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"sightline-audit.csv\""),
    );
    Ok(note.attach(response))
}

/// Quotes a CSV field when it needs it; a leading `=+-@` is prefixed with `'` so a
/// spreadsheet never runs an entry as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
