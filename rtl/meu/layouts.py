"""Records that travel between the stages of the unit. See ``rtl/meu/README.md``."""

import enum

from amaranth.hdl import Shape
from amaranth.lib import data

__all__ = ["Kind", "Port", "Source", "admitted_layout", "read_token_layout", "line_layout",
           "write_command_layout", "b_token_layout"]


class Kind(enum.IntEnum):
    """What the unit does with a request's line (see ``Route`` in ``sim/model/meu.py``)."""
    ERROR = 0      # refused: no DRAM access, an error response
    BYPASS = 1     # to or from DRAM as it is
    CIPHER = 2     # encrypted on the way to DRAM, decrypted on the way back


class Port(enum.IntEnum):
    """Where a request came from and its response goes."""
    HOST = 0
    PRIV = 1
    RMW = 2        # the unit's own read for a read-modify-write


class Source(enum.IntEnum):
    """Requesters at the admission arbiter, in round-robin order."""
    HOST_AR = 0
    HOST_AW = 1
    PRIV_AR = 2
    PRIV_AW = 3
    RMW = 4


def admitted_layout(*, id_width, address_width, slot_bits):
    """A request after the admission decision (the stage that reads the key)."""
    return data.StructLayout({
        "port": Shape.cast(Port), "write": 1, "id": id_width, "first": 2, "len": 8,
        "kind": Shape.cast(Kind), "line": address_width - 6, "slot": slot_bits,
    })


def read_token_layout(*, id_width):
    """A read in flight, in response order."""
    return data.StructLayout({"port": Shape.cast(Port), "id": id_width, "first": 2, "len": 8,
                              "kind": Shape.cast(Kind)})


def write_command_layout(*, id_width, address_width, slot_bits):
    """An admitted write waiting for its data beats."""
    return data.StructLayout({"port": Shape.cast(Port), "id": id_width, "first": 2, "len": 8,
                              "kind": Shape.cast(Kind), "line": address_width - 6, "slot": slot_bits})


def line_layout(*, address_width, slot_bits):
    """A write's whole line, its data placed at the beats it covers and strobes elsewhere zero."""
    return data.StructLayout({"data": 512, "strb": 64, "line": address_width - 6,
                              "kind": Shape.cast(Kind), "slot": slot_bits})


def b_token_layout(*, id_width):
    """A write response in order: refused (no DRAM write) or waiting for DRAM's response."""
    return data.StructLayout({"port": Shape.cast(Port), "id": id_width, "error": 1})
