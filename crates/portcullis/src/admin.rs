//! Operator commands on the built-in authorization server's data: `user`, `client`, `keys`.
//! They take the same `--data-dir` / `--database-url` as `serve` and work while it runs.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use portcullis_core::{Store, StoreError, oauth::StoredClient, timestamp};
use portcullis_oauth::{KeyRing, Password, Secret, client::CLIENT_CREDENTIALS, client_rules};

use crate::{
    cli::{ClientCommand, CommonArgs, KeysCommand, UserCommand},
    config::{CommonSettings, resolve_common},
};

pub(crate) async fn open(common: &CommonArgs) -> anyhow::Result<(CommonSettings, Store)> {
    let settings = resolve_common(common)?;
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            settings.data_dir.display()
        )
    })?;
    let store = Store::connect(&settings.database_url)
        .await
        .context("cannot open the database (check --database-url)")?;
    Ok((settings, store))
}

/// The password from stdin's first line, or typed twice at a terminal prompt.
fn read_password(from_stdin: bool) -> anyhow::Result<Password> {
    let raw = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Repeat password: ")?;
        if first != second {
            bail!("the passwords differ; nothing was changed");
        }
        first
    } else {
        bail!("no terminal to ask for the password: pass --password-stdin and pipe it in");
    };
    Ok(Password::new(raw)?)
}

pub async fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(args) => {
            let password = read_password(args.password_stdin)?;
            let (_, store) = open(&args.common).await?;
            let tenant = match &args.tenant {
                Some(t) => Some(portcullis_core::TenantId::parse(t)?.as_str().to_owned()),
                None => None,
            };
            let hash = password.hash().await?;
            let account = store
                .oauth()
                .create_account(&args.name, &hash, tenant.as_deref())
                .await
                .map_err(|e| match e {
                    StoreError::Conflict { .. } => anyhow::anyhow!(
                        "user {:?} already exists (use `portcullis user passwd` to change the password)",
                        args.name
                    ),
                    other => other.into(),
                })?;
            store.close().await;
            eprintln!("created user {} (subject {})", account.username, account.id);
            Ok(())
        }
        UserCommand::List(args) => {
            let (_, store) = open(&args.common).await?;
            let accounts = store.oauth().list_accounts().await?;
            store.close().await;
            println!(
                "{:<24} {:<38} {:<16} CREATED",
                "USERNAME", "SUBJECT", "TENANT"
            );
            for a in accounts {
                println!(
                    "{:<24} {:<38} {:<16} {}",
                    a.username,
                    a.id,
                    a.tenant.as_deref().unwrap_or("-"),
                    a.created_at
                );
            }
            Ok(())
        }
        UserCommand::Remove(args) => {
            let (_, store) = open(&args.common).await?;
            let removed = store.oauth().remove_account(&args.name).await?;
            store.close().await;
            if !removed {
                bail!("no user {:?}", args.name);
            }
            eprintln!("removed user {} and revoked its tokens", args.name);
            Ok(())
        }
        UserCommand::Passwd(args) => {
            let password = read_password(args.password_stdin)?;
            let (_, store) = open(&args.common).await?;
            let hash = password.hash().await?;
            let changed = store.oauth().set_password(&args.name, &hash).await?;
            store.close().await;
            if !changed {
                bail!("no user {:?}", args.name);
            }
            eprintln!("password changed for {}", args.name);
            Ok(())
        }
    }
}

pub async fn client(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Add(args) => {
            let name = args.name.trim().to_owned();
            let grant_types = if args.grant_types.is_empty() {
                client_rules::default_grant_types(
                    !args.redirect_uris.is_empty(),
                    args.confidential,
                    true,
                )
            } else {
                args.grant_types.clone()
            };
            let scopes = client_rules::scope_list(args.scope.as_deref());
            client_rules::Registration {
                name: &name,
                redirect_uris: &args.redirect_uris,
                kind: portcullis_oauth::redirect_uri::AppKind::Unstated,
                schemes: &portcullis_oauth::redirect_uri::SchemePolicy::Any,
                grant_types: &grant_types,
                confidential: args.confidential,
                scopes: &scopes,
                introspection: args.introspection,
                by_operator: true,
            }
            .check(&portcullis_mcp::SUPPORTED_SCOPES)
            .map_err(|problem| {
                anyhow::anyhow!(
                    "{problem} (see --redirect-uri, --grant-type, --scopes, --confidential)"
                )
            })?;
            if grant_types.iter().any(|g| g == CLIENT_CREDENTIALS) && args.scope.is_none() {
                eprintln!(
                    "note: without --scopes this client can get no client_credentials token; grant scopes with --scopes \"tasks:read …\""
                );
            }
            let secret = args.confidential.then(|| Secret::generate("pcs_"));
            let client = StoredClient {
                client_id: format!("pcc_{}", uuid::Uuid::new_v4().simple()),
                secret_hash: secret.as_ref().map(Secret::digest),
                name,
                redirect_uris: args.redirect_uris.clone(),
                grant_types,
                scope: args.scope.clone(),
                application_type: "native".into(),
                token_endpoint_auth_method: if args.confidential {
                    "client_secret_basic"
                } else {
                    "none"
                }
                .into(),
                registered_by: "cli".into(),
                created_at: timestamp::now(),
                introspection: args.introspection,
                first_grant_at: None,
                last_used_at: None,
                fingerprint: None,
            };
            let (_, store) = open(&args.common).await?;
            store.oauth().insert_client(&client).await?;
            store.close().await;
            println!("client_id: {}", client.client_id);
            if let Some(secret) = secret {
                println!("client_secret: {}", secret.expose());
                eprintln!("the secret is shown once; store it now");
            }
            Ok(())
        }
        ClientCommand::List(args) => {
            let (_, store) = open(&args.common).await?;
            let clients = store.oauth().list_clients().await?;
            store.close().await;
            println!(
                "{:<37} {:<12} {:<9} {:<24} {:<24} REDIRECT URIS",
                "CLIENT ID", "TYPE", "SOURCE", "NAME", "LAST USED"
            );
            for c in clients {
                println!(
                    "{:<37} {:<12} {:<9} {:<24} {:<24} {}",
                    c.client_id,
                    if c.secret_hash.is_some() {
                        "confidential"
                    } else {
                        "public"
                    },
                    c.registered_by,
                    c.name.chars().take(24).collect::<String>(),
                    c.last_used_at.as_deref().unwrap_or("never"),
                    c.redirect_uris.join(" ")
                );
            }
            Ok(())
        }
        ClientCommand::Remove(args) => {
            let (_, store) = open(&args.common).await?;
            let removed = store.oauth().remove_client(&args.client_id).await?;
            store.close().await;
            if !removed {
                bail!(
                    "no client {:?} (configured clients are removed from the config file)",
                    args.client_id
                );
            }
            eprintln!("removed client {} and revoked its tokens", args.client_id);
            Ok(())
        }
    }
}

pub async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate(args) => {
            let settings = resolve_common(&args.common)?;
            let retention = match args.retention_secs {
                Some(secs) => std::time::Duration::from_secs(secs),
                None => args.lifetimes.key_retention()?,
            };
            let rotation = match &settings.key_encryption_key {
                Some(kek) => {
                    let (_, store) = open(&args.common).await?;
                    let rotation =
                        KeyRing::rotate_in_database(&store.oauth(), kek, retention).await;
                    store.close().await;
                    rotation?
                }
                None => KeyRing::rotate(&settings.keys_dir(), retention)?,
            };
            println!("{}", rotation.new_kid);
            eprintln!(
                "new signing key {}; {} stays published for {} s; {} expired key(s) deleted",
                rotation.new_kid,
                rotation.retired_kid,
                retention.as_secs(),
                rotation.pruned
            );
            Ok(())
        }
        KeysCommand::List(args) => {
            let settings = resolve_common(&args.common)?;
            let retention = args.lifetimes.key_retention()?;
            let keys = match &settings.key_encryption_key {
                Some(kek) => {
                    let (_, store) = open(&args.common).await?;
                    let listed = KeyRing::list_in_database(&store.oauth(), kek, retention).await;
                    store.close().await;
                    listed?
                }
                None => {
                    let ring = KeyRing::open(&settings.keys_dir(), retention)?;
                    let signing = ring.signer().kid().to_owned();
                    ring.jwks()
                        .keys
                        .into_iter()
                        .map(|key| {
                            let kid = key.common.key_id.unwrap_or_default();
                            let role = if kid == signing { "signing" } else { "retired" };
                            (kid, role)
                        })
                        .collect()
                }
            };
            for (kid, role) in keys {
                println!("{kid} {role}");
            }
            Ok(())
        }
    }
}
