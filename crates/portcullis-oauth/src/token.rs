//! The token endpoint (OAuth 2.1 §3.2, §4): authorization code (PKCE S256), refresh token
//! (rotated on every use, reuse revokes the family), client credentials.
//!
//! Single use is enforced by one conditional `UPDATE` per secret, so concurrent redemptions on
//! different replicas cannot both succeed; a second redemption of a code, or reuse of a rotated
//! refresh token, revokes the grant with every token issued from it (RFC 9700 §4.2.4, §4.14).

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use portcullis_auth::signing::MintRequest;
use portcullis_core::{
    oauth::{Grant, RefreshToken},
    timestamp,
};
use serde::{Deserialize, Serialize};

use crate::{
    AuthorizationServer, Client, ErrorCode, OAuthError,
    client::{AUTHORIZATION_CODE, CLIENT_CREDENTIALS, REFRESH_TOKEN},
    params::Params,
    scope::Scopes,
    sealed::SealingKey,
    secret::{self, Secret},
};

/// How long a refresh that lost the race for a rotation waits for the winner's answer.
const REPLAY_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// A refresh answer as remembered for its grace window: when its access token expires rather
/// than how long it had left, so a repeated answer says how long it has now.
#[derive(Serialize, Deserialize)]
struct Remembered {
    tokens: TokenResponse,
    expires_at: u64,
}

impl Remembered {
    fn of(tokens: &TokenResponse) -> Self {
        Self {
            tokens: tokens.clone(),
            expires_at: unix_now() + tokens.expires_in,
        }
    }

    fn answer(self) -> TokenResponse {
        TokenResponse {
            expires_in: self.expires_at.saturating_sub(unix_now()),
            ..self.tokens
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// `POST /token`.
pub async fn handle(
    State(server): State<Arc<AuthorizationServer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match server.token(&headers, &body).await {
        Ok(tokens) => {
            let mut response = Json(tokens).into_response();
            let h = response.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(e) => {
            // Only the error code: descriptions echo what the client sent (a grant_type value,
            // a parameter name), and a confused client may have put a secret there.
            tracing::info!(error = e.code.as_str(), "token request refused");
            e.into_response()
        }
    }
}

impl AuthorizationServer {
    async fn token(&self, headers: &HeaderMap, body: &[u8]) -> Result<TokenResponse, OAuthError> {
        let params = Params::parse(body)?;
        let grant_type = params.require("grant_type")?.to_owned();
        if ![AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS].contains(&grant_type.as_str()) {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!(
                    "grant_type {grant_type:?} is not supported; use authorization_code, refresh_token or client_credentials"
                ),
            ));
        }
        let client = self.clients.authenticate(headers, &params).await?;
        if !client.allows_grant(&grant_type) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!("this client is not registered for the {grant_type} grant"),
            ));
        }
        match grant_type.as_str() {
            AUTHORIZATION_CODE => self.exchange_code(&client, &params).await,
            REFRESH_TOKEN => self.refresh(&client, &params).await,
            _ => self.client_credentials(&client, &params).await,
        }
    }

    async fn exchange_code(
        &self,
        client: &Client,
        params: &Params,
    ) -> Result<TokenResponse, OAuthError> {
        let code = params.require("code")?;
        let verifier = params.get("code_verifier").ok_or_else(|| {
            OAuthError::invalid_request("code_verifier is required (PKCE): send the verifier whose S256 challenge was sent to /authorize")
        })?;
        if !secret::is_valid_verifier(verifier) {
            return Err(OAuthError::invalid_request(
                "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
            ));
        }
        let code_hash = secret::digest(code);
        let stored = self
            .store
            .code(&code_hash)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the authorization code is not valid"))?;
        if stored.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        if params
            .get("redirect_uri")
            .is_some_and(|uri| uri != stored.redirect_uri)
        {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the one the code was issued for",
            ));
        }
        let resource = self.check_resource(params.get("resource"))?;
        if resource != stored.resource {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "resource differs from the one authorized",
            ));
        }
        if !secret::pkce_matches(verifier, &stored.code_challenge) {
            // Burn the code: a wrong verifier must not get another try.
            self.store.consume_code(&code_hash).await?;
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        // A correct second redemption means the code leaked: revoke what it issued.
        if stored.used_at.is_some() || !self.store.consume_code(&code_hash).await? {
            let expired = stored.used_at.is_none() && stored.expires_at <= timestamp::now();
            if expired {
                return Err(OAuthError::invalid_grant(
                    "the authorization code has expired; authorize again",
                ));
            }
            self.revoke_grant(&stored.grant_id, "authorization code replayed")
                .await?;
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used; the tokens issued from it have been revoked",
            ));
        }
        let now = timestamp::now();
        let grant = Grant {
            id: stored.grant_id,
            client_id: client.id.clone(),
            subject: stored.subject,
            scope: stored.scope,
            resource: stored.resource,
            tenant: stored.tenant,
            created_at: now,
            expires_at: timestamp::in_future(self.config.grant_ttl),
            revoked_at: None,
        };
        self.store.insert_grant(&grant).await?;
        self.mark_used(client).await?;
        let refresh = client.allows_grant(REFRESH_TOKEN);
        self.issue(&grant, &grant.scope, refresh).await
    }

    async fn refresh(&self, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
        let presented = params.require("refresh_token")?;
        let hash = secret::digest(presented);
        let invalid = || OAuthError::invalid_grant("the refresh token is not valid");
        let token = self.store.refresh_token(&hash).await?.ok_or_else(invalid)?;
        let grant = self
            .store
            .grant(&token.grant_id)
            .await?
            .ok_or_else(invalid)?;
        if grant.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        if grant.revoked_at.is_some() {
            return Err(OAuthError::invalid_grant(
                "the refresh token has been revoked; authorize again",
            ));
        }
        let now = timestamp::now();
        if grant.expires_at <= now {
            return Err(OAuthError::invalid_grant(
                "the authorization has expired; authorize again",
            ));
        }
        let scope = Scopes::narrow(&grant.scope, params.get("scope"))?;
        let resource = self.check_resource(params.get("resource"))?;
        if resource != grant.resource {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "resource differs from the one authorized",
            ));
        }
        if token.used_at.is_some() || !self.store.consume_refresh_token(&hash).await? {
            if token.used_at.is_none() && token.expires_at <= now {
                return Err(OAuthError::invalid_grant(
                    "the refresh token has expired; authorize again",
                ));
            }
            if let Some(answer) = self.replayed_answer(&hash, presented).await? {
                tracing::info!(client = %client.id, grant = %grant.id, "refresh token presented again within the grace window; same answer");
                return Ok(answer);
            }
            self.revoke_grant(&grant.id, "refresh token reused").await?;
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; every token of this authorization has been revoked",
            ));
        }
        self.mark_used(client).await?;
        let answer = self.issue(&grant, &scope, true).await?;
        if !self.config.refresh_reuse_grace.is_zero() {
            let successor = answer.refresh_token.as_deref().map(secret::digest);
            let sealed = SealingKey::for_refresh_token(presented).seal(
                &hash,
                &serde_json::to_vec(&Remembered::of(&answer)).expect("an answer serializes"),
            );
            // Without the record a retry revokes the grant (strict rotation): safe, only less
            // forgiving, so the answer still goes out.
            if let Err(e) = self
                .store
                .record_successor(&hash, successor.as_deref().unwrap_or_default(), &sealed)
                .await
            {
                tracing::warn!(error = %e, "cannot remember a refresh answer for its grace window");
            }
        }
        Ok(answer)
    }

    /// The answer the rotation of `hash` gave, for a client presenting the same token again
    /// within the grace window, and only while that answer's refresh token is unused: once
    /// the client has moved on, the old token coming back is a replay. A rotation racing on
    /// another replica may not have recorded its answer yet: wait for it a little.
    async fn replayed_answer(
        &self,
        hash: &str,
        presented: &str,
    ) -> Result<Option<TokenResponse>, OAuthError> {
        let grace = self.config.refresh_reuse_grace;
        if grace.is_zero() {
            return Ok(None);
        }
        let deadline = tokio::time::Instant::now() + REPLAY_WAIT;
        loop {
            let Some(token) = self.store.refresh_token(hash).await? else {
                return Ok(None);
            };
            let Some(used_at) = token.used_at else {
                return Ok(None);
            };
            if used_at <= timestamp::in_past(grace) {
                return Ok(None);
            }
            if let (Some(successor), Some(sealed)) = (&token.successor_hash, &token.replay) {
                let unused = self
                    .store
                    .refresh_token(successor)
                    .await?
                    .is_some_and(|next| next.used_at.is_none());
                if !unused {
                    return Ok(None);
                }
                return Ok(SealingKey::for_refresh_token(presented)
                    .open(hash, sealed)
                    .and_then(|bytes| serde_json::from_slice::<Remembered>(&bytes).ok())
                    .map(Remembered::answer));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    async fn client_credentials(
        &self,
        client: &Client,
        params: &Params,
    ) -> Result<TokenResponse, OAuthError> {
        // A token without a user is only for a client the operator vetted: anyone can
        // register a client, and a self-registered one must never get a token by itself.
        if !client.kind.is_operator_registered() || !client.is_confidential() {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "client_credentials is only for confidential clients an operator registered (portcullis client add --confidential --scopes …, or [[clients]] in the configuration file)",
            ));
        }
        // Only what the operator granted; an empty grant is no scope, not every scope.
        if client.allowed_scopes.is_empty() {
            return Err(OAuthError::invalid_scope(
                "this client has been granted no scopes for client_credentials; an operator grants them with --scopes (or scopes in [[clients]])",
            ));
        }
        let scopes = Scopes::negotiate(
            params.get("scope"),
            &self.config.scopes_supported,
            &client.allowed_scopes,
        )?;
        let resource = self.check_resource(params.get("resource"))?;
        let grant = Grant {
            id: uuid::Uuid::now_v7().hyphenated().to_string(),
            client_id: client.id.clone(),
            // RFC 9068 §2.2: with no resource owner, the subject is the client.
            subject: client.id.clone(),
            scope: scopes.as_string(),
            resource,
            tenant: None,
            created_at: timestamp::now(),
            expires_at: timestamp::in_future(self.config.access_token_ttl),
            revoked_at: None,
        };
        self.store.insert_grant(&grant).await?;
        self.issue(&grant, &grant.scope, false).await
    }

    /// Records the client's last use (`client list`, expiry of idle dynamic clients); only
    /// stored clients have a row to record it in.
    async fn mark_used(&self, client: &Client) -> Result<(), OAuthError> {
        if matches!(
            client.kind,
            crate::ClientKind::Dynamic | crate::ClientKind::Registered
        ) {
            self.store.mark_client_used(&client.id).await?;
        }
        Ok(())
    }

    /// Signs an access token for the grant and, when asked, a new refresh token.
    async fn issue(
        &self,
        grant: &Grant,
        scope: &str,
        with_refresh: bool,
    ) -> Result<TokenResponse, OAuthError> {
        let ttl = self.config.access_token_ttl;
        // A grant for the resource under one of its other (loopback) names is for that name.
        let audience = if grant.resource == self.config.resource {
            &self.config.audience
        } else {
            &grant.resource
        };
        let access_token = self
            .keys
            .signer()
            .mint(&MintRequest {
                issuer: &self.config.issuer,
                audience,
                subject: &grant.subject,
                client_id: &grant.client_id,
                scope,
                tenant: grant.tenant.as_deref(),
                grant_id: Some(&grant.id),
                ttl,
            })
            .map_err(|e| OAuthError::server_error(&e))?;
        let refresh_token = if with_refresh {
            let secret = Secret::generate("pcr_");
            // Idle expiry, but never beyond the grant's own lifetime.
            let idle = timestamp::in_future(self.config.refresh_token_ttl);
            let expires_at = if idle < grant.expires_at {
                idle
            } else {
                grant.expires_at.clone()
            };
            self.store
                .insert_refresh_token(&RefreshToken {
                    token_hash: secret.digest(),
                    grant_id: grant.id.clone(),
                    expires_at,
                    used_at: None,
                    successor_hash: None,
                    replay: None,
                })
                .await?;
            Some(secret.expose().to_owned())
        } else {
            None
        };
        // Public identifiers only: the grant id is the tokens' `sid` claim, not a credential.
        tracing::info!(client = %grant.client_id, grant = %grant.id, scope, "tokens issued");
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: ttl.as_secs(),
            scope: scope.to_owned(),
            refresh_token,
        })
    }
}
