#!/usr/bin/env bash
# `make bench`: figures, never assertions. Two tables, both with the release binaries:
#  1. One run over N events per log type (no latency): events, pages, objects, wall time and peak
#     memory (max RSS), for several N, to show that memory stays flat as the number of events grows.
#  2. Backfills against a slow simulator (page latency with jitter) with a short run time, run after
#     run until every log type is up to date: runs needed, report calls against the minimum
#     (events / 300), peak RSS of any run, CPU seconds per 100,000 events; newest first with the
#     parallel day ranges on and off, a busy account (100,000 events a day per log type) three days
#     behind a Zoom taking 0.5 s a page, then the other orders Zoom might use.
#  3. The late-events re-check for 1,000 and 50,000 events a day: calls of one pass at the defaults
#     (the last 24 hours plus the 960-minute interval), calls a day (1.5 passes), the steady state's
#     calls a day against the minimum (the pull's events / 300 plus the re-checks), and the pass's
#     wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
SIM_BIN=${SIM_BIN:-target/release/zoom-sim}
PULL_BIN=${PULL_BIN:-target/release/zoomlogs}
SIZES=${BENCH_SIZES-"20000 200000 1000000"}
source scripts/sim-session.sh

printf '%-10s %-16s %8s %8s %9s %8s %10s %12s\n' events/type log_type events pages calls/min objects seconds peak_rss_mb
for n in $SIZES; do
    dir=out/bench/$n
    rm -rf "$dir"
    start_simulator "$dir" --activity-events "$n" --operation-events "$n" --minutes-back 1380
    INITIAL_LOOKBACK_DAYS=1 SETTLE_SECONDS=0 ZOOM_MAX_REQUESTS_PER_SECOND=1000 RUST_LOG=warn \
        /usr/bin/time -f '%e %M' -o "$dir/time" \
        "$PULL_BIN" pull --state-file "$STATE_FILE" --out-dir "$dir/s3" > "$dir/summary.json"
    python3 - "$dir/summary.json" "$n" $(cat "$dir/time") <<'PY'
import json, math, sys
summary = json.load(open(sys.argv[1]))
n, seconds, max_rss_kb = sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
for s in summary["log_types"]:
    pages = s["pages_fetched"] + (s["recheck"] or {}).get("pages_fetched", 0)
    print(f'{n:<10} {s["log_type"]:<16} {s["events_written"]:>8} {pages:>8} '
          f'{pages / math.ceil(int(n) / 300):>9.2f} '
          f'{s["objects_written"]:>8} {seconds:>10.1f} {max_rss_kb // 1024:>12}')
PY
    kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true
done

# backfill NAME ORDER CONCURRENT_QUERIES EVENTS_PER_TYPE DAYS LATENCY_MS RUN_SECONDS
backfill() {
    local name=$1 order=$2 concurrent=$3 events=$4 days=$5 latency=$6 run_seconds=$7
    local dir=out/bench/backfill-$name
    rm -rf "$dir"
    start_simulator "$dir" --activity-events "$events" --operation-events "$events" \
        --minutes-back $((days * 1440)) --order "$order" \
        --latency-ms "$latency" --latency-jitter-ms $((latency / 4))
    local reference
    reference=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    for run in $(seq 1 "${BENCH_MAX_RUNS:-60}"); do
        INITIAL_LOOKBACK_DAYS=$((days + 1)) SETTLE_SECONDS=0 ZOOM_MAX_REQUESTS_PER_SECOND=20 RECHECK_HOURS=0 \
            ZOOM_CONCURRENT_QUERIES="$concurrent" RUST_LOG=warn \
            /usr/bin/time -f '%e %M %U %S' -o "$dir/time-$run" \
            "$PULL_BIN" pull --state-file "$STATE_FILE" --out-dir "$dir/s3" \
            --reference-time "$reference" --run-seconds "$run_seconds" > "$dir/summary-$run.json"
        python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(any(t["stopped_early"] for t in s["log_types"]))' \
            "$dir/summary-$run.json" && break
    done
    python3 - "$dir" "$name" "$events" <<'PY'
import glob, json, math, sys
folder, name, events = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = sorted(glob.glob(f"{folder}/summary-*.json"))
calls = written = 0
for path in runs:
    for s in json.load(open(path))["log_types"]:
        calls += s["pages_fetched"]
        written += s["events_written"]
times = [open(p).read().split() for p in glob.glob(f"{folder}/time-*")]
peak_mb = max(int(t[1]) for t in times) // 1024
cpu = sum(float(t[2]) + float(t[3]) for t in times)
minimum = 2 * math.ceil(events / 300)
print(f'{name:<22} {len(runs):>5} {written:>9} {calls:>7} {calls / minimum:>10.2f} '
      f'{peak_mb:>12} {cpu * 100_000 / max(written, 1):>14.2f}')
PY
    kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true
}

echo
printf '%-22s %5s %9s %7s %10s %12s %14s\n' backfill runs events calls calls/min peak_rss_mb cpu_s/100k
backfill newest-first newest-first 4 150000 5 200 10
# The biggest customer: 100,000 events a day per log type, three days behind, 0.5 s a page.
backfill busy-3-days-500ms newest-first 4 300000 3 500 30
backfill newest-first-serial newest-first 1 150000 5 200 10
for order in oldest-first days-ascending shuffled; do
    backfill "$order" "$order" 4 15000 3 200 20
done

# recheck EVENTS_PER_DAY
recheck() {
    local per_day=$1
    local dir=out/bench/recheck-$per_day
    rm -rf "$dir"
    start_simulator "$dir" --activity-events $((per_day * 2)) --operation-events 0 --minutes-back 2880
    local reference
    reference=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    LOG_TYPES=Zoom.Activity INITIAL_LOOKBACK_DAYS=3 SETTLE_SECONDS=0 RECHECK_HOURS=0 RUST_LOG=warn \
        ZOOM_MAX_REQUESTS_PER_SECOND=1000 "$PULL_BIN" pull --state-file "$STATE_FILE" \
        --out-dir "$dir/s3" --reference-time "$reference" > /dev/null
    LOG_TYPES=Zoom.Activity SETTLE_SECONDS=0 RECHECK_HOURS=24 RECHECK_INTERVAL_MINUTES=960 RUST_LOG=warn \
        ZOOM_MAX_REQUESTS_PER_SECOND=1000 /usr/bin/time -f '%e' -o "$dir/time" \
        "$PULL_BIN" pull --state-file "$STATE_FILE" --out-dir "$dir/s3" \
        --reference-time "$reference" > "$dir/summary.json"
    python3 - "$dir/summary.json" "$per_day" "$(cat "$dir/time")" <<'PY'
import json, math, sys
s = json.load(open(sys.argv[1]))["log_types"][0]["recheck"]
per_day, seconds = int(sys.argv[2]), float(sys.argv[3])
per_day_calls = s["pages_fetched"] * 24 * 60 / 960
# Steady state a day: the pull's minimum (events / 300) plus 1.5 re-checks, against the minimum.
minimum = math.ceil(per_day / 300)
print(f'{per_day:<14} {s["pages_fetched"]:>12} {per_day_calls:>14.0f} '
      f'{(minimum + per_day_calls) / minimum:>14.2f} {s["late_events"]:>11} {seconds:>9.1f}')
PY
    kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true
}

echo
printf '%-14s %12s %14s %14s %11s %9s\n' recheck/day calls/pass calls/day@960m steady/min late_found seconds
recheck 1000
recheck 50000
