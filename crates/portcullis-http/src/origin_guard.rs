//! `Origin` and `Host` checks for the MCP endpoint (MCP 2026-07-28, Transports, "Security
//! Warning"): an `Origin` that is present and not allowed gets 403, and a `Host` that is neither
//! a loopback name nor an allowed host gets 403, which defeats DNS rebinding against a server
//! on loopback (no CORS preflight fires in that attack, so only the server can refuse).
//!
//! For browser-based MCP clients at an allowed origin it also answers CORS: preflights
//! (`OPTIONS` with `Access-Control-Request-Method`) get 204 before authentication, and every
//! response to an allowed origin names it in `Access-Control-Allow-Origin` and exposes the
//! headers a client must read (`WWW-Authenticate` for the OAuth challenge, `Mcp-Session-Id`,
//! the rate-limit fields).

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// Which origins and hosts may reach the MCP endpoint.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    /// Exact origins (`scheme://host[:port]`) browsers may call from. The public URL's origin is
    /// always allowed. `*` allows any origin.
    pub allowed_origins: Vec<String>,
    /// `Host` values accepted besides loopback names (`localhost`, `127.0.0.1`, `[::1]`, any
    /// port). The public URL's host is always allowed. `*` disables the check.
    pub allowed_hosts: Vec<String>,
}

impl OriginPolicy {
    /// The policy for a server reached at `public_url`, plus configured extras.
    pub fn for_public_url(public_url: &url::Url, origins: Vec<String>, hosts: Vec<String>) -> Self {
        let mut allowed_origins = origins;
        allowed_origins.push(public_url.origin().ascii_serialization());
        // Stored as bare host names so a request's check is a comparison, not a parse.
        let mut allowed_hosts: Vec<String> =
            hosts.iter().map(|h| host_name(h).to_owned()).collect();
        if let Some(host) = public_url.host_str() {
            allowed_hosts.push(host_name(host).to_owned());
        }
        Self {
            allowed_origins,
            allowed_hosts,
        }
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }

    fn host_allowed(&self, host_header: &str) -> bool {
        let host = host_name(host_header);
        is_loopback_name(host)
            || self
                .allowed_hosts
                .iter()
                .any(|h| h == "*" || h.eq_ignore_ascii_case(host))
    }
}

/// The host part of a `Host` header value, without port (IPv6 keeps its brackets).
fn host_name(value: &str) -> &str {
    let value = value.trim();
    if value.starts_with('[') {
        return value.find(']').map_or(value, |end| &value[..=end]);
    }
    match value.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => value,
    }
}

fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host == "[::1]"
        || host.starts_with("127.") && host.parse::<std::net::Ipv4Addr>().is_ok()
}

pub(crate) async fn guard(
    State(policy): State<Arc<OriginPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| policy.origin_allowed(o));
        if !allowed {
            return (
                StatusCode::FORBIDDEN,
                "Forbidden: this Origin may not use the MCP endpoint",
            )
                .into_response();
        }
    }
    // HTTP/1.1 sends `Host`; HTTP/2 sends the authority in the URI.
    let host = match headers.get(header::HOST) {
        // An unreadable (non-ASCII) Host is checked as empty, and so refused.
        Some(h) => Some(h.to_str().unwrap_or_default()),
        None => request.uri().authority().map(|a| a.as_str()),
    };
    if host.is_some_and(|h| !policy.host_allowed(h)) {
        return (
            StatusCode::FORBIDDEN,
            "Forbidden: unknown Host (DNS rebinding protection)",
        )
            .into_response();
    }
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        return next.run(request).await;
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let h = response.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        response
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    response
}

/// Request headers an MCP client sends.
const ALLOW_HEADERS: &str = "authorization, content-type, accept, mcp-protocol-version, \
    mcp-session-id, mcp-method, mcp-name, last-event-id, x-api-key, x-mcp-user, x-request-id";
/// Response headers an MCP client reads.
const EXPOSE_HEADERS: &str = "www-authenticate, mcp-session-id, mcp-protocol-version, \
    retry-after, ratelimit, ratelimit-policy, x-request-id";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_public_hosts_pass_others_do_not() {
        let url: url::Url = "https://mcp.example.com/".parse().unwrap();
        let p = OriginPolicy::for_public_url(&url, vec![], vec![]);
        assert!(p.host_allowed("127.0.0.1:8080"));
        assert!(p.host_allowed("localhost"));
        assert!(p.host_allowed("[::1]:9"));
        assert!(p.host_allowed("MCP.example.com:443"));
        assert!(!p.host_allowed("evil.example:8080"));
        assert!(!p.host_allowed("127.0.0.1.evil.example"));
        assert!(!p.host_allowed(""));
        assert!(p.origin_allowed("https://mcp.example.com"));
        assert!(!p.origin_allowed("https://evil.example"));
    }
}
