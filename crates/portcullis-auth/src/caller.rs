//! Facts about a caller that are not credentials: the network a request came from, and the
//! rule every identifier that names a user or tenant must follow.

use std::net::IpAddr;

/// The network a request came from: an IPv4 address, or an IPv6 /64 (one subscriber usually
/// controls a whole /64). Put into request extensions by the HTTP layer, which knows whether a
/// trusted proxy header names the address; budgets and sign-in lockouts are kept per network.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientNetwork(pub String);

impl ClientNetwork {
    pub fn of(ip: IpAddr) -> Self {
        Self(match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
        })
    }
}

/// Why an identifier (a token's `sub`, a tenant, a user-context header) is refused.
pub const IDENTIFIER_RULE: &str =
    "must not be empty, start or end with whitespace, or contain control characters";

/// True when `id` can name a user or tenant unambiguously. One side of a hop must not trim
/// what the other compares exactly: `" victor"` and `"victor"` would be two users on one side
/// and one on the other, so such values are refused everywhere instead of normalised.
pub fn is_clean_identifier(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with(char::is_whitespace)
        && !id.ends_with(char::is_whitespace)
        && !id.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_caller_is_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(ClientNetwork::of(a), ClientNetwork::of(b));
        assert_eq!(
            ClientNetwork::of("::ffff:10.0.0.1".parse().unwrap()).0,
            "10.0.0.1"
        );
    }

    #[test]
    fn identifiers_with_edge_whitespace_or_controls_are_refused() {
        for bad in [
            "",
            " victor",
            "victor ",
            "vic\ttor",
            "vic\u{0}tor",
            "\u{a0}victor",
        ] {
            assert!(!is_clean_identifier(bad), "{bad:?}");
        }
        for good in ["victor", "victor smith", "0190-abc", "ümit"] {
            assert!(is_clean_identifier(good), "{good:?}");
        }
    }
}
