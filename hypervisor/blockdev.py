"""A virtual block device on the host side: a disk image in the host's hands, and DMA into and
out of guest pages through the nested page table, as the host (or an IOMMU with the host's
mappings) writes them — so only pages the guest has shared carry anything it can use."""

from .hostmem import PAGE

__all__ = ["BlockDevice"]


class BlockDevice:
    def __init__(self, kvm, vm, image=b"", *, sector_size=512):
        if PAGE % sector_size or sector_size % 64:
            raise ValueError(f"a sector is a multiple of 64 bytes dividing a page, not {sector_size}")
        self.kvm, self.vm, self.sector_size = kvm, vm, sector_size
        self.image = bytearray(image)

    def _span(self, sector):
        start = sector * self.sector_size
        if start < 0:
            raise ValueError(f"sector {sector} does not exist")
        if len(self.image) < start + self.sector_size:
            self.image.extend(bytes(start + self.sector_size - len(self.image)))
        return start, start + self.sector_size

    async def dma_to_guest(self, sector, gpa):
        start, end = self._span(sector)
        await self.kvm.write_guest_ram(self.vm, gpa, bytes(self.image[start:end]))

    async def dma_from_guest(self, sector, gpa):
        start, end = self._span(sector)
        self.image[start:end] = await self.kvm.read_guest_ram(self.vm, gpa, self.sector_size)
