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


def test_demo_runs_and_reports_no_wrong_results():
    result = _run("demo", "--repeats", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WRONG" not in result.stdout and "direct/numba" in result.stdout


def test_bad_command_is_a_usage_error():
    result = _run("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr
