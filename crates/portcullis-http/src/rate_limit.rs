//! Rate limits at the HTTP edge: which budgets a request draws on, and how a refusal reads.
//!
//! - Every `tools/call` draws on its caller's budget: a user (signed in, or acted for by a
//!   trusted key), an API key acting for itself, or an OAuth client holding a
//!   client-credentials token. A tool or group with its own limit draws on that budget instead.
//!   Optional budgets per OAuth client and per tenant apply on top.
//! - Unauthenticated traffic draws on a per-address budget: POSTs to the authorization
//!   server's endpoints (token, login, registration, revocation), and failed authentications on
//!   `/mcp`, so a flood of bad credentials cannot fill the audit trail.
//!
//! Refusals are 429 with `Retry-After` (RFC 9110 §10.2.3) and the `RateLimit-Policy` /
//! `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers; for MCP the body is a JSON-RPC
//! error whose `data` an AI can act on. A refused request is never audited and never reaches
//! the database.

use std::{
    collections::HashMap,
    fmt,
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use portcullis_auth::{AuthMethod, ClientNetwork, Principal};
use portcullis_ratelimit::{
    Bucket, BucketKey, Decision, KeyClass, MAX_BUCKETS, Outcome, Quota, RateLimiter,
};
use serde_json::json;

/// A tool (or its group) with a budget of its own instead of the caller's default one.
#[derive(Debug, Clone, Copy)]
pub struct ToolLimit {
    /// The tool or group name the budget is kept under (a group shares one budget).
    pub scope: &'static str,
    /// `None`: calls to it are not limited.
    pub quota: Option<Quota>,
}

/// The limits the HTTP layer enforces, and the limiter that keeps their budgets.
#[derive(Clone)]
pub struct RateLimits {
    pub limiter: Arc<RateLimiter>,
    /// Each caller's default budget for tool calls; `None` turns it off.
    pub per_principal: Option<Quota>,
    pub tools: HashMap<&'static str, ToolLimit>,
    /// One budget per OAuth client across all its users.
    pub per_client: Option<Quota>,
    /// One budget per tenant across all its callers.
    pub per_tenant: Option<Quota>,
    /// Per network address, for unauthenticated requests.
    pub per_ip: Option<Quota>,
    /// Per network address, for dynamic client registrations (each address's share of the
    /// server-wide ceiling, so one address cannot use it all up).
    pub per_ip_registrations: Option<Quota>,
    /// Take the client address from this header (set by a trusted proxy) instead of the socket.
    pub client_ip_header: Option<HeaderName>,
}

impl fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimits")
            .field("backend", &self.limiter.backend())
            .field("per_principal", &self.per_principal)
            .field("tools", &self.tools)
            .field("per_client", &self.per_client)
            .field("per_tenant", &self.per_tenant)
            .field("per_ip", &self.per_ip)
            .field("per_ip_registrations", &self.per_ip_registrations)
            .finish()
    }
}

impl RateLimits {
    /// No limits at all, in process (for embedding and tests).
    pub fn none() -> Self {
        Self {
            limiter: Arc::new(RateLimiter::in_process()),
            per_principal: None,
            tools: HashMap::new(),
            per_client: None,
            per_tenant: None,
            per_ip: None,
            per_ip_registrations: None,
            client_ip_header: None,
        }
    }

    /// The budgets a `tools/call` of `tool` by `principal` draws on (the first `n` of the
    /// array). `acting` is true when a trusted key acts for the principal's subject.
    fn call_buckets<'a>(
        &'a self,
        principal: &'a Principal,
        acting: bool,
        tool: &str,
    ) -> ([Option<Bucket<'a>>; MAX_BUCKETS], usize) {
        let mut out: [Option<Bucket<'a>>; MAX_BUCKETS] = [None; MAX_BUCKETS];
        let mut n = 0;
        let mut push = |class, scope, tenant, id, quota| {
            let key = BucketKey {
                class,
                scope,
                tenant,
                id,
            };
            out[n] = Some(Bucket { key, quota });
            n += 1;
        };
        let (class, tenant, id) = caller_identity(principal, acting);
        let (scope, quota) = match self.tools.get(tool) {
            Some(limit) => (limit.scope, limit.quota),
            None => ("", self.per_principal),
        };
        if let Some(quota) = quota {
            push(class, scope, tenant, id, quota);
        }
        if let (Some(quota), Some(client)) = (self.per_client, principal.client_id.as_deref())
            && class != KeyClass::Client
        {
            push(KeyClass::Client, "", "", client, quota);
        }
        if let (Some(quota), Some(tenant)) = (self.per_tenant, principal.tenant.as_deref()) {
            push(KeyClass::Tenant, "", "", tenant, quota);
        }
        (out, n)
    }

    /// Charges a `tools/call`: `Ok` with the `RateLimit` fields for the response, or the 429
    /// (or, with Redis down and failing closed, 503) to send instead.
    pub(crate) async fn check_call(
        &self,
        principal: &Principal,
        acting: bool,
        tool: &str,
        request_id: &serde_json::Value,
    ) -> Result<Option<RateFields>, Box<Response>> {
        let (slots, n) = self.call_buckets(principal, acting, tool);
        let Some(first) = slots[0] else {
            return Ok(None);
        };
        let buckets: [Bucket<'_>; MAX_BUCKETS] = slots.map(|slot| slot.unwrap_or(first));
        let buckets = &buckets[..n];
        let decision = self.limiter.check(buckets).await;
        let fields = RateFields::new(buckets, &decision);
        if decision.allowed() {
            return Ok(fields);
        }
        Err(Box::new(refusal_for_call(
            buckets, &decision, fields, tool, request_id,
        )))
    }

    /// Refuses an API key already known to be over its budget, before its (database) lookup.
    pub(crate) fn refuse_blocked_key(&self, presented: &str) -> Option<Response> {
        self.per_principal?;
        let id = portcullis_core::api_key_id(presented)?;
        let key = BucketKey {
            class: KeyClass::ApiKey,
            scope: "",
            tenant: "",
            id,
        };
        let wait = self.limiter.blocked_for(&key)?;
        self.limiter.count_blocked(KeyClass::ApiKey);
        let secs = wait.as_micros().div_ceil(1_000_000).max(1) as u64;
        let mut response = jsonrpc_refusal(
            StatusCode::TOO_MANY_REQUESTS,
            &serde_json::Value::Null,
            &format!("Rate limit exceeded for this API key; retry in {secs} seconds"),
            json!({
                "error_type": "rate_limited",
                "retry_after_seconds": secs,
                "budget": "api_key",
                "suggestions": [format!("Wait {secs} seconds before the next call")],
            }),
        );
        set_retry_after(response.headers_mut(), secs);
        Some(response)
    }

    /// Charges the per-address budget for an unauthenticated request; `Err` with the number of
    /// seconds to wait when it is spent. Requests whose address is unknown are not limited.
    pub(crate) async fn check_address(
        &self,
        headers: &HeaderMap,
        connected: Option<SocketAddr>,
    ) -> Result<(), (u64, RateFields)> {
        let network = self.client_network(headers, connected);
        self.charge_network(network.as_ref(), self.per_ip, "").await
    }

    /// Charges `network`'s budget `quota`, kept under `scope`.
    async fn charge_network(
        &self,
        network: Option<&ClientNetwork>,
        quota: Option<Quota>,
        scope: &str,
    ) -> Result<(), (u64, RateFields)> {
        let (Some(quota), Some(network)) = (quota, network) else {
            return Ok(());
        };
        let bucket = Bucket {
            key: BucketKey {
                class: KeyClass::Ip,
                scope,
                tenant: "",
                id: &network.0,
            },
            quota,
        };
        let decision = self.limiter.check(&[bucket]).await;
        if decision.allowed() {
            return Ok(());
        }
        let fields = RateFields::new(&[bucket], &decision).expect("one bucket");
        Err((decision.retry_after_secs(), fields))
    }

    /// The caller's network: from the trusted proxy header when one is configured, else the
    /// socket's peer.
    pub(crate) fn client_network(
        &self,
        headers: &HeaderMap,
        connected: Option<SocketAddr>,
    ) -> Option<ClientNetwork> {
        self.client_ip(headers, connected).map(ClientNetwork::of)
    }

    fn client_ip(&self, headers: &HeaderMap, connected: Option<SocketAddr>) -> Option<IpAddr> {
        match &self.client_ip_header {
            Some(name) => {
                // X-Forwarded-For may list a chain; the proxy we trust appended the last one.
                let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
                value.rsplit(',').next()?.trim().parse().ok()
            }
            None => connected.map(|a| a.ip()),
        }
    }

    /// Prometheus text for the limiter's counters.
    pub(crate) fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        out.push_str(
            "# HELP portcullis_rate_limit_decisions_total Rate-limit decisions by key class and outcome.\n\
             # TYPE portcullis_rate_limit_decisions_total counter\n",
        );
        for (class, outcome, n) in self.limiter.metrics().snapshot() {
            let _ = writeln!(
                out,
                "portcullis_rate_limit_decisions_total{{class=\"{}\",outcome=\"{}\"}} {n}",
                class.as_str(),
                outcome.as_str()
            );
        }
    }
}

/// Whose default budget a call draws on: (class, tenant part of the key, id).
fn caller_identity(principal: &Principal, acting: bool) -> (KeyClass, &str, &str) {
    match (principal.method, acting) {
        (AuthMethod::ApiKey, false) => (
            KeyClass::ApiKey,
            "",
            principal
                .credential
                .as_deref()
                .unwrap_or(&principal.subject),
        ),
        (AuthMethod::ClientCredentials, _) => (KeyClass::Client, "", &principal.subject),
        _ => (
            KeyClass::User,
            principal.tenant.as_deref().unwrap_or_default(),
            &principal.subject,
        ),
    }
}

/// The `RateLimit-Policy` and `RateLimit` field values of one decision.
#[derive(Debug, Clone)]
pub(crate) struct RateFields {
    policy: HeaderValue,
    limit: HeaderValue,
}

impl RateFields {
    fn new(buckets: &[Bucket<'_>], decision: &Decision) -> Option<Self> {
        use std::fmt::Write;
        let states = decision.states();
        if states.is_empty() {
            return None;
        }
        let (mut policy, mut limit) = (String::new(), String::new());
        for (bucket, state) in buckets.iter().zip(states) {
            let name = policy_name(&bucket.key);
            let sep = if policy.is_empty() { "" } else { ", " };
            let q = bucket.quota;
            let _ = write!(
                policy,
                "{sep}\"{name}\";q={};w={}",
                q.count(),
                q.period().as_secs()
            );
            let wait = if state.retry_us > 0 {
                state.retry_us
            } else {
                state.reset_us
            };
            let _ = write!(
                limit,
                "{sep}\"{name}\";r={};t={}",
                state.remaining,
                wait.div_ceil(1_000_000)
            );
        }
        Some(Self {
            policy: HeaderValue::from_str(&policy).ok()?,
            limit: HeaderValue::from_str(&limit).ok()?,
        })
    }

    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        headers.insert(HeaderName::from_static("ratelimit-policy"), self.policy);
        headers.insert(HeaderName::from_static("ratelimit"), self.limit);
    }
}

/// `user`, `api_key`, `client`, `tenant`, `ip`; with a tool's own budget `user.create_task`.
fn policy_name(key: &BucketKey<'_>) -> String {
    if key.scope.is_empty() {
        key.class.as_str().to_owned()
    } else {
        format!("{}.{}", key.class.as_str(), key.scope)
    }
}

fn refusal_for_call(
    buckets: &[Bucket<'_>],
    decision: &Decision,
    fields: Option<RateFields>,
    tool: &str,
    request_id: &serde_json::Value,
) -> Response {
    let secs = decision.retry_after_secs();
    let mut response = if decision.outcome == Outcome::FailedClosed {
        jsonrpc_refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            request_id,
            &format!(
                "The rate limiter's shared store is unavailable, so calls are refused; retry in {secs} seconds"
            ),
            json!({
                "error_type": "rate_limiter_unavailable",
                "retry_after_seconds": secs,
                "suggestions": [format!("Retry in {secs} seconds"), "Tell the operator if this persists"],
            }),
        )
    } else {
        // Name the budget that refused (the first one, if several did).
        let refused = buckets
            .iter()
            .zip(decision.states())
            .find(|(_, s)| s.retry_us > 0)
            .map(|(b, _)| b)
            .unwrap_or(&buckets[0]);
        let budget = policy_name(&refused.key);
        let quota = refused.quota;
        jsonrpc_refusal(
            StatusCode::TOO_MANY_REQUESTS,
            request_id,
            &format!(
                "Rate limit exceeded: the {budget} budget allows {quota} calls; retry {tool} in {secs} seconds"
            ),
            json!({
                "error_type": "rate_limited",
                "retry_after_seconds": secs,
                "budget": budget,
                "limit": quota.to_string(),
                "suggestions": [
                    format!("Wait {secs} seconds before calling {tool} again"),
                    "Make fewer calls: batch work, and do not retry in a tight loop",
                ],
            }),
        )
    };
    set_retry_after(response.headers_mut(), secs);
    if let Some(fields) = fields {
        fields.apply(response.headers_mut());
    }
    response
}

fn set_retry_after(headers: &mut HeaderMap, secs: u64) {
    headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
}

/// JSON-RPC error -32029 ("429"), in the implementation-defined server error range.
fn jsonrpc_refusal(
    status: StatusCode,
    id: &serde_json::Value,
    message: &str,
    data: serde_json::Value,
) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": -32029, "message": message, "data": data },
    });
    (status, axum::Json(body)).into_response()
}

/// A 429 for a failed authentication from an address over its budget.
pub(crate) fn address_refusal_for_mcp(secs: u64, fields: RateFields) -> Response {
    let mut response = jsonrpc_refusal(
        StatusCode::TOO_MANY_REQUESTS,
        &serde_json::Value::Null,
        &format!("Too many failed authentications from this address; retry in {secs} seconds"),
        json!({
            "error_type": "rate_limited",
            "retry_after_seconds": secs,
            "budget": "ip",
            "suggestions": ["Check the credential before retrying", format!("Wait {secs} seconds")],
        }),
    );
    set_retry_after(response.headers_mut(), secs);
    fields.apply(response.headers_mut());
    response
}

/// Middleware for the authorization server: tells the handlers the caller's network (sign-in
/// lockouts are kept per network), and every POST draws on its address's budget; a dynamic
/// registration also on that address's share of registrations.
pub async fn limit_by_address(
    State(limits): State<Arc<RateLimits>>,
    mut request: Request,
    next: Next,
) -> Response {
    let connected = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let network = limits.client_network(request.headers(), connected);
    if let Some(network) = &network {
        request.extensions_mut().insert(network.clone());
    }
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let mut charged = limits
        .charge_network(network.as_ref(), limits.per_ip, "")
        .await;
    if charged.is_ok() && request.uri().path() == "/register" {
        charged = limits
            .charge_network(network.as_ref(), limits.per_ip_registrations, "register")
            .await;
    }
    let Err((secs, fields)) = charged else {
        return next.run(request).await;
    };
    let message = format!("too many requests from this address; retry in {secs} seconds");
    let mut response = if request.uri().path().starts_with("/authorize") {
        // The login and consent forms: a person reads this.
        (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many attempts from your network address. Wait {secs} seconds and try again.\n"
            ),
        )
            .into_response()
    } else {
        // RFC 6749 §5.2 has no rate-limit code; temporarily_unavailable is the closest
        // registered one, and the status and Retry-After say the rest.
        let body = json!({ "error": "temporarily_unavailable", "error_description": message });
        (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
    };
    set_retry_after(response.headers_mut(), secs);
    fields.apply(response.headers_mut());
    response
}
