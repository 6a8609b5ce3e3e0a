# ClickHouse for the tests: the real ClickHouse engine (chDB, PyPI `chdb-core`)
# behind scripts/chdb_front.py, a small HTTP front speaking the part of
# ClickHouse's HTTP interface the `clickhouse` crate uses. Sourced by
# scripts/test.sh; exports INQUEST_TEST_CLICKHOUSE_URL unless it already names a
# real server, and registers the front's stop in CLEANUP.

_ch_fail() {
  echo "clickhouse setup: $*" >&2
  if [ "${CI:-}" = "true" ]; then return 1; fi
  echo "clickhouse setup: the ClickHouse tests will skip" >&2
  unset INQUEST_TEST_CLICKHOUSE_URL
  return 0
}

_ch_setup() {
  if [ -n "${INQUEST_TEST_CLICKHOUSE_URL:-}" ]; then
    echo "clickhouse: using INQUEST_TEST_CLICKHOUSE_URL from the environment"
    return 0
  fi
  if ! command -v python3 >/dev/null 2>&1; then
    echo "clickhouse: installing python3"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null; } \
      || { _ch_fail "cannot install python3"; return; }
  fi
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/inquest"
  local venv="$cache/chdb-venv"
  if ! "$venv/bin/python" -c 'import chdb' >/dev/null 2>&1; then
    echo "clickhouse: installing chdb-core into $venv (about 30 s, once)"
    mkdir -p "$cache"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      # Debian ships venv support (ensurepip) separately.
      rm -rf "$venv"
      echo "clickhouse: installing python3-venv"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; } \
        || { _ch_fail "cannot install python3-venv"; return; }
      python3 -m venv "$venv" || { _ch_fail "cannot create a python venv in $venv"; return; }
    fi
    "$venv/bin/pip" install -q chdb-core || { _ch_fail "pip install chdb-core failed"; return; }
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  local dir="${INQUEST_TEST_TMP:-$(mktemp -d)}/chdb"
  mkdir -p "$dir"
  "$venv/bin/python" scripts/chdb_front.py "$port" "$dir/data" >"$dir/front.log" 2>&1 &
  local pid=$!
  CLEANUP+=("kill $pid 2>/dev/null; wait $pid 2>/dev/null || true")
  local i
  for i in $(seq 1 100); do
    if python3 -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:$port/ping', timeout=1).read() == b'Ok.\n' else 1)" 2>/dev/null; then
      export INQUEST_TEST_CLICKHOUSE_URL="http://127.0.0.1:$port"
      echo "clickhouse: chDB front (pid $pid) on $INQUEST_TEST_CLICKHOUSE_URL"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.2
  done
  cat "$dir/front.log" >&2
  _ch_fail "the chDB front did not answer /ping"
}

_ch_setup
