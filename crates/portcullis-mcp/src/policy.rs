//! Per-tool authorization policy: which authentication methods may call each tool and which
//! scopes the credential must hold. One table, read by the HTTP layer (to refuse with 403 before
//! the call runs, so OAuth clients can step up), by `tools/list` (to show each caller what it
//! may call) and by the tools themselves (defence in depth).
//!
//! Defaults: task tools accept OAuth tokens and API keys with `tasks:read`/`tasks:write`; the
//! admin tools accept only API keys with `admin`. The configuration may override any tool, or a
//! whole group (`tasks_read`, `tasks_write`, `admin`).

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use portcullis_auth::{AuthMethod, Principal};
use portcullis_gateway::Gateway;
use serde::Deserialize;

pub const READ_SCOPE: &str = "tasks:read";
pub const WRITE_SCOPE: &str = "tasks:write";
pub const ADMIN_SCOPE: &str = "admin";
/// Scopes OAuth clients can ask for (the admin tools take API keys by default).
pub const SUPPORTED_SCOPES: [&str; 2] = [READ_SCOPE, WRITE_SCOPE];

/// Tool groups, as the configuration names them.
pub const GROUPS: [(&str, &[&str]); 3] = [
    ("tasks_read", &["list_tasks", "get_task", "list_workspaces"]),
    (
        "tasks_write",
        &[
            "create_task",
            "update_task",
            "complete_task",
            "delete_task",
            "create_workspace",
        ],
    ),
    (
        "admin",
        &[
            "list_users",
            "get_user",
            "create_user",
            "delete_user",
            "system_stats",
        ],
    ),
];

/// The tools a configuration name stands for: a group's tools, or the one tool of that name.
pub fn tools_named(name: &str) -> Option<Vec<&'static str>> {
    if let Some((_, tools)) = GROUPS.iter().find(|(group, _)| *group == name) {
        return Some(tools.to_vec());
    }
    GROUPS
        .iter()
        .flat_map(|(_, tools)| tools.iter())
        .find(|tool| **tool == name)
        .map(|tool| vec![*tool])
}

/// True when `name` is a group rather than a single tool.
pub fn is_group(name: &str) -> bool {
    GROUPS.iter().any(|(group, _)| *group == name)
}

/// A configuration entry keyed by a tool or group name, resolved to its tools.
#[derive(Debug)]
pub struct Targeted<T> {
    /// The group's or the tool's name.
    pub name: &'static str,
    pub tools: Vec<&'static str>,
    pub value: T,
}

/// Resolves entries keyed by tool or group names (`[policy.tools.*]`, `[rate_limits.tools.*]`):
/// groups first, then single tools, so applying them in order lets a tool's own entry win over
/// its group's. `Err` names the first key that is neither a tool nor a group.
pub fn resolve_targets<T>(
    entries: impl IntoIterator<Item = (String, T)>,
) -> Result<Vec<Targeted<T>>, String> {
    let mut out = Vec::new();
    for (key, value) in entries {
        let tools = tools_named(&key).ok_or_else(|| key.clone())?;
        let name = GROUPS
            .iter()
            .map(|(group, _)| *group)
            .chain(tools.iter().copied())
            .find(|known| *known == key)
            .expect("tools_named matched it");
        out.push(Targeted { name, tools, value });
    }
    out.sort_by_key(|t| !is_group(t.name));
    Ok(out)
}

/// What one tool requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRule {
    pub methods: Vec<AuthMethod>,
    pub scopes: Vec<String>,
}

/// A rule as written in the configuration file; omitted fields keep the default.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOverride {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<AuthMethod>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The tool does not accept this way of authenticating.
    Method {
        tool: String,
        allowed: Vec<AuthMethod>,
    },
    /// The credential lacks `missing` (one of the tool's scopes).
    Scope { tool: String, missing: String },
    /// No rule names the tool: whatever it is, nobody may call it (deny by default).
    NoRule { tool: String },
}

impl Denial {
    /// A sentence for the client and the audit trail.
    pub fn message(&self) -> String {
        match self {
            Self::Method { tool, allowed } => {
                let names: Vec<_> = allowed.iter().map(|m| describe(*m)).collect();
                format!("{tool} accepts only {}", names.join(" or "))
            }
            Self::Scope { tool, missing } => format!("{tool} needs the {missing} scope"),
            Self::NoRule { tool } => {
                format!("{tool:?} is not a tool of this server (no policy rule names it)")
            }
        }
    }
}

fn describe(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::Oauth => "OAuth bearer tokens",
        AuthMethod::ApiKey => "API keys (X-API-Key)",
        AuthMethod::ServiceToken => "service tokens",
        AuthMethod::ClientCredentials => "client-credentials tokens",
    }
}

/// The policy for every tool this server has: the built-in tools' fixed table, and the tools
/// of upstream servers as they are listed.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: HashMap<&'static str, ToolRule>,
    /// `tools/list` shows each caller only the tools it may call (or could, after a step-up).
    pub hide_forbidden_tools: bool,
    /// Upstreams (name, prefix) the configuration names, for `[policy.tools.*]` keys.
    upstreams: Vec<(String, String)>,
    /// `[policy.tools.<upstream>]` and `[policy.tools.<exposed tool>]`.
    upstream_overrides: BTreeMap<String, RuleOverride>,
    gateway: Option<Arc<Gateway>>,
}

impl Default for Policy {
    fn default() -> Self {
        let rule = |methods: &[AuthMethod], scope: &str| ToolRule {
            methods: methods.to_vec(),
            scopes: vec![scope.to_owned()],
        };
        let user_facing = [AuthMethod::Oauth, AuthMethod::ApiKey];
        let mut rules = HashMap::new();
        for (group, tools) in GROUPS {
            let default = match group {
                "tasks_read" => rule(&user_facing, READ_SCOPE),
                "tasks_write" => rule(&user_facing, WRITE_SCOPE),
                _ => rule(&[AuthMethod::ApiKey], ADMIN_SCOPE),
            };
            for tool in tools {
                rules.insert(*tool, default.clone());
            }
        }
        Self {
            rules,
            hide_forbidden_tools: true,
            upstreams: Vec::new(),
            upstream_overrides: BTreeMap::new(),
            gateway: None,
        }
    }
}

/// A rule as written must name at least one method and well-formed scopes.
fn check_override(name: &str, rule: &RuleOverride) -> Result<(), String> {
    if rule.methods.as_ref().is_some_and(Vec::is_empty) {
        return Err(format!(
            "policy.tools.{name}.methods: list at least one of oauth, api_key, service_token, client_credentials"
        ));
    }
    if let Some(scopes) = &rule.scopes
        && scopes
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        return Err(format!(
            "policy.tools.{name}.scopes: each scope must be one non-empty word"
        ));
    }
    Ok(())
}

impl Policy {
    /// The defaults with `overrides` applied: group entries first, then single tools, so a tool
    /// entry wins over its group's. Unknown names and empty lists are configuration errors.
    /// `upstreams` are the configured upstreams' (name, prefix): a key naming an upstream, or
    /// starting with its prefix, is a rule for that upstream's tools (which are known only once
    /// listed).
    pub fn with_overrides(
        overrides: &BTreeMap<String, RuleOverride>,
        hide_forbidden_tools: bool,
        upstreams: &[(String, String)],
    ) -> Result<Self, String> {
        let mut policy = Self {
            hide_forbidden_tools,
            upstreams: upstreams.to_vec(),
            ..Self::default()
        };
        let (upstream, builtin): (BTreeMap<_, _>, BTreeMap<_, _>) =
            overrides.iter().partition(|(name, _)| {
                tools_named(name).is_none()
                    && upstreams
                        .iter()
                        .any(|(u, prefix)| *name == u || name.starts_with(prefix.as_str()))
            });
        for (name, rule) in &upstream {
            check_override(name, rule)?;
        }
        policy.upstream_overrides = upstream
            .into_iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let entries = resolve_targets(builtin.into_iter().map(|(name, rule)| (name.clone(), rule)))
            .map_err(|name| {
                format!(
                    "policy.tools.{name}: no tool, group or upstream has this name (groups: tasks_read, tasks_write, admin)"
                )
            })?;
        for Targeted {
            name,
            tools: targets,
            value: rule,
        } in entries
        {
            check_override(name, rule)?;
            for tool in targets {
                let entry = policy.rules.get_mut(tool).expect("target exists");
                if let Some(methods) = &rule.methods {
                    entry.methods = methods.clone();
                }
                if let Some(scopes) = &rule.scopes {
                    entry.scopes = scopes.clone();
                }
            }
        }
        Ok(policy)
    }

    /// The upstream tools' rules are read from this gateway's listings.
    pub fn with_gateway(mut self, gateway: Arc<Gateway>) -> Self {
        self.gateway = Some(gateway);
        self
    }

    /// Only the upstreams' tools: the built-in task and admin tools have no rule, so nobody
    /// may call or see them (`builtin_tools = false`).
    pub fn without_builtin_tools(mut self) -> Self {
        self.rules.clear();
        self
    }

    pub fn gateway(&self) -> Option<&Arc<Gateway>> {
        self.gateway.as_ref()
    }

    /// Whether the built-in tool `tool` is served (it has a rule).
    pub fn serves_builtin(&self, tool: &str) -> bool {
        self.rules.contains_key(tool)
    }

    /// The rule of a built-in tool, or of an upstream tool as listed: methods `oauth` and
    /// `api_key`, scope `<upstream>:read` for tools marked read-only and `<upstream>:write`
    /// otherwise, then `[policy.tools.<upstream>]`, then `[policy.tools.<tool>]`.
    pub fn rule(&self, tool: &str) -> Option<Cow<'_, ToolRule>> {
        if let Some(rule) = self.rules.get(tool) {
            return Some(Cow::Borrowed(rule));
        }
        let found = self.gateway.as_ref()?.find(tool)?;
        Some(Cow::Owned(self.upstream_rule(
            &found.upstream,
            found.tool.read_only,
            Some(tool),
        )))
    }

    /// The rule for an upstream's resources and prompts: that of its read-only tools.
    pub fn read_rule(&self, upstream: &str) -> ToolRule {
        self.upstream_rule(upstream, true, None)
    }

    fn upstream_rule(&self, upstream: &str, read_only: bool, tool: Option<&str>) -> ToolRule {
        let access = if read_only { "read" } else { "write" };
        let mut rule = ToolRule {
            methods: vec![AuthMethod::Oauth, AuthMethod::ApiKey],
            scopes: vec![format!("{upstream}:{access}")],
        };
        for key in std::iter::once(upstream).chain(tool) {
            if let Some(o) = self.upstream_overrides.get(key) {
                if let Some(methods) = &o.methods {
                    rule.methods = methods.clone();
                }
                if let Some(scopes) = &o.scopes {
                    rule.scopes = scopes.clone();
                }
            }
        }
        rule
    }

    /// The tool's name fit for a metric label: a built-in tool's, or a listed upstream tool's
    /// (upstream lists are capped, so the label set stays bounded), when a rule names it.
    pub fn known_tool(&self, tool: &str) -> Option<Cow<'static, str>> {
        if let Some((name, _)) = self.rules.get_key_value(tool) {
            return Some(Cow::Borrowed(*name));
        }
        self.gateway
            .as_ref()?
            .find(tool)
            .map(|found| Cow::Owned(found.tool.tool.name.to_string()))
    }

    /// Scopes an OAuth client can ask for: the task scopes while the built-in task tools are
    /// served, `<upstream>:read` and `<upstream>:write` per upstream, and any scope a rule for
    /// an upstream names.
    pub fn scopes_supported(&self) -> Vec<String> {
        let mut scopes: Vec<String> = SUPPORTED_SCOPES
            .iter()
            .filter(|s| {
                self.rules
                    .values()
                    .any(|r| r.scopes.iter().any(|x| x == *s))
            })
            .map(|s| s.to_string())
            .collect();
        for (name, _) in &self.upstreams {
            scopes.push(format!("{name}:read"));
            scopes.push(format!("{name}:write"));
        }
        for rule in self.upstream_overrides.values() {
            scopes.extend(rule.scopes.iter().flatten().cloned());
        }
        let mut seen = std::collections::HashSet::new();
        scopes.retain(|s| seen.insert(s.clone()));
        scopes
    }

    /// Every tool a rule names.
    pub fn tools(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.rules.keys().copied()
    }

    /// May `principal` call `tool`? A tool no rule names is refused, so a tool added to the
    /// router but forgotten here is callable by nobody rather than by everybody.
    pub fn check(&self, tool: &str, principal: &Principal) -> Result<(), Denial> {
        match self.rule(tool) {
            Some(rule) => Self::check_rule(tool, &rule, principal),
            None => Err(Denial::NoRule {
                tool: tool.to_owned(),
            }),
        }
    }

    /// May `principal` read `item` (a resource URI or prompt name) of `upstream`?
    pub fn check_read(
        &self,
        upstream: &str,
        item: &str,
        principal: &Principal,
    ) -> Result<(), Denial> {
        Self::check_rule(item, &self.read_rule(upstream), principal)
    }

    fn check_rule(name: &str, rule: &ToolRule, principal: &Principal) -> Result<(), Denial> {
        if !rule.methods.contains(&principal.method) {
            return Err(Denial::Method {
                tool: name.to_owned(),
                allowed: rule.methods.clone(),
            });
        }
        match rule.scopes.iter().find(|s| !principal.scopes.contains(s)) {
            Some(missing) => Err(Denial::Scope {
                tool: name.to_owned(),
                missing: missing.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Whether `tools/list` shows `tool` to `principal`: what it may call, and what it could
    /// call after an OAuth step-up (a client never asks for a scope of a tool it cannot see).
    /// A tool that never accepts the caller's kind of credential stays hidden.
    pub fn lists(&self, tool: &str, principal: Option<&Principal>) -> bool {
        match principal {
            Some(p) if self.hide_forbidden_tools => self
                .rule(tool)
                .is_some_and(|rule| self.shows(tool, &rule, p)),
            _ => true,
        }
    }

    /// Whether `resources/list` and `prompts/list` show `upstream`'s items to `principal`, on
    /// the terms of [`Self::lists`].
    pub fn lists_reads(&self, upstream: &str, principal: Option<&Principal>) -> bool {
        match principal {
            Some(p) if self.hide_forbidden_tools => {
                self.shows(upstream, &self.read_rule(upstream), p)
            }
            _ => true,
        }
    }

    fn shows(&self, name: &str, rule: &ToolRule, principal: &Principal) -> bool {
        match Self::check_rule(name, rule, principal) {
            Ok(()) => true,
            Err(Denial::Scope { .. }) => {
                let requestable = self.scopes_supported();
                principal.method == AuthMethod::Oauth
                    && rule.scopes.iter().all(|s| requestable.contains(s))
            }
            Err(_) => false,
        }
    }

    /// The scopes to ask for when stepping up past `denial`'s missing scope: those already
    /// granted among `tool`'s and the OAuth-requestable ones, plus every scope the tool needs,
    /// so a client that re-authorizes with exactly this list loses nothing it had.
    pub fn step_up_scope(&self, tool: &str, principal: &Principal) -> String {
        let needed = self
            .rule(tool)
            .map(|r| r.scopes.clone())
            .unwrap_or_default();
        self.step_up_to(&needed, principal)
    }

    /// [`Self::step_up_scope`] for an upstream's resources and prompts.
    pub fn step_up_scope_for_reads(&self, upstream: &str, principal: &Principal) -> String {
        self.step_up_to(&self.read_rule(upstream).scopes, principal)
    }

    fn step_up_to(&self, needed: &[String], principal: &Principal) -> String {
        let mut scopes: Vec<String> = self
            .scopes_supported()
            .into_iter()
            .filter(|s| principal.scopes.contains(s))
            .collect();
        for s in needed {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        scopes.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use portcullis_auth::ScopeSet;

    use super::*;

    fn principal(method: AuthMethod, scopes: &str) -> Principal {
        Principal {
            subject: "alice".into(),
            method,
            credential: None,
            client_id: None,
            scopes: ScopeSet::parse(scopes),
            tenant: None,
            expires_at: 0,
            claims: Arc::default(),
        }
    }

    #[test]
    fn defaults_split_user_tools_from_admin_tools() {
        let p = Policy::default();
        let oauth = principal(AuthMethod::Oauth, "tasks:read tasks:write admin");
        assert!(p.check("list_tasks", &oauth).is_ok());
        assert!(matches!(
            p.check("list_users", &oauth),
            Err(Denial::Method { .. })
        ));
        let key = principal(AuthMethod::ApiKey, "tasks:read");
        assert!(p.check("get_task", &key).is_ok());
        assert_eq!(
            p.check("create_task", &key),
            Err(Denial::Scope {
                tool: "create_task".into(),
                missing: "tasks:write".into()
            })
        );
        assert!(p.check("system_stats", &key).is_err());
        assert!(
            p.check("system_stats", &principal(AuthMethod::ApiKey, "admin"))
                .is_ok()
        );
        assert_eq!(
            p.check("no_such_tool", &key),
            Err(Denial::NoRule {
                tool: "no_such_tool".into()
            })
        );
        // A client-credentials token is a service identity: no default rule accepts it.
        let service = principal(
            AuthMethod::ClientCredentials,
            "tasks:read tasks:write admin",
        );
        for (_, tools) in GROUPS {
            for tool in tools {
                assert!(p.check(tool, &service).is_err(), "{tool}");
            }
        }
    }

    #[test]
    fn overrides_apply_to_groups_then_tools() {
        let toml_rules: BTreeMap<String, RuleOverride> = BTreeMap::from([
            (
                "admin".into(),
                RuleOverride {
                    methods: Some(vec![AuthMethod::Oauth, AuthMethod::ApiKey]),
                    scopes: None,
                },
            ),
            (
                "delete_user".into(),
                RuleOverride {
                    methods: Some(vec![AuthMethod::ApiKey]),
                    scopes: Some(vec!["admin".into(), "admin:write".into()]),
                },
            ),
        ]);
        let p = Policy::with_overrides(&toml_rules, false, &[]).unwrap();
        let oauth = principal(AuthMethod::Oauth, "admin");
        assert!(p.check("list_users", &oauth).is_ok());
        assert!(p.check("delete_user", &oauth).is_err());
        let key = principal(AuthMethod::ApiKey, "admin");
        assert_eq!(
            p.check("delete_user", &key),
            Err(Denial::Scope {
                tool: "delete_user".into(),
                missing: "admin:write".into()
            })
        );
        for bad in ["nope", "tasks"] {
            let rules = BTreeMap::from([(bad.to_owned(), RuleOverride::default())]);
            assert!(Policy::with_overrides(&rules, true, &[]).is_err());
        }
        let empty = BTreeMap::from([(
            "list_tasks".to_owned(),
            RuleOverride {
                methods: Some(vec![]),
                scopes: None,
            },
        )]);
        assert!(Policy::with_overrides(&empty, true, &[]).is_err());
    }
}
