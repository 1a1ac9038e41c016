#!/usr/bin/env python3
"""librosa vs `hmr features`: files/s on the same clips in one run, and per-column parity of the
Kaggle GTZAN feature row (features_30_sec.csv, 57 features).

librosa side: for each file, librosa.load(path) (22050 Hz mono) + the public notebooks' feature
code (tests/fixtures/gen_features.py kaggle_row: chroma_stft, rms, spectral centroid / bandwidth /
roll-off, zero-crossing rate, effects.hpss, beat.beat_track, mfcc; numpy mean/var), in ONE Python
process (imports and a warm-up file outside the timing, nothing written).
hmr side: `hmr features FILES --device DEV --out TMP -q`, timed as a whole (process start,
decoding, every feature, writing the CSV and features_run.json); also its own in-process time of
the same work (decode + features: timings_s.features of features_run.json).
Both decode the same files (page cache warm after a warm-up run of hmr). The runs alternate
(hmr, librosa, hmr, ...) --repeat times and the best wall time of each side is kept; the load
average (uptime) is printed before and after.

Parity per column j (as tests/audio/features_test.cpp): |hmr - librosa| / scale_j, scale_j = max
over the clips of |librosa| (and, for a *_mean column, of sqrt(its *_var)). Tempo: the share of
clips where hmr's tempo equals librosa's, and the largest distance in tempo bins (autocorrelation
lags: bpm = 60 sr / (hop lag)).

Usage:
  /work/venv/bin/python bench/audio/features_vs_librosa.py /work/shared/data/gtzan \
      --hmr build/cpu-only/apps/hmr [--limit 50] [--repeat 2] [--device cpu] [--json out.json]
"""
import argparse
import csv
import json
import os
import sys
import tempfile
import time

import numpy as np

from bench_io import add_common_args, pick_files, run_hmr_timed, settle

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures"))
from gen_features import KAGGLE, kaggle_row  # noqa: E402  (the notebook's feature code)

SR, HOP = 22050, 512


def librosa_rows(files):
    import librosa
    return np.stack([kaggle_row(librosa.load(f, sr=SR)[0]) for f in files])


def run_librosa(files):
    import librosa  # noqa: F401  (import cost outside the timing)
    librosa_rows(files[:1])  # warm-up: numba compilation, caches
    t0, c0 = time.perf_counter(), time.process_time()
    rows = librosa_rows(files)
    return rows, time.perf_counter() - t0, time.process_time() - c0


def uptime():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_hmr(exe, files, device, out, threads):
    wall, cpu = run_hmr_timed(exe, "features", files, device, out, threads)
    with open(os.path.join(out, "features_run.json")) as f:
        run = json.load(f)
    with open(os.path.join(out, "features_30_sec.csv"), newline="") as f:
        rd = csv.reader(f)
        header = next(rd)
        rows = [r for r in rd]
    cols = header[2:]
    assert cols[:57] == KAGGLE, f"hmr's columns differ from Kaggle's: {cols[:57]}"
    x = np.array([[float(v) for v in r[2:2 + 57]] for r in rows])
    names = [r[0] for r in rows]
    return x, names, wall, cpu, run["timings_s"]["features"], run["skipped"]


def parity(h, l):
    scale = np.abs(l).max(axis=0)
    for j, c in enumerate(KAGGLE):
        if c.endswith("_mean"):
            scale[j] = max(scale[j], np.sqrt(np.abs(l[:, j + 1])).max())
    rel = np.abs(h - l) / np.where(scale > 0, scale, 1.0)
    return rel


def tempo_bins(bpm):
    with np.errstate(divide="ignore"):
        return np.where(bpm > 0, 60.0 * SR / (HOP * np.maximum(bpm, 1e-12)), 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap, "build/cpu-only/apps/hmr", 50, "use the first N files (0: all)", 2,
                    "alternating runs of each side (best is kept)")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    a = ap.parse_args()
    files = pick_files(a.inputs, a.limit)
    n = len(files)
    before = uptime()
    print(f"{n} files; {os.cpu_count()} cores; load average {before}")
    hbest = lbest = None
    work = None
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        run_hmr(a.hmr, files, a.device, out, a.threads)  # warm-up: page cache, FFTW wisdom
        for _ in range(max(1, a.repeat)):
            settle()
            r = run_hmr(a.hmr, files, a.device, out, a.threads)
            if hbest is None or r[2] < hbest[2]:
                hbest = r
            work = r[4] if work is None else min(work, r[4])
            settle()
            lr = run_librosa(files)
            if lbest is None or lr[1] < lbest[1]:
                lbest = lr
    hx, names, hwall, hcpu, _, skipped = hbest
    lx, lwall, lcpu = lbest
    after = uptime()
    res = {"files": n, "load_before": before, "load_after": after, "device": a.device,
           "hmr_files_per_s": n / hwall, "hmr_wall_s": hwall, "hmr_cpu_ms_per_file": hcpu / n * 1000,
           "hmr_work_files_per_s": n / work, "librosa_files_per_s": n / lwall, "librosa_wall_s": lwall,
           "librosa_cpu_ms_per_file": lcpu / n * 1000, "ratio": lwall / hwall, "ratio_work": lwall / work,
           "skipped": skipped}
    print(f"hmr features ({a.device}): {n / hwall:8.2f} files/s ({hwall:.2f} s wall, {hcpu / n * 1000:.1f} ms CPU "
          f"per file); in-process work {n / work:.2f} files/s")
    print(f"librosa (1 process):  {n / lwall:8.2f} files/s ({lwall:.2f} s wall, {lcpu / n * 1000:.1f} ms CPU per file)")
    print(f"ratio hmr / librosa: {lwall / hwall:.1f}x files/s (in-process work: {lwall / work:.1f}x)")
    print(f"load average after: {after}")
    if hx.shape != lx.shape:
        print(f"shape mismatch: hmr {hx.shape} vs librosa {lx.shape} (skipped: {skipped})")
    else:
        rel = parity(hx, lx)
        print("per-column worst relative difference (per-column scale):")
        worst = {}
        for j, c in enumerate(KAGGLE):
            i = int(np.argmax(rel[:, j]))
            worst[c] = float(rel[i, j])
            tol = 1e-3 if c.startswith(("harmony", "perceptr")) else 1e-4
            flag = "" if c == "tempo" or rel[i, j] <= tol else "  EXCEEDS " + f"{tol:g}"
            print(f"  {c:26s} {rel[i, j]:.2e}  ({os.path.basename(names[i])}: {hx[i, j]:.7g} vs {lx[i, j]:.7g}){flag}")
        res["worst_relative"] = worst
        t = KAGGLE.index("tempo")
        equal = np.isclose(hx[:, t], lx[:, t], rtol=1e-6, atol=0)
        bins = np.abs(tempo_bins(hx[:, t]) - tempo_bins(lx[:, t]))
        res["tempo_equal"] = int(equal.sum())
        res["tempo_max_bin_distance"] = float(bins.max())
        print(f"tempo: equal to librosa's on {equal.sum()} of {n} clips ({100 * equal.mean():.0f}%); "
              f"largest distance {bins.max():.2f} lag bins")
        for i in np.nonzero(~equal)[0]:
            print(f"  {os.path.basename(names[i])}: hmr {hx[i, t]:.4f} vs librosa {lx[i, t]:.4f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
