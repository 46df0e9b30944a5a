//! The AWS adapters in-process against moto's server: the Secrets Manager state store and the S3
//! object sink speak the real wire protocols, and their errors say what failed without a secret.

use zoom_log_puller::aws::{AwsClients, S3Sink, SecretsManagerStore};
use zoom_log_puller::ports::{ObjectSink, Precondition, StateStore};
use zoom_log_puller::state::StateKeeper;

use crate::support::moto::{FailingProxy, Injected, Moto};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secrets_manager_store_loads_the_current_version_and_saves_a_new_one() {
    let moto = Moto::start();
    moto.create_secret("zoom/state", r#"{"client_id":"a"}"#)
        .await;
    let store = SecretsManagerStore::new(moto.clients().secrets, "zoom/state");

    assert_eq!(store.load().await.unwrap(), r#"{"client_id":"a"}"#);
    for document in [r#"{"client_id":"b"}"#, r#"{"client_id":"c"}"#] {
        store.save(document).await.unwrap();
        assert_eq!(store.load().await.unwrap(), document);
        assert_eq!(moto.secret("zoom/state").await, document);
    }
    assert_eq!(moto.secret_versions("zoom/state").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_on_the_version_read_succeeds_and_one_after_awscurrent_moved_writes_nothing() {
    let moto = Moto::start();
    moto.create_secret("zoom/state", r#"{"client_id":"a"}"#)
        .await;
    let store = SecretsManagerStore::new(moto.clients().secrets, "zoom/state");
    let read = store.load_versioned().await.unwrap();

    let mine = store
        .save_versioned(r#"{"client_id":"b"}"#, read.version.as_deref())
        .await
        .unwrap()
        .expect("a version id");
    assert_eq!(moto.current_version("zoom/state").await, mine);
    let again = store.load_versioned().await.unwrap();
    assert_eq!(again.text, r#"{"client_id":"b"}"#);
    assert_eq!(again.version.as_deref(), Some(mine.as_str()));
    // Without a stage asked for, too (moto needs the launcher's fix for this).
    let plain = moto
        .clients()
        .secrets
        .get_secret_value()
        .secret_id("zoom/state")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.version_id.as_deref(), Some(mine.as_str()));

    // Another writer (an operator, `zoomlogs check`) moves AWSCURRENT on.
    moto.clients()
        .secrets
        .put_secret_value()
        .secret_id("zoom/state")
        .secret_string(r#"{"client_id":"theirs"}"#)
        .send()
        .await
        .unwrap();
    let error = store
        .save_versioned(r#"{"client_id":"s3cr3t-stale"}"#, Some(&mine))
        .await
        .unwrap_err();
    assert!(error.conflict, "{error}");
    let text = format!("{error} {error:?}");
    assert!(
        text.contains("UpdateSecretVersionStage zoom/state"),
        "{text}"
    );
    assert!(!text.contains("s3cr3t-stale"), "{text}");
    assert_eq!(moto.secret("zoom/state").await, r#"{"client_id":"theirs"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_swaps_keep_the_secrets_labelled_versions_bounded() {
    let moto = Moto::start();
    moto.create_secret("zoom/state", r#"{"n":0}"#).await;
    let store = SecretsManagerStore::new(moto.clients().secrets, "zoom/state");
    let mut version = store.load_versioned().await.unwrap().version;
    for n in 1..=12 {
        let document = format!(r#"{{"n":{n}}}"#);
        if n == 6 {
            // A lost swap leaves its put behind, labelled only with the function's own stage.
            let stale = Some("00000000-0000-0000-0000-000000000000");
            assert!(
                store
                    .save_versioned(&document, stale)
                    .await
                    .unwrap_err()
                    .conflict
            );
        }
        version = store
            .save_versioned(&document, version.as_deref())
            .await
            .unwrap();
        assert_eq!(moto.secret("zoom/state").await, document);
    }
    let labelled = moto.labelled_secret_versions("zoom/state").await;
    assert!(
        labelled <= 3,
        "AWSCURRENT, AWSPREVIOUS and ZOOMLOGS_PENDING at most: {labelled}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_keeper_merges_another_writers_rotation_in_the_secret_instead_of_overwriting_it() {
    let moto = Moto::start();
    let initial = serde_json::json!({
        "client_id": "c", "client_secret": "s", "refresh_token": "r1", "cursors": {}
    });
    moto.create_secret("zoom/state", &initial.to_string()).await;
    let store = SecretsManagerStore::new(moto.clients().secrets, "zoom/state");
    let keeper = StateKeeper::load(&store).await.unwrap();
    let mut rotated = initial.clone();
    rotated["refresh_token"] = "r2".into();
    moto.clients()
        .secrets
        .put_secret_value()
        .secret_id("zoom/state")
        .secret_string(rotated.to_string())
        .send()
        .await
        .unwrap();

    let cursor: chrono::DateTime<chrono::Utc> = "2026-11-29T21:30:00Z".parse().unwrap();
    keeper
        .update(|doc| {
            doc.cursors.insert("Zoom.Activity".into(), cursor);
        })
        .await;
    assert!(keeper.save().await.unwrap());
    let saved: serde_json::Value = serde_json::from_str(&moto.secret("zoom/state").await).unwrap();
    assert_eq!(saved["refresh_token"], "r2");
    assert_eq!(saved["cursors"]["Zoom.Activity"], "2026-11-29T21:30:00Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_reads_as_not_found_and_the_first_save_creates_it() {
    let moto = Moto::start();
    let store = SecretsManagerStore::new(moto.clients().secrets, "new/secret");

    let error = store.load().await.unwrap_err();
    assert!(error.not_found, "{error}");
    assert!(
        error.to_string().contains("GetSecretValue new/secret"),
        "{error}"
    );

    store.save(r#"{"client_id":"first"}"#).await.unwrap();
    assert_eq!(store.load().await.unwrap(), r#"{"client_id":"first"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_errors_name_the_operation_and_never_the_document() {
    // Nothing listens there: every call fails before an answer.
    let closed = format!("http://127.0.0.1:{}", crate::support::moto::free_port());
    let clients = AwsClients::new(&Moto::sdk_config(&closed), true);
    let store = SecretsManagerStore::new(clients.secrets, "zoom/state");

    let error = store.load().await.unwrap_err();
    assert!(
        !error.not_found,
        "an unreachable store is not a missing secret"
    );
    assert!(
        error.to_string().contains("GetSecretValue zoom/state"),
        "{error}"
    );

    let error = store
        .save(r#"{"client_secret":"s3cr3t-value"}"#)
        .await
        .unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(text.contains("PutSecretValue zoom/state"), "{text}");
    assert!(!text.contains("s3cr3t-value"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_sink_puts_with_the_content_type_and_reads_back_or_none() {
    let moto = Moto::start();
    moto.create_bucket("logs").await;
    let sink = S3Sink::new(moto.clients().s3, "logs");
    let key = "zoom/Zoom.Activity/year=2026/month=11/day=29/hour=20/a_b_0000.json.gz";

    sink.put(
        key,
        b"\x1f\x8bbytes".to_vec(),
        "application/x-ndjson",
        Precondition::Absent,
    )
    .await
    .unwrap();
    assert_eq!(
        sink.get(key).await.unwrap(),
        Some(b"\x1f\x8bbytes".to_vec())
    );
    let stored = moto.objects("logs", "zoom/").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].key, key);
    assert_eq!(
        stored[0].content_type.as_deref(),
        Some("application/x-ndjson")
    );
    assert_eq!(sink.get("zoom/_checkpoints/none.json").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_object_is_written_once_and_a_marker_replaced_only_at_the_etag_read() {
    let moto = Moto::start();
    moto.create_bucket("logs").await;
    let sink = S3Sink::new(moto.clients().s3, "logs");
    let key = "zoom/Zoom.Activity/year=2026/month=11/day=29/hour=20/a_b_0000.json.gz";
    sink.put(
        key,
        b"one".to_vec(),
        "application/x-ndjson",
        Precondition::Absent,
    )
    .await
    .unwrap();
    let again = sink
        .put(
            key,
            b"two".to_vec(),
            "application/x-ndjson",
            Precondition::Absent,
        )
        .await
        .unwrap_err();
    assert!(again.conflict, "{again}");
    assert_eq!(sink.get(key).await.unwrap(), Some(b"one".to_vec()));

    let marker = "zoom/_checkpoints/Zoom.Activity.json";
    let first = sink
        .put(
            marker,
            b"{}".to_vec(),
            "application/json",
            Precondition::Absent,
        )
        .await
        .unwrap()
        .expect("S3 returns an ETag");
    let read = sink.get_tagged(marker).await.unwrap().unwrap();
    assert_eq!(read.etag.as_deref(), Some(first.as_str()));
    let second = sink
        .put(
            marker,
            b"{\"a\":1}".to_vec(),
            "application/json",
            Precondition::Matches(first.clone()),
        )
        .await
        .unwrap();
    assert!(second.is_some());
    let stale = sink
        .put(
            marker,
            b"{\"b\":2}".to_vec(),
            "application/json",
            Precondition::Matches(first),
        )
        .await
        .unwrap_err();
    assert!(stale.conflict, "{stale}");
    assert_eq!(sink.get(marker).await.unwrap(), Some(b"{\"a\":1}".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_an_error_not_a_missing_object() {
    let moto = Moto::start();
    let sink = S3Sink::new(moto.clients().s3, "no-such-bucket");

    let error = sink.get("zoom/_checkpoints/x.json").await.unwrap_err();
    assert!(error.to_string().contains("NoSuchBucket"), "{error}");
    let error = sink
        .put(
            "zoom/x.json.gz",
            vec![1],
            "application/x-ndjson",
            Precondition::Absent,
        )
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("PutObject s3://no-such-bucket/zoom/x.json.gz"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_sink_reads_only_the_exact_key_not_the_keys_it_prefixes() {
    let moto = Moto::start();
    moto.create_bucket("logs").await;
    let sink = S3Sink::new(moto.clients().s3, "logs");
    let marker = "zoom/_checkpoints/Zoom.Activity.json";

    // More keys extending the marker's than one list page holds, and none of them is the marker.
    for n in 0..12 {
        sink.put(
            &format!("{marker}.{n:02}"),
            vec![n],
            "application/json",
            Precondition::Absent,
        )
        .await
        .unwrap();
    }
    assert_eq!(sink.get(marker).await.unwrap(), None);
    assert_eq!(sink.get("zoom/_checkpoints/Zoom.Act").await.unwrap(), None);

    sink.put(
        marker,
        b"{}".to_vec(),
        "application/json",
        Precondition::Absent,
    )
    .await
    .unwrap();
    assert_eq!(sink.get(marker).await.unwrap(), Some(b"{}".to_vec()));
    assert_eq!(
        sink.get(&format!("{marker}.11")).await.unwrap(),
        Some(vec![11])
    );
}

/// S3 refuses `GetObject` of a missing key with `AccessDenied` (not `NoSuchKey`) when the role may
/// not list that key, and the template limits listing with an `s3:prefix` condition. The proxy
/// plays the worst case, every `GetObject` refused: a missing key must still read as `None`, and
/// must cost no `GetObject` at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_key_is_none_without_a_get_object_whatever_s3_would_answer_to_one() {
    let moto = Moto::start();
    moto.create_bucket("logs").await;
    S3Sink::new(moto.clients().s3, "logs")
        .put(
            "zoom/present.json.gz",
            vec![7],
            "application/x-ndjson",
            Precondition::Absent,
        )
        .await
        .unwrap();
    let proxy = FailingProxy::start(moto.port(), |request| {
        let is_list = request.path.contains("list-type=2");
        (request.method == "GET" && !is_list).then_some(access_denied())
    })
    .await;
    let sink = S3Sink::new(
        AwsClients::new(&Moto::sdk_config(&proxy.endpoint()), true).s3,
        "logs",
    );

    assert_eq!(sink.get("zoom/_checkpoints/none.json").await.unwrap(), None);
    assert_eq!(
        proxy.injected(),
        0,
        "no GetObject for a key that is not listed"
    );

    // An object that is listed is read, and a refused read is an error naming GetObject.
    let error = sink.get("zoom/present.json.gz").await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("GetObject s3://logs/zoom/present.json.gz") && text.contains("AccessDenied"),
        "{text}"
    );
    assert_eq!(proxy.injected(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_list_is_an_error_not_a_missing_object() {
    let moto = Moto::start();
    moto.create_bucket("logs").await;
    let proxy = FailingProxy::start(moto.port(), |request| {
        request
            .path
            .contains("list-type=2")
            .then_some(access_denied())
    })
    .await;
    let sink = S3Sink::new(
        AwsClients::new(&Moto::sdk_config(&proxy.endpoint()), true).s3,
        "logs",
    );

    let error = sink.get("zoom/_checkpoints/none.json").await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("ListObjectsV2 s3://logs/zoom/_checkpoints/none.json")
            && text.contains("AccessDenied"),
        "{text}"
    );
    assert!(proxy.injected() > 0);
}

fn access_denied() -> Injected {
    Injected {
        status: 403,
        content_type: "application/xml",
        body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
    }
}
