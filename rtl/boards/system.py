"""What every board top holds: the serial bridge driving the memory system, whose DRAM is block
RAM. The tops add the UART, the pins and the LEDs. See ``rtl/boards/README.md``."""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..bram import AXIBlockRAM
from ..bridge import SerialBridge
from ..memsys import MemorySystem

__all__ = ["BridgedSystem"]


class BridgedSystem(wiring.Component):
    """:class:`~sevlab.rtl.bridge.SerialBridge` → :class:`~sevlab.rtl.memsys.MemorySystem` →
    :class:`~sevlab.rtl.bram.AXIBlockRAM`.

    Parameters
    ----------
    memory_bytes : int
        Block RAM behind the unit (addresses wrap at it).
    memory_row_bytes : 16 or 8
        The RAM's width (:class:`~sevlab.rtl.bram.AXIBlockRAM`'s ``row_bytes``).
    memory_storage : "memory" or "ice40_spram"
        Where the RAM's rows are (:class:`~sevlab.rtl.bram.AXIBlockRAM`'s ``storage``).
    **system_parameters
        Passed to :class:`~sevlab.rtl.memsys.MemorySystem` (``cache_bytes``, ``engine``, ...).

    Members
    -------
    rx : In(stream.Signature(8)), tx : Out(stream.Signature(8))
        The bridge's bytes.
    """

    def __init__(self, *, memory_bytes=65536, memory_row_bytes=16, memory_storage="memory", **system_parameters):
        self.system = MemorySystem(**system_parameters)
        self.bridge = SerialBridge(address_width=self.system.address_width, id_width=self.system.id_width,
                                   asid_width=self.system.asid_width)
        self.memory = AXIBlockRAM(size_bytes=memory_bytes, row_bytes=memory_row_bytes, storage=memory_storage,
                                  address_width=self.system.address_width,
                                  id_width=len(self.system.dram.arid), backdoor=True)
        super().__init__({"rx": In(stream.Signature(8)), "tx": Out(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.system = self.system
        m.submodules.bridge = self.bridge
        m.submodules.memory = self.memory
        wiring.connect(m, wiring.flipped(self.rx), self.bridge.rx)
        wiring.connect(m, self.bridge.tx, wiring.flipped(self.tx))
        for name in ("host", "priv", "csr", "maint"):
            wiring.connect(m, getattr(self.bridge, name), getattr(self.system, name))
        wiring.connect(m, self.system.dram, self.memory.bus)
        wiring.connect(m, self.bridge.dram, self.memory.backdoor)
        return m
