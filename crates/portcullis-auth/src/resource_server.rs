//! The resource server: a verifier plus what it tells clients (metadata URL, scopes).

use std::{sync::Arc, time::Duration};

use jsonwebtoken::Algorithm;

use crate::{
    AuthError, Challenge, JwtVerifier, KeySource, Principal, ProtectedResourceMetadata, TokenError,
    VerifierSettings, keys::KeyError, verifier::ALLOWED_ALGORITHMS,
};

/// Configuration of a [`ResourceServer`]. `new` fills the defaults the MCP specification and
/// this crate's README describe; adjust the public fields as needed.
#[derive(Debug, Clone)]
pub struct ResourceServerConfig {
    /// The protected resource's URL, e.g. `https://api.example.com/mcp` (RFC 9728 `resource`).
    pub resource: url::Url,
    /// The issuer whose tokens are accepted (RFC 9728 `authorization_servers`).
    pub issuer: String,
    pub keys: KeySource,
    /// Required `aud`; defaults to `resource` exactly as written.
    pub audience: Option<String>,
    pub leeway: Duration,
    pub algorithms: Vec<Algorithm>,
    /// Scopes this resource understands (RFC 9728 `scopes_supported`), also sent in the
    /// `scope` of a 401 challenge so clients ask for them up front.
    pub scopes_supported: Vec<String>,
    pub tenant_claim: String,
    pub min_key_refresh_interval: Duration,
    pub resource_name: Option<String>,
    /// Consulted after a token verifies, for issuers that can revoke JWTs before they expire.
    pub revocation: Option<Arc<dyn RevocationCheck>>,
    /// Also answer as the same resource under the other loopback names (for a server whose
    /// public URL was derived from a loopback bind, not configured).
    pub loopback_aliases: bool,
    /// Where JWKS fetches are counted (by default, nowhere anyone scrapes).
    pub jwks_fetches: portcullis_metrics::JwksFetches,
    /// Verified tokens remembered ([`crate::DEFAULT_TOKEN_CACHE_SIZE`] unless set); `0`
    /// verifies the signature of every request.
    pub token_cache_size: usize,
}

/// Tells whether a verified token has been revoked (RFC 7009) by its issuer. Called on every
/// request, so implementations answer from memory.
pub trait RevocationCheck: Send + Sync + std::fmt::Debug {
    fn is_revoked(&self, claims: &serde_json::Map<String, serde_json::Value>) -> bool;
}

impl ResourceServerConfig {
    pub fn new(resource: url::Url, issuer: String, keys: KeySource) -> Self {
        Self {
            resource,
            issuer,
            keys,
            audience: None,
            leeway: Duration::from_secs(30),
            algorithms: ALLOWED_ALGORITHMS.to_vec(),
            scopes_supported: Vec::new(),
            tenant_claim: "org_id".into(),
            min_key_refresh_interval: Duration::from_secs(5),
            resource_name: None,
            revocation: None,
            loopback_aliases: false,
            jwks_fetches: Default::default(),
            token_cache_size: crate::DEFAULT_TOKEN_CACHE_SIZE,
        }
    }
}

/// Verifies bearer tokens for one protected resource and answers with MCP-conformant
/// challenges. Share it behind an `Arc`.
pub struct ResourceServer {
    verifier: JwtVerifier,
    revocation: Option<Arc<dyn RevocationCheck>>,
    metadata: ProtectedResourceMetadata,
    metadata_url: String,
    metadata_path: String,
    /// The same resource under its other loopback names, by `Host` value.
    aliases: Vec<Alias>,
}

/// The resource as a client that reached it under another loopback name sees it.
struct Alias {
    /// `localhost:8080`, `127.0.0.1:8080`, `[::1]:8080`.
    authority: String,
    metadata: ProtectedResourceMetadata,
    metadata_url: String,
}

/// The resource under each loopback name (`localhost`, `127.0.0.1`, `[::1]`) on its port:
/// a client pointed at any of them is told the resource it actually used, since clients
/// compare the metadata's `resource` with the URL they were given.
pub fn loopback_aliases(resource: &url::Url) -> Vec<url::Url> {
    let is_loopback = match resource.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if !is_loopback {
        return Vec::new();
    }
    ["localhost", "127.0.0.1", "[::1]"]
        .into_iter()
        .filter_map(|host| {
            let mut url = resource.clone();
            url.set_host(Some(host)).ok()?;
            (url != *resource).then_some(url)
        })
        .collect()
}

impl ResourceServer {
    pub async fn new(config: ResourceServerConfig) -> Result<Self, KeyError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| KeyError::Fetch {
                url: config.issuer.clone(),
                reason: e.to_string(),
            })?;
        Self::with_client(config, client).await
    }

    pub async fn with_client(
        config: ResourceServerConfig,
        client: reqwest::Client,
    ) -> Result<Self, KeyError> {
        let resource = resource_string(&config.resource);
        let alias_urls = if config.loopback_aliases {
            loopback_aliases(&config.resource)
        } else {
            Vec::new()
        };
        let settings = VerifierSettings {
            issuer: config.issuer.clone(),
            audience: config.audience.clone().unwrap_or_else(|| resource.clone()),
            extra_audiences: alias_urls.iter().map(resource_string).collect(),
            leeway: config.leeway,
            algorithms: config.algorithms.clone(),
            tenant_claim: config.tenant_claim.clone(),
            min_key_refresh_interval: config.min_key_refresh_interval,
            jwks_fetches: config.jwks_fetches.clone(),
            token_cache_size: config.token_cache_size,
        };
        let verifier = JwtVerifier::new(settings, &config.keys, client).await?;
        let metadata_path = metadata_path(&config.resource);
        let metadata_url = format!(
            "{}{}",
            config.resource.origin().ascii_serialization(),
            metadata_path
        );
        let metadata = ProtectedResourceMetadata {
            resource,
            authorization_servers: vec![config.issuer.clone()],
            scopes_supported: config.scopes_supported.clone(),
            bearer_methods_supported: vec!["header".into()],
            resource_name: config.resource_name.clone(),
        };
        let aliases = alias_urls
            .iter()
            .map(|url| Alias {
                authority: url[url::Position::BeforeHost..url::Position::AfterPort].to_owned(),
                metadata: ProtectedResourceMetadata {
                    resource: resource_string(url),
                    ..metadata.clone()
                },
                metadata_url: format!("{}{}", url.origin().ascii_serialization(), metadata_path),
            })
            .collect();
        Ok(Self {
            verifier,
            revocation: config.revocation.clone(),
            metadata,
            metadata_url,
            metadata_path,
            aliases,
        })
    }

    pub fn verifier(&self) -> &JwtVerifier {
        &self.verifier
    }

    pub fn metadata(&self) -> &ProtectedResourceMetadata {
        &self.metadata
    }

    fn alias_for(&self, headers: &axum::http::HeaderMap) -> Option<&Alias> {
        let host = headers.get(axum::http::header::HOST)?.to_str().ok()?;
        self.aliases
            .iter()
            .find(|a| a.authority.eq_ignore_ascii_case(host))
    }

    /// The metadata for a request: under the loopback name it used, when that is an alias.
    pub fn metadata_for(&self, headers: &axum::http::HeaderMap) -> &ProtectedResourceMetadata {
        self.alias_for(headers)
            .map_or(&self.metadata, |a| &a.metadata)
    }

    /// Absolute URL of this resource's RFC 9728 metadata document.
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// Path of the metadata document (`/.well-known/oauth-protected-resource/<resource path>`).
    pub fn metadata_path(&self) -> &str {
        &self.metadata_path
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let principal = self.verifier.verify(token).await?;
        if let Some(check) = &self.revocation
            && check.is_revoked(&principal.claims)
        {
            return Err(TokenError::Revoked.into());
        }
        Ok(principal)
    }

    /// The challenge for `error`, pointing at the metadata. 401s carry the supported scopes so
    /// clients request them up front (MCP authorization, "Scope Selection Strategy").
    pub fn challenge(&self, error: &AuthError) -> Challenge {
        self.challenge_at(&self.metadata_url, error)
    }

    fn challenge_at(&self, metadata_url: &str, error: &AuthError) -> Challenge {
        let mut challenge = error.challenge();
        challenge.resource_metadata = Some(metadata_url.to_owned());
        if challenge.scope.is_none()
            && error.status() == axum::http::StatusCode::UNAUTHORIZED
            && !self.metadata.scopes_supported.is_empty()
        {
            challenge.scope = Some(self.metadata.scopes_supported.join(" "));
        }
        challenge
    }

    /// The complete refusal response for `error`.
    pub fn reject(&self, error: AuthError) -> axum::response::Response {
        let challenge = self.challenge(&error);
        error.into_response_with(&challenge)
    }

    /// The refusal for a request: its challenge points at the metadata under the name the
    /// request used (see [`loopback_aliases`]).
    pub fn reject_for(
        &self,
        headers: &axum::http::HeaderMap,
        error: AuthError,
    ) -> axum::response::Response {
        let url = self
            .alias_for(headers)
            .map_or(self.metadata_url.as_str(), |a| a.metadata_url.as_str());
        let challenge = self.challenge_at(url, &error);
        error.into_response_with(&challenge)
    }
}

/// The resource identifier as clients compare it: the URL as configured, without the trailing
/// slash `Url` adds to an empty path.
fn resource_string(resource: &url::Url) -> String {
    let s = resource.as_str();
    if resource.path() == "/" && resource.query().is_none() {
        s.trim_end_matches('/').to_owned()
    } else {
        s.to_owned()
    }
}

/// RFC 9728 §3.1: the well-known segment goes between the host and the resource's path.
fn metadata_path(resource: &url::Url) -> String {
    let path = resource.path().trim_end_matches('/');
    format!("/.well-known/oauth-protected-resource{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_location_follows_rfc9728() {
        let r: url::Url = "http://127.0.0.1:8080/mcp".parse().unwrap();
        assert_eq!(
            metadata_path(&r),
            "/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(resource_string(&r), "http://127.0.0.1:8080/mcp");
        let root: url::Url = "https://api.example.com".parse().unwrap();
        assert_eq!(
            metadata_path(&root),
            "/.well-known/oauth-protected-resource"
        );
        assert_eq!(resource_string(&root), "https://api.example.com");
    }
}
