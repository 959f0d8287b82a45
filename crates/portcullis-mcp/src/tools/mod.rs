//! One module per tool group.

mod admin;
mod tasks;
mod workspaces;

use portcullis_core::{Description, EntityId, ValidationError};
use rmcp::model::{CallToolResult, ContentBlock};
use serde::Serialize;

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

/// A successful result: `payload` as structured content, plus the same JSON as text for clients
/// that read only `content` (the spec's SHOULD for tools with an output shape). Both come from
/// one printing of the typed payload; inside [`crate::printed::capture`] the structured copy is
/// handed over as that text instead of being built into a `Value` (see there for why).
fn structured<T: Serialize>(payload: &T) -> Result<CallToolResult, ToolError> {
    let printed = serde_json::value::to_raw_value(payload).map_err(|_| ToolError::internal())?;
    let mut result = CallToolResult::success(vec![ContentBlock::text(printed.get())]);
    if crate::printed::hand_over(printed).is_err() {
        let value = serde_json::to_value(payload).map_err(|_| ToolError::internal())?;
        result.structured_content = Some(value);
    }
    Ok(result)
}
