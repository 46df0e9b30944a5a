//! Every `Fault`, fault scheduling by index and queue, random faults, configured rate limits and
//! latency.

use std::time::{Duration, Instant};

use chrono::{Days, Utc};
use serde_json::json;
use zoom_sim::{Fault, LogType, SimConfig, Simulator};

use crate::client::{Api, Page, days_ago, json};

/// A simulator with 100 activity events today, and a client for it.
fn seeded() -> Simulator {
    let sim = Simulator::start(SimConfig::default());
    let time = Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let events = (0..100)
        .map(|n| format!(r#"{{"email":"u{n}@example.com","time":"{time}"}}"#))
        .collect();
    sim.add_events(LogType::Activity, events);
    sim
}

async fn today(api: &Api<'_>) -> reqwest::Response {
    let today = days_ago(0);
    api.page(LogType::Activity, (&today, &today), 30, None)
        .await
}

#[tokio::test]
async fn faults_go_to_their_request_index_or_the_next_free_one() {
    let sim = seeded();
    let api = Api::new(&sim);
    sim.fault_at(2, Fault::Status(503));
    let statuses = [
        today(&api).await.status(),
        today(&api).await.status(),
        today(&api).await.status(),
    ];
    assert_eq!(statuses, [200, 503, 200]);

    sim.fault_at(5, Fault::Status(502));
    sim.fault_next(Fault::Status(500));
    sim.fault_next(Fault::Status(504));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(today(&api).await.status().as_u16());
    }
    assert_eq!(statuses, [500, 502, 504, 200]);
    let (_, body) = json(
        api.page(LogType::Operation, (&days_ago(0), &days_ago(0)), 30, None)
            .await,
    )
    .await;
    assert!(body["operation_logs"].is_array());
    let stats = sim.stats();
    assert_eq!(
        (
            stats.report_requests,
            stats.activity_requests,
            stats.operation_requests
        ),
        (8, 7, 1)
    );
}

#[tokio::test]
async fn status_fault_has_a_zoom_body() {
    let sim = seeded();
    let api = Api::new(&sim);
    sim.fault_next(Fault::Status(503));
    assert_eq!(
        json(today(&api).await).await,
        (503, json!({"code": 503, "message": "Service Unavailable"}))
    );
}

#[tokio::test]
async fn drop_cuts_the_body_after_the_headers() {
    let sim = seeded();
    let api = Api::new(&sim);
    sim.fault_next(Fault::Drop);
    let response = today(&api).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.is_err());
    assert_eq!(today(&api).await.status(), 200);
}

#[tokio::test]
async fn rate_limit_faults_with_and_without_headers() {
    let sim = seeded();
    let api = Api::new(&sim);
    let qps = "You have reached the maximum per-second rate limit for this API. Try again later.";

    sim.fault_next(Fault::RateLimitQps { headers: true });
    let response = today(&api).await;
    let headers = response.headers().clone();
    assert_eq!(
        json(response).await,
        (429, json!({"code": 429, "message": qps}))
    );
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(headers["x-ratelimit-type"], "QPS");
    assert_eq!(headers["x-ratelimit-category"], "Heavy");
    assert_eq!(headers["x-ratelimit-remaining"], "0");

    sim.fault_next(Fault::DailyLimit { headers: true });
    let response = today(&api).await;
    let headers = response.headers().clone();
    let (status, body) = json(response).await;
    assert_eq!(status, 429);
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("daily rate limit")
    );
    assert_eq!(headers["x-ratelimit-type"], "Daily-limit");
    let midnight = format!("{}T00:00:00Z", Utc::now().date_naive() + Days::new(1));
    assert_eq!(headers["retry-after"], midnight.as_str());

    for fault in [
        Fault::RateLimitQps { headers: false },
        Fault::DailyLimit { headers: false },
    ] {
        sim.fault_next(fault);
        let response = today(&api).await;
        assert_eq!(response.status(), 429);
        assert!(
            response
                .headers()
                .keys()
                .all(|k| !k.as_str().starts_with("x-ratelimit") && k != "retry-after")
        );
    }
    assert_eq!(sim.stats().rate_limited, 4);
}

#[tokio::test]
async fn expire_page_token_kills_the_presented_token() {
    let sim = seeded();
    let api = Api::new(&sim);
    let day = days_ago(0);
    sim.fault_next(Fault::ExpirePageToken);
    let first = today(&api).await;
    assert_eq!(first.status(), 200, "no token to expire on a first page");
    let token = Page::parse(&first.text().await.expect("body"), LogType::Activity)
        .next_page_token
        .expect("next page");
    sim.fault_next(Fault::ExpirePageToken);
    let expired = json!({"code": 300, "message": "The next page token is invalid or expired."});
    for _ in 0..2 {
        let response = api
            .page(LogType::Activity, (&day, &day), 30, Some(&token))
            .await;
        assert_eq!(json(response).await, (400, expired.clone()));
    }
    assert_eq!(
        api.fetch_all(LogType::Activity, (&day, &day), 30)
            .await
            .len(),
        100
    );
}

#[tokio::test]
async fn malformed_bodies() {
    let sim = seeded();
    let api = Api::new(&sim);

    sim.fault_next(Fault::InvalidJson);
    let response = today(&api).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("body");
    assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());

    sim.fault_next(Fault::HtmlErrorPage);
    let response = today(&api).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ASCII")
            .starts_with("text/html")
    );
    assert!(response.text().await.expect("body").contains("Bad Gateway"));

    sim.fault_next(Fault::MissingArray);
    let (status, body) = json(today(&api).await).await;
    assert_eq!(status, 200);
    assert!(body.get("activity_logs").is_none() && body["next_page_token"].is_string());
}

#[tokio::test]
async fn access_token_expired_fault_refuses_a_valid_token_once() {
    let sim = seeded();
    let api = Api::new(&sim);
    sim.fault_next(Fault::AccessTokenExpired);
    assert_eq!(
        json(today(&api).await).await,
        (
            401,
            json!({"code": 124, "message": "Invalid access token."})
        )
    );
    assert_eq!(today(&api).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_holds_until_released_or_abandoned() {
    let sim = seeded();
    let token = sim.issue_access_token(Duration::from_secs(60));
    let url = format!("{}/report/activities", sim.api_url());
    let day = days_ago(0);
    let request = move |timeout: Duration| {
        let (url, token, day) = (url.clone(), token.clone(), day.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .query(&[("from", &day), ("to", &day)])
                .timeout(timeout)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };

    sim.fault_next(Fault::Stall);
    let held = request(Duration::from_secs(10));
    assert!(sim.wait_for_stall(Duration::from_secs(2)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!held.is_finished());
    sim.release_stalls();
    assert_eq!(held.await.expect("task").expect("reply"), 200);
    assert!(!sim.wait_for_stall(Duration::from_millis(50)));

    sim.fault_next(Fault::Stall);
    let abandoned = request(Duration::from_millis(200));
    assert!(sim.wait_for_stall(Duration::from_secs(2)));
    assert!(abandoned.await.expect("task").is_err());
    let deadline = Instant::now() + Duration::from_secs(1);
    while sim.wait_for_stall(Duration::ZERO) {
        assert!(
            Instant::now() < deadline,
            "the abandoned request is still held"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn delay_and_latency_slow_the_reply() {
    let sim = seeded();
    let api = Api::new(&sim);
    sim.fault_next(Fault::Delay(Duration::from_millis(300)));
    let started = Instant::now();
    assert_eq!(today(&api).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    sim.set_config(|c| c.latency = Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(today(&api).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(200));

    sim.set_config(|c| {
        c.latency = Duration::from_millis(50);
        c.latency_jitter = Duration::from_millis(200);
    });
    let mut elapsed = Vec::new();
    for _ in 0..6 {
        let started = Instant::now();
        assert_eq!(today(&api).await.status(), 200);
        elapsed.push(started.elapsed());
    }
    assert!(elapsed.iter().all(|e| *e >= Duration::from_millis(50)));
    let spread = elapsed.iter().max().zip(elapsed.iter().min());
    assert!(
        spread.is_some_and(|(max, min)| *max - *min >= Duration::from_millis(20)),
        "no jitter: {elapsed:?}"
    );
}

#[tokio::test]
async fn page_tokens_expire_at_the_configured_rate() {
    let sim = seeded();
    let api = Api::new(&sim);
    let day = days_ago(0);
    sim.set_config(|c| c.token_expiry_rate = 1.0);
    let first = today(&api).await;
    assert_eq!(first.status(), 200, "a first page presents no token");
    let token = Page::parse(&first.text().await.expect("body"), LogType::Activity)
        .next_page_token
        .expect("next page");
    let expired = json!({"code": 300, "message": "The next page token is invalid or expired."});
    let next = api
        .page(LogType::Activity, (&day, &day), 30, Some(&token))
        .await;
    assert_eq!(json(next).await, (400, expired.clone()));
    sim.set_config(|c| c.token_expiry_rate = 0.0);
    let again = api
        .page(LogType::Activity, (&day, &day), 30, Some(&token))
        .await;
    assert_eq!(json(again).await, (400, expired), "the token died");
    assert_eq!(
        api.fetch_all(LogType::Activity, (&day, &day), 30)
            .await
            .len(),
        100
    );
}

#[tokio::test]
async fn random_faults_follow_the_configured_rates() {
    let sim = seeded();
    let api = Api::new(&sim);
    sim.set_config(|c| c.error_rate_5xx = 1.0);
    for _ in 0..5 {
        assert!(today(&api).await.status().is_server_error());
    }
    sim.set_config(|c| {
        c.error_rate_5xx = 0.0;
        c.drop_rate = 1.0;
    });
    assert!(today(&api).await.text().await.is_err());
    sim.set_config(|c| c.drop_rate = 0.0);
    assert_eq!(today(&api).await.status(), 200);
}

#[tokio::test]
async fn configured_rate_limits() {
    let sim = seeded();
    let api = Api::new(&sim);
    sim.set_config(|c| c.qps_limit = Some(1));
    let mut limited = Vec::new();
    for _ in 0..3 {
        let response = today(&api).await;
        if response.status() == 429 {
            limited.push(response.headers()["x-ratelimit-type"].clone());
        }
    }
    assert!(!limited.is_empty() && limited.iter().all(|t| t == "QPS"));

    sim.set_config(|c| {
        c.qps_limit = None;
        c.rate_limit_headers = false;
        c.daily_limit = Some(0);
    });
    let response = today(&api).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_none());
    assert!(
        json(response).await.1["message"]
            .as_str()
            .expect("message")
            .contains("daily")
    );

    sim.set_config(|c| c.rate_limit_headers = true);
    let response = today(&api).await;
    assert_eq!(response.headers()["x-ratelimit-type"], "Daily-limit");
}
