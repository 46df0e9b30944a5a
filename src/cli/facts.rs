//! What Zoom really does on this account, measured by `zoomlogs check` with a few report requests
//! (at most [`MAX_CALLS`], never retried): whether `to` is inclusive, whether a `to` after today
//! is accepted, the order of a query's pages, and the zone of the day boundaries where the
//! events allow it to be inferred. Each fact comes with the evidence it rests on; a fact the
//! events cannot settle is `unknown`, never a guess. Nobody documents these (see
//! `shared/zoom-api.md`); the run is correct whatever they are, and these facts tell an operator
//! which variant the account really plays.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::log_type::LogType;
use crate::ports::{Page, PageRequest, ReportSource, SourceError};

/// The most report requests the facts may cost.
pub const MAX_CALLS: usize = 10;

/// One fact: what was found (`unknown` when the events do not settle it) and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fact {
    pub name: String,
    pub value: String,
    pub evidence: String,
}

/// The report requests a measurement may still make.
struct Budget<'a, R> {
    source: &'a R,
    log_type: LogType,
    left: usize,
    deadline: Option<tokio::time::Instant>,
}

impl<R: ReportSource> Budget<'_, R> {
    /// One page, or `None` once the budget is spent.
    async fn page(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
        page_token: Option<String>,
    ) -> Option<Result<Page, SourceError>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let request = PageRequest {
            log_type: self.log_type,
            from,
            to,
            page_token,
            deadline: self.deadline,
        };
        Some(self.source.fetch_page(request).await)
    }
}

fn times(page: &Page) -> Vec<DateTime<Utc>> {
    page.events
        .iter()
        .filter_map(|e| {
            let value: serde_json::Value = serde_json::from_str(e.get()).ok()?;
            value.get("time")?.as_str()?.parse().ok()
        })
        .collect()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    super::rfc3339(t)
}

fn fact(name: &str, value: impl Into<String>, evidence: impl Into<String>) -> Fact {
    Fact {
        name: name.to_owned(),
        value: value.into(),
        evidence: evidence.into(),
    }
}

fn failed(e: &SourceError) -> String {
    format!("{}: {e}", crate::app::source_error_type(e))
}

/// Measures the facts with `log_type`'s report at `now`, in at most [`MAX_CALLS`] requests of
/// `source` (which must not retry: each request is one call).
pub async fn measure<R: ReportSource>(
    source: &R,
    log_type: LogType,
    now: DateTime<Utc>,
    deadline: Option<tokio::time::Instant>,
) -> Vec<Fact> {
    let mut budget = Budget {
        source,
        log_type,
        left: MAX_CALLS,
        deadline,
    };
    let today = now.date_naive();
    // Two days back (UTC) is a complete day in every zone, and a `to` of the day after it is
    // no later than Zoom's today in any zone, so neither query can be refused as the future.
    let day = today - Duration::days(2);
    let inclusive = to_inclusive(&mut budget, day, day + Duration::days(1)).await;
    let future = future_to(&mut budget, today).await;
    let (order, zone) = order_and_zone(&mut budget, today, inclusive.1).await;
    vec![inclusive.0, future, order, zone]
}

/// `from = to = day` against `from = day, to = next` (the day after): an event listed by the
/// first proves `to` inclusive; nothing listed by the first while the second lists events of
/// `day` proves it exclusive. Whether `to` is known to be inclusive (`Some(true)`) or exclusive
/// (`Some(false)`).
async fn to_inclusive<R: ReportSource>(
    budget: &mut Budget<'_, R>,
    day: NaiveDate,
    next: NaiveDate,
) -> (Fact, Option<bool>) {
    let name = "to inclusive";
    let same = match budget.page(day, day, None).await {
        Some(Ok(page)) => times(&page),
        Some(Err(e)) => return (fact(name, "unknown", failed(&e)), None),
        None => return (fact(name, "unknown", "no request left"), None),
    };
    if let Some(t) = same.first() {
        let evidence = format!(
            "from = to = {day} listed {} events (the first at {}): the `to` day is listed",
            same.len(),
            rfc3339(*t)
        );
        return (fact(name, "inclusive", evidence), Some(true));
    }
    let listed = match budget.page(day, next, None).await {
        Some(Ok(page)) => times(&page),
        Some(Err(e)) => return (fact(name, "unknown", failed(&e)), None),
        None => return (fact(name, "unknown", "no request left"), None),
    };
    let of_day: Vec<_> = listed.iter().filter(|t| t.date_naive() == day).collect();
    match of_day.first() {
        Some(t) => {
            let evidence = format!(
                "from = to = {day} listed nothing, while from = {day}, to = {next} \
                 listed {} events of {day} (UTC), such as {}: a day is listed only with a \
                 later `to`",
                of_day.len(),
                rfc3339(**t)
            );
            (fact(name, "exclusive", evidence), Some(false))
        }
        None => {
            let evidence = format!(
                "from = to = {day} listed nothing, and from = {day}, to = {next} \
                 listed {} events, none of {day} (UTC): without events of {day} \
                 nothing tells",
                listed.len()
            );
            (fact(name, "unknown", evidence), None)
        }
    }
}

/// A query whose `to` is the day after tomorrow (UTC), later than today in every zone, and whose
/// `from` is yesterday (UTC), no later than today in any zone.
async fn future_to<R: ReportSource>(budget: &mut Budget<'_, R>, today: NaiveDate) -> Fact {
    let name = "to after today";
    let from = today - Duration::days(1);
    let later = today + Duration::days(2);
    let asked = format!("from = {from}, to = {later}");
    match budget.page(from, later, None).await {
        Some(Ok(page)) => fact(
            name,
            "accepted",
            format!("{asked} was answered ({} events listed)", page.events.len()),
        ),
        Some(Err(e @ SourceError::Rejected { .. })) => fact(
            name,
            "refused",
            format!("{asked} was refused: {}", failed(&e)),
        ),
        Some(Err(e)) => fact(name, "unknown", format!("{asked} failed: {}", failed(&e))),
        None => fact(name, "unknown", "no request left"),
    }
}

/// The pages of one query over three complete days (up to the budget left): the order of the
/// times seen, and the day boundaries' offset from UTC that every listed event allows.
async fn order_and_zone<R: ReportSource>(
    budget: &mut Budget<'_, R>,
    today: NaiveDate,
    inclusive: Option<bool>,
) -> (Fact, Fact) {
    let from = today - Duration::days(4);
    let to = today - Duration::days(2);
    let asked = format!("from = {from}, to = {to}");
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut token = None;
    let mut complete = false;
    let mut error = None;
    while let Some(result) = budget.page(from, to, token.take()).await {
        match result {
            Ok(page) => {
                pages += 1;
                seen.extend(times(&page));
                match page.next_page_token.filter(|t| !t.is_empty()) {
                    Some(next) => token = Some(next),
                    None => {
                        complete = true;
                        break;
                    }
                }
            }
            Err(e) => {
                error = Some(failed(&e));
                break;
            }
        }
    }
    let listed = format!(
        "{asked}: {} events on {pages} page{}{}",
        seen.len(),
        if pages == 1 { "" } else { "s" },
        if complete {
            ""
        } else {
            " (not every page asked)"
        }
    );
    let listed = match error {
        Some(e) => format!("{listed}; then {e}"),
        None => listed,
    };
    let last_day = if inclusive == Some(false) {
        to - Duration::days(1)
    } else {
        to
    };
    (
        fact("page order", order_of(&seen), listed.clone()),
        zone_of(&seen, from, last_day, &listed),
    )
}

/// Newest first, oldest first, days ascending (runs of newest first, each run later than the
/// one before: a day each), or other; unknown with fewer than two distinct times.
pub fn order_of(times: &[DateTime<Utc>]) -> String {
    let distinct = times.windows(2).any(|w| w[0] != w[1]);
    if !distinct {
        return "unknown (fewer than two distinct event times listed)".into();
    }
    // Maximal runs in which times do not increase.
    let mut runs: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    let mut run_lengths = Vec::new();
    for &t in times {
        match runs.last_mut() {
            Some((_, oldest)) if t <= *oldest => {
                *oldest = t;
                *run_lengths.last_mut().expect("a run per length") += 1;
            }
            _ => {
                runs.push((t, t));
                run_lengths.push(1usize);
            }
        }
    }
    if runs.len() == 1 {
        return "newest first".into();
    }
    if times.windows(2).all(|w| w[0] <= w[1]) {
        return "oldest first".into();
    }
    let ascending = runs.windows(2).all(|w| w[1].1 > w[0].0);
    let day_long = runs
        .iter()
        .all(|(newest, oldest)| *newest - *oldest < Duration::days(1));
    if ascending && day_long && run_lengths.iter().any(|&n| n > 1) {
        return "days ascending, each day newest first".into();
    }
    "other (neither newest first, oldest first nor days ascending)".into()
}

/// The day boundaries' UTC offset `o` that every event listed for the days `first..=last`
/// allows (Zoom's day `d` is `[d - o, d + 1 day - o)` in UTC): `o >= first - earliest` and
/// `o < last + 1 day - latest`. Named as UTC or `UTC±hh:mm` when the range holds one
/// quarter-hour offset only, or zero among offsets no wider than an hour.
pub fn zone_of(times: &[DateTime<Utc>], first: NaiveDate, last: NaiveDate, listed: &str) -> Fact {
    let name = "day boundary zone";
    let (Some(earliest), Some(latest)) = (times.iter().min(), times.iter().max()) else {
        return fact(name, "unknown", format!("{listed}: no event to place"));
    };
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    let low = midnight(first) - *earliest;
    let high = midnight(last) + Duration::days(1) - *latest;
    let evidence = format!(
        "{listed}; the earliest at {} and the latest at {} put the offset of the day boundaries \
         at or after {} and before {}",
        rfc3339(*earliest),
        rfc3339(*latest),
        offset(low),
        offset(high)
    );
    let quarter = Duration::minutes(15);
    let candidates: Vec<i64> = (-12 * 4..=14 * 4)
        .map(|q| q * 15)
        .filter(|&m| {
            let o = Duration::minutes(m);
            low <= o && o < high
        })
        .collect();
    let value = match candidates.as_slice() {
        [] => "unknown (no zone fits every event)".to_owned(),
        [m] => offset(Duration::minutes(*m)),
        _ if candidates.contains(&0) && high - low <= Duration::hours(1) + quarter => {
            "UTC".to_owned()
        }
        _ => format!(
            "unknown (between {} and {})",
            offset(Duration::minutes(candidates[0])),
            offset(Duration::minutes(candidates[candidates.len() - 1]))
        ),
    };
    fact(name, value, evidence)
}

/// `UTC`, `UTC+05:30`, `UTC-04:00` (seconds dropped toward zero).
fn offset(o: Duration) -> String {
    let minutes = o.num_minutes();
    if minutes == 0 {
        return "UTC".into();
    }
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.abs();
    format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        format!("2026-12-0{s}Z").parse().unwrap()
    }

    #[test]
    fn the_order_is_told_from_the_times_seen() {
        let newest = [t("3T10:00:00"), t("3T09:00:00"), t("2T23:00:00")];
        assert_eq!(order_of(&newest), "newest first");
        let mut oldest = newest;
        oldest.reverse();
        assert_eq!(order_of(&oldest), "oldest first");
        let days = [
            t("2T23:00:00"),
            t("2T01:00:00"),
            t("3T22:00:00"),
            t("3T02:00:00"),
        ];
        assert_eq!(order_of(&days), "days ascending, each day newest first");
        let shuffled = [
            t("3T02:00:00"),
            t("2T01:00:00"),
            t("3T22:00:00"),
            t("1T02:00:00"),
            t("2T23:00:00"),
        ];
        assert!(order_of(&shuffled).starts_with("other"));
        assert!(order_of(&[t("3T02:00:00")]).starts_with("unknown"));
    }

    #[test]
    fn the_zone_is_inferred_only_as_far_as_the_events_allow() {
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let utc = zone_of(&[t("2T00:10:00"), t("3T23:50:00")], day(2), day(3), "q");
        assert_eq!(utc.value, "UTC", "{}", utc.evidence);
        let west = zone_of(&[t("2T05:00:00"), t("4T04:59:00")], day(2), day(3), "q");
        assert_eq!(west.value, "UTC-05:00", "{}", west.evidence);
        let few = zone_of(&[t("2T12:00:00")], day(2), day(3), "q");
        assert!(few.value.starts_with("unknown"), "{}", few.value);
        assert!(
            zone_of(&[], day(2), day(3), "q")
                .value
                .starts_with("unknown")
        );
    }
}
