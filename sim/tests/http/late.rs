//! Late arrival: events that reports show only some time after their `time`, staged by instant
//! (Rust API and admin endpoint) or drawn from the late-arrival knobs.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use zoom_sim::{LogType, SimConfig, Simulator, generate_events};

use crate::client::{Api, days_ago, json, simulator};

fn rfc3339(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn event(n: usize, time: DateTime<Utc>) -> String {
    format!(
        r#"{{"email":"u{n}@example.com","time":"{}"}}"#,
        rfc3339(time)
    )
}

/// Every activity event the report shows now for the last two days.
async fn reported(api: &Api<'_>) -> Vec<String> {
    let range = (days_ago(1), days_ago(0));
    api.fetch_all(LogType::Activity, (&range.0, &range.1), 300)
        .await
}

#[tokio::test]
async fn events_staged_late_show_up_from_their_instant_on() {
    let sim = simulator();
    let api = Api::new(&sim);
    let now = Utc::now();
    let on_time = vec![event(0, now - TimeDelta::hours(2))];
    let late: Vec<String> = (1..4)
        .map(|n| event(n, now - TimeDelta::hours(1)))
        .collect();
    sim.add_events(LogType::Activity, on_time.clone());
    sim.add_events_visible_at(
        LogType::Activity,
        late.clone(),
        now + TimeDelta::milliseconds(1500),
    );
    sim.add_events_visible_at(
        LogType::Activity,
        vec![event(4, now)],
        now - TimeDelta::seconds(1),
    );

    assert_eq!(reported(&api).await, [event(4, now), on_time[0].clone()]);
    assert_eq!(sim.stats().hidden_events, 3);
    assert_eq!(
        sim.events(LogType::Activity).len(),
        5,
        "stored, hidden or not"
    );

    tokio::time::sleep(Duration::from_millis(1600)).await;
    let mut expected = vec![event(4, now)];
    expected.extend(late);
    expected.extend(on_time);
    assert_eq!(reported(&api).await, expected);
    assert_eq!(sim.stats().hidden_events, 0);
}

#[tokio::test]
async fn the_admin_endpoint_stages_a_batch_by_instant() {
    let sim = simulator();
    let api = Api::new(&sim);
    let http = reqwest::Client::new();
    let post = |body: Value| {
        http.post(format!("{}/_sim/events", sim.base_url()))
            .json(&body)
            .send()
    };
    let now = Utc::now();
    let later = rfc3339(now + TimeDelta::hours(1));
    let events = json!([{"time": rfc3339(now - TimeDelta::minutes(30)), "email": "a@example.com"}]);
    let batch = json!({"log_type": "Zoom.Activity", "events": events, "visible_at": later});
    assert_eq!(
        json(post(batch).await.expect("sent")).await,
        (200, json!({"added": 1}))
    );
    let generated = json!({"log_type": "Zoom.Activity", "count": 20, "visible_at": later});
    assert_eq!(
        json(post(generated).await.expect("sent")).await,
        (200, json!({"added": 20}))
    );
    let past = rfc3339(now - TimeDelta::minutes(1));
    let shown = json!({"log_type": "Zoom.Activity", "count": 5, "visible_at": past});
    assert_eq!(post(shown).await.expect("sent").status(), 200);

    assert_eq!(reported(&api).await.len(), 5);
    let stats = http
        .get(format!("{}/_sim/stats", sim.base_url()))
        .send()
        .await
        .expect("sent");
    assert_eq!(json(stats).await.1["hidden_events"], json!(21));

    let bad = json!({"log_type": "Zoom.Activity", "count": 1, "visible_at": "tomorrow"});
    assert!(post(bad).await.expect("sent").status().is_client_error());
    assert_eq!(sim.events(LogType::Activity).len(), 26);
}

#[tokio::test]
async fn the_late_knobs_delay_a_share_of_added_events() {
    let sim = Simulator::start(SimConfig {
        late_fraction: 1.0,
        late_delay_min: Duration::from_secs(3600),
        late_delay_max: Duration::from_secs(3600),
        ..SimConfig::default()
    });
    let api = Api::new(&sim);
    let now = Utc::now();
    let old_enough = event(0, now - TimeDelta::minutes(61));
    sim.add_events(
        LogType::Activity,
        vec![old_enough.clone(), event(1, now - TimeDelta::minutes(59))],
    );
    assert_eq!(reported(&api).await, [old_enough]);

    sim.set_config(|c| {
        c.late_fraction = 0.5;
        c.late_delay_min = Duration::from_secs(20 * 60);
        c.late_delay_max = Duration::from_secs(20 * 3600);
    });
    let events = generate_events(LogType::Activity, 400, now - TimeDelta::minutes(10), now, 5);
    sim.add_events(LogType::Activity, events);
    // Besides the one event of the first batch that is still an hour from showing up.
    let hidden = sim.stats().hidden_events - 1;
    assert!((150..=250).contains(&hidden), "{hidden} of 400 hidden");
    assert_eq!(reported(&api).await.len() as u64, 401 - hidden);
}
