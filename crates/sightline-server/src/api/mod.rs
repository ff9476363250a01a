//! The JSON API under `/api`: the camera registry, recordings and exports, accounts,
//! tokens, grants and the audit trail.

mod audit;
mod cameras;
mod grants;
mod recordings;
mod tokens;
mod users;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{ApiError, AppState};

/// An optional field parsed with `FromStr`, or a 400 whose message says what was wrong
/// and with which value.
pub(crate) fn parse_field<T: std::str::FromStr>(
    value: Option<String>,
) -> Result<Option<T>, ApiError>
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

pub use audit::AuditEntryView;
pub use cameras::{CameraView, NewCamera, StatusView};
pub use grants::GrantView;
pub use recordings::{GapView, RecordingsView, SpanView};
pub use tokens::TokenView;
pub use users::UserView;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cameras::list, cameras::add))
        .routes(routes!(cameras::show, cameras::update, cameras::remove))
        .routes(routes!(recordings::recordings))
        .routes(routes!(recordings::export))
        .routes(routes!(audit::query))
        .routes(routes!(audit::export_csv))
        .routes(routes!(users::list_users, users::add_user))
        .routes(routes!(users::update_user))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(grants::list_grants, grants::put_grant))
        .routes(routes!(grants::remove_grant))
}
