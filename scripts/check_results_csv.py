#!/usr/bin/env python3
"""Reads an experiment's results.csv with pandas, as a user would (pd.read_csv(path), no options),
and checks it against the run's other outputs: one row per track in ids.txt order, then the
excluded rows; each method column equals labels_<method>.npy; each label column equals
truth_<label>.npy decoded with truth_<label>_names.txt; excluded rows flagged with a reason and
no cluster. Then the round trip: the frame written back with df.to_csv(index=False) and read
again is the same frame. One method's column is left as results_<method>.csv, written by pandas
with its index (float64 cells, as pandas keeps a column that held NaN), for
`hmr metrics --pred results_<method>.csv` to read.

Usage: /work/venv/bin/python scripts/check_results_csv.py RUN_DIR [RUN_DIR...]
(needs numpy and pandas: scripts/setup-venv.sh installs them). Exit 0 when every check holds.
"""
import glob
import io
import os
import sys

import numpy as np
import pandas as pd


def check(run):
    df = pd.read_csv(os.path.join(run, "results.csv"))
    ids = open(os.path.join(run, "ids.txt"), encoding="utf-8").read().splitlines()
    methods = sorted(os.path.basename(p)[len("labels_"):-len(".npy")]
                     for p in glob.glob(os.path.join(run, "labels_*.npy")))
    labels = sorted(os.path.basename(p)[len("truth_"):-len(".npy")]
                    for p in glob.glob(os.path.join(run, "truth_*.npy")))
    assert list(df.columns[:1]) == ["id"], df.columns
    assert list(df.columns[-2:]) == ["excluded", "excluded_reason"], df.columns
    kept = df[df["excluded"] == 0]
    assert len(kept) == len(ids), (len(kept), len(ids))
    assert list(kept["id"].astype(str)) == ids, "ids differ from ids.txt"
    for m in methods:
        want = np.load(os.path.join(run, f"labels_{m}.npy"))
        assert np.array_equal(kept[m].to_numpy(dtype=np.int64), want), m
    for lab in labels:
        codes = np.load(os.path.join(run, f"truth_{lab}.npy"))
        names = open(os.path.join(run, f"truth_{lab}_names.txt"), encoding="utf-8").read().splitlines()
        want = [names[c] if c >= 0 else np.nan for c in codes]
        got = kept[lab].tolist()
        assert all((isinstance(w, float) and pd.isna(g)) or str(g) == w for g, w in zip(got, want)), lab
    ex = df[df["excluded"] == 1]
    assert ex["excluded_reason"].notna().all(), "an excluded row without a reason"
    for m in methods:
        assert ex[m].isna().all(), f"an excluded row has a {m} cluster"
    again = pd.read_csv(io.StringIO(df.to_csv(index=False)))
    pd.testing.assert_frame_equal(df, again)
    # One method's clusters as pandas writes a column (with its index; float64 because the
    # excluded rows held NaN): what `hmr metrics --pred` must read as integer codes.
    kept[methods[0]].to_csv(os.path.join(run, f"results_{methods[0]}.csv"))
    print(f"{run}: results.csv read by pandas {pd.__version__}: {len(df)} rows x {len(df.columns)} columns "
          f"({len(kept)} tracks, {len(ex)} excluded), methods {methods}, labels {labels}: consistent, round-trips")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for run in sys.argv[1:]:
        check(run)
