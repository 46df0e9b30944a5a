//! Many accounts behind one address: each token and report request reaches its own account.

use zoom_sim::{LogType, SimConfig, Simulator};

use crate::client::json;

fn account(i: usize) -> SimConfig {
    SimConfig {
        client_id: format!("client-{i}"),
        ..SimConfig::default()
    }
}

async fn refresh(sim: &Simulator, client_id: &str, token: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(sim.oauth_url())
        .basic_auth(client_id, Some(SimConfig::default().client_secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .expect("request sent");
    json(response).await
}

#[tokio::test]
async fn each_account_behind_one_address_has_its_own_tokens_and_events() {
    let sims = Simulator::start_many((0..3).map(account).collect());
    assert!(sims.iter().all(|s| s.base_url() == sims[0].base_url()));
    let today = chrono::Utc::now() - chrono::Duration::minutes(30);
    for (i, sim) in sims.iter().enumerate() {
        let event = format!(
            r#"{{"email":"u{i}@example.com","time":"{}","type":"Sign in"}}"#,
            today.format("%Y-%m-%dT%H:%M:%SZ")
        );
        sim.add_events(LogType::Activity, vec![event]);
    }
    // Account 1's refresh token is refused by account 2's app, and works with its own.
    let token = sims[1].authorize();
    let (status, _) = refresh(&sims[0], "client-2", &token).await;
    assert_ne!(status, 200);
    let (status, body) = refresh(&sims[0], "client-1", &token).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let day = today.format("%Y-%m-%d").to_string();
    let response = reqwest::Client::new()
        .get(format!("{}/report/activities", sims[0].api_url()))
        .bearer_auth(&access)
        .query(&[("from", day.as_str()), ("to", day.as_str())])
        .send()
        .await
        .expect("request sent");
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    let text = body.to_string();
    assert!(text.contains("u1@example.com"), "{text}");
    assert!(!text.contains("u0@example.com") && !text.contains("u2@example.com"));
    assert_eq!(sims[1].stats().report_requests, 1);
    assert_eq!(
        sims[0].stats().report_requests + sims[2].stats().report_requests,
        0
    );
}
