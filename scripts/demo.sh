#!/usr/bin/env bash
# The main job, end to end on one machine: build zvhd, start a local
# federation of three ZVH regions with fresh CURVE keys, include a case in
# Groningen, move it to Drenthe (warm handover, no new inclusion), work it
# jointly, end the joint phase, and stop every daemon cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target zvhd zvhctl

ZVHD=$ROOT/build/zvhd
ZVHCTL=$ROOT/build/zvhctl
DEMO=$(mktemp -d /tmp/zvh-demo.XXXXXX)
REGIONS=(groningen drenthe utrecht)
PIDS=()

stop_all() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ctl() { local region=$1; shift; echo "\$ zvhctl -c $region/zvhd.cfg $*"; "$ZVHCTL" -c "$DEMO/$region/zvhd.cfg" "$@"; }
# Poll (never sleep blindly) until a case reaches a state in a region.
wait_state() {
    local region=$1 case_id=$2 state=$3
    for _ in $(seq 100); do
        "$ZVHCTL" -c "$DEMO/$region/zvhd.cfg" case show "$case_id" 2>/dev/null \
            | grep -q "^case $case_id: $state" && return 0
        sleep 0.1
    done
    echo "demo: $case_id did not reach $state in $region" >&2
    return 1
}

step "A local federation: ${REGIONS[*]} (keys and configs in $DEMO)"
python3 scripts/make-federation.py "$DEMO" --zvhctl "$ZVHCTL" \
    --regions "$(IFS=,; echo "${REGIONS[*]}")"
for region in "${REGIONS[@]}"; do
    "$ZVHD" --check-config "$DEMO/$region/zvhd.cfg"
    "$ZVHD" -c "$DEMO/$region/zvhd.cfg" 2>"$DEMO/$region/zvhd.log" &
    PIDS+=($!)
done
for _ in $(seq 100); do
    "$ZVHCTL" -c "$DEMO/groningen/zvhd.cfg" status 2>/dev/null | grep -q "drenthe .* up" && break
    sleep 0.1
done
ctl groningen status

step "Groningen includes a case with its life-course plan (inclusion decided at the table)"
ctl groningen case include config/example-plan.json --case zvh-demo-0001

step "The client moves: Groningen starts a warm handover to Drenthe"
ctl groningen case move zvh-demo-0001 --to drenthe
wait_state drenthe zvh-demo-0001 joint_target
wait_state groningen zvh-demo-0001 joint_source

step "Drenthe has the case and the same plan, byte for byte, and follows it (no new inclusion)"
ctl drenthe case show zvh-demo-0001
"$ZVHCTL" -c "$DEMO/drenthe/zvhd.cfg" --json case show zvh-demo-0001 --plan \
    | python3 -c 'import json,sys; p=json.load(sys.stdin)["plan"]; print("  inclusion:", p["inclusion"]); print("  summary:  ", p["summary"][:90])'
ctl groningen case show zvh-demo-0001

step "Joint phase: Groningen edits the plan; Drenthe (the owner) makes it version 2 and sends it back"
sed 's/"summary": "/"summary": "Joint phase: first case meeting held together. /' \
    config/example-plan.json > "$DEMO/plan-v2.json"
ctl groningen plan update zvh-demo-0001 "$DEMO/plan-v2.json"
for _ in $(seq 100); do
    "$ZVHCTL" -c "$DEMO/groningen/zvhd.cfg" case show zvh-demo-0001 | grep -q "plan v2" && break
    sleep 0.1
done
ctl drenthe case show zvh-demo-0001
ctl groningen case show zvh-demo-0001

step "Drenthe ends the joint phase: Groningen keeps only a tombstone"
ctl drenthe case complete zvh-demo-0001
wait_state groningen zvh-demo-0001 tombstone
ctl groningen case show zvh-demo-0001
ctl drenthe status

step "Stopping every daemon cleanly"
stop_all
trap - EXIT
echo "demo: done; logs in $DEMO/<region>/zvhd.log"
