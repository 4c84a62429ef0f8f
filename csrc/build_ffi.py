"""cffi build script: one header, every C file under csrc/, one extension.

The cdef is the part of csrc/include/fastconv.h between the CDEF markers, so the
Python side always sees exactly the prototypes the C side compiles.  Instruction
sets are chosen at run time (per-function ``target`` attributes), so the default
build runs on any x86-64 CPU; ``FASTCONV_MARCH_NATIVE=1`` opts in to
``-march=native``, ``FASTCONV_NO_OPENMP=1`` builds single-threaded kernels and
``FASTCONV_EXTRA_CFLAGS`` adds flags (e.g. sanitizers).  Development builds:
``pip install -e .`` or ``python setup.py build_ext --inplace``.
"""
import os
import pathlib
import subprocess
import sysconfig
import tempfile

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent


def _cdef_text():
    header = (HERE / "include" / "fastconv.h").read_text()
    body = header.split("/* CDEF-BEGIN */", 1)[1].split("/* CDEF-END */", 1)[0]
    return body


def _compiler_accepts(flags):
    """True when the C compiler builds and links a tiny program with ``flags``."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp, "probe.c")
        src.write_text("#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n")
        cmd = cc.split() + flags + [str(src), "-o", str(pathlib.Path(tmp, "probe"))]
        try:
            return subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False


def _flags():
    compile_args = ["-O3", "-std=gnu11", "-ffp-contract=fast"]
    link_args = []
    if os.environ.get("FASTCONV_MARCH_NATIVE") == "1":
        compile_args.append("-march=native")
    if os.environ.get("FASTCONV_NO_OPENMP") != "1" and _compiler_accepts(["-fopenmp"]):
        compile_args.append("-fopenmp")
        link_args.append("-fopenmp")
    extra = os.environ.get("FASTCONV_EXTRA_CFLAGS", "").split()
    return compile_args + extra, link_args + extra


def _sources():
    # setuptools wants paths relative to the project root
    return sorted(str(p.relative_to(ROOT)) for p in HERE.rglob("*.c"))


ffibuilder = FFI()
ffibuilder.cdef(_cdef_text())
_compile_args, _link_args = _flags()
ffibuilder.set_source(
    "fastconv._cfastconv",
    '#include "fastconv.h"',
    sources=_sources(),
    include_dirs=[str(pathlib.Path("csrc", "include")), "csrc"],
    extra_compile_args=_compile_args,
    extra_link_args=_link_args,
)
