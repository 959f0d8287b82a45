//! `GET /openapi.json`: the backend's OpenAPI 3.1 description, written out by hand next to the
//! routes it describes (the shapes are the `portcullis_core::wire` types).

use axum::Json;
use serde_json::{Value, json};

pub(crate) async fn document() -> Json<Value> {
    Json(spec())
}

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok(schema: &str, description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn spec() -> Value {
    let task_id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } });
    let idempotency = json!({ "name": "Idempotency-Key", "in": "header", "required": false,
        "description": "Makes a retried write safe: the same key and request get the first response again.",
        "schema": { "type": "string", "maxLength": 255 } });
    let errors = json!({
        "400": error_response("Invalid input, or a service call without X-User-ID"),
        "401": error_response("No valid user token or service token"),
        "403": error_response("The token lacks the scope"),
        "404": error_response("No such task for this user"),
        "409": error_response("A request with this Idempotency-Key is still running"),
        "422": error_response("The Idempotency-Key was used with a different request"),
    });
    let with = |mut op: Value| {
        for (code, response) in errors.as_object().expect("object") {
            op["responses"][code] = response.clone();
        }
        op
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Portcullis backend",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Tasks and workspaces, per user. Authenticate with the user's bearer token, or with a service token (SERVICE_AUTH_TOKEN) plus X-User-ID naming the user the service acts for."
        },
        "security": [{ "userToken": [] }, { "serviceToken": [], "actingUser": [] }],
        "paths": {
            "/tasks": {
                "get": with(json!({ "summary": "List the user's tasks, oldest first", "parameters": [
                    { "name": "status", "in": "query", "schema": { "$ref": "#/components/schemas/Status" } },
                    { "name": "workspace_id", "in": "query", "schema": { "type": "string", "format": "uuid" } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 100 } }
                ], "responses": { "200": ok("TaskList", "The tasks") } })),
                "post": with(json!({ "summary": "Create a task", "parameters": [idempotency],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CreateTask" } } } },
                    "responses": { "201": ok("OneTask", "Created") } }))
            },
            "/tasks/{id}": {
                "get": with(json!({ "summary": "Get a task", "parameters": [task_id], "responses": { "200": ok("OneTask", "The task") } })),
                "patch": with(json!({ "summary": "Change a task; \"\" clears description or workspace_id", "parameters": [task_id, idempotency],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/UpdateTask" } } } },
                    "responses": { "200": ok("OneTask", "The changed task") } })),
                "delete": with(json!({ "summary": "Delete a task", "parameters": [task_id, idempotency], "responses": { "200": { "description": "Deleted" } } }))
            },
            "/tasks/{id}/complete": {
                "post": with(json!({ "summary": "Mark a task done", "parameters": [task_id, idempotency], "responses": { "200": ok("OneTask", "The completed task") } }))
            },
            "/workspaces": {
                "get": with(json!({ "summary": "List the user's workspaces", "responses": { "200": ok("WorkspaceList", "The workspaces") } })),
                "post": with(json!({ "summary": "Create a workspace", "parameters": [idempotency],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CreateWorkspace" } } } },
                    "responses": { "201": ok("OneWorkspace", "Created") } }))
            },
            "/api/internal/users/{id}": {
                "get": { "summary": "A user's profile, for other services", "security": [{ "internalApiKey": [] }],
                    "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                    "responses": { "200": ok("UserProfile", "The profile"), "401": error_response("Missing or wrong X-API-Key"), "404": error_response("No such user") } }
            }
        },
        "components": {
            "securitySchemes": {
                "userToken": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
                "serviceToken": { "type": "http", "scheme": "bearer", "description": "SERVICE_AUTH_TOKEN" },
                "actingUser": { "type": "apiKey", "in": "header", "name": "X-User-ID" },
                "internalApiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key" }
            },
            "schemas": {
                "Status": { "type": "string", "enum": ["todo", "in_progress", "done"] },
                "Task": { "type": "object", "required": ["id", "title", "status", "created_at", "updated_at"], "properties": {
                    "id": { "type": "string", "format": "uuid" }, "title": { "type": "string" },
                    "description": { "type": ["string", "null"] }, "status": { "$ref": "#/components/schemas/Status" },
                    "workspace_id": { "type": ["string", "null"] }, "completed_at": { "type": ["string", "null"] },
                    "created_at": { "type": "string" }, "updated_at": { "type": "string" } } },
                "Workspace": { "type": "object", "required": ["id", "name", "created_at", "updated_at"], "properties": {
                    "id": { "type": "string", "format": "uuid" }, "name": { "type": "string" }, "description": { "type": ["string", "null"] },
                    "created_at": { "type": "string" }, "updated_at": { "type": "string" } } },
                "TaskList": { "type": "object", "properties": { "tasks": { "type": "array", "items": { "$ref": "#/components/schemas/Task" } }, "count": { "type": "integer" } } },
                "OneTask": { "type": "object", "properties": { "task": { "$ref": "#/components/schemas/Task" } } },
                "WorkspaceList": { "type": "object", "properties": { "workspaces": { "type": "array", "items": { "$ref": "#/components/schemas/Workspace" } }, "count": { "type": "integer" } } },
                "OneWorkspace": { "type": "object", "properties": { "workspace": { "$ref": "#/components/schemas/Workspace" } } },
                "CreateTask": { "type": "object", "required": ["title"], "additionalProperties": false, "properties": {
                    "title": { "type": "string", "maxLength": 200 }, "description": { "type": "string", "maxLength": 5000 }, "workspace_id": { "type": "string" } } },
                "UpdateTask": { "type": "object", "additionalProperties": false, "properties": {
                    "title": { "type": "string", "maxLength": 200 }, "description": { "type": "string" },
                    "status": { "$ref": "#/components/schemas/Status" }, "workspace_id": { "type": "string" } } },
                "CreateWorkspace": { "type": "object", "required": ["name"], "additionalProperties": false, "properties": {
                    "name": { "type": "string", "maxLength": 100 }, "description": { "type": "string" } } },
                "UserProfile": { "type": "object", "properties": {
                    "id": { "type": "string" }, "email": { "type": ["string", "null"] }, "name": { "type": "string" },
                    "roles": { "type": "array", "items": { "type": "string" } }, "permissions": { "type": "array", "items": { "type": "string" } },
                    "createdAt": { "type": "string" }, "lastLoginAt": { "type": ["string", "null"] } } },
                "Error": { "type": "object", "properties": { "error": { "type": "object", "required": ["type", "message"], "properties": {
                    "type": { "type": "string" }, "message": { "type": "string" }, "details": {} } } } }
            }
        }
    })
}
