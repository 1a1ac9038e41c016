#!/usr/bin/env python3
"""sklearn_tfidf.py — time scikit-learn's TfidfVectorizer on the corpora bench_text uses, so the
documents/s of `bench_text` (hmr) and of scikit-learn can be compared on the same text.

  HMR_TEXT_BENCH_DUMP=/tmp/tfidf_corpora build/default/bench/bench_text --benchmark_filter=none
  /work/venv/bin/python bench/text/sklearn_tfidf.py /tmp/tfidf_corpora

Each CSV in the folder (synthetic.csv, real.csv: 5,000 lyrics each, column "lyrics") is read with
the csv module and vectorised with TfidfVectorizer() (sklearn mode defaults: token pattern
(?u)\\b\\w\\w+\\b, l2 norm, smooth idf); the best of --repeat runs of fit_transform is reported.
"""
import argparse
import csv
import os
import sys
import time

import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    csv.field_size_limit(sys.maxsize)
    print("scikit-learn %s, Python %s" % (sklearn.__version__, sys.version.split()[0]))
    for name in ("synthetic", "real"):
        path = os.path.join(args.folder, name + ".csv")
        if not os.path.exists(path):
            continue
        with open(path, newline="", encoding="utf-8") as f:
            docs = [r["lyrics"] for r in csv.DictReader(f)]
        best = best_cpu = float("inf")
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            X = TfidfVectorizer().fit_transform(docs)
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        # CPU time too: on a shared machine wall time says more about the neighbours than the code
        print("%-9s %5d documents, %6d terms: fit_transform %.1f ms wall (%.0f documents/s), %.1f ms CPU (%.0f documents/s)"
              % (name, len(docs), X.shape[1], best * 1e3, len(docs) / best, best_cpu * 1e3, len(docs) / best_cpu))


if __name__ == "__main__":
    main()
