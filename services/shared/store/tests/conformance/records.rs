//! The typed records on every backend: identities, job indexes, dataflow versions,
//! audit pages.
use super::*;

/// Users, roles, overrides and tokens round-trip, and a token is found by its hash
/// and by its user until it is deleted. Names are unique per run, since a
/// FoundationDB cluster is shared.
pub async fn identity_records(b: Backend) {
    use prism_schemas::v1::{AclEntry, AclRecord, Grant, RoleRecord, TokenRecord, UserRecord};
    use prism_store::records::{acls, auth_generation, roles, tokens, users};
    let run = uuid::Uuid::new_v4().simple().to_string();
    let user = UserRecord {
        name: format!("alice-{run}"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        roles: vec!["designer".into()],
        ..Default::default()
    };
    let role = RoleRecord {
        name: format!("finance-{run}"),
        grants: vec![Grant {
            entity: "dataflows".into(),
            r#match: "finance-*".into(),
            actions: vec!["view".into(), "execute".into()],
        }],
        ..Default::default()
    };
    let acl = AclRecord {
        entity: "dataflows".into(),
        name: format!("adults-{run}"),
        entries: vec![AclEntry {
            principal: format!("user:{}", user.name),
            allow: vec![],
            deny: vec!["execute".into()],
        }],
        updated_at_ms: 1,
    };
    let token = TokenRecord {
        id: uuid::Uuid::now_v7().to_string(),
        user: user.name.clone(),
        label: "ci".into(),
        kind: "api".into(),
        ..Default::default()
    };
    let hash = format!("hash-{run}").into_bytes();
    let (u, r, a, t) = (&user, &role, &acl, &token);
    let before = b
        .store
        .transact(|tx| {
            let hash = hash.clone();
            async move {
                users::put(&tx, u).await?;
                roles::put(&tx, r).await?;
                acls::put(&tx, a).await?;
                tokens::put(&tx, &hash, t).await?;
                auth_generation::get(&tx).await
            }
        })
        .await
        .unwrap();
    let (found, by_user, generation) = b
        .store
        .transact(|tx| {
            let hash = hash.clone();
            async move {
                assert_eq!(users::get(&tx, &u.name).await?.as_ref(), Some(u));
                assert!(users::any(&tx).await?);
                assert_eq!(roles::get(&tx, &r.name).await?.as_ref(), Some(r));
                assert_eq!(acls::get(&tx, &a.entity, &a.name).await?.as_ref(), Some(a));
                let found = tokens::get(&tx, &hash).await?;
                let by_user = tokens::list_for_user(&tx, &u.name).await?;
                Ok((found, by_user, auth_generation::bump(&tx).await?))
            }
        })
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(t));
    assert_eq!(by_user, vec![(hash.clone(), token.clone())]);
    assert!(generation > before, "the generation moves forward");
    let gone = b
        .store
        .transact(|tx| {
            let hash = hash.clone();
            async move {
                tokens::delete(&tx, &hash, t).await?;
                users::delete(&tx, &u.name).await?;
                roles::delete(&tx, &r.name).await?;
                acls::delete(&tx, &a.entity, &a.name).await?;
                Ok((
                    tokens::get(&tx, &hash).await?,
                    tokens::get_by_id(&tx, &u.name, &t.id).await?,
                    users::get(&tx, &u.name).await?,
                    roles::get(&tx, &r.name).await?,
                    acls::get(&tx, &a.entity, &a.name).await?,
                ))
            }
        })
        .await
        .unwrap();
    assert_eq!(gone, (None, None, None, None, None));
}

pub async fn job_indexes(b: Backend) {
    use prism_schemas::v1::{JobRecord, JobState};
    use prism_store::records::jobs::{self, JobFilter};
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (mine, other) = (format!("df-{run}"), format!("other-{run}"));
    // Ids sort by time as UUIDv7 do: newest last.
    let job = |i: usize, dataflow: &str, state: JobState| JobRecord {
        id: format!("{run}-{i:03}"),
        dataflow: dataflow.to_string(),
        state: state as i32,
        ..Default::default()
    };
    b.store
        .transact(|tx| {
            let (mine, other) = (mine.clone(), other.clone());
            async move {
                for i in 0..30 {
                    let dataflow = if i % 3 == 0 { &other } else { &mine };
                    jobs::put(&tx, &job(i, dataflow, JobState::Queued)).await?;
                }
                // State changes move a job between index entries.
                for i in (0..30).filter(|i| i % 2 == 0) {
                    let dataflow = if i % 3 == 0 { &other } else { &mine };
                    jobs::put(&tx, &job(i, dataflow, JobState::Running)).await?;
                    jobs::put(&tx, &job(i, dataflow, JobState::Succeeded)).await?;
                }
                Ok(())
            }
        })
        .await
        .unwrap();
    let list = |dataflow: Option<&str>, state: Option<JobState>, before: Option<String>, limit| {
        let filter = JobFilter {
            state,
            dataflow: dataflow.map(str::to_string),
        };
        let store = b.store.clone();
        async move {
            store
                .transact(|tx| {
                    let (filter, before) = (filter.clone(), before.clone());
                    async move { jobs::list(&tx, &filter, before.as_deref(), limit).await }
                })
                .await
                .unwrap()
        }
    };
    let ids = |page: &jobs::JobPage| -> Vec<usize> {
        page.jobs
            .iter()
            .map(|j| j.id[run.len() + 1..].parse().unwrap())
            .collect()
    };
    let want = |pick: &dyn Fn(usize) -> bool| -> Vec<usize> {
        (0..30).rev().filter(|i| pick(*i)).collect()
    };
    let page = list(Some(&mine), None, None, 100).await;
    assert_eq!(ids(&page), want(&|i| i % 3 != 0));
    let page = list(Some(&mine), Some(JobState::Queued), None, 100).await;
    assert_eq!(ids(&page), want(&|i| i % 3 != 0 && i % 2 == 1));
    assert!(page.next_cursor.is_none());
    let page = list(Some(&other), Some(JobState::Succeeded), None, 100).await;
    assert_eq!(ids(&page), want(&|i| i % 3 == 0 && i % 2 == 0));
    assert!(
        list(Some(&mine), Some(JobState::Running), None, 100)
            .await
            .jobs
            .is_empty()
    );
    // Pages follow each other through the cursor.
    let first = list(Some(&mine), None, None, 7).await;
    let second = list(Some(&mine), None, first.next_cursor.clone(), 100).await;
    let both: Vec<usize> = ids(&first).into_iter().chain(ids(&second)).collect();
    assert_eq!(both, want(&|i| i % 3 != 0));

    // A job written before the indexes existed is found once they are built.
    let older = job(99, &mine, JobState::Failed);
    b.store
        .transact(|tx| {
            let older = older.clone();
            async move {
                let key = prism_store::keys::jobs().key(&older.id.as_str());
                tx.set(&key, &prost::Message::encode_to_vec(&older)).await?;
                tx.clear(&prism_store::keys::job_index_built()).await
            }
        })
        .await
        .unwrap();
    assert!(
        list(Some(&mine), Some(JobState::Failed), None, 100)
            .await
            .jobs
            .is_empty()
    );
    assert!(jobs::build_indexes(&b.store).await.unwrap() >= 31);
    let page = list(Some(&mine), Some(JobState::Failed), None, 100).await;
    assert_eq!(ids(&page), vec![99]);
    assert_eq!(
        jobs::build_indexes(&b.store).await.unwrap(),
        0,
        "built once"
    );
}

pub async fn latest_dataflow_versions(b: Backend) {
    use prism_store::records::dataflows;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let names: Vec<String> = ["a", "ab", "b"]
        .iter()
        .map(|n| format!("{run}-{n}"))
        .collect();
    let latest = b
        .store
        .transact(|tx| {
            let names = names.clone();
            async move {
                for (i, name) in names.iter().enumerate() {
                    for v in 0..=i {
                        dataflows::save_new_version(&tx, name, &format!("{{\"v\":{v}}}"), None, 1)
                            .await?;
                    }
                }
                dataflows::list_latest(&tx).await
            }
        })
        .await
        .unwrap();
    let mine: Vec<(String, u32)> = latest
        .into_iter()
        .filter(|r| r.name.starts_with(&run))
        .map(|r| (r.name, r.version))
        .collect();
    let want: Vec<(String, u32)> = names.iter().cloned().zip([1, 2, 3]).collect();
    assert_eq!(mine, want, "one record per dataflow, its newest version");
}

/// The audit log reads forward from a position and backward from one: the same
/// entries, in opposite orders, each page starting just past its cursor.
pub async fn audit_pages(b: Backend) {
    use prism_schemas::v1::AuditRecord;
    use prism_store::records::audit;
    let run = uuid::Uuid::new_v4().simple().to_string();
    for n in 0..5 {
        let record = AuditRecord {
            event_id: format!("{run}-{n}"),
            actor: run.clone(),
            ..AuditRecord::default()
        };
        let appended = b
            .store
            .transact(|tx| {
                let record = record.clone();
                async move { audit::append(&tx, &record, 0).await }
            })
            .await
            .unwrap();
        assert!(appended);
    }
    let mine = |entries: Vec<audit::AuditEntry>| -> Vec<(String, String)> {
        entries
            .into_iter()
            .filter(|e| e.record.actor == run)
            .map(|e| (e.seq, e.record.event_id))
            .collect()
    };
    let read = |newest: bool, cursor: Option<String>| {
        let store = b.store.clone();
        async move {
            store
                .transact(|tx| {
                    let cursor = cursor.clone();
                    async move {
                        if newest {
                            audit::list_newest(&tx, cursor.as_deref(), 10_000).await
                        } else {
                            audit::list(&tx, cursor.as_deref(), 10_000).await
                        }
                    }
                })
                .await
                .unwrap()
        }
    };
    let oldest_first = mine(read(false, None).await);
    let newest_first = mine(read(true, None).await);
    let ids: Vec<&str> = oldest_first.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(
        ids,
        (0..5).map(|n| format!("{run}-{n}")).collect::<Vec<_>>()
    );
    let mut reversed = newest_first.clone();
    reversed.reverse();
    assert_eq!(reversed, oldest_first, "the same entries, newest first");
    let (third_seq, _) = &oldest_first[2];
    let after = mine(read(false, Some(third_seq.clone())).await);
    assert_eq!(
        after.first(),
        oldest_first.get(3),
        "forward: just past the cursor"
    );
    let before = mine(read(true, Some(third_seq.clone())).await);
    assert_eq!(
        before.first(),
        oldest_first.get(1),
        "backward: just before the cursor"
    );
}
