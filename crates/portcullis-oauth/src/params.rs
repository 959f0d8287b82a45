//! Request parameters as OAuth 2.1 §3.1/§3.2 reads them: form- or query-encoded, a parameter
//! sent without a value is absent, a parameter sent twice is an error, unknown ones are ignored.

use std::collections::HashMap;

use crate::OAuthError;

/// Longest value accepted for any parameter (OAuth 2.1 §1.7.1 asks for ~8000 octets overall).
const MAX_VALUE: usize = 4096;

#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(encoded: &[u8]) -> Result<Self, OAuthError> {
        let mut map = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(encoded) {
            if value.is_empty() {
                continue;
            }
            if value.len() > MAX_VALUE {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {key} is longer than {MAX_VALUE} bytes"
                )));
            }
            if map.insert(key.to_string(), value.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {key} was sent more than once"
                )));
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn require(&self, key: &str) -> Result<&str, OAuthError> {
        self.get(key)
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter {key} is required")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_and_empty_values_are_absent() {
        assert!(Params::parse(b"a=1&a=2").is_err());
        let p = Params::parse(b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert!(p.require("b").is_err());
    }
}
