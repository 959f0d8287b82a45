//! Authorization requests between the client's redirect to `/authorize` and the user's
//! decision. Kept in the database (not in process memory) so the login and consent pages may
//! be served by different replicas.

use super::OAuthStore;
use crate::{
    StoreError,
    db::{Columns, Param},
    timestamp,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAuthorization {
    pub id: String,
    /// Hash of the CSRF cookie set in the browser that started the request.
    pub browser_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub resource: String,
    /// The logged-in account, once the login form has been passed.
    pub account_id: Option<String>,
    pub expires_at: String,
}

macro_rules! request_columns {
    () => {
        "id, browser_hash, client_id, redirect_uri, scope, state, code_challenge, resource, \
         account_id, expires_at"
    };
}

fn request_from_row(row: &dyn Columns) -> Result<PendingAuthorization, StoreError> {
    Ok(PendingAuthorization {
        id: row.text(0)?,
        browser_hash: row.text(1)?,
        client_id: row.text(2)?,
        redirect_uri: row.text(3)?,
        scope: row.text(4)?,
        state: row.opt_text(5)?,
        code_challenge: row.text(6)?,
        resource: row.text(7)?,
        account_id: row.opt_text(8)?,
        expires_at: row.text(9)?,
    })
}

impl OAuthStore {
    pub async fn insert_authorization_request(
        &self,
        request: &PendingAuthorization,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                concat!(
                    "INSERT INTO oauth_authorization_requests (",
                    request_columns!(),
                    ", created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ),
                &[
                    Param::Text(&request.id),
                    Param::Text(&request.browser_hash),
                    Param::Text(&request.client_id),
                    Param::Text(&request.redirect_uri),
                    Param::Text(&request.scope),
                    Param::OptText(request.state.as_deref()),
                    Param::Text(&request.code_challenge),
                    Param::Text(&request.resource),
                    Param::OptText(request.account_id.as_deref()),
                    Param::Text(&request.expires_at),
                    Param::Text(&timestamp::now()),
                ],
            )
            .await?;
        Ok(())
    }

    /// The request, if it exists and has not expired.
    pub async fn authorization_request(
        &self,
        id: &str,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        self.db
            .fetch_optional(
                concat!(
                    "SELECT ",
                    request_columns!(),
                    " FROM oauth_authorization_requests WHERE id = $1 AND expires_at > $2"
                ),
                &[Param::Text(id), Param::Text(&timestamp::now())],
                request_from_row,
            )
            .await
    }

    pub async fn set_request_account(&self, id: &str, account_id: &str) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE oauth_authorization_requests SET account_id = $1 WHERE id = $2",
                &[Param::Text(account_id), Param::Text(id)],
            )
            .await?;
        Ok(())
    }

    /// Ends the request; true for exactly one caller, so a double-submitted consent form
    /// issues one code.
    pub async fn finish_authorization_request(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .db
            .execute(
                "DELETE FROM oauth_authorization_requests WHERE id = $1",
                &[Param::Text(id)],
            )
            .await?
            > 0)
    }
}
