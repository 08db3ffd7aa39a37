"""The host's driver for the SEV firmware's mailbox (Linux's ``drivers/crypto/ccp/sev-dev.c``).

A command is an ID plus the physical address of its buffer in system memory (§2): the driver
packs the fields into the buffer through the privileged port, rings the mailbox, and reads the
buffer back for the output fields the firmware wrote (lengths, handles, status fields). It holds
no secret: everything it passes is a field of a command buffer.
"""

from ..firmware.commands import LAYOUTS, CommandId
from ..firmware.status import Status

__all__ = ["PSPDriver", "FirmwareError", "COMMAND_BUFFER"]

#: Where the driver keeps its command buffer: one page of host memory below the model's data.
COMMAND_BUFFER = 0x10_0000


class FirmwareError(Exception):
    """A command the firmware refused: ``status`` is the SEV status, ``outputs`` the fields it
    wrote back (for ``INVALID_LENGTH``, the sizes it needs)."""

    def __init__(self, command, status, outputs):
        super().__init__(f"{CommandId(command).name}: {Status(status).name}")
        self.command, self.status, self.outputs = command, Status(status), outputs


class PSPDriver:
    """Issue SEV commands to ``firmware`` (an :class:`~sevlab.firmware.platform.SEVFirmware`)
    with the command buffer at ``buffer_address`` in the firmware's machine's memory."""

    def __init__(self, firmware, buffer_address=COMMAND_BUFFER):
        self.firmware = firmware
        self.buffer_address = buffer_address

    async def issue(self, command, **fields):
        """Run ``command`` with ``fields`` (the rest zero); returns ``(Status, outputs)``, the
        outputs being every field of the buffer as the firmware left it."""
        layout = LAYOUTS[command]
        machine = self.firmware.machine
        address = self.buffer_address if layout.size else 0
        if layout.size:
            await machine.write(address, layout.pack(fields), port="priv")
        status = await self.firmware.command(command, address)
        if not layout.size:
            return status, {}
        return status, layout.unpack(await machine.read(address, layout.size, port="priv"))

    async def call(self, command, **fields):
        """:meth:`issue`, raising :class:`FirmwareError` unless the status is SUCCESS; returns the
        outputs."""
        status, outputs = await self.issue(command, **fields)
        if status is not Status.SUCCESS:
            raise FirmwareError(command, status, outputs)
        return outputs
