#!/usr/bin/env python3
"""librosa vs `hmr mfcc`: files/s on the same files, and parity of the MFCC summaries.

librosa side: for each file, librosa.load(path, sr=22050) + librosa.feature.mfcc(y, sr) (all
defaults) + per-coefficient mean and variance (Kaggle order) — what the seed project and the
Kaggle GTZAN features do. It runs in one process (--jobs 1, librosa's usual use) and optionally
in --jobs N processes (multiprocessing), so the comparison with hmr's multithreaded cpu backend
is also made against a parallel librosa.
hmr side: `hmr mfcc FILES --device DEV --out TMP` with its default threads (all cores), timed as
a whole (process start, decoding, MFCC, writing outputs): the main ratio. The librosa side is timed
inside a warm Python process (imports and a warm-up file outside the timing, no outputs written),
so a second ratio compares like with like: hmr's own timing of the same work (decoding + MFCC of
all files, `timings_s.mfcc` in its mfcc_run.json), without its process start and output files.
Both sides decode the same files (page cache warm after the first pass). The runs are interleaved
(hmr, librosa, hmr, librosa, ...) --repeat times and the best wall time of each side is reported,
so both see the same moments of a shared machine; the load average is printed before and after.

Usage:
  build/venv/bin/python bench/audio/librosa_mfcc.py ../shared/data/gtzan --hmr build/default/apps/hmr
  ... --device cpu|cuda --jobs 2 --limit 50 --repeat 3
Prints files/s for each, the ratio, CPU seconds per file, and the worst summary differences
(relative |diff| with an absolute floor of 2e-3, as in tests/audio).
"""
import argparse
import json
import multiprocessing as mp
import os
import resource
import tempfile
import time

import numpy as np

from bench_io import add_common_args, pick_files, run_hmr_timed, settle


def librosa_summary(path):
    import librosa
    y, sr = librosa.load(path, sr=22050)
    m = librosa.feature.mfcc(y=y, sr=sr)
    return np.stack([m.mean(axis=1), m.var(axis=1)], axis=1).reshape(-1).astype(np.float32)


def run_librosa(files, jobs):
    import librosa  # noqa: F401  (import cost outside the timing)
    librosa_summary(files[0])  # warm-up: numba/caches
    t0, c0 = time.perf_counter(), time.process_time()
    ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if jobs <= 1:
        out = [librosa_summary(f) for f in files]
    else:
        with mp.get_context("fork").Pool(jobs) as pool:
            out = pool.map(librosa_summary, files, chunksize=1)
    wall = time.perf_counter() - t0
    ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - c0 + (ch1.ru_utime + ch1.ru_stime) - (ch0.ru_utime + ch0.ru_stime)
    return np.stack(out), wall, cpu


def run_hmr(exe, files, device, tmp, threads):
    wall, cpu = run_hmr_timed(exe, "mfcc", files, device, tmp, threads)
    with open(os.path.join(tmp, "mfcc_run.json")) as f:
        work = json.load(f)["timings_s"]["mfcc"]  # decoding + MFCC, inside the process
    return np.load(os.path.join(tmp, "mfcc_summary.npy")), wall, cpu, work


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap, "build/default/apps/hmr", 0, "use the first N files", 3,
                    "interleaved runs of each side (best is reported)")
    ap.add_argument("--jobs", type=int, default=0, help="also run librosa in N processes (0: cores)")
    a = ap.parse_args()
    files = pick_files(a.inputs, a.limit)
    n = len(files)
    cores = os.cpu_count() or 1
    print(f"{n} files; {cores} cores; load average {os.getloadavg()[0]:.2f}")

    best, lbest, work = None, None, None
    with tempfile.TemporaryDirectory() as tmp:
        run_hmr(a.hmr, files, a.device, tmp, a.threads)  # warm-up: page cache, FFTW wisdom
        for _ in range(max(1, a.repeat)):
            settle()
            r = run_hmr(a.hmr, files, a.device, tmp, a.threads)
            if best is None or r[1] < best[1]:
                best = r
            work = r[3] if work is None else min(work, r[3])
            settle()
            lr = run_librosa(files, 1)
            if lbest is None or lr[1] < lbest[1]:
                lbest = lr
        hx, hwall, hcpu, _ = best
    lx, lwall, lcpu = lbest
    print(f"hmr ({a.device}):        {n / hwall:8.2f} files/s  ({hwall:.3f} s wall, {hcpu / n * 1000:.1f} ms CPU per file)")
    print(f"librosa (1 process):  {n / lwall:8.2f} files/s  ({lwall:.3f} s wall, {lcpu / n * 1000:.1f} ms CPU per file)")
    print(f"ratio hmr / librosa (1 process): {lwall / hwall:.1f}x files/s, {lcpu / max(hcpu, 1e-9):.1f}x CPU per file")
    print(f"hmr in-process work (decode + MFCC, as timed for librosa): {n / work:8.2f} files/s ({work:.3f} s); "
          f"ratio {lwall / work:.1f}x")
    jobs = a.jobs if a.jobs > 0 else cores
    if jobs > 1:
        pwall = min(run_librosa(files, jobs)[1] for _ in range(max(1, a.repeat)))
        print(f"librosa ({jobs} processes): {n / pwall:8.2f} files/s  ({pwall:.3f} s wall)")
        print(f"ratio hmr / librosa ({jobs} processes): {pwall / hwall:.1f}x files/s")

    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if hx.shape != lx.shape:
        print(f"shape mismatch: hmr {hx.shape} vs librosa {lx.shape} (skipped files?)")
        return
    d = np.abs(hx.astype(np.float64) - lx)
    rel = d / (2e-3 + np.abs(lx))
    i, j = np.unravel_index(np.argmax(rel), rel.shape)
    kind = "mean" if j % 2 == 0 else "var"
    print(f"parity: worst |diff| / (2e-3 + |librosa|) = {rel.max():.2e} at file {i} mfcc{j // 2 + 1}_{kind} "
          f"({hx[i, j]:.6g} vs {lx[i, j]:.6g}); tolerance 1e-4 -> {'OK' if rel.max() <= 1e-4 else 'EXCEEDED'}")


if __name__ == "__main__":
    main()
