//! `config check --connect` for upstreams: does the server answer, or does the program exist?
//! Nothing is listed or called: a `jwt` upstream would verify the token against a Portcullis
//! that is not running yet.

use std::{path::PathBuf, time::Duration};

use crate::config::{Target, UpstreamSpec};

/// What an operator learns about one upstream before starting: `Ok` with what was found.
pub async fn probe(spec: &UpstreamSpec, within: Duration) -> Result<String, String> {
    match &spec.target {
        Target::Http(url) => {
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(within)
                .build()
                .map_err(|e| e.to_string())?;
            // Any HTTP answer means something listens there (an MCP endpoint answers a bare GET
            // with 401, 405 or an event stream).
            match http.get(url.as_str()).send().await {
                Ok(response) => Ok(format!(
                    "{url} answers (HTTP {})",
                    response.status().as_u16()
                )),
                Err(e) => Err(format!("{url}: {}", crate::error::plain(&e))),
            }
        }
        Target::OpenApi(target) => {
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())?;
            // The document is read and its operations counted; none is called.
            let doc = crate::openapi::load(&target.document, &http, within).await?;
            let reserved: Vec<&str> = Vec::new();
            let (operations, skipped) = crate::openapi::operations(
                &doc,
                &spec.prefix,
                &crate::openapi::Selection {
                    include: &target.include,
                    exclude: &target.exclude,
                },
                &reserved,
                crate::items::MAX_TOOLS,
            );
            let base = match &target.base_url {
                Some(url) => url.clone(),
                None => doc.base_url()?,
            };
            Ok(format!(
                "the OpenAPI document gives {} tool(s), {} operation(s) skipped; calls go to {base}",
                operations.len(),
                skipped.len()
            ))
        }
        Target::Stdio { program, env, .. } => {
            let path = env
                .get("PATH")
                .cloned()
                .or_else(|| std::env::var("PATH").ok())
                .unwrap_or_default();
            find_program(program, &path)
                .map(|found| format!("{} is the program", found.display()))
                .ok_or_else(|| format!("{program:?} is not an executable file, nor on PATH"))
        }
    }
}

fn find_program(program: &str, path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &PathBuf| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(executable)
}
