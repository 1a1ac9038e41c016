#!/usr/bin/env python3
"""hmr's DBSCAN (`hmr cluster --method dbscan`) against scikit-learn's DBSCAN on the same data: one
run each, wall time, and whether the labels are identical.

    /work/venv/bin/python bench/cluster/dbscan_vs_sklearn.py [--hmr build/cpu-only/apps/hmr] [--n 20000]

Data: a Gaussian mixture (10 centres ~ N(0, 4^2), spread 1.5, d = 16, numpy seed 1) saved as float32;
sklearn is fitted on it promoted to float64 (as hmr evaluates distances). hmr's time is the
command's own "timings_s" (the fit, no process start or file I/O) and the whole process wall time.
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np
import sklearn
from sklearn.cluster import DBSCAN


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hmr", default=os.path.join("build", "cpu-only", "apps", "hmr"))
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--eps", type=float, default=7.0)
    ap.add_argument("--min-samples", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    rng = np.random.RandomState(1)
    c = 4.0 * rng.randn(10, a.d)
    x = (c[rng.randint(0, 10, a.n)] + 1.5 * rng.randn(a.n, a.d)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        xp, lp = os.path.join(tmp, "x.npy"), os.path.join(tmp, "l.npy")
        np.save(xp, x)
        t0 = time.perf_counter()
        subprocess.run([a.hmr, "cluster", "--method", "dbscan", "--input", xp, "--eps", str(a.eps), "--min-samples",
                        str(a.min_samples), "--device", a.device, "--out", lp, "-q"], check=True,
                       stdout=subprocess.DEVNULL)
        hmr_wall = time.perf_counter() - t0
        hmr_labels = np.load(lp)
        with open(os.path.join(tmp, "l.json")) as f:
            hmr_fit = json.load(f)["timings_s"]["dbscan"]
    t0 = time.perf_counter()
    sk = DBSCAN(eps=a.eps, min_samples=a.min_samples).fit(x.astype(np.float64))
    sk_wall = time.perf_counter() - t0
    same = bool(np.array_equal(sk.labels_, hmr_labels))
    print(f"n={a.n} d={a.d} eps={a.eps} min_samples={a.min_samples} sklearn {sklearn.__version__} "
          f"(n_jobs=None), cores={os.cpu_count()}, load={os.getloadavg()[0]:.2f}")
    print(f"clusters={sk.labels_.max() + 1} noise={(sk.labels_ < 0).sum()} labels identical: {same}")
    print(f"sklearn fit {sk_wall:.3f} s | hmr {a.device} fit {hmr_fit:.3f} s, process {hmr_wall:.3f} s | "
          f"ratio sklearn/hmr fit {sk_wall / hmr_fit:.2f}")


if __name__ == "__main__":
    main()
