//! `config check`'s output: the effective configuration as a TOML configuration file that
//! `--config` reads back as the same settings. Secrets are never printed: a setting holding
//! one (a service token, a password inside a database or Redis URL) becomes a comment saying
//! it is set, so the file stays valid and the secret stays where it came from.

use std::time::Duration;

use portcullis_backend_client::BackendConfig;
use portcullis_ratelimit::Quota;
use toml::{Table, Value};

use crate::config::{MASK, ServeSettings, TokenKeys, masked_url};

/// The configuration file and the comments that go above it.
pub struct Effective {
    pub table: Table,
    pub notes: Vec<String>,
}

impl Effective {
    /// The text `config check` prints: comments, then the file.
    pub fn render(&self) -> String {
        let mut out: String = self.notes.iter().map(|n| format!("# {n}\n")).collect();
        out.push_str(&toml::to_string(&self.table).expect("a TOML table serializes"));
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out
    }

    fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.table.insert(key.to_owned(), value.into());
    }

    /// A URL setting: printed unless it carries a password, which becomes a note.
    fn url(&mut self, key: &str, raw: &str) {
        let masked = masked_url(raw);
        if masked == raw {
            self.set(key, raw);
        } else {
            self.notes.push(format!(
                "{key} = {masked:?} (its password is not printed; it stays where it was set)"
            ));
        }
    }

    fn quota(&mut self, key: &str, burst_key: Option<&str>, quota: Option<Quota>) {
        match quota {
            None => self.set(key, "off"),
            Some(q) => {
                self.set(key, q.rate_text());
                if let Some(burst_key) = burst_key {
                    self.set(burst_key, i64::from(q.burst()));
                }
            }
        }
    }
}

fn secs(d: Duration) -> i64 {
    d.as_secs() as i64
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::from).collect())
}

/// The effective configuration of `serve` (and of `mcp` with `backend`).
pub fn effective(s: &ServeSettings, backend: Option<&BackendConfig>) -> Effective {
    let mut e = Effective {
        table: Table::new(),
        notes: vec![
            "the effective configuration; `portcullis serve --config FILE` reads it back".into(),
        ],
    };
    let c = &s.common;
    let a = &s.authorization;
    let r = &s.rate_limits;
    let (t, q, l) = (&s.tokens, &s.requests, &s.server);
    e.set("bind", c.bind.to_string());
    if c.loopback_aliases {
        // Left derived, so the server keeps answering under every loopback name.
        e.notes.push(format!(
            "public_url: {} (derived from bind; set it to fix one)",
            c.public_base()
        ));
    } else {
        e.set("public_url", c.public_base());
    }
    e.set("data_dir", c.data_dir.display().to_string());
    e.url("database_url", &c.database_url);
    if let Some(issuer) = &c.issuer {
        e.set("issuer", issuer.clone());
    }
    e.set("audience", c.audience.clone());
    match &t.keys {
        TokenKeys::Local => e.notes.push(format!(
            "tokens: signed by the built-in authorization server (issuer {})",
            c.effective_issuer()
        )),
        TokenKeys::File(path) => e.set("jwt_public_key", path.display().to_string()),
        TokenKeys::JwksUri(url) => e.set("jwks_uri", url.to_string()),
        TokenKeys::Discovery => e
            .notes
            .push("tokens: keys found by discovery on the issuer".into()),
    }
    e.set("jwt_leeway_secs", secs(t.leeway));
    e.set("jwks_min_refresh_secs", secs(t.jwks_min_refresh));
    e.set("tenant_claim", t.tenant_claim.clone());
    e.set("token_cache_size", t.token_cache_size as i64);
    e.set("legacy_sessions", l.legacy_sessions);
    e.set("allowed_origins", strings(&l.allowed_origins));
    e.set("allowed_hosts", strings(&l.allowed_hosts));
    e.set("max_body_bytes", q.max_body_bytes as i64);
    e.set("log_format", if q.log_json { "json" } else { "pretty" });
    e.set("access_log", l.access_log);
    e.set("request_timeout_secs", secs(q.request_timeout));
    e.set(
        "header_read_timeout_secs",
        secs(l.connections.header_read_timeout),
    );
    e.set("idle_timeout_secs", secs(l.connections.idle_timeout));
    e.set("max_connections", l.connections.max_connections as i64);
    e.set("access_token_ttl_secs", secs(t.access_token_ttl));
    e.set("refresh_token_ttl_secs", secs(a.refresh_token_ttl));
    e.set("refresh_reuse_grace_secs", secs(a.refresh_reuse_grace));
    e.set("authorization_code_ttl_secs", secs(a.code_ttl));
    e.set("dynamic_registration", a.dynamic_registration);
    e.set(
        "max_registrations_per_hour",
        i64::from(a.max_registrations_per_hour),
    );
    e.set(
        "max_registrations_per_address",
        i64::from(a.max_registrations_per_address),
    );
    e.set("unused_client_ttl_secs", secs(a.unused_client_ttl));
    if let portcullis_oauth::redirect_uri::SchemePolicy::Only(list) = &a.redirect_schemes {
        e.set("allowed_redirect_schemes", strings(list));
    }
    e.set("dev_mode", a.dev_mode);
    e.set("local_passwords", a.local_passwords);
    if let Some(every) = a.key_rotation {
        e.set("key_rotation_days", secs(every) / 86_400);
    }
    match (&c.key_encryption_key_file, &c.key_encryption_key) {
        (Some(path), _) => e.set("key_encryption_key_file", path.display().to_string()),
        (None, Some(_)) => e
            .notes
            .push(format!("key_encryption_key = {MASK:?} (set; not printed)")),
        (None, None) => {}
    }
    if !a.clients.is_empty() {
        e.notes.push(format!(
            "{} client(s) from [[clients]] in the configuration file are not repeated here",
            a.clients.len()
        ));
    }
    e.quota("rate_limit", Some("rate_limit_burst"), r.per_principal);
    e.quota("client_rate_limit", None, r.per_client);
    e.quota("tenant_rate_limit", None, r.per_tenant);
    e.quota("ip_rate_limit", Some("ip_rate_limit_burst"), r.per_ip);
    if let Some(header) = &r.client_ip_header {
        e.set("client_ip_header", header.as_str().to_owned());
    }
    if let Some(redis) = &r.redis {
        e.url("redis_url", &redis.url);
        e.set("redis_prefix", redis.prefix.clone());
        e.set("redis_timeout_ms", redis.timeout.as_millis() as i64);
        e.set("redis_failure_mode", redis.on_failure.as_str());
    }
    if let Some((cert, key)) = &l.tls {
        e.set("tls_cert", cert.display().to_string());
        e.set("tls_key", key.display().to_string());
    }
    if let Some(addr) = l.metrics_bind {
        e.set("metrics_bind", addr.to_string());
    }
    if let Some(config) = backend {
        e.set("backend_url", config.base_url.to_string());
        e.set("backend_timeout_secs", config.timeout.as_secs_f64());
        e.set("backend_retries", i64::from(config.retries));
        e.notes
            .push(format!("service_auth_token = {MASK:?} (set; not printed)"));
    }
    e.set("builtin_tools", s.tools.builtin_tools);
    if !s.tools.upstream_configs.is_empty() {
        // Upstream secrets are never in the file: only the names of their files and variables.
        let upstreams = Value::try_from(&s.tools.upstream_configs).expect("upstreams serialize");
        e.set("upstreams", upstreams);
    }
    if !a.identity_provider_entries.is_empty() {
        // Client secrets are never in the file: only the names of their files and variables.
        let providers =
            Value::try_from(&a.identity_provider_entries).expect("identity providers serialize");
        e.set("identity_providers", providers);
    }
    // Tables last: TOML puts them after the plain keys anyway.
    let mut policy = Table::new();
    policy.insert(
        "hide_forbidden_tools".into(),
        s.tools.policy.hide_forbidden_tools.into(),
    );
    if !s.tools.policy_overrides.is_empty() {
        let tools = Value::try_from(&s.tools.policy_overrides).expect("policy rules serialize");
        policy.insert("tools".into(), tools);
    }
    e.set("policy", policy);
    let mut tools = Table::new();
    for limit in r.tools.values() {
        let mut entry = Table::new();
        match limit.quota {
            None => {
                entry.insert("rate".into(), "off".into());
            }
            Some(q) => {
                entry.insert("rate".into(), q.rate_text().into());
                entry.insert("burst".into(), i64::from(q.burst()).into());
            }
        }
        tools.insert(limit.scope.to_owned(), entry.into());
    }
    if !tools.is_empty() {
        let mut limits = Table::new();
        limits.insert("tools".into(), tools.into());
        e.set("rate_limits", limits);
    }
    e
}
