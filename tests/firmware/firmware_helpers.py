"""Helpers the firmware tests share: the mailbox as a host drives it, and the real SEV data."""

import pathlib

from sevlab.firmware.commands import LAYOUTS

BUFFER = 0x10_0000          # where the host puts command buffers
SEV_DATA = pathlib.Path(__file__).resolve().parents[3] / "shared" / "sev-data"


async def issue(firmware, command, **fields):
    """Write the command's buffer through the privileged port, run it, read the buffer back."""
    layout = LAYOUTS[command]
    machine = firmware.machine
    if layout.size:
        await machine.write(BUFFER, layout.pack(fields), port="priv")
    status = await firmware.command(command, BUFFER if layout.size else 0)
    outputs = layout.unpack(await machine.read(BUFFER, layout.size, port="priv")) if layout.size else {}
    return status, outputs


def sev_data(relative):
    """The bytes of a file of ../shared/sev-data (fails, never skips, when it is missing)."""
    path = SEV_DATA / relative
    if not path.is_file():
        raise AssertionError(f"SEV test data file is missing: {path} (see sev-reference.md §19)")
    return path.read_bytes()


def check_bytes(name, actual, expected):
    assert actual == expected, f"{name}: got {actual.hex()}, expected {expected.hex()}"
