//! One upstream MCP server: its connections (an rmcp client per acting user over HTTP, or a
//! supervised stdio process), its cached tool list, and its health.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    model::{
        CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
        ClientCapabilities, ClientConfig, ClientRequest, GetPromptRequestParams, GetPromptResponse,
        GetPromptResult, Implementation, ProgressNotificationParam, ReadResourceRequestParams,
        ReadResourceResponse, ReadResourceResult, RequestId, ServerResult, Tool,
    },
    service::{NotificationContext, Peer, PeerRequestOptions, RunningService, ServiceError},
    transport::{
        StreamableHttpClientTransport, TokioChildProcess,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use tokio::sync::{Notify, OnceCell};

use crate::{
    config::{Target, UpstreamSpec},
    error::{GatewayError, plain},
    identity::{Acting, IdentityProvider},
    items::{Items, MAX_TOOLS, expose_contents, original_uri},
    relay::{Listeners, Relay},
    transport::IdentityClient,
};

/// HTTP sessions per upstream (one per acting user); the least recently used idle one goes.
const MAX_SESSIONS: usize = 1000;
/// The largest answer read from an upstream.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Listed tools stay usable this many TTLs after the last successful listing.
const STALE_TTLS: u32 = 12;

/// A tool of this upstream as Portcullis exposes it.
#[derive(Debug, Clone)]
pub struct ExposedTool {
    /// Renamed with the prefix.
    pub tool: Tool,
    /// The upstream's own name for it.
    pub original: String,
    pub read_only: bool,
    pub idempotent: bool,
}

#[derive(Default)]
struct Catalog {
    tools: Arc<Vec<ExposedTool>>,
    items: Arc<Items>,
    by_name: HashMap<String, usize>,
    listed_at: Option<Instant>,
    last_error: Option<String>,
}

/// What `/ready` reports of an upstream.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UpstreamStatus {
    pub name: String,
    /// `starting` (not listed yet), `up`, `stale` (listed before, failing now) or `down`.
    pub state: &'static str,
    pub tools: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

type Session = RunningService<RoleClient, Notifications>;

/// One connection slot: opened on first use, replaced when it closes.
struct Slot {
    session: OnceCell<Session>,
    last_used: Mutex<Instant>,
    in_flight: AtomicUsize,
    /// The calls on this connection whose notifications go back to their clients.
    listeners: Listeners,
}

impl Slot {
    fn new() -> Self {
        Self {
            session: OnceCell::new(),
            last_used: Mutex::new(Instant::now()),
            in_flight: AtomicUsize::new(0),
            listeners: Listeners::default(),
        }
    }
}

/// Counts a call as in flight for as long as it lives.
struct InFlight(Arc<Slot>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The client side of an upstream connection: `tools/list_changed` starts a new listing;
/// progress and log messages go back to the calls they belong to.
#[derive(Clone)]
struct Notifications {
    changed: Arc<Notify>,
    listeners: Listeners,
    /// The connection serves one user, so its log messages may go to that user's calls (a
    /// shared stdio process's may not: they could be about anyone).
    private: bool,
}

impl ClientHandler for Notifications {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        // A stored permit: the maintenance loop lists again even if it is busy right now.
        self.changed.notify_one();
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(call) = self.listeners.by_token(&params.progress_token) {
            call.progress(params).await;
        }
    }

    // Logging is deprecated in 2026-07-28 (SEP-2577), but 2025-era upstreams and clients use it.
    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if self.private {
            for call in self.listeners.all() {
                call.log(params.clone()).await;
            }
        }
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("portcullis-gateway", env!("CARGO_PKG_VERSION")),
        )
    }
}

/// Restarts of a stdio upstream that keeps dying are spaced out.
#[derive(Default)]
struct Backoff {
    failures: u32,
    not_before: Option<Instant>,
}

pub struct Upstream {
    pub spec: UpstreamSpec,
    identity: Arc<IdentityProvider>,
    http: reqwest::Client,
    slots: Mutex<HashMap<Acting, Arc<Slot>>>,
    catalog: RwLock<Catalog>,
    changed: Arc<Notify>,
    backoff: Mutex<Backoff>,
}

impl Upstream {
    pub fn new(spec: UpstreamSpec, identity: IdentityProvider, http: reqwest::Client) -> Self {
        Self {
            spec,
            identity: Arc::new(identity),
            http,
            slots: Mutex::default(),
            catalog: RwLock::default(),
            changed: Arc::new(Notify::new()),
            backoff: Mutex::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The connection key of a call: per user for HTTP and per-user stdio, one shared process
    /// otherwise.
    fn key(&self, acting: &Acting) -> Acting {
        match &self.spec.target {
            Target::Http(_) | Target::OpenApi(_) => acting.clone(),
            Target::Stdio {
                per_user: Some(_), ..
            } => Acting {
                scope: String::new(),
                client_id: None,
                ..acting.clone()
            },
            Target::Stdio { per_user: None, .. } => Acting::gateway(&self.spec.name),
        }
    }

    /// The session for `acting`, opening it if needed; a closed one is replaced.
    async fn session(&self, acting: &Acting) -> Result<(Arc<Slot>, InFlight), GatewayError> {
        let key = self.key(acting);
        let slot = {
            let mut slots = self.slots.lock().expect("slots");
            let closed = slots
                .get(&key)
                .is_some_and(|s| s.session.get().is_some_and(|s| s.is_closed()));
            if closed {
                slots.remove(&key);
            }
            if !slots.contains_key(&key) {
                self.make_room(&mut slots)?;
                slots.insert(key.clone(), Arc::new(Slot::new()));
            }
            slots[&key].clone()
        };
        slot.in_flight.fetch_add(1, Ordering::AcqRel);
        let guard = InFlight(slot.clone());
        *slot.last_used.lock().expect("slot") = Instant::now();
        let opened = tokio::time::timeout(
            self.spec.timeout,
            slot.session
                .get_or_try_init(|| self.open(&key, slot.listeners.clone())),
        )
        .await;
        match opened {
            Ok(Ok(_)) => Ok((slot, guard)),
            Ok(Err(e)) => {
                self.forget(&key, &slot);
                Err(e)
            }
            Err(_) => {
                self.forget(&key, &slot);
                Err(GatewayError::timeout(&self.spec.name, self.spec.timeout))
            }
        }
    }

    fn forget(&self, key: &Acting, slot: &Arc<Slot>) {
        let mut slots = self.slots.lock().expect("slots");
        if slots.get(key).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            slots.remove(key);
        }
    }

    /// Keeps the number of connections under the cap: the least recently used idle one goes.
    fn make_room(&self, slots: &mut HashMap<Acting, Arc<Slot>>) -> Result<(), GatewayError> {
        let cap = match &self.spec.target {
            Target::Stdio {
                per_user: Some(cap),
                ..
            } => *cap,
            _ => MAX_SESSIONS,
        };
        while slots.len() >= cap {
            let idle = slots
                .iter()
                .filter(|(_, s)| s.in_flight.load(Ordering::Acquire) == 0)
                .min_by_key(|(_, s)| *s.last_used.lock().expect("slot"))
                .map(|(k, _)| k.clone());
            match idle {
                Some(key) => {
                    slots.remove(&key);
                }
                None => {
                    return Err(GatewayError::backend(
                        &self.spec.name,
                        format!("all {cap} upstream connections are busy"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Closes connections unused for the idle time.
    pub fn reap_idle(&self) {
        let idle = self.spec.idle;
        self.slots.lock().expect("slots").retain(|_, s| {
            s.in_flight.load(Ordering::Acquire) > 0
                || s.last_used.lock().expect("slot").elapsed() < idle
        });
    }

    async fn open(&self, key: &Acting, listeners: Listeners) -> Result<Session, GatewayError> {
        let name = &self.spec.name;
        let handler = Notifications {
            changed: self.changed.clone(),
            listeners,
            private: !matches!(self.spec.target, Target::Stdio { per_user: None, .. }),
        };
        match &self.spec.target {
            Target::Http(url) => {
                let client = IdentityClient {
                    http: self.http.clone(),
                    identity: self.identity.clone(),
                    acting: Arc::new(key.clone()),
                };
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
                config.max_json_response_size = MAX_RESPONSE_BYTES;
                config.max_sse_event_size = MAX_RESPONSE_BYTES;
                let transport = StreamableHttpClientTransport::with_client(client, config);
                handler.serve(transport).await.map_err(|e| {
                    if e.auth_challenge().is_some() {
                        GatewayError::authentication(name)
                    } else {
                        GatewayError::connection(name, plain(&e))
                    }
                })
            }
            Target::OpenApi(_) => Err(GatewayError::internal(
                name,
                "an OpenAPI upstream has no MCP connection",
            )),
            Target::Stdio {
                program, args, env, ..
            } => {
                self.wait_backoff()?;
                let mut command = tokio::process::Command::new(program);
                command.args(args).env_clear().envs(env).kill_on_drop(true);
                // A minimal PATH so `uvx`, `npx` and friends resolve as they would in a shell.
                if !env.contains_key("PATH") {
                    command.env("PATH", std::env::var_os("PATH").unwrap_or_default());
                }
                if !env.contains_key("HOME")
                    && let Some(home) = std::env::var_os("HOME")
                {
                    command.env("HOME", home);
                }
                let spawned = TokioChildProcess::builder(command)
                    .stderr(std::process::Stdio::inherit())
                    .spawn()
                    .map_err(|e| {
                        GatewayError::connection(name, format!("cannot start {program}: {e}"))
                    });
                let result = match spawned {
                    Ok((process, _)) => handler.serve(process).await.map_err(|e| {
                        GatewayError::connection(
                            name,
                            format!("{program} did not start an MCP session: {}", plain(&e)),
                        )
                    }),
                    Err(e) => Err(e),
                };
                self.record_start(result.is_ok());
                if result.is_ok() {
                    tracing::info!(upstream = %name, %program, "started the stdio upstream");
                }
                result
            }
        }
    }

    fn wait_backoff(&self) -> Result<(), GatewayError> {
        let backoff = self.backoff.lock().expect("backoff");
        match backoff.not_before {
            Some(at) if at > Instant::now() => Err(GatewayError::connection(
                &self.spec.name,
                format!(
                    "the program exited; restarting in {} s",
                    (at - Instant::now()).as_secs().max(1)
                ),
            )),
            _ => Ok(()),
        }
    }

    fn record_start(&self, ok: bool) {
        let mut backoff = self.backoff.lock().expect("backoff");
        if ok {
            *backoff = Backoff::default();
        } else {
            backoff.failures += 1;
            let delay = Duration::from_millis(500 * 2u64.pow(backoff.failures.min(6)));
            backoff.not_before = Some(Instant::now() + delay.min(Duration::from_secs(30)));
        }
    }

    /// A stdio process that exited is a failure for the restart backoff too.
    fn note_exit(&self) {
        if matches!(self.spec.target, Target::Stdio { .. }) {
            let mut backoff = self.backoff.lock().expect("backoff");
            if backoff.not_before.is_none() {
                backoff.failures += 1;
                backoff.not_before = Some(Instant::now() + Duration::from_millis(500));
            }
        }
    }

    /// One request on `acting`'s connection, within the timeout. A connection found closed is
    /// forgotten (the next request opens a new one; a stdio exit counts for the restart
    /// backoff).
    async fn once<T, F, Fut>(&self, acting: &Acting, request: F) -> Result<T, GatewayError>
    where
        F: FnOnce(Peer<RoleClient>, Listeners) -> Fut,
        Fut: Future<Output = Result<T, ServiceError>>,
    {
        let name = &self.spec.name;
        let (slot, _in_flight) = self.session(acting).await?;
        let session = slot.session.get().expect("opened");
        let sent = request(session.peer().clone(), slot.listeners.clone());
        match tokio::time::timeout(self.spec.timeout, sent).await {
            Err(_) => Err(GatewayError::timeout(name, self.spec.timeout)),
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(ServiceError::McpError(e))) => Err(match e.code.0 {
                -32602 => GatewayError::validation(
                    name,
                    format!("the upstream refused the arguments: {}", e.message),
                ),
                -32002 => GatewayError::not_found(name, &e.message),
                _ => GatewayError::backend(name, e.message),
            }),
            Ok(Err(e)) => {
                if session.is_closed() || matches!(e, ServiceError::TransportClosed) {
                    self.forget(&self.key(acting), &slot);
                    self.note_exit();
                }
                Err(if e.auth_challenge().is_some() {
                    GatewayError::authentication(name)
                } else {
                    GatewayError::connection(name, plain(&e))
                })
            }
        }
    }

    /// A client's request failed to reach the upstream: list again now, so `/ready` learns of
    /// it without waiting a TTL. (Not for the maintenance loop's own listing, which backs off.)
    fn noticed<T>(&self, answer: Result<T, GatewayError>) -> Result<T, GatewayError> {
        if answer
            .as_ref()
            .is_err_and(|e| e.error_type == "connection_error")
        {
            self.changed.notify_one();
        }
        answer
    }

    /// Calls the upstream tool `tool` (its own name) for `acting`, relaying its notifications
    /// to `relay`. Retried once on a fresh connection only when the connection failed and the
    /// tool is marked idempotent (any other call may have run). Dropping the future (the client
    /// cancelled, or went away) cancels the upstream call too.
    pub async fn call(
        &self,
        tool: &ExposedTool,
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
        acting: &Acting,
        relay: Option<Arc<dyn Relay>>,
    ) -> Result<CallToolResult, GatewayError> {
        let name = &self.spec.name;
        let attempts = if tool.idempotent { 2 } else { 1 };
        let mut attempt = 0;
        let answer = loop {
            attempt += 1;
            let mut params = CallToolRequestParams::new(tool.original.clone());
            params.arguments = arguments.clone();
            let relay = relay.clone();
            let answer = self
                .once(acting, |peer, listeners| async move {
                    call_relayed(&peer, params, &listeners, relay).await
                })
                .await;
            match self.noticed(answer) {
                Err(e) if e.error_type == "connection_error" && attempt < attempts => continue,
                answer => break answer?,
            }
        };
        match answer {
            ServerResult::CallToolResult(result) => Ok(result),
            ServerResult::InputRequiredResult(_) | ServerResult::CreateTaskResult(_) => {
                Err(GatewayError::backend(
                    name,
                    "it asked for input or started a task, which Portcullis does not relay yet",
                ))
            }
            _ => Err(GatewayError::backend(
                name,
                "it answered with something that is not a tool result",
            )),
        }
    }

    /// Reads the resource behind `exposed` (an exposed URI of this upstream) for `acting`.
    pub async fn read_resource(
        &self,
        exposed: &str,
        acting: &Acting,
    ) -> Result<ReadResourceResult, GatewayError> {
        let name = &self.spec.name;
        let original = original_uri(name, exposed)
            .ok_or_else(|| GatewayError::not_found(name, exposed))?
            .to_owned();
        let params = ReadResourceRequestParams::new(original);
        let answer = self
            .once(acting, |peer, _| async move {
                peer.read_resource_once(params).await
            })
            .await;
        match self.noticed(answer)? {
            ReadResourceResponse::Complete(result) => Ok(expose_contents(name, result)),
            _ => Err(GatewayError::backend(
                name,
                "it asked for input, which Portcullis does not relay yet",
            )),
        }
    }

    /// Gets the prompt `exposed` (with this upstream's prefix) for `acting`.
    pub async fn get_prompt(
        &self,
        exposed: &str,
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
        acting: &Acting,
    ) -> Result<GetPromptResult, GatewayError> {
        let name = &self.spec.name;
        let original = exposed
            .strip_prefix(&self.spec.prefix)
            .filter(|_| self.items().prompts.iter().any(|p| p.name == exposed))
            .ok_or_else(|| GatewayError::not_found(name, exposed))?;
        let mut params = GetPromptRequestParams::new(original);
        params.arguments = arguments;
        let answer = self
            .once(acting, |peer, _| async move {
                peer.get_prompt_once(params).await
            })
            .await;
        match self.noticed(answer)? {
            GetPromptResponse::Complete(result) => Ok(result),
            _ => Err(GatewayError::backend(
                name,
                "it asked for input, which Portcullis does not relay yet",
            )),
        }
    }

    /// Lists the upstream's tools (and resources, templates and prompts, where it offers them)
    /// as Portcullis itself, and replaces the cached lists.
    pub async fn refresh(&self) -> Result<usize, GatewayError> {
        let acting = Acting::gateway(&self.spec.name);
        let listed = self
            .once(&acting, |peer, _| async move {
                let tools = peer.list_all_tools().await?;
                let offers = peer.peer_info().map(|info| info.capabilities.clone());
                let offers = offers.unwrap_or_default();
                let (mut resources, mut templates, mut prompts) = Default::default();
                if offers.resources.is_some() {
                    resources = peer.list_all_resources().await?;
                    templates = peer.list_all_resource_templates().await?;
                }
                if offers.prompts.is_some() {
                    prompts = peer.list_all_prompts().await?;
                }
                Ok((tools, resources, templates, prompts))
            })
            .await;
        let mut catalog = self.catalog.write().expect("catalog");
        match listed {
            Ok((tools, resources, templates, prompts)) => {
                let exposed = self.expose(tools);
                catalog.by_name = exposed
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (t.tool.name.to_string(), i))
                    .collect();
                catalog.tools = Arc::new(exposed);
                catalog.items = Arc::new(Items::expose(
                    &self.spec.name,
                    &self.spec.prefix,
                    resources,
                    templates,
                    prompts,
                ));
                catalog.listed_at = Some(Instant::now());
                catalog.last_error = None;
                Ok(catalog.tools.len())
            }
            Err(e) => {
                catalog.last_error = Some(e.message.clone());
                Err(e)
            }
        }
    }

    fn expose(&self, tools: Vec<Tool>) -> Vec<ExposedTool> {
        let name = &self.spec.name;
        if tools.len() > MAX_TOOLS {
            tracing::warn!(upstream = %name, offered = tools.len(), kept = MAX_TOOLS, "the upstream offers too many tools; the rest are ignored");
        }
        let mut seen = std::collections::HashSet::new();
        tools
            .into_iter()
            .take(MAX_TOOLS)
            .filter_map(|mut tool| {
                let original = tool.name.to_string();
                let exposed = format!("{}{original}", self.spec.prefix);
                let valid = exposed.len() <= 128
                    && exposed.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
                if !valid || !seen.insert(exposed.clone()) {
                    tracing::warn!(upstream = %name, tool = %original.escape_debug(), "skipping a tool whose name is not a valid MCP tool name");
                    return None;
                }
                let hints = tool.annotations.as_ref();
                let read_only = hints.and_then(|a| a.read_only_hint).unwrap_or(false);
                let idempotent = hints.and_then(|a| a.idempotent_hint).unwrap_or(false);
                tool.name = exposed.into();
                Some(ExposedTool { tool, original, read_only, idempotent })
            })
            .collect()
    }

    /// The listed tools, unless the last good listing is too old to trust.
    pub fn tools(&self) -> Arc<Vec<ExposedTool>> {
        let catalog = self.catalog.read().expect("catalog");
        if self.fresh_enough(&catalog) {
            catalog.tools.clone()
        } else {
            Arc::default()
        }
    }

    /// The listed resources, templates and prompts, under the same staleness bound as tools.
    pub fn items(&self) -> Arc<Items> {
        let catalog = self.catalog.read().expect("catalog");
        if self.fresh_enough(&catalog) {
            catalog.items.clone()
        } else {
            Arc::default()
        }
    }

    pub fn tool(&self, exposed: &str) -> Option<ExposedTool> {
        let catalog = self.catalog.read().expect("catalog");
        if !self.fresh_enough(&catalog) {
            return None;
        }
        catalog
            .by_name
            .get(exposed)
            .map(|&i| catalog.tools[i].clone())
    }

    fn fresh_enough(&self, catalog: &Catalog) -> bool {
        catalog
            .listed_at
            .is_some_and(|at| at.elapsed() < self.spec.tools_ttl * STALE_TTLS)
    }

    pub fn status(&self) -> UpstreamStatus {
        let catalog = self.catalog.read().expect("catalog");
        let listed = self.fresh_enough(&catalog);
        let state = match (&catalog.last_error, listed) {
            (None, true) => "up",
            (None, false) if catalog.listed_at.is_none() => "starting",
            (Some(_), true) => "stale",
            _ => "down",
        };
        UpstreamStatus {
            name: self.spec.name.clone(),
            state,
            tools: if listed { catalog.tools.len() } else { 0 },
            error: catalog.last_error.clone(),
        }
    }

    /// Lists the tools again now (SIGHUP).
    pub fn relist(&self) {
        self.changed.notify_one();
    }

    /// Keeps the tool list current: lists now, then again after the TTL or a `list_changed`
    /// notification, and after a failure with backoff. Also reaps idle connections.
    pub async fn maintain(self: Arc<Self>) {
        let this = &*self;
        crate::listing::keep_listing(
            &this.spec.name,
            this.spec.tools_ttl,
            &this.changed,
            "its tools appear once it answers",
            || {
                this.reap_idle();
                this.refresh()
            },
        )
        .await;
    }
}

/// Sends one `tools/call` and waits for its answer, with `relay` listening to the call's
/// notifications meanwhile. Dropped before the answer, it tells the upstream the call is
/// cancelled (`notifications/cancelled`).
async fn call_relayed(
    peer: &Peer<RoleClient>,
    params: CallToolRequestParams,
    listeners: &Listeners,
    relay: Option<Arc<dyn Relay>>,
) -> Result<ServerResult, ServiceError> {
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
    let handle = peer
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await?;
    let _listening = relay.map(|relay| listeners.listen(handle.progress_token.clone(), relay));
    let mut abandoned = Abandoned {
        peer: peer.clone(),
        id: Some(handle.id.clone()),
    };
    let answer = handle.await_response().await;
    abandoned.id = None;
    answer
}

/// A request whose answer nobody waits for any more: the upstream is told to stop.
struct Abandoned {
    peer: Peer<RoleClient>,
    id: Option<RequestId>,
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if let Some(id) = self.id.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let peer = self.peer.clone();
            runtime.spawn(async move {
                let params = CancelledNotificationParam::new(
                    Some(id),
                    Some("the client cancelled the call".into()),
                );
                let _ = peer.notify_cancelled(params).await;
            });
        }
    }
}
