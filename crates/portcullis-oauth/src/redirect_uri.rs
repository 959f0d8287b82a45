//! Redirect URIs: which may be registered (OAuth 2.1 §2.3, RFC 8252 §7) and how a requested
//! one matches a registered one — exact string comparison, except that a loopback `http`
//! redirect may use any port (RFC 8252 §7.3), because native apps pick a free port at run time.

use url::{Host, Url};

/// Is this an `http` URI on a loopback host (`127.0.0.1`, `[::1]`, `localhost`)?
pub fn is_loopback_http(uri: &Url) -> bool {
    uri.scheme() == "http"
        && match uri.host() {
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        }
}

/// What kind of application a registration says it is (`application_type`), which decides the
/// redirect URIs it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    /// `web`: https, and loopback http for development.
    Web,
    /// `native` (RFC 8252): loopback http and private-use schemes, never a remote http(s)
    /// host (a native app cannot prove it owns one).
    Native,
    /// Not said (or an operator's client): any of the above. Real clients register mixed lists
    /// without a type, e.g. Cursor's `cursor://…`, `https://www.cursor.com/…` and a loopback.
    Unstated,
}

/// Schemes that can never receive an authorization response: they run code, read local files
/// or are not navigations at all.
const FORBIDDEN_SCHEMES: [&str; 8] = [
    "javascript",
    "data",
    "file",
    "vbscript",
    "blob",
    "about",
    "filesystem",
    "view-source",
];

/// Which private-use schemes (`cursor:`, `vscode:`, `com.example.app:` …) a server accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SchemePolicy {
    /// Any scheme that is not forbidden (RFC 8252 §7.1 makes reverse-domain names a SHOULD).
    #[default]
    Any,
    /// Only these (the operator's `allowed_redirect_schemes`).
    Only(Vec<String>),
}

impl SchemePolicy {
    fn allows(&self, scheme: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(list) => list.iter().any(|s| s.eq_ignore_ascii_case(scheme)),
        }
    }
}

/// True for a redirect URI whose scheme hands the answer to an application on the device
/// (neither http nor https): the consent page names the scheme.
pub fn is_private_use(raw: &str) -> bool {
    Url::parse(raw).is_ok_and(|u| !matches!(u.scheme(), "http" | "https"))
}

/// Why a redirect URI cannot be registered, or `None` if it can.
pub fn registration_problem(raw: &str, kind: AppKind, schemes: &SchemePolicy) -> Option<String> {
    let Ok(uri) = Url::parse(raw) else {
        return Some(format!("{raw:?} is not an absolute URI"));
    };
    if uri.fragment().is_some() {
        return Some(format!("{raw:?} has a fragment"));
    }
    match uri.scheme() {
        "http" if is_loopback_http(&uri) => None,
        "http" => Some(format!(
            "{raw:?} uses plain http on a non-loopback host; use https"
        )),
        "https" if kind == AppKind::Native => Some(format!(
            "{raw:?}: a native application must use a loopback http or a private-use redirect URI (register as a web application for https)"
        )),
        "https" => None,
        scheme if FORBIDDEN_SCHEMES.contains(&scheme) => Some(format!(
            "{raw:?} uses a scheme that cannot be a redirect target"
        )),
        scheme if kind == AppKind::Web => Some(format!(
            "{raw:?}: web applications must use https redirect URIs (the private-use scheme {scheme}: is for native applications)"
        )),
        scheme if !schemes.allows(scheme) => Some(format!(
            "the redirect scheme {scheme}: is not allowed on this server"
        )),
        _ => None,
    }
}

/// Does the requested redirect URI match the registered one?
pub fn matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(reg), Ok(req)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    is_loopback_http(&reg)
        && is_loopback_http(&req)
        && reg.host() == req.host()
        && reg.path() == req.path()
        && reg.query() == req.query()
        && reg.fragment().is_none()
        && req.fragment().is_none()
        && reg.username() == req.username()
        && reg.password() == req.password()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_match_except_loopback_port() {
        assert!(matches(
            "https://app.example.com/cb",
            "https://app.example.com/cb"
        ));
        assert!(!matches(
            "https://app.example.com/cb",
            "https://app.example.com/cb/"
        ));
        assert!(!matches(
            "https://app.example.com/cb",
            "https://app.example.com:443/cb"
        ));
        assert!(!matches(
            "https://app.example.com/cb",
            "https://app.example.com/cb?x=1"
        ));
        assert!(matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:53211/callback"
        ));
        assert!(matches(
            "http://localhost:3000/callback",
            "http://localhost:4000/callback"
        ));
        assert!(!matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:53211/other"
        ));
        assert!(!matches(
            "http://127.0.0.1/callback",
            "http://localhost:53211/callback"
        ));
        assert!(!matches(
            "http://evil.example/callback",
            "http://evil.example:81/callback"
        ));
    }

    #[test]
    fn registration_rules() {
        use AppKind::{Native, Unstated, Web};
        let any = SchemePolicy::Any;
        let problem = |raw: &str, kind| registration_problem(raw, kind, &any);
        assert!(problem("https://app.example.com/cb", Web).is_none());
        assert!(problem("http://127.0.0.1:9/cb", Native).is_none());
        assert!(problem("http://127.0.0.1:9/cb", Web).is_none());
        assert!(problem("http://app.example.com/cb", Web).is_some());
        assert!(problem("https://app.example.com/cb#x", Web).is_some());
        assert!(problem("com.example.app:/cb", Native).is_none());
        assert!(problem("cursor://anysphere.cursor-mcp/oauth/callback", Native).is_none());
        assert!(problem("cursor://anysphere.cursor-mcp/oauth/callback", Unstated).is_none());
        assert!(problem("com.example.app:/cb", Web).is_some());
        assert!(problem("https://app.example.com/cb", Native).is_some());
        assert!(problem("https://app.example.com/cb", Unstated).is_none());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "vbscript:x",
        ] {
            assert!(problem(bad, Native).is_some(), "{bad}");
            assert!(problem(bad, Unstated).is_some(), "{bad}");
        }
        assert!(problem("/relative", Native).is_some());
        let only = SchemePolicy::Only(vec!["vscode".into()]);
        assert!(registration_problem("vscode://x/cb", Native, &only).is_none());
        assert!(registration_problem("cursor://x/cb", Native, &only).is_some());
        assert!(registration_problem("https://app.example/cb", Unstated, &only).is_none());
    }
}
