"""The memory system: the ASID-tagged cache in front of the memory encryption unit.

The cores reach memory through the cache (``host``); so does the secure processor (``priv``),
coherently but without allocating: it sees a cached line only under the tag it asks with, so
software still flushes a page before the firmware uses it under another C-bit or ASID (as KVM
does before LAUNCH_UPDATE_DATA). See ``rtl/memsys/README.md``.
"""

from amaranth.hdl import Signal, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from ..cache import CACHE_REGISTERS, CacheOp, WriteBackCache
from ..cache.regmap import MAINT_ADDRESS_WIDTH
from ..csr import CSRBank, CSRDecoder, csr_bus_signature
from ..meu import MemoryEncryptionUnit
from ..meu_small import SmallEncryptionUnit
from .regmap import SECURE_ADDRESS_WIDTH, SYSTEM_REGISTERS, SYSTEM_WINDOW, UNIT_WINDOW

__all__ = ["MemorySystem", "UNITS"]

#: The encryption units a memory system can hold, by name (``MemorySystem(unit=...)``).
UNITS = {"standard": MemoryEncryptionUnit, "small": SmallEncryptionUnit}


class MemorySystem(wiring.Component):
    """:class:`~sevlab.rtl.cache.WriteBackCache` and an encryption unit
    (:class:`~sevlab.rtl.meu.MemoryEncryptionUnit` or :class:`~sevlab.rtl.meu_small.SmallEncryptionUnit`).

    Parameters
    ----------
    cache_bytes : int
        Cache capacity; 0 builds the cache-less system (the bare unit, for its benchmarks), whose
        WBINVD and CLFLUSH do nothing but count.
    cache_ways : int
    unit : "standard" or "small"
        :class:`~sevlab.rtl.meu.MemoryEncryptionUnit` (the default) or
        :class:`~sevlab.rtl.meu_small.SmallEncryptionUnit` (one request at a time, for small
        FPGAs; same ports, registers and behaviour).
    **unit_parameters
        Passed to the unit.

    Members
    -------
    host : In(axi4_signature(...))
        The cores (through the cache).
    priv : In(axi4_signature(...))
        The secure processor (through the cache, which serves it from a line it holds under the
        same tag and passes anything else on; straight to the unit without a cache).
    dram : Out(axi4_signature(...))
    csr : In(csr_bus_signature(7))
        The secure port: the unit's window at 0x00, the system window at 0x40.
    maint : In(csr_bus_signature(4))
        The cores' cache maintenance (``rtl/cache/regmap.py``).
    """

    def __init__(self, *, cache_bytes=8192, cache_ways=4, unit="standard", **unit_parameters):
        if unit not in UNITS:
            raise ValueError(f"Unit must be one of {sorted(UNITS)}, not {unit!r}")
        self._unit_name = unit
        self._unit = UNITS[unit](**unit_parameters)
        self._cache = None
        if cache_bytes:
            self._cache = WriteBackCache(size_bytes=cache_bytes, ways=cache_ways,
                                         address_width=self._unit.address_width,
                                         asid_width=self._unit.asid_width, id_width=self._unit.id_width)
        self._system_bank = CSRBank(SYSTEM_REGISTERS, address_width=SYSTEM_WINDOW[1])
        unit_signature = self._unit.signature.members
        super().__init__({
            "host": unit_signature["host"],
            "priv": unit_signature["priv"],
            "dram": unit_signature["dram"],
            "csr": In(csr_bus_signature(SECURE_ADDRESS_WIDTH)),
            "maint": In(csr_bus_signature(MAINT_ADDRESS_WIDTH)),
        })

    unit = property(lambda self: self._unit)
    unit_name = property(lambda self: self._unit_name)
    cache = property(lambda self: self._cache)
    # The unit's parameters, for code that only needs to know what it is talking to.
    address_width = property(lambda self: self._unit.address_width)
    asid_width = property(lambda self: self._unit.asid_width)
    id_width = property(lambda self: self._unit.id_width)

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self._unit
        m.submodules.decoder = decoder = CSRDecoder(address_width=SECURE_ADDRESS_WIDTH,
                                                    windows=[UNIT_WINDOW, SYSTEM_WINDOW])
        m.submodules.system_bank = system_bank = self._system_bank
        wiring.connect(m, wiring.flipped(self.csr), decoder.bus)
        wiring.connect(m, decoder.bus_0, unit.csr)
        wiring.connect(m, decoder.bus_1, system_bank.bus)
        wiring.connect(m, unit.dram, wiring.flipped(self.dram))

        wbinvd_count = Signal(32)
        if self._cache is not None:
            m.submodules.cache = cache = self._cache
            wiring.connect(m, wiring.flipped(self.host), cache.host)
            wiring.connect(m, wiring.flipped(self.priv), cache.priv)
            wiring.connect(m, cache.mem, unit.host)
            # The unit's own privileged port serves the cache-less system only: here the secure
            # processor's requests go through the cache, which passes on its misses.
            m.d.comb += [unit.priv.arvalid.eq(0), unit.priv.awvalid.eq(0), unit.priv.wvalid.eq(0),
                         unit.priv.rready.eq(0), unit.priv.bready.eq(0)]
            wiring.connect(m, wiring.flipped(self.maint), cache.maint)
            m.d.comb += wbinvd_count.eq(cache.wbinvd_count)
        else:
            wiring.connect(m, wiring.flipped(self.host), unit.host)
            wiring.connect(m, wiring.flipped(self.priv), unit.priv)
            m.submodules.maint_bank = maint_bank = CSRBank(CACHE_REGISTERS)
            wiring.connect(m, wiring.flipped(self.maint), maint_bank.bus)
            command = maint_bank.field("COMMAND", "op")
            with m.If(command.w_stb & (command.w_data == CacheOp.WBINVD)):
                m.d.sync += wbinvd_count.eq(wbinvd_count + 1)
            m.d.comb += maint_bank.field("WBINVD_COUNT", "count").r_data.eq(wbinvd_count)

        lines = 0 if self._cache is None else self._cache.sets * self._cache.ways
        m.d.comb += [
            system_bank.field("WBINVD_COUNT", "count").r_data.eq(wbinvd_count),
            system_bank.field("CACHE_INFO", "lines").r_data.eq(lines),
            system_bank.field("CACHE_INFO", "ways").r_data.eq(self._cache.ways if lines else 0),
        ]
        return m
