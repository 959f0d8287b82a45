//! `portcullis token mint`: a development access token from the local signing key, printed
//! alone on stdout so scripts can capture it.

use std::time::Duration;

use portcullis_auth::signing::{LocalSigner, MintRequest};

use crate::{cli::MintArgs, config::resolve_common};

pub async fn mint(args: MintArgs) -> anyhow::Result<()> {
    let (common, _) = resolve_common(&args.common)?;
    if args.sub.trim().is_empty() {
        anyhow::bail!("--sub must name a user");
    }
    if common.issuer.is_some() {
        eprintln!(
            "warning: --issuer is set, so the server verifies tokens from that external issuer; \
             this token is signed with the local development key and will be refused"
        );
    }
    let signer = LocalSigner::load_or_generate(&common.keys_dir())?;
    let issuer = common.effective_issuer();
    let token = signer.mint(&MintRequest {
        issuer: &issuer,
        audience: &common.audience,
        subject: args.sub.trim(),
        client_id: &args.client_id,
        scope: &args.scope,
        tenant: args.tenant.as_deref(),
        grant_id: None,
        ttl: Duration::from_secs(args.ttl),
    })?;
    println!("{token}");
    Ok(())
}
