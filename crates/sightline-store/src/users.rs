//! People and how they prove who they are: user accounts, browser sessions and API
//! tokens, and the [`Principal`] a request acts as.
//!
//! Passwords are checked on a blocking thread (Argon2id is deliberately slow), and an
//! unknown name is checked against a decoy hash so it costs the same as a wrong
//! password. Session cookies and API tokens are random 256-bit secrets of which only
//! the SHA-256 is stored: a copy of the database lets nobody sign in.

use std::time::Duration;

use serde::Serialize;
use sightline_core::access::validate_slug;
use sightline_core::{Classification, Clearance, Grant, Principal, Rights, Role, Timestamp};
use sqlx::Row;

use crate::credentials::{
    check_password_strength, decoy_hash, hash_password, new_secret, secret_digest, verify_password,
    TOKEN_PREFIX,
};
use crate::{Store, StoreError};

/// A user account as administrators see it (never the password hash).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub org: String,
    pub role: Role,
    pub clearance: Clearance,
    pub must_change_password: bool,
    pub disabled: bool,
    pub created: Timestamp,
    pub updated: Timestamp,
}

/// An account to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub name: String,
    pub org: String,
    pub role: Role,
    pub clearance: Clearance,
    pub password: String,
    /// The user must choose a new password before doing anything else.
    pub must_change_password: bool,
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UserUpdate {
    pub org: Option<String>,
    pub role: Option<Role>,
    pub clearance: Option<Clearance>,
    pub disabled: Option<bool>,
}

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

/// User names: 1 to 64 of letters, digits and `._@-`.
fn validate_user_name(name: &str) -> Result<(), StoreError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "user name {name:?} must be 1 to 64 characters of letters, digits and . _ @ -"
        )))
    }
}

const USER_COLUMNS: &str = "u.id, u.name, u.org, u.role, u.clearance, u.covert_cleared, \
     u.must_change_password, u.disabled, u.created_us, u.updated_us";

fn user_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<User, StoreError> {
    let role: String = row.get("role");
    let rank: i64 = row.get("clearance");
    Ok(User {
        id: row.get("id"),
        name: row.get("name"),
        org: row.get("org"),
        role: role
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("{e}")))?,
        clearance: Clearance {
            level: Classification::from_rank(rank)
                .ok_or_else(|| StoreError::Corrupt(format!("clearance rank {rank}")))?,
            covert: row.get("covert_cleared"),
        },
        must_change_password: row.get("must_change_password"),
        disabled: row.get("disabled"),
        created: Timestamp(row.get("created_us")),
        updated: Timestamp(row.get("updated_us")),
    })
}

impl Store {
    /// Runs a CPU- and memory-heavy password operation (Argon2id: 19 MiB each) off the
    /// async threads, at most one per core at a time, so a flood of sign-ins queues
    /// instead of exhausting memory.
    async fn password_work<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let _permit = self
            .password_work
            .acquire()
            .await
            .expect("the semaphore is never closed");
        tokio::task::spawn_blocking(f)
            .await
            .expect("password hashing does not panic")
    }
}

impl Store {
    /// Creates an account. The password must meet [`check_password_strength`].
    pub async fn add_user(&self, new: NewUser) -> Result<User, StoreError> {
        validate_user_name(&new.name)?;
        validate_slug("organisation", &new.org).map_err(|e| StoreError::Invalid(e.to_string()))?;
        check_password_strength(&new.password)?;
        let password = new.password.clone();
        let hash = self.password_work(move || hash_password(&password)).await?;
        let now = Timestamp::now().micros();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (name, org, role, clearance, covert_cleared, password_hash,
                                must_change_password, created_us, updated_us)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&new.name)
        .bind(&new.org)
        .bind(new.role.as_str())
        .bind(new.clearance.level.rank())
        .bind(new.clearance.covert)
        .bind(hash)
        .bind(new.must_change_password)
        .bind(now)
        .bind(now)
        .fetch_one(&self.db)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("a user named {:?} already exists", new.name))
            }
            _ => StoreError::db(format!("adding user {:?}", new.name), e),
        })?;
        self.user_by_id(id).await
    }

    /// How many accounts exist (to know whether to bootstrap the first one).
    pub async fn user_count(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.db)
            .await
            .map_err(|e| StoreError::db("counting users", e))
    }

    /// All accounts, by name.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.name"
        ))
        .fetch_all(&self.db)
        .await
        .map_err(|e| StoreError::db("listing users", e))?;
        rows.iter().map(user_from_row).collect()
    }

    /// One account by name.
    pub async fn user(&self, name: &str) -> Result<User, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.db)
        .await
        .map_err(|e| StoreError::db(format!("reading user {name:?}"), e))?
        .ok_or_else(|| StoreError::NotFound(format!("no user named {name:?}")))?;
        user_from_row(&row)
    }

    async fn user_by_id(&self, id: i64) -> Result<User, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?"
        ))
        .bind(id)
        .fetch_one(&self.db)
        .await
        .map_err(|e| StoreError::db(format!("reading user {id}"), e))?;
        user_from_row(&row)
    }

    /// Changes an account. Disabling it, or changing its role, org or clearance, ends
    /// its sessions so the change takes effect at once.
    pub async fn update_user(&self, name: &str, update: UserUpdate) -> Result<User, StoreError> {
        let current = self.user(name).await?;
        let org = update.org.unwrap_or(current.org.clone());
        validate_slug("organisation", &org).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let role = update.role.unwrap_or(current.role);
        let clearance = update.clearance.unwrap_or(current.clearance);
        let disabled = update.disabled.unwrap_or(current.disabled);
        sqlx::query(
            "UPDATE users SET org = ?, role = ?, clearance = ?, covert_cleared = ?, disabled = ?, updated_us = ?
             WHERE id = ?",
        )
        .bind(&org)
        .bind(role.as_str())
        .bind(clearance.level.rank())
        .bind(clearance.covert)
        .bind(disabled)
        .bind(Timestamp::now().micros())
        .bind(current.id)
        .execute(&self.db)
        .await
        .map_err(|e| StoreError::db(format!("updating user {name:?}"), e))?;
        let updated = self.user_by_id(current.id).await?;
        let narrowed = updated.disabled
            || updated.role != current.role
            || updated.org != current.org
            || updated.clearance != current.clearance;
        if narrowed {
            self.end_sessions_of(current.id, None).await?;
        }
        Ok(updated)
    }

    /// Sets a new password (checked for strength) and ends the user's other sessions.
    pub async fn set_password(
        &self,
        user_id: i64,
        password: &str,
        must_change: bool,
        keep_session: Option<i64>,
    ) -> Result<(), StoreError> {
        check_password_strength(password)?;
        let password = password.to_owned();
        let hash = self.password_work(move || hash_password(&password)).await?;
        sqlx::query(
            "UPDATE users SET password_hash = ?, must_change_password = ?, updated_us = ? WHERE id = ?",
        )
        .bind(hash)
        .bind(must_change)
        .bind(Timestamp::now().micros())
        .bind(user_id)
        .execute(&self.db)
        .await
        .map_err(|e| StoreError::db(format!("setting the password of user {user_id}"), e))?;
        self.end_sessions_of(user_id, keep_session).await
    }

    /// The account if `password` is right and the account enabled; `None` otherwise,
    /// taking the same time whether the name exists or not.
    pub async fn check_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<User>, StoreError> {
        let row: Option<(i64, String, bool)> =
            sqlx::query_as("SELECT id, password_hash, disabled FROM users WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.db)
                .await
                .map_err(|e| StoreError::db(format!("reading user {name:?}"), e))?;
        let hash = row
            .as_ref()
            .map_or_else(|| decoy_hash().to_owned(), |(_, h, _)| h.clone());
        let password = password.to_owned();
        let matches = self
            .password_work(move || verify_password(&hash, &password))
            .await;
        match row {
            Some((id, _, false)) if matches => Ok(Some(self.user_by_id(id).await?)),
            _ => Ok(None),
        }
    }

    /// The principal a user acts as: the account plus the grants to its org.
    pub async fn principal(&self, user: &User) -> Result<Principal, StoreError> {
        Ok(Principal {
            user_id: user.id,
            name: user.name.clone(),
            org: user.org.clone(),
            role: user.role,
            clearance: user.clearance,
            grants: self.grants_to(&user.org).await?,
        })
    }

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
        // Refresh at most every few seconds: one write per request would add nothing.
        let last_seen: i64 = row.get("last_seen_us");
        if now.micros() - last_seen > 5_000_000 {
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
            .tokens(None)
            .await?
            .into_iter()
            .find(|t| t.id == id)
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
        let rows = sqlx::query(
            "SELECT t.id, u.name, t.label, t.created_us, t.expires_us, t.last_used_us, t.revoked_us
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE ? IS NULL OR u.name = ? ORDER BY t.id",
        )
        .bind(user)
        .bind(user)
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
        let token = self.tokens(None).await?.into_iter().find(|t| t.id == id);
        match token {
            Some(t) if done.rows_affected() == 1 => Ok(t),
            Some(_) => Err(StoreError::Conflict(format!(
                "token {id} is already revoked"
            ))),
            None => Err(StoreError::NotFound(format!("no API token with id {id}"))),
        }
    }

    /// Grants made to an organisation.
    pub async fn grants_to(&self, org: &str) -> Result<Vec<Grant>, StoreError> {
        Ok(self
            .grants()
            .await?
            .into_iter()
            .filter(|g| g.grant.org == org)
            .map(|g| g.grant)
            .collect())
    }

    /// Every grant, by id.
    pub async fn grants(&self) -> Result<Vec<StoredGrant>, StoreError> {
        let rows: Vec<(i64, String, String, i64, i64)> = sqlx::query_as(
            "SELECT id, org, camera_group, rights, ptz_priority FROM grants ORDER BY id",
        )
        .fetch_all(&self.db)
        .await
        .map_err(|e| StoreError::db("listing grants", e))?;
        Ok(rows
            .into_iter()
            .map(|(id, org, camera_group, rights, ptz)| StoredGrant {
                id,
                grant: Grant {
                    org,
                    camera_group,
                    rights: Rights::from_bits(rights),
                    ptz_priority: ptz.clamp(0, 100) as u8,
                },
            })
            .collect())
    }

    /// Shares a camera group with an organisation, replacing an earlier grant of the
    /// same group to the same org. Takes effect at the members' next request.
    pub async fn put_grant(&self, grant: &Grant) -> Result<StoredGrant, StoreError> {
        validate_slug("organisation", &grant.org)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        validate_slug("camera group", &grant.camera_group)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        if grant.ptz_priority > 100 {
            return Err(StoreError::Invalid(format!(
                "PTZ priority {} is out of range (0 to 100)",
                grant.ptz_priority
            )));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO grants (org, camera_group, rights, ptz_priority, created_us) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (org, camera_group) DO UPDATE SET rights = excluded.rights, ptz_priority = excluded.ptz_priority
             RETURNING id",
        )
        .bind(&grant.org)
        .bind(&grant.camera_group)
        .bind(i64::from(grant.rights.bits()))
        .bind(i64::from(grant.ptz_priority))
        .bind(Timestamp::now().micros())
        .fetch_one(&self.db)
        .await
        .map_err(|e| StoreError::db("saving a grant", e))?;
        Ok(StoredGrant {
            id,
            grant: grant.clone(),
        })
    }

    /// Withdraws a grant; members of the org lose access at their next request.
    pub async fn remove_grant(&self, id: i64) -> Result<StoredGrant, StoreError> {
        let grant = self
            .grants()
            .await?
            .into_iter()
            .find(|g| g.id == id)
            .ok_or_else(|| StoreError::NotFound(format!("no grant with id {id}")))?;
        sqlx::query("DELETE FROM grants WHERE id = ?")
            .bind(id)
            .execute(&self.db)
            .await
            .map_err(|e| StoreError::db(format!("removing grant {id}"), e))?;
        Ok(grant)
    }
}

/// A grant with its id.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StoredGrant {
    pub id: i64,
    #[serde(flatten)]
    pub grant: Grant,
}
