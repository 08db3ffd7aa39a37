"""The serial bridge's frames: what the host sends and what the board answers.

Shared by the RTL (``bridge.py``) and the host's serial backend (``sim/machine/serial.py``), so
that both sides read the same table. Numbers are little-endian.

Request:  ``0xA5, op, fields``; response: ``0x5A, op, status, data``.

| op | name | fields | response data |
| --- | --- | --- | --- |
| 0x01 | HOST_READ | address (6), ASID (1), beats (1) | 16 × beats bytes |
| 0x02 | HOST_WRITE | address (6), ASID (1), beats (1), then per beat: strobes (2), data (16) | — |
| 0x03 | MAINT_READ | register word address (1) | the word (4) |
| 0x04 | MAINT_WRITE | register word address (1), the word (4) | — |
| 0x05 | CYCLES | — | clock cycles since reset (8) |
| 0x81 | PRIV_READ | as HOST_READ, on the secure processor's port | as HOST_READ |
| 0x82 | PRIV_WRITE | as HOST_WRITE | — |
| 0x83 | SECURE_READ | secure-port word address (1) | the word (4) |
| 0x84 | SECURE_WRITE | secure-port word address (1), the word (4) | — |
| 0x85 | DRAM_READ | as HOST_READ (ASID ignored), on the memory itself, past the unit | as HOST_READ |
| 0x86 | DRAM_WRITE | as HOST_WRITE (ASID ignored), on the memory itself | — |

Ops with bit 7 set are the secure processor's class: on a board they reach the key slots and
guest memory with any key, which the cores never can, and DRAM as it is, as a probe on the
memory bus would (the prototype's limitation, ``docs/fpga.md``). ``status`` is the AXI response of a burst (0 OKAY, 2 SLVERR), 0 for the
others, and 0xFF for an op the bridge does not know (then no data; it waits for the next 0xA5).
"""

from enum import IntEnum

__all__ = ["REQUEST", "RESPONSE", "Op", "UNKNOWN_OP", "MEMORY_PORTS", "request_length", "response_length"]

REQUEST = 0xA5
RESPONSE = 0x5A
UNKNOWN_OP = 0xFF


class Op(IntEnum):
    HOST_READ = 0x01
    HOST_WRITE = 0x02
    MAINT_READ = 0x03
    MAINT_WRITE = 0x04
    CYCLES = 0x05
    PRIV_READ = 0x81
    PRIV_WRITE = 0x82
    SECURE_READ = 0x83
    SECURE_WRITE = 0x84
    DRAM_READ = 0x85
    DRAM_WRITE = 0x86


MEMORY_READS = (Op.HOST_READ, Op.PRIV_READ, Op.DRAM_READ)
MEMORY_WRITES = (Op.HOST_WRITE, Op.PRIV_WRITE, Op.DRAM_WRITE)
#: The bus each memory op runs on: the bridge's ports in this order.
MEMORY_PORTS = ("host", "priv", "dram")
REGISTER_READS = (Op.MAINT_READ, Op.SECURE_READ)
REGISTER_WRITES = (Op.MAINT_WRITE, Op.SECURE_WRITE)
HEADER_BYTES = 8                    # address (6), ASID (1), beats (1)


def request_length(op, beats=0):
    """Bytes after ``op`` in a request."""
    if op in MEMORY_READS:
        return HEADER_BYTES
    if op in MEMORY_WRITES:
        return HEADER_BYTES + 18 * beats
    if op in REGISTER_READS:
        return 1
    if op in REGISTER_WRITES:
        return 5
    return 0


def response_length(op, beats=0):
    """Bytes after ``status`` in a response."""
    if op in MEMORY_READS:
        return 16 * beats
    if op in REGISTER_READS:
        return 4
    if op == Op.CYCLES:
        return 8
    return 0
