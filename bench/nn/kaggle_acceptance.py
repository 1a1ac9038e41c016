#!/usr/bin/env python3
"""Acceptance check of issue 5: on a Kaggle-layout features CSV, K-Means on the latent means of a
beta-VAE (beta 4, latent 16, otherwise hmr's default training config, free bits 0.5 included)
clusters at least as well (ARI, NMI against the genre label) as K-Means on the raw standardised
features (the 40 MFCC columns by default, --columns for others). Purity is printed too.

K-Means here is scikit-learn's (k = number of labels, n_init=10); hmr's own K-Means is another
stage. The derived arrays go to a temporary folder and are not kept.

Usage: /work/venv/bin/python bench/nn/kaggle_acceptance.py --hmr build/nn/apps/hmr \
         --csv ../shared/data/features/banglabeats_features_30_sec.csv [--seeds 1 2 3] [--device cpu]
"""
import argparse
import csv
import os
import re
import shlex
import subprocess
import tempfile
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.preprocessing import StandardScaler


def read_features(path, pattern):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    cols = [i for i, h in enumerate(header) if re.search(pattern, h) and h not in ("filename", "label", "length")]
    label = header.index("label")
    x = np.array([[float(r[i]) for i in cols] for r in body], dtype=np.float32)
    names = sorted({r[label] for r in body})
    y = np.array([names.index(r[label]) for r in body])
    return x, y, names, [header[i] for i in cols]


def purity(y, p):
    return sum(np.bincount(y[p == c]).max() for c in np.unique(p)) / len(y)


def scores(z, y, k):
    p = KMeans(n_clusters=k, n_init=10, random_state=0).fit(z).labels_
    return adjusted_rand_score(y, p), normalized_mutual_info_score(y, p), purity(y, p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hmr", default="build/default/apps/hmr")
    ap.add_argument("--csv", default="../shared/data/features/banglabeats_features_30_sec.csv")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--columns", default=r"^mfcc\d+_(mean|var)$",
                    help="regex over the header (all 57 features: '_mean$|_var$|^tempo$')")
    ap.add_argument("--extra", default="", help="extra hmr train flags in one string: --extra='--epochs 200'")
    args = ap.parse_args()
    x, y, names, cols = read_features(args.csv, args.columns)
    k = len(names)
    print(f"{args.csv}: {x.shape[0]} rows, {len(cols)} feature columns, {k} labels")
    raw = scores(StandardScaler().fit_transform(x), y, k)
    print(f"{'raw standardised features':<34} ARI {raw[0]:.4f}  NMI {raw[1]:.4f}  purity {raw[2]:.4f}")
    with tempfile.TemporaryDirectory() as tmp:
        xpath = os.path.join(tmp, "x.npy")
        np.save(xpath, x)
        res = []
        for seed in args.seeds:
            model, mu = os.path.join(tmp, f"m{seed}.safetensors"), os.path.join(tmp, f"mu{seed}.npy")
            t = time.time()
            subprocess.run([args.hmr, "-q", "--device", args.device, "--seed", str(seed), "train", "--features", xpath,
                            "--beta", "4", "--latent", "16", "--out", model] + shlex.split(args.extra), check=True)
            secs = time.time() - t
            subprocess.run([args.hmr, "-q", "--device", args.device, "embed", "--model", model, "--features", xpath,
                            "--what", "mu", "--out", mu], check=True, stdout=subprocess.DEVNULL)
            r = scores(np.load(mu), y, k)
            res.append(r)
            print(f"{'beta-VAE mu (beta 4, latent 16) seed ' + str(seed):<34} ARI {r[0]:.4f}  NMI {r[1]:.4f}"
                  f"  purity {r[2]:.4f}  (train {secs:.1f} s)")
        m = np.mean(res, axis=0)
        print(f"{'beta-VAE mean over seeds':<34} ARI {m[0]:.4f}  NMI {m[1]:.4f}  purity {m[2]:.4f}")
        ok = m[0] >= raw[0] and m[1] >= raw[1]
        print("acceptance (VAE >= raw on ARI and NMI):", "PASS" if ok else "FAIL")
        worst = np.min(res, axis=0)
        print("every seed above raw on ARI, NMI and purity:", "yes" if all(worst > raw) else "no")


if __name__ == "__main__":
    main()
