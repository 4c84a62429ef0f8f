"""The benchmark harness: benchdnn parsing, suites, the error column, the CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import fastconv
from fastconv import _registry
from fastconv.bench import harness
from fastconv.bench.accuracy import within_bound
from fastconv.bench.benchdnn import parse_conv, parse_pool


def test_benchdnn_defaults_and_deduced_padding():
    layer = parse_conv('mb50ic64ih56oc64oh56kh3ph1n"resnet_50:res2a_branch2b*3"')
    assert (layer.mb, layer.groups, layer.iw, layer.ow, layer.kw, layer.sh, layer.dh) == (50, 1, 56, 56, 3, 1, 1)
    assert (layer.pad_top, layer.pad_bottom, layer.repeats) == (1, 1, 3)
    assert parse_conv("ic3ih8oc4kh3").mb == 2  # benchdnn's default batch
    conv1 = parse_conv('g1mb50ic3ih224iw224oc64oh112ow112kh7kw7sh2sw2ph3pw3n"resnet_50:conv1"')
    assert (conv1.pad_top, conv1.pad_bottom) == (3, 2)  # the end padding that makes oh hold
    deduced = parse_conv("mb1ic4ih10oc4oh10kh5")
    assert deduced.pad_top == 2 and deduced.pad_bottom == 2


def test_benchdnn_negative_end_padding_and_dilation():
    layer = parse_conv("mb1ic256ih56oc128oh28kh1sh2ph0")
    assert layer.pad_bottom == -1  # the last input row is never read
    x = np.zeros((1, 256, 56, 56), np.float32)
    xc, kw = layer.conv_args(x)
    assert xc.shape[2] == 55 and kw["padding"] == (0, 0, 0, 0)
    dilated = parse_conv("mb20ic16ih1iw8oc6oh1kh1kw3sh1pw0ph0sw1dh0dw2")
    assert (dilated.dh, dilated.dw, dilated.ow) == (1, 3, 2)  # benchdnn's dilation is PyTorch's - 1


def test_benchdnn_skips_comments_1d_and_3d():
    assert parse_conv("# a comment") is None
    assert parse_conv('ic20oc32_iw13kw1pw0_n"tails_conv_1d_1x1:2"') is None
    assert parse_conv("mb1ic16id1ih1iw1oc16od2oh2ow1kd3kh3kw1dd1dh1ph1pd1") is None


def test_benchdnn_pool_descriptor():
    layer = parse_pool('mb96ic64_ih114oh57_kh3sh2ph0n"googlenet_v1:max_pool1/3x3_s2"')
    assert (layer.mb, layer.c, layer.oh, layer.padding) == (96, 64, 57, (0, 1, 0, 1))


@pytest.mark.parametrize("suite", sorted(harness.SUITES))
def test_every_suite_ships_its_layers(suite):
    layers = harness.suite_layers(suite, mb=1)
    assert layers and all(layer.mb == 1 for layer in layers)


def test_quick_suite_names_exist():
    names = {layer.name for layer in harness.suite_layers("resnet50", mb=1)}
    assert set(harness.QUICK_LAYERS) <= names


def test_within_bound_flags_an_error():
    expected = np.array([1.0, -2.0, 3.0])
    assert within_bound(expected + 1e-9, expected, np.full(3, 1e-8)) == (pytest.approx(1e-9 / 3), True)
    assert not within_bound(expected + [0, 1e-6, 0], expected, np.full(3, 1e-8))[1]


def _tiny_layers():
    lines = ["mb2ic8ih9oc16oh9kh3ph1n\"tiny:conv\"", "mb2ic3ih11oc5oh5kh3sh2ph0n\"tiny:strided\"",
             "mb2ic4_ih8oh4_kh2sh2n\"tiny:pool\""]
    return [harness.parse_descriptor(line, None) for line in lines]


def test_harness_rows_cover_every_kernel_and_check_results():
    rows = harness.run(_tiny_layers(), conv_ops=list(harness.CONV_OPS), pool_ops=list(harness.POOL_OPS),
                       dtype="float32", threads=1, repeats=1, baselines=("numpy", "reference"))
    kernels = {(r.op, r.candidate) for r in rows}
    f32 = [s for s in _registry.kernels() if s.dtype == "f32"]
    for spec in f32:
        op = {v: k for k, v in {**harness.CONV_OPS, **harness.POOL_OPS}.items()}[spec.op]
        # a kernel registered under several names (Winograd's backward-filter) runs under one
        names = {f"{s.algorithm}/{s.backend}" for s in f32 if s.op == spec.op and s.fn is spec.fn}
        assert len({(op, n) for n in names} & kernels) == 1, (op, names)
    assert all(r.ok and r.error < 1e-5 for r in rows)
    assert all("reference" in r.speedup for r in rows if r.op in harness.CONV_OPS)
    assert any("numpy" in r.speedup for r in rows if r.op == "fwd")
    table = harness.format_table(rows)
    assert "tiny:conv" in table and "NO" not in table


def test_a_fast_wrong_kernel_shows(monkeypatch):
    def wrong(p, x, w, b, y):
        y[...] = 0
    fake = _registry.KernelSpec("conv2d_fwd", "im2col", "c", "f32", wrong, _registry.always)
    monkeypatch.setitem(_registry._REGISTRY, fake.key, fake)
    rows = harness.run(_tiny_layers()[:1], conv_ops=["fwd"], pool_ops=[], dtype="float32", threads=1,
                       repeats=1, baselines=())
    verdicts = {r.candidate: r.ok for r in rows}
    assert verdicts["im2col/c"] is False and verdicts["direct/c"] is True
    assert "NO" in harness.format_table(rows)


def test_harness_restores_the_thread_counts():
    """run sets the thread counts it measures with and puts them back: a library call
    must not leave later fastconv or PyTorch calls on another count."""
    try:
        import torch
    except ImportError:  # the harness then runs without its PyTorch baseline
        torch = None
    before = fastconv.get_num_threads()
    other = 1 if before != 1 else 2
    torch_before = torch.get_num_threads() if torch is not None else None
    harness.run(_tiny_layers()[:1], conv_ops=["fwd"], pool_ops=[], dtype="float32", threads=other, repeats=1,
                backends=("c",), baselines=("torch",))
    assert fastconv.get_num_threads() == before
    if torch is not None:
        assert torch.get_num_threads() == torch_before


def test_block_times_warms_each_candidate_up_for_the_warmup_time(monkeypatch):
    """A block calls its candidate until the warm-up time has passed (once for a
    slow one), then times exactly ``repeats`` calls; rests follow only the names
    given.  On a fake clock: each call advances it by the candidate's cost."""
    from fastconv.bench import timing

    class FakeTime:
        now, slept = 0.0, []

        def perf_counter(self):
            return self.now

        def sleep(self, seconds):
            self.slept.append(seconds)

    clock, calls = FakeTime(), {"fast": 0, "slow": 0}
    monkeypatch.setattr(timing, "time", clock)

    def candidate(name, cost):
        def call():
            calls[name] += 1
            clock.now += cost
        return call

    times = timing.block_times({"fast": candidate("fast", 1 / 64), "slow": candidate("slow", 1 / 4)}, 3,
                               pause_after=("fast",), pause=0.3, warmup=4 / 64)
    assert calls == {"fast": 4 + 3, "slow": 1 + 3}
    assert times == {"fast": [1 / 64] * 3, "slow": [1 / 4] * 3}
    assert clock.slept == [0.3]


def test_cli_bench_writes_json(tmp_path):
    out = tmp_path / "rows.json"
    result = subprocess.run(
        [sys.executable, "-m", "fastconv", "bench", "--desc", "mb1ic4ih6oc8oh6kh3ph1n\"cli:conv\"",
         "--ops", "fwd", "--backends", "c", "--baselines", "reference", "--repeats", "1",
         "--json", str(out), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert data["rows"][0]["layer"] == "cli:conv" and data["rows"][0]["ok"] is True
    assert "cli:conv" in result.stdout


def test_cli_bench_rejects_unknown_ops():
    result = subprocess.run([sys.executable, "-m", "fastconv", "bench", "--quick", "--ops", "sideways"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "--ops" in result.stderr
