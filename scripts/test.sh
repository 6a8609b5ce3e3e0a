#!/usr/bin/env bash
# The whole test suite, as CI runs it: checks formatting and lints, starts the real
# servers the tests need (each scripts/ci.d/*.sh installs and starts one and registers
# its cleanup), runs every test of the workspace, then stops everything it started.
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

# Guards first: formatting and lints of the whole workspace. A failure is reported in
# the summary and fails the run, but the tests still run so their results are seen.
guards=0
echo "== cargo fmt --check"
if ! cargo fmt --all --check; then
  echo "cargo fmt: the tree is not formatted (run cargo fmt --all)"
  guards=1
fi
echo "== cargo clippy (workspace, all targets, warnings denied)"
if ! cargo clippy --workspace --all-targets --locked -- -D warnings; then
  echo "cargo clippy: warnings or errors above"
  guards=1
fi

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
guard_note=""
if [[ "$guards" -ne 0 ]]; then guard_note=" (fmt or clippy failed, see above)"; fi
awk -v note="$guard_note" '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d skipped%s\n", p, f, i, note }' \
  "$INQUEST_TEST_TMP/cargo-test.log"
if [[ "$status" -eq 0 && "$guards" -ne 0 ]]; then status=1; fi
exit "$status"
