"""Drivers of the unit's programmable blocks. They take a machine, never a ``dut``.

See ``rtl/keyslots/README.md`` and ``rtl/meu/README.md`` ("Programmer's guide").
"""

from ...rtl.keyslots.regmap import KEYSLOT_REGISTERS, KeyOp
from ...rtl.meu.regmap import COUNTERS, KEYSLOT_WINDOW, MEU_REGISTERS, MEU_WINDOW

__all__ = ["KeySlotDriver", "KeySlotError", "UnitDriver"]


class KeySlotError(Exception):
    """The key-slot table refused a command (slot out of range, or busy)."""


class _RegisterDriver:
    def __init__(self, machine, registers, window):
        self.machine = machine
        self._registers = registers
        self._base = window[0]

    async def read(self, name):
        """Read a register and return its fields as a dict."""
        register = self._registers[name]
        return register.decode(await self.machine.csr_read(self._base + register.address))

    async def write(self, name, **fields):
        register = self._registers[name]
        await self.machine.csr_write(self._base + register.address, register.encode(**fields))


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
