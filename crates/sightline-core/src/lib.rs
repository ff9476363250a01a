//! Domain types and policy for Sightline, with no I/O.
//!
//! Everything here is pure: the access policy (roles, clearance, grants and the
//! never-confirm-nor-deny rule), camera definitions and their validation, wall-clock
//! timestamps, and the retention decision (which stored segments to delete given
//! ages, a disk quota and evidential holds). Keeping policy free of I/O means it is
//! unit-tested directly and every crate above applies the same rules.

pub mod access;
pub mod camera;
pub mod retention;
pub mod time;

pub use access::{
    Action, CameraLabel, Classification, Clearance, Decision, Grant, Principal, Rights, Role,
    Sensitivity, Visibility,
};
pub use camera::{
    CameraConfig, CameraError, CameraId, CameraKind, CameraState, CameraStatus, ControlClass,
    Transport,
};
pub use time::{Timestamp, TimestampError};
