"""Interfaces that cross block boundaries: the AXI4 port signature. See ``README.md``."""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["axi4_signature", "AXIResp", "AXIBurst"]


class AXIResp:
    OKAY = 0
    SLVERR = 2


class AXIBurst:
    FIXED = 0
    INCR = 1
    WRAP = 2


def axi4_signature(*, address_width, data_width=128, id_width=4, user_width=0):
    """A flat AXI4 port with AXI's own member names, from the manager's side.

    Flat names are what cocotbext-axi's ``AxiBus.from_prefix(dut, "s_axi", bus_separator="__")``
    expects. ``awuser``/``aruser`` (the ASID) exist only when ``user_width`` > 0: a zero-width
    port would become an illegal ``[-1:0]`` wire in the Verilog.
    """
    user = {"awuser": Out(user_width)} if user_width else {}
    ruser = {"aruser": Out(user_width)} if user_width else {}
    return wiring.Signature({
        "awid": Out(id_width), "awaddr": Out(address_width), "awlen": Out(8), "awsize": Out(3),
        "awburst": Out(2), **user, "awvalid": Out(1), "awready": In(1),
        "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wlast": Out(1),
        "wvalid": Out(1), "wready": In(1),
        "bid": In(id_width), "bresp": In(2), "bvalid": In(1), "bready": Out(1),
        "arid": Out(id_width), "araddr": Out(address_width), "arlen": Out(8), "arsize": Out(3),
        "arburst": Out(2), **ruser, "arvalid": Out(1), "arready": In(1),
        "rid": In(id_width), "rdata": In(data_width), "rresp": In(2), "rlast": In(1),
        "rvalid": In(1), "rready": Out(1),
    })
