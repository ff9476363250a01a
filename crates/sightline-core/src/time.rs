//! Wall-clock instants as microseconds since the Unix epoch.
//!
//! The index stores times as integers so that ordering and range queries are exact in
//! both SQLite and PostgreSQL; RFC 3339 is the only textual form at the edges (API,
//! CLI), so a user never has to guess a unit or a time zone.

use std::fmt;
use std::str::FromStr;

/// An instant, in microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// Why a timestamp could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("{input:?} is not an RFC 3339 time (for example 2026-11-25T14:03:00Z): {reason}")]
pub struct TimestampError {
    pub input: String,
    pub reason: String,
}

impl Timestamp {
    pub const MICROS_PER_SECOND: i64 = 1_000_000;

    /// The current wall-clock time.
    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(since.as_micros() as i64)
    }

    pub fn from_secs(secs: i64) -> Self {
        Timestamp(secs * Self::MICROS_PER_SECOND)
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    /// This instant moved by a signed number of microseconds.
    pub fn add_micros(self, delta: i64) -> Self {
        Timestamp(self.0.saturating_add(delta))
    }

    /// Converts a count of `timescale` ticks to microseconds, rounding to nearest.
    pub fn ticks_to_micros(ticks: i64, timescale: u32) -> i64 {
        let ts = i128::from(timescale);
        ((i128::from(ticks) * 1_000_000 + ts / 2).div_euclid(ts)) as i64
    }

    /// Converts microseconds to `timescale` ticks, rounding to nearest.
    pub fn micros_to_ticks(micros: i64, timescale: u32) -> i64 {
        ((i128::from(micros) * i128::from(timescale) + 500_000).div_euclid(1_000_000)) as i64
    }

    /// RFC 3339 in UTC with microsecond precision where needed.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => t
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| self.0.to_string()),
            Err(_) => self.0.to_string(),
        }
    }

    /// Seconds since 1904-01-01, the epoch of MP4 `mvhd`/`tkhd` creation times.
    pub fn mp4_seconds(self) -> u64 {
        const SECONDS_1904_TO_1970: i64 = 2_082_844_800;
        (self.0.div_euclid(Self::MICROS_PER_SECOND) + SECONDS_1904_TO_1970).max(0) as u64
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let parsed = time::OffsetDateTime::parse(
            input.trim(),
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|e| TimestampError {
            input: input.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Timestamp((parsed.unix_timestamp_nanos() / 1000) as i64))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_keeps_microseconds() {
        let t: Timestamp = "2026-11-25T14:03:00.123456Z".parse().unwrap();
        assert_eq!(t.0 % 1_000_000, 123_456);
        assert_eq!(t.to_rfc3339(), "2026-11-25T14:03:00.123456Z");
        let offset: Timestamp = "2026-11-25T15:03:00.123456+01:00".parse().unwrap();
        assert_eq!(offset, t);
    }

    #[test]
    fn bad_time_names_the_input() {
        let err = "yesterday".parse::<Timestamp>().unwrap_err();
        assert!(err.to_string().contains("\"yesterday\""), "{err}");
    }

    #[test]
    fn tick_conversions_round_to_nearest() {
        assert_eq!(Timestamp::ticks_to_micros(90_000, 90_000), 1_000_000);
        assert_eq!(Timestamp::ticks_to_micros(3, 90_000), 33);
        assert_eq!(Timestamp::micros_to_ticks(1_000_000, 48_000), 48_000);
        assert_eq!(Timestamp::micros_to_ticks(-1_000_000, 90_000), -90_000);
    }

    #[test]
    fn mp4_epoch_is_1904() {
        assert_eq!(Timestamp(0).mp4_seconds(), 2_082_844_800);
    }
}
