"""The host's driver for the SEV firmware's mailbox (Linux's ``drivers/crypto/ccp/sev-dev.c``).

A command is an ID plus the physical address of its buffer in system memory (§2): the driver
writes the fields into the buffer in its own memory (through the cores' cache, with which the
secure processor is coherent), rings the mailbox with the buffer's address (with the C-bit when
host SME is on, as ``__psp_pa`` gives), and reads the buffer back for the output fields the
firmware wrote (lengths, handles, status fields). It holds no secret:
everything it passes is a field of a command buffer.
"""

from ..firmware.commands import LAYOUTS, CommandId
from ..firmware.status import Status
from .hostmem import MEMORY_MAP, HostMemory

__all__ = ["PSPDriver", "FirmwareError", "COMMAND_BUFFER"]

#: Where the driver keeps its command buffer: one page of host memory.
COMMAND_BUFFER = MEMORY_MAP.command_buffer     # in the simulated DRAM's map (a board's is lower)


class FirmwareError(Exception):
    """A command the firmware refused: ``status`` is the SEV status, ``outputs`` the fields it
    wrote back (for ``INVALID_LENGTH``, the sizes it needs)."""

    def __init__(self, command, status, outputs):
        super().__init__(f"{CommandId(command).name}: {Status(status).name}")
        self.command, self.status, self.outputs = command, Status(status), outputs


class PSPDriver:
    """Issue SEV commands to ``firmware`` (an :class:`~sevlab.firmware.platform.SEVFirmware`)
    with the command buffer at ``buffer_address`` of ``memory`` (a :class:`HostMemory` on the
    firmware's machine; without host SME unless given). The buffer is where the memory's map puts
    it unless given."""

    def __init__(self, firmware, memory=None, buffer_address=None):
        self.firmware = firmware
        self.memory = memory or HostMemory(firmware.machine)
        self.buffer_address = self.memory.map.command_buffer if buffer_address is None else buffer_address

    async def issue(self, command, **fields):
        """Run ``command`` with ``fields`` (the rest zero); returns ``(Status, outputs)``, the
        outputs being every field of the buffer as the firmware left it."""
        layout = LAYOUTS[command]
        if not layout.size:
            return await self.firmware.command(command, 0), {}
        await self.memory.write(self.buffer_address, layout.pack(fields))
        status = await self.firmware.command(command, self.memory.pa(self.buffer_address))
        return status, layout.unpack(await self.memory.read(self.buffer_address, layout.size))

    async def call(self, command, **fields):
        """:meth:`issue`, raising :class:`FirmwareError` unless the status is SUCCESS; returns the
        outputs."""
        status, outputs = await self.issue(command, **fields)
        if status is not Status.SUCCESS:
            raise FirmwareError(command, status, outputs)
        return outputs
