//! `/mcp`: the Streamable HTTP endpoint (MCP 2026-07-28 "Transports", and the 2025
//! revisions' session handshake for clients that still use it).
//!
//! In this order: `Origin`/`Host` checks, authentication (bearer token or API key, see
//! [`crate::authentication`]), then a look at the JSON-RPC body to (1) apply the per-tool
//! policy before a `tools/call` runs, answering `403 insufficient_scope` when a scope is
//! missing — an HTTP-level refusal is what lets OAuth clients step up, an in-band tool error
//! would not — and record the decision in the audit trail,
//! (2) serve well-formed stateless `tools/call`/`tools/list` through [`DirectDispatch`] (see
//! there for why), and (3) hand everything else to rmcp's `StreamableHttpService`: legacy
//! `initialize`/session traffic to the session-keeping instance when sessions are enabled, the
//! rest statelessly with plain JSON responses.

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{Method, StatusCode},
    middleware::from_fn_with_state,
    response::{IntoResponse, Response},
    routing::any,
};
use portcullis_auth::{AuthError, Principal, ResourceServer};
use portcullis_core::{AuditEvent, Store};
use portcullis_mcp::{Denial, Policy, PortcullisMcp};
use portcullis_metrics::AuthResult;
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService,
    session::{local::LocalSessionManager, never::NeverSessionManager},
};
use serde_json::json;

use crate::{
    HttpSettings,
    audit_sink::AuditSink,
    authentication::{self, ActingUser, Authenticator},
    direct_dispatch::{DirectDispatch, Peek, eligible},
    origin_guard,
    rate_limit::RateLimits,
    request_check,
    session_owners::{SessionOwners, owner_of},
};

type Stateless = StreamableHttpService<PortcullisMcp, NeverSessionManager>;
type Sessions = StreamableHttpService<PortcullisMcp, LocalSessionManager>;

struct Endpoint {
    direct: DirectDispatch,
    stateless: Stateless,
    /// Stateless too, but answering with an event stream: for calls whose client asked for
    /// progress, so an upstream's progress and log messages can reach it before the result.
    streaming: Stateless,
    sessions: Option<Sessions>,
    resource_server: Arc<ResourceServer>,
    policy: Arc<Policy>,
    audit: AuditSink,
    rate_limits: Arc<RateLimits>,
    max_body_bytes: usize,
    /// Who opened each legacy session.
    owners: SessionOwners,
    metrics: Arc<portcullis_metrics::Metrics>,
}

pub(crate) fn router(
    store: Store,
    rs: Arc<ResourceServer>,
    audit: AuditSink,
    settings: &HttpSettings,
) -> Router {
    let handler = match &settings.tasks {
        Some(source) => {
            PortcullisMcp::with_source(store.clone(), source.clone(), settings.policy.clone())
        }
        None => PortcullisMcp::new(store.clone(), settings.policy.clone()),
    };
    // Host and Origin are checked by our own guard (which also knows the public URL).
    let base = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_json_response(true)
        .with_max_request_body_bytes(settings.max_body_bytes);
    let direct = DirectDispatch::new(handler.clone());
    let stateless_with = |json: bool| {
        let handler = handler.clone();
        StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(NeverSessionManager::default()),
            base.clone()
                .with_legacy_session_mode(false)
                .with_json_response(json),
        )
    };
    let (stateless, streaming) = (stateless_with(true), stateless_with(false));
    let sessions = settings.legacy_sessions.then(|| {
        StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            base.with_legacy_session_mode(true),
        )
    });
    let endpoint = Arc::new(Endpoint {
        direct,
        stateless,
        streaming,
        sessions,
        resource_server: rs.clone(),
        policy: settings.policy.clone(),
        audit: audit.clone(),
        rate_limits: settings.rate_limits.clone(),
        max_body_bytes: settings.max_body_bytes,
        owners: SessionOwners::default(),
        metrics: settings.metrics.clone(),
    });
    let origins = Arc::new(settings.origin_policy.clone());
    let authenticator = Arc::new(Authenticator::new(
        rs,
        store,
        audit,
        settings.rate_limits.clone(),
        settings.metrics.clone(),
    ));
    Router::new()
        .route("/mcp", any(handle))
        .with_state(endpoint)
        .route_layer(from_fn_with_state(
            authenticator,
            authentication::authenticate,
        ))
        .route_layer(from_fn_with_state(origins, origin_guard::guard))
}

async fn handle(State(ep): State<Arc<Endpoint>>, request: Request) -> Response {
    let uses_session = request.headers().contains_key("mcp-session-id");
    if uses_session && let Some(refusal) = refuse_foreign_session(&ep, &request) {
        return refusal;
    }
    if request.method() != Method::POST {
        let event = decision(
            request.extensions(),
            request.method().as_str(),
            None,
            Ok(()),
        );
        if ep.audit.record(event).await.is_err() {
            return audit_unavailable();
        }
        // GET (legacy standalone SSE stream) and DELETE (session end) only mean something to a
        // session; the stateless service answers 405 as the transport specifies.
        let ending = (request.method() == Method::DELETE)
            .then(|| session_id(request.headers()).map(str::to_owned))
            .flatten();
        return match (&ep.sessions, uses_session) {
            (Some(sessions), true) => {
                let response = serve(sessions, request).await;
                if let Some(id) = ending
                    && response.status().is_success()
                {
                    ep.owners.forget(&id);
                }
                response
            }
            _ => serve(&ep.stateless, request).await,
        };
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, ep.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let message = format!(
                "Invalid request: the body is larger than {} bytes; send smaller arguments",
                ep.max_body_bytes
            );
            return jsonrpc_error(StatusCode::PAYLOAD_TOO_LARGE, -32600, &message);
        }
    };
    let Ok(peek) = serde_json::from_slice::<Peek>(&bytes) else {
        return jsonrpc_error(
            StatusCode::BAD_REQUEST,
            -32700,
            "Parse error: the body must be one JSON-RPC message (a JSON object)",
        );
    };
    let method = peek.method.as_deref().unwrap_or_default();
    let tool = (method == "tools/call").then(|| {
        peek.params
            .as_ref()
            .and_then(|p| p.name.as_deref())
            .unwrap_or_default()
    });
    let response =
        authorize_and_serve(&ep, parts, bytes.clone(), &peek, method, tool, uses_session).await;
    if let Some(tool) = tool {
        // A known tool's name, or "unknown": names from requests must not become label values.
        let label = ep.policy.known_tool(tool).unwrap_or("unknown".into());
        ep.metrics
            .tool_calls
            .get_or_create(&portcullis_metrics::ToolLabels {
                tool: label,
                status: response.status().as_u16(),
            })
            .inc();
    }
    response
}

/// Rate limit, policy and audit for one POST, then its dispatch.
async fn authorize_and_serve(
    ep: &Endpoint,
    parts: axum::http::request::Parts,
    bytes: bytes::Bytes,
    peek: &Peek<'_>,
    method: &str,
    tool: Option<&str>,
    uses_session: bool,
) -> Response {
    // Malformed whoever sends it: refused before it costs anyone budget.
    if let Err(malformed) = request_check::check(&parts.headers, peek) {
        return malformed.into_response(peek.id.as_ref());
    }
    // A tool no rule names is refused (and audited) before any budget, too.
    if let Some(tool) = tool
        && ep.policy.rule(tool).is_none()
    {
        let denial = Denial::NoRule {
            tool: tool.to_owned(),
        };
        // Refused either way; a failed write is logged by the sink.
        let _ = ep
            .audit
            .record(call_decision(
                &ep.policy,
                &parts.extensions,
                method,
                Some(tool),
                Err(&denial),
            ))
            .await;
        let body = json!({
            "jsonrpc": "2.0",
            "id": peek.id,
            "error": { "code": -32602, "message": format!("Unknown tool: {}", denial.message()) },
        });
        return (StatusCode::OK, axum::Json(body)).into_response();
    }
    // Over budget: refused before the policy, the audit trail or any tool sees the call.
    let mut rate_fields = None;
    if let (Some(tool), Some(principal)) = (tool, parts.extensions.get::<Principal>()) {
        let acting = parts.extensions.get::<ActingUser>().is_some();
        let id = peek.id.clone().unwrap_or_default();
        match ep
            .rate_limits
            .check_call(principal, acting, tool, &id)
            .await
        {
            Ok(fields) => rate_fields = fields,
            Err(refusal) => return *refusal,
        }
    }
    // An upstream's resource or prompt is held to that upstream's read rule.
    let read = upstream_read(&ep.policy, peek, method);
    let verdict = match (tool, &read, parts.extensions.get::<Principal>()) {
        (Some(tool), _, Some(principal)) => ep.policy.check(tool, principal),
        (None, Some((upstream, item)), Some(principal)) => {
            ep.policy.check_read(upstream, item, principal)
        }
        _ => Ok(()),
    };
    if let (Some(_), Some(principal)) = (tool, parts.extensions.get::<Principal>()) {
        let result = if verdict.is_ok() {
            AuthResult::allowed
        } else {
            AuthResult::denied
        };
        ep.metrics.auth(principal.method.as_str(), result);
    }
    let mut event = call_decision(
        &ep.policy,
        &parts.extensions,
        method,
        tool.or(read.as_ref().map(|(_, item)| *item)),
        verdict.as_ref().map(|_| ()),
    );
    if let Some((upstream, _)) = &read {
        event.upstream = Some(upstream.to_string());
    }
    // Committed before the call runs: an answered call is never missing from the trail.
    if ep.audit.record(event).await.is_err() && verdict.is_ok() {
        return audit_unavailable();
    }
    if let (Err(denial), Some(principal)) = (verdict, parts.extensions.get::<Principal>()) {
        return ep.resource_server.reject_for(
            &parts.headers,
            match &denial {
                Denial::Scope { tool, .. } => AuthError::InsufficientScope {
                    required: match &read {
                        Some((upstream, _)) => {
                            ep.policy.step_up_scope_for_reads(upstream, principal)
                        }
                        None => ep.policy.step_up_scope(tool, principal),
                    },
                },
                Denial::Method { .. } | Denial::NoRule { .. } => {
                    AuthError::AccessDenied(denial.message())
                }
            },
        );
    }
    let to_sessions = uses_session || method == "initialize";
    let direct = eligible(&parts.headers, peek);
    let streamed = peek.params.as_ref().is_some_and(|p| p.wants_progress());
    let mut response = dispatch(ep, parts, bytes, direct, to_sessions, streamed).await;
    if let Some(fields) = rate_fields {
        fields.apply(response.headers_mut());
    }
    response
}

/// Serves an authorized POST: directly when eligible, else through rmcp.
async fn dispatch(
    ep: &Endpoint,
    parts: axum::http::request::Parts,
    bytes: bytes::Bytes,
    direct: bool,
    to_sessions: bool,
    streamed: bool,
) -> Response {
    let (parts, bytes) = if direct {
        match ep.direct.serve(parts, bytes).await {
            Ok(response) => return response,
            Err(back) => back,
        }
    } else {
        (parts, bytes)
    };
    let opener = parts.extensions.get::<Principal>().map(owner_of);
    let request = Request::from_parts(parts, Body::from(bytes));
    match &ep.sessions {
        Some(sessions) if to_sessions => {
            let response = serve(sessions, request).await;
            // A new session (the answer to `initialize`) belongs to whoever opened it.
            if let (Some(id), Some(owner)) = (session_id(response.headers()), opener) {
                ep.owners.bind(id, owner);
            }
            response
        }
        _ if streamed => serve(&ep.streaming, request).await,
        _ => serve(&ep.stateless, request).await,
    }
}

fn session_id(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers.get("mcp-session-id").and_then(|v| v.to_str().ok())
}

/// 404, as for an unknown session, when the request names a session another principal opened
/// (or one this server does not know).
fn refuse_foreign_session(ep: &Endpoint, request: &Request) -> Option<Response> {
    ep.sessions.as_ref()?;
    let owner = request.extensions().get::<Principal>().map(owner_of);
    let id = session_id(request.headers());
    match (id, owner) {
        (Some(id), Some(owner)) if ep.owners.is_owner(id, &owner) => None,
        _ => Some(jsonrpc_error(
            StatusCode::NOT_FOUND,
            -32600,
            "Session not found: it has ended, or it belongs to another user; start a new one with initialize",
        )),
    }
}

/// The audit record of an authenticated request: who, how, which call, and the verdict.
fn decision(
    extensions: &axum::http::Extensions,
    action: &str,
    tool: Option<&str>,
    verdict: Result<(), &Denial>,
) -> AuditEvent {
    let principal = extensions.get::<Principal>();
    let method = principal.map_or("none", |p| p.method.as_str());
    let reason = match verdict {
        Ok(()) => "authenticated; the policy allows the call".to_owned(),
        Err(denial) => denial.message(),
    };
    let mut event = AuditEvent::new(method, action, verdict.is_ok(), reason);
    if let Some(p) = principal {
        event.credential = p.credential.clone();
        event.subject = Some(p.subject.clone());
        event.tenant = p.tenant.clone();
    }
    // With a user context the principal's subject is that user; the key's owner is not
    // recorded separately, the key id names it.
    event.acting_user = extensions.get::<ActingUser>().map(|a| a.0.clone());
    event.tool = tool.map(str::to_owned);
    event
}

/// The audit record of a `tools/call`, naming the upstream the tool belongs to.
/// The upstream and item of a `resources/read` (by its URI) or `prompts/get` (by its name)
/// that names an upstream's resource or prompt.
fn upstream_read<'a>(
    policy: &'a Policy,
    peek: &'a Peek<'_>,
    method: &str,
) -> Option<(&'a str, &'a str)> {
    let gateway = policy.gateway()?;
    let params = peek.params.as_ref()?;
    match method {
        "resources/read" => {
            let uri = params.uri.as_deref()?;
            Some((gateway.resource_owner(uri)?, uri))
        }
        "prompts/get" => {
            let name = params.name.as_deref()?;
            Some((gateway.upstream_of(name)?, name))
        }
        _ => None,
    }
}

fn call_decision(
    policy: &Policy,
    extensions: &axum::http::Extensions,
    action: &str,
    tool: Option<&str>,
    verdict: Result<(), &Denial>,
) -> AuditEvent {
    let mut event = decision(extensions, action, tool, verdict);
    event.upstream = tool
        .and_then(|t| policy.gateway()?.upstream_of(t).map(str::to_owned))
        .filter(|_| tool.is_some_and(|t| !policy.serves_builtin(t)));
    event
}

async fn serve<M>(service: &StreamableHttpService<PortcullisMcp, M>, request: Request) -> Response
where
    M: rmcp::transport::streamable_http_server::SessionManager,
{
    service.handle(request).await.map(Body::new)
}

/// Fail closed: a call whose decision cannot be recorded is not run.
fn audit_unavailable() -> Response {
    let mut response = jsonrpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        -32603,
        "Internal error: the audit trail cannot be written, so the call was not run; try again shortly",
    );
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("5"),
    );
    response
}

fn jsonrpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body =
        json!({ "jsonrpc": "2.0", "id": null, "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}
