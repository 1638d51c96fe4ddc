#!/usr/bin/env bash
# test.sh -- set up and run every logtap test, as CI does.
#
#   scripts/test.sh [--quick]
#
# Builds four trees and runs the suites in each:
#   build-ci    warnings are errors; every test
#   build-asan  AddressSanitizer + UndefinedBehaviorSanitizer; every test (the
#               preload runs inside Python with the ASan runtime preloaded)
#   build-tsan  ThreadSanitizer; the threaded parts: unit tests, and the
#               end-to-end tests against a TSan collector (the CLI suite,
#               which execs uninstrumented programs, and the volume suite,
#               gigabytes a TSan collector cannot take in time, are left to
#               the others)
#   build-fuzz  clang-14, libFuzzer + ASan + UBSan; the 'fuzz' suite: each
#               harness of test/fuzz/ for a short smoke run (scripts/fuzz.sh
#               runs them longer)
# --quick runs build-ci only.
# Ends with one line "N passed, N failed[, N skipped]" counted from meson's
# test logs, and exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0
case "${1:-}" in
  --quick) quick=1 ;;
  -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "test.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
esac

scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
scripts/install-browser-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
scripts/install-otlp-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

logs=()
setup_failures=0

# build DIR MESON_ARGS...
build() {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" --werror "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
  fi
  meson compile -C "$dir" >"$dir.compile.log" 2>&1 || { cat "$dir.compile.log"; return 1; }
}

# run DIR [meson test args...]
run() {
  local dir=$1; shift
  echo "== meson test -C $dir $*"
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --no-rebuild --print-errorlogs "$@"
  logs+=("$dir/meson-logs/testlog.json")
}

if build build-ci; then
  run build-ci
else
  echo "test.sh: build-ci failed to build"; setup_failures=$((setup_failures + 1))
fi

if [ "$quick" = 0 ]; then
  asan_rt=$(gcc -print-file-name=libasan.so)
  if build build-asan -Db_sanitize=address,undefined -Db_lundef=false; then
    LOGTAP_TEST_PRELOAD="$asan_rt $PWD/build-asan/liblogtap.so" \
    LOGTAP_TEST_RUNNER_ASAN_OPTIONS="detect_leaks=0:verify_asan_link_order=0:handle_segv=0" \
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
      run build-asan --timeout-multiplier 3
  else
    echo "test.sh: build-asan failed to build"; setup_failures=$((setup_failures + 1))
  fi
  if build build-tsan -Db_sanitize=thread; then
    LOGTAP_TEST_PRELOAD="$PWD/build-ci/liblogtap.so" \
    LOGTAP_TEST_NATIVE_PRELOAD="$PWD/build-tsan/liblogtap.so" \
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/test/tsan.supp" \
      run build-tsan --timeout-multiplier 3 --no-suite cli --no-suite volume
  else
    echo "test.sh: build-tsan failed to build"; setup_failures=$((setup_failures + 1))
  fi
  if CC=clang-14 build build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false; then
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
      run build-fuzz --suite fuzz
  else
    echo "test.sh: build-fuzz failed to build"; setup_failures=$((setup_failures + 1))
  fi
fi

python3 - "$setup_failures" "${logs[@]}" <<'PY'
import json, sys
setup_failures = int(sys.argv[1])
passed = failed = skipped = 0
for path in sys.argv[2:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        print("test.sh: no test log at %s" % path)
        failed += 1
        continue
    for line in lines:
        result = json.loads(line).get("result")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
failed += setup_failures
summary = "%d passed, %d failed" % (passed, failed)
if skipped:
    summary += ", %d skipped" % skipped
print(summary)
sys.exit(1 if failed or passed == 0 else 0)
PY
