//! The rules every client registration satisfies, whoever registers it: the configuration file
//! (`[[clients]]`), `portcullis client add`, and RFC 7591 dynamic registration. Each caller
//! turns a [`Problem`] into its own error (a configuration error, a CLI message, an
//! `invalid_client_metadata` response).

use crate::{
    client::{AUTHORIZATION_CODE, CLIENT_CREDENTIALS, REFRESH_TOKEN},
    redirect_uri::{self, AppKind, SchemePolicy},
};

pub const MAX_REDIRECT_URIS: usize = 10;
pub const MAX_URI_LEN: usize = 2000;
pub const MAX_NAME_LEN: usize = 200;

/// A client about to be registered.
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    pub name: &'a str,
    pub redirect_uris: &'a [String],
    /// Decides which redirect URIs it may use.
    pub kind: AppKind,
    /// Which private-use redirect schemes this server accepts.
    pub schemes: &'a SchemePolicy,
    pub grant_types: &'a [String],
    pub confidential: bool,
    pub scopes: &'a [String],
    /// May introspect tokens issued to other clients.
    pub introspection: bool,
    /// Registered by the operator: only then may a client act without a user.
    pub by_operator: bool,
}

/// What is wrong with a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A redirect URI is refused (RFC 7591 `invalid_redirect_uri`).
    RedirectUri(String),
    /// Anything else (RFC 7591 `invalid_client_metadata`).
    Metadata(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RedirectUri(m) | Self::Metadata(m) => f.write_str(m),
        }
    }
}

/// The scopes of a space-delimited `scope` value (RFC 6749 §3.3), as a registration lists them.
pub fn scope_list(raw: Option<&str>) -> Vec<String> {
    raw.iter()
        .flat_map(|s| s.split(' '))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The grant types of a client that names none: a confidential operator client without
/// redirect URIs is a service (client credentials); everything else signs users in.
pub fn default_grant_types(
    has_redirects: bool,
    confidential: bool,
    by_operator: bool,
) -> Vec<String> {
    if by_operator && confidential && !has_redirects {
        vec![CLIENT_CREDENTIALS.into()]
    } else {
        vec![AUTHORIZATION_CODE.into(), REFRESH_TOKEN.into()]
    }
}

impl Registration<'_> {
    /// Checks the registration against the rules and the scopes this server supports.
    pub fn check(&self, supported_scopes: &[impl AsRef<str>]) -> Result<(), Problem> {
        let metadata = |m: String| Err(Problem::Metadata(m));
        if self.name.trim().is_empty()
            || self.name.chars().count() > MAX_NAME_LEN
            || self.name.chars().any(char::is_control)
        {
            return metadata(format!(
                "the client name must be 1 to {MAX_NAME_LEN} printable characters"
            ));
        }
        if self.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(Problem::RedirectUri(format!(
                "at most {MAX_REDIRECT_URIS} redirect URIs"
            )));
        }
        for uri in self.redirect_uris {
            if uri.len() > MAX_URI_LEN {
                return Err(Problem::RedirectUri(format!(
                    "redirect URIs are limited to {MAX_URI_LEN} characters"
                )));
            }
            if let Some(problem) = redirect_uri::registration_problem(uri, self.kind, self.schemes)
            {
                return Err(Problem::RedirectUri(problem));
            }
        }
        for g in self.grant_types {
            match g.as_str() {
                CLIENT_CREDENTIALS if !self.by_operator => {
                    // Anyone may register: a self-registered client acting without a user
                    // would be an anonymous path to tokens.
                    return metadata(
                        "client_credentials is not available to dynamically registered clients: a token without a user is only for clients this server's operator registers; use authorization_code".into(),
                    );
                }
                CLIENT_CREDENTIALS if !self.confidential => {
                    return metadata(
                        "client_credentials needs a confidential client (one with a secret)".into(),
                    );
                }
                AUTHORIZATION_CODE if self.redirect_uris.is_empty() => {
                    return Err(Problem::RedirectUri(
                        "the authorization_code grant needs at least one redirect URI".into(),
                    ));
                }
                AUTHORIZATION_CODE | REFRESH_TOKEN | CLIENT_CREDENTIALS => {}
                other if self.by_operator => {
                    return metadata(format!(
                        "grant type {other:?} is not supported; use authorization_code, refresh_token or client_credentials"
                    ));
                }
                other => {
                    return metadata(format!(
                        "grant type {other:?} is not supported; use authorization_code and refresh_token"
                    ));
                }
            }
        }
        if let Some(s) = self
            .scopes
            .iter()
            .find(|s| !supported_scopes.iter().any(|x| x.as_ref() == s.as_str()))
        {
            let known: Vec<&str> = supported_scopes.iter().map(AsRef::as_ref).collect();
            return metadata(format!(
                "unknown scope {s:?}; this server supports: {}",
                known.join(" ")
            ));
        }
        if self.introspection && !self.confidential {
            return metadata(
                "introspection needs a confidential client (introspection takes a client secret)"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_operators_register_clients_that_act_without_a_user() {
        let (uris, grants, scopes) = (
            strings(&[]),
            strings(&["client_credentials"]),
            strings(&["tasks:read"]),
        );
        let mut r = Registration {
            name: "Sync",
            redirect_uris: &uris,
            kind: AppKind::Unstated,
            schemes: &SchemePolicy::Any,
            grant_types: &grants,
            confidential: true,
            scopes: &scopes,
            introspection: false,
            by_operator: true,
        };
        assert_eq!(r.check(&["tasks:read"]), Ok(()));
        r.by_operator = false;
        assert!(matches!(
            r.check(&["tasks:read"]),
            Err(Problem::Metadata(_))
        ));
        r.by_operator = true;
        r.confidential = false;
        assert!(r.check(&["tasks:read"]).is_err());
        assert_eq!(
            default_grant_types(false, true, true),
            strings(&["client_credentials"])
        );
        assert_eq!(
            default_grant_types(false, true, false),
            strings(&["authorization_code", "refresh_token"])
        );
    }

    #[test]
    fn redirect_uris_scopes_and_names_are_checked() {
        let grants = strings(&["authorization_code"]);
        let none: Vec<String> = Vec::new();
        let ok_uris = strings(&["https://app.example/cb"]);
        let base = Registration {
            name: "App",
            redirect_uris: &ok_uris,
            kind: AppKind::Web,
            schemes: &SchemePolicy::Any,
            grant_types: &grants,
            confidential: false,
            scopes: &none,
            introspection: false,
            by_operator: false,
        };
        assert_eq!(base.check(&["tasks:read"]), Ok(()));
        let no_uris = Registration {
            redirect_uris: &none,
            ..base
        };
        assert!(matches!(
            no_uris.check(&["tasks:read"]),
            Err(Problem::RedirectUri(_))
        ));
        let root = strings(&["root"]);
        let bad_scope = Registration {
            scopes: &root,
            ..base
        };
        assert!(bad_scope.check(&["tasks:read"]).is_err());
        let bad_name = Registration {
            name: "a\u{7}b",
            ..base
        };
        assert!(bad_name.check(&["tasks:read"]).is_err());
    }
}
