//! The two steps of a sign-in through a provider: the button (`POST /authorize/federated`),
//! which sends the browser to the provider, and the callback, which finishes the sign-in and
//! continues to the consent page like a password sign-in does.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use portcullis_core::{
    oauth::{Account, ExternalIdentity, FederatedLogin},
    timestamp,
};
use serde::Deserialize;

use super::{CALLBACK_PATH, Identity, Provider, SIGN_IN_TTL, provider::is_error_code};
use crate::{
    AuthorizationServer,
    authorize::{self, unavailable},
    pages,
    secret::{self, Secret},
};

/// `POST /authorize/federated`: `idp`, `request`, `csrf`.
pub async fn start(
    State(server): State<Arc<AuthorizationServer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (params, v) = match authorize::verify_form(&server, &headers, &body).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Some(provider) = params.get("idp").and_then(|n| server.federation.get(n)) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "choose one of the sign-in options on the page",
        );
    };
    let endpoints = match provider.endpoints().await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(provider = provider.name(), error = %e, "identity provider unavailable");
            return pages::error(
                StatusCode::BAD_GATEWAY,
                &format!(
                    "signing in with {} is not possible right now (the service does not answer); try again in a moment",
                    provider.name()
                ),
            );
        }
    };
    let state = Secret::generate("");
    let login = FederatedLogin {
        state_hash: state.digest(),
        request_id: v.request.id.clone(),
        provider: provider.name().to_owned(),
        nonce: Secret::generate(""),
        code_verifier: Secret::generate(""),
        // RFC 3339 UTC text of one format: the earlier sorts first.
        expires_at: timestamp::in_future(SIGN_IN_TTL).min(v.request.expires_at.clone()),
    };
    if let Err(e) = server.store.insert_federated_login(&login).await {
        tracing::error!(error = %e, "cannot record a sign-in sent to an identity provider");
        return unavailable();
    }
    let config = provider.config();
    let mut url = endpoints.authorization.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &config.client_id)
        .append_pair("redirect_uri", &server.endpoint(CALLBACK_PATH))
        .append_pair("scope", &config.scopes.join(" "))
        .append_pair("state", state.expose())
        .append_pair("nonce", login.nonce.expose())
        .append_pair(
            "code_challenge",
            &secret::pkce_challenge(login.code_verifier.expose()),
        )
        .append_pair("code_challenge_method", "S256");
    no_store(Redirect::to(url.as_str()).into_response())
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// `GET /authorize/federated/callback`: the provider's answer.
pub async fn callback(
    State(server): State<Arc<AuthorizationServer>>,
    headers: HeaderMap,
    Query(answer): Query<CallbackQuery>,
) -> Response {
    let start_again = |why: &str| {
        pages::error(
            StatusCode::BAD_REQUEST,
            &format!("{why}; start again from the application"),
        )
    };
    let Some(state) = answer.state.as_deref() else {
        return start_again("the sign-in service's answer names no sign-in (no state)");
    };
    let login = match server
        .store
        .take_federated_login(&secret::digest(state))
        .await
    {
        Ok(Some(login)) => login,
        Ok(None) => return start_again("this sign-in is unknown, already finished or expired"),
        Err(e) => {
            tracing::error!(error = %e, "cannot load a sign-in sent to an identity provider");
            return unavailable();
        }
    };
    // Only the browser that pressed the button may finish the sign-in.
    let v = match authorize::verify_request(&server, &headers, Some(&login.request_id), None).await
    {
        Ok(v) => v,
        Err(page) => return page,
    };
    let Some(provider) = server.federation.get(&login.provider) else {
        return start_again("this sign-in option is no longer offered");
    };
    let name = provider.name();
    // RFC 9207: an answer that says it comes from another issuer is a mix-up attack.
    if answer
        .iss
        .as_deref()
        .is_some_and(|iss| iss != provider.config().issuer)
    {
        tracing::warn!(
            provider = name,
            "identity provider answer names another issuer"
        );
        return start_again(&format!("the answer did not come from {name}"));
    }
    if let Some(error) = answer.error.as_deref() {
        // Only a well-formed code is shown; the rest of the answer is not ours to vouch for.
        let code = if is_error_code(error) { error } else { "error" };
        tracing::info!(
            provider = name,
            error = code,
            "identity provider did not sign the user in"
        );
        return pages::error(
            StatusCode::FORBIDDEN,
            &format!("{name} did not sign you in ({code})"),
        );
    }
    let Some(code) = answer.code.as_deref() else {
        return start_again(&format!("{name} answered without a code"));
    };
    let claims = match provider.endpoints().await {
        Ok(endpoints) => {
            provider
                .redeem(
                    &endpoints,
                    code,
                    &server.endpoint(CALLBACK_PATH),
                    login.code_verifier.expose(),
                    login.nonce.expose(),
                )
                .await
        }
        Err(e) => Err(e),
    };
    let claims = match claims {
        Ok(claims) => claims,
        Err(e) => {
            tracing::warn!(provider = name, error = %e, "sign-in through identity provider failed");
            return pages::error(
                StatusCode::FORBIDDEN,
                &format!("signing in with {name} failed: {e}"),
            );
        }
    };
    let identity = match Identity::from_claims(provider.config(), &claims) {
        Ok(identity) => identity,
        Err(refused) => {
            tracing::info!(provider = name, reason = %refused, "identity provider user refused");
            return pages::error(StatusCode::FORBIDDEN, &format!("{name}: {refused}"));
        }
    };
    let account = match server.federated_account(provider, &identity).await {
        Ok(account) => account,
        Err(AccountRefused::Store(e)) => {
            tracing::error!(error = %e, "cannot find or provision a federated account");
            return unavailable();
        }
        Err(AccountRefused::Tenant) => {
            tracing::info!(
                provider = name,
                "identity provider user's tenant differs from the account's"
            );
            return pages::error(
                StatusCode::FORBIDDEN,
                "the tenant your sign-in service names for you is not the one of your account here; ask an administrator",
            );
        }
    };
    if let Err(e) = server
        .store
        .set_request_account(&v.request.id, &account.id)
        .await
    {
        tracing::error!(error = %e, "cannot record the sign-in");
        return unavailable();
    }
    tracing::info!(provider = name, account = %account.id, "signed in through identity provider");
    no_store(Redirect::to(&format!("/authorize/consent?request={}", v.request.id)).into_response())
}

enum AccountRefused {
    Tenant,
    Store(portcullis_core::StoreError),
}

impl From<portcullis_core::StoreError> for AccountRefused {
    fn from(e: portcullis_core::StoreError) -> Self {
        Self::Store(e)
    }
}

impl AuthorizationServer {
    /// The account of `identity`: the one bound to its subject; else, where the operator
    /// allows it, the local account named by its verified email; else a new one. An account
    /// never changes tenant through a sign-in.
    async fn federated_account(
        &self,
        provider: &Provider,
        identity: &Identity,
    ) -> Result<Account, AccountRefused> {
        let config = provider.config();
        let preferred = identity.email.as_deref().unwrap_or(&identity.subject);
        let fallback = format!(
            "{}-{}",
            config.name,
            &secret::digest(&format!("{}\n{}", config.name, identity.subject))[..16]
        );
        let external = ExternalIdentity {
            provider: &config.name,
            subject: &identity.subject,
            email: identity.email.as_deref(),
            preferred_username: preferred,
            fallback_username: &fallback,
            tenant: identity.tenant.as_deref(),
        };
        let same_tenant = |account: &Account| account.tenant == identity.tenant;
        if let Some(account) = self
            .store
            .account_for_identity(&config.name, &identity.subject)
            .await?
        {
            if !same_tenant(&account) {
                return Err(AccountRefused::Tenant);
            }
            self.store.bind_identity(&external, &account.id).await?;
            return Ok(account);
        }
        if config.link_by_email
            && identity.email_verified
            && let Some(email) = identity.email.as_deref()
            && let Some(account) = self.store.account_named(email).await?
        {
            if !same_tenant(&account) {
                return Err(AccountRefused::Tenant);
            }
            self.store.bind_identity(&external, &account.id).await?;
            tracing::info!(provider = %config.name, account = %account.id, "identity linked to the local account of its email");
            return Ok(account);
        }
        let account = self.store.provision_account(&external).await?;
        tracing::info!(provider = %config.name, account = %account.id, username = %account.username, "account provisioned on first sign-in");
        Ok(account)
    }
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
