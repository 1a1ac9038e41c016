#!/usr/bin/env python3
"""hmr t-SNE against openTSNE (Barnes-Hut) and scikit-learn on the same data and settings.

Usage: bench/embed/compare_peers.py --hmr build/default/apps/hmr [--n 10000] [--dim 50]
       [--device cpu] [--jobs N] [--repeat R] [--skip-sklearn] [--skip-opentsne] [--input X.npy]

Data: 10 Gaussian clusters in `dim` dimensions (numpy seed 2024) unless --input is given.
Settings for all tools: perplexity 30 (k = 90, exact neighbours), theta 0.5, PCA init, early
exaggeration 12 for 250 iterations, momentum 0.5 -> 0.8, 1000 iterations in all, learning rate
max(N/12, 200) in the FIt-SNE convention (sklearn: 'auto' = max(N/48, 50), the same step).
KL is recomputed for every embedding with the same joint P (sklearn's _joint_probabilities_nn on
exact k = 90 neighbours) and an exact Z (blocked O(N^2) in float64), so the ratios compare like
with like. Prints wall times (whole fit, including kNN; hmr's includes its process start) and CPU
times (user + system of all threads), best of --repeat rounds in which the tools run interleaved
(hmr, openTSNE, sklearn, hmr, ...), and the load average before and after.
"""
import argparse
import os
import resource
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
    ap.add_argument("--skip-opentsne", action="store_true", help="e.g. at 70k, where openTSNE alone takes ~10 min")
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    x = np.load(a.input).astype(np.float32) if a.input else make_data(a.n, a.dim)
    n = x.shape[0]
    lr = max(n / 12.0, 200.0)
    results = {}

    def cpu(who):
        r = resource.getrusage(who)
        return r.ru_utime + r.ru_stime

    def record(name, secs, cpus, y):
        old = results.get(name)
        if old is None or secs < old[0]:
            results[name] = (secs, y, cpus)

    load_before = os.getloadavg()
    import openTSNE
    from sklearn.manifold import TSNE

    with tempfile.TemporaryDirectory() as tmp:
        xin, yout = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        np.save(xin, x)
        for _ in range(a.repeat):
            c, t = cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
            subprocess.run([a.hmr, "--device", a.device, "-q", "tsne", "--input", xin, "--out", yout], check=True,
                           env=dict(os.environ, OMP_NUM_THREADS=str(a.jobs)), stdout=subprocess.DEVNULL)
            record("hmr-" + a.device, time.perf_counter() - t, cpu(resource.RUSAGE_CHILDREN) - c, np.load(yout))
            if not a.skip_opentsne:
                c, t = cpu(resource.RUSAGE_SELF), time.perf_counter()
                y = openTSNE.TSNE(perplexity=30, learning_rate=lr, early_exaggeration=12, early_exaggeration_iter=250,
                                  n_iter=750, theta=0.5, initialization="pca", initial_momentum=0.5, final_momentum=0.8,
                                  negative_gradient_method="bh", neighbors="exact", n_jobs=a.jobs,
                                  random_state=42).fit(x)
                record("openTSNE-bh", time.perf_counter() - t, cpu(resource.RUSAGE_SELF) - c, np.asarray(y))
            if not a.skip_sklearn:
                c, t = cpu(resource.RUSAGE_SELF), time.perf_counter()
                y = TSNE(perplexity=30.0, max_iter=1000, init="pca", angle=0.5, random_state=42,
                         n_jobs=a.jobs).fit_transform(x)
                record("sklearn", time.perf_counter() - t, cpu(resource.RUSAGE_SELF) - c, y)
    load_after = os.getloadavg()
    p = joint_p(x)
    base_t, base_y, base_c = results["hmr-" + a.device]
    base_kl = exact_kl(p, base_y)
    print(f"N = {n}, d = {x.shape[1]}, jobs = {a.jobs}, best of {a.repeat}, load average before "
          f"{load_before[0]:.2f} after {load_after[0]:.2f}")
    print(f"{'tool':14s} {'time s':>9s} {'cpu s':>9s} {'KL':>9s} {'time/hmr':>9s} {'cpu/hmr':>8s} {'KL/hmr':>8s}")
    for name, (secs, y, cpus) in results.items():
        kl = exact_kl(p, y)
        print(f"{name:14s} {secs:9.2f} {cpus:9.2f} {kl:9.4f} {secs / base_t:9.2f} {cpus / base_c:8.2f} "
              f"{kl / base_kl:8.4f}")


if __name__ == "__main__":
    main()
