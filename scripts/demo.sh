#!/usr/bin/env bash
# demo.sh -- set up, build, and run logtap's main job: a collector on the
# embedded store, the sample runner app serving concurrent requests under the
# preload, then its runner logs and each request's logs (with the CLI and
# with the Python client), and who may see them: the app's owner sees
# everything, the caller of a request of an app with private logs gets an
# empty list.
#
#   scripts/demo.sh [--keep] [--build DIR]
#
# --keep       leave the collector and its directory behind afterwards (how
#              to reach and stop them is printed)
# --build DIR  the meson build directory to use (default: build; set up
#              there if it is not one yet)
#
# A guest on the machine: it installs only the packages building and running
# need (scripts/install-deps.sh --build), keeps the collector's data, its
# credentials file and the runners' rings in one temporary directory of its
# own, removes it at the end (unless --keep), passes tokens through the
# environment, and keeps meson's output in a log shown only on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1 ;;
    --build)
      [ $# -ge 2 ] && [ -n "$2" ] || { echo "demo.sh: --build needs a directory" >&2; exit 2; }
      build=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-deps.sh --build

work=$(mktemp -d "${TMPDIR:-/tmp}/logtap-demo.XXXXXX")
collector=""
cleanup() {
  local status=$?
  if [ "$keep" = 1 ] && [ "$status" = 0 ]; then
    return
  fi
  if [ -n "$collector" ]; then
    kill -TERM "$collector" 2>/dev/null && wait "$collector" 2>/dev/null || true
  fi
  if [ "$status" != 0 ] && [ -s "$work/collector.log" ]; then
    echo "demo.sh: failed; the collector's log:" >&2
    tail -n 20 "$work/collector.log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# meson and ninja draw progress lines: into a log, shown only on failure.
quietly() {
  "$@" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; echo "demo.sh: failed: $*" >&2; return 1; }
}
if [ ! -f "$build/build.ninja" ]; then
  echo "demo.sh: setting up $build (meson setup)"
  quietly meson setup "$build"
fi
echo "demo.sh: building in $build (meson compile)"
quietly meson compile -C "$build"
logtap="$build/logtap"

endpoint="ipc://$work/ingest.sock"
mkdir -p "$work/rings"
# The collector's admin token goes to a credentials file of the demo's own,
# never to the user's ~/.config/logtap/credentials; the CLI reads it from
# there through LOGTAP_CREDENTIALS.
"$build/logtap-collector" --listen "$endpoint" --http 127.0.0.1:0 --data "$work/data" \
  --rings "$work/rings" --credentials "$work/credentials" 2>"$work/collector.log" &
collector=$!
for _ in $(seq 200); do
  [ -f "$work/data/collector.json" ] && break
  kill -0 "$collector" 2>/dev/null || { echo "demo.sh: the collector did not start" >&2; exit 1; }
  sleep 0.05
done
server=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$work/data/collector.json")
export LOGTAP_SERVER="$server" LOGTAP_CREDENTIALS="$work/credentials"
export LOGTAP_ENDPOINT="$endpoint" LOGTAP_RING_DIR="$work/rings"
unset LOGTAP_TOKEN
runner="demo-$(date +%H%M%S)"

# Headings in bold on a terminal only: piped into a file or a pager, the
# output stays plain text.
if [ -t 1 ]; then
    bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    bold() { printf '\n== %s\n' "$*"; }
fi
bold "collector: ingest $endpoint, HTTP $server, store $work/data"
bold "runner $runner: the sample app's own terminal output (it does 'import logtap')"
"$logtap" run --quiet --runner "$runner" --app sample-app --version v1 -- \
  python3 examples/runner_app.py --requests 6 --workers 3 --ids-file "$work/ids" --caller bob

sleep 0.2  # the collector commits every 10 ms; give the last lines a moment
bold "runner logs: logtap runners logs $runner"
"$logtap" runners logs "$runner"
while read -r id; do
  bold "request logs: logtap requests logs $id"
  "$logtap" requests logs "$id"
done < "$work/ids"
first=$(head -n1 "$work/ids")
bold "queue status with logs: logtap requests status $first --logs"
"$logtap" requests status "$first" --logs
bold "the same from Python: logtap.client.status('$first', with_logs=True)"
PYTHONPATH="$PWD/bindings/python${PYTHONPATH:+:$PYTHONPATH}" python3 examples/client_status.py "$first"

bold "access: sample-app deployed for alice with private logs; bob called every request"
alice=$("$logtap" tokens create --user alice --label demo)
bob=$("$logtap" tokens create --user bob --label demo)
"$logtap" apps deploy sample-app --owner alice --private-logs
bold "bob, the caller, polls $first: its status, and no logs (private)"
LOGTAP_TOKEN="$bob" "$logtap" requests status "$first" --logs
bold "alice, the owner, reads $first's logs"
LOGTAP_TOKEN="$alice" "$logtap" requests logs "$first"
bold "bob asks for the runner's logs (owner only)"
LOGTAP_TOKEN="$bob" "$logtap" runners logs "$runner" || echo "(exit status $?: not found, as for an unknown runner)"

if [ "$keep" = 1 ]; then
  bold "collector still running (pid $collector), its files in $work"
  echo "export LOGTAP_SERVER=$server LOGTAP_CREDENTIALS=$work/credentials"
  echo "export LOGTAP_ENDPOINT=$endpoint LOGTAP_RING_DIR=$work/rings"
  echo "dashboard: $server/ui/ (sign in with the admin token in $work/data/admin.token)"
  echo "afterwards: kill $collector; rm -rf $work"
fi
