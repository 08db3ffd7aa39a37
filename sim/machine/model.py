"""The ``model`` backend: the machine API on the golden model, no clock. See ``sim/README.md``."""

from ...rtl.memsys.regmap import SYSTEM_REGISTERS, SYSTEM_WINDOW
from ..model.cache import CacheModel, NoCacheModel
from ..model.meu import LINE_BYTES, UnitModel
from .api import BEAT_BYTES, BusError, Machine, Read, check_op, run_at_once

__all__ = ["ModelMachine"]


class ModelMachine(Machine):
    """Every operation completes at once, in the order given; ``cycles`` stays 0."""

    def __init__(self, config):
        self.config = config
        self.unit = UnitModel(slots=config.slots, key_bits=config.key_bits,
                              cbit_position=config.cbit_position, min_sev_asid=config.min_sev_asid)
        if config.cache_bytes:
            self.cache = CacheModel(self.unit, size_bytes=config.cache_bytes, ways=config.cache_ways,
                                    asid_width=(config.asid_limit - 1).bit_length())
        else:
            self.cache = NoCacheModel(self.unit)

    @property
    def cycles(self):
        return 0

    def run(self, scenario):
        """Run ``async def scenario(machine)`` to completion and return its result."""
        return run_at_once(self, scenario)

    def start(self, ops):
        for op in ops:
            check_op(op, self.config.address_width, self.config.asid_limit)
        return [self._do(op) for op in ops]

    async def wait(self, handle):
        return handle

    def _do(self, op):
        line = op.address - op.address % LINE_BYTES
        offset = op.address % LINE_BYTES
        # The cores go through the cache; the secure processor's requests snoop it.
        host = op.port == "host"
        if isinstance(op, Read):
            ok, data = (self.cache.read if host else self.cache.snoop_read)(line, op.asid)
            return data[offset:offset + op.beats * BEAT_BYTES] if ok else BusError(op)
        data = bytearray(LINE_BYTES)
        data[offset:offset + len(op.data)] = op.data
        ok = (self.cache.write if host else self.cache.snoop_write)(line, op.asid, bytes(data),
                                                                    op.strobes << offset)
        return None if ok else BusError(op)

    async def csr_read(self, address):
        base, width = SYSTEM_WINDOW
        if base <= address < base + (1 << width):
            register = SYSTEM_REGISTERS.by_address(address - base)
            if register is None:
                return 0
            if register.name == "WBINVD_COUNT":
                return self.cache.wbinvd_count & 0xFFFF_FFFF
            config = self.config
            return register.encode(lines=config.cache_bytes // LINE_BYTES,
                                   ways=config.cache_ways if config.cache_bytes else 0)
        return self.unit.csr_read(address)

    async def csr_write(self, address, value):
        self.unit.csr_write(address, value)      # the system window has no writable field

    async def maint_read(self, address):
        return self.cache.maint_read(address)

    async def maint_write(self, address, value):
        self.cache.maint_write(address, value)

    async def dram_read(self, address, length):
        out = bytearray()
        for n in range(address, address + length):
            line = n - n % LINE_BYTES
            out.append(self.unit.dram.get(line, bytes(LINE_BYTES))[n - line])
        return bytes(out)

    async def dram_write(self, address, data):
        for n, byte in enumerate(data, start=address):
            line = n - n % LINE_BYTES
            stored = bytearray(self.unit.dram.get(line, bytes(LINE_BYTES)))
            stored[n - line] = byte
            self.unit.dram[line] = bytes(stored)
