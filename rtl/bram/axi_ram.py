"""Block RAM behind an AXI4 slave port: the DRAM of the board tops (``rtl/boards``)."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In
from amaranth.utils import exact_log2

from ..layouts import AXIResp, axi4_signature
from .spram import BLOCK_BITS, BLOCK_DEPTH, BLOCKS, ICE40SPRAM

__all__ = ["AXIBlockRAM", "STORAGES"]

BEAT_BYTES = 16
#: Where the rows are: an Amaranth ``Memory`` (block RAM, as the synthesis tool maps it), or
#: the iCE40UP5K's four SPRAMs (:class:`~sevlab.rtl.bram.spram.ICE40SPRAM`: 8-byte rows, 128 KiB).
STORAGES = ("memory", "ice40_spram")
_SPRAM_ROW_BYTES = BLOCKS * BLOCK_BITS // 8


class AXIBlockRAM(wiring.Component):
    """``size_bytes`` of RAM serving one AXI4 burst at a time; an address wraps at the size (a
    board has far less memory than the address space: software keeps within it).

    A 16-byte beat is one row, or two 8-byte rows: the iCE40UP5K's SPRAM (four 16-bit wide
    blocks side by side) is 64 bits wide. A read beat takes two cycles a row; a write beat one.
    A row's data is used only after a read of it, never after a write: the SPRAM's output is
    undefined then. With ``backdoor`` a second port reaches the same rows
    (the serial bridge's view of DRAM as it is, the simulated DRAM's backdoor); between bursts
    ``bus`` goes first.

    Parameters
    ----------
    size_bytes : int
        A power of two, at least 64; at most 131072 with ``storage="ice40_spram"``.
    row_bytes : 16 or 8
        The width of the RAM; 8 with ``storage="ice40_spram"``.
    storage : "memory" or "ice40_spram"
        An Amaranth ``Memory``, or the iCE40UP5K's SPRAMs (:class:`ICE40SPRAM`: instances
        when built for the part, its behavioural model in simulation).
    address_width, id_width : int
        The ports (no user signals).
    backdoor : bool

    Members
    -------
    bus : In(axi4_signature(...))
    backdoor : In(axi4_signature(...))
        With ``backdoor`` only.
    """

    def __init__(self, *, size_bytes, row_bytes=16, storage="memory", address_width=48, id_width=1,
                 backdoor=False):
        if size_bytes < 64 or size_bytes & (size_bytes - 1):
            raise ValueError(f"size_bytes must be a power of two of at least 64, not {size_bytes!r}")
        if row_bytes not in (8, 16):
            raise ValueError(f"row_bytes must be 8 or 16, not {row_bytes!r}")
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {STORAGES}, not {storage!r}")
        if storage == "ice40_spram" and row_bytes != _SPRAM_ROW_BYTES:
            raise ValueError(f"the iCE40 SPRAM's rows are {_SPRAM_ROW_BYTES} bytes, not {row_bytes!r}")
        if storage == "ice40_spram" and size_bytes > _SPRAM_ROW_BYTES * BLOCK_DEPTH:
            raise ValueError(f"the iCE40 SPRAM holds {_SPRAM_ROW_BYTES * BLOCK_DEPTH} bytes, not {size_bytes!r}")
        self._size_bytes = size_bytes
        self._row_bytes = row_bytes
        self._storage = storage
        port = In(axi4_signature(address_width=address_width, id_width=id_width))
        super().__init__({"bus": port, **({"backdoor": port} if backdoor else {})})

    size_bytes = property(lambda self: self._size_bytes)
    storage = property(lambda self: self._storage)

    def elaborate(self, platform):
        m = Module()
        ports = [self.bus] + ([self.backdoor] if hasattr(self, "backdoor") else [])
        row_bytes = self._row_bytes
        parts = BEAT_BYTES // row_bytes         # rows a beat
        beat_bits = exact_log2(self._size_bytes // BEAT_BYTES)
        beat = Signal(beat_bits)
        part = Signal(range(parts))
        low = Signal(8 * (BEAT_BYTES - row_bytes))  # the beat's rows read before the last
        left = Signal(8)                # beats after this one
        ident = Signal(len(self.bus.arid))
        owner = Signal(range(len(ports)))           # the port whose burst this is
        last_part = part == parts - 1
        wvalid, wlast, rready, bready = (Signal(name=name) for name in ("wvalid", "wlast", "rready", "bready"))
        wdata, wstrb = Signal(128), Signal(16)
        rvalid, wready, bvalid = Signal(), Signal(), Signal()    # to the owner
        read_row = Signal()             # the row at Cat(part, beat) is read: out the next cycle
        write_row = Signal()            # the row at Cat(part, beat) takes its strobed bytes ...
        row_data = Signal(8 * row_bytes)
        # ... a cycle later, from registers: the owner's W handshake (the unit's or the bridge's
        # logic) then ends here instead of at the enables of rows spread over the part (on the
        # ULX3S, 32 DP16KD: the bridge's path into them was critical). No row is read in that
        # cycle: a burst's response comes between its last write and the next burst.
        landing = Signal()
        landing_address = Signal(len(part) + beat_bits)
        landing_data = Signal(8 * row_bytes)
        landing_strobes = Signal(row_bytes)
        m.d.sync += [landing.eq(write_row), landing_address.eq(Cat(part, beat)),
                     landing_data.eq(wdata.word_select(part, 8 * row_bytes)),
                     landing_strobes.eq(wstrb.word_select(part, row_bytes))]
        self._rows(m, read_address=Cat(part, beat), read_row=read_row, row_data=row_data,
                   write_address=landing_address, write_row=landing, write_data=landing_data,
                   strobes=landing_strobes)
        for index, port in enumerate(ports):
            mine = owner == index
            m.d.comb += [port.rid.eq(ident), port.bid.eq(ident), port.rresp.eq(AXIResp.OKAY),
                         port.bresp.eq(AXIResp.OKAY), port.rdata.eq(Cat(low, row_data)),
                         port.rlast.eq(left == 0), port.rvalid.eq(rvalid & mine),
                         port.wready.eq(wready & mine), port.bvalid.eq(bvalid & mine)]
            with m.If(mine):
                m.d.comb += [wvalid.eq(port.wvalid), wlast.eq(port.wlast), wdata.eq(port.wdata),
                             wstrb.eq(port.wstrb), rready.eq(port.rready), bready.eq(port.bready)]
        with m.FSM():
            with m.State("IDLE"):
                # The first port with a request, writes before reads.
                chosen = m.If
                for index, port in enumerate(ports):
                    with chosen(port.awvalid):
                        m.d.comb += port.awready.eq(1)
                        m.d.sync += [beat.eq(port.awaddr[4:4 + beat_bits]), left.eq(port.awlen),
                                     ident.eq(port.awid), owner.eq(index)]
                        m.next = "WRITE"
                    chosen = m.Elif
                    with chosen(port.arvalid):
                        m.d.comb += port.arready.eq(1)
                        m.d.sync += [beat.eq(port.araddr[4:4 + beat_bits]), left.eq(port.arlen),
                                     ident.eq(port.arid), owner.eq(index)]
                        m.next = "READ_ROW"
            with m.State("READ_ROW"):
                m.d.comb += read_row.eq(1)
                m.next = "READ_PART"
            with m.State("READ_PART"):
                with m.If(~last_part):
                    m.d.sync += [low.eq(Cat(low[8 * row_bytes:], row_data)), part.eq(part + 1)]
                    m.next = "READ_ROW"
                with m.Else():
                    # row_data holds while the beat waits: the rows see no access until rready.
                    m.d.comb += rvalid.eq(1)
                    with m.If(rready):
                        m.d.sync += [beat.eq(beat + 1), left.eq(left - 1), part.eq(0)]
                        m.next = "READ_ROW"
                        with m.If(left == 0):
                            m.next = "IDLE"
            with m.State("WRITE"):
                m.d.comb += wready.eq(last_part)
                with m.If(wvalid):
                    m.d.comb += write_row.eq(1)
                    m.d.sync += part.eq(part + 1)
                    with m.If(last_part):
                        m.d.sync += [beat.eq(beat + 1), left.eq(left - 1), part.eq(0)]
                        with m.If(wlast):
                            m.next = "RESPONSE"
            with m.State("RESPONSE"):
                m.d.comb += bvalid.eq(1)
                with m.If(bready):
                    m.next = "IDLE"
        return m

    def _rows(self, m, *, read_address, read_row, row_data, write_address, write_row, write_data, strobes):
        """The rows in their storage; a cycle reads or writes a row, never both."""
        if self._storage == "memory":
            m.submodules.rows = rows = Memory(shape=8 * self._row_bytes, depth=self._size_bytes // self._row_bytes,
                                              init=[])
            read, write = rows.read_port(), rows.write_port(granularity=8)
            m.d.comb += [read.addr.eq(read_address), read.en.eq(read_row), row_data.eq(read.data),
                         write.addr.eq(write_address), write.data.eq(write_data),
                         write.en.eq(Mux(write_row, strobes, 0))]
        else:
            m.submodules.rows = rows = ICE40SPRAM()
            m.d.comb += [rows.address.eq(Mux(write_row, write_address, read_address)),
                         rows.select.eq(read_row | write_row),
                         rows.write_enable.eq(write_row), rows.write_data.eq(write_data),
                         rows.write_mask.eq(Cat(strobe.replicate(2) for strobe in strobes)),   # 2 nibbles a byte
                         row_data.eq(rows.read_data)]
