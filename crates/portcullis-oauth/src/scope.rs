//! Scope requests: parsed, checked against what this server knows and what the client may ask
//! for. Unknown scopes are refused, never silently dropped (deny by default).

use crate::OAuthError;

/// A validated, de-duplicated, space-separated scope list in a stable order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Checks `requested` (or, when absent, takes `allowed` as the default).
    pub fn negotiate(
        requested: Option<&str>,
        supported: &[String],
        allowed: &[String],
    ) -> Result<Self, OAuthError> {
        let permitted = |s: &str| {
            supported.iter().any(|x| x == s)
                && (allowed.is_empty() || allowed.iter().any(|x| x == s))
        };
        let Some(requested) = requested else {
            let default: Vec<String> = supported.iter().filter(|s| permitted(s)).cloned().collect();
            return Ok(Self(default));
        };
        let mut out: Vec<String> = Vec::new();
        for s in requested.split(' ').filter(|s| !s.is_empty()) {
            if !supported.iter().any(|x| x == s) {
                return Err(OAuthError::invalid_scope(format!(
                    "unknown scope {s:?}; this server supports: {}",
                    supported.join(" ")
                )));
            }
            if !permitted(s) {
                return Err(OAuthError::invalid_scope(format!(
                    "this client may not ask for {s:?}; it may ask for: {}",
                    allowed.join(" ")
                )));
            }
            if !out.iter().any(|x| x == s) {
                out.push(s.to_owned());
            }
        }
        if out.is_empty() {
            return Err(OAuthError::invalid_scope(
                "the scope parameter names no scope",
            ));
        }
        out.sort_by_key(|s| supported.iter().position(|x| x == s));
        Ok(Self(out))
    }

    /// Narrows a granted scope to `requested` (refresh, OAuth 2.1 §4.3.1): never wider.
    pub fn narrow(granted: &str, requested: Option<&str>) -> Result<String, OAuthError> {
        let Some(requested) = requested else {
            return Ok(granted.to_owned());
        };
        let have: Vec<&str> = granted.split(' ').collect();
        for s in requested.split(' ').filter(|s| !s.is_empty()) {
            if !have.contains(&s) {
                return Err(OAuthError::invalid_scope(format!(
                    "{s:?} was not granted; ask the user again through the authorization endpoint"
                )));
            }
        }
        let kept: Vec<&str> = have
            .into_iter()
            .filter(|s| requested.split(' ').any(|r| r == *s))
            .collect();
        Ok(kept.join(" "))
    }

    pub fn as_string(&self) -> String {
        self.0.join(" ")
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn supported() -> Vec<String> {
        vec!["tasks:read".into(), "tasks:write".into()]
    }

    #[test]
    fn unknown_and_disallowed_scopes_are_refused() {
        let s = Scopes::negotiate(Some("tasks:write tasks:read tasks:read"), &supported(), &[])
            .unwrap();
        assert_eq!(s.as_string(), "tasks:read tasks:write");
        assert!(Scopes::negotiate(Some("admin"), &supported(), &[]).is_err());
        assert!(
            Scopes::negotiate(Some("tasks:write"), &supported(), &["tasks:read".into()]).is_err()
        );
        assert_eq!(
            Scopes::negotiate(None, &supported(), &["tasks:read".into()])
                .unwrap()
                .as_string(),
            "tasks:read"
        );
    }

    #[test]
    fn narrowing_never_widens() {
        assert_eq!(
            Scopes::narrow("tasks:read tasks:write", Some("tasks:read")).unwrap(),
            "tasks:read"
        );
        assert!(Scopes::narrow("tasks:read", Some("tasks:write")).is_err());
        assert_eq!(Scopes::narrow("tasks:read", None).unwrap(), "tasks:read");
    }
}
