# Browser end-to-end test: Debian's chromium driven by playwright-core
# from npm, installed into a cache dir. Exports INQUEST_E2E_CHROMIUM and
# INQUEST_E2E_NODE_MODULES for crates/inquest/tests/it/e2e.rs.
inquest_e2e_setup() {
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/inquest/e2e"
  if ! command -v chromium >/dev/null 2>&1; then
    # A plain shell variable, not exported: an exported INQUEST_* variable would be
    # read (and refused as an unknown setting) by every inquest the tests start.
    if [ -z "${_inquest_apt_updated:-}" ]; then apt-get update -qq && _inquest_apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || return 1
  fi
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "node/npm not found"; return 1; }
  if [ ! -d "$cache/node_modules/playwright-core" ]; then
    mkdir -p "$cache"
    (cd "$cache" && npm install --no-audit --no-fund --silent playwright-core@1 >/dev/null) || return 1
  fi
  export INQUEST_E2E_CHROMIUM="$(command -v chromium)"
  export INQUEST_E2E_NODE_MODULES="$cache/node_modules"
  echo "browser e2e: $INQUEST_E2E_CHROMIUM, playwright-core in $INQUEST_E2E_NODE_MODULES"
}
if ! inquest_e2e_setup; then
  echo "browser e2e setup failed"
  if [ "${CI:-}" = "true" ]; then return 1; fi
fi
