"""Build hook: the C kernels come from csrc/build_ffi.py; metadata is in pyproject.toml.

The extension's C files compile in parallel, one compiler process per core:
setuptools compiles an extension's sources one after another, and the
sanitizer build of CI took four minutes that way on two cores."""
import os
from concurrent.futures import ThreadPoolExecutor

from setuptools import setup
from setuptools.command.build_ext import build_ext


class ParallelBuildExt(build_ext):
    """build_ext whose compiler takes each extension's sources in parallel."""

    def build_extension(self, ext):
        compile_serially = self.compiler.compile

        def compile_in_parallel(sources, *args, **kwargs):
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                parts = pool.map(lambda source: compile_serially([source], *args, **kwargs), sources)
                return [obj for part in parts for obj in part]

        self.compiler.compile = compile_in_parallel
        try:
            super().build_extension(ext)
        finally:
            del self.compiler.compile  # the class's method again


setup(cmdclass={"build_ext": ParallelBuildExt}, cffi_modules=["csrc/build_ffi.py:ffibuilder"])
