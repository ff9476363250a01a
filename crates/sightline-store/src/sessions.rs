//! Browser sessions and API tokens: how a person or a script proves, request after
//! request, who they are.
//!
//! Session cookies and API tokens are random 256-bit secrets of which only the SHA-256
//! is stored: a copy of the database lets nobody sign in. Sessions end when idle, at
//! an absolute limit, on sign-out, or when an administrator ends them; tokens when
//! revoked or expired. Either stops working at once for a disabled account.

use std::time::Duration;

use serde::Serialize;
use sightline_core::Timestamp;
use sqlx::Row;

use crate::credentials::{new_secret, secret_digest, TOKEN_PREFIX};
use crate::users::{user_from_row, User, USER_COLUMNS};
use crate::{Store, StoreError};

/// A signed-in browser session.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: i64,
    pub user: User,
    /// Must accompany every state-changing request made with the session cookie.
    pub csrf_token: String,
    pub expires: Timestamp,
}

/// An API token's record (never the secret).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ApiToken {
    pub id: i64,
    pub user: String,
    pub label: String,
    pub created: Timestamp,
    pub expires: Option<Timestamp>,
    pub last_used: Option<Timestamp>,
    pub revoked: Option<Timestamp>,
}

impl Store {
    /// Opens a session for `user`; returns its secret (the cookie value) and record.
    pub async fn open_session(
        &self,
        user: &User,
        source: &str,
        lifetime: Duration,
    ) -> Result<(String, Session), StoreError> {
        let secret = new_secret("");
        let csrf_token = new_secret("");
        let now = Timestamp::now();
        let expires = now.add_micros(lifetime.as_micros() as i64);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sessions (token_sha256, user_id, csrf_token, source, created_us, last_seen_us, expires_us)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(secret_digest(&secret))
        .bind(user.id)
        .bind(&csrf_token)
        .bind(source)
        .bind(now.micros())
        .bind(now.micros())
        .bind(expires.micros())
        .fetch_one(&self.db)
        .await
        .map_err(|e| StoreError::db(format!("opening a session for {:?}", user.name), e))?;
        Ok((
            secret,
            Session {
                id,
                user: user.clone(),
                csrf_token,
                expires,
            },
        ))
    }

    /// The live session a cookie names: not revoked, not past its absolute expiry, and
    /// used within `idle`. Using it refreshes its idle clock.
    pub async fn session(
        &self,
        secret: &str,
        idle: Duration,
    ) -> Result<Option<Session>, StoreError> {
        let now = Timestamp::now();
        let idle_since = now.add_micros(-(idle.as_micros() as i64));
        let row = sqlx::query(&format!(
            "SELECT s.id AS session_id, s.csrf_token, s.expires_us, s.last_seen_us, {USER_COLUMNS}
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_sha256 = ? AND s.revoked_us IS NULL AND s.expires_us > ?
               AND s.last_seen_us > ? AND u.disabled = 0"
        ))
        .bind(secret_digest(secret))
        .bind(now.micros())
        .bind(idle_since.micros())
        .fetch_optional(&self.db)
        .await
        .map_err(|e| StoreError::db("reading a session", e))?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.get("session_id");
        // Refresh at most every few seconds (one write per request would add nothing),
        // and well within the idle limit however short it is set.
        let last_seen: i64 = row.get("last_seen_us");
        let refresh_after = (idle.as_micros() as i64 / 4).min(5_000_000);
        if now.micros() - last_seen > refresh_after {
            sqlx::query("UPDATE sessions SET last_seen_us = ? WHERE id = ?")
                .bind(now.micros())
                .bind(id)
                .execute(&self.db)
                .await
                .map_err(|e| StoreError::db(format!("refreshing session {id}"), e))?;
        }
        Ok(Some(Session {
            id,
            user: user_from_row(&row)?,
            csrf_token: row.get("csrf_token"),
            expires: Timestamp(row.get("expires_us")),
        }))
    }

    /// Ends one session (sign-out).
    pub async fn end_session(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET revoked_us = ? WHERE id = ? AND revoked_us IS NULL")
            .bind(Timestamp::now().micros())
            .bind(id)
            .execute(&self.db)
            .await
            .map_err(|e| StoreError::db(format!("ending session {id}"), e))?;
        Ok(())
    }

    /// Ends every session of a user but `keep`; returns how many ended.
    pub async fn end_sessions_of(&self, user_id: i64, keep: Option<i64>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET revoked_us = ? WHERE user_id = ? AND revoked_us IS NULL AND id IS NOT ?",
        )
        .bind(Timestamp::now().micros())
        .bind(user_id)
        .bind(keep)
        .execute(&self.db)
        .await
        .map_err(|e| StoreError::db(format!("ending the sessions of user {user_id}"), e))?;
        Ok(())
    }

    /// Creates an API token acting as `user`; returns its record and the secret, which
    /// is shown once and never stored.
    pub async fn create_token(
        &self,
        user: &User,
        label: &str,
        expires: Option<Timestamp>,
    ) -> Result<(ApiToken, String), StoreError> {
        let secret = new_secret(TOKEN_PREFIX);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (token_sha256, user_id, label, created_us, expires_us)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(secret_digest(&secret))
        .bind(user.id)
        .bind(label)
        .bind(Timestamp::now().micros())
        .bind(expires.map(Timestamp::micros))
        .fetch_one(&self.db)
        .await
        .map_err(|e| StoreError::db(format!("creating a token for {:?}", user.name), e))?;
        let token = self
            .token(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("token {id} vanished")))?;
        Ok((token, secret))
    }

    /// The user an API token acts for, if the token is live and the user enabled.
    pub async fn token_user(&self, secret: &str) -> Result<Option<User>, StoreError> {
        let now = Timestamp::now().micros();
        let row = sqlx::query(&format!(
            "SELECT t.id AS token_id, {USER_COLUMNS}
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_sha256 = ? AND t.revoked_us IS NULL
               AND (t.expires_us IS NULL OR t.expires_us > ?) AND u.disabled = 0"
        ))
        .bind(secret_digest(secret))
        .bind(now)
        .fetch_optional(&self.db)
        .await
        .map_err(|e| StoreError::db("reading an API token", e))?;
        let Some(row) = row else { return Ok(None) };
        sqlx::query("UPDATE api_tokens SET last_used_us = ? WHERE id = ?")
            .bind(now)
            .bind(row.get::<i64, _>("token_id"))
            .execute(&self.db)
            .await
            .map_err(|e| StoreError::db("recording an API token's use", e))?;
        Ok(Some(user_from_row(&row)?))
    }

    /// API tokens, all or one user's, by id.
    pub async fn tokens(&self, user: Option<&str>) -> Result<Vec<ApiToken>, StoreError> {
        self.tokens_matching(user, None).await
    }

    /// One API token's record.
    async fn token(&self, id: i64) -> Result<Option<ApiToken>, StoreError> {
        Ok(self.tokens_matching(None, Some(id)).await?.pop())
    }

    async fn tokens_matching(
        &self,
        user: Option<&str>,
        id: Option<i64>,
    ) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, u.name, t.label, t.created_us, t.expires_us, t.last_used_us, t.revoked_us
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE (? IS NULL OR u.name = ?) AND (? IS NULL OR t.id = ?) ORDER BY t.id",
        )
        .bind(user)
        .bind(user)
        .bind(id)
        .bind(id)
        .fetch_all(&self.db)
        .await
        .map_err(|e| StoreError::db("listing API tokens", e))?;
        Ok(rows
            .iter()
            .map(|r| ApiToken {
                id: r.get("id"),
                user: r.get("name"),
                label: r.get("label"),
                created: Timestamp(r.get("created_us")),
                expires: r.get::<Option<i64>, _>("expires_us").map(Timestamp),
                last_used: r.get::<Option<i64>, _>("last_used_us").map(Timestamp),
                revoked: r.get::<Option<i64>, _>("revoked_us").map(Timestamp),
            })
            .collect())
    }

    /// Revokes every live token of a user; returns how many.
    pub async fn revoke_tokens_of(&self, user_id: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_us = ? WHERE user_id = ? AND revoked_us IS NULL",
        )
        .bind(Timestamp::now().micros())
        .bind(user_id)
        .execute(&self.db)
        .await
        .map_err(|e| StoreError::db(format!("revoking the tokens of user {user_id}"), e))?;
        Ok(done.rows_affected())
    }

    /// Revokes a token at once; its next use is refused.
    pub async fn revoke_token(&self, id: i64) -> Result<ApiToken, StoreError> {
        let done =
            sqlx::query("UPDATE api_tokens SET revoked_us = ? WHERE id = ? AND revoked_us IS NULL")
                .bind(Timestamp::now().micros())
                .bind(id)
                .execute(&self.db)
                .await
                .map_err(|e| StoreError::db(format!("revoking token {id}"), e))?;
        let token = self.token(id).await?;
        match token {
            Some(t) if done.rows_affected() == 1 => Ok(t),
            Some(_) => Err(StoreError::Conflict(format!(
                "token {id} is already revoked"
            ))),
            None => Err(StoreError::NotFound(format!("no API token with id {id}"))),
        }
    }
}
