"""Helpers the firmware tests share: the mailbox as the host's driver drives it, and the real SEV
data."""

import pathlib

from sevlab.hypervisor.psp import COMMAND_BUFFER, PSPDriver

BUFFER = COMMAND_BUFFER     # where the host puts command buffers
SEV_DATA = pathlib.Path(__file__).resolve().parents[3] / "shared" / "sev-data"


async def issue(firmware, command, **fields):
    """Run a command as the host's driver does; returns ``(Status, outputs)``."""
    return await PSPDriver(firmware).issue(command, **fields)


def sev_data(relative):
    """The bytes of a file of ../shared/sev-data (fails, never skips, when it is missing)."""
    path = SEV_DATA / relative
    if not path.is_file():
        raise AssertionError(f"SEV test data file is missing: {path} (see sev-reference.md §19)")
    return path.read_bytes()


def check_bytes(name, actual, expected):
    assert actual == expected, f"{name}: got {actual.hex()}, expected {expected.hex()}"
