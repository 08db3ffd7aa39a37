"""Block RAM behind an AXI4 slave port: the DRAM of the board tops (``rtl/boards``)."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In
from amaranth.utils import exact_log2

from ..layouts import AXIResp, axi4_signature

__all__ = ["AXIBlockRAM"]


class AXIBlockRAM(wiring.Component):
    """``size_bytes`` of RAM (16-byte rows) serving one AXI4 burst at a time; an address wraps
    at the size (a board has far less memory than the address space: software keeps within it).

    Parameters
    ----------
    size_bytes : int
        A power of two, at least 64.
    address_width, id_width : int
        The port (no user signals).

    Members
    -------
    bus : In(axi4_signature(...))
    """

    def __init__(self, *, size_bytes, address_width=48, id_width=1):
        if size_bytes < 64 or size_bytes & (size_bytes - 1):
            raise ValueError(f"size_bytes must be a power of two of at least 64, not {size_bytes!r}")
        self._rows = size_bytes // 16
        super().__init__({"bus": In(axi4_signature(address_width=address_width, id_width=id_width))})

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        m.submodules.rows = rows = Memory(shape=128, depth=self._rows, init=[])
        read, write = rows.read_port(), rows.write_port(granularity=8)
        row_bits = exact_log2(self._rows)
        row = Signal(row_bits)
        left = Signal(8)                # beats after this one
        ident = Signal(len(bus.arid))
        m.d.comb += [bus.rid.eq(ident), bus.bid.eq(ident), bus.rresp.eq(AXIResp.OKAY),
                     bus.bresp.eq(AXIResp.OKAY), bus.rdata.eq(read.data), bus.rlast.eq(left == 0),
                     read.addr.eq(row), write.addr.eq(row), write.data.eq(bus.wdata)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(bus.awvalid):
                    m.d.comb += bus.awready.eq(1)
                    m.d.sync += [row.eq(bus.awaddr[4:4 + row_bits]), left.eq(bus.awlen), ident.eq(bus.awid)]
                    m.next = "WRITE"
                with m.Elif(bus.arvalid):
                    m.d.comb += bus.arready.eq(1)
                    m.d.sync += [row.eq(bus.araddr[4:4 + row_bits]), left.eq(bus.arlen), ident.eq(bus.arid)]
                    m.next = "READ_ROW"
            with m.State("READ_ROW"):
                m.d.comb += read.en.eq(1)       # the row's data is out the next cycle
                m.next = "READ_BEAT"
            with m.State("READ_BEAT"):
                m.d.comb += [bus.rvalid.eq(1), read.en.eq(0)]
                with m.If(bus.rready):
                    m.d.sync += [row.eq(row + 1), left.eq(left - 1)]
                    m.next = "READ_ROW"
                    with m.If(left == 0):
                        m.next = "IDLE"
            with m.State("WRITE"):
                m.d.comb += bus.wready.eq(1)
                with m.If(bus.wvalid):
                    m.d.comb += write.en.eq(bus.wstrb)
                    m.d.sync += [row.eq(row + 1), left.eq(left - 1)]
                    with m.If(bus.wlast):
                        m.next = "RESPONSE"
            with m.State("RESPONSE"):
                m.d.comb += bus.bvalid.eq(1)
                with m.If(bus.bready):
                    m.next = "IDLE"
        return m
