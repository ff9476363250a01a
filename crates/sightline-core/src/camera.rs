//! Cameras as the registry knows them: identity, how to reach them, and their live status.
//!
//! Validation lives here so the API, the CLI and bulk imports reject the same bad
//! input with the same message. Credentials never stay inside a URL: they are lifted
//! out into their own fields (which the store encrypts at rest) so that a URL can be
//! logged and shown without leaking a password.

use serde::{Deserialize, Serialize};

use sightline_geo::LatLon;

use crate::access::{validate_slug, CameraLabel, Sensitivity};
use crate::Timestamp;

/// A camera's identifier in the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CameraId(pub i64);

impl std::fmt::Display for CameraId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// How RTP travels from the camera: interleaved on the RTSP connection (default, works
/// through NAT and firewalls) or UDP (lower overhead on a LAN).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

impl std::str::FromStr for Transport {
    type Err = CameraError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tcp" => Ok(Transport::Tcp),
            "udp" => Ok(Transport::Udp),
            other => Err(CameraError::Transport(other.to_owned())),
        }
    }
}

/// Default maximum age of recordings: 31 days, the common UK public-space CCTV practice.
pub const DEFAULT_RETENTION_DAYS: u32 = 31;

/// What an administrator sets for a camera.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CameraConfig {
    pub name: String,
    /// RTSP URL without credentials.
    pub url: String,
    pub username: Option<String>,
    /// Plain text only in transit to the store, which encrypts it.
    #[serde(skip_serializing)]
    pub password: Option<String>,
    pub transport: Transport,
    pub enabled: bool,
    pub retention_days: u32,
    /// The organisation that owns the camera; its members have the role's rights on it.
    pub owner_org: String,
    /// The camera group grants refer to; defaults to the owner's slug.
    pub group: String,
    /// Classification and covert flag: who may know the camera exists.
    pub sensitivity: Sensitivity,
    /// What the camera physically is.
    pub kind: CameraKind,
    /// Who controls it.
    pub control: ControlClass,
    /// Where it is, if known.
    pub position: Option<LatLon>,
    /// The borough `position` lies in, derived by [`CameraConfig::validated`] from the
    /// embedded boundaries (`None` without a position or outside London). Never set by hand.
    pub borough: Option<String>,
}

/// The organisation cameras and users belong to when none is named.
pub const DEFAULT_ORG: &str = "force";

/// Names an enum's variants in both directions, for the API, the CLI and the database.
macro_rules! named {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $ty {
            type Err = CameraError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::ALL.iter().copied().find(|v| v.as_str() == s.trim()).ok_or_else(|| {
                    let names: Vec<&str> = $ty::ALL.iter().map(|v| v.as_str()).collect();
                    CameraError::Named { what: $what, value: s.to_owned(), allowed: names.join(", ") }
                })
            }
        }
    };
}

/// What a camera physically is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CameraKind {
    #[default]
    Static,
    Ptz,
    Deployable,
    BodyWorn,
}

named!(CameraKind, "kind", { Static => "static", Ptz => "ptz", Deployable => "deployable", BodyWorn => "body-worn" });

/// Who controls a camera: the force (owned), a partner council (view only), a
/// short-term deployment, or an officer (body-worn).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControlClass {
    #[default]
    Owned,
    Partner,
    Temporary,
    BodyWorn,
}

named!(ControlClass, "control class", { Owned => "owned", Partner => "partner", Temporary => "temporary", BodyWorn => "body-worn" });

/// Why a camera definition was rejected.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CameraError {
    #[error("camera name must be 1 to 64 printable characters, got {0:?}")]
    Name(String),
    #[error("camera URL {url:?} is not valid: {reason}")]
    Url { url: String, reason: String },
    #[error("transport {0:?} is not one of tcp, udp")]
    Transport(String),
    #[error("retention of {0} days is out of range (1 to 3650)")]
    Retention(u32),
    #[error(transparent)]
    Access(#[from] crate::access::AccessError),
    #[error("{what} {value:?} is not one of {allowed}")]
    Named {
        what: &'static str,
        value: String,
        allowed: String,
    },
    #[error("position {lat}, {lon} is not a latitude (-90 to 90) and longitude (-180 to 180)")]
    Position { lat: f64, lon: f64 },
}

impl CameraConfig {
    /// A camera with default settings: enabled, TCP, 31-day retention.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        CameraConfig {
            name: name.into(),
            url: url.into(),
            username: None,
            password: None,
            transport: Transport::Tcp,
            enabled: true,
            retention_days: DEFAULT_RETENTION_DAYS,
            owner_org: DEFAULT_ORG.to_owned(),
            group: String::new(),
            sensitivity: Sensitivity::default(),
            kind: CameraKind::default(),
            control: ControlClass::default(),
            position: None,
            borough: None,
        }
    }

    /// What access control needs to know about the camera.
    pub fn label(&self) -> CameraLabel {
        CameraLabel {
            owner_org: self.owner_org.clone(),
            group: self.group.clone(),
            sensitivity: self.sensitivity,
        }
    }

    /// Checks every field and lifts credentials out of the URL.
    pub fn validated(mut self) -> Result<Self, CameraError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(CameraError::Name(self.name));
        }
        self.name = name.to_owned();
        let bad = |reason: &str| CameraError::Url {
            url: redact(&self.url),
            reason: reason.to_owned(),
        };
        let mut url = url::Url::parse(self.url.trim()).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "rtsp" | "rtsps") {
            return Err(bad("the scheme must be rtsp or rtsps"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("it has no host"));
        }
        if !url.username().is_empty() {
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            self.username.get_or_insert_with(|| decode(url.username()));
            if let Some(p) = url.password() {
                self.password.get_or_insert_with(|| decode(p));
            }
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        self.url = url.to_string();
        if !(1..=3650).contains(&self.retention_days) {
            return Err(CameraError::Retention(self.retention_days));
        }
        validate_slug("owner organisation", &self.owner_org)?;
        if self.group.is_empty() {
            self.group = self.owner_org.clone();
        }
        validate_slug("camera group", &self.group)?;
        if let Some(p) = self.position {
            let finite = p.lat.is_finite() && p.lon.is_finite();
            if !finite || !(-90.0..=90.0).contains(&p.lat) || !(-180.0..=180.0).contains(&p.lon) {
                return Err(CameraError::Position {
                    lat: p.lat,
                    lon: p.lon,
                });
            }
        }
        self.borough = self
            .position
            .and_then(sightline_geo::boroughs::containing)
            .map(|b| b.name.clone());
        Ok(self)
    }
}

/// A URL with any password replaced, safe for errors and logs.
pub fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// What a camera's recorder task is doing now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Not recording because an administrator disabled it.
    Disabled,
    /// Opening the RTSP session.
    #[default]
    Connecting,
    /// Receiving and recording frames.
    Recording,
    /// The last attempt failed; waiting before the next one.
    Retrying,
    /// The camera's stream can never be recorded as configured (e.g. unsupported codec);
    /// it is retried slowly in case the camera is reconfigured.
    Failed,
}

/// Live status of one camera, kept in memory by the recorder.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CameraStatus {
    pub state: CameraState,
    pub last_frame_at: Option<Timestamp>,
    /// Video frames per second over the last few seconds.
    pub fps: f64,
    /// Bits per second of all tracks over the last few seconds.
    pub bitrate_bps: f64,
    pub last_error: Option<String>,
    /// Successful reconnections after the first connection.
    pub reconnects: u64,
    /// Video codec as received, e.g. `avc1.640028`.
    pub codec: Option<String>,
    pub has_audio: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_lifted_out_of_the_url() {
        let cam = CameraConfig::new("Gate", "rtsp://admin:s%40cret@10.0.0.5:554/live")
            .validated()
            .unwrap();
        assert_eq!(cam.url, "rtsp://10.0.0.5:554/live");
        assert_eq!(cam.username.as_deref(), Some("admin"));
        assert_eq!(cam.password.as_deref(), Some("s@cret"));
    }

    #[test]
    fn bad_urls_say_why_and_hide_passwords() {
        let err = CameraConfig::new("x", "http://a/b")
            .validated()
            .unwrap_err();
        assert!(err.to_string().contains("rtsp or rtsps"), "{err}");
        let err = CameraConfig::new("x", "not a url").validated().unwrap_err();
        assert!(err.to_string().contains("\"not a url\""), "{err}");
        assert_eq!(redact("rtsp://u:p@h/x"), "rtsp://u:***@h/x");
    }

    #[test]
    fn the_borough_follows_the_position() {
        let mut c = CameraConfig::new("Gate", "rtsp://h/");
        c.position = Some(LatLon {
            lat: 51.5080,
            lon: -0.1281,
        });
        assert_eq!(
            c.clone().validated().unwrap().borough.as_deref(),
            Some("Westminster")
        );
        c.position = Some(LatLon {
            lat: 50.8225,
            lon: -0.1372,
        });
        assert_eq!(
            c.clone().validated().unwrap().borough,
            None,
            "outside London"
        );
        c.position = Some(LatLon {
            lat: 91.0,
            lon: 0.0,
        });
        assert!(matches!(c.validated(), Err(CameraError::Position { .. })));
        assert_eq!("ptz".parse::<CameraKind>().unwrap(), CameraKind::Ptz);
        let e = "drone".parse::<CameraKind>().unwrap_err().to_string();
        assert!(e.contains("drone") && e.contains("body-worn"), "{e}");
    }

    #[test]
    fn names_and_retention_are_checked() {
        assert!(matches!(
            CameraConfig::new("  ", "rtsp://h/").validated(),
            Err(CameraError::Name(_))
        ));
        let mut c = CameraConfig::new("ok", "rtsp://h/");
        c.retention_days = 0;
        assert_eq!(c.validated(), Err(CameraError::Retention(0)));
    }
}
