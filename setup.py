"""Build hook: the C kernels come from csrc/build_ffi.py; metadata is in pyproject.toml."""
from setuptools import setup

setup(cffi_modules=["csrc/build_ffi.py:ffibuilder"])
