//! The authorization endpoint (OAuth 2.1 §4.1) and its pages.
//!
//! `GET /authorize` checks the client and redirect URI first: a request that fails there is
//! shown an error page and never redirected (the redirect target is not trusted yet). Every
//! later problem goes back to the client's redirect URI with `error`, `state` and `iss`
//! (RFC 9207). A valid request is stored (so any replica can continue it), bound to this
//! browser by a cookie, and the login form is shown; then the consent form; the decision
//! returns `code`, `state` and `iss` with a 303 (never 307, which would repost the password).
//!
//! CSRF: every `GET /authorize` sets a fresh server-random cookie for that request (never one
//! the browser brings, so a cookie planted by an attacker binds nothing), `__Host-`-prefixed
//! when served over https; the request remembers the cookie's hash, and each form carries a
//! token that is a MAC of the cookie and the request id under a server secret. A form posted
//! from another site lacks the SameSite cookie; a form for another browser's request fails the
//! hash check; nobody without the server secret can compute a token.
//!
//! Open redirects (RFC 9700 §4.11.2): a client anyone can bring (RFC 7591, metadata document)
//! has redirect URIs nobody vetted, so errors before the user has signed in are shown on this
//! server's own page instead of being sent there; operator-registered clients get the usual
//! error redirect.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Query, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use std::time::Duration;

use portcullis_auth::ClientNetwork;
use portcullis_core::{
    oauth::{Attempt, LockoutRule, PendingAuthorization, username_key, username_network_key},
    timestamp,
};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::{
    AuthorizationServer, Client, ErrorCode, OAuthError,
    client::AUTHORIZATION_CODE,
    pages::{self, RequestView},
    params::Params,
    password::Password,
    scope::Scopes,
    secret::{self, Secret},
};

/// Cookie names start with this; each request has its own cookie (see [`cookie_name`]).
const COOKIE_PREFIX: &str = "portcullis_browser_";

/// An error to return to the client through its redirect URI.
struct RedirectError<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
    error: OAuthError,
}

impl AuthorizationServer {
    /// `redirect_uri` with `params` and `iss` appended to its query.
    fn redirect_with(&self, redirect_uri: &str, params: &[(&str, &str)]) -> Response {
        let Ok(mut url) = url::Url::parse(redirect_uri) else {
            return pages::error(StatusCode::BAD_REQUEST, "the redirect URI is not valid");
        };
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in params {
                query.append_pair(k, v);
            }
            query.append_pair("iss", &self.config.issuer);
        }
        let mut response = Redirect::to(url.as_str()).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    fn redirect_error(&self, e: RedirectError<'_>) -> Response {
        let mut params = vec![
            ("error", e.error.code.as_str()),
            ("error_description", e.error.description.as_str()),
        ];
        if let Some(state) = e.state {
            params.push(("state", state));
        }
        self.redirect_with(e.redirect_uri, &params)
    }

    fn view<'a>(
        &'a self,
        request: &'a PendingAuthorization,
        client: &'a Client,
        csrf: &'a str,
    ) -> RequestView<'a> {
        RequestView {
            request_id: &request.id,
            csrf,
            client_name: &client.name,
            client_id: &client.id,
            client_note: client.kind.describe(),
            redirect_uri: &request.redirect_uri,
            scopes: request.scope.split(' ').filter(|s| !s.is_empty()).collect(),
            providers: self.federation.names(),
            passwords: self.config.local_passwords,
        }
    }
}

impl AuthorizationServer {
    /// The form token for `request_id` in the browser holding `cookie`: a MAC under the
    /// server's secret, so knowing (or planting) the cookie is not enough to forge it.
    fn csrf_token(&self, cookie: &str, request_id: &str) -> String {
        secret::keyed_digest(
            self.csrf_key.expose().as_bytes(),
            &format!("csrf:{request_id}:{cookie}"),
        )
    }

    /// The cookie that binds `request_id` to one browser. One per request, so a browser can
    /// run several sign-ins at once; `__Host-` over https (Secure, whole host, no Domain).
    fn cookie_name(&self, request_id: &str) -> String {
        let host = if self.config.secure_cookies {
            "__Host-"
        } else {
            ""
        };
        format!("{host}{COOKIE_PREFIX}{}", &secret::digest(request_id)[..16])
    }
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, value)| *n == name && value.starts_with("pcb_") && value.len() < 100)
        .map(|(_, value)| value.to_owned())
}

/// A storage failure mid-flow: the user can only retry (the cause is in the server log).
pub(crate) fn unavailable() -> Response {
    pages::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server cannot continue right now; wait a moment and try again",
    )
}

/// `GET /authorize`.
pub async fn start(
    State(server): State<Arc<AuthorizationServer>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return pages::error(StatusCode::BAD_REQUEST, &e.description),
    };
    let Some(client_id) = params.get("client_id") else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "the request names no client (client_id is missing)",
        );
    };
    let client = match server.clients.find(client_id).await {
        Ok(c) => c,
        Err(reason) => return pages::error(StatusCode::BAD_REQUEST, &reason),
    };
    let redirect_uri = match client.redirect_uri(params.get("redirect_uri")) {
        Ok(uri) => uri,
        Err(reason) => return pages::error(StatusCode::BAD_REQUEST, &reason),
    };
    let state = params.get("state");
    let fail = |error: OAuthError| {
        if !client.kind.is_operator_registered() {
            // Nobody vetted this redirect URI, and nobody has signed in yet: no redirect.
            tracing::info!(error = error.code.as_str(), "authorization request refused");
            return pages::error(
                StatusCode::BAD_REQUEST,
                &format!("{} ({})", error.description, error.code.as_str()),
            );
        }
        server.redirect_error(RedirectError {
            redirect_uri: &redirect_uri,
            state,
            error,
        })
    };
    let checked = (|| {
        if !client.allows_grant(AUTHORIZATION_CODE) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this client is not registered for the authorization_code grant",
            ));
        }
        match params.get("response_type") {
            Some("code") => {}
            Some(other) => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedResponseType,
                    format!("response_type {other:?} is not supported; use code"),
                ));
            }
            None => {
                return Err(OAuthError::invalid_request(
                    "response_type is required (use code)",
                ));
            }
        }
        let challenge = params.get("code_challenge").ok_or_else(|| {
            OAuthError::invalid_request(
                "PKCE is required: send code_challenge and code_challenge_method=S256",
            )
        })?;
        match params.get("code_challenge_method") {
            Some("S256") => {}
            Some(other) => {
                return Err(OAuthError::invalid_request(format!(
                    "code_challenge_method {other:?} is not supported; use S256"
                )));
            }
            None => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method is required and must be S256 (plain is not accepted)",
                ));
            }
        }
        if !secret::is_valid_challenge(challenge) {
            return Err(OAuthError::invalid_request(
                "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
            ));
        }
        let scopes = Scopes::negotiate(
            params.get("scope"),
            &server.config.scopes_supported,
            &client.allowed_scopes,
        )?;
        let resource = server.check_resource(params.get("resource"))?;
        Ok((challenge.to_owned(), scopes, resource))
    })();
    let (challenge, scopes, resource) = match checked {
        Ok(v) => v,
        Err(e) => return fail(e),
    };

    // Always a new cookie: one the browser brought may have been planted.
    let cookie = Secret::generate("pcb_");
    let cookie = cookie.expose();
    let request = PendingAuthorization {
        id: Secret::generate("pcq_").expose().to_owned(),
        browser_hash: secret::digest(cookie),
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.clone(),
        scope: scopes.as_string(),
        state: state.map(str::to_owned),
        code_challenge: challenge,
        resource,
        account_id: None,
        expires_at: timestamp::in_future(server.config.request_ttl),
    };
    if let Err(e) = server.store.insert_authorization_request(&request).await {
        return fail(OAuthError::server_error(&e));
    }
    let csrf = server.csrf_token(cookie, &request.id);
    let mut response = pages::login(&server.view(&request, &client, &csrf), None, StatusCode::OK);
    let attributes = if server.config.secure_cookies {
        "Path=/; Secure"
    } else {
        "Path=/authorize"
    };
    let value = format!(
        "{}={cookie}; {attributes}; HttpOnly; SameSite=Lax; Max-Age={}",
        server.cookie_name(&request.id),
        server.config.request_ttl.as_secs()
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// A pending request that this browser may act on, with its client.
pub(crate) struct Verified {
    pub(crate) request: PendingAuthorization,
    client: Client,
    csrf: String,
}

pub(crate) async fn verify_request(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    request_id: Option<&str>,
    csrf: Option<&str>,
) -> Result<Verified, Response> {
    let expired = || {
        pages::error(
            StatusCode::BAD_REQUEST,
            "this sign-in request is unknown or has expired; start again from the application",
        )
    };
    let request_id = request_id.ok_or_else(expired)?;
    let request = match server.store.authorization_request(request_id).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(expired()),
        Err(e) => {
            tracing::error!(error = %e, "cannot load an authorization request");
            return Err(unavailable());
        }
    };
    let forged = || {
        pages::error(
            StatusCode::FORBIDDEN,
            "this form could not be verified as coming from this browser (cookies must be enabled); start again from the application",
        )
    };
    let cookie = cookie_value(headers, &server.cookie_name(&request.id)).ok_or_else(forged)?;
    let bound: bool = secret::digest(&cookie)
        .as_bytes()
        .ct_eq(request.browser_hash.as_bytes())
        .into();
    let expected = server.csrf_token(&cookie, &request.id);
    let token_ok = match csrf {
        Some(csrf) => expected.as_bytes().ct_eq(csrf.as_bytes()).into(),
        // The consent page is a GET after the login's redirect: the cookie binding suffices.
        None => true,
    };
    if !bound || !token_ok {
        return Err(forged());
    }
    let client = server
        .clients
        .find(&request.client_id)
        .await
        .map_err(|reason| pages::error(StatusCode::BAD_REQUEST, &reason))?;
    Ok(Verified {
        request,
        client,
        csrf: expected,
    })
}

/// A posted form's fields and the request it acts on, checked against this browser.
pub(crate) async fn verify_form(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Params, Verified), Response> {
    let params =
        Params::parse(body).map_err(|e| pages::error(StatusCode::BAD_REQUEST, &e.description))?;
    let csrf = Some(params.get("csrf").unwrap_or_default());
    let verified = verify_request(server, headers, params.get("request"), csrf).await?;
    Ok((params, verified))
}

/// `POST /authorize/login`: `username`, `password`, `request`, `csrf`.
pub async fn login(
    State(server): State<Arc<AuthorizationServer>>,
    network: Option<axum::Extension<ClientNetwork>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (params, v) = match verify_form(&server, &headers, &body).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let view = server.view(&v.request, &v.client, &v.csrf);
    if !server.config.local_passwords {
        return pages::login(
            &view,
            Some("Sign-in with a password is turned off here; use one of the options above."),
            StatusCode::FORBIDDEN,
        );
    }
    let (Some(username), Some(password)) = (params.get("username"), params.get("password")) else {
        return pages::login(
            &view,
            Some("Enter your username and password."),
            StatusCode::BAD_REQUEST,
        );
    };
    let network = network.map(|n| n.0);
    match server
        .check_password(username, password, network.as_ref())
        .await
    {
        Ok(account_id) => {
            if let Err(e) = server
                .store
                .set_request_account(&v.request.id, &account_id)
                .await
            {
                tracing::error!(error = %e, "cannot record the login");
                return unavailable();
            }
            let target = format!("/authorize/consent?request={}", v.request.id);
            Redirect::to(&target).into_response()
        }
        Err(LoginRefused::Wrong) => pages::login(
            &view,
            Some("Wrong username or password."),
            StatusCode::UNAUTHORIZED,
        ),
        Err(LoginRefused::Locked(secs)) => pages::login(
            &view,
            Some(&format!(
                "Too many failed sign-ins for this username. Try again in {secs} seconds."
            )),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(LoginRefused::Unavailable) => pages::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server cannot check passwords right now; try again",
        ),
    }
}

enum LoginRefused {
    Wrong,
    Locked(i64),
    Unavailable,
}

impl AuthorizationServer {
    /// Checks a password, after counting the attempt against the username from this network
    /// and against the username from everywhere (see [`LockoutRule`]). The same for names
    /// with and without an account: the same counters, answers and argon2 work.
    async fn check_password(
        &self,
        username: &str,
        password: &str,
        network: Option<&ClientNetwork>,
    ) -> Result<String, LoginRefused> {
        let unavailable = |e: portcullis_core::StoreError| {
            tracing::error!(error = %e, "sign-in bookkeeping failed");
            LoginRefused::Unavailable
        };
        let network = network.map_or("unknown", |n| n.0.as_str());
        let pair_key = username_network_key(username, network);
        let user_key = username_key(username);
        let escalating = [30, 60, 120, 240, 480, 900].map(Duration::from_secs);
        let rules = [
            (
                &pair_key,
                LockoutRule {
                    max_failures: self.config.max_failed_logins,
                    steps: escalating,
                },
            ),
            (
                &user_key,
                LockoutRule {
                    max_failures: self.config.max_failed_logins_per_user,
                    steps: [Duration::from_secs(30); 6],
                },
            ),
        ];
        for (key, rule) in &rules {
            if let Attempt::Locked(secs) = self
                .store
                .count_login_attempt(key, rule)
                .await
                .map_err(unavailable)?
            {
                tracing::info!("login refused: too many failed attempts for this username");
                return Err(LoginRefused::Locked(secs));
            }
        }
        let login = self
            .store
            .account_login(username)
            .await
            .map_err(unavailable)?;
        let ok = Password::submitted(password.to_owned())
            .verify(login.as_ref().map(|l| l.password_hash.clone()))
            .await;
        match login {
            Some(login) if ok => {
                self.store
                    .clear_login_attempts(&[&pair_key, &user_key])
                    .await
                    .map_err(unavailable)?;
                tracing::info!(username, "login succeeded");
                Ok(login.account.id)
            }
            Some(_) => {
                tracing::info!(username, "login failed: wrong password");
                Err(LoginRefused::Wrong)
            }
            None => {
                tracing::info!("login failed: unknown username");
                Err(LoginRefused::Wrong)
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ConsentQuery {
    request: Option<String>,
}

/// `GET /authorize/consent?request=…`: after a successful login.
pub async fn show_consent(
    State(server): State<Arc<AuthorizationServer>>,
    headers: HeaderMap,
    Query(q): Query<ConsentQuery>,
) -> Response {
    let v = match verify_request(&server, &headers, q.request.as_deref(), None).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let Some(account_id) = v.request.account_id.as_deref() else {
        return pages::login(
            &server.view(&v.request, &v.client, &v.csrf),
            None,
            StatusCode::OK,
        );
    };
    let username = match server.store.account(account_id).await {
        Ok(Some(a)) => a.username,
        _ => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "the signed-in account no longer exists; start again",
            );
        }
    };
    pages::consent(&server.view(&v.request, &v.client, &v.csrf), &username)
}

/// `POST /authorize/consent`: `approve` or `deny`, `request`, `csrf`.
pub async fn decide(
    State(server): State<Arc<AuthorizationServer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (params, v) = match verify_form(&server, &headers, &body).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Some(account_id) = v.request.account_id.clone() else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "sign in before deciding; start again from the application",
        );
    };
    let approve = match (params.get("approve"), params.get("deny")) {
        (Some(_), None) => true,
        (None, Some(_)) => false,
        _ => return pages::error(StatusCode::BAD_REQUEST, "choose Approve or Deny"),
    };
    // Exactly one decision per request, even if the form is posted twice.
    match server
        .store
        .finish_authorization_request(&v.request.id)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "this request was already decided; start again from the application",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot finish an authorization request");
            return unavailable();
        }
    }
    let request = &v.request;
    let state = request.state.as_deref();
    if !approve {
        tracing::info!(client = %request.client_id, "authorization denied by the user");
        return server.redirect_error(RedirectError {
            redirect_uri: &request.redirect_uri,
            state,
            error: OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"),
        });
    }
    match server.issue_code(request, &account_id).await {
        Ok(code) => {
            let mut params = vec![("code", code.expose())];
            if let Some(state) = state {
                params.push(("state", state));
            }
            tracing::info!(client = %request.client_id, "authorization approved; code issued");
            server.redirect_with(&request.redirect_uri, &params)
        }
        Err(error) => server.redirect_error(RedirectError {
            redirect_uri: &request.redirect_uri,
            state,
            error,
        }),
    }
}

impl AuthorizationServer {
    async fn issue_code(
        &self,
        request: &PendingAuthorization,
        account_id: &str,
    ) -> Result<Secret, OAuthError> {
        let account = self.store.account(account_id).await?.ok_or_else(|| {
            OAuthError::new(ErrorCode::AccessDenied, "the account no longer exists")
        })?;
        let code = Secret::generate("pca_");
        self.store
            .insert_code(&portcullis_core::oauth::StoredCode {
                code_hash: code.digest(),
                grant_id: uuid::Uuid::now_v7().hyphenated().to_string(),
                client_id: request.client_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                code_challenge: request.code_challenge.clone(),
                scope: request.scope.clone(),
                resource: request.resource.clone(),
                subject: account.id,
                tenant: account.tenant,
                expires_at: timestamp::in_future(self.config.code_ttl),
                used_at: None,
            })
            .await?;
        Ok(code)
    }
}
