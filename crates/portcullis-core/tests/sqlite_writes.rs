//! The SQLite writer's group commit: many concurrent writes all land exactly once, a failing
//! write in a group fails alone, and everything is on disk after reopening.

use portcullis_core::{EntityId, NewTask, Store, TaskFilter, TaskTitle, TenantId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_commit_in_groups_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    let actor = store
        .actor(&TenantId::default_tenant(), "alice")
        .await
        .unwrap();

    let mut writes = Vec::new();
    for i in 0..300 {
        let (store, actor) = (store.clone(), actor.clone());
        writes.push(tokio::spawn(async move {
            // Every tenth write names a workspace that does not exist: it must fail alone.
            let workspace_id = (i % 10 == 0)
                .then(|| EntityId::parse("w", "0190b8c4-0000-7000-8000-000000000000").unwrap());
            let new = NewTask {
                title: TaskTitle::parse(&format!("task {i}")).unwrap(),
                description: None,
                workspace_id,
            };
            store.create_task(&actor, new).await
        }));
    }
    let mut ok = 0;
    for w in writes {
        if w.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 270);
    store.close().await;

    let reopened = Store::connect(&url).await.unwrap();
    let actor = reopened
        .actor(&TenantId::default_tenant(), "alice")
        .await
        .unwrap();
    let filter = TaskFilter {
        limit: portcullis_core::Limit::parse(Some(500)).unwrap(),
        ..TaskFilter::default()
    };
    let tasks = reopened.list_tasks(&actor, &filter).await.unwrap();
    assert_eq!(
        tasks.len(),
        270,
        "every acknowledged write is on disk, and only those"
    );
    let mut titles: Vec<_> = tasks.iter().map(|t| t.title.clone()).collect();
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), 270, "no write applied twice");
}
