"""What the librosa-vs-hmr bench scripts in bench/audio share: listing the audio files of the
inputs, running an hmr command timed from outside (wall and child CPU seconds) and letting
numpy's BLAS threads go idle between timed runs."""
import os
import resource
import subprocess
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
