//! A small HTTP client for the CLI commands that talk to a running server, signed in
//! with an API token (`--token` or `SIGHTLINE_TOKEN`).

use anyhow::{bail, Context};
use reqwest::{Method, Response};

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Where the server is and how to sign in to it; flattened into every client command.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArg {
    /// The Sightline server.
    #[arg(long, env = "SIGHTLINE_SERVER", default_value = DEFAULT_SERVER, global = true)]
    pub server: String,
    /// API token (create one with `sightline token create`).
    #[arg(long, env = "SIGHTLINE_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Also trust this PEM CA certificate (for a server with a private or self-signed one).
    #[arg(long, env = "SIGHTLINE_CA_CERT", global = true)]
    pub ca_cert: Option<std::path::PathBuf>,
}

impl ServerArg {
    pub fn client(&self) -> anyhow::Result<Client> {
        let mut http = reqwest::Client::builder();
        if let Some(path) = &self.ca_cert {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading the CA certificate {}", path.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", path.display()))?;
            http = http.add_root_certificate(cert);
        }
        Ok(Client {
            base: self.server.trim_end_matches('/').to_owned(),
            token: self.token.clone(),
            http: http.build().context("setting up the HTTP client")?,
        })
    }
}

pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// Sends a request; a non-success answer becomes an error carrying the server's message.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<Response> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {url}: is `sightline serve` running there?"))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or(text);
            let hint = if status == reqwest::StatusCode::UNAUTHORIZED && self.token.is_none() {
                " (pass --token or set SIGHTLINE_TOKEN)"
            } else {
                ""
            };
            bail!("{method} {url}: {status}: {message}{hint}");
        }
        Ok(resp)
    }

    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<T> {
        let resp = self.send(method, path, body).await?;
        resp.json()
            .await
            .with_context(|| format!("reading the answer to {path}"))
    }
}
