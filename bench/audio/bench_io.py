"""What the librosa-vs-hmr bench scripts in bench/audio share: listing the audio files of the
inputs, running an hmr command timed from outside (wall and child CPU seconds) and letting
numpy's BLAS threads go idle between timed runs."""
import os
import resource
import subprocess
import sys
import time

EXT = (".wav", ".au", ".aiff", ".aif", ".flac", ".ogg", ".opus", ".mp3")


def list_files(inputs):
    """Audio files of the inputs: a folder is searched recursively (sorted, hidden files left
    out), a file is taken as given."""
    out = []
    for x in inputs:
        if os.path.isdir(x):
            for d, _, fs in sorted(os.walk(x)):
                out += sorted(os.path.join(d, f) for f in fs if f.lower().endswith(EXT) and not f.startswith("."))
        else:
            out.append(x)
    return out


def settle():
    """numpy's OpenBLAS threads in this process keep spinning for a while after librosa's last
    matrix product (OpenBLAS's thread timeout is ~2^28 cycles); a run started in that window
    shares the cores with them. Pausing before each timed run gives both sides idle cores."""
    time.sleep(0.5)


def run_hmr_timed(exe, command, files, device, out, threads):
    """`hmr COMMAND FILES --device DEVICE --out OUT -q [--threads N]`; returns (wall seconds,
    CPU seconds of the process)."""
    cmd = [exe, command, *files, "--device", device, "--out", out, "-q"]
    if threads:
        cmd += ["--threads", str(threads)]
    ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (ch1.ru_utime + ch1.ru_stime) - (ch0.ru_utime + ch0.ru_stime)


def add_common_args(ap, hmr_default, limit, limit_help, repeat, repeat_help):
    """The arguments every librosa-vs-hmr script takes: inputs, --hmr, --device, --threads,
    --limit and --repeat (defaults and wording per script)."""
    ap.add_argument("inputs", nargs="+", help="audio files or folders (searched recursively)")
    ap.add_argument("--hmr", default=hmr_default, help="the hmr executable")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="hmr --threads (0: all cores)")
    ap.add_argument("--limit", type=int, default=limit, help=limit_help)
    ap.add_argument("--repeat", type=int, default=repeat, help=repeat_help)


def pick_files(inputs, limit):
    """list_files(inputs), the first `limit` of them when limit > 0; exits when there are none."""
    files = list_files(inputs)
    if limit:
        files = files[:limit]
    if not files:
        sys.exit("no audio files found")
    return files
