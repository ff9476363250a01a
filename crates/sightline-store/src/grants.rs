//! Grants: a camera group shared with an organisation, with video rights and a PTZ
//! priority. Members of the org get them at their next request.

use serde::Serialize;
use sightline_core::access::validate_slug;
use sightline_core::{Grant, Rights, Timestamp};

use crate::{Store, StoreError};

/// A grant with its id.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StoredGrant {
    pub id: i64,
    #[serde(flatten)]
    pub grant: Grant,
}

impl Store {
    /// Grants made to an organisation.
    pub async fn grants_to(&self, org: &str) -> Result<Vec<Grant>, StoreError> {
        Ok(self
            .grants_where("org = ?", org.to_owned())
            .await?
            .into_iter()
            .map(|g| g.grant)
            .collect())
    }

    /// Every grant, by id.
    pub async fn grants(&self) -> Result<Vec<StoredGrant>, StoreError> {
        self.grants_where("1 = ?", 1).await
    }

    /// Grants matching one condition on one bound value, by id. (Every signed-in
    /// request loads its org's grants, so the filter belongs in SQL.)
    async fn grants_where<T>(
        &self,
        condition: &str,
        value: T,
    ) -> Result<Vec<StoredGrant>, StoreError>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send,
    {
        let sql = format!(
            "SELECT id, org, camera_group, rights, ptz_priority FROM grants WHERE {condition} ORDER BY id"
        );
        let rows: Vec<(i64, String, String, i64, i64)> = sqlx::query_as(&sql)
            .bind(value)
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
            .grants_where("id = ?", id)
            .await?
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("no grant with id {id}")))?;
        sqlx::query("DELETE FROM grants WHERE id = ?")
            .bind(id)
            .execute(&self.db)
            .await
            .map_err(|e| StoreError::db(format!("removing grant {id}"), e))?;
        Ok(grant)
    }
}
