# Sourced by scripts/test.sh: a throwaway PostgreSQL cluster (Debian's package) on a
# free loopback port, for the Postgres adapter's tests. Exports
# INQUEST_TEST_POSTGRES_URL and registers `pg_ctl stop` in CLEANUP.

pg_hook() {
  local fail=0
  [[ "${CI:-}" == "true" ]] && fail=1
  local bindir
  # `|| true`: test.sh runs with `set -e -o pipefail`, and ls fails when none is installed.
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z "$bindir" || ! -x "$bindir/initdb" ]]; then
    echo "postgres: installing Debian's postgresql"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }; then
      echo "postgres: could not install postgresql; the Postgres tests will skip"
      return "$fail"
    fi
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  fi
  local dir="${INQUEST_TEST_TMP:-$(mktemp -d)}/postgres"
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  chmod 700 "$dir"
  local port
  # A port nobody answers on (bash's /dev/tcp: no python needed).
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 30000))
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
  done
  if ! runuser -u postgres -- "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust >"$dir/initdb.log" 2>&1; then
    echo "postgres: initdb failed:"; tail -n 20 "$dir/initdb.log"
    return "$fail"
  fi
  if ! runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null; then
    echo "postgres: server did not start:"; tail -n 20 "$dir/server.log"
    return "$fail"
  fi
  CLEANUP+=("runuser -u postgres -- '$bindir/pg_ctl' -D '$dir/data' -m fast -w stop >/dev/null")
  export INQUEST_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "postgres: $("$bindir/postgres" --version) on 127.0.0.1:$port"
}

pg_hook || return 1
