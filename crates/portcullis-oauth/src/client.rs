//! Clients as the authorization and token endpoints see them, wherever they were registered:
//! in the configuration file, by `portcullis client add`, by RFC 7591 dynamic registration, or
//! identified by the URL of their metadata document (resolved in [`crate::metadata_document`]).

use portcullis_core::oauth::StoredClient;

use crate::{ConfiguredClient, redirect_uri};

pub const AUTHORIZATION_CODE: &str = "authorization_code";
pub const REFRESH_TOKEN: &str = "refresh_token";
pub const CLIENT_CREDENTIALS: &str = "client_credentials";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Configured,
    Registered,
    Dynamic,
    MetadataDocument,
}

impl ClientKind {
    /// Registered by this server's operator (file or `portcullis client add`), as opposed to
    /// clients anyone can bring (RFC 7591 registrations, metadata documents).
    pub fn is_operator_registered(self) -> bool {
        matches!(self, Self::Configured | Self::Registered)
    }

    /// Shown on the consent page so the user knows how much to trust the name.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Configured | Self::Registered => "registered by this server's operator",
            Self::Dynamic => "registered itself; its name is not verified",
            Self::MetadataDocument => "identified by its metadata document",
        }
    }
}

#[derive(Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Scopes it may ask for; empty allows every supported scope for user authorizations
    /// (and none for client credentials, which only an operator's grant allows).
    pub allowed_scopes: Vec<String>,
    pub secret_digest: Option<String>,
    pub kind: ClientKind,
    /// An operator let it introspect tokens issued to other clients (a resource server).
    pub introspection: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("confidential", &self.is_confidential())
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn is_confidential(&self) -> bool {
        self.secret_digest.is_some()
    }

    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }

    /// The redirect URI to use: the requested one if it matches a registered one, else the
    /// only registered one when none was requested (OAuth 2.1 §2.3.2).
    pub fn redirect_uri(&self, requested: Option<&str>) -> Result<String, String> {
        match requested {
            Some(uri)
                if self
                    .redirect_uris
                    .iter()
                    .any(|r| redirect_uri::matches(r, uri)) =>
            {
                Ok(uri.to_owned())
            }
            Some(uri) => Err(format!(
                "the redirect_uri {uri:?} is not registered for client {:?}",
                self.id
            )),
            None if self.redirect_uris.len() == 1 => Ok(self.redirect_uris[0].clone()),
            None => Err("redirect_uri is required: the client registered several".into()),
        }
    }

    pub(crate) fn from_stored(stored: StoredClient) -> Self {
        let kind = if stored.registered_by == "dynamic" {
            ClientKind::Dynamic
        } else {
            ClientKind::Registered
        };
        Self {
            id: stored.client_id,
            name: stored.name,
            redirect_uris: stored.redirect_uris,
            grant_types: stored.grant_types,
            // A self-registered client's scope list is a wish, not a limit the operator set:
            // the user's consent decides, and clients step up without registering again.
            allowed_scopes: match (kind, stored.scope) {
                (ClientKind::Registered, Some(scope)) => {
                    scope.split(' ').map(str::to_owned).collect()
                }
                _ => Vec::new(),
            },
            secret_digest: stored.secret_hash,
            introspection: stored.introspection && kind.is_operator_registered(),
            kind,
        }
    }

    pub(crate) fn from_configured(c: &ConfiguredClient) -> Self {
        Self {
            id: c.client_id.clone(),
            name: c.name.clone(),
            redirect_uris: c.redirect_uris.clone(),
            grant_types: c.grant_types.clone(),
            allowed_scopes: c.scopes.clone(),
            secret_digest: c.secret_digest.clone(),
            kind: ClientKind::Configured,
            introspection: c.introspection,
        }
    }
}
