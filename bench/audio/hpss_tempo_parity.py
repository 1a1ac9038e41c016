#!/usr/bin/env python3
"""HPSS and tempo parity of hmr with librosa 0.10 over every development GTZAN clip (run by hand).

hmr's numbers come from the test binary's dump (tests/audio/tempo_test.cpp,
SlowHpssTempoDump: cpu backend, one clip at a time, with its seconds); librosa's from
librosa.effects.hpss and librosa.beat.beat_track on librosa.load(path, sr=22050).
Reported: tempos equal to librosa's (same lag bin), within one bin, the worst relative HPSS
difference per column (|hmr - librosa| / column scale, the scale being the largest |librosa value|
of the column over the clips), and CPU seconds per clip of both (process time: the wall time of
the shared machine says more about the other jobs; librosa's numpy may use more than one core).
Usage: /work/venv/bin/python bench/audio/hpss_tempo_parity.py [BUILD_DIR] [DATA_DIR]
"""
import csv
import glob
import os
import subprocess
import sys
import tempfile
import time
import warnings

import librosa
import numpy as np

warnings.filterwarnings("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "cpu-only")
DATA = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "..", "shared", "data", "gtzan", "genres")
COLS = ["harmony_mean", "harmony_var", "perceptr_mean", "perceptr_var"]
SR, HOP = 22050, 512


def lag(bpm):
    return 0 if bpm <= 0 else int(round(60.0 * SR / (HOP * bpm)))


def main():
    paths = sorted(glob.glob(os.path.join(DATA, "*", "*.wav")))
    if not paths:
        sys.exit(f"no clips under {DATA}")
    with tempfile.TemporaryDirectory() as tmp:
        lst, out = os.path.join(tmp, "files.txt"), os.path.join(tmp, "hmr.csv")
        with open(lst, "w") as f:
            f.write("\n".join(paths) + "\n")
        env = dict(os.environ, HMR_HPSS_TEMPO_FILES=lst, HMR_HPSS_TEMPO_OUT=out, OMP_NUM_THREADS="1")
        subprocess.run([os.path.join(BUILD, "tests", "test_audio"), "--gtest_filter=SlowHpssTempoDump.*"], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            hmr = {r["path"]: r for r in csv.DictReader(f)}
    ref, t_lib_h, t_lib_t = {}, 0.0, 0.0
    y, _ = librosa.load(paths[0], sr=SR)  # warm-up: numba compiles beat_track's tracker on first use
    librosa.beat.beat_track(y=y, sr=SR)
    for p in paths:
        y, _ = librosa.load(p, sr=SR)
        t0 = time.process_time()
        h, pc = librosa.effects.hpss(y)
        t1 = time.process_time()
        tempo = float(np.atleast_1d(librosa.beat.beat_track(y=y, sr=SR)[0])[0])
        t_lib_h += t1 - t0
        t_lib_t += time.process_time() - t1
        ref[p] = [float(np.mean(h, dtype=np.float64)), float(np.var(h, dtype=np.float64)),
                  float(np.mean(pc, dtype=np.float64)), float(np.var(pc, dtype=np.float64)), tempo]
    R = np.array([ref[p][:4] for p in paths])
    H = np.array([[float(hmr[p][c]) for c in COLS] for p in paths])
    scale = np.max(np.abs(R), axis=0)
    rel = np.abs(H - R) / scale
    print(f"{len(paths)} clips")
    for j, c in enumerate(COLS):
        i = int(np.argmax(rel[:, j]))
        print(f"  {c:14s} worst relative {rel[i, j]:.2e} ({os.path.basename(paths[i])}: hmr {H[i, j]:.6e}, "
              f"librosa {R[i, j]:.6e}; column scale {scale[j]:.3e})")
    eq = sum(lag(float(hmr[p]["tempo"])) == lag(ref[p][4]) for p in paths)
    near = sum(abs(lag(float(hmr[p]["tempo"])) - lag(ref[p][4])) <= 1 for p in paths)
    print(f"  tempo equal: {eq}/{len(paths)}, within one bin: {near}/{len(paths)}")
    for p in paths:
        if lag(float(hmr[p]["tempo"])) != lag(ref[p][4]):
            print(f"    {os.path.basename(p)}: hmr {float(hmr[p]['tempo']):.3f} librosa {ref[p][4]:.3f}")
    hs = np.mean([float(hmr[p]["hpss_s"]) for p in paths])
    ts = np.mean([float(hmr[p]["tempo_s"]) for p in paths])
    print(f"  CPU seconds per clip (process time; hmr with 1 thread): hmr hpss {hs * 1e3:.1f} ms, tempo "
          f"{ts * 1e3:.1f} ms; librosa hpss {t_lib_h / len(paths) * 1e3:.0f} ms, beat_track "
          f"{t_lib_t / len(paths) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
