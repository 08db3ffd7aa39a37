"""Drivers of the memory system's programmable blocks. They take a machine, never a ``dut``.

See ``rtl/keyslots/README.md``, ``rtl/meu/README.md`` and ``rtl/cache/README.md``
("Programmer's guide").
"""

from ...rtl.cache.regmap import CACHE_REGISTERS, COUNTERS as CACHE_COUNTERS, CacheOp
from ...rtl.keyslots.regmap import KEYSLOT_REGISTERS, KeyOp
from ...rtl.memsys.regmap import SYSTEM_REGISTERS, SYSTEM_WINDOW
from ...rtl.meu.regmap import COUNTERS, KEYSLOT_WINDOW, MEU_REGISTERS, MEU_WINDOW

__all__ = ["CacheDriver", "KeySlotDriver", "KeySlotError", "SystemDriver", "UnitDriver"]


class KeySlotError(Exception):
    """The key-slot table refused a command (slot out of range, or busy)."""


class _RegisterDriver:
    """Registers of one map, at ``window``'s base on the secure port (or the maintenance bus)."""

    def __init__(self, machine, registers, window, *, maintenance=False):
        self.machine = machine
        self._registers = registers
        self._base = window[0]
        self._read = machine.maint_read if maintenance else machine.csr_read
        self._write = machine.maint_write if maintenance else machine.csr_write

    async def read(self, name):
        """Read a register and return its fields as a dict."""
        register = self._registers[name]
        return register.decode(await self._read(self._base + register.address))

    async def write(self, name, **fields):
        register = self._registers[name]
        await self._write(self._base + register.address, register.encode(**fields))


class KeySlotDriver(_RegisterDriver):
    """Install, wipe and query key slots through the secure port.

    Parameters
    ----------
    machine : Machine
    poll_limit : int
        KEY_STATUS reads before a command that stays busy is reported as a hang.
    """

    def __init__(self, machine, *, poll_limit=1000):
        super().__init__(machine, KEYSLOT_REGISTERS, KEYSLOT_WINDOW)
        self._poll_limit = poll_limit

    async def install(self, slot, key1, key2):
        """Install the XTS key pair (key1 encrypts data, key2 the tweak) in ``slot``.

        Raises
        ------
        ValueError
            The keys are not both 16 or both 32 bytes.
        KeySlotError
            The table refused the command.
        """
        if len(key1) != len(key2) or len(key1) not in (16, 32):
            raise ValueError(f"key1 and key2 must both be 16 or 32 bytes, not {len(key1)} and {len(key2)}")
        await self.write("KEY_SLOT", index=slot)
        for name, key in (("KEY1", key1), ("KEY2", key2)):
            for n in range(len(key) // 4):
                await self.write(f"{name}_{n}", word=int.from_bytes(key[4 * n:4 * n + 4], "little"))
        await self._command(slot, KeyOp.INSTALL)

    async def wipe(self, slot):
        """Zero ``slot``'s key and clear its valid bit. Raises KeySlotError if refused."""
        await self.write("KEY_SLOT", index=slot)
        await self._command(slot, KeyOp.WIPE)

    async def valid(self, slot):
        """Whether ``slot`` holds a key."""
        await self.write("KEY_SLOT", index=slot)
        return bool((await self.read("KEY_STATUS"))["slot_valid"])

    async def _command(self, slot, op):
        await self.write("KEY_COMMAND", op=op)
        for _ in range(self._poll_limit):
            status = await self.read("KEY_STATUS")
            if not status["busy"]:
                break
        else:
            raise KeySlotError(f"key slot {slot}: command {op} still busy after {self._poll_limit} polls")
        if status["error"]:
            raise KeySlotError(f"key slot {slot}: command {op} refused")


class UnitDriver(_RegisterDriver):
    """Configuration, capabilities and counters of the unit."""

    def __init__(self, machine):
        super().__init__(machine, MEU_REGISTERS, MEU_WINDOW)

    async def configure(self, *, sme_enable, tsme=False, cbit_position=None, lock=False):
        """Write CONFIG (ignored by the hardware once locked; read it back to check)."""
        if cbit_position is None:
            cbit_position = (await self.read("CONFIG"))["cbit_position"]
        await self.write("CONFIG", sme_enable=int(sme_enable), tsme=int(tsme),
                         cbit_position=cbit_position, lock=int(lock))

    async def config(self):
        return await self.read("CONFIG")

    async def cpuid(self):
        """The CPUID Fn8000_001F-like registers, as ``{"eax": {...}, "ebx": ..., ...}``."""
        return {reg: await self.read(f"CPUID_{reg.upper()}") for reg in ("eax", "ebx", "ecx", "edx")}

    async def counters(self):
        return {name: (await self.read(name))["count"] for name in COUNTERS}

    async def clear_counters(self):
        await self.write("COUNTERS_CLEAR", clear=1)

    async def status(self):
        return await self.read("STATUS")


class SystemDriver(_RegisterDriver):
    """What the secure port shows of the cores' side: the WBINVD count, the cache geometry."""

    def __init__(self, machine):
        super().__init__(machine, SYSTEM_REGISTERS, SYSTEM_WINDOW)

    async def wbinvd_count(self):
        return (await self.read("WBINVD_COUNT"))["count"]

    async def cache_info(self):
        return await self.read("CACHE_INFO")


class CacheDriver(_RegisterDriver):
    """The cores' cache maintenance (WBINVD, CLFLUSH) and the cache's counters.

    Parameters
    ----------
    machine : Machine
    poll_limit : int
        STATUS reads before an operation that stays busy is reported as a hang.
    poll_interval : int
        Cycles between two STATUS reads (a full WBINVD takes thousands).
    """

    def __init__(self, machine, *, poll_limit=10_000, poll_interval=16):
        super().__init__(machine, CACHE_REGISTERS, (0, 0), maintenance=True)
        self._poll_limit = poll_limit
        self._poll_interval = poll_interval

    async def wbinvd(self):
        """Write back and invalidate everything; return the cycles it took."""
        return await self._command(CacheOp.WBINVD)

    async def clflush(self, address, asid=0):
        """Write back (if dirty) and invalidate one line; LAST_CYCLES then holds the cycles it
        took (not read here: software flushes lines by the hundred)."""
        await self.write("ADDRESS_LO", bits=address & 0xFFFF_FFFF)
        await self.write("ADDRESS_HI", bits=address >> 32)
        await self.write("ASID", asid=asid)
        await self._command(CacheOp.CLFLUSH, report_cycles=False)

    async def wbinvd_count(self):
        return (await self.read("WBINVD_COUNT"))["count"]

    async def counters(self):
        return {name: (await self.read(name))["count"] for name in CACHE_COUNTERS}

    async def clear_counters(self):
        await self.write("COUNTERS_CLEAR", clear=1)

    async def _command(self, op, *, report_cycles=True):
        await self.write("COMMAND", op=op)
        interval = 1            # a CLFLUSH of a clean line is done in a few cycles: back off from 1
        for _ in range(self._poll_limit):
            if not (await self.read("STATUS"))["busy"]:
                return (await self.read("LAST_CYCLES"))["cycles"] if report_cycles else None
            await self.machine.tick(interval)
            interval = min(2 * interval, self._poll_interval)
        raise TimeoutError(f"cache operation {op} still busy after {self._poll_limit} polls")
