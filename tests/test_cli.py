"""The command line, run as a user would."""
import subprocess
import sys

import fastconv


def _run(*args):
    return subprocess.run([sys.executable, "-m", "fastconv", *args], capture_output=True, text=True, timeout=600)


def test_info_names_version_isa_kernels_and_threads():
    result = _run("info")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert fastconv.__version__ in out
    assert "instruction set" in out and "threads:" in out
    assert "conv2d_fwd: direct/c f32+f64" in out


def test_quick_bench_runs_every_kernel_and_reports_no_wrong_result():
    """The README's main job."""
    result = _run("bench", "--quick", "--no-progress", "--repeats", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    for kernel in ("direct/c", "direct/numba"):
        for op in ("fwd", "bwd_data", "bwd_filter", "max_fwd", "avg_bwd"):
            assert any(kernel in line and f" {op} " in line and line.endswith("yes")
                       for line in result.stdout.splitlines()), (kernel, op)


def test_bad_command_is_a_usage_error():
    result = _run("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr
