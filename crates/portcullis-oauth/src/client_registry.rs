//! Finding a client by its id, whichever way it was registered, and authenticating it at the
//! token, revocation and introspection endpoints.

use axum::http::{HeaderMap, header};
use base64::{Engine, engine::general_purpose::STANDARD};
use portcullis_core::oauth::OAuthStore;

use crate::{
    Client, ConfiguredClient, OAuthError, metadata_document::MetadataDocuments, params::Params,
    secret,
};

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
