#!/usr/bin/env bash
# demo.sh -- set up, build, and run logtap's main job: a collector on the
# embedded store, the sample runner app serving concurrent requests under the
# preload, then its runner logs and each request's logs, and who may see
# them: the app's owner sees everything, the caller of a request of an app
# with private logs gets an empty list.
#
#   scripts/demo.sh [--keep]
#
# --keep leaves the collector running afterwards (its address is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
case "${1:-}" in
  --keep) keep=1 ;;
  -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "demo.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
esac

scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
meson compile -C build >/dev/null

work=$(mktemp -d /tmp/logtap-demo-XXXXXX)
endpoint="ipc://$work/ingest.sock"
mkdir -p "$work/rings"
build/logtap-collector --listen "$endpoint" --http 127.0.0.1:0 --data "$work/data" \
  --rings "$work/rings" 2>"$work/collector.log" &
collector=$!
stop_collector() { kill -TERM "$collector" 2>/dev/null && wait "$collector" 2>/dev/null || true; }
[ "$keep" = 1 ] || trap stop_collector EXIT
for _ in $(seq 100); do [ -f "$work/data/collector.json" ] && break; sleep 0.05; done
server=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$work/data/collector.json")
export LOGTAP_SERVER="$server" LOGTAP_ENDPOINT="$endpoint" LOGTAP_RING_DIR="$work/rings"
runner="demo-$(date +%H%M%S)"

# Headings in bold on a terminal only: piped into a file or a pager, the
# output stays plain text.
if [ -t 1 ]; then
    bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    bold() { printf '\n== %s\n' "$*"; }
fi
bold "collector: ingest $endpoint, HTTP $server, store $work/data"
bold "runner $runner: the sample app's own terminal output"
build/logtap run --quiet --runner "$runner" --app sample-app --version v1 -- \
  python3 examples/runner_app.py --requests 6 --workers 3 --ids-file "$work/ids" --caller bob

sleep 0.2  # the collector commits every 10 ms; give the last lines a moment
bold "runner logs: logtap runners logs $runner"
build/logtap runners logs "$runner"
while read -r id; do
  bold "request logs: logtap requests logs $id"
  build/logtap requests logs "$id"
done < "$work/ids"
first=$(head -n1 "$work/ids")
bold "queue status with logs: logtap requests status $first --logs"
build/logtap requests status "$first" --logs

bold "access: sample-app deployed for alice with private logs; bob called every request"
alice=$(build/logtap tokens create --user alice --label demo)
bob=$(build/logtap tokens create --user bob --label demo)
build/logtap apps deploy sample-app --owner alice --private-logs
bold "bob, the caller, polls $first: its status, and no logs (private)"
build/logtap --token "$bob" requests status "$first" --logs
bold "alice, the owner, reads $first's logs"
build/logtap --token "$alice" requests logs "$first"
bold "bob asks for the runner's logs (owner only)"
build/logtap --token "$bob" runners logs "$runner" || echo "(exit status $?: not found, as for an unknown runner)"

if [ "$keep" = 1 ]; then
  bold "collector still running (pid $collector): export LOGTAP_SERVER=$server"
  echo "dashboard: $server/ui/ (sign in with the admin token in $work/data/admin.token)"
fi
