"""The iCE40UP5K's four SPRAMs side by side: 16,384 rows of 64 bits on one port, as
``SB_SPRAM256KA`` instances on the part and as a behavioural model with the same ports and timing
everywhere else. See ``rtl/bram/README.md``."""

from amaranth.hdl import ClockSignal, Instance, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2
from amaranth.vendor import SiliconBluePlatform

__all__ = ["ICE40SPRAM"]

#: One SB_SPRAM256KA: 16K words of 16 bits, a write-mask bit a nibble (Lattice TN1314).
BLOCK_BITS = 16
BLOCK_DEPTH = 16384
BLOCKS = 4


class ICE40SPRAM(wiring.Component):
    """16,384 rows of 64 bits: the UP5K's four SPRAMs, each holding 16 bits of every row.

    One port, in the ``sync`` domain. A cycle with ``select`` and not ``write_enable`` reads
    the row at ``address``: ``read_data`` is that row from the next cycle on, and holds while
    ``select`` is low. A cycle with ``select`` and ``write_enable`` writes the nibbles of
    ``write_data`` whose ``write_mask`` bit is 1. What ``read_data`` shows after a write is
    undefined on the part (Yosys's cell model makes it x) until the next read; the model shows
    the complement of the data written, so that a reader relying on it gets neither the row
    written nor (but by chance) the one read before, in simulation too.

    Elaborated for an iCE40 UltraPlus platform it is four ``SB_SPRAM256KA``; without a platform
    (Amaranth's simulator, Verilog for Icarus or Verilator) it is a ``Memory`` with that
    timing. Contents at power-up: undefined on the part (the bitstream does not set them), zero
    in the model.

    Members
    -------
    address : In(14)
    select : In(1)
        CHIPSELECT: the cycle reads or writes.
    write_enable : In(1)
        WREN: the cycle writes.
    write_mask : In(16)
        MASKWREN of the four blocks: bit ``n`` writes bits ``4n`` to ``4n + 3``.
    write_data : In(64)
    read_data : Out(64)
    """

    def __init__(self):
        super().__init__({
            "address": In(exact_log2(BLOCK_DEPTH)), "select": In(1), "write_enable": In(1),
            "write_mask": In(BLOCKS * BLOCK_BITS // 4), "write_data": In(BLOCKS * BLOCK_BITS),
            "read_data": Out(BLOCKS * BLOCK_BITS),
        })

    def elaborate(self, platform):
        # The platform decides, not a parameter: the same component (the iCEBreaker's bridged
        # system) is simulated without one and built with the board's.
        if platform is None:
            return self._model()
        if isinstance(platform, SiliconBluePlatform) and platform.device.startswith("iCE40UP"):
            return self._blocks()
        raise ValueError(f"SB_SPRAM256KA is on the iCE40 UltraPlus parts only, not on "
                         f"{type(platform).__name__} ({getattr(platform, 'device', 'no device')})")

    def _blocks(self):
        m = Module()
        for index in range(BLOCKS):
            m.submodules[f"block_{index}"] = Instance(
                "SB_SPRAM256KA",
                i_CLOCK=ClockSignal("sync"),
                i_ADDRESS=self.address,
                i_DATAIN=self.write_data.word_select(index, BLOCK_BITS),
                i_MASKWREN=self.write_mask.word_select(index, BLOCK_BITS // 4),
                i_WREN=self.write_enable,
                i_CHIPSELECT=self.select,
                # Always on: no standby or sleep, and POWEROFF (active low) would lose the contents.
                i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1,
                o_DATAOUT=self.read_data.word_select(index, BLOCK_BITS),
            )
        return m

    def _model(self):
        m = Module()
        m.submodules.rows = rows = Memory(shape=BLOCKS * BLOCK_BITS, depth=BLOCK_DEPTH, init=[])
        # One port on the part: a cycle reads or writes, so the two ports here never meet on a
        # row and their transparency does not matter.
        read, write = rows.read_port(), rows.write_port(granularity=4)
        reading = self.select & ~self.write_enable
        writing = self.select & self.write_enable
        m.d.comb += [read.addr.eq(self.address), read.en.eq(reading),
                     write.addr.eq(self.address), write.data.eq(self.write_data),
                     write.en.eq(self.write_mask & writing.replicate(len(self.write_mask)))]
        wrote = Signal()                # the last access was a write: read_data is undefined
        garbage = Signal.like(self.write_data)
        with m.If(writing):
            m.d.sync += [wrote.eq(1), garbage.eq(~self.write_data)]
        with m.Elif(reading):
            m.d.sync += wrote.eq(0)
        m.d.comb += self.read_data.eq(Mux(wrote, garbage, read.data))
        return m
