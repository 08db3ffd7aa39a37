"""The ``model`` backend: the machine API on the golden model, no clock. See ``sim/README.md``."""

from ..model.meu import LINE_BYTES, UnitModel
from .api import BEAT_BYTES, BusError, Machine, Read, check_op

__all__ = ["ModelMachine"]


class ModelMachine(Machine):
    """Every operation completes at once, in the order given; ``cycles`` stays 0."""

    def __init__(self, config):
        self.config = config
        self.unit = UnitModel(slots=config.slots, key_bits=config.key_bits,
                              cbit_position=config.cbit_position, min_sev_asid=config.min_sev_asid)

    @property
    def cycles(self):
        return 0

    def run(self, scenario):
        """Run ``async def scenario(machine)`` to completion and return its result."""
        coroutine = scenario(self)
        try:
            coroutine.send(None)
        except StopIteration as done:
            return done.value
        coroutine.close()
        raise RuntimeError("a scenario on the model backend awaited something other than the machine")

    def start(self, ops):
        for op in ops:
            check_op(op, self.config.address_width, self.config.asid_limit)
        return [self._do(op) for op in ops]

    async def wait(self, handle):
        return handle

    def _do(self, op):
        line = op.address - op.address % LINE_BYTES
        offset = op.address % LINE_BYTES
        if isinstance(op, Read):
            ok, data = self.unit.read(line, op.asid)
            return data[offset:offset + op.beats * BEAT_BYTES] if ok else BusError(op)
        data = bytearray(LINE_BYTES)
        data[offset:offset + len(op.data)] = op.data
        ok = self.unit.write(line, op.asid, bytes(data), op.strobes << offset)
        return None if ok else BusError(op)

    async def csr_read(self, address):
        return self.unit.csr_read(address)

    async def csr_write(self, address, value):
        self.unit.csr_write(address, value)

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
