# Alert ingestion: Debian's prometheus-alertmanager and prometheus.
# The tests start them themselves (free loopback ports, config in a temp dir,
# gossip disabled) and kill them by PID, so this hook only installs them and
# exports their paths: INQUEST_TEST_ALERTMANAGER_BIN, INQUEST_TEST_PROMETHEUS_BIN.
# Sourced by scripts/test.sh: no `exit`; on failure `return 1` under CI=true.

_inquest_alerting_setup() {
  local am=/usr/bin/prometheus-alertmanager prom=/usr/bin/prometheus
  if [[ ! -x $am || ! -x $prom ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      echo "installing prometheus-alertmanager and prometheus (apt-get)"
      # Installing must not start the packaged services on their default public ports.
      local policy_rc=/usr/sbin/policy-rc.d created_policy=0
      if [[ ! -e $policy_rc ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy_rc" && chmod 755 "$policy_rc" && created_policy=1
      fi
      local rc=0
      if ! { apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-alertmanager prometheus >/dev/null; }; then
        rc=1
      fi
      [[ $created_policy -eq 1 ]] && rm -f "$policy_rc"
      if [[ $rc -ne 0 ]]; then
        echo "apt-get install of prometheus-alertmanager/prometheus failed" >&2
      fi
    else
      echo "prometheus-alertmanager/prometheus not installed and cannot apt-get install them (not root or no apt-get)" >&2
    fi
  fi
  if [[ -x $am && -x $prom ]]; then
    export INQUEST_TEST_ALERTMANAGER_BIN=$am INQUEST_TEST_PROMETHEUS_BIN=$prom
    echo "alertmanager: $($am --version 2>&1 | head -1)"
    echo "prometheus:   $($prom --version 2>&1 | head -1)"
    return 0
  fi
  [[ ${CI:-} == true ]] && return 1
  echo "alerting tests will be skipped" >&2
  return 0
}
_inquest_alerting_setup
