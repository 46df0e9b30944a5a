#!/usr/bin/env bash
# `make bench`: pulls N events per log type from the simulator in one run with the release binary
# and prints events, pages, objects, wall time and peak memory (max RSS), for several N, to show
# that memory stays flat as the number of events grows. Figures are printed, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
SIM_BIN=${SIM_BIN:-target/release/zoom-sim}
PULL_BIN=${PULL_BIN:-target/release/zoomlogs}
SIZES=${BENCH_SIZES:-"20000 200000 600000"}
source scripts/sim-session.sh
printf '%-10s %-16s %8s %8s %8s %10s %12s\n' events/type log_type events pages objects seconds peak_rss_mb
for n in $SIZES; do
    dir=out/bench/$n
    rm -rf "$dir"
    start_simulator "$dir" --activity-events "$n" --operation-events "$n" --minutes-back 1380
    INITIAL_LOOKBACK_DAYS=1 SETTLE_SECONDS=0 ZOOM_MAX_REQUESTS_PER_SECOND=1000 RUST_LOG=warn \
        /usr/bin/time -f '%e %M' -o "$dir/time" \
        "$PULL_BIN" pull --state-file "$STATE_FILE" --out-dir "$dir/s3" > "$dir/summary.json"
    python3 - "$dir/summary.json" "$n" $(cat "$dir/time") <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
n, seconds, max_rss_kb = sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
for s in summary["log_types"]:
    print(f'{n:<10} {s["log_type"]:<16} {s["events_written"]:>8} {s["pages_fetched"]:>8} '
          f'{s["objects_written"]:>8} {seconds:>10.1f} {max_rss_kb // 1024:>12}')
PY
    kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true
done
