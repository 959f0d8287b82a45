//! Tool arguments: parsed by the tool itself so that a bad argument becomes a tool error the
//! model can act on rather than a JSON-RPC protocol error.

use std::{any::Any, sync::Arc};

use rmcp::{
    handler::server::{common::FromContextPart, tool::ToolCallContext},
    model::JsonObject,
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::ToolError;

/// The call's arguments as `T`, or the validation error describing what was wrong.
pub struct Args<T>(pub Result<T, ToolError>);

impl<S, T: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Args<T> {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, rmcp::ErrorData> {
        let arguments = context.arguments.take().unwrap_or_default();
        Ok(Self(
            serde_json::from_value(serde_json::Value::Object(arguments)).map_err(|e| {
                ToolError::validation(
                    format!("invalid arguments: {e}"),
                    "check the tool's input schema for argument names and types",
                )
            }),
        ))
    }
}

/// The JSON Schema of `T` as a tool input schema.
pub fn input_schema<T: JsonSchema + Any>() -> Arc<JsonObject> {
    rmcp::handler::server::common::schema_for_input::<T>()
        .expect("tool argument types derive an object schema")
}
