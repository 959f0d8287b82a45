//! A small hand-written MCP client over reqwest, speaking either protocol era exactly as the
//! specification describes it (so tests see the raw HTTP exchange).

use serde_json::{Value, json};

/// Which protocol revision a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2026-07-28: stateless, `_meta` on every request, `Mcp-Method`/`Mcp-Name` headers.
    Current,
    /// 2025-11-25 without `initialize`: each request stands alone.
    Legacy,
}

impl Era {
    pub fn version(self) -> &'static str {
        match self {
            Era::Current => "2026-07-28",
            Era::Legacy => "2025-11-25",
        }
    }
}

pub struct McpClient {
    pub url: String,
    /// Sent as `Authorization: Bearer` unless empty.
    pub token: String,
    pub era: Era,
    pub http: reqwest::Client,
    /// Sent on every request (`X-API-Key`, `X-Mcp-User` …).
    pub headers: Vec<(String, String)>,
}

/// A JSON-RPC exchange's HTTP status, headers and body.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The JSON-RPC `result`, panicking with the body when there is none.
    pub fn result(&self) -> &Value {
        assert_eq!(self.status, 200, "HTTP status; body: {}", self.body);
        self.body
            .get("result")
            .unwrap_or_else(|| panic!("no result in {}", self.body))
    }
}

impl McpClient {
    pub fn new(url: String, token: String) -> Self {
        Self {
            url,
            token,
            era: Era::Legacy,
            http: reqwest::Client::new(),
            headers: Vec::new(),
        }
    }

    /// A client that authenticates with `X-API-Key` instead of a bearer token.
    pub fn with_api_key(url: String, key: &str) -> Self {
        Self::new(url, String::new()).header("X-API-Key", key)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn era(mut self, era: Era) -> Self {
        self.era = era;
        self
    }

    fn meta(&self) -> Value {
        json!({
            "io.modelcontextprotocol/protocolVersion": self.era.version(),
            "io.modelcontextprotocol/clientInfo": { "name": "portcullis-tests", "version": "1.0.0" },
            "io.modelcontextprotocol/clientCapabilities": {}
        })
    }

    /// The HTTP request for `method` with `params`, with the era's headers and `_meta`.
    fn prepare(
        &self,
        method: &str,
        mut params: Value,
        name: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(&self.url)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", self.era.version());
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        for (name, value) in &self.headers {
            req = req.header(name, value);
        }
        if self.era == Era::Current {
            params["_meta"] = self.meta();
            req = req.header("Mcp-Method", method);
            if let Some(name) = name {
                req = req.header("Mcp-Name", name);
            }
        }
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        req.json(&body)
    }

    /// Sends `method` with `params`, adding the era's headers and `_meta`.
    pub async fn request(&self, method: &str, params: Value, name: Option<&str>) -> Reply {
        send(self.prepare(method, params, name)).await
    }

    pub async fn call(&self, tool: &str, arguments: Value) -> Reply {
        self.request(
            "tools/call",
            json!({ "name": tool, "arguments": arguments }),
            Some(tool),
        )
        .await
    }

    /// Like [`Self::call`], but `None` when the server cannot be reached or drops the
    /// connection (for tests that stop servers).
    pub async fn try_call(&self, tool: &str, arguments: Value) -> Option<Reply> {
        let params = json!({ "name": tool, "arguments": arguments });
        try_send(self.prepare("tools/call", params, Some(tool))).await
    }

    /// Calls `tool` and returns `structuredContent`, asserting the call succeeded.
    pub async fn ok(&self, tool: &str, arguments: Value) -> Value {
        let reply = self.call(tool, arguments).await;
        let result = reply.result();
        assert_eq!(result["isError"], json!(false), "{tool} failed: {result}");
        result["structuredContent"].clone()
    }

    /// Calls `tool` and returns the tool error body, asserting the call failed in-band.
    pub async fn tool_error(&self, tool: &str, arguments: Value) -> Value {
        let reply = self.call(tool, arguments).await;
        let result = reply.result();
        assert_eq!(
            result["isError"],
            json!(true),
            "{tool} unexpectedly succeeded: {result}"
        );
        result["structuredContent"].clone()
    }
}

pub async fn send(req: reqwest::RequestBuilder) -> Reply {
    try_send(req).await.expect("request sent and answered")
}

/// `None` when the request could not be sent or its answer not read.
pub async fn try_send(req: reqwest::RequestBuilder) -> Option<Reply> {
    let response = req.send().await.ok()?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.ok()?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Some(Reply {
        status,
        headers,
        body,
    })
}
