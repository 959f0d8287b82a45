//! Every upstream behind one endpoint: the merged tool list and routing by prefix.

use std::sync::Arc;

use portcullis_auth::Principal;
use rmcp::model::{CallToolResult, GetPromptResult, ReadResourceResult};

use crate::{
    config::{Target, UpstreamSpec},
    error::GatewayError,
    identity::{Acting, IdentityProvider, TokenCache, TokenIssuer},
    items::{Items, original_uri},
    openapi::RestUpstream,
    relay::Relay,
    upstream::{ExposedTool, Upstream, UpstreamStatus},
};

/// An upstream of either kind: an MCP server, or a REST API from its OpenAPI document.
enum Member {
    Mcp(Arc<Upstream>),
    Rest(Arc<RestUpstream>),
}

impl Member {
    fn spec(&self) -> &UpstreamSpec {
        match self {
            Self::Mcp(u) => &u.spec,
            Self::Rest(u) => &u.spec,
        }
    }

    fn name(&self) -> &str {
        &self.spec().name
    }

    fn tool(&self, exposed: &str) -> Option<ExposedTool> {
        match self {
            Self::Mcp(u) => u.tool(exposed),
            Self::Rest(u) => u.tool(exposed),
        }
    }

    fn tools(&self) -> Arc<Vec<ExposedTool>> {
        match self {
            Self::Mcp(u) => u.tools(),
            Self::Rest(u) => u.tools(),
        }
    }

    fn items(&self) -> Arc<Items> {
        match self {
            Self::Mcp(u) => u.items(),
            Self::Rest(_) => Arc::default(),
        }
    }

    fn status(&self) -> UpstreamStatus {
        match self {
            Self::Mcp(u) => u.status(),
            Self::Rest(u) => u.status(),
        }
    }
}

/// An upstream tool, found by its exposed name.
#[derive(Debug, Clone)]
pub struct Found {
    pub upstream: Arc<str>,
    pub tool: ExposedTool,
}

pub struct Gateway {
    upstreams: Vec<Member>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.upstreams.iter().map(|u| u.name()).collect();
        f.debug_struct("Gateway")
            .field("upstreams", &names)
            .finish()
    }
}

impl Gateway {
    /// `issuer` signs the tokens of `jwt` upstreams; without it their calls fail closed.
    /// `calls` records the REST upstreams' call latencies.
    pub fn new(
        specs: Vec<UpstreamSpec>,
        issuer: Option<TokenIssuer>,
        calls: portcullis_metrics::BackendCalls,
    ) -> Self {
        let tokens = Arc::new(TokenCache::default());
        // Never follow redirects: a redirect would carry the upstream credentials elsewhere.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client builds with static settings");
        let upstreams = specs
            .into_iter()
            .map(|spec| {
                let identity = IdentityProvider {
                    upstream: spec.name.as_str().into(),
                    credentials: spec.credentials.clone(),
                    issuer: issuer.clone(),
                    tokens: tokens.clone(),
                };
                match spec.target {
                    Target::OpenApi(_) => Member::Rest(Arc::new(RestUpstream::new(
                        spec,
                        identity,
                        http.clone(),
                        calls.clone(),
                    ))),
                    _ => Member::Mcp(Arc::new(Upstream::new(spec, identity, http.clone()))),
                }
            })
            .collect();
        Self { upstreams }
    }

    pub fn is_empty(&self) -> bool {
        self.upstreams.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.upstreams.iter().map(|u| u.name())
    }

    /// The upstream an exposed name belongs to (prefixes never overlap).
    fn owner(&self, exposed: &str) -> Option<&Member> {
        self.upstreams
            .iter()
            .find(|u| exposed.starts_with(&u.spec().prefix))
    }

    /// The upstream name whose prefix `exposed` starts with, whether or not such a tool exists.
    pub fn upstream_of(&self, exposed: &str) -> Option<&str> {
        self.owner(exposed).map(|u| u.name())
    }

    pub fn find(&self, exposed: &str) -> Option<Found> {
        let upstream = self.owner(exposed)?;
        upstream.tool(exposed).map(|tool| Found {
            upstream: upstream.name().into(),
            tool,
        })
    }

    /// Every upstream's listed tools, in configuration order.
    pub fn tools(&self) -> Vec<Found> {
        self.upstreams
            .iter()
            .flat_map(|u| {
                let name: Arc<str> = u.name().into();
                u.tools()
                    .iter()
                    .cloned()
                    .map(move |tool| Found {
                        upstream: name.clone(),
                        tool,
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Calls an upstream tool for `principal` (already authorized by the policy); the call's
    /// progress and log messages go to `relay`.
    pub async fn call(
        &self,
        exposed: &str,
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
        principal: &Principal,
        relay: Option<Arc<dyn Relay>>,
    ) -> Result<CallToolResult, GatewayError> {
        let Some(upstream) = self.owner(exposed) else {
            return Err(GatewayError::not_found("none", exposed));
        };
        let Some(tool) = upstream.tool(exposed) else {
            return Err(GatewayError::not_found(upstream.name(), exposed));
        };
        let acting = Acting::of(principal, upstream.name());
        match upstream {
            Member::Mcp(u) => u.call(&tool, arguments, &acting, relay).await,
            Member::Rest(u) => u.call(exposed, arguments, &acting).await,
        }
    }

    /// The upstream an exposed resource URI belongs to (`<name>+<its own URI>`).
    pub fn resource_owner(&self, uri: &str) -> Option<&str> {
        self.resource_upstream(uri).map(|u| u.name())
    }

    fn resource_upstream(&self, uri: &str) -> Option<&Arc<Upstream>> {
        self.upstreams.iter().find_map(|u| match u {
            Member::Mcp(u) if original_uri(u.name(), uri).is_some() => Some(u),
            _ => None,
        })
    }

    /// Every upstream's resources, templates and prompts with the upstream's name, in
    /// configuration order.
    pub fn items(&self) -> Vec<(Arc<str>, Arc<Items>)> {
        self.upstreams
            .iter()
            .map(|u| (Arc::from(u.name()), u.items()))
            .collect()
    }

    /// Reads an upstream resource for `principal` (already authorized by the policy).
    pub async fn read_resource(
        &self,
        uri: &str,
        principal: &Principal,
    ) -> Result<ReadResourceResult, GatewayError> {
        let upstream = self
            .resource_upstream(uri)
            .ok_or_else(|| GatewayError::not_found("none", uri))?;
        let acting = Acting::of(principal, upstream.name());
        upstream.read_resource(uri, &acting).await
    }

    /// Gets an upstream prompt for `principal` (already authorized by the policy).
    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
        principal: &Principal,
    ) -> Result<GetPromptResult, GatewayError> {
        let upstream = match self.owner(name) {
            Some(Member::Mcp(u)) => u,
            Some(Member::Rest(u)) => return Err(GatewayError::not_found(u.name(), name)),
            None => return Err(GatewayError::not_found("none", name)),
        };
        let acting = Acting::of(principal, upstream.name());
        upstream.get_prompt(name, arguments, &acting).await
    }

    pub fn status(&self) -> Vec<UpstreamStatus> {
        self.upstreams.iter().map(|u| u.status()).collect()
    }

    /// Keeps every upstream's tool list current in the background, starting with a first
    /// listing now. Not awaited: a `jwt` upstream fetches Portcullis's own `/jwks.json` while
    /// answering, so the first listing must not hold up the listener. Until it answers, the
    /// upstream's tools are absent and `/ready` says `starting`.
    pub fn start(&self) -> Vec<tokio::task::JoinHandle<()>> {
        self.upstreams
            .iter()
            .map(|u| match u {
                Member::Mcp(u) => tokio::spawn(u.clone().maintain()),
                Member::Rest(u) => tokio::spawn(u.clone().maintain()),
            })
            .collect()
    }

    /// Re-reads every OpenAPI document and relists every MCP upstream now (SIGHUP).
    pub fn reload(&self) {
        for u in &self.upstreams {
            match u {
                Member::Mcp(u) => u.relist(),
                Member::Rest(u) => u.reload(),
            }
        }
    }
}
