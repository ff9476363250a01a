//! A small HTTP client for the CLI commands that talk to a running server.

use anyhow::{bail, Context};
use reqwest::{Method, Response};

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(server: &str) -> Client {
        Client {
            base: server.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Sends a request; a non-success answer becomes an error carrying the server's message.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<Response> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
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
            bail!("{method} {url}: {status}: {message}");
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
