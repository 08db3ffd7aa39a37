"""Fixtures of the hypervisor tests: a simulated AMD root and manufactured chips."""

import pytest

from sevlab.firmware import certs
from sevlab.firmware.platform import manufacture
from sevlab.firmware.store import PlatformStore


@pytest.fixture(scope="session")
def root():
    # RSA-2048 (Naples-style): quick to generate, the same code paths as RSA-4096.
    return certs.SimulatedAMDRoot.generate(bits=2048)


@pytest.fixture
def make_store(root):
    def make():
        store = PlatformStore()
        manufacture(store, root)
        return store
    return make
