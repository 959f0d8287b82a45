//! Clients as the authorization and token endpoints see them, wherever they were registered:
//! in the configuration file, by `portcullis client add`, by RFC 7591 dynamic registration, or
//! identified by the URL of their metadata document (resolved in [`crate::metadata_document`]).

use axum::http::{HeaderMap, header};
use base64::{Engine, engine::general_purpose::STANDARD};
use portcullis_core::oauth::{OAuthStore, StoredClient};

use crate::{
    ConfiguredClient, OAuthError, metadata_document::MetadataDocuments, params::Params,
    redirect_uri, secret,
};

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

    fn from_stored(stored: StoredClient) -> Self {
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

    fn from_configured(c: &ConfiguredClient) -> Self {
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

/// Finds clients by id, whichever way they were registered.
pub struct ClientRegistry {
    configured: Vec<ConfiguredClient>,
    store: OAuthStore,
    documents: MetadataDocuments,
}

impl ClientRegistry {
    pub fn new(
        configured: Vec<ConfiguredClient>,
        store: OAuthStore,
        documents: MetadataDocuments,
    ) -> Self {
        Self {
            configured,
            store,
            documents,
        }
    }

    /// The client, or why it cannot be used (said to the user on an error page, or as
    /// `invalid_client`).
    pub async fn find(&self, client_id: &str) -> Result<Client, String> {
        if MetadataDocuments::is_document_url(client_id) {
            return self.documents.resolve(client_id).await;
        }
        if let Some(c) = self.configured.iter().find(|c| c.client_id == client_id) {
            return Ok(Client::from_configured(c));
        }
        match self.store.client(client_id).await {
            Ok(Some(stored)) => Ok(Client::from_stored(stored)),
            Ok(None) => Err(format!(
                "no client {client_id:?} is registered with this server"
            )),
            Err(e) => {
                tracing::error!(error = %e, "client lookup failed");
                Err("the client could not be looked up; try again".into())
            }
        }
    }

    /// Client authentication at the token, revocation and introspection endpoints (OAuth 2.1
    /// §2.4): HTTP Basic or `client_secret` in the body for confidential clients, `client_id`
    /// alone for public ones. Exactly one method per request.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        params: &Params,
    ) -> Result<Client, OAuthError> {
        let basic = basic_credentials(headers)?;
        let used_basic = basic.is_some();
        let fail = |description: &str| {
            let mut e = OAuthError::invalid_client(description);
            e.basic_challenge = used_basic;
            e
        };
        let (client_id, secret) = match (basic, params.get("client_secret")) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method: HTTP Basic or client_secret, not both",
                ));
            }
            (Some((id, secret)), None) => {
                if params.get("client_id").is_some_and(|p| p != id) {
                    return Err(OAuthError::invalid_request(
                        "client_id differs from the client in the Authorization header",
                    ));
                }
                (id, Some(secret))
            }
            (None, secret) => {
                let id = params.get("client_id").ok_or_else(|| {
                    fail("authenticate the client: send client_id (and its secret if it has one)")
                })?;
                (id.to_owned(), secret.map(str::to_owned))
            }
        };
        let client = self
            .find(&client_id)
            .await
            .map_err(|reason| fail(&reason))?;
        match (&client.secret_digest, secret) {
            (Some(digest), Some(secret)) if secret::matches_digest(&secret, digest) => Ok(client),
            (Some(_), Some(_)) => Err(fail("the client secret is wrong")),
            (Some(_), None) => Err(fail(
                "this is a confidential client: send its client secret",
            )),
            (None, Some(_)) => Err(fail(
                "this public client has no secret; send client_id alone",
            )),
            (None, None) => Ok(client),
        }
    }
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        let mut e = OAuthError::invalid_client("the Authorization header is not valid HTTP Basic");
        e.basic_challenge = true;
        e
    };
    let value = value.to_str().map_err(|_| bad())?;
    let Some(encoded) = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, rest)| rest.trim())
    else {
        return Err(bad());
    };
    let decoded = STANDARD.decode(encoded).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((decode(id), decode(secret))))
}
