//! Server settings: flags over `SIGHTLINE_*` environment variables (both through clap)
//! over a TOML file over defaults.
//!
//! Example `sightline.toml`:
//! ```toml
//! data = "/var/lib/sightline"
//! listen = "0.0.0.0:8080"
//! [auth]
//! session_idle_seconds = 1800
//! [recorder]
//! disk_quota_bytes = 2_000_000_000_000
//! segment_duration = 60
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use sightline_recorder::RecorderConfig;
use sightline_server::auth::AuthConfig;

/// The TOML file's shape.
#[derive(Deserialize, Default, Debug)]
#[serde(default, deny_unknown_fields)]
pub struct FileSettings {
    pub data: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub recorder: RecorderConfig,
    pub auth: AuthConfig,
    /// PEM certificate chain and key, to serve HTTPS.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// Settings in effect.
#[derive(Debug)]
pub struct Settings {
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub recorder: RecorderConfig,
    pub auth: AuthConfig,
    /// Certificate chain and key files when serving HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

pub const DEFAULT_DATA: &str = "./sightline-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Settings {
    /// Merges explicit values (flags or environment) over the file over defaults.
    pub fn resolve(
        config: Option<&Path>,
        data: Option<PathBuf>,
        listen: Option<SocketAddr>,
        disk_quota_bytes: Option<u64>,
    ) -> anyhow::Result<Settings> {
        let file = match config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<FileSettings>(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileSettings::default(),
        };
        let mut recorder = file.recorder;
        if disk_quota_bytes.is_some() {
            recorder.disk_quota_bytes = disk_quota_bytes;
        }
        Ok(Settings {
            data: data.or(file.data).unwrap_or_else(|| DEFAULT_DATA.into()),
            listen: listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default")),
            recorder,
            auth: file.auth,
            tls: match (file.tls_cert, file.tls_key) {
                (Some(cert), Some(key)) => Some((cert, key)),
                (None, None) => None,
                _ => anyhow::bail!("tls_cert and tls_key must be set together"),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beat_defaults() {
        let dir = std::env::temp_dir().join(format!("sightline-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.toml");
        std::fs::write(
            &path,
            "data = \"/srv/x\"\nlisten = \"0.0.0.0:9000\"\n[recorder]\nflush_interval = 0.5\n",
        )
        .unwrap();
        let s = Settings::resolve(
            Some(&path),
            None,
            Some("127.0.0.1:1".parse().unwrap()),
            Some(5),
        )
        .unwrap();
        assert_eq!(s.data, PathBuf::from("/srv/x"));
        assert_eq!(s.listen, "127.0.0.1:1".parse().unwrap());
        assert_eq!(
            s.recorder.flush_interval,
            std::time::Duration::from_millis(500)
        );
        assert_eq!(s.recorder.disk_quota_bytes, Some(5));
        let d = Settings::resolve(None, None, None, None).unwrap();
        assert_eq!(d.data, PathBuf::from(DEFAULT_DATA));
        std::fs::write(&path, "colour = 1\n").unwrap();
        let err = Settings::resolve(Some(&path), None, None, None).unwrap_err();
        assert!(format!("{err:#}").contains("colour"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
