"""Timing candidates side by side on a noisy machine."""
from __future__ import annotations

import time

import numpy as np


def interleaved_times(candidates, repeats):
    """Seconds of each of ``repeats`` calls of every callable in ``candidates``
    (name -> callable), as name -> list.

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
    return times


def interleaved_medians(candidates, repeats):
    """Median seconds of each callable, timed as ``interleaved_times`` does."""
    return {name: float(np.median(t)) for name, t in interleaved_times(candidates, repeats).items()}


WARMUP_SECONDS = 0.05  # a block's warm-up: calls until this much time has passed


def block_times(candidates, repeats, pause_after=(), pause=0.0, warmup=WARMUP_SECONDS):
    """Seconds of ``repeats`` consecutive calls of each callable, one candidate after
    another (each warmed up first: called until ``warmup`` seconds have passed, at
    least once), as name -> list.

    Interleaving candidates lets one disturb the next through shared process state
    (the allocator's heap, caches, thread pools that keep spinning): measured, a Numba
    kernel run between them made a C kernel 25 % slower than it is on its own.  In
    blocks each candidate is timed in its own steady state, as a user calling it
    repeatedly sees it.  After the block of each name in ``pause_after`` the machine
    rests ``pause`` seconds (OpenBLAS's threads keep spinning after a call and
    halved the speed of whatever ran next).  One warm-up call is not enough after
    such a rest: measured on a 2-core VM, the five calls after it ran a 0.6 ms C
    pooling kernel 1.7-4.8x slower than the same calls after 50 ms of warm-up (the
    cores had slowed down, and the kernel's threads gone to sleep)."""
    times = {}
    for name, fn in candidates.items():
        start = time.perf_counter()
        fn()
        while time.perf_counter() - start < warmup:
            fn()
        times[name] = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        if name in pause_after:
            time.sleep(pause)
    return times
