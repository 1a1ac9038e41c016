#!/usr/bin/env python3
"""hmr t-SNE against openTSNE (Barnes-Hut) and scikit-learn on the same data and settings.

Usage: bench/embed/compare_peers.py --hmr build/default/apps/hmr [--n 10000] [--dim 50]
       [--device cpu] [--jobs N] [--skip-sklearn] [--input X.npy]

Data: 10 Gaussian clusters in `dim` dimensions (numpy seed 2024) unless --input is given.
Settings for all tools: perplexity 30 (k = 90, exact neighbours), theta 0.5, PCA init, early
exaggeration 12 for 250 iterations, momentum 0.5 -> 0.8, 1000 iterations in all, learning rate
max(N/12, 200) in the FIt-SNE convention (sklearn: 'auto' = max(N/48, 50), the same step).
KL is recomputed for every embedding with the same joint P (sklearn's _joint_probabilities_nn on
exact k = 90 neighbours) and an exact Z (blocked O(N^2) in float64), so the ratios compare like
with like. Prints wall times (whole fit, including kNN) and ratios.
"""
import argparse
import os
import subprocess
import tempfile
import time

import numpy as np


def make_data(n, dim):
    rng = np.random.default_rng(2024)
    centres = rng.normal(0, 4, size=(10, dim))
    return (centres[np.arange(n) % 10] + rng.normal(0, 1, size=(n, dim))).astype(np.float32)


def joint_p(x, k=90, perplexity=30.0):
    from sklearn.manifold import _t_sne
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(x)
    dist = nn.kneighbors_graph(mode="distance")
    dist.sort_indices()
    dist.data **= 2
    return _t_sne._joint_probabilities_nn(dist, perplexity, 0).tocoo()


def exact_kl(p, y, block=2048):
    y = y.astype(np.float64)
    n = y.shape[0]
    z = 0.0
    sq = (y * y).sum(1)
    for a in range(0, n, block):
        d2 = np.maximum(sq[a:a + block, None] + sq[None, :] - 2.0 * y[a:a + block] @ y.T, 0.0)
        w = 1.0 / (1.0 + d2)
        z += w.sum() - np.minimum(block, n - a)  # remove the diagonal (w = 1)
    d2 = ((y[p.row] - y[p.col]) ** 2).sum(1)
    return float(np.sum(p.data * (np.log(p.data) + np.log1p(d2))) + np.log(z))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hmr", required=True)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--dim", type=int, default=50)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--input")
    ap.add_argument("--skip-sklearn", action="store_true")
    a = ap.parse_args()
    x = np.load(a.input).astype(np.float32) if a.input else make_data(a.n, a.dim)
    n = x.shape[0]
    lr = max(n / 12.0, 200.0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        xin, yout = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        np.save(xin, x)
        t = time.perf_counter()
        subprocess.run([a.hmr, "--device", a.device, "-q", "tsne", "--input", xin, "--out", yout], check=True,
                       env=dict(os.environ, OMP_NUM_THREADS=str(a.jobs)))
        results["hmr-" + a.device] = (time.perf_counter() - t, np.load(yout))
    import openTSNE

    t = time.perf_counter()
    y = openTSNE.TSNE(perplexity=30, learning_rate=lr, early_exaggeration=12, early_exaggeration_iter=250,
                      n_iter=750, theta=0.5, initialization="pca", initial_momentum=0.5, final_momentum=0.8,
                      negative_gradient_method="bh", neighbors="exact", n_jobs=a.jobs, random_state=42).fit(x)
    results["openTSNE-bh"] = (time.perf_counter() - t, np.asarray(y))
    if not a.skip_sklearn:
        from sklearn.manifold import TSNE

        t = time.perf_counter()
        y = TSNE(perplexity=30.0, max_iter=1000, init="pca", angle=0.5, random_state=42, n_jobs=a.jobs).fit_transform(x)
        results["sklearn"] = (time.perf_counter() - t, y)
    p = joint_p(x)
    base_t, base_y = results["hmr-" + a.device]
    base_kl = exact_kl(p, base_y)
    print(f"N = {n}, d = {x.shape[1]}, jobs = {a.jobs}")
    print(f"{'tool':14s} {'time s':>9s} {'KL':>9s} {'time/hmr':>9s} {'KL/hmr':>8s}")
    for name, (secs, y) in results.items():
        kl = exact_kl(p, y)
        print(f"{name:14s} {secs:9.2f} {kl:9.4f} {secs / base_t:9.2f} {kl / base_kl:8.4f}")


if __name__ == "__main__":
    main()
