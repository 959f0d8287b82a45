//! Signing users in through the company's OpenID Connect providers.
//!
//! Portcullis stays the authorization server MCP clients talk to (registration, metadata
//! documents, PKCE, `resource`, consent); only the user's sign-in is delegated. The login page
//! offers one button per provider; the button sends the browser to the provider with an
//! authorization code request (PKCE S256, `state`, `nonce`), and the provider's answer comes
//! back to `/authorize/federated/callback`, where the code is exchanged, the ID token verified
//! (signature by the provider's JWKS, `iss`, `aud`, `azp`, `exp`, `nonce`), and the user found
//! by the provider's stable subject or provisioned on first sign-in. The provider's tokens are
//! dropped as soon as the ID token is read.
//!
//! Nothing from the provider ever reaches the MCP client's redirect URI: every failure on this
//! leg ends on this server's own error page.

mod identity;
mod provider;
mod sign_in;

pub use identity::{Identity, IdentityRefused};
pub use provider::{Provider, ProviderError};
pub use sign_in::{callback, start};

use std::time::Duration;

use portcullis_core::secret::Secret;

/// The path of the callback, under the public URL: the redirect URI to register at each
/// provider. Under `/authorize` so the browser's request cookie comes along.
pub const CALLBACK_PATH: &str = "/authorize/federated/callback";

/// How long a user has to sign in at the provider.
const SIGN_IN_TTL: Duration = Duration::from_secs(600);

/// One `[[identity_providers]]` entry, as the embedder checked it.
#[derive(Clone)]
pub struct IdentityProviderConfig {
    /// Short name: in the sign-in button, the form and the logs (`[a-z0-9_-]`).
    pub name: String,
    /// Its issuer: discovery at `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// `None` for a public client (PKCE only).
    pub client_secret: Option<Secret>,
    pub scopes: Vec<String>,
    /// The claim naming the user for good (`sub`, or `oid`, `email` …).
    pub subject_claim: String,
    /// The claim holding the user's tenant, if tenants come from the provider.
    pub tenant_claim: Option<String>,
    /// The tenant of every user of this provider.
    pub tenant: Option<String>,
    /// Email domains allowed to sign in; empty allows every domain.
    pub allowed_domains: Vec<String>,
    /// On first sign-in, bind the identity to an existing local account whose username is its
    /// (verified) email, instead of making a new account. Off unless the operator says so.
    pub link_by_email: bool,
}

impl std::fmt::Debug for IdentityProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityProviderConfig")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("subject_claim", &self.subject_claim)
            .field("tenant_claim", &self.tenant_claim)
            .field("tenant", &self.tenant)
            .field("allowed_domains", &self.allowed_domains)
            .field("link_by_email", &self.link_by_email)
            .finish_non_exhaustive()
    }
}

/// The providers users may sign in with, in the order the page lists them.
#[derive(Debug, Default)]
pub struct Federation {
    providers: Vec<Provider>,
}

impl Federation {
    pub fn new(configs: Vec<IdentityProviderConfig>) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client with default TLS");
        Self {
            providers: configs
                .into_iter()
                .map(|c| Provider::new(c, client.clone()))
                .collect(),
        }
    }

    pub fn names(&self) -> Vec<&str> {
        self.providers.iter().map(|p| p.name()).collect()
    }

    pub fn get(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name() == name)
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// Reads every provider's discovery document and keys now, so a wrong issuer shows in the
    /// log at start-up rather than at the first sign-in; failures are retried on demand.
    pub async fn warm_up(&self) {
        for provider in &self.providers {
            match provider.endpoints().await {
                Ok(_) => tracing::info!(provider = provider.name(), "identity provider ready"),
                Err(e) => tracing::warn!(
                    provider = provider.name(),
                    error = %e,
                    "identity provider not reachable yet; sign-ins through it will retry"
                ),
            }
        }
    }
}
