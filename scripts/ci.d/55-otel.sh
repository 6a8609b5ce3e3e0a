# The OpenTelemetry Python SDK with its OTLP/HTTP protobuf exporter (PyPI
# opentelemetry-sdk, opentelemetry-exporter-otlp-proto-http), which the binary's
# traces test uses to send real spans to `inquest serve`. Installed once into a
# venv under ~/.cache/inquest; exports INQUEST_TEST_OTEL_PYTHON (the venv's python).
# Starts nothing.
# Sourced by scripts/test.sh: no `exit`; on failure `return 1` under CI=true.

_otel_fail() {
  echo "otel setup: $*" >&2
  if [ "${CI:-}" = "true" ]; then return 1; fi
  echo "otel setup: the OpenTelemetry SDK test will skip" >&2
  unset INQUEST_TEST_OTEL_PYTHON
  return 0
}

_otel_setup() {
  # The SDK and the exporter are released together, in step.
  # An array of quoted specifiers: test.sh sets nullglob, so an unquoted `==1.*` would
  # expand to nothing.
  local packages=("opentelemetry-sdk==1.*" "opentelemetry-exporter-otlp-proto-http==1.*")
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/inquest"
  local venv="$cache/otel-venv"
  if ! command -v python3 >/dev/null 2>&1; then
    echo "otel: installing python3"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null; } \
      || { _otel_fail "cannot install python3"; return; }
  fi
  if ! "$venv/bin/python" -c "import opentelemetry.sdk.trace, opentelemetry.exporter.otlp.proto.http.trace_exporter" >/dev/null 2>&1; then
    echo "otel: installing ${packages[*]} into $venv (once)"
    mkdir -p "$cache"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      rm -rf "$venv"
      echo "otel: installing python3-venv"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; } \
        || { _otel_fail "cannot install python3-venv"; return; }
      python3 -m venv "$venv" || { _otel_fail "cannot create a python venv in $venv"; return; }
    fi
    "$venv/bin/pip" install -q "${packages[@]}" || { _otel_fail "pip install of ${packages[*]} failed"; return; }
  fi
  export INQUEST_TEST_OTEL_PYTHON="$venv/bin/python"
  echo "otel: opentelemetry-sdk $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("opentelemetry-sdk"))' 2>&1)"
  return 0
}
_otel_setup
