//! `portcullis apikey create|list|revoke` and `portcullis audit`. Same `--data-dir` /
//! `--database-url` as `serve`; they work while it runs.

use anyhow::bail;
use portcullis_core::{AuditQuery, NewApiKey, StoreError, timestamp};

use crate::{
    admin::open,
    cli::{ApiKeyCommand, AuditArgs},
};

pub async fn api_key(command: ApiKeyCommand) -> anyhow::Result<()> {
    match command {
        ApiKeyCommand::Create(args) => {
            let (_, store) = open(&args.common).await?;
            let new = NewApiKey {
                owner: args.owner.clone().unwrap_or_else(|| args.name.clone()),
                name: args.name.clone(),
                tenant: args.tenant.clone(),
                scopes: args.scopes.split_whitespace().map(str::to_owned).collect(),
                trusted: args.trusted,
                expires_in: args.expires_in,
            };
            let created = store.create_api_key(new).await;
            store.close().await;
            let (key, secret) = created.map_err(|e| match e {
                StoreError::Conflict { .. } => anyhow::anyhow!(
                    "an active API key named {:?} exists; pick another --name or revoke it first",
                    args.name
                ),
                StoreError::Invalid(v) => anyhow::anyhow!("--{}: {}", v.field, v.reason),
                other => other.into(),
            })?;
            // The key alone on stdout, so `KEY=$(portcullis apikey create …)` works.
            println!("{}", secret.expose());
            eprintln!(
                "created API key {} ({}, scopes \"{}\"{}{}); store it now, it is not shown again",
                key.name,
                key.id,
                key.scopes,
                if key.trusted { ", trusted" } else { "" },
                key.expires_at
                    .as_deref()
                    .map(|e| format!(", expires {e}"))
                    .unwrap_or_default(),
            );
            Ok(())
        }
        ApiKeyCommand::List(args) => {
            let (_, store) = open(&args.common).await?;
            let keys = store.list_api_keys().await;
            store.close().await;
            let keys = keys?;
            if args.json {
                return print_json_lines(&keys);
            }
            println!(
                "{:<16} {:<20} {:<16} {:<12} {:<28} {:<7} {:<24} {:<24} STATE",
                "ID", "NAME", "OWNER", "TENANT", "SCOPES", "TRUSTED", "CREATED", "LAST USED"
            );
            let now = timestamp::now();
            for k in keys {
                let state = match (&k.revoked_at, &k.expires_at) {
                    (Some(_), _) => "revoked",
                    (None, Some(e)) if *e <= now => "expired",
                    _ => "active",
                };
                println!(
                    "{:<16} {:<20} {:<16} {:<12} {:<28} {:<7} {:<24} {:<24} {}",
                    k.id,
                    k.name,
                    k.owner,
                    k.tenant,
                    k.scopes,
                    if k.trusted { "yes" } else { "no" },
                    k.created_at,
                    k.last_used_at.as_deref().unwrap_or("-"),
                    state
                );
            }
            Ok(())
        }
        ApiKeyCommand::Revoke(args) => {
            let (_, store) = open(&args.common).await?;
            let revoked = store.revoke_api_key(&args.key).await;
            store.close().await;
            match revoked {
                Ok(key) => {
                    eprintln!("revoked API key {} ({})", key.name, key.id);
                    Ok(())
                }
                Err(StoreError::NotFound { .. }) => {
                    bail!("no active API key with id or name {:?}", args.key)
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

pub async fn audit(args: AuditArgs) -> anyhow::Result<()> {
    let (_, store) = open(&args.common).await?;
    let query = AuditQuery {
        since: args.since.map(timestamp::in_past),
        decision: args.decision.clone(),
        user: args.user.clone(),
        tool: args.tool.clone(),
        limit: args.limit.clamp(1, 10_000),
    };
    let events = store.query_audit(&query).await;
    store.close().await;
    let events = events?;
    if args.json {
        return print_json_lines(&events);
    }
    println!(
        "{:<24} {:<8} {:<9} {:<16} {:<20} {:<16} {:<14} {:<16} REASON",
        "TIME", "DECISION", "METHOD", "CREDENTIAL", "SUBJECT", "ACTING USER", "ACTION", "TOOL"
    );
    for e in events {
        println!(
            "{:<24} {:<8} {:<9} {:<16} {:<20} {:<16} {:<14} {:<16} {}",
            e.occurred_at,
            e.decision,
            e.method,
            e.credential.as_deref().unwrap_or("-"),
            e.subject.as_deref().unwrap_or("-"),
            e.acting_user.as_deref().unwrap_or("-"),
            e.action,
            e.tool.as_deref().unwrap_or("-"),
            e.reason
        );
    }
    Ok(())
}

/// `--json`: one object per line, for `jq` and log shippers.
fn print_json_lines<T: serde::Serialize>(items: &[T]) -> anyhow::Result<()> {
    for item in items {
        println!("{}", serde_json::to_string(item)?);
    }
    Ok(())
}
