//! Recorder settings, with defaults that suit a single machine.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecorderConfig {
    /// Target length of a segment object; a new one starts at the first keyframe after.
    #[serde(with = "secs")]
    pub segment_duration: Duration,
    /// How often buffered samples are written, fsynced and indexed. This bounds what a
    /// crash can lose per camera.
    #[serde(with = "secs")]
    pub flush_interval: Duration,
    /// First reconnection delay.
    #[serde(with = "secs")]
    pub reconnect_min: Duration,
    /// Longest reconnection delay.
    #[serde(with = "secs")]
    pub reconnect_max: Duration,
    /// A session that delivers no frame for this long is treated as stalled and reconnected.
    #[serde(with = "secs")]
    pub stall_timeout: Duration,
    /// Global cap on stored media, in bytes; oldest recordings go first. `None`: no cap.
    pub disk_quota_bytes: Option<u64>,
    /// How often retention runs.
    #[serde(with = "secs")]
    pub retention_interval: Duration,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            segment_duration: Duration::from_secs(60),
            flush_interval: Duration::from_millis(500),
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(2),
            stall_timeout: Duration::from_secs(10),
            disk_quota_bytes: None,
            retention_interval: Duration::from_secs(60),
        }
    }
}

/// Durations as (fractional) seconds in configuration files.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}
