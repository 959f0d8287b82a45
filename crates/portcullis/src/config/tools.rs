//! Which tools are served (the built-in ones, the upstreams') and the policy over them.

use std::{collections::BTreeMap, sync::Arc};

use clap::{ArgAction, Args};
use portcullis_gateway::{UpstreamConfig, UpstreamSpec};
use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Clone, Args)]
pub struct ToolArgs {
    /// An upstream MCP server to put behind Portcullis, NAME=URL (repeatable, or comma-separated
    /// in the environment); every other upstream setting at its default. Full settings go in
    /// the configuration file's [[upstreams]] tables.
    #[arg(long, env = "PORTCULLIS_UPSTREAM", value_delimiter = ',')]
    pub upstream: Vec<String>,
    /// Serve the built-in task and admin tools; false when Portcullis only fronts upstreams.
    #[arg(long, env = "PORTCULLIS_BUILTIN_TOOLS", action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", default_value_t = true)]
    pub builtin_tools: bool,
    /// tools/list shows each caller only the tools the policy lets it call (in the file:
    /// [policy] hide_forbidden_tools). Per-tool rules are set in the configuration file's
    /// [policy.tools.*] tables.
    #[arg(long, env = "PORTCULLIS_HIDE_FORBIDDEN_TOOLS", action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", default_value_t = true)]
    pub hide_forbidden_tools: bool,
}

/// `[policy]`: which credentials and scopes each tool (or group) accepts.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePolicy {
    /// Layered with `--hide-forbidden-tools` (see `layers`); read there, not here.
    #[serde(rename = "hide_forbidden_tools")]
    _hide_forbidden_tools: Option<bool>,
    /// `[policy.tools.<tool or group>]` with `methods` and/or `scopes`.
    #[serde(default)]
    tools: BTreeMap<String, portcullis_mcp::RuleOverride>,
}

#[derive(Debug, Clone)]
pub struct ToolSettings {
    pub policy: Arc<portcullis_mcp::Policy>,
    /// `[policy.tools.*]` as given (the effective policy is the defaults with these applied).
    pub policy_overrides: BTreeMap<String, portcullis_mcp::RuleOverride>,
    /// The upstream MCP servers, as configured (file tables and `--upstream` shortcuts) and
    /// as checked.
    pub upstream_configs: Vec<UpstreamConfig>,
    pub upstreams: Vec<UpstreamSpec>,
    /// Serve the built-in task and admin tools.
    pub builtin_tools: bool,
}

pub fn resolve_tools(
    args: &ToolArgs,
    policy: FilePolicy,
    upstreams: Vec<UpstreamConfig>,
) -> Result<ToolSettings, ConfigError> {
    let (upstream_configs, upstreams) = resolve_upstreams(args, upstreams)?;
    let prefixes: Vec<(String, String)> = upstreams
        .iter()
        .map(|u| (u.name.clone(), u.prefix.clone()))
        .collect();
    let mut effective =
        portcullis_mcp::Policy::with_overrides(&policy.tools, args.hide_forbidden_tools, &prefixes)
            .map_err(|problem| {
                ConfigError::new(
                    "policy",
                    problem,
                    "fix the [policy.tools.*] table in the configuration file",
                )
            })?;
    if !args.builtin_tools {
        effective = effective.without_builtin_tools();
    }
    Ok(ToolSettings {
        policy: Arc::new(effective),
        policy_overrides: policy.tools,
        upstream_configs,
        upstreams,
        builtin_tools: args.builtin_tools,
    })
}

/// `[[upstreams]]` from the file, then each `--upstream NAME=URL`, checked as one set.
fn resolve_upstreams(
    args: &ToolArgs,
    mut configs: Vec<UpstreamConfig>,
) -> Result<(Vec<UpstreamConfig>, Vec<UpstreamSpec>), ConfigError> {
    for raw in &args.upstream {
        configs.push(
            UpstreamConfig::from_shortcut(raw)
                .map_err(|e| ConfigError::new("upstream", e.problem, e.fix))?,
        );
    }
    let builtin: Vec<&str> = if args.builtin_tools {
        portcullis_mcp::GROUPS
            .iter()
            .flat_map(|(_, tools)| tools.iter().copied())
            .collect()
    } else {
        Vec::new()
    };
    let specs = portcullis_gateway::validate(&configs, &builtin, &|var| std::env::var(var).ok())
        .map_err(|e| {
            ConfigError::new(
                "upstreams",
                format!("upstream {:?}: `{}` {}", e.name, e.key, e.problem),
                e.fix,
            )
        })?;
    if !args.builtin_tools && specs.is_empty() {
        return Err(ConfigError::new(
            "builtin_tools",
            "is false and no upstream is configured, so there would be no tools",
            "add an [[upstreams]] table or --upstream NAME=URL, or keep the built-in tools",
        ));
    }
    Ok((configs, specs))
}
