#!/usr/bin/env python3
"""Peers side by side: runs BARO, n-sigma and epsilon-diagnosis from the
PyPI package rcaeval (1.8.1) on exactly the imported fixture cases Inquest is
evaluated on, in the same run, and prints service-level AC@1/AC@3/Avg@5 and seconds
per case next to Inquest's, with the ratio. A benchmark, not part of the test suite.

Usage: evals/peers.py <inquest-binary> <imported-dir> [<imported-dir> ...]
(each dir as written by `inquest import`; `evals/peers.sh` sets everything up).
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")
import pandas as pd  # noqa: E402


def cases_of(root):
    out = []
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if os.path.isfile(os.path.join(d, "case.json")):
            out.append(d)
    return out


def load_case(d):
    m = pd.read_csv(os.path.join(d, "metrics.csv"))
    # seconds since the epoch, whatever the datetime resolution of this pandas
    m["ts"] = (pd.to_datetime(m["ts"], utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    m["col"] = m["service"] + "_" + m["metric"]
    wide = m.pivot_table(index="ts", columns="col", values="value", aggfunc="mean").sort_index()
    wide = wide.ffill().bfill().fillna(0.0)
    wide.insert(0, "time", wide.index.astype(float))
    wide = wide.reset_index(drop=True)
    inc = json.load(open(os.path.join(d, "incident.json")))
    truth = json.load(open(os.path.join(d, "truth.json")))
    meta = json.load(open(os.path.join(d, "import.json")))
    services = sorted({s["name"] for s in json.load(open(os.path.join(d, "services.json")))}, key=len, reverse=True)
    inject = pd.Timestamp(inc["window_start"]).timestamp()
    return wide, inject, truth["service"], services, meta["dataset"]


def service_of(col, services):
    for s in services:
        if col.startswith(s + "_"):
            return s
    return col.split("_")[0]


def service_rank(ranks, truth, services):
    seen = []
    for col in ranks:
        s = service_of(col, services)
        if s not in seen:
            seen.append(s)
        if s == truth:
            return len(seen)
    return None


def acc(ranks):
    n = max(len(ranks), 1)
    ac = lambda k: sum(1 for r in ranks if r is not None and r <= k) / n  # noqa: E731
    return {"ac1": ac(1), "ac3": ac(3), "avg5": sum(ac(k) for k in range(1, 6)) / 5}


def run_inquest(binary, root):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    subprocess.run([binary, "eval", root, "--json", out], check=True, stdout=subprocess.DEVNULL)
    report = json.load(open(out))
    os.unlink(out)
    ranks = [c["service_rank"] for c in report["cases"]]
    secs = sum(c["latency_ms"] for c in report["cases"]) / 1000.0 / max(len(ranks), 1)
    return ranks, secs


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    binary, roots = sys.argv[1], sys.argv[2:]
    from RCAEval.e2e import e_diagnosis, nsigma
    from RCAEval.e2e.baro import baro

    methods = [("BARO", baro), ("n-sigma", nsigma)]
    if os.environ.get("PEERS_SKIP_EPSILON") != "1":
        methods.append(("epsilon-diagnosis", e_diagnosis))
    print("| cases | method | AC@1 | AC@3 | Avg@5 | s/case | Inquest AC@1 / theirs | their s/case / Inquest's |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
    rows = []
    for root in roots:
        dirs = cases_of(root)
        loaded = [load_case(d) for d in dirs]
        dataset = loaded[0][4] if loaded else root
        ranks, secs = run_inquest(binary, root)
        inq = acc(ranks)
        rows.append((dataset, len(dirs), "Inquest", inq, secs, None))
        print_row(rows[-1])
        for name, fn in methods:
            rr, total, failed = [], 0.0, 0
            for wide, inject, truth, services, _ in loaded:
                t0 = time.perf_counter()
                try:
                    out = fn(wide.copy(), inject_time=inject, dataset=dataset)
                    rr.append(service_rank(out["ranks"], truth, services))
                except Exception as e:  # a failure is a miss, as in the published figures
                    failed += 1
                    rr.append(None)
                    if failed == 1:
                        print(f"{name} on {dataset}: {type(e).__name__}: {e}", file=sys.stderr)
                total += time.perf_counter() - t0
            rows.append((dataset, len(dirs), name, acc(rr), total / max(len(loaded), 1), (inq, secs)))
            print_row(rows[-1])


def print_row(row):
    dataset, n, name, a, s, ref = row
    if True:
        ratio_acc = ratio_t = ""
        if ref is not None:
            ia, isecs = ref
            ratio_acc = f"{ia['ac1'] / a['ac1']:.1f}x" if a["ac1"] > 0 else ("inf" if ia["ac1"] > 0 else "-")
            ratio_t = f"{s / isecs:.1f}x" if isecs > 0 else "-"
        print(f"| {dataset} ({n}) | {name} | {a['ac1']:.3f} | {a['ac3']:.3f} | {a['avg5']:.3f} | {s:.3f} | {ratio_acc} | {ratio_t} |", flush=True)


if __name__ == "__main__":
    main()
