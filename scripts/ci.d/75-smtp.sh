# A real SMTP server for the notification tests: PyPI aiosmtpd in a venv under
# $INQUEST_TEST_TMP, listening on a free loopback port and writing every message it
# receives into a Maildir (its `Mailbox` handler). Exports INQUEST_TEST_SMTP
# (host:port) and INQUEST_TEST_SMTP_DIR (the Maildir); registers the stop in CLEANUP.
# Sourced by scripts/test.sh: no `exit`; on failure `return 1` under CI=true.

_smtp_fail() {
  echo "smtp setup: $*" >&2
  unset INQUEST_TEST_SMTP INQUEST_TEST_SMTP_DIR
  if [ "${CI:-}" = "true" ]; then return 1; fi
  echo "smtp setup: the SMTP test will skip" >&2
  return 0
}

_smtp_setup() {
  # An array of quoted specifiers: test.sh sets nullglob.
  local packages=("aiosmtpd==1.*")
  local dir="${INQUEST_TEST_TMP:-$(mktemp -d)}/smtp"
  local venv="$dir/venv"
  mkdir -p "$dir"
  if ! command -v python3 >/dev/null 2>&1; then
    echo "smtp: installing python3"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null; } \
      || { _smtp_fail "cannot install python3"; return; }
  fi
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    echo "smtp: installing python3-venv"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; } \
      || { _smtp_fail "cannot install python3-venv"; return; }
    python3 -m venv "$venv" || { _smtp_fail "cannot create a python venv in $venv"; return; }
  fi
  "$venv/bin/pip" install -q "${packages[@]}" || { _smtp_fail "pip install of ${packages[*]} failed"; return; }
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 30000))
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
  done
  local maildir="$dir/maildir"
  "$venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$maildir" \
    >"$dir/server.log" 2>&1 &
  local pid=$!
  CLEANUP+=("kill $pid 2>/dev/null || true")
  local up=""
  for _ in $(seq 50); do
    if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$up" ]; then
    tail -n 20 "$dir/server.log" >&2
    _smtp_fail "aiosmtpd did not listen on 127.0.0.1:$port"
    return
  fi
  export INQUEST_TEST_SMTP="127.0.0.1:$port"
  export INQUEST_TEST_SMTP_DIR="$maildir"
  echo "smtp: aiosmtpd $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("aiosmtpd"))' 2>&1) on 127.0.0.1:$port, mail in $maildir"
  return 0
}
_smtp_setup
