//! The bus is not a back door: NATS requires a login, and each credential may only
//! what its owner needs. Tried over a real `prism standalone` and its nats-server.
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use prism_tests::{BusUser, Standalone};

/// The last sequence number of `stream`, read as the admin.
async fn last_sequence(admin: &async_nats::Client, stream: &str) -> u64 {
    let mut stream = jetstream::new(admin.clone())
        .get_stream(stream)
        .await
        .unwrap();
    stream.info().await.unwrap().state.last_sequence
}

/// Tries a JetStream publish as `client`; answers whether the server stored it.
async fn stored(client: &async_nats::Client, subject: &str) -> bool {
    let js = jetstream::new(client.clone());
    let Ok(ack) = js.publish(subject.to_string(), "forged".into()).await else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), ack).await,
        Ok(Ok(_))
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bus_credential_may_only_what_its_owner_needs() {
    let platform = Standalone::start().await;
    let url = platform.nats_url();
    let anonymous = async_nats::ConnectOptions::new()
        .connect(url.as_str())
        .await;
    assert!(
        anonymous.is_err(),
        "a client without credentials cannot connect"
    );
    let wrong = async_nats::ConnectOptions::with_user_and_password("events".into(), "guess".into())
        .connect(url.as_str())
        .await;
    assert!(wrong.is_err(), "nor with a wrong password");

    let admin = platform.nats_as(BusUser::Admin).await;
    let events = platform.nats_as(BusUser::Events).await;
    let client = platform.nats_as(BusUser::Client).await;

    // The event reader reads events...
    let mut seen = events.subscribe("prism.events.>").await.unwrap();
    events.flush().await.unwrap();
    platform.files_connection().await;
    let first = tokio::time::timeout(Duration::from_secs(10), seen.next()).await;
    assert!(matches!(first, Ok(Some(_))), "the reader sees events");

    // ...and cannot write anything: no job run, no event, no bucket entry.
    let runs = last_sequence(&admin, "JOBS").await;
    for (who, user) in [("events", &events), ("client", &client)] {
        assert!(
            !stored(user, "prism.jobs.run.default").await,
            "{who} published a job run"
        );
        assert!(
            !stored(user, "prism.events.job.x.succeeded").await,
            "{who} published an event"
        );
        // A bucket entry is a publish on `$KV.<bucket>.<key>` into the bucket's stream.
        let entry = "$KV.prism_job_attempts.forged";
        assert!(!stored(user, entry).await, "{who} wrote an attempt");
    }
    assert_eq!(
        last_sequence(&admin, "JOBS").await,
        runs,
        "the job queue refused them"
    );
    let attempts = jetstream::new(admin.clone())
        .get_key_value("prism_job_attempts")
        .await
        .unwrap();
    assert!(attempts.get("forged").await.unwrap().is_none());

    // Drains: only the admin (and the gateway, for HTTP admins) may send one.
    let mut drains = admin.subscribe("prism.ctl.drain.nobody").await.unwrap();
    admin.flush().await.unwrap();
    for user in [
        BusUser::Events,
        BusUser::Client,
        BusUser::Executor,
        BusUser::Scheduler,
        BusUser::Audit,
    ] {
        let sender = platform.nats_as(user).await;
        let _ = sender
            .publish("prism.ctl.drain.nobody", user.name().into())
            .await;
        let _ = sender.flush().await;
    }
    admin
        .publish("prism.ctl.drain.nobody", "admin".into())
        .await
        .unwrap();
    admin.flush().await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), drains.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        &first.payload[..],
        b"admin",
        "no one else's drain request got through"
    );
}
