//! A REST API behind Portcullis: its OpenAPI document's operations become tools, called with the
//! upstream's credentials for the acting user by the backend client's [`Caller`] (one deadline,
//! safe retries, idempotency keys, request ids, pooled connections, capped answers). The
//! document is re-read on its TTL and on [`RestUpstream::reload`] (SIGHUP); a document that
//! breaks keeps the last good tools, and `/ready` says why.

mod document;
mod operation;
mod schema;

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use portcullis_backend_client::{BackendError, CallPolicy, Caller, ErrorKind, Request};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Map, Value};
use tokio::sync::Notify;

pub use document::load;
pub use operation::{Operation, Selection, operations};

use crate::{
    config::{Credentials, OpenApiTarget, Target, UpstreamSpec},
    error::GatewayError,
    identity::{Acting, IdentityProvider},
    items::MAX_TOOLS,
    upstream::{ExposedTool, UpstreamStatus},
};

#[derive(Default)]
struct Catalog {
    operations: HashMap<String, Arc<Operation>>,
    tools: Arc<Vec<ExposedTool>>,
    base_url: Option<url::Url>,
    loaded_at: Option<Instant>,
    last_error: Option<String>,
}

pub struct RestUpstream {
    pub spec: UpstreamSpec,
    target: OpenApiTarget,
    identity: IdentityProvider,
    caller: Caller,
    /// Fetches the document (no redirects).
    http: reqwest::Client,
    catalog: RwLock<Catalog>,
    reload: Notify,
    /// The metrics label of this upstream's calls (names are few and fixed by the config).
    route: &'static str,
}

impl RestUpstream {
    pub fn new(
        spec: UpstreamSpec,
        identity: IdentityProvider,
        http: reqwest::Client,
        calls: portcullis_metrics::BackendCalls,
    ) -> Self {
        let Target::OpenApi(target) = &spec.target else {
            unreachable!("a REST upstream has an OpenAPI target")
        };
        let target = target.clone();
        let caller = Caller::new(CallPolicy {
            timeout: spec.timeout,
            retries: target.retries,
            backoff: Duration::from_millis(200),
            calls,
        })
        .expect("the HTTP client builds with static settings");
        let route: &'static str = Box::leak(format!("openapi:{}", spec.name).into_boxed_str());
        Self {
            spec,
            target,
            identity,
            caller,
            http,
            catalog: RwLock::default(),
            reload: Notify::new(),
            route,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Headers whose parameters are Portcullis's to set (the identity it sends).
    fn reserved_headers(&self) -> Vec<&str> {
        match &self.spec.credentials {
            Credentials::ServiceToken {
                user_header,
                tenant_header,
                ..
            } => vec![user_header.as_str(), tenant_header.as_str()],
            Credentials::ApiKey {
                header,
                user_header,
                tenant_header,
                ..
            } => [Some(header), user_header.as_ref(), tenant_header.as_ref()]
                .into_iter()
                .flatten()
                .map(|h| h.as_str())
                .collect(),
            Credentials::Jwt { .. } | Credentials::None => Vec::new(),
        }
    }

    /// Reads the document and replaces the tools; on failure the last good ones stay.
    pub async fn refresh(&self) -> Result<usize, GatewayError> {
        let loaded = self.load().await;
        let mut catalog = self.catalog.write().expect("catalog");
        match loaded {
            Ok((operations, base_url)) => {
                catalog.tools = Arc::new(
                    operations
                        .iter()
                        .map(|op| ExposedTool {
                            tool: op.tool.clone(),
                            original: op.original.clone(),
                            read_only: op.read_only,
                            idempotent: op.idempotent,
                        })
                        .collect(),
                );
                catalog.operations = operations
                    .into_iter()
                    .map(|op| (op.tool.name.to_string(), op))
                    .collect();
                catalog.base_url = Some(base_url);
                catalog.loaded_at = Some(Instant::now());
                catalog.last_error = None;
                Ok(catalog.tools.len())
            }
            Err(problem) => {
                catalog.last_error = Some(problem.clone());
                Err(GatewayError::backend(
                    &self.spec.name,
                    format!("its OpenAPI document cannot be used: {problem}"),
                ))
            }
        }
    }

    async fn load(&self) -> Result<(Vec<Arc<Operation>>, url::Url), String> {
        let doc = load(&self.target.document, &self.http, self.spec.timeout).await?;
        let base_url = match &self.target.base_url {
            Some(url) => url.clone(),
            None => doc.base_url()?,
        };
        let reserved = self.reserved_headers();
        let (operations, skipped) = operations(
            &doc,
            &self.spec.prefix,
            &Selection {
                include: &self.target.include,
                exclude: &self.target.exclude,
            },
            &reserved,
            MAX_TOOLS,
        );
        for why in skipped {
            tracing::warn!(upstream = %self.spec.name, operation = %why, "skipping an OpenAPI operation");
        }
        Ok((operations, base_url))
    }

    pub fn tools(&self) -> Arc<Vec<ExposedTool>> {
        self.catalog.read().expect("catalog").tools.clone()
    }

    pub fn tool(&self, exposed: &str) -> Option<ExposedTool> {
        let catalog = self.catalog.read().expect("catalog");
        catalog.operations.get(exposed).map(|op| ExposedTool {
            tool: op.tool.clone(),
            original: op.original.clone(),
            read_only: op.read_only,
            idempotent: op.idempotent,
        })
    }

    pub fn status(&self) -> UpstreamStatus {
        let catalog = self.catalog.read().expect("catalog");
        let state = match (&catalog.last_error, catalog.loaded_at) {
            (None, Some(_)) => "up",
            (None, None) => "starting",
            // The last good document's tools are still served.
            (Some(_), Some(_)) => "stale",
            (Some(_), None) => "down",
        };
        UpstreamStatus {
            name: self.spec.name.clone(),
            state,
            tools: catalog.tools.len(),
            error: catalog.last_error.clone(),
        }
    }

    /// Re-reads the document now (SIGHUP).
    pub fn reload(&self) {
        self.reload.notify_one();
    }

    /// Reads the document now, then again after the TTL or a reload; after a failure, with
    /// backoff.
    pub async fn maintain(self: Arc<Self>) {
        let this = &*self;
        crate::listing::keep_listing(
            &this.spec.name,
            this.spec.tools_ttl,
            &this.reload,
            "the last good tools stay",
            || this.refresh(),
        )
        .await;
    }

    /// Calls the operation for the acting user, after checking the arguments.
    pub async fn call(
        &self,
        exposed: &str,
        arguments: Option<Map<String, Value>>,
        acting: &Acting,
    ) -> Result<CallToolResult, GatewayError> {
        let name = &self.spec.name;
        let (operation, base) = {
            let catalog = self.catalog.read().expect("catalog");
            match (catalog.operations.get(exposed), &catalog.base_url) {
                (Some(op), Some(base)) => (op.clone(), base.clone()),
                _ => return Err(GatewayError::not_found(name, exposed)),
            }
        };
        let arguments = arguments.unwrap_or_default();
        let as_value = Value::Object(arguments);
        operation.check(&as_value).map_err(|problems| {
            GatewayError::validation(
                name,
                format!("the arguments do not fit {exposed}'s input schema: {problems}"),
            )
        })?;
        let Value::Object(arguments) = as_value else {
            unreachable!("built as an object")
        };
        let outgoing = operation.request(&base, &arguments);
        let credentials = self.identity.outgoing(acting)?;
        let mut headers = credentials.headers;
        headers.extend(outgoing.headers);
        let answer = self
            .caller
            .send(Request {
                method: outgoing.method,
                url: outgoing.url,
                route: self.route,
                bearer: credentials.bearer.as_deref(),
                headers,
                body: outgoing.body.as_ref().map(operation::Sent::payload),
                user: &acting.subject,
            })
            .await
            .map_err(|e| rest_error(name, e))?;
        let json = answer
            .content_type
            .as_deref()
            .is_some_and(|t| t.contains("json"))
            .then(|| serde_json::from_str::<Value>(&answer.text).ok())
            .flatten();
        Ok(match json {
            Some(value) => {
                let text = serde_json::to_string_pretty(&value).unwrap_or_default();
                let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
                result.structured_content = operation.structured(value);
                result
            }
            None if answer.text.is_empty() => CallToolResult::success(vec![ContentBlock::text(
                format!("done (HTTP {})", answer.status),
            )]),
            None => CallToolResult::success(vec![ContentBlock::text(answer.text)]),
        })
    }
}

/// A failed REST call in the tool-error taxonomy, with what the API said.
fn rest_error(upstream: &str, error: BackendError) -> GatewayError {
    let BackendError {
        kind,
        message,
        details,
    } = error;
    let (error_type, suggestion) = match kind {
        ErrorKind::Authentication => (
            "authentication_error",
            "tell the operator: the API refused Portcullis's credentials for it",
        ),
        ErrorKind::Authorization => (
            "authorization_error",
            "the API does not allow this user that operation; do not retry",
        ),
        ErrorKind::NotFound => (
            "not_found_error",
            "check the id (list the items first); it may belong to someone else or be gone",
        ),
        ErrorKind::Validation => (
            "validation_error",
            "fix the arguments as the message says and call again",
        ),
        ErrorKind::RateLimited => (
            "rate_limited",
            "wait as long as retry_after_secs says (or a minute) before calling again",
        ),
        ErrorKind::Timeout => (
            "timeout_error",
            "retry later; for a write, check first whether it happened",
        ),
        ErrorKind::Connection => (
            "connection_error",
            "retry in a few seconds; other tools keep working",
        ),
        ErrorKind::Backend => (
            "backend_error",
            "retry later; if it keeps failing, tell the operator of the API",
        ),
    };
    let message = match kind {
        ErrorKind::Authentication => {
            format!("the API {upstream:?} refused Portcullis's credentials")
        }
        _ => format!("the API {upstream:?}: {message}"),
    };
    GatewayError::with_details(error_type, upstream, message, suggestion, details)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{document::Document, *};

    fn fixture(name: &str) -> Document {
        let path = format!(
            "{}/../../tests/fixtures/openapi/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let root = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        Document::new(root, None).unwrap()
    }

    fn count_operations(doc: &Document) -> usize {
        doc.root["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| {
                ["get", "put", "post", "delete", "patch", "head", "options"]
                    .iter()
                    .filter(|m| item.get(**m).is_some())
                    .count()
            })
            .sum()
    }

    /// Public documents of both versions: every operation becomes a tool with a valid name and
    /// schemas that are valid JSON Schema 2020-12 (checked against the metaschema).
    #[test]
    fn every_operation_of_public_documents_becomes_a_valid_tool() {
        // The metaschema check does reject what is not JSON Schema.
        assert!(jsonschema::meta::validate(&json!({ "type": 5 })).is_err());
        assert!(jsonschema::meta::validate(&json!({ "exclusiveMinimum": true })).is_err());
        for name in [
            "petstore-3.0.json",
            "circular-3.0.json",
            "petstore-3.1.json",
            "train-travel-3.1.json",
        ] {
            let doc = fixture(name);
            let all = Selection {
                include: &[],
                exclude: &[],
            };
            let (ops, skipped) = operations(&doc, "api_", &all, &[], MAX_TOOLS);
            assert!(skipped.is_empty(), "{name}: {skipped:?}");
            assert_eq!(ops.len(), count_operations(&doc), "{name}");
            let mut names = std::collections::HashSet::new();
            for op in &ops {
                let tool = &op.tool;
                assert!(names.insert(tool.name.to_string()), "{name}: {}", tool.name);
                assert!(
                    tool.name.len() <= 128
                        && tool
                            .name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)),
                    "{name}: {}",
                    tool.name
                );
                let input = Value::Object((*tool.input_schema).clone());
                assert_eq!(input["type"], "object");
                jsonschema::meta::validate(&input)
                    .unwrap_or_else(|e| panic!("{name} {}: input schema: {e}", tool.name));
                jsonschema::validator_for(&input)
                    .unwrap_or_else(|e| panic!("{name} {}: {e}", tool.name));
                if let Some(output) = &tool.output_schema {
                    let output = Value::Object((**output).clone());
                    assert_eq!(output["type"], "object", "{name} {}", tool.name);
                    jsonschema::meta::validate(&output)
                        .unwrap_or_else(|e| panic!("{name} {}: output schema: {e}", tool.name));
                }
            }
        }
    }

    #[test]
    fn arguments_are_checked_and_path_parameters_encoded() {
        let doc = fixture("petstore-3.0.json");
        let only = ["getPetById".to_owned(), "addPet".to_owned()];
        let (ops, _) = operations(
            &doc,
            "pets_",
            &Selection {
                include: &only,
                exclude: &[],
            },
            &[],
            MAX_TOOLS,
        );
        let get = ops.iter().find(|o| o.original == "getPetById").unwrap();
        assert_eq!(get.tool.name, "pets_getPetById");
        assert!(get.read_only && get.idempotent);
        assert!(
            get.check(&json!({ "petId": "x" })).is_err(),
            "an integer id"
        );
        assert!(get.check(&json!({})).unwrap_err().contains("petId"));
        assert!(get.check(&json!({ "petId": 1, "extra": 1 })).is_err());
        get.check(&json!({ "petId": 7 })).unwrap();
        let base: url::Url = "http://api.test/v3/".parse().unwrap();
        let out = get.request(&base, json!({ "petId": 7 }).as_object().unwrap());
        assert_eq!(out.url.as_str(), "http://api.test/v3/pet/7");

        let add = ops.iter().find(|o| o.original == "addPet").unwrap();
        assert!(!add.read_only && !add.idempotent);
        let schema = Value::Object((*add.tool.input_schema).clone());
        assert!(
            schema["properties"]["name"].is_object(),
            "body fields are arguments: {schema}"
        );
        assert!(
            add.check(&json!({ "name": "Rex" }))
                .unwrap_err()
                .contains("photoUrls")
        );
        let pet = json!({ "name": "Rex", "photoUrls": ["a"], "status": "available" });
        add.check(&pet).unwrap();
        let out = add.request(&base, pet.as_object().unwrap());
        assert_eq!(out.method, reqwest::Method::POST);
        let Some(operation::Sent::Json(body)) = out.body else {
            panic!("a JSON body")
        };
        assert_eq!(body["name"], "Rex");
    }

    /// A form body's fields are arguments too, sent form-encoded (Petstore's
    /// `updatePetWithForm` in 3.1 puts `name` and `status` in the body).
    #[test]
    fn form_bodies_are_arguments_sent_as_forms() {
        let doc = Document::new(
            json!({ "openapi": "3.1.0", "paths": { "/pets/{id}": { "post": {
                "operationId": "rename",
                "parameters": [{ "name": "id", "in": "path", "required": true,
                                 "schema": { "type": "integer" } }],
                "requestBody": { "required": true, "content": {
                    "application/x-www-form-urlencoded": { "schema": {
                        "type": "object", "required": ["name"],
                        "properties": { "name": { "type": "string" },
                                        "age": { "type": "integer" } } } } } },
                "responses": { "200": { "description": "ok" } }
            }}}}),
            None,
        )
        .unwrap();
        let all = Selection {
            include: &[],
            exclude: &[],
        };
        let (ops, skipped) = operations(&doc, "p_", &all, &[], MAX_TOOLS);
        assert!(skipped.is_empty(), "{skipped:?}");
        let op = &ops[0];
        assert!(op.check(&json!({ "id": 1 })).unwrap_err().contains("name"));
        let args = json!({ "id": 1, "name": "Rex", "age": 3 });
        op.check(&args).unwrap();
        let base: url::Url = "http://api.test/".parse().unwrap();
        let out = op.request(&base, args.as_object().unwrap());
        assert_eq!(
            out.body,
            Some(operation::Sent::Form(vec![
                ("age".into(), "3".into()),
                ("name".into(), "Rex".into())
            ]))
        );
    }

    #[test]
    fn a_path_argument_cannot_change_the_path() {
        let doc = Document::new(
            json!({ "openapi": "3.1.0", "paths": { "/items/{id}": { "get": {
                "operationId": "get item",
                "parameters": [{ "name": "id", "in": "path", "required": true,
                                 "schema": { "type": "string" } }],
                "responses": { "200": { "description": "ok" } }
            }}}}),
            None,
        )
        .unwrap();
        let (ops, _) = operations(
            &doc,
            "x_",
            &Selection {
                include: &[],
                exclude: &[],
            },
            &[],
            MAX_TOOLS,
        );
        assert_eq!(ops[0].tool.name, "x_get_item");
        let base: url::Url = "http://api.test/".parse().unwrap();
        let out = ops[0].request(
            &base,
            json!({ "id": "../admin?x=1#f" }).as_object().unwrap(),
        );
        assert_eq!(
            out.url.as_str(),
            "http://api.test/items/..%2Fadmin%3Fx%3D1%23f"
        );
        assert_eq!(out.url.path_segments().unwrap().count(), 2);
    }
}
