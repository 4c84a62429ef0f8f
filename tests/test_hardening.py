"""Failure and load behaviour of every op: allocation failures inside C, workspace
leaks, many Python threads at once, thread-count changes during calls, and memory
over many calls."""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import fastconv
from fastconv import _c

from hardening_ops import BACKENDS, as_tuple, inputs, op_calls

C_LIB = _c.lib
needs_c = pytest.mark.skipif(C_LIB is None, reason="the C extension is not built")
DATA = inputs()
SERIAL = {backend: {name: as_tuple(call()) for name, call in op_calls(DATA, backend)} for backend in BACKENDS}


def _same(got, expected, name, any_thread_count=False):
    """Results equal; with any_thread_count, F(4x4) Winograd (inexact, and summing in
    an order that depends on the thread count) only within float32 rounding."""
    assert len(got) == len(expected), name
    for a, b in zip(got, expected):
        if b is None:
            assert a is None, name
        elif any_thread_count and "f4x4" in name:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * float(np.abs(b).max()), err_msg=name)
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)


# -- allocation failures ---------------------------------------------------------------

@needs_c
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_every_failed_allocation_becomes_memory_error_and_leaks_nothing(dtype, threads):
    """For each C op, make its k-th workspace allocation fail, for k = 0, 1, ... until
    the call needs no more: each failure is a MemoryError, nothing stays allocated,
    and the next call gives the right result."""
    data = inputs(dtype)
    before = fastconv.get_num_threads()
    fastconv.set_num_threads(min(threads, fastconv._threads.MAX_THREADS))
    failures = 0
    try:
        expected = {name: as_tuple(call()) for name, call in op_calls(data, "c")}
        for name, call in op_calls(data, "c"):
            for k in range(64):
                C_LIB.fc_fail_allocations_after(k)
                try:
                    result = as_tuple(call())
                except MemoryError as error:
                    assert "could not allocate" in str(error), name
                    failures += 1
                else:
                    C_LIB.fc_fail_allocations_after(-1)
                    _same(result, expected[name], f"{name} with allocation {k} allowed to fail")
                    break
                finally:
                    C_LIB.fc_fail_allocations_after(-1)
                    assert C_LIB.fc_live_allocations() == 0, f"{name}: workspace leaked after failure {k}"
            else:
                pytest.fail(f"{name} still failing after 64 allocations")
            _same(as_tuple(call()), expected[name], f"{name} after the failures")
    finally:
        C_LIB.fc_fail_allocations_after(-1)
        fastconv.set_num_threads(before)
    assert failures > 20  # the ops do allocate: the failures were exercised


# -- threads -----------------------------------------------------------------------------

def _hammer(calls, workers=8, rounds=3):
    """Run every call `rounds` times from each of `workers` Python threads, all
    starting together; returns {name: [results]} and the exceptions raised."""
    results, errors = {name: [] for name, _ in calls}, []
    start = threading.Barrier(workers)
    lock = threading.Lock()

    def work(seed):
        order = list(calls)
        np.random.default_rng(seed).shuffle(order)
        start.wait()
        try:
            for _ in range(rounds):
                for name, call in order:
                    out = as_tuple(call())
                    with lock:
                        results[name].append(out)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


@pytest.mark.parametrize("backend", BACKENDS)
def test_eight_python_threads_give_the_serial_results(backend):
    calls = op_calls(DATA, backend)
    results, errors = _hammer(calls)
    assert not errors, errors[0]
    for name, outs in results.items():
        assert len(outs) == 8 * 3
        for out in outs:
            _same(out, SERIAL[backend][name], name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_changing_the_thread_count_during_calls_is_safe(backend):
    """One thread flips set_num_threads while eight run every op: integer data makes
    every result exact whatever the thread count."""
    calls = op_calls(DATA, backend)
    before = fastconv.get_num_threads()
    stop = threading.Event()
    flips = []

    def flip():
        n = 0
        while not stop.is_set():
            fastconv.set_num_threads(1 + n % fastconv._threads.MAX_THREADS)
            n += 1
        flips.append(n)

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        results, errors = _hammer(calls, rounds=2)
    finally:
        stop.set()
        flipper.join()
        fastconv.set_num_threads(before)
    assert not errors, errors[0]
    assert flips[0] > 10
    for name, outs in results.items():
        for out in outs:
            _same(out, SERIAL[backend][name], name, any_thread_count=True)


# -- memory over many calls --------------------------------------------------------------

def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from Linux's /proc")
@pytest.mark.parametrize("backend", BACKENDS)
def test_ten_thousand_calls_of_each_op_leave_rss_flat(backend):
    data = inputs(seed=1, shape=(1, 2, 5, 6), c_out=3)  # small: the calls' own costs dominate
    calls = op_calls(data, backend)
    for _, call in calls:  # compile, load and fill the allocators' caches first
        for _ in range(200):
            call()
    growth = {}
    for name, call in calls:
        start = _rss_bytes()
        for _ in range(10_000):
            call()
        growth[name] = _rss_bytes() - start
    # a leak of one small output (a few KiB) per call would be 10+ MiB here
    assert max(growth.values()) < 2**20, {k: v for k, v in growth.items() if v >= 2**20}
    if C_LIB is not None:
        assert C_LIB.fc_live_allocations() == 0
