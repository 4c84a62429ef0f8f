"""Timing candidates side by side on a noisy machine."""
from __future__ import annotations

import time

import numpy as np


def interleaved_medians(candidates, repeats):
    """Median seconds of each callable in ``candidates`` (name -> callable).

    Each is called once to warm up (JIT, first touch of buffers); then every
    repetition times each candidate in turn, so the machine's noise hits them alike.
    """
    for fn in candidates.values():
        fn()
    times = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}
