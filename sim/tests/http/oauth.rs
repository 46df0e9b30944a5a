//! `/oauth/token` and `/oauth/authorize`: rotation, revocation, grants and client authentication.

use std::time::Duration;

use serde_json::json;
use zoom_sim::{LogType, RefreshRejection, SimConfig, Simulator};

use crate::client::{Api, days_ago, json, simulator};

async fn token_request(
    sim: &Simulator,
    secret: &str,
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(sim.oauth_url())
        .basic_auth("sim-client-id", Some(secret))
        .form(form)
        .send()
        .await
        .expect("request sent");
    json(response).await
}

async fn refresh(sim: &Simulator, token: &str) -> (u16, serde_json::Value) {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    token_request(sim, "sim-client-secret", &form).await
}

#[tokio::test]
async fn refresh_rotates_and_the_old_token_dies_at_once() {
    let sim = simulator();
    let first = sim.authorize();
    assert!(first.len() >= 32);

    let (status, body) = refresh(&sim, &first).await;
    assert_eq!(status, 200, "{body}");
    let second = body["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    assert_ne!(second, first);
    assert_eq!(
        sim.current_refresh_token().as_deref(),
        Some(second.as_str())
    );
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["scope"], "report:read:admin");
    let access = body["access_token"].as_str().expect("access token");
    assert!(access.len() >= 32);

    let api = Api {
        token: access.to_owned(),
        ..Api::new(&sim)
    };
    let response = api
        .page(LogType::Activity, (&days_ago(1), &days_ago(0)), 30, None)
        .await;
    assert_eq!(response.status(), 200);

    let (status, body) = refresh(&sim, &first).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"reason": "Invalid Token!", "error": "invalid_grant"})
        )
    );
    let (status, _) = refresh(&sim, &second).await;
    assert_eq!(status, 200);

    let stats = sim.stats();
    assert_eq!(
        (
            stats.token_requests,
            stats.refresh_grants,
            stats.rejected_refresh
        ),
        (3, 2, 1)
    );
}

#[tokio::test]
async fn authorizing_again_revokes_the_earlier_refresh_token() {
    let sim = simulator();
    let earlier = sim.authorize();
    let later = sim.authorize();
    assert_eq!(refresh(&sim, &earlier).await.0, 400);
    assert_eq!(refresh(&sim, &later).await.0, 200);
}

#[tokio::test]
async fn rejection_plays_each_known_form() {
    let sim = simulator();
    for (variant, status, error) in [
        (RefreshRejection::Unauthorized, 401, "invalid_grant"),
        (RefreshRejection::InvalidRequest, 400, "invalid_request"),
    ] {
        sim.set_config(|c| c.refresh_rejection = variant);
        let (got, body) = refresh(&sim, "not-the-current-token").await;
        assert_eq!((got, body["error"].as_str()), (status, Some(error)));
    }
}

#[tokio::test]
async fn wrong_client_credentials_are_refused() {
    let sim = simulator();
    let token = sim.authorize();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token.as_str()),
    ];
    let (status, body) = token_request(&sim, "wrong-secret", &form).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"reason": "Invalid client_id or client_secret", "error": "invalid_client"})
        )
    );
    assert_eq!(sim.current_refresh_token(), Some(token));
}

#[tokio::test]
async fn account_credentials_give_an_access_token_only() {
    let sim = simulator();
    let form = [
        ("grant_type", "account_credentials"),
        ("account_id", "sim-account"),
    ];
    let (status, body) = token_request(&sim, "sim-client-secret", &form).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());
    assert!(body.get("refresh_token").is_none());
    let form = [
        ("grant_type", "account_credentials"),
        ("account_id", "other"),
    ];
    assert_eq!(token_request(&sim, "sim-client-secret", &form).await.0, 400);
    assert_eq!(sim.stats().account_credentials_grants, 1);
}

#[tokio::test]
async fn authorization_code_is_single_use_and_bound_to_its_redirect() {
    let sim = simulator();
    let old = sim.authorize();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let redirect_uri = "http://localhost:9/callback";
    let authorize = |client_id: &'static str| {
        http.get(sim.authorize_url())
            .query(&[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("state", "a b&c"),
            ])
            .send()
    };
    assert_eq!(authorize("someone-else").await.expect("sent").status(), 400);
    let response = authorize("sim-client-id").await.expect("sent");
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let rest = location
        .strip_prefix(&format!("{redirect_uri}?code="))
        .expect(&location);
    let (code, state) = rest.split_once("&state=").expect(&location);
    assert_eq!(state, "a%20b%26c");

    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    let (status, body) = token_request(&sim, "sim-client-secret", &exchange).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["refresh_token"].as_str(),
        sim.current_refresh_token().as_deref()
    );
    assert_eq!(
        token_request(&sim, "sim-client-secret", &exchange).await.0,
        400
    );
    assert_eq!(refresh(&sim, &old).await.0, 400);
    assert_eq!(sim.stats().authorization_code_grants, 1);
}

#[tokio::test]
async fn access_tokens_expire_and_revoke_all_kills_everything() {
    let sim = simulator();
    let range = (days_ago(1), days_ago(0));
    let range = (range.0.as_str(), range.1.as_str());
    let short = Api {
        token: sim.issue_access_token(Duration::from_millis(300)),
        ..Api::new(&sim)
    };
    assert_eq!(
        short
            .page(LogType::Activity, range, 30, None)
            .await
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, body) = json(short.page(LogType::Activity, range, 30, None).await).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"code": 124, "message": "Invalid access token."})
        )
    );

    let api = Api::new(&sim);
    sim.authorize();
    sim.revoke_all();
    assert_eq!(
        api.page(LogType::Activity, range, 30, None).await.status(),
        401
    );
    assert_eq!(sim.current_refresh_token(), None);

    let unauthenticated = reqwest::Client::new()
        .get(format!("{}/report/activities", sim.api_url()))
        .query(&[("from", range.0), ("to", range.1)])
        .send()
        .await
        .expect("sent");
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test]
async fn configured_access_token_ttl_shows_in_expires_in() {
    let sim = Simulator::start(SimConfig {
        access_token_ttl: Duration::from_secs(600),
        ..SimConfig::default()
    });
    let form = [
        ("grant_type", "account_credentials"),
        ("account_id", "sim-account"),
    ];
    let (_, body) = token_request(&sim, "sim-client-secret", &form).await;
    assert_eq!(body["expires_in"], 599);
}
