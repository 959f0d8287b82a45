//! `WWW-Authenticate: Bearer …` challenges (RFC 6750 §3, RFC 9728 §5.1).

use std::fmt::Write;

/// A Bearer challenge. Parameter values are quoted and escaped; the order follows RFC 6750's
/// examples so challenges read the same everywhere.
#[derive(Debug, Clone, Default)]
pub struct Challenge {
    pub error: Option<&'static str>,
    pub error_description: Option<String>,
    pub scope: Option<String>,
    pub resource_metadata: Option<String>,
}

impl Challenge {
    pub fn to_header_value(&self) -> String {
        let mut out = String::from("Bearer");
        let mut sep = " ";
        let mut param = |name: &str, value: &str| {
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = write!(out, "{sep}{name}=\"{escaped}\"");
            sep = ", ";
        };
        if let Some(e) = self.error {
            param("error", e);
        }
        if let Some(d) = &self.error_description {
            param("error_description", d);
        }
        if let Some(s) = &self.scope {
            param("scope", s);
        }
        if let Some(r) = &self.resource_metadata {
            param("resource_metadata", r);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_quoted_parameters() {
        let c = Challenge {
            error: Some("insufficient_scope"),
            error_description: Some("needs \"tasks:write\"".into()),
            scope: Some("tasks:read tasks:write".into()),
            resource_metadata: Some("http://h/.well-known/oauth-protected-resource/mcp".into()),
        };
        assert_eq!(
            c.to_header_value(),
            "Bearer error=\"insufficient_scope\", error_description=\"needs \\\"tasks:write\\\"\", \
             scope=\"tasks:read tasks:write\", \
             resource_metadata=\"http://h/.well-known/oauth-protected-resource/mcp\""
        );
    }
}
