#!/usr/bin/env bash
# The whole test suite, as CI runs it: starts the real servers the tests need
# (each scripts/ci.d/*.sh installs and starts one and registers its cleanup),
# runs every test of the workspace, then stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

CLEANUP=()
cleanup() {
  local i
  for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do eval "${CLEANUP[$i]}" || true; done
}
trap cleanup EXIT
# A scratch folder for servers and their data, removed at the end.
INQUEST_TEST_TMP=$(mktemp -d /tmp/inquest-test.XXXXXX)
chmod 755 "$INQUEST_TEST_TMP"
CLEANUP+=("rm -rf '$INQUEST_TEST_TMP'")
export INQUEST_TEST_TMP

shopt -s nullglob
for setup in scripts/ci.d/*.sh; do
  echo "== setup: $setup"
  # shellcheck source=/dev/null
  source "$setup"
done

echo "== cargo test (workspace)"
# errexit off around the pipeline: a failing test must still reach the summary line.
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$INQUEST_TEST_TMP/cargo-test.log"
status=${PIPESTATUS[0]}
set -e
# One summary line for the whole run, summed over every test binary.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d skipped\n", p, f, i }' \
  "$INQUEST_TEST_TMP/cargo-test.log"
exit "$status"
