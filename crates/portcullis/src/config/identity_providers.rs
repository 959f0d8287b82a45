//! `[[identity_providers]]`: the company OpenID Connect providers users sign in with at the
//! built-in authorization server (see `portcullis_oauth::federation`). File-only: each entry
//! is a table. Client secrets come from a file or an environment variable, never the file.

use std::path::PathBuf;

use portcullis_oauth::federation::IdentityProviderConfig;
use serde::{Deserialize, Serialize};

use super::ConfigError;

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}

fn default_subject_claim() -> String {
    "sub".into()
}

/// One `[[identity_providers]]` entry as written (and as `config check` prints it back).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileIdentityProvider {
    name: String,
    issuer: String,
    client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret_env: Option<String>,
    #[serde(default = "default_scopes")]
    scopes: Vec<String>,
    #[serde(default = "default_subject_claim")]
    subject_claim: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_claim: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    #[serde(default)]
    allowed_domains: Vec<String>,
    #[serde(default)]
    link_by_email: bool,
}

/// Checks every entry; `local_passwords = false` needs at least one.
pub fn resolve_identity_providers(
    entries: &[FileIdentityProvider],
    local_passwords: bool,
) -> Result<Vec<IdentityProviderConfig>, ConfigError> {
    let mut configs: Vec<IdentityProviderConfig> = Vec::new();
    for entry in entries {
        let config = entry.check()?;
        if configs.iter().any(|c| c.name == config.name) {
            return Err(bad(
                &entry.name,
                "the name is used twice",
                "give each provider its own name",
            ));
        }
        configs.push(config);
    }
    if !local_passwords && configs.is_empty() {
        return Err(ConfigError::new(
            "local_passwords",
            "false leaves nobody a way to sign in",
            "add an [[identity_providers]] entry, or keep local_passwords = true",
        ));
    }
    Ok(configs)
}

fn bad(name: &str, problem: impl std::fmt::Display, fix: &str) -> ConfigError {
    ConfigError::new(
        "identity_providers",
        format!("provider {name:?}: {problem}"),
        fix.to_owned(),
    )
}

impl FileIdentityProvider {
    fn check(&self) -> Result<IdentityProviderConfig, ConfigError> {
        let name = &self.name;
        let fail = |problem: String, fix: &str| bad(name, problem, fix);
        if name.is_empty()
            || name.len() > 32
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(fail(
                "the name must be 1 to 32 characters of a-z, 0-9, - and _".into(),
                "use a short name such as corp",
            ));
        }
        let issuer = url::Url::parse(&self.issuer).map_err(|e| {
            fail(
                format!("issuer {:?} is not a URL ({e})", self.issuer),
                "use the provider's issuer, e.g. https://login.example.com",
            )
        })?;
        if !(issuer.scheme() == "https"
            || portcullis_oauth::redirect_uri::is_loopback_http(&issuer))
            || issuer.query().is_some()
            || issuer.fragment().is_some()
        {
            return Err(fail(
                format!(
                    "issuer {:?} must be an https URL without query or fragment (http only on loopback)",
                    self.issuer
                ),
                "use the provider's issuer exactly as its discovery document names it",
            ));
        }
        if self.client_id.is_empty() || self.client_id.len() > 255 {
            return Err(fail(
                "client_id is empty".into(),
                "set the client id registered at the provider",
            ));
        }
        let client_secret = match (&self.client_secret_file, &self.client_secret_env) {
            (Some(_), Some(_)) => {
                return Err(fail(
                    "both client_secret_file and client_secret_env are set".into(),
                    "keep one",
                ));
            }
            (Some(path), None) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    fail(
                        format!("cannot read client_secret_file {}: {e}", path.display()),
                        "give a readable file holding the client secret",
                    )
                })?;
                Some(text.trim().to_owned())
            }
            (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
                fail(
                    format!("client_secret_env names {var}, which is not set"),
                    "export the client secret in that variable",
                )
            })?),
            (None, None) => None,
        };
        if client_secret.as_deref().is_some_and(str::is_empty) {
            return Err(fail(
                "the client secret is empty".into(),
                "store the secret the provider issued",
            ));
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err(fail(
                "scopes must include openid (without it there is no ID token)".into(),
                "use e.g. scopes = [\"openid\", \"email\", \"profile\"]",
            ));
        }
        if self.subject_claim.is_empty() {
            return Err(fail(
                "subject_claim is empty".into(),
                "use sub, or a claim such as oid",
            ));
        }
        match (&self.tenant_claim, &self.tenant) {
            (Some(_), Some(_)) => {
                return Err(fail(
                    "both tenant_claim and tenant are set".into(),
                    "take the tenant from a claim or name it, not both",
                ));
            }
            (None, Some(t)) if !portcullis_auth::is_clean_identifier(t) || t.is_empty() => {
                return Err(fail(
                    format!("tenant {t:?} {}", portcullis_auth::IDENTIFIER_RULE),
                    "name the tenant plainly",
                ));
            }
            _ => {}
        }
        let allowed_domains: Vec<String> = self
            .allowed_domains
            .iter()
            .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
            .collect();
        if let Some(d) = allowed_domains.iter().find(|d| {
            d.is_empty()
                || !d.contains('.')
                || !d
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        }) {
            return Err(fail(
                format!("allowed_domains holds {d:?}, which is not a domain"),
                "list email domains such as example.com",
            ));
        }
        Ok(IdentityProviderConfig {
            name: name.clone(),
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            client_secret: client_secret.map(portcullis_core::secret::Secret::from_string),
            scopes: self.scopes.clone(),
            subject_claim: self.subject_claim.clone(),
            tenant_claim: self.tenant_claim.clone(),
            tenant: self.tenant.clone(),
            allowed_domains,
            link_by_email: self.link_by_email,
        })
    }
}
