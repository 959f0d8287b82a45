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

/// Why a redirect URI cannot be registered, or `None` if it can. `native` apps may also use
/// loopback http and private-use schemes; web apps need https.
pub fn registration_problem(raw: &str, native: bool) -> Option<String> {
    let Ok(uri) = Url::parse(raw) else {
        return Some(format!("{raw:?} is not an absolute URI"));
    };
    if uri.fragment().is_some() {
        return Some(format!("{raw:?} has a fragment"));
    }
    match uri.scheme() {
        "https" => None,
        "http" if is_loopback_http(&uri) => None,
        "http" => Some(format!(
            "{raw:?} uses plain http on a non-loopback host; use https"
        )),
        "javascript" | "data" | "file" | "vbscript" => Some(format!(
            "{raw:?} uses a scheme that cannot be a redirect target"
        )),
        scheme if native && scheme.contains('.') => None,
        scheme if native => Some(format!(
            "private-use scheme {scheme:?} must be a reversed domain name such as com.example.app"
        )),
        _ => Some(format!(
            "{raw:?}: web applications must use https redirect URIs"
        )),
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
        assert!(registration_problem("https://app.example.com/cb", false).is_none());
        assert!(registration_problem("http://127.0.0.1:9/cb", true).is_none());
        assert!(registration_problem("http://app.example.com/cb", false).is_some());
        assert!(registration_problem("https://app.example.com/cb#x", false).is_some());
        assert!(registration_problem("com.example.app:/cb", true).is_none());
        assert!(registration_problem("myapp:/cb", true).is_some());
        assert!(registration_problem("com.example.app:/cb", false).is_some());
        assert!(registration_problem("javascript:alert(1)", true).is_some());
        assert!(registration_problem("/relative", true).is_some());
    }
}
