//! Who is calling `/mcp`: an OAuth bearer token or an API key (`X-API-Key`), never both, and
//! optionally the user a trusted API key acts for (`X-Mcp-User` or `X-User-ID`).
//!
//! Deny by default: an untrusted key, or a bearer token, that sends a user-context header is
//! refused rather than having the header ignored, so a misconfigured client finds out. Every
//! refusal here is written to the audit trail; allowed requests are recorded once the
//! endpoint knows which tool they call.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, Uri},
    middleware::Next,
    response::Response,
};
use portcullis_auth::{
    AuthError, AuthMethod, Principal, ResourceServer, ScopeSet, authenticate_bearer,
};
use portcullis_core::{ApiKey, ApiKeyRejection, AuditEvent, Store, TenantId};
use portcullis_metrics::AuthResult;

use crate::{
    audit_sink::AuditSink,
    headers::HeaderProblem,
    rate_limit::{RateLimits, address_refusal_for_mcp},
    request_context::LoggedUser,
};

const API_KEY_HEADER: &str = "x-api-key";
/// User-context headers, in order of preference; both name the same thing.
const USER_HEADERS: [&str; 2] = ["x-mcp-user", "x-user-id"];
/// `last_used_at` is written at most this often per key: it is a write, and keys are hot.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);
/// How long a user-context name's resolution to a local account is remembered.
const ACCOUNT_TTL: Duration = Duration::from_secs(30);
/// Most resolutions remembered (callers are trusted keys, but bound it anyway).
const MAX_ACCOUNTS: usize = 10_000;

/// (tenant, user-context name) → the local account's id if one has that name, and when that
/// was looked up.
type AccountCache = HashMap<(String, String), (Option<String>, Instant)>;

/// The user a trusted key acts for, kept on the request for the audit trail.
#[derive(Debug, Clone)]
pub(crate) struct ActingUser(pub String);

pub(crate) struct Authenticator {
    pub(crate) resource_server: Arc<ResourceServer>,
    pub(crate) store: Store,
    pub(crate) audit: AuditSink,
    rate_limits: Arc<RateLimits>,
    touched: Mutex<HashMap<String, Instant>>,
    accounts: Mutex<AccountCache>,
    metrics: Arc<portcullis_metrics::Metrics>,
}

impl Authenticator {
    pub(crate) fn new(
        resource_server: Arc<ResourceServer>,
        store: Store,
        audit: AuditSink,
        rate_limits: Arc<RateLimits>,
        metrics: Arc<portcullis_metrics::Metrics>,
    ) -> Self {
        Self {
            resource_server,
            store,
            audit,
            rate_limits,
            touched: Mutex::default(),
            accounts: Mutex::default(),
            metrics,
        }
    }

    /// The key's principal, and whether the key is trusted to act for users.
    async fn api_key(
        &self,
        presented: &str,
        event: &mut AuditEvent,
    ) -> Result<(Principal, bool), AuthError> {
        let key = match self.store.authenticate_api_key(presented).await {
            Ok(Ok(key)) => key,
            Ok(Err(rejection)) => {
                event.reason = format!("API key refused: {rejection}");
                return Err(match rejection {
                    ApiKeyRejection::Expired => AuthError::ExpiredApiKey,
                    _ => AuthError::InvalidApiKey,
                });
            }
            Err(error) => {
                tracing::error!(%error, "API key lookup failed");
                event.reason = "API key lookup failed (storage error)".into();
                return Err(AuthError::KeysUnavailable);
            }
        };
        event.credential = Some(key.id.clone());
        self.touch(&key);
        let trusted = key.trusted;
        Ok((principal_of(key), trusted))
    }

    /// The subject a user-context name stands for: a local account's id when an account of
    /// the key's tenant has that name (so acting for "alice" is the alice who signs in), else
    /// the name itself (an external user id).
    async fn subject_for(&self, tenant: &str, name: &str) -> Result<String, AuthError> {
        let key = (tenant.to_owned(), name.to_owned());
        let now = Instant::now();
        if let Some((id, at)) = self
            .accounts
            .lock()
            .expect("account cache poisoned")
            .get(&key)
            && now.duration_since(*at) < ACCOUNT_TTL
        {
            return Ok(id.clone().unwrap_or_else(|| name.to_owned()));
        }
        let account = self
            .store
            .oauth()
            .account_named(name)
            .await
            .map_err(|error| {
                tracing::error!(%error, "account lookup failed");
                AuthError::KeysUnavailable
            })?;
        let id = account
            .filter(|a| a.tenant.as_deref().unwrap_or(TenantId::DEFAULT) == tenant)
            .map(|a| a.id);
        let mut cache = self.accounts.lock().expect("account cache poisoned");
        if cache.len() >= MAX_ACCOUNTS {
            cache.retain(|_, (_, at)| now.duration_since(*at) < ACCOUNT_TTL);
            if cache.len() >= MAX_ACCOUNTS {
                cache.clear();
            }
        }
        cache.insert(key, (id.clone(), now));
        Ok(id.unwrap_or_else(|| name.to_owned()))
    }

    /// Records use of `key`, at most once a minute per key per process, off the request path.
    fn touch(&self, key: &ApiKey) {
        let now = Instant::now();
        let mut touched = self.touched.lock().expect("touch map poisoned");
        if touched
            .get(&key.id)
            .is_some_and(|last| now.duration_since(*last) < TOUCH_INTERVAL)
        {
            return;
        }
        touched.insert(key.id.clone(), now);
        let (store, id) = (self.store.clone(), key.id.clone());
        tokio::spawn(async move {
            if let Err(error) = store.touch_api_key(&id).await {
                tracing::warn!(%error, "could not record API key use");
            }
        });
    }
}

fn principal_of(key: ApiKey) -> Principal {
    Principal {
        subject: key.owner,
        method: AuthMethod::ApiKey,
        credential: Some(key.id),
        client_id: None,
        scopes: ScopeSet::parse(&key.scopes),
        tenant: Some(key.tenant),
        expires_at: 0,
        claims: Arc::default(),
    }
}

/// The single value of `name`; `Err` when it is repeated or not text.
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, AuthError> {
    crate::headers::single(headers, name).map_err(|problem| match problem {
        HeaderProblem::NotText => AuthError::InvalidRequest("a credential header is not ASCII"),
        HeaderProblem::Repeated => AuthError::InvalidRequest(
            "a credential or user-context header is repeated; send it once",
        ),
    })
}

/// The user named by `X-Mcp-User` / `X-User-ID`; both may be sent only if they agree.
fn user_context(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let [a, b] = USER_HEADERS.map(|h| single(headers, h));
    match (a?, b?) {
        (Some(a), Some(b)) if a != b => Err(AuthError::InvalidRequest(
            "X-Mcp-User and X-User-ID name different users; send one",
        )),
        (Some(user), _) | (None, Some(user)) => {
            // Never trimmed: a padded name is refused, not quietly made someone else's.
            if user.len() > 255 || !portcullis_auth::is_clean_identifier(user) {
                return Err(AuthError::InvalidRequest(
                    "X-Mcp-User must name a user in 1 to 255 characters, without leading or trailing whitespace or control characters",
                ));
            }
            Ok(Some(user))
        }
        (None, None) => Ok(None),
    }
}

/// Authenticates the request and inserts its [`Principal`] (and [`ActingUser`]); refuses and
/// audits otherwise. A key already over its budget is refused before it is looked up, and an
/// address that keeps failing is refused without filling the audit trail.
pub(crate) async fn authenticate(
    State(auth): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(refusal) = request
        .headers()
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|key| auth.rate_limits.refuse_blocked_key(key.trim()))
    {
        return refusal;
    }
    let mut event = AuditEvent::new("none", "authenticate", false, "");
    match identify(&auth, request.uri(), request.headers(), &mut event).await {
        Ok((principal, acting)) => {
            let method = principal.method.as_str();
            auth.metrics.auth(method, AuthResult::authenticated);
            let logged = LoggedUser {
                user: principal.subject.clone(),
                via: method,
            };
            request.extensions_mut().insert(principal);
            if let Some(user) = acting {
                request.extensions_mut().insert(ActingUser(user));
            }
            let mut response = next.run(request).await;
            response.extensions_mut().insert(logged);
            response
        }
        Err(error) => {
            let method = match event.method.as_str() {
                "oauth" => "oauth",
                "api_key" => "api_key",
                _ => "none",
            };
            auth.metrics.auth(method, AuthResult::rejected);
            let connected = request
                .extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0);
            if let Err((secs, fields)) = auth
                .rate_limits
                .check_address(request.headers(), connected)
                .await
            {
                return address_refusal_for_mcp(secs, fields);
            }
            if event.reason.is_empty() {
                event.reason = error.to_string();
            }
            // Refused either way; a failed write is logged by the sink.
            let _ = auth.audit.record(event).await;
            auth.resource_server.reject_for(request.headers(), error)
        }
    }
}

// Takes the URI and headers, not the request: its body is not `Sync`.
async fn identify(
    auth: &Authenticator,
    uri: &Uri,
    headers: &HeaderMap,
    event: &mut AuditEvent,
) -> Result<(Principal, Option<String>), AuthError> {
    let api_key = single(headers, API_KEY_HEADER)?;
    let has_bearer = headers.contains_key(axum::http::header::AUTHORIZATION);
    let (mut principal, trusted_key) = match api_key {
        Some(_) if has_bearer => {
            return Err(AuthError::InvalidRequest(
                "send either Authorization: Bearer or X-API-Key, not both",
            ));
        }
        Some(key) => {
            event.method = AuthMethod::ApiKey.as_str().into();
            auth.api_key(key.trim(), event).await?
        }
        None => {
            if has_bearer {
                event.method = AuthMethod::Oauth.as_str().into();
            }
            let principal = authenticate_bearer(&auth.resource_server, uri, headers).await?;
            (principal, false)
        }
    };
    event.method = principal.method.as_str().into();
    event.credential = principal.credential.clone();
    event.subject = Some(principal.subject.clone());
    event.tenant = principal.tenant.clone();
    let Some(user) = user_context(headers)? else {
        return Ok((principal, None));
    };
    event.acting_user = Some(user.to_owned());
    if !trusted_key {
        return Err(AuthError::AccessDenied(
            "X-Mcp-User / X-User-ID is accepted only with a trusted API key; this credential acts only for itself"
                .into(),
        ));
    }
    let tenant = principal
        .tenant
        .as_deref()
        .unwrap_or(TenantId::DEFAULT)
        .to_owned();
    principal.subject = auth.subject_for(&tenant, user).await?;
    Ok((principal, Some(user.to_owned())))
}
