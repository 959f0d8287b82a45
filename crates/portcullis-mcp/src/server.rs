//! The rmcp server handler: server identity, instructions, and the tool router.

use std::{borrow::Cow, sync::Arc};

use http::request::Parts;
use portcullis_auth::Principal;
use portcullis_core::{Store, TenantAdmin, TenantId};
use portcullis_gateway::Items;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::router::tool::ToolRouter,
    handler::server::tool::{IntoCallToolResult, ToolCallContext},
    model::{
        CacheScope, CallToolRequestParams, CallToolResponse, GetPromptRequestParams,
        GetPromptResponse, Implementation, ListPromptsResult, ListResourceTemplatesResult,
        ListResourcesResult, ListToolsResult, PaginatedRequestParams, ProtocolVersion,
        ReadResourceRequestParams, ReadResourceResponse, ResultType, ServerCapabilities,
        ServerConfig, Tool,
    },
    service::RequestContext,
};

use crate::{
    Caller, Policy, ToolError,
    client_relay::ClientRelay,
    user_tasks::{TaskSource, UserTasks},
};

/// Protocol revisions served: the current stateless one and the 2025 revisions with the
/// initialize handshake, newest first.
const SUPPORTED_VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V_2026_07_28,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2025_06_18,
];

/// Portcullis's MCP server. Cheap to clone; rmcp makes one per request.
#[derive(Clone)]
pub struct PortcullisMcp {
    pub(crate) store: Store,
    /// Where task and workspace tools run: this store, or the REST backend.
    source: TaskSource,
    policy: Arc<Policy>,
    // Built once: rmcp asks for a fresh handler per request, and rebuilding routes and
    // schemas each time would sit on the hot path.
    tool_router: Arc<ToolRouter<Self>>,
}

impl PortcullisMcp {
    pub fn new(store: Store, policy: Arc<Policy>) -> Self {
        Self::with_source(store.clone(), TaskSource::Store(store), policy)
    }

    /// Task and workspace tools run on `source`; `store` still serves the admin tools.
    pub fn with_source(store: Store, source: TaskSource, policy: Arc<Policy>) -> Self {
        Self {
            store,
            source,
            policy,
            tool_router: Arc::new(Self::router()),
        }
    }

    /// Every tool this server has.
    fn router() -> ToolRouter<Self> {
        Self::task_router() + Self::workspace_router() + Self::admin_router()
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The caller's tasks and workspaces, after checking the policy lets it call `tool`.
    pub(crate) async fn tasks(
        &self,
        caller: &Caller,
        tool: &str,
    ) -> Result<UserTasks<'_>, ToolError> {
        let tenant = self.authorize(caller, tool)?;
        UserTasks::bind(&self.source, tenant, &caller.0.subject).await
    }

    /// The caller's tenant's administration, after checking the policy lets it call `tool`.
    pub(crate) fn admin(&self, caller: &Caller, tool: &str) -> Result<TenantAdmin, ToolError> {
        let tenant = self.authorize(caller, tool)?;
        if matches!(self.source, TaskSource::Backend(_)) {
            // The users and their tasks live in the backend's database, not this one.
            return Err(ToolError::new(
                "backend_error",
                format!("{tool} is not available when tasks live in a separate backend service"),
                "administer users on the backend service",
            ));
        }
        Ok(self.store.tenant_admin(tenant))
    }

    /// The policy check every tool repeats (the HTTP layer checked first), and the tenant the
    /// call is confined to: the token's tenant claim or the API key's tenant.
    fn authorize(&self, caller: &Caller, tool: &str) -> Result<TenantId, ToolError> {
        let principal = &caller.0;
        self.policy
            .check(tool, principal)
            .map_err(|denial| ToolError::forbidden(&denial))?;
        match principal.tenant.as_deref() {
            Some(t) => TenantId::parse(t).map_err(|e| {
                ToolError::validation(
                    format!("the token's tenant claim is unusable: {e}"),
                    "ask the administrator to fix the identity provider's tenant claim",
                )
            }),
            None => Ok(TenantId::default_tenant()),
        }
    }
}

impl PortcullisMcp {
    /// A call for an upstream's tool: the policy again (the HTTP layer checked first), then the
    /// upstream, on the acting user's own connection.
    async fn call_upstream(
        &self,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let principal = context
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>())
            .ok_or_else(|| ErrorData::invalid_request("the request is not authenticated", None))?;
        let tool = request.name.as_ref();
        let Some(gateway) = self.policy.gateway() else {
            return Err(ErrorData::invalid_params(
                format!("Unknown tool: {tool}"),
                None,
            ));
        };
        if let Err(denial) = self.policy.check(tool, principal) {
            return ToolError::forbidden(&denial).into_call_tool_result();
        }
        let relay = ClientRelay::for_request(context);
        // A cancelled request's handler keeps running unless told; dropping the upstream call
        // tells the upstream to stop too.
        let answer = tokio::select! {
            answer = gateway.call(tool, request.arguments, principal, relay) => answer,
            () = context.ct.cancelled() => {
                return Err(ErrorData::invalid_request("the request was cancelled", None));
            }
        };
        match answer {
            Ok(result) => Ok(result.into()),
            Err(error) => ToolError::from(error).into_call_tool_result(),
        }
    }

    /// The caller of a request, as the HTTP layer authenticated it.
    fn principal(context: &RequestContext<RoleServer>) -> Option<&Principal> {
        context
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>())
    }

    /// The upstream items `pick` selects, of the upstreams whose reads this caller may see.
    fn upstream_items<T: Clone>(
        &self,
        context: &RequestContext<RoleServer>,
        pick: impl Fn(&Items) -> &Vec<T>,
    ) -> Vec<T> {
        let Some(gateway) = self.policy.gateway() else {
            return Vec::new();
        };
        let principal = Self::principal(context);
        gateway
            .items()
            .into_iter()
            .filter(|(upstream, _)| self.policy.lists_reads(upstream, principal))
            .flat_map(|(_, items)| pick(&items).clone())
            .collect()
    }

    /// The policy for reading `item` of `upstream` (the HTTP layer checked first).
    fn authorize_read(
        &self,
        upstream: &str,
        item: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<Principal, ErrorData> {
        let principal = Self::principal(context)
            .ok_or_else(|| ErrorData::invalid_request("the request is not authenticated", None))?;
        self.policy
            .check_read(upstream, item, principal)
            .map_err(|denial| ErrorData::invalid_request(denial.message(), None))?;
        Ok(principal.clone())
    }

    /// Every tool served: the built-in ones still enabled, then each upstream's.
    fn all_tools(&self) -> Vec<Tool> {
        let mut tools: Vec<Tool> = self
            .tool_router
            .list_all()
            .into_iter()
            .filter(|tool| self.policy.serves_builtin(&tool.name))
            .collect();
        if let Some(gateway) = self.policy.gateway() {
            tools.extend(gateway.tools().into_iter().map(|found| found.tool.tool));
        }
        tools
    }
}

impl ServerHandler for PortcullisMcp {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if self.tool_router.has_route(request.name.as_ref())
            && self.policy.serves_builtin(request.name.as_ref())
        {
            let tcc = ToolCallContext::new(self, request, context);
            return self.tool_router.call(tcc).await;
        }
        self.call_upstream(request, &context).await
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        match self.tool_router.get(name) {
            Some(tool) if self.policy.serves_builtin(name) => Some(tool.clone()),
            _ => self
                .policy
                .gateway()
                .and_then(|g| g.find(name))
                .map(|found| found.tool.tool),
        }
    }

    fn get_info(&self) -> ServerConfig {
        let capabilities = if self.policy.gateway().is_some() {
            // Upstreams may offer resources and prompts; the lists are empty when none does.
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build()
        } else {
            ServerCapabilities::builder().enable_tools().build()
        };
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("portcullis", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Task and workspace tools for the signed-in user. Every call acts only on that \
                 user's own data. Use list_tasks to find task ids before get/update/complete/delete; \
                 errors carry error_type, message and suggestions.",
            )
    }

    /// The tools this caller may call (all of them when `hide_forbidden_tools` is off). The
    /// answer depends on the caller, so 2026-07-28 clients are told to cache it privately.
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let principal = context
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>());
        let tools = self
            .all_tools()
            .into_iter()
            .filter(|tool| self.policy.lists(&tool.name, principal))
            .collect();
        let supports_cache_hints = context
            .protocol_version()
            .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
        let scope = if self.policy.hide_forbidden_tools {
            CacheScope::Private
        } else {
            CacheScope::Public
        };
        let mut result = ListToolsResult::with_all_items(tools);
        result.result_type = Some(ResultType::COMPLETE);
        result.ttl_ms = supports_cache_hints.then_some(0);
        result.cache_scope = supports_cache_hints.then_some(scope);
        Ok(result)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let items = self.upstream_items(&context, |i| &i.resources);
        Ok(ListResourcesResult::with_all_items(items))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let items = self.upstream_items(&context, |i| &i.templates);
        Ok(ListResourceTemplatesResult::with_all_items(items))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let gateway = self.policy.gateway();
        let Some((gateway, upstream)) =
            gateway.and_then(|g| g.resource_owner(&request.uri).map(|u| (g, u)))
        else {
            return Err(ErrorData::resource_not_found(
                format!("no resource {:?} here", request.uri),
                None,
            ));
        };
        let principal = self.authorize_read(upstream, &request.uri, &context)?;
        let read = gateway.read_resource(&request.uri, &principal);
        match read.await {
            Ok(result) => Ok(ReadResourceResponse::Complete(result)),
            Err(error) => Err(crate::error::rpc_error(error, true)),
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let items = self.upstream_items(&context, |i| &i.prompts);
        Ok(ListPromptsResult::with_all_items(items))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let gateway = self.policy.gateway();
        let Some((gateway, upstream)) =
            gateway.and_then(|g| g.upstream_of(&request.name).map(|u| (g, u)))
        else {
            return Err(ErrorData::invalid_params(
                format!("no prompt {:?} here", request.name),
                None,
            ));
        };
        let principal = self.authorize_read(upstream, &request.name, &context)?;
        let got = gateway.get_prompt(&request.name, request.arguments, &principal);
        match got.await {
            Ok(result) => Ok(GetPromptResponse::Complete(result)),
            Err(error) => Err(crate::error::rpc_error(error, false)),
        }
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(&SUPPORTED_VERSIONS)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Deny by default only works if every tool has a rule: a tool missing from the policy
    /// would be callable by nobody, a rule for a tool that is gone hides a typo.
    #[test]
    fn every_tool_has_a_rule_and_every_rule_names_a_tool() {
        let routed: BTreeSet<String> = PortcullisMcp::router()
            .list_all()
            .into_iter()
            .map(|tool| tool.name.to_string())
            .collect();
        let ruled: BTreeSet<String> = Policy::default().tools().map(str::to_owned).collect();
        assert_eq!(routed, ruled);
        assert!(!routed.is_empty());
    }
}
