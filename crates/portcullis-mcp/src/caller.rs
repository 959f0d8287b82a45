//! The verified principal of the HTTP request a tool call arrived in.

use http::request::Parts;
use portcullis_auth::Principal;
use rmcp::handler::server::common::{AsRequestContext, FromContextPart};

/// Extracts the [`Principal`] that `portcullis_auth::require_bearer` stored on the request.
/// A call without one is refused: tools never run unauthenticated.
pub struct Caller(pub Principal);

impl<C: AsRequestContext> FromContextPart<C> for Caller {
    fn from_context_part(context: &mut C) -> Result<Self, rmcp::ErrorData> {
        context
            .as_request_context()
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>())
            .cloned()
            .map(Caller)
            .ok_or_else(|| {
                rmcp::ErrorData::invalid_request("the request is not authenticated", None)
            })
    }
}
