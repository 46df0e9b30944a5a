//! The `/_sim/*` admin endpoints.

use serde_json::{Value, json};
use zoom_sim::LogType;

use crate::client::{Api, days_ago, json, simulator};

#[tokio::test]
async fn admin_endpoints_drive_the_simulator() {
    let sim = simulator();
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", sim.base_url()))
            .json(&body)
            .send()
    };

    let generated = json!({"log_type": "Zoom.Operation", "count": 40, "minutes_back": 30});
    assert_eq!(
        json(post("/_sim/events", generated).await.expect("sent"))
            .await
            .1,
        json!({"added": 40})
    );
    assert_eq!(sim.events(LogType::Operation).len(), 40);

    let raw = r#"{"log_type":"Zoom.Activity","events":[{"time": "2026-11-29T16:48:05Z" , "email":"\u00e9@x"}]}"#;
    let response = http
        .post(format!("{}/_sim/events", sim.base_url()))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(
        sim.events(LogType::Activity),
        [r#"{"time": "2026-11-29T16:48:05Z" , "email":"\u00e9@x"}"#]
    );

    let (_, body) = json(post("/_sim/authorize", json!({})).await.expect("sent")).await;
    assert_eq!(
        body["refresh_token"].as_str(),
        sim.current_refresh_token().as_deref()
    );

    let fault = json!({"fault": "status", "status": 503, "at": 1});
    assert_eq!(
        post("/_sim/faults", fault).await.expect("sent").status(),
        204
    );
    let api = Api::new(&sim);
    let day = days_ago(0);
    assert_eq!(
        api.page(LogType::Operation, (&day, &day), 30, None)
            .await
            .status(),
        503
    );

    let stats = http
        .get(format!("{}/_sim/stats", sim.base_url()))
        .send()
        .await
        .expect("sent");
    let (_, stats) = json(stats).await;
    assert_eq!(
        (&stats["report_requests"], &stats["operation_requests"]),
        (&json!(1), &json!(1))
    );
}
