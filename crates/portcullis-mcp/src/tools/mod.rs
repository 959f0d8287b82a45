//! One module per tool group.

mod tasks;
mod workspaces;

use portcullis_core::{Description, EntityId, ValidationError};

use crate::ToolError;

fn invalid(e: ValidationError) -> ToolError {
    ToolError::validation(
        e.to_string(),
        format!("fix the {} argument and call again", e.field),
    )
}

fn id(field: &'static str, raw: &str) -> Result<EntityId, ToolError> {
    EntityId::parse(field, raw).map_err(invalid)
}

fn optional_id(field: &'static str, raw: Option<&str>) -> Result<Option<EntityId>, ToolError> {
    raw.map(|r| id(field, r)).transpose()
}

/// An empty or blank description means "no description".
fn description(raw: Option<&str>) -> Result<Option<Description>, ToolError> {
    match raw {
        None => Ok(None),
        Some(r) if r.trim().is_empty() => Ok(None),
        Some(r) => Description::parse(r).map(Some).map_err(invalid),
    }
}

fn structured(value: serde_json::Value) -> rmcp::model::CallToolResult {
    rmcp::model::CallToolResult::structured(value)
}
