"""The guest OS, as far as memory encryption concerns it (``sev-reference.md`` §15).

At boot it reads CPUID Fn8000_001F for the C-bit position and maps all of its RAM private (the
C-bit set in every entry). To share a page with the host it flushes the page's lines, which the
cache holds tagged with its ASID and C=1, clears the C-bit and tells the host (a hypercall), as
Linux's runtime ``set_memory_decrypted`` does: the contents are not kept — the page now reads as
whatever DRAM holds, the guest's ciphertext taken for plaintext — so a page is shared before
anything is put in it. Device I/O goes only through shared bounce buffers (SWIOTLB): the device
reads and writes the bounce buffer, the guest copies between it and its private pages.
"""

from .hostmem import PAGE
from .vcpu import VCPU

__all__ = ["GuestOS", "BlockDriver"]


class GuestOS:
    """The guest's kernel on its first vCPU."""

    def __init__(self, vcpu: VCPU):
        self.vcpu = vcpu
        self.me_mask = None

    async def boot(self, ram):
        """Learn the C-bit from CPUID and map every page of ``ram`` (``[(gpa, size)]``) private."""
        cpuid = await self.vcpu.cpuid()
        if not cpuid["eax"]["sev"]:
            raise RuntimeError("CPUID Fn8000_001F: no SEV")
        self.me_mask = 1 << cpuid["ebx"]["cbit_position"]
        for gpa, size in ram:
            for page in range(gpa, gpa + size, PAGE):
                self.vcpu.page_table.map(page, self.me_mask)

    def is_private(self, gpa):
        return bool(self.vcpu.page_table.entry(gpa) & self.me_mask)

    async def read(self, gpa, length):
        return await self.vcpu.read(gpa, length)

    async def write(self, gpa, data):
        await self.vcpu.write(gpa, data)

    async def _set_encryption(self, gpa, pages, private):
        for page in range(gpa, gpa + pages * PAGE, PAGE):
            if self.is_private(page) == private:
                continue
            # The page's lines are in the cache under the old mapping: write them back and drop
            # them, or a later write-back under the old tag would overwrite the page.
            await self.vcpu.clflush(page, PAGE)
            self.vcpu.page_table.map(page, self.me_mask if private else 0)
            self.vcpu.kvm.hypercall_map_gpa_range(self.vcpu.vm, page, 1, shared=not private)

    async def set_memory_decrypted(self, gpa, pages=1):
        """Share pages with the host: flush, clear the C-bit (the contents are not kept)."""
        await self._set_encryption(gpa, pages, private=False)

    async def set_memory_encrypted(self, gpa, pages=1):
        """Take pages back private: flush, set the C-bit (the contents are not kept)."""
        await self._set_encryption(gpa, pages, private=True)


class BlockDriver:
    """The guest's driver for a virtual block device, through a shared bounce page.

    ``device`` is the host's :class:`~sevlab.hypervisor.blockdev.BlockDevice`; ``bounce`` the GPA
    of a page the guest has made shared."""

    def __init__(self, guest: GuestOS, device, bounce):
        if guest.is_private(bounce):
            raise ValueError(f"the bounce buffer {bounce:#x} must be a shared page")
        self.guest, self.device, self.bounce = guest, device, bounce

    async def read(self, sector, gpa):
        """Read one sector into private memory at ``gpa``: the device DMAs into the bounce
        page, the guest copies it in."""
        await self.device.dma_to_guest(sector, self.bounce)
        await self.guest.write(gpa, await self.guest.read(self.bounce, self.device.sector_size))

    async def write(self, sector, gpa):
        """Write one sector from private memory at ``gpa``: copied to the bounce page, then the
        device DMAs it out."""
        await self.guest.write(self.bounce, await self.guest.read(gpa, self.device.sector_size))
        await self.device.dma_from_guest(sector, self.bounce)
