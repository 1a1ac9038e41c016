#!/usr/bin/env python3
"""Times librosa 0.10's spectral features per 30 s clip (the peer of bench/audio/spectral_bench.cpp).

For each clip (decoded once, outside the timing): chroma_stft (estimate_tuning), rms,
spectral_centroid, spectral_bandwidth, spectral_rolloff, zero_crossing_rate (the Kaggle GTZAN set,
as the Kaggle notebooks call them: each recomputes its own STFT), then spectral_contrast alone.
Prints ms per clip (best of --repeat passes over the clips) and the process's CPU time.
Run: /work/venv/bin/python bench/audio/librosa_spectral.py /work/shared/data/gtzan --clips 10
"""
import argparse
import glob
import os
import time

import librosa
import numpy as np


def kaggle(y, sr):
    return [librosa.feature.chroma_stft(y=y, sr=sr), librosa.feature.rms(y=y),
            librosa.feature.spectral_centroid(y=y, sr=sr), librosa.feature.spectral_bandwidth(y=y, sr=sr),
            librosa.feature.spectral_rolloff(y=y, sr=sr), librosa.feature.zero_crossing_rate(y)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    paths = sorted(glob.glob(os.path.join(a.root, "**", "*.wav"), recursive=True))[:: max(1, 50 // a.clips)][: a.clips]
    ys = [librosa.load(p, sr=22050)[0] for p in paths]
    kaggle(ys[0], 22050)  # warm-up (numba, caches)
    librosa.feature.spectral_contrast(y=ys[0], sr=22050)
    for name, fn in (("kaggle set", kaggle), ("spectral_contrast", lambda y, sr: librosa.feature.spectral_contrast(y=y, sr=sr))):
        best, cpu = 1e30, 0.0
        for _ in range(a.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            for y in ys:
                fn(y, 22050)
            best = min(best, (time.perf_counter() - t0) / len(ys))
            cpu = (time.process_time() - c0) / len(ys)
        print(f"librosa {librosa.__version__} {name}: {1e3 * best:.1f} ms per clip wall, {1e3 * cpu:.1f} ms CPU "
              f"({len(ys)} clips, load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
