//! How access tokens are verified: whose keys, how much clock skew, which claim names the
//! tenant, and how long tokens live (which decides how long retired keys stay published).

use std::{path::PathBuf, time::Duration};

use clap::Args;

use super::{CommonSettings, ConfigError, parse_url, ranged};

/// How access tokens are verified (users' tokens, for `backend`).
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Verify tokens with this PEM public key or JWKS file.
    #[arg(long, env = "PORTCULLIS_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// Verify tokens with keys fetched from this JWKS URL.
    #[arg(long, env = "PORTCULLIS_JWKS_URI")]
    pub jwks_uri: Option<String>,
    /// Least seconds between JWKS refetches triggered by unknown key ids.
    #[arg(long, env = "PORTCULLIS_JWKS_MIN_REFRESH_SECS", default_value_t = 5)]
    pub jwks_min_refresh_secs: u64,
    /// Token claim naming the tenant.
    #[arg(long, env = "PORTCULLIS_TENANT_CLAIM", default_value = "org_id")]
    pub tenant_claim: String,
    /// Verified tokens remembered until their exp (typical tokens; larger ones count more);
    /// 0 checks every request's signature.
    #[arg(long, env = "PORTCULLIS_TOKEN_CACHE_SIZE", default_value_t = portcullis_auth::DEFAULT_TOKEN_CACHE_SIZE)]
    pub token_cache_size: usize,
    #[command(flatten)]
    pub lifetimes: LifetimeArgs,
}

/// Token lifetimes: what the built-in authorization server issues, and what the key ring
/// keeps retired keys published for (`keys rotate`/`keys list` read them too).
#[derive(Debug, Clone, Args)]
pub struct LifetimeArgs {
    /// Lifetime of access tokens from the built-in authorization server, in seconds.
    #[arg(long, env = "PORTCULLIS_ACCESS_TOKEN_TTL_SECS", default_value_t = 3600)]
    pub access_token_ttl_secs: u64,
    /// Clock skew tolerated on exp/nbf, in seconds.
    #[arg(long, env = "PORTCULLIS_JWT_LEEWAY_SECS", default_value_t = 30)]
    pub jwt_leeway_secs: u64,
}

/// About 4 KiB per entry at most, so a few hundred MiB in the worst case.
const MAX_TOKEN_CACHE_SIZE: usize = 100_000;

/// Where tokens' keys come from.
#[derive(Debug, Clone)]
pub enum TokenKeys {
    /// The generated key in the data directory; the issuer is this server.
    Local,
    File(PathBuf),
    JwksUri(url::Url),
    Discovery,
}

#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub keys: TokenKeys,
    pub leeway: Duration,
    pub jwks_min_refresh: Duration,
    pub tenant_claim: String,
    pub access_token_ttl: Duration,
    pub token_cache_size: usize,
}

impl TokenSettings {
    /// How long a retired signing key stays published: until its last token has expired.
    pub fn key_retention(&self) -> Duration {
        retention_for(self.access_token_ttl, self.leeway)
    }
}

/// A key retired now may have signed a token a moment ago: keep it for that token's lifetime,
/// the verification leeway, and a margin for clocks and key-ring reloads.
fn retention_for(access_token_ttl: Duration, leeway: Duration) -> Duration {
    access_token_ttl + leeway + Duration::from_secs(300)
}

impl LifetimeArgs {
    pub fn access_token_ttl(&self) -> Result<Duration, ConfigError> {
        ranged(
            "access_token_ttl_secs",
            self.access_token_ttl_secs,
            60..=86_400,
        )
        .map(Duration::from_secs)
    }

    pub fn leeway(&self) -> Result<Duration, ConfigError> {
        if self.jwt_leeway_secs > 300 {
            return Err(ConfigError::new(
                "jwt_leeway_secs",
                format!("{} s is too lax", self.jwt_leeway_secs),
                "use at most 300 seconds",
            ));
        }
        Ok(Duration::from_secs(self.jwt_leeway_secs))
    }

    /// The retention `keys rotate`/`keys list` use.
    pub fn key_retention(&self) -> Result<Duration, ConfigError> {
        Ok(retention_for(self.access_token_ttl()?, self.leeway()?))
    }
}

pub fn resolve_tokens(
    args: &TokenArgs,
    common: &CommonSettings,
) -> Result<TokenSettings, ConfigError> {
    let keys = match (&args.jwt_public_key, &args.jwks_uri, &common.issuer) {
        (Some(path), _, Some(_)) => TokenKeys::File(path.clone()),
        (None, Some(uri), Some(_)) => TokenKeys::JwksUri(parse_url(
            "jwks_uri",
            uri,
            "https://idp.example.com/.well-known/jwks.json",
        )?),
        (None, None, Some(_)) => TokenKeys::Discovery,
        (Some(_), _, None) | (None, Some(_), None) => {
            return Err(ConfigError::new(
                "issuer",
                "external token keys are configured but no issuer",
                "set --issuer to the exact `iss` your identity provider puts in tokens",
            ));
        }
        (None, None, None) => TokenKeys::Local,
    };
    if args.tenant_claim.is_empty() {
        return Err(ConfigError::new(
            "tenant_claim",
            "is empty",
            "name a claim such as org_id",
        ));
    }
    if args.token_cache_size > MAX_TOKEN_CACHE_SIZE {
        return Err(ConfigError::new(
            "token_cache_size",
            format!(
                "{} entries is more than this cache is meant for",
                args.token_cache_size
            ),
            format!("use at most {MAX_TOKEN_CACHE_SIZE} (0 turns the cache off)"),
        ));
    }
    Ok(TokenSettings {
        token_cache_size: args.token_cache_size,
        keys,
        leeway: args.lifetimes.leeway()?,
        jwks_min_refresh: Duration::from_secs(args.jwks_min_refresh_secs),
        tenant_claim: args.tenant_claim.clone(),
        access_token_ttl: args.lifetimes.access_token_ttl()?,
    })
}
