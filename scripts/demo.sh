#!/usr/bin/env bash
# `make demo`: a local Zoom simulator, one pull into a local folder with a local state file, and a
# look at what was written. Nothing leaves this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
SIM_BIN=${SIM_BIN:-target/debug/zoom-sim}
PULL_BIN=${PULL_BIN:-target/debug/zoomlogs}
OUT=out/demo
rm -rf "$OUT"
source scripts/sim-session.sh
start_simulator "$OUT" --activity-events 800 --operation-events 300 --minutes-back 2880
echo "== Zoom simulator at $SIM_URL, 800 activity and 300 operation events over the last 2 days"

echo "== zoomlogs pull --state-file $OUT/state.json --out-dir $OUT/s3"
INITIAL_LOOKBACK_DAYS=1 RUST_LOG=${RUST_LOG:-warn} \
    "$PULL_BIN" pull --state-file "$STATE_FILE" --out-dir "$OUT/s3"

echo "== objects written (as they would be in S3)"
find "$OUT/s3" -type f | sort | head -n 12
echo "   ... $(find "$OUT/s3" -name '*.json.gz' | wc -l) objects in all"
for type in Zoom.Activity Zoom.Operation; do
    echo "== $type: $(find "$OUT/s3/zoom/$type" -name '*.json.gz' -exec zcat {} + | wc -l) events; one of them:"
    find "$OUT/s3/zoom/$type" -name '*.json.gz' | head -n 1 | xargs zcat | head -n 1
done
echo "== the state file now holds the rotated refresh token, the access token and the cursors"
sed -E 's/("(refresh_token|access_token|client_secret)": ")[^"]*/\1[redacted]/' "$STATE_FILE"; echo
echo "== run it again: nothing new is written until new events settle"
INITIAL_LOOKBACK_DAYS=1 RUST_LOG=warn "$PULL_BIN" pull --state-file "$STATE_FILE" --out-dir "$OUT/s3" \
    | grep -E '"(log_type|events_written)"'
