#!/usr/bin/env bash
# Peers side by side: installs rcaeval 1.8.1 (and the libraries its BARO,
# n-sigma and epsilon-diagnosis need) into a venv, imports the dev datasets with
# Inquest, and runs evals/peers.py on exactly those cases. Not part of the test suite.
# Usage: evals/peers.sh [datasets-dir]   (default ../shared/datasets)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-../shared/datasets}"
VENV="${INQUEST_PEERS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/inquest/peers-venv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import RCAEval, pandas, sklearn" 2>/dev/null; then
  python3 -m venv "$VENV"
  # rcaeval 1.8.1 on PyPI declares no dependencies: install what its e2e module imports.
  "$VENV/bin/pip" install --quiet "rcaeval==1.8.1" pandas numpy scikit-learn requests tqdm \
    matplotlib networkx causal-learn
  # epsilon-diagnosis comes from pyrca (sfr-pyrca), whose javabridge dependency does not
  # build without a JDK; pyrca's epsilon-diagnosis does not need it, so skip its deps.
  "$VENV/bin/pip" install --quiet --no-deps sfr-pyrca
  "$VENV/bin/pip" install --quiet pyyaml dill
fi
cargo build --release -p inquest
BIN=target/release/inquest
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
"$BIN" import nezha "$DATA/nezha-train-ticket" --out "$OUT/nezha-train-ticket" >/dev/null
"$BIN" import petshop "$DATA/petshop-train" --out "$OUT/petshop-train" >/dev/null
"$BIN" import petshop "$DATA/petshop-low-traffic-test" --out "$OUT/petshop-low-traffic-test" >/dev/null
"$VENV/bin/python" evals/peers.py "$BIN" "$OUT/nezha-train-ticket" "$OUT/petshop-train" "$OUT/petshop-low-traffic-test"
