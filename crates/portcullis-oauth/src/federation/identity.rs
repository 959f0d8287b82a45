//! From a verified ID token to the user it names: the stable subject, the email (and whether
//! its domain may sign in), the tenant. Refusals say what an operator or user can act on.

use portcullis_auth::is_clean_identifier;
use serde_json::{Map, Value};

use super::IdentityProviderConfig;

/// Who signed in, as the account binding needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    /// `email_verified` was not `false` (providers that never send the claim, such as Entra
    /// ID, vouch for the addresses they hold).
    pub email_verified: bool,
    pub tenant: Option<String>,
}

/// Why an ID token's user may not sign in here: shown to the user on this server's page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityRefused {
    #[error("the provider's ID token has no usable `{0}` claim to name the user by")]
    NoSubject(String),
    #[error("the provider's ID token has no usable `{0}` claim for the tenant")]
    NoTenant(String),
    #[error("accounts of {0} may not sign in here (allowed: {1})")]
    Domain(String, String),
    #[error("the account's email address is not verified, so its domain cannot be checked")]
    UnverifiedEmail,
}

impl Identity {
    pub fn from_claims(
        config: &IdentityProviderConfig,
        claims: &Map<String, Value>,
    ) -> Result<Self, IdentityRefused> {
        let text = |name: &str| -> Option<String> {
            match claims.get(name)? {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
            .filter(|s| !s.is_empty() && s.len() <= 255 && is_clean_identifier(s))
        };
        let subject = text(&config.subject_claim)
            .ok_or_else(|| IdentityRefused::NoSubject(config.subject_claim.clone()))?;
        let email = text("email").map(|e| e.to_ascii_lowercase());
        let email_verified = claims.get("email_verified") != Some(&Value::Bool(false));
        let tenant = match (&config.tenant_claim, &config.tenant) {
            (Some(claim), _) => {
                Some(text(claim).ok_or_else(|| IdentityRefused::NoTenant(claim.clone()))?)
            }
            (None, fixed) => fixed.clone(),
        };
        if !config.allowed_domains.is_empty() {
            let allowed = config.allowed_domains.join(", ");
            let Some(email) = &email else {
                return Err(IdentityRefused::Domain(
                    "accounts without an email".into(),
                    allowed,
                ));
            };
            if !email_verified {
                return Err(IdentityRefused::UnverifiedEmail);
            }
            let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
            if !config
                .allowed_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(domain))
            {
                return Err(IdentityRefused::Domain(format!("@{domain}"), allowed));
            }
        }
        Ok(Self {
            subject,
            email,
            email_verified,
            tenant,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> IdentityProviderConfig {
        IdentityProviderConfig {
            name: "corp".into(),
            issuer: "https://idp.example".into(),
            client_id: "c".into(),
            client_secret: None,
            scopes: vec![],
            subject_claim: "sub".into(),
            tenant_claim: Some("tid".into()),
            tenant: None,
            allowed_domains: vec!["example.com".into()],
            link_by_email: false,
        }
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn the_subject_tenant_and_domain_decide() {
        let ok = Identity::from_claims(
            &config(),
            &claims(json!({ "sub": "u1", "email": "Alice@Example.com", "tid": "acme" })),
        )
        .unwrap();
        assert_eq!(ok.subject, "u1");
        assert_eq!(ok.email.as_deref(), Some("alice@example.com"));
        assert_eq!(ok.tenant.as_deref(), Some("acme"));
        for (bad, why) in [
            (json!({ "email": "a@example.com", "tid": "t" }), "no sub"),
            (
                json!({ "sub": " u1", "email": "a@example.com", "tid": "t" }),
                "padded sub",
            ),
            (
                json!({ "sub": "u1", "email": "a@example.com" }),
                "no tenant",
            ),
            (
                json!({ "sub": "u1", "email": "a@other.test", "tid": "t" }),
                "other domain",
            ),
            (
                json!({ "sub": "u1", "email": "a@sub.example.com", "tid": "t" }),
                "subdomain",
            ),
            (json!({ "sub": "u1", "tid": "t" }), "no email"),
            (
                json!({ "sub": "u1", "email": "a@example.com", "email_verified": false, "tid": "t" }),
                "unverified",
            ),
        ] {
            assert!(
                Identity::from_claims(&config(), &claims(bad)).is_err(),
                "{why}"
            );
        }
    }
}
