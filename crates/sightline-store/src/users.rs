//! User accounts, their passwords, and the [`Principal`] a request acts as.
//!
//! Passwords are checked on a blocking thread (Argon2id is deliberately slow), and an
//! unknown name is checked against a decoy hash so it costs the same as a wrong
//! password.

use serde::Serialize;
use sightline_core::access::validate_slug;
use sightline_core::{Classification, Clearance, Principal, Role, Timestamp};
use sqlx::Row;

use crate::credentials::{check_password_strength, decoy_hash, hash_password, verify_password};
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

pub(crate) const USER_COLUMNS: &str =
    "u.id, u.name, u.org, u.role, u.clearance, u.covert_cleared, \
     u.must_change_password, u.disabled, u.created_us, u.updated_us";

pub(crate) fn user_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<User, StoreError> {
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

    pub(crate) async fn user_by_id(&self, id: i64) -> Result<User, StoreError> {
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
}
