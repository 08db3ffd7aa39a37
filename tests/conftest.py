"""Shared pytest configuration for the sevlab tests. Keep it small: fixtures that belong to one
block live next to that block's tests. See ``README.md``.
"""

__all__ = []

import gc
import shutil
import tempfile
import warnings

import pytest

from hypothesis.configuration import set_hypothesis_home_dir

_hypothesis_home = None


def pytest_configure(config):
    # Hypothesis caches source constants under ./.hypothesis during collection, even with
    # database=None, which would write into the source tree; a throwaway directory keeps it out.
    global _hypothesis_home
    _hypothesis_home = tempfile.mkdtemp(prefix="sevlab-hypothesis-")
    set_hypothesis_home_dir(_hypothesis_home)


def pytest_unconfigure(config):
    if _hypothesis_home is not None:
        shutil.rmtree(_hypothesis_home, ignore_errors=True)


@pytest.fixture
def half_built_components():
    """For tests of constructors that raise: the half-built component was still created and is
    never elaborated, so Amaranth warns when it is collected. Collect it here, where that
    warning is expected, rather than in a later test."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=Warning, message=".*created but never used")
        yield
        gc.collect()
