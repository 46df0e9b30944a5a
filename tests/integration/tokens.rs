//! The token keeper and a whole run in process against the simulator: a refresh token that another
//! writer rotated after this run loaded the state is picked up by reloading the stored document
//! once, and a run reports `TokenNotStored` only when the rotated token is really not stored.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::Utc;
use zoom_log_puller::app::run_once;
use zoom_log_puller::config::Config;
use zoom_log_puller::local::DirSink;
use zoom_log_puller::ports::{StateStore, StoreError, StoredDocument};
use zoom_log_puller::pull::RunRequest;
use zoom_log_puller::state::StateKeeper;
use zoom_log_puller::zoom::{RetryPolicy, TokenKeeper, http_client};
use zoom_sim::{SimConfig, Simulator};

/// Serves its documents in turn (the last one from then on), and keeps what is saved.
struct ChangingStore {
    documents: Mutex<VecDeque<String>>,
}

impl StateStore for ChangingStore {
    async fn load_versioned(&self) -> Result<StoredDocument, StoreError> {
        let mut documents = self.documents.lock().unwrap();
        let text = if documents.len() > 1 {
            documents.pop_front().unwrap()
        } else {
            documents[0].clone()
        };
        Ok(StoredDocument {
            text,
            version: None,
        })
    }

    async fn save_versioned(
        &self,
        document: &str,
        _expected: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        *self.documents.lock().unwrap() = VecDeque::from([document.to_owned()]);
        Ok(None)
    }
}

fn document(refresh_token: &str) -> String {
    SimConfig::default().state_document(refresh_token)
}

#[tokio::test]
async fn a_token_rotated_by_another_writer_is_reloaded_once_and_used() {
    let sim = Simulator::start(SimConfig::default());
    let current = sim.authorize();
    let store = ChangingStore {
        documents: Mutex::new(VecDeque::from([
            document("rotated-away"),
            document(&current),
        ])),
    };
    let state = StateKeeper::load(&store).await.unwrap();
    let http = http_client();
    let oauth_url = sim.oauth_url();
    let tokens = TokenKeeper::new(&http, &oauth_url, &state, RetryPolicy::default());

    tokens
        .access_token(None)
        .await
        .expect("the reloaded token works");
    let stats = sim.stats();
    assert_eq!(stats.rejected_refresh, 1, "the stale token was tried once");
    assert_eq!(stats.refresh_grants, 1, "the reloaded token was refreshed");
    let saved: serde_json::Value = serde_json::from_str(&store.load().await.unwrap()).unwrap();
    assert_eq!(
        saved["refresh_token"].as_str(),
        sim.current_refresh_token().as_deref()
    );
}

/// A store whose first `failing` writes fail, as a Secrets Manager with a passing outage.
struct FlakyStore {
    document: Mutex<String>,
    failing: Mutex<usize>,
}

impl StateStore for FlakyStore {
    async fn load_versioned(&self) -> Result<StoredDocument, StoreError> {
        Ok(StoredDocument {
            text: self.document.lock().unwrap().clone(),
            version: None,
        })
    }

    async fn save_versioned(
        &self,
        document: &str,
        _expected: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let mut failing = self.failing.lock().unwrap();
        if *failing > 0 {
            *failing -= 1;
            return Err(StoreError::new("PutSecretValue", "injected outage"));
        }
        *self.document.lock().unwrap() = document.to_owned();
        Ok(None)
    }
}

/// One run against the simulator with `store`; the failure's `errorType` and message.
async fn failed_run(sim: &Simulator, store: &FlakyStore) -> (&'static str, String) {
    let api_url = sim.api_url();
    let oauth_url = sim.oauth_url();
    let config = Config::from_lookup(|name| match name {
        "ZOOM_API_URL" => Some(api_url.clone()),
        "ZOOM_OAUTH_URL" => Some(oauth_url.clone()),
        "INITIAL_LOOKBACK_DAYS" => Some("1".into()),
        _ => None,
    })
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let request = RunRequest {
        reference_time: now,
        now,
        deadline: None,
    };
    let failure = run_once(
        &config,
        &http_client(),
        store,
        &DirSink::new(out.path()),
        request,
    )
    .await
    .expect_err("the rotation store failed");
    (failure.error_type(), failure.to_string())
}

#[tokio::test]
async fn a_rotated_token_stored_by_the_final_save_after_a_failed_store_is_not_reported_lost() {
    let sim = Simulator::start(SimConfig::default());
    let store = FlakyStore {
        document: Mutex::new(document(&sim.authorize())),
        // Every attempt of the save right after the rotation; the end-of-run save works.
        failing: Mutex::new(3),
    };

    let (error_type, message) = failed_run(&sim, &store).await;
    assert_eq!(error_type, "StorageFailed", "{message}");
    assert!(!message.contains("re-authorize"), "{message}");
    let stored: serde_json::Value = serde_json::from_str(&store.document.lock().unwrap()).unwrap();
    assert_eq!(
        stored["refresh_token"].as_str(),
        sim.current_refresh_token().as_deref(),
        "the rotated token is stored"
    );
    let stats = sim.stats();
    assert_eq!(stats.refresh_grants, 1, "{stats:?}");
    assert_eq!(stats.report_requests, 0, "{stats:?}");
}

#[tokio::test]
async fn a_rotated_token_that_no_save_could_store_is_reported_lost() {
    let sim = Simulator::start(SimConfig::default());
    let store = FlakyStore {
        document: Mutex::new(document(&sim.authorize())),
        failing: Mutex::new(usize::MAX),
    };

    let (error_type, message) = failed_run(&sim, &store).await;
    assert_eq!(error_type, "TokenNotStored", "{message}");
    assert_eq!(sim.stats().report_requests, 0);
}
