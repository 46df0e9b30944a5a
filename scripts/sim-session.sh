# Sourced by demo.sh and bench.sh: starts the Zoom simulator with the given flags, waits for its
# address, writes a state file for a freshly authorized user app, and stops the simulator on exit.
# Sets SIM_URL and STATE_FILE.
start_simulator() {
    local workdir=$1; shift
    mkdir -p "$workdir"
    rm -f "$workdir/sim.out"
    "$SIM_BIN" --refresh-token-file "$workdir/refresh-token" "$@" > "$workdir/sim.out" &
    SIM_PID=$!
    trap 'kill $SIM_PID 2>/dev/null || true' EXIT
    for _ in $(seq 1 600); do
        SIM_URL=$(sed -n 's/^zoom-sim listening on //p' "$workdir/sim.out")
        [ -n "$SIM_URL" ] && break
        sleep 0.1
    done
    [ -n "$SIM_URL" ] || { echo "the simulator did not start" >&2; exit 1; }
    STATE_FILE="$workdir/state.json"
    printf '{"client_id":"sim-client-id","client_secret":"sim-client-secret","refresh_token":"%s"}\n' \
        "$(cat "$workdir/refresh-token")" > "$STATE_FILE"
    export ZOOM_API_URL="$SIM_URL/v2" ZOOM_OAUTH_URL="$SIM_URL/oauth/token"
}
