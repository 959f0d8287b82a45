//! The built-in OAuth 2.1 authorization server of Portcullis.
//!
//! What MCP clients need to log a user in to a Portcullis server with no external identity
//! provider (MCP specification 2026-07-28, "Authorization", and the RFCs it names):
//! - metadata: RFC 8414 and OpenID Connect Discovery documents, JWKS ([`metadata`]);
//! - clients: configured, operator-registered, Client ID Metadata Documents
//!   ([`metadata_document`]) and RFC 7591 dynamic registration ([`registration`]);
//! - authorization code with PKCE S256 only, login and consent pages, `iss` in every
//!   authorization response (RFC 9207), RFC 8707 resource indicators ([`authorize`]);
//! - the token endpoint: code exchange with replay detection, rotating refresh tokens with
//!   reuse detection, client credentials ([`token`]); RFC 7009 revocation and RFC 7662
//!   introspection ([`revocation`]).
//!
//! Access tokens are RFC 9068 JWTs signed by the [`keyring::KeyRing`]; each names its grant in
//! `sid` so revoking the grant revokes the token ([`revoked_grants`]).

pub mod authorize;
pub mod client;
pub mod client_registry;
pub mod client_rules;
pub mod config;
pub mod error;
pub mod federation;
pub mod keyring;
pub mod metadata;
pub mod metadata_document;
pub mod pages;
pub mod params;
pub mod password;
pub mod redirect_uri;
pub mod registration;
pub mod revocation;
pub mod revoked_grants;
pub mod scope;
pub mod sealed;
pub mod secret;
pub mod token;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    routing::{get, post},
};
use portcullis_auth::{JwtVerifier, KeySource, VerifierSettings};
use portcullis_core::oauth::OAuthStore;

pub use client::{Client, ClientKind};
pub use client_registry::ClientRegistry;
pub use config::{AuthorizationServerConfig, ConfiguredClient};
pub use error::{ErrorCode, OAuthError};
pub use keyring::KeyRing;
pub use password::Password;
pub use revoked_grants::RevokedGrants;
pub use secret::Secret;

/// The authorization server. Build it once, share it behind an `Arc`.
pub struct AuthorizationServer {
    pub(crate) config: AuthorizationServerConfig,
    pub(crate) store: OAuthStore,
    pub(crate) keys: Arc<KeyRing>,
    pub(crate) clients: ClientRegistry,
    pub(crate) revoked: Arc<RevokedGrants>,
    /// Verifies this server's own access tokens (revocation, introspection).
    pub(crate) verifier: JwtVerifier,
    /// The key of the CSRF tokens' MAC, shared by every replica through the database.
    pub(crate) csrf_key: portcullis_core::secret::Secret,
    /// The company identity providers users may sign in with.
    pub(crate) federation: federation::Federation,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServer {
    pub async fn new(
        config: AuthorizationServerConfig,
        store: OAuthStore,
        keys: Arc<KeyRing>,
    ) -> Result<Self, portcullis_core::StoreError> {
        let clients = ClientRegistry::new(
            config.clients.clone(),
            store.clone(),
            metadata_document::MetadataDocuments::new(
                config.development,
                config.redirect_schemes.clone(),
            ),
        );
        let revoked = Arc::new(RevokedGrants::default());
        revoked.reload(&store).await?;
        let settings = VerifierSettings {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            extra_audiences: config.resource_aliases.clone(),
            leeway: Duration::from_secs(0),
            algorithms: vec![jsonwebtoken::Algorithm::ES256],
            tenant_claim: "org_id".into(),
            min_key_refresh_interval: Duration::from_secs(1),
            // Its own keys, never fetched.
            jwks_fetches: Default::default(),
            // Off the request path (revocation and introspection requests).
            token_cache_size: 0,
        };
        let verifier = JwtVerifier::new(
            settings,
            &KeySource::Provider(keys.clone()),
            reqwest::Client::new(),
        )
        .await
        .map_err(|e| portcullis_core::StoreError::Database(Box::new(e)))?;
        let csrf_key =
            portcullis_core::secret::Secret::from_string(store.server_secret("csrf").await?);
        let federation = federation::Federation::new(config.identity_providers.clone());
        Ok(Self {
            federation,
            config,
            store,
            keys,
            clients,
            revoked,
            verifier,
            csrf_key,
        })
    }

    pub fn config(&self) -> &AuthorizationServerConfig {
        &self.config
    }

    /// The check a resource server trusting this issuer runs on every token.
    pub fn revocations(&self) -> Arc<RevokedGrants> {
        self.revoked.clone()
    }

    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.clone()
    }

    /// Polls for revocations made by other replicas and purges expired rows, until the
    /// returned task is dropped or aborted.
    pub fn spawn_maintenance(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let server = self.clone();
        tokio::spawn(async move {
            // Apart, so an identity provider that does not answer delays nothing else.
            let providers = server.clone();
            tokio::spawn(async move { providers.federation.warm_up().await });
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            let mut rounds: u64 = 0;
            loop {
                tick.tick().await;
                rounds += 1;
                if let Err(e) = server.revoked.sync(&server.store).await {
                    tracing::warn!(error = %e, "cannot read revocations; will retry");
                }
                // Every ten minutes: drop what can no longer be used.
                if rounds.is_multiple_of(300) {
                    match server
                        .store
                        .purge_expired(server.config.access_token_ttl)
                        .await
                    {
                        Ok(n) if n > 0 => {
                            tracing::debug!(rows = n, "purged expired authorization data")
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "purging expired authorization data failed")
                        }
                    }
                    // Answers kept for a refresh's grace window (at most 5 minutes).
                    let over = portcullis_core::timestamp::in_past(Duration::from_secs(600));
                    if let Err(e) = server.store.forget_replays(&over).await {
                        tracing::warn!(error = %e, "forgetting old refresh answers failed");
                    }
                    if let Err(e) = server.revoked.reload(&server.store).await {
                        tracing::warn!(error = %e, "cannot reload revocations");
                    }
                }
                // At start-up too: a replica that was down must not leave the cleanup waiting.
                if rounds == 1 || rounds.is_multiple_of(300) {
                    server.purge_abandoned().await;
                }
            }
        })
    }

    /// Deletes what unauthenticated callers can create and then abandon: dynamic clients that
    /// never completed a grant or have been idle past every refresh token's lifetime, and idle
    /// sign-in failure counters.
    pub async fn purge_abandoned(&self) {
        match self
            .store
            .purge_unused_dynamic_clients(
                self.config.unused_client_ttl,
                self.config.refresh_token_ttl + self.config.access_token_ttl,
            )
            .await
        {
            Ok(n) if n > 0 => tracing::info!(clients = n, "deleted unused dynamic clients"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "deleting unused dynamic clients failed"),
        }
        if let Err(e) = self
            .store
            .purge_login_attempts(Duration::from_secs(24 * 3600))
            .await
        {
            tracing::warn!(error = %e, "purging sign-in counters failed");
        }
    }

    /// Revokes a grant everywhere: in the database and, at once, in this process.
    pub(crate) async fn revoke_grant(
        &self,
        grant_id: &str,
        reason: &str,
    ) -> Result<(), OAuthError> {
        self.store.revoke_grant(grant_id, reason).await?;
        self.revoked.insert(grant_id);
        tracing::info!(grant = grant_id, reason, "grant revoked");
        Ok(())
    }

    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.config.issuer.trim_end_matches('/'))
    }

    /// RFC 8707: the resource a request names must be the one resource this server issues
    /// tokens for (scheme and host compared case-insensitively, a trailing slash ignored).
    pub(crate) fn check_resource(&self, requested: Option<&str>) -> Result<String, OAuthError> {
        let Some(requested) = requested else {
            return Ok(self.config.resource.clone());
        };
        let normal = |s: &str| {
            url::Url::parse(s)
                .ok()
                .filter(|u| u.fragment().is_none())
                .map(|u| {
                    let mut text = u.to_string();
                    if text.ends_with('/') {
                        text.pop();
                    }
                    text
                })
        };
        let requested_normal = normal(requested);
        if let Some(alias) = self
            .config
            .resource_aliases
            .iter()
            .find(|alias| requested_normal.is_some() && normal(alias) == requested_normal)
        {
            return Ok(alias.clone());
        }
        match (requested_normal, normal(&self.config.resource)) {
            (Some(a), Some(b)) if a == b => Ok(self.config.resource.clone()),
            _ => Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                format!(
                    "this server issues tokens only for the resource {}; got {requested:?}",
                    self.config.resource
                ),
            )),
        }
    }

    /// All routes of the authorization server (unauthenticated; each checks what it needs).
    pub fn router<S: Clone + Send + Sync + 'static>(self: Arc<Self>) -> Router<S> {
        let api = Router::new()
            .route("/token", post(token::handle))
            .route("/revoke", post(revocation::revoke))
            .route("/introspect", post(revocation::introspect))
            .route("/jwks.json", get(metadata::jwks));
        let api = if self.config.dynamic_registration {
            api.route("/register", post(registration::handle))
        } else {
            api
        };
        let api = metadata::routes(api, &self.config.issuer).layer(portcullis_auth::public_cors());
        // The authorization endpoint and its pages are for browsers navigating, never for
        // cross-origin scripts (OAuth 2.1 §3.1): no CORS there.
        let pages = Router::new()
            .route("/authorize", get(authorize::start))
            .route("/authorize/login", post(authorize::login))
            .route(
                "/authorize/consent",
                get(authorize::show_consent).post(authorize::decide),
            )
            .route("/authorize/federated", post(federation::start))
            .route(federation::CALLBACK_PATH, get(federation::callback));
        api.merge(pages)
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
            .with_state(self)
    }
}
