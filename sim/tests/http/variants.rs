//! Zoom variants nobody has documented: an exclusive `to` day, and serialization drift (keys in
//! another order and an unknown field).

use chrono::{Days, NaiveDate};
use serde_json::Value;
use zoom_sim::{LogType, SimConfig, Simulator};

use crate::client::{Api, date_days_ago, simulator, time_of};

/// The times of the events of [from, to] as the report lists them (newest first).
async fn times(api: &Api<'_>, from: NaiveDate, to: NaiveDate) -> Vec<String> {
    let (from, to) = (from.to_string(), to.to_string());
    let events = api.fetch_all(LogType::Activity, (&from, &to), 30).await;
    events.iter().map(|e| time_of(e)).collect()
}

#[tokio::test]
async fn an_exclusive_to_lists_the_days_before_it_and_from_equal_to_lists_nothing() {
    let sim = Simulator::start(SimConfig {
        to_inclusive: false,
        ..SimConfig::default()
    });
    let day = date_days_ago(3);
    let plus = |n| day + Days::new(n);
    let at = |day: NaiveDate, hms: &str| format!("{day}T{hms}Z");
    let times_of_events = [
        at(day, "05:00:00"),
        at(day, "23:30:00"),
        at(plus(1), "02:00:00"),
    ];
    let [early, late, next] = times_of_events.each_ref().map(String::as_str);
    let events = [early, late, next]
        .iter()
        .map(|time| format!(r#"{{"email":"a@example.com","time":"{time}"}}"#))
        .collect();
    sim.add_events(LogType::Activity, events);
    let api = Api::new(&sim);
    let minus_one = day - Days::new(1);

    assert_eq!(times(&api, day, day).await, Vec::<String>::new());
    assert_eq!(times(&api, plus(1), plus(1)).await, Vec::<String>::new());
    assert_eq!(times(&api, day, plus(1)).await, [late, early]);
    assert_eq!(times(&api, minus_one, plus(2)).await, [next, late, early]);
    assert_eq!(times(&api, plus(1), plus(2)).await, [next]);

    // UTC-10: early falls on the day before, late and next on the day.
    sim.set_config(|c| c.day_offset_minutes = -600);
    assert_eq!(times(&api, minus_one, day).await, [early]);
    assert_eq!(times(&api, day, plus(1)).await, [next, late]);
    // UTC+14: late and next fall on the day after.
    sim.set_config(|c| c.day_offset_minutes = 840);
    assert_eq!(times(&api, day, plus(1)).await, [early]);
    assert_eq!(times(&api, plus(1), plus(1)).await, Vec::<String>::new());
    assert_eq!(times(&api, plus(1), plus(2)).await, [next, late]);

    sim.set_config(|c| {
        c.day_offset_minutes = 0;
        c.to_inclusive = true;
    });
    assert_eq!(
        times(&api, day, day).await,
        [late, early],
        "inclusive again"
    );
}

#[tokio::test]
async fn the_default_to_is_inclusive() {
    let sim = simulator();
    let day = date_days_ago(1);
    let time = format!("{day}T12:00:00Z");
    let event = format!(r#"{{"email":"a@example.com","time":"{time}"}}"#);
    sim.add_events(LogType::Activity, vec![event]);
    let api = Api::new(&sim);
    assert_eq!(times(&api, day, day).await, [time.as_str()]);
}

#[tokio::test]
async fn drift_reorders_keys_and_adds_a_field_switchable_while_running() {
    let sim = simulator();
    let day = date_days_ago(1);
    let stored: Vec<String> = (0..45)
        .map(|n| {
            format!(
                r#"{{"email":"u{n}@example.com","time":"{day}T12:{:02}:00Z","type":"Sign in","version":"6.2.0"}}"#,
                n % 60
            )
        })
        .collect();
    sim.add_events(LogType::Activity, stored.clone());
    let api = Api::new(&sim);
    let range = (day.to_string(), day.to_string());
    let pull = || api.fetch_all(LogType::Activity, (&range.0, &range.1), 30);
    let sorted = |mut events: Vec<String>| {
        events.sort();
        events
    };

    let plain = pull().await;
    assert_eq!(
        sorted(plain.clone()),
        sorted(stored.clone()),
        "stored bytes"
    );

    sim.set_config(|c| c.drift_serialization = true);
    let drifted = pull().await;
    assert_eq!(drifted.len(), plain.len());
    for (raw, drift) in plain.iter().zip(&drifted) {
        let value: Value = serde_json::from_str(raw).expect("stored JSON");
        let email = value["email"].as_str().expect("email");
        let time = value["time"].as_str().expect("time");
        let expected = format!(
            r#"{{"version":"6.2.0","type":"Sign in","time":"{time}","email":"{email}","drift_field":true}}"#
        );
        assert_eq!(drift, &expected, "keys reversed, one unknown field");
    }

    sim.set_config(|c| c.drift_serialization = false);
    assert_eq!(pull().await, plain, "off again: the stored bytes");
    assert_eq!(
        sim.events(LogType::Activity),
        stored,
        "the store is untouched"
    );
}
