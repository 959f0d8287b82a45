//! An upstream's resources, resource templates and prompts as Portcullis exposes them: prompt
//! names get the upstream's prefix like its tools, and resource URIs get the upstream's name as
//! a scheme prefix (`notes+file:///a`), so two upstreams' URIs never collide and every exposed
//! URI names the upstream it comes from.

use rmcp::model::{Prompt, ReadResourceResult, Resource, ResourceContents, ResourceTemplate};

/// An upstream may offer at most this many tools (and as many resources, templates and
/// prompts); more are ignored (and logged), so a broken or hostile upstream cannot grow the
/// merged lists, the policy table or the metric labels.
pub const MAX_TOOLS: usize = 1000;

/// What an upstream offers besides tools, renamed; at most [`MAX_TOOLS`] of each.
#[derive(Debug, Clone, Default)]
pub struct Items {
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
    pub prompts: Vec<Prompt>,
}

/// `uri` as exposed for upstream `name`.
pub fn expose_uri(name: &str, uri: &str) -> String {
    format!("{name}+{uri}")
}

/// The upstream's own URI behind an exposed one, if `exposed` is upstream `name`'s.
pub fn original_uri<'a>(name: &str, exposed: &'a str) -> Option<&'a str> {
    exposed.strip_prefix(name)?.strip_prefix('+')
}

impl Items {
    pub(crate) fn expose(
        name: &str,
        prefix: &str,
        resources: Vec<Resource>,
        templates: Vec<ResourceTemplate>,
        prompts: Vec<Prompt>,
    ) -> Self {
        Self {
            resources: resources
                .into_iter()
                .take(MAX_TOOLS)
                .map(|mut r| {
                    r.uri = expose_uri(name, &r.uri);
                    r
                })
                .collect(),
            templates: templates
                .into_iter()
                .take(MAX_TOOLS)
                .map(|mut t| {
                    t.uri_template = expose_uri(name, &t.uri_template);
                    t
                })
                .collect(),
            prompts: prompts
                .into_iter()
                .take(MAX_TOOLS)
                .map(|mut p| {
                    p.name = format!("{prefix}{}", p.name);
                    p
                })
                .collect(),
        }
    }
}

/// A read's contents carry the upstream's URIs: the client gets the exposed ones back.
pub(crate) fn expose_contents(name: &str, mut result: ReadResourceResult) -> ReadResourceResult {
    for contents in &mut result.contents {
        if let ResourceContents::TextResourceContents { uri, .. }
        | ResourceContents::BlobResourceContents { uri, .. } = contents
        {
            *uri = expose_uri(name, uri);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_uris_name_their_upstream_and_map_back() {
        let exposed = expose_uri("notes", "note://alice/1");
        assert_eq!(exposed, "notes+note://alice/1");
        assert_eq!(original_uri("notes", &exposed), Some("note://alice/1"));
        assert_eq!(original_uri("note", &exposed), None);
        assert_eq!(original_uri("other", &exposed), None);
    }
}
