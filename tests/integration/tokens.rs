//! The token keeper in process against the simulator: a refresh token that another writer rotated
//! after this run loaded the state is picked up by reloading the stored document once.

use std::collections::VecDeque;
use std::sync::Mutex;

use zoom_log_puller::ports::{StateStore, StoreError};
use zoom_log_puller::state::StateKeeper;
use zoom_log_puller::zoom::{RetryPolicy, TokenKeeper, http_client};
use zoom_sim::{SimConfig, Simulator};

/// Serves its documents in turn (the last one from then on), and keeps what is saved.
struct ChangingStore {
    documents: Mutex<VecDeque<String>>,
}

impl StateStore for ChangingStore {
    async fn load(&self) -> Result<String, StoreError> {
        let mut documents = self.documents.lock().unwrap();
        if documents.len() > 1 {
            return Ok(documents.pop_front().unwrap());
        }
        Ok(documents[0].clone())
    }

    async fn save(&self, document: &str) -> Result<(), StoreError> {
        *self.documents.lock().unwrap() = VecDeque::from([document.to_owned()]);
        Ok(())
    }
}

fn document(refresh_token: &str) -> String {
    let config = SimConfig::default();
    serde_json::json!({
        "client_id": config.client_id, "client_secret": config.client_secret,
        "refresh_token": refresh_token,
    })
    .to_string()
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
        .access_token()
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
