//! Reading request headers that must appear at most once.

use axum::http::HeaderMap;

/// Why a singleton header cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderProblem {
    /// Sent more than once: intermediaries may pick different copies, so none is trusted.
    Repeated,
    /// Not visible ASCII.
    NotText,
}

/// The value of header `name` when it is sent once, `None` when it is absent.
pub fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, HeaderProblem> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => v.to_str().map(Some).map_err(|_| HeaderProblem::NotText),
        _ => Err(HeaderProblem::Repeated),
    }
}
