# Schemathesis (PyPI), the API fuzzer the binary's fuzz test runs against the
# OpenAPI document of a real `inquest serve`, with a valid owner token. Installed
# once into a venv under ~/.cache/inquest; exports INQUEST_TEST_SCHEMATHESIS (the
# executable). Starts nothing.
# Sourced by scripts/test.sh: no `exit`; on failure `return 1` under CI=true.

_schemathesis_fail() {
  echo "schemathesis setup: $*" >&2
  if [ "${CI:-}" = "true" ]; then return 1; fi
  echo "schemathesis setup: the API fuzz test will skip" >&2
  unset INQUEST_TEST_SCHEMATHESIS
  return 0
}

_schemathesis_setup() {
  # The major version the fuzz test's command line is written for.
  local package="schemathesis==4.*"
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/inquest"
  local venv="$cache/schemathesis-venv"
  if ! command -v python3 >/dev/null 2>&1; then
    echo "schemathesis: installing python3"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null; } \
      || { _schemathesis_fail "cannot install python3"; return; }
  fi
  if [ ! -x "$venv/bin/schemathesis" ]; then
    echo "schemathesis: installing $package into $venv (once)"
    mkdir -p "$cache"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      rm -rf "$venv"
      echo "schemathesis: installing python3-venv"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; } \
        || { _schemathesis_fail "cannot install python3-venv"; return; }
      python3 -m venv "$venv" || { _schemathesis_fail "cannot create a python venv in $venv"; return; }
    fi
    "$venv/bin/pip" install -q "$package" || { _schemathesis_fail "pip install of $package failed"; return; }
  fi
  export INQUEST_TEST_SCHEMATHESIS="$venv/bin/schemathesis"
  echo "schemathesis: $("$venv/bin/schemathesis" --version 2>&1 | head -1)"
  return 0
}
_schemathesis_setup
