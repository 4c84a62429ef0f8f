"""This machine's measured FMA peak, from the C probe, cached per CPU, ISA and threads."""
from __future__ import annotations

import json
import os
import pathlib
import platform
import time

from .. import _c
from .._threads import get_num_threads


def _cache_file():
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "fastconv" / "fma_peak.json"


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fma_peak_gflops(threads=None, refresh=False):
    """float32 FMA peak in GFLOP/s on ``threads`` threads (default: the current setting);
    float64's is half.  Measured once (best of 3 runs of ~0.2 s) and cached."""
    threads = threads or get_num_threads()
    key = f"{_cpu_name()}|{_c.isa_active()}|{threads}"
    path = _cache_file()
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache and not refresh:
        return cache[key]
    before = _c.lib.fc_get_num_threads()
    _c.lib.fc_set_num_threads(threads)
    try:
        best = 0.0
        iters = 20_000_000
        for _ in range(3):
            start = time.perf_counter()
            flops = _c.lib.fc_fma_probe(iters)
            best = max(best, flops / (time.perf_counter() - start) / 1e9)
    finally:
        _c.lib.fc_set_num_threads(before)
    cache[key] = round(best, 1)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cache, indent=1))
    except OSError:
        pass  # a read-only home: measure again next time
    return cache[key]
