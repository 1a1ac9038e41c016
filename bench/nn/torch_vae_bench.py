#!/usr/bin/env python3
"""PyTorch CPU baseline for hmr's VAE training throughput (bench/nn/vae_bench.cpp).

Trains the same models as bench_nn -- the text VAE (5000 -> 512 -> latent 32, sigmoid output,
BCE) and the audio VAE (40 -> 128 -> 64 -> latent 16, MSE) -- for one epoch of minibatch Adam
over the same number of rows (4096 text, 16384 audio) at batch 64, 256 and 1024, the way a
PyTorch user writes it (nn.Sequential, torch.optim.Adam, reduction='sum' / batch). It then runs
bench_nn's cpu cases (unless --no-hmr) and prints samples/s for both and the ratio hmr / torch.

Usage (needs the venv with torch: scripts/setup-venv.sh --torch):
  python bench/nn/torch_vae_bench.py --hmr build/default/bench/bench_nn [--threads N] [--repeats 3]
      [--model audio|text] [--batches 1024] [--paired N]
--paired N alternates one hmr epoch and one PyTorch epoch N times per case and prints the median
of the per-round ratios (robust on a shared machine).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures"))
from torch_vae import VAE  # noqa: E402  (the module gen_nn.py checks hmr's files against)


def arch(d, hidden, latent, sigmoid_out):
    return {"input_dim": d, "hidden": hidden, "latent": latent, "activation": "relu",
            "output": "sigmoid" if sigmoid_out else "identity"}


def train_epoch(model, opt, x, batch, bce):
    n = x.shape[0]
    for s in range(0, n, batch):
        xb = x[s:s + batch]
        out, mu, logvar = model(xb, torch.randn(xb.shape[0], model.fc_mu.out_features))
        if bce:
            recon = F.binary_cross_entropy(out, xb, reduction="sum")
        else:
            recon = F.mse_loss(out, xb, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = (recon + kl) / xb.shape[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def torch_setup(text, batch):
    rng = np.random.default_rng(1)
    if text:
        n, d = 4096, 5000
        x = np.where(rng.random((n, d)) < 0.01, rng.random((n, d)), 0.0).astype(np.float32)
        model = VAE(arch(d, [512], 32, True))
    else:
        n, d = 16384, 40
        x = rng.standard_normal((n, d)).astype(np.float32)
        model = VAE(arch(d, [128, 64], 16, False))
    xt = torch.from_numpy(x)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_epoch(model, opt, xt[: batch * 2], batch, text)  # warm-up
    return model, opt, xt


def torch_epoch_rate(setup, text, batch):
    """samples/s (wall, process CPU) of one epoch."""
    model, opt, xt = setup
    t, c = time.perf_counter(), time.process_time()
    train_epoch(model, opt, xt, batch, text)
    return xt.shape[0] / (time.perf_counter() - t), xt.shape[0] / (time.process_time() - c)


def torch_rate(text, batch, repeats):
    setup = torch_setup(text, batch)
    rates = [torch_epoch_rate(setup, text, batch) for _ in range(repeats)]
    return max(r[0] for r in rates), max(r[1] for r in rates)


def hmr_rates(binary, repeats, model, batches):
    names = {"all": "(audio_40_128_64_16|text_5000_512_32)_cpu", "audio": "audio_40_128_64_16_cpu",
             "text": "text_5000_512_32_cpu"}[model]
    filt = f"{names}/({'|'.join(str(b) for b in batches)})/"
    out = subprocess.run(
        [binary, f"--benchmark_filter={filt}", "--benchmark_format=json", f"--benchmark_repetitions={repeats}",
         "--benchmark_report_aggregates_only=false"],
        check=True, capture_output=True, text=True).stdout
    rates = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        # BM_VaeTrainEpoch/audio_40_128_64_16_cpu/64/real_time
        parts = b["name"].split("/")
        if "_dense_" in parts[1] or "_unfused_" in parts[1]:  # A/B variants: bench_nn prints them
            continue
        key = ("text" if parts[1].startswith("text") else "audio", int(parts[2]))
        per_cpu = b["items_per_second"] * b["real_time"] / b["cpu_time"]  # items per process-CPU second
        old = rates.get(key, (0.0, 0.0))
        rates[key] = (max(old[0], b["items_per_second"]), max(old[1], per_cpu))
    return rates


def paired(args, batches):
    """Rounds of one hmr epoch (a bench_nn process) then one PyTorch epoch, per model and batch: both
    sides of a round see the same machine, so the median of the per-round ratios is robust to a
    shared machine's swings, which move whole minutes up or down."""
    print(f"{'model':<20}{'batch':>6}  per-round ratio hmr/torch (wall)          median   [torch, hmr samples/s]")
    for text in (False, True):
        if args.model != "all" and text != (args.model == "text"):
            continue
        name = "text_5000_512_32_cpu" if text else "audio_40_128_64_16_cpu"
        for batch in batches:
            setup = torch_setup(text, batch)
            ratios, th = [], []
            for _ in range(args.paired):
                h = hmr_rates(args.hmr, 1, "text" if text else "audio", [batch])[("text" if text else "audio", batch)]
                t = torch_epoch_rate(setup, text, batch)
                ratios.append(h[0] / t[0])
                th.append((t[0], h[0]))
            med = float(np.median(ratios))
            label = "text 5000-512-32" if text else "audio 40-128-64-16"
            print(f"{label:<20}{batch:>6}  {' '.join(f'{r:.2f}' for r in ratios):<40} {med:6.2f}x  "
                  f"{' '.join(f'[{a:.0f}, {b:.0f}]' for a, b in th)}")
            sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hmr", default="build/default/bench/bench_nn", help="path of bench_nn")
    ap.add_argument("--no-hmr", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0 = torch default)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", choices=("all", "audio", "text"), default="all", help="run only this model")
    ap.add_argument("--batches", default="64,256,1024", help="comma-separated batch sizes (PyTorch side)")
    ap.add_argument("--paired", type=int, default=0, metavar="N",
                    help="N interleaved rounds (hmr epoch, PyTorch epoch) per case; prints the median ratio")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}")
    batches = [int(b) for b in args.batches.split(",")]
    if args.paired:
        paired(args, batches)
        return
    hmr = {} if args.no_hmr else hmr_rates(args.hmr, args.repeats, args.model, batches)
    print("samples/s by wall clock, and [per process-CPU second] (robust on a shared machine)")
    print(f"{'model':<20}{'batch':>6}{'torch wall':>12}{'[cpu]':>10}{'hmr wall':>12}{'[cpu]':>10}"
          f"{'ratio wall':>12}{'[cpu]':>8}")
    for text in (False, True):
        if args.model != "all" and text != (args.model == "text"):
            continue
        for batch in batches:
            t, tc = torch_rate(text, batch, args.repeats)
            name = "text 5000-512-32" if text else "audio 40-128-64-16"
            h, hc = hmr.get(("text" if text else "audio", batch), (0.0, 0.0))
            line = f"{name:<20}{batch:>6}{t:>12.0f}{tc:>10.0f}"
            if h:
                line += f"{h:>12.0f}{hc:>10.0f}{h / t:>11.2f}x{hc / tc:>7.2f}x"
            print(line)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
