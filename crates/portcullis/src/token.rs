//! `portcullis token mint`: a development access token from the local signing key, printed
//! alone on stdout so scripts can capture it.

use std::time::Duration;

use portcullis_auth::signing::{LocalSigner, MintRequest};

use crate::{cli::MintArgs, config::resolve_common};

pub async fn mint(args: MintArgs) -> anyhow::Result<()> {
    let common = resolve_common(&args.common)?;
    // One identity per user: a local account's tokens carry its id, as its sign-ins do.
    let (subject, tenant) = match (&args.user, &args.sub) {
        (Some(name), _) => {
            let (_, store) = crate::admin::open(&args.common).await?;
            let account = store.oauth().account_named(name).await?;
            store.close().await;
            let account = account.ok_or_else(|| {
                anyhow::anyhow!(
                    "no account {name:?}: add it with `portcullis user add {name}`, or use --sub for an external subject"
                )
            })?;
            if args.tenant.is_some() && args.tenant != account.tenant {
                anyhow::bail!("--tenant differs from the tenant of account {name:?}; leave it out");
            }
            (account.id, account.tenant)
        }
        (None, Some(sub)) if portcullis_auth::is_clean_identifier(sub) => {
            (sub.clone(), args.tenant.clone())
        }
        (None, Some(_)) => anyhow::bail!("--sub {}", portcullis_auth::IDENTIFIER_RULE),
        (None, None) => anyhow::bail!("name the user: --user ACCOUNT, or --sub SUBJECT"),
    };
    if common.issuer.is_some() {
        eprintln!(
            "warning: --issuer is set, so the server verifies tokens from that external issuer; \
             this token is signed with the local development key and will be refused"
        );
    }
    let signer = match &common.key_encryption_key {
        // The database's keys: the ring decides which one signs now.
        Some(_) => {
            let (_, store) = crate::admin::open(&args.common).await?;
            // Retention only decides which retired keys are published: nothing to do here.
            let ring =
                crate::signing_keys::open_ring(&common, Duration::ZERO, &store, None).await?;
            let signer = ring.signer();
            store.close().await;
            signer
        }
        None => std::sync::Arc::new(LocalSigner::load_or_generate(&common.keys_dir())?),
    };
    let issuer = common.effective_issuer();
    let token = signer.mint(&MintRequest {
        issuer: &issuer,
        audience: &common.audience,
        subject: &subject,
        client_id: &args.client_id,
        scope: &args.scope,
        tenant: tenant.as_deref(),
        grant_id: None,
        ttl: Duration::from_secs(args.ttl),
    })?;
    println!("{token}");
    Ok(())
}
