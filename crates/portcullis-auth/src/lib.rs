//! An OAuth 2.1 resource server for MCP servers built on axum (and rmcp).
//!
//! Implements the resource-server side of the MCP authorization specification (revision
//! 2026-07-28, "Authorization"): bearer tokens in the `Authorization` header only (RFC 6750
//! §2.1), `401` challenges that point at RFC 9728 protected resource metadata, JWT access
//! tokens checked against an issuer's JWKS (RFC 9068, RFC 8725), and `403 insufficient_scope`
//! challenges so clients can step up.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use portcullis_auth::{KeySource, ResourceServer, ResourceServerConfig};
//! let config = ResourceServerConfig::new(
//!     "https://api.example.com/mcp".parse()?,
//!     "https://idp.example.com".into(),
//!     KeySource::Discovery,
//! );
//! let rs = Arc::new(ResourceServer::new(config).await?);
//! let app: axum::Router = axum::Router::new()
//!     .route("/mcp", axum::routing::post(|p: portcullis_auth::Principal| async move { p.subject }))
//!     .layer(axum::middleware::from_fn_with_state(rs.clone(), portcullis_auth::require_bearer))
//!     .merge(portcullis_auth::metadata_routes(rs));
//! # Ok(()) }
//! ```

mod caller;
mod challenge;
mod discovery;
mod error;
mod issuer_keys;
mod keys;
mod metadata;
mod middleware;
mod principal;
mod resource_server;
mod service_token;
pub mod signing;
mod token_cache;
mod verifier;

pub use caller::{ClientNetwork, IDENTIFIER_RULE, is_clean_identifier};
pub use challenge::Challenge;
pub use discovery::issuer_metadata;
pub use error::{AuthError, TokenError};
pub use issuer_keys::IssuerKeys;
pub use keys::{KeyError, KeyProvider, KeySet, KeySource, fetch_keys};
pub use metadata::{ProtectedResourceMetadata, metadata_routes, public_cors};
pub use middleware::{authenticate_bearer, bearer_token, require_bearer};
pub use principal::{AuthMethod, Principal, ScopeSet};
pub use resource_server::{
    ResourceServer, ResourceServerConfig, RevocationCheck, loopback_aliases,
};
pub use service_token::{
    MIN_SERVICE_TOKEN_LEN, ServiceTokenError, ServiceTokens, parse_service_tokens,
};
pub use token_cache::{DEFAULT_TOKEN_CACHE_SIZE, TokenCache};
pub use verifier::{ALLOWED_ALGORITHMS, JwtVerifier, VerifierSettings};
