//! OpenAPI schemas as JSON Schema 2020-12, which MCP's `inputSchema`/`outputSchema` are:
//! references to `#/components/schemas/X` become `#/$defs/X` (each definition converted once,
//! cycles allowed), other local references are inlined, and OpenAPI 3.0's dialect is mapped
//! (`nullable`, boolean `exclusiveMinimum`/`exclusiveMaximum`, `example`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::document::{Document, Version};

const COMPONENT_SCHEMAS: &str = "#/components/schemas/";
/// Inlined (non-component) references nest at most this deep.
const MAX_INLINE_DEPTH: usize = 16;

/// Keywords whose value is a map of schemas.
const SCHEMA_MAPS: [&str; 5] = [
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];
/// Keywords whose value is a list of schemas.
const SCHEMA_LISTS: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords whose value is one schema.
const SCHEMA_ONE: [&str; 11] = [
    "items",
    "additionalProperties",
    "not",
    "contains",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
];
/// OpenAPI-only keywords with no meaning to a JSON Schema validator or a model.
const OPENAPI_ONLY: [&str; 4] = ["discriminator", "xml", "externalDocs", "nullable"];

/// Converts the schemas of one tool, collecting the component definitions they use.
pub struct Converter<'d> {
    doc: &'d Document,
    defs: BTreeMap<String, Value>,
    problems: Vec<String>,
}

impl<'d> Converter<'d> {
    pub fn new(doc: &'d Document) -> Self {
        Self {
            doc,
            defs: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    /// The definitions used so far (`$defs` of the tool's schema).
    pub fn defs(&self) -> &BTreeMap<String, Value> {
        &self.defs
    }

    /// What could not be converted; the tool is skipped when there is any.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    pub fn convert(&mut self, schema: &Value) -> Value {
        self.walk(schema, 0)
    }

    fn walk(&mut self, schema: &Value, depth: usize) -> Value {
        let Value::Object(object) = schema else {
            // `true`/`false` schemas (3.1) stay as they are.
            return schema.clone();
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            return self.reference(reference, object, depth);
        }
        let mut out = Map::new();
        for (key, value) in object {
            let converted = match key.as_str() {
                k if SCHEMA_MAPS.contains(&k) => match value {
                    Value::Object(map) => Value::Object(
                        map.iter()
                            .map(|(name, s)| (name.clone(), self.walk(s, depth)))
                            .collect(),
                    ),
                    other => other.clone(),
                },
                k if SCHEMA_LISTS.contains(&k) => match value {
                    Value::Array(list) => {
                        Value::Array(list.iter().map(|s| self.walk(s, depth)).collect())
                    }
                    other => other.clone(),
                },
                k if SCHEMA_ONE.contains(&k) => match value {
                    Value::Array(list) => {
                        // Draft-4 style tuple `items`: 2020-12 calls it prefixItems.
                        out.insert(
                            "prefixItems".into(),
                            Value::Array(list.iter().map(|s| self.walk(s, depth)).collect()),
                        );
                        continue;
                    }
                    other => self.walk(other, depth),
                },
                "example" if self.doc.version == Version::V30 => {
                    out.insert("examples".into(), json!([value]));
                    continue;
                }
                k if OPENAPI_ONLY.contains(&k) => continue,
                _ => value.clone(),
            };
            out.insert(key.clone(), converted);
        }
        if self.doc.version == Version::V30 {
            v30_bounds(&mut out);
            if object.get("nullable") == Some(&Value::Bool(true)) {
                return nullable(out);
            }
        }
        Value::Object(out)
    }

    fn reference(&mut self, reference: &str, object: &Map<String, Value>, depth: usize) -> Value {
        if let Some(name) = reference.strip_prefix(COMPONENT_SCHEMAS) {
            let key = sanitize_def(name);
            if !self.defs.contains_key(&key) {
                // A placeholder first, so a schema that refers to itself ends here.
                self.defs.insert(key.clone(), Value::Bool(true));
                let converted = match self.doc.pointer(reference) {
                    Ok(target) => self.walk(&target.clone(), depth),
                    Err(problem) => {
                        self.problems.push(problem);
                        Value::Bool(true)
                    }
                };
                self.defs.insert(key.clone(), converted);
            }
            let mut out = Map::new();
            out.insert("$ref".into(), json!(format!("#/$defs/{key}")));
            // 3.1 allows keywords beside `$ref` (a description, say); 3.0 ignores them.
            if self.doc.version == Version::V31 {
                for (k, v) in object {
                    if k != "$ref" {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            return Value::Object(out);
        }
        if depth >= MAX_INLINE_DEPTH {
            self.problems
                .push(format!("`$ref` {reference:?} nests too deep"));
            return Value::Bool(true);
        }
        match self.doc.pointer(reference) {
            Ok(target) => self.walk(&target.clone(), depth + 1),
            Err(problem) => {
                self.problems.push(problem);
                Value::Bool(true)
            }
        }
    }
}

/// A `$defs` key: component names may hold characters a JSON pointer would need escaped.
fn sanitize_def(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// 3.0's boolean `exclusiveMinimum`/`exclusiveMaximum` modify `minimum`/`maximum`; 2020-12's
/// are the bounds themselves.
fn v30_bounds(schema: &mut Map<String, Value>) {
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        match schema.get(flag) {
            Some(Value::Bool(true)) => {
                match schema.remove(bound) {
                    Some(value) => schema.insert(flag.into(), value),
                    None => schema.remove(flag),
                };
            }
            Some(Value::Bool(false)) => {
                schema.remove(flag);
            }
            _ => {}
        }
    }
}

/// 3.0's `nullable: true`: null is allowed as well.
fn nullable(mut schema: Map<String, Value>) -> Value {
    if let Some(Value::Array(options)) = schema.get_mut("enum")
        && !options.contains(&Value::Null)
    {
        options.push(Value::Null);
    }
    match schema.get("type").cloned() {
        Some(Value::String(t)) => {
            schema.insert("type".into(), json!([t, "null"]));
            Value::Object(schema)
        }
        Some(Value::Array(mut types)) => {
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
            schema.insert("type".into(), Value::Array(types));
            Value::Object(schema)
        }
        _ => json!({ "anyOf": [Value::Object(schema), { "type": "null" }] }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(version: &str, schemas: Value) -> Document {
        Document::new(
            json!({ "openapi": version, "paths": {}, "components": { "schemas": schemas } }),
            None,
        )
        .unwrap()
    }

    #[test]
    fn openapi_30_is_mapped_to_2020_12() {
        let d = doc(
            "3.0.3",
            json!({
                "Pet": { "type": "object", "properties": {
                    "name": { "type": "string", "nullable": true, "example": "Rex" },
                    "age": { "type": "integer", "minimum": 0, "exclusiveMinimum": true },
                    "kind": { "enum": ["cat", "dog"], "nullable": true },
                    "parent": { "$ref": "#/components/schemas/Pet" }
                }}
            }),
        );
        let mut c = Converter::new(&d);
        let out = c.convert(&json!({ "$ref": "#/components/schemas/Pet" }));
        assert_eq!(out, json!({ "$ref": "#/$defs/Pet" }));
        let pet = &c.defs()["Pet"];
        assert_eq!(pet["properties"]["name"]["type"], json!(["string", "null"]));
        assert_eq!(pet["properties"]["name"]["examples"], json!(["Rex"]));
        assert_eq!(
            pet["properties"]["age"],
            json!({ "type": "integer", "exclusiveMinimum": 0 })
        );
        assert_eq!(
            pet["properties"]["kind"],
            json!({ "anyOf": [{ "enum": ["cat", "dog", null] }, { "type": "null" }] })
        );
        assert_eq!(
            pet["properties"]["parent"],
            json!({ "$ref": "#/$defs/Pet" })
        );
        assert!(c.problems().is_empty());
    }

    #[test]
    fn remote_references_are_problems_not_fetches() {
        let d = doc("3.1.0", json!({}));
        let mut c = Converter::new(&d);
        c.convert(&json!({ "$ref": "https://evil.test/schema.json" }));
        assert_eq!(c.problems().len(), 1, "{:?}", c.problems());
    }
}
