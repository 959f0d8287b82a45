//! One OpenAPI operation as an MCP tool: its name, description, annotations and schemas, and
//! the HTTP request its arguments make. Arguments are checked against the tool's own input
//! schema before anything is sent; path parameters are percent-encoded, so no argument can
//! change which path is called.

use std::{collections::HashSet, sync::Arc};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{
    Method,
    header::{HeaderName, HeaderValue},
};
use rmcp::model::{Tool, ToolAnnotations};
use serde_json::{Map, Value, json};

use super::{document::Document, schema::Converter};

/// Everything but RFC 3986's unreserved characters is encoded in a path segment (`/`, `?`,
/// `#`, `%` and `..` tricks included).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];
/// Headers Portcullis sets itself; an operation's parameter of that name is not an argument.
const RESERVED_HEADERS: [&str; 9] = [
    "authorization",
    "idempotency-key",
    "x-request-id",
    "content-type",
    "content-length",
    "accept",
    "host",
    "cookie",
    "traceparent",
];
const MAX_DESCRIPTION_CHARS: usize = 2048;
/// How many schema violations a validation error lists.
const MAX_REPORTED: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Path,
    Query,
    Header,
}

#[derive(Debug)]
struct Param {
    name: String,
    location: Location,
}

/// How the request body is made from the arguments.
#[derive(Debug)]
enum Body {
    /// A JSON object whose properties are top-level arguments.
    Merged(Vec<String>),
    /// The whole JSON body is the `body` argument.
    Whole,
    /// A form (`application/x-www-form-urlencoded`) whose fields are top-level arguments.
    Form(Vec<String>),
}

/// A tool made from an operation.
pub struct Operation {
    pub tool: Tool,
    /// The operation's own name (operationId, or the one made from method and path).
    pub original: String,
    pub read_only: bool,
    pub idempotent: bool,
    method: Method,
    path: String,
    params: Vec<Param>,
    body: Option<Body>,
    /// The JSON response is not an object: structured content wraps it as `{"result": …}`.
    wraps_result: bool,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operation")
            .field("tool", &self.tool.name)
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Which operations the configuration exposes.
pub struct Selection<'a> {
    pub include: &'a [String],
    pub exclude: &'a [String],
}

impl Selection<'_> {
    fn matches(list: &[String], id: &str, tags: &[&str]) -> bool {
        list.iter().any(|s| {
            s == "*"
                || s == id
                || s.strip_prefix("tag:")
                    .is_some_and(|tag| tags.contains(&tag))
        })
    }

    fn wants(&self, id: &str, tags: &[&str]) -> bool {
        let included = self.include.is_empty() || Self::matches(self.include, id, tags);
        included && !Self::matches(self.exclude, id, tags)
    }
}

/// The document's operations as tools named `<prefix><operation>`; what cannot become a tool
/// is skipped with a reason (for the log).
pub fn operations(
    doc: &Document,
    prefix: &str,
    selection: &Selection<'_>,
    reserved: &[&str],
    limit: usize,
) -> (Vec<Arc<Operation>>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let mut names = HashSet::new();
    let paths = doc.root["paths"]
        .as_object()
        .expect("checked by Document::new");
    for (path, item) in paths {
        let Ok(item) = doc.resolve(item) else {
            skipped.push(format!("{path}: its `$ref` cannot be followed"));
            continue;
        };
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let original = op
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{method}_{path}"));
            let tags: Vec<&str> = op
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !selection.wants(&original, &tags) {
                continue;
            }
            if out.len() >= limit {
                skipped.push(format!("{original}: more than {limit} operations"));
                continue;
            }
            let name = unique_name(prefix, &original, &mut names);
            match Operation::build(
                doc,
                name,
                original.clone(),
                method,
                path,
                item,
                op,
                reserved,
            ) {
                Ok(operation) => out.push(Arc::new(operation)),
                Err(why) => skipped.push(format!("{original}: {why}")),
            }
        }
    }
    (out, skipped)
}

/// `<prefix><operation>` with every character outside A-Z a-z 0-9 _ - . made `_`, at most
/// 128 characters, unique (`_2`, `_3`, … on a clash).
fn unique_name(prefix: &str, original: &str, taken: &mut HashSet<String>) -> String {
    let mut clean = String::with_capacity(original.len());
    for c in original.chars() {
        let c = if c.is_ascii_alphanumeric() || "_-.".contains(c) {
            c
        } else {
            '_'
        };
        if !(c == '_' && clean.ends_with('_')) {
            clean.push(c);
        }
    }
    let clean = clean.trim_matches('_');
    let base: String = format!("{prefix}{clean}").chars().take(120).collect();
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

impl Operation {
    #[allow(clippy::too_many_arguments)]
    fn build(
        doc: &Document,
        name: String,
        original: String,
        method: &str,
        path: &str,
        item: &Value,
        op: &Value,
        reserved: &[&str],
    ) -> Result<Self, String> {
        let mut converter = Converter::new(doc);
        let mut properties = Map::new();
        let mut required: Vec<Value> = Vec::new();
        let mut params = Vec::new();
        // Path-level parameters, overridden by the operation's own of the same name and place.
        let mut declared: Vec<&Value> = Vec::new();
        for list in [item.get("parameters"), op.get("parameters")] {
            for p in list.and_then(Value::as_array).into_iter().flatten() {
                let p = doc.resolve(p)?;
                let key = (p.get("name"), p.get("in"));
                declared.retain(|d| (d.get("name"), d.get("in")) != key);
                declared.push(p);
            }
        }
        for p in declared {
            let pname = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or("a parameter has no name")?;
            let is_required = p.get("required") == Some(&Value::Bool(true));
            let location = match p.get("in").and_then(Value::as_str) {
                Some("path") => Location::Path,
                Some("query") => Location::Query,
                Some("header") => {
                    let lower = pname.to_ascii_lowercase();
                    if RESERVED_HEADERS.contains(&lower.as_str())
                        || reserved.iter().any(|r| r.eq_ignore_ascii_case(pname))
                    {
                        continue;
                    }
                    Location::Header
                }
                Some("cookie") if is_required => {
                    return Err(format!("it needs the cookie {pname:?}, which is not sent"));
                }
                Some("cookie") => continue,
                other => return Err(format!("parameter {pname:?} is in {other:?}")),
            };
            let mut schema = match p.get("schema") {
                Some(s) => converter.convert(s),
                None => json!({ "type": "string" }),
            };
            if let (Some(description), Value::Object(s)) = (p.get("description"), &mut schema) {
                s.entry("description").or_insert(description.clone());
            }
            if properties.insert(pname.to_owned(), schema).is_some() {
                return Err(format!("two parameters are named {pname:?}"));
            }
            if is_required || location == Location::Path {
                required.push(json!(pname));
            }
            params.push(Param {
                name: pname.to_owned(),
                location,
            });
        }
        for segment in template_names(path) {
            if !params
                .iter()
                .any(|p| p.location == Location::Path && p.name == segment)
            {
                return Err(format!("the path parameter {segment:?} is not declared"));
            }
        }
        let body = match op.get("requestBody") {
            None => None,
            Some(raw) => {
                let body = doc.resolve(raw)?;
                let body_required = body.get("required") == Some(&Value::Bool(true));
                let form = body
                    .get("content")
                    .and_then(|c| c.get("application/x-www-form-urlencoded"));
                match json_media(body.get("content")) {
                    None if form.is_some() => {
                        let raw_schema = form
                            .and_then(|m| m.get("schema"))
                            .cloned()
                            .unwrap_or(json!({}));
                        let resolved = doc.resolve(&raw_schema)?;
                        let props = resolved
                            .get("properties")
                            .and_then(Value::as_object)
                            .filter(|p| p.keys().all(|k| !properties.contains_key(k)))
                            .ok_or(
                                "its form body has no fields, or one is named like a parameter",
                            )?;
                        let fields = lift_fields(
                            resolved,
                            props,
                            body_required,
                            &mut converter,
                            &mut properties,
                            &mut required,
                        );
                        Some(Body::Form(fields))
                    }
                    None if body_required => {
                        return Err("its request body is neither JSON nor a form".into());
                    }
                    None => None,
                    Some(media) => {
                        let raw_schema = media.get("schema").cloned().unwrap_or(json!({}));
                        let resolved = doc.resolve(&raw_schema)?;
                        let mergeable = resolved.get("type") == Some(&json!("object"))
                            && resolved
                                .get("properties")
                                .and_then(Value::as_object)
                                .is_some_and(|props| {
                                    !props.is_empty()
                                        && props.keys().all(|k| !properties.contains_key(k))
                                })
                            && ["allOf", "anyOf", "oneOf"]
                                .iter()
                                .all(|k| resolved.get(*k).is_none())
                            // Extra body fields would have no top-level argument to come from.
                            && resolved
                                .get("additionalProperties")
                                .is_none_or(|a| a == &Value::Bool(false));
                        if mergeable {
                            let props = resolved["properties"].as_object().expect("checked");
                            let fields = lift_fields(
                                resolved,
                                props,
                                body_required,
                                &mut converter,
                                &mut properties,
                                &mut required,
                            );
                            Some(Body::Merged(fields))
                        } else {
                            if properties.contains_key("body") {
                                return Err("a parameter is named \"body\"".into());
                            }
                            let mut schema = converter.convert(&raw_schema);
                            if let (Some(d), Value::Object(s)) =
                                (body.get("description"), &mut schema)
                            {
                                s.entry("description").or_insert(d.clone());
                            }
                            properties.insert("body".into(), schema);
                            if body_required {
                                required.push(json!("body"));
                            }
                            Some(Body::Whole)
                        }
                    }
                }
            }
        };
        // The output schema gets definitions of its own.
        let mut out_converter = Converter::new(doc);
        let (output, wraps_result) = match success_schema(doc, op)? {
            None => (None, false),
            Some(raw) => {
                let declared = doc.resolve(&raw)?.get("type").cloned();
                let schema = out_converter.convert(&raw);
                if declared == Some(json!("object")) {
                    (Some(schema), false)
                } else if declared.is_none() {
                    // Any JSON (FastAPI's `-> Any`): no promise to make about its shape.
                    (None, false)
                } else {
                    (
                        Some(json!({
                            "type": "object",
                            "properties": { "result": schema },
                            "required": ["result"],
                        })),
                        true,
                    )
                }
            }
        };
        if let Some(problem) = converter
            .problems()
            .iter()
            .chain(out_converter.problems())
            .next()
        {
            return Err(problem.clone());
        }
        let out_defs = out_converter.defs().clone();
        let defs = converter.defs().clone();
        let mut input = json!({
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        });
        if !required.is_empty() {
            input["required"] = Value::Array(required);
        }
        if !defs.is_empty() {
            input["$defs"] = json!(defs);
        }
        let output = output.map(|mut schema| {
            if !out_defs.is_empty() && schema.get("$defs").is_none() {
                schema["$defs"] = json!(out_defs);
            }
            // An output schema's root must be an object schema, not a bare `$ref`.
            if schema.get("$ref").is_some() {
                let reference = schema.as_object_mut().expect("object").remove("$ref");
                schema["allOf"] = json!([{ "$ref": reference }]);
                schema["type"] = json!("object");
            }
            schema
        });
        let validator = jsonschema::options()
            .should_validate_formats(false)
            .build(&input)
            .map_err(|e| format!("its input schema is not valid JSON Schema: {e}"))?;
        let method =
            Method::from_bytes(method.to_ascii_uppercase().as_bytes()).map_err(|_| "bad method")?;
        let read_only = matches!(method, Method::GET | Method::HEAD);
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        );
        let text = |key: &str| op.get(key).and_then(Value::as_str).map(str::trim);
        let description: String = match (text("summary"), text("description")) {
            (Some(s), Some(d)) if !d.is_empty() => format!("{s}\n\n{d}"),
            (Some(s), _) => s.to_owned(),
            (None, Some(d)) => d.to_owned(),
            (None, None) => format!("{} {path}", method.as_str()),
        }
        .chars()
        .take(MAX_DESCRIPTION_CHARS)
        .collect();
        let mut annotations = ToolAnnotations::new()
            .read_only(read_only)
            .destructive(method == Method::DELETE)
            .idempotent(idempotent)
            .open_world(true);
        if let Some(title) = text("summary") {
            annotations.title = Some(title.to_owned());
        }
        let input = match input {
            Value::Object(map) => Arc::new(map),
            _ => unreachable!("built as an object"),
        };
        let mut tool = Tool::new(name, description, input).annotate(annotations);
        if let Some(Value::Object(schema)) = output {
            tool.output_schema = Some(Arc::new(schema));
        }
        Ok(Self {
            tool,
            original,
            read_only,
            idempotent,
            method,
            path: path.to_owned(),
            params,
            body,
            wraps_result,
            validator,
        })
    }

    /// The arguments checked against the input schema: every violation, in words.
    pub fn check(&self, arguments: &Value) -> Result<(), String> {
        let errors: Vec<String> = self
            .validator
            .iter_errors(arguments)
            .take(MAX_REPORTED)
            .map(|e| {
                let at = e.instance_path().to_string();
                let at = at.trim_start_matches('/').replace('/', ".");
                if at.is_empty() {
                    e.masked().to_string()
                } else {
                    format!("`{at}`: {}", e.masked())
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// The request the (checked) arguments make, against `base`.
    pub fn request(&self, base: &url::Url, arguments: &Map<String, Value>) -> Outgoing {
        let mut path = self.path.clone();
        let mut query = Vec::new();
        let mut headers = Vec::new();
        for param in &self.params {
            let Some(value) = arguments.get(&param.name) else {
                continue;
            };
            match param.location {
                Location::Path => {
                    let encoded = utf8_percent_encode(&scalar(value), SEGMENT).to_string();
                    path = path.replace(&format!("{{{}}}", param.name), &encoded);
                }
                Location::Query => match value {
                    Value::Array(items) => {
                        query.extend(items.iter().map(|v| (param.name.clone(), scalar(v))));
                    }
                    Value::Null => {}
                    other => query.push((param.name.clone(), scalar(other))),
                },
                Location::Header => {
                    if let (Ok(name), Ok(value)) = (
                        HeaderName::try_from(param.name.as_str()),
                        HeaderValue::from_str(&scalar(value)),
                    ) {
                        headers.push((name, value));
                    }
                }
            }
        }
        let mut url = base.clone();
        let joined = format!("{}{}", base.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(&query);
        }
        let fields = |names: &[String]| {
            names
                .iter()
                .filter_map(|n| arguments.get(n).map(|v| (n.clone(), v.clone())))
                .collect::<Map<String, Value>>()
        };
        let body = match &self.body {
            None => None,
            Some(Body::Whole) => arguments.get("body").cloned().map(Sent::Json),
            Some(Body::Merged(names)) => Some(Sent::Json(Value::Object(fields(names)))),
            Some(Body::Form(names)) => Some(Sent::Form(
                fields(names)
                    .iter()
                    .map(|(k, v)| (k.clone(), scalar(v)))
                    .collect(),
            )),
        };
        Outgoing {
            method: self.method.clone(),
            url,
            headers,
            body,
        }
    }

    /// The structured content of a JSON answer.
    pub fn structured(&self, answer: Value) -> Option<Value> {
        match answer {
            Value::Object(_) if !self.wraps_result => Some(answer),
            other if self.wraps_result || self.tool.output_schema.is_none() => {
                Some(json!({ "result": other }))
            }
            _ => None,
        }
    }
}

/// An object body's fields as top-level arguments (required when the body is and the field
/// is); returns their names.
fn lift_fields(
    body_schema: &Value,
    fields: &Map<String, Value>,
    body_required: bool,
    converter: &mut Converter<'_>,
    properties: &mut Map<String, Value>,
    required: &mut Vec<Value>,
) -> Vec<String> {
    let inner_required: Vec<&str> = body_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, schema) in fields {
        properties.insert(name.clone(), converter.convert(schema));
        if body_required && inner_required.contains(&name.as_str()) {
            required.push(json!(name));
        }
    }
    fields.keys().cloned().collect()
}

/// What one call sends.
pub struct Outgoing {
    pub method: Method,
    pub url: url::Url,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Option<Sent>,
}

/// A request body, as built from the arguments.
#[derive(Debug, PartialEq)]
pub enum Sent {
    Json(Value),
    Form(Vec<(String, String)>),
}

impl Sent {
    pub fn payload(&self) -> portcullis_backend_client::Payload<'_> {
        match self {
            Self::Json(json) => portcullis_backend_client::Payload::Json(json),
            Self::Form(fields) => portcullis_backend_client::Payload::Form(fields),
        }
    }
}

/// A value as it goes into a path, query or header: strings bare, the rest as JSON.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `{name}` segments of a path template.
fn template_names(path: &str) -> Vec<&str> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .collect()
}

/// The JSON media type of a `content` map: `application/json`, else any `…+json`.
fn json_media(content: Option<&Value>) -> Option<&Value> {
    let content = content?.as_object()?;
    content.get("application/json").or_else(|| {
        content
            .iter()
            .find(|(k, _)| {
                let k = k.split(';').next().unwrap_or("").trim();
                k.ends_with("+json") || k == "*/*"
            })
            .map(|(_, v)| v)
    })
}

/// The schema of the first 2xx JSON answer (200, 201, …, then `2XX`).
fn success_schema(doc: &Document, op: &Value) -> Result<Option<Value>, String> {
    let Some(responses) = op.get("responses").and_then(Value::as_object) else {
        return Ok(None);
    };
    let mut codes: Vec<&String> = responses.keys().filter(|c| c.starts_with('2')).collect();
    codes.sort();
    for code in codes {
        let response = doc.resolve(&responses[code])?;
        if let Some(schema) = json_media(response.get("content")).and_then(|m| m.get("schema")) {
            return Ok(Some(schema.clone()));
        }
    }
    Ok(None)
}
